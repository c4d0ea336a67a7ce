defmodule BrokenRecord.Zero.ProgressTest do
  # The progress: option (BrokenRecord.Zero.Progress): the reports, the stderr line, the chunks
  # giving the results of one call on both backends, a failing chunk undoing the whole run, and
  # the NIF's continuation of a run.
  use ExUnit.Case, async: true

  import ExUnit.CaptureIO
  import BrokenRecord.Zero.TestHelpers
  import BrokenRecord.Zero.RandomSystems, only: [dpd_state: 3]

  alias BrokenRecord.Zero.{Lattice, LifecycleSystems, NIF, NumericalError, Progress, Runtime}
  alias BrokenRecord.Zero.{World}
  alias BrokenRecord.Zero.Fixtures.LJLiquid
  alias BrokenRecord.Zero.LifecycleSystems.Cells
  alias BrokenRecord.Zero.RandomSystems.DPD
  alias BrokenRecord.Zero.TestSystems.{Fragile, Spring}

  @backends [:native, :interpreted]
  @lj_rules [:half_kick, :drift, :lj_force, :half_kick_2]

  defp backends, do: if(NIF.loaded?(), do: @backends, else: [:interpreted])

  defp lj_state(cells) do
    {positions, side} = Lattice.fcc(cells, 0.8442)
    velocities = Lattice.velocities(length(positions), 1.44, 11)
    atoms = Enum.zip_with(positions, velocities, &%{position: &1, velocity: &2})
    %{atoms: atoms, box: {side, side, side}}
  end

  # The runs whose chunks are compared with one call: an LJ liquid (`:large`: 864 atoms, large
  # enough for neighbour lists natively and cells in pure Elixir, rebuilt between chunks; `:small`:
  # 108 atoms, all pairs), random pair forces, births and deaths.
  defp runs(size \\ :small) do
    lj = if size == :large, do: {lj_state(6), 15}, else: {lj_state(3), 40}

    [
      {LJLiquid, elem(lj, 0), [steps: elem(lj, 1), dt: 0.005, rules: @lj_rules]},
      {DPD, dpd_state(5, 3.0, 7),
       [steps: 30, dt: 0.01, params: %{repulsion: 25.0, gamma: 4.5, sigma: 3.0}]},
      {Cells, LifecycleSystems.cells(40, 2), [steps: 12, dt: 0.1]}
    ]
  end

  # Collects the reports of a run.
  defp reporter do
    me = self()
    ref = make_ref()
    {ref, fn report -> send(me, {ref, report}) end}
  end

  defp reports(ref) do
    receive do
      {^ref, report} -> [report | reports(ref)]
    after
      0 -> []
    end
  end

  describe "the option" do
    test "anything but true, false or a function of arity 1 is an ArgumentError naming it" do
      state = %{particles: [%{position: {1.0, 0.0, 0.0}, velocity: {0.0, 0.0, 0.0}}]}

      params = %{k: 1.0, damping: 0.0}

      for backend <- backends(), bad <- [:yes, 1, nil, fn -> :ok end, fn _, _ -> :ok end] do
        world = World.new(Spring, state, backend: backend)
        message = ~r/^invalid option progress: .*; expected true, false or a function of arity 1$/

        assert_raise ArgumentError, message, fn ->
          World.step(world, progress: bad, params: params)
        end

        # the rejected call left the handle live
        assert World.counts(world) == %{particles: 1}

        assert_raise ArgumentError, message, fn ->
          Spring.simulate(state, progress: bad, backend: backend, params: params)
        end

        assert_raise ArgumentError, message, fn ->
          Runtime.simulate(Spring, state, progress: bad, backend: backend, params: params)
        end
      end
    end
  end

  describe "reports" do
    test "a function gets increasing done, the total at the end and a positive rate" do
      for backend <- backends() do
        {ref, fun} = reporter()
        {system, state, opts} = hd(runs())
        world = World.new(system, state, backend: backend)
        World.step(world, [progress: fun] ++ opts)
        reports = reports(ref)
        total = Keyword.fetch!(opts, :steps)

        assert reports != []
        assert List.last(reports).done == total
        assert Enum.all?(reports, &(&1.total == total and &1.rate > 0))
        dones = Enum.map(reports, & &1.done)
        assert dones == Enum.sort(dones)
        assert dones == Enum.dedup(dones)
      end
    end

    test "simulate/2 and Runtime.simulate/3 report too" do
      state = %{particles: [%{position: {1.0, 0.0, 0.0}, velocity: {0.0, 0.0, 0.0}}]}
      params = %{k: 4.0, damping: 0.1}

      for backend <- backends() do
        {ref, fun} = reporter()
        Spring.simulate(state, steps: 25, params: params, backend: backend, progress: fun)
        assert [%{done: 25, total: 25}] = Enum.take(reports(ref), -1)

        Runtime.simulate(Spring, state, steps: 7, params: params, backend: backend, progress: fun)
        assert [%{done: 7, total: 7}] = Enum.take(reports(ref), -1)
      end
    end

    test "a sampled run (World.stream/2, simulate with every:) reports once for all its steps" do
      state = %{particles: [%{position: {1.0, 0.0, 0.0}, velocity: {0.0, 0.0, 0.0}}]}
      params = %{k: 4.0, damping: 0.1}

      for backend <- backends() do
        {ref, fun} = reporter()
        world = World.new(Spring, state, backend: backend)

        samples =
          World.stream(world, steps: 20, every: 5, observe: [], params: params, progress: fun)

        assert length(Enum.to_list(samples)) == 5
        reports = reports(ref)
        assert List.last(reports).done == 20
        assert Enum.all?(reports, &(&1.total == 20))

        Spring.simulate(state,
          steps: 12,
          every: 4,
          observe: [],
          params: params,
          backend: backend,
          progress: fun
        )

        assert [%{done: 12, total: 12}] = Enum.take(reports(ref), -1)
      end
    end

    test "progress: true writes one line on stderr with the steps, ended with a newline" do
      for backend <- backends() do
        {system, state, opts} = hd(runs())

        err =
          capture_io(:stderr, fn ->
            system |> World.new(state, backend: backend) |> World.step([progress: true] ++ opts)
          end)

        # stderr is shared with the tests running at the same time: only this run's line.
        assert [line] = err |> String.split("\n") |> Enum.filter(&(&1 =~ "/40 steps"))
        assert line =~ "40/40 steps"
        assert line =~ "steps/s"
        assert err =~ ~r{40/40 steps[^\n]*\n}
      end
    end

    test "start/2, advance/2 and finish/1 report a run that a caller steps itself" do
      {ref, fun} = reporter()
      p = Progress.start(10, fun)
      p = Enum.reduce(1..9, p, &Progress.advance(&2, &1))
      assert Progress.finish(p) == :ok
      assert [%{done: 10, total: 10, rate: rate}] = Enum.take(reports(ref), -1)
      assert rate > 0

      assert Progress.start(10, false) |> Progress.advance(3) |> Progress.finish() == :ok
      assert reports(ref) == []
    end
  end

  describe "chunks" do
    test "a run with progress is split: one step first, then chunks that continue it" do
      calls =
        Progress.run([], 100, fn _ -> :ok end, fn acc, steps, done -> [{steps, done} | acc] end)
        |> Enum.reverse()

      assert [{1, 0} | rest] = calls
      assert rest != []
      assert Enum.all?(rest, fn {steps, _} -> steps >= 1 end)
      # each call is told the steps run before it
      sizes = Enum.map(calls, &elem(&1, 0))
      assert Enum.map(calls, &elem(&1, 1)) == Enum.scan([0 | sizes], &+/2) |> Enum.drop(-1)
      assert Enum.sum(sizes) == 100

      assert Progress.run(:acc, 100, false, fn :acc, 100, 0 -> :one_call end) == :one_call
    end

    test "World.step/2 in chunks gives the bits of one call, on both backends" do
      for {system, state, opts} <- runs(:large), backend <- backends() do
        seeded = [backend: backend, seed: 3]
        one = system |> World.new(state, seeded) |> World.step(opts)
        {_, fun} = reporter()
        chunked = system |> World.new(state, seeded) |> World.step([progress: fun] ++ opts)

        assert_identical(World.to_state(chunked), World.to_state(one))
        info = World.info(chunked)
        assert info.step == World.info(one).step

        if system == LJLiquid do
          # the neighbour search that the chunks share with one call ran and was rebuilt
          if backend == :native do
            assert info.sweeps.list_kernel + info.sweeps.list_interpreter > 0
            assert info.neighbour_builds > 1
          else
            assert info.sweeps.cells_elixir > 0
          end
        end

        # and stepping on after it continues the same
        more = Keyword.put(opts, :steps, 3)

        assert_identical(
          chunked |> World.step(more) |> World.to_state(),
          one |> World.step(more) |> World.to_state()
        )
      end
    end

    test "simulate/2 with progress gives the bits of simulate/2 without" do
      for {system, state, opts} <- runs(), backend <- backends() do
        opts = [backend: backend, seed: 5] ++ opts
        plain = system.simulate(state, opts)
        {_, fun} = reporter()
        assert_identical(system.simulate(state, [progress: fun] ++ opts), plain)
        {out, err} = with_io(:stderr, fn -> system.simulate(state, [progress: true] ++ opts) end)
        assert err =~ "steps"
        assert_identical(out, plain)
      end
    end

    @tag :native
    test "chunked native runs agree with chunked pure-Elixir runs" do
      for {system, state, opts} <- runs() do
        {_, fun} = reporter()
        opts = [progress: fun] ++ opts
        native = system |> World.new(state, backend: :native, seed: 9) |> World.step(opts)
        elixir = system |> World.new(state, backend: :interpreted, seed: 9) |> World.step(opts)
        assert_agree(World.to_state(native), World.to_state(elixir), 1.0e-9)
      end
    end

    test "a chunk that raises leaves the world as before the whole run, its handle live" do
      # countdown divides by zero in the fifth step: in the second chunk (steps 2..9)
      state = %{cells: for(s <- [5.0, 7.0], do: %{value: 0.0, scale: s})}

      for backend <- backends() do
        world =
          World.new(Fragile, state, backend: backend) |> World.step(steps: 1, rules: [:guarded])

        before = World.to_state(world)
        {ref, fun} = reporter()

        error =
          assert_raise NumericalError, fn ->
            World.step(world, steps: 20, rules: [:countdown], progress: fun)
          end

        # counted from the start of the call, as in one call
        assert error.step == 5
        assert_identical(World.to_state(world), before)
        assert World.info(world).step == 1
        refute Enum.any?(reports(ref), &(&1.done == 20))

        # the world runs on from there as if the failed run had not been
        world = World.step(world, steps: 3, rules: [:countdown])
        assert World.info(world).step == 4
      end
    end

    test "after a failed run in chunks, fields no completed run wrote are the caller's terms" do
      # the first chunk wrote value and scale; the second failed: neither counts as written
      state = %{cells: [%{value: 1, scale: 5}, %{value: 2, scale: 9}], note: :kept}

      for backend <- backends() do
        world = World.new(Fragile, state, backend: backend)

        assert_raise NumericalError, fn ->
          World.step(world, steps: 20, rules: [:countdown], progress: fn _ -> :ok end)
        end

        assert World.to_state(world) === state
      end
    end
  end

  describe "the NIF's continuation" do
    @describetag :native

    test "continues only a completed run of the same rules" do
      state = %{particles: [%{position: {1.0, 0.0, 0.0}, velocity: {0.0, 0.0, 0.0}}]}
      ref = World.new(Spring, state, backend: :native).ref
      params = [0.01, 4.0, 0.0]
      message = ~r/continues: the previous run on this world was not a completed run/

      assert_raise ArgumentError, message, fn ->
        NIF.native_run_steps(ref, params, 1, [0], true)
      end

      assert NIF.native_run_steps(ref, params, 2, [0], false) == :ok
      assert NIF.native_run_steps(ref, params, 2, [0], true) == :ok
      # a new run, even of no steps, ends the one before
      assert NIF.native_run_steps(ref, params, 0, [0], false) == :ok

      assert_raise ArgumentError, message, fn ->
        NIF.native_run_steps(ref, params, 1, [0], true)
      end

      assert NIF.native_run_steps(ref, params, 0, [0], false) == :ok
      assert NIF.native_run_steps(ref, params, 1, [0], false) == :ok
      assert NIF.native_run_steps(ref, params, 0, [0], true) == :ok

      assert_raise ArgumentError, message, fn ->
        NIF.native_run_steps(ref, params, 1, [], true)
      end

      assert_raise ArgumentError, ~r/continues must be a boolean/, fn ->
        NIF.native_run_steps(ref, params, 1, [0], :yes)
      end

      assert NIF.world_info(ref).step == 5
    end
  end
end
