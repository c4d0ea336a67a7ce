# Evaporation and condensation: particles drift; each step about 1% of them evaporate (are
# removed) and about 1% condense a new particle next to themselves (spawn). Agent counts change
# every step (docs/dsl.md, "Agents that are born and die"); Integrate is the same drift without
# them.
use BrokenRecord.Zero

defsystem BrokenRecord.Zero.Fixtures.Evaporation do
  agents do
    defagent Particle do
      field :position, :vec3
      field :velocity, :vec3
    end
  end

  rules do
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
