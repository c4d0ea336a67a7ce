defmodule Bench.Scenarios.FeneChain do
  @moduledoc """
  LAMMPS's FENE bead-spring melt (examples/COUPLE/multiple/in.chain on data.chain, Debian's
  `lammps-examples`): 32,000 beads in chains of 100, 31,680 FENE bonds (K = 30, R0 = 1.5),
  WCA pairs (`lj/cut 1.12`, shifted) between beads no bond joins (`special_bonds fene`), dt
  0.012, a periodic box of edge 33.592. The DSL's system is `BrokenRecord.Zero.Fixtures.FeneChain`
  (row scenario `:fene_chain`).

  1. `BrokenRecord.Zero.LammpsData.read/1` reads data.chain (positions, velocities, bonds) into
     the state; the DSL computes the initial forces (`wca`, `fene`), then times 100 steps of
     `[:half_kick, :drift, :wca, :fene, :half_kick_2]` (NVE) in one `World.step/2` (native, f64),
     three times from copies of the same world (one in a `--smoke` run), and keeps the best.
     Its energies (the `epair` and `ebond` observables, the built-in kinetic energy) before and
     after go beside LAMMPS's thermo.
  2. LAMMPS runs the same input with `fix nve` only (in.chain's Langevin fix removed: its random
     stream is not ours; `Bench.Lammps.fene/2`) on 1 rank and on 2 ranks (`mpirun -np 2`), as
     many times as the DSL, and keeps the best loop time. The target compares with the 2-rank
     loop time; the energies after 100 steps must agree within 1e-9.
  3. With Langevin: the DSL's `langevin` rule (LAMMPS's `fix langevin 1.0 1.0 1.0`: drag and a
     uniform random force, this library's random numbers) after the forces, timed beside LAMMPS's
     `fix langevin` on 2 ranks (time only: the two random streams differ).

  A `--smoke` run takes 10 steps; without data.chain or LAMMPS the rows say why they were
  skipped.
  """

  alias Bench.{Config, Lammps, Measure, Row}
  alias BrokenRecord.Zero.{LammpsData, World}
  alias BrokenRecord.Zero.Fixtures.FeneChain

  @dt 0.012
  @nve [:half_kick, :drift, :wca, :fene, :half_kick_2]
  @langevin [:half_kick, :drift, :wca, :fene, :langevin, :half_kick_2]

  @doc "The DSL's rows (NVE, Langevin) and LAMMPS's (native engine only)."
  @spec run(Config.t()) :: [map]
  def run(%Config{native?: false}), do: []

  def run(config) do
    steps = Config.pick(config, full: 100, quick: 100, smoke: 10)
    # Both sides keep the best of `runs` runs: one run of 100 steps is a third of a second, and
    # the machine's noise moves single runs by up to a third.
    runs = Config.pick(config, full: 3, quick: 3, smoke: 1)

    case LammpsData.read(Lammps.chain_data()) do
      {:ok, data} ->
        state = state(data)
        nve = dsl_row(state, steps, runs, :nve)
        langevin = dsl_row(state, steps, runs, :langevin)
        dir = Lammps.tmp_dir("fene_chain")

        try do
          [nve, langevin] ++
            for(
              {ranks, thermostat} <- [{1, :nve}, {2, :nve}, {2, :langevin}],
              do: lammps_row(dir, steps, runs, ranks, thermostat, nve, langevin)
            )
        after
          File.rm_rf(dir)
        end

      {:error, why} ->
        [skipped(:native, :nve, why)]
    end
  end

  defp state(data) do
    %{
      beads: Enum.map(data.atoms, &%{position: &1.position, velocity: &1.velocity}),
      bonds: Enum.map(data.bonds, fn {_type, i, j} -> %{a: i, b: j} end),
      box: data.box
    }
  end

  defp dsl_row(state, steps, runs, thermostat) do
    n = length(state.beads)
    world = World.new(FeneChain, state, backend: :native, precision: :f64)
    world = World.step(world, steps: 1, rules: [:wca, :fene])
    e0 = energies(world)
    rules = if thermostat == :nve, do: @nve, else: @langevin
    params = if thermostat == :nve, do: %{}, else: %{temp: 1.0, damp: 1.0}

    {t, world} =
      Measure.best_of(runs, fn ->
        World.step(World.copy(world), steps: steps, dt: @dt, rules: rules, params: params)
      end)

    Row.new(:fene_chain, n, :native, :f64,
      thermostat: thermostat,
      steps: steps,
      seconds_per_step: t / steps,
      seconds_total: t,
      throughput: n * steps / t,
      unit: "atom-steps/s",
      energy_initial: e0,
      runs: runs,
      energy_final: energies(world),
      sweeps: World.info(world).sweeps |> Enum.filter(fn {_, k} -> k > 0 end) |> Map.new()
    )
  end

  defp energies(world) do
    o = World.observe(world, [:epair, :ebond, :kinetic_energy])

    %{
      pair: o.epair,
      bond: o.ebond,
      kinetic: o.kinetic_energy,
      total: o.epair + o.ebond + o.kinetic_energy
    }
  end

  defp lammps_row(dir, steps, runs, ranks, thermostat, nve, langevin) do
    dsl = if thermostat == :nve, do: nve, else: langevin

    case Lammps.missing() do
      nil ->
        case best_lammps(runs, fn ->
               Lammps.fene(dir,
                 steps: steps,
                 thermo: steps,
                 ranks: ranks,
                 langevin: thermostat == :langevin
               )
             end) do
          {:ok, %{loop: loop, breakdown: breakdown, thermo: [first | _] = thermo}} ->
            last = List.last(thermo)

            Row.new(:fene_chain, nve.n, :lammps, nil,
              thermostat: thermostat,
              ranks: ranks,
              steps: last.step - first.step,
              seconds_per_step: loop / (last.step - first.step),
              seconds_total: loop,
              runs: runs,
              throughput: nve.n * (last.step - first.step) / loop,
              unit: "atom-steps/s",
              ratio: dsl.seconds_total / loop,
              ratio_label: "x LAMMPS time (DSL)",
              breakdown: breakdown,
              rel_diff: if(thermostat == :nve, do: rel_diff(nve.energy_final, last)),
              rel_diff_initial: if(thermostat == :nve, do: rel_diff(nve.energy_initial, first))
            )

          {:error, why} ->
            skipped(:lammps, thermostat, why, ranks)
        end

      why ->
        skipped(:lammps, thermostat, why, ranks)
    end
  end

  # The run with the shortest loop time of `runs`, or the first error.
  defp best_lammps(runs, run) do
    Enum.reduce_while(1..runs, nil, fn _, best ->
      case run.() do
        {:ok, %{loop: loop}} = ok when best == nil or loop < elem(best, 1).loop -> {:cont, ok}
        {:ok, _} -> {:cont, best}
        {:error, _} = error -> {:halt, error}
      end
    end)
  end

  defp rel_diff(dsl, thermo) do
    lammps = %{pair: thermo.epair, bond: thermo.ebond, kinetic: thermo.ke, total: thermo.etotal}
    Map.new(Map.keys(lammps), &{&1, abs(dsl[&1] - lammps[&1]) / abs(lammps[&1])})
  end

  defp skipped(contender, thermostat, why, ranks \\ nil) do
    Row.new(:fene_chain, 32_000, contender, if(contender == :native, do: :f64),
      thermostat: thermostat,
      ranks: ranks,
      skipped: why,
      seconds_per_step: nil,
      throughput: nil,
      unit: "atom-steps/s"
    )
  end
end
