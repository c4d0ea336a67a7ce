defmodule BrokenRecord.Zero.SchedulingTest do
  @moduledoc """
  Native runs happen on dirty CPU schedulers and stop when their caller dies. These tests check
  behaviour with generous bounds, never speed.
  """
  use ExUnit.Case, async: false

  @moduletag :native

  alias BrokenRecord.Zero.World
  alias BrokenRecord.Zero.TestSystems.Gravity

  defp bodies(n) do
    :rand.seed(:exsss, {7, 8, 9})

    for _ <- 1..n do
      %{
        position: {:rand.uniform() * 10, :rand.uniform() * 10, :rand.uniform() * 10},
        velocity: {0.0, 0.0, 0.0},
        mass: 1.0 / n
      }
    end
  end

  # Steps that take about `seconds` on this machine, measured on the world itself.
  defp steps_for(world, seconds) do
    {t, _} = :timer.tc(fn -> World.step(world, steps: 10, dt: 1.0e-6, rules: [:gravity]) end)
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
    steps = steps_for(world, 1.5)
    ticker = ticker(self())
    task = Task.async(fn -> World.step(world, steps: steps, dt: 1.0e-6, rules: [:gravity]) end)
    Process.sleep(500)
    # The run is still in progress and the ticker has been scheduled all along.
    assert Task.yield(task, 0) == nil
    send(ticker, :report)
    assert_receive {:ticks, ticks}, 5_000
    assert ticks >= 10
    assert %World{} = Task.await(task, 120_000)
  end

  test "a native run stops early when its calling process dies" do
    world = World.new(Gravity, %{bodies: bodies(1_500)}, backend: :native)
    # About a minute of work if it were not cancelled.
    steps = steps_for(world, 60.0)
    pid = spawn(fn -> World.step(world, steps: steps, dt: 1.0e-6, rules: [:gravity]) end)
    Process.sleep(300)
    Process.exit(pid, :kill)

    # The world's lock is released once the cancelled run notices, within about one step:
    # a one-step call on the same world completes long before the minute is up.
    task = Task.async(fn -> World.step(world, steps: 1, dt: 1.0e-6, rules: [:gravity]) end)
    assert {:ok, %World{}} = Task.yield(task, 20_000)
  end
end
