defmodule BrokenRecord.Zero.PeriodicSystems do
  @moduledoc "Systems in periodic space for the ExUnit suite."
  use BrokenRecord.Zero

  # Soft repulsion on a torus in x and y; walls reflect on z (a slab).
  defsystem Slab do
    space periodic: [:x, :y]

    agents do
      defagent Grain do
        field :position, :vec3
        field :velocity, :vec3
      end
    end

    rules do
      interaction repel(a: Grain, b: Grain) do
        d = a.position - b.position
        r = length(d)

        if r < 1.0 do
          push = normalize(d) * ((1.0 - r) * dt)
          a.velocity = a.velocity + push
          b.velocity = b.velocity - push
        end
      end

      interaction move(p: Grain) do
        p.position = p.position + p.velocity * dt
      end

      interaction walls(p: Grain, height: float) do
        if (p.position.z < 0 and p.velocity.z < 0) or (p.position.z > height and p.velocity.z > 0) do
          p.velocity = {p.velocity.x, p.velocity.y, -p.velocity.z}
        end
      end
    end
  end

  # Boids on a 2D torus (z stays 0): alignment, cohesion and separation within a radius; the
  # neighbour sums live in scratch fields cleared every step.
  defsystem Boids do
    space periodic: [:x, :y], field: :pos

    agents do
      defagent Boid do
        field :pos, :vec3
        field :vel, :vec3
        field :align, :vec3, default: {0.0, 0.0, 0.0}
        field :centre, :vec3, default: {0.0, 0.0, 0.0}
        field :apart, :vec3, default: {0.0, 0.0, 0.0}
        field :seen, :float, default: 0.0
      end
    end

    rules do
      interaction clear(p: Boid) do
        p.align = {0.0, 0.0, 0.0}
        p.centre = {0.0, 0.0, 0.0}
        p.apart = {0.0, 0.0, 0.0}
        p.seen = 0.0
      end

      interaction look(a: Boid, b: Boid) do
        d = b.pos - a.pos

        if dot(d, d) < 4.0 do
          a.align = a.align + b.vel
          b.align = b.align + a.vel
          a.centre = a.centre + d
          b.centre = b.centre - d
          a.apart = a.apart - d / (dot(d, d) + 0.01)
          b.apart = b.apart + d / (dot(d, d) + 0.01)
          a.seen = a.seen + 1
          b.seen = b.seen + 1
        end
      end

      interaction steer(p: Boid) do
        if p.seen > 0 do
          v =
            p.vel + (p.align / p.seen - p.vel) * 0.05 + p.centre / p.seen * 0.01 + p.apart * 0.02

          p.vel = v / max(length(v), 1.0)
        end

        p.pos = p.pos + p.vel * dt
      end
    end
  end

  # Two types on a torus: probes feel the sources within a param cutoff (the grid sweep).
  defsystem Probes do
    space periodic: [:x, :y, :z]

    agents do
      defagent Source do
        field :position, :vec3
        field :strength, :float
      end

      defagent Probe do
        field :position, :vec3
        field :field, :vec3, default: {0.0, 0.0, 0.0}
      end
    end

    rules do
      interaction feel(s: Source, p: Probe, rc: float) do
        d = p.position - s.position

        if length(d) < rc do
          p.field = p.field + d * (s.strength * (rc - length(d)))
        end
      end
    end
  end
end
