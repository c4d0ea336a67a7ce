defmodule BrokenRecord.Zero.Backend.Elixir do
  @moduledoc """
  The pure-Elixir backend: runs a system's program on lane tuples with exactly the semantics of
  `docs/program.md`, using the rule functions generated at compile time by
  `BrokenRecord.Zero.Codegen.Elixir`.

  Per-agent rules map over the agents (consecutive per-agent rules on the same type are fused
  into one pass when the system asks for `:loop_fusion`; the result is identical). Pair rules
  read the state as it was when the rule started and accumulate deltas, added after the last
  pair. A non-finite stored value raises `BrokenRecord.Zero.NumericalError`.

  Its world (`t:t/0`, the `BrokenRecord.Zero.Backend` callbacks) is an immutable value: the
  lanes of every agent, the lanes written so far and the sweeps run so far per path
  (`:agent_elixir` for a per-agent rule, `:all_pairs_elixir` for a pair rule: this backend runs
  every pair rule over all pairs).
  """

  @behaviour BrokenRecord.Zero.Backend

  alias BrokenRecord.Zero.{CompiledSystem, NumericalError, Program, State}
  alias BrokenRecord.Zero.Codegen.Elixir, as: Codegen
  alias BrokenRecord.Zero.Conservation.Sums
  alias BrokenRecord.Zero.Program.Rule

  @typedoc "The agents of each type as lane tuples, by type index."
  @type lanes :: %{non_neg_integer => [tuple]}

  @typedoc """
  A world of this backend: its lanes, the lanes written so far by type
  (`BrokenRecord.Zero.State.from_lanes/4` writes back only those) and its sweeps per path.
  """
  @type t :: %__MODULE__{
          lanes: lanes,
          written: %{non_neg_integer => [non_neg_integer]},
          sweeps: %{atom => non_neg_integer}
        }

  defstruct lanes: %{}, written: %{}, sweeps: %{}

  @impl true
  def new(system, state, _kernels), do: %__MODULE__{lanes: State.to_lanes(system, state)}

  @impl true
  def run(system, %__MODULE__{} = world, run) do
    lanes = run_steps(system, world.lanes, run.rule_ids, run.params, run.steps)

    written =
      if run.steps > 0, do: written(system, world.written, run.rule_ids), else: world.written

    %__MODULE__{lanes: lanes, written: written, sweeps: sweeps(system, world, run)}
  end

  @impl true
  def to_state(system, %__MODULE__{} = world, state),
    do: State.from_lanes(system, state, world.lanes, world.written)

  @impl true
  def column(_system, %__MODULE__{} = world, agent, first_lane, n_lanes) do
    for row <- Map.fetch!(world.lanes, agent.index),
        lane <- first_lane..(first_lane + n_lanes - 1),
        into: <<>>,
        do: <<elem(row, lane)::float-native-64>>
  end

  @impl true
  def rows(_system, %__MODULE__{} = world, agent), do: Map.fetch!(world.lanes, agent.index)

  @impl true
  def counts(system, %__MODULE__{} = world),
    do: Enum.map(system.agents, &length(Map.fetch!(world.lanes, &1.index)))

  @impl true
  def info(system, world) do
    %{
      precision: :f64,
      counts: counts(system, world),
      kernels: [],
      kernel_status: :none,
      kernel_isa: nil,
      sweeps: world.sweeps,
      neighbour_builds: 0
    }
  end

  # Every rule of the run is one sweep a step.
  defp sweeps(_system, world, %{steps: 0}), do: world.sweeps

  defp sweeps(system, world, run) do
    rules = List.to_tuple(system.program.rules)

    Enum.reduce(run.rule_ids, world.sweeps, fn id, acc ->
      path = if elem(rules, id).kind == :per_agent, do: :agent_elixir, else: :all_pairs_elixir

      Map.update(acc, path, run.steps, &(&1 + run.steps))
    end)
  end

  @impl true
  def totals(system, world, agent), do: Sums.agent_totals(agent, rows(system, world, agent))

  # Runs `steps` steps of the rules `rule_ids` (indices into the program) on `lanes`, with
  # `params` the full param tuple (`dt` first).
  defp run_steps(system, lanes, rule_ids, params, steps) do
    plan = plan(system, rule_ids)

    Enum.reduce(1..steps//1, lanes, fn step, lanes ->
      Enum.reduce(plan, lanes, &run_stage(&1, &2, system, params, step))
    end)
  end

  # The lanes written so far plus those the rules `rule_ids` store to.
  defp written(system, written, rule_ids) do
    rules = system.program.rules

    rule_ids
    |> Enum.flat_map(fn id ->
      rule = Enum.at(rules, id)
      for {slot, lane} <- Program.stores(rule), do: {Program.slot_type(rule, slot), lane}
    end)
    |> Enum.reduce(written, fn {type, lane}, acc ->
      Map.update(acc, type, [lane], &Enum.uniq([lane | &1]))
    end)
  end

  # Groups consecutive per-agent rules of one type into fused stages under :loop_fusion.
  defp plan(system, rule_ids) do
    rules = List.to_tuple(system.program.rules)
    fuse? = :loop_fusion in system.options.optimize

    rule_ids
    |> Enum.map(&{&1, elem(rules, &1)})
    |> Enum.chunk_while(
      [],
      fn {id, rule}, acc ->
        case {rule, acc} do
          {%Rule{kind: :per_agent, type_a: t}, [{:agents, t, ids} | _]} when fuse? ->
            {:cont, [{:agents, t, ids ++ [id]}]}

          {%Rule{kind: :per_agent, type_a: t}, []} ->
            {:cont, [{:agents, t, [id]}]}

          {%Rule{kind: :per_agent, type_a: t}, [stage]} ->
            {:cont, stage, [{:agents, t, [id]}]}

          {rule, []} ->
            {:cont, [{:pairs, id, rule}]}

          {rule, [stage]} ->
            {:cont, stage, [{:pairs, id, rule}]}
        end
      end,
      fn
        [] -> {:cont, []}
        [stage] -> {:cont, stage, []}
      end
    )
  end

  defp run_stage({:agents, type, ids}, lanes, system, params, step) do
    module = system.module

    rows =
      lanes
      |> Map.fetch!(type)
      |> Enum.with_index()
      |> Enum.map(fn {row, i} ->
        Enum.reduce(ids, row, fn id, row ->
          try do
            module.__brz_agent__(id, row, params)
          catch
            {:brz_nonfinite, 0, lane} -> numerical!(system, type, i, lane, step)
          end
        end)
      end)

    Map.put(lanes, type, rows)
  end

  defp run_stage({:pairs, id, %Rule{} = rule}, lanes, system, params, step) do
    {acc_a, acc_b} = Codegen.acc_lanes(rule)
    a_rows = Map.fetch!(lanes, rule.type_a)
    pair = fn a, b -> system.module.__brz_pair__(id, a, b, params) end

    ctx = %{
      system: system,
      step: step,
      pair: pair,
      acc_lanes: Map.new([{rule.type_b, acc_b}, {rule.type_a, acc_a}])
    }

    case rule.kind do
      :pair_same ->
        zero = zero_acc(acc_a)
        accs = same_pairs(a_rows, 0, Enum.map(a_rows, fn _ -> zero end), [], ctx, rule.type_a)
        Map.put(lanes, rule.type_a, apply_deltas(a_rows, accs, acc_a, system, rule.type_a, step))

      :pair_cross ->
        b_rows = Map.fetch!(lanes, rule.type_b)
        zero_b = zero_acc(acc_b)
        ctx = Map.put(ctx, :b_rows, b_rows)

        {accs_a, accs_b} =
          cross_pairs(
            a_rows,
            0,
            Enum.map(b_rows, fn _ -> zero_b end),
            zero_acc(acc_a),
            [],
            ctx,
            rule
          )

        lanes
        |> Map.put(rule.type_a, apply_deltas(a_rows, accs_a, acc_a, system, rule.type_a, step))
        |> Map.put(rule.type_b, apply_deltas(b_rows, accs_b, acc_b, system, rule.type_b, step))
    end
  end

  defp zero_acc(lanes), do: List.to_tuple(Enum.map(lanes, fn _ -> -0.0 end))

  # Unordered pairs i < j. `accs` are the accumulators of agents i.. (in order); returns all
  # accumulators in agent order.
  defp same_pairs([], _i, [], done, _ctx, _type), do: Enum.reverse(done)

  defp same_pairs([a | rest], i, [acc_a | rest_accs], done, ctx, type) do
    {acc_a, rest_accs} = inner_same(a, i, i + 1, rest, rest_accs, acc_a, [], ctx, type)
    same_pairs(rest, i + 1, rest_accs, [acc_a | done], ctx, type)
  end

  defp inner_same(_a, _i, _j, [], [], acc_a, out, _ctx, _type), do: {acc_a, Enum.reverse(out)}

  defp inner_same(a, i, j, [b | bs], [acc_b | accs], acc_a, out, ctx, type) do
    {da, db} = call_pair(ctx, a, b, {type, i}, {type, j})
    acc_a = add(acc_a, da, ctx, type, i)
    inner_same(a, i, j + 1, bs, accs, acc_a, [add(acc_b, db, ctx, type, j) | out], ctx, type)
  end

  defp cross_pairs([], _i, accs_b, _zero_a, done_a, _ctx, _rule),
    do: {Enum.reverse(done_a), accs_b}

  defp cross_pairs([a | rest], i, accs_b, zero_a, done_a, ctx, rule) do
    {acc_a, accs_b} = inner_cross(a, i, 0, accs_b, zero_a, [], ctx, rule, ctx.b_rows)
    cross_pairs(rest, i + 1, accs_b, zero_a, [acc_a | done_a], ctx, rule)
  end

  defp inner_cross(_a, _i, _j, [], acc_a, out, _ctx, _rule, []), do: {acc_a, Enum.reverse(out)}

  defp inner_cross(a, i, j, [acc_b | accs], acc_a, out, ctx, rule, [b | bs]) do
    {da, db} = call_pair(ctx, a, b, {rule.type_a, i}, {rule.type_b, j})
    acc_a = add(acc_a, da, ctx, rule.type_a, i)
    acc_b = add(acc_b, db, ctx, rule.type_b, j)
    inner_cross(a, i, j + 1, accs, acc_a, [acc_b | out], ctx, rule, bs)
  end

  defp call_pair(ctx, a, b, {ta, i}, {tb, j}) do
    ctx.pair.(a, b)
  catch
    {:brz_nonfinite, 0, lane} -> numerical!(ctx.system, ta, i, lane, ctx.step)
    {:brz_nonfinite, 1, lane} -> numerical!(ctx.system, tb, j, lane, ctx.step)
  end

  defp add(acc, delta, ctx, type, index) do
    add_tuples(acc, delta)
  rescue
    ArithmeticError ->
      # Find the accumulator that overflowed, to name its field.
      k =
        Enum.find(0..(tuple_size(acc) - 1), fn k ->
          try do
            _ = elem(acc, k) + elem(delta, k)
            false
          rescue
            ArithmeticError -> true
          end
        end)

      numerical!(ctx.system, type, index, Enum.at(Map.fetch!(ctx.acc_lanes, type), k), ctx.step)
  end

  defp add_tuples(acc, delta) do
    acc
    |> Tuple.to_list()
    |> Enum.zip_with(Tuple.to_list(delta), &(&1 + &2))
    |> List.to_tuple()
  end

  defp apply_deltas(rows, accs, acc_lanes, system, type, step) do
    rows
    |> Enum.zip(accs)
    |> Enum.with_index()
    |> Enum.map(fn {{row, acc}, i} ->
      acc_lanes
      |> Enum.with_index()
      |> Enum.reduce(row, fn {lane, k}, row ->
        value =
          try do
            elem(row, lane) + elem(acc, k)
          rescue
            ArithmeticError -> numerical!(system, type, i, lane, step)
          end

        put_elem(row, lane, value)
      end)
    end)
  end

  @doc false
  @spec numerical!(
          CompiledSystem.t(),
          non_neg_integer,
          non_neg_integer,
          non_neg_integer,
          pos_integer
        ) ::
          no_return
  def numerical!(system, type, index, lane, step) do
    agent = Enum.at(system.agents, type)

    field = BrokenRecord.Zero.IR.Agent.field_at_lane(agent, lane)
    raise NumericalError.new(agent.name, agent.collection, index, field.name, step)
  end
end
