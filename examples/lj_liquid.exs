# The Lennard-Jones liquid of LAMMPS's bench/in.lj in the periodic LJ system
# (examples/systems/lj_liquid.ex): an fcc lattice at reduced density 0.8442, velocities
# Maxwell-Boltzmann at T = 1.44 (seeded, zero total momentum), 100 steps of velocity Verlet at
# dt = 0.005, with a LAMMPS-like thermo table every 10 steps (BrokenRecord.Zero.Thermo; energies
# per atom, T = 2 KE / (3N - 3), Press = (2 KE + virial) / (3 V) from the `virial` observable).
#
#     mix run examples/lj_liquid.exs         # 20x20x20 fcc cells: 32,000 atoms
#     mix run examples/lj_liquid.exs 8       # 8x8x8 cells: 2,048 atoms (at least 3 cells)
#     mix run examples/lj_liquid.exs 8 --out /tmp/lj
#
# `--out DIR` also writes, into DIR, the thermo rows' frames as an extended XYZ trajectory
# (lj_liquid.xyz, for OVITO, ASE or VMD), the last frame as a picture coloured by potential
# energy (lj_liquid.png) and the thermo table as a plot (lj_thermo.png); docs/io.md.
# MIX_ENV=test compiles the fixtures with the project; elsewhere they are loaded here.
unless Code.ensure_loaded?(BrokenRecord.Zero.Fixtures),
  do: Code.require_file("fixtures.ex", __DIR__)

alias BrokenRecord.Zero.Fixtures
alias BrokenRecord.Zero.Fixtures.LJLiquid
alias BrokenRecord.Zero.{Render, Thermo, Trajectory, World}

Fixtures.ensure([LJLiquid])

{opts, args} = OptionParser.parse!(System.argv(), strict: [out: :string])

cells =
  case args do
    [] -> 20
    [arg] -> String.to_integer(arg)
  end

# the cutoff (2.5) must be at most half the box edge (3 cells: an edge of 5.04)
if cells < 3, do: raise(ArgumentError, "at least 3 fcc cells a side, got #{cells}")

# fcc lattice sites and Maxwell-Boltzmann velocities at T = 1.44 (zero momentum, seeded)
{positions, side} = BrokenRecord.Zero.Lattice.fcc(cells, 0.8442)
n = length(positions)
velocities = BrokenRecord.Zero.Lattice.velocities(n, 1.44, 87_287)

atoms =
  Enum.zip_with(positions, velocities, fn position, velocity ->
    %{position: position, velocity: velocity}
  end)

world = World.new(LJLiquid, %{atoms: atoms, box: {side, side, side}})
volume = side * side * side

sum = fn bin, f -> for <<x::float-native-64 <- bin>>, reduce: 0.0, do: (acc -> acc + f.(x)) end

# a thermo row's sample: the world, its step, time and values (energies per atom, as LAMMPS
# prints them in lj units)
thermo = fn world, step ->
  world = World.step(world, steps: 1, rules: [:clear_pe, :lj_energy])
  pe = sum.(World.column(world, :atoms, :pe), & &1)
  ke = 0.5 * sum.(World.column(world, :atoms, :velocity), &(&1 * &1))

  %{
    world: world,
    step: step,
    time: step * 0.005,
    values: %{
      temperature: 2 * ke / (3 * n - 3),
      pe: pe / n,
      kinetic_energy: ke / n,
      pressure: (2 * ke + World.observe(world, [:virial]).virial) / (3 * volume)
    }
  }
end

# prints a sample's line of the thermo table as it is computed (the header before step 0)
columns = [:step, :temperature, :pe, :kinetic_energy, :total_energy, :pressure]

print = fn sample ->
  [header, row] = Enum.to_list(Thermo.stream([sample], columns: columns))
  if sample.step == 0, do: IO.write(header)
  IO.write(row)
end

IO.puts(
  "LJ liquid: #{n} atoms, box #{Float.round(side, 6)}^3 (periodic), backend #{World.info(world).backend}"
)

# the initial forces, then 10 blocks of 10 steps: a lazy stream of the thermo rows' samples
world = World.step(world, steps: 1, rules: [:lj_force])
first = thermo.(world, 0)
t0 = System.monotonic_time(:millisecond)

rows =
  Stream.scan(1..10, first, fn block, %{world: world} ->
    world =
      World.step(world, steps: 10, dt: 0.005, rules: [:half_kick, :drift, :lj_force, :half_kick_2])

    thermo.(world, block * 10)
  end)

samples = [first] |> Stream.concat(rows) |> Stream.each(print)

case opts[:out] do
  nil ->
    Stream.run(samples)

  dir ->
    File.mkdir_p!(dir)

    # each frame is written as it is computed; the last is also drawn, and the thermo values
    # (without their worlds) come back in messages for the plot
    samples =
      Stream.each(samples, fn sample ->
        send(self(), {:thermo, Map.delete(sample, :world)})

        if sample.step == 100,
          do:
            Render.frame(sample, Path.join(dir, "lj_liquid.png"), collection: :atoms, color: :pe)
      end)

    Trajectory.write(samples, Path.join(dir, "lj_liquid.xyz"), collection: :atoms, species: "Ar")
    rows = for _ <- 0..10, do: receive(do: ({:thermo, row} -> row))
    Render.plot(rows, Path.join(dir, "lj_thermo.png"))
end

IO.puts("100 steps in #{System.monotonic_time(:millisecond) - t0} ms (thermo output included)")
