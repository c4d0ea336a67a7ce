defmodule BrokenRecord.Zero.ReductionSystems do
  @moduledoc """
  Systems whose pair rules reduce fields with `max(...)` and `min(...)` (docs/dsl.md,
  "Reductions"), and their states. The reduced values are loaded fields, differences and
  absolute values, so that every backend, path and thread count computes the same bits.
  """

  use BrokenRecord.Zero

  # Same-type rules with a cutoff (neighbour lists): first-touch time, the largest and smallest
  # neighbour value and an :int level that spreads to neighbours, one less per contact.
  defsystem Contact do
    agents do
      defagent Dot do
        field :position, :vec3
        field :velocity, :vec3
        field :value, :float
        field :clock, :float, default: 0.0
        field :first, :float, default: 1.0e9
        field :near, :float, default: -1.0e9
        field :low, :float, default: 1.0e9
        field :level, :int, default: 0
      end
    end

    rules do
      interaction touch(a: Dot, b: Dot, radius: float) do
        if length(a.position - b.position) < radius do
          a.first = min(a.first, a.clock)
          b.first = min(b.clock, b.first)
          a.near = max(a.near, b.value)
          b.near = max(a.value, b.near)
          a.low = min(a.low, b.value)
          b.low = min(b.low, a.value)
          a.level = max(a.level, b.level - 1)
          b.level = max(b.level, a.level - 1)
        end
      end

      interaction move(p: Dot) do
        p.position = p.position + p.velocity * dt
        p.clock = p.clock + dt
      end
    end
  end

  # The same in a periodic box.
  defsystem PeriodicContact do
    space periodic: [:x, :y, :z]

    agents do
      defagent Dot do
        field :position, :vec3
        field :velocity, :vec3
        field :value, :float
        field :near, :float, default: -1.0e9
        field :low, :float, default: 1.0e9
      end
    end

    rules do
      interaction touch(a: Dot, b: Dot, radius: float) do
        if length(a.position - b.position) < radius do
          a.near = max(a.near, b.value)
          b.near = max(b.near, a.value)
          a.low = min(a.low, b.value)
          b.low = min(b.low, a.value)
        end
      end

      interaction move(p: Dot) do
        p.position = p.position + p.velocity * dt
      end
    end
  end

  # Two types with a cutoff (a grid), and a rule over all pairs (no cutoff) that mixes a
  # reduction of one field with a sum into another.
  defsystem Sensors do
    agents do
      defagent Sensor do
        field :position, :vec3
        field :peak, :float, default: -1.0e9
        field :quiet, :float, default: 1.0e9
        field :hits, :float, default: 0.0
      end

      defagent Source do
        field :position, :vec3
        field :strength, :float
        field :loudest, :int, default: -1
        field :closest, :float, default: 1.0e9
      end
    end

    rules do
      interaction hear(s: Sensor, src: Source, range: float) do
        if length(s.position - src.position) < range do
          s.peak = max(s.peak, src.strength)
          s.quiet = min(s.quiet, src.strength)
          s.hits = s.hits + 1.0
          src.loudest = max(src.loudest, 1)
        end
      end

      interaction spread(a: Source, b: Source) do
        dx = abs(b.position.x - a.position.x)
        a.closest = min(a.closest, dx)
        b.closest = min(dx, b.closest)

        if a.strength > b.strength do
          b.loudest = max(b.loudest, 2)
        else
          a.loudest = max(a.loudest, 2)
        end
      end
    end
  end

  @doc """
  `n` dots on a jittered cubic lattice of spacing 1.0 (`side` per axis) with values that f32
  holds exactly (multiples of 1/8) and small velocities, and levels 0 but every 17th 9.
  """
  @spec dots(pos_integer, integer) :: [map]
  def dots(side, seed) do
    :rand.seed(:exsss, {seed, seed * 7 + 1, seed * 13 + 5})
    jitter = fn -> (:rand.uniform(64) - 32) / 256 end

    for {{x, y, z}, k} <-
          Enum.with_index(for x <- 1..side, y <- 1..side, z <- 1..side, do: {x, y, z}) do
      %{
        position: {x + jitter.(), y + jitter.(), z + jitter.()},
        velocity: {jitter.() / 4, jitter.() / 4, jitter.() / 4},
        value: (:rand.uniform(2048) - 1024) / 8,
        level: if(rem(k, 17) == 0, do: 9, else: 0)
      }
    end
  end

  @doc "Sensors and sources on jittered lattices (the sources offset by half a spacing)."
  @spec sensors(pos_integer, integer) :: map
  def sensors(side, seed) do
    :rand.seed(:exsss, {seed, seed * 7 + 1, seed * 13 + 5})
    jitter = fn -> (:rand.uniform(64) - 32) / 256 end
    cube = for x <- 1..side, y <- 1..side, z <- 1..side, do: {x, y, z}

    %{
      sensors:
        for({x, y, z} <- cube, do: %{position: {x + jitter.(), y + jitter.(), z + jitter.()}}),
      sources:
        for {x, y, z} <- cube do
          %{
            position: {x + 0.5 + jitter.(), y + 0.5 + jitter.(), z + 0.5 + jitter.()},
            strength: (:rand.uniform(4096) - 2048) / 8
          }
        end
    }
  end
end
