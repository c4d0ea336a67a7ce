defmodule BrokenRecord.Zero.Conservation do
  @moduledoc """
  Compile-time verdicts on the conservation laws that agent types declare
  (`conserves [:mass, :momentum, :angular_momentum, :energy]`).

  For each rule and each law declared by an agent type the rule touches, the change of the total
  caused by one application of the rule is computed symbolically from the lowered program
  (before optimisation) and brought to a normal form (`BrokenRecord.Zero.Conservation.Algebra`):

    * mass: `sum m`
    * momentum: `sum m * v` (three components)
    * angular momentum: `sum r x (m * v)` (three components)
    * energy: `sum 1/2 m |v|^2` (kinetic)

  Each `if` (a `SELECT` in the program) is handled by proving the law on every combination of
  conditions. The quantities read the agent fields named `:mass`, `:velocity` and `:position`.

  A bonded rule counts the agents its references name as its other slots, as a pair rule its
  partners: equal and opposite kicks through `s.a` and `s.b` conserve momentum.

  A rule between two agent types of which only one declares the law (a particle bouncing off
  a `Wall` without mass) exchanges the quantity with something outside the conserved set: its
  verdict is `:unverified`, not a violation. A per-agent rule that changes the quantity (a
  uniform gravity field) is a violation, reported as an external force.

  A pair rule that reduces a field of the quantity with `max(...)` or `min(...)` (`ACCMAX` /
  `ACCMIN`) takes the extreme over its pairs rather than one pair's change, which no per-pair
  balance describes: the law is `{:unverified, reason}`, the reason naming the field.

  Verdicts: `:proven` (the change is identically zero), `{:violated, residual}` (a readable
  non-zero change, e.g. `"momentum.y: -9.81*dt*p.mass"`), `{:unverified, reason}` (a reduced
  field, above) or `:unverified` (a needed field is missing, too many conditions, or energy
  whose kinetic part changes: potential energy may compensate, which the run-time monitor
  checks). Energy is never reported as violated.
  """

  alias BrokenRecord.Zero.{CompiledSystem, Program}
  alias BrokenRecord.Zero.Conservation.Algebra, as: A
  alias BrokenRecord.Zero.IR.Agent
  alias BrokenRecord.Zero.Program.Op

  @max_conditions 8
  @laws [:mass, :momentum, :angular_momentum, :energy]

  @type verdict :: :proven | {:violated, String.t()} | :unverified | {:unverified, String.t()}

  @doc "The laws, in report order."
  @spec laws() :: [atom]
  def laws, do: @laws

  @doc """
  Verdicts for every rule: `%{rule_name => %{law => verdict}}`, for the laws declared by the
  agent types each rule touches.
  """
  @spec analyze(CompiledSystem.t(), Program.t()) :: %{atom => %{atom => verdict}}
  def analyze(%CompiledSystem{} = system, %Program{} = raw) do
    system.rules
    |> Enum.zip(raw.rules)
    |> Map.new(fn {rule, prog} -> {rule.name, rule_verdicts(system, rule, prog)} end)
  end

  @doc "The violations as `{rule, law, residual}`, in rule order."
  @spec violations(CompiledSystem.t()) :: [{BrokenRecord.Zero.IR.Rule.t(), atom, String.t()}]
  def violations(%CompiledSystem{} = system) do
    for rule <- system.rules,
        {law, {:violated, residual}} <- Enum.sort(Map.get(system.conservation, rule.name, %{})),
        do: {rule, law, residual}
  end

  defp rule_verdicts(system, rule, prog) do
    slots =
      rule.agents
      |> Enum.with_index()
      |> Enum.map(fn {{name, type}, slot} -> {slot, name, CompiledSystem.agent(system, type)} end)
      |> Kernel.++(reference_slots(rule, system))

    laws = slots |> Enum.flat_map(fn {_, _, agent} -> agent.conserves end) |> Enum.uniq()
    laws = Enum.filter(@laws, &(&1 in laws))

    if laws == [] do
      %{}
    else
      ctx = %{system: system, rule: rule, prog: prog, slots: slots}
      paths = proving(laws, ctx, fn -> paths(prog) end)
      Map.new(laws, fn law -> {law, proving([law], ctx, fn -> verdict(law, paths, ctx) end)} end)
    end
  end

  # Runs a step of the proof of `laws`: a coefficient beyond the float range is a CompileError
  # on the rule.
  # A bonded rule's slots 1, 2, ...: the agents its references name, like a pair rule's
  # partners (`s.a`, `s.b`).
  defp reference_slots(%{kind: :bonded, agents: [{name, type}]}, system) do
    for {%{type: {:ref, target}, name: ref}, slot} <-
          CompiledSystem.agent(system, type).fields
          |> Enum.filter(&match?(%{type: {:ref, _}}, &1))
          |> Enum.with_index(1),
        do: {slot, :"#{name}.#{ref}", CompiledSystem.agent(system, target)}
  end

  defp reference_slots(_rule, _system), do: []

  defp proving(laws, ctx, fun) do
    fun.()
  rescue
    A.OverflowError ->
      raise CompileError,
        file: ctx.system.file,
        line: ctx.rule.line,
        description:
          "rule #{ctx.rule.name}: cannot check the conservation of #{Enum.join(laws, ", ")}: " <>
            "a coefficient of the proof is beyond the float range (the rule's constants are " <>
            "too large or too small)"
  end

  ## Paths: the stored values under every combination of select conditions

  defp paths(prog) do
    defs = Map.new(for {_, d, _, _, _} = i <- prog.instrs, not Program.effect?(i), do: {d, i})

    # The conditions of selects, and the comparisons the conditions of removals and spawns
    # are made of (an `if` that only removes or spawns has no select).
    conditions =
      (for({:select, _, c, _, _} <- prog.instrs, do: c) ++
         for({op, _, _, _, c} <- prog.instrs, op in [:remove, :spawn], do: atoms(c, defs)))
      |> List.flatten()
      |> Enum.uniq()

    if length(conditions) > @max_conditions do
      :too_many
    else
      conditions
      |> assignments()
      |> Enum.map(&evaluate(prog, &1))
    end
  end

  defp assignments([]), do: [%{}]

  defp assignments([c | rest]) do
    for a <- assignments(rest), value <- [true, false], do: Map.put(a, c, value)
  end

  defp atoms(reg, defs) do
    case Map.fetch!(defs, reg) do
      {op, _, a, b, _} when op in [:and, :or] -> [atoms(a, defs), atoms(b, defs)]
      {:not, _, a, _, _} -> atoms(a, defs)
      {:const, _, _, _, _} -> []
      _ -> [reg]
    end
  end

  # The stored values of one path, with `:removed` (the slots whose agent it removes),
  # `:spawned` (`{type, %{lane => value}}` per child) and `:unknown` (a removal or spawn whose
  # condition is not a function of the path's conditions).
  defp evaluate(prog, assignment) do
    consts = List.to_tuple(prog.consts)
    start = %{removed: [], spawned: [], unknown: false}

    {_regs, _truth, stores} =
      Enum.reduce(prog.instrs, {%{}, %{}, start}, fn instr, {regs, truth, stores} ->
        case instr do
          {op, _, s, l, c} when op in [:store, :accmax, :accmin] ->
            {regs, truth, Map.put(stores, {s, l}, Map.fetch!(regs, c))}

          {:remove, _, s, _, c} ->
            {regs, truth,
             lifecycle(stores, Map.get(truth, c), &%{&1 | removed: [s | &1.removed]})}

          {:spawn, _, type, _, c} ->
            {regs, truth,
             lifecycle(
               stores,
               Map.get(truth, c),
               &%{&1 | spawned: [{type, %{}} | &1.spawned]},
               :spawning
             )}

          {:spawnlane, _, _, l, c} ->
            case stores.spawned do
              [{type, lanes} | rest] when :erlang.map_get(:spawning, stores) ->
                {regs, truth,
                 %{stores | spawned: [{type, Map.put(lanes, l, Map.fetch!(regs, c))} | rest]}}

              _ ->
                {regs, truth, stores}
            end

          {op, d, a, b, c} ->
            regs = Map.put(regs, d, sym(op, a, b, c, regs, consts, assignment))
            {regs, Map.put(truth, d, truth(op, d, a, b, consts, truth, assignment)), stores}
        end
      end)

    Map.delete(stores, :spawning)
  end

  # Applies a removal or spawn whose condition has the truth `known` (nil: unknown).
  defp lifecycle(stores, known, apply, spawning \\ nil) do
    stores = if spawning, do: Map.put(stores, :spawning, known == true), else: stores

    case known do
      true -> apply.(stores)
      false -> stores
      nil -> %{stores | unknown: true}
    end
  end

  # The truth of a boolean register on a path: an assigned condition, or logic over them.
  defp truth(op, d, a, b, consts, truth, assignment) do
    case {op, Map.fetch(assignment, d)} do
      {_, {:ok, value}} -> value
      {:const, _} -> elem(consts, a) != 0.0
      {:not, _} -> if(is_boolean(truth[a]), do: not truth[a])
      {:and, _} -> logic(truth[a], truth[b], &and/2)
      {:or, _} -> logic(truth[a], truth[b], &or/2)
      _ -> nil
    end
  end

  defp logic(x, y, f) when is_boolean(x) and is_boolean(y), do: f.(x, y)
  defp logic(_, _, _), do: nil

  defp sym(:const, a, _, _, _, consts, _), do: A.const(elem(consts, a))
  defp sym(:param, a, _, _, _, _, _), do: A.var({:param, a})
  defp sym(:box, a, _, _, _, _, _), do: A.var({:box, a})

  # One draw per agent or pair: both slots of a pair see the same value (BrokenRecord.Zero.Random).
  defp sym(op, a, _, _, _, _, _) when op in [:uniform, :normal], do: A.var({op, a})
  defp sym(:load, s, l, _, _, _, _), do: A.var({:load, s, l})
  defp sym(:select, c, a, b, regs, _, asg), do: Map.fetch!(regs, if(asg[c], do: a, else: b))

  defp sym(op, a, b, c, regs, _consts, _asg) do
    arg = fn r -> Map.fetch!(regs, r) end

    case op do
      :add -> A.add(arg.(a), arg.(b))
      :sub -> A.sub(arg.(a), arg.(b))
      :mul -> A.mul(arg.(a), arg.(b))
      :div -> A.divide(arg.(a), arg.(b))
      :neg -> A.scale(arg.(a), -1.0)
      :sqrt -> A.sqrt(arg.(a))
      :pow -> power(arg.(a), arg.(b))
      op -> by_class(Op.fetch!(op), Enum.map(Enum.take([a, b, c], Op.fetch!(op).arity), arg))
    end
  end

  # Comparisons and logic are booleans; any other function is an opaque atom of its arguments.
  defp by_class(%Op{class: class}, _args) when class in [:compare, :logic], do: :bool
  defp by_class(%Op{class: :math, name: name}, args), do: A.fun(name, args)

  defp power(base, exponent) do
    case A.constant(exponent) do
      {:ok, n} when n == trunc(n) and abs(n) <= 8 -> A.power(base, trunc(n))
      {:ok, 0.5} -> A.sqrt(base)
      _ -> A.fun(:pow, [base, exponent])
    end
  end

  ## Laws

  defp verdict(_law, :too_many, _ctx), do: :unverified

  defp verdict(law, paths, ctx) do
    included = Enum.filter(ctx.slots, fn {_, _, agent} -> law in agent.conserves end)
    # A bond that does not declare the law only joins the agents that carry it.
    considered =
      Enum.reject(ctx.slots, fn {slot, _, agent} ->
        ctx.rule.kind == :bonded and slot == 0 and law not in agent.conserves
      end)

    with true <- length(included) == length(considered) or :external,
         {:ok, lanes} <- needed_lanes(law, included),
         nil <- reduced_field(law, lanes, ctx),
         nil <- lifecycle_unknown(law, paths, ctx) do
      residuals =
        Enum.find_value(paths, fn stores ->
          components = change(law, lanes, stores, ctx)
          nonzero = Enum.reject(components, fn {_, p} -> A.zero?(A.clear_denominators(p)) end)
          if nonzero != [], do: nonzero
        end)

      cond do
        residuals == nil and law == :energy and writes_position_with_potential?(ctx, lanes) ->
          :unverified

        residuals == nil ->
          :proven

        law == :energy ->
          :unverified

        true ->
          {:violated, describe(residuals, ctx)}
      end
    else
      :missing -> :unverified
      :external -> :unverified
      {:reduced, reason} -> {:unverified, reason}
      {:lifecycle, reason} -> {:unverified, reason}
    end
  end

  # Why removals or spawns keep the law from being proven (nil when they do not): a condition
  # the proof cannot follow, or a child of a type without the law or its fields.
  defp lifecycle_unknown(law, paths, ctx) do
    cond do
      Enum.any?(paths, & &1.unknown) ->
        {:lifecycle,
         "the condition of a remove or spawn is not a function of the rule's if conditions, " <>
           "so #{law} is not proven"}

      child =
          Enum.find_value(paths, &Enum.find(&1.spawned, fn c -> not balanced?(law, c, ctx) end)) ->
        agent = Enum.at(ctx.system.agents, elem(child, 0))

        {:lifecycle,
         "it spawns a #{agent.name}, which does not declare #{law} or lacks its fields, " <>
           "so #{law} is not proven"}

      true ->
        nil
    end
  end

  defp balanced?(law, {type, _lanes}, ctx) do
    agent = Enum.at(ctx.system.agents, type)
    law in agent.conserves and Enum.all?(needed_fields(law), &quantity_lane(agent, &1))
  end

  # A field of the law's quantity that the rule reduces (ACCMAX / ACCMIN), as the reason the
  # law is not proven; nil when there is none.
  defp reduced_field(law, lanes, ctx) do
    reduced = for {op, _, s, l, _} <- ctx.prog.instrs, op in [:accmax, :accmin], do: {s, l, op}

    Enum.find_value(lanes, fn {slot, name, fields} ->
      Enum.find_value(fields, fn {field, first} ->
        width = if field == :mass, do: 1, else: 3

        Enum.find_value(reduced, fn {s, l, op} ->
          if s == slot and l in first..(first + width - 1) do
            {:reduced,
             "#{name}.#{field} is reduced with #{if op == :accmax, do: "max", else: "min"}(...) " <>
               "over pairs, not changed by a balance of pair deltas, so #{law} is not proven"}
          end
        end)
      end)
    end)
  end

  @doc "The fields a law's quantity reads (`:mass`, `:velocity`, `:position`)."
  @spec needed_fields(atom) :: [atom]
  def needed_fields(:mass), do: [:mass]
  def needed_fields(:momentum), do: [:mass, :velocity]
  def needed_fields(:energy), do: [:mass, :velocity]
  def needed_fields(:angular_momentum), do: [:mass, :velocity, :position]

  @doc """
  The first lane of a quantity field of an agent type (`:mass` must be a float, `:velocity` and
  `:position` vec3), or `nil` when the type lacks it.
  """
  @spec quantity_lane(Agent.t(), :mass | :velocity | :position) :: non_neg_integer | nil
  def quantity_lane(agent, :mass), do: typed_lane(agent, :mass, :float)
  def quantity_lane(agent, field), do: typed_lane(agent, field, :vec3)

  defp needed_lanes(law, included) do
    lanes =
      Enum.map(included, fn {slot, name, agent} ->
        fields = Map.new(needed_fields(law), fn f -> {f, quantity_lane(agent, f)} end)
        {slot, name, fields}
      end)

    if Enum.all?(lanes, fn {_, _, fields} -> Enum.all?(fields, fn {_, l} -> l != nil end) end),
      do: {:ok, lanes},
      else: :missing
  end

  defp typed_lane(agent, name, type) do
    case Agent.field(agent, name) do
      %{type: ^type, lane: lane} -> lane
      _ -> nil
    end
  end

  # The change of each component of the law's total over the included slots: a removed
  # agent's whole quantity goes, a spawned child's comes.
  defp change(law, lanes, stores, ctx) do
    totals =
      Enum.map(lanes, fn {slot, _name, fields} ->
        old = fn lane -> A.var({:load, slot, lane}) end
        new = fn lane -> Map.get(stores, {slot, lane}, old.(lane)) end
        before = quantity(law, fields, old)

        if slot in stores.removed,
          do: A.sub_list(Enum.map(before, fn _ -> %{} end), before),
          else: A.sub_list(quantity(law, fields, new), before)
      end)

    children =
      Enum.map(stores.spawned, fn {type, values} ->
        agent = Enum.at(ctx.system.agents, type)
        fields = Map.new(needed_fields(law), fn f -> {f, quantity_lane(agent, f)} end)
        quantity(law, fields, &Map.fetch!(values, &1))
      end)

    totals = totals ++ children

    totals
    |> Enum.zip()
    |> Enum.map(&Tuple.to_list/1)
    |> Enum.map(fn parts -> Enum.reduce(parts, %{}, &A.add/2) end)
    |> Enum.zip(component_names(law))
    |> Enum.map(fn {p, name} -> {name, p} end)
  end

  defp quantity(:mass, %{mass: m}, value), do: [value.(m)]

  defp quantity(:momentum, %{mass: m, velocity: v}, value) do
    mass = value.(m)
    for i <- 0..2, do: A.mul(mass, value.(v + i))
  end

  defp quantity(:angular_momentum, %{mass: m, velocity: v, position: r}, value) do
    mass = value.(m)
    [rx, ry, rz] = for i <- 0..2, do: value.(r + i)
    [vx, vy, vz] = for i <- 0..2, do: A.mul(mass, value.(v + i))

    [
      A.sub(A.mul(ry, vz), A.mul(rz, vy)),
      A.sub(A.mul(rz, vx), A.mul(rx, vz)),
      A.sub(A.mul(rx, vy), A.mul(ry, vx))
    ]
  end

  defp quantity(:energy, %{mass: m, velocity: v}, value) do
    speed2 =
      Enum.reduce(0..2, %{}, fn i, acc -> A.add(acc, A.mul(value.(v + i), value.(v + i))) end)

    [A.scale(A.mul(value.(m), speed2), 0.5)]
  end

  defp component_names(:mass), do: ["mass"]
  defp component_names(:energy), do: ["energy"]
  defp component_names(law), do: for(c <- ["x", "y", "z"], do: "#{law}.#{c}")

  defp writes_position_with_potential?(ctx, lanes) do
    Enum.any?(ctx.system.observables, & &1.observe.energy) and
      Enum.any?(lanes, fn {slot, _, _} ->
        agent = ctx.slots |> Enum.find(&(elem(&1, 0) == slot)) |> elem(2)

        case typed_lane(agent, :position, :vec3) do
          nil -> false
          p -> Enum.any?(Program.stores(ctx.prog), fn {s, l} -> s == slot and l in p..(p + 2) end)
        end
      end)
  end

  defp describe(residuals, ctx) do
    text =
      Enum.map_join(residuals, "; ", fn {name, p} ->
        "#{name}: #{A.format(p, &name(&1, ctx), 3)}"
      end)

    if ctx.rule.kind == :per_agent do
      [{_, name, agent}] = ctx.slots
      text <> " (an external force: every #{agent.name} #{name} changes on its own)"
    else
      text
    end
  end

  defp name({:param, i}, ctx), do: Atom.to_string(Enum.at(ctx.system.params, i))
  defp name({:box, axis}, _ctx), do: "box." <> Enum.at(["x", "y", "z"], axis)
  defp name({op, site}, _ctx) when op in [:uniform, :normal], do: "#{op}()##{site + 1}"

  defp name({:load, slot, lane}, ctx) do
    {_, param, agent} = Enum.find(ctx.slots, &(elem(&1, 0) == slot))
    field = Agent.field_at_lane(agent, lane)

    suffix =
      if field.type == :vec3, do: "." <> Enum.at(["x", "y", "z"], lane - field.lane), else: ""

    "#{param}.#{field.name}#{suffix}"
  end
end
