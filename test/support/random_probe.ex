defmodule BrokenRecord.Zero.RandomProbe do
  @moduledoc """
  One run of the random-number systems, for the tests that compare runs under different engine
  settings (ISA, OpenMP threads, neighbour lists), each set by environment variables that the
  engine reads once: every run is a separate `mix run` started by `run/1`.
  """

  alias BrokenRecord.Zero.{Probe, RandomSystems, World}
  alias BrokenRecord.Zero.RandomSystems.{DPD, Draws}

  @doc """
  Runs `Draws` (3 steps on 300 dots and 7 posts) and `DPD` (5 steps on a fluid of 6^3 cells at
  density 3, on neighbour lists unless they are off) and prints, per line, `name hex` with the
  bytes of each column of interest, then the paths the engine ran for `DPD` (`paths a,b`).
  """
  @spec main() :: :ok
  def main do
    draws =
      Draws
      |> World.new(RandomSystems.draws_state(300, 7), seed: 31)
      |> World.step(steps: 3)

    dpd =
      DPD
      |> World.new(RandomSystems.dpd_state(6, 3.0, 4), seed: 32)
      |> World.step(steps: 5, dt: 0.01, params: %{repulsion: 25.0, gamma: 4.5, sigma: 3.0})

    columns = [
      {draws, :dots, :u},
      {draws, :dots, :u2},
      {draws, :dots, :n},
      {draws, :dots, :s},
      {draws, :dots, :t},
      {draws, :posts, :c},
      {dpd, :beads, :velocity}
    ]

    paths = for {path, count} <- World.info(dpd).sweeps, count > 0, do: path
    Probe.print(Enum.map(columns, fn {w, c, f} -> {"#{c}.#{f}", w, c, f} end), paths)
  end

  @doc "Runs `main/0` in a new `mix run` with the environment `env` (`Probe.run/2`)."
  @spec run([{String.t(), String.t()}]) :: {%{String.t() => binary}, String.t()}
  def run(env), do: Probe.run(__MODULE__, env)
end
