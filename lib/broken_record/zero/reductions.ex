defmodule BrokenRecord.Zero.Reductions do
  @moduledoc """
  The compiler pass that finds the max / min reductions of pair rules (`docs/dsl.md`,
  "Reductions").

  In a pair rule, a write `x.f = max(x.f, e)` or `x.f = min(x.f, e)` (either argument order, in
  any `if` branch), where `x.f` on the right is the field's value at the start of the rule (not
  written earlier in the body), reduces over the pairs: after the rule `x.f` is the max (min) of
  its start value and of every value a pair wrote. Every other pair-rule write is a summed
  delta. The pass records the reduced fields in the rule's `reductions`
  (`%{{slot, field} => :max | :min}`), which `BrokenRecord.Zero.Lowering` turns into `ACCMAX` /
  `ACCMIN`.

  A field of an agent type that a rule writes both as a reduction and otherwise, or with both
  max and min, is a `CompileError` (a same-type rule's two agents count as one: their writes
  share the field's accumulator). A pair-rule write that sums into a field whose type is not a
  quantity to add (`warn_summed?/1`) is a compile-time warning, except in an exclusive rule
  (each agent is in at most one applied pair, so the sum is one pair's value).
  """

  alias BrokenRecord.Zero.CompiledSystem
  alias BrokenRecord.Zero.IR.{Agent, Rule}

  @doc "Records the reductions of every pair rule of a type-checked system."
  @spec find(CompiledSystem.t()) :: CompiledSystem.t()
  def find(%CompiledSystem{} = system) do
    {rules, warnings} =
      Enum.map_reduce(system.rules, [], fn rule, warnings ->
        {rule, found} = rule_reductions(rule, system)
        {rule, warnings ++ found}
      end)

    options = Map.update(system.options, :warnings, warnings, &(&1 ++ warnings))
    %{system | rules: rules, options: options}
  end

  @doc """
  Whether a pair-rule write that sums deltas into a field of this type deserves a warning: a
  sum over pairs of an `:int` field is rarely what a state or a flag means (a `:float` field
  counts, `max(...)` / `min(...)` reduce).

      iex> BrokenRecord.Zero.Reductions.warn_summed?(:int)
      true
      iex> BrokenRecord.Zero.Reductions.warn_summed?({:enum, [:s, :i, :r]})
      true
      iex> BrokenRecord.Zero.Reductions.warn_summed?(:float)
      false
  """
  @spec warn_summed?(BrokenRecord.Zero.IR.Field.field_type()) :: boolean
  def warn_summed?(type) when type in [:int, :bool], do: true
  def warn_summed?({:enum, _values}), do: true
  def warn_summed?(_type), do: false

  defp rule_reductions(%Rule{kind: :per_agent} = rule, _system), do: {rule, []}

  defp rule_reductions(%Rule{} = rule, system) do
    {writes, _written} = statements(rule.body, MapSet.new(), [])
    # A bonded rule sets its own agent's fields (as a per-agent rule) and sums only what it
    # writes through references.
    writes =
      writes
      |> Enum.reverse()
      |> Enum.reject(fn {_, _, {slot, _}} -> rule.kind == :bonded and is_atom(slot) end)

    slots = Map.new(rule.agents) |> Map.merge(reference_types(rule, system))

    writes
    |> Enum.group_by(fn {_kind, _line, {slot, field}} -> {Map.fetch!(slots, slot), field} end)
    |> Enum.each(fn {{type, field}, group} -> check_field(rule, system, type, field, group) end)

    reductions = for {kind, _line, key} <- writes, kind != :sum, into: %{}, do: {key, kind}

    warnings =
      Enum.flat_map(writes, fn
        {:sum, line, {slot, field}} ->
          type = Map.fetch!(slots, slot)
          declared = Agent.field(CompiledSystem.agent(system, type), field)

          # An exclusive rule applies at most one pair per agent: its sum is that pair's.
          if warn_summed?(declared.type) and not rule.exclusive,
            do: [
              {line,
               "rule #{rule.name} writes #{inspect(declared.type)} field #{field} of #{type} " <>
                 "as a sum over pairs; use max(...) or min(...) to reduce, or a :float field " <>
                 "to count"}
            ],
            else: []

        _reduction ->
          []
      end)

    {%{rule | reductions: reductions}, warnings}
  end

  # The agent type of each `{param, ref}` slot of a bonded rule.
  defp reference_types(%Rule{kind: :bonded, agents: [{param, type}]}, system) do
    for %{type: {:ref, target}, name: ref} <- CompiledSystem.agent(system, type).fields,
        into: %{},
        do: {{param, ref}, target}
  end

  defp reference_types(_rule, _system), do: %{}

  # Every write in source order as `{kind, line, {slot, field}}` (prepended), and the fields
  # written so far on the path (a branch starts from what was written before its `if`).
  defp statements(stmts, written, writes) do
    Enum.reduce(stmts, {writes, written}, fn stmt, {writes, written} ->
      statement(stmt, written, writes)
    end)
  end

  defp statement({:store, line, key, e}, written, writes) do
    kind = if MapSet.member?(written, key), do: :sum, else: reduction(e, key)
    {[{kind, line, key} | writes], MapSet.put(written, key)}
  end

  defp statement({:if, _, _cond, then_stmts, else_stmts}, written, writes) do
    {writes, then_written} = statements(then_stmts, written, writes)
    {writes, else_written} = statements(else_stmts, written, writes)
    {writes, MapSet.union(then_written, else_written)}
  end

  defp statement(_other, written, writes), do: {writes, written}

  # `max(x.f, e)`, `max(e, x.f)` and the same with `min`, `x.f` being the written field.
  defp reduction({:call, _, {op, [a, b]}}, key) when op in [:max, :min] do
    if field?(a, key) or field?(b, key), do: op, else: :sum
  end

  defp reduction(_e, _key), do: :sum

  defp field?({:field, _, key}, key), do: true
  defp field?(_e, _key), do: false

  defp check_field(rule, system, type, field, group) do
    kinds = group |> Enum.map(&elem(&1, 0)) |> Enum.uniq()

    cond do
      :max in kinds and :min in kinds ->
        {_, line, _} = Enum.find(Enum.drop(group, 1), fn {k, _, _} -> k != elem(hd(group), 0) end)

        raise CompileError,
          file: system.file,
          line: line,
          description:
            "rule #{rule.name} reduces field #{field} of #{type} with both max and min; " <>
              "a field is reduced one way per rule"

      :sum in kinds and length(kinds) > 1 ->
        reduced = Enum.find(kinds, &(&1 != :sum))
        {_, line, _} = Enum.find(group, fn {k, _, _} -> k == :sum end)
        {_, reduced_line, _} = Enum.find(group, fn {k, _, _} -> k == reduced end)

        raise CompileError,
          file: system.file,
          line: max(line, reduced_line),
          description:
            "rule #{rule.name} writes field #{field} of #{type} both as a #{reduced} " <>
              "reduction (line #{reduced_line}) and otherwise (line #{line}); a reduced field " <>
              "is written only as #{field} = #{reduced}(#{field}, e) of its start value"

      true ->
        :ok
    end
  end
end
