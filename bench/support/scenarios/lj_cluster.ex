defmodule Bench.Scenarios.LJCluster do
  @moduledoc """
  The free LJ cluster (`BrokenRecord.Zero.Fixtures.LennardJones`, row scenario `:lj_cluster`),
  next to LAMMPS (`Bench.Lammps`) running the very same system.

  32,000 atoms on an fcc lattice at reduced density 0.8442 (a = (4/0.8442)^(1/3), 20x20x20
  unit cells), LJ epsilon = sigma = mass = 1, rc = 2.5 (plain cutoff: no shift, no tail
  correction), velocity Verlet, dt = 0.005, 100 steps, f64; initial velocities from :rand
  (seeded), Maxwell-Boltzmann at T = 1.44 (3N - 3 degrees of freedom), zero total momentum.

  Boundaries: NON-periodic in both codes: the lattice is a free cluster in vacuum, and
  LAMMPS runs it with `boundary s s s` (shrink-wrapped, non-periodic), from a data file
  written here (read_data), rebuilding its neighbour lists whenever needed (neigh_modify
  every 1 delay 0 check yes, skin 0.3) on 2 ranks (`mpirun -np 2`), so both codes compute the
  same forces; the total energy after the run is compared. Surface atoms have fewer
  neighbours than in the bulk (~13% fewer pairs within rc than the periodic liquid of
  Bench.Scenarios.LJLiquid, LAMMPS's own bench/in.lj, which is the headline LJ comparison).
  """

  alias Bench.{Config, Inputs, Lammps, Measure, Row}
  alias BrokenRecord.Zero.Fixtures.LennardJones
  alias BrokenRecord.Zero.World

  @doc "The DSL's row and LAMMPS's (native engine only)."
  @spec run(Config.t()) :: [map]
  def run(%Config{native?: false}), do: []

  def run(config) do
    cells = Config.pick(config, full: 20, quick: 20, smoke: 4)
    {atoms, box} = Inputs.fcc_lattice(cells, 0.8442, 1.44)
    n = length(atoms)
    world = World.new(LennardJones, %{atoms: atoms}, backend: :native, precision: :f64)

    {t_force, world} =
      Measure.best_of(1, fn -> World.step(world, steps: 1, rules: [:lj_force]) end)

    e0 = Measure.lj_energies(world).total

    budget = Config.pick(config, full: 150.0, quick: 15.0)
    wanted = Config.pick(config, full: 100, quick: 20, smoke: 5)
    steps = max(1, min(wanted, floor(budget / max(t_force, 1.0e-6))))

    {t, world} =
      Measure.best_of(1, fn ->
        World.step(world,
          steps: steps,
          dt: 0.005,
          rules: [:half_kick, :drift, :lj_force, :half_kick_2]
        )
      end)

    e1 = Measure.lj_energies(world).total

    dsl =
      Row.new(:lj_cluster, n, :native, :f64,
        steps: steps,
        steps_wanted: wanted,
        seconds_per_step: t / steps,
        seconds_total: t,
        throughput: n * steps / t,
        unit: "atom-steps/s",
        energy_initial: e0,
        energy_final: e1,
        cutoff: Measure.cutoff_of(LennardJones, :lj_force)
      )

    [dsl, lammps_row(atoms, box, steps, dsl)]
  end

  defp lammps_row(atoms, box, steps, dsl) do
    case Lammps.missing() do
      nil ->
        dir = Lammps.tmp_dir("lj_cluster")
        File.write!(Path.join(dir, "data.lj"), data(atoms, box))
        File.write!(Path.join(dir, "in.lj"), input(steps))
        result = Lammps.run(dir, "in.lj", 2)
        File.rm_rf(dir)

        with {:ok, %{loop: loop, thermo: [first | _] = thermo}} <- result do
          last = List.last(thermo)

          Row.new(:lj_cluster, length(atoms), :lammps, nil,
            steps: steps,
            seconds_per_step: loop / steps,
            seconds_total: loop,
            throughput: length(atoms) * steps / loop,
            unit: "atom-steps/s",
            energy_initial: first.etotal,
            energy_final: last.etotal,
            ratio: dsl.seconds_total / loop,
            ratio_label: "x LAMMPS time (DSL)",
            energy_rel_diff: abs(dsl.energy_final - last.etotal) / abs(last.etotal),
            energy_rel_diff_initial: abs(dsl.energy_initial - first.etotal) / abs(first.etotal)
          )
        else
          {:error, why} -> skipped(atoms, why)
        end

      why ->
        skipped(atoms, why)
    end
  end

  defp skipped(atoms, why) do
    Row.new(:lj_cluster, length(atoms), :lammps, nil,
      skipped: why,
      seconds_per_step: nil,
      throughput: nil,
      unit: "atom-steps/s"
    )
  end

  defp input(steps) do
    """
    # BrokenRecord Zero bench: the DSL's LJ cluster (examples/systems/lennard_jones.ex), same data file
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
      "LAMMPS data file: BrokenRecord Zero bench LJ cluster (fcc 0.8442, T 1.44)\n\n",
      "#{length(atoms)} atoms\n1 atom types\n\n",
      "#{f.(lo)} #{f.(hi)} xlo xhi\n#{f.(lo)} #{f.(hi)} ylo yhi\n#{f.(lo)} #{f.(hi)} zlo zhi\n\n",
      "Masses\n\n1 1.0\n\nAtoms # atomic\n\n",
      atoms_text,
      "\nVelocities\n\n",
      velocities
    ])
  end
end
