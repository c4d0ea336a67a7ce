defmodule BrokenRecord.Zero.MinimumImage do
  @moduledoc """
  The compiler pass that makes pair rules see periodic images (`docs/dsl.md`, "Space").

  In a system with a periodic axis, every difference of the coordinate fields of a pair's two
  agents (or of two agents a bonded rule's references name, `s.a.position - s.b.position`) (`a.position - b.position` or `b.position - a.position`, directly or through locals
  bound to the fields, and the component form `a.position.x - b.position.x`) becomes
  `{:call, meta, {:min_image, [difference]}}`: the minimum-image displacement on the periodic
  axes, which `BrokenRecord.Zero.Lowering` lowers to `BOX` and `MINIMG` instructions. Because
  the difference keeps its shape inside the node, `BrokenRecord.Zero.Cutoff` still finds
  distance guards.

  Any other use of both agents' coordinates in one expression (a sum, a midpoint) is not
  periodic-aware: it gets a compile-time warning naming the rule and line. Per-agent rules are
  left alone. Runs on type-checked rules, before cutoff detection.
  """

  alias BrokenRecord.Zero.{CompiledSystem, Space}
  alias BrokenRecord.Zero.IR.Rule

  @doc "Rewrites the pair rules and pair observables of a system with a periodic space."
  @spec apply(CompiledSystem.t()) :: CompiledSystem.t()
  def apply(%CompiledSystem{space: space} = system) do
    if Space.periodic?(space) do
      {rules, warnings} = Enum.map_reduce(system.rules, [], &rewrite_rule(&1, &2, system))

      {observables, warnings} =
        Enum.map_reduce(system.observables, warnings, &rewrite_rule(&1, &2, system))

      options =
        Map.update(
          system.options,
          :warnings,
          Enum.reverse(warnings),
          &(&1 ++ Enum.reverse(warnings))
        )

      %{system | rules: rules, observables: observables, options: options}
    else
      system
    end
  end

  defp rewrite_rule(%Rule{agents: [{a, ta}, {b, tb}]} = rule, warnings, system) do
    slots = for {slot, type} <- [{a, ta}, {b, tb}], do: {slot, CompiledSystem.agent(system, type)}
    rewrite_body(rule, coordinates(slots, system), warnings)
  end

  # A bonded rule: the differences of the coordinates of two agents its references name.
  defp rewrite_rule(%Rule{kind: :bonded, agents: [{s, type}]} = rule, warnings, system) do
    slots =
      for %{type: {:ref, target}, name: ref} <- CompiledSystem.agent(system, type).fields,
          do: {{s, ref}, CompiledSystem.agent(system, target)}

    rewrite_body(rule, coordinates(slots, system), warnings)
  end

  defp rewrite_rule(rule, warnings, _system), do: {rule, warnings}

  # The slots (of `{slot, agent}`) whose agents have vec3 coordinates, to the coordinate field.
  defp coordinates(slots, system) do
    for {slot, agent} <- slots,
        field = Space.coordinate(system.space, agent),
        field != nil and field.type == :vec3,
        into: %{},
        do: {slot, system.space.field}
  end

  # A rule with two or more slots that have coordinates gets its differences rewritten.
  defp rewrite_body(rule, coords, warnings) when map_size(coords) >= 2 do
    ctx = %{coords: coords, rule: rule.name}

    {body, {_env, warnings}} =
      Enum.map_reduce(rule.body, {%{}, warnings}, &statement(&1, &2, ctx))

    {%{rule | body: body}, warnings}
  end

  defp rewrite_body(rule, _coords, warnings), do: {rule, warnings}

  ## Statements: env maps a local to %{alias: slot | nil, taint: slots whose raw coordinates
  ## flow into it}.

  defp statement({:assign, line, name, e}, {env, warnings}, ctx) do
    {e, taint, warnings} = top(e, env, warnings, ctx)

    {{:assign, line, name, e},
     {Map.put(env, name, %{alias: alias_of(e, env, ctx), taint: taint}), warnings}}
  end

  defp statement({:destructure, line, names, e}, {env, warnings}, ctx) do
    {e, taint, warnings} = top(e, env, warnings, ctx)
    env = Enum.reduce(names, env, &Map.put(&2, &1, %{alias: nil, taint: taint}))
    {{:destructure, line, names, e}, {env, warnings}}
  end

  defp statement({:store, line, target, e}, {env, warnings}, ctx) do
    {e, _taint, warnings} = top(e, env, warnings, ctx)
    {{:store, line, target, e}, {env, warnings}}
  end

  defp statement({:if, line, cond, then_stmts, else_stmts}, {env, warnings}, ctx) do
    {cond, _taint, warnings} = top(cond, env, warnings, ctx)
    # Locals bound inside a branch are local to it.
    {then_stmts, {_, warnings}} =
      Enum.map_reduce(then_stmts, {env, warnings}, &statement(&1, &2, ctx))

    {else_stmts, {_, warnings}} =
      Enum.map_reduce(else_stmts, {env, warnings}, &statement(&1, &2, ctx))

    {{:if, line, cond, then_stmts, else_stmts}, {env, warnings}}
  end

  defp statement({:remove, _, _} = remove, acc, _ctx), do: {remove, acc}

  defp statement({:spawn, line, type, fields}, {env, warnings}, ctx) do
    {fields, warnings} =
      Enum.map_reduce(fields, warnings, fn {field, e}, warnings ->
        {e, _taint, warnings} = top(e, env, warnings, ctx)
        {{field, e}, warnings}
      end)

    {{:spawn, line, type, fields}, {env, warnings}}
  end

  defp statement({:value, line, e}, {env, warnings}, ctx) do
    {e, _taint, warnings} = top(e, env, warnings, ctx)
    {{:value, line, e}, {env, warnings}}
  end

  defp top(e, env, warnings, ctx) do
    {e, taint, new} = expr(e, env, ctx)
    {e, taint, Enum.reverse(new) ++ warnings}
  end

  ## Expressions: {rewritten, taint, warnings of this expression (newest first)}

  defp expr({:call, m, {:sub, [x, y]}} = e, env, ctx) do
    if coordinates_of_both?(x, y, env, ctx),
      do: {min_image(e, m), MapSet.new(), []},
      else: component_difference(e, env, ctx)
  end

  defp expr({:call, m, {op, args}}, env, ctx),
    do: combine(args, env, ctx, m, &{:call, m, {op, &1}})

  defp expr({:vec, m, parts}, env, ctx), do: combine(parts, env, ctx, m, &{:vec, m, &1})

  defp expr({:component, m, {base, i}}, env, ctx) do
    {base, taint, warnings} = expr(base, env, ctx)
    {{:component, m, {base, i}}, taint, warnings}
  end

  defp expr({:field, _, _} = e, env, ctx) do
    taint = if slot = alias_of(e, env, ctx), do: MapSet.new([slot]), else: MapSet.new()
    {e, taint, []}
  end

  defp expr({:var, _, name} = e, env, _ctx) do
    taint =
      case Map.fetch(env, name) do
        {:ok, %{taint: taint}} -> taint
        :error -> MapSet.new()
      end

    {e, taint, []}
  end

  defp expr(e, _env, _ctx), do: {e, MapSet.new(), []}

  # `a.position.x - b.position.x`: the x component of the minimum-image difference.
  defp component_difference({:call, m, {:sub, [x, y]}}, env, ctx) do
    with {:component, _, {bx, i}} <- x,
         {:component, _, {by, ^i}} <- y,
         true <- coordinates_of_both?(bx, by, env, ctx) do
      vm = Map.put(m, :type, :vec3)
      {{:component, m, {min_image({:call, vm, {:sub, [bx, by]}}, vm), i}}, MapSet.new(), []}
    else
      _ -> combine([x, y], env, ctx, m, &{:call, m, {:sub, &1}})
    end
  end

  defp min_image(difference, m), do: {:call, Map.put(m, :type, :vec3), {:min_image, [difference]}}

  # Warns where the raw coordinates of both agents first meet in one expression.
  defp combine(args, env, ctx, m, build) do
    results = Enum.map(args, &expr(&1, env, ctx))
    taints = Enum.map(results, &elem(&1, 1))
    taint = Enum.reduce(taints, MapSet.new(), &MapSet.union/2)
    warnings = Enum.flat_map(results, &elem(&1, 2))

    warnings =
      if MapSet.size(taint) > 1 and Enum.all?(taints, &(MapSet.size(&1) < 2)) do
        [{m.line, warning(ctx, m.line, taint)} | warnings]
      else
        warnings
      end

    {build.(Enum.map(results, &elem(&1, 0))), taint, warnings}
  end

  defp warning(ctx, line, taint) do
    [a, b | _] = taint |> MapSet.to_list() |> Enum.sort() |> Enum.map(&slot_name/1)
    field = ctx.coords |> Map.values() |> hd()

    "rule #{ctx.rule} (line #{line}) combines the coordinates of #{a} and #{b} other than by their " <>
      "difference; in a periodic space only #{a}.#{field} - #{b}.#{field} is the " <>
      "minimum-image displacement, so this expression ignores the box"
  end

  defp slot_name({param, ref}), do: "#{param}.#{ref}"
  defp slot_name(param), do: "#{param}"

  # Whether `x` and `y` are the coordinate fields of the pair's two different agents.
  defp coordinates_of_both?(x, y, env, ctx) do
    sx = alias_of(x, env, ctx)
    sy = alias_of(y, env, ctx)
    sx != nil and sy != nil and sx != sy
  end

  # The slot whose coordinate field `e` is (directly or through a local bound to it), or nil.
  defp alias_of({:field, _, {slot, field}}, _env, ctx),
    do: if(Map.get(ctx.coords, slot) == field, do: slot)

  defp alias_of({:var, _, name}, env, _ctx) do
    case Map.fetch(env, name) do
      {:ok, %{alias: slot}} -> slot
      :error -> nil
    end
  end

  defp alias_of(_, _env, _ctx), do: nil
end
