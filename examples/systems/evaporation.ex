# Evaporation and condensation in a soft-sphere gas: particles in a periodic box push each other
# apart when closer than 1 (`repel`, soft repulsion U = k (1 - r^2)^2 / 4 with k = 10, force
# k (1 - r^2) d, finite at r = 0), drift, and each step about 1% of them evaporate (are
# removed) and about 1% condense a new particle next to themselves (spawn, wrapped into the box).
# Agent counts change every step (docs/dsl.md, "Agents that are born and die"). The state names
# the box under `:box`; `repel` and `drift` alone are the same gas without births and deaths.
use BrokenRecord.Zero

defsystem BrokenRecord.Zero.Fixtures.Evaporation do
  space periodic: [:x, :y, :z]

  agents do
    defagent Particle do
      field :position, :vec3
      field :velocity, :vec3
    end
  end

  rules do
    interaction repel(a: Particle, b: Particle) do
      d = a.position - b.position

      if length(d) < 1.0 do
        kick = d * (10.0 * (1.0 - dot(d, d)) * dt)
        a.velocity = a.velocity + kick
        b.velocity = b.velocity - kick
      end
    end

    interaction drift(p: Particle) do
      p.position = p.position + p.velocity * dt
    end

    interaction evaporate(p: Particle) do
      if uniform() < 0.01 do
        remove(p)
      end
    end

    interaction condense(p: Particle) do
      if uniform() < 0.01 do
        spawn(Particle, position: p.position + {0.5, 0.0, 0.0}, velocity: p.velocity * -1.0)
      end
    end
  end
end
