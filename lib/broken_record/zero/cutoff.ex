defmodule BrokenRecord.Zero.Cutoff do
  @moduledoc """
  Detects pair rules guarded by a distance test, which the native engine may run over nearby
  pairs only (cell lists).

  A pair rule has a cutoff when every field write of its body sits inside one top-level
  `if` without `else`, whose condition is (or is a conjunction containing) one of:

    * `length(a.pos - b.pos) < c` (or `c > length(...)`; strict, since a pair at distance
      exactly `c` still interacts under `<=`), directly or through locals
      (`delta = a.pos - b.pos; dist = length(delta); if dist < c`)
    * `dot(d, d) < c * c` (bound `c`) or `dot(d, d) < c2` (bound `sqrt(c2)`)

  where `c` is computed from fields, params and constants only. In a periodic space the
  difference is its minimum image (`BrokenRecord.Zero.MinimumImage`), which is recognised the
  same way. Outside the cutoff the body
  therefore writes nothing, so visiting only pairs closer than `c` gives the all-pairs result.
  A pair observable summed over pairs (`BrokenRecord.Zero.Observables`) has a cutoff when its
  value is `if <such a test> do value else 0.0 end`: beyond it a pair adds nothing.
  The result is `%{position: {field_a, field_b}, bound: typed_expr}` in the rule's `cutoff`.
  """

  alias BrokenRecord.Zero.IR.Rule

  @doc "Fills `cutoff` of every pair rule."
  @spec detect([Rule.t()]) :: [Rule.t()]
  def detect(rules), do: Enum.map(rules, &%{&1 | cutoff: rule_cutoff(&1)})

  defp rule_cutoff(%Rule{kind: kind}) when kind in [:per_agent, :bonded], do: nil

  # A summed pair observable whose value is `if <distance test> do v else 0.0 end`: far pairs
  # add zero, so visiting only the pairs closer than the bound gives the all-pairs sum.
  defp rule_cutoff(%Rule{observe: %{reduce: :sum}, body: body, agents: [{a, _}, {b, _}]}) do
    with {before, [{:value, _, value}]} <- Enum.split(body, -1),
         {:call, _, {:select, [cond, _then, {:num, _, zero}]}} when zero == 0 <-
           substitute(value, bindings(before)),
         {:ok, cutoff} <- find_test(cond, a, b) do
      cutoff
    else
      _ -> nil
    end
  end

  defp rule_cutoff(%Rule{observe: %{}}), do: nil

  defp rule_cutoff(%Rule{body: body, agents: [{a, _}, {b, _}]}) do
    {before, rest} = Enum.split_while(body, &(elem(&1, 0) != :if))

    with [{:if, _, cond, _then, []} | after_if] <- rest,
         true <- Enum.all?(before ++ after_if, &(not writes?(&1))),
         env = bindings(before),
         {:ok, cutoff} <- find_test(substitute(cond, env), a, b) do
      cutoff
    else
      _ -> nil
    end
  end

  # A removal or spawn is an effect like a write: beyond the guard there must be none.
  defp writes?({:store, _, _, _}), do: true
  defp writes?({:remove, _, _}), do: true
  defp writes?({:spawn, _, _, _}), do: true
  defp writes?({:if, _, _, t, e}), do: Enum.any?(t ++ e, &writes?/1)
  defp writes?(_), do: false

  defp bindings(stmts) do
    Enum.reduce(stmts, %{}, fn
      {:assign, _, name, expr}, env ->
        Map.put(env, name, substitute(expr, env))

      {:destructure, _, names, expr}, env ->
        vec = substitute(expr, env)

        names
        |> Enum.with_index()
        |> Enum.reduce(env, fn {name, i}, env ->
          Map.put(env, name, {:component, %{line: 0, type: :float}, {vec, i}})
        end)

      _, env ->
        env
    end)
  end

  defp substitute({:var, _, name} = var, env), do: Map.get(env, name, var)

  defp substitute({:call, m, {op, args}}, env),
    do: {:call, m, {op, Enum.map(args, &substitute(&1, env))}}

  defp substitute({:vec, m, parts}, env), do: {:vec, m, Enum.map(parts, &substitute(&1, env))}

  defp substitute({:component, m, {base, i}}, env),
    do: {:component, m, {substitute(base, env), i}}

  defp substitute(other, _env), do: other

  defp find_test({:call, _, {:and, [l, r]}}, a, b) do
    case find_test(l, a, b) do
      {:ok, cutoff} -> {:ok, cutoff}
      :error -> find_test(r, a, b)
    end
  end

  # Only strict tests: with `<=` a pair exactly at distance c still interacts.
  defp find_test({:call, _, {:lt, [lhs, rhs]}}, a, b), do: distance_test(lhs, rhs, a, b)
  defp find_test({:call, _, {:gt, [lhs, rhs]}}, a, b), do: distance_test(rhs, lhs, a, b)

  defp find_test(_, _, _), do: :error

  # `measure < bound`
  defp distance_test(measure, bound, a, b) do
    with true <- bound_ok?(bound),
         {kind, positions} <- measure(measure, a, b) do
      bound =
        case {kind, bound} do
          {:length, bound} -> bound
          {:squared, {:call, _, {:mul, [c, c]}}} -> c
          {:squared, bound} -> {:call, %{line: 0, type: :float}, {:sqrt, [bound]}}
        end

      {:ok, %{position: positions, bound: bound}}
    else
      _ -> :error
    end
  end

  defp measure({:call, _, {:length, [d]}}, a, b), do: with_diff(d, a, b, :length)

  defp measure({:call, _, {:sqrt, [{:call, _, {:dot, [d, d]}}]}}, a, b),
    do: with_diff(d, a, b, :length)

  defp measure({:call, _, {:dot, [d, d]}}, a, b), do: with_diff(d, a, b, :squared)
  defp measure(_, _, _), do: :error

  # In a periodic space the difference is the minimum image (BrokenRecord.Zero.MinimumImage).
  defp with_diff({:call, _, {:min_image, [d]}}, a, b, kind), do: with_diff(d, a, b, kind)

  defp with_diff({:call, _, {:sub, [{:field, _, {s1, f1}}, {:field, _, {s2, f2}}]}}, a, b, kind) do
    cond do
      s1 == a and s2 == b -> {kind, {f1, f2}}
      s1 == b and s2 == a -> {kind, {f2, f1}}
      true -> :error
    end
  end

  defp with_diff(_, _, _, _), do: :error

  defp bound_ok?({:num, _, _}), do: true
  defp bound_ok?({:param, _, _}), do: true
  defp bound_ok?({:field, %{type: type}, _}), do: type in [:float, :int]
  defp bound_ok?({:call, _, {_op, args}}), do: Enum.all?(args, &bound_ok?/1)
  defp bound_ok?(_), do: false
end
