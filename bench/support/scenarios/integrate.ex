defmodule Bench.Scenarios.Integrate do
  @moduledoc """
  Free flight (`BrokenRecord.Zero.Fixtures.Integrate`), a memory-bound sweep, at growing
  sizes: native f64 and f32, the pure-Elixir backend up to 100,000 agents, the C++ loop at the
  largest size.
  """

  alias Bench.{Config, Inputs, Measure, Reference, Row}
  alias BrokenRecord.Zero.Fixtures.Integrate

  @doc "The scenario's rows, sizes in increasing order."
  @spec run(Config.t()) :: [map]
  def run(config) do
    sizes =
      Config.pick(config,
        full: [1_000, 100_000, 1_000_000],
        quick: [1_000, 100_000, 1_000_000],
        smoke: [1_000]
      )

    for n <- sizes,
        result <- Measure.in_rounds(config, fn -> measure(config, n, n == List.last(sizes)) end),
        do: result
  end

  defp measure(config, n, largest?) do
    state = %{particles: Inputs.particles(n)}
    # At least 20 steps per timed call: a 1 ms step would otherwise also time the call's fixed
    # cost (option checks, the dirty-scheduler hop, waking the OpenMP threads).
    steps = max(Measure.steps_for(config, n * 200), 20)
    flops = Measure.flops(Integrate, :integrate)
    common = [work: n, flops: flops]

    elixir =
      if n <= 100_000,
        do: [
          Measure.world(
            Row.new(:integrate, n, :elixir, :f64),
            Integrate,
            state,
            [backend: :interpreted, precision: :f64, steps: max(div(steps, 50), 1)] ++ common
          )
        ],
        else: []

    native = Measure.native(config, :integrate, n, Integrate, state, [steps: steps] ++ common)

    reference =
      if largest?,
        do:
          Reference.rows(config, %{
            scenario: :integrate,
            kernel: "integrate",
            n: n,
            steps: steps,
            work: n,
            unit: "agents/s",
            flops_of: &(&1 * 6)
          }),
        else: []

    native ++ elixir ++ reference
  end
end
