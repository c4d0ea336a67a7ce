defmodule BrokenRecord.Zero.BondSystems do
  @moduledoc """
  Systems with bonds (docs/dsl.md, "Bonds"): beads joined by spring agents whose reference
  fields name them, in open and periodic space, with a harmonic spring, a FENE bond, an angle
  (three references) and a pair rule that skips bonded pairs.
  """

  use BrokenRecord.Zero

  # A harmonic spring between two beads: equal and opposite kicks, in open space.
  defsystem Springs do
    agents do
      defagent Bead do
        field :position, :vec3
        field :velocity, :vec3
        field :mass, :float, default: 1.0
        conserves [:momentum]
      end

      defagent Spring do
        field :a, {:ref, Bead}
        field :b, {:ref, Bead}
        field :k, :float, default: 10.0
        field :rest, :float, default: 1.0
        field :stretch, :float, default: 0.0
      end
    end

    rules do
      interaction spring(s: Spring) do
        d = s.b.position - s.a.position
        r = length(d)
        f = s.k * (r - s.rest) / r
        s.a.velocity = s.a.velocity + d * (f * dt / s.a.mass)
        s.b.velocity = s.b.velocity - d * (f * dt / s.b.mass)
        s.stretch = r - s.rest
      end

      interaction drift(p: Bead) do
        p.position = p.position + p.velocity * dt
      end
    end
  end

  # A spring whose rest length jitters by a uniform draw per spring and step: the random
  # numbers of a bonded rule.
  defsystem NoisySprings do
    agents do
      defagent Bead do
        field :position, :vec3
        field :velocity, :vec3
      end

      defagent Spring do
        field :a, {:ref, Bead}
        field :b, {:ref, Bead}
        field :rest, :float, default: 1.0
      end
    end

    rules do
      interaction spring(s: Spring) do
        d = s.b.position - s.a.position
        r = length(d)
        f = 10.0 * (r - s.rest * (0.9 + 0.2 * uniform())) / r
        s.a.velocity = s.a.velocity + d * (f * dt)
        s.b.velocity = s.b.velocity - d * (f * dt)
      end

      interaction drift(p: Bead) do
        p.position = p.position + p.velocity * dt
      end
    end
  end

  # A ring of nodes, each referencing the next: a bonded rule whose references name its own
  # type, and that stores the lane it reads through them (every node must read its next's
  # value from the rule's start).
  defsystem Ring do
    agents do
      defagent Node do
        field :next, {:ref, Node}
        field :value, :float
      end
    end

    rules do
      interaction smooth(n: Node) do
        n.value = 0.5 * (n.value + n.next.value)
      end
    end
  end

  # FENE bonds with their WCA core (LAMMPS bond_style fene) and a WCA pair rule that skips
  # bonded pairs, in a periodic box; velocity Verlet in two half kicks.
  defsystem Chain do
    space periodic: [:x, :y, :z]

    K = 30.0
    R0 = 1.5
    Rc = 1.12

    agents do
      defagent Bead do
        field :position, :vec3
        field :velocity, :vec3
        field :force, :vec3, default: {0.0, 0.0, 0.0}
        conserves [:momentum]
      end

      defagent Bond do
        field :a, {:ref, Bead}
        field :b, {:ref, Bead}
      end
    end

    rules do
      interaction fene(s: Bond) do
        d = s.a.position - s.b.position
        r2 = dot(d, d)
        fbond = -K / (1.0 - r2 / (R0 * R0))
        sr6 = 1.0 / (r2 * r2 * r2)
        s.a.force = s.a.force + d * fbond
        s.b.force = s.b.force - d * fbond

        if r2 < 1.2599210498948732 do
          fwca = 48.0 * sr6 * (sr6 - 0.5) / r2
          s.a.force = s.a.force + d * fwca
          s.b.force = s.b.force - d * fwca
        end
      end

      interaction wca(a: Bead, b: Bead), exclude: Bond do
        d = a.position - b.position
        r2 = dot(d, d)

        if r2 < Rc * Rc do
          sr6 = 1.0 / (r2 * r2 * r2)
          f = 48.0 * sr6 * (sr6 - 0.5) / r2
          a.force = a.force + d * f
          b.force = b.force - d * f
        end
      end

      interaction kick(p: Bead) do
        p.velocity = p.velocity + p.force * (0.5 * dt)
      end

      interaction drift(p: Bead) do
        p.position = p.position + p.velocity * dt
        p.force = {0.0, 0.0, 0.0}
      end
    end
  end

  # Beads that expire: a removed bead takes its springs with it.
  defsystem Expiring do
    agents do
      defagent Bead do
        field :position, :vec3
        field :velocity, :vec3
        field :life, :float
      end

      defagent Spring do
        field :a, {:ref, Bead}
        field :b, {:ref, Bead}
      end
    end

    rules do
      interaction age(p: Bead) do
        p.life = p.life - 1.0

        if p.life < 0.0 do
          remove(p)
        end
      end

      interaction pull(s: Spring, k: float) do
        d = s.b.position - s.a.position
        s.a.velocity = s.a.velocity + d * (k * dt)
        s.b.velocity = s.b.velocity - d * (k * dt)
      end

      interaction drift(p: Bead) do
        p.position = p.position + p.velocity * dt
      end
    end
  end

  # An angle: three references, the middle bead kicked both ways.
  defsystem Angles do
    agents do
      defagent Bead do
        field :position, :vec3
        field :velocity, :vec3
        field :mass, :float, default: 1.0
        conserves [:momentum]
      end

      defagent Angle do
        field :a, {:ref, Bead}
        field :b, {:ref, Bead}
        field :c, {:ref, Bead}
        field :cos, :float, default: 0.0
      end
    end

    rules do
      interaction bend(s: Angle, k: float) do
        u = s.a.position - s.b.position
        v = s.c.position - s.b.position
        s.cos = dot(u, v) / (length(u) * length(v))
        s.a.velocity = s.a.velocity - u * (k * dt / s.a.mass)
        s.c.velocity = s.c.velocity - v * (k * dt / s.c.mass)
        s.b.velocity = s.b.velocity + (u + v) * (k * dt / s.b.mass)
      end
    end
  end
end
