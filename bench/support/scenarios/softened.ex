defmodule Bench.Scenarios.Softened do
  @moduledoc """
  The canonical softened gravity (`BrokenRecord.Zero.Fixtures.SoftenedGravity`): the DSL runs
  unordered pairs (its pair semantics); the C++ reference is the canonical loop (every i over
  all j, as usually hand-written), and the same formula over i < j is shown too.
  """

  alias Bench.{Config, Inputs, Measure, Reference}
  alias BrokenRecord.Zero.Fixtures.SoftenedGravity

  @doc "The scenario's rows."
  @spec run(Config.t()) :: [map]
  def run(config), do: Measure.in_rounds(config, fn -> measure(config) end)

  defp measure(config) do
    n = Config.pick(config, full: 16_384, quick: 16_384, smoke: 1_024)
    state = %{bodies: Inputs.bodies(n)}
    pairs = div(n * (n - 1), 2)
    steps = Measure.steps_for(config, pairs * 30)
    flops = Measure.flops(SoftenedGravity, :softened)

    native =
      Measure.native(config, :softened, n, SoftenedGravity, state,
        steps: steps,
        work: pairs,
        flops: flops,
        checksum: {:bodies, :acceleration}
      )

    spec = %{scenario: :softened, n: n, steps: steps, work: pairs, unit: "pairs/s"}

    reference =
      Reference.rows(
        config,
        Map.merge(spec, %{kernel: "softened", contender: :cpp_canonical_all_j})
      ) ++
        Reference.rows(
          config,
          Map.merge(spec, %{kernel: "softened_pairs", contender: :cpp_i_lt_j, precisions: [:f64]})
        )

    native ++ reference
  end
end
