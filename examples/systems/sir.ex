# An epidemic on contact (SIR) among people walking at random on a periodic square (z = 0):
# each step a pair rule sums every person's exposure (infected people within `radius`) into a
# transient field (zero at the start of every step), then a per-agent rule infects a
# susceptible person with probability 1 - exp(-beta * exposure * dt), lets an infected one
# recover with probability 1 - exp(-gamma * dt), and moves everyone by a Gaussian step.
use BrokenRecord.Zero

defsystem BrokenRecord.Zero.Fixtures.SIR do
  space periodic: [:x, :y]

  agents do
    defagent Person, collection: :people do
      field :position, :vec3
      field :status, {:enum, [:susceptible, :infected, :recovered]}, default: :susceptible
      field :exposure, :float, transient: true
    end
  end

  rules do
    interaction contact(a: Person, b: Person, radius: float) do
      if length(a.position - b.position) < radius do
        if b.status == :infected do
          a.exposure = a.exposure + 1.0
        end

        if a.status == :infected do
          b.exposure = b.exposure + 1.0
        end
      end
    end

    interaction progress(p: Person, beta: float, gamma: float, step: float) do
      u_infect = uniform()
      u_recover = uniform()

      if p.status == :susceptible do
        if u_infect < 1.0 - exp(-beta * p.exposure * dt) do
          p.status = :infected
        end
      else
        if p.status == :infected and u_recover < 1.0 - exp(-gamma * dt) do
          p.status = :recovered
        end
      end

      p.position = p.position + {normal(), normal(), 0.0} * step
    end
  end
end
