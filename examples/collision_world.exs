# The README's collision world (examples/systems/collision_world.ex): elastic spheres bouncing
# in a box of walls.
#
#     mix run examples/collision_world.exs
#     mix run examples/collision_world.exs --out /tmp/collisions
#
# `--out DIR` also writes, into DIR, the run as an extended XYZ trajectory of 11 frames 100
# steps apart (collision_world.xyz, for OVITO, ASE or VMD; the particles are written as
# helium) and the last state as a picture of the x-y plane coloured by speed
# (collision_world.png); docs/io.md.
# MIX_ENV=test compiles the fixtures with the project; elsewhere they are loaded here.
unless Code.ensure_loaded?(BrokenRecord.Zero.Fixtures),
  do: Code.require_file("fixtures.ex", __DIR__)

alias BrokenRecord.Zero.Fixtures
alias BrokenRecord.Zero.Fixtures.CollisionWorld
alias BrokenRecord.Zero.{Render, Trajectory}

Fixtures.ensure([CollisionWorld])

{opts, []} = OptionParser.parse!(System.argv(), strict: [out: :string])

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

if dir = opts[:out] do
  File.mkdir_p!(dir)

  # the same run, 100 steps at a time, each state written as soon as it is computed
  frames =
    state
    |> Stream.iterate(&CollisionWorld.simulate(&1, steps: 100, dt: 0.01))
    |> Stream.take(11)
    |> Stream.with_index()
    |> Stream.map(fn {s, i} -> %{state: s, step: 100 * i, time: i * 1.0} end)

  :ok =
    Trajectory.write(frames, Path.join(dir, "collision_world.xyz"),
      collection: :particles,
      species: "He"
    )

  speeds =
    Enum.map(result.particles, fn %{velocity: {x, y, z}} = p ->
      Map.put(p, :speed, :math.sqrt(x * x + y * y + z * z))
    end)

  :ok =
    Render.frame(%{particles: speeds}, Path.join(dir, "collision_world.png"),
      collection: :particles,
      color: :speed
    )
end
