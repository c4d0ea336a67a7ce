defmodule Bench.Scenarios.Langevin do
  @moduledoc """
  A Langevin thermostat step with random numbers (`BrokenRecord.Zero.Fixtures.Langevin`, rule
  `baoab`: three `normal()` per particle) on 1,000,000 free particles: native f64 and f32, the
  hand-written C++ step with the same Philox stream (`bench/reference_kernels.cpp`,
  `langevin`), and the same step without the noise (`drift_only`), whose time gives the cost of
  the random numbers.
  """

  alias Bench.{Config, Inputs, Measure, Reference, Row}
  alias BrokenRecord.Zero.Fixtures.Langevin

  @gamma 1.0
  @kt 1.5

  @doc "The scenario's rows."
  @spec run(Config.t()) :: [map]
  def run(config) do
    n = Config.pick(config, full: 1_000_000, quick: 1_000_000, smoke: 1_000)
    Measure.in_rounds(config, fn -> measure(config, n) end)
  end

  defp measure(config, n) do
    state = %{particles: Inputs.particles(n)}
    # a step draws 3 normals per particle: some 100 ns of work per particle
    steps = max(Measure.steps_for(config, n * 100), 3)
    noisy = [rules: [:baoab], params: %{gamma: @gamma, kt: @kt}]
    quiet = [rules: [:drift_only], params: %{gamma: @gamma}]
    common = [steps: steps, work: n]

    native =
      Measure.native(
        config,
        :langevin,
        n,
        Langevin,
        state,
        [flops: Measure.flops(Langevin, :baoab), run: noisy] ++ common
      )

    no_noise =
      if config.native? do
        for precision <- [:f64, :f32] do
          Measure.world(
            Row.new(:langevin, n, :native_no_noise, precision),
            Langevin,
            state,
            [
              backend: :native,
              precision: precision,
              flops: Measure.flops(Langevin, :drift_only),
              run: quiet
            ] ++ common
          )
        end
      else
        []
      end

    reference =
      Reference.rows(config, %{
        scenario: :langevin,
        kernel: "langevin",
        n: n,
        steps: steps,
        work: n,
        unit: "agents/s",
        flops_of: &(&1 * Measure.flops(Langevin, :baoab))
      })

    native ++ no_noise ++ reference
  end
end
