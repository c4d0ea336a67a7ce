defmodule Bench.Scenarios.Observe do
  @moduledoc """
  Observables (`docs/dsl.md`, "Observables"; row scenario `:observe`), native engine only:

    1. The energy monitor (`BrokenRecord.Zero.Conservation.Monitor.totals/1`) on 2,000
       gravitating bodies (`BrokenRecord.Zero.Fixtures.NBody`, whose `potential` is summed
       over all pairs), now (`:monitor_native`: the potential evaluated by its generated
       observe kernel; `:monitor_native_evaluator` the engine's block evaluator, a world with
       `kernels: false`) against
       the way it was measured before observables (`:monitor_elixir_all_pairs`: the world's
       rows read into Elixir and the potential evaluated on every pair by the program
       interpreter, as the pure-Elixir backend still does). Both must give the same energy.
    2. LAMMPS's LJ liquid (`BrokenRecord.Zero.Fixtures.LJLiquid`, 32,000 atoms, the fcc lattice
       of `Bench.Inputs.fcc_lattice/3`, 200 steps of velocity Verlet at dt 0.005) through
       `World.stream/2` observing `:temperature` and `pe` every 100 steps
       (`:native_observed`: three samples, the start included), against the same steps in one
       `World.step/2` (`:native`): the overhead of sampling.

  A `--smoke` run uses 200 bodies and 864 atoms.
  """

  alias Bench.{Config, Inputs, Measure, Row}
  alias BrokenRecord.Zero.{Box, Observables, World}
  alias BrokenRecord.Zero.Conservation.Monitor
  alias BrokenRecord.Zero.Fixtures.{LJLiquid, NBody}

  @dt 0.005
  @rules [:half_kick, :drift, :lj_force, :half_kick_2]

  @doc "The scenario's rows (native engine only)."
  @spec run(Config.t()) :: [map]
  def run(%Config{native?: false}), do: []
  def run(config), do: monitor_rows(config) ++ lj_rows(config)

  defp monitor_rows(config) do
    n = Config.pick(config, full: 2_000, quick: 2_000, smoke: 200)
    world = World.new(NBody, %{bodies: bodies(n)}, backend: :native)
    evaluator = World.new(NBody, %{bodies: bodies(n)}, backend: :native, kernels: false)

    unless World.observe_paths(world, [:softened_pe]) == %{softened_pe: :kernel} and
             World.observe_paths(evaluator, [:softened_pe]) == %{softened_pe: :all_pairs} do
      raise "observe: the potential does not run its observe kernel (or runs it with kernels: false)"
    end

    reps = Config.pick(config, full: 5, quick: 3)
    {t_now, now} = Measure.best_of(reps, fn -> Monitor.totals(world) end)
    {t_evaluator, _} = Measure.best_of(reps, fn -> Monitor.totals(evaluator) end)

    {t_before, before} = Measure.best_of(1, fn -> elixir_energy(world) end)
    {energy, _scale} = now.energy
    relative = abs(energy - before) / abs(before)

    if relative > 1.0e-10 do
      raise "observe: the monitor's energy #{energy} differs from the all-pairs one #{before}"
    end

    row = fn contender, t ->
      Row.new(:observe, n, contender, :f64,
        seconds_per_step: t,
        throughput: n * (n - 1) / 2 / t,
        unit: "pairs/s",
        ratio: t_before / t,
        ratio_label: if(t == t_before, do: "reference", else: "x faster than Elixir all pairs"),
        energy: energy
      )
    end

    [
      row.(:monitor_elixir_all_pairs, t_before),
      row.(:monitor_native_evaluator, t_evaluator),
      row.(:monitor_native, t_now)
    ]
  end

  # Kinetic energy (the backend's totals) plus the potential over every pair in Elixir: the
  # energy monitor before observables ran in the engine.
  defp elixir_energy(world) do
    system = world.system
    potentials = Enum.filter(system.observables, & &1.energy)
    rows = Map.new(system.agents, &{&1.index, World.rows(world, &1)})
    params = Box.with_edges(List.to_tuple(Enum.map(system.params, fn _ -> 0.0 end)), world.box)
    kinetic = system.agents |> Enum.map(&elem(World.totals(world, &1).energy, 0)) |> Enum.sum()

    potentials
    |> Observables.evaluate(rows, params)
    |> Enum.reduce(kinetic, fn {_, {_, [pe], _}}, acc -> acc + pe end)
  end

  # Bodies at rest in a cube of edge 10 (Bench.Inputs.bodies/1) given small velocities, so that
  # the kinetic energy is not zero.
  defp bodies(n) do
    n
    |> Inputs.bodies()
    |> Enum.with_index()
    |> Enum.map(fn {b, i} ->
      {x, y, _} = b.position
      v = {0.01 * (y - 5), -0.01 * (x - 5), 0.001 * rem(i, 7)}
      %{position: b.position, velocity: v, mass: 1.0}
    end)
  end

  defp lj_rows(config) do
    cells = Config.pick(config, full: 20, quick: 20, smoke: 6)
    every = Config.pick(config, full: 100, quick: 100, smoke: 5)
    steps = 2 * every
    {atoms, edge} = Inputs.fcc_lattice(cells, 0.8442, 1.44)
    state = %{atoms: atoms, box: {edge, edge, edge}}
    n = length(state.atoms)
    opts = [steps: steps, dt: @dt, rules: @rules]
    rounds = Config.pick(config, full: 3, quick: 2)

    start = fn ->
      world = World.new(LJLiquid, state, backend: :native)
      World.step(world, steps: 1, dt: @dt, rules: [:lj_force])
    end

    {t_plain, _} = Measure.best_of(rounds, fn -> World.step(start.(), opts) end)

    # Each timed run starts from a fresh world; World.new is not timed.
    {t_observed, samples} =
      1..rounds
      |> Enum.map(fn _ ->
        world = start.()

        Measure.best_of(1, fn ->
          world
          |> World.stream(opts ++ [every: every, observe: [:temperature, :pe]])
          |> Enum.to_list()
        end)
      end)
      |> Enum.min_by(&elem(&1, 0))

    row = fn contender, t ->
      Row.new(:observe, n, contender, :f64,
        seconds_per_step: t / steps,
        throughput: n * steps / t,
        unit: "atom-steps/s",
        ratio: t / t_plain,
        ratio_label: if(t == t_plain, do: "reference", else: "x unobserved"),
        steps: steps,
        every: every,
        samples: length(samples)
      )
    end

    [row.(:native, t_plain), row.(:native_observed, t_observed)]
  end
end
