defmodule Bench.Scenarios.Progress do
  @moduledoc """
  What `progress:` costs (`BrokenRecord.Zero.Progress`, row scenario `:progress`): the periodic
  LJ liquid (`BrokenRecord.Zero.Fixtures.LJLiquid`, 32,000 atoms on an fcc lattice at 0.8442,
  T 1.44, velocity Verlet at dt 0.005), the same steps from the same world run with `progress:`
  a function that does nothing (`:native_progress`: the run goes in chunks of about a tenth of a
  second, each one NIF call that saves the lanes its rules write) and without (`:native`);
  native f64. Each contender's best of interleaved rounds (A B B A in each); the progress row's
  ratio is its time over the plain run's (the target: at most 1.01).
  """

  alias Bench.{Config, Inputs, Measure, Row}
  alias BrokenRecord.Zero.Fixtures.LJLiquid
  alias BrokenRecord.Zero.World

  @rules [:half_kick, :drift, :lj_force, :half_kick_2]

  @doc "The rows without and with progress (native engine only)."
  @spec run(Config.t()) :: [map]
  def run(%Config{native?: false}), do: []

  def run(config) do
    cells = Config.pick(config, full: 20, quick: 20, smoke: 4)
    steps = Config.pick(config, full: 200, quick: 60, smoke: 10)
    {atoms, side} = Inputs.fcc_lattice(cells, 0.8442, 1.44)
    world = World.new(LJLiquid, %{atoms: atoms, box: {side, side, side}}, backend: :native)
    world = World.step(world, steps: 1, rules: [:lj_force])
    n = length(atoms)

    contenders = [native: [], native_progress: [progress: fn _ -> :ok end]]

    [plain, progress] =
      Measure.in_rounds(config, fn ->
        # each run from its own copy of the same world, in the order A B B A so that neither
        # contender always runs first; each contender's faster run
        times =
          for {contender, extra} <- contenders ++ Enum.reverse(contenders) do
            copy = World.copy(world)
            opts = [steps: steps, dt: 0.005, rules: @rules] ++ extra
            {t, _} = Measure.best_of(1, fn -> World.step(copy, opts) end)
            {contender, t}
          end

        for {contender, _} <- contenders do
          t = times |> Keyword.get_values(contender) |> Enum.min()

          Row.new(:progress, n, contender, :f64,
            steps: steps,
            seconds_per_step: t / steps,
            throughput: n * steps / t,
            unit: "agents/s"
          )
        end
      end)

    [
      plain,
      Map.merge(progress, %{
        ratio: progress.seconds_per_step / plain.seconds_per_step,
        ratio_label: "x the time without progress"
      })
    ]
  end
end
