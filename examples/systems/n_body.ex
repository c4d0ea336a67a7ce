# Softened gravity (G = 1, softening 0.01) integrated by kick-drift leapfrog, with its declared
# laws and its potential energy: the system of the energy monitor (docs/conservation.md) and of
# the observables bench (bench/support/scenarios/observe.ex).
use BrokenRecord.Zero

defsystem BrokenRecord.Zero.Fixtures.NBody do
  agents do
    defagent Body do
      field :position, :vec3
      field :velocity, :vec3
      field :mass, :float
      conserves [:mass, :momentum, :energy]
    end
  end

  rules do
    interaction kick(a: Body, b: Body) do
      d = b.position - a.position
      r2 = dot(d, d) + 0.01
      inv = 1 / (sqrt(r2) * r2)
      a.velocity = a.velocity + d * (b.mass * inv * dt)
      b.velocity = b.velocity - d * (a.mass * inv * dt)
    end

    interaction drift(p: Body) do
      p.position = p.position + p.velocity * dt
    end
  end

  potential softened_pe(a: Body, b: Body) do
    d = b.position - a.position
    -a.mass * b.mass / sqrt(dot(d, d) + 0.01)
  end
end
