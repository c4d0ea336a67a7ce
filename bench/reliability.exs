# How the native engine shares the machine with the BEAM (docs/nif.md). `mix bench` runs it
# after bench.exs; alone:
#
#     MIX_ENV=prod mix run bench/reliability.exs [seconds | --quick | --smoke]
#
# 1. A process ticking every 1 ms on a normal scheduler while a native run uses every core:
#    its worst and 99th-percentile lateness, and the run's speed against the same run alone.
# 2. One step of an unrelated world while another world is busy.
# 3. Time from a caller's death to its world being free, during a long all-pairs step.
# 4. RSS after 100,000 world create/free cycles.
alias BrokenRecord.Zero.{NIF, World}

unless Code.ensure_loaded?(BrokenRecord.Zero.Fixtures),
  do: Code.require_file("../examples/fixtures.ex", __DIR__)

BrokenRecord.Zero.Fixtures.ensure([BrokenRecord.Zero.Fixtures.Gravity])

defmodule Reliability do
  alias BrokenRecord.Zero.Fixtures.Gravity

  def bodies(n) do
    :rand.seed(:exsss, {4, 5, 6})

    for _ <- 1..n do
      %{
        position: {:rand.uniform(), :rand.uniform(), :rand.uniform()},
        velocity: {0.0, 0.0, 0.0},
        mass: 1.0 / n
      }
    end
  end

  def world(n), do: World.new(Gravity, %{bodies: bodies(n)}, backend: :native)

  def ms(us), do: :erlang.float_to_binary(us / 1000, decimals: 2)

  # Steps of `world` lasting about `seconds`.
  def steps_for(world, seconds) do
    copy = World.copy(world)
    {t, _} = :timer.tc(fn -> World.step(copy, steps: 4, dt: 1.0e-9) end)
    max(4, round(seconds * 4.0e6 / t))
  end

  def ticker(parent) do
    spawn(fn -> tick(parent, System.monotonic_time(:microsecond) + 1000, []) end)
  end

  defp tick(parent, due, lates) do
    receive do
      :stop -> send(parent, {:lates, lates})
    after
      1 ->
        now = System.monotonic_time(:microsecond)
        tick(parent, now + 1000, [max(0, now - due) | lates])
    end
  end

  def responsiveness(seconds) do
    world = world(4_000)
    steps = steps_for(world, seconds)
    {alone, world} = :timer.tc(fn -> World.step(world, steps: steps, dt: 1.0e-9) end)
    ticker = ticker(self())
    Process.sleep(100)
    {shared, _} = :timer.tc(fn -> World.step(world, steps: steps, dt: 1.0e-9) end)
    send(ticker, :stop)
    lates = receive(do: ({:lates, l} -> Enum.sort(l)))
    p99 = Enum.at(lates, div(length(lates) * 99, 100))

    IO.puts(
      "ticker (1 ms) during a #{ms(shared)} ms native run on #{System.schedulers_online()} " <>
        "schedulers: worst lateness #{ms(List.last(lates))} ms, p99 #{ms(p99)} ms, " <>
        "#{length(lates)} ticks; run speed with the ticker / alone: " <>
        :erlang.float_to_binary(alone / shared, decimals: 3)
    )
  end

  def unrelated_step do
    busy = world(4_000)
    steps = steps_for(busy, 3.0)
    task = Task.async(fn -> World.step(busy, steps: steps, dt: 1.0e-9) end)
    wait_busy(busy)
    small = world(200)

    {times, _} =
      Enum.map_reduce(1..20, small, fn _, small ->
        :timer.tc(fn -> World.step(small, steps: 1, dt: 1.0e-9) end)
      end)

    IO.puts(
      "one step of an unrelated 200-body world while a 4,000-body world is busy: " <>
        "worst #{ms(Enum.max(times))} ms, median #{ms(Enum.at(Enum.sort(times), 10))} ms (20 calls)"
    )

    Task.shutdown(task, :brutal_kill)
  end

  def cancel_latency do
    world = world(40_000)
    {:ok, step_us} = one_step_estimate()
    pid = spawn(fn -> World.step(world, steps: 1, dt: 1.0e-9) end)
    wait_busy(world)
    Process.sleep(200)
    t0 = System.monotonic_time(:microsecond)
    Process.exit(pid, :kill)
    wait_free(world)
    t1 = System.monotonic_time(:microsecond)

    IO.puts(
      "caller killed 200 ms into a one-step all-pairs run of 40,000 bodies " <>
        "(about #{ms(step_us)} ms): world free #{ms(t1 - t0)} ms after the kill"
    )
  end

  defp one_step_estimate do
    w = world(4_000)
    {t, _} = :timer.tc(fn -> World.step(w, steps: 1, dt: 1.0e-9) end)
    {:ok, t * 100}
  end

  def wait_busy(world) do
    if NIF.world_column(world.ref, 0, 0, 1, false) == :busy, do: :ok, else: wait_busy(world)
  end

  def wait_free(world) do
    if NIF.world_column(world.ref, 0, 0, 1, false) == :busy, do: wait_free(world), else: :ok
  end

  def rss_kb do
    "/proc/self/status"
    |> File.read!()
    |> String.split("\n")
    |> Enum.find_value(fn line ->
      case String.split(line) do
        ["VmRSS:", kb, "kB"] -> String.to_integer(kb)
        _ -> nil
      end
    end)
  end

  def churn(cycles) do
    state = %{bodies: bodies(100)}
    before = rss_kb()

    Enum.each(1..cycles, fn k ->
      World.new(Gravity, state, backend: :native)
      if rem(k, 1000) == 0, do: :erlang.garbage_collect()
    end)

    :erlang.garbage_collect()
    Process.sleep(200)

    IO.puts(
      "#{cycles} world create/free cycles (100 bodies each): RSS #{div(before, 1024)} MiB -> " <>
        "#{div(rss_kb(), 1024)} MiB, live worlds #{NIF.live_worlds()}"
    )
  end
end

{seconds, cycles} =
  case System.argv() do
    ["--smoke" | _] -> {1, 1_000}
    ["--quick" | _] -> {3, 10_000}
    [s] -> {String.to_integer(s), 100_000}
    _ -> {10, 100_000}
  end

IO.puts(
  "\n== reliability (native engine: ISA #{NIF.isa()}, #{System.schedulers_online()} schedulers)"
)

Reliability.responsiveness(seconds)
Reliability.unrelated_step()
Reliability.cancel_latency()
Reliability.churn(cycles)
