defmodule BrokenRecord.Zero.EnsembleTest do
  # Ensembles over distributed Erlang (BrokenRecord.Zero.Ensemble): real peer nodes started with
  # OTP's :peer on this machine, the project's code paths given to them, the engine loaded
  # there. A sweep on the peers equals the same members run here bit for bit (the SIR system
  # draws random numbers), on both backends; a peer stopped in the middle of a sweep loses no
  # member; a member that raises is its own {:error, exception}; with every node gone the rest
  # are NodesDownErrors; bad options and members are ArgumentErrors.
  #
  # This node is made distributed (epmd, Node.start/2) unless it already is; exclude the module
  # with `mix test --exclude distributed` where distribution is impossible.
  use ExUnit.Case, async: false

  import ExUnit.CaptureIO
  import BrokenRecord.Zero.TestHelpers

  alias BrokenRecord.Zero.{Backend, Ensemble, NIF, NodesDownError}
  alias BrokenRecord.Zero.Fixtures.SIR
  alias BrokenRecord.Zero.TestSystems.Spring

  @moduletag :distributed

  @params %{radius: 1.0, beta: 2.0, gamma: 0.1, step: 0.5}

  setup_all do
    started = distributed!()
    peers = Enum.map([:a, :b], &start_peer/1)

    on_exit(fn ->
      Enum.each(peers, fn {pid, _node} -> stop_peer(pid) end)
      if started, do: Node.stop()
    end)

    %{peers: Enum.map(peers, &elem(&1, 1))}
  end

  defp distributed! do
    if Node.alive?() do
      false
    else
      epmd = System.find_executable("epmd") || flunk("epmd not found (Debian: erlang-base)")
      {_, 0} = System.cmd(epmd, ["-daemon"])
      {:ok, _} = Node.start(:"brz_ensemble_#{System.pid()}@127.0.0.1", :longnames)
      true
    end
  end

  # A peer on this machine with this node's code paths (hence the engine's library in priv/);
  # not connected to the other peers, which it has no use for.
  defp start_peer(name) do
    [_, host] = node() |> Atom.to_string() |> String.split("@")

    {:ok, pid, node} =
      :peer.start(%{
        name: :"brz_ensemble_#{name}_#{System.pid()}",
        host: String.to_charlist(host),
        longnames: :net_kernel.longnames(),
        args: [~c"-connect_all", ~c"false" | Enum.flat_map(:code.get_path(), &[~c"-pa", &1])]
      })

    {pid, node}
  end

  defp stop_peer(pid) do
    :peer.stop(pid)
  catch
    :exit, _ -> :ok
  end

  # `n` people on a periodic square, one in ten infected, placed by `seed`.
  defp people(n, seed) do
    seed(seed)
    side = :math.sqrt(n / 2)

    people =
      for i <- 1..n do
        status = if rem(i, 10) == 1, do: :infected, else: :susceptible
        %{position: {uniform(0.0, side), uniform(0.0, side), 0.0}, status: status}
      end

    %{people: people, box: {side, side, side}}
  end

  # What the members give when run here, one simulate/2 each, with the ensemble's seeds.
  defp local(members, seed) do
    members
    |> Enum.with_index()
    |> Enum.map(fn {{state, opts}, i} -> {:ok, SIR.simulate(state, opts ++ [seed: seed + i])} end)
  end

  defp slow_members(count, steps \\ 400) do
    state = people(1500, 3)
    for i <- 1..count, do: {state, [steps: steps, dt: 0.1, params: %{@params | beta: 1.0 + i}]}
  end

  # Runs `members` on `nodes` in a task and stops `victim` once the first member is done.
  defp run_and_stop(members, nodes, victim) do
    me = self()
    progress = fn %{done: done} -> send(me, {:done, done}) end
    task = Task.async(fn -> Ensemble.run(SIR, members, nodes: nodes, progress: progress) end)
    assert_receive {:done, done}, 15_000
    assert done < length(members)
    stop_peer(victim)
    Task.await(task, 30_000)
  end

  # The processes on `node` running a member (Ensemble.__member__/4).
  defp members_running(node) do
    for pid <- :erpc.call(node, Process, :list, []),
        {:current_stacktrace, stack} <- [
          :erpc.call(node, Process, :info, [pid, :current_stacktrace])
        ],
        Enum.any?(stack, &match?({Ensemble, :__member__, _, _}, &1)),
        do: pid
  end

  # Whether `check` becomes true within `tries` checks 20 ms apart.
  defp eventually(check, tries) do
    cond do
      check.() -> true
      tries == 0 -> false
      true -> Process.sleep(20) && eventually(check, tries - 1)
    end
  end

  @tag :native
  test "the peers run the native engine", %{peers: peers} do
    for peer <- peers do
      assert :erpc.call(peer, NIF, :loaded?, [])
      assert :erpc.call(peer, Backend, :resolve, [:auto]) == :native
    end
  end

  test "a sweep on two peers equals its members run here, bit for bit", %{peers: peers} do
    members =
      Ensemble.grid(people(300, 1), %{beta: [1.0, 4.0], gamma: [0.05, 0.2]},
        steps: 60,
        dt: 0.1,
        params: @params
      )

    results = Ensemble.run(SIR, members, nodes: peers, seed: 40)
    expected = local(members, 40)
    assert_identical(results, expected)

    # the members differ: their params and their random numbers
    states = for {:ok, out} <- results, do: out.people
    assert length(Enum.uniq(states)) == length(members)
  end

  test "member i gets the seed seed + i unless it sets its own", %{peers: peers} do
    state = people(200, 2)
    opts = [steps: 30, dt: 0.1, params: @params]
    members = [{state, opts}, {state, opts ++ [seed: 3]}, {state, opts}]
    results = Ensemble.run(SIR, members, nodes: peers, seed: 7)

    expected = for seed <- [7, 3, 9], do: {:ok, SIR.simulate(state, opts ++ [seed: seed])}

    assert_identical(results, expected)
    refute identical?(Enum.at(results, 0), Enum.at(results, 2))
  end

  @tag :native
  test "native and pure-Elixir members on the peers agree bit for bit", %{peers: peers} do
    state = people(150, 4)

    members =
      for beta <- [1.0, 3.0], backend <- [:native, :interpreted] do
        {state, [steps: 25, dt: 0.1, params: %{@params | beta: beta}, backend: backend, seed: 11]}
      end

    assert [{:ok, n1} = r1, {:ok, e1}, {:ok, n3} = r3, {:ok, e3}] =
             Ensemble.run(SIR, members, nodes: peers, max_concurrency: 2)

    assert_identical(n1, e1)
    assert_identical(n3, e3)
    refute identical?(n1, n3)
    [here1, _, here3, _] = local(members, 0)
    assert_identical([r1, r3], [here1, here3])
  end

  test "a member that raises is its {:error, exception}; the others finish", %{peers: peers} do
    state = people(200, 5)
    good = {state, [steps: 20, dt: 0.1, params: @params]}
    missing = {state, [steps: 20, dt: 0.1, params: Map.delete(@params, :beta)]}

    bad_state =
      {%{people: [%{position: :here}], box: {1.0, 1.0, 1.0}}, [steps: 1, params: @params]}

    bad_option = {state, [stepz: 1]}
    members = [good, missing, good, bad_state, bad_option]

    assert [
             {:ok, first},
             {:error, %ArgumentError{} = e1},
             {:ok, third},
             {:error, e2},
             {:error, e3}
           ] = Ensemble.run(SIR, members, nodes: [node() | peers], seed: 0)

    assert e1.message =~ "missing param :beta"
    assert %ArgumentError{} = e2
    assert e3.message =~ "unknown option :stepz"
    assert_identical({:ok, first}, hd(local([good], 0)))
    assert_identical({:ok, third}, hd(local([good], 2)))
  end

  test "a peer stopped in the middle of a sweep loses no member", %{peers: [peer | _]} do
    {pid, victim} = start_peer(:stopped)
    members = slow_members(6)
    results = run_and_stop(members, [peer, victim], pid)
    refute victim in Node.list()
    assert_identical(results, local(members, 0))
  end

  test "a caller that exits stops its members on their nodes", %{peers: [peer | _]} do
    # a member of 20,000 steps runs for seconds; stopped, it ends within half a second
    caller = spawn(fn -> Ensemble.run(SIR, slow_members(1, 20_000), nodes: [peer]) end)
    assert eventually(fn -> members_running(peer) != [] end, 250)
    Process.exit(caller, :shutdown)
    assert eventually(fn -> members_running(peer) == [] end, 25)
  end

  test "with every node gone the members not finished are NodesDownErrors" do
    {pid, victim} = start_peer(:alone)
    members = slow_members(3)
    assert [{:ok, first} | rest] = run_and_stop(members, [victim], pid)
    assert_identical({:ok, first}, hd(local(members, 0)))
    assert rest != []

    for {{:error, %NodesDownError{} = e}, i} <- Enum.with_index(rest, 1) do
      assert e.member == i
      assert [{^victim, _reason}] = e.nodes
      assert Exception.message(e) =~ "member #{i} was not run: every node is down (#{victim}:"
    end

    assert length(for({:error, %NodesDownError{}} <- rest, do: 1)) == length(rest)

    assert [{:error, %NodesDownError{nodes: [{:"nowhere@127.0.0.1", :noconnection}]}}] =
             Ensemble.run(SIR, [hd(members)], nodes: [:"nowhere@127.0.0.1"])
  end

  test "progress counts members; max_concurrency keeps the members' order" do
    state = %{particles: [%{position: {1.0, 0.0, 0.0}, velocity: {0.0, 0.0, 0.0}}]}
    opts = [steps: 1, dt: 0.1, rules: [:spring], params: %{damping: 0.0}]
    members = Ensemble.grid(state, [k: [1.0, 2.0, 3.0, 4.0]], opts)

    err =
      capture_io(:stderr, fn ->
        results = Ensemble.run(Spring, members, progress: true, max_concurrency: 3)
        expected = for {s, o} <- members, do: {:ok, Spring.simulate(s, o)}
        assert_identical(results, expected)
        assert length(Enum.uniq(results)) == 4
      end)

    assert err =~ "4/4 members"
    assert err =~ "members/s"
  end

  describe "grid/3" do
    test "options are set, other names are params merged into params:" do
      assert Ensemble.grid(%{a: 1}, %{steps: [1, 2], k: [0.5]}, params: [k: 0.0, c: 1.0]) == [
               {%{a: 1}, [params: %{k: 0.5, c: 1.0}, steps: 1]},
               {%{a: 1}, [params: %{k: 0.5, c: 1.0}, steps: 2]}
             ]

      assert Ensemble.grid(%{}, []) == [{%{}, []}]
      assert length(Ensemble.grid(%{}, x: [1, 2, 3], y: [1, 2], seed: [1, 2])) == 12
    end

    test "bad grids are ArgumentErrors naming the axis" do
      assert_raise ArgumentError, ~r/invalid grid axis k: \[\]/, fn ->
        Ensemble.grid(%{}, %{k: []})
      end

      assert_raise ArgumentError, ~r/grid axis k is given twice/, fn ->
        Ensemble.grid(%{}, k: [1], k: [2])
      end

      assert_raise ArgumentError, ~r/invalid state/, fn -> Ensemble.grid([], %{k: [1]}) end
      assert_raise ArgumentError, ~r/keyword list/, fn -> Ensemble.grid(%{}, %{k: [1]}, 3) end

      assert_raise ArgumentError, ~r/invalid option params/, fn ->
        Ensemble.grid(%{}, %{k: [1]}, params: 3)
      end
    end
  end

  test "bad options and members are ArgumentErrors naming them" do
    members = [{%{particles: []}, [steps: 1, params: %{k: 1.0, damping: 0.0}]}]

    for {opts, message} <- [
          {[nodez: []], ~r/unknown option :nodez/},
          {[nodes: []], ~r/invalid option nodes: \[\]/},
          {[nodes: [node(), node()]], ~r/invalid option nodes/},
          {[nodes: "a@b"], ~r/invalid option nodes/},
          {[max_concurrency: 0], ~r/invalid option max_concurrency: 0/},
          {[progress: :yes], ~r/invalid option progress: :yes/},
          {[seed: -1], ~r/invalid option seed: -1/},
          {[seed: 2 ** 32 - 1], nil},
          {:all, ~r/options must be a keyword list/}
        ] do
      if message do
        assert_raise ArgumentError, message, fn -> Ensemble.run(Spring, members, opts) end
      else
        assert [{:ok, _}] = Ensemble.run(Spring, members, opts)
      end
    end

    assert_raise ArgumentError, ~r/member 1 would get the seed 4294967296/, fn ->
      Ensemble.run(Spring, members ++ members, seed: 2 ** 32 - 1)
    end

    for {bad, message} <- [
          {:none, ~r/invalid members/},
          {[{%{}, []}, :x], ~r/invalid member 1: :x/},
          {[{%{}, [1]}], ~r/invalid member 0/},
          {[{[], []}], ~r/invalid member 0/}
        ] do
      assert_raise ArgumentError, message, fn -> Ensemble.run(Spring, bad) end
    end

    assert_raise ArgumentError, ~r/Enum is not a module defined by defsystem/, fn ->
      Ensemble.run(Enum, members)
    end
  end
end
