defmodule BrokenRecord.Zero.RandomSites do
  @moduledoc """
  The compiler pass that numbers the random call sites of every rule.

  Each `uniform()` and `normal()` of a rule body gets its own number, 0, 1, 2... in source
  order (statements in order, an `if`'s condition before its branches, a call's arguments left
  to right), so that the value a call site returns does not depend on which branches ran
  before it (`BrokenRecord.Zero.Random`: the site is part of the key). A rule with more than
  65536 call sites (65535 in an exclusive rule, whose pairs are ranked by the last site), or
  whose index is beyond 65535 while it has one or is exclusive, is a `CompileError`: the key
  has 16 bits for each.
  """

  alias BrokenRecord.Zero.{CompiledSystem, Random}

  @doc "Numbers the call sites of every rule of a type-checked system."
  @spec number(CompiledSystem.t()) :: CompiledSystem.t()
  def number(%CompiledSystem{} = system),
    do: %{system | rules: Enum.map(system.rules, &number_rule(&1, system.file))}

  defp number_rule(rule, file) do
    {body, sites} = statements(rule.body, 0)
    # An exclusive rule ranks its pairs with the words of the last site.
    limit = if rule.exclusive, do: Random.claim_site(), else: Random.max_site() + 1

    cond do
      sites == 0 and not rule.exclusive ->
        rule

      sites > limit ->
        raise CompileError,
          file: file,
          line: rule.line,
          description:
            "rule #{rule.name} has #{sites} calls of uniform() and normal(); at most " <>
              "#{limit} are supported"

      rule.index > Random.max_site() ->
        raise CompileError,
          file: file,
          line: rule.line,
          description:
            "rule #{rule.name} is rule number #{rule.index + 1}: random numbers are " <>
              "supported in the first #{Random.max_site() + 1} rules"

      true ->
        %{rule | body: body}
    end
  end

  defp statements(stmts, next), do: Enum.map_reduce(stmts, next, &statement/2)

  defp statement({:if, line, cond, then_stmts, else_stmts}, next) do
    {cond, next} = expr(cond, next)
    {then_stmts, next} = statements(then_stmts, next)
    {else_stmts, next} = statements(else_stmts, next)
    {{:if, line, cond, then_stmts, else_stmts}, next}
  end

  defp statement({:remove, _, _} = remove, next), do: {remove, next}

  defp statement({:spawn, line, type, fields}, next) do
    {fields, next} =
      Enum.map_reduce(fields, next, fn {field, e}, next ->
        {e, next} = expr(e, next)
        {{field, e}, next}
      end)

    {{:spawn, line, type, fields}, next}
  end

  defp statement({kind, line, target, e}, next) do
    {e, next} = expr(e, next)
    {{kind, line, target, e}, next}
  end

  defp statement({:value, line, e}, next) do
    {e, next} = expr(e, next)
    {{:value, line, e}, next}
  end

  defp expr({:random, m, {kind, nil}}, next), do: {{:random, m, {kind, next}}, next + 1}

  defp expr({:call, m, {op, args}}, next) do
    {args, next} = Enum.map_reduce(args, next, &expr/2)
    {{:call, m, {op, args}}, next}
  end

  defp expr({:vec, m, parts}, next) do
    {parts, next} = Enum.map_reduce(parts, next, &expr/2)
    {{:vec, m, parts}, next}
  end

  defp expr({:component, m, {base, i}}, next) do
    {base, next} = expr(base, next)
    {{:component, m, {base, i}}, next}
  end

  defp expr(other, next), do: {other, next}
end
