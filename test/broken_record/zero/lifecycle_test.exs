defmodule BrokenRecord.Zero.LifecycleTest do
  # Agents that are born and die (docs/dsl.md, "Agents that are born and die"): the `exclusive`
  # option, the checks of `remove` and `spawn`, their lowering, both backends (native == pure
  # Elixir), identities, counts over time, undo, thread counts and the conservation proofs.
  use ExUnit.Case, async: true

  import ExUnit.CaptureIO
  import BrokenRecord.Zero.TestHelpers

  alias BrokenRecord.Zero.{
    CompiledSystem,
    LifecycleProbe,
    LifecycleSystems,
    NumericalError,
    World
  }

  alias BrokenRecord.Zero.LifecycleSystems.{Budding, Cells, Molecules, Reactor}

  @file_name "brz_lifecycle.exs"

  # Molecules, and `rules` inside a rules block.
  defp molecules(rules) do
    """
    agents do
      defagent Molecule do
        field :position, :vec3
        field :velocity, :vec3
        field :mass, :float, default: 1.0
      end
    end

    rules do
    #{indent(rules, 2)}
    end
    """
  end

  # Compiles `rules` and returns the CompileError's description, checking that it names the
  # file and the line marked with `#!`.
  defp compile_error(rules) do
    src = system_source(unique_module(), molecules(rules))
    line = line_of(src, "#!")
    error = assert_raise CompileError, fn -> Code.compile_string(src, @file_name) end
    assert error.file =~ @file_name
    assert error.line == line, "expected line #{line}, got #{error.line}: #{error.description}"
    error.description
  end

  @decay """
  interaction decay(p: Molecule) do
    if p.mass < 0.5 do
      remove p
    end
  end
  """

  @merge """
  interaction merge(a: Molecule, b: Molecule), exclusive: true do
    a.velocity = a.velocity + b.velocity * 0.0
  end

  interaction touch(a: Molecule, b: Molecule) do
    a.velocity = a.velocity + b.velocity * 0.0
  end
  """

  describe "exclusive: true" do
    test "sets the rule's exclusive field; the default is false" do
      system = compile_system(molecules(@merge), @file_name).__system__()
      assert CompiledSystem.rule(system, :merge).exclusive == true
      assert CompiledSystem.rule(system, :touch).exclusive == false
    end

    test "another option is a CompileError naming the rule and line" do
      msg =
        compile_error("""
        interaction merge(a: Molecule, b: Molecule), ordered: true do #!
          a.mass = a.mass + b.mass
        end
        """)

      assert msg =~ "rule merge"
      assert msg =~ "unknown option :ordered"
      assert msg =~ "exclusive: true"
    end

    test "another value is a CompileError" do
      for value <- ["1", ":yes"] do
        msg =
          compile_error("""
          interaction merge(a: Molecule, b: Molecule), exclusive: #{value} do #!
            a.mass = a.mass + b.mass
          end
          """)

        assert msg =~ "rule merge: exclusive must be true or false, got: #{value}"
      end
    end

    test "on a per-agent rule is a CompileError" do
      msg =
        compile_error("""
        interaction drift(p: Molecule), exclusive: true do #!
          p.position = p.position + p.velocity * dt
        end
        """)

      assert msg =~ "rule drift: exclusive: true needs a pair rule"
    end
  end

  describe "remove" do
    test "in a pair rule that is not exclusive is a CompileError at the remove" do
      msg =
        compile_error("""
        interaction react(a: Molecule, b: Molecule) do
          a.mass = a.mass + b.mass
          if a.mass > 2.0 do
            remove b #!
          end
        end
        """)

      assert msg =~ "rule react: a pair rule that removes an agent must be exclusive: true"
    end

    test "of something other than an agent param is a CompileError" do
      msg =
        compile_error("""
        interaction decay(p: Molecule, k: float) do
          remove k #!
        end
        """)

      assert msg =~ "remove expects an agent param of the rule, got: k"
      assert compile_error("interaction decay(p: Molecule) do\n  remove #!\nend") =~ "remove"
    end

    test "is a REMOVE of the slot under the branch's condition" do
      system = compile_system(molecules(@decay), @file_name)
      rule = Enum.find(system.__system__().program.rules, &(&1.name == :decay))
      assert [{:remove, 0, 0, 0, c}] = for({:remove, _, _, _, _} = i <- rule.instrs, do: i)
      assert Enum.any?(rule.instrs, &match?({:lt, ^c, _, _, _}, &1))
      assert BrokenRecord.Zero.Codegen.Cpp.kernels_for(rule) == [:sweep]
    end
  end

  describe "spawn" do
    test "writes every lane of the child: the given fields, the others their default" do
      system =
        compile_system(
          molecules("""
          interaction split(p: Molecule) do
            spawn Molecule, position: p.position, velocity: p.velocity
          end
          """),
          @file_name
        )

      rule = hd(system.__system__().program.rules)
      assert [{:spawn, 0, 0, 0, _}] = for({:spawn, _, _, _, _} = i <- rule.instrs, do: i)
      lanes = for {:spawnlane, 0, 0, lane, reg} <- rule.instrs, do: {lane, reg}
      assert Enum.map(lanes, &elem(&1, 0)) == Enum.to_list(0..6)
      # mass (lane 6) is its default, 1.0.
      {6, reg} = List.last(lanes)

      assert {:const, ^reg, k, 0, 0} =
               Enum.find(rule.instrs, &match?({:const, ^reg, _, _, _}, &1))

      assert Enum.at(rule.consts, k) == 1.0
    end

    test "of an unknown type is a CompileError with a did-you-mean" do
      msg =
        compile_error("""
        interaction split(p: Molecule) do
          spawn Molecul, position: p.position, velocity: p.velocity #!
        end
        """)

      assert msg =~ "unknown agent type Molecul in spawn of rule split"
      assert msg =~ "did you mean Molecule?"
    end

    test "of an unknown field is a CompileError with a did-you-mean" do
      msg =
        compile_error("""
        interaction split(p: Molecule) do
          spawn Molecule, position: p.position, velocity: p.velocity, mas: 1.0 #!
        end
        """)

      assert msg =~ "unknown field Molecule.mas"
      assert msg =~ "did you mean :mass?"
    end

    test "without a field that has no default is a CompileError naming it" do
      msg =
        compile_error("""
        interaction split(p: Molecule) do
          spawn Molecule, position: p.position #!
        end
        """)

      assert msg =~ "spawn Molecule: no value for field :velocity, which has no default"
    end

    test "of a value of the wrong type, or a field given twice, is a CompileError" do
      msg =
        compile_error("""
        interaction split(p: Molecule) do
          spawn Molecule, position: p.position, velocity: p.velocity, mass: p.velocity #!
        end
        """)

      assert msg =~ "cannot assign a vec3 to spawn Molecule, mass: a float field of Molecule"

      msg =
        compile_error("""
        interaction split(p: Molecule) do
          spawn Molecule, position: p.position, velocity: p.velocity, position: p.position #!
        end
        """)

      assert msg =~ "spawn Molecule: field position is given twice"
    end

    test "in a potential is a CompileError" do
      msg =
        compile_error("""
        potential pe(a: Molecule, b: Molecule) do
          spawn Molecule, position: a.position, velocity: a.velocity #!
          a.mass * b.mass
        end
        """)

      assert msg =~ "spawn is not allowed in a potential"
    end
  end

  ## Running

  # Runs `system` on `state` natively (f64) and in pure Elixir, `steps` steps, asserting after
  # every step that both have the same counts and agents; returns the counts per step.
  defp agree(system, state, steps, opts \\ []) do
    native = World.new(system, state, [backend: :native, seed: 11] ++ opts)
    elixir = World.new(system, state, [backend: :interpreted, seed: 11] ++ opts)

    {counts, _} =
      Enum.map_reduce(1..steps, {native, elixir}, fn _, {native, elixir} ->
        native = World.step(native, dt: 0.1, steps: 1)
        elixir = World.step(elixir, dt: 0.1, steps: 1)
        assert World.counts(native) == World.counts(elixir)
        assert_agree(World.to_state(native), World.to_state(elixir), 1.0e-12)
        {World.counts(native), {native, elixir}}
      end)

    counts
  end

  describe "per-agent remove and spawn" do
    @describetag :native

    test "native and pure Elixir agree step by step; counts change" do
      counts = agree(Cells, LifecycleSystems.cells(60, 1), 6)
      assert counts |> Enum.map(& &1.cells) |> Enum.uniq() |> length() > 2
    end

    test "in f32 too, up to rounding (a system without random numbers: f32 draws differ)" do
      state = %{
        molecules:
          for i <- 0..40 do
            %{position: {i * 0.3, 0.0, 0.0}, velocity: {1.0, 0.5 * i, 0.0}, mass: 1.0 + i}
          end
      }

      native = Molecules |> World.new(state, precision: :f32) |> World.step(dt: 0.1, steps: 3)

      elixir =
        Molecules |> World.new(state, backend: :interpreted) |> World.step(dt: 0.1, steps: 3)

      assert World.counts(native) == World.counts(elixir)
      assert World.counts(native).molecules < 41
      assert_agree(World.to_state(native), World.to_state(elixir), 1.0e-5)
    end

    test "survivors keep their order, children are appended in parent order with fresh identities" do
      state = %{
        cells:
          for i <- 0..9 do
            %{position: {i * 1.0, 0.0, 0.0}, velocity: {0.0, 0.0, 0.0}, mass: 1.0 + rem(i, 2)}
          end
      }

      # Every odd cell (mass 2.0) splits; no cell decays (age 0 and uniform() >= 0.2 is not
      # certain, so a seed is chosen for which none does).
      world =
        Cells |> World.new(state, backend: :interpreted, seed: 5) |> World.step(dt: 0.0, steps: 1)

      %{cells: cells} = World.to_state(world)
      ids = world.ref.ids[0]
      survivors = Enum.filter(ids, &(&1 < 10))
      assert survivors == Enum.sort(survivors)
      children = Enum.drop(ids, length(survivors))
      assert children == Enum.to_list(10..(9 + length(children)))
      # Children sit 0.25 right of their parent and appear in parent order.
      xs = for %{position: {x, _, _}} <- Enum.drop(cells, length(survivors)), do: x
      assert xs == Enum.sort(xs)
      assert Enum.all?(xs, &(&1 - 0.25 == trunc(&1 - 0.25) and rem(trunc(&1 - 0.25), 2) == 1))

      # Identities are never reused: the next children continue after the highest ever given.
      world = World.step(world, dt: 0.0, steps: 1)
      later = world.ref.ids[0] -- ids
      assert Enum.all?(later, &(&1 >= 10 + length(children)))
      native = Cells |> World.new(state, seed: 5) |> World.step(dt: 0.0, steps: 2)
      assert_agree(World.to_state(native), World.to_state(world), 1.0e-12)
    end

    test "spawned agents take part in the later rules of the same step" do
      state = %{cells: [%{position: {0.0, 0.0, 0.0}, velocity: {1.0, 0.0, 0.0}, mass: 2.0}]}

      step = fn backend, seed ->
        Cells |> World.new(state, backend: backend, seed: seed) |> World.step(dt: 0.5, steps: 1)
      end

      # A seed under which the cell survives decay (uniform() >= 0.2).
      seed = Enum.find(1..50, &(World.counts(step.(:native, &1)).cells == 2))

      for backend <- [:native, :interpreted] do
        assert %{cells: [parent, child]} = World.to_state(step.(backend, seed))
        # grow ran on both: age 1, position moved by velocity * dt.
        assert parent.age == 1 and child.age == 1
        assert {0.5, 0.0, 0.0} = parent.position
        assert {0.75, 0.0, 0.0} = child.position
      end
    end

    test "World.counts, column and totals see the living agents only" do
      state = LifecycleSystems.cells(50, 3)

      for backend <- [:native, :interpreted] do
        world = Cells |> World.new(state, backend: backend, seed: 2) |> World.step(steps: 3)
        n = World.counts(world).cells
        assert length(World.to_state(world).cells) == n
        assert byte_size(World.column(world, :cells, :mass)) == 8 * n
      end
    end

    test "a failed step leaves the world as it was: counts, agents and identities" do
      state = %{
        cells: [
          %{position: {0.0, 0.0, 0.0}, velocity: {0.0, 0.0, 0.0}, mass: 2.0},
          %{position: {1.0, 0.0, 0.0}, velocity: {1.0e308, 0.0, 0.0}, mass: 1.0}
        ]
      }

      for backend <- [:native, :interpreted] do
        world = World.new(Cells, state, backend: backend, seed: 1)
        assert_raise NumericalError, fn -> World.step(world, dt: 1.0e10, steps: 1) end
        assert World.counts(world) == %{cells: 2}
        assert World.to_state(world) == state
        world = World.step(world, dt: 0.0, steps: 1)
        assert World.counts(world).cells in 0..4
      end
    end

    test "a non-finite lane of a child is a NumericalError on both backends" do
      system =
        compile_system(
          molecules("""
          interaction split(p: Molecule) do
            spawn Molecule, position: p.position, velocity: p.velocity, mass: 1.0 / p.mass
          end
          """),
          @file_name
        )

      state = %{
        molecules: [%{position: {0.0, 0.0, 0.0}, velocity: {0.0, 0.0, 0.0}, mass: 0.0}]
      }

      for backend <- [:native, :interpreted] do
        world = World.new(system, state, backend: backend)
        error = assert_raise NumericalError, fn -> World.step(world, steps: 1) end
        assert error.index == 1 and error.field == :mass
        assert World.counts(world) == %{molecules: 1}
      end
    end

    @tag timeout: 300_000
    test "1 and 2 threads give the same agents" do
      [{one, info}, {two, _}] =
        for n <- ["1", "2"], do: LifecycleProbe.run([{"OMP_NUM_THREADS", n}])

      assert info =~ "agent_kernel"
      assert map_size(one) == 3
      assert one == two
    end
  end

  describe "periodic space" do
    @describetag :native

    test "a child outside the box is wrapped at the end of the step, its crossings counted" do
      state = %{
        buds: [
          %{position: {1.5, 0.0, 0.0}, velocity: {1.0, 0.0, 0.0}},
          %{position: {-1.0, 1.0, 0.0}, velocity: {0.0, 0.0, 0.0}}
        ],
        box: {{-2.0, -2.0, -2.0}, {2.0, 2.0, 2.0}}
      }

      for backend <- [:native, :interpreted] do
        world =
          Budding
          |> World.new(state, backend: backend)
          |> World.step(dt: 1.0, steps: 1)

        assert World.counts(world) == %{buds: 3}
        [_, _, child] = World.to_state(world).buds
        # The parent moves from 1.5 to 2.5 and wraps to -1.5; the child, born at 1.5 + 3.0 =
        # 4.5 with no crossing, wraps once to 0.5.
        assert child.position == {0.5, 0.0, 0.0}
        xs = floats(World.column(world, :buds, :position, unwrapped: true))
        assert Enum.take_every(xs, 3) == [2.5, -1.0, 4.5]
        wrapped = floats(World.column(world, :buds, :position))
        assert Enum.take_every(wrapped, 3) == [-1.5, -1.0, 0.5]
      end
    end
  end

  describe "pair rules" do
    @describetag :native

    test "an exclusive merge removes b: mass and momentum kept, on both backends" do
      # Non-overlapping pairs: (0, 1) and (3, 4) are close, 2 is alone.
      state = %{
        molecules: [
          %{position: {0.0, 0.0, 0.0}, velocity: {1.0, 0.0, 0.0}, mass: 1.0},
          %{position: {0.2, 0.0, 0.0}, velocity: {0.0, 1.0, 0.0}, mass: 3.0},
          %{position: {5.0, 0.0, 0.0}, velocity: {0.0, 0.0, 1.0}, mass: 2.0},
          %{position: {9.0, 0.0, 0.0}, velocity: {-1.0, 0.0, 0.0}, mass: 1.0},
          %{position: {9.3, 0.0, 0.0}, velocity: {1.0, 0.0, 0.0}, mass: 1.0}
        ]
      }

      assert agree(Molecules, state, 2) == [%{molecules: 3}, %{molecules: 3}]
      world = Molecules |> World.new(state) |> World.step(dt: 0.0, steps: 1)
      [a, b, c] = World.to_state(world).molecules
      assert a.mass == 4.0 and a.velocity == {0.25, 0.75, 0.0}
      assert b.mass == 2.0 and b.position == {5.0, 0.0, 0.0}
      assert c.mass == 2.0 and c.velocity == {0.0, 0.0, 0.0}
    end

    test "overlapping pairs: each molecule merges at most once a step, mass kept, both backends" do
      # 200 molecules in a 4 x 4 x 4 cube: most have several partners within 0.5.
      :rand.seed(:exsss, {1, 2, 3})

      molecules =
        for _ <- 1..200,
            do: %{
              position: {4 * :rand.uniform(), 4 * :rand.uniform(), 4 * :rand.uniform()},
              velocity: {:rand.normal(), :rand.normal(), :rand.normal()}
            }

      counts = agree(Molecules, %{molecules: molecules}, 3)
      assert [%{molecules: n1} | _] = counts
      assert n1 < 170

      world = World.new(Molecules, %{molecules: molecules}, seed: 11)
      world = World.step(world, dt: 0.1, steps: 1)
      masses = Enum.map(World.to_state(world).molecules, & &1.mass)
      # exclusive: a molecule took at most one partner (merging twice would give 3.0)
      assert Enum.uniq(Enum.sort(masses)) == [1.0, 2.0]
      assert Enum.count(masses, &(&1 == 2.0)) == 200 - n1
      assert Enum.sum(masses) == 200.0
    end

    test "Wolf Sheep Predation: exclusive grazing and hunting, births and deaths, both backends" do
      alias BrokenRecord.Zero.Fixtures.WolfSheep

      params = WolfSheep.Setup.params()

      state = WolfSheep.Setup.state(8, 30, 10, params, 5)
      native = World.new(WolfSheep, state, backend: :native, seed: 2)
      elixir = World.new(WolfSheep, state, backend: :interpreted, seed: 2)

      {native, elixir} =
        Enum.reduce(1..20, {native, elixir}, fn _, {native, elixir} ->
          native = World.step(native, dt: 1.0, steps: 1, params: params)
          elixir = World.step(elixir, dt: 1.0, steps: 1, params: params)
          assert World.counts(native) == World.counts(elixir)
          assert_agree(World.to_state(native), World.to_state(elixir), 1.0e-9)
          {native, elixir}
        end)

      counts = World.counts(native)
      assert counts.patches == 64
      assert {counts.sheep, counts.wolves} != {30, 10}
      assert World.to_state(elixir).patches |> Enum.any?(&(not &1.grown))
    end

    test "a cross-type pair rule spawns into a third type, seen by a later rule" do
      state = %{
        atoms: [
          %{position: {0.0, 0.0, 0.0}, charge: 1.0},
          %{position: {3.0, 0.0, 0.0}},
          %{position: {10.2, 0.0, 0.0}, charge: -1.0}
        ],
        catalysts: [%{position: {0.5, 0.0, 0.0}}, %{position: {10.0, 0.0, 0.0}}],
        products: []
      }

      assert agree(Reactor, state, 1) == [%{atoms: 1, catalysts: 2, products: 2}]
      world = Reactor |> World.new(state) |> World.step(steps: 1)
      [p, q] = World.to_state(world).products
      assert p.position == {0.25, 0.0, 0.0} and p.tag == 8.0
      assert q.position == {10.1, 0.0, 0.0} and q.tag == 8.0
      assert p.charge > 1.0 and p.charge < 2.0
    end
  end

  describe "conservation" do
    @conserving """
    agents do
      defagent Molecule do
        field :position, :vec3
        field :velocity, :vec3
        field :mass, :float, default: 1.0
        conserves [:mass, :momentum]
      end
    end

    rules do
      interaction merge(a: Molecule, b: Molecule), exclusive: true do
        if length(a.position - b.position) < 0.5 do
          a.velocity = (a.mass * a.velocity + b.mass * b.velocity) / (a.mass + b.mass)
          a.mass = a.mass + b.mass
          remove b
        end
      end

      interaction split(p: Molecule) do
        if p.mass > 2.0 do
          p.mass = p.mass / 2
          spawn Molecule, position: p.position, velocity: p.velocity, mass: p.mass
        end
      end

      interaction chance(p: Molecule) do
        if uniform() < 0.5 do
          remove p
        end
      end
    end
    """

    test "a merge and a split are proven to conserve mass and momentum" do
      {system, _} = with_io(:stderr, fn -> compile_system(@conserving, @file_name) end)
      verdicts = system.__system__().conservation
      assert verdicts.merge == %{mass: :proven, momentum: :proven}
      assert verdicts.split == %{mass: :proven, momentum: :proven}
    end

    test "a removal that nothing balances is a violation naming the lost quantity" do
      {system, warnings} = with_io(:stderr, fn -> compile_system(@conserving, @file_name) end)
      assert {:violated, "mass: -p.mass" <> _} = system.__system__().conservation.chance.mass
      assert warnings =~ "rule chance violates mass conservation"
    end
  end
end
