defmodule Bench.Scenarios.Ensemble do
  @moduledoc """
  What running an ensemble over distributed Erlang costs (`BrokenRecord.Zero.Ensemble`, row
  scenario `:ensemble`): a 16-member sweep of the SIR epidemic
  (`BrokenRecord.Zero.Fixtures.SIR`: 4 infection rates x 4 seeds, `n` people each) run on one
  peer node whose engine has two OpenMP threads (`:one_node_2_threads`, one member at a time)
  and on two peer nodes with one thread each (`:two_nodes_1_thread`, one member at a time on
  each). The peers are OS processes on this machine started with OTP's `:peer`
  (`OMP_NUM_THREADS` set in their environment); this node becomes distributed for the run if it
  is not. Both contenders use two cores, so on one machine the ratio (two nodes' time over one
  node's) is the price of the distribution: the states and results crossing the nodes as terms,
  and two members at a time instead of one; close to 1 when the runs dominate. Each
  contender's best of interleaved rounds (A B B A in each); the results of both are checked to
  be the same bits.
  """

  alias Bench.{Config, Measure, Row}
  alias BrokenRecord.Zero.{Ensemble, NIF}
  alias BrokenRecord.Zero.Fixtures.SIR

  @source Path.expand("../../../examples/systems/sir.ex", __DIR__)
  @params %{radius: 1.0, gamma: 0.1, step: 0.5}

  @doc "The rows of the two contenders (native engine only)."
  @spec run(Config.t()) :: [map]
  def run(%Config{native?: false}), do: []

  def run(config) do
    n = Config.pick(config, full: 10_000, quick: 5_000, smoke: 400)
    steps = Config.pick(config, full: 60, quick: 40, smoke: 5)
    started = distributed!()
    {bin, file} = object_code()
    peers = for threads <- [2, 1, 1], do: start_peer(threads, bin, file)
    [one | two] = Enum.map(peers, &elem(&1, 1))

    try do
      members = members(n, steps)
      # first runs on each peer load the engine and the system's kernels there
      Ensemble.run(SIR, Enum.take(members, 3), nodes: [one | two])
      contenders = [one_node_2_threads: [one], two_nodes_1_thread: two]

      rows =
        Measure.in_rounds(config, fn ->
          times =
            for {contender, nodes} <- contenders ++ Enum.reverse(contenders) do
              {t, results} =
                Measure.best_of(1, fn -> Ensemble.run(SIR, members, nodes: nodes) end)

              {contender, t, results}
            end

          same_results!(times)

          for {contender, _} <- contenders do
            t =
              times
              |> Enum.filter(&(elem(&1, 0) == contender))
              |> Enum.map(&elem(&1, 1))
              |> Enum.min()

            Row.new(:ensemble, n, contender, :f64,
              steps: steps,
              members: length(members),
              # what crosses the network per member, each way (the result has the state's shape)
              state_bytes: members |> hd() |> elem(0) |> :erlang.external_size(),
              seconds: t,
              seconds_per_step: t / steps,
              throughput: length(members) * n * steps / t,
              unit: "agent-steps/s"
            )
          end
        end)

      [one_node, two_nodes] = rows

      [
        one_node,
        Map.merge(two_nodes, %{
          ratio: two_nodes.seconds / one_node.seconds,
          ratio_label: "x the time on one node with 2 threads"
        })
      ]
    after
      Enum.each(peers, fn {pid, _} -> :peer.stop(pid) end)
      if started, do: Node.stop()
    end
  end

  # 4 infection rates x 4 seeds on one state: 1 in 100 people infected at the start.
  defp members(n, steps) do
    :rand.seed(:exsss, {5, 6, 7})
    side = :math.sqrt(n / 2)

    people =
      for i <- 1..n do
        status = if rem(i, 100) == 1, do: :infected, else: :susceptible
        %{position: {side * :rand.uniform(), side * :rand.uniform(), 0.0}, status: status}
      end

    Ensemble.grid(
      %{people: people, box: {side, side, side}},
      [beta: [1.0, 1.5, 2.0, 3.0], seed: [1, 2, 3, 4]],
      steps: steps,
      dt: 0.1,
      params: @params
    )
  end

  defp same_results!([{_, _, first} | rest]) do
    unless Enum.all?(rest, fn {_, _, results} -> results == first end) and
             Enum.all?(first, &match?({:ok, _}, &1)) do
      raise "the ensemble's results differ between the contenders, or a member failed"
    end
  end

  defp distributed! do
    if Node.alive?() do
      false
    else
      {_, 0} = System.cmd("epmd", ["-daemon"])
      {:ok, _} = Node.start(:"brz_bench_#{System.pid()}@127.0.0.1", :longnames)
      true
    end
  end

  # The system's object code, for the peers: from its .beam under MIX_ENV=test, compiled here
  # from its source otherwise (the bench loads the fixtures it needs in memory only).
  defp object_code do
    case :code.get_object_code(SIR) do
      {SIR, bin, file} ->
        {bin, file}

      :error ->
        {SIR, bin} = @source |> Code.compile_file() |> List.keyfind(SIR, 0)
        {bin, String.to_charlist(@source)}
    end
  end

  # A peer on this machine whose engine runs `threads` OpenMP threads, with this node's code
  # paths and the system loaded; not connected to the other peers.
  defp start_peer(threads, bin, file) do
    [_, host] = node() |> Atom.to_string() |> String.split("@")

    {:ok, pid, node} =
      :peer.start(%{
        name: :"brz_bench_#{threads}t_#{System.unique_integer([:positive])}_#{System.pid()}",
        host: String.to_charlist(host),
        longnames: :net_kernel.longnames(),
        env: [{~c"OMP_NUM_THREADS", Integer.to_charlist(threads)}],
        args: [~c"-connect_all", ~c"false" | Enum.flat_map(:code.get_path(), &[~c"-pa", &1])]
      })

    {:module, SIR} = :erpc.call(node, :code, :load_binary, [SIR, file, bin])
    true = :erpc.call(node, NIF, :loaded?, [])
    {pid, node}
  end
end
