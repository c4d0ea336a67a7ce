defmodule Bench.Scenarios.Evaporation do
  @moduledoc """
  Agents that are born and die (`BrokenRecord.Zero.Fixtures.Evaporation`) on 1,000,000
  particles of a soft-sphere gas in a periodic box at 1.2 per unit volume (about 5 neighbours
  within the cutoff of 1 each): each step `repel` (a pair rule with a detected cutoff) and
  `drift` move them, `evaporate` removes about 1% and `condense` spawns about 1%, so the count
  stays near its start. Native f64 and f32 with all four rules (`:native`) and the same gas
  without the lifecycle rules (`:native_no_lifecycle`, `repel` and `drift`), whose time per
  step the target compares with. The lean comparison is measured too: `drift`, `evaporate`
  and `condense` (`:native_lean`) against `drift` only (`:native_drift_only`), where the
  lifecycle rules' own work is all there is. Each row's `ratio` is its time per step over its
  baseline's.
  """

  alias Bench.{Config, Inputs, Measure, Row}
  alias BrokenRecord.Zero.Fixtures.Evaporation

  @density 1.2

  # contender => {rules, baseline contender or nil}
  @contenders [
    native: {[:repel, :drift, :evaporate, :condense], :native_no_lifecycle},
    native_no_lifecycle: {[:repel, :drift], nil},
    native_lean: {[:drift, :evaporate, :condense], :native_drift_only},
    native_drift_only: {[:drift], nil}
  ]

  @doc "The scenario's rows."
  @spec run(Config.t()) :: [map]
  def run(%Config{native?: false}), do: []

  def run(config) do
    n = Config.pick(config, full: 1_000_000, quick: 1_000_000, smoke: 2_000)
    state = Inputs.gas(n, @density)

    rows = Measure.in_rounds(config, fn -> measure(config, n, state) end)
    Enum.map(rows, &with_ratio(&1, rows))
  end

  defp measure(config, n, state) do
    steps = Config.pick(config, full: 10, quick: 5, smoke: 2)

    for {contender, {rules, _baseline}} <- @contenders, precision <- [:f64, :f32] do
      Measure.world(Row.new(:evaporation, n, contender, precision), Evaporation, state,
        backend: :native,
        precision: precision,
        steps: steps,
        work: n,
        reps: 2,
        run: [rules: rules]
      )
    end
  end

  defp with_ratio(row, rows) do
    {_rules, baseline} = Keyword.fetch!(@contenders, row.contender)

    case baseline &&
           Enum.find(rows, &Row.matches?(&1, contender: baseline, precision: row.precision)) do
      nil ->
        row

      base ->
        Map.merge(row, %{
          ratio: row.seconds_per_step / base.seconds_per_step,
          ratio_label: "x time of #{Row.contender_label(baseline)}"
        })
    end
  end
end
