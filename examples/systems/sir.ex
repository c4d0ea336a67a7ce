# An epidemic on contact (SIR) among people walking at random on a periodic square (z = 0):
# each step a pair rule sums every person's exposure (infected people within `radius`), then a
# per-agent rule infects a susceptible person with probability 1 - exp(-beta * exposure * dt),
# lets an infected one recover with probability 1 - exp(-gamma * dt), and moves everyone by a
# Gaussian step. `status` is 0 (susceptible), 1 (infected) or 2 (recovered).
use BrokenRecord.Zero

defsystem BrokenRecord.Zero.Fixtures.SIR do
  space periodic: [:x, :y]

  agents do
    defagent Person, collection: :people do
      field :position, :vec3
      field :status, :int, default: 0
      field :exposure, :float, default: 0.0
    end
  end

  rules do
    interaction contact(a: Person, b: Person, radius: float) do
      if length(a.position - b.position) < radius do
        if b.status == 1 do
          a.exposure = a.exposure + 1.0
        end

        if a.status == 1 do
          b.exposure = b.exposure + 1.0
        end
      end
    end

    interaction progress(p: Person, beta: float, gamma: float, step: float) do
      u_infect = uniform()
      u_recover = uniform()

      if p.status == 0 do
        if u_infect < 1.0 - exp(-beta * p.exposure * dt) do
          p.status = 1
        end
      else
        if p.status == 1 and u_recover < 1.0 - exp(-gamma * dt) do
          p.status = 2
        end
      end

      p.exposure = 0.0
      p.position = p.position + {normal(), normal(), 0.0} * step
    end
  end
end
