defmodule BrokenRecord.Zero.ObservableSystems do
  @moduledoc false
  # Systems with observables (docs/dsl.md, "Observables") for test/broken_record/zero/
  # observables_test.exs.
  use BrokenRecord.Zero

  # Per-agent observables of every reduce, a vec3, pair observables with and without a cutoff
  # (a Lennard-Jones energy, summed over neighbouring cells natively), a pair minimum and a
  # potential for the energy monitor.
  defsystem Gas do
    Rc = 2.5

    agents do
      defagent Particle do
        field :position, :vec3
        field :velocity, :vec3
        field :mass, :float
        conserves [:energy]
      end
    end

    rules do
      interaction drift(p: Particle) do
        p.position = p.position + p.velocity * dt
      end
    end

    observable kinetic(p: Particle) do
      0.5 * p.mass * dot(p.velocity, p.velocity)
    end

    observable fastest(p: Particle), reduce: :max do
      length(p.velocity)
    end

    observable slowest(p: Particle), reduce: :min do
      length(p.velocity)
    end

    observable mean_mass(p: Particle), reduce: :mean do
      p.mass
    end

    observable centre(p: Particle), reduce: :mean do
      p.position
    end

    observable heavy(p: Particle) do
      if p.mass > 1.5 do
        1
      else
        0
      end
    end

    observable lj(a: Particle, b: Particle) do
      d = a.position - b.position
      r2 = dot(d, d)

      if r2 < Rc * Rc do
        ir6 = 1 / (r2 * r2 * r2)
        4 * ir6 * (ir6 - 1)
      else
        0.0
      end
    end

    observable closest(a: Particle, b: Particle), reduce: :min do
      length(a.position - b.position)
    end

    observable pair_mean(a: Particle, b: Particle), reduce: :mean do
      a.mass * b.mass
    end

    potential spring_pe(a: Particle, b: Particle) do
      0.01 * dot(a.position - b.position, a.position - b.position)
    end

    # Not symmetric in its slots: slot 0 must be the agent of lower index.
    observable separation(a: Particle, b: Particle) do
      b.position - a.position
    end
  end

  # A cutoff pair rule, whose neighbour search sorts the rows by cell natively, and a pair
  # observable over all pairs that is not symmetric in its slots.
  defsystem Sorted do
    agents do
      defagent Particle do
        field :position, :vec3
        field :velocity, :vec3
        field :mass, :float
      end
    end

    rules do
      interaction push(a: Particle, b: Particle) do
        d = a.position - b.position

        if dot(d, d) < 1.0 do
          a.velocity = a.velocity + d * dt
          b.velocity = b.velocity - d * dt
        end
      end
    end

    observable separation(a: Particle, b: Particle) do
      b.position - a.position
    end

    observable weighted(a: Particle, b: Particle) do
      a.mass * length(b.velocity)
    end
  end

  # The same Lennard-Jones observable in a periodic box: minimum images.
  defsystem PeriodicGas do
    space periodic: [:x, :y, :z]

    agents do
      defagent Particle do
        field :position, :vec3
        field :velocity, :vec3
        field :mass, :float
      end
    end

    rules do
      interaction drift(p: Particle) do
        p.position = p.position + p.velocity * dt
      end
    end

    observable lj(a: Particle, b: Particle) do
      d = a.position - b.position
      r2 = dot(d, d)

      if r2 < 6.25 do
        ir6 = 1 / (r2 * r2 * r2)
        4 * ir6 * (ir6 - 1)
      else
        0.0
      end
    end

    observable nearest(a: Particle, b: Particle), reduce: :min do
      length(a.position - b.position)
    end
  end

  # Two collections: built-ins per collection, a pair observable over every combination, and a
  # type without the built-ins' fields.
  defsystem Plasma do
    agents do
      defagent Ion do
        field :position, :vec3
        field :velocity, :vec3
        field :mass, :float
      end

      defagent Electron do
        field :position, :vec3
        field :velocity, :vec3
        field :mass, :float
      end

      defagent Wall do
        field :position, :vec3
      end
    end

    rules do
      interaction drift(p: Ion) do
        p.position = p.position + p.velocity * dt
      end
    end

    observable coulomb(i: Ion, e: Electron) do
      -1.0 / length(i.position - e.position)
    end

    observable far(i: Ion, e: Electron), reduce: :max do
      length(i.position - e.position)
    end
  end
end
