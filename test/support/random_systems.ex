defmodule BrokenRecord.Zero.RandomSystems do
  @moduledoc "Systems that draw random numbers (`uniform()`, `normal()`) for the ExUnit suite."
  use BrokenRecord.Zero

  import BrokenRecord.Zero.TestHelpers, only: [seed: 1, vec: 2]

  @doc "A state of `Draws`: `n_dots` dots and `n_posts` posts, every field at its default."
  @spec draws_state(non_neg_integer, non_neg_integer) :: map
  def draws_state(n_dots, n_posts),
    do: %{dots: List.duplicate(%{}, n_dots), posts: List.duplicate(%{}, n_posts)}

  @doc """
  A state of `DPD`: a fluid at number density `rho` in a periodic cube of `cells` unit cells a
  side, positions uniform, velocities uniform in [-1, 1), unit masses (seeded by `seed_value`).
  """
  @spec dpd_state(pos_integer, float, integer) :: map
  def dpd_state(cells, rho, seed_value) do
    seed(seed_value)
    side = cells * 1.0
    n = round(rho * side * side * side)
    beads = for _ <- 1..n, do: %{position: vec(0.0, side), velocity: vec(-1.0, 1.0), mass: 1.0}
    %{beads: beads, box: {side, side, side}}
  end

  # Every kind of rule records what it draws: a per-agent rule stores its draws, a same-type pair
  # rule adds one uniform and one normal per pair to both agents (both see the same values), a
  # cross-type rule adds its draw to both of its agents.
  defsystem Draws do
    agents do
      defagent Dot do
        field :u, :float, default: 0.0
        field :n, :float, default: 0.0
        field :u2, :float, default: 0.0
        field :s, :float, default: 0.0
        field :t, :float, default: 0.0
      end

      defagent Post do
        field :c, :float, default: 0.0
      end
    end

    rules do
      interaction record(p: Dot) do
        p.u = uniform()
        p.n = normal()
        p.u2 = uniform()
        p.s = 0.0
        p.t = 0.0
      end

      interaction pair_sum(a: Dot, b: Dot) do
        w = uniform()
        z = normal()
        a.s = a.s + w
        b.s = b.s + w
        a.t = a.t + z
        b.t = b.t + z
      end

      interaction cross_sum(a: Dot, b: Post) do
        w = uniform()
        b.c = b.c + w
      end
    end
  end

  # Overdamped Brownian motion in a periodic box: dx = sqrt(2 D dt) N(0, 1) per axis.
  defsystem Brownian do
    space periodic: [:x, :y, :z]

    agents do
      defagent Particle do
        field :position, :vec3
      end
    end

    rules do
      interaction diffuse(p: Particle, diffusion: float) do
        p.position = p.position + {normal(), normal(), normal()} * sqrt(2.0 * diffusion * dt)
      end
    end
  end

  # Dissipative particle dynamics (Groot and Warren): conservative, dissipative and random pair
  # forces within rc, applied to both agents with opposite signs, then a drift. The random force
  # of a pair is one normal() that both agents see.
  defsystem DPD do
    space periodic: [:x, :y, :z]

    agents do
      defagent Bead do
        field :position, :vec3
        field :velocity, :vec3
        field :mass, :float, default: 1.0
        conserves [:momentum]
      end
    end

    rules do
      interaction dpd(a: Bead, b: Bead, repulsion: float, gamma: float, sigma: float) do
        d = a.position - b.position
        r = length(d)

        if r < 1.0 do
          n = normalize(d)
          w = 1.0 - r
          dv = dot(n, a.velocity - b.velocity)
          f = repulsion * w - gamma * w * w * dv + sigma * w * normal() / sqrt(dt)
          a.velocity = a.velocity + n * (f * dt / a.mass)
          b.velocity = b.velocity - n * (f * dt / b.mass)
        end
      end

      interaction move(p: Bead) do
        p.position = p.position + p.velocity * dt
      end
    end
  end
end
