defmodule BrokenRecord.Zero.State do
  @moduledoc """
  Validation and marshalling of the user's state for the pure-Elixir backend.

  The state is a map from collection keys (`:particles`) to lists of agent maps, or to maps of
  packed columns (`BrokenRecord.Zero.Columns`). A missing collection means zero agents of that
  type. Each agent map must hold every declared field (or
  the field must have a default): `:float` fields take any number, `:int` fields integers,
  `:vec3` fields 3-tuples of numbers, `:bool` fields `true`/`false` and enum fields one of the
  enum's atoms (stored as its index). A transient field is not read (its default is used) and
  never written back. An `:int` value must be one that the world's floats hold
  exactly: |n| <= 2^53, or 2^24 when the precision of the system (or of the world, the
  `precision:` option of `BrokenRecord.Zero.World.new/3`) is `:f32`, although this backend
  computes in f64. Anything else raises `ArgumentError` with the same message as the native
  path (`c_src/nif/marshal.cpp`), e.g. `state.particles[3].position must be a 3-tuple of numbers` or
  `state.particles[3].count is out of range`.

  In the backend each agent is a tuple of lane floats; `to_lanes/2` and `from_lanes/4` convert.
  """

  alias BrokenRecord.Zero.{Columns, CompiledSystem}
  alias BrokenRecord.Zero.IR.{Agent, Field}

  # The largest integers that f64 and f32 hold exactly, with all smaller ones.
  @max_int %{f64: 9_007_199_254_740_992, f32: 16_777_216}

  @doc """
  Raises `ArgumentError` when a collection that the system declares is missing from `state`
  while a key of the state is one or two edits away from it: a misspelt key would otherwise run
  zero agents of that type. Both backends call it (`BrokenRecord.Zero.World.new/3`).

      iex> system = BrokenRecord.Zero.TestSystems.Spring.__system__()
      iex> BrokenRecord.Zero.State.check_collections!(system, %{particle: []})
      ** (ArgumentError) state has no key :particles (the collection of Particle), but has :particle: did you mean :particles?
  """
  @spec check_collections!(CompiledSystem.t(), term) :: :ok
  def check_collections!(%CompiledSystem{agents: agents}, state) when is_map(state) do
    declared = MapSet.new(agents, & &1.collection)

    for %Agent{collection: key, name: name} <- agents, not Map.has_key?(state, key) do
      near =
        Enum.find(Map.keys(state), fn other ->
          (is_atom(other) or is_binary(other)) and not MapSet.member?(declared, other) and
            edits(to_string(other), Atom.to_string(key)) <= 2
        end)

      if near != nil do
        raise ArgumentError,
              "state has no key #{inspect(key)} (the collection of #{name}), but has " <>
                "#{inspect(near)}: did you mean #{inspect(key)}?"
      end
    end

    :ok
  end

  def check_collections!(%CompiledSystem{}, _state), do: :ok

  @doc """
  Checks every reference field (`{:ref, Type}`) of `state`: each value that is an integer must
  be the index of an agent of `Type`'s collection in `state`. Raises `ArgumentError` naming the
  agent, the field and the collection's size. Values that are not integers are left to the
  decoders, which name them. `element` is the byte size of a packed column's values.
  """
  @spec check_references!(CompiledSystem.t(), term, 4 | 8) :: :ok
  def check_references!(%CompiledSystem{agents: agents} = system, state, element)
      when is_map(state) do
    for %Agent{fields: fields} = agent <- agents,
        %Field{type: {:ref, target}} = field <- fields do
      target_agent = CompiledSystem.agent(system, target)
      size = collection_size(target_agent, Map.get(state, target_agent.collection, []), element)
      bad = fn v -> not is_integer(v) or v < 0 or v >= size end

      case first_reference(Map.get(state, agent.collection, []), field, element, bad) do
        nil ->
          :ok

        {i, v} ->
          raise ArgumentError,
                "state.#{agent.collection}[#{i}].#{field.name} is #{v}, not an index into " <>
                  "state.#{target_agent.collection}, which has #{size} " <>
                  if(size == 1, do: "agent", else: "agents") <>
                  " (a #{agent.name} references a #{target})"
      end
    end

    :ok
  end

  def check_references!(%CompiledSystem{}, _state, _element), do: :ok

  defp collection_size(_agent, list, _element) when is_list(list), do: length(list)

  # Columns count agents, not bytes: a vec3 column holds three values per agent.
  defp collection_size(agent, map, element) when is_map(map),
    do: Columns.count!(agent, map, element)

  defp collection_size(_agent, _other, _element), do: 0

  # The first agent whose integer reference `bad?` rejects, as {index, value}, or nil.
  defp first_reference(list, field, _element, bad?) when is_list(list) do
    list
    |> Enum.with_index()
    |> Enum.find_value(fn
      {%{} = item, i} ->
        case Map.fetch(item, field.name) do
          {:ok, v} when is_integer(v) -> if bad?.(v), do: {i, v}
          _ -> nil
        end

      _ ->
        nil
    end)
  end

  defp first_reference(map, field, element, bad?) when is_map(map) do
    case Map.get(map, field.name) do
      column when is_binary(column) ->
        bits = element * 8

        column
        |> then(&for(<<v::float-little-size(bits) <- &1>>, do: v))
        |> Enum.with_index()
        |> Enum.find_value(fn {v, i} ->
          n = trunc(v)
          if v == n and bad?.(n), do: {i, n}
        end)

      _ ->
        nil
    end
  end

  defp first_reference(_other, _field, _element, _bad?), do: nil

  # The Levenshtein distance of two strings, row by row.
  defp edits(a, b) do
    b = String.graphemes(b)

    a
    |> String.graphemes()
    |> Enum.reduce(Enum.to_list(0..length(b)), fn char, [first | _] = previous ->
      previous
      |> Enum.zip(tl(previous))
      |> Enum.zip(b)
      |> Enum.reduce({[first + 1], first + 1}, fn {{diagonal, up}, other}, {row, left} ->
        cost = if char == other, do: 0, else: 1
        value = Enum.min([left + 1, up + 1, diagonal + cost])
        {[value | row], value}
      end)
      |> elem(0)
      |> Enum.reverse()
    end)
    |> List.last()
  end

  @doc """
  Validates `state` and converts it to `%{type_index => [lane_tuple]}`. `:int` values are
  checked against the system's precision (`system.options.precision`).
  """
  @spec to_lanes(CompiledSystem.t(), term) :: %{non_neg_integer => [tuple]}
  def to_lanes(%CompiledSystem{agents: agents, options: options}, state) do
    unless is_map(state), do: raise(ArgumentError, "state must be a map")
    precision = Map.get(options, :precision, :f64)
    max_int = Map.fetch!(@max_int, precision)
    # Every collection's shape first, then the agents: the native path reports in this order.
    lists = Enum.map(agents, &collection!(&1, state))

    agents
    |> Enum.zip(lists)
    |> Map.new(fn
      {agent, {:columns, map}} -> {agent.index, Columns.rows!(agent, map, precision)}
      {agent, list} -> {agent.index, agent_lanes(agent, list, max_int)}
    end)
  end

  defp collection!(%Agent{collection: key}, state) do
    value = Map.get(state, key, [])

    cond do
      Columns.columns?(value) -> {:columns, value}
      proper_list?(value) -> value
      true -> raise(ArgumentError, "state.#{key} must be a list of maps")
    end
  end

  defp proper_list?([]), do: true
  defp proper_list?([_ | tail]), do: proper_list?(tail)
  defp proper_list?(_), do: false

  defp agent_lanes(agent, list, max_int) do
    list
    |> Enum.with_index()
    |> Enum.map(fn {item, i} -> item_lanes(agent, item, i, max_int) end)
  end

  defp item_lanes(%Agent{collection: key, fields: fields}, item, i, max_int) do
    unless is_map(item), do: raise(ArgumentError, "state.#{key}[#{i}] must be a map")

    fields
    |> Enum.flat_map(&field_lanes(&1, item, key, i, max_int))
    |> List.to_tuple()
  end

  defp field_lanes(%Field{transient: true, type: type, default: default}, _, _, _, _),
    do: lanes_of(type, default)

  defp field_lanes(%Field{name: name, type: type, default: default}, item, key, i, max_int) do
    value =
      case Map.fetch(item, name) do
        {:ok, value} ->
          value

        :error when default != nil ->
          default

        :error ->
          raise ArgumentError, "state.#{key}[#{i}] is missing field #{inspect(name)}"
      end

    where = "state.#{key}[#{i}].#{name}"

    case {type, value} do
      {:float, v} when is_number(v) ->
        [to_float(v, where)]

      {:float, _} ->
        raise ArgumentError, "#{where} must be a number"

      {:int, v} when is_integer(v) and abs(v) <= max_int ->
        [v * 1.0]

      {:int, v} when is_integer(v) ->
        raise ArgumentError, "#{where} is out of range"

      {:int, _} ->
        raise ArgumentError, "#{where} must be an integer"

      {{:ref, _}, v} when is_integer(v) and v >= 0 and v <= max_int ->
        [v * 1.0]

      {{:ref, target}, _} ->
        raise ArgumentError, "#{where} must be the index of a #{target} (an integer >= 0)"

      {:vec3, {x, y, z}} when is_number(x) and is_number(y) and is_number(z) ->
        [to_float(x, where), to_float(y, where), to_float(z, where)]

      {:vec3, _} ->
        raise ArgumentError, "#{where} must be a 3-tuple of numbers"

      {:bool, v} when is_boolean(v) ->
        lanes_of(:bool, v)

      {:bool, _} ->
        raise ArgumentError, "#{where} must be true or false"

      {{:enum, values}, v} ->
        unless v in values, do: bad_enum!(where, v, values)
        lanes_of(type, v)
    end
  end

  defp lanes_of(:vec3, {x, y, z}), do: [x * 1.0, y * 1.0, z * 1.0]
  defp lanes_of(type, value), do: [Field.code(type, value) * 1.0]

  # The same words as the native path: an atom or a 64-bit integer is named, other terms not.
  defp bad_enum!(where, value, values) do
    allowed = Enum.map_join(values, ", ", &(":" <> Atom.to_string(&1)))

    cond do
      is_atom(value) ->
        raise ArgumentError, "#{where} is :#{value}, not one of #{allowed}"

      is_integer(value) and value >= -0x8000000000000000 and value <= 0x7FFFFFFFFFFFFFFF ->
        raise ArgumentError, "#{where} is #{value}, not one of #{allowed}"

      true ->
        raise ArgumentError, "#{where} must be one of #{allowed}"
    end
  end

  @doc """
  Converts a number to a float; an integer beyond the float range raises `ArgumentError`
  `"<where> is out of range"`.
  """
  @spec to_float(number, String.t()) :: float
  def to_float(x, _where) when is_float(x), do: x

  def to_float(x, where) when is_integer(x) do
    x * 1.0
  rescue
    ArithmeticError -> raise ArgumentError, "#{where} is out of range"
  end

  @doc """
  Writes lanes back into `state`: only the fields that contain a lane of `written`
  (`%{type_index => [lane]}`) are replaced; everything else is the caller's own term. For a
  type in `ids` (`%{type_index => [identity]}`, its agents removed or spawned) the collection
  holds the agents of `lanes`: each the given agent its identity names, or a new map.
  """
  @spec from_lanes(
          CompiledSystem.t(),
          map,
          %{non_neg_integer => [tuple]},
          %{non_neg_integer => [non_neg_integer]},
          %{non_neg_integer => [non_neg_integer]}
        ) :: map
  def from_lanes(%CompiledSystem{agents: agents}, state, lanes, written, ids \\ %{}) do
    Enum.reduce(agents, state, fn agent, state ->
      fields = written_fields(agent, Map.get(written, agent.index, []))

      case Map.fetch(ids, agent.index) do
        {:ok, identities} ->
          # Agents were removed or spawned: agent i is the given agent its identity names (the
          # given agents have the identities 0..n-1), or a new map for a spawned one.
          given = state |> Map.get(agent.collection, []) |> List.to_tuple()
          rows = Map.fetch!(lanes, agent.index)

          agents =
            [identities, rows, Stream.iterate(0, &(&1 + 1))]
            |> Enum.zip_with(fn [id, row, i] ->
              item = if id < tuple_size(given), do: elem(given, id), else: %{}
              put_fields(item, row, fields, "state.#{agent.collection}", i)
            end)

          Map.put(state, agent.collection, agents)

        :error ->
          if fields == [] or not Map.has_key?(state, agent.collection) do
            state
          else
            items = Map.fetch!(state, agent.collection)
            rows = Map.fetch!(lanes, agent.index)

            agents =
              [items, rows, Stream.iterate(0, &(&1 + 1))]
              |> Enum.zip_with(fn [item, row, i] ->
                put_fields(item, row, fields, "state.#{agent.collection}", i)
              end)

            Map.put(state, agent.collection, agents)
          end
      end
    end)
  end

  # Transient fields are never handed back.
  defp written_fields(agent, written) do
    Enum.filter(agent.fields, fn field ->
      not field.transient and
        Enum.any?(written, &(&1 >= field.lane and &1 < field.lane + Field.width(field.type)))
    end)
  end

  defp put_fields(item, row, fields, key, i) do
    Enum.reduce(fields, item, fn %Field{name: name, type: type, lane: lane}, item ->
      Map.put(item, name, field_value(type, row, lane, "#{key}[#{i}].#{name}"))
    end)
  end

  defp field_value(:float, row, lane, _where), do: elem(row, lane)
  defp field_value(:int, row, lane, _where), do: round(elem(row, lane))
  defp field_value({:ref, _}, row, lane, _where), do: round(elem(row, lane))
  defp field_value(:bool, row, lane, _where), do: elem(row, lane) != 0

  defp field_value({:enum, values}, row, lane, where) do
    code = elem(row, lane)
    count = length(values)

    if code >= 0 and code < count and code == Float.floor(code * 1.0) do
      Enum.at(values, trunc(code))
    else
      raise ArgumentError,
            "the world holds a value at #{where} that is not one of its enum's codes " <>
              "(0..#{count - 1})"
    end
  end

  defp field_value(:vec3, row, lane, _where),
    do: {elem(row, lane), elem(row, lane + 1), elem(row, lane + 2)}
end
