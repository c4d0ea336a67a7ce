defmodule BrokenRecord.Zero.WorldTest.Systems do
  use BrokenRecord.Zero

  # Agents and no rules: a valid system in which a step changes nothing.
  defsystem Inert do
    agents do
      defagent Particle do
        field :position, :vec3
        field :mass, :float
        field :hits, :int, default: 0
      end
    end
  end
end

defmodule BrokenRecord.Zero.WorldTest do
  use ExUnit.Case, async: true

  import BrokenRecord.Zero.TestHelpers

  alias BrokenRecord.Zero.World
  alias BrokenRecord.Zero.Fixtures.CollisionWorld
  alias BrokenRecord.Zero.TestSystems.{Gravity, Keep, Spring}

  defp gas do
    seed(5)

    particles =
      for i <- 0..5 do
        %{
          id: i,
          position: {-1.5 + 0.6 * i, uniform(-0.5, 0.5), 0.0},
          velocity: vec(-1.0, 1.0),
          mass: 1.0,
          radius: 0.2
        }
      end

    walls = [
      %{position: {-2.0, 0.0, 0.0}, normal: {1.0, 0.0, 0.0}},
      %{position: {2.0, 0.0, 0.0}, normal: {-1.0, 0.0, 0.0}}
    ]

    %{particles: particles, walls: walls, label: "gas"}
  end

  defp unpack(bin), do: for(<<x::float-native-64 <- bin>>, do: x)

  defp backends do
    if BrokenRecord.Zero.NIF.loaded?(), do: [:interpreted, :native], else: [:interpreted]
  end

  describe "on the interpreted backend" do
    test "new/step/to_state give what simulate gives" do
      state = gas()
      world = World.new(CollisionWorld, state, backend: :interpreted)
      assert %World{backend: :interpreted} = world

      world = World.step(world, steps: 20, dt: 0.01)

      assert World.to_state(world) ==
               CollisionWorld.simulate(state, steps: 20, dt: 0.01, backend: :interpreted)
    end

    test "stepping in chunks equals stepping at once" do
      state = gas()
      world = World.new(CollisionWorld, state, backend: :interpreted)
      once = world |> World.copy() |> World.step(steps: 20, dt: 0.01)
      chunked = Enum.reduce(1..4, world, fn _, w -> World.step(w, steps: 5, dt: 0.01) end)
      assert_identical(World.to_state(chunked), World.to_state(once))
    end

    test "info counts each rule's sweeps on its path (two pair rules, one per-agent rule)" do
      world = World.new(CollisionWorld, gas(), backend: :interpreted)
      assert World.info(world).sweeps == %{}
      world = World.step(world, steps: 3, dt: 0.01)
      assert World.info(world).sweeps == %{all_pairs_elixir: 6, agent_elixir: 3}
      world = World.step(world, steps: 2, dt: 0.01, rules: [:integrate])
      assert World.info(world).sweeps == %{all_pairs_elixir: 6, agent_elixir: 5}

      assert World.info(World.step(world, steps: 0)).sweeps == %{
               all_pairs_elixir: 6,
               agent_elixir: 5
             }
    end

    test "to_state of a fresh world is the state itself" do
      state = gas()
      assert World.to_state(World.new(CollisionWorld, state, backend: :interpreted)) == state
    end

    test "stepping a world leaves a copy taken before as it was" do
      world = World.new(CollisionWorld, gas(), backend: :interpreted)
      copy = World.copy(world)
      _later = World.step(world, steps: 10, dt: 0.01)
      assert World.to_state(copy) == gas()
    end

    test "column/3 packs one field of every agent as native-endian f64" do
      state = gas()

      world =
        World.new(CollisionWorld, state, backend: :interpreted) |> World.step(steps: 7, dt: 0.02)

      out = World.to_state(world)

      positions = World.column(world, :particles, :position)
      assert byte_size(positions) == 6 * 3 * 8
      assert unpack(positions) == Enum.flat_map(out.particles, &Tuple.to_list(&1.position))

      masses = World.column(world, :particles, :mass)
      assert unpack(masses) == Enum.map(out.particles, & &1.mass)

      normals = World.column(world, :walls, :normal)
      assert unpack(normals) == [1.0, 0.0, 0.0, -1.0, 0.0, 0.0]
    end

    test "column/3 of an empty collection is empty" do
      world = World.new(CollisionWorld, %{particles: []}, backend: :interpreted)
      assert World.column(world, :walls, :position) == <<>>
      assert World.column(world, :particles, :velocity) == <<>>
    end

    test "column/3 of an int field gives floats" do
      state = %{particles: [%{position: {0, 0, 0}, velocity: {0, 0, 0}, mass: 1, generation: 41}]}
      world = World.new(Keep, state, backend: :interpreted) |> World.step(steps: 1, rules: [:age])
      assert unpack(World.column(world, :particles, :generation)) == [42.0]
    end

    test "column/3 rejects unknown collections and fields" do
      world = World.new(CollisionWorld, gas(), backend: :interpreted)
      error = assert_raise ArgumentError, fn -> World.column(world, :ghosts, :position) end
      assert error.message =~ ":ghosts"
      error = assert_raise ArgumentError, fn -> World.column(world, :particles, :spin) end
      assert error.message =~ ":spin"
    end

    test "counts/1" do
      world = World.new(CollisionWorld, gas(), backend: :interpreted)
      assert World.counts(world) == %{particles: 6, walls: 2}
    end

    test "step/2 takes rules and params, and validates them" do
      state = %{particles: [%{position: {1.0, 0.0, 0.0}, velocity: {0.0, 0.0, 0.0}}]}
      world = World.new(Spring, state, backend: :interpreted)

      stepped =
        World.step(world, steps: 1, dt: 0.1, params: %{k: 4.0, damping: 0.0}, rules: [:spring])

      assert [%{velocity: {-0.4, 0.0, 0.0}, position: {1.0, 0.0, 0.0}}] =
               World.to_state(stepped).particles

      error = assert_raise ArgumentError, fn -> World.step(world, steps: 1) end
      assert error.message =~ ":k"

      error =
        assert_raise ArgumentError, fn ->
          World.step(world, steps: -3, params: %{k: 1, damping: 1})
        end

      assert error.message =~ "steps"

      error =
        assert_raise ArgumentError, fn ->
          World.step(world, rules: [:nope], params: %{k: 1, damping: 1})
        end

      assert error.message =~ ":nope"
    end

    test "new/3 validates the state" do
      error =
        assert_raise ArgumentError, fn ->
          World.new(
            Gravity,
            %{bodies: [%{position: {0.0, 0.0}, velocity: {0.0, 0.0, 0.0}, mass: 1.0}]},
            backend: :interpreted
          )
        end

      assert error.message == "state.bodies[0].position must be a 3-tuple of numbers"
    end

    test "a world used from several processes gives the same answer" do
      world =
        World.new(
          Gravity,
          %{
            bodies: [
              %{position: {0.0, 0.0, 0.0}, velocity: {0.0, 0.0, 0.0}, mass: 1.0},
              %{position: {1.0, 0.0, 0.0}, velocity: {0.0, 1.0, 0.0}, mass: 0.01}
            ]
          },
          backend: :interpreted
        )

      results =
        1..4
        |> Enum.map(fn _ ->
          Task.async(fn -> world |> World.copy() |> World.step(steps: 30) |> World.to_state() end)
        end)
        |> Enum.map(&Task.await/1)

      assert Enum.uniq(results) |> length() == 1
    end
  end

  describe "arguments of the wrong shape are ArgumentErrors naming them" do
    test "options that are not a keyword list, to new/3 and step/2" do
      for opts <- [:fast, %{steps: 1}, [{:backend, :interpreted} | :x], [1, 2]] do
        error = assert_raise ArgumentError, fn -> World.new(Gravity, %{}, opts) end
        assert error.message == "options must be a keyword list, got: #{inspect(opts)}"
      end

      for backend <- backends() do
        world = World.new(Gravity, %{}, backend: backend)

        for opts <- [:fast, %{steps: 1}, [{:steps, 1} | :x]] do
          error = assert_raise ArgumentError, fn -> World.step(world, opts) end
          assert error.message == "options must be a keyword list, got: #{inspect(opts)}"
        end
      end
    end

    test "an unknown option, to new/3, step/2 and simulate, names the known ones" do
      error =
        assert_raise ArgumentError, fn ->
          World.new(Gravity, %{}, backend: :interpreted, steps: 10)
        end

      assert error.message ==
               "unknown option :steps; known options: :backend, :precision, :kernels, :seed, " <>
                 ":start_step"

      world = World.new(Gravity, %{}, backend: :interpreted)
      error = assert_raise ArgumentError, fn -> World.step(world, precision: :f32) end

      assert error.message ==
               "unknown option :precision; known options: :steps, :dt, :rules, :params, :progress"

      error = assert_raise ArgumentError, fn -> Gravity.simulate(%{}, stepz: 10) end

      assert error.message ==
               "unknown option :stepz; known options: :steps, :dt, :rules, :params, :progress, " <>
                 ":backend, :conservation, :seed, :start_step, :observe, :every"
    end

    test "an improper rules: list" do
      for backend <- backends() do
        world = World.new(Gravity, %{}, backend: backend)
        error = assert_raise ArgumentError, fn -> World.step(world, rules: [:drift | :b]) end
        assert error.message =~ "invalid option rules: [:drift | :b]"
      end
    end

    test "steps outside the engine's 64-bit range say what the range is" do
      for backend <- backends(), steps <- [-1, 2 ** 64, 1.0] do
        world = World.new(Gravity, %{}, backend: backend)
        error = assert_raise ArgumentError, fn -> World.step(world, steps: steps) end

        assert error.message ==
                 "invalid option steps: #{inspect(steps)}; expected an integer in " <>
                   "0..18446744073709551615"
      end
    end

    test "a collection that is neither an atom nor a string" do
      for backend <- backends() do
        world = World.new(Gravity, %{}, backend: backend)

        for collection <- [0, {:bodies}, [:bodies]] do
          error = assert_raise ArgumentError, fn -> World.column(world, collection, :mass) end

          assert error.message ==
                   "collection must be an atom or a string, got: #{inspect(collection)}"
        end
      end
    end
  end

  describe "a system without rules" do
    alias BrokenRecord.Zero.WorldTest.Systems.Inert

    test "compiles, and both backends step it without changing anything" do
      assert Inert.__system__().rules == []
      state = %{particles: [%{position: {1.0, 2.0, 3.0}, mass: 2, hits: 7}], label: :kept}

      for backend <- backends() do
        assert Inert.simulate(state, steps: 5, backend: backend) == state
        assert Inert.simulate(state, steps: 5, rules: [], backend: backend) == state

        world = World.new(Inert, state, backend: backend) |> World.step(steps: 3)
        assert World.to_state(world) == state
        assert World.counts(world) == %{particles: 1}
        assert unpack(World.column(world, :particles, :position)) == [1.0, 2.0, 3.0]
        assert World.info(world).kernels == []

        assert Inert.simulate(%{}, steps: 1, backend: backend) == %{}
      end
    end
  end
end
