defmodule BrokenRecord.Zero.Interpreter do
  @moduledoc """
  The reference evaluator of the program: executes one rule body, instruction by instruction,
  with the IEEE semantics of `BrokenRecord.Zero.Ops` (so intermediate NaN and infinities behave
  as in C++).

  It is the oracle of the test suite (the program before and after optimisation must agree on
  it) and the careful path of the generated Elixir code: when the fast float code raises
  (division by zero in an untaken branch, overflow), the same agent or pair is re-evaluated
  here. A non-finite stored value throws `{:brz_nonfinite, slot, lane}`, which the backend turns
  into a `BrokenRecord.Zero.NumericalError`.

  A rule that calls `uniform()` or `normal()` needs a `t:BrokenRecord.Zero.Random.draw/0` (the
  run's seed and step, the rule's index and the agents' identities); other rules take `nil`.
  """

  alias BrokenRecord.Zero.{Box, Ops, Program, Random}
  alias BrokenRecord.Zero.Program.Rule

  @doc """
  Evaluates a rule body on the lane tuples of its slots; returns the written lanes as
  `%{{slot, lane} => value}` (values may be non-finite): `value` is the stored value for a
  `STORE`, `{:acc, delta}` for an `ACC` (pair rules: the register added to the accumulator),
  `{:max, value}` / `{:min, value}` for an `ACCMAX` / `ACCMIN` (the register the accumulator
  reduces).
  """
  @spec eval(Rule.t(), tuple, tuple, Random.draw() | nil) :: %{
          {0 | 1, non_neg_integer} => Ops.value() | {:acc | :max | :min, Ops.value()}
        }
  def eval(%Rule{} = rule, slots, params, draw \\ nil),
    do: rule |> run(slots, params, draw) |> elem(1) |> Map.drop([:removes, :spawns])

  @doc """
  Evaluates a rule body like `eval/4` and also returns what its lifecycle ops ask for
  (`docs/program.md`, "Agent lifecycle"): the slots whose agent is removed, and the children
  spawned as `{type, lanes}` in call-site order, `lanes` a map lane => value (only the lanes the
  `SPAWNLANE`s give).
  """
  @spec lifecycle(Rule.t(), tuple, tuple, Random.draw() | nil) ::
          {%{{0 | 1, non_neg_integer} => term}, [0 | 1],
           [{non_neg_integer, %{non_neg_integer => Ops.value()}}]}
  def lifecycle(%Rule{} = rule, slots, params, draw) do
    {_regs, stores} = run(rule, slots, params, draw)
    {removes, stores} = Map.pop(stores, :removes, [])
    {spawns, stores} = Map.pop(stores, :spawns, [])

    children = for {_site, type, true, lanes} <- Enum.reverse(spawns), do: {type, lanes}

    {stores, removes |> Enum.uniq() |> Enum.sort(), children}
  end

  @doc "Evaluates a rule body and returns the values of registers `regs` (observables)."
  @spec values(Rule.t(), [non_neg_integer], tuple, tuple) :: [Ops.value()]
  def values(%Rule{} = rule, regs, slots, params) do
    {values, _} = run(rule, slots, params, nil)
    Enum.map(regs, &Map.fetch!(values, &1))
  end

  defp run(rule, slots, params, draw) do
    consts = List.to_tuple(rule.consts)

    Enum.reduce(rule.instrs, {%{}, %{}}, fn
      {:store, _, s, l, c}, {regs, stores} ->
        {regs, Map.put(stores, {s, l}, Map.fetch!(regs, c))}

      {:acc, _, s, l, c}, {regs, stores} ->
        {regs, Map.put(stores, {s, l}, {:acc, Map.fetch!(regs, c)})}

      {op, _, s, l, c} = instr, {regs, stores} when op in [:accmax, :accmin] ->
        {regs, Map.put(stores, {s, l}, {Program.reduction(instr), Map.fetch!(regs, c)})}

      {:remove, _, s, _, c}, {regs, stores} ->
        if true?(Map.fetch!(regs, c)),
          do: {regs, Map.update(stores, :removes, [s], &[s | &1])},
          else: {regs, stores}

      {:spawn, _, type, site, c}, {regs, stores} ->
        spawn = {site, type, true?(Map.fetch!(regs, c)), %{}}
        {regs, Map.update(stores, :spawns, [spawn], &[spawn | &1])}

      {:spawnlane, _, site, l, c}, {regs, stores} ->
        # The open spawn of `site` is the head of the list (SPAWNLANEs follow their SPAWN).
        [{^site, type, born, lanes} | rest] = Map.fetch!(stores, :spawns)
        spawn = {site, type, born, Map.put(lanes, l, Map.fetch!(regs, c))}
        {regs, Map.put(stores, :spawns, [spawn | rest])}

      {:const, d, a, _, _}, {regs, stores} ->
        {Map.put(regs, d, elem(consts, a)), stores}

      {:param, d, a, _, _}, {regs, stores} ->
        {Map.put(regs, d, elem(params, a)), stores}

      {:box, d, a, _, _}, {regs, stores} ->
        {Map.put(regs, d, Box.edge_param(params, a)), stores}

      {op, d, site, _, _}, {regs, stores} when op in [:uniform, :normal] ->
        {Map.put(regs, d, Random.draw(draw, op, site)), stores}

      {:load, d, s, l, _}, {regs, stores} ->
        {Map.put(regs, d, slots |> elem(s) |> elem(l)), stores}

      {op, d, _, _, _} = instr, {regs, stores} ->
        args = Enum.map(Program.reads(instr), &Map.fetch!(regs, &1))
        {Map.put(regs, d, Ops.apply_op(op, args)), stores}
    end)
  end

  @doc """
  Whether a pair of an exclusive rule would act (careful path): its claim register
  (`Program.Rule`'s `claim`) is non-zero. Stored values are not checked.
  """
  @spec claim(Rule.t(), tuple, tuple, tuple, Random.draw() | nil) :: boolean
  def claim(%Rule{claim: reg} = rule, a, b, params, draw \\ nil) when reg != nil do
    regs = rule |> run({a, b}, params, draw) |> elem(0)
    Map.fetch!(regs, reg) != 0.0
  end

  # A condition register holds 1.0 or 0.0; any non-zero value (NaN too) counts as true.
  defp true?(value), do: value != 0.0

  @doc "Applies a per-agent rule to one agent's lane tuple (careful path)."
  @spec agent(Rule.t(), tuple, tuple, Random.draw() | nil) :: tuple
  def agent(rule, lanes, params, draw \\ nil) do
    rule
    |> eval({lanes}, params, draw)
    |> Enum.reduce(lanes, fn {{0, lane}, value}, acc ->
      if Ops.finite?(value),
        do: put_elem(acc, lane, value),
        else: throw({:brz_nonfinite, 0, lane})
    end)
  end

  @doc """
  Applies a pair rule to two lane tuples (careful path); returns the deltas in the order of the
  accumulator lanes of `acc_a` and `acc_b`, each `{lanes, reductions}` (`Codegen.Elixir`'s
  `acc_lanes/1` and `acc_reductions/1`): `-0.0` where the slot stores nothing into a sum, `nil`
  where it gives a max or min reduction no value (it stores nothing there, or stores the
  reduction's identity, -inf for a max and +inf for a min, which changes nothing), else the
  delta or the reduced value.
  """
  @spec pair(
          Rule.t(),
          tuple,
          tuple,
          tuple,
          {[non_neg_integer], [:sum | :max | :min]},
          {[non_neg_integer], [:sum | :max | :min]},
          Random.draw() | nil
        ) :: {tuple, tuple}
  def pair(rule, a, b, params, acc_a, acc_b, draw \\ nil) do
    stores = eval(rule, {a, b}, params, draw)
    {deltas(stores, 0, a, acc_a), deltas(stores, 1, b, acc_b)}
  end

  @doc """
  `pair/7` for a pair rule that removes or spawns: `{deltas, removed slots, children}`, the
  last two as `lifecycle/4` gives them.
  """
  @spec pair_lifecycle(
          Rule.t(),
          tuple,
          tuple,
          tuple,
          {[non_neg_integer], [:sum | :max | :min]},
          {[non_neg_integer], [:sum | :max | :min]},
          Random.draw() | nil
        ) :: {{tuple, tuple}, [0 | 1], [{non_neg_integer, map}]}
  def pair_lifecycle(rule, a, b, params, acc_a, acc_b, draw) do
    {stores, removes, children} = lifecycle(rule, {a, b}, params, draw)
    {{deltas(stores, 0, a, acc_a), deltas(stores, 1, b, acc_b)}, removes, children}
  end

  defp deltas(stores, slot, lanes, {acc_lanes, modes}) do
    acc_lanes
    |> Enum.zip(modes)
    |> Enum.map(fn {lane, mode} ->
      case Map.fetch(stores, {slot, lane}) do
        {:ok, {:max, :neg_inf}} ->
          nil

        {:ok, {:min, :inf}} ->
          nil

        {:ok, written} ->
          delta =
            case written do
              {_accumulating, delta} -> delta
              value -> Ops.sub(value, elem(lanes, lane))
            end

          if Ops.finite?(delta), do: delta, else: throw({:brz_nonfinite, slot, lane})

        :error ->
          if mode == :sum, do: -0.0
      end
    end)
    |> List.to_tuple()
  end
end
