defmodule BrokenRecord.Zero.BondsTest do
  # Bonds (docs/dsl.md, "Bonds"; docs/program.md, "Bonded rules"; docs/engine.md, "Bonded
  # rules", "Exclusions"): the front end and its CompileErrors, the validation of references,
  # spring, FENE and angle forces against hand computation, exclusions against all pairs minus
  # the bonded ones, native against pure Elixir, and the removal of dangling bonds.
  use ExUnit.Case, async: true

  import BrokenRecord.Zero.TestHelpers

  alias BrokenRecord.Zero.{BondSystems, Program, World}
  alias BrokenRecord.Zero.BondSystems.{Angles, Chain, Expiring, Springs}

  @moduletag :native

  @backends [:native, :interpreted]

  defp rule(system, name), do: Enum.find(system.__system__().program.rules, &(&1.name == name))

  defp paths(world), do: for({path, n} <- World.info(world).sweeps, n > 0, do: path)

  defp bead(position, velocity \\ {0.0, 0.0, 0.0}, mass \\ 1.0),
    do: %{position: position, velocity: velocity, mass: mass}

  # Runs `system` on `state` natively (kernels on and off) and in pure Elixir; asserts that the
  # three agree within `tol` (bit for bit when 0.0) and returns the three final states.
  defp agree(system, state, opts, tol \\ 0.0) do
    run = fn world_opts -> system |> World.new(state, world_opts) |> World.step(opts) end
    native = run.(backend: :native) |> World.to_state()
    plain = run.(backend: :native, kernels: false) |> World.to_state()
    elixir = run.(backend: :interpreted) |> World.to_state()

    if tol == 0.0 do
      assert_identical(native, elixir)
      assert_identical(plain, elixir)
    else
      assert_agree(native, elixir, tol)
      assert_agree(plain, elixir, tol)
    end

    {native, plain, elixir}
  end

  # The minimum image of `d` in a cubic box of edge `edge`.
  defp image({x, y, z}, edge) do
    w = fn c -> c - edge * Float.round(c / edge) end
    {w.(x), w.(y), w.(z)}
  end

  # `n` beads in chains of `length` on a jittered simple cubic lattice of `per_axis`^3 sites
  # filling a periodic box of edge `edge` (consecutive sites of a snake path, so bonded beads
  # are lattice neighbours), and the bonds joining consecutive beads of each chain.
  defp chains(n, length, per_axis, edge, seed) do
    seed(seed)
    a = edge / per_axis

    sites =
      for i <- 0..(per_axis - 1),
          j <- 0..(per_axis - 1),
          k <- 0..(per_axis - 1) do
        j = if rem(i, 2) == 1, do: per_axis - 1 - j, else: j
        k = if rem(i * per_axis + j, 2) == 1, do: per_axis - 1 - k, else: k
        {(i + 0.5) * a, (j + 0.5) * a, (k + 0.5) * a}
      end

    beads =
      sites
      |> Enum.take(n)
      |> Enum.map(fn p ->
        %{position: add(p, vec(-0.04, 0.04)), velocity: vec(-1.0, 1.0), force: {0.0, 0.0, 0.0}}
      end)

    bonds =
      for c <- 0..(div(n, length) - 1), i <- 0..(length - 2), do: %{a: c * length + i, b: c * length + i + 1}

    {beads, bonds}
  end

  # The WCA forces of every pair within the cutoff that no bond joins, minimum-imaged.
  defp wca_forces(beads, bonds, edge) do
    rc2 = 1.12 * 1.12
    bonded = MapSet.new(bonds, fn %{a: a, b: b} -> {min(a, b), max(a, b)} end)
    positions = beads |> Enum.map(& &1.position) |> List.to_tuple()
    n = tuple_size(positions)
    zero = List.to_tuple(List.duplicate({0.0, 0.0, 0.0}, n))

    for i <- 0..(n - 2), j <- (i + 1)..(n - 1), not MapSet.member?(bonded, {i, j}), reduce: zero do
      forces ->
        d = image(sub(elem(positions, i), elem(positions, j)), edge)
        r2 = dot(d, d)

        if r2 < rc2 do
          sr6 = 1.0 / (r2 * r2 * r2)
          f = scale(d, 48.0 * sr6 * (sr6 - 0.5) / r2)

          forces
          |> put_elem(i, add(elem(forces, i), f))
          |> put_elem(j, sub(elem(forces, j), f))
        else
          forces
        end
    end
    |> Tuple.to_list()
  end

  @agents """
  agents do
    defagent Bead do
      field :position, :vec3
      field :velocity, :vec3
    end

    defagent Spring do
      field :a, {:ref, Bead}
      field :b, {:ref, Bead}
      field :k, :float, default: 1.0
    end

    defagent Tag do
      field :a, {:ref, Bead}
    end
  end
  """

  defp compile_error(body) do
    error = assert_raise CompileError, fn -> compile_system(body, "bonds.exs") end
    Exception.message(error)
  end

  defp rules(body), do: @agents <> "\nrules do\n" <> indent(body, 2) <> "\nend\n"

  describe "the front end" do
    test "reference fields, the bonded kind, refs, exclude and references per type" do
      sys = Springs.__system__()
      spring = Enum.find(sys.agents, &(&1.name == "Spring"))
      assert Enum.find(spring.fields, &(&1.name == :a)).type == {:ref, "Bead"}
      assert Enum.map(sys.rules, &{&1.name, &1.kind}) == [spring: :bonded, drift: :per_agent]
      # Bead is type 0; Spring's lanes a, b are 0 and 1.
      assert rule(Springs, :spring).refs == [{0, 0}, {1, 0}]
      assert rule(Springs, :spring).exclude == nil
      assert sys.program.references == [[], [{0, 0}, {1, 0}]]

      assert rule(Angles, :bend).refs == [{0, 0}, {1, 0}, {2, 0}]
      assert rule(Chain, :wca).exclude == %{type: 1, lanes: [0, 1]}
      assert rule(Chain, :wca).refs == []
      assert Enum.find(Chain.__system__().rules, &(&1.name == :wca)).kind == :pair_same
    end

    test "the program encodes and decodes back (version 3)" do
      for system <- [Springs, Chain, Expiring, Angles] do
        program = system.__system__().program
        binary = Program.encode(program)
        assert <<"BRZP", 3::little-32, _::binary>> = binary
        decoded = Program.decode(binary)
        assert decoded.references == program.references

        for {a, b} <- Enum.zip(decoded.rules, program.rules) do
          assert a.refs == b.refs
          assert a.exclude == b.exclude
          assert a.kind == b.kind
        end
      end
    end

    test "a reference to an unknown type" do
      body = """
      agents do
        defagent Bead do
          field :position, :vec3
        end

        defagent Spring do
          field :a, {:ref, Atom}
        end
      end
      """

      assert compile_error(body) =~ "field Spring.a references unknown agent type Atom"
    end

    test "a reference is not a value and cannot be assigned" do
      assert compile_error(rules("interaction f(s: Spring) do\n  s.k = s.a\nend")) =~
               "bonds.exs:24: s.a is a reference to Bead: read the fields of the agent it names"

      assert compile_error(rules("interaction f(s: Spring) do\n  s.a = s.b\nend")) =~
               "bonds.exs:24: cannot assign to s.a: references are set when the world is created"

      assert compile_error(rules("interaction f(s: Spring) do\n  s.a = 1.0\nend")) =~
               "cannot assign to s.a"
    end

    test "reaching through a field that is not a reference" do
      assert compile_error(rules("interaction f(s: Spring) do\n  s.k = length(s.k.position)\nend")) =~
               "bonds.exs:24: s.k is not a reference field of Spring"
    end

    test "remove and spawn are not allowed in a bonded rule" do
      remove = "interaction f(s: Spring) do\n  s.a.velocity = s.b.position\n  remove s\nend"

      assert compile_error(rules(remove)) =~
               "bonds.exs:25: rule f reaches through references: remove is not allowed in it"

      spawn = """
      interaction f(s: Spring) do
        s.a.velocity = s.b.position
        spawn Bead, position: s.a.position, velocity: s.b.velocity
      end
      """

      assert compile_error(rules(spawn)) =~
               "bonds.exs:25: rule f reaches through references: spawn is not allowed in it"
    end

    test "exclude: on a per-agent rule, an unknown type, one reference, an exclusive rule" do
      assert compile_error(
               rules("interaction f(p: Bead), exclude: Spring do\n  p.position = p.velocity\nend")
             ) =~ "bonds.exs:23: rule f: exclude: needs a pair rule"

      pair = fn opts ->
        rules(
          "interaction f(a: Bead, b: Bead), #{opts} do\n  a.velocity = a.velocity + b.position\nend"
        )
      end

      assert compile_error(pair.("exclude: Tag")) =~
               "bonds.exs:23: rule f: exclude: Tag needs at least two reference fields to Bead (it has 1)"

      assert compile_error(pair.("exclude: Nope")) =~
               "rule f: exclude: names unknown agent type Nope"

      assert compile_error(pair.("exclusive: true, exclude: Spring")) =~
               "bonds.exs:23: rule f: exclude: cannot be combined with exclusive: true"
    end

    test "a pair rule cannot reach through references" do
      assert compile_error(
               rules("interaction f(a: Spring, b: Spring) do\n  a.k = a.k + length(b.a.position)\nend")
             ) =~ "bonds.exs:24: b.a.field: only a rule with one agent param reaches through"
    end

    test "a reference takes no default" do
      body = """
      agents do
        defagent Bead do
          field :position, :vec3
        end

        defagent Spring do
          field :a, {:ref, Bead}, default: 0
        end
      end
      """

      assert compile_error(body) =~ "field :a: a reference takes no default:"
    end
  end

  describe "references in the state" do
    defp two_beads, do: [bead({0.0, 0.0, 0.0}), bead({1.5, 0.0, 0.0})]

    test "out of range, negative, not an integer, to a missing collection" do
      for backend <- @backends do
        for bad <- [2, 5, -1] do
          state = %{beads: two_beads(), springs: [%{a: 0, b: 1}, %{a: 1, b: bad}]}

          assert_raise ArgumentError,
                       "state.springs[1].b is #{bad}, not an index into state.beads, which has 2 " <>
                         "agents (a Spring references a Bead)",
                       fn -> World.new(Springs, state, backend: backend) end
        end

        for bad <- [1.5, 0.0, :one] do
          state = %{beads: two_beads(), springs: [%{a: 0, b: bad}]}

          error =
            assert_raise ArgumentError, fn -> World.new(Springs, state, backend: backend) end

          assert error.message =~ "state.springs[0].b must be"
        end

        assert_raise ArgumentError,
                     "state.springs[0].a is 0, not an index into state.beads, which has 0 " <>
                       "agents (a Spring references a Bead)",
                     fn -> World.new(Springs, %{springs: [%{a: 0, b: 0}]}, backend: backend) end
      end
    end

    test "in columns, a reference is a float holding the index" do
      f64 = fn values -> for v <- values, into: <<>>, do: <<v::float-native-64>> end
      beads = %{position: f64.([0.0, 0.0, 0.0, 1.5, 0.0, 0.0]), velocity: f64.(List.duplicate(0.0, 6))}

      for backend <- @backends do
        ok = %{beads: beads, springs: %{a: f64.([0.0]), b: f64.([1.0])}}
        world = World.new(Springs, ok, backend: backend)
        assert [%{a: 0, b: 1}] = World.to_state(world).springs

        # Two beads, six floats in each column: 2 is out of range, not 2 < 6.
        for bad <- [2.0, 5.0] do
          state = %{beads: beads, springs: %{a: f64.([0.0]), b: f64.([bad])}}

          assert_raise ArgumentError,
                       "state.springs[0].b is #{trunc(bad)}, not an index into state.beads, " <>
                         "which has 2 agents (a Spring references a Bead)",
                       fn -> World.new(Springs, state, backend: backend) end
        end

        state = %{beads: beads, springs: %{a: f64.([0.0]), b: f64.([0.5])}}
        error = assert_raise ArgumentError, fn -> World.new(Springs, state, backend: backend) end
        assert error.message =~ "state.springs[0].b must be"
      end
    end

    test "put_column of a reference: not an integer at once, no living agent at the step" do
      state = %{beads: two_beads(), springs: [%{a: 0, b: 1}]}

      for backend <- @backends do
        world = World.new(Springs, state, backend: backend)

        error =
          assert_raise ArgumentError, fn ->
            World.put_column(world, :springs, :b, <<0.5::float-native-64>>)
          end

        assert error.message =~ "springs[0].b must be"

        # The bonded sweep finds no bead with identity 7: an ArgumentError, the world kept.
        world = World.put_column(world, :springs, :b, <<7.0::float-native-64>>)

        error =
          assert_raise ArgumentError, fn -> World.step(world, steps: 1, dt: 0.1, rules: [:spring]) end

        assert error.message =~ "7"
        assert World.counts(world) == %{beads: 2, springs: 1}
        world = World.put_column(world, :springs, :b, <<1.0::float-native-64>>)
        assert %World{} = World.step(world, steps: 1, dt: 0.1, rules: [:spring])
      end
    end
  end
end
