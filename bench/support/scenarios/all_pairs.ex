defmodule Bench.Scenarios.AllPairs do
  @moduledoc """
  All-pairs gravity (`BrokenRecord.Zero.Fixtures.Gravity`) at 50,000 bodies (1.25e9 pairs per
  step): one step, f32 and f64 (f32 only in a quick run), and whether its result is finite.
  """

  alias Bench.{Config, Inputs, Measure, Row}
  alias BrokenRecord.Zero.Fixtures.Gravity
  alias BrokenRecord.Zero.World

  @doc "One row per precision (native engine only)."
  @spec run(Config.t()) :: [map]
  def run(%Config{native?: false}), do: []

  def run(config) do
    n = Config.pick(config, full: 50_000, quick: 50_000, smoke: 2_000)
    pairs = div(n * (n - 1), 2)
    flops = Measure.flops(Gravity, :gravity)
    state = %{bodies: Inputs.bodies(n)}

    for precision <- Config.pick(config, full: [:f64, :f32], quick: [:f32]) do
      world = World.new(Gravity, state, backend: :native, precision: precision)
      {t, world} = Measure.best_of(1, fn -> World.step(world, steps: 1, dt: 1.0e-4) end)
      finite? = world |> World.column(:bodies, :velocity) |> finite_column?(precision)

      Row.new(:all_pairs, n, :native, precision,
        steps: 1,
        seconds_per_step: t,
        throughput: pairs / t,
        unit: "pairs/s",
        gflops: pairs * flops / t / 1.0e9,
        finite: finite?
      )
    end
  end

  defp finite_column?(bin, precision) do
    size = if precision == :f32, do: 32, else: 64
    for(<<x::float-native-size(size) <- bin>>, reduce: true, do: (ok -> ok and is_float(x)))
  rescue
    # a NaN or infinity does not match the float pattern
    _ -> false
  end
end
