defmodule BrokenRecord.Zero.EvaporationProbe do
  @moduledoc """
  One run of `BrokenRecord.Zero.Fixtures.Evaporation` (examples/systems/evaporation.ex), for
  the test that compares runs under different OpenMP thread counts (read once by the engine:
  each run is a separate `mix run`). Large enough that the neighbour list has one sub-list per
  thread and that more than 1,024 children a step are looked up on several threads, so the
  lists follow births and deaths on every thread.
  """

  alias BrokenRecord.Zero.Fixtures.Evaporation
  alias BrokenRecord.Zero.{Probe, World}

  @doc "Runs 4 steps (one, then three in one call) of 150,000 particles and prints them."
  @spec main() :: :ok
  def main do
    world =
      Evaporation
      |> World.new(gas(150_000), seed: 3)
      |> World.step(steps: 1, dt: 0.01)
      |> World.step(steps: 3, dt: 0.01)

    columns = for f <- [:position, :velocity], do: {"particles.#{f}", world, :particles, f}
    info = World.info(world)
    paths = for {path, n} <- info.sweeps, n > 0, do: path
    extra = ["count=#{World.counts(world).particles}", "builds=#{info.neighbour_builds}"]
    Probe.print(columns, extra ++ paths)
  end

  @doc "Runs `main/0` in a new `mix run` with the environment `env` (`Probe.run/2`)."
  @spec run([{String.t(), String.t()}]) :: {%{String.t() => binary}, String.t()}
  def run(env), do: Probe.run(__MODULE__, env)

  # Uniform in a periodic cube at 1.2 per unit volume (the bench's density).
  defp gas(n) do
    :rand.seed(:exsss, {7, 8, 9})
    side = :math.pow(n / 1.2, 1 / 3)
    u = fn -> :rand.uniform() end

    particles =
      for _ <- 1..n do
        %{position: {u.() * side, u.() * side, u.() * side}, velocity: {u.() - 0.5, 0.0, 0.0}}
      end

    %{particles: particles, box: {side, side, side}}
  end
end
