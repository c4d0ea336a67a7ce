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

  On native worlds the sums run in C++ over the columns (`BrokenRecord.Zero.NIF.world_totals/5`,
  in f64 whatever the world's precision); on pure-Elixir worlds over the lane tuples. Potential
  terms are evaluated over the columns with `BrokenRecord.Zero.Interpreter` (O(N^2) in Elixir
  for pair potentials).

  `report/3` compares two totals. The drift of a law is `|final - initial| / scale`, where
  the scale is the sum of the magnitudes of the per-agent contributions at the start
  (`sum |m|`, `sum m |v|`, `sum m |r| |v|`, `|kinetic| + sum |potential terms|`), so it stays
  meaningful when a total is zero (a system at rest in its centre-of-mass frame).
  The report is `%{law => %{initial: value, final: value, drift: float}}`.
  """

  alias BrokenRecord.Zero.{Conservation, Interpreter, NIF, Ops, World}
  alias BrokenRecord.Zero.IR.Field

  @doc "The totals of the declared laws, with the scales used for relative drift."
  @spec totals(World.t()) :: %{atom => {term, float}}
  def totals(%World{system: system} = world) do
    laws = system.agents |> Enum.flat_map(& &1.conserves) |> Enum.uniq()
    sums = Map.new(system.agents, &{&1.index, agent_sums(world, &1)})

    Map.new(laws, fn law -> {law, total(law, system, sums, world)} end)
  end

  # Per agent type: %{law => {value, scale}}. Native worlds sum in C++ (NIF.world_totals/5);
  # the pure-Elixir world sums its lane tuples.
  defp agent_sums(%World{backend: :native} = world, agent) do
    mass = Conservation.quantity_lane(agent, :mass)
    velocity = Conservation.quantity_lane(agent, :velocity)
    position = Conservation.quantity_lane(agent, :position)

    t =
      NIF.until_free(fn -> NIF.world_totals(world.ref, agent.index, mass, velocity, position) end)

    %{
      mass: {t.mass, t.mass_scale},
      momentum: {t.momentum, t.momentum_scale},
      angular_momentum: {t.angular_momentum, t.angular_momentum_scale},
      energy: {t.kinetic, abs(t.kinetic)}
    }
  end

  defp agent_sums(world, agent) do
    cols = columns(world, agent)

    Map.new([:mass, :momentum, :angular_momentum, :energy], fn law ->
      {law, if(has_fields?(agent, law), do: contribution(law, cols), else: nil)}
    end)
  end

  @doc "The drift report between two totals."
  @spec report(%{atom => {term, float}}, %{atom => {term, float}}) :: map
  def report(initial, final) do
    Map.new(initial, fn {law, {value, scale}} ->
      {final_value, _} = Map.fetch!(final, law)
      diff = norm(sub(final_value, value))
      drift = if scale > 0.0, do: diff / scale, else: diff
      {law, %{initial: value, final: final_value, drift: drift}}
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

  # Field values of a pure-Elixir world, read from its lane tuples.
  defp columns(%World{backend: :interpreted} = world, agent) do
    rows = Map.fetch!(world.lanes, agent.index)

    Map.new(agent.fields, fn %Field{name: name, type: type, lane: lane} ->
      {name, Enum.map(rows, &field_value(&1, type, lane))}
    end)
  end

  defp field_value(row, :vec3, lane),
    do: {elem(row, lane), elem(row, lane + 1), elem(row, lane + 2)}

  defp field_value(row, _type, lane), do: elem(row, lane)

  defp decode(binary, %World{system: %{options: %{precision: :f32}}}),
    do: for(<<x::float-native-32 <- binary>>, do: x)

  defp decode(binary, _world), do: for(<<x::float-native-64 <- binary>>, do: x)

  defp total(law, system, sums, world) do
    agents = Enum.filter(system.agents, &(law in &1.conserves and has_fields?(&1, law)))
    parts = Enum.map(agents, &(sums |> Map.fetch!(&1.index) |> Map.fetch!(law)))

    {value, scale} =
      Enum.reduce(parts, {zero(law), 0.0}, fn {v, s}, {acc, scale} -> {add(acc, v), scale + s} end)

    if law == :energy do
      {pe, pe_scale} = potential_energy(system, world)
      {value + pe, scale + pe_scale}
    else
      {value, scale}
    end
  end

  defp has_fields?(agent, law),
    do:
      Enum.all?(Conservation.needed_fields(law), &(Conservation.quantity_lane(agent, &1) != nil))

  defp contribution(:mass, %{mass: m}), do: {Enum.sum(m), m |> Enum.map(&abs/1) |> Enum.sum()}

  defp contribution(:momentum, %{mass: m, velocity: v}) do
    Enum.zip(m, v)
    |> Enum.reduce({{0.0, 0.0, 0.0}, 0.0}, fn {mi, vi}, {acc, s} ->
      {add(acc, scale_vec(vi, mi)), s + abs(mi) * norm(vi)}
    end)
  end

  defp contribution(:angular_momentum, %{mass: m, velocity: v, position: r}) do
    Enum.zip([m, v, r])
    |> Enum.reduce({{0.0, 0.0, 0.0}, 0.0}, fn {mi, vi, ri}, {acc, s} ->
      {add(acc, cross(ri, scale_vec(vi, mi))), s + abs(mi) * norm(ri) * norm(vi)}
    end)
  end

  defp contribution(:energy, %{mass: m, velocity: v}) do
    ke = Enum.zip(m, v) |> Enum.map(fn {mi, vi} -> 0.5 * mi * dot(vi, vi) end) |> Enum.sum()
    {ke, abs(ke)}
  end

  defp potential_energy(%{potentials: []}, _world), do: {0.0, 0.0}

  defp potential_energy(system, world) do
    rows = Map.new(system.agents, &{&1.index, lane_rows(world, &1)})
    params = List.to_tuple(Enum.map(system.params, fn _ -> 0.0 end))

    Enum.reduce(system.potentials, {0.0, 0.0}, fn pot, acc ->
      value = fn slots -> Interpreter.value(pot.program, pot.value, slots, params) end

      terms =
        case pot.types do
          [t] ->
            Enum.map(Map.fetch!(rows, t), &value.({&1}))

          [t, t] ->
            for {a, i} <- Enum.with_index(Map.fetch!(rows, t)),
                {b, j} <- Enum.with_index(Map.fetch!(rows, t)),
                i < j,
                do: value.({a, b})

          [ta, tb] ->
            for a <- Map.fetch!(rows, ta), b <- Map.fetch!(rows, tb), do: value.({a, b})
        end

      Enum.reduce(terms, acc, fn term, {sum, scale} ->
        unless Ops.finite?(term) do
          raise ArgumentError, "potential #{pot.name} is not finite for some agents"
        end

        {sum + term, scale + abs(term)}
      end)
    end)
  end

  defp lane_rows(%World{backend: :interpreted} = world, agent),
    do: Map.fetch!(world.lanes, agent.index)

  # A native world's lane tuples, built from its packed columns.
  defp lane_rows(world, agent) do
    agent.fields
    |> Enum.map(fn field -> decode(World.column(world, agent.collection, field.name), world) end)
    |> then(fn cols ->
      widths = Enum.map(agent.fields, &Field.width(&1.type))

      cols
      |> Enum.zip(widths)
      |> Enum.map(fn {col, w} -> Enum.chunk_every(col, w) end)
      |> Enum.zip()
      |> Enum.map(fn parts -> parts |> Tuple.to_list() |> List.flatten() |> List.to_tuple() end)
    end)
  end

  defp zero(law) when law in [:momentum, :angular_momentum], do: {0.0, 0.0, 0.0}
  defp zero(_), do: 0.0

  defp add({a, b, c}, {x, y, z}), do: {a + x, b + y, c + z}
  defp add(a, b), do: a + b
  defp sub({a, b, c}, {x, y, z}), do: {a - x, b - y, c - z}
  defp sub(a, b), do: a - b
  defp norm({x, y, z}), do: :math.sqrt(x * x + y * y + z * z)
  defp norm(x), do: abs(x)
  defp dot({a, b, c}, {x, y, z}), do: a * x + b * y + c * z
  defp scale_vec({x, y, z}, k), do: {x * k, y * k, z * k}
  defp cross({a, b, c}, {x, y, z}), do: {b * z - c * y, c * x - a * z, a * y - b * x}
end
