defmodule Bench.Lammps do
  @moduledoc """
  LAMMPS on the LJ scenario's system, when `lmp` and `mpirun` are on PATH (Debian packages
  `lammps`, `openmpi-bin`): both codes start from the same data file (written here, read by
  LAMMPS with read_data), LAMMPS rebuilds neighbour lists whenever needed (neigh_modify every
  1 delay 0 check yes, skin 0.3), so both compute the same forces; the total energy after the
  run is compared. Boundaries are non-periodic (`boundary s s s`), as in the engine.
  """

  alias Bench.Row

  @doc """
  The LAMMPS row for `atoms` in a box of side `box`, run for `steps` steps, compared with the
  DSL's row `dsl`; a skipped row when LAMMPS is not installed or fails.
  """
  @spec rows([map], float, pos_integer, map) :: [map]
  def rows(atoms, box, steps, dsl) do
    lmp = System.find_executable("lmp")
    mpirun = System.find_executable("mpirun")

    if lmp == nil or mpirun == nil do
      [skipped(atoms, "lmp#{if mpirun == nil, do: "/mpirun", else: ""} not on PATH")]
    else
      dir = Path.join(System.tmp_dir!(), "brz_bench_lj_#{System.unique_integer([:positive])}")
      File.mkdir_p!(dir)
      File.write!(Path.join(dir, "data.lj"), data(atoms, box))
      File.write!(Path.join(dir, "in.lj"), input(steps))

      {out, status} =
        System.cmd(
          mpirun,
          ["--allow-run-as-root", "-np", "2", lmp, "-in", "in.lj", "-log", "log.lammps"],
          cd: dir,
          stderr_to_stdout: true,
          env: [{"OMP_NUM_THREADS", "1"}, {"OMPI_MCA_btl_vader_single_copy_mechanism", "none"}]
        )

      row =
        with 0 <- status,
             [_, loop] <- Regex.run(~r/Loop time of ([0-9.eE+-]+) on/, out),
             {:ok, e_first, e_last} <- thermo_energies(out) do
          loop = String.to_float(loop)

          Row.new(:lj, length(atoms), :lammps, nil,
            steps: steps,
            seconds_per_step: loop / steps,
            seconds_total: loop,
            throughput: length(atoms) * steps / loop,
            unit: "atom-steps/s",
            energy_initial: e_first,
            energy_final: e_last,
            ratio: dsl.seconds_total / loop,
            ratio_label: "x LAMMPS time (DSL)",
            energy_rel_diff: abs(dsl.energy_final - e_last) / abs(e_last),
            energy_rel_diff_initial: abs(dsl.energy_initial - e_first) / abs(e_first)
          )
        else
          _ -> skipped(atoms, "LAMMPS failed (exit #{status}): " <> String.slice(out, -300, 300))
        end

      File.rm_rf(dir)
      [row]
    end
  end

  defp skipped(atoms, why) do
    Row.new(:lj, length(atoms), :lammps, nil,
      skipped: why,
      seconds_per_step: nil,
      throughput: nil,
      unit: "atom-steps/s"
    )
  end

  # "Step Temp PotEng KinEng TotEng" lines of the thermo output: the first and last TotEng.
  defp thermo_energies(out) do
    rows =
      out
      |> String.split("\n")
      |> Enum.drop_while(&(not String.starts_with?(String.trim(&1), "Step")))
      |> Enum.drop(1)
      |> Enum.take_while(&(not String.starts_with?(&1, "Loop time")))
      |> Enum.map(&String.split/1)
      |> Enum.filter(&(length(&1) == 5))

    case rows do
      [] ->
        :error

      rows ->
        total = fn row -> row |> List.last() |> Float.parse() |> elem(0) end
        {:ok, total.(List.first(rows)), total.(List.last(rows))}
    end
  end

  defp input(steps) do
    """
    # BrokenRecord Zero bench: the DSL's LJ system (examples/systems/lennard_jones.ex), same data file
    units           lj
    atom_style      atomic
    boundary        s s s
    read_data       data.lj
    mass            1 1.0
    pair_style      lj/cut 2.5
    pair_coeff      1 1 1.0 1.0 2.5
    pair_modify     shift no tail no
    neighbor        0.3 bin
    neigh_modify    every 1 delay 0 check yes
    fix             1 all nve
    thermo_style    custom step temp pe ke etotal
    thermo_modify   norm no format float %.15g
    thermo          #{steps}
    timestep        0.005
    run             #{steps}
    """
  end

  defp data(atoms, box) do
    f = &:erlang.float_to_binary(&1, [:short])
    lo = -1.0
    hi = box + 1.0

    atoms_text =
      atoms
      |> Enum.with_index(1)
      |> Enum.map(fn {%{position: {x, y, z}}, i} -> "#{i} 1 #{f.(x)} #{f.(y)} #{f.(z)}\n" end)

    velocities =
      atoms
      |> Enum.with_index(1)
      |> Enum.map(fn {%{velocity: {x, y, z}}, i} -> "#{i} #{f.(x)} #{f.(y)} #{f.(z)}\n" end)

    IO.iodata_to_binary([
      "LAMMPS data file: BrokenRecord Zero bench LJ (fcc 0.8442, T 1.44)\n\n",
      "#{length(atoms)} atoms\n1 atom types\n\n",
      "#{f.(lo)} #{f.(hi)} xlo xhi\n#{f.(lo)} #{f.(hi)} ylo yhi\n#{f.(lo)} #{f.(hi)} zlo zhi\n\n",
      "Masses\n\n1 1.0\n\nAtoms # atomic\n\n",
      atoms_text,
      "\nVelocities\n\n",
      velocities
    ])
  end
end
