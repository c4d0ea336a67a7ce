defmodule BrokenRecord.Zero.NativeTest do
  @moduledoc """
  The native engine against the pure-Elixir backend. Excluded (test_helper.exs) when the NIF is
  not loaded.
  """
  use ExUnit.Case, async: true

  @moduletag :native

  import BrokenRecord.Zero.TestHelpers

  alias BrokenRecord.Zero.{NumericalError, World}
  alias BrokenRecord.Zero.TestForms.Kitchen
  alias BrokenRecord.Zero.Test.SweepCounts

  alias BrokenRecord.Zero.Fixtures
  alias BrokenRecord.Zero.Fixtures.CollisionWorld

  alias BrokenRecord.Zero.TestSystems.{
    Ballistics,
    Chain,
    Fragile,
    FragilePairs,
    Gravity,
    GravityF32,
    Keep,
    Mixer,
    Orbit,
    Spring,
    Steps,
    Tally
  }

  defp both(system, state, opts) do
    {system.simulate(state, opts ++ [backend: :interpreted]),
     system.simulate(state, opts ++ [backend: :native])}
  end

  defp gas(n, seed, box \\ 4.0) do
    seed(seed)

    particles =
      for i <- 1..n do
        %{
          id: i,
          position: vec(-box + 0.5, box - 0.5),
          velocity: vec(-0.5, 0.5),
          mass: uniform(0.5, 2.0),
          radius: 0.2
        }
      end

    walls = Fixtures.box_walls(box)

    %{particles: particles, walls: walls, note: :kept}
  end

  test "the runtime picks the native backend" do
    assert BrokenRecord.Zero.Runtime.backend() == :native
  end

  test "libgomp's idle spin is bounded unless the user chose a policy" do
    # What the C environment holds (libgomp reads it when the engine loads it).
    user = {System.get_env("OMP_WAIT_POLICY"), System.get_env("GOMP_SPINCOUNT")}
    expected = if user == {nil, nil}, do: {nil, "10000"}, else: user
    assert BrokenRecord.Zero.NIF.OpenMP.settings() == expected
  end

  describe "native and interpreted agree" do
    test "exact arithmetic: tallies, chains and per-agent rules give identical results" do
      tally = %{
        particles: for(c <- [1.0, 2.0, 4.0, 8.0, 16.0], do: %{code: c, seen: 0.0, visits: 0}),
        walls: for(c <- [32.0, 64.0], do: %{code: c, seen: 0.0, visits: 0})
      }

      {a, b} = both(Tally, tally, steps: 3)
      assert_identical(b, a)

      chain = %{
        nodes: [
          %{position: {0.0, 0.0, 0.0}, value: 1.0},
          %{position: {1.0, 0.0, 0.0}, value: 2.0},
          %{position: {2.0, 0.0, 0.0}, value: 7.0}
        ]
      }

      {a, b} = both(Chain, chain, steps: 1)
      assert_identical(b, a)
      assert Enum.map(b.nodes, & &1.value) == [1.25, 3.0, 5.75]

      {a, b} =
        both(Steps, %{cells: [%{value: 3.0}, %{value: -1.5}]},
          steps: 10,
          rules: [:increment, :double]
        )

      assert_identical(b, a)
    end

    test "rule order, params and rules: lists" do
      state = %{particles: [%{position: {0.0, 1.0, 0.0}, velocity: {1.0, 2.0, 0.0}}]}

      for rules <- [[:accelerate, :drift], [:drift, :accelerate], [:drift, :drift, :accelerate]] do
        {a, b} = both(Ballistics, state, steps: 40, dt: 0.01, params: %{g: 9.81}, rules: rules)
        assert_agree(a, b, 1.0e-14)
      end

      {a, b} = both(Spring, state, steps: 100, dt: 0.01, params: [k: 3.0, damping: 0.1])
      assert_agree(a, b, 1.0e-13)
    end

    test "a gas of spheres in a box (cutoff rule with cell lists), one step" do
      state = gas(300, 1)
      {a, b} = both(CollisionWorld, state, steps: 1, dt: 0.01)
      assert_agree(a, b, 1.0e-12)
    end

    test "a gas of spheres over a few steps" do
      state = gas(40, 2, 2.0)
      {a, b} = both(CollisionWorld, state, steps: 30, dt: 0.01)
      assert_agree(a, b, 1.0e-9)
    end

    test "gravity and orbits" do
      bodies = moving_bodies(20, 0.1, 1.5, 9)

      {a, b} = both(Gravity, %{bodies: bodies}, steps: 10, dt: 0.001)
      assert_agree(a, b, 1.0e-11)
      assert norm(sub(momentum(b.bodies), momentum(bodies))) < 1.0e-12 * 20

      v = :math.sqrt(2.0) / 2

      stars = [
        %{position: {-0.5, 0.0, 0.0}, velocity: {0.0, -v, 0.0}, mass: 1.0},
        %{position: {0.5, 0.0, 0.0}, velocity: {0.0, v, 0.0}, mass: 1.0}
      ]

      {a, b} = both(Orbit, %{stars: stars}, steps: 200, dt: 0.004, rules: [:kick, :drift, :kick])
      assert_agree(a, b, 1.0e-11)
    end

    test "every operator on random states (Mixer) and every DSL form (Kitchen)" do
      seed(77)

      blobs =
        for _ <- 1..30 do
          %{
            position: vec(-2.0, 2.0),
            velocity: vec(-1.0, 1.0),
            a: uniform(-2.0, 2.0),
            b: uniform(-2.0, 2.0),
            n: 0
          }
        end

      for rules <- [[:mix], [:couple], [:stir]] do
        {a, b} = both(Mixer, %{blobs: blobs}, steps: 1, dt: 0.01, rules: rules, params: %{s: 0.7})
        assert_agree(a, b, 1.0e-9)
      end

      kitchen = %{
        particles:
          for(
            i <- 1..5,
            do: %{
              position: {i * 0.3 - 1.0, -0.2 * i, 0.1},
              velocity: {1.5 - i * 0.5, -1.0, 0.5},
              mass: i * 0.7,
              generation: i
            }
          ),
        bodies: [%{position: {0.0, 0.0, 0.0}, mass: 1.0}, %{position: {1.0, 1.0, 0.0}, mass: 2.0}],
        walls: [%{position: {0.0, -0.5, 0.0}, normal: {0.0, 1.0, 0.0}}],
        molecules: [%{charge: 3.0}],
        boxes: [%{size: 2.0}]
      }

      {a, b} = both(Kitchen, kitchen, steps: 3, dt: 0.01, params: %{strength: 0.5})
      assert_agree(a, b, 1.0e-12)
    end
  end

  describe "neighbour lists and cell-sorted storage" do
    test "a world sorted by cell still speaks the caller's order, across calls" do
      # 800 particles in a box of side 24: the collision rule runs on neighbour lists, which sort
      # the engine's rows by cell. Nothing of that order may show: to_state, column and the
      # unwritten fields come back in the caller's order, bit for bit where unwritten.
      %{particles: particles} = gas(800, 21, 12.0)
      state = %{particles: Enum.shuffle(particles)}
      opts = [steps: 4, dt: 0.005, rules: [:collision, :integrate]]
      native = CollisionWorld |> World.new(state, backend: :native) |> World.step(opts)
      native = World.step(native, opts)
      elixir = CollisionWorld |> World.new(state, backend: :interpreted) |> World.step(opts)
      elixir = World.step(elixir, opts)

      assert %{cells: 8, all_pairs: 0, neighbour_builds: builds} = SweepCounts.of(native)
      # Lists are reused from step to step and from call to call: a particle moves at most 0.0043
      # per step here, and half the skin is 0.024 (0.12 times the cutoff bound 0.4, over 2).
      assert builds in 1..3
      out = World.to_state(native)
      assert_agree(World.to_state(elixir), out, 1.0e-12)
      assert Enum.map(out.particles, & &1.id) == Enum.map(state.particles, & &1.id)
      assert Enum.map(out.particles, & &1.mass) == Enum.map(state.particles, & &1.mass)

      masses = for p <- state.particles, into: <<>>, do: <<p.mass::float-native-64>>
      assert World.column(native, :particles, :mass) == masses

      positions =
        for p <- out.particles,
            {x, y, z} = p.position,
            into: <<>>,
            do: <<x::float-native-64, y::float-native-64, z::float-native-64>>

      assert World.column(native, :particles, :position) == positions
      # Something did collide, so the comparison above is not vacuous.
      assert Enum.zip(out.particles, state.particles)
             |> Enum.any?(fn {a, b} -> a.velocity != b.velocity end)
    end
  end

  describe "round trip and shape on the native backend" do
    test "steps: 0 is lossless and keeps the shape" do
      state = %{
        particles: [
          %{
            id: 1,
            position: {-0.0, 5.0e-324, 0.1},
            velocity: {1, 2, 3},
            mass: 2,
            generation: 3,
            x: "y"
          },
          %{
            id: 2,
            position: {1.0, 2.0, 3.0},
            velocity: {-0.0, 0.0, 1 / 3},
            mass: 1.0e-300,
            charge: 4,
            generation: -1
          }
        ],
        walls: [%{position: {1, 2, 3}, normal: {0, 0, 1}}],
        extra: {:kept}
      }

      out = Keep.simulate(state, steps: 0, backend: :native)
      assert_identical(out, state)

      out = Keep.simulate(state, steps: 5, rules: [:age], backend: :native)
      assert Enum.map(out.particles, & &1.generation) === [8, 4]
      assert Enum.map(out.particles, & &1.velocity) === [{1, 2, 3}, {-0.0, 0.0, 1 / 3}]
      assert Enum.map(out.particles, & &1.mass) === [2, 1.0e-300]
      assert out.walls === state.walls
      assert out.extra === {:kept}
    end

    test "bad input gives the same ArgumentError messages as the Elixir path" do
      good = gas(2, 3)

      bad_states = [
        [],
        %{good | particles: :none},
        %{good | particles: [1]},
        update_in(good.particles, fn [p | ps] -> [Map.delete(p, :mass) | ps] end),
        update_in(good.particles, fn [p | ps] -> [%{p | radius: "big"} | ps] end),
        update_in(good.walls, fn [w | ws] -> [%{w | normal: {1.0, 0.0}} | ws] end)
      ]

      for state <- bad_states do
        expected =
          assert_raise(ArgumentError, fn ->
            CollisionWorld.simulate(state, steps: 1, backend: :interpreted)
          end)

        got =
          assert_raise(ArgumentError, fn ->
            CollisionWorld.simulate(state, steps: 1, backend: :native)
          end)

        assert got.message == expected.message
      end

      for opts <- [[steps: -1], [steps: 1.5], [dt: "x"], [rules: [:nope]], [bogus: 1]] do
        assert_raise ArgumentError, fn ->
          CollisionWorld.simulate(good, opts ++ [backend: :native])
        end
      end
    end

    test "NumericalError names the same agent, index, field and step" do
      cases = [
        {Fragile, %{cells: [%{value: 1.0, scale: 5.0}, %{value: 1.0, scale: 3.0}]},
         [steps: 10, rules: [:countdown]]},
        {Fragile, %{cells: [%{value: 1.0, scale: 1.0}, %{value: 1.0, scale: 0.0}]},
         [steps: 1, rules: [:divide]]},
        {FragilePairs,
         %{
           nodes: [
             %{position: {0.0, 0.0, 0.0}, energy: 0.0},
             %{position: {1.0, 0.0, 0.0}, energy: 0.0},
             %{position: {1.0, 0.0, 0.0}, energy: 0.0}
           ]
         }, [steps: 1, rules: [:coulomb]]}
      ]

      for {system, state, opts} <- cases do
        expected =
          assert_raise NumericalError, fn ->
            system.simulate(state, opts ++ [backend: :interpreted])
          end

        got =
          assert_raise NumericalError, fn ->
            system.simulate(state, opts ++ [backend: :native])
          end

        assert {got.agent, got.collection, got.index, got.field, got.step} ==
                 {expected.agent, expected.collection, expected.index, expected.field,
                  expected.step}
      end
    end

    test "untaken branches do not raise natively" do
      out =
        Fragile.simulate(%{cells: [%{value: 1.0, scale: 0.0}, %{value: 1.0, scale: -1.0}]},
          steps: 2,
          rules: [:guarded, :guarded_math],
          backend: :native
        )

      assert Enum.map(out.cells, & &1.value) == [0.0, 0.0]
    end
  end

  describe "native worlds" do
    test "new/step/to_state/column agree with the interpreted world" do
      state = gas(50, 4)

      native =
        World.new(CollisionWorld, state, backend: :native) |> World.step(steps: 10, dt: 0.01)

      elixir =
        World.new(CollisionWorld, state, backend: :interpreted) |> World.step(steps: 10, dt: 0.01)

      assert_agree(World.to_state(elixir), World.to_state(native), 1.0e-10)

      for {collection, field} <- [
            particles: :position,
            particles: :velocity,
            particles: :mass,
            walls: :normal
          ] do
        a = for <<x::float-native-64 <- World.column(elixir, collection, field)>>, do: x
        b = for <<x::float-native-64 <- World.column(native, collection, field)>>, do: x
        assert length(a) == length(b)
        Enum.zip(a, b) |> Enum.each(fn {x, y} -> assert_close(y, x, 1.0e-10) end)
      end

      assert World.counts(native) == %{particles: 50, walls: 6}
    end

    test "both backends report a collection that is not a proper list before any agent's error" do
      state = gas(3, 8)
      [p0, p1, p2] = state.particles

      message = fn s ->
        [native, elixir] =
          for backend <- [:native, :interpreted] do
            assert_raise(ArgumentError, fn -> World.new(CollisionWorld, s, backend: backend) end).message
          end

        assert native == elixir
        native
      end

      assert message.(%{state | particles: [p0, p1, p2 | :tail]}) ==
               "state.particles must be a list of maps"

      assert message.(%{state | particles: [p0, :x, p2 | :tail]}) ==
               "state.particles must be a list of maps"

      assert message.(%{state | particles: [p0, :x, p2], walls: :x}) ==
               "state.walls must be a list of maps"

      assert message.(%{state | particles: [p0, :x, p2]}) == "state.particles[1] must be a map"

      assert message.(%{state | particles: [p0, p1, Map.delete(p2, :mass)]}) ==
               "state.particles[2] is missing field :mass"

      assert message.(%{state | walls: [%{position: {0, 0, 0}, normal: {0, 0}}]}) ==
               "state.walls[0].normal must be a 3-tuple of numbers"
    end

    test "concurrent world_new / world_to_state calls each get their own agents" do
      tasks =
        for k <- 1..6 do
          Task.async(fn ->
            state = gas(200 + 37 * k, k)

            for _ <- 1..5 do
              world = World.new(CollisionWorld, state, backend: :native)
              world = World.step(world, steps: 0)
              assert World.to_state(world) == state
              stepped = World.step(world, steps: 1, rules: [:integrate], dt: 0.5)

              expected =
                Enum.map(state.particles, fn %{position: {x, y, z}, velocity: {u, v, w}} ->
                  {x + u * 0.5, y + v * 0.5, z + w * 0.5}
                end)

              out = World.to_state(stepped)
              assert Enum.map(out.particles, & &1.position) == expected

              assert Enum.map(out.particles, &Map.delete(&1, :position)) ==
                       Enum.map(state.particles, &Map.delete(&1, :position))
            end

            :ok
          end)
        end

      assert Enum.map(tasks, &Task.await(&1, 60_000)) == List.duplicate(:ok, 6)
    end

    test "world_to_state checks the shape of each list before the agents in it" do
      state = gas(5, 7)
      world = World.new(CollisionWorld, state, backend: :native) |> World.step(steps: 1)
      ps = state.particles

      message = fn s ->
        assert_raise(ArgumentError, fn -> BrokenRecord.Zero.NIF.world_to_state(world.ref, s) end).message
      end

      improper = Enum.reduce(Enum.reverse(ps), :tail, &[&1 | &2])
      have = fn n -> "state.particles has #{n} agents, the world has 5" end

      assert message.(%{state | particles: tl(ps)}) == have.(4)
      assert message.(%{state | particles: ps ++ ps}) == have.(10)
      assert message.(%{state | particles: [:x | ps]}) == have.(6)
      assert message.(%{state | particles: [:x | tl(tl(ps))]}) == have.(4)
      assert message.(%{state | particles: improper}) == "state.particles must be a list of maps"

      assert message.(%{state | particles: [:x | improper]}) ==
               "state.particles must be a list of maps"

      assert message.(%{state | particles: :x}) == "state.particles must be a list of maps"
      assert message.(%{state | particles: [:x | tl(ps)]}) == "state.particles[0] must be a map"

      assert message.(%{state | particles: List.replace_at(ps, 4, 1)}) ==
               "state.particles[4] must be a map"

      assert message.(Map.delete(state, :particles)) ==
               "state.particles is missing (the world has 5 agents)"

      # walls: no field written, the list is still checked
      assert message.(%{state | walls: tl(state.walls)}) ==
               "state.walls has 5 agents, the world has 6"

      # the agents given are the ones replaced, in their order; other keys are kept
      other = Enum.map(ps, &Map.put(&1, :extra, &1.id))
      out = BrokenRecord.Zero.NIF.world_to_state(world.ref, %{state | particles: other})
      expected = World.to_state(world).particles
      assert Enum.map(out.particles, &Map.delete(&1, :extra)) == expected
      assert Enum.map(out.particles, & &1.extra) == Enum.map(ps, & &1.id)
    end

    test "an f32 world agrees with f64 to single precision and packs f32 columns" do
      bodies = moving_bodies(12, 0.1, 1.5, 10)

      world =
        World.new(GravityF32, %{bodies: bodies}, backend: :native)
        |> World.step(steps: 20, dt: 0.001)

      f64 = GravityF32.simulate(%{bodies: bodies}, steps: 20, dt: 0.001, backend: :interpreted)
      assert_agree(f64, World.to_state(world), 1.0e-5)

      column = World.column(world, :bodies, :position)
      assert byte_size(column) == 12 * 3 * 4
      floats = for <<x::float-native-32 <- column>>, do: x
      expected = Enum.flat_map(World.to_state(world).bodies, &Tuple.to_list(&1.position))
      Enum.zip(floats, expected) |> Enum.each(fn {x, y} -> assert_close(x, y, 1.0e-6) end)
    end

    test "of concurrent steps on one handle exactly one runs" do
      state = %{
        particles:
          for(i <- 1..64, do: %{position: {i * 1.0, 0.0, 0.0}, velocity: {1.0, -1.0, 0.5}})
      }

      world = World.new(Ballistics, state, backend: :native)

      results =
        1..8
        |> Enum.map(fn _ ->
          Task.async(fn ->
            try do
              World.step(world, steps: 25, dt: 0.01, rules: [:drift])
            rescue
              e in ArgumentError -> e.message
            end
          end)
        end)
        |> Enum.map(&Task.await(&1, 30_000))

      assert [%World{} = stepped] = Enum.filter(results, &is_struct(&1, World))
      messages = Enum.filter(results, &is_binary/1)
      assert length(messages) == 7
      assert Enum.all?(messages, &(&1 =~ "this world was stepped"))
      out = World.to_state(stepped)

      for {p, i} <- Enum.with_index(out.particles, 1) do
        assert_close(p.position, {i + 0.25, -0.25, 0.125}, 1.0e-12)
      end
    end

    @tag timeout: 300_000
    test "a world is freed when no process references it" do
      :erlang.garbage_collect()
      parent = self()

      pid =
        spawn(fn ->
          world =
            World.new(Ballistics, %{particles: [%{position: {0, 0, 0}, velocity: {1, 0, 0}}]},
              backend: :native
            )

          send(parent, {:alive, BrokenRecord.Zero.NIF.live_worlds()})
          receive do: (:stop -> World.step(world, steps: 1, rules: [:drift]))
        end)

      # Generous waits: other test modules may keep both cores and the dirty schedulers busy
      # (probes in separate VMs, long native runs); this test is about freeing, not speed.
      assert_receive {:alive, alive}, 120_000
      ref = Process.monitor(pid)
      send(pid, :stop)
      assert_receive {:DOWN, ^ref, :process, ^pid, _}, 120_000
      # The resource destructor runs once the dead process's heap is reclaimed: poll for it.
      assert Enum.any?(1..100, fn _ ->
               :erlang.garbage_collect()
               Process.sleep(20)
               BrokenRecord.Zero.NIF.live_worlds() < alive
             end)
    end

    test "stepping a native world in chunks equals one call" do
      state = gas(20, 6)
      world = World.new(CollisionWorld, state, backend: :native)
      world = Enum.reduce(1..5, world, fn _, w -> World.step(w, steps: 4, dt: 0.01) end)
      once = CollisionWorld.simulate(state, steps: 20, dt: 0.01, backend: :native)
      assert_agree(once, World.to_state(world), 1.0e-12)
    end
  end
end
