defmodule BrokenRecord.Zero.DSLTest do
  use ExUnit.Case, async: true

  import BrokenRecord.Zero.TestHelpers

  alias BrokenRecord.Zero.{CompiledSystem, IR, Parser}
  alias BrokenRecord.Zero.TestForms.Kitchen
  alias BrokenRecord.Zero.Fixtures.CollisionWorld
  alias BrokenRecord.Zero.TestSystems.{Gravity, Keep, Orbit, Spring}

  @opts [backend: :interpreted]

  describe "__system__/0" do
    test "describes agents with fields, lane layout and collection keys" do
      system = CollisionWorld.__system__()
      assert %CompiledSystem{module: CollisionWorld, name: "CollisionWorld"} = system

      [particle, wall] = system.agents
      assert %IR.Agent{name: "Particle", index: 0, collection: :particles, lanes: 8} = particle
      assert %IR.Agent{name: "Wall", index: 1, collection: :walls, lanes: 6} = wall

      assert Enum.map(particle.fields, &{&1.name, &1.type, &1.lane}) == [
               {:position, :vec3, 0},
               {:velocity, :vec3, 3},
               {:mass, :float, 6},
               {:radius, :float, 7}
             ]

      assert Enum.map(wall.fields, &{&1.name, &1.type, &1.lane}) == [
               {:position, :vec3, 0},
               {:normal, :vec3, 3}
             ]

      assert CompiledSystem.agent(system, "Wall") == wall
      assert CompiledSystem.agent(system, :particles) == particle
      assert CompiledSystem.agent(system, "Nope") == nil
    end

    test "describes rules with their kind, agents, params and index" do
      system = CollisionWorld.__system__()

      assert Enum.map(system.rules, &{&1.name, &1.index, &1.kind}) == [
               {:collision, 0, :pair_same},
               {:wall_bounce, 1, :pair_cross},
               {:integrate, 2, :per_agent}
             ]

      assert CompiledSystem.rule(system, :collision).agents == [p1: "Particle", p2: "Particle"]
      assert CompiledSystem.rule(system, :wall_bounce).agents == [p: "Particle", w: "Wall"]
      assert CompiledSystem.rule(system, :integrate).scalars == []
      assert system.params == [:dt]

      assert Spring.__system__().params == [:dt, :k, :damping]
      assert CompiledSystem.rule(Spring.__system__(), :spring).scalars == [:k, :damping]
    end

    test "records the options and the program" do
      system = CollisionWorld.__system__()
      assert system.options.target == :cpu
      assert system.options.precision == :f64
      assert Enum.sort(system.options.optimize) == [:loop_fusion, :simd, :spatial_hash]

      assert %BrokenRecord.Zero.Program{types: [8, 6], params: [:dt]} = system.program
      assert length(system.program.rules) == 3
      assert is_binary(system.program_binary)
      assert binary_part(system.program_binary, 0, 4) == "BRZP"

      for rule <- system.rules do
        analysis = Map.fetch!(system.analysis, rule.name)
        assert analysis.instructions <= analysis.instructions_before
        assert analysis.flops > 0
      end
    end

    test "defaults: cpu target, f64 precision, no passes" do
      options = Gravity.__system__().options
      assert options.target == :cpu
      assert options.precision == :f64
      assert options.optimize == []
    end

    test "a simulate/2 function is defined on the system module" do
      # function_exported?/3 does not load the module; no other test may have used it yet.
      Code.ensure_loaded!(CollisionWorld)
      assert function_exported?(CollisionWorld, :simulate, 2)
      assert function_exported?(CollisionWorld, :simulate, 1)
      assert function_exported?(CollisionWorld, :__system__, 0)
    end
  end

  describe "pluralisation of collection keys" do
    test "irregular and regular plurals" do
      assert Parser.collection_key("Particle") == :particles
      assert Parser.collection_key("Body") == :bodies
      assert Parser.collection_key("Wall") == :walls
      assert Parser.collection_key("Molecule") == :molecules
      assert Parser.collection_key("Box") == :boxes
      assert Parser.collection_key("Key") == :keys
      assert Parser.collection_key("Entity") == :entities
      assert Parser.collection_key("Mesh") == :meshes
      assert Parser.collection_key("SpringNode") == :spring_nodes
    end

    test "defagent collection: overrides the key" do
      keys = Enum.map(Kitchen.__system__().agents, &{&1.name, &1.collection})

      assert keys == [
               {"Particle", :particles},
               {"Body", :bodies},
               {"Wall", :walls},
               {"Molecule", :molecules},
               {"Crate", :boxes}
             ]
    end
  end

  describe "every DSL form" do
    test "field defaults and int fields are recorded" do
      particle = CompiledSystem.agent(Kitchen.__system__(), "Particle")
      assert IR.Agent.field(particle, :velocity).default == {0.0, 0.0, 0.0}
      assert IR.Agent.field(particle, :mass).default == 1
      assert IR.Agent.field(particle, :generation).type == :int
      assert IR.Agent.field(particle, :generation).default == 0
      assert IR.Agent.field(particle, :position).default == nil
      assert particle.lanes == 3 + 3 + 1 + 1 + 1
    end

    test "defaults fill missing fields of the input" do
      state = %{particles: [%{position: {1.0, 2.0, 3.0}}]}
      out = Kitchen.simulate(state, [steps: 1, dt: 0.5, rules: [:drift]] ++ @opts)
      # velocity defaults to zero: no motion
      assert [%{position: {1.0, 2.0, 3.0}}] = out.particles

      out = Kitchen.simulate(state, [steps: 1, dt: 0.5, rules: [:mathy]] ++ @opts)
      # generation (default 0) + floor(mass (default 1))
      assert [%{generation: 1}] = out.particles
    end

    test "keyword params with explicit dt, implicit dt and integer literals in float context" do
      state = %{particles: [%{position: {0.0, 10.0, 0.0}, velocity: {1.0, 0.0, 0.0}}]}
      out = Kitchen.simulate(state, [steps: 1, dt: 0.5, rules: [:fall, :drift]] ++ @opts)
      [%{position: {x, y, z}, velocity: {vx, vy, vz}}] = out.particles
      # TwoG * Half = 1.0, so vy = -(9.81 * dt)
      assert vy == -(9.81 * 0.5)
      assert {vx, vz} == {1.0, 0.0}
      assert {x, y, z} == {0.5, 10.0 + vy * 0.5, 0.0}
    end

    test "system-level constants computed from other constants" do
      assert Kitchen.__system__().constants == %{G: 1.0, Half: 0.5, TwoG: 2.0}
      assert Gravity.__system__().constants == %{G: 1.0, Softening: 0.05}
    end

    test "destructuring and .x/.y/.z on any vec3 expression" do
      state = %{particles: [%{position: {1.0, 2.0, 3.0}, velocity: {4.0, 5.0, 6.0}}]}
      [p] = Kitchen.simulate(state, [steps: 1, rules: [:components]] ++ @opts).particles
      {_, _, cz} = cross({1.0, 2.0, 3.0}, {4.0, 5.0, 6.0})
      # x + 2y + 3z = 32, (position + velocity).y * 10 = 70, cross(...).z * 100 = -300
      assert cz == -3.0
      assert p.tag == -198.0
    end

    test "nested if/else picks the right branch" do
      for {vx, tag} <- [{2.5, 3.0}, {1.5, 2.0}, {0.5, 0.0}, {-0.5, 0.0}, {-1.5, -1.0}] do
        state = %{particles: [%{position: {0.0, 0.0, 0.0}, velocity: {vx, 0.0, 0.0}, tag: 9.0}]}
        [p] = Kitchen.simulate(state, [steps: 1, rules: [:classify]] ++ @opts).particles
        assert p.tag == tag, "v = #{vx}: expected tag #{tag}, got #{p.tag}"
      end
    end

    test ":math spellings, body constants, int fields and floor" do
      state = %{particles: [%{position: {-3.0, 0.0, 0.0}, mass: 2.7, generation: 5}]}
      [p] = Kitchen.simulate(state, [steps: 2, rules: [:mathy]] ++ @opts).particles
      # sqrt(9) + e^0 + log 1 + sin 0 + cos 0 + pi * 0 + K
      assert p.tag == 3.0 + 1.0 + 0.0 + 0.0 + 1.0 + 0.0 + 4
      assert p.generation === 5 + 2 * 2
    end

    test "w.normal.x in a cross-type rule reflects a particle off a wall" do
      state = %{
        particles: [%{position: {0.0, -0.1, 0.0}, velocity: {1.0, -2.0, 0.5}}],
        walls: [%{position: {0.0, 0.0, 0.0}, normal: {0.0, 1.0, 0.0}}]
      }

      [p] = Kitchen.simulate(state, [steps: 1, rules: [:reflect]] ++ @opts).particles
      assert p.velocity == {1.0, 2.0, 0.5}
    end

    test "scalar params beside agent params, and and/or/not spellings" do
      state = %{
        bodies: [%{position: {0.0, 0.0, 0.0}, mass: 1.0}, %{position: {1.0, 0.0, 0.0}, mass: 3.0}]
      }

      out =
        Kitchen.simulate(
          state,
          [steps: 1, dt: 0.1, rules: [:attract], params: %{strength: 2.0}] ++ @opts
        )

      [a, b] = out.bodies
      # d = (1, 0, 0), r = 1: a moves by 2 * 3 * 0.1 / 2, b by 2 * 1 * 0.1 / 2
      assert_close(a.position, {0.3, 0.0, 0.0})
      assert_close(b.position, {0.9, 0.0, 0.0})
    end

    test "collection override and clamp-like min/max" do
      state = %{boxes: [%{size: 3.0}, %{size: -1.0}, %{size: 70.0}], molecules: [%{charge: 4.0}]}
      out = Kitchen.simulate(state, [steps: 1, rules: [:grow, :neutralise]] ++ @opts)
      assert Enum.map(out.boxes, & &1.size) == [6.0, 0.0, 100.0]
      assert out.molecules == [%{charge: 2.0}]
    end

    test "a body constant G in a pair rule (Orbit) and :math.pow/:math.sqrt" do
      kick = CompiledSystem.rule(Orbit.__system__(), :kick)
      assert kick.kind == :pair_same
      refute Enum.any?(kick.body, &match?({:constant, _, _, _}, &1))
    end

    test "negative literal defaults" do
      sim =
        compile_system(
          """
          agents do
            defagent Cell do
              field :velocity, :vec3, default: {-1.5, 0, -2.0e-3}
              field :charge, :float, default: -0.5
              field :level, :int, default: -3
            end
          end
          """,
          "forms.exs"
        )

      cell = CompiledSystem.agent(sim.__system__(), "Cell")
      assert IR.Agent.field(cell, :velocity).default == {-1.5, 0, -2.0e-3}
      assert IR.Agent.field(cell, :charge).default == -0.5
      assert IR.Agent.field(cell, :level).default == -3
    end

    test "parenthesised not: (not a) and b, !(not a)" do
      sim =
        compile_system(
          """
          agents do
            defagent Cell do
              field :charge, :float
              field :level, :int
            end
          end

          rules do
            interaction flip(c: Cell) do
              if (not (c.charge > 0)) and !(not (c.level < 0)) do
                c.charge = -c.charge
              end
            end
          end
          """,
          "forms.exs"
        )

      state = %{cells: [%{charge: -0.5, level: -1}, %{charge: -0.5, level: 1}]}

      assert sim.simulate(state, [steps: 1] ++ @opts).cells == [
               %{charge: 0.5, level: -1},
               %{charge: -0.5, level: 1}
             ]
    end

    test "int fields are read back as integers" do
      particle = %{position: {0.0, 0.0, 0.0}, velocity: {0.0, 0.0, 0.0}, mass: 1.0}
      state = %{particles: [Map.put(particle, :generation, 0), Map.put(particle, :generation, 7)]}
      out = Keep.simulate(state, [steps: 3, rules: [:age]] ++ @opts)
      assert Enum.map(out.particles, & &1.generation) == [3, 10]
      assert Enum.all?(out.particles, &is_integer(&1.generation))
    end
  end

  describe "parsing through the pipeline directly" do
    test "Parser.parse builds the IR with source lines" do
      block =
        quote line: 10 do
          agents do
            defagent Particle do
              field :position, :vec3
            end
          end

          rules do
            interaction move(p: Particle) do
              p.position = p.position + {1, 0, 0}
            end
          end
        end

      system = Parser.parse(block, Brz.Direct, "direct.exs", 10)
      assert [%IR.Rule{name: :move, agents: [p: "Particle"], body: [store]}] = system.rules

      assert {:store, 10, {:p, :position}, {:call, %{line: 10}, {:add, [_, {:vec, _, _}]}}} =
               store
    end
  end
end
