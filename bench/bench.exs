# The BrokenRecord Zero benchmarks: `mix bench` (see Mix.Tasks.Bench).
#
# Every scenario is measured in this one run on: the native engine in f64 and f32, the
# pure-Elixir backend (where it finishes in reasonable time) and, where built, a hand-written
# C++ reference kernel of the same formula (`_build/cmake/bench/brz_bench_ref`, sources
# bench/reference*.cpp), so ratios are comparable on a noisy machine. Native and Elixir timings
# exclude marshalling (the world is created first, then `World.step/2` is timed); marshalling
# has its own scenario. The collisions scenario runs a hand-written C++ version of the whole
# step (neighbour list, collision rule, integration) at every size next to the DSL, so that the
# spread of its own times shows what the machine imposes. The speed targets are printed at
# the end, each with the ratio measured in this run and PASS / MISS (or SKIP when a scenario
# could not run, with the reason).
#
# Two LJ scenarios compare with LAMMPS when `lmp` and `mpirun` are on PATH (Debian packages
# `lammps`, `openmpi-bin`; without them the LAMMPS rows say so and the DSL still runs):
#   * the LJ liquid, the headline: LAMMPS's own bench/in.lj (32,000 atoms, fcc 0.8442, periodic,
#     T 1.44, lj/cut 2.5, 100 steps of fix nve at dt 0.005). LAMMPS makes the atoms and writes
#     them (write_data); the DSL's periodic system (examples/systems/lj_liquid.ex) runs 100 steps
#     from that file on the native engine in f64, timed after World.new. LAMMPS runs in.lj on 1
#     and 2 ranks, each with the input's `neigh_modify every 20 check no` and with `every 1
#     check yes`; the run prints every DSL/LAMMPS time ratio, LAMMPS's timing breakdown beside
#     the DSL's (pairs, neighbour lists, other: World.info/1's timings), and the total,
#     kinetic and potential energies after the run with their relative differences; the
#     targets compare with the 2-rank `check yes` run (Bench.Scenarios.LJLiquid);
#   * the LJ cluster: the same lattice as a free, non-periodic cluster, LAMMPS with `boundary
#     s s s` on 2 ranks (Bench.Scenarios.LJCluster).
#
# The Langevin scenario times a thermostat step that draws three normal() per particle on
# 1,000,000 particles against a hand-written C++ step with the same Philox stream, and the same
# step without the noise (Bench.Scenarios.Langevin).
# The evaporation scenario times a step of 1,000,000 interacting particles that removes and
# spawns about 1% of them against the same system without those rules, and the same rules on a
# bare drift against the drift alone (Bench.Scenarios.Evaporation). The wolf-sheep scenario
# times NetLogo's Wolf Sheep Predation on about 100,000 agents (exclusive pair rules, births and
# deaths), per step and per agent-step (Bench.Scenarios.WolfSheep). The progress scenario times
# the LJ liquid with `progress:` against the same run without (Bench.Scenarios.Progress).
#
# The observe scenario times the energy monitor on 2,000 gravitating bodies with its potential
# evaluated by the engine against the all-pairs evaluation in Elixir it replaced, and the LJ
# liquid streamed with temperature and pe every 100 steps against the same steps unobserved
# (Bench.Scenarios.Observe).
#
# The ensemble scenario runs a 16-member SIR sweep on one peer node with two OpenMP threads
# against two peer nodes with one thread each, on this machine (Bench.Scenarios.Ensemble).
#
# LAMMPS's FENE bead-spring melt (in.chain, data.chain from lammps-examples) runs 100 NVE steps
# against LAMMPS on 1 and 2 ranks, energies compared, and with a Langevin thermostat beside
# LAMMPS's fix langevin (Bench.Scenarios.FeneChain).
# The systems are the shared fixtures (examples/systems/); the scenarios, measurement, C++
# reference, LAMMPS, tables, targets and JSON are modules under bench/support/. `--quick`
# shortens the timed runs; `--smoke` runs every scenario once at a small size (Bench.Config).

unless Code.ensure_loaded?(BrokenRecord.Zero.Fixtures),
  do: Code.require_file("../examples/fixtures.ex", __DIR__)

alias BrokenRecord.Zero.Fixtures

