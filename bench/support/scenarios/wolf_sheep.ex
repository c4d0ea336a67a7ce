defmodule Bench.Scenarios.WolfSheep do
  @moduledoc """
  NetLogo's Wolf Sheep Predation (`BrokenRecord.Zero.Fixtures.WolfSheep`, the parameters of
  examples/wolf_sheep.exs) on 272 x 272 patches with 0.3 sheep and 0.05 wolves per patch,
  about 100,000 agents in all: exclusive grazing and hunting, births and deaths every step.
  Native f64 and f32. The counts change from step to step, so besides the time per step each
  row has the time per agent-step: the timed steps' total time over the sum of the living
  agents (patches, sheep and wolves, `World.counts/1`) at the start of each timed step
  (`ns_per_agent_step`, and the throughput in agent-steps/s). The pure-Elixir backend
  evaluates all pairs of an exclusive rule, so it runs on 20 x 20 patches only, next to the
  native engine at that size for its ratio.
  """

  alias Bench.{Config, Measure, Row}
  alias BrokenRecord.Zero.Fixtures.WolfSheep
  alias BrokenRecord.Zero.World

  @params %{
    sheep_gain: 4.0,
    wolf_gain: 20.0,
    sheep_birth: 0.04,
    wolf_birth: 0.05,
    regrowth: 30.0
  }

  @doc "The scenario's rows."
  @spec run(Config.t()) :: [map]
  def run(config) do
    side = Config.pick(config, full: 272, quick: 272, smoke: 40)
    steps = Config.pick(config, full: 100, quick: 30, smoke: 3)
    small = Config.pick(config, full: 20, quick: 20, smoke: 10)
    small_steps = Config.pick(config, full: 5, quick: 3, smoke: 2)

    large =
      if config.native?,
        do:
          Measure.in_rounds(config, fn ->
            for p <- [:f64, :f32], do: measure(side, steps, :native, p)
          end),
        else: []

    # the same steps on both backends, so that both time the same populations
    large ++
      Measure.in_rounds(config, fn ->
        native = if config.native?, do: [measure(small, small_steps, :native, :f64)], else: []
        native ++ [measure(small, small_steps, :interpreted, :f64)]
      end)
  end

  defp measure(side, steps, backend, precision) do
    state = state(side)
    n = length(state.patches) + length(state.sheep) + length(state.wolves)
    run = [steps: 1, dt: 1.0, params: @params]
    world = World.new(WolfSheep, state, backend: backend, precision: precision, seed: 17)
    world = World.step(world, run)
    :erlang.garbage_collect()

    # one timed call per step, the agents counted between the calls, outside the clock
    {seconds, agent_steps, _world} =
      Enum.reduce(1..steps, {0.0, 0, world}, fn _, {seconds, agent_steps, world} ->
        agents = world |> World.counts() |> Map.values() |> Enum.sum()
        t0 = System.monotonic_time(:nanosecond)
        world = World.step(world, run)
        t = (System.monotonic_time(:nanosecond) - t0) / 1.0e9
        {seconds + t, agent_steps + agents, world}
      end)

    Row.new(:wolf_sheep, n, contender(backend), precision, %{
      side: side,
      steps: steps,
      seconds_per_step: seconds / steps,
      agents_mean: agent_steps / steps,
      ns_per_agent_step: seconds / agent_steps * 1.0e9,
      throughput: agent_steps / seconds,
      unit: "agent-steps/s",
      gflops: nil
    })
  end

  defp contender(:native), do: :native
  defp contender(:interpreted), do: :elixir

  # 0.3 sheep and 0.05 wolves per patch, NetLogo's random placement (seed 17)
  defp state(side),
    do:
      WolfSheep.Setup.state(
        side,
        round(side * side * 0.3),
        round(side * side * 0.05),
        @params,
        17
      )
end
