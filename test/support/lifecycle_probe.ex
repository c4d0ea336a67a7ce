defmodule BrokenRecord.Zero.LifecycleProbe do
  @moduledoc """
  One run of `BrokenRecord.Zero.LifecycleSystems.Cells`, for the test that compares runs under
  different OpenMP thread counts (read once by the engine: each run is a separate `mix run`).
  Large enough that the engine sweeps the per-agent rules on several threads.
  """

  alias BrokenRecord.Zero.{LifecycleSystems, Probe, World}
  alias BrokenRecord.Zero.LifecycleSystems.Cells

  @doc "Runs 4 steps of 300,000 cells and prints their columns (`Probe.print/2`)."
  @spec main() :: :ok
  def main do
    world =
      Cells
      |> World.new(LifecycleSystems.cells(300_000, 9), seed: 4)
      |> World.step(steps: 4, dt: 0.1)

    columns = for f <- [:position, :mass, :age], do: {"cells.#{f}", world, :cells, f}
    paths = for {path, n} <- World.info(world).sweeps, n > 0, do: path
    Probe.print(columns, ["count=#{World.counts(world).cells}" | paths])
  end

  @doc "Runs `main/0` in a new `mix run` with the environment `env` (`Probe.run/2`)."
  @spec run([{String.t(), String.t()}]) :: {%{String.t() => binary}, String.t()}
  def run(env), do: Probe.run(__MODULE__, env)
end
