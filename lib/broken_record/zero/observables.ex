defmodule BrokenRecord.Zero.Observables do
  @moduledoc """
  Observables: quantities measured over a world without changing it (`docs/dsl.md`,
  "Observables").

  A system's `observable` and `potential` declarations, and the built-ins of each agent type
  that has a `mass` float and a `velocity` vec3 field, are compiled into program rules whose
  value registers are reduced over the agents of one type (one agent param) or over every
  unordered pair / every combination (two agent params). They form one program of their own,
  `CompiledSystem.observables_binary`, that the native engine evaluates
  (`BrokenRecord.Zero.NIF.world_observe/3`); the pure-Elixir backend evaluates the same rules
  with `BrokenRecord.Zero.Interpreter` (`evaluate/3`).

  Built-ins (`builtins/0`): `:mass` (`sum m`), `:momentum` (`sum m v`), `:angular_momentum`
  (`sum r x m v` about the origin, for types with a `position` vec3), `:kinetic_energy`
  (`sum 1/2 m |v|^2`) and `:temperature` (`2 KE / dof` in reduced units, `dof = 3N - 3` as
  LAMMPS counts; `nil` for fewer than two agents), over every agent type that has the fields,
  or over one collection as `{collection, name}`.
  """

  alias BrokenRecord.Zero.{CompiledSystem, Conservation, Interpreter, Lowering, Ops, Program}
  alias BrokenRecord.Zero.References
  alias BrokenRecord.Zero.IR.{Agent, Rule}

  @builtins [:mass, :momentum, :angular_momentum, :kinetic_energy, :temperature]
  @reduce_codes %{sum: 0, mean: 0, min: 1, max: 2}

  @typedoc """
  A compiled observable: its `name` (a built-in's rule is named `:"kinetic_energy.particles"`
  and carries `builtin: {name, collection}`), the types of its agent params (indices), `kind`,
  `reduce`, `width` (1 or 3), whether the energy monitor adds it (`energy`: a `potential`),
  `index` (its rule in the observables program), `program` (the lowered rule) and `values`
  (its value registers).
  """
  @type compiled :: %{
          name: atom,
          line: non_neg_integer,
          kind: :per_agent | :pair_same | :pair_cross | :bonded,
          types: [non_neg_integer],
          reduce: :sum | :min | :max | :mean,
          width: 1 | 3,
          energy: boolean,
          builtin: nil | {atom, atom},
          index: non_neg_integer,
          program: Program.Rule.t(),
          values: [non_neg_integer]
        }

  @typedoc "What a backend returns per observable: `{count, values, magnitude}`, or `nil` when not finite."
  @type raw :: {non_neg_integer, [float | nil], float} | nil

  @typedoc "A measured value: a float, a `{x, y, z}`, or `nil` (no agents or pairs to reduce)."
  @type value :: float | {float, float, float} | nil

  @doc "The names of the built-in observables."
  @spec builtins() :: [atom]
  def builtins, do: @builtins

  @doc """
  The built-in observables of `agent` as `{rule_name, builtin_name, agent_param_header, body}`
  (quoted DSL, parsed like a user's `observable`): the per-agent sums of the built-ins whose
  fields the type has (`:temperature` is derived from `:kinetic_energy`).
  """
  @spec builtin_declarations(Agent.t(), [atom]) :: [{atom, atom, Macro.t(), Macro.t()}]
  def builtin_declarations(%Agent{} = agent, alias_parts) do
    param = [p: {:__aliases__, [], alias_parts}]

    bodies = [
      mass: quote(do: p.mass),
      momentum: quote(do: p.velocity * p.mass),
      angular_momentum: quote(do: cross(p.position, p.velocity * p.mass)),
      kinetic_energy: quote(do: 0.5 * p.mass * dot(p.velocity, p.velocity))
    ]

    for {name, body} <- bodies, has_fields?(agent, name) do
      rule = :"#{name}.#{agent.collection}"
      {rule, name, {rule, [line: agent.line], [param]}, body}
    end
  end

  defp has_fields?(agent, :kinetic_energy), do: has_fields?(agent, :energy)

  defp has_fields?(agent, law),
    do:
      Enum.all?(Conservation.needed_fields(law), &(Conservation.quantity_lane(agent, &1) != nil))

  @doc """
  Lowers the checked observables of `system` (`system.observables`, IR rules) and encodes
  their program; returns the compiled observables and the program binary (`nil` when there
  are none).
  """
  @spec compile(CompiledSystem.t()) :: {[compiled], binary | nil}
  def compile(%CompiledSystem{observables: []}), do: {[], nil}

  def compile(%CompiledSystem{} = system) do
    compiled =
      system.observables
      |> Enum.with_index()
      |> Enum.map(fn {%Rule{} = rule, index} ->
        {program, values} = Lowering.lower_observable(rule, system, system.params)

        %{
          name: rule.name,
          line: rule.line,
          kind: rule.kind,
          types:
            Enum.map(rule.agents, fn {_, type} -> CompiledSystem.agent(system, type).index end),
          reduce: rule.observe.reduce,
          width: length(values),
          energy: rule.observe.energy,
          builtin: rule.observe.builtin,
          index: index,
          program: program,
          values: values
        }
      end)

    {compiled, Program.encode(program(%{system | observables: compiled}))}
  end

  @doc """
  The observables program of a system whose observables are compiled (`compile/1`): the
  system program's types, params and periodic axes with one rule per observable, or `nil` when
  there are none.
  """
  @spec program(CompiledSystem.t()) :: Program.t() | nil
  def program(%CompiledSystem{observables: []}), do: nil

  def program(%CompiledSystem{program: program, observables: observables}),
    do: %{program | rules: Enum.map(observables, & &1.program)}

  @doc """
  The names `names` asks for, resolved against `system`: `:all` is every declared observable
  and every built-in that some agent type has the fields of. Raises `ArgumentError` for an
  unknown name (with a did-you-mean) or a built-in no type has the fields of.
  """
  @spec resolve!(CompiledSystem.t(), :all | [term]) :: [{term, term}]
  def resolve!(system, :all) do
    declared = for o <- system.observables, o.builtin == nil, do: o.name

    available =
      Enum.filter(@builtins, fn name ->
        builtin_name = if name == :temperature, do: :kinetic_energy, else: name
        Enum.any?(system.observables, &match?(%{builtin: {^builtin_name, _}}, &1))
      end)

    resolve!(system, declared ++ available)
  end

  def resolve!(system, names) when is_list(names) do
    Enum.map(names, fn name -> {name, plan!(system, name)} end)
  end

  def resolve!(_system, other) do
    raise ArgumentError,
          "observables must be a list of names (atoms, or {collection, built-in}), " <>
            "got: #{inspect(other)}"
  end

  defp plan!(system, name) when is_atom(name) and name in @builtins do
    builtin_plan!(system, name, nil)
  end

  defp plan!(system, name) when is_atom(name) do
    case Enum.find(system.observables, &(&1.builtin == nil and &1.name == name)) do
      nil -> unknown!(system, name)
      o -> {:declared, o}
    end
  end

  defp plan!(system, {collection, name} = key) when is_atom(collection) and name in @builtins do
    unless Enum.any?(system.agents, &(&1.collection == collection)) do
      raise ArgumentError,
            "unknown collection #{inspect(collection)} in observable #{inspect(key)}; known: " <>
              Enum.map_join(system.agents, ", ", &inspect(&1.collection))
    end

    builtin_plan!(system, name, collection)
  end

  defp plan!(system, other), do: unknown!(system, other)

  defp builtin_plan!(system, name, collection) do
    source = if name == :temperature, do: :kinetic_energy, else: name

    parts =
      Enum.filter(system.observables, fn
        %{builtin: {^source, c}} -> collection == nil or c == collection
        _ -> false
      end)

    if parts == [] do
      fields =
        Enum.map_join(
          Conservation.needed_fields(if source == :kinetic_energy, do: :energy, else: source),
          ", ",
          &inspect/1
        )

      where = if collection, do: "collection #{inspect(collection)}", else: "no agent type"

      raise ArgumentError,
            "observable #{inspect(if collection, do: {collection, name}, else: name)}: " <>
              "#{where} has the fields it needs (#{fields}: mass a float, velocity and " <>
              "position vec3)"
    end

    {:builtin, name, parts}
  end

  defp unknown!(system, name) do
    declared = for o <- system.observables, o.builtin == nil, do: o.name
    known = declared ++ @builtins
    shown = if is_atom(name), do: Atom.to_string(name), else: inspect(name)

    raise ArgumentError,
          "unknown observable #{inspect(name)}" <>
            BrokenRecord.Zero.Types.did_you_mean(shown, Enum.map(known, &Atom.to_string/1), ":") <>
            "; known: " <>
            Enum.map_join(known, ", ", &inspect/1) <>
            " (and {collection, built-in})"
  end

  @doc "The compiled observables that the plans of `resolve!/2` evaluate, each once."
  @spec needed([{term, term}]) :: [compiled]
  def needed(plans) do
    plans
    |> Enum.flat_map(fn
      {_, {:declared, o}} -> [o]
      {_, {:builtin, _, parts}} -> parts
    end)
    |> Enum.uniq_by(& &1.index)
  end

  @doc """
  The values of the plans from the backend's raw results (`raw` by observable index):
  `%{name => value}`. Raises `ArgumentError` for a value that is not finite.
  """
  @spec finish([{term, term}], %{non_neg_integer => raw}) :: %{term => value}
  def finish(plans, raw) do
    Map.new(plans, fn
      {name, {:declared, o}} ->
        {name, value(o, fetch!(raw, o))}

      {name, {:builtin, :temperature, parts}} ->
        {ke, n} =
          Enum.reduce(parts, {0.0, 0}, fn o, {ke, n} ->
            {count, [v], _} = fetch!(raw, o)
            {ke + v, n + count}
          end)

        {name, if(n >= 2, do: 2.0 * ke / (3 * n - 3), else: nil)}

      {name, {:builtin, _, parts}} ->
        {name, parts |> Enum.map(&value(&1, fetch!(raw, &1))) |> Enum.reduce(&add/2)}
    end)
  end

  defp fetch!(raw, o) do
    case Map.fetch!(raw, o.index) do
      nil -> raise ArgumentError, "observable #{o.name} is not finite for some agents"
      result -> result
    end
  end

  defp value(o, {count, values, _magnitude}) do
    values =
      case o.reduce do
        :mean when count == 0 -> nil
        :mean -> Enum.map(values, &(&1 / count))
        _ -> if Enum.any?(values, &is_nil/1), do: nil, else: values
      end

    case values do
      nil -> nil
      [v] -> v
      [x, y, z] -> {x, y, z}
    end
  end

  defp add({a, b, c}, {x, y, z}), do: {a + x, b + y, c + z}
  defp add(a, b), do: a + b

  @doc "The reduce code of the engine (`BrokenRecord.Zero.NIF.world_observe/3`): a mean is a sum."
  @spec reduce_code(:sum | :min | :max | :mean) :: 0..2
  def reduce_code(reduce), do: Map.fetch!(@reduce_codes, reduce)

  @doc """
  Evaluates `observables` over lane tuples in Elixir (the pure-Elixir backend): `rows` maps a
  type index to its agents' tuples, `params` is the params tuple with the box edges
  (`BrokenRecord.Zero.Box.with_edges/2`). Pairs are every unordered pair (one type) or every
  combination (two types), in index order; a bonded observable's agents reach the agents their
  references name through `ids` (a type index to its agents' identities, in order; a type
  without an entry has the identities `0..n-1`). The result is `raw/0`, as the engine's.
  Raises `ArgumentError` for a reference that names no agent.
  """
  @spec evaluate([compiled], %{non_neg_integer => [tuple]}, tuple, %{
          non_neg_integer => [non_neg_integer]
        }) :: %{non_neg_integer => raw}
  def evaluate(observables, rows, params, ids \\ %{}) do
    Map.new(observables, fn o -> {o.index, evaluate_one(o, rows, params, ids)} end)
  end

  defp evaluate_one(o, rows, params, ids) do
    eval = fn slots -> Interpreter.values(o.program, o.values, slots, params) end

    terms =
      case o.types do
        [t] when o.kind == :bonded ->
          targets =
            Map.new(o.program.refs, fn {_lane, type} ->
              {type, {List.to_tuple(Map.fetch!(rows, type)), type_index(rows, ids, type)}}
            end)

          Stream.map(Map.fetch!(rows, t), fn row ->
            referenced =
              Enum.map(o.program.refs, fn {lane, type} ->
                {agents, index} = Map.fetch!(targets, type)

                case References.lookup(index, elem(row, lane)) do
                  {:ok, at} -> elem(agents, at)
                  :error -> dangling!(o, elem(row, lane))
                end
              end)

            eval.(List.to_tuple([row | referenced]))
          end)

        [t] ->
          Stream.map(Map.fetch!(rows, t), &eval.({&1}))

        [t, t] ->
          tuple = List.to_tuple(Map.fetch!(rows, t))
          n = tuple_size(tuple)
          excluded = excluded_pairs(o, rows, ids)

          Stream.flat_map(0..(n - 2)//1, fn i ->
            (i + 1)..(n - 1)//1
            |> Stream.reject(&MapSet.member?(excluded, {i, &1}))
            |> Stream.map(&eval.({elem(tuple, i), elem(tuple, &1)}))
          end)

        [ta, tb] ->
          Stream.flat_map(Map.fetch!(rows, ta), fn a ->
            Stream.map(Map.fetch!(rows, tb), &eval.({a, &1}))
          end)
      end

    start = List.duplicate(nil, o.width)

    Enum.reduce_while(terms, {0, start, 0.0}, fn vs, {count, acc, magnitude} ->
      if Enum.all?(vs, &Ops.finite?/1) do
        acc = acc |> Enum.zip(vs) |> Enum.map(fn {a, v} -> combine(o.reduce, a, v) end)
        {:cont, {count + 1, acc, magnitude + norm(vs)}}
      else
        {:halt, nil}
      end
    end)
    |> case do
      nil -> nil
      {0, _, _} when o.reduce in [:sum, :mean] -> {0, List.duplicate(0.0, o.width), 0.0}
      result -> result
    end
  end

  # The pairs `{i, j}` (i < j) that the exclusion type's reference lanes name.
  defp excluded_pairs(%{program: %{exclude: nil}}, _rows, _ids), do: MapSet.new()

  defp excluded_pairs(%{program: %{exclude: %{type: bond} = exclude, type_a: t}} = o, rows, ids) do
    References.excluded_pairs(exclude, Map.fetch!(rows, bond), type_index(rows, ids, t), fn
      value, _, _ -> dangling!(o, value)
    end)
  end

  # The identities of the agents of `type` (`ids`, else their indices) as a References.index.
  defp type_index(rows, ids, type) do
    n = length(Map.fetch!(rows, type))
    References.index(Map.get_lazy(ids, type, fn -> Enum.to_list(0..(n - 1)//1) end))
  end

  defp dangling!(o, value),
    do:
      raise(ArgumentError, "observable #{o.name}: a reference (#{inspect(value)}) names no agent")

  defp combine(_, nil, v), do: v
  defp combine(r, a, v) when r in [:sum, :mean], do: a + v
  defp combine(:max, a, v), do: max(a, v)
  defp combine(:min, a, v), do: min(a, v)

  defp norm([v]), do: abs(v)
  defp norm(vs), do: :math.sqrt(Enum.reduce(vs, 0.0, &(&1 * &1 + &2)))
end
