defmodule BrokenRecord.Zero.ConservationSystems do
  @moduledoc """
  Systems for the conservation tests: each rule is an example of docs/conservation.md.
  They declare laws on purpose, so some of them produce compile-time warnings; they live in
  their own module compiled with warnings captured by the test that needs them.
  """

  @doc "Source of a system whose rules exercise every verdict."
  @spec verdicts_source(String.t()) :: String.t()
  def verdicts_source(module) do
    """
    defmodule #{module} do
      use BrokenRecord.Zero

      defsystem Laws do
        G = 1.0

        agents do
          defagent Body do
            field :position, :vec3
            field :velocity, :vec3
            field :mass, :float
            conserves [:mass, :momentum, :angular_momentum, :energy]
          end

          defagent Wall do
            field :position, :vec3
            field :normal, :vec3
          end
        end

        rules do
          interaction gravity(a: Body, b: Body) do
            d = b.position - a.position
            r2 = dot(d, d) + 0.01
            inv = 1 / (sqrt(r2) * r2)
            a.velocity = a.velocity + d * (G * b.mass * inv * dt)
            b.velocity = b.velocity - d * (G * a.mass * inv * dt)
          end

          interaction one_sided(a: Body, b: Body) do
            d = b.position - a.position
            r2 = dot(d, d) + 0.01
            a.velocity = a.velocity + d * (G * b.mass / (r2 * sqrt(r2)) * dt)
          end

          interaction collision(p1: Body, p2: Body) do
            delta = p1.position - p2.position
            dist = length(delta)

            if dist < 1.0 do
              normal = normalize(delta)
              speed = dot(p1.velocity - p2.velocity, normal)

              if speed < 0 do
                impulse = 2 * speed / (1 / p1.mass + 1 / p2.mass)
                p1.velocity = p1.velocity - normal * (impulse / p1.mass)
                p2.velocity = p2.velocity + normal * (impulse / p2.mass)
              end
            end
          end

          interaction falling(p: Body) do
            p.velocity = p.velocity + {0, -9.81, 0} * dt
            p.position = p.position + p.velocity * dt
          end

          interaction drift(p: Body) do
            p.position = p.position + p.velocity * dt
          end

          interaction accrete(a: Body, b: Body) do
            a.mass = a.mass + 0.1 * b.mass
          end

          interaction bounce(p: Body, w: Wall) do
            dist = dot(p.position - w.position, w.normal)

            if dist < 0.1 do
              p.velocity = p.velocity - w.normal * (2 * dot(p.velocity, w.normal))
            end
          end
        end
      end
    end
    """
  end
end

defmodule BrokenRecord.Zero.ConservationSystems.Monitored do
  @moduledoc """
  A system run with the conservation monitor (no violations: compiles cleanly); the monitored
  gas is `BrokenRecord.Zero.Fixtures.ElasticSpheres`.
  """
  use BrokenRecord.Zero

  # A two-body orbit, kick-drift-kick leapfrog, with its potential for the energy monitor.
  defsystem TwoBody do
    G = 1.0

    agents do
      defagent Body do
        field :position, :vec3
        field :velocity, :vec3
        field :mass, :float
        conserves [:mass, :momentum, :angular_momentum, :energy]
      end
    end

    rules do
      interaction kick(a: Body, b: Body) do
        d = b.position - a.position
        r = length(d)
        s = G * 0.5 * dt / (r * r * r)
        a.velocity = a.velocity + d * (s * b.mass)
        b.velocity = b.velocity - d * (s * a.mass)
      end

      interaction drift(p: Body) do
        p.position = p.position + p.velocity * dt
      end
    end

    potential newton(a: Body, b: Body) do
      -G * a.mass * b.mass / length(a.position - b.position)
    end
  end
end
