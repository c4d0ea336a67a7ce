defmodule BrokenRecord.Zero.FieldTypeSystems do
  @moduledoc false
  # Systems with `:bool`, enum and transient fields, and the states the tests give them.

  use BrokenRecord.Zero

  # Cells on a line count their neighbours into a transient field; a per-agent rule adds the
  # count to a persistent total and moves an enum through its values.
  defsystem Cells do
    agents do
      defagent Cell do
        field :position, :vec3
        field :stage, {:enum, [:egg, :larva, :pupa, :adult]}, default: :egg
        field :crowded, :bool, default: false
        field :n, :float, transient: true
        field :m, :int, default: 5, transient: true
        field :total, :float, default: 0.0
      end
    end

    rules do
      interaction count(a: Cell, b: Cell) do
        if length(a.position - b.position) < 1.5 do
          a.n = a.n + 1.0
          b.n = b.n + 1.0
        end
      end

      interaction grow(c: Cell) do
        c.total = c.total + c.n + c.m
        c.crowded = c.n >= 2.0

        if c.stage < :adult and c.crowded do
          if c.stage == :egg do
            c.stage = :larva
          else
            c.stage = max(c.stage, :pupa)
          end
        end
      end
    end
  end

  # An epidemic with named states, a transient exposure and random infection and recovery.
  defsystem Epidemic do
    space periodic: [:x, :y]

    agents do
      defagent Person, collection: :people do
        field :position, :vec3
        field :status, {:enum, [:susceptible, :infected, :recovered]}, default: :susceptible
        field :vaccinated, :bool, default: false
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
        infected = uniform() < 1.0 - exp(-beta * p.exposure * dt)
        recovers = uniform() < 1.0 - exp(-gamma * dt)

        if p.status == :susceptible and not p.vaccinated and infected do
          p.status = :infected
        else
          if p.status == :infected and recovers do
            p.status = :recovered
          end
        end

        p.position = p.position + {normal(), normal(), 0.0} * step
      end
    end
  end

  @doc "`n` cells one unit apart on the x axis."
  def cells(n, extra \\ %{}),
    do: %{cells: for(i <- 0..(n - 1), do: Map.merge(%{position: {i * 1.0, 0.0, 0.0}}, extra))}

  @doc "`n` people on a 20x20 periodic square, a few infected, some vaccinated."
  def people(n, seed) do
    :rand.seed(:exsss, {seed, 3, 5})

    people =
      for i <- 0..(n - 1) do
        %{
          position: {20 * :rand.uniform(), 20 * :rand.uniform(), 0.0},
          status: if(rem(i, 10) == 0, do: :infected, else: :susceptible),
          vaccinated: rem(i, 7) == 0
        }
      end

    %{people: people, box: {20.0, 20.0, 1.0}}
  end

  @doc "The params of an `Epidemic` run."
  def epidemic_params, do: %{radius: 1.0, beta: 2.0, gamma: 0.5, step: 0.1}
end
