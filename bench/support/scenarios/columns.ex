defmodule Bench.Scenarios.Columns do
  @moduledoc """
  Creating a world of 100,000 agents from packed columns (`World.new/3` with
  `%{particles: %{position: bin, velocity: bin}}`) against creating it from the list of agent
  maps, on the native backend, in the same run: the ratio is the maps' time over the columns'.
  Every contender runs in a fresh process holding only its input (Measure).
  """

  alias Bench.{Config, Inputs, Measure, Row}
  alias BrokenRecord.Zero.Fixtures.Integrate
  alias BrokenRecord.Zero.World

  @doc "The scenario's rows: from maps (the reference), then from columns."
  @spec run(Config.t()) :: [map]
  def run(%{native?: false}), do: []

  def run(config) do
    n = Config.pick(config, full: 100_000, quick: 100_000, smoke: 1_000)
    reps = Config.pick(config, full: 5, quick: 3)
    maps = %{particles: Inputs.particles(n)}
    world = World.new(Integrate, maps, backend: :native)

    columns = %{
      particles: Map.new([:position, :velocity], &{&1, World.column(world, :particles, &1)})
    }

    create = fn state -> World.counts(World.new(Integrate, state, backend: :native)) end
    {t_maps, %{particles: ^n}} = Measure.best_in_fresh_process(reps, maps, nil, create)
    {t_columns, %{particles: ^n}} = Measure.best_in_fresh_process(reps, columns, nil, create)

    for {contender, t} <- [world_new_maps: t_maps, world_new_columns: t_columns] do
      Row.new(:columns, n, contender, :f64,
        seconds_per_step: t,
        throughput: n / t,
        unit: "agents/s",
        ratio: t_maps / t,
        ratio_label: if(t == t_maps, do: "reference", else: "x faster than from maps")
      )
    end
  end
end