Fixtures.ensure([
  Fixtures.Integrate,
  Fixtures.Gravity,
  Fixtures.SoftenedGravity,
  Fixtures.ElasticSpheres,
  Fixtures.LennardJones,
  Fixtures.LJLiquid,
  Fixtures.FeneChain,
  Fixtures.NBody,
  Fixtures.Langevin,
  Fixtures.Evaporation,
  Fixtures.WolfSheep
])

# One compiler run for all of them, so that calls between the files resolve; a warning is an
# error, as for the library (CI's smoke run is what compiles this code).
support = Path.wildcard(Path.join(__DIR__, "support/**/*.ex"))

case Kernel.ParallelCompiler.require(support) do
  {:ok, _modules, []} -> :ok
  {:ok, _modules, _warnings} -> raise "bench/support/ compiled with warnings (printed above)"
  {:error, _errors, _warnings} -> raise "bench/support/ failed to compile (printed above)"
end

defmodule Bench do
  @moduledoc "Runs every scenario, prints the tables and writes the JSON."

  alias Bench.{Config, Json, Measure, Reference, Report, Scenarios}
  alias BrokenRecord.Zero.NIF

  @scenarios [
    Scenarios.Peak,
    Scenarios.Integrate,
    Scenarios.Gravity,
    Scenarios.Softened,
    Scenarios.Marshalling,
    Scenarios.Columns,
    Scenarios.Collisions,
    Scenarios.AllPairs,
    Scenarios.LJLiquid,
    Scenarios.LJCluster,
    Scenarios.FeneChain,
    Scenarios.Langevin,
    Scenarios.Evaporation,
    Scenarios.WolfSheep,
    Scenarios.Progress,
    Scenarios.Observe,
    Scenarios.Ensemble
  ]

  @flops [
    {Fixtures.Integrate, :integrate},
    {Fixtures.Gravity, :gravity},
    {Fixtures.SoftenedGravity, :softened},
    {Fixtures.ElasticSpheres, :collision},
    {Fixtures.LennardJones, :lj_force}
  ]

  @doc "Runs the bench that `argv` asks for (see Bench.Config)."
  @spec run([String.t()]) :: :ok
  def run(argv) do
    t0 = System.monotonic_time(:millisecond)
    config = Config.from_argv(argv, NIF.loaded?())
    ref = Reference.path()
    IO.puts("BrokenRecord Zero benchmarks (#{config.mode} run)")

    IO.puts(
      "native engine: #{if config.native?, do: "loaded, ISA #{NIF.isa()}", else: "NOT loaded"}"
    )

    IO.puts(
      "C++ reference: #{if Reference.available?(), do: "#{ref} (ISA #{Reference.isa()})", else: "NOT built (#{ref})"}"
    )

    IO.puts(
      "schedulers: #{System.schedulers_online()}, OMP_NUM_THREADS=#{System.get_env("OMP_NUM_THREADS") || "(default)"}, load average at start: #{Report.loadavg()}\n"
    )

    results =
      @scenarios
      |> Enum.filter(&Config.includes?(config, &1))
      |> Enum.flat_map(fn scenario ->
        rows = scenario.run(config)
        # progress on stderr, so that a long run shows where it is
        IO.write(:stderr, ".")
        rows
      end)

    IO.write(:stderr, "\n")

    # the peak again at the end, the faster of the two kept (load on the machine only slows it)
    again = if Config.includes?(config, Scenarios.Peak), do: Scenarios.Peak.run(config), else: []
    results = Enum.map(results, &Scenarios.Peak.faster(&1, again))

    Report.table(results)
    Report.lj_liquid(results)

    IO.puts(
      "\nflops per application, counted from the programs (system.__system__().analysis): " <>
        Enum.map_join(@flops, ", ", fn {system, rule} ->
          "#{rule} #{Measure.flops(system, rule)}"
        end) <>
        "; C++ softened (canonical): 20 per interaction, N^2 interactions"
    )

    targets = Bench.Targets.evaluate(results)
    Report.targets(targets)
    seconds = (System.monotonic_time(:millisecond) - t0) / 1000

    IO.puts(
      "\ntotal bench time: #{:erlang.float_to_binary(seconds, decimals: 1)} s, " <>
        "load average at the end: #{Report.loadavg()} (other processes on the machine skew timings)"
    )

    IO.puts("wrote #{Json.write(config, results, targets, seconds)}")
  end
end

Bench.run(System.argv())
