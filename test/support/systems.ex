defmodule BrokenRecord.Zero.TestSystems do
  @moduledoc """
  Systems of the test suite. Each one is small but physically meaningful; together with the
  canonical ones of `BrokenRecord.Zero.Fixtures` they cover every DSL form, every rule kind and
  the semantics of docs/program.md.
  """
  use BrokenRecord.Zero

  # Point masses under a uniform field `g` (a param): free flight with `drift` alone,
  # semi-implicit Euler with [:accelerate, :drift].
  defsystem Ballistics do
    agents do
      defagent Particle do
        field :position, :vec3
        field :velocity, :vec3
      end
    end

    rules do
      interaction accelerate(p: Particle, g: float) do
        p.velocity = p.velocity - {0.0, g, 0.0} * dt
      end

      interaction drift(p: Particle, dt: float) do
        p.position = p.position + p.velocity * dt
      end
    end
  end

  # N-body gravity with a system-level constant G and implicit dt. The pair rule updates both
  # bodies symmetrically, so total momentum is conserved to rounding.
  defsystem Gravity do
    G = 1.0
    Softening = 0.05

    agents do
      defagent Body do
        field :position, :vec3
        field :velocity, :vec3
        field :mass, :float
      end
    end

    rules do
      interaction gravity(a: Body, b: Body) do
        d = b.position - a.position
        r2 = dot(d, d) + Softening * Softening
        inv_r3 = 1 / (r2 * sqrt(r2))
        a.velocity = a.velocity + d * (G * b.mass * inv_r3 * dt)
        b.velocity = b.velocity - d * (G * a.mass * inv_r3 * dt)
      end

      interaction drift(b: Body) do
        b.position = b.position + b.velocity * dt
      end
    end
  end

  # The same gravity in single precision (the native engine runs it in f32).
  defsystem GravityF32 do
    G = 1.0
    precision :f32

    agents do
      defagent Body do
        field :position, :vec3
        field :velocity, :vec3
        field :mass, :float
      end
    end

    rules do
      interaction gravity(a: Body, b: Body) do
        d = b.position - a.position
        r2 = dot(d, d) + 0.0025
        inv_r3 = 1 / (r2 * sqrt(r2))
        a.velocity = a.velocity + d * (G * b.mass * inv_r3 * dt)
        b.velocity = b.velocity - d * (G * a.mass * inv_r3 * dt)
      end

      interaction drift(b: Body) do
        b.position = b.position + b.velocity * dt
      end
    end
  end

  # A two-body orbit integrated with leapfrog: rules: [:kick, :drift, :kick], each kick half a
  # step. G is a constant bound inside the rule body.
  defsystem Orbit do
    agents do
      defagent Star do
        field :position, :vec3
        field :velocity, :vec3
        field :mass, :float
      end
    end

    rules do
      interaction kick(a: Star, b: Star) do
        G = 1.0
        {dx, dy, dz} = b.position - a.position
        r = :math.sqrt(dx * dx + dy * dy + dz * dz)
        s = G * (0.5 * dt) / :math.pow(r, 3)
        a.velocity = a.velocity + {dx, dy, dz} * (s * b.mass)
        b.velocity = b.velocity - {dx, dy, dz} * (s * a.mass)
      end

      interaction drift(s: Star) do
        s.position = s.position + s.velocity * dt
      end
    end
  end

  # Neighbours on a line exchange a quarter of their difference; only pairs closer than 1.5
  # interact (a distance cutoff). A three-node chain tells simultaneous from sequential updates.
  defsystem Chain do
    agents do
      defagent Node do
        field :position, :vec3
        field :value, :float
      end
    end

    rules do
      interaction exchange(a: Node, b: Node) do
        if length(a.position - b.position) < 1.5 do
          diff = b.value - a.value
          a.value = a.value + 0.25 * diff
          b.value = b.value - 0.25 * diff
        end
      end
    end
  end

  # Records which pairs a pair rule visits: codes are powers of two, so `seen` is the set of
  # partners and `visits` how many there were (a count over pairs: a :float field).
  defsystem Tally do
    agents do
      defagent Particle do
        field :code, :float
        field :seen, :float
        field :visits, :float
      end

      defagent Wall do
        field :code, :float
        field :seen, :float
        field :visits, :float
      end
    end

    rules do
      interaction meet(a: Particle, b: Particle) do
        a.seen = a.seen + b.code
        b.seen = b.seen + a.code
        a.visits = a.visits + 1
        b.visits = b.visits + 1
      end

      interaction touch(p: Particle, w: Wall) do
        p.seen = p.seen + w.code
        w.seen = w.seen + p.code
        p.visits = p.visits + 1
        w.visits = w.visits + 1
      end

      interaction touch_wall_first(w: Wall, p: Particle) do
        w.seen = w.seen + 1000 * p.code
        p.seen = p.seen + 1000 * w.code
      end
    end
  end

  # Two per-agent rules that do not commute; :loop_fusion fuses them into one sweep.
  defsystem Steps do
    optimize [:loop_fusion]

    agents do
      defagent Cell do
        field :value, :float
      end
    end

    rules do
      interaction double(c: Cell) do
        c.value = c.value * 2
      end

      interaction increment(c: Cell) do
        c.value = c.value + 1
      end
    end
  end

  # A damped spring with two scalar params.
  defsystem Spring do
    agents do
      defagent Particle do
        field :position, :vec3
        field :velocity, :vec3
      end
    end

    rules do
      interaction spring(p: Particle, k: float, damping: float) do
        p.velocity = p.velocity - (p.position * k + p.velocity * damping) * dt
      end

      interaction drift(p: Particle) do
        p.position = p.position + p.velocity * dt
      end
    end
  end

  # For the round-trip tests: some fields are written, others never.
  defsystem Keep do
    agents do
      defagent Particle do
        field :position, :vec3
        field :velocity, :vec3
        field :mass, :float
        field :charge, :float, default: 0.0
        field :generation, :int
      end

      defagent Wall do
        field :position, :vec3
        field :normal, :vec3
      end
    end

    rules do
      interaction drift(p: Particle) do
        p.position = p.position + p.velocity * dt
      end

      interaction age(p: Particle) do
        p.generation = p.generation + 1
      end

      interaction same_mass(p: Particle) do
        p.mass = p.mass
      end
    end
  end

  # Rules that can produce non-finite values, and guarded ones that must not.
  defsystem Fragile do
    agents do
      defagent Cell do
        field :value, :float
        field :scale, :float
      end
    end

    rules do
      interaction divide(c: Cell) do
        c.value = c.value / c.scale
      end

      interaction countdown(c: Cell) do
        c.scale = c.scale - 1
        c.value = 1 / c.scale
      end

      interaction guarded(c: Cell) do
        r = c.scale

        if r > 0 do
          x = 1 / r
          c.value = x
        else
          c.value = 0.0
        end
      end

      interaction guarded_math(c: Cell) do
        if c.scale > 0 do
          c.value = log(c.scale) + sqrt(c.scale) + c.scale ** -0.5
        end
      end
    end
  end

  # Pair rules that can produce non-finite values.
  defsystem FragilePairs do
    agents do
      defagent Node do
        field :position, :vec3
        field :energy, :float
      end
    end

    rules do
      interaction coulomb(a: Node, b: Node) do
        r = length(a.position - b.position)
        b.energy = b.energy + 1 / r
      end

      interaction pump(a: Node, b: Node) do
        a.energy = a.energy + 1.0e308
        b.energy = b.energy + 1.0e308
      end
    end
  end

  # Cutoff detection in its various spellings, and rules that must not get one.
  defsystem Cutoffs do
    Cut = 2.5

    agents do
      defagent Particle do
        field :position, :vec3
        field :velocity, :vec3
        field :radius, :float
      end

      defagent Anchor do
        field :position, :vec3
        field :reach, :float
      end
    end

    rules do
      interaction squared(a: Particle, b: Particle) do
        d = a.position - b.position

        if dot(d, d) < Cut * Cut do
          a.velocity = a.velocity + d * 0.1
          b.velocity = b.velocity - d * 0.1
        end
      end

      interaction squared_param(a: Particle, b: Particle, rc2: float) do
        d = b.position - a.position

        if dot(d, d) < rc2 do
          a.velocity = a.velocity - d * 0.1
          b.velocity = b.velocity + d * 0.1
        end
      end

      interaction reversed(a: Particle, b: Particle) do
        if a.radius + b.radius > length(b.position - a.position) and a.radius > 0 do
          a.velocity = a.velocity * 0.5
          b.velocity = b.velocity * 0.5
        end
      end

      interaction tether(p: Particle, x: Anchor) do
        dist = length(p.position - x.position)

        if dist < x.reach do
          p.velocity = p.velocity + (x.position - p.position) * 0.01
        end
      end

      interaction unguarded(a: Particle, b: Particle) do
        a.velocity = a.velocity + (b.position - a.position) * 0.001
      end

      interaction with_else(a: Particle, b: Particle) do
        if length(a.position - b.position) < 1.0 do
          a.velocity = a.velocity * 0.9
        else
          a.velocity = a.velocity * 1.1
        end
      end

      interaction write_outside(a: Particle, b: Particle) do
        a.radius = a.radius * 1.0001

        if length(a.position - b.position) < 1.0 do
          a.velocity = a.velocity * 0.9
        end
      end

      interaction not_distance(a: Particle, b: Particle) do
        if a.radius < b.radius do
          a.velocity = a.velocity * 0.9
        end
      end

      interaction inclusive(a: Particle, b: Particle) do
        if length(a.position - b.position) <= 1.0 do
          a.velocity = a.velocity + {1.0, 0.0, 0.0}
          b.velocity = b.velocity - {1.0, 0.0, 0.0}
        end
      end
    end
  end

  # Every operator and function of the DSL, for the optimiser and code-generation tests.
  defsystem Mixer do
    K = 3

    agents do
      defagent Blob do
        field :position, :vec3
        field :velocity, :vec3
        field :a, :float
        field :b, :float
        field :n, :int
      end
    end

    rules do
      interaction mix(p: Blob, s: float) do
        u = p.position * 1 + p.velocity * 0
        w = cross(p.position, p.velocity)
        n = normalize(w)
        q = dot(n, u) + length(u) - length(u) * 1.0

        t =
          clamp(p.a, -1, 1) + min(p.a, p.b) - max(p.a, p.b) + abs(p.b) ** 2 +
            pow(abs(p.a), 0.5)

        e = exp(min(p.b, 5.0)) + sin(p.a) * cos(p.b) + :math.pi() - floor(p.a)

        if (p.a > 0 and not (p.b > 0)) or p.a == p.b do
          if q != 0 && !(t < 0) do
            p.a = q + t * s
          else
            p.b = e - K
          end

          p.velocity = p.velocity + w * (dt * 0.5)
        else
          p.velocity = -p.velocity + {1, 2, 3} * (0 + 1) - {0, 0, 0}
          p.n = p.n + floor(p.a)
        end

        p.position = p.position + p.velocity * dt
      end

      interaction couple(a: Blob, b: Blob) do
        d = a.position - b.position
        r = sqrt(dot(d, d))

        if r > 0 and r < 2.0 do
          f = log(r + 1) / (r * r + 0.01)
          a.velocity = a.velocity + d * f
          b.velocity = b.velocity - d * f
          a.b = a.b + :math.exp(-r) * 0 + abs(-f) - f
        end

        if a.n >= b.n || a.a <= b.a do
          a.a = max(a.a, b.a) - min(a.a, b.a) / 2
        end
      end

      interaction stir(p: Blob, s: float) do
        {x, y, z} = p.velocity
        p.velocity = {y * s, -x * s, z} + {0, 0, 1} * (x * 0 + y * 0 + z * 0 + 0)
        p.b = :math.sin(x) * :math.cos(y) + :math.log(abs(z) + 1) - :math.sqrt(abs(x))
        p.a = :math.pow(abs(y) + 1, 1.5) + :math.floor(z) * 1 + :math.exp(-abs(x))
      end
    end
  end

  @doc "Every system defined here."
  def all,
    do: [
      BrokenRecord.Zero.Fixtures.CollisionWorld,
      __MODULE__.Ballistics,
      __MODULE__.Gravity,
      __MODULE__.GravityF32,
      __MODULE__.Orbit,
      __MODULE__.Chain,
      __MODULE__.Tally,
      __MODULE__.Steps,
      __MODULE__.Spring,
      __MODULE__.Keep,
      __MODULE__.Fragile,
      __MODULE__.FragilePairs,
      __MODULE__.Cutoffs,
      __MODULE__.Mixer,
      BrokenRecord.Zero.TestForms.Kitchen
    ]
