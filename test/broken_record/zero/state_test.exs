defmodule BrokenRecord.Zero.StateTest.Systems do
  use BrokenRecord.Zero

  # A counter in single precision: f32 holds every integer up to 2^24 exactly.
  defsystem CounterF32 do
    precision :f32

    agents do
      defagent Counter do
        field :count, :int
      end
    end

    rules do
      interaction tick(c: Counter) do
        c.count = c.count + 1
      end
    end
  end
end

defmodule BrokenRecord.Zero.StateTest do
  use ExUnit.Case, async: true

  import BrokenRecord.Zero.TestHelpers

  alias BrokenRecord.Zero.Fixtures.CollisionWorld
  alias BrokenRecord.Zero.TestSystems.{Keep, Tally}
  alias BrokenRecord.Zero.World

  @opts [backend: :interpreted]

  # Floats chosen to catch any conversion: signed zero, subnormals, extremes, non-dyadic values.
  @odd_floats [-0.0, 5.0e-324, 2.2250738585072014e-308, 1.7976931348623157e308, 0.1, -1 / 3]

  defp keep_state do
    %{
      "string key" => {:any, :term},
      particles: [
        %{
          id: "a",
          position: {0.1, -0.0, 1 / 3},
          velocity: {0, 2, -3},
          mass: 2,
          charge: -0.0,
          generation: 7,
          color: :red,
          tags: ["x", %{nested: {1, 2}}]
        },
        %{
          id: "b",
          position: {5.0e-324, 1.7976931348623157e308, -2.2250738585072014e-308},
          velocity: {0.0, 0.0, 0.0},
          mass: 1.0e-300,
          generation: -4,
          extra: nil
        },
        %{
          id: "c",
          position: {1, 2, 3},
          velocity: {0.5, 0.25, -0.125},
          mass: 3.5,
          charge: 7,
          generation: 0
        }
      ],
      walls: [%{position: {1, 2, 3}, normal: {-0.0, 5.0e-324, 0.1}, label: "floor"}],
      time: 12.5,
      meta: %{"source" => "test", list: [1, 2, 3]}
    }
  end

  describe "lossless round trip" do
    test "steps: 0 returns every unwritten field bit-identical, integers included" do
      state = keep_state()
      out = Keep.simulate(state, [steps: 0] ++ @opts)

      for {p, q} <- Enum.zip(state.particles, out.particles) do
        # velocity, mass, charge and every extra key are never written
        assert_identical(Map.drop(q, [:position]), Map.drop(p, [:position]))
        assert q.velocity === p.velocity
        assert q.mass === p.mass
        assert q.generation === p.generation
        # a written field comes back as floats of the same value
        assert q.position == p.position
      end

      assert_identical(out.walls, state.walls)
      assert out.time === 12.5
      assert out.meta === state.meta
      assert out["string key"] === {:any, :term}
      assert Map.keys(out) == Map.keys(state)
    end

    test "steps: 0 returns the state itself, integers given for written float fields included" do
      # docs/program.md: "a field that no rule wrote comes back bit-identical". With steps: 0 no rule
      # runs, yet position (written by :drift) comes back as floats.
      state = keep_state()
      assert Keep.simulate(state, [steps: 0] ++ @opts) === state
    end

    test "a field that none of the selected rules writes keeps the caller's integers" do
      # Only :age runs, so position is never written, yet {1, 2, 3} comes back as floats.
      state = keep_state()
      out = Keep.simulate(state, [steps: 3, rules: [:age]] ++ @opts)
      assert Enum.map(out.particles, & &1.position) === Enum.map(state.particles, & &1.position)
    end

    test "written floats come back bit-identical with steps: 0" do
      for x <- @odd_floats do
        state = %{
          particles: [%{position: {x, x, x}, velocity: {x, 0.0, -0.0}, mass: x, generation: 1}]
        }

        out = Keep.simulate(state, [steps: 0] ++ @opts)
        assert_identical(out, state)
      end
    end

    test "fields that the selected rules do not write come back bit-identical" do
      state = keep_state()
      out = Keep.simulate(state, [steps: 25, dt: 0.5, rules: [:age]] ++ @opts)

      for {p, q} <- Enum.zip(state.particles, out.particles) do
        assert q.generation === p.generation + 25

        assert_identical(q.position, p.position)

        assert q.velocity === p.velocity
        assert q.mass === p.mass
        assert Map.drop(q, [:position, :generation]) === Map.drop(p, [:position, :generation])
      end
    end

    test "a rule that assigns a field its own value does not write it" do
      state = keep_state()
      out = Keep.simulate(state, [steps: 3, rules: [:same_mass]] ++ @opts)
      assert Enum.map(out.particles, & &1.mass) === [2, 1.0e-300, 3.5]
    end

    test "extra keys, extra top-level keys and agent order are preserved while simulating" do
      state = keep_state()
      out = Keep.simulate(state, [steps: 4, dt: 0.25] ++ @opts)

      assert Enum.map(out.particles, & &1.id) == ["a", "b", "c"]
      assert Enum.map(out.particles, &Map.keys/1) == Enum.map(state.particles, &Map.keys/1)
      assert hd(out.particles).color == :red
      assert hd(out.particles).tags == ["x", %{nested: {1, 2}}]
      assert Enum.at(out.particles, 1).extra == nil
      refute Map.has_key?(Enum.at(out.particles, 1), :charge)
      assert out.walls === state.walls
      assert Map.drop(out, [:particles]) === Map.drop(state, [:particles])

      [a, _b, c] = out.particles
      assert_close(a.position, {0.1, 2.0, 1 / 3 - 3.0})
      assert_close(c.position, {1.5, 2.25, 2.875})
      assert a.generation === 11
      assert c.generation === 4
    end

    test "agent order is kept for many agents, in pair rules too" do
      particles = for i <- 1..12, do: %{id: i, code: 1.0 * i, seen: 0.0, visits: 0}
      out = Tally.simulate(%{particles: particles}, [steps: 1, rules: [:meet]] ++ @opts)
      total = Enum.sum(1..12) * 1.0
      assert Enum.map(out.particles, & &1.id) == Enum.to_list(1..12)
      assert Enum.map(out.particles, & &1.seen) == Enum.map(1..12, &(total - &1))
    end

    test "a collection missing from the state means no agents and stays missing" do
      state = %{
        particles: [
          %{position: {0.0, 0.0, 0.0}, velocity: {1.0, 0.0, 0.0}, mass: 1.0, radius: 0.1}
        ]
      }

      out = CollisionWorld.simulate(state, [steps: 2, dt: 0.5] ++ @opts)
      assert Map.keys(out) == [:particles]
      assert hd(out.particles).position == {1.0, 0.0, 0.0}
    end

    test "the empty state" do
      assert CollisionWorld.simulate(%{}, [steps: 3] ++ @opts) == %{}

      assert CollisionWorld.simulate(%{particles: [], walls: []}, [steps: 3] ++ @opts) == %{
               particles: [],
               walls: []
             }
    end
  end

  describe "bad input is an ArgumentError naming what is wrong" do
    @good %{
      particles: [
        %{position: {0.0, 0.0, 0.0}, velocity: {0.0, 0.0, 0.0}, mass: 1.0, radius: 0.1},
        %{position: {1.0, 0.0, 0.0}, velocity: {0.0, 0.0, 0.0}, mass: 1.0, radius: 0.1}
      ],
      walls: [%{position: {0.0, -1.0, 0.0}, normal: {0.0, 1.0, 0.0}}]
    }

    defp error_for(state, opts \\ []) do
      copy = :erlang.binary_to_term(:erlang.term_to_binary(state))

      error =
        assert_raise ArgumentError, fn ->
          CollisionWorld.simulate(state, Keyword.merge([steps: 1], opts) ++ @opts)
        end

      # the caller's data is unchanged
      assert state == copy
      error.message
    end

    defp put_particle(state, index, fun) do
      update_in(state.particles, &List.update_at(&1, index, fun))
    end

    test "a missing field names the collection, index and field" do
      msg = error_for(put_particle(@good, 1, &Map.delete(&1, :mass)))
      assert msg =~ "particles"
      assert msg =~ "[1]"
      assert msg =~ ":mass"
      assert msg == "state.particles[1] is missing field :mass"
    end

    test "a string where a number belongs" do
      msg = error_for(put_particle(@good, 0, &Map.put(&1, :radius, "0.1")))
      assert msg == "state.particles[0].radius must be a number"
    end

    test "a string inside a vector" do
      msg = error_for(put_particle(@good, 1, &Map.put(&1, :velocity, {1.0, "2", 3.0})))
      assert msg == "state.particles[1].velocity must be a 3-tuple of numbers"
    end

    test "a 2-tuple where a vec3 belongs" do
      msg = error_for(update_in(@good.walls, fn [w] -> [%{w | normal: {0.0, 1.0}}] end))
      assert msg == "state.walls[0].normal must be a 3-tuple of numbers"
    end

    test "a list where a vec3 belongs" do
      msg = error_for(put_particle(@good, 0, &Map.put(&1, :position, [0.0, 0.0, 0.0])))
      assert msg =~ "state.particles[0].position"
    end

    test "an agent that is not a map" do
      msg = error_for(%{@good | particles: [hd(@good.particles), {:particle, 1}]})
      assert msg == "state.particles[1] must be a map"
    end

    test "a state that is not a map" do
      assert error_for(particles: []) =~ "state must be a map"
      assert error_for(nil) =~ "state must be a map"
    end

    test "a collection that is not a list" do
      msg = error_for(%{@good | walls: :none})
      assert msg == "state.walls must be a list of maps"
      # A map is a collection given as columns (docs/io.md): its keys are fields.
      msg = error_for(%{@good | walls: %{0 => hd(@good.walls)}})

      assert msg ==
               "state.walls must be a list of maps or a map of columns (field atom => binary)"
    end

    test "an int field given a float, and out of range" do
      base = %{
        particles: [
          %{position: {0.0, 0.0, 0.0}, velocity: {0.0, 0.0, 0.0}, mass: 1.0, generation: 1}
        ]
      }

      state = put_in(base, [:particles, Access.at(0), :generation], 1.0)
      error = assert_raise ArgumentError, fn -> Keep.simulate(state, [steps: 1] ++ @opts) end
      assert error.message == "state.particles[0].generation must be an integer"

      state = put_in(base, [:particles, Access.at(0), :generation], 2 ** 60)
      error = assert_raise ArgumentError, fn -> Keep.simulate(state, [steps: 1] ++ @opts) end
      assert error.message == "state.particles[0].generation is out of range"
    end

    # The message of the ArgumentError that `fun` raises; fails naming the backend otherwise.
    defp argument_error(backend, fun) do
      fun.()
      flunk("#{backend}: expected an ArgumentError, nothing was raised")
    rescue
      error in ArgumentError -> error.message
    end

    test "an int beyond 2^24 in an f32 world (2^53 in f64) is out of range, on both backends" do
      alias BrokenRecord.Zero.StateTest.Systems.CounterF32

      particle = %{position: {0.0, 0.0, 0.0}, velocity: {0.0, 0.0, 0.0}, mass: 1.0}
      keep = fn generation -> %{particles: [Map.put(particle, :generation, generation)]} end
      counters = fn count -> %{counters: [%{count: 0}, %{count: count}]} end
      message = "state.particles[0].generation is out of range"

      backends =
        if BrokenRecord.Zero.NIF.loaded?(), do: [:interpreted, :native], else: [:interpreted]

      for backend <- backends do
        for n <- [2 ** 24, -(2 ** 24)] do
          World.new(Keep, keep.(n), backend: backend, precision: :f32)

          assert [_, %{count: ^n}] =
                   CounterF32.simulate(counters.(n), steps: 0, backend: backend).counters
        end

        for n <- [2 ** 24 + 1, -(2 ** 24) - 1, 2 ** 40] do
          assert argument_error(backend, fn ->
                   World.new(Keep, keep.(n), backend: backend, precision: :f32)
                 end) == message

          assert argument_error(backend, fn ->
                   CounterF32.simulate(counters.(n), steps: 1, backend: backend)
                 end) == "state.counters[1].count is out of range"

          # an f64 world holds it exactly
          World.new(Keep, keep.(n), backend: backend)
        end

        World.new(Keep, keep.(2 ** 53), backend: backend)

        assert argument_error(backend, fn ->
                 World.new(Keep, keep.(2 ** 53 + 1), backend: backend)
               end) == message
      end
    end

    test "a misspelt collection key is an ArgumentError that suggests the declared one, on both backends" do
      particle = %{position: {0.0, 0.0, 0.0}, velocity: {0.0, 0.0, 0.0}, mass: 1.0}

      backends =
        if BrokenRecord.Zero.NIF.loaded?(), do: [:interpreted, :native], else: [:interpreted]

      for backend <- backends, key <- [:particle, :prticles, "particles", :partcle] do
        assert argument_error(backend, fn ->
                 World.new(Keep, %{key => [particle]}, backend: backend)
               end) ==
                 "state has no key :particles (the collection of Particle), but has " <>
                   "#{inspect(key)}: did you mean :particles?"
      end

      # three edits away, or a key of the system: no suggestion, zero agents as before
      for backend <- backends, state <- [%{parts: [particle]}, %{}] do
        world = World.new(Keep, state, backend: backend)
        assert World.counts(world) == %{particles: 0, walls: 0}
      end
    end

    test "an integer too large for a float is an ArgumentError, not an ArithmeticError" do
      huge = 10 ** 400
      msg = error_for(put_particle(@good, 1, &Map.put(&1, :mass, huge)))
      assert msg =~ "state.particles[1].mass"
      msg = error_for(put_particle(@good, 0, &Map.put(&1, :position, {0, huge, 0})))
      assert msg =~ "state.particles[0].position"
      assert error_for(@good, dt: huge) =~ "dt"

      state = %{particles: [%{position: {0.0, 0.0, 0.0}, velocity: {0.0, 0.0, 0.0}}]}

      error =
        assert_raise ArgumentError, fn ->
          BrokenRecord.Zero.TestSystems.Spring.simulate(
            state,
            [steps: 1, params: %{k: huge, damping: 0}] ++ @opts
          )
        end

      assert error.message =~ "k"
    end

    test "an unknown rule" do
      msg = error_for(@good, rules: [:collision, :teleport])
      assert msg =~ "unknown rule :teleport"
      assert msg =~ ":collision, :wall_bounce, :integrate"
    end

    test "negative steps" do
      assert error_for(@good, steps: -1) =~ "steps"
    end

    test "non-integer steps" do
      assert error_for(@good, steps: 1.5) =~ "steps"
      assert error_for(@good, steps: "10") =~ "steps"
      assert error_for(@good, steps: nil) =~ "steps"
    end

    test "a dt that is not a number" do
      assert error_for(@good, dt: "0.01") =~ "dt"
      assert error_for(@good, dt: :fast) =~ "dt"
    end

    test "an unknown option" do
      msg = error_for(@good, stepz: 10)
      assert msg =~ ":stepz"
      assert msg =~ ":steps"
    end

    test "options that are not a keyword list" do
      error = assert_raise ArgumentError, fn -> CollisionWorld.simulate(@good, %{steps: 1}) end

      assert error.message =~ "keyword"
    end

    test "params that are not a map or keyword list" do
      assert error_for(@good, params: 3) =~ "params"
    end

    test "a missing param" do
      state = %{particles: [%{position: {0.0, 0.0, 0.0}, velocity: {0.0, 0.0, 0.0}}]}
      copy = state

      error =
        assert_raise ArgumentError, fn ->
          BrokenRecord.Zero.TestSystems.Ballistics.simulate(state, [steps: 1] ++ @opts)
        end

      assert error.message =~ "missing param :g"
      assert state == copy
    end

    test "the first bad agent is reported, in order" do
      state = %{@good | particles: [hd(@good.particles), %{}, %{position: :bad}]}
      assert error_for(state) =~ "state.particles[1]"
    end
  end
end
