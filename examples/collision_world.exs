# Elastic spheres bouncing in a box of walls.
#
#     mix run examples/collision_world.exs
defmodule MyPhysics do
  use BrokenRecord.Zero

  defsystem CollisionWorld do
    compile_target :cpu
    optimize [:spatial_hash, :simd, :loop_fusion]
    precision :f64

    agents do
      defagent Particle do
        field :position, :vec3
        field :velocity, :vec3
        field :mass, :float
        field :radius, :float
        conserves [:energy, :momentum, :angular_momentum]
      end

      defagent Wall do
        field :position, :vec3
        field :normal, :vec3
      end
    end

    rules do
      interaction collision(p1: Particle, p2: Particle) do
        delta = p1.position - p2.position
        dist = length(delta)

        if dist < p1.radius + p2.radius do
          normal = normalize(delta)
          speed = dot(p1.velocity - p2.velocity, normal)

          if speed < 0 do
            impulse = 2 * speed / (1 / p1.mass + 1 / p2.mass)
            p1.velocity = p1.velocity - normal * (impulse / p1.mass)
            p2.velocity = p2.velocity + normal * (impulse / p2.mass)
          end
        end
      end

      interaction wall_bounce(p: Particle, w: Wall) do
        dist = dot(p.position - w.position, w.normal)

        if dist < p.radius do
          v_normal = dot(p.velocity, w.normal)
          {x, y, z} = p.velocity

          p.velocity =
            {x - 2 * v_normal * w.normal.x, y - 2 * v_normal * w.normal.y,
             z - 2 * v_normal * w.normal.z}
        end
      end

      interaction integrate(p: Particle, dt: float) do
        p.position = p.position + p.velocity * dt
      end
    end
  end
end

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

walls =
  for {n, p} <- [
        {{1.0, 0.0, 0.0}, {-5.0, 0.0, 0.0}},
        {{-1.0, 0.0, 0.0}, {5.0, 0.0, 0.0}},
        {{0.0, 1.0, 0.0}, {0.0, -5.0, 0.0}},
        {{0.0, -1.0, 0.0}, {0.0, 5.0, 0.0}},
        {{0.0, 0.0, 1.0}, {0.0, 0.0, -5.0}},
        {{0.0, 0.0, -1.0}, {0.0, 0.0, 5.0}}
      ],
      do: %{position: p, normal: n}

state = %{particles: particles, walls: walls}

energy = fn s ->
  Enum.reduce(s.particles, 0.0, fn %{velocity: {x, y, z}, mass: m}, acc ->
    acc + 0.5 * m * (x * x + y * y + z * z)
  end)
end

{time, result} =
  :timer.tc(fn -> MyPhysics.CollisionWorld.simulate(state, steps: 1_000, dt: 0.01) end)

IO.puts("backend:        #{BrokenRecord.Zero.Runtime.backend()}")
IO.puts("1000 steps of 200 particles in #{Float.round(time / 1000, 1)} ms")
IO.puts("kinetic energy: #{energy.(state)} -> #{energy.(result)}")
