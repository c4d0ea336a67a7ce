defmodule BrokenRecord.Zero.ReliabilityTest do
  @moduledoc """
  The NIF under concurrent and careless use (docs/nif.md): busy worlds answer at once instead of
  blocking a dirty scheduler, params travel with each step, a caller's death cancels its run
  inside a step, and a run that raises or is cancelled leaves the world as it was before the
  call, on both backends. No assertion here is about wall-clock time: orderings and results only.
  """
  use ExUnit.Case, async: false

  @moduletag :native

  alias BrokenRecord.Zero.{NIF, NumericalError, Options, World}
  alias BrokenRecord.Zero.TestSystems.{Ballistics, Fragile, Gravity, Keep}

  defp bodies(n), do: BrokenRecord.Zero.TestHelpers.bodies(n, 10.0, 1)

  # A gravity world and a step count that keeps it busy for about `seconds`.
  defp busy_world(n, seconds) do
    world = World.new(Gravity, %{bodies: bodies(n)}, backend: :native)
    {t, world} = :timer.tc(fn -> World.step(world, steps: 2, dt: 1.0e-6, rules: [:gravity]) end)
    {world, max(2, round(seconds * 2.0e6 / max(t, 1)))}
  end

  # Runs the engine world under `world` (the backend's run, as World.step/2 does, without
  # superseding the handle: the tests below use it while the run holds the engine world).
  defp start_run(world, steps) do
    parent = self()
    run = Options.step!(world.system, steps: steps, dt: 1.0e-6, rules: [:gravity])

    pid =
      spawn(fn ->
        send(parent, {:started, self()})
        world.impl.run(world.system, world.ref, run)
        send(parent, {:finished, self()})
      end)

    assert_receive {:started, ^pid}
    # The run holds the world once a raw call finds it busy.
    wait_until(fn -> NIF.world_column(world.ref, 0, 0, 1, false) == :busy end)
    pid
  end

  defp wait_until(fun, tries \\ 2_000) do
    cond do
      fun.() -> :ok
      tries == 0 -> flunk("condition not reached")
      true -> Process.sleep(1) && wait_until(fun, tries - 1)
    end
  end

  describe "a busy world" do
    test "raw calls return :busy at once; World calls wait for the world in their process" do
      {world, steps} = busy_world(1_500, 1.0)
      pid = start_run(world, steps)
      ref = world.ref

      assert NIF.world_to_state(ref, %{bodies: bodies(1_500)}) == :busy
      assert NIF.native_run_steps(ref, [1.0e-6], 1, [0]) == :busy
      assert NIF.world_totals(ref, 0, 6, 3, 0) == :busy

      # to_state waits, then sees the finished run.
      state = World.to_state(world)
      assert_received {:finished, ^pid}
      assert length(state.bodies) == 1_500
    end

    test "an unrelated world steps while another is busy, and a waiter can be killed" do
      # Far longer than the test: a loaded machine cannot end it early; killing the runner
      # cancels it.
      {busy, steps} = busy_world(1_500, 30.0)
      runner = start_run(busy, steps)

      parent = self()
      waiter = spawn(fn -> send(parent, {:waited, World.to_state(busy)}) end)

      other = World.new(Gravity, %{bodies: bodies(50)}, backend: :native)
      assert %World{} = World.step(other, steps: 1, dt: 1.0e-3)
      # The unrelated world's step finished while the long run still holds its world.
      assert NIF.world_column(busy.ref, 0, 0, 1, false) == :busy
      refute_received {:finished, ^runner}

      # A process waiting for the busy world is an ordinary process: it dies when killed.
      Process.exit(waiter, :kill)
      refute Process.alive?(waiter)
      refute_received {:waited, _}

      Process.exit(runner, :kill)
      assert is_map(World.to_state(busy))
    end
  end

  test "processes waiting for a busy world hold no dirty scheduler: a major collection runs" do
    # Far longer than building and collecting the heap below on a loaded machine; killing the
    # runner at the end cancels it.
    {busy, steps} = busy_world(1_500, 30.0)
    runner = start_run(busy, steps)
    waiters = for _ <- 1..3, do: spawn(fn -> World.to_state(busy) end)

    # A heap this large is collected on a dirty CPU scheduler; with every dirty scheduler but
    # the runner's blocked by waiters it would wait for the run to end.
    big =
      spawn(fn ->
        list = Enum.to_list(1..3_000_000)

        receive do
          {:collect, from} ->
            :erlang.garbage_collect()
            send(from, {:collected, length(list)})
        end
      end)

    send(big, {:collect, self()})
    assert_receive {:collected, 3_000_000}, 60_000
    assert NIF.world_column(busy.ref, 0, 0, 1, false) == :busy
    refute_received {:finished, ^runner}
    Enum.each([runner | waiters], &Process.exit(&1, :kill))
  end

  test "concurrent steps of one world each run with their own params" do
    world =
      World.new(
        Ballistics,
        %{particles: [%{position: {0.0, 0.0, 0.0}, velocity: {0.0, 0.0, 0.0}}]},
        backend: :native
      )

    n = 2_000

    tasks =
      for g <- [1.0, 1000.0] do
        Task.async(fn ->
          run =
            Options.step!(world.system, steps: 1, dt: 1.0, params: %{g: g}, rules: [:accelerate])

          # The backend's run on the one engine world (World.step/2 would let one handle win).
          for _ <- 1..n, do: world.impl.run(world.system, world.ref, run)
        end)
      end

    Enum.each(tasks, &Task.await(&1, 60_000))
    [%{velocity: {_, vy, _}}] = World.to_state(world).particles
    # Every step subtracted its own g * dt: any step run with the other's g changes the sum.
    assert vy == -(n * 1.0 + n * 1000.0)
  end

  describe "cancellation" do
    test "a caller's death stops its run inside a step and leaves the world as before" do
      # One all-pairs step of 20,000 bodies: far longer than the wait before the kill.
      state = %{bodies: bodies(20_000)}
      world = World.new(Gravity, state, backend: :native)
      before = World.column(world, :bodies, :velocity)
      pid = start_run(world, 1)
      Process.exit(pid, :kill)

      assert World.column(world, :bodies, :velocity) == before
      assert World.to_state(world) == state

      # The world is usable afterwards.
      small = World.new(Gravity, %{bodies: bodies(10)}, backend: :native)
      assert %World{} = World.step(small, steps: 2, dt: 1.0e-3)
    end
  end

  describe "after a NumericalError" do
    for backend <- [:native, :interpreted] do
      test "the #{backend} world holds the state from before the failing call" do
        # agent 1 reaches scale 0 in step 3 of the call
        state = %{cells: [%{value: 1.0, scale: 5.0}, %{value: 1.0, scale: 3.0}]}
        world = World.new(Fragile, state, backend: unquote(backend))
        world = World.step(world, steps: 1, rules: [:countdown])
        stepped = World.to_state(world)
        column = World.column(world, :cells, :value)

        error =
          assert_raise NumericalError, fn -> World.step(world, steps: 10, rules: [:countdown]) end

        assert %NumericalError{index: 1, step: 2} = error
        assert World.to_state(world) == stepped
        assert World.column(world, :cells, :value) == column
        # Stepping up to the failing step reaches the last finite state.
        world = World.step(world, steps: 1, rules: [:countdown])
        assert [_, %{scale: 1.0}] = World.to_state(world).cells
      end
    end
  end

  test "the garbage collector counts a world's native memory" do
    # 100 worlds of 100,000 bodies (5.6 MB of columns each), each dropped at once: a process
    # whose collector saw only a small handle per world would keep most of them alive.
    state = %{
      bodies:
        for(
          i <- 1..100_000,
          do: %{position: {i * 1.0, 0.0, 0.0}, velocity: {0.0, 0.0, 0.0}, mass: 1.0}
        )
    }

    peak =
      Task.async(fn ->
        Enum.reduce(1..100, 0, fn _, peak ->
          World.new(Gravity, state, backend: :native)
          max(peak, NIF.live_worlds())
        end)
      end)
      |> Task.await(60_000)

    assert peak <= 10
  end

  describe "arguments are checked before anything long happens" do
    test "long lists where a few elements are expected" do
      world = World.new(Ballistics, %{particles: []}, backend: :native)
      long = List.duplicate({:kernels, true}, 1_000_000)

      assert_raise ArgumentError, ~r/world options must be a keyword list of at most 16/, fn ->
        NIF.world_set_options(world.ref, long)
      end

      assert_raise ArgumentError, ~r/params must be a list of 2 numbers/, fn ->
        NIF.native_run_steps(world.ref, List.duplicate(1.0, 1_000_000), 1, [0])
      end

      assert_raise ArgumentError, ~r/params must be a list of 2 numbers/, fn ->
        NIF.native_run_steps(world.ref, [1.0 | 2.0], 1, [0])
      end
    end
  end

  describe ":int values that the world's precision would round" do
    for {precision, limit} <- [f32: 16_777_216, f64: 9_007_199_254_740_992] do
      test "are out of range in #{precision} worlds" do
        particle = %{position: {0.0, 0.0, 0.0}, velocity: {0.0, 0.0, 0.0}, mass: 1.0}
        ok = %{particles: [Map.put(particle, :generation, unquote(limit))], walls: []}
        bad = put_in(ok, [:particles, Access.at(0), :generation], unquote(limit) + 1)
        opts = [backend: :native, precision: unquote(precision)]
        assert %World{} = World.new(Keep, ok, opts)

        assert_raise ArgumentError, "state.particles[0].generation is out of range", fn ->
          World.new(Keep, bad, opts)
        end
      end
    end
  end
end
