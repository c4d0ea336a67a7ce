defmodule BrokenRecord.Zero.Conservation.Monitor do
  @moduledoc """
  Run-time measurement of the declared conservation laws.

  `totals/1` measures, over every agent type that declares a law (and has the fields it needs:
  `:mass`, `:velocity`, `:position`):

    * `:mass` - `sum m`
    * `:momentum` - `sum m v` (a `{x, y, z}`)
    * `:angular_momentum` - `sum r x m v` (a `{x, y, z}`, about the origin)
    * `:energy` - kinetic `sum 1/2 m |v|^2` plus the system's `potential` declarations, each
      summed over every agent (one agent param), every unordered pair (same type) or every
      combination (two types)

  The sums over each agent type are the world's backend's (`BrokenRecord.Zero.World.totals/2`):
  on native worlds in C++ over the columns (`BrokenRecord.Zero.NIF.world_totals/5`, in f64
  whatever the world's precision), on pure-Elixir worlds over the lane tuples
  (`BrokenRecord.Zero.Conservation.Sums`). Potentials are observables
  (`BrokenRecord.Zero.Observables`), measured by the world's backend: in C++ on native worlds
  (over neighbouring cells when the potential has a cutoff), in Elixir on pure-Elixir ones.

  `report/2` compares two totals. The drift of a law is `|final - initial| / scale`, where
  the scale is the sum of the magnitudes of the per-agent contributions at the start
  (`sum |m|`, `sum m |v|`, `sum m |r| |v|`, `|kinetic| + sum |potential terms|`), so it stays
  meaningful when a total is zero (a system at rest in its centre-of-mass frame).
  The report is `%{law => %{initial: value, final: value, drift: float}}`.
  """

  alias BrokenRecord.Zero.World
  alias BrokenRecord.Zero.Conservation.Sums

  @doc "The totals of the declared laws, with the scales used for relative drift."
  @spec totals(World.t()) :: %{atom => {term, float}}
  def totals(%World{system: system} = world) do
    laws = system.agents |> Enum.flat_map(& &1.conserves) |> Enum.uniq()
    sums = Map.new(system.agents, &{&1.index, World.totals(world, &1)})

    Map.new(laws, fn law -> {law, total(law, system, sums, world)} end)
  end

  @doc "The drift report between two totals."
  @spec report(%{atom => {term, float}}, %{atom => {term, float}}) :: map
  def report(initial, final) do
    Map.new(initial, fn {law, {value, scale}} ->
      {final_value, _} = Map.fetch!(final, law)
      diff = Sums.norm(Sums.sub(final_value, value))
      drift = if scale > 0.0, do: diff / scale, else: diff
      {law, %{initial: value, final: final_value, drift: drift}}
    end)
  end

  @doc """
  `report` with, for every law, `:series`: the value and drift of each of `samples`
  (`{step, time, totals}`) against `initial`, as `%{step, time, value, drift}` in order.
  """
  @spec with_series(map, %{atom => {term, float}}, [{non_neg_integer, float, map}]) :: map
  def with_series(report, initial, samples) do
    points =
      Enum.map(samples, fn {step, time, totals} -> {step, time, report(initial, totals)} end)

    Map.new(report, fn {law, entry} ->
      series =
        Enum.map(points, fn {step, time, r} ->
          %{step: step, time: time, value: r[law].final, drift: r[law].drift}
        end)

      {law, Map.put(entry, :series, series)}
    end)
  end

  @doc "Raises `BrokenRecord.Zero.ConservationError` if a drift exceeds `tolerance`."
  @spec check!(map, number) :: :ok
  def check!(report, tolerance) do
    case Enum.find(Enum.sort(report), fn {_, %{drift: d}} -> d > tolerance end) do
      nil ->
        :ok

      {law, %{drift: drift}} ->
        raise BrokenRecord.Zero.ConservationError,
          message:
            "#{law} drifted by #{:erlang.float_to_binary(drift * 1.0, scientific: 3)} (relative), " <>
              "more than the tolerance #{tolerance}",
          law: law,
          drift: drift,
          tolerance: tolerance,
          report: report
    end
  end

  defp total(law, system, sums, world) do
    agents = Enum.filter(system.agents, &(law in &1.conserves and Sums.has_fields?(&1, law)))
    parts = Enum.map(agents, &(sums |> Map.fetch!(&1.index) |> Map.fetch!(law)))

    {value, scale} =
      Enum.reduce(parts, {Sums.zero(law), 0.0}, fn {v, s}, {acc, scale} ->
        {Sums.add(acc, v), scale + s}
      end)

    if law == :energy do
      {pe, pe_scale} = potential_energy(system, world)
      {value + pe, scale + pe_scale}
    else
      {value, scale}
    end
  end

  defp potential_energy(system, world) do
    case Enum.filter(system.observables, & &1.energy) do
      [] ->
        {0.0, 0.0}

      potentials ->
        raw = World.__observe_raw__(world, potentials)

        Enum.reduce(potentials, {0.0, 0.0}, fn pot, {sum, scale} ->
          case Map.fetch!(raw, pot.index) do
            nil -> raise ArgumentError, "potential #{pot.name} is not finite for some agents"
            {_count, [value], magnitude} -> {sum + value, scale + magnitude}
          end
        end)
    end
  end
end
