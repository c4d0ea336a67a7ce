# Free particles in a Langevin heat bath, one BAOAB step per rule application (no forces, so B is
# empty): half a drift, the exact Ornstein-Uhlenbeck velocity update
# v <- c1 v + sqrt((1 - c1^2) kT / m) N(0, 1), c1 = exp(-gamma dt), and the other half drift.
# The stationary velocity distribution is Maxwell-Boltzmann at kT whatever dt: <m v^2> = 3 kT.
# `drift_only` is the same step without the thermostat (the cost of the noise, in the bench).
use BrokenRecord.Zero

defsystem BrokenRecord.Zero.Fixtures.Langevin do
  agents do
    defagent Particle do
      field :position, :vec3
      field :velocity, :vec3
      field :mass, :float, default: 1.0
    end
  end

  rules do
    interaction baoab(p: Particle, gamma: float, kt: float) do
      c1 = exp(-gamma * dt)
      c2 = sqrt((1.0 - c1 * c1) * kt / p.mass)
      half = p.position + p.velocity * (0.5 * dt)
      v = p.velocity * c1 + {normal(), normal(), normal()} * c2
      p.velocity = v
      p.position = half + v * (0.5 * dt)
    end

    interaction drift_only(p: Particle, gamma: float) do
      c1 = exp(-gamma * dt)
      half = p.position + p.velocity * (0.5 * dt)
      v = p.velocity * c1
      p.velocity = v
      p.position = half + v * (0.5 * dt)
    end
  end
end
