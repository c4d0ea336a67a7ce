defmodule BrokenRecord.Zero.Types do
  @moduledoc """
  The type checker.

  Resolves agent types and fields, annotates every expression with its type
  (`:float | :int | :vec3 | :bool`), folds capitalised constants into literals and rejects
  ill-typed programs with a `CompileError` that names the line (a vec3 where a float is needed,
  an unknown field with a did-you-mean, an unknown agent type, an undefined variable...).

  Typing rules: integer literals and `:int` fields are `:int`; `+ - * min max abs` of two ints
  stay `:int`, anything mixed with a float is `:float`; `/`, `**` and the math functions give
  `:float`; `floor` gives `:int`. vec3 supports `+ -` with vec3, `* /` by a scalar (and scalar
  `*` vec3), unary `-`, `.x/.y/.z`, `dot cross length normalize`. Comparisons take scalars and
  give `:bool`; `and or not` take and give `:bool`; `if` needs a `:bool`. `true`/`false` are
  `:bool`; booleans compare with `==`/`!=` and may be bound and stored, not computed with. An
  atom gets the type `{:enum, values}` of the enum value it meets (compared with, assigned to,
  or in `min`/`max` with) and becomes its index; enums compare in declaration order. Locals
  bound inside an `if` branch are local to that branch, as in Elixir; field writes are not.
  """

  alias BrokenRecord.Zero.{CompiledSystem, IR, Ops, Transient}
  alias BrokenRecord.Zero.Program.Op
  alias BrokenRecord.Zero.IR.Agent

  @doc "Type-checks every rule of a parsed system."
  @spec check(CompiledSystem.t()) :: CompiledSystem.t()
  def check(%CompiledSystem{} = system) do
    check_references!(system)
    constants = eval_constants(system)
    rules = Enum.map(system.rules, &check_rule(&1, system, constants))
    observables = Enum.map(system.observables, &check_observable(&1, system, constants))
    %{system | rules: rules, observables: observables, constants: constants}
  end

  # Every reference field names a declared agent type.
  defp check_references!(system) do
    for agent <- system.agents, %{type: {:ref, target}} = field <- agent.fields do
      if CompiledSystem.agent(system, target) == nil do
        known = Enum.map(system.agents, & &1.name)

        error!(
          %{file: system.file},
          field.line,
          "field #{agent.name}.#{field.name} references unknown agent type #{target}" <>
            did_you_mean(target, known) <> "; known agent types: #{Enum.join(known, ", ")}"
        )
      end
    end
  end

  defp eval_constants(system) do
    Enum.reduce(system.constants, %{}, fn {name, expr}, consts ->
      ctx = %{file: system.file, agents: %{}, consts: consts, vars: %{}, rule: nil}
      Map.put(consts, name, constant_value(expr, ctx))
    end)
  end

  defp constant_value(expr, ctx) do
    typed = expr(expr, ctx)

    case {IR.type(typed), fold(typed)} do
      {type, {:ok, value}} when type in [:float, :int] ->
        value

      _ ->
        error!(
          ctx,
          IR.line(expr),
          "a constant must be a number computed from literals and other constants"
        )
    end
  end

  # Evaluates a typed scalar expression made only of literals: `{:ok, number}`,
  # `{:not_finite, :nan | :inf | :neg_inf}`, or `:error` when it is not such an expression.
  defp fold({:num, _, n}), do: {:ok, n}

  defp fold({:call, _, {op, args}}) when op not in [:dot, :cross, :length, :normalize, :clamp] do
    values = Enum.map(args, &fold/1)

    if Enum.all?(values, &match?({:ok, _}, &1)) do
      value = Ops.apply_op(op, Enum.map(values, fn {:ok, v} -> Ops.to_value(v) end))
      if Ops.finite?(value), do: {:ok, int_if_int(value, args, op)}, else: {:not_finite, value}
    else
      :error
    end
  end

  defp fold(_), do: :error

  defp int_if_int(value, args, op) do
    cond do
      Op.fetch!(op).result == :int ->
        trunc(value)

      Op.fetch!(op).result == :int_preserving and Enum.all?(args, &(IR.type(&1) == :int)) ->
        trunc(value)

      true ->
        value
    end
  end

  defp check_rule(rule, system, constants) do
    agents = resolve_agents(rule, system)

    ctx = %{
      file: system.file,
      agents: agents,
      consts: constants,
      vars: %{},
      rule: rule.name,
      scalars: [:dt | rule.scalars],
      types: system.agents
    }

    {body, _ctx} = statements(rule.body, ctx)
    kind = kind(rule, body)
    if kind == :bonded, do: no_lifecycle_in_bonded!(rule, body, ctx)
    check_exclude!(rule, kind, system, ctx)
    %{rule | kind: kind, body: body}
  end

  # One agent param: a per-agent rule, or a bonded rule when the body reaches through a
  # reference (`s.a.position`); two: a pair rule.
  defp kind(rule, body) do
    case Enum.map(rule.agents, fn {_, type} -> type end) do
      [_] -> if reaches_through?(body), do: :bonded, else: :per_agent
      [same, same] -> :pair_same
      [_, _] -> :pair_cross
    end
  end

  defp reaches_through?(body) do
    find(body, fn
      {:field, _, {{_, _}, _}} -> true
      {:store, _, {{_, _}, _}, _} -> true
      _ -> false
    end) != nil
  end

  defp no_lifecycle_in_bonded!(rule, body, ctx) do
    case find(body, &(match?({:remove, _, _}, &1) or match?({:spawn, _, _, _}, &1))) do
      nil ->
        :ok

      node ->
        error!(
          ctx,
          elem(node, 1),
          "rule #{rule.name} reaches through references: #{elem(node, 0)} is not allowed in it"
        )
    end
  end

  # The first node of a typed body (statements and expressions, at any depth) that `pred?`
  # accepts, or nil.
  defp find(term, pred?) do
    cond do
      pred?.(term) -> term
      is_list(term) -> Enum.find_value(term, &find(&1, pred?))
      is_tuple(term) -> term |> Tuple.to_list() |> Enum.find_value(&find(&1, pred?))
      true -> nil
    end
  end

  # `exclude: Bond` on a same-type, non-exclusive pair rule: Bond has at least two references
  # to its type.
  defp check_exclude!(%{exclude: nil}, _kind, _system, _ctx), do: :ok

  defp check_exclude!(rule, kind, system, ctx) do
    [{_, type} | _] = rule.agents

    case CompiledSystem.agent(system, rule.exclude) do
      nil ->
        error!(
          ctx,
          rule.line,
          "rule #{rule.name}: exclude: names unknown agent type #{rule.exclude}"
        )

      bond ->
        refs = for %{type: {:ref, ^type}} = f <- bond.fields, do: f.name

        cond do
          kind != :pair_same ->
            error!(
              ctx,
              rule.line,
              "rule #{rule.name}: exclude: needs a pair rule over one agent type"
            )

          rule.exclusive ->
            error!(
              ctx,
              rule.line,
              "rule #{rule.name}: exclude: cannot be combined with exclusive: true"
            )

          length(refs) < 2 ->
            error!(
              ctx,
              rule.line,
              "rule #{rule.name}: exclude: #{rule.exclude} needs at least two reference fields " <>
                "to #{type} (it has #{length(refs)})"
            )

          true ->
            :ok
        end
    end
  end

  defp check_observable(rule, system, constants) do
    agents = resolve_agents(rule, system)

    ctx = %{
      file: system.file,
      agents: agents,
      consts: constants,
      vars: %{},
      rule: rule.name,
      scalars: [:dt | rule.scalars],
      types: system.agents,
      observable: if(rule.observe.energy, do: "potential", else: "observable")
    }

    {body, _ctx} = statements(rule.body, ctx)
    %{rule | kind: kind(rule, body), body: body}
  end

  defp resolve_agents(rule, system) do
    Map.new(rule.agents, fn {name, type} ->
      case CompiledSystem.agent(system, type) do
        nil ->
          known = Enum.map(system.agents, & &1.name)

          error!(
            %{file: system.file},
            rule.line,
            "unknown agent type #{type} in rule #{rule.name}" <>
              did_you_mean(type, known) <>
              "; known agent types: #{Enum.join(known, ", ")}"
          )

        agent ->
          {name, agent}
      end
    end)
    |> add_reference_slots(system)
  end

  # A rule with one agent param reaches through that type's reference fields: the slot
  # `{param, field}` is the referenced agent.
  defp add_reference_slots(agents, system) when map_size(agents) == 1 do
    [{name, agent}] = Map.to_list(agents)

    for %{type: {:ref, target}} = field <- agent.fields, into: agents do
      {{name, field.name}, CompiledSystem.agent(system, target)}
    end
  end

  defp add_reference_slots(agents, _system), do: agents

  ## Statements

  defp statements(stmts, ctx) do
    {typed, ctx} = Enum.map_reduce(stmts, ctx, &statement/2)
    {Enum.reject(typed, &is_nil/1), ctx}
  end

  defp statement({:assign, line, name, expr}, ctx) do
    typed = expr(expr, ctx)
    no_bare_atom!(typed, ctx)
    {{:assign, line, name, typed}, put_in(ctx.vars[name], IR.type(typed))}
  end

  defp statement({:value, line, expr}, ctx) do
    typed = expr(expr, ctx)

    cond do
      ctx.observable == "potential" and IR.type(typed) not in [:float, :int] ->
        error!(ctx, line, "a potential must be a float, got #{show(IR.type(typed))}")

      IR.type(typed) not in [:float, :int, :vec3] ->
        error!(
          ctx,
          line,
          "observable #{ctx.rule} must be a float or a vec3, got #{show(IR.type(typed))}"
        )

      true ->
        :ok
    end

    {{:value, line, typed}, ctx}
  end

  defp statement({:constant, line, name, expr}, ctx) do
    if Map.has_key?(ctx.consts, name), do: error!(ctx, line, "constant #{name} is bound twice")
    {nil, put_in(ctx.consts[name], constant_value(expr, %{ctx | vars: %{}}))}
  end

  defp statement({:destructure, line, names, expr}, ctx) do
    typed = expr(expr, ctx)

    unless IR.type(typed) == :vec3 do
      error!(ctx, line, "{x, y, z} = ... needs a vec3 on the right, got #{show(IR.type(typed))}")
    end

    vars = Enum.reduce(names, ctx.vars, &Map.put(&2, &1, :float))
    {{:destructure, line, names, typed}, %{ctx | vars: vars}}
  end

  defp statement({:remove, line, _}, %{observable: kind} = ctx),
    do: error!(ctx, line, "remove is not allowed in a #{kind} (its value is all it gives)")

  defp statement({:spawn, line, _, _}, %{observable: kind} = ctx),
    do: error!(ctx, line, "spawn is not allowed in a #{kind} (its value is all it gives)")

  defp statement({:store, line, {slot, field}, _}, %{observable: kind} = ctx),
    do:
      error!(
        ctx,
        line,
        "#{kind} #{ctx.rule} writes #{slot_name(slot)}.#{field}: #{kind}s only measure " <>
          "(their value is all they give)"
      )

  defp statement({:remove, _line, _agent} = remove, ctx), do: {remove, ctx}

  defp statement({:spawn, line, type, fields}, ctx) do
    agent = spawn_type!(type, line, ctx)

    typed =
      Enum.map(fields, fn {field, expr} ->
        declared = field!(agent, field, agent.name, line, ctx)
        {field, assignable!(expr, declared, "spawn #{agent.name}, #{field}:", agent, line, ctx)}
      end)

    missing =
      Enum.filter(agent.fields, fn f ->
        is_nil(f.default) and not f.transient and not Keyword.has_key?(fields, f.name)
      end)

    if missing != [] do
      error!(
        ctx,
        line,
        "spawn #{agent.name}: no value for field #{Enum.map_join(missing, ", ", &inspect(&1.name))}" <>
          ", which has no default; give it (spawn #{agent.name}, " <>
          "#{hd(missing).name}: ...) or declare a default:"
      )
    end

    # Fields not given take their default (a transient field its reset value), so the
    # child's every field is written.
    defaults =
      for f <- agent.fields, not Keyword.has_key?(fields, f.name) do
        literal = Transient.literal(f.type, f.default, line)
        {f.name, assignable!(literal, f, "spawn #{agent.name}, #{f.name}:", agent, line, ctx)}
      end

    {{:spawn, line, agent.name, typed ++ defaults}, ctx}
  end

  defp statement({:store, line, {slot, field}, expr}, ctx) do
    agent = slot_agent!(slot, {:store, field}, line, ctx)
    declared = field!(agent, field, slot, line, ctx)

    if match?({:ref, _}, declared.type) do
      error!(
        ctx,
        line,
        "cannot assign to #{slot_name(slot)}.#{field}: references are set when the world is " <>
          "created and do not change"
      )
    end

    {{:store, line, {slot, field},
      assignable!(expr, declared, "#{slot_name(slot)}.#{field},", agent, line, ctx)}, ctx}
  end

  defp statement({:if, line, cond, then_stmts, else_stmts}, ctx) do
    typed = expr(cond, ctx)

    unless IR.type(typed) == :bool do
      error!(
        ctx,
        line,
        "if needs a boolean condition (a comparison), got #{show(IR.type(typed))}"
      )
    end

    {then_typed, _} = statements(then_stmts, ctx)
    {else_typed, _} = statements(else_stmts, ctx)
    {{:if, line, typed, then_typed, else_typed}, ctx}
  end

  # The typed value of `expr` written to the `declared` field of `agent` (`target` names the
  # write in the error).
  defp assignable!(expr, declared, target, agent, line, ctx) do
    typed = expr |> expr(ctx) |> resolve_atom(declared.type, ctx)
    got = IR.type(typed)

    ok =
      case declared.type do
        :float -> got in [:float, :int]
        :int -> got == :int
        other -> got == other
      end

    unless ok do
      hint = if declared.type == :int and got == :float, do: " (use floor/1)", else: ""

      error!(
        ctx,
        line,
        "cannot assign #{show(got)} to #{target} #{show(declared.type)} field of " <>
          "#{agent.name}" <> hint
      )
    end

    typed
  end

  defp spawn_type!(type, line, ctx) do
    case Enum.find(ctx.types, &(&1.name == type)) do
      nil ->
        known = Enum.map(ctx.types, & &1.name)

        error!(
          ctx,
          line,
          "unknown agent type #{type} in spawn of rule #{ctx.rule}" <>
            did_you_mean(type, known) <> "; known agent types: #{Enum.join(known, ", ")}"
        )

      agent ->
        agent
    end
  end

  ## Expressions

  defp expr({:atom, m, bool}, _ctx) when is_boolean(bool),
    do: {:num, Map.put(m, :type, :bool), if(bool, do: 1, else: 0)}

  # An enum value gets its enum where it meets one: `resolve_atom/3`.
  defp expr({:atom, m, atom}, _ctx), do: {:atom, Map.put(m, :type, {:atom, atom}), atom}

  defp expr({:num, m, n}, _ctx) when is_integer(n), do: {:num, Map.put(m, :type, :int), n}
  defp expr({:num, m, n}, _ctx), do: {:num, Map.put(m, :type, :float), n}

  defp expr({:var, m, name}, ctx) do
    case Map.fetch(ctx.vars, name) do
      {:ok, type} ->
        {:var, Map.put(m, :type, type), name}

      :error ->
        error!(
          ctx,
          m.line,
          "undefined variable #{name}" <>
            did_you_mean(
              Atom.to_string(name),
              Enum.map(Map.keys(ctx.vars) ++ Map.get(ctx, :scalars, []), &Atom.to_string/1)
            )
        )
    end
  end

  defp expr({:const, m, name}, ctx) do
    case Map.fetch(ctx.consts, name) do
      {:ok, value} when is_integer(value) -> {:num, Map.put(m, :type, :int), value}
      {:ok, value} -> {:num, Map.put(m, :type, :float), value}
      :error -> error!(ctx, m.line, "undefined constant #{name}")
    end
  end

  defp expr({:random, m, {kind, _site}}, %{observable: what} = ctx),
    do: error!(ctx, m.line, "#{kind}() in #{what} #{ctx.rule}: a #{what} cannot be random")

  defp expr({:param, m, name}, %{observable: what} = ctx),
    do:
      error!(
        ctx,
        m.line,
        "#{what} #{ctx.rule} reads the param #{name}: #{what}s are measured between steps, " <>
          "without params (use a constant, Name = value)"
      )

  defp expr({:param, m, name}, _ctx), do: {:param, Map.put(m, :type, :float), name}

  defp expr({:random, m, payload}, _ctx), do: {:random, Map.put(m, :type, :float), payload}

  defp expr({:field, m, {slot, field}}, ctx) do
    agent = slot_agent!(slot, {:read, field}, m.line, ctx)
    declared = field!(agent, field, slot, m.line, ctx)

    if match?({:ref, _}, declared.type) do
      error!(
        ctx,
        m.line,
        "#{slot_name(slot)}.#{field} is a reference to #{elem(declared.type, 1)}: read the " <>
          "fields of the agent it names (#{slot_name(slot)}.#{field}.position)"
      )
    end

    {:field, Map.put(m, :type, declared.type), {slot, field}}
  end

  defp expr({:vec, m, parts}, ctx) do
    typed = Enum.map(parts, &expr(&1, ctx))

    Enum.each(typed, fn part ->
      unless IR.type(part) in [:float, :int] do
        error!(ctx, m.line, "a vector component must be a float, got #{show(IR.type(part))}")
      end
    end)

    {:vec, Map.put(m, :type, :vec3), typed}
  end

  defp expr({:component, m, {base, index}}, ctx) do
    typed = expr(base, ctx)

    unless IR.type(typed) == :vec3 do
      error!(
        ctx,
        m.line,
        ".#{Enum.at([:x, :y, :z], index)} needs a vec3, got #{show(IR.type(typed))}"
      )
    end

    {:component, Map.put(m, :type, :float), {typed, index}}
  end

  # An observable's `if ... else ... end` value (BrokenRecord.Zero.Parser).
  defp expr({:call, m, {:select, [cond, then_value, else_value]}}, ctx) do
    [c, t, e] = Enum.map([cond, then_value, else_value], &expr(&1, ctx))

    unless IR.type(c) == :bool do
      error!(ctx, m.line, "if needs a boolean condition (a comparison), got #{show(IR.type(c))}")
    end

    type =
      case {IR.type(t), IR.type(e)} do
        {same, same} when same in [:float, :int, :vec3] -> same
        {a, b} when a in [:float, :int] and b in [:float, :int] -> :float
        {a, b} -> type_error!(ctx, m.line, "if ... else ... end of #{show(a)} and #{show(b)}")
      end

    {:call, Map.put(m, :type, type), {:select, [c, t, e]}}
  end

  defp expr({:call, m, {op, args}}, ctx) do
    typed = args |> Enum.map(&expr(&1, ctx)) |> resolve_atoms(op, m.line, ctx)
    types = Enum.map(typed, &IR.type/1)
    call = {:call, Map.put(m, :type, result_type(op, types, m.line, ctx)), {op, typed}}
    check_finite!(call, ctx)
    call
  end

  @infix %{add: "+", sub: "-", mul: "*", div: "/"}

  # A division by a constant zero, and a call on constants whose value is not finite, can only
  # give NaN or an infinity at run time. Arguments are checked before their call, so the
  # reported call is the first one that is not finite.
  defp check_finite!({:call, m, {op, args}} = call, ctx) do
    case {op, Enum.map(args, &fold/1)} do
      {:div, [_, {:ok, zero}]} when zero == 0 ->
        error!(ctx, m.line, "division by zero: the divisor is the constant #{inspect(zero)}")

      {op, values} ->
        with {:not_finite, value} <- fold(call) do
          numbers = Enum.map(values, fn {:ok, v} -> inspect(v) end)

          text =
            case {op, numbers} do
              {:neg, [a]} -> "-" <> a
              {op, [a, b]} when is_map_key(@infix, op) -> "#{a} #{@infix[op]} #{b}"
              {op, _} -> "#{op}(#{Enum.join(numbers, ", ")})"
            end

          value = %{nan: "NaN", inf: "infinity", neg_inf: "-infinity"}[value]

          error!(
            ctx,
            m.line,
            "the constant expression #{text} is not finite: it evaluates to #{value}"
          )
        end
    end
  end

  @scalar [:float, :int]
  @ordered [:lt, :le, :gt, :ge, :eq, :ne, :min, :max]

  # Enum values meet their enum in comparisons and min/max (`p.status == :infected`,
  # `max(b.status, :infected)`); anywhere else a bare atom is an error.
  defp resolve_atoms([a, b], op, line, ctx) when op in @ordered do
    case {IR.type(a), IR.type(b)} do
      {{:atom, _}, {:atom, _}} ->
        error!(ctx, line, "#{name_of(op)} of two atoms: compare an enum field with an atom")

      {{:atom, _}, type} ->
        [resolve_atom(a, type, ctx), b]

      {type, {:atom, _}} ->
        [a, resolve_atom(b, type, ctx)]

      _ ->
        [a, b]
    end
  end

  defp resolve_atoms(args, _op, _line, ctx) do
    Enum.each(args, &no_bare_atom!(&1, ctx))
    args
  end

  defp resolve_atom({:atom, m, atom}, {:enum, values} = type, ctx) do
    case Enum.find_index(values, &(&1 == atom)) do
      nil ->
        error!(
          ctx,
          m.line,
          "#{inspect(atom)} is not a value of #{show(type)}" <>
            did_you_mean(Atom.to_string(atom), Enum.map(values, &Atom.to_string/1), ":")
        )

      code ->
        {:num, %{m | type: type}, code}
    end
  end

  defp resolve_atom({:atom, _, _} = atom, _type, ctx), do: no_bare_atom!(atom, ctx)
  defp resolve_atom(typed, _type, _ctx), do: typed

  defp no_bare_atom!({:atom, m, atom}, ctx) do
    error!(
      ctx,
      m.line,
      "#{inspect(atom)} is not a value here: an atom must be compared with (== != < > <= >=), " <>
        "assigned to or passed to min/max with an enum field"
    )
  end

  defp no_bare_atom!(typed, _ctx), do: typed

  # Enums compare by declaration order and min/max stay in their enum; booleans compare with
  # == and != only.
  defp result_type(op, [{:enum, _} = a, b], line, ctx) when op in @ordered do
    unless a == b, do: type_error!(ctx, line, "#{name_of(op)} of #{show(a)} and #{show(b)}")
    if op in [:min, :max], do: a, else: :bool
  end

  defp result_type(op, [a, {:enum, _} = b], line, ctx) when op in @ordered,
    do: type_error!(ctx, line, "#{name_of(op)} of #{show(a)} and #{show(b)}")

  defp result_type(op, [:bool, :bool], _line, _ctx) when op in [:eq, :ne], do: :bool

  defp result_type(op, [a, b], line, ctx) when op in [:add, :sub] do
    cond do
      a == :int and b == :int -> :int
      a in @scalar and b in @scalar -> :float
      a == :vec3 and b == :vec3 -> :vec3
      true -> type_error!(ctx, line, "cannot #{verb(op)} #{show(a)} and #{show(b)}")
    end
  end

  defp result_type(:mul, [a, b], line, ctx) do
    cond do
      a == :int and b == :int ->
        :int

      a in @scalar and b in @scalar ->
        :float

      a == :vec3 and b in @scalar ->
        :vec3

      a in @scalar and b == :vec3 ->
        :vec3

      true ->
        type_error!(ctx, line, "cannot multiply #{show(a)} by #{show(b)} (use dot/2 or cross/2)")
    end
  end

  defp result_type(:div, [a, b], line, ctx) do
    cond do
      a in @scalar and b in @scalar -> :float
      a == :vec3 and b in @scalar -> :vec3
      true -> type_error!(ctx, line, "cannot divide #{show(a)} by #{show(b)}")
    end
  end

  defp result_type(:neg, [a], line, ctx) do
    if a in [:float, :int, :vec3], do: a, else: type_error!(ctx, line, "cannot negate #{show(a)}")
  end

  defp result_type(op, types, line, ctx) when op in [:dot, :cross, :length, :normalize] do
    expect_all!(types, [:vec3], op, line, ctx)
    if op in [:dot, :length], do: :float, else: :vec3
  end

  defp result_type(:clamp, types, line, ctx) do
    expect_all!(types, @scalar, :clamp, line, ctx)
    if Enum.all?(types, &(&1 == :int)), do: :int, else: :float
  end

  # The one-op functions, comparisons and logic: their row in the op table.
  defp result_type(op, types, line, ctx) do
    row = Op.fetch!(op)
    expect_all!(types, if(row.class == :logic, do: [:bool], else: @scalar), op, line, ctx)

    case row.result do
      :int_preserving -> if Enum.all?(types, &(&1 == :int)), do: :int, else: :float
      result -> result
    end
  end

  defp expect_all!(types, allowed, op, line, ctx) do
    Enum.each(types, fn type ->
      unless type in allowed do
        wanted =
          case allowed do
            [:vec3] -> "a vec3"
            [:bool] -> "a boolean"
            _ -> "a float"
          end

        type_error!(ctx, line, "#{name_of(op)} expects #{wanted}, got #{show(type)}")
      end
    end)
  end

  defp name_of(op) do
    %{lt: "<", le: "<=", gt: ">", ge: ">=", eq: "==", ne: "!=", and: "and", or: "or", not: "not"}
    |> Map.get(op, "#{op}/#{arity(op)}")
  end

  defp arity(op) when op in [:dot, :cross], do: 2
  defp arity(op) when op in [:length, :normalize], do: 1
  defp arity(:clamp), do: 3
  defp arity(op), do: Op.fetch!(op).arity

  defp verb(:add), do: "add"
  defp verb(:sub), do: "subtract"

  # The agent type of a slot: an agent param, or `{param, ref}` for the agent that reference
  # field `ref` of the param names (rules with one agent param only). `access` is the
  # `{:read | :store, field}` through the slot: `p.velocity.w` and `p.velocity.x = e` parse
  # like reads and stores through a reference, and get the messages of a vector's accessors.
  defp slot_agent!(slot, access, line, ctx) do
    case Map.fetch(ctx.agents, slot) do
      {:ok, agent} ->
        agent

      :error ->
        {param, ref} = slot
        agent = Map.fetch!(ctx.agents, param)

        case Agent.field(agent, ref) do
          %{type: {:ref, _}} ->
            error!(
              ctx,
              line,
              "#{param}.#{ref}.field: only a rule with one agent param reaches through references"
            )

          nil ->
            field!(agent, ref, param, line, ctx)

          %{type: :vec3} ->
            vector_access!(access, param, ref, line, ctx)

          _ ->
            error!(
              ctx,
              line,
              "#{param}.#{ref} is not a reference field of #{agent.name}: only {:ref, Type} " <>
                "fields lead to another agent"
            )
        end
    end
  end

  defp vector_access!({:read, key}, _param, _field, line, ctx),
    do: error!(ctx, line, "unknown accessor .#{key}; vectors support .x, .y and .z")

  defp vector_access!({:store, key}, param, field, line, ctx) do
    error!(
      ctx,
      line,
      "unsupported assignment target #{param}.#{field}.#{key}; supported: x = e, " <>
        "{x, y, z} = vec, agent.field = e, Const = e"
    )
  end

  defp slot_name({param, ref}), do: "#{param}.#{ref}"
  defp slot_name(param), do: "#{param}"

  defp field!(%Agent{} = agent, field, slot, line, ctx) do
    case Agent.field(agent, field) do
      nil ->
        known = Enum.map(agent.fields, &Atom.to_string(&1.name))

        error!(
          ctx,
          line,
          "unknown field #{slot_name(slot)}.#{field}: #{agent.name} has no field #{inspect(field)}" <>
            did_you_mean(Atom.to_string(field), known, ":") <>
            "; fields: #{Enum.map_join(agent.fields, ", ", &inspect(&1.name))}"
        )

      declared ->
        declared
    end
  end

  @doc false
  @spec did_you_mean(String.t(), [String.t()], String.t()) :: String.t()
  def did_you_mean(name, candidates, prefix \\ "") do
    best =
      candidates
      |> Enum.map(&{&1, String.jaro_distance(name, &1)})
      |> Enum.max_by(&elem(&1, 1), fn -> {nil, 0.0} end)

    case best do
      {candidate, score} when score >= 0.75 -> " (did you mean #{prefix}#{candidate}?)"
      _ -> ""
    end
  end

  # A type as messages name it: "a float", "a vec3", "an enum (:s | :i | :r)", "the atom :x".
  defp show({:enum, values}), do: "an enum (#{Enum.map_join(values, " | ", &inspect/1)})"
  defp show({:atom, atom}), do: "the atom #{inspect(atom)}"
  defp show(:int), do: "an int"
  defp show(type), do: "a #{type}"

  defp type_error!(ctx, line, message), do: error!(ctx, line, "type error: " <> message)

  defp error!(ctx, line, message) do
    raise CompileError, file: ctx.file, line: line, description: message
  end
end
