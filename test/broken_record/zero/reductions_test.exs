defmodule BrokenRecord.Zero.ReductionsTest do
  # Max / min reductions in pair rules (docs/dsl.md, "Reductions"; docs/program.md, ACCMAX and
  # ACCMIN): what the front end emits, the results on both backends and every sweep path (max
  # and min are exact, so they agree bit for bit), thread-count independence, the
  # CompileErrors and the warning for a summed :int field.
  use ExUnit.Case, async: true

  import ExUnit.CaptureIO
  import BrokenRecord.Zero.TestHelpers

  alias BrokenRecord.Zero.{NumericalError, ReductionProbe, ReductionSystems, World}
  alias BrokenRecord.Zero.ReductionSystems.{Contact, PeriodicContact, Sensors}

  @moduletag :native

  defp rule(system, name), do: Enum.find(system.__system__().program.rules, &(&1.name == name))

  defp lane_writes(system, name) do
    for {op, _, s, l, _} <- rule(system, name).instrs,
        op in [:store, :acc, :accmax, :accmin],
        do: {op, s, l}
  end

  defp paths(world), do: for({path, n} <- World.info(world).sweeps, n > 0, do: path)

  # Runs `system` on `state` natively (kernels on and off) and in pure Elixir; asserts that all
  # three give the same bits and returns the native world.
  defp agree(system, state, opts) do
    {precision, opts} = Keyword.pop(opts, :precision, :f64)
    run = fn world_opts -> system |> World.new(state, world_opts) |> World.step(opts) end
    native = run.(backend: :native, precision: precision)
    plain = run.(backend: :native, precision: precision, kernels: false)
    elixir = run.(backend: :interpreted)
    assert_identical(World.to_state(native), World.to_state(elixir))
    assert_identical(World.to_state(plain), World.to_state(elixir))
    {native, plain}
  end

  describe "lowering" do
    test "each reduced lane gets an ACCMAX or ACCMIN of both slots; sums stay STORE or ACC" do
      # Dot lanes: position 0-2, velocity 3-5, value 6, clock 7, first 8, near 9, low 10,
      # level 11.
      writes = lane_writes(Contact, :touch)

      for slot <- [0, 1] do
        assert {:accmin, slot, 8} in writes
        assert {:accmax, slot, 9} in writes
        assert {:accmin, slot, 10} in writes
        assert {:accmax, slot, 11} in writes
      end

      assert length(writes) == 8
      # Sensor: peak 3 (max), quiet 4 (min), hits 5 (a sum); Source: loudest 4 (max).
      assert Enum.sort(lane_writes(Sensors, :hear)) ==
               [{:acc, 0, 5}, {:accmax, 0, 3}, {:accmax, 1, 4}, {:accmin, 0, 4}]
    end

    test "a reduction inside a branch keeps the cutoff; a per-agent max is a plain store" do
      assert Contact.__system__().program.rules |> hd() |> Map.fetch!(:cutoff) != nil

      system =
        compile_system("""
        agents do
          defagent P do
            field :x, :float
          end
        end

        rules do
          interaction grow(p: P) do
            p.x = max(p.x, 2.0)
          end
        end
        """)

      assert [{:store, 0, 0, 0, _}] =
               Enum.filter(hd(system.__system__().program.rules).instrs, &(elem(&1, 0) == :store))
    end
  end

  describe "results" do
    test "static dots: every lane is the max / min over the neighbours within the radius" do
      dots = for d <- ReductionSystems.dots(4, 1), do: %{d | velocity: {0.0, 0.0, 0.0}}
      {native, _} = agree(Contact, %{dots: dots}, steps: 1, params: %{radius: 1.3})
      out = World.to_state(native).dots

      for {{dot, i}, got} <- dots |> Enum.with_index() |> Enum.zip(out) do
        near =
          for {other, j} <- Enum.with_index(dots),
              j != i,
              norm(sub(other.position, dot.position)) < 1.3,
              do: other.value

        assert got.near == Enum.max([-1.0e9 | near])
        assert got.low == Enum.min([1.0e9 | near])
        assert got.first == if(near == [], do: 1.0e9, else: 0.0)
        assert is_integer(got.level)
      end
    end

    for precision <- [:f64, :f32] do
      test "moving dots on neighbour lists, #{precision}: native == pure Elixir" do
        state = %{dots: ReductionSystems.dots(5, 2)}

        {native, plain} =
          agree(Contact, state,
            precision: unquote(precision),
            steps: 4,
            dt: 0.25,
            params: %{radius: 1.3}
          )

        assert Enum.any?(paths(native), &(&1 in [:list_block_kernel, :list_kernel]))
        assert :list_interpreter in paths(plain)
        # The spread level reaches agents that were not 9 to begin with.
        levels = Enum.map(World.to_state(native).dots, & &1.level)
        assert Enum.count(levels, &(&1 > 0)) > Enum.count(state.dots, &(&1.level > 0))
      end

      test "sensors and sources (a grid and all pairs), #{precision}: native == pure Elixir" do
        state = ReductionSystems.sensors(5, 3)

        {native, plain} =
          agree(Sensors, state, precision: unquote(precision), steps: 2, params: %{range: 1.2})

        assert [:all_pairs_kernel, :grid_block_kernel] -- paths(native) == []
        assert [:all_pairs_interpreter, :grid_interpreter] -- paths(plain) == []
        out = World.to_state(native)
        assert Enum.all?(out.sources, &(&1.loudest in [1, 2]))
        assert Enum.all?(out.sensors, &(&1.peak >= &1.quiet or &1.hits == 0.0))
      end
    end

    test "a same-type rule that reduces through one slot only" do
      system =
        compile_system("""
        agents do
          defagent P do
            field :value, :float
            field :later, :float, default: -5.0
          end
        end

        rules do
          interaction ahead(a: P, b: P) do
            a.later = max(a.later, b.value)
          end
        end
        """)

      state = %{ps: Enum.map([-9.0, 0.0, -7.0, -8.0], &%{value: &1})}
      want = [0.0, -5.0, -5.0, -5.0]

      for backend <- [:native, :interpreted] do
        assert Enum.map(system.simulate(state, steps: 1, backend: backend).ps, & &1.later) == want
      end
    end

    test "an enum field reduces in declaration order" do
      system =
        compile_system("""
        agents do
          defagent Person do
            field :position, :vec3
            field :status, {:enum, [:susceptible, :infected, :recovered]}, default: :susceptible
          end
        end

        rules do
          interaction contact(a: Person, b: Person) do
            if length(a.position - b.position) < 1.0 do
              if b.status == :infected do
                a.status = max(a.status, :infected)
              end

              if a.status == :infected do
                b.status = max(:infected, b.status)
              end
            end
          end
        end
        """)

      at = fn x -> %{position: {x, 0.0, 0.0}} end

      state = %{
        persons: [at.(0.0), Map.put(at.(0.5), :status, :infected), at.(0.9), at.(5.0)]
      }

      state = put_in(state, [:persons, Access.at(2), :status], :recovered)

      for backend <- [:native, :interpreted] do
        assert Enum.map(system.simulate(state, steps: 1, backend: backend).persons, & &1.status) ==
                 [:infected, :infected, :recovered, :susceptible]
      end
    end

    test "periodic: reductions see the minimum image" do
      dots = for d <- ReductionSystems.dots(5, 4), do: Map.delete(d, :level)
      state = %{dots: dots, box: {5.5, 5.5, 5.5}}
      {native, _} = agree(PeriodicContact, state, steps: 3, dt: 0.5, params: %{radius: 1.3})
      assert Enum.any?(paths(native), &(&1 in [:list_block_kernel, :list_interpreter]))

      # A dot on one face sees the dot on the opposite face through the box.
      pair = %{
        dots: [
          %{position: {0.1, 2.0, 2.0}, velocity: {0.0, 0.0, 0.0}, value: 3.0},
          %{position: {5.3, 2.0, 2.0}, velocity: {0.0, 0.0, 0.0}, value: -2.0}
        ],
        box: {5.5, 5.5, 5.5}
      }

      {native, _} = agree(PeriodicContact, pair, steps: 1, params: %{radius: 1.3})
      assert [%{near: -2.0, low: -2.0}, %{near: 3.0, low: 3.0}] = World.to_state(native).dots
    end

    test "a reduced value that is not finite is a NumericalError; -inf in a max is not" do
      system =
        compile_system("""
        agents do
          defagent P do
            field :x, :float
            field :top, :float, default: 0.0
            field :bottom, :float, default: 0.0
          end
        end

        rules do
          interaction up(a: P, b: P) do
            a.top = max(a.top, b.x / (b.x - b.x))
          end

          interaction down(a: P, b: P) do
            a.bottom = max(a.bottom, -b.x / (b.x - b.x))
          end
        end
        """)

      state = %{ps: [%{x: 1.0}, %{x: 2.0}]}

      for backend <- [:native, :interpreted] do
        assert_raise NumericalError, ~r/P\[0\]\.top/, fn ->
          system.simulate(state, steps: 1, rules: [:up], backend: backend)
        end

        # -inf (from a positive b.x) changes no max: the lane keeps its value.
        assert %{ps: [%{bottom: 0.0}, %{bottom: 0.0}]} =
                 system.simulate(state, steps: 1, rules: [:down], backend: backend)
      end
    end
  end

  describe "docs/dsl.md" do
    test "the Reductions example: first touch, loudest neighbour, an :int flag" do
      # The example, as docs/dsl.md shows it.
      [example] =
        Regex.run(~r/```elixir\n(defagent Person do.*?)```/s, File.read!("docs/dsl.md"),
          capture: :all_but_first
        )

      [agent, rule] = String.split(example, "\n\n", parts: 2)
      system = compile_system("agents do\n#{agent}\nend\n\nrules do\n#{rule}\nend\n")

      person = fn x, volume, status ->
        %{position: {x, 0.0, 0.0}, volume: volume, status: status, clock: 2.0}
        |> Map.merge(%{touched_at: 1.0e9, loudest: -1.0e9})
      end

      # 0 and 1 touch, 1 and 2 touch, 3 is alone; 2 is infected.
      state = %{persons: [person.(0.0, 5.0, 0), person.(0.8, -1.0, 0), person.(1.6, 3.0, 1)]}
      state = update_in(state.persons, &(&1 ++ [person.(9.0, 7.0, 0)]))

      for backend <- [:native, :interpreted] do
        out = system.simulate(state, steps: 1, backend: backend).persons
        assert Enum.map(out, & &1.touched_at) == [2.0, 2.0, 2.0, 1.0e9]
        assert Enum.map(out, & &1.loudest) == [-1.0, 5.0, -1.0, -1.0e9]
        assert Enum.map(out, & &1.status) == [0, 1, 1, 0]
      end
    end
  end

  describe "threads" do
    @tag timeout: 300_000
    test "1 and 2 threads, kernels on and off: the same bits on every path" do
      runs = for n <- ["1", "2"], do: ReductionProbe.run([{"OMP_NUM_THREADS", n}])
      [{one, paths}, {two, _}] = runs

      for path <- ["all_pairs_", "grid_", "list_"], do: assert(paths =~ path)
      assert map_size(one) == 16
      assert one == two

      for {name, bits} <- one, String.starts_with?(name, "true.") do
        assert bits == one[String.replace_prefix(name, "true.", "false.")], name
      end
    end
  end

  describe "compile-time checks" do
    @agents """
    agents do
      defagent Person do
        field :position, :vec3
        field :score, :float, default: 0.0
        field :status, :int, default: 0
      end
    end
    """

    defp source(rules), do: @agents <> "\nrules do\n" <> indent(rules, 2) <> "\nend\n"

    defp compile_error(rules, file) do
      source = source(rules)
      error = assert_raise CompileError, fn -> compile_system(source, file) end
      {Exception.message(error), system_source("M", source)}
    end

    test "a field reduced with both max and min names the rule, the field and the line" do
      {message, source} =
        compile_error(
          """
          interaction meet(a: Person, b: Person) do
            a.score = max(a.score, b.score)
            b.score = min(b.score, a.score) # second
          end
          """,
          "both.exs"
        )

      assert message =~ "both.exs:#{line_of(source, "# second")}"
      assert message =~ "rule meet reduces field score of Person with both max and min"
    end

    test "a field both reduced and summed (through either agent) is a CompileError" do
      {message, source} =
        compile_error(
          """
          interaction meet(a: Person, b: Person) do
            a.score = max(a.score, 1.0) # reduced
            if b.score > 2.0 do
              b.score = b.score + 1.0 # summed
            end
          end
          """,
          "mixed.exs"
        )

      assert message =~ "mixed.exs:#{line_of(source, "# summed")}"

      assert message =~
               "rule meet writes field score of Person both as a max reduction " <>
                 "(line #{line_of(source, "# reduced")}) and otherwise " <>
                 "(line #{line_of(source, "# summed")})"
    end

    test "max of a field written earlier in the body is not a reduction" do
      {message, _} =
        compile_error(
          """
          interaction meet(a: Person, b: Person) do
            a.score = max(a.score, 1.0)
            a.score = max(a.score, b.score)
          end
          """,
          "twice.exs"
        )

      assert message =~ "rule meet writes field score of Person both as a max reduction"
    end

    test "a summed :int field warns with the rule, the field and the line" do
      rules = """
      interaction contact(a: Person, b: Person) do
        if length(a.position - b.position) < 1.0 do
          a.status = a.status + 1 # counted
        end
      end
      """

      stderr = capture_io(:stderr, fn -> compile_system(source(rules), "summed.exs") end)
      line = line_of(system_source("M", source(rules)), "# counted")
      assert [warning] = warnings_in(stderr, "summed.exs")

      assert warning =~
               "rule contact writes :int field status of Person as a sum over pairs; " <>
                 "use max(...) or min(...) to reduce, or a :float field to count"

      assert warning =~ "summed.exs:#{line}"
    end

    test "reduced :int fields, summed :float fields and per-agent writes do not warn" do
      rules = """
      interaction contact(a: Person, b: Person) do
        if length(a.position - b.position) < 1.0 do
          a.status = max(a.status, 1)
          b.status = max(1, b.status)
          a.score = a.score + 1.0
        end
      end

      interaction recover(p: Person) do
        p.status = p.status + 1
      end
      """

      stderr = capture_io(:stderr, fn -> compile_system(source(rules), "quiet.exs") end)
      assert warnings_in(stderr, "quiet.exs") == []
    end
  end

  describe "conservation" do
    test "a reduced field of a conserved quantity is not proven, with the reason" do
      system =
        compile_system("""
        agents do
          defagent Body do
            field :velocity, :vec3
            field :mass, :float
            conserves [:mass, :momentum]
          end
        end

        rules do
          interaction merge(a: Body, b: Body) do
            a.mass = max(a.mass, b.mass)
          end
        end
        """)

      verdicts = system.__system__().conservation.merge
      assert {:unverified, reason} = verdicts.mass
      assert reason =~ "a.mass is reduced with max(...) over pairs"
      assert {:unverified, _} = verdicts.momentum
    end
  end
end
