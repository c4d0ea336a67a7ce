defmodule BrokenRecord.Zero.Lowering do
  @moduledoc """
  Lowers type-checked rule bodies to the scalar SSA program (`BrokenRecord.Zero.Program`).

  vec3 values become three registers; `dot`, `cross`, `length`, `normalize` and `clamp` become
  scalar arithmetic; each `if` evaluates both branches and merges every field written in either
  branch with `SELECT`; a later read of a field written earlier in the body reads the written
  register; and the body ends with one `STORE` per written lane whose value differs from the
  loaded one: an `ACCMAX` / `ACCMIN` for a field the rule reduces
  (`BrokenRecord.Zero.Reductions`), whose value is the whole stored value (the untaken arm of a
  branch is the start value, which changes no max or min). See `docs/program.md`.
  """

  alias BrokenRecord.Zero.{CompiledSystem, Program, Space}
  alias BrokenRecord.Zero.IR.{Agent, Field, Rule}

  @doc "Lowers every rule of a checked system to an (unoptimised) program."
  @spec lower(CompiledSystem.t()) :: Program.t()
  def lower(%CompiledSystem{} = system) do
    # Observables read no params (BrokenRecord.Zero.Types).
    params = param_table(system.rules)
    rules = Enum.map(system.rules, &lower_rule(&1, system, params))

    %Program{
      types: Enum.map(system.agents, & &1.lanes),
      params: params,
      periodic: Space.mask(system.space),
      coord_lanes: coord_lanes(system),
      references: Enum.map(system.agents, &reference_fields(system, &1.name)),
      rules: rules
    }
    |> then(fn prog ->
      %{
        prog
        | references:
            Enum.map(prog.references, fn fields ->
              for {field, target} <- fields, do: {field.lane, target.index}
            end)
      }
    end)
  end

  # The first lane of each type's coordinate field in a periodic space (none in open space).
  defp coord_lanes(%CompiledSystem{space: space, agents: agents}) do
    if Space.periodic?(space) do
      Enum.map(agents, fn agent ->
        case Space.coordinate(space, agent) do
          nil -> nil
          field -> field.lane
        end
      end)
    else
      []
    end
  end

  @doc "The global scalar param table: `:dt` first, then other params by first appearance."
  @spec param_table([Rule.t()]) :: [atom]
  def param_table(rules) do
    Enum.uniq([:dt | Enum.flat_map(rules, & &1.scalars)])
  end

  @doc """
  Lowers an observable (whose body ends with `{:value, line, expr}`) to a program rule and the
  registers holding its value: one for a float, three for a vec3.
  """
  @spec lower_observable(Rule.t(), CompiledSystem.t(), [atom]) ::
          {Program.Rule.t(), [non_neg_integer]}
  def lower_observable(%Rule{body: body} = observable, system, params) do
    {:value, _, value} = List.last(body)
    rule = %{observable | body: Enum.drop(body, -1) ++ [{:assign, 0, :__value__, value}]}
    {prog, st} = do_lower(rule, system, params)
    {prog, lanes(Map.fetch!(st.vars, :__value__))}
  end

  @doc false
  @spec lower_rule(Rule.t(), CompiledSystem.t(), [atom]) :: Program.Rule.t()
  def lower_rule(rule, system, params), do: elem(do_lower(rule, system, params), 0)

  defp do_lower(%Rule{} = rule, system, params) do
    slots =
      rule.agents
      |> Enum.with_index()
      |> Map.new(fn {{name, type}, slot} -> {name, {slot, CompiledSystem.agent(system, type)}} end)
      |> Map.merge(reference_slots(rule, system))

    st = %{
      instrs: [],
      next: 0,
      consts: %{},
      loads: %{},
      fields: %{},
      vars: %{},
      slots: slots,
      reductions: rule.reductions,
      params: params |> Enum.with_index() |> Map.new(),
      periodic: Space.axis_indices(system.space),
      system: system,
      exclusive: rule.exclusive,
      # The condition under which the current statement runs (nil: always), the next spawn
      # call site, and in an exclusive rule the OR of the conditions of its writes so far
      # (false before any: whether the pair would act).
      cond: nil,
      sites: 0,
      acts: false
    }

    # The cutoff bound reads start-of-rule values, so it is lowered first.
    {cutoff, st} =
      case rule.cutoff do
        nil ->
          {nil, st}

        %{position: {fa, fb}, bound: bound} ->
          {reg, st} = expr(bound, st)
          [{_, {_, agent_a}}, {_, {_, agent_b}}] = Enum.sort_by(slots, fn {_, {s, _}} -> s end)

          {%{
             lane_a: Agent.field(agent_a, fa).lane,
             lane_b: Agent.field(agent_b, fb).lane,
             reg: reg
           }, st}
      end

    st = Enum.reduce(rule.body, st, &statement/2)
    st = emit_stores(st)
    {claim, st} = claim(st)

    consts =
      st.consts
      |> Enum.sort_by(fn {_bits, {index, _value}} -> index end)
      |> Enum.map(fn {_bits, {_index, value}} -> value end)

    [{_, type_a} | rest] = rule.agents

    prog = %Program.Rule{
      name: rule.name,
      kind: rule.kind,
      type_a: CompiledSystem.agent(system, type_a).index,
      type_b:
        case rest do
          [{_, type_b}] -> CompiledSystem.agent(system, type_b).index
          [] -> nil
        end,
      consts: consts,
      instrs: Enum.reverse(st.instrs),
      n_regs: st.next,
      cutoff: cutoff,
      claim: claim,
      refs: references(rule, system),
      exclude: exclusions(rule, system)
    }

    {prog, st}
  end

  # A bonded rule's slots 1, 2, ...: the agents its param's reference fields name, in the
  # order the fields are declared (`docs/program.md`, "Bonded rules").
  defp reference_slots(%Rule{kind: :bonded, agents: [{name, type}]}, system) do
    system
    |> reference_fields(type)
    |> Enum.with_index(1)
    |> Map.new(fn {{field, target}, slot} -> {{name, field.name}, {slot, target}} end)
  end

  defp reference_slots(_rule, _system), do: %{}

  defp references(%Rule{kind: :bonded, agents: [{_, type}]}, system) do
    for {field, target} <- reference_fields(system, type), do: {field.lane, target.index}
  end

  defp references(_rule, _system), do: []

  # `exclude: Bond`: Bond's type and its lanes that reference the rule's agent type.
  defp exclusions(%Rule{exclude: nil}, _system), do: nil

  defp exclusions(%Rule{exclude: bond, agents: [{_, type} | _]}, system) do
    %{
      type: CompiledSystem.agent(system, bond).index,
      lanes: for({f, t} <- reference_fields(system, bond), t.name == type, do: f.lane)
    }
  end

  defp reference_fields(system, type) do
    for %{type: {:ref, target}} = field <- CompiledSystem.agent(system, type).fields,
        do: {field, CompiledSystem.agent(system, target)}
  end

  ## Statements

  defp statement({:assign, _, name, e}, st) do
    {value, st} = expr(e, st)
    put_in(st.vars[name], value)
  end

  defp statement({:destructure, _, names, e}, st) do
    {{x, y, z}, st} = expr(e, st)
    vars = names |> Enum.zip([x, y, z]) |> Enum.into(st.vars)
    %{st | vars: vars}
  end

  defp statement({:store, _, {slot, field}, e}, st) do
    {value, st} = expr(e, st)
    st = acts(st)
    put_in(st.fields[{slot, field}], value)
  end

  # REMOVE and SPAWN take the condition of the branch they are in as a register.
  defp statement({:remove, _, slot}, st) do
    {slot_index, _agent} = Map.fetch!(st.slots, slot)
    {c, st} = path_condition(acts(st))
    push(st, {:remove, 0, slot_index, 0, c})
  end

  defp statement({:spawn, _, type, fields}, st) do
    child = CompiledSystem.agent(st.system, type)

    {values, st} =
      Enum.map_reduce(fields, st, fn {field, e}, st ->
        {value, st} = expr(e, st)
        {{Agent.field(child, field).lane, value}, st}
      end)

    {c, st} = path_condition(acts(st))
    site = st.sites
    st = push(%{st | sites: site + 1}, {:spawn, 0, child.index, site, c})

    values
    |> Enum.sort()
    |> Enum.flat_map(fn {lane, value} ->
      value |> lanes() |> Enum.with_index(lane) |> Enum.map(fn {reg, l} -> {l, reg} end)
    end)
    |> Enum.reduce(st, fn {lane, reg}, st -> push(st, {:spawnlane, 0, site, lane, reg}) end)
  end

  defp statement({:if, _, cond, then_stmts, else_stmts}, st) do
    {c, st} = expr(cond, st)
    before_fields = st.fields
    vars = st.vars
    outer = st.cond

    {then_cond, st} = branch_condition(outer, c, st)
    st_then = Enum.reduce(then_stmts, %{st | cond: then_cond}, &statement/2)
    then_fields = st_then.fields

    {not_c, st_then} = emit(st_then, :not, c)
    {else_cond, st_then} = branch_condition(outer, not_c, st_then)

    st_else =
      Enum.reduce(
        else_stmts,
        %{st_then | fields: before_fields, vars: vars, cond: else_cond},
        &statement/2
      )

    else_fields = st_else.fields
    st = %{st_else | vars: vars, cond: outer}

    keys = Enum.uniq(Map.keys(then_fields) ++ Map.keys(else_fields))

    Enum.reduce(keys, st, fn key, st ->
      {t, st} = field_value(key, then_fields, st)
      {e, st} = field_value(key, else_fields, st)
      {merged, st} = select(c, t, e, st)
      put_in(st.fields[key], merged)
    end)
  end

  # Exclusive rules: whether a pair would act is the OR of the conditions of its writes and
  # lifecycle ops (docs/dsl.md, "Exclusive pair rules"): `st.cond` is the condition of the
  # branch being lowered (nil at the top level), `st.acts` the OR so far (`false` before any).
  defp acts(%{exclusive: false} = st), do: st
  defp acts(%{acts: true} = st), do: st
  defp acts(%{cond: nil} = st), do: %{st | acts: true}
  defp acts(%{acts: false, cond: c} = st), do: %{st | acts: c}

  defp acts(%{acts: acts, cond: c} = st) do
    {reg, st} = emit(st, :or, acts, c)
    %{st | acts: reg}
  end

  # The claim register of an exclusive rule: 1.0 when a write is unconditional, 0.0 when the
  # body writes nothing.
  defp claim(%{exclusive: false} = st), do: {nil, st}
  defp claim(%{acts: true} = st), do: const(1.0, st)
  defp claim(%{acts: false} = st), do: const(0.0, st)
  defp claim(%{acts: reg} = st), do: {reg, st}

  defp branch_condition(nil, c, st), do: {c, st}
  defp branch_condition(outer, c, st), do: emit(st, :and, outer, c)

  defp path_condition(%{cond: nil} = st), do: const(1.0, st)
  defp path_condition(%{cond: c} = st), do: {c, st}

  defp field_value(key, fields, st) do
    case Map.fetch(fields, key) do
      {:ok, value} -> {value, st}
      :error -> load_field(key, st)
    end
  end

  defp select(_c, same, same, st), do: {same, st}

  defp select(c, {tx, ty, tz}, {ex, ey, ez}, st) do
    {x, st} = select(c, tx, ex, st)
    {y, st} = select(c, ty, ey, st)
    {z, st} = select(c, tz, ez, st)
    {{x, y, z}, st}
  end

  defp select(c, t, e, st), do: emit(st, :select, c, t, e)

  defp emit_stores(st) do
    st.fields
    |> Enum.sort_by(fn {{slot, field}, _} ->
      {slot_index, agent} = Map.fetch!(st.slots, slot)
      {slot_index, Agent.field(agent, field).lane}
    end)
    |> Enum.reduce(st, fn {{slot, field}, value}, st ->
      {slot_index, agent} = Map.fetch!(st.slots, slot)
      lane = Agent.field(agent, field).lane
      {loaded, st} = load_field({slot, field}, st)

      op =
        case Map.get(st.reductions, {slot, field}) do
          nil -> :store
          :max -> :accmax
          :min -> :accmin
        end

      [value, loaded]
      |> Enum.map(&lanes/1)
      |> Enum.zip()
      |> Enum.with_index()
      |> Enum.reduce(st, fn
        {{same, same}, _i}, st -> st
        {{reg, _}, i}, st -> push(st, {op, 0, slot_index, lane + i, reg})
      end)
    end)
  end

  defp lanes({x, y, z}), do: [x, y, z]
  defp lanes(r), do: [r]

  ## Expressions

  defp expr({:num, _, n}, st), do: const(n * 1.0, st)

  defp expr({:param, _, name}, st), do: emit(st, :param, Map.fetch!(st.params, name), 0, 0)

  defp expr({:random, _, {kind, site}}, st), do: emit(st, kind, site, 0, 0)

  defp expr({:var, _, name}, st), do: {Map.fetch!(st.vars, name), st}

  defp expr({:field, _, key}, st) do
    case Map.fetch(st.fields, key) do
      {:ok, value} -> {value, st}
      :error -> load_field(key, st)
    end
  end

  defp expr({:vec, _, parts}, st) do
    {[x, y, z], st} = Enum.map_reduce(parts, st, &expr/2)
    {{x, y, z}, st}
  end

  defp expr({:component, _, {base, i}}, st) do
    {vec, st} = expr(base, st)
    {elem(vec, i), st}
  end

  defp expr({:call, _, {op, args}}, st) do
    {values, st} = Enum.map_reduce(args, st, &expr/2)
    call(op, values, st)
  end

  # An observable's `if ... else ... end` value.
  defp call(:select, [c, t, e], st), do: select(c, t, e, st)

  defp call(op, [a, b], st) when op in [:add, :sub] and is_tuple(a) and is_tuple(b),
    do: lanewise(op, a, b, st)

  defp call(op, [a, b], st) when op in [:mul, :div] and is_tuple(a) and is_integer(b),
    do: lanewise(op, a, {b, b, b}, st)

  defp call(:mul, [a, b], st) when is_integer(a) and is_tuple(b),
    do: lanewise(:mul, {a, a, a}, b, st)

  defp call(:neg, [{x, y, z}], st) do
    {x, st} = emit(st, :neg, x)
    {y, st} = emit(st, :neg, y)
    {z, st} = emit(st, :neg, z)
    {{x, y, z}, st}
  end

  defp call(:dot, [{ax, ay, az}, {bx, by, bz}], st) do
    {x, st} = emit(st, :mul, ax, bx)
    {y, st} = emit(st, :mul, ay, by)
    {z, st} = emit(st, :mul, az, bz)
    {xy, st} = emit(st, :add, x, y)
    emit(st, :add, xy, z)
  end

  defp call(:cross, [{ax, ay, az}, {bx, by, bz}], st) do
    {x, st} = diff_of_products(ay, bz, az, by, st)
    {y, st} = diff_of_products(az, bx, ax, bz, st)
    {z, st} = diff_of_products(ax, by, ay, bx, st)
    {{x, y, z}, st}
  end

  defp call(:length, [v], st) do
    {d, st} = call(:dot, [v, v], st)
    emit(st, :sqrt, d)
  end

  defp call(:normalize, [v], st) do
    {len, st} = call(:length, [v], st)
    {zero, st} = const(0.0, st)
    {nonzero, st} = emit(st, :gt, len, zero)
    {{x, y, z}, st} = lanewise(:div, v, {len, len, len}, st)
    select(nonzero, {x, y, z}, {zero, zero, zero}, st)
  end

  # The minimum image of a coordinate difference: MINIMG(d, L, 1 / L) on each periodic axis,
  # L the box edge (BOX); open axes keep the plain difference.
  defp call(:min_image, [d], st) do
    {parts, st} =
      d
      |> Tuple.to_list()
      |> Enum.with_index()
      |> Enum.map_reduce(st, fn {r, axis}, st ->
        if axis in st.periodic do
          {edge, st} = emit(st, :box, axis, 0, 0)
          {one, st} = const(1.0, st)
          {inverse, st} = emit(st, :div, one, edge)
          emit(st, :minimg, r, edge, inverse)
        else
          {r, st}
        end
      end)

    {List.to_tuple(parts), st}
  end

  defp call(:clamp, [x, lo, hi], st) do
    {m, st} = emit(st, :max, x, lo)
    emit(st, :min, m, hi)
  end

  defp call(op, [a], st), do: emit(st, op, a)
  defp call(op, [a, b], st), do: emit(st, op, a, b)

  defp diff_of_products(a, b, c, d, st) do
    {ab, st} = emit(st, :mul, a, b)
    {cd, st} = emit(st, :mul, c, d)
    emit(st, :sub, ab, cd)
  end

  defp lanewise(op, {ax, ay, az}, {bx, by, bz}, st) do
    {x, st} = emit(st, op, ax, bx)
    {y, st} = emit(st, op, ay, by)
    {z, st} = emit(st, op, az, bz)
    {{x, y, z}, st}
  end

  defp load_field({slot, field}, st) do
    {slot_index, agent} = Map.fetch!(st.slots, slot)
    declared = Agent.field(agent, field)

    regs =
      for i <- 0..(Field.width(declared.type) - 1), reduce: {[], st} do
        {acc, st} ->
          lane = declared.lane + i

          case Map.fetch(st.loads, {slot_index, lane}) do
            {:ok, reg} ->
              {[reg | acc], st}

            :error ->
              {reg, st} = emit(st, :load, slot_index, lane, 0)
              {[reg | acc], put_in(st.loads[{slot_index, lane}], reg)}
          end
      end

    {regs, st} = regs

    value =
      case Enum.reverse(regs) do
        [r] -> r
        [x, y, z] -> {x, y, z}
      end

    {value, st}
  end

  defp const(value, st) do
    bits = <<value::float>>

    case Map.fetch(st.consts, bits) do
      {:ok, {index, _}} ->
        emit(st, :const, index, 0, 0)

      :error ->
        index = map_size(st.consts)
        emit(put_in(st.consts[bits], {index, value}), :const, index, 0, 0)
    end
  end

  defp emit(st, op, a, b \\ 0, c \\ 0) do
    reg = st.next
    {reg, push(%{st | next: reg + 1}, {op, reg, a, b, c})}
  end

  defp push(st, instr), do: %{st | instrs: [instr | st.instrs]}
end
