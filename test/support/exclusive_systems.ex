defmodule BrokenRecord.Zero.ExclusiveSystems do
  @moduledoc """
  Systems with exclusive pair rules (docs/dsl.md, "Exclusive pair rules") and their states. Every
  applied pair adds 1 to a `:bonds` / `:meals` / `:times` counter of both its agents and records
  the partner's tag, so that the tests can check that each agent is in at most one applied pair
  and that the matching is maximal.
  """

  use BrokenRecord.Zero

  # Same type, open space: molecules within `radius` that are both free react; a random draw
  # decides too (the claim and the applied pair see the same draw).
  defsystem Molecules do
    agents do
      defagent Molecule do
        field :position, :vec3
        field :tag, :float
        field :free, :float, default: 1.0
        field :bonds, :int, default: 0
        field :partner, :float, default: -1.0
      end
    end

    rules do
      interaction react(a: Molecule, b: Molecule, radius: float, rate: float), exclusive: true do
        if length(a.position - b.position) < radius and a.free > 0.5 and b.free > 0.5 do
          if uniform() < rate do
            a.bonds = a.bonds + 1
            b.bonds = b.bonds + 1
            a.partner = b.tag
            b.partner = a.tag
          end
        end
      end
    end
  end

  # Cross type: a wolf eats at most one sheep a step, a sheep is eaten at most once. The sheep
  # crowd (a same-type cutoff rule: the engine sorts their rows by cell for its neighbour list)
  # before the wolves hunt, so the exclusive rule sees the sheep in storage order.
  defsystem Pasture do
    agents do
      defagent Wolf, collection: :wolves do
        field :position, :vec3
        field :tag, :float
        field :meals, :int, default: 0
        field :prey, :float, default: -1.0
      end

      defagent Sheep, collection: :sheep do
        field :position, :vec3
        field :tag, :float
        field :crowd, :float, default: 0.0
        field :times, :int, default: 0
        field :eaten_by, :float, default: -1.0
      end
    end

    rules do
      interaction crowd(a: Sheep, b: Sheep, near: float) do
        if length(a.position - b.position) < near do
          a.crowd = a.crowd + 1.0
          b.crowd = b.crowd + 1.0
        end
      end

      interaction eat(w: Wolf, s: Sheep, range: float), exclusive: true do
        if length(w.position - s.position) < range and s.times == 0 do
          w.meals = w.meals + 1
          w.prey = s.tag
          s.times = s.times + 1
          s.eaten_by = w.tag
        end
      end
    end
  end

  # Periodic box: the distance is the minimum image, so pairs across the boundary react.
  defsystem Torus do
    space periodic: [:x, :y, :z]

    agents do
      defagent Atom do
        field :position, :vec3
        field :tag, :float
        field :bonds, :int, default: 0
        field :partner, :float, default: -1.0
      end
    end

    rules do
      interaction bind(a: Atom, b: Atom, radius: float), exclusive: true do
        if length(a.position - b.position) < radius do
          a.bonds = a.bonds + 1
          b.bonds = b.bonds + 1
          a.partner = b.tag
          b.partner = a.tag
        end
      end
    end
  end

  @doc "`n` agents at pseudo-random positions in a cube of edge `edge`, tagged 0..n-1."
  @spec scattered(pos_integer, number, integer) :: [map]
  def scattered(n, edge, seed) do
    :rand.seed(:exsss, {seed, 7, 11})

    for k <- 0..(n - 1) do
      %{
        position: {:rand.uniform() * edge, :rand.uniform() * edge, :rand.uniform() * edge},
        tag: k * 1.0
      }
    end
  end
end
