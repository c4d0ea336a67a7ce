defmodule Bench.Scenarios.Gravity do
  @moduledoc """
  Pairwise gravity (`BrokenRecord.Zero.Fixtures.Gravity`): at the small size native against
  the pure-Elixir backend, at the large size against the C++ reference, both as usually
  hand-written (every i over all j) and over i < j with Newton's third law, as the DSL runs it.
  """

  alias Bench.{Config, Inputs, Measure, Reference, Row}
  alias BrokenRecord.Zero.Fixtures.Gravity

  @doc "The scenario's rows: the small size, then the large one."
  @spec run(Config.t()) :: [map]
  def run(config) do
    [small, large] =
      Config.pick(config, full: [1_000, 16_384], quick: [1_000, 16_384], smoke: [128, 1_024])

    Measure.in_rounds(config, fn -> measure(config, small, :elixir) end) ++
      Measure.in_rounds(config, fn -> measure(config, large, :reference) end)
  end

  defp measure(config, n, against) do
    state = %{bodies: Inputs.bodies(n)}
    pairs = div(n * (n - 1), 2)
    steps = Measure.steps_for(config, pairs * 30)
    flops = Measure.flops(Gravity, :gravity)
    common = [work: pairs, flops: flops, checksum: {:bodies, :velocity}]

    elixir =
      if against == :elixir,
        do: [
          Measure.world(
            Row.new(:gravity, n, :elixir, :f64),
            Gravity,
            state,
            [
              backend: :interpreted,
              precision: :f64,
              steps: 1,
              reps: Config.pick(config, full: 2, quick: 1)
            ] ++ common
          )
        ],
        else: []

    native = Measure.native(config, :gravity, n, Gravity, state, [steps: steps] ++ common)

    reference =
      if against == :reference do
        spec = %{scenario: :gravity, n: n, steps: steps, work: pairs, unit: "pairs/s"}

        Reference.rows(config, Map.merge(spec, %{kernel: "gravity_all", contender: :cpp_all_j})) ++
          Reference.rows(
            config,
            Map.merge(spec, %{kernel: "gravity", contender: :cpp_i_lt_j, flops_of: &(&1 * flops)})
          )
      else
        []
      end

    native ++ elixir ++ reference
  end
end
