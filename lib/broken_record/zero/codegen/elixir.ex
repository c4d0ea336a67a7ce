defmodule BrokenRecord.Zero.Codegen.Elixir do
  @moduledoc """
  Generates the pure-Elixir backend's rule functions from the program, at compile time.

  An exclusive pair rule also gets a clause of `__brz_claim__/7` (the arguments of
  `__brz_pair__/7`; whether the pair would act: its claim register is non-zero).
  Each rule becomes one clause of `__brz_agent__/5` (per-agent rules: rule index, lane tuple,
  params, random source and the agent's identity in; lane tuple out) or `__brz_pair__/7` (pair
  rules: rule index, two lane tuples, params, random source and both identities in; two delta
  tuples out, in the order of `acc_lanes/1`: a delta per summed lane, the stored value per max
  or min reduction, `acc_reductions/1`). The random source and identities feed `uniform()`
  and `normal()` (`BrokenRecord.Zero.Random`); rules without them ignore them. The generated
  code is straight-line float arithmetic; if the BEAM raises
  (a division by zero or a domain error, possibly in a branch that a select then discards), the
  same agent or pair is re-evaluated by `BrokenRecord.Zero.Interpreter` with full IEEE
  semantics. Bonded rules get no clause: the backend runs them through the interpreter. Generated code was chosen over interpreting the program per call: it avoids a map
  update per instruction and runs several times faster (see `docs/backends.md`).
  """

  alias BrokenRecord.Zero.{CompiledSystem, Program}
  alias BrokenRecord.Zero.Program.{Op, Rule}

  @doc "The quoted function clauses for every rule of a system."
  @spec functions(CompiledSystem.t()) :: [Macro.t()]
  def functions(%CompiledSystem{program: program}) do
    clauses =
      program.rules
      |> Enum.with_index()
      |> Enum.reject(fn {rule, _k} -> rule.kind == :bonded end)
      |> Enum.map(fn {rule, k} -> clause(rule, k) end)

    claims =
      for {%Rule{claim: claim} = rule, k} <- Enum.with_index(program.rules),
          claim != nil,
          do: claim_clause(rule, k)

    fallbacks = [
      quote do
        def __brz_agent__(_, _, _, _, _), do: raise(ArgumentError, "not a per-agent rule")
        def __brz_pair__(_, _, _, _, _, _, _), do: raise(ArgumentError, "not a pair rule")

        def __brz_claim__(_, _, _, _, _, _, _),
          do: raise(ArgumentError, "not an exclusive pair rule")
      end
    ]

    clauses ++ claims ++ fallbacks
  end

  @doc """
  The accumulator lanes of a pair rule, `{lanes_of_slot_0_type, lanes_of_slot_1_type}`: the
  lanes the rule stores for each agent type (for a same-type rule, the union of both slots).
  """
  @spec acc_lanes(Rule.t()) :: {[non_neg_integer], [non_neg_integer]}
  def acc_lanes(%Rule{kind: kind} = rule) do
    stores = Program.stores(rule)
    a = for {0, lane} <- stores, do: lane
    b = for {1, lane} <- stores, do: lane

    case kind do
      :pair_same ->
        union = Enum.sort(Enum.uniq(a ++ b))
        {union, union}

      :pair_cross ->
        {Enum.sort(a), Enum.sort(b)}
    end
  end

  @doc """
  How each accumulator lane of `acc_lanes/1` combines over the pairs, in the same order:
  `:sum` (deltas of a `STORE` or `ACC`), `:max` (`ACCMAX`) or `:min` (`ACCMIN`). Validation
  makes both slots of a same-type rule agree on a lane.
  """
  @spec acc_reductions(Rule.t()) :: {[:sum | :max | :min], [:sum | :max | :min]}
  def acc_reductions(%Rule{} = rule) do
    modes =
      Map.new(
        for i <- rule.instrs,
            Program.lane_write?(i),
            do: {lane_key(rule, i), Program.reduction(i)}
      )

    {acc_a, acc_b} = acc_lanes(rule)
    mode = fn slot, lane -> Map.get(modes, {Program.slot_type(rule, slot), lane}, :sum) end
    {Enum.map(acc_a, &mode.(0, &1)), Enum.map(acc_b, &mode.(1, &1))}
  end

  defp lane_key(rule, {_, _, s, l, _}), do: {Program.slot_type(rule, s), l}

  defp clause(%Rule{kind: :per_agent} = rule, k) do
    a = slot_var(0)
    params = Macro.var(:params, __MODULE__)
    body = body(rule, k)
    {source, [i], draw, ids} = random_args(rule, k, 1)

    out =
      Enum.reduce(rule.instrs, a, fn
        {:store, _, 0, lane, c}, acc ->
          quote(do: :erlang.setelement(unquote(lane + 1), unquote(acc), unquote(reg(c))))

        _, acc ->
          acc
      end)

    quote do
      def __brz_agent__(unquote(k), unquote(a), unquote(params), unquote(source), unquote(i)) do
        unquote_splicing(ids ++ body)
        unquote(out)
      rescue
        ArithmeticError ->
          BrokenRecord.Zero.Interpreter.agent(
            unquote(Macro.escape(rule)),
            unquote(a),
            unquote(params),
            unquote(draw)
          )
      end
    end
  end

  defp clause(%Rule{} = rule, k) do
    a = slot_var(0)
    b = slot_var(1)
    params = Macro.var(:params, __MODULE__)
    {acc_a, acc_b} = acc_lanes(rule)
    {modes_a, modes_b} = acc_reductions(rule)
    body = body(rule, k)
    {source, [i, j], draw, ids} = random_args(rule, k, 2)

    stored =
      Map.new(
        for {op, _, s, l, c} = i <- rule.instrs, Program.lane_write?(i), do: {{s, l}, {op, c}}
      )

    quote do
      def __brz_pair__(
            unquote(k),
            unquote(a),
            unquote(b),
            unquote(params),
            unquote(source),
            unquote(i),
            unquote(j)
          ) do
        unquote_splicing(ids ++ body)
        {unquote(deltas(stored, 0, acc_a, modes_a)), unquote(deltas(stored, 1, acc_b, modes_b))}
      rescue
        ArithmeticError ->
          BrokenRecord.Zero.Interpreter.pair(
            unquote(Macro.escape(rule)),
            unquote(a),
            unquote(b),
            unquote(params),
            {unquote(acc_a), unquote(modes_a)},
            {unquote(acc_b), unquote(modes_b)},
            unquote(draw)
          )
      end
    end
  end

  # `__brz_claim__/7` of an exclusive rule: whether the pair would act (its claim register is
  # non-zero), from the same straight-line body; nothing is stored or checked.
  defp claim_clause(%Rule{claim: claim} = rule, k) do
    a = slot_var(0)
    b = slot_var(1)
    params = Macro.var(:params, __MODULE__)
    body = body(rule, k)
    {source, [i, j], draw, ids} = random_args(rule, k, 2)

    quote do
      def __brz_claim__(
            unquote(k),
            unquote(a),
            unquote(b),
            unquote(params),
            unquote(source),
            unquote(i),
            unquote(j)
          ) do
        unquote_splicing(ids ++ body)
        unquote(reg(claim)) != 0.0
      rescue
        ArithmeticError ->
          BrokenRecord.Zero.Interpreter.claim(
            unquote(Macro.escape(rule)),
            unquote(a),
            unquote(b),
            unquote(params),
            unquote(draw)
          )
      end
    end
  end

  # A lane this slot does not write: -0.0 to a sum, nil (no value) to a max or min.
  defp deltas(stored, slot, acc_lanes, modes) do
    parts =
      Enum.zip_with(acc_lanes, modes, fn lane, mode ->
        case Map.fetch(stored, {slot, lane}) do
          {:ok, {op, c}} when op in [:acc, :accmax, :accmin] ->
            reg(c)

          {:ok, {:store, c}} ->
            quote(
              do: unquote(reg(c)) - :erlang.element(unquote(lane + 1), unquote(slot_var(slot)))
            )

          :error ->
            if mode == :sum, do: -0.0
        end
      end)

    {:{}, [], parts}
  end

  defp slot_var(slot), do: Macro.var(:"slot#{slot}", __MODULE__)

  # The random source and identity arguments of a rule's clause, the draw for the careful path
  # (`nil` without random numbers) and the statements that order the identities
  # (`BrokenRecord.Zero.Random.ids/3`). A rule without random numbers ignores its arguments.
  defp random_args(rule, k, arity) do
    if random?(rule) do
      source = Macro.var(:source, __MODULE__)
      ids = Enum.map(Enum.take([:id0, :id1], arity), &Macro.var(&1, __MODULE__))
      [ri, rj] = [Macro.var(:ri, __MODULE__), Macro.var(:rj, __MODULE__)]
      args = [rule.kind, hd(ids), if(arity == 2, do: Enum.at(ids, 1))]

      order =
        quote(
          do: {unquote(ri), unquote(rj)} = BrokenRecord.Zero.Random.ids(unquote_splicing(args))
        )

      draw =
        quote(
          do:
            BrokenRecord.Zero.Random.draw_of(unquote(source), unquote(k), unquote_splicing(args))
        )

      {source, ids, draw, [order]}
    else
      {Macro.var(:_, nil), List.duplicate(Macro.var(:_, nil), arity), nil, []}
    end
  end

  defp random?(rule), do: Enum.any?(rule.instrs, &(elem(&1, 0) in [:uniform, :normal]))

  # Straight-line code; a register that nothing reads (a cutoff bound) is bound to `_`.
  defp body(rule, k) do
    read = rule.instrs |> Enum.flat_map(&Program.reads/1) |> MapSet.new()
    read = if rule.claim, do: MapSet.put(read, rule.claim), else: read

    for {op, d, a, b, c} = i <- rule.instrs, not Program.effect?(i) do
      target = if MapSet.member?(read, d), do: reg(d), else: Macro.var(:_, nil)
      quote(do: unquote(target) = unquote(value(op, a, b, c, {rule, k})))
    end
  end

  defp reg(n), do: Macro.var(:"r#{n}", __MODULE__)

  defp value(:const, a, _, _, {rule, _k}) do
    case Enum.at(rule.consts, a) do
      # A -0.0 literal does not survive compilation (OTP 25 merges it with 0.0), so it is
      # built at run time.
      zero when zero == 0.0 and <<zero::float>> == <<1::1, 0::63>> ->
        quote(do: :erlang.binary_to_term(<<131, 70, 128, 0, 0, 0, 0, 0, 0, 0>>))

      value ->
        value
    end
  end

  defp value(:param, a, _, _, _rule),
    do: quote(do: :erlang.element(unquote(a + 1), unquote(Macro.var(:params, __MODULE__))))

  # Box edges follow the params in the params tuple (docs/program.md, "BOX").
  defp value(:box, a, _, _, _rule) do
    params = Macro.var(:params, __MODULE__)
    quote(do: :erlang.element(tuple_size(unquote(params)) - 2 + unquote(a), unquote(params)))
  end

  defp value(op, site, _, _, {_rule, k}) when op in [:uniform, :normal] do
    args = [
      Macro.var(:source, __MODULE__),
      k,
      site,
      Macro.var(:ri, __MODULE__),
      Macro.var(:rj, __MODULE__)
    ]

    quote(do: BrokenRecord.Zero.Random.unquote(op)(unquote_splicing(args)))
  end

  defp value(:load, s, l, _, _rule),
    do: quote(do: :erlang.element(unquote(l + 1), unquote(slot_var(s))))

  defp value(op, a, b, c, _rule) do
    row = Op.fetch!(op)
    Op.elixir(row, Enum.map(Enum.take([a, b, c], row.arity), &reg/1))
  end
end