end

defmodule BrokenRecord.Zero.TestForms do
  @moduledoc "A system written with every DSL form of docs/dsl.md, and the pluralisation rules."
  use BrokenRecord.Zero

  defsystem Kitchen do
    G = 1.0
    Half = 0.5
    TwoG = 2 * G
    compile_target :cpu
    optimize [:simd, :spatial_hash, :loop_fusion]
    precision :f64

    agents do
      defagent Particle do
        field :position, :vec3
        field :velocity, :vec3, default: {0.0, 0.0, 0.0}
        field :mass, :float, default: 1
        field :tag, :float, default: 0.0
        field :generation, :int, default: 0
      end

      defagent Body do
        field :position, :vec3
        field :mass, :float
      end

      defagent Wall do
        field :position, :vec3
        field :normal, :vec3
      end

      defagent Molecule do
        field :charge, :float
      end

      defagent Crate, collection: :boxes do
        field :size, :float
      end
    end

    rules do
      # keyword params with an explicit dt
      interaction drift(p: Particle, dt: float) do
        p.position = p.position + p.velocity * dt
      end

      # implicit dt, integer literals in float context, system constants
      interaction fall(p: Particle) do
        p.velocity = p.velocity - {0, 1, 0} * (TwoG * Half * 9.81 * dt)
      end

      # destructuring and components of arbitrary vec3 expressions
      interaction components(p: Particle) do
        {x, y, z} = p.velocity

        p.tag =
          x + 2 * y + 3 * z + (p.position + p.velocity).y * 10 +
            cross(p.position, p.velocity).z * 100
      end

      # nested if/else
      interaction classify(p: Particle) do
        v = p.velocity.x

        if v > 1 do
          if v > 2 do
            p.tag = 3
          else
            p.tag = 2
          end
        else
          if v < -1 do
            p.tag = -1
          else
            p.tag = 0
          end
        end
      end

      # :math spellings, a body constant, int fields and floor
      interaction mathy(p: Particle) do
        K = 4
        r = :math.sqrt(:math.pow(p.position.x, 2) + 0.0)
        p.tag = r + :math.exp(0) + :math.log(1) + :math.sin(0) + :math.cos(0) + :math.pi() * 0 + K
        p.generation = p.generation + floor(p.mass)
      end

      # .x on a field of the second agent of a cross-type pair
      interaction reflect(p: Particle, w: Wall) do
        if dot(p.position - w.position, w.normal) < 0 && !(dot(p.velocity, w.normal) > 0) do
          vn = dot(p.velocity, w.normal)

          p.velocity =
            {p.velocity.x - 2 * vn * w.normal.x, p.velocity.y - 2 * vn * w.normal.y,
             p.velocity.z - 2 * vn * w.normal.z}
        end
      end

      # a scalar param besides dt, and every boolean spelling
      interaction attract(a: Body, b: Body, strength: float) do
        d = b.position - a.position
        r = length(d)

        if (r > 0 and not (r > 10)) || r == -1 do
          a.position = a.position + d * (strength * G * b.mass * dt / (r * r * r + 1))
          b.position = b.position - d * (strength * G * a.mass * dt / (r * r * r + 1))
        end
      end

      interaction neutralise(m: Molecule) do
        m.charge = m.charge * Half
      end

      interaction grow(c: Crate) do
        c.size = min(max(c.size * 2, 0), 100)
      end
    end
  end
end
