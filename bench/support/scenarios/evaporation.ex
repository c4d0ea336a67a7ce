defmodule Bench.Scenarios.Evaporation do
  @moduledoc """
  Agents that are born and die (`BrokenRecord.Zero.Fixtures.Evaporation`) on 1,000,000
  particles: each step drifts them (`drift`), removes about 1% (`evaporate`) and spawns about
  1% (`condense`), so the count stays near its start. Native f64 and f32, and the same system
  running `drift` only (`:native_no_lifecycle`), whose time per step the target compares with.
  """

  alias Bench.{Config, Inputs, Measure, Row}
  alias BrokenRecord.Zero.Fixtures.Evaporation

  @doc "The scenario's rows."
  @spec run(Config.t()) :: [map]
  def run(config) do
    n = Config.pick(config, full: 1_000_000, quick: 1_000_000, smoke: 1_000)
    Measure.in_rounds(config, fn -> measure(config, n) end)
  end

  defp measure(config, n) do
    state = %{particles: Inputs.particles(n)}
    steps = max(Measure.steps_for(config, n * 100), 5)
    common = [steps: steps, work: n]
    lifecycle = [rules: [:drift, :evaporate, :condense]]

    native =
      Measure.native(
        config,
        :evaporation,
        n,
        Evaporation,
        state,
        [flops: Measure.flops(Evaporation, :drift), run: lifecycle] ++ common
      )

    drift_only =
      if config.native? do
        for precision <- [:f64, :f32] do
          Measure.world(
            Row.new(:evaporation, n, :native_no_lifecycle, precision),
            Evaporation,
            state,
            [
              backend: :native,
              precision: precision,
              flops: Measure.flops(Evaporation, :drift),
              run: [rules: [:drift]]
            ] ++ common
          )
        end
      else
        []
      end

    native ++ drift_only
  end
end
