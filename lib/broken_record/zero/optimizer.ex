defmodule BrokenRecord.Zero.Optimizer do
  @moduledoc """
  Optimises the scalar program of each rule. It works on the lowered SSA form, where vec3
  arithmetic has been split into lanes and so exposes the most common subexpressions.

    * constant folding (with the IEEE semantics of `BrokenRecord.Zero.Ops`; a fold that would
      give a non-finite constant is left to run time),
    * exact algebraic identities only: `x * 1`, `x / 1`, `x - 0`, `x + -0.0`, `--x`,
      `select(c, x, x)`, `select(constant, x, y)`, `x ** 2 -> x * x`,
    * common-subexpression elimination (commutative operands put in a canonical order; repeated
      loads and params shared),
    * accumulating stores (pair rules, before everything else): a `STORE s l v` whose value is
      the loaded lane plus a delta becomes `ACC s l delta` (see `accumulate/1`), so no engine
      computes `(v + d) - v` per pair,
    * dead-code elimination (everything that feeds no store and no cutoff is dropped),
    * register and constant-pool compaction.

  The program before and after optimisation computes the same stored values, and for an `ACC`
  the same resulting agent value up to rounding (`start + d` instead of `start + ((start + d) -
  start)`; tested on random inputs). `passes/0` lists the `optimize [...]` passes of the DSL (`docs/dsl.md`, "Optimize
  passes"); these scalar optimisations always run.
  """

  alias BrokenRecord.Zero.{Ops, Program}
  alias BrokenRecord.Zero.Program.{Op, Rule}

  @passes [:simd, :spatial_hash, :loop_fusion]
  @commutative [:add, :mul, :eq, :ne, :and, :or]
  @lane_writes [:store, :acc, :accmax, :accmin]
  # Instructions that write no register: lane writes and lifecycle ops.
  @effects @lane_writes ++ [:remove, :spawn, :spawnlane]
  @flops Map.new(Op.all(), &{&1.name, &1.flops})

  @doc """
  The `optimize [...]` passes the DSL knows. Only `:loop_fusion` changes anything: the
  pure-Elixir backend then runs consecutive per-agent rules over one agent type in one pass.
  `:simd` and `:spatial_hash` are accepted and have no effect: the native engine always
  vectorises and always uses neighbour search for a rule with a detected cutoff.
  """
  @spec passes() :: [atom]
  def passes, do: @passes

  @doc "Optimises every rule of a program."
  @spec optimize(Program.t()) :: Program.t()
  def optimize(%Program{rules: rules} = program),
    do: %{program | rules: Enum.map(rules, &optimize_rule/1)}

  @doc "Floating-point operations one application of a rule performs (the `flops` of each op's row)."
  @spec flops(Rule.t()) :: non_neg_integer
  def flops(%Rule{instrs: instrs}) do
    Enum.reduce(instrs, 0, fn {op, _, _, _, _}, acc -> acc + Map.get(@flops, op, 0) end)
  end

  @doc "Optimises one rule."
  @spec optimize_rule(Rule.t()) :: Rule.t()
  def optimize_rule(%Rule{} = rule) do
    rule = accumulate(rule)
    consts = List.to_tuple(rule.consts)
    rule |> simplify(consts) |> eliminate_dead() |> compact()
  end

  ## Accumulating stores

  @doc """
  Rewrites the stores of a pair rule into accumulating stores where the stored value is the
  loaded lane plus a delta. With `L` a `LOAD` of the stored (slot, lane), `delta(v)` is:

    * `v == L`: zero, and the store is dropped (the lane keeps its value),
    * `add(L, x)` or `add(x, L)`: `x`; `sub(L, x)`: `neg(x)` (a new `NEG`),
    * `select(c, t, e)`: `select(c, delta(t), delta(e))` when both deltas exist; a branch
      equal to `L` contributes the constant `+0.0`: the `STORE` form computes `L - L`, which
      is `+0.0` for every finite `L`, so a pair whose select takes that branch (a pair beyond
      the cutoff, say) adds exactly what it added before (and a non-finite `L` is reported by
      the lane check either way),
    * anything else: no delta, the `STORE` stays.

  Per-agent rules are returned unchanged (`ACC` is a pair-rule instruction), as are the stores
  of a bonded rule to its own agent (slot 0). New registers are
  numbered from `n_regs` on; compaction renumbers them.
  """
  @spec accumulate(Rule.t()) :: Rule.t()
  def accumulate(%Rule{kind: :per_agent} = rule), do: rule

  def accumulate(%Rule{instrs: instrs} = rule) do
    defs = Map.new(for {_, d, _, _, _} = i <- instrs, not Program.effect?(i), do: {d, i})
    st = %{next: rule.n_regs, consts: rule.consts, zero: nil}

    {instrs, st} =
      Enum.flat_map_reduce(instrs, st, fn
        # A bonded rule stores its own agent's lanes (slot 0) like a per-agent rule.
        {:store, _, s, l, v} = instr, st when rule.kind != :bonded or s > 0 ->
          case delta(v, {s, l}, defs) do
            :zero ->
              {[], st}

            nil ->
              {[instr], st}

            tree ->
              {reg, code, st} = emit(tree, st)
              {Enum.reverse([{:acc, 0, s, l, reg} | code]), st}
          end

        instr, st ->
          {[instr], st}
      end)

    %{rule | instrs: instrs, consts: st.consts, n_regs: st.next}
  end

  # The delta of register v against the lane {s, l}, as a tree: :zero, {:reg, r}, {:neg, r},
  # {:select, c, t, e}; nil when v is not the loaded lane plus something.
  defp delta(v, lane, defs) do
    case Map.get(defs, v) do
      {:load, _, s, l, _} when {s, l} == lane ->
        :zero

      {:add, _, a, b, _} ->
        cond do
          load_of?(a, lane, defs) -> {:reg, b}
          load_of?(b, lane, defs) -> {:reg, a}
          true -> nil
        end

      {:sub, _, a, b, _} ->
        if load_of?(a, lane, defs), do: {:neg, b}

      {:select, _, c, t, e} ->
        with dt when dt != nil <- delta(t, lane, defs),
             de when de != nil <- delta(e, lane, defs) do
          if dt == :zero and de == :zero, do: :zero, else: {:select, c, dt, de}
        end

      _ ->
        nil
    end
  end

  defp load_of?(reg, lane, defs) do
    case Map.get(defs, reg) do
      {:load, _, s, l, _} -> {s, l} == lane
      _ -> false
    end
  end

  # Emits the instructions of a delta tree; returns {register, instructions reversed, state}.
  defp emit({:reg, r}, st), do: {r, [], st}

  defp emit({:neg, r}, st) do
    d = st.next
    {d, [{:neg, d, r, 0, 0}], %{st | next: d + 1}}
  end

  defp emit(:zero, %{zero: nil} = st) do
    d = st.next
    index = length(st.consts)
    {d, [{:const, d, index, 0, 0}], %{st | next: d + 1, consts: st.consts ++ [0.0], zero: d}}
  end

  defp emit(:zero, st), do: {st.zero, [], st}

  defp emit({:select, c, t, e}, st) do
    {rt, code_t, st} = emit(t, st)
    {re, code_e, st} = emit(e, st)
    d = st.next
    {d, [{:select, d, c, rt, re} | code_e ++ code_t], %{st | next: d + 1}}
  end

  ## Forward pass: folding, identities, CSE

  defp simplify(rule, consts) do
    init = %{out: [], rename: %{}, known: %{}, seen: %{}, consts: consts, new_consts: []}

    st =
      Enum.reduce(rule.instrs, init, fn instr, st ->
        instr |> rename(st.rename) |> visit(st)
      end)

    cutoff =
      case rule.cutoff do
        nil -> nil
        cutoff -> %{cutoff | reg: Map.get(st.rename, cutoff.reg, cutoff.reg)}
      end

    %{
      rule
      | instrs: Enum.reverse(st.out),
        consts: rule.consts ++ Enum.reverse(st.new_consts),
        cutoff: cutoff,
        claim: rule.claim && Map.get(st.rename, rule.claim, rule.claim)
    }
  end

  defp rename({op, d, a, b, c} = instr, rename) do
    case Program.reads(instr) do
      [] -> instr
      [_] when op in @effects -> {op, d, a, b, r(rename, c)}
      [_] -> {op, d, r(rename, a), b, c}
      [_, _] -> {op, d, r(rename, a), r(rename, b), c}
      [_, _, _] -> {op, d, r(rename, a), r(rename, b), r(rename, c)}
    end
  end

  defp r(rename, reg), do: Map.get(rename, reg, reg)

  defp visit({op, _, _, _, _} = instr, st) when op in @effects,
    do: %{st | out: [instr | st.out]}

  defp visit({:const, d, a, _, _}, st) do
    value = elem(st.consts, a)
    cse({:const, d, a, 0, 0}, {:const, <<value::float>>}, put_in(st.known[d], value))
  end

  defp visit({op, _d, a, b, _} = instr, st) when op in [:param, :box, :load, :uniform, :normal],
    do: cse(instr, {op, a, b}, st)

  defp visit({op, d, _, _, _} = instr, st) do
    reads = Program.reads(instr)
    values = Enum.map(reads, &Map.get(st.known, &1))

    cond do
      Enum.all?(values, &is_float/1) and op != :select and
          Ops.finite?(Ops.apply_op(op, values)) ->
        make_const(d, Ops.apply_op(op, values), st)

      identity = identity(op, reads, values) ->
        alias_to(d, identity, st)

      op == :pow and Enum.at(values, 1) == 2.0 ->
        [x, _] = reads
        visit({:mul, d, x, x, 0}, st)

      true ->
        cse(instr, key(instr, reads), st)
    end
  end

  defp identity(:select, [_c, x, y], [cv | _]) do
    cond do
      x == y -> x
      is_float(cv) and cv != 0.0 -> x
      is_float(cv) -> y
      true -> nil
    end
  end

  defp identity(:mul, [x, _], [_, 1.0]), do: x
  defp identity(:mul, [_, x], [1.0, _]), do: x
  defp identity(:div, [x, _], [_, 1.0]), do: x

  defp identity(:sub, [x, _], [_, zero]) when is_float(zero) and zero == 0.0,
    do: if(negative_zero?(zero), do: nil, else: x)

  defp identity(:add, [x, _], [_, zero]) when is_float(zero) and zero == 0.0,
    do: if(negative_zero?(zero), do: x)

  defp identity(:add, [_, x], [zero, _]) when is_float(zero) and zero == 0.0,
    do: if(negative_zero?(zero), do: x)

  defp identity(_, _, _), do: nil

  defp negative_zero?(x), do: match?(<<1::1, _::63>>, <<x::float>>)

  defp key({op, _d, _a, _b, _c}, reads) when op in @commutative, do: {op, Enum.sort(reads)}
  defp key({op, _d, _a, _b, _c}, reads), do: {op, reads}

  defp cse({_, d, _, _, _} = instr, key, st) do
    case Map.fetch(st.seen, key) do
      {:ok, existing} -> alias_to(d, existing, st)
      :error -> %{st | out: [instr | st.out], seen: Map.put(st.seen, key, d)}
    end
  end

  defp alias_to(d, existing, st) do
    st = put_in(st.rename[d], existing)

    case Map.fetch(st.known, existing) do
      {:ok, value} -> put_in(st.known[d], value)
      :error -> st
    end
  end

  defp make_const(d, value, st) do
    index = tuple_size(st.consts)

    st = %{
      st
      | consts: Tuple.append(st.consts, value),
        new_consts: [value | st.new_consts]
    }

    visit({:const, d, index, 0, 0}, st)
  end

  ## Dead code

  defp eliminate_dead(%Rule{instrs: instrs} = rule) do
    roots =
      for reg <- [rule.cutoff && rule.cutoff.reg, rule.claim], reg, into: MapSet.new(), do: reg

    {kept, _live} =
      instrs
      |> Enum.reverse()
      |> Enum.reduce({[], roots}, fn {_op, d, _, _, _} = instr, {kept, live} ->
        if Program.effect?(instr) or MapSet.member?(live, d) do
          {[instr | kept], Enum.reduce(Program.reads(instr), live, &MapSet.put(&2, &1))}
        else
          {kept, live}
        end
      end)

    %{rule | instrs: kept}
  end

  ## Compaction: registers 0..n-1 in order of definition, a constant pool without gaps

  defp compact(%Rule{instrs: instrs} = rule) do
    consts = List.to_tuple(rule.consts)

    {instrs, st} =
      Enum.map_reduce(instrs, %{regs: %{}, next: 0, pool: %{}, values: []}, fn instr, st ->
        {op, d, a, b, c} = rename(instr, st.regs)

        case op do
          op when op in @effects ->
            {{op, 0, a, b, c}, st}

          :const ->
            value = elem(consts, a)
            bits = <<value::float>>

            {index, st} =
              case Map.fetch(st.pool, bits) do
                {:ok, index} ->
                  {index, st}

                :error ->
                  index = map_size(st.pool)

                  {index,
                   %{st | pool: Map.put(st.pool, bits, index), values: [value | st.values]}}
              end

            {{:const, st.next, index, 0, 0}, define(st, d)}

          _ ->
            {{op, st.next, a, b, c}, define(st, d)}
        end
      end)

    cutoff =
      case rule.cutoff do
        nil -> nil
        cutoff -> %{cutoff | reg: Map.fetch!(st.regs, cutoff.reg)}
      end

    claim = rule.claim && Map.fetch!(st.regs, rule.claim)

    %{
      rule
      | instrs: instrs,
        consts: Enum.reverse(st.values),
        n_regs: st.next,
        cutoff: cutoff,
        claim: claim
    }
  end

  defp define(st, old), do: %{st | regs: Map.put(st.regs, old, st.next), next: st.next + 1}
end
