# The README's collision world (examples/systems/collision_world.ex): elastic spheres bouncing
# in a box of walls.
#
#     mix run examples/collision_world.exs
# MIX_ENV=test compiles the fixtures with the project; elsewhere they are loaded here.
unless Code.ensure_loaded?(BrokenRecord.Zero.Fixtures),
  do: Code.require_file("fixtures.ex", __DIR__)

alias BrokenRecord.Zero.Fixtures
alias BrokenRecord.Zero.Fixtures.CollisionWorld

Fixtures.ensure([CollisionWorld])

:rand.seed(:exsss, {1, 2, 3})

particles =
  for i <- 1..200 do
    %{
      id: i,
      position: {:rand.uniform() * 8 - 4, :rand.uniform() * 8 - 4, :rand.uniform() * 8 - 4},
      velocity: {:rand.uniform() - 0.5, :rand.uniform() - 0.5, :rand.uniform() - 0.5},
      mass: 1.0,
      radius: 0.2
    }
  end

walls = Fixtures.box_walls(5.0)

state = %{particles: particles, walls: walls}

energy = fn s ->
  Enum.reduce(s.particles, 0.0, fn %{velocity: {x, y, z}, mass: m}, acc ->
    acc + 0.5 * m * (x * x + y * y + z * z)
  end)
end

{time, result} = :timer.tc(fn -> CollisionWorld.simulate(state, steps: 1_000, dt: 0.01) end)

IO.puts("backend:        #{BrokenRecord.Zero.Runtime.backend()}")
IO.puts("1000 steps of 200 particles in #{Float.round(time / 1000, 1)} ms")
IO.puts("kinetic energy: #{energy.(state)} -> #{energy.(result)}")
