defmodule BrokenRecord.Zero.ReductionProbe do
  @moduledoc """
  One run of the reduction systems, for the tests that compare runs under different OpenMP
  thread counts (read once by the engine: every run is a separate `mix run` started by
  `run/1`). Large enough that the engine sweeps on several threads when it may.
  """

  alias BrokenRecord.Zero.{Probe, ReductionSystems, World}
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

    columns =
      for {kernels, c, s} <- worlds,
          {world, collection, field} <-
            for(f <- [:first, :near, :low, :level], do: {c, :dots, f}) ++
              for(f <- [:peak, :quiet], do: {s, :sensors, f}) ++
              for(f <- [:loudest, :closest], do: {s, :sources, f}),
          do: {"#{kernels}.#{collection}.#{field}", world, collection, field}

    paths =
      for {_, c, s} <- worlds,
          world <- [c, s],
          {path, count} <- World.info(world).sweeps,
          count > 0,
          do: path

    Probe.print(columns, paths)
  end

  @doc "Runs `main/0` in a new `mix run` with the environment `env` (`Probe.run/2`)."
  @spec run([{String.t(), String.t()}]) :: {%{String.t() => binary}, String.t()}
  def run(env), do: Probe.run(__MODULE__, env)
end
