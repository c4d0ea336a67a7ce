# The Lennard-Jones liquid of LAMMPS's bench/in.lj in the periodic LJ system
# (examples/systems/lj_liquid.ex): an fcc lattice at reduced density 0.8442, velocities
# Maxwell-Boltzmann at T = 1.44 (seeded, zero total momentum), 100 steps of velocity Verlet at
# dt = 0.005, with a LAMMPS-like thermo table every 10 steps (energies are totals;
# T = 2 KE / (3N - 3)).
#
#     mix run examples/lj_liquid.exs         # 20x20x20 fcc cells: 32,000 atoms
#     mix run examples/lj_liquid.exs 8       # 8x8x8 cells: 2,048 atoms (at least 3 cells)
# MIX_ENV=test compiles the fixtures with the project; elsewhere they are loaded here.
unless Code.ensure_loaded?(BrokenRecord.Zero.Fixtures),
  do: Code.require_file("fixtures.ex", __DIR__)

alias BrokenRecord.Zero.Fixtures
alias BrokenRecord.Zero.Fixtures.LJLiquid
alias BrokenRecord.Zero.World

Fixtures.ensure([LJLiquid])

cells =
  case System.argv() do
    [] -> 20
    [arg] -> String.to_integer(arg)
  end

# the cutoff (2.5) must be at most half the box edge (3 cells: an edge of 5.04)
if cells < 3, do: raise(ArgumentError, "at least 3 fcc cells a side, got #{cells}")

# fcc lattice: 4 atoms per cubic cell of side a, density 4 / a^3
a = :math.pow(4 / 0.8442, 1 / 3)
basis = [{0.0, 0.0, 0.0}, {0.5, 0.5, 0.0}, {0.5, 0.0, 0.5}, {0.0, 0.5, 0.5}]

positions =
  for i <- 0..(cells - 1),
      j <- 0..(cells - 1),
      k <- 0..(cells - 1),
      {bx, by, bz} <- basis,
      do: {(i + bx) * a, (j + by) * a, (k + bz) * a}

n = length(positions)

# Maxwell-Boltzmann velocities, the mean removed, scaled to T = 1.44 exactly
:rand.seed(:exsss, {87_287, 1, 2})
raw = for _ <- 1..n, do: {:rand.normal(), :rand.normal(), :rand.normal()}

{sx, sy, sz} =
  Enum.reduce(raw, {0.0, 0.0, 0.0}, fn {x, y, z}, {ax, ay, az} -> {ax + x, ay + y, az + z} end)

centred = Enum.map(raw, fn {x, y, z} -> {x - sx / n, y - sy / n, z - sz / n} end)
sum_v2 = Enum.reduce(centred, 0.0, fn {x, y, z}, acc -> acc + x * x + y * y + z * z end)
scale = :math.sqrt(1.44 * (3 * n - 3) / sum_v2)

atoms =
  Enum.zip_with(positions, centred, fn position, {x, y, z} ->
    %{
      position: position,
      velocity: {x * scale, y * scale, z * scale},
      force: {0.0, 0.0, 0.0},
      pe: 0.0
    }
  end)

side = cells * a
world = World.new(LJLiquid, %{atoms: atoms, box: {side, side, side}})

sum = fn bin, f -> for <<x::float-native-64 <- bin>>, reduce: 0.0, do: (acc -> acc + f.(x)) end

thermo = fn world, step ->
  world = World.step(world, steps: 1, rules: [:clear_pe, :lj_energy])
  pe = sum.(World.column(world, :atoms, :pe), & &1)
  ke = 0.5 * sum.(World.column(world, :atoms, :velocity), &(&1 * &1))
  temp = 2 * ke / (3 * n - 3)

  IO.puts(
    String.pad_leading(Integer.to_string(step), 8) <>
      Enum.map_join(
        [temp, pe, ke, pe + ke],
        &String.pad_leading(:io_lib.format("~.6f", [&1]) |> IO.iodata_to_binary(), 16)
      )
  )

  world
end

IO.puts(
  "LJ liquid: #{n} atoms, box #{Float.round(side, 6)}^3 (periodic), backend #{World.info(world).backend}"
)

IO.puts(
  String.pad_leading("Step", 8) <>
    Enum.map_join(~w(Temp PotEng KinEng TotEng), &String.pad_leading(&1, 16))
)

# the initial forces, then 10 blocks of 10 steps
world = World.step(world, steps: 1, rules: [:lj_force])
world = thermo.(world, 0)
t0 = System.monotonic_time(:millisecond)

Enum.reduce(1..10, world, fn block, world ->
  world =
    World.step(world, steps: 10, dt: 0.005, rules: [:half_kick, :drift, :lj_force, :half_kick_2])

  thermo.(world, block * 10)
end)

IO.puts("100 steps in #{System.monotonic_time(:millisecond) - t0} ms (thermo output included)")
