defmodule BrokenRecord.Zero.SemanticsTest do
  use ExUnit.Case, async: true

  import BrokenRecord.Zero.TestHelpers

  alias BrokenRecord.Zero.Runtime

  alias BrokenRecord.Zero.Fixtures.CollisionWorld
  alias BrokenRecord.Zero.TestSystems.{Ballistics, Chain, Spring, Steps, Tally}

  @opts [backend: :interpreted]

  describe "rule order" do
    test "two per-agent rules give different results in different rules: orders (fused sweep)" do
      state = %{cells: [%{value: 3.0}, %{value: -1.5}]}

      double_first = Steps.simulate(state, [steps: 1, rules: [:double, :increment]] ++ @opts)
      increment_first = Steps.simulate(state, [steps: 1, rules: [:increment, :double]] ++ @opts)

      assert Enum.map(double_first.cells, & &1.value) == [7.0, -2.0]
      assert Enum.map(increment_first.cells, & &1.value) == [8.0, -1.0]
    end

    test "the default order is the declaration order" do
      state = %{cells: [%{value: 3.0}]}
      default = Steps.simulate(state, [steps: 2] ++ @opts)
      # (3 * 2 + 1) * 2 + 1
      assert default.cells == [%{value: 15.0}]
      assert default == Steps.simulate(state, [steps: 2, rules: [:double, :increment]] ++ @opts)
    end

    test "a rule may be listed twice and runs twice per step" do
      state = %{cells: [%{value: 1.0}]}
      out = Steps.simulate(state, [steps: 2, rules: [:double, :double, :increment]] ++ @opts)
      # step 1: 1 -> 4 -> 5; step 2: 5 -> 20 -> 21
      assert out.cells == [%{value: 21.0}]
    end

    test "an empty rules list runs nothing" do
      state = %{cells: [%{value: 1.0}]}
      assert Steps.simulate(state, [steps: 5, rules: []] ++ @opts) == state
    end

    test "kick-then-drift differs from drift-then-kick (unfused sweeps)" do
      state = %{particles: [%{position: {0.0, 0.0, 0.0}, velocity: {1.0, 2.0, 0.0}}]}
      opts = [steps: 1, dt: 0.5, params: %{g: 10.0}] ++ @opts

      [p] = Ballistics.simulate(state, [rules: [:accelerate, :drift]] ++ opts).particles
      # v = 2 - 10 * 0.5 = -3, then y = -3 * 0.5
      assert p.velocity == {1.0, -3.0, 0.0}
      assert p.position == {0.5, -1.5, 0.0}

      [q] = Ballistics.simulate(state, [rules: [:drift, :accelerate]] ++ opts).particles
      assert q.velocity == {1.0, -3.0, 0.0}
      assert q.position == {0.5, 1.0, 0.0}
    end

    test "rule order across a pair rule and a per-agent rule" do
      # Two spheres about to touch: integrating first makes them overlap this step, so the
      # collision fires in the same step; colliding first sees no overlap yet.
      state = %{
        particles: [
          %{position: {0.0, 0.0, 0.0}, velocity: {1.0, 0.0, 0.0}, mass: 1.0, radius: 0.5},
          %{position: {1.05, 0.0, 0.0}, velocity: {-1.0, 0.0, 0.0}, mass: 1.0, radius: 0.5}
        ]
      }

      opts = [steps: 1, dt: 0.1] ++ @opts
      a = CollisionWorld.simulate(state, [rules: [:integrate, :collision]] ++ opts)
      b = CollisionWorld.simulate(state, [rules: [:collision, :integrate]] ++ opts)

      assert Enum.map(a.particles, & &1.velocity) == [{-1.0, 0.0, 0.0}, {1.0, 0.0, 0.0}]
      assert Enum.map(b.particles, & &1.velocity) == [{1.0, 0.0, 0.0}, {-1.0, 0.0, 0.0}]
    end
  end

  describe "statements inside a body" do
    test "a later read sees an earlier write, in per-agent rules" do
      system =
        compile_system("""
        agents do
          defagent Cell do
            field :value, :float
            field :other, :float
          end
        end

        rules do
          interaction twice(c: Cell) do
            c.value = c.value * 2
            c.value = c.value + 1
            c.other = c.value * 10
          end

          interaction pairwise(a: Cell, b: Cell) do
            a.value = a.value + 1
            b.other = a.value * 10
          end

          interaction shadow(c: Cell) do
            x = 1.0

            if c.value > 0 do
              x = 2.0
              c.other = x
            end

            c.value = x
          end
        end
        """)

      state = %{cells: [%{value: 3.0, other: 0.0}]}

      assert system.simulate(state, [steps: 1, rules: [:twice]] ++ @opts).cells == [
               %{value: 7.0, other: 70.0}
             ]

      # inside one pair's body too: b.other reads the a.value written just before
      pair_state = %{cells: [%{value: 3.0, other: 0.0}, %{value: 5.0, other: 0.0}]}
      out = system.simulate(pair_state, [steps: 1, rules: [:pairwise]] ++ @opts)
      assert out.cells == [%{value: 4.0, other: 0.0}, %{value: 5.0, other: 40.0}]

      # a local rebound inside an if branch stays local to the branch, as in Elixir
      assert system.simulate(state, [steps: 1, rules: [:shadow]] ++ @opts).cells ==
               [%{value: 1.0, other: 2.0}]
    end
  end

  describe "pair rules are simultaneous" do
    test "a three-node chain gets the simultaneous answer" do
      # Pairs (0,1) and (1,2) are within the cutoff, (0,2) is not.
      # Simultaneous, from the start values [1, 2, 7]:
      #   (0,1): diff 1 -> node0 +0.25, node1 -0.25
      #   (1,2): diff 5 -> node1 +1.25, node2 -1.25
      #   => [1.25, 3.0, 5.75]
      # Sequential would give node1 = 3.0625 and node2 = 5.6875.
      nodes = [
        %{position: {0.0, 0.0, 0.0}, value: 1.0},
        %{position: {1.0, 0.0, 0.0}, value: 2.0},
        %{position: {2.0, 0.0, 0.0}, value: 7.0}
      ]

      out = Chain.simulate(%{nodes: nodes}, [steps: 1] ++ @opts)
      assert Enum.map(out.nodes, & &1.value) == [1.25, 3.0, 5.75]

      # Pair order does not matter: the same chain listed in reverse.
      reversed = Chain.simulate(%{nodes: Enum.reverse(nodes)}, [steps: 1] ++ @opts)
      assert Enum.map(reversed.nodes, & &1.value) == [5.75, 3.0, 1.25]
    end

    test "Newton's cradle: a simultaneous collision does not propagate within one step" do
      # A hits B while B touches C at rest. Simultaneously: A stops, B takes A's velocity, and
      # the (B, C) pair sees B at rest, so C stays. A sequential sweep would pass the velocity
      # on to C in the same step.
      particles = [
        %{position: {0.0, 0.0, 0.0}, velocity: {1.0, 0.0, 0.0}, mass: 1.0, radius: 0.5},
        %{position: {0.99, 0.0, 0.0}, velocity: {0.0, 0.0, 0.0}, mass: 1.0, radius: 0.5},
        %{position: {1.98, 0.0, 0.0}, velocity: {0.0, 0.0, 0.0}, mass: 1.0, radius: 0.5}
      ]

      out =
        CollisionWorld.simulate(%{particles: particles}, [steps: 1, rules: [:collision]] ++ @opts)

      assert Enum.map(out.particles, & &1.velocity) == [
               {0.0, 0.0, 0.0},
               {1.0, 0.0, 0.0},
               {0.0, 0.0, 0.0}
             ]

      # One more step: now B hits C.
      out = CollisionWorld.simulate(out, [steps: 1, rules: [:collision]] ++ @opts)

      assert Enum.map(out.particles, & &1.velocity) == [
               {0.0, 0.0, 0.0},
               {0.0, 0.0, 0.0},
               {1.0, 0.0, 0.0}
             ]
    end

    test "same-type pair rules visit every unordered pair exactly once, never an agent with itself" do
      codes = [1.0, 2.0, 4.0, 8.0, 16.0]
      particles = Enum.map(codes, &%{code: &1, seen: 0.0, visits: 0})
      out = Tally.simulate(%{particles: particles}, [steps: 1, rules: [:meet]] ++ @opts)

      for {p, code} <- Enum.zip(out.particles, codes) do
        assert p.seen == 31.0 - code
        assert p.visits == 4
      end
    end

    test "a single agent has no pairs" do
      state = %{particles: [%{code: 1.0, seen: 0.0, visits: 0}]}
      assert Tally.simulate(state, [steps: 3, rules: [:meet]] ++ @opts) == state
    end
  end

  describe "cross-type pairs" do
    setup do
      particles = for code <- [1.0, 2.0, 4.0, 8.0], do: %{code: code, seen: 0.0, visits: 0}
      walls = for code <- [16.0, 32.0, 64.0], do: %{code: code, seen: 0.0, visits: 0}
      %{state: %{particles: particles, walls: walls}}
    end

    test "every particle-wall combination is visited exactly once", %{state: state} do
      out = Tally.simulate(state, [steps: 1, rules: [:touch]] ++ @opts)
      assert Enum.map(out.particles, & &1.seen) == [112.0, 112.0, 112.0, 112.0]
      assert Enum.map(out.particles, & &1.visits) == [3, 3, 3, 3]
      assert Enum.map(out.walls, & &1.seen) == [15.0, 15.0, 15.0]
      assert Enum.map(out.walls, & &1.visits) == [4, 4, 4]
    end

    test "the agent params may name the types in either order", %{state: state} do
      out = Tally.simulate(state, [steps: 1, rules: [:touch_wall_first]] ++ @opts)
      assert Enum.map(out.particles, & &1.seen) == [112_000.0, 112_000.0, 112_000.0, 112_000.0]
      assert Enum.map(out.walls, & &1.seen) == [15_000.0, 15_000.0, 15_000.0]
    end

    test "no walls, or no particles, means no pairs", %{state: state} do
      no_walls = %{state | walls: []}
      assert Tally.simulate(no_walls, [steps: 1, rules: [:touch]] ++ @opts) == no_walls

      no_particles = %{state | particles: []}
      assert Tally.simulate(no_particles, [steps: 1, rules: [:touch]] ++ @opts) == no_particles

      missing = Map.delete(state, :walls)
      assert Tally.simulate(missing, [steps: 1, rules: [:touch]] ++ @opts) == missing
    end

    test "all rules together add up", %{state: state} do
      out = Tally.simulate(state, [steps: 2] ++ @opts)
      # per step: meet 15 - code, touch 112, touch_wall_first 112_000
      assert Enum.map(out.particles, & &1.seen) ==
               Enum.map([1.0, 2.0, 4.0, 8.0], &(2 * (15.0 - &1 + 112.0 + 112_000.0)))

      assert Enum.map(out.particles, & &1.visits) == [12, 12, 12, 12]
      assert Enum.map(out.walls, & &1.seen) == [30_030.0, 30_030.0, 30_030.0]
    end

    test "walls reflect every particle that reaches them (wall_bounce)" do
      walls = [
        %{position: {-1.0, 0.0, 0.0}, normal: {1.0, 0.0, 0.0}},
        %{position: {1.0, 0.0, 0.0}, normal: {-1.0, 0.0, 0.0}},
        %{position: {0.0, -1.0, 0.0}, normal: {0.0, 1.0, 0.0}}
      ]

      particles = [
        %{position: {-0.95, 0.0, 0.0}, velocity: {-1.0, 0.5, 0.0}, mass: 1.0, radius: 0.1},
        %{position: {0.95, 0.0, 0.0}, velocity: {1.0, 0.5, 0.0}, mass: 1.0, radius: 0.1},
        %{position: {0.0, -0.95, 0.0}, velocity: {0.25, -1.0, 0.0}, mass: 1.0, radius: 0.1},
        %{position: {0.0, 0.0, 0.0}, velocity: {0.25, 0.25, 0.0}, mass: 1.0, radius: 0.1}
      ]

      out =
        CollisionWorld.simulate(
          %{particles: particles, walls: walls},
          [steps: 1, rules: [:wall_bounce]] ++ @opts
        )

      assert Enum.map(out.particles, & &1.velocity) == [
               {1.0, 0.5, 0.0},
               {-1.0, 0.5, 0.0},
               {0.25, 1.0, 0.0},
               {0.25, 0.25, 0.0}
             ]

      assert out.walls == walls
    end
  end

  describe "params" do
    @state %{particles: [%{position: {1.0, 0.0, 0.0}, velocity: {0.0, 0.0, 0.0}}]}

    test "given params are used" do
      out = Spring.simulate(@state, [steps: 1, dt: 0.1, params: %{k: 4.0, damping: 0.0}] ++ @opts)
      [p] = out.particles
      assert p.velocity == {0.0 - (1.0 * 4.0 + 0.0 * 0.0) * 0.1, 0.0, 0.0}
      assert p.position == {1.0 + elem(p.velocity, 0) * 0.1, 0.0, 0.0}

      stiffer =
        Spring.simulate(@state, [steps: 1, dt: 0.1, params: [k: 8.0, damping: 0.0]] ++ @opts)

      assert hd(stiffer.particles).velocity == {-0.8, 0.0, 0.0}
    end

    test "integer params are accepted" do
      out = Spring.simulate(@state, [steps: 1, dt: 0.1, params: %{k: 4, damping: 0}] ++ @opts)

      assert out ==
               Spring.simulate(
                 @state,
                 [steps: 1, dt: 0.1, params: %{k: 4.0, damping: 0.0}] ++ @opts
               )
    end

    test "a missing param is an ArgumentError naming it" do
      error =
        assert_raise ArgumentError, fn ->
          Spring.simulate(@state, [steps: 1, params: %{k: 4.0}] ++ @opts)
        end

      assert error.message =~ "damping"

      error = assert_raise ArgumentError, fn -> Spring.simulate(@state, [steps: 1] ++ @opts) end
      assert error.message =~ ":k"

      error = assert_raise ArgumentError, fn -> Ballistics.simulate(%{particles: []}, @opts) end
      assert error.message =~ ":g"
    end

    test "a param that no selected rule needs may be omitted" do
      out = Spring.simulate(@state, [steps: 3, rules: [:drift]] ++ @opts)
      assert out == @state
    end

    test "a param that is not a number is an ArgumentError naming it" do
      error =
        assert_raise ArgumentError, fn ->
          Spring.simulate(@state, [steps: 1, params: %{k: "stiff", damping: 0.0}] ++ @opts)
        end

      assert error.message =~ "k"
      assert error.message =~ "stiff"
    end
  end

  describe "rules:" do
    test "an unknown rule name is an ArgumentError listing the known rules" do
      error =
        assert_raise ArgumentError, fn ->
          CollisionWorld.simulate(
            %{particles: []},
            [steps: 1, rules: [:integrate, :explode]] ++ @opts
          )
        end

      assert error.message =~ ":explode"
      assert error.message =~ ":collision"
      assert error.message =~ ":wall_bounce"
      assert error.message =~ ":integrate"
    end

    test "an improper rules: list is an ArgumentError naming it" do
      error =
        assert_raise ArgumentError, fn ->
          CollisionWorld.simulate(%{particles: []}, [steps: 1, rules: [:integrate | :b]] ++ @opts)
        end

      assert error.message =~ "invalid option rules: [:integrate | :b]"
    end

    test "rules: that is not a list is an ArgumentError" do
      error =
        assert_raise ArgumentError, fn ->
          CollisionWorld.simulate(%{particles: []}, [steps: 1, rules: :integrate] ++ @opts)
        end

      assert error.message =~ "rules"
    end
  end

  describe "Runtime" do
    test "simulate/3 and System.simulate/2 agree" do
      state = %{cells: [%{value: 2.0}]}

      assert Runtime.simulate(Steps, state, [steps: 3] ++ @opts) ==
               Steps.simulate(state, [steps: 3] ++ @opts)
    end

    test "the default is 1000 steps of dt 0.01" do
      state = %{particles: [%{position: {0.0, 0.0, 0.0}, velocity: {1.0, -2.0, 0.5}}]}
      [p] = Ballistics.simulate(state, [rules: [:drift]] ++ @opts).particles
      assert_close(p.position, {10.0, -20.0, 5.0}, 1.0e-12)
    end

    test "backend/0 is :interpreted when the NIF is not loaded" do
      if BrokenRecord.Zero.NIF.loaded?() do
        assert Runtime.backend() == :native
      else
        assert Runtime.backend() == :interpreted
      end
    end

    test "backend: :native without the NIF is an ArgumentError" do
      unless BrokenRecord.Zero.NIF.loaded?() do
        error =
          assert_raise ArgumentError, fn ->
            Steps.simulate(%{cells: []}, steps: 1, backend: :native)
          end

        assert error.message =~ "native"
      end
    end

    test "an unknown backend is an ArgumentError" do
      error =
        assert_raise ArgumentError, fn ->
          Steps.simulate(%{cells: []}, steps: 1, backend: :gpu)
        end

      assert error.message =~ "backend"
    end
  end
end
