defmodule BrokenRecord.Zero.ReductionProbe do
  @moduledoc """
  One run of the reduction systems, for the tests that compare runs under different OpenMP
  thread counts (read once by the engine: every run is a separate `mix run` started by
  `run/1`). Large enough that the engine sweeps on several threads when it may.
  """

  alias BrokenRecord.Zero.{ReductionSystems, World}
  alias BrokenRecord.Zero.ReductionSystems.{Contact, Sensors}

  @doc """
  Runs `Contact` (4096 dots, neighbour lists) and `Sensors` (512 of each type: a grid and all
  pairs), with the generated kernels and without, and prints per line `name hex` with the
  bytes of every reduced column, then the paths the engine ran (`paths a,b`).
  """
  @spec main() :: :ok
  def main do
    contact = %{dots: ReductionSystems.dots(16, 21)}
    sensors = ReductionSystems.sensors(8, 22)

    worlds =
      for kernels <- [true, false] do
        c =
          Contact
          |> World.new(contact, kernels: kernels)
          |> World.step(steps: 3, dt: 0.25, params: %{radius: 1.3})

        s =
          Sensors
          |> World.new(sensors, kernels: kernels)
          |> World.step(steps: 2, params: %{range: 1.2})

        {kernels, c, s}
      end

    for {kernels, c, s} <- worlds do
      columns =
        for(f <- [:first, :near, :low, :level], do: {c, :dots, f}) ++
          for(f <- [:peak, :quiet], do: {s, :sensors, f}) ++
          for f <- [:loudest, :closest], do: {s, :sources, f}

      for {world, collection, field} <- columns do
        name = "#{kernels}.#{collection}.#{field}"
        IO.puts("#{name} #{Base.encode16(World.column(world, collection, field))}")
      end
    end

    paths =
      for {_, c, s} <- worlds,
          world <- [c, s],
          {path, count} <- World.info(world).sweeps,
          count > 0,
          uniq: true,
          do: path

    IO.puts("paths #{paths |> Enum.sort() |> Enum.join(",")}")
  end

  @doc """
  Runs `main/0` in a new `mix run` with the environment `env`; returns
  `%{"true.dots.first" => binary, ...}` and the paths line.
  """
  @spec run([{String.t(), String.t()}]) :: {%{String.t() => binary}, String.t()}
  def run(env) do
    {out, 0} =
      System.cmd("mix", ["run", "--no-compile", "-e", "BrokenRecord.Zero.ReductionProbe.main()"],
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
