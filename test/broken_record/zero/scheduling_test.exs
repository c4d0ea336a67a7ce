defmodule BrokenRecord.Zero.SchedulingTest do
  @moduledoc """
  Native runs happen on dirty CPU schedulers and stop when their caller dies. These tests check
  behaviour with generous bounds, never speed.
  """
  use ExUnit.Case, async: false

  @moduletag :native

  alias BrokenRecord.Zero.{NIF, World}
  alias BrokenRecord.Zero.TestSystems.Gravity

  defp bodies(n), do: BrokenRecord.Zero.TestHelpers.bodies(n, 10.0, 7)

  # Steps that take about `seconds` on this machine, measured on a copy of the world.
  defp steps_for(world, seconds) do
    copy = World.copy(world)
    {t, _} = :timer.tc(fn -> World.step(copy, steps: 10, dt: 1.0e-6, rules: [:gravity]) end)
    max(10, round(seconds * 1.0e6 / max(t, 1) * 10))
  end

  defp ticker(parent) do
    spawn_link(fn -> tick(parent, 0) end)
  end

  defp tick(parent, n) do
    receive do
      :report -> send(parent, {:ticks, n})
    after
      5 -> tick(parent, n + 1)
    end
  end

  test "Elixir processes keep running while a long native run is in progress" do
    world = World.new(Gravity, %{bodies: bodies(1_500)}, backend: :native)
    {elapsed_ms, ticks} = timed_run_with_ticker(world, steps_for(world, 1.5))
    # A 5 ms ticker ticks about elapsed/5 times on an idle machine; the engine's OpenMP threads
    # compete with it for the cores, so ask only for one tick per 250 ms: a scheduler blocked
    # by the run would starve it for the whole run.
    assert elapsed_ms >= 200
    assert ticks >= div(elapsed_ms, 250)
  end

  # Runs `steps` (doubling them until the run lasts at least 300 ms) while a ticker counts.
  defp timed_run_with_ticker(world, steps) do
    ticker = ticker(self())
    t0 = System.monotonic_time(:millisecond)
    task = Task.async(fn -> World.step(world, steps: steps, dt: 1.0e-6, rules: [:gravity]) end)
    assert %World{} = world = Task.await(task, 120_000)
    elapsed_ms = System.monotonic_time(:millisecond) - t0
    send(ticker, :report)
    assert_receive {:ticks, ticks}, 5_000

    if elapsed_ms < 300 and steps < 1_000_000,
      do: timed_run_with_ticker(world, steps * 4),
      else: {elapsed_ms, ticks}
  end

  test "a native run stops early when its calling process dies" do
    world = World.new(Gravity, %{bodies: bodies(1_500)}, backend: :native)
    # About a minute of work if it were not cancelled.
    steps = steps_for(world, 60.0)
    pid = spawn(fn -> World.step(world, steps: steps, dt: 1.0e-6, rules: [:gravity]) end)
    Process.sleep(300)
    Process.exit(pid, :kill)

    # The world's lock is released once the cancelled run notices, within about one step:
    # a read of the same engine world completes long before the minute is up. The handle
    # itself was superseded by the step its dead caller started.
    assert_raise ArgumentError, ~r/this world was stepped/, fn -> World.counts(world) end

    task =
      Task.async(fn -> NIF.until_free(fn -> NIF.world_column(world.ref, 0, 0, 1, false) end) end)

    assert {:ok, column} = Task.yield(task, 20_000)
    assert is_binary(column)
  end
end
