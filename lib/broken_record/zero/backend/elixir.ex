defmodule BrokenRecord.Zero.Backend.Elixir do
  @moduledoc """
  The pure-Elixir backend: runs a system's program on lane tuples with exactly the semantics of
  `docs/program.md`, using the rule functions generated at compile time by
  `BrokenRecord.Zero.Codegen.Elixir`.

  Per-agent rules map over the agents (consecutive per-agent rules on the same type are fused
  into one pass when the system asks for `:loop_fusion`; the result is identical). Pair rules
  read the state as it was when the rule started and accumulate deltas, added after the last
  pair. A non-finite stored value raises `BrokenRecord.Zero.NumericalError`.

  A pair rule with a cutoff whose bound depends on constants and params only visits the pairs
  that `BrokenRecord.Zero.Backend.Elixir.Cells` finds within it (a cell list); any other pair
  rule visits all pairs. Either way the pairs are applied in ascending order of slot 0, then
  slot 1, as the all-pairs sweep does.

  In a periodic space (`BrokenRecord.Zero.Space`) the box edges follow the params (the `BOX`
  instruction), and after every step coordinates are wrapped into the box
  (`BrokenRecord.Zero.Box.wrap/3`), each agent's crossings counted for unwrapped columns, as the
  engine does.

  Its world (`t:t/0`, the `BrokenRecord.Zero.Backend` callbacks) is an immutable value: the
  lanes of every agent, the lanes written so far, the sweeps run so far per path
  (`:agent_elixir` for a per-agent rule, `:all_pairs_elixir` and `:cells_elixir` for a pair
  rule over all pairs or a cell list), the box and crossings, the time spent, the seed of its
  random numbers and its step counter (the index of the next step, `BrokenRecord.Zero.Random`).

  Rules that remove or spawn agents (`docs/program.md`, "Agent lifecycle") run through
  `BrokenRecord.Zero.Interpreter`; the world then keeps, for each type whose agents changed,
  their identities (`ids`, in agent order) and the next identity to give (`next_ids`); a type
  without an entry has the identities `0..n-1` and next identity `n`.
  """

  @behaviour BrokenRecord.Zero.Backend

  alias BrokenRecord.Zero.{
    Box,
    Columns,
    CompiledSystem,
    Interpreter,
    NumericalError,
    Observables,
    Ops,
    Program,
    Random,
    References,
    Space,
    State
  }

  alias BrokenRecord.Zero.Backend.Elixir.Cells
  alias BrokenRecord.Zero.Codegen.Elixir, as: Codegen
  alias BrokenRecord.Zero.Conservation.Sums
  alias BrokenRecord.Zero.Program.Rule

  @typedoc "The agents of each type as lane tuples, by type index."
  @type lanes :: %{non_neg_integer => [tuple]}

  @typedoc """
  A world of this backend: its lanes, the lanes written so far by type
  (`BrokenRecord.Zero.State.from_lanes/4` writes back only those), its sweeps per path, the box
  (`nil` in open space), each agent's box crossings (`{ix, iy, iz}` per agent of a type with
  coordinates, in a periodic space) and the seconds spent running and in pair sweeps.
  """
  @type t :: %__MODULE__{
          lanes: lanes,
          written: %{non_neg_integer => [non_neg_integer]},
          sweeps: %{atom => non_neg_integer},
          box: Box.t() | nil,
          images: %{non_neg_integer => [{integer, integer, integer}]},
          timings: %{run: float, pairs: float, neighbour: float},
          seed: BrokenRecord.Zero.Random.seed(),
          step: non_neg_integer,
          ids: %{non_neg_integer => [non_neg_integer]},
          next_ids: %{non_neg_integer => non_neg_integer}
        }

  defstruct seed: 0,
            step: 0,
            lanes: %{},
            written: %{},
            sweeps: %{},
            box: nil,
            images: %{},
            ids: %{},
            next_ids: %{},
            timings: %{run: 0.0, pairs: 0.0, neighbour: 0.0}

  @impl true
  def new(system, state, opts) do
    # A collection given as columns comes back from to_state/3 with every field.
    written =
      for agent <- system.agents,
          is_map(state) and Columns.columns?(Map.get(state, agent.collection)),
          into: %{},
          do: {agent.index, Enum.to_list(0..(agent.lanes - 1)//1)}

    world = %__MODULE__{
      lanes: State.to_lanes(system, state),
      written: written,
      box: opts.box,
      seed: opts.seed,
      step: opts.start_step
    }

    if opts.box do
      zero =
        for {type, rows} <- world.lanes,
            coord_lane(system, type),
            into: %{},
            do: {type, Enum.map(rows, fn _ -> {0, 0, 0} end)}

      before = world.lanes
      world = wrap(system, %{world | images: zero})
      # Agents given outside the box come back wrapped.
      written =
        for {type, rows} <- world.lanes,
            rows != Map.fetch!(before, type),
            into: written,
            do: {type, Enum.uniq(Map.get(written, type, []) ++ coord_lanes(system, type))}

      %{world | written: written}
    else
      world
    end
  end

  @impl true
  def run(system, %__MODULE__{} = world, run) do
    t0 = System.monotonic_time()
    params = Box.with_edges(run.params, world.box)
    reaches = reaches(system, run.rule_ids, params)
    world = run_steps(system, world, run, params, reaches)
    world = %{world | step: world.step + run.steps}

    written =
      if run.steps > 0, do: written(system, world.written, run.rule_ids), else: world.written

    %{
      world
      | written: written,
        sweeps: sweeps(system, world, run, reaches),
        timings: Map.update!(world.timings, :run, &(&1 + seconds_since(t0)))
    }
  end

  defp seconds_since(t0),
    do: System.convert_time_unit(System.monotonic_time() - t0, :native, :nanosecond) / 1.0e9

  # The first lane of a type's coordinate field in a periodic space, or nil.
  defp coord_lane(system, type) do
    case system.program.coord_lanes do
      [] -> nil
      lanes -> Enum.at(lanes, type)
    end
  end

  defp coord_lanes(system, type) do
    lane = coord_lane(system, type)
    [lane, lane + 1, lane + 2]
  end

  # Wraps the coordinates of every type that has them into the box, counting crossings.
  defp wrap(system, world) do
    axes = Space.axis_indices(system.space)

    Enum.reduce(world.images, world, fn {type, images}, world ->
      lane = coord_lane(system, type)

      {rows, images} =
        world.lanes
        |> Map.fetch!(type)
        |> Enum.zip(images)
        |> Enum.map(fn {row, image} -> wrap_row(row, image, lane, axes, world.box) end)
        |> Enum.unzip()

      %{
        world
        | lanes: Map.put(world.lanes, type, rows),
          images: Map.put(world.images, type, images)
      }
    end)
  end

  defp wrap_row(row, image, lane, axes, box) do
    Enum.reduce(axes, {row, image}, fn axis, {row, image} ->
      x = elem(row, lane + axis)

      case Box.wrap(box, axis, x) do
        {^x, 0} -> {row, image}
        {y, k} -> {put_elem(row, lane + axis, y), put_elem(image, axis, elem(image, axis) + k)}
      end
    end)
  end

  @impl true
  def to_state(system, %__MODULE__{} = world, state),
    do: State.from_lanes(system, state, world.lanes, world.written, world.ids)

  @impl true
  def column(system, %__MODULE__{} = world, agent, first_lane, n_lanes, unwrapped?) do
    rows = Map.fetch!(world.lanes, agent.index)
    lanes = first_lane..(first_lane + n_lanes - 1)

    case {unwrapped?, Map.fetch(world.images, agent.index)} do
      {true, {:ok, images}} ->
        coord = coord_lane(system, agent.index)
        axes = Space.axis_indices(system.space)

        for {row, image} <- Enum.zip(rows, images), lane <- lanes, into: <<>> do
          axis = lane - coord
          x = elem(row, lane)
          x = if axis in axes, do: Box.unwrap(world.box, axis, x, elem(image, axis)), else: x
          <<x::float-native-64>>
        end

      _ ->
        for row <- rows, lane <- lanes, into: <<>>, do: <<elem(row, lane)::float-native-64>>
    end
  end

  @impl true
  def put_column(system, %__MODULE__{} = world, agent, first_lane, n_lanes, binary) do
    field = Enum.find(agent.fields, &(&1.lane == first_lane))
    type = agent.index
    columns = Columns.decode!(field, binary, "#{agent.collection}", system.options.precision)
    lanes = Enum.to_list(first_lane..(first_lane + n_lanes - 1))

    rows =
      [Map.fetch!(world.lanes, type) | columns]
      |> Enum.zip_with(fn [row | values] ->
        lanes |> Enum.zip(values) |> Enum.reduce(row, fn {l, v}, row -> put_elem(row, l, v) end)
      end)

    world = %{
      world
      | lanes: Map.put(world.lanes, type, rows),
        written: Map.update(world.written, type, lanes, &Enum.uniq(&1 ++ lanes))
    }

    # Coordinates given outside a periodic box are wrapped in, their crossings counted.
    if coord_lane(system, type) == first_lane and Map.has_key?(world.images, type),
      do: wrap(system, world),
      else: world
  end

  @impl true
  def identities(_system, %__MODULE__{} = world, agent) do
    type = agent.index
    n = length(Map.fetch!(world.lanes, type))
    ids = Map.get_lazy(world.ids, type, fn -> Enum.to_list(0..(n - 1)//1) end)
    next_id = Map.get(world.next_ids, type, n)

    images =
      case Map.fetch(world.images, type) do
        {:ok, images} ->
          for {x, y, z} <- images,
              into: <<>>,
              do: <<x::signed-native-64, y::signed-native-64, z::signed-native-64>>

        :error ->
          nil
      end

    {for(id <- ids, into: <<>>, do: <<id::native-32>>), next_id, images}
  end

  @impl true
  def put_identities(_system, %__MODULE__{} = world, agent, ids, next_id, images) do
    type = agent.index
    n = length(Map.fetch!(world.lanes, type))
    ids = if byte_size(ids) == 4 * n, do: for(<<id::native-32 <- ids>>, do: id), else: nil

    unless ids != nil and next_id >= n and next_id <= 0x100000000 and
             Enum.all?(ids, &(&1 < next_id)) and length(Enum.uniq(ids)) == n do
      raise ArgumentError,
            "world: the identities of type #{type} must be distinct and below the next " <>
              "identity, in #{n}..2^32"
    end

    world =
      if next_id == n and ids == Enum.to_list(0..(n - 1)//1),
        do: %{
          world
          | ids: Map.delete(world.ids, type),
            next_ids: Map.delete(world.next_ids, type)
        },
        else: %{
          world
          | ids: Map.put(world.ids, type, ids),
            next_ids: Map.put(world.next_ids, type, next_id)
        }

    case {Map.has_key?(world.images, type), images} do
      {false, nil} ->
        world

      {true, images} when is_binary(images) and byte_size(images) == 24 * n ->
        counters =
          for <<x::signed-native-64, y::signed-native-64, z::signed-native-64 <- images>>,
            do: {x, y, z}

        %{world | images: Map.put(world.images, type, counters)}

      _ ->
        raise ArgumentError, "images: the image counters of type #{type} do not match the world"
    end
  end

  # A world is a value: the copy is the world itself, stepped apart from then on.
  @impl true
  def copy(_system, %__MODULE__{} = world), do: world

  @impl true
  def rows(_system, %__MODULE__{} = world, agent), do: Map.fetch!(world.lanes, agent.index)

  @impl true
  def observe_paths(_system, %__MODULE__{}, observables),
    do: Enum.map(observables, fn _ -> :elixir end)

  @impl true
  def observe(system, %__MODULE__{} = world, observables) do
    # Observables read no params: zeros, then the box edges (BOX).
    params = Box.with_edges(List.to_tuple(Enum.map(system.params, fn _ -> 0.0 end)), world.box)
    ids = Map.new(Map.keys(world.lanes), &{&1, identities(world, &1)})
    Observables.evaluate(observables, world.lanes, params, ids)
  end

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
      neighbour_builds: 0,
      box: world.box && Box.to_corners(world.box),
      timings: world.timings,
      step: world.step,
      seed: world.seed
    }
  end

  # Every rule of the run is one sweep a step.
  defp sweeps(_system, world, %{steps: 0}, _reaches), do: world.sweeps

  defp sweeps(system, world, run, reaches) do
    rules = List.to_tuple(system.program.rules)

    Enum.reduce(run.rule_ids, world.sweeps, fn id, acc ->
      path =
        case {elem(rules, id), Map.get(reaches, id)} do
          {%Rule{kind: :per_agent}, _} -> :agent_elixir
          {%Rule{kind: :bonded}, _} -> :bonded_elixir
          {%Rule{claim: claim}, _} when claim != nil -> :exclusive_elixir
          {_, nil} -> :all_pairs_elixir
          {_, _reach} -> :cells_elixir
        end

      Map.update(acc, path, run.steps, &(&1 + run.steps))
    end)
  end

  # The reach of each pair rule of the run (`reach/2`): params do not change during a run.
  defp reaches(system, rule_ids, params) do
    rules = List.to_tuple(system.program.rules)

    for id <- Enum.uniq(rule_ids),
        %Rule{kind: kind} = rule = elem(rules, id),
        kind != :per_agent,
        into: %{},
        do: {id, if(Program.lifecycle_rule?(rule), do: nil, else: reach(rule, params))}
  end

  # The cutoff bound of a pair rule when it depends on constants, params and the box only and is
  # a positive float: the cell list serves the rule. nil: the rule visits all pairs (a rule that
  # removes or spawns always does, as in the engine).
  defp reach(%Rule{cutoff: nil}, _params), do: nil

  defp reach(%Rule{cutoff: %{reg: reg}} = rule, params) do
    consts = List.to_tuple(rule.consts)

    values =
      Enum.reduce_while(rule.instrs, %{}, fn
        {:const, d, a, _, _}, acc ->
          {:cont, Map.put(acc, d, elem(consts, a))}

        {:param, d, a, _, _}, acc ->
          {:cont, Map.put(acc, d, elem(params, a))}

        {:box, d, a, _, _}, acc ->
          {:cont, Map.put(acc, d, Box.edge_param(params, a))}

        {op, _, _, _, _}, acc when op in [:load, :uniform, :normal] ->
          {:cont, acc}

        instr, acc ->
          args = Enum.map(Program.reads(instr), &Map.get(acc, &1))

          if not Program.effect?(instr) and Enum.all?(args, &(&1 != nil)),
            do: {:cont, Map.put(acc, elem(instr, 1), Ops.apply_op(elem(instr, 0), args))},
            else: {:cont, acc}
      end)

    case Map.get(values, reg) do
      bound when is_float(bound) and bound > 0.0 -> bound
      _ -> nil
    end
  end

  @impl true
  def totals(system, world, agent), do: Sums.agent_totals(agent, rows(system, world, agent))

  # Runs `steps` steps of the rules `rule_ids` (indices into the program) on the world, with
  # `params` the full param tuple (`dt` first, then the box edges in a periodic space).
  # `reaches` holds each pair rule's reach.
  defp run_steps(system, world, run, params, reaches) do
    plan = plan(system, run.rule_ids)
    if run.steps > 0, do: check_cutoffs!(system, run.rule_ids, reaches, world.box)

    Enum.reduce(1..run.steps//1, world, fn step, world ->
      world = Enum.reduce(plan, world, &run_stage(&1, &2, system, params, reaches, step))
      if world.box, do: wrap(system, world), else: world
    end)
  end

  # A cutoff beyond half a periodic edge would need more than the nearest image.
  defp check_cutoffs!(_system, _rule_ids, _reaches, nil), do: :ok

  defp check_cutoffs!(system, rule_ids, reaches, box) do
    edges = Box.edges(box)

    for id <- rule_ids,
        bound = Map.get(reaches, id),
        axis <- Space.axis_indices(system.space),
        bound > elem(edges, axis) / 2 do
      Box.cutoff_too_large!(system, id, bound, axis, box)
    end

    :ok
  end

  # The lanes written so far plus those the rules `rule_ids` store to.
  defp written(system, written, rule_ids) do
    rules = system.program.rules

    rule_ids
    |> Enum.flat_map(fn id ->
      rule = Enum.at(rules, id)

      for({slot, lane} <- Program.stores(rule), do: {Program.slot_type(rule, slot), lane}) ++
        for type <- Program.removed_with(system.program, lifecycle_types(rule)),
            lane <- 0..(Enum.at(system.program.types, type) - 1),
            do: {type, lane}
    end)
    |> Enum.reduce(written, fn {type, lane}, acc ->
      Map.update(acc, type, [lane], &Enum.uniq([lane | &1]))
    end)
  end

  # The types whose agents a rule removes or spawns.
  defp lifecycle_types(rule) do
    Enum.uniq(
      for({:remove, _, slot, _, _} <- rule.instrs, do: Program.slot_type(rule, slot)) ++
        for({:spawn, _, type, _, _} <- rule.instrs, do: type)
    )
  end

  # Groups consecutive per-agent rules of one type into fused stages under :loop_fusion; a
  # rule that removes or spawns is a stage of its own.
  defp plan(system, rule_ids) do
    rules = List.to_tuple(system.program.rules)
    fuse? = :loop_fusion in system.options.optimize

    rule_ids
    |> Enum.map(&{&1, elem(rules, &1)})
    |> Enum.chunk_while(
      [],
      fn {id, rule}, acc ->
        lifecycle? = Program.lifecycle_rule?(rule)

        case {rule, acc} do
          {rule, []} when lifecycle? ->
            {:cont, [{:life, id, rule}]}

          {rule, [stage]} when lifecycle? ->
            {:cont, stage, [{:life, id, rule}]}

          {%Rule{kind: :per_agent, type_a: t}, [{:agents, t, ids} | _]} when fuse? ->
            {:cont, [{:agents, t, ids ++ [id]}]}

          {%Rule{kind: :per_agent, type_a: t}, []} ->
            {:cont, [{:agents, t, [id]}]}

          {%Rule{kind: :per_agent, type_a: t}, [stage]} ->
            {:cont, stage, [{:agents, t, [id]}]}

          {%Rule{kind: :bonded}, []} ->
            {:cont, [{:bonds, id, rule}]}

          {%Rule{kind: :bonded}, [stage]} ->
            {:cont, stage, [{:bonds, id, rule}]}

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

  defp run_stage({:agents, type, ids}, world, system, params, _reaches, step) do
    module = system.module
    source = random_source(world, step)

    rows =
      world.lanes
      |> Map.fetch!(type)
      |> Enum.zip(identities(world, type))
      |> Enum.with_index()
      |> Enum.map(fn {{row, identity}, i} ->
        Enum.reduce(ids, row, fn id, row ->
          try do
            module.__brz_agent__(id, row, params, source, identity)
          catch
            {:brz_nonfinite, 0, lane} -> numerical!(system, type, i, lane, step)
          end
        end)
      end)

    %{world | lanes: Map.put(world.lanes, type, rows)}
  end

  defp run_stage({:pairs, id, %Rule{} = rule}, world, system, params, reaches, step) do
    t0 = System.monotonic_time()
    ctx = pair_context(system, world, id, rule, params, step, random_source(world, step))

    {accs, neighbour} =
      case Map.fetch!(reaches, id) do
        _ when rule.claim != nil -> {exclusive_pairs(world, id, rule, params, ctx), 0.0}
        nil when rule.exclude != nil -> {excluding_pairs(world, system, rule, ctx), 0.0}
        nil -> {all_pairs(world.lanes, rule, ctx), 0.0}
        reach -> cell_pairs(world, system, rule, reach, ctx)
      end

    lanes = apply_pair_deltas(world.lanes, rule, accs, system, step)

    timings =
      world.timings
      |> Map.update!(:pairs, &(&1 + seconds_since(t0) - neighbour))
      |> Map.update!(:neighbour, &(&1 + neighbour))

    %{world | lanes: lanes, timings: timings}
  end

  # A bonded rule (docs/program.md, "Bonded rules"): each agent of its type in order through
  # the interpreter, with the agents its references name in slots 1, 2, ...; its own lanes
  # are set, what it stores through a reference goes to that agent's accumulator (as a pair
  # rule's delta), added once every agent is done.
  defp run_stage({:bonds, id, %Rule{} = rule}, world, system, params, _reaches, step) do
    source = random_source(world, step)
    type = rule.type_a
    targets = Enum.uniq(for {_lane, t} <- rule.refs, do: t)

    rows_of =
      Map.new(targets, fn t ->
        rows = List.to_tuple(Map.fetch!(world.lanes, t))
        {t, {rows, References.index(identities(world, t))}}
      end)

    {rows, accs} =
      world.lanes
      |> Map.fetch!(type)
      |> Enum.zip(identities(world, type))
      |> Enum.with_index()
      |> Enum.map_reduce(%{}, fn {{row, identity}, i}, accs ->
        referenced =
          Enum.map(rule.refs, fn {lane, t} ->
            {rows, index} = Map.fetch!(rows_of, t)
            at = referenced_index!(system, index, elem(row, lane), type, i, lane, t)
            {t, at, elem(rows, at)}
          end)

        slots = List.to_tuple([row | Enum.map(referenced, &elem(&1, 2))])
        draw = Random.draw_of(source, id, :per_agent, identity, nil)
        stores = Interpreter.eval(rule, slots, params, draw)

        Enum.reduce(stores, {row, accs}, fn
          {{0, lane}, value}, {row, accs} ->
            if Ops.finite?(value),
              do: {put_elem(row, lane, value), accs},
              else: numerical!(system, type, i, lane, step)

          {{slot, lane}, written}, {row, accs} ->
            {t, at, target} = Enum.at(referenced, slot - 1)
            {mode, value} = bond_delta(written, elem(target, lane))
            {row, Map.update(accs, {t, lane, at}, {mode, value}, &bond_combine(&1, value))}
        end)
      end)

    lanes =
      accs
      |> Enum.group_by(fn {{t, _lane, at}, _} -> {t, at} end, fn {{_, lane, _}, acc} ->
        {lane, acc}
      end)
      |> Enum.group_by(fn {{t, _at}, _} -> t end, fn {{_, at}, per_lane} -> {at, per_lane} end)
      |> Enum.reduce(Map.put(world.lanes, type, rows), fn {t, per_agent}, lanes ->
        per_agent = Map.new(per_agent)

        Map.update!(lanes, t, fn rows ->
          rows
          |> Enum.with_index()
          |> Enum.map(fn {row, at} ->
            per_agent
            |> Map.get(at, [])
            |> Enum.reduce(row, fn {lane, acc}, row ->
              value = bond_apply(acc, elem(row, lane))

              if Ops.finite?(value),
                do: put_elem(row, lane, value),
                else: numerical!(system, t, at, lane, step)
            end)
          end)
        end)
      end)

    %{world | lanes: lanes}
  end

  # A per-agent rule that removes or spawns: each agent through the interpreter, then the
  # removals and children (docs/program.md, "Agent lifecycle").
  defp run_stage({:life, id, %Rule{kind: :per_agent} = rule}, world, system, params, _, step) do
    source = random_source(world, step)
    type = rule.type_a

    {rows, dead, children} =
      world.lanes
      |> Map.fetch!(type)
      |> Enum.zip(identities(world, type))
      |> Enum.with_index()
      |> Enum.reduce({[], [], []}, fn {{row, identity}, i}, {rows, dead, children} ->
        draw = Random.draw_of(source, id, :per_agent, identity, nil)
        {stores, removes, kids} = Interpreter.lifecycle(rule, {row}, params, draw)

        row =
          Enum.reduce(stores, row, fn {{0, lane}, value}, row ->
            if Ops.finite?(value),
              do: put_elem(row, lane, value),
              else: numerical!(system, type, i, lane, step)
          end)

        dead = if removes == [], do: dead, else: [i | dead]
        {[row | rows], dead, Enum.reverse(kids, children)}
      end)

    world = %{world | lanes: Map.put(world.lanes, type, Enum.reverse(rows))}
    end_lifecycle(world, system, [{type, dead}], Enum.reverse(children), step)
  end

  # A pair rule that removes or spawns: every pair through the interpreter in ascending
  # (slot 0, slot 1) order, deltas combined as in any pair rule, then the removals and
  # children in pair order.
  defp run_stage({:life, id, %Rule{} = rule}, world, system, params, _reaches, step) do
    t0 = System.monotonic_time()
    source = random_source(world, step)
    ctx = pair_context(system, world, id, rule, params, step, source)
    same? = rule.kind == :pair_same
    a_rows = List.to_tuple(Map.fetch!(world.lanes, rule.type_a))
    b_rows = List.to_tuple(Map.fetch!(world.lanes, rule.type_b))
    {ids_a, ids_b} = ctx.ids
    {lanes_a, lanes_b} = Codegen.acc_lanes(rule)
    {modes_a, modes_b} = Codegen.acc_reductions(rule)
    na = tuple_size(a_rows)
    nb = tuple_size(b_rows)

    pairs =
      if rule.claim != nil,
        do: exclusive_choice(world, id, rule, params, ctx),
        else:
          for(
            i <- 0..(na - 1)//1,
            j <- if(same?, do: (i + 1)..(nb - 1)//1, else: 0..(nb - 1)//1),
            do: {i, j}
          )

    {accs_a, accs_b, dead, children} =
      Enum.reduce(pairs, {%{}, %{}, [], []}, fn {i, j}, {accs_a, accs_b, dead, children} ->
        draw = Random.draw_of(source, id, rule.kind, elem(ids_a, i), elem(ids_b, j))

        {{da, db}, removes, kids} =
          try do
            Interpreter.pair_lifecycle(
              rule,
              elem(a_rows, i),
              elem(b_rows, j),
              params,
              {lanes_a, modes_a},
              {lanes_b, modes_b},
              draw
            )
          catch
            {:brz_nonfinite, 0, lane} -> numerical!(system, rule.type_a, i, lane, step)
            {:brz_nonfinite, 1, lane} -> numerical!(system, rule.type_b, j, lane, step)
          end

        accs_a = accumulate(accs_a, i, da, modes_a, ctx, rule.type_a)

        {accs_a, accs_b} =
          if same?,
            do: {accumulate(accs_a, j, db, modes_a, ctx, rule.type_a), accs_b},
            else: {accs_a, accumulate(accs_b, j, db, modes_b, ctx, rule.type_b)}

        dead = Enum.reduce(removes, dead, &[{&1, if(&1 == 0, do: i, else: j)} | &2])
        {accs_a, accs_b, dead, Enum.reverse(kids, children)}
      end)

    accs =
      Enum.map([{accs_a, modes_a, na}, {accs_b, modes_b, nb}], fn {accs, modes, n} ->
        zero = zero_acc(modes)
        for i <- 0..(n - 1)//1, do: Map.get(accs, i, zero)
      end)

    accs = if same?, do: [hd(accs)], else: accs
    world = %{world | lanes: apply_pair_deltas(world.lanes, rule, accs, system, step)}
    timings = Map.update!(world.timings, :pairs, &(&1 + seconds_since(t0)))

    removed =
      if same?,
        do: [{rule.type_a, for({_, x} <- dead, do: x)}],
        else: [
          {rule.type_b, for({1, x} <- dead, do: x)},
          {rule.type_a, for({0, x} <- dead, do: x)}
        ]

    end_lifecycle(%{world | timings: timings}, system, removed, Enum.reverse(children), step)
  end

  # The index of the living agent of type `t` with the identity a reference lane holds.
  defp referenced_index!(system, index, value, type, i, lane, t) do
    case References.lookup(index, value) do
      {:ok, at} -> at
      :error -> dangling!(system, index, value, type, i, lane, t)
    end
  end

  defp dangling!(system, index, value, type, i, lane, t) do
    agent = Enum.at(system.agents, type)
    field = Enum.find(agent.fields, &(&1.lane == lane))

    raise ArgumentError,
          "#{agent.name} #{i}: #{field.name} references #{inspect(value)}, not a living " <>
            "#{Enum.at(system.agents, t).name} (of #{map_size(index)})"
  end

  # What one application gives a referenced agent's accumulator: `stored - start` for a STORE,
  # the register of an ACC, the value of an ACCMAX / ACCMIN (nil for the reduction's identity).
  defp bond_delta({:acc, delta}, _start), do: {:sum, delta}
  defp bond_delta({:max, :neg_inf}, _start), do: {:max, nil}
  defp bond_delta({:min, :inf}, _start), do: {:min, nil}
  defp bond_delta({mode, value}, _start) when mode in [:max, :min], do: {mode, value}
  defp bond_delta(value, start), do: {:sum, Ops.sub(value, start)}

  defp bond_combine({:sum, acc}, delta), do: {:sum, Ops.add(acc, delta)}
  defp bond_combine({mode, nil}, value), do: {mode, value}
  defp bond_combine({mode, acc}, value), do: {mode, combine(mode, acc, value)}

  # The lane after the rule (`apply_deltas/7`'s arithmetic).
  defp bond_apply({:sum, sum}, value), do: Ops.add(value, sum)
  defp bond_apply({_mode, nil}, value), do: value
  defp bond_apply({mode, reduced}, value), do: combine(mode, value, Ops.add(reduced, 0.0))

  # The seed and step index of the `step`-th step (1-based) of a run (BrokenRecord.Zero.Random).
  defp random_source(world, step), do: {world.seed, world.step + step - 1}

  # What a pair sweep needs to call the rule and to name an agent in a NumericalError; `ids`
  # the identities of both slots' rows (tuples) and `source` the step's random source, which
  # the exclusive and lifecycle stages key their draws on too.
  defp pair_context(system, world, id, rule, params, step, source) do
    {acc_a, acc_b} = Codegen.acc_lanes(rule)
    {modes_a, modes_b} = Codegen.acc_reductions(rule)
    ids_a = List.to_tuple(identities(world, rule.type_a))
    ids_b = List.to_tuple(identities(world, rule.type_b))

    %{
      system: system,
      step: step,
      source: source,
      ids: {ids_a, ids_b},
      pair: fn a, b, i, j ->
        system.module.__brz_pair__(id, a, b, params, source, elem(ids_a, i), elem(ids_b, j))
      end,
      acc_lanes: Map.new([{rule.type_b, acc_b}, {rule.type_a, acc_a}]),
      acc_modes: Map.new([{rule.type_b, modes_b}, {rule.type_a, modes_a}]),
      reduces: Enum.any?(modes_a ++ modes_b, &(&1 != :sum))
    }
  end

  # The accumulators of a pair sweep, in agent order: `[slot-0 type's]` for a same-type rule,
  # `[slot-0 type's, slot-1 type's]` for a cross-type one.
  defp apply_pair_deltas(lanes, rule, accs, system, step) do
    rule
    |> pair_types()
    |> Enum.zip(accs)
    |> Enum.reduce(lanes, fn {{type, acc_lanes, modes}, type_accs}, lanes ->
      rows = Map.fetch!(lanes, type)
      Map.put(lanes, type, apply_deltas(rows, type_accs, acc_lanes, modes, system, type, step))
    end)
  end

  # The agent types a pair rule accumulates into, with their accumulator lanes and how each
  # combines (`Codegen.acc_reductions/1`).
  defp pair_types(%Rule{kind: :pair_same} = rule),
    do: [{rule.type_a, elem(Codegen.acc_lanes(rule), 0), elem(Codegen.acc_reductions(rule), 0)}]

  defp pair_types(%Rule{} = rule) do
    {acc_a, acc_b} = Codegen.acc_lanes(rule)
    {modes_a, modes_b} = Codegen.acc_reductions(rule)
    [{rule.type_a, acc_a, modes_a}, {rule.type_b, acc_b, modes_b}]
  end

  # The pairs within `reach` from a cell list, in ascending (slot 0, slot 1) order, as the
  # all-pairs sweep visits them; returns the accumulators and the seconds spent finding pairs.
  defp cell_pairs(world, system, rule, reach, ctx) do
    axes = Space.axis_indices(ctx.system.space)
    types = pair_types(rule)
    rows = Enum.map(types, fn {type, _, _} -> Map.fetch!(world.lanes, type) end)

    points = fn rows, lane ->
      Enum.map(rows, &{elem(&1, lane), elem(&1, lane + 1), elem(&1, lane + 2)})
    end

    t0 = System.monotonic_time()

    pairs =
      case rows do
        [a_rows] ->
          Cells.same(points.(a_rows, rule.cutoff.lane_a), reach, world.box, axes)

        [a_rows, b_rows] ->
          a_points = points.(a_rows, rule.cutoff.lane_a)
          Cells.cross(a_points, points.(b_rows, rule.cutoff.lane_b), reach, world.box, axes)
      end

    pairs = drop_excluded(pairs, world, system, rule)
    neighbour = seconds_since(t0)
    {pair_accs(pairs, rows, rule, ctx), neighbour}
  end

  # Every pair of a same-type rule with exclusions but no cutoff but those it skips.
  defp excluding_pairs(world, system, rule, ctx) do
    rows = Map.fetch!(world.lanes, rule.type_a)
    n = length(rows)
    pairs = for i <- 0..(n - 1)//1, j <- (i + 1)..(n - 1)//1, do: {i, j}
    pair_accs(drop_excluded(pairs, world, system, rule), [rows], rule, ctx)
  end

  defp drop_excluded(pairs, _world, _system, %Rule{exclude: nil}), do: pairs

  defp drop_excluded(pairs, world, system, rule) do
    excluded = excluded_pairs(world, system, rule)
    Enum.reject(pairs, &MapSet.member?(excluded, &1))
  end

  # The pairs `{i, j}` (i < j, agent indices of the rule's type) that the agents of the rule's
  # exclusion type name through their reference lanes (docs/dsl.md, "Bonds").
  defp excluded_pairs(world, system, %Rule{exclude: %{type: bond} = exclude} = rule) do
    index = References.index(identities(world, rule.type_a))

    References.excluded_pairs(exclude, Map.fetch!(world.lanes, bond), index, fn value, b, lane ->
      dangling!(system, index, value, bond, b, lane, rule.type_a)
    end)
  end

  # The accumulators of the pairs `pairs` (`{i, j}`, in ascending order) of a pair rule whose
  # agent types hold the rows `rows` (`[a_rows]` or `[a_rows, b_rows]`).
  defp pair_accs(pairs, rows, rule, ctx) do
    types = pair_types(rule)
    a_tuple = List.to_tuple(hd(rows))
    b_tuple = List.to_tuple(List.last(rows))
    same? = rule.kind == :pair_same
    [{_, _, a_modes}, {_, _, b_modes}] = if same?, do: types ++ types, else: types

    {accs_a, accs_b} =
      Enum.reduce(pairs, {%{}, %{}}, fn {i, j}, {accs_a, accs_b} ->
        {da, db} =
          call_pair(ctx, elem(a_tuple, i), elem(b_tuple, j), {rule.type_a, i}, {rule.type_b, j})

        accs_a = accumulate(accs_a, i, da, a_modes, ctx, rule.type_a)

        if same?,
          do: {accumulate(accs_a, j, db, a_modes, ctx, rule.type_a), accs_b},
          else: {accs_a, accumulate(accs_b, j, db, b_modes, ctx, rule.type_b)}
      end)

    Enum.zip_with([{accs_a, a_modes}, {accs_b, b_modes}], rows, fn {accs, modes}, rows ->
      zero = zero_acc(modes)
      for i <- 0..(length(rows) - 1)//1, do: Map.get(accs, i, zero)
    end)
  end

  # An exclusive rule (docs/dsl.md, "Exclusive pair rules"): the chosen pairs are applied.
  defp exclusive_pairs(world, id, rule, params, ctx) do
    rows = Enum.map(pair_types(rule), fn {type, _, _} -> Map.fetch!(world.lanes, type) end)

    world |> exclusive_choice(id, rule, params, ctx) |> pair_accs(rows, rule, ctx)
  end

  # The pairs an exclusive rule applies, as `{row_a, row_b}` in ascending order: every pair
  # whose claim holds is a candidate with the priority `Random.claim_priority/4`; greedily in
  # (priority, identities) order, a candidate whose agents are both unclaimed claims them.
  defp exclusive_choice(world, id, rule, params, %{ids: {ids_a, ids_b}, source: source} = ctx) do
    a_rows = Map.fetch!(world.lanes, rule.type_a)
    b_rows = Map.fetch!(world.lanes, rule.type_b)
    same? = rule.kind == :pair_same
    module = ctx.system.module

    candidates =
      for {a, i} <- Enum.with_index(a_rows),
          {b, j} <- Enum.with_index(b_rows),
          not same? or i < j,
          module.__brz_claim__(id, a, b, params, source, elem(ids_a, i), elem(ids_b, j)) do
        {ci, cj} = Random.ids(rule.kind, elem(ids_a, i), elem(ids_b, j))
        {Random.claim_priority(source, id, ci, cj), ci, cj, i, j}
      end

    {chosen, _claimed} =
      candidates
      |> Enum.sort()
      |> Enum.reduce({[], MapSet.new()}, fn {_, _, _, i, j}, {chosen, claimed} ->
        key_b = if same?, do: {0, j}, else: {1, j}

        if MapSet.member?(claimed, {0, i}) or MapSet.member?(claimed, key_b),
          do: {chosen, claimed},
          else: {[{i, j} | chosen], claimed |> MapSet.put({0, i}) |> MapSet.put(key_b)}
      end)

    Enum.sort(chosen)
  end

  # Adds an agent's delta to its accumulator (created by zero_acc/1 on its first pair).
  defp accumulate(accs, index, delta, modes, ctx, type) do
    acc = Map.get_lazy(accs, index, fn -> zero_acc(modes) end)
    Map.put(accs, index, add(acc, delta, ctx, type, index))
  end

  # Every pair, in ascending (slot 0, slot 1) order; returns the accumulators.
  defp all_pairs(lanes, %Rule{} = rule, ctx) do
    {acc_a, acc_b} = Codegen.acc_reductions(rule)
    a_rows = Map.fetch!(lanes, rule.type_a)

    case rule.kind do
      :pair_same ->
        zero = zero_acc(acc_a)
        [same_pairs(a_rows, 0, Enum.map(a_rows, fn _ -> zero end), [], ctx, rule.type_a)]

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

        [accs_a, accs_b]
    end
  end

  # A new accumulator: -0.0 for a sum, nil (no value yet) for a max or min reduction.
  defp zero_acc(modes), do: List.to_tuple(Enum.map(modes, &if(&1 == :sum, do: -0.0)))

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
    ctx.pair.(a, b, i, j)
  catch
    {:brz_nonfinite, 0, lane} -> numerical!(ctx.system, ta, i, lane, ctx.step)
    {:brz_nonfinite, 1, lane} -> numerical!(ctx.system, tb, j, lane, ctx.step)
  end

  defp add(acc, delta, %{reduces: false} = ctx, type, index) do
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

  defp add(acc, delta, ctx, type, index) do
    ctx.acc_modes
    |> Map.fetch!(type)
    |> Enum.with_index()
    |> Enum.map(fn {mode, k} ->
      try do
        combine(mode, elem(acc, k), elem(delta, k))
      rescue
        ArithmeticError ->
          lane = Enum.at(Map.fetch!(ctx.acc_lanes, type), k)
          numerical!(ctx.system, type, index, lane, ctx.step)
      end
    end)
    |> List.to_tuple()
  end

  # One pair's contribution to an accumulator. A max or min reduction's nil is "no value" (a
  # new accumulator, or a pair that gave the identity -inf / +inf), so the order of the pairs
  # never matters.
  defp combine(:sum, acc, delta), do: acc + delta
  defp combine(_mode, acc, nil), do: acc
  defp combine(_mode, nil, value), do: value
  defp combine(:max, acc, value), do: if(acc < value, do: value, else: acc)
  defp combine(:min, acc, value), do: if(value < acc, do: value, else: acc)

  defp add_tuples(acc, delta) do
    acc
    |> Tuple.to_list()
    |> Enum.zip_with(Tuple.to_list(delta), &(&1 + &2))
    |> List.to_tuple()
  end

  # The lanes after the rule: value + sum, or the max / min of the value and the reduction (its
  # zero made +0.0, as the engine does, so that the sign of a zero never depends on pair order).
  defp apply_deltas(rows, accs, acc_lanes, modes, system, type, step) do
    rows
    |> Enum.zip(accs)
    |> Enum.with_index()
    |> Enum.map(fn {{row, acc}, i} ->
      acc_lanes
      |> Enum.zip(modes)
      |> Enum.with_index()
      |> Enum.reduce(row, fn {{lane, mode}, k}, row ->
        value =
          try do
            case {mode, elem(acc, k)} do
              {:sum, sum} -> elem(row, lane) + sum
              {_, nil} -> elem(row, lane)
              {mode, reduced} -> combine(mode, elem(row, lane), reduced + 0.0)
            end
          rescue
            ArithmeticError -> numerical!(system, type, i, lane, step)
          end

        put_elem(row, lane, value)
      end)
    end)
  end

  # The identities of a type's agents, in agent order.
  defp identities(world, type) do
    case Map.fetch(world.ids, type) do
      {:ok, ids} -> ids
      :error -> Enum.to_list(0..(length(Map.fetch!(world.lanes, type)) - 1)//1)
    end
  end

  # Ends a lifecycle rule's application: removes the agents `removed` lists per type (indices),
  # keeping the survivors' order, then appends `children` (`{type, lanes}` in order) with fresh
  # identities and zero box crossings, every lane a child is not given 0.0.
  defp end_lifecycle(world, system, removed, children, step) do
    world = Enum.reduce(removed, world, fn {type, dead}, world -> compact(world, type, dead) end)

    children
    |> Enum.group_by(&elem(&1, 0), &elem(&1, 1))
    |> Enum.reduce(world, fn {type, kids}, world -> append(world, system, type, kids, step) end)
    |> remove_dangling(system)
  end

  # Agents that reference a removed agent go with it, and then those that reference them: a
  # reference lane holding an identity its type has given and no living agent holds (other
  # values are left to the bonded rules, which reject them).
  defp remove_dangling(world, system) do
    dead =
      system.program.references
      |> Enum.with_index()
      |> Enum.find_value(fn {refs, type} ->
        rows = Map.fetch!(world.lanes, type)
        alive = Map.new(refs, fn {_, t} -> {t, MapSet.new(identities(world, t))} end)

        gone =
          for {row, i} <- Enum.with_index(rows),
              Enum.any?(refs, fn {lane, target} ->
                dangling?(world, target, Map.fetch!(alive, target), elem(row, lane))
              end),
              do: i

        if gone != [], do: {type, gone}
      end)

    case dead do
      nil -> world
      {type, gone} -> world |> compact(type, gone) |> remove_dangling(system)
    end
  end

  defp dangling?(world, type, alive, value) do
    value >= 0 and value < next_id(world, type) and value == Float.floor(value) and
      not MapSet.member?(alive, trunc(value))
  end

  defp compact(world, _type, []), do: world

  defp compact(world, type, dead) do
    dead = MapSet.new(dead)
    keep = fn list -> for {x, i} <- Enum.with_index(list), i not in dead, do: x end

    world = %{
      world
      | lanes: Map.update!(world.lanes, type, keep),
        ids: Map.put(world.ids, type, keep.(identities(world, type))),
        next_ids: Map.put(world.next_ids, type, next_id(world, type))
    }

    case Map.fetch(world.images, type) do
      {:ok, images} -> %{world | images: Map.put(world.images, type, keep.(images))}
      :error -> world
    end
  end

  defp next_id(world, type),
    do: Map.get_lazy(world.next_ids, type, fn -> length(Map.fetch!(world.lanes, type)) end)

  defp append(world, system, type, kids, step) do
    lanes = Enum.at(system.program.types, type)
    rows = Map.fetch!(world.lanes, type)
    first = next_id(world, type)
    count = length(rows)

    new_rows =
      kids
      |> Enum.with_index(count)
      |> Enum.map(fn {given, index} ->
        Enum.reduce(0..(lanes - 1), List.duplicate(0.0, lanes) |> List.to_tuple(), fn lane, row ->
          value = Map.get(given, lane, 0.0)

          if Ops.finite?(value),
            do: put_elem(row, lane, value),
            else: numerical!(system, type, index, lane, step)
        end)
      end)

    n = length(kids)

    world = %{
      world
      | lanes: Map.put(world.lanes, type, rows ++ new_rows),
        ids:
          Map.put(
            world.ids,
            type,
            identities(world, type) ++ Enum.to_list(first..(first + n - 1))
          ),
        next_ids: Map.put(world.next_ids, type, first + n)
    }

    case Map.fetch(world.images, type) do
      {:ok, images} ->
        %{world | images: Map.put(world.images, type, images ++ List.duplicate({0, 0, 0}, n))}

      :error ->
        world
    end
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
