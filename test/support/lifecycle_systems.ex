defmodule BrokenRecord.Zero.LifecycleSystems do
  @moduledoc """
  Systems whose agents are removed and spawned (docs/dsl.md, "Agents that are born and die"),
  shared by the lifecycle tests and `BrokenRecord.Zero.LifecycleProbe`.
  """

  use BrokenRecord.Zero

  defsystem Cells do
    agents do
      defagent Cell do
        field :position, :vec3
        field :velocity, :vec3
        field :mass, :float, default: 1.0
        field :age, :int, default: 0
        field :seen, :float, default: 0.0, transient: true
      end
    end

    rules do
      # A split: the parent keeps half its mass, the child gets the other half.
      interaction split(p: Cell) do
        if p.mass > 1.5 do
          p.mass = p.mass / 2
          spawn(Cell, position: p.position + {0.25, 0.0, 0.0}, velocity: p.velocity, mass: p.mass)
        end
      end

      interaction decay(p: Cell) do
        if uniform() < 0.2 do
          remove(p)
        else
          if p.age > 6 do
            remove(p)
          end
        end
      end

      # Runs after split and decay in the same step: children grow too.
      interaction grow(p: Cell) do
        p.mass = p.mass * 1.25 + 0.05 * normal()
        p.age = p.age + 1
        p.position = p.position + p.velocity * dt
      end
    end
  end

  defsystem Molecules do
    agents do
      defagent Molecule do
        field :position, :vec3
        field :velocity, :vec3
        field :mass, :float, default: 1.0
      end
    end

    rules do
      # A merge: a takes b's mass and momentum, b is removed.
      interaction merge(a: Molecule, b: Molecule), exclusive: true do
        if length(a.position - b.position) < 0.5 do
          a.velocity = (a.mass * a.velocity + b.mass * b.velocity) / (a.mass + b.mass)
          a.mass = a.mass + b.mass
          remove(b)
        end
      end

      interaction drift(p: Molecule) do
        p.position = p.position + p.velocity * dt
      end
    end
  end

  defsystem Reactor do
    agents do
      defagent Atom do
        field :position, :vec3
        field :charge, :float, default: 0.0
      end

      defagent Catalyst do
        field :position, :vec3
      end

      defagent Product do
        field :position, :vec3
        field :charge, :float
        field :tag, :float, default: 7.0
      end
    end

    rules do
      # A catalysed reaction: a close (atom, catalyst) pair consumes the atom and makes a
      # product between them.
      interaction react(a: Atom, c: Catalyst), exclusive: true do
        if length(a.position - c.position) < 1.0 do
          spawn(Product, position: (a.position + c.position) * 0.5, charge: a.charge + uniform())
          remove(a)
        end
      end

      interaction age(p: Product) do
        p.tag = p.tag + 1.0
      end
    end
  end

  defsystem Budding do
    space periodic: [:x, :y, :z]

    agents do
      defagent Bud do
        field :position, :vec3
        field :velocity, :vec3
      end
    end

    rules do
      # A child 3.0 beyond the parent on x: outside a box of edge 4 for parents near its end.
      interaction bud(p: Bud) do
        if p.velocity.x > 0.0 do
          spawn(Bud, position: p.position + {3.0, 0.0, 0.0}, velocity: {0.0, 0.0, 0.0})
        end
      end

      interaction move(p: Bud) do
        p.position = p.position + p.velocity * dt
      end
    end
  end

  @doc "`n` cells with masses spread over 0.5 .. 2.5 (so some split), seeded."
  @spec cells(pos_integer, integer) :: map
  def cells(n, seed) do
    :rand.seed(:exsss, {seed, 3, 5})

    %{
      cells:
        for i <- 0..(n - 1) do
          %{
            position: {i * 1.0, :rand.uniform(), 0.0},
            velocity: {:rand.uniform() - 0.5, :rand.uniform() - 0.5, 0.0},
            mass: 0.5 + 2.0 * :rand.uniform(),
            age: rem(i, 5)
          }
        end
    }
  end
end
