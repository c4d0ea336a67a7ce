defmodule Bench.Scenarios.LJ do
  @moduledoc """
  The LJ benchmark (`BrokenRecord.Zero.Fixtures.LennardJones`), next to LAMMPS
  (`Bench.Lammps`).

  32,000 atoms on an fcc lattice at reduced density 0.8442 (a = (4/0.8442)^(1/3), 20x20x20
  unit cells), LJ epsilon = sigma = mass = 1, rc = 2.5 (plain cutoff: no shift, no tail
  correction), velocity Verlet, dt = 0.005, 100 steps, f64; initial velocities from :rand
  (seeded), Maxwell-Boltzmann at T = 1.44 (3N - 3 degrees of freedom), zero total momentum.

  Boundaries: NON-periodic in both codes. The engine's cell lists are non-periodic and the
  DSL has no periodic-image construct that keeps the cutoff guard a plain position difference
  (minimum image through floor/1 would work but turns the rule into an all-pairs rule). So
  the lattice is a free cluster in vacuum, and LAMMPS runs the very same system with
  `boundary s s s` (shrink-wrapped, non-periodic). This differs from LAMMPS's own bench/in.lj
  (periodic): surface atoms have fewer neighbours, ~13% fewer pairs within rc.
  """

  alias Bench.{Config, Inputs, Lammps, Measure, Row}
  alias BrokenRecord.Zero.Fixtures.LennardJones
  alias BrokenRecord.Zero.World

  @doc "The DSL's row and LAMMPS's (native engine only)."
  @spec run(Config.t()) :: [map]
  def run(%Config{native?: false}), do: []

  def run(config) do
    cells = Config.pick(config, full: 20, quick: 20, smoke: 4)
    {atoms, box} = Inputs.fcc_lattice(cells, 0.8442, 1.44)
    n = length(atoms)
    world = World.new(LennardJones, %{atoms: atoms}, backend: :native, precision: :f64)

    {t_force, world} =
      Measure.best_of(1, fn -> World.step(world, steps: 1, rules: [:lj_force]) end)

    e0 = energy(world)

    budget = Config.pick(config, full: 150.0, quick: 15.0)
    wanted = Config.pick(config, full: 100, quick: 20, smoke: 5)
    steps = max(1, min(wanted, floor(budget / max(t_force, 1.0e-6))))

    {t, world} =
      Measure.best_of(1, fn ->
        World.step(world,
          steps: steps,
          dt: 0.005,
          rules: [:half_kick, :drift, :lj_force, :half_kick_2]
        )
      end)

    e1 = energy(world)

    dsl =
      Row.new(:lj, n, :native, :f64,
        steps: steps,
        steps_wanted: wanted,
        seconds_per_step: t / steps,
        seconds_total: t,
        throughput: n * steps / t,
        unit: "atom-steps/s",
        energy_initial: e0,
        energy_final: e1,
        cutoff: Measure.cutoff_of(LennardJones, :lj_force)
      )

    [dsl | Lammps.rows(atoms, box, steps, dsl)]
  end

  defp energy(world) do
    world = World.step(world, steps: 1, rules: [:clear_pe, :lj_energy])
    pe = world |> World.column(:atoms, :pe) |> sum_floats()
    ke = world |> World.column(:atoms, :velocity) |> sum_squares() |> Kernel.*(0.5)
    ke + pe
  end

  defp sum_floats(bin), do: for(<<x::float-native-64 <- bin>>, reduce: 0.0, do: (s -> s + x))
  defp sum_squares(bin), do: for(<<x::float-native-64 <- bin>>, reduce: 0.0, do: (s -> s + x * x))
end
