defmodule BrokenRecord.Zero.RandomProbe do
  @moduledoc """
  One run of the random-number systems, for the tests that compare runs under different engine
  settings (ISA, OpenMP threads, neighbour lists), each set by environment variables that the
  engine reads once: every run is a separate `mix run` started by `run/1`.
  """

  alias BrokenRecord.Zero.{RandomSystems, World}
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

    for {world, collection, field} <- columns do
      IO.puts("#{collection}.#{field} #{Base.encode16(World.column(world, collection, field))}")
    end

    paths = for {path, count} <- Enum.sort(World.info(dpd).sweeps), count > 0, do: path
    IO.puts("paths #{Enum.join(paths, ",")}")
  end

  @doc """
  Runs `main/0` in a new `mix run` with the environment `env`; returns
  `%{"dots.u" => binary, ...}` and the paths line.
  """
  @spec run([{String.t(), String.t()}]) :: {%{String.t() => binary}, String.t()}
  def run(env) do
    {out, 0} =
      System.cmd("mix", ["run", "--no-compile", "-e", "BrokenRecord.Zero.RandomProbe.main()"],
        env: [{"MIX_ENV", "test"} | env],
        stderr_to_stdout: true
      )

    lines = String.split(out, "\n", trim: true)
    paths = Enum.find(lines, &String.starts_with?(&1, "paths "))

    columns =
      for line <- lines, [name, hex] <- [String.split(line, " ")], name != "paths", into: %{} do
        {name, Base.decode16!(hex)}
      end

    {columns, paths}
  end
end
