defmodule BrokenRecord.Zero.ExclusiveProbe do
  @moduledoc """
  One run of the exclusive systems, for the test that compares runs under different OpenMP
  thread counts (read once by the engine: every run is a separate `mix run` started by
  `run/1`).
  """

  alias BrokenRecord.Zero.{ExclusiveSystems, Probe, World}
  alias BrokenRecord.Zero.ExclusiveSystems.{Molecules, Pasture}

  @doc """
  Runs `Molecules` (600 molecules) and `Pasture` (200 wolves, 3000 sheep: the sheep's crowd
  rule on a neighbour list, on several threads when allowed) and prints the partner columns
  (`Probe.print/2`).
  """
  @spec main() :: :ok
  def main do
    m =
      Molecules
      |> World.new(%{molecules: ExclusiveSystems.scattered(600, 12.0, 31)})
      |> World.step(steps: 2, params: %{radius: 1.0, rate: 0.7})

    p =
      Pasture
      |> World.new(%{
        wolves: ExclusiveSystems.scattered(200, 20.0, 32),
        sheep: ExclusiveSystems.scattered(3000, 20.0, 33)
      })
      |> World.step(steps: 2, params: %{range: 1.5, near: 1.0})

    columns = [
      {"molecules.partner", m, :molecules, :partner},
      {"molecules.bonds", m, :molecules, :bonds},
      {"wolves.prey", p, :wolves, :prey},
      {"sheep.eaten_by", p, :sheep, :eaten_by}
    ]

    paths = for world <- [m, p], {path, n} <- World.info(world).sweeps, n > 0, do: path
    Probe.print(columns, paths)
  end

  @doc "Runs `main/0` in a new `mix run` with the environment `env` (`Probe.run/2`)."
  @spec run([{String.t(), String.t()}]) :: {%{String.t() => binary}, String.t()}
  def run(env), do: Probe.run(__MODULE__, env)
end
