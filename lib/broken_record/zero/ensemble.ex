defmodule BrokenRecord.Zero.Ensemble do
  @moduledoc """
  Many independent runs of one system - parameter sweeps, replicas with different seeds - on
  the connected BEAM nodes (`docs/scaling.md`).

  `run/3` takes members `{state, run_opts}`, each what one `simulate/2` call takes, and returns
  one result per member in the members' order: `{:ok, result}` (what `simulate/2` returned) or
  `{:error, exception}` (what it raised; the other members go on). `grid/3` builds the members
  of a parameter grid.

      iex> alias BrokenRecord.Zero.Ensemble
      iex> state = %{particles: [%{position: {1.0, 0.0, 0.0}, velocity: {0.0, 0.0, 0.0}}]}
      iex> members = Ensemble.grid(state, %{k: [1.0, 4.0]},
      ...>   steps: 1, dt: 0.1, rules: [:spring], params: %{damping: 0.0})
      iex> for {:ok, out} <- Ensemble.run(BrokenRecord.Zero.TestSystems.Spring, members),
      ...>   do: hd(out.particles).velocity
      [{-0.1, 0.0, 0.0}, {-0.4, 0.0, 0.0}]

  ## How members run

  The caller hands the members out, at most `max_concurrency` at a time on each node, the next
  one to the node with the most free places (the first of them in `nodes:` order). Each member
  is one `:erpc.call/5` of `simulate/2` on its node, made from a task of a `Task.Supervisor`
  that `run/3` starts and stops; the state and the options travel to the node and the result
  comes back, as terms. On its node the member's process links to its task, so that a caller
  that dies (or is killed) stops every member it has running, as the engine stops the run of
  a caller that dies.

  Failures are found by the BEAM's own monitors: a node is first asked whether it has the
  system's module (missing code is an `ArgumentError`; an unreachable node counts as down),
  then monitored with `Node.monitor/2`. A node that goes down gets no more members, and each
  member it was running (its call ends with `:noconnection`) goes back to the front of the
  queue and runs again on another node: the results are those of an undisturbed run, since a
  member's result depends only on its state and options. When no node is left, every member
  not yet finished gets `{:error, %BrokenRecord.Zero.NodesDownError{}}`.

  ## Options

    * `:nodes` - the nodes to run on, default `[node() | Node.list()]`; each needs the
      project's code (the system's module) and, to run natively, the engine's library
    * `:max_concurrency` - members run at a time on each node, default `1`: one run uses a
      node's cores through the engine's OpenMP threads (`OMP_NUM_THREADS` of that node's OS
      process bounds them)
    * `:seed` - member `i` (0-based) gets `seed: seed + i` unless its own options set `seed:`;
      default `BrokenRecord.Zero.Random.default_seed/0`, as `simulate/2`'s
    * `:progress` - as `simulate/2`'s (`BrokenRecord.Zero.Progress`), counting members:
      `true` writes `done/total members`, members per second and the time left on stderr; a
      function of arity 1 gets `%{done: d, total: t, rate: r}` with `r` in members per second.
      A member that raised counts as done

  Invalid options or members are an `ArgumentError` naming the option or the member's index;
  a member's own options are checked by `simulate/2` on its node (an invalid one is that
  member's `{:error, %ArgumentError{}}`).
  """

  alias BrokenRecord.Zero.{NodesDownError, Options, Progress}

  @typedoc "One run: the state and the options of `simulate/2`."
  @type member :: {map, keyword}

  @typedoc "What a member gave: `simulate/2`'s result, or the exception it raised."
  @type result :: {:ok, term} | {:error, Exception.t()}

  # How long a node may take to say whether it has the system's module.
  @check_timeout 10_000

  @doc """
  Runs every member (`{state, run_opts}`) of `system` (a module defined by `defsystem`) on the
  nodes and returns their results in the members' order; see the module doc for the options.
  """
  @spec run(module, [member], keyword) :: [result]
  def run(system, members, opts \\ []) do
    system!(system)
    members = members!(members)
    last_seeded = members |> Enum.map(&elem(&1, 1)) |> last_seeded()
    opts = Options.ensemble!(opts, last_seeded)

    calls =
      members
      |> Enum.with_index(fn {state, run_opts}, i -> {state, seeded(run_opts, opts.seed + i)} end)
      |> List.to_tuple()

    {live, down} = check_nodes(system, opts.nodes)
    remote = Enum.filter(live, &(&1 != node()))
    Enum.each(remote, &Node.monitor(&1, true))
    {:ok, sup} = Task.Supervisor.start_link()

    try do
      s = %{
        system: system,
        sup: sup,
        calls: calls,
        order: opts.nodes,
        pending: Enum.to_list(0..(tuple_size(calls) - 1)//1),
        slots: Map.new(live, &{&1, opts.max_concurrency}),
        running: %{},
        down: down,
        results: %{},
        progress: Progress.start(tuple_size(calls), opts.progress, "members")
      }

      s = loop(s)
      Progress.finish(s.progress)
      for i <- 0..(tuple_size(calls) - 1)//1, do: Map.fetch!(s.results, i)
    after
      Supervisor.stop(sup)

      Enum.each(remote, fn node ->
        Node.monitor(node, false)

        receive do
          {:nodedown, ^node} -> :ok
        after
          0 -> :ok
        end
      end)
    end
  end

  @doc """
  The members of a parameter grid: one `{state, run_opts}` per combination of the values of
  `axes`, a map or keyword list of `name => [value, ...]`. A name among `simulate/2`'s options
  (`:seed`, `:steps`, `:dt`, ...) sets that option, any other name the param of that name
  (merged into `opts`' `params:`); `opts` are the options every member shares. The first axis
  varies slowest (a map's axes are taken in the order of their names).

      iex> BrokenRecord.Zero.Ensemble.grid(%{}, [k: [1.0, 2.0], seed: [7, 8]], steps: 10)
      [
        {%{}, [params: %{k: 1.0}, seed: 7, steps: 10]},
        {%{}, [params: %{k: 1.0}, seed: 8, steps: 10]},
        {%{}, [params: %{k: 2.0}, seed: 7, steps: 10]},
        {%{}, [params: %{k: 2.0}, seed: 8, steps: 10]}
      ]

  A param named like an option cannot be an axis here (build those members directly).
  An axis that is not a non-empty list, or a name given twice, is an `ArgumentError`.
  """
  @spec grid(map, map | keyword, keyword) :: [member]
  def grid(state, axes, opts \\ []) do
    unless is_map(state) do
      raise ArgumentError, "invalid state: #{inspect(state, limit: 5)}; expected a map"
    end

    Options.keyword!(opts)
    options = Options.simulate_keys()

    for combination <- product(axes!(axes)) do
      {set, params} = Enum.split_with(combination, fn {name, _} -> name in options end)

      run_opts =
        Enum.reduce(Enum.reverse(set), opts, fn {k, v}, acc -> Keyword.put(acc, k, v) end)

      case params do
        [] ->
          {state, run_opts}

        _ ->
          {state, Keyword.put(run_opts, :params, Map.merge(params!(run_opts), Map.new(params)))}
      end
    end
  end

  @doc false
  # Runs on the member's node: simulate/2, its exception as a value. Linked to the caller's task
  # while it runs, so that a caller that dies ends the run (and an ended connection too).
  @spec __member__(module, map, keyword, pid) :: result
  def __member__(system, state, run_opts, task) do
    Process.link(task)

    result =
      try do
        {:ok, system.simulate(state, run_opts)}
      rescue
        e -> {:error, e}
      catch
        kind, reason -> {:error, Exception.normalize(:error, {kind, reason}, __STACKTRACE__)}
      end

    Process.unlink(task)
    result
  end

  @doc false
  # Runs on each node before any member: whether the system's module is there.
  @spec __loaded__(module) :: boolean
  def __loaded__(system),
    do: Code.ensure_loaded?(system) and function_exported?(system, :__system__, 0)

  defp system!(system) do
    unless is_atom(system) and __loaded__(system) do
      raise ArgumentError,
            "invalid system: #{inspect(system)} is not a module defined by defsystem"
    end
  end

  defp members!(members) do
    unless is_list(members) and not List.improper?(members) do
      raise ArgumentError,
            "invalid members: #{inspect(members, limit: 5)}; expected a list of " <>
              "{state, run_opts}"
    end

    Enum.with_index(members, fn
      {state, run_opts} = member, i when is_map(state) and is_list(run_opts) ->
        if Keyword.keyword?(run_opts), do: member, else: invalid_member!(member, i)

      member, i ->
        invalid_member!(member, i)
    end)
  end

  defp invalid_member!(member, i) do
    raise ArgumentError,
          "invalid member #{i}: #{inspect(member, limit: 5)}; expected {state, run_opts} " <>
            "(a map and a keyword list)"
  end

  # The index of the last member whose options leave the seed to the ensemble.
  defp last_seeded(all_opts) do
    all_opts
    |> Enum.with_index()
    |> Enum.reduce(nil, fn {o, i}, last -> if Keyword.has_key?(o, :seed), do: last, else: i end)
  end

  defp seeded(run_opts, seed),
    do: if(Keyword.has_key?(run_opts, :seed), do: run_opts, else: run_opts ++ [seed: seed])

  defp axes!(axes) when is_map(axes), do: axes |> Enum.sort() |> axes!()

  defp axes!(axes) do
    Options.keyword!(axes)

    Enum.each(axes, fn {name, values} ->
      unless is_list(values) and values != [] and not List.improper?(values) do
        raise ArgumentError,
              "invalid grid axis #{name}: #{inspect(values, limit: 5)}; expected a non-empty " <>
                "list of values"
      end
    end)

    case axes -- Enum.uniq_by(axes, &elem(&1, 0)) do
      [] -> axes
      [{name, _} | _] -> raise ArgumentError, "grid axis #{name} is given twice"
    end
  end

  defp params!(run_opts) do
    case Keyword.get(run_opts, :params, %{}) do
      %{} = params ->
        params

      params ->
        if Keyword.keyword?(params),
          do: Map.new(params),
          else: raise(ArgumentError, "invalid option params: expected a map or keyword list")
    end
  end

  defp product([]), do: [[]]

  defp product([{name, values} | rest]) do
    tails = product(rest)
    for value <- values, tail <- tails, do: [{name, value} | tail]
  end

  # {nodes that can run members, [{node, reason}] for those that cannot be reached}.
  defp check_nodes(system, nodes) do
    nodes
    |> Enum.zip(:erpc.multicall(nodes, __MODULE__, :__loaded__, [system], @check_timeout))
    |> Enum.reduce({[], []}, fn
      {node, {:ok, true}}, {live, down} ->
        {[node | live], down}

      {node, {:error, {:erpc, reason}}}, {live, down} ->
        {live, [{node, reason} | down]}

      {node, _}, _ ->
        raise ArgumentError,
              "invalid option nodes: node #{node} cannot run #{inspect(system)}: its code is " <>
                "not loaded there (every node needs the project's code, docs/scaling.md)"
    end)
    |> then(fn {live, down} -> {Enum.reverse(live), Enum.reverse(down)} end)
  end

  defp loop(s) do
    s = dispatch(s)

    cond do
      s.running == %{} and s.pending == [] ->
        s

      # every place is free, so no node is left
      s.running == %{} ->
        down = Enum.flat_map(s.order, &List.wrap(List.keyfind(s.down, &1, 0)))

        Enum.reduce(s.pending, %{s | pending: []}, fn i, s ->
          finished(s, i, {:error, %NodesDownError{member: i, nodes: down}})
        end)

      true ->
        %{running: running, slots: slots} = s

        receive do
          {ref, reply} when is_map_key(running, ref) ->
            Process.demonitor(ref, [:flush])
            {{i, node}, running} = Map.pop(running, ref)
            s = %{s | running: running}

            case reply do
              {:nodedown, reason} -> s |> node_down(node, reason) |> requeue(i)
              result -> s |> free(node) |> finished(i, result)
            end
            |> loop()

          {:DOWN, ref, :process, _pid, reason} when is_map_key(running, ref) ->
            {{i, node}, running} = Map.pop(running, ref)
            s = %{s | running: running}

            case reason do
              # the link to the member's process on its node broke: the connection ended
              :noconnection ->
                s |> node_down(node, reason) |> requeue(i)

              _ ->
                exception = Exception.normalize(:error, {:exit, reason}, [])
                s |> free(node) |> finished(i, {:error, exception})
            end
            |> loop()

          {:nodedown, node} when is_map_key(slots, node) ->
            s |> node_down(node, :noconnection) |> loop()
        end
    end
  end

  defp dispatch(%{pending: [i | rest]} = s) do
    case Enum.filter(s.order, &(Map.get(s.slots, &1, 0) > 0)) do
      [] ->
        s

      free ->
        node = Enum.max_by(free, &Map.fetch!(s.slots, &1))
        {system, member} = {s.system, elem(s.calls, i)}
        task = Task.Supervisor.async_nolink(s.sup, fn -> call(node, system, member) end)

        dispatch(%{
          s
          | pending: rest,
            slots: Map.update!(s.slots, node, &(&1 - 1)),
            running: Map.put(s.running, task.ref, {i, node})
        })
    end
  end

  defp dispatch(s), do: s

  defp call(node, system, {state, run_opts}) do
    :erpc.call(node, __MODULE__, :__member__, [system, state, run_opts, self()], :infinity)
  catch
    :error, {:erpc, :noconnection} -> {:nodedown, :noconnection}
    kind, reason -> {:error, exception(kind, reason, __STACKTRACE__)}
  end

  # An :erpc failure other than a lost connection, as the member's exception.
  defp exception(:error, {:exception, reason, stack}, _),
    do: Exception.normalize(:error, reason, stack)

  defp exception(:error, reason, stack), do: Exception.normalize(:error, reason, stack)
  defp exception(:exit, {:exception, reason}, stack), do: exception(:exit, reason, stack)
  defp exception(kind, reason, stack), do: Exception.normalize(:error, {kind, reason}, stack)

  defp node_down(s, node, reason) do
    if Map.has_key?(s.slots, node),
      do: %{s | slots: Map.delete(s.slots, node), down: s.down ++ [{node, reason}]},
      else: s
  end

  defp requeue(s, i), do: %{s | pending: [i | s.pending]}

  defp free(s, node), do: %{s | slots: Map.replace(s.slots, node, Map.get(s.slots, node, 0) + 1)}

  defp finished(s, i, result) do
    results = Map.put(s.results, i, result)
    %{s | results: results, progress: Progress.advance(s.progress, map_size(results))}
  end
end
