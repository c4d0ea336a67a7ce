# The Sun and the eight planets under Newtonian gravity, in astronomical units, days and solar
# masses (G = 2.959122082855911e-4 AU^3 / (Msun day^2)), integrated by kick-drift-kick leapfrog
# (`half_kick`, `drift`, `half_kick_2`: symplectic, so the energy error stays bounded), with
# its potential energy for the energy observables (examples/solar_system.exs).
use BrokenRecord.Zero

defsystem BrokenRecord.Zero.Fixtures.SolarSystem do
  agents do
    defagent Body do
      field :position, :vec3
      field :velocity, :vec3
      field :mass, :float
      conserves [:mass, :momentum, :energy]
    end
  end

  rules do
    interaction half_kick(a: Body, b: Body) do
      d = b.position - a.position
      r = length(d)
      inv = 2.959122082855911e-4 * 0.5 * dt / (r * r * r)
      a.velocity = a.velocity + d * (b.mass * inv)
      b.velocity = b.velocity - d * (a.mass * inv)
    end

    interaction drift(p: Body) do
      p.position = p.position + p.velocity * dt
    end

    interaction half_kick_2(a: Body, b: Body) do
      d = b.position - a.position
      r = length(d)
      inv = 2.959122082855911e-4 * 0.5 * dt / (r * r * r)
      a.velocity = a.velocity + d * (b.mass * inv)
      b.velocity = b.velocity - d * (a.mass * inv)
    end
  end

  potential gravity(a: Body, b: Body) do
    -2.959122082855911e-4 * a.mass * b.mass / length(b.position - a.position)
  end
end
