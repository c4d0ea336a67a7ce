defmodule BrokenRecord.Zero.FieldTypesTest do
  use ExUnit.Case, async: true

  import BrokenRecord.Zero.TestHelpers
  import ExUnit.CaptureIO

  import BrokenRecord.Zero.FieldTypeSystems,
    only: [cells: 1, cells: 2, people: 2, epidemic_params: 0]

  alias BrokenRecord.Zero.{NIF, World}
  alias BrokenRecord.Zero.FieldTypeSystems.{Cells, Epidemic}
  alias BrokenRecord.Zero.Fixtures.Boids

  @backends [:native, :interpreted]

  defp run(system, state, backend, opts) do
    system
    |> World.new(state, Keyword.merge([backend: backend], Keyword.take(opts, [:precision])))
    |> World.step(Keyword.drop(opts, [:precision]))
  end

  describe "enum and bool fields" do
    for backend <- @backends do
      test "take and give atoms and booleans, #{backend}" do
        world = run(Cells, cells(4), unquote(backend), steps: 3)
        out = World.to_state(world).cells

        assert Enum.map(out, & &1.stage) == [:egg, :pupa, :pupa, :egg]
        assert Enum.map(out, & &1.crowded) == [false, true, true, false]
        # The stage's lane is its index, and so is its column.
        assert floats(World.column(world, :cells, :stage)) == [0.0, 2.0, 2.0, 0.0]
      end

      test "values given in the state are read, #{backend}" do
        state = cells(3, %{stage: :pupa, crowded: true})
        out = World.to_state(run(Cells, state, unquote(backend), steps: 1)).cells
        # Pupae stay pupae; crowded is recomputed: only the middle cell has two neighbours.
        assert Enum.map(out, & &1.stage) == [:pupa, :pupa, :pupa]
        assert Enum.map(out, & &1.crowded) == [false, true, false]
      end
    end

    test "an epidemic runs natively on generated kernels and agrees with pure Elixir" do
      state = people(400, 1)
      opts = [steps: 20, dt: 0.1, params: epidemic_params(), seed: 9]
      native = World.new(Epidemic, state, backend: :native, seed: 9)
      assert World.info(native).backend == :native
      assert length(World.info(native).kernels) == 3

      native = World.step(native, Keyword.delete(opts, :seed))

      elixir =
        World.step(
          World.new(Epidemic, state, backend: :interpreted, seed: 9),
          Keyword.delete(opts, :seed)
        )

      a = World.to_state(native).people
      b = World.to_state(elixir).people
      assert Enum.map(a, & &1.status) == Enum.map(b, & &1.status)
      assert Enum.map(a, & &1.vaccinated) == Enum.map(state.people, & &1.vaccinated)
      assert_agree(Enum.map(a, & &1.position), Enum.map(b, & &1.position), 1.0e-9)

      counts = Enum.frequencies(Enum.map(a, & &1.status))
      assert counts[:recovered] > 0 and counts[:infected] > 0 and counts[:susceptible] > 0
      # Vaccinated people who started susceptible stay so.
      for {before, later} <- Enum.zip(state.people, a),
          before.vaccinated and before.status == :susceptible,
          do: assert(later.status == :susceptible)
    end

    test "f32 worlds hold the same enum codes" do
      for backend <- @backends do
        out = World.to_state(run(Cells, cells(5), backend, steps: 2, precision: :f32)).cells
        assert Enum.map(out, & &1.stage) == [:egg, :pupa, :pupa, :pupa, :egg]
      end
    end

    test "a value outside the enum, or not a boolean, is an ArgumentError on both backends" do
      bad = [
        {%{stage: :zombie},
         "state.cells[1].stage is :zombie, not one of :egg, :larva, :pupa, :adult"},
        {%{stage: 2}, "state.cells[1].stage is 2, not one of :egg, :larva, :pupa, :adult"},
        {%{stage: "egg"}, "state.cells[1].stage must be one of :egg, :larva, :pupa, :adult"},
        {%{crowded: 1}, "state.cells[1].crowded must be true or false"},
        {%{crowded: nil}, "state.cells[1].crowded must be true or false"}
      ]

      for {fields, message} <- bad, backend <- @backends do
        state = cells(3)
        state = %{state | cells: List.update_at(state.cells, 1, &Map.merge(&1, fields))}

        assert_raise ArgumentError, message, fn ->
          Cells.simulate(state, steps: 1, backend: backend)
        end
      end
    end

    test "a lane that holds no code of its enum is an ArgumentError when read back" do
      stderr =
        capture_io(:stderr, fn ->
          send(self(), {:sim, summing_enum_system()})
        end)

      assert_received {:sim, sim}
      assert stderr =~ "rule mark writes {:enum, [:a, :b]} field s of P as a sum over pairs"

      state = %{ps: for(i <- 0..2, do: %{x: i * 1.0})}

      for backend <- @backends do
        world = World.step(World.new(sim, state, backend: backend), steps: 1)
        # Three pairs each add the code of :b (1) to both agents: codes 2, beyond :b.
        assert floats(World.column(world, :ps, :s)) == [2.0, 2.0, 2.0]

        assert_raise ArgumentError,
                     "the world holds a value at state.ps[0].s that is not one of its enum's " <>
                       "codes (0..1)",
                     fn -> World.to_state(world) end
      end
    end
  end

  defp summing_enum_system do
    compile_system("""
    agents do
      defagent P, collection: :ps do
        field :x, :float
        field :s, {:enum, [:a, :b]}, default: :a
      end
    end

    rules do
      interaction mark(p: P, q: P) do
        p.s = :b
        q.s = :b
      end
    end
    """)
  end

  describe "transient fields" do
    for backend <- @backends do
      test "are reset to their default at the start of every step, #{backend}" do
        world = run(Cells, cells(4), unquote(backend), steps: 3)
        out = World.to_state(world).cells
        # n: 1 neighbour at the ends, 2 inside; m: 5 every step.
        assert Enum.map(out, & &1.total) == [18.0, 21.0, 21.0, 18.0]
        # The column holds what the last step left.
        assert floats(World.column(world, :cells, :n)) == [1.0, 2.0, 2.0, 1.0]
        assert floats(World.column(world, :cells, :m)) == [5.0, 5.0, 5.0, 5.0]
      end

      test "are not read from or written to the state, #{backend}" do
        state = cells(3, %{n: 100.0, m: :anything})
        out = World.to_state(run(Cells, state, unquote(backend), steps: 1)).cells
        # The given values are left alone, as keys the system does not declare.
        assert Enum.map(out, & &1.n) == [100.0, 100.0, 100.0]
        assert Enum.map(out, & &1.m) == [:anything, :anything, :anything]
        assert Enum.map(out, & &1.total) == [6.0, 7.0, 6.0]

        plain = World.to_state(run(Cells, cells(3), unquote(backend), steps: 1)).cells
        refute Enum.any?(plain, &(Map.has_key?(&1, :n) or Map.has_key?(&1, :m)))
      end

      test "are reset even when the step runs other rules only, #{backend}" do
        world = run(Cells, cells(3), unquote(backend), steps: 2, rules: [:grow])
        assert Enum.map(World.to_state(world).cells, & &1.total) == [10.0, 10.0, 10.0]
      end
    end

    test "boids steer on transient neighbour sums alike on both backends" do
      :rand.seed(:exsss, {4, 4, 4})

      boids =
        for _ <- 1..150 do
          a = 2 * :math.pi() * :rand.uniform()

          %{
            position: {8 * :rand.uniform(), 8 * :rand.uniform(), 0.0},
            velocity: {:math.cos(a), :math.sin(a), 0.0}
          }
        end

      state = %{boids: boids, box: {8.0, 8.0, 8.0}}

      params = %{
        radius: 1.0,
        too_close: 0.5,
        align: 0.5,
        cohere: 0.02,
        separate: 0.1,
        speed: 1.0,
        noise: 0.05
      }

      [native, elixir] =
        for backend <- @backends do
          world =
            World.step(World.new(Boids, state, backend: backend, seed: 2),
              steps: 10,
              dt: 0.1,
              params: params
            )

          {World.to_state(world).boids, floats(World.column(world, :boids, :neighbours))}
        end

      assert elem(native, 1) == elem(elixir, 1)
      assert Enum.sum(elem(native, 1)) > 0
      assert_agree(elem(native, 0), elem(elixir, 0), 1.0e-9)
      refute Map.has_key?(hd(elem(native, 0)), :heading)
    end

    test "the reset rule comes after the declared rules and runs as a kernel" do
      rules = Cells.__system__().rules
      assert Enum.map(rules, & &1.name) == [:count, :grow, :"transient(cells)"]
      assert Enum.map(rules, & &1.transient_reset) == [false, false, true]

      world = World.step(World.new(Cells, cells(3), backend: :native), steps: 2)
      info = World.info(world)
      assert 2 in info.kernels
      # Two steps: the reset and grow as agent kernels, count as an all-pairs kernel.
      assert info.sweeps.agent_kernel == 4
      assert info.sweeps.all_pairs_kernel == 2
    end

    test "the native layout marks transient fields" do
      assert NIF.loaded?()
      sim = Cells.__system__()

      assert Enum.map(sim.agents |> hd() |> Map.fetch!(:fields), & &1.transient) ==
               [false, false, false, true, true, false]
    end
  end

  describe "compile errors" do
    defp error_of(body) do
      error = assert_raise CompileError, fn -> compile_system(body, "field_types.exs") end
      error.description
    end

    defp agent_with(fields, rules \\ "") do
      """
      agents do
        defagent P do
          field :x, :float
      #{indent(fields, 4)}
        end
      end

      rules do
      #{indent(rules, 2)}
      end
      """
    end

    @status ~s(field :s, {:enum, [:egg, :adult]}, default: :egg)

    test "an atom outside the enum, with a did-you-mean" do
      msg = error_of(agent_with(@status, "interaction r(p: P) do\n  p.s = :adlut\nend"))
      assert msg =~ ":adlut is not a value of an enum (:egg | :adult)"
      assert msg =~ "did you mean :adult?"
    end

    test "a bare atom, two atoms compared, two enums mixed, arithmetic on an enum" do
      two = @status <> "\nfield :t, {:enum, [:x, :y]}"

      for {rules, text} <- [
            {"x = :egg\np.x = 1.0", ":egg is not a value here"},
            {"if :egg == :adult do\n  p.x = 1.0\nend", "== of two atoms"},
            {"if p.s == p.t do\n  p.x = 1.0\nend",
             "== of an enum (:egg | :adult) and an enum (:x | :y)"},
            {"p.x = p.s + 1", "cannot add an enum (:egg | :adult) and an int"},
            {"p.s = 1", "cannot assign an int to p.s, an enum (:egg | :adult) field of P"},
            {"p.x = p.s", "cannot assign an enum (:egg | :adult) to p.x"}
          ] do
        fields = if rules =~ "p.t", do: two, else: @status
        msg = error_of(agent_with(fields, "interaction r(p: P) do\n#{indent(rules, 2)}\nend"))
        assert msg =~ text
      end
    end

    test "bad declarations" do
      for {field, text} <- [
            {"field :s, {:enum, []}", "an enum needs a non-empty list of atoms"},
            {"field :s, {:enum, [:a, 1]}", "an enum needs a non-empty list of atoms"},
            {"field :s, {:enum, [:a, true]}", "an enum needs a non-empty list of atoms"},
            {"field :s, {:enum, [:a, :a]}", "enum value of :s :a is defined twice"},
            {"field :s, {:enum, [:a, :b]}, default: :c", "must be one of :a, :b, got: :c"},
            {"field :s, :bool, default: 1", "must be a literal true or false"},
            {"field :s, :float, transient: 1", "transient: must be true or false"},
            {"field :s, :float, fresh: true", "unknown option fresh:"},
            {"field :s, :complex",
             "supported types: :float, :int, :vec3, :bool, {:enum, [atoms]}"}
          ] do
        assert error_of(agent_with(field)) =~ text
      end
    end
  end
end
