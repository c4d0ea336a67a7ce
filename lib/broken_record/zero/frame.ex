defmodule BrokenRecord.Zero.Frame do
  @moduledoc """
  One frame of a run, as `BrokenRecord.Zero.Trajectory` and `BrokenRecord.Zero.Render` read it
  (`docs/io.md`): one collection's agent maps, the kind of each of their fields, the box, the
  step and the time.

  A frame is given as a state (a map as `simulate` returns it), a `BrokenRecord.Zero.World`, or
  a sample map holding a `:world` or a `:state` (with an optional `:step` and `:time`). Worlds
  are read through their public API only: `World.to_state/1`, `World.column/3` (the codes of
  enum fields) and `World.info/1` (step, box).

  Field kinds are inferred from the values of every agent: `{x, y, z}` of numbers is `:vec3`, a
  float (or ints and floats mixed) `:float`, an integer `:int`, `true`/`false` `:bool`, any
  other atom an enum. A key whose values fit none of these (or no single one) is not writable.
  An enum value's index is its code in the world (`World.column/3`: declaration order) for a
  world, and the order in which values are first met (across frames, through `enums`) for a
  state.

      iex> state = %{atoms: [%{position: {0, 0, 0}, kind: :ar, mass: 1}, %{position: {1.0, 0, 0}, kind: :ne, mass: 2.5}]}
      iex> frame = BrokenRecord.Zero.Frame.new!(state, :atoms, 0)
      iex> frame.kinds
      %{kind: {:enum, %{ar: 0, ne: 1}}, mass: :float, position: :vec3}
      iex> {frame.count, frame.step, frame.box}
      {2, 0, nil}
  """

  alias BrokenRecord.Zero.{Box, World}

  @enforce_keys [
    :collection,
    :agents,
    :count,
    :kinds,
    :box,
    :box_corners?,
    :periodic,
    :step,
    :time
  ]
  defstruct [:collection, :agents, :count, :kinds, :box, :box_corners?, :periodic, :step, :time]

  @typedoc "The kind of a field's values; an enum maps each value to its 0-based index."
  @type kind :: :vec3 | :float | :int | :bool | {:enum, %{atom => non_neg_integer}}

  @typedoc """
  A frame: `agents` the collection's agent maps (`count` of them), `kinds` the writable fields,
  `box` the box (`nil` without one; `box_corners?` whether it was given as corners), `periodic`
  the periodic axes of a world's system (`nil` for a state, which does not say), `step` and
  `time` (`nil` when unknown).
  """
  @type t :: %__MODULE__{
          collection: atom,
          agents: [map],
          count: non_neg_integer,
          kinds: %{atom => kind},
          box: Box.t() | nil,
          box_corners?: boolean,
          periodic: [:x | :y | :z] | nil,
          step: non_neg_integer,
          time: number | nil
        }

  @doc """
  Reads `input` (a state, a world or a sample) as the frame of `collection`; `ordinal` is its
  position in the sequence (the step when the input has none), `enums` the enum indices of
  earlier frames (`%{field => %{value => index}}`), which a state's values keep. Raises
  `ArgumentError` for an input that is none of these, an unknown collection, or agents without
  a `{x, y, z}` position (`position`, default `:position`).
  """
  @spec new!(term, atom, non_neg_integer, %{atom => %{atom => non_neg_integer}}, atom) :: t
  def new!(input, collection, ordinal, enums \\ %{}, position \\ :position) do
    {state, world, sample} = source!(input, ordinal)
    info = world && World.info(world)
    agents = agents!(state, collection, ordinal)
    kinds = kinds(agents)
    check_position!(agents, kinds, collection, position)
    {box, corners?} = box!(state, info)

    %__MODULE__{
      collection: collection,
      agents: agents,
      count: length(agents),
      kinds:
        Map.new(kinds, fn {f, k} -> {f, enum_indices(k, f, world, collection, agents, enums)} end),
      box: box,
      box_corners?: corners?,
      periodic: periodic(world),
      step: step(sample, state, info, ordinal),
      time: time(sample, state)
    }
  end

  @doc "The enum indices of `frame` merged into `enums` (what `new!/5` takes for the next frame)."
  @spec enums(t, %{atom => %{atom => non_neg_integer}}) :: %{atom => %{atom => non_neg_integer}}
  def enums(%__MODULE__{kinds: kinds}, enums) do
    for {field, {:enum, indices}} <- kinds, reduce: enums do
      acc -> Map.update(acc, field, indices, &Map.merge(&1, indices))
    end
  end

  @doc """
  The fields to write: `requested` (a list of field names) or, for `nil`, the position field,
  a vec3 `:velocity` if there is one (as the tools list them), then every other writable field
  in alphabetical order. An unknown or unwritable requested field is an `ArgumentError` naming
  it.
  """
  @spec fields!(t, [atom] | nil, atom) :: [atom]
  def fields!(%__MODULE__{kinds: kinds} = frame, nil, position) do
    velocity = if Map.get(kinds, :velocity) == :vec3, do: [:velocity], else: []
    rest = kinds |> Map.keys() |> Enum.sort() |> Kernel.--([position | velocity])
    check([position | velocity] ++ rest, frame)
  end

  def fields!(%__MODULE__{} = frame, requested, _position) when is_list(requested),
    do: check(requested, frame)

  def fields!(_frame, other, _position),
    do:
      raise(ArgumentError, "option fields must be a list of field names, got: #{inspect(other)}")

  defp check(fields, %__MODULE__{kinds: kinds, agents: agents, collection: collection}) do
    for field <- fields, not Map.has_key?(kinds, field) do
      case Enum.find_index(agents, &(not is_map_key(&1, field))) do
        nil when agents != [] ->
          index = Enum.find_index(agents, &(kind_of(&1[field]) == :other)) || 0
          value = Enum.at(agents, index)[field]

          raise ArgumentError,
                "state.#{collection}[#{index}].#{field} is #{inspect(value)}: not a number, " <>
                  "an {x, y, z} of numbers, a boolean or an atom (or the field mixes these)"

        nil ->
          :ok

        index ->
          raise ArgumentError,
                "unknown field #{inspect(field)}: state.#{collection}[#{index}] has no key " <>
                  "#{inspect(field)}"
      end
    end

    Enum.uniq(fields)
  end

  @doc """
  The kind of `field` in `frame` (`:float` for a field of an empty collection, whose kind is
  unknown).
  """
  @spec kind(t, atom) :: kind
  def kind(%__MODULE__{kinds: kinds}, field), do: Map.get(kinds, field, :float)

  defp periodic(nil), do: nil
  defp periodic(%World{system: %{space: nil}}), do: []
  defp periodic(%World{system: %{space: space}}), do: space.periodic

  defp source!(%World{} = world, _ordinal), do: {World.to_state(world), world, %{}}

  defp source!(%{world: %World{} = world} = sample, _ordinal),
    do: {World.to_state(world), world, sample}

  defp source!(%{state: state} = sample, _ordinal) when is_map(state), do: {state, nil, sample}
  defp source!(state, _ordinal) when is_map(state) and not is_struct(state), do: {state, nil, %{}}

  defp source!(other, ordinal) do
    # a lone state given where frames are expected is enumerated as {key, value} pairs
    hint = if match?({_, _}, other), do: " (give a single state in a list)", else: ""

    raise ArgumentError,
          "frame #{ordinal} is not a state, a World or a sample with a :world or :state: " <>
            inspect(other, limit: 5) <> hint
  end

  defp agents!(state, collection, ordinal) do
    case Map.fetch(state, collection) do
      {:ok, agents} when is_list(agents) ->
        Enum.with_index(agents, fn
          agent, _ when is_map(agent) ->
            agent

          other, i ->
            raise ArgumentError,
                  "state.#{collection}[#{i}] must be an agent map, got: #{inspect(other)}"
        end)

      {:ok, other} ->
        raise ArgumentError,
              "state.#{collection} must be a list of agent maps, got: #{inspect(other, limit: 5)}"

      :error ->
        known = for {k, v} <- state, is_list(v), do: inspect(k)

        raise ArgumentError,
              "unknown collection #{inspect(collection)} in frame #{ordinal}; known: " <>
                Enum.join(Enum.sort(known), ", ")
    end
  end

  # The join of each key's value kinds over all agents; keys that some agent lacks, or whose
  # values fit no single kind, are left out.
  defp kinds([]), do: %{}

  defp kinds([first | _] = agents) do
    init = Map.new(first, fn {k, v} -> {k, kind_of(v)} end)

    agents
    |> Enum.reduce(init, fn agent, acc ->
      Map.new(acc, fn {k, kind} ->
        case agent do
          %{^k => v} -> {k, join(kind, kind_of(v))}
          _ -> {k, :other}
        end
      end)
    end)
    |> Map.reject(fn {_k, kind} -> kind == :other end)
  end

  defp kind_of({x, y, z}) when is_number(x) and is_number(y) and is_number(z), do: :vec3
  defp kind_of(x) when is_float(x), do: :float
  defp kind_of(x) when is_integer(x), do: :int
  defp kind_of(x) when is_boolean(x), do: :bool
  defp kind_of(nil), do: :other
  defp kind_of(x) when is_atom(x), do: :enum
  defp kind_of(_), do: :other

  defp join(kind, kind), do: kind
  defp join(:int, :float), do: :float
  defp join(:float, :int), do: :float
  defp join(_, _), do: :other

  defp check_position!(agents, kinds, collection, position) do
    if agents != [] and Map.get(kinds, position) != :vec3 do
      index = Enum.find_index(agents, &(kind_of(Map.get(&1, position)) != :vec3)) || 0

      raise ArgumentError,
            "state.#{collection}[#{index}] has no position: its #{inspect(position)} is " <>
              "#{inspect(Map.get(Enum.at(agents, index), position))}, not an {x, y, z} of numbers"
    end
  end

  # A world's codes are the declared indices; a state's values keep the indices of earlier
  # frames, and new ones are numbered after them in the order they are met.
  defp enum_indices(:enum, field, world, collection, agents, enums) when world != nil do
    size = if World.info(world).precision == :f32, do: 32, else: 64
    bin = World.column(world, collection, field)
    codes = for <<x::float-native-size(size) <- bin>>, do: trunc(x)

    {:enum,
     agents |> Enum.zip(codes) |> Map.new(fn {a, code} -> {Map.fetch!(a, field), code} end)}
  rescue
    # an atom-valued key of the caller's that the system does not declare: numbered as a
    # state's values are
    ArgumentError -> enum_indices(:enum, field, nil, collection, agents, enums)
  end

  defp enum_indices(:enum, field, nil, _collection, agents, enums) do
    known = Map.get(enums, field, %{})
    next = known |> Map.values() |> Enum.max(fn -> -1 end)

    {indices, _} =
      Enum.reduce(agents, {known, next + 1}, fn agent, {acc, next} ->
        value = Map.fetch!(agent, field)
        if is_map_key(acc, value), do: {acc, next}, else: {Map.put(acc, value, next), next + 1}
      end)

    {:enum, indices}
  end

  defp enum_indices(kind, _field, _world, _collection, _agents, _enums), do: kind

  defp box!(state, info) do
    case {Map.get(state, :box), info && info.box} do
      {nil, nil} -> {nil, false}
      {nil, corners} -> {Box.new!(corners), true}
      {{{_, _, _}, {_, _, _}} = corners, _} -> {Box.new!(corners), true}
      {edges, _} -> {Box.new!(edges), false}
    end
  end

  defp step(%{step: step}, _state, _info, _ordinal) when is_integer(step) and step >= 0, do: step
  defp step(_sample, _state, %{step: step}, _ordinal), do: step
  defp step(_sample, %{step: step}, nil, _ordinal) when is_integer(step) and step >= 0, do: step
  defp step(_sample, _state, _info, ordinal), do: ordinal

  defp time(%{time: time}, _state) when is_number(time), do: time
  defp time(_sample, %{time: time}) when is_number(time), do: time
  defp time(_sample, _state), do: nil
end
