defmodule Bench.Scenarios.LJLiquid do
  @moduledoc """
  LAMMPS's own LJ benchmark, bench/in.lj, as LAMMPS ships it (`text/3`), next to the DSL's
  periodic LJ system (`BrokenRecord.Zero.Fixtures.LJLiquid`, row scenario `:lj_liquid`): the
  headline LJ comparison.

  The liquid: 32,000 atoms (`lattice fcc 0.8442`, `region box block 0 20 0 20 0 20`), periodic
  in x, y and z, velocities `create 1.44 87287 loop geom`, `pair_style lj/cut 2.5` with
  epsilon = sigma = mass = 1 (plain cutoff: no shift, no tail correction), `fix nve`
  (velocity Verlet), dt 0.005 (the lj units' default), 100 steps. A `--smoke` run uses
  `region box block 0 6 0 6 0 6` (864 atoms; box edge 10.1 > 2 * (2.5 + 0.3)) and 10 steps.

  1. LAMMPS creates the atoms and their velocities (in.lj up to its `run`) and writes them
     (`write_data`, full precision); `BrokenRecord.Zero.LammpsData.read/1` reads the box corners and the
     atoms, sorted by id, into the state `%{atoms: [...], box: {{xlo, ylo, zlo}, {xhi, yhi,
     zhi}}}`. Without LAMMPS, the DSL runs an fcc lattice of the same size made in Elixir
     (`Bench.Inputs.fcc_lattice/3`, box given by its edge lengths) and the LAMMPS rows say why
     they were skipped.
  2. The DSL: `World.new` (native, f64, the default OpenMP threads; not timed), one `lj_force`
     for the initial forces, then the timed call: the steps of `[:half_kick, :drift,
     :lj_force, :half_kick_2]` at dt 0.005 in one `World.step/2`. Its time split comes from
     `World.info(world).timings` before and after that call: pair sweeps, neighbour-list work,
     and the rest of the run. Energies before and after: KE = 0.5 * sum v^2, PE = sum of the
     `pe` column after `clear_pe` and `lj_energy`.
  3. LAMMPS runs in.lj four times: on 1 rank (plain `lmp`) and 2 ranks (`mpirun -np 2`), each
     with the input's own `neigh_modify delay 0 every 20 check no` and with `every 1 delay 0
     check yes` (the policy the engine uses: a list rebuilt whenever an atom moved half the
     skin), with `thermo_style custom step temp pe ke etotal` and `thermo_modify norm no
     format float %.15g` (totals), thermo every `steps`. Each row has LAMMPS's loop time, its
     timing breakdown, the DSL time / LAMMPS time and the relative differences of the DSL's
     total, kinetic and potential energies after the run from LAMMPS's thermo.

  The targets (Bench.Targets) compare with the 2-rank `check yes` run: time and energies.
  """

  alias Bench.{Config, Inputs, Lammps, Measure, Row}
  alias BrokenRecord.Zero.Fixtures.LJLiquid
  alias BrokenRecord.Zero.World

  @dt 0.005
  @variants [
    {1, :every_20_check_no},
    {1, :every_1_check_yes},
    {2, :every_20_check_no},
    {2, :every_1_check_yes}
  ]

  @doc "The DSL's row and LAMMPS's four (native engine only)."
  @spec run(Config.t()) :: [map]
  def run(%Config{native?: false}), do: []

  def run(config) do
    cells = Config.pick(config, full: 20, quick: 20, smoke: 6)
    steps = Config.pick(config, full: 100, quick: 100, smoke: 10)
    dir = Lammps.tmp_dir("lj_liquid")

    try do
      {state, input, lammps} = initial_state(dir, cells)
      dsl = dsl_row(state, steps, input)

      lammps_rows =
        for {ranks, neigh} <- @variants do
          case lammps do
            :ok -> lammps_row(dir, cells, steps, ranks, neigh, dsl)
            {:skip, why} -> skipped(dsl.n, ranks, neigh, why)
          end
        end

      [dsl | lammps_rows]
    after
      File.rm_rf(dir)
    end
  end

  # The state from LAMMPS's write_data, or from Elixir when LAMMPS cannot make it.
  defp initial_state(dir, cells) do
    made =
      case Lammps.missing() do
        nil ->
          File.write!(Path.join(dir, "in.setup"), text(cells, :every_20_check_no, :write_data))

          with {:ok, _} <- Lammps.run(dir, "in.setup", 1, run?: false),
               {:ok, data} <- BrokenRecord.Zero.LammpsData.read(Path.join(dir, "data.lj")) do
            {:ok, data}
          end

        why ->
          {:error, why}
      end

    case made do
      {:ok, %{atoms: atoms, box: box}} ->
        atoms = Enum.map(atoms, &Map.merge(&1, %{force: {0.0, 0.0, 0.0}, pe: 0.0}))
        {%{atoms: atoms, box: box}, "LAMMPS write_data", :ok}

      {:error, why} ->
        {atoms, side} = Inputs.fcc_lattice(cells, 0.8442, 1.44)

        {%{atoms: atoms, box: {side, side, side}}, "fcc lattice made in Elixir (#{why})",
         {:skip, why}}
    end
  end

  defp dsl_row(state, steps, input) do
    n = length(state.atoms)
    world = World.new(LJLiquid, state, backend: :native, precision: :f64)
    world = World.step(world, steps: 1, rules: [:lj_force])
    e0 = Measure.lj_energies(world)
    before = timings(world)

    {t, world} =
      Measure.best_of(1, fn ->
        World.step(world,
          steps: steps,
          dt: @dt,
          rules: [:half_kick, :drift, :lj_force, :half_kick_2]
        )
      end)

    split = split(before, timings(world))
    e1 = Measure.lj_energies(world)

    Row.new(:lj_liquid, n, :native, :f64,
      steps: steps,
      seconds_per_step: t / steps,
      seconds_total: t,
      throughput: n * steps / t,
      unit: "atom-steps/s",
      energy_initial: e0,
      energy_final: e1,
      temp_final: 2 * e1.kinetic / (3 * n - 3),
      split: split,
      input: input,
      cutoff: Measure.cutoff_of(LJLiquid, :lj_force)
    )
  end

  defp timings(world), do: world |> World.info() |> Map.get(:timings)

  # The timed call's share of the cumulative timings; "other" is the run outside pair sweeps
  # and neighbour-list work (integration rules, the call itself).
  defp split(%{} = t0, %{} = t1) do
    run = t1.run - t0.run
    pairs = t1.pairs - t0.pairs
    neighbour = t1.neighbour - t0.neighbour
    %{run: run, pairs: pairs, neighbour: neighbour, other: run - pairs - neighbour}
  end

  defp split(_, _), do: nil

  defp lammps_row(dir, cells, steps, ranks, neigh, dsl) do
    input = "in.lj.#{ranks}.#{neigh}"
    File.write!(Path.join(dir, input), text(cells, neigh, {:run, steps}))

    case Lammps.run(dir, input, ranks) do
      {:ok, %{loop: loop, breakdown: breakdown, thermo: [first | _] = thermo}} ->
        last = List.last(thermo)

        Row.new(:lj_liquid, dsl.n, :lammps, nil,
          ranks: ranks,
          neigh: neigh,
          steps: last.step - first.step,
          seconds_per_step: loop / (last.step - first.step),
          seconds_total: loop,
          throughput: dsl.n * (last.step - first.step) / loop,
          unit: "atom-steps/s",
          ratio: dsl.seconds_total / loop,
          ratio_label: "x LAMMPS time (DSL)",
          breakdown: breakdown,
          energy_initial: energies(first),
          energy_final: energies(last),
          temp_final: last.temp,
          rel_diff: rel_diff(dsl.energy_final, energies(last)),
          rel_diff_initial: rel_diff(dsl.energy_initial, energies(first))
        )

      {:error, why} ->
        skipped(dsl.n, ranks, neigh, why)
    end
  end

  defp energies(thermo), do: %{total: thermo.etotal, kinetic: thermo.ke, potential: thermo.pe}

  defp rel_diff(dsl, lammps),
    do:
      Map.new([:total, :kinetic, :potential], &{&1, abs(dsl[&1] - lammps[&1]) / abs(lammps[&1])})

  defp skipped(n, ranks, neigh, why) do
    Row.new(:lj_liquid, n, :lammps, nil,
      ranks: ranks,
      neigh: neigh,
      skipped: why,
      seconds_per_step: nil,
      throughput: nil,
      unit: "atom-steps/s"
    )
  end

  @doc """
  LAMMPS's bench/in.lj for a box of `cells`^3 fcc cells, with the neighbour policy `neigh`
  (`:every_20_check_no`, the input's own, or `:every_1_check_yes`), ending either with the
  thermo settings and `run steps` (`{:run, steps}`) or with `write_data data.lj` in place of
  the run (`:write_data`).
  """
  @spec text(pos_integer, atom, {:run, pos_integer} | :write_data) :: String.t()
  def text(cells, neigh, ending) do
    neigh_modify =
      case neigh do
        :every_20_check_no -> "delay 0 every 20 check no"
        :every_1_check_yes -> "every 1 delay 0 check yes"
      end

    last =
      case ending do
        {:run, steps} ->
          """
          thermo_style\tcustom step temp pe ke etotal
          thermo_modify\tnorm no format float %.15g
          thermo\t\t#{steps}

          run\t\t#{steps}
          """

        :write_data ->
          "write_data\tdata.lj\n"
      end

    """
    # 3d Lennard-Jones melt

    variable\tx index 1
    variable\ty index 1
    variable\tz index 1

    variable\txx equal #{cells}*$x
    variable\tyy equal #{cells}*$y
    variable\tzz equal #{cells}*$z

    units\t\tlj
    atom_style\tatomic

    lattice\t\tfcc 0.8442
    region\t\tbox block 0 ${xx} 0 ${yy} 0 ${zz}
    create_box\t1 box
    create_atoms\t1 box
    mass\t\t1 1.0

    velocity\tall create 1.44 87287 loop geom

    pair_style\tlj/cut 2.5
    pair_coeff\t1 1 1.0 1.0 2.5

    neighbor\t0.3 bin
    neigh_modify\t#{neigh_modify}

    fix\t\t1 all nve

    """ <> last
  end
end
