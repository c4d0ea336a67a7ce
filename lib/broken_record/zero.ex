defmodule BrokenRecord.Zero do
  @moduledoc """
  Particle and agent simulations described in a small DSL, compiled at `mix compile` and run in a
  native C++ engine (with a pure-Elixir fallback).

      defmodule MyPhysics do
        use BrokenRecord.Zero

        defsystem Falling do
          agents do
            defagent Particle do
              field :position, :vec3
              field :velocity, :vec3
            end
          end

          rules do
            interaction integrate(p: Particle, dt: float) do
              p.position = p.position + p.velocity * dt
            end
          end
        end
      end

      MyPhysics.Falling.simulate(%{particles: [...]}, steps: 100, dt: 0.01)

  `use BrokenRecord.Zero` imports `defsystem/2` (see `BrokenRecord.Zero.DSL`). The compiled
  system is available as `System.__system__/0` (a `BrokenRecord.Zero.CompiledSystem`), and runs through
  `BrokenRecord.Zero.Runtime.simulate/3` or the long-lived `BrokenRecord.Zero.World`.
  """

  defmacro __using__(_opts) do
    quote do
      import BrokenRecord.Zero.DSL, only: [defsystem: 2]
    end
  end
end
