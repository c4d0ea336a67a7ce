defmodule BrokenRecord.Zero.Parser do
  @moduledoc """
  Turns the quoted body of a `defsystem` into the IR (`BrokenRecord.Zero.IR`).

  The parser only knows the syntax: it resolves which names are agent params, scalar params,
  constants and locals, and rejects anything outside the DSL with a `CompileError` naming the
  line and what is supported. Types, fields and agent types are checked later by
  `BrokenRecord.Zero.Types`.
  """

  alias BrokenRecord.Zero.{CompiledSystem, Observables, Space}
  alias BrokenRecord.Zero.Program.Op
  alias BrokenRecord.Zero.IR.{Agent, Field, Rule}

  @field_types [:float, :int, :vec3, :bool]
  @laws [:mass, :momentum, :angular_momentum, :energy]
  # DSL functions that lower to several ops; the one-op functions come from the op table.
  @composite_functions [dot: 2, cross: 2, length: 1, normalize: 1, clamp: 3]
  @op_functions for {name, op} <- Op.functions(), do: {name, op.arity}
  @functions Map.new(@composite_functions ++ @op_functions)
  @random [:uniform, :normal]
  @reduces [:sum, :min, :max, :mean]
  @math_functions Map.new(Op.math_functions(), fn {name, op} -> {name, op.arity} end)
  # Integers of this magnitude or more round to infinity as floats: the largest float,
  # (2^53 - 1) * 2^971, plus half a unit in its last place.
  @float_limit (2 ** 53 - 1) * 2 ** 971 + 2 ** 970
  @max_int 2 ** 53
  @binary_ops Map.new(Op.operators(2), fn {operator, op} -> {operator, op.name} end)
  @unary_ops Map.new(Op.operators(1), fn {operator, op} -> {operator, op.name} end)
  @supported_expressions "numbers, variables, agent.field, v.x/.y/.z, {x, y, z}, + - * / **, " <>
                           "unary -, < <= > >= == !=, and/or/not (&& || !), " <>
                           Enum.map_join(
                             @composite_functions ++ @op_functions,
                             " ",
                             fn {f, n} -> "#{f}/#{n}" end
                           ) <>
                           " and :math." <>
                           Enum.map_join(Op.math_functions(), "/", &elem(&1, 0)) <> "/pi"

  @doc """
  Parses a `defsystem` block. `file` and `line` locate errors; `module` is the system's module.
  """
  @spec parse(Macro.t(), module, String.t(), non_neg_integer) :: CompiledSystem.t()
  def parse(block, module, file, line) do
    ctx = %{file: file, line: line}

    acc = %{
      agents: [],
      rules: [],
      constants: [],
      options: %{target: :cpu, optimize: [], precision: :f64, conservation: :warn},
      warnings: [],
      observables: [],
      space: nil
    }

    acc = Enum.reduce(statements(block), acc, &system_statement(&1, &2, ctx))

    agents =
      acc.agents
      |> Enum.reverse()
      |> Enum.with_index()
      |> Enum.map(fn {agent, index} -> %{agent | index: index} end)

    rules =
      acc.rules
      |> Enum.reverse()
      |> Enum.with_index()
      |> Enum.map(fn {rule, index} -> %{rule | index: index} end)

    name = module |> Module.split() |> List.last()

    if agents == [] do
      error!(
        ctx,
        [],
        "system #{name} declares no agent types; declare at least one with " <>
          "agents do defagent Name do field ... end end"
      )
    end

    check_unique!(agents, & &1.name, "agent type", ctx)
    check_unique!(agents, & &1.collection, "collection", ctx)
    check_unique!(rules, & &1.name, "rule", ctx)
    check_observables!(acc.observables, ctx)
    acc = Enum.reduce(agents, acc, &builtin_observables(&1, &2, ctx))

    case Space.check(acc.space, agents) do
      :ok -> :ok
      {:error, message} -> error!(%{ctx | line: acc.space.line}, [], message)
    end

    %CompiledSystem{
      module: module,
      name: name,
      file: file,
      agents: agents,
      rules: rules,
      constants: Enum.reverse(acc.constants),
      options: Map.put(acc.options, :warnings, Enum.reverse(acc.warnings)),
      observables: Enum.reverse(acc.observables),
      space: acc.space
    }
  end

  @doc "The state key of an agent type: plural snake_case (`Body` -> `:bodies`)."
  @spec collection_key(String.t()) :: atom
  def collection_key(name) do
    word = Macro.underscore(name)

    plural =
      cond do
        String.match?(word, ~r/[^aeiou]y$/) -> String.slice(word, 0..-2//1) <> "ies"
        String.match?(word, ~r/(s|x|z|ch|sh)$/) -> word <> "es"
        true -> word <> "s"
      end

    String.to_atom(plural)
  end

  ## System level

  defp statements({:__block__, _, stmts}), do: stmts
  defp statements(nil), do: []
  defp statements(stmt), do: [stmt]

  defp system_statement({:compile_target, meta, [target]}, acc, ctx) when is_atom(target) do
    if target == :cpu do
      acc
    else
      warn(
        acc,
        ctx,
        meta,
        "compile_target #{inspect(target)} is not available in this build, using :cpu"
      )
    end
  end

  defp system_statement({:optimize, meta, [passes]}, acc, ctx) when is_list(passes) do
    known = BrokenRecord.Zero.Optimizer.passes()

    Enum.reduce(passes, acc, fn
      pass, acc when is_atom(pass) ->
        if pass in known do
          put_in(acc.options.optimize, acc.options.optimize ++ [pass])
        else
          warn(
            acc,
            ctx,
            meta,
            "unknown optimize pass #{inspect(pass)} (ignored); known passes: " <>
              Enum.map_join(known, ", ", &inspect/1)
          )
        end

      other, _acc ->
        error!(ctx, meta, "optimize expects a list of atoms, got: #{Macro.to_string(other)}")
    end)
  end

  defp system_statement({:precision, meta, [precision]}, acc, ctx) do
    if precision in [:f64, :f32] do
      put_in(acc.options.precision, precision)
    else
      error!(ctx, meta, "precision must be :f64 or :f32, got: #{Macro.to_string(precision)}")
    end
  end

  defp system_statement({:conservation, meta, [mode]}, acc, ctx) do
    if mode in [:warn, :strict] do
      put_in(acc.options.conservation, mode)
    else
      error!(ctx, meta, "conservation must be :warn or :strict, got: #{Macro.to_string(mode)}")
    end
  end

  defp system_statement({:space, meta, [opts]}, acc, ctx) do
    if acc.space, do: error!(ctx, meta, "space is declared twice")

    case Space.from_options(opts, line(meta, ctx)) do
      {:ok, space} -> %{acc | space: space}
      {:error, message} -> error!(ctx, meta, message)
    end
  end

  defp system_statement({:agents, _meta, [[do: block]]}, acc, ctx) do
    Enum.reduce(statements(block), acc, &system_statement(&1, &2, ctx))
  end

  defp system_statement({:rules, _meta, [[do: block]]}, acc, ctx) do
    Enum.reduce(statements(block), acc, &system_statement(&1, &2, ctx))
  end

  defp system_statement({:defagent, meta, [alias, [do: block]]}, acc, ctx),
    do: defagent(alias, [], block, meta, acc, ctx)

  defp system_statement({:defagent, meta, [alias, opts, [do: block]]}, acc, ctx)
       when is_list(opts),
       do: defagent(alias, opts, block, meta, acc, ctx)

  defp system_statement({:defagent, meta, [alias, opts]}, acc, ctx) when is_list(opts) do
    {block, opts} = Keyword.pop(opts, :do)
    defagent(alias, opts, block, meta, acc, ctx)
  end

  defp system_statement({:interaction, meta, [header, [do: body]]}, acc, ctx) do
    rule = interaction(header, body, meta, acc, ctx)
    %{acc | rules: [removals_exclusive!(rule, ctx) | acc.rules]}
  end

  defp system_statement({:interaction, meta, [header, opts, [do: body]]}, acc, ctx) do
    rule = interaction(header, body, meta, acc, ctx)
    rule = interaction_options(rule, opts, meta, ctx)
    %{acc | rules: [removals_exclusive!(rule, ctx) | acc.rules]}
  end

  defp system_statement({:potential, meta, [header, [do: body]]}, acc, ctx),
    do: observable(header, body, %{reduce: :sum, energy: true, builtin: nil}, meta, acc, ctx)

  defp system_statement({:observable, meta, [header, [do: body]]}, acc, ctx),
    do: observable(header, body, %{reduce: :sum, energy: false, builtin: nil}, meta, acc, ctx)

  defp system_statement({:observable, meta, [header, opts, [do: body]]}, acc, ctx) do
    unless Keyword.keyword?(opts) do
      error!(ctx, meta, "observable options must be a keyword list, got #{Macro.to_string(opts)}")
    end

    {excluding, opts} = Keyword.pop(opts, :exclude)

    reduce =
      Enum.reduce(opts, :sum, fn
        {:reduce, r}, _ when r in @reduces ->
          r

        {:reduce, other}, _ ->
          error!(
            ctx,
            meta,
            "observable reduce: must be one of #{Enum.map_join(@reduces, ", ", &inspect/1)}, " <>
              "got #{Macro.to_string(other)}"
          )

        {key, _}, _ ->
          error!(
            ctx,
            meta,
            "unknown observable option #{key}:; the options are reduce: and exclude:"
          )
      end)

    acc = observable(header, body, %{reduce: reduce, energy: false, builtin: nil}, meta, acc, ctx)

    case excluding do
      nil ->
        acc

      type ->
        [rule | rest] = acc.observables
        %{acc | observables: [interaction_options(rule, [exclude: type], meta, ctx) | rest]}
    end
  end

  defp system_statement({:=, meta, [{:__aliases__, _, [name]}, value]}, acc, ctx) do
    if List.keymember?(acc.constants, name, 0) do
      error!(ctx, meta, "constant #{name} is bound twice")
    end

    expr = expression(value, %{ctx | line: line(meta, ctx)}, %{agents: [], scalars: []})
    %{acc | constants: [{name, expr} | acc.constants]}
  end

  defp system_statement(other, _acc, ctx) do
    error!(
      ctx,
      meta_of(other),
      "unsupported statement in defsystem: #{Macro.to_string(other)}. Supported: " <>
        "compile_target, optimize, precision, conservation, space, agents do ... end, " <>
        "defagent, rules do ... end, interaction, observable, potential and constants (G = 1.0)"
    )
  end

  # An observable (and a potential, an energy observable summed by the energy monitor): an
  # interaction header whose body ends with its value, an expression or an `if ... else ... end`
  # of values (a `select`).
  defp observable(header, body, observe, meta, acc, ctx) do
    kind = if observe.energy, do: "potential", else: "observable"

    {stmts, value} =
      case statements(body) do
        [] ->
          error!(
            ctx,
            meta,
            "a#{if observe.energy, do: "", else: "n"} #{kind}'s body must end with an expression (its value)"
          )

        stmts ->
          {Enum.drop(stmts, -1), List.last(stmts)}
      end

    rule = interaction(header, {:__block__, [], stmts}, meta, acc, ctx)
    scope = %{agents: Enum.map(rule.agents, &elem(&1, 0)), scalars: [:dt | rule.scalars]}
    line = line(meta_of(value), %{ctx | line: rule.line})
    {value_stmts, value} = value_expression(value, %{ctx | line: line}, scope)
    rule = %{rule | body: rule.body ++ value_stmts ++ [{:value, line, value}], observe: observe}
    %{acc | observables: [rule | acc.observables]}
  end

  # The statements and the value expression of an observable's value. In an `if c do ... v1
  # else ... v2 end` the condition is bound first, then each branch's statements run and its
  # value is bound (both branches are evaluated, as the lowering does for every `if`), and the
  # value is a `select`.
  defp value_expression({:if, meta, [cond, branches]}, ctx, scope) when is_list(branches) do
    ctx = %{ctx | line: line(meta, ctx)}

    case branches do
      [do: then_body, else: else_body] ->
        n = System.unique_integer([:positive])
        [c, t, e] = Enum.map(["cond", "then", "else"], &:"__#{&1}_#{n}__")
        {then_stmts, then_value} = branch_value(then_body, meta, ctx, scope)
        {else_stmts, else_value} = branch_value(else_body, meta, ctx, scope)
        var = fn name -> {:var, %{line: ctx.line}, name} end

        {[{:assign, ctx.line, c, expression(cond, ctx, scope)}] ++
           then_stmts ++
           [{:assign, ctx.line, t, then_value}] ++
           else_stmts ++ [{:assign, ctx.line, e, else_value}],
         {:call, %{line: ctx.line}, {:select, [var.(c), var.(t), var.(e)]}}}

      _ ->
        error!(
          ctx,
          meta,
          "an observable's value may be an if ... else ... end with a value in each branch"
        )
    end
  end

  defp value_expression(expr, ctx, scope), do: {[], expression(expr, ctx, scope)}

  defp branch_value(body, meta, ctx, scope) do
    case statements(body) do
      [] ->
        error!(
          ctx,
          meta,
          "each branch of an observable's if ... else ... end must end with a value"
        )

      stmts ->
        lowered = Enum.map(Enum.drop(stmts, -1), &statement(&1, ctx, scope))
        {value_stmts, value} = value_expression(List.last(stmts), ctx, scope)
        {lowered ++ value_stmts, value}
    end
  end

  defp defagent({:__aliases__, _, parts}, opts, block, meta, acc, ctx) do
    name = parts |> Enum.map(&Atom.to_string/1) |> Enum.join(".")
    line = line(meta, ctx)

    collection =
      case Keyword.get(opts, :collection) do
        nil -> collection_key(List.last(Enum.map(parts, &Atom.to_string/1)))
        key when is_atom(key) -> key
        other -> error!(ctx, meta, "collection: must be an atom, got #{Macro.to_string(other)}")
      end

    {fields, lanes, conserves} =
      Enum.reduce(statements(block), {[], 0, []}, fn stmt, state ->
        agent_statement(stmt, state, %{ctx | line: line})
      end)

    agent = %Agent{
      name: name,
      collection: collection,
      fields: Enum.reverse(fields),
      lanes: lanes,
      conserves: conserves,
      line: line
    }

    if agent.fields == [], do: error!(ctx, meta, "agent #{name} declares no fields")
    check_unique!(agent.fields, & &1.name, "field of #{name}", ctx)
    %{acc | agents: [agent | acc.agents]}
  end

  defp defagent(other, _opts, _block, meta, _acc, ctx) do
    error!(ctx, meta, "defagent expects a capitalised name, got: #{Macro.to_string(other)}")
  end

  defp agent_statement({:field, meta, [name, type | rest]}, {fields, lane, laws}, ctx)
       when is_atom(name) do
    type = field_type!(type, name, meta, ctx)

    opts =
      case rest do
        [] -> []
        [opts] when is_list(opts) -> opts
        _ -> error!(ctx, meta, "field #{inspect(name)}: options are default: and transient:")
      end

    Enum.each(opts, fn
      {key, _} when key in [:default, :transient] ->
        :ok

      other ->
        shown =
          if match?({key, _} when is_atom(key), other),
            do: "#{elem(other, 0)}:",
            else: Macro.to_string(other)

        error!(
          ctx,
          meta,
          "field #{inspect(name)}: unknown option #{shown}; options are default: and transient:"
        )
    end)

    transient =
      case Keyword.get(opts, :transient, false) do
        flag when is_boolean(flag) ->
          flag

        other ->
          error!(
            ctx,
            meta,
            "field #{inspect(name)}: transient: must be true or false, got #{Macro.to_string(other)}"
          )
      end

    if match?({:ref, _}, type) and opts != [] do
      error!(
        ctx,
        meta,
        "field #{inspect(name)}: a reference takes no default: or transient: (every agent " <>
          "gives the index of the agent it references)"
      )
    end

    default =
      case Keyword.fetch(opts, :default) do
        {:ok, value} -> default_value(value, type, name, meta, ctx)
        :error when transient -> Field.zero(type)
        :error -> nil
      end

    field = %Field{
      name: name,
      type: type,
      default: default,
      transient: transient,
      lane: lane,
      line: line(meta, ctx)
    }

    {[field | fields], lane + Field.width(type), laws}
  end

  defp agent_statement({:conserves, meta, [laws]}, {fields, lane, old}, ctx) when is_list(laws) do
    Enum.each(laws, fn law ->
      unless law in @laws do
        error!(
          ctx,
          meta,
          "unknown conservation law #{Macro.to_string(law)}; supported: " <>
            Enum.map_join(@laws, ", ", &inspect/1)
        )
      end
    end)

    {fields, lane, Enum.uniq(old ++ laws)}
  end

  defp agent_statement(other, _state, ctx) do
    error!(
      ctx,
      meta_of(other),
      "unsupported statement in defagent: #{Macro.to_string(other)}. " <>
        "Supported: field :name, :float | :int | :vec3 | :bool | {:enum, [atoms]} " <>
        "[, default: value, transient: true] and conserves [...]"
    )
  end

  defp field_type!(type, _name, _meta, _ctx) when type in @field_types, do: type

  # `{:ref, Bead}`: the identity of an agent of another (or the same) type; `Types` checks
  # that the type exists.
  defp field_type!({:ref, {:__aliases__, _, parts}}, _name, _meta, _ctx),
    do: {:ref, Enum.map_join(parts, ".", &Atom.to_string/1)}

  defp field_type!({:enum, values} = type, name, meta, ctx) do
    unless is_list(values) and values != [] and Enum.all?(values, &enum_value?/1) do
      error!(
        ctx,
        meta,
        "field #{inspect(name)}: an enum needs a non-empty list of atoms (not true, false or " <>
          "nil), got #{Macro.to_string(values)}"
      )
    end

    check_unique!(
      Enum.map(values, &%{value: &1}),
      & &1.value,
      "enum value of #{inspect(name)}",
      ctx
    )

    type
  end

  defp field_type!(type, name, meta, ctx) do
    error!(
      ctx,
      meta,
      "field #{inspect(name)} has unknown type #{Macro.to_string(type)}; " <>
        "supported types: :float, :int, :vec3, :bool, {:enum, [atoms]}, {:ref, AgentType}"
    )
  end

  defp enum_value?(value), do: is_atom(value) and value not in [true, false, nil]

  defp default_value(value, :bool, _name, _meta, _ctx) when is_boolean(value), do: value

  defp default_value(value, {:enum, values}, name, meta, ctx) do
    unless value in values do
      error!(
        ctx,
        meta,
        "default for enum field #{inspect(name)} must be one of " <>
          "#{Enum.map_join(values, ", ", &inspect/1)}, got: #{Macro.to_string(value)}"
      )
    end

    value
  end

  defp default_value(value, type, name, meta, ctx) do
    case {type, literal(value)} do
      {:float, {:ok, n}} ->
        unless float_range?(n) do
          error!(ctx, meta, "default for float field #{inspect(name)} is beyond the float range")
        end

        n

      {:int, {:ok, n}} when is_integer(n) ->
        if abs(n) > @max_int do
          error!(
            ctx,
            meta,
            "default for int field #{inspect(name)} is out of range (|n| <= 2^53)"
          )
        end

        n

      {:vec3, {:ok, {x, y, z}}} ->
        unless Enum.all?([x, y, z], &float_range?/1) do
          error!(
            ctx,
            meta,
            "default for vec3 field #{inspect(name)} is beyond the float range: " <>
              Macro.to_string(value)
          )
        end

        {x, y, z}

      _ ->
        error!(
          ctx,
          meta,
          "default for #{type} field #{inspect(name)} must be a literal " <>
            "#{%{vec3: "{x, y, z} of numbers", bool: "true or false"}[type] || "number"}, got: " <>
            Macro.to_string(value)
        )
    end
  end

  # A literal number or {x, y, z} of numbers; `-1.5` is quoted as a call of unary minus.
  defp literal(n) when is_number(n), do: {:ok, n}
  defp literal({:-, _, [n]}) when is_number(n), do: {:ok, -n}
  defp literal({:+, _, [n]}) when is_number(n), do: {:ok, n}
  defp literal({:{}, _, [x, y, z]}), do: literal({x, y, z})

  defp literal({x, y, z}) do
    case Enum.map([x, y, z], &literal/1) do
      [{:ok, x}, {:ok, y}, {:ok, z}] when is_number(x) and is_number(y) and is_number(z) ->
        {:ok, {x, y, z}}

      _ ->
        :error
    end
  end

  defp literal(_), do: :error

  ## Rules

  defp interaction({name, meta, args}, body, _rule_meta, _acc, ctx) when is_atom(name) do
    line = line(meta, ctx)
    ctx = %{ctx | line: line}

    params =
      case args do
        [] ->
          []

        [params] when is_list(params) ->
          params

        nil ->
          []

        _ ->
          error!(ctx, meta, "rule #{name}: params must be a keyword list (p: Particle, k: float)")
      end

    {agents, scalars} =
      Enum.reduce(params, {[], []}, fn
        {pname, _}, _ when not is_atom(pname) ->
          error!(
            ctx,
            meta,
            "rule #{name}: a param name must be an atom, got: #{Macro.to_string(pname)}"
          )

        {pname, {:__aliases__, _, parts}}, {agents, scalars} ->
          {agents ++ [{pname, parts |> Enum.map(&Atom.to_string/1) |> Enum.join(".")}], scalars}

        {pname, {:float, _, ctx_atom}}, {agents, scalars} when is_atom(ctx_atom) ->
          {agents, scalars ++ [pname]}

        {pname, {:int, _, ctx_atom}}, _ when is_atom(ctx_atom) ->
          error!(
            ctx,
            meta,
            "rule #{name}: scalar param #{pname} is declared int; scalar params are floats " <>
              "(#{pname}: float)"
          )

        other, _ ->
          error!(
            ctx,
            meta,
            "rule #{name}: unsupported param #{Macro.to_string([other])}; " <>
              "use agent params (p: Particle) or scalar params (k: float)"
          )
      end)

    if agents == [] or length(agents) > 2 do
      error!(ctx, meta, "rule #{name} must take one or two agent params, got #{length(agents)}")
    end

    names = Enum.map(agents, &elem(&1, 0)) ++ scalars
    dup = names -- Enum.uniq(names)
    if dup != [], do: error!(ctx, meta, "rule #{name}: param #{hd(dup)} is declared twice")

    scope = %{agents: Enum.map(agents, &elem(&1, 0)), scalars: Enum.uniq([:dt | scalars])}

    %Rule{
      name: name,
      line: line,
      agents: agents,
      scalars: scalars -- [:dt],
      body: body_statements(body, ctx, scope)
    }
  end

  defp interaction(header, _body, meta, _acc, ctx) do
    error!(
      ctx,
      meta,
      "interaction expects name(params) do ... end, got: #{Macro.to_string(header)}"
    )
  end

  # `interaction name(params), exclusive: true, exclude: Bond do ... end`: a rule's options.
  defp interaction_options(rule, opts, meta, ctx) do
    unless is_list(opts) and opts != [] do
      error!(
        ctx,
        meta,
        "rule #{rule.name}: options must be a keyword list, got: " <>
          Macro.to_string(opts)
      )
    end

    Enum.reduce(opts, rule, fn
      {:exclusive, value}, rule when is_boolean(value) ->
        if value and length(rule.agents) != 2 do
          error!(
            ctx,
            meta,
            "rule #{rule.name}: exclusive: true needs a pair rule (two agent params); " <>
              "a per-agent rule claims no partner"
          )
        end

        %{rule | exclusive: value}

      {:exclude, {:__aliases__, _, parts}}, rule ->
        if length(rule.agents) != 2 do
          error!(
            ctx,
            meta,
            "rule #{rule.name}: exclude: needs a pair rule (two agent params)"
          )
        end

        %{rule | exclude: Enum.map_join(parts, ".", &Atom.to_string/1)}

      {:exclude, value}, rule ->
        error!(
          ctx,
          meta,
          "rule #{rule.name}: exclude: takes an agent type with references (exclude: Bond), " <>
            "got: #{Macro.to_string(value)}"
        )

      {:exclusive, value}, rule ->
        error!(
          ctx,
          meta,
          "rule #{rule.name}: exclusive must be true or false, got: #{Macro.to_string(value)}"
        )

      {key, _}, rule ->
        error!(
          ctx,
          meta,
          "rule #{rule.name}: unknown option #{Macro.to_string(key)} (options: " <>
            "exclusive: true, exclude: AgentType)"
        )

      other, rule ->
        error!(ctx, meta, "rule #{rule.name}: bad option #{Macro.to_string(other)}")
    end)
  end

  # Removing an agent of a pair that another applied pair also writes would lose that pair's
  # deltas or give them to a dead agent, so a removing pair rule takes each agent once at most.
  defp removals_exclusive!(%Rule{agents: [_, _], exclusive: false} = rule, ctx) do
    case removal_lines(rule.body) do
      [] ->
        rule

      [line | _] ->
        error!(
          %{ctx | line: line},
          [],
          "rule #{rule.name}: a pair rule that removes an agent must be exclusive: true " <>
            "(interaction #{rule.name}(...), exclusive: true do ... end)"
        )
    end
  end

  defp removals_exclusive!(rule, _ctx), do: rule

  defp removal_lines(stmts) do
    Enum.flat_map(stmts, fn
      {:remove, line, _agent} -> [line]
      {:if, _, _, then_stmts, else_stmts} -> removal_lines(then_stmts ++ else_stmts)
      _ -> []
    end)
  end

  defp body_statements(body, ctx, scope) do
    Enum.map(statements(body), &statement(&1, ctx, scope))
  end

  defp statement({:=, meta, [lhs, rhs]}, ctx, scope) do
    ctx = %{ctx | line: line(meta, ctx)}
    value = expression(rhs, ctx, scope)

    case lhs do
      {name, _, atom} when is_atom(name) and is_atom(atom) ->
        cond do
          name in scope.scalars ->
            error!(ctx, meta, "cannot assign to scalar param #{name}")

          name in scope.agents ->
            error!(ctx, meta, "cannot rebind agent param #{name}; assign to its fields instead")

          true ->
            {:assign, ctx.line, name, value}
        end

      {:__aliases__, _, [name]} ->
        {:constant, ctx.line, name, value}

      {:{}, _, [_, _, _] = vars} ->
        {:destructure, ctx.line, Enum.map(vars, &destructure_name(&1, ctx, scope)), value}

      {{:., _, [{{:., _, [{agent, _, atom}, ref]}, _, []}, field]}, _, []}
      when is_atom(agent) and is_atom(atom) and is_atom(ref) and field not in [:x, :y, :z] ->
        unless agent in scope.agents do
          error!(ctx, meta, "cannot assign to #{agent}.#{ref}.#{field}: #{agent} is not an agent")
        end

        {:store, ctx.line, {{agent, ref}, field}, value}

      {{:., _, [{agent, _, atom}, field]}, _, []} when is_atom(agent) and is_atom(atom) ->
        cond do
          agent in scope.agents ->
            {:store, ctx.line, {agent, field}, value}

          agent in scope.scalars ->
            error!(ctx, meta, "cannot assign to scalar param #{agent}")

          true ->
            error!(ctx, meta, "cannot assign to #{agent}.#{field}: #{agent} is not an agent")
        end

      other ->
        error!(
          ctx,
          meta,
          "unsupported assignment target #{Macro.to_string(other)}; supported: x = e, " <>
            "{x, y, z} = vec, agent.field = e, Const = e"
        )
    end
  end

  defp statement({:if, meta, [cond, branches]}, ctx, scope) when is_list(branches) do
    ctx = %{ctx | line: line(meta, ctx)}

    unless Keyword.keyword?(branches) and Keyword.has_key?(branches, :do) and
             Enum.all?(Keyword.keys(branches), &(&1 in [:do, :else])) do
      error!(ctx, meta, "if expects do ... [else ...] end")
    end

    {:if, ctx.line, expression(cond, ctx, scope),
     body_statements(Keyword.get(branches, :do), ctx, scope),
     body_statements(Keyword.get(branches, :else), ctx, scope)}
  end

  defp statement({:remove, meta, [{agent, _, atom}]}, ctx, scope)
       when is_atom(agent) and is_atom(atom) do
    ctx = %{ctx | line: line(meta, ctx)}

    unless agent in scope.agents do
      error!(ctx, meta, "remove expects an agent param of the rule, got: #{agent}")
    end

    {:remove, ctx.line, agent}
  end

  defp statement({:remove, meta, args}, ctx, _scope) do
    error!(
      ctx,
      meta,
      "remove expects one agent param (remove p), got: remove #{Macro.to_string(args)}"
    )
  end

  defp statement({:spawn, meta, [{:__aliases__, _, parts} | rest]} = ast, ctx, scope)
       when length(rest) <= 1 do
    ctx = %{ctx | line: line(meta, ctx)}
    type = Enum.map_join(parts, ".", &Atom.to_string/1)
    fields = List.first(rest, [])

    unless Keyword.keyword?(fields) do
      error!(
        ctx,
        meta,
        "spawn expects field: value pairs after the type, got: #{Macro.to_string(ast)}"
      )
    end

    dup = Keyword.keys(fields) -- Enum.uniq(Keyword.keys(fields))
    if dup != [], do: error!(ctx, meta, "spawn #{type}: field #{hd(dup)} is given twice")
    {:spawn, ctx.line, type, Enum.map(fields, fn {f, e} -> {f, expression(e, ctx, scope)} end)}
  end

  defp statement({:spawn, meta, _} = ast, ctx, _scope) do
    error!(
      ctx,
      meta,
      "spawn expects an agent type and field: value pairs (spawn Molecule, mass: 1.0), " <>
        "got: #{Macro.to_string(ast)}"
    )
  end

  defp statement(other, ctx, _scope) do
    error!(
      ctx,
      meta_of(other),
      "unsupported statement #{Macro.to_string(other)}; a rule body supports x = e, " <>
        "{x, y, z} = e, agent.field = e, Const = e, if/else, remove p and " <>
        "spawn Type, field: e"
    )
  end

  defp destructure_name({name, _, atom}, ctx, scope) when is_atom(name) and is_atom(atom) do
    if name in scope.scalars or name in scope.agents do
      error!(ctx, [], "cannot bind #{name}: it is a param")
    end

    name
  end

  defp destructure_name(other, ctx, _scope) do
    error!(ctx, [], "{x, y, z} = ... needs three variable names, got #{Macro.to_string(other)}")
  end

  ## Expressions

  @doc false
  def expression(ast, ctx, scope)

  def expression(n, ctx, _scope) when is_number(n) do
    unless float_range?(n) do
      error!(
        ctx,
        [],
        "integer literal of #{length(Integer.digits(n))} digits is beyond the float range " <>
          "(about 1.8e308)"
      )
    end

    {:num, %{line: ctx.line}, n}
  end

  # `true`, `false` and enum values (`:infected`); `BrokenRecord.Zero.Types` gives them a type.
  def expression(atom, ctx, _scope) when is_atom(atom) and atom != nil,
    do: {:atom, %{line: ctx.line}, atom}

  def expression({name, meta, atom}, ctx, scope) when is_atom(name) and is_atom(atom) do
    m = %{line: line(meta, ctx)}

    cond do
      name in scope.scalars ->
        {:param, m, name}

      name in scope.agents ->
        error!(ctx, meta, "agent #{name} used as a value; use #{name}.field")

      true ->
        {:var, m, name}
    end
  end

  # Elixir keeps the parentheses of `(not a) and b` and `!(not a)` as a one-expression block.
  def expression({:__block__, _, [single]}, ctx, scope), do: expression(single, ctx, scope)

  def expression({:__aliases__, meta, [name]}, ctx, _scope),
    do: {:const, %{line: line(meta, ctx)}, name}

  def expression({{:., _, [:math, :pi]}, meta, []}, ctx, _scope),
    do: {:num, %{line: line(meta, ctx)}, :math.pi()}

  # Random numbers: `uniform()` and `normal()`, also spelled `:rand.uniform()` and
  # `:rand.normal()`. `BrokenRecord.Zero.RandomSites` numbers the call sites.
  def expression({{:., _, [:rand, fun]}, meta, args}, ctx, scope)
      when fun in @random and is_list(args),
      do: expression({fun, meta, args}, ctx, scope)

  def expression({fun, meta, []}, ctx, _scope) when fun in @random,
    do: {:random, %{line: line(meta, ctx)}, {fun, nil}}

  def expression({fun, meta, args}, ctx, _scope) when fun in @random and is_list(args),
    do: error!(ctx, meta, "#{fun}() takes no arguments, got #{length(args)}")

  def expression({{:., _, [:math, fun]}, meta, args}, ctx, scope) when is_list(args) do
    case Map.fetch(@math_functions, fun) do
      {:ok, arity} when arity == length(args) ->
        call(fun, args, meta, ctx, scope)

      _ ->
        unsupported!({{:., [], [:math, fun]}, meta, args}, meta, ctx)
    end
  end

  # `s.a.position`: a field of the agent that reference field `a` of agent `s` names.
  def expression(
        {{:., _, [{{:., _, [{agent, _, atom}, ref]}, _, []}, field]}, meta, []},
        ctx,
        scope
      )
      when is_atom(agent) and is_atom(atom) and is_atom(ref) and is_atom(field) and
             field not in [:x, :y, :z] do
    if agent in scope.agents do
      {:field, %{line: line(meta, ctx)}, {{agent, ref}, field}}
    else
      component({{:., [], [{agent, meta, atom}, ref]}, meta, []}, field, meta, ctx, scope)
    end
  end

  def expression({{:., _, [{agent, _, atom}, field]}, meta, []}, ctx, scope)
      when is_atom(agent) and is_atom(atom) and is_atom(field) do
    if agent in scope.agents do
      {:field, %{line: line(meta, ctx)}, {agent, field}}
    else
      component({agent, meta, atom}, field, meta, ctx, scope)
    end
  end

  def expression({{:., _, [base, key]}, meta, []}, ctx, scope) when is_atom(key),
    do: component(base, key, meta, ctx, scope)

  def expression({:{}, meta, [x, y, z]}, ctx, scope) do
    {:vec, %{line: line(meta, ctx)}, Enum.map([x, y, z], &expression(&1, ctx, scope))}
  end

  def expression({a, b}, ctx, _scope) do
    error!(
      ctx,
      [],
      "#{Macro.to_string({a, b})} has two components: a vector needs three, {x, y, z}"
    )
  end

  def expression({op, meta, [a, b]}, ctx, scope) when is_map_key(@binary_ops, op) do
    m = %{line: line(meta, ctx)}

    {:call, m,
     {Map.fetch!(@binary_ops, op), [expression(a, ctx, scope), expression(b, ctx, scope)]}}
  end

  def expression({:+, _meta, [a]}, ctx, scope), do: expression(a, ctx, scope)

  def expression({op, meta, [a]}, ctx, scope) when is_map_key(@unary_ops, op),
    do:
      {:call, %{line: line(meta, ctx)}, {Map.fetch!(@unary_ops, op), [expression(a, ctx, scope)]}}

  def expression({fun, meta, args} = ast, ctx, scope) when is_atom(fun) and is_list(args) do
    case Map.fetch(@functions, fun) do
      {:ok, arity} when arity == length(args) ->
        call(fun, args, meta, ctx, scope)

      {:ok, arity} ->
        error!(ctx, meta, "#{fun} expects #{arity} argument(s), got #{length(args)}")

      :error ->
        unsupported!(ast, meta, ctx)
    end
  end

  def expression(other, ctx, _scope), do: unsupported!(other, meta_of(other), ctx)

  defp call(fun, args, meta, ctx, scope) do
    {:call, %{line: line(meta, ctx)}, {fun, Enum.map(args, &expression(&1, ctx, scope))}}
  end

  defp component(base, key, meta, ctx, scope) do
    index =
      case key do
        :x -> 0
        :y -> 1
        :z -> 2
        _ -> error!(ctx, meta, "unknown accessor .#{key}; vectors support .x, .y and .z")
      end

    {:component, %{line: line(meta, ctx)}, {expression(base, ctx, scope), index}}
  end

  defp unsupported!(ast, meta, ctx) do
    error!(
      ctx,
      meta,
      "unsupported expression #{Macro.to_string(ast)}; supported: #{@supported_expressions}"
    )
  end

  ## Helpers

  defp float_range?(n) when is_integer(n), do: abs(n) < @float_limit
  defp float_range?(n) when is_float(n), do: true

  # The built-in observables of an agent type (BrokenRecord.Zero.Observables), parsed like a
  # user's.
  defp builtin_observables(agent, acc, ctx) do
    parts = agent.name |> String.split(".") |> Enum.map(&String.to_atom/1)

    agent
    |> Observables.builtin_declarations(parts)
    |> Enum.reduce(acc, fn {_rule, name, header, body}, acc ->
      observe = %{reduce: :sum, energy: false, builtin: {name, agent.collection}}
      observable(header, body, observe, [line: agent.line], acc, ctx)
    end)
  end

  defp check_observables!(observables, ctx) do
    observables = Enum.reverse(observables)
    check_unique!(observables, & &1.name, "observable", ctx)

    case Enum.find(observables, &(&1.name in Observables.builtins())) do
      nil ->
        :ok

      rule ->
        error!(
          ctx,
          [line: rule.line],
          "observable #{rule.name} has the name of a built-in observable; built-ins: " <>
            Enum.map_join(Observables.builtins(), ", ", &inspect/1)
        )
    end
  end

  defp check_unique!(items, key, what, ctx) do
    items
    |> Enum.group_by(key)
    |> Enum.each(fn
      {k, [_, second | _]} ->
        error!(
          ctx,
          [line: Map.get(second, :line, ctx.line)],
          "#{what} #{inspect(k)} is defined twice"
        )

      _ ->
        :ok
    end)
  end

  defp warn(acc, ctx, meta, message) do
    %{acc | warnings: [{line(meta, ctx), message} | acc.warnings]}
  end

  defp meta_of({_, meta, _}) when is_list(meta), do: meta
  defp meta_of(_), do: []

  defp line(meta, ctx) when is_list(meta), do: Keyword.get(meta, :line, ctx.line)

  @doc false
  @spec error!(map, keyword, String.t()) :: no_return
  def error!(ctx, meta, message) do
    raise CompileError, file: ctx.file, line: line(meta, ctx), description: message
  end
end
