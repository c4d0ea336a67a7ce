defmodule BrokenRecord.Zero.BondsTest do
  # Bonds (docs/dsl.md, "Bonds"; docs/program.md, "Bonded rules"; docs/engine.md, "Bonded
  # rules", "Exclusions"): the front end and its CompileErrors, the validation of references,
  # spring, FENE and angle forces against hand computation, exclusions against all pairs minus
  # the bonded ones, native against pure Elixir, and the removal of dangling bonds.
  use ExUnit.Case, async: true

  import BrokenRecord.Zero.TestHelpers

  alias BrokenRecord.Zero.{Program, World}
  alias BrokenRecord.Zero.BondSystems.{Angles, Chain, Expiring, NoisySprings, Ring, Springs}

  @moduletag :native

  @backends [:native, :interpreted]

  defp rule(system, name), do: Enum.find(system.__system__().program.rules, &(&1.name == name))

  defp paths(world), do: for({path, n} <- World.info(world).sweeps, n > 0, do: path)

  defp bead(position, velocity \\ {0.0, 0.0, 0.0}, mass \\ 1.0),
    do: %{position: position, velocity: velocity, mass: mass}

  # Runs `system` on `state` natively (kernels on and off) and in pure Elixir. With `exact`, the
  # engine's interpreter gives the bits of pure Elixir (both run the bonds in agent order) and
  # the generated kernels agree within 1e-12 (they may contract a * b + c into an FMA,
  # docs/kernels.md); otherwise all three agree within 1e-12. Returns the three final states.
  defp agree(system, state, opts, exact \\ true) do
    run = fn world_opts -> system |> World.new(state, world_opts) |> World.step(opts) end
    native = run.(backend: :native) |> World.to_state()
    plain = run.(backend: :native, kernels: false) |> World.to_state()
    elixir = run.(backend: :interpreted) |> World.to_state()
    if exact, do: assert_identical(plain, elixir), else: assert_agree(plain, elixir, 1.0e-12)
    assert_agree(native, elixir, 1.0e-12)
    {native, plain, elixir}
  end

  # The minimum image of `d` in a cubic box of edge `edge`.
  defp image({x, y, z}, edge) do
    w = fn c -> c - edge * Float.round(c / edge) end
    {w.(x), w.(y), w.(z)}
  end

  # `n` beads in chains of `length` on a jittered simple cubic lattice of `per_axis`^3 sites
  # filling a periodic box of edge `edge` (consecutive sites of a snake path, so bonded beads
  # are lattice neighbours), and the bonds joining consecutive beads of each chain. Beads move
  # at up to `speed` per axis.
  defp chains(n, length, per_axis, edge, seed, speed \\ 1.0) do
    seed(seed)
    a = edge / per_axis

    sites =
      for i <- 0..(per_axis - 1),
          j <- 0..(per_axis - 1),
          k <- 0..(per_axis - 1) do
        # rows of the snake alternate their direction, so that each starts where the last ended
        k = if rem(i * per_axis + j, 2) == 1, do: per_axis - 1 - k, else: k
        j = if rem(i, 2) == 1, do: per_axis - 1 - j, else: j
        {(i + 0.5) * a, (j + 0.5) * a, (k + 0.5) * a}
      end

    beads =
      sites
      |> Enum.take(n)
      |> Enum.map(fn p ->
        %{
          position: add(p, vec(-0.04, 0.04)),
          velocity: vec(-speed, speed),
          force: {0.0, 0.0, 0.0}
        }
      end)

    bonds =
      for c <- 0..(div(n, length) - 1),
          i <- 0..(length - 2),
          do: %{a: c * length + i, b: c * length + i + 1}

    {beads, bonds}
  end

  # The WCA force on each bead of `indices` from every bead within the cutoff that no bond
  # joins it to, minimum-imaged.
  defp wca_forces(beads, bonds, edge, indices) do
    rc2 = 1.12 * 1.12
    bonded = MapSet.new(bonds, fn %{a: a, b: b} -> {min(a, b), max(a, b)} end)
    positions = beads |> Enum.map(& &1.position) |> List.to_tuple()

    for i <- indices do
      for j <- 0..(tuple_size(positions) - 1),
          j != i and not MapSet.member?(bonded, {min(i, j), max(i, j)}),
          reduce: {0.0, 0.0, 0.0} do
        force ->
          d = image(sub(elem(positions, i), elem(positions, j)), edge)
          r2 = dot(d, d)

          if r2 < rc2 do
            sr6 = 1.0 / (r2 * r2 * r2)
            add(force, scale(d, 48.0 * sr6 * (sr6 - 0.5) / r2))
          else
            force
          end
      end
    end
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
      assert compile_error(
               rules("interaction f(s: Spring) do\n  s.k = length(s.k.position)\nend")
             ) =~
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
               "bonds.exs:23: rule f: exclude: and exclusive: true cannot be combined"
    end

    test "a pair rule cannot reach through references" do
      assert compile_error(
               rules(
                 "interaction f(a: Spring, b: Spring) do\n  a.k = a.k + length(b.a.position)\nend"
               )
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

      beads = %{
        position: f64.([0.0, 0.0, 0.0, 1.5, 0.0, 0.0]),
        velocity: f64.(List.duplicate(0.0, 6))
      }

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

    test "put_column of a reference: the identity of a living agent, or an ArgumentError" do
      state = %{beads: two_beads() ++ [bead({0.0, 1.5, 0.0})], springs: [%{a: 0, b: 1}]}

      for backend <- @backends do
        world = World.new(Springs, state, backend: backend)

        for bad <- [0.5, 7.0, -1.0, 3.0] do
          error =
            assert_raise ArgumentError, fn ->
              World.put_column(world, :springs, :b, <<bad::float-native-64>>)
            end

          assert error.message =~ "springs[0].b"
        end

        assert_raise ArgumentError,
                     "springs[0].b would be 7.0, not the identity of a living agent of beads " <>
                       "(a Spring references a Bead)",
                     fn -> World.put_column(world, :springs, :b, <<7.0::float-native-64>>) end

        # Nothing was written: the world steps as before.
        assert World.counts(world) == %{beads: 3, springs: 1}
        assert [%{a: 0, b: 1}] = World.to_state(world).springs
        world = World.put_column(world, :springs, :b, <<2.0::float-native-64>>)
        assert [%{a: 0, b: 2}] = World.to_state(world).springs
        assert %World{} = World.step(world, steps: 1, dt: 0.1, rules: [:spring])
      end
    end
  end

  describe "forces" do
    test "harmonic springs sharing a bead, against hand computation" do
      beads = [
        bead({0.0, 0.0, 0.0}, {0.0, 0.0, 0.0}, 1.0),
        bead({1.5, 0.0, 0.0}, {0.1, 0.0, 0.0}, 2.0),
        bead({1.5, 2.0, 0.0}, {0.0, 0.0, -0.2}, 0.5)
      ]

      springs = [%{a: 0, b: 1, k: 10.0, rest: 1.0}, %{a: 1, b: 2, k: 4.0, rest: 1.5}]
      dt = 0.1
      # spring 0: d = (1.5, 0, 0), r = 1.5, f = 10 * 0.5 / 1.5; spring 1: d = (0, 2, 0), r = 2,
      # f = 4 * 0.5 / 2 = 1; bead 1 takes a kick from each.
      f0 = 10.0 * 0.5 / 1.5
      v0 = {1.5 * f0 * dt / 1.0, 0.0, 0.0}
      v1 = {0.1 - 1.5 * f0 * dt / 2.0, 2.0 * 1.0 * dt / 2.0, 0.0}
      v2 = {0.0, -2.0 * 1.0 * dt / 0.5, -0.2}

      for backend <- @backends do
        world =
          Springs
          |> World.new(%{beads: beads, springs: springs}, backend: backend)
          |> World.step(steps: 1, dt: dt, rules: [:spring])

        state = World.to_state(world)

        for {b, v} <- Enum.zip(state.beads, [v0, v1, v2]), do: assert_close(b.velocity, v)
        assert Enum.map(state.beads, & &1.position) == Enum.map(beads, & &1.position)
        assert_close(Enum.at(state.springs, 0).stretch, 0.5)
        assert_close(Enum.at(state.springs, 1).stretch, 0.5)
        assert Enum.map(state.springs, &{&1.a, &1.b}) == [{0, 1}, {1, 2}]
      end
    end

    test "a FENE bond with its WCA core, in the box and across its edge" do
      edge = 10.0
      k = 30.0
      r0 = 1.5

      fene = fn d ->
        r2 = dot(d, d)
        sr6 = 1.0 / (r2 * r2 * r2)
        wca = if r2 < 1.2599210498948732, do: 48.0 * sr6 * (sr6 - 0.5) / r2, else: 0.0
        scale(d, -k / (1.0 - r2 / (r0 * r0)) + wca)
      end

      # d = a - b: inside the WCA core; beyond it; through the x edge (0.2 - 9.5 -> 0.7).
      for {pa, pb, d} <- [
            {{1.0, 1.0, 1.0}, {1.9, 1.2, 1.1}, {-0.9, -0.2, -0.1}},
            {{3.0, 3.0, 3.0}, {3.0, 4.2, 3.3}, {0.0, -1.2, -0.3}},
            {{0.2, 5.0, 5.0}, {9.5, 5.4, 5.0}, {0.7, -0.4, 0.0}}
          ],
          backend <- @backends do
        beads = [
          %{position: pa, velocity: {0.0, 0.0, 0.0}},
          %{position: pb, velocity: {0.0, 0.0, 0.0}}
        ]

        state = %{beads: beads, bonds: [%{a: 0, b: 1}], box: {edge, edge, edge}}

        [a, b] =
          Chain
          |> World.new(state, backend: backend)
          |> World.step(steps: 1, dt: 0.01, rules: [:fene])
          |> World.to_state()
          |> Map.fetch!(:beads)

        expected = fene.(d)
        assert_close(a.force, expected, 1.0e-12)
        assert_close(b.force, scale(expected, -1.0), 1.0e-12)
      end
    end

    test "an angle (three references), against hand computation" do
      beads = [
        bead({1.0, 0.0, 0.0}, {0.0, 0.0, 0.0}, 1.0),
        bead({0.0, 0.0, 0.0}, {0.0, 0.0, 0.0}, 2.0),
        bead({0.3, 0.8, 0.1}, {0.0, 0.0, 0.0}, 4.0)
      ]

      {k, dt} = {2.0, 0.1}
      u = {1.0, 0.0, 0.0}
      v = {0.3, 0.8, 0.1}

      for backend <- @backends do
        state =
          Angles
          |> World.new(%{beads: beads, angles: [%{a: 0, b: 1, c: 2}]}, backend: backend)
          |> World.step(steps: 1, dt: dt, params: %{k: k})
          |> World.to_state()

        [a, b, c] = state.beads
        assert_close(a.velocity, scale(u, -k * dt / 1.0))
        assert_close(c.velocity, scale(v, -k * dt / 4.0))
        assert_close(b.velocity, scale(add(u, v), k * dt / 2.0))
        assert_close(hd(state.angles).cos, dot(u, v) / (norm(u) * norm(v)))
      end
    end

    test "a random chain of springs keeps its momentum over 200 steps" do
      seed(3)

      {beads, _} =
        Enum.map_reduce(1..40, {0.0, 0.0, 0.0}, fn _, p ->
          {bead(p, vec(-1.0, 1.0), uniform(0.5, 2.0)), add(p, vec(-0.8, 0.8))}
        end)

      springs =
        for i <- 0..38, do: %{a: i, b: i + 1, k: uniform(5.0, 20.0), rest: uniform(0.5, 1.2)}

      springs = springs ++ [%{a: 0, b: 39, k: 1.0, rest: 3.0}]
      before = momentum(beads)

      for backend <- @backends do
        state =
          Springs
          |> World.new(%{beads: beads, springs: springs}, backend: backend)
          |> World.step(steps: 200, dt: 0.002)
          |> World.to_state()

        assert_close(momentum(state.beads), before, 1.0e-12, 1.0)
        refute Enum.map(state.beads, & &1.velocity) == Enum.map(beads, & &1.velocity)
      end
    end

    test "the springs and the angle are proven to conserve momentum" do
      assert Springs.__system__().conservation.spring.momentum == :proven
      assert Angles.__system__().conservation.bend.momentum == :proven
    end
  end

  describe "exclusions" do
    # Chain's wca rule alone, one step from zero forces: the force is the rule's sum.
    defp wca_state(per_axis, n, seed) do
      edge = :math.pow(per_axis * per_axis * per_axis / 0.8, 1.0 / 3.0)
      {beads, bonds} = chains(n, 10, per_axis, edge, seed)
      {%{beads: beads, bonds: bonds, box: {edge, edge, edge}}, edge}
    end

    defp wca_run(state, world_opts) do
      Chain
      |> World.new(state, world_opts)
      |> World.step(steps: 1, dt: 0.01, rules: [:wca])
    end

    defp assert_wca(state, edge, indices, path) do
      expected = wca_forces(state.beads, state.bonds, edge, indices)
      scale = expected |> Enum.flat_map(&Tuple.to_list/1) |> Enum.map(&abs/1) |> Enum.max()

      worlds =
        for opts <- [
              [backend: :native],
              [backend: :native, kernels: false],
              [backend: :interpreted]
            ] do
          world = wca_run(state, opts)
          forces = World.to_state(world).beads |> Enum.map(& &1.force)

          for {i, f} <- Enum.zip(indices, expected),
              do: assert_close(Enum.at(forces, i), f, 1.0e-12, scale)

          world
        end

      [native, plain, elixir] = worlds
      assert Enum.all?(paths(native), &(&1 == path))
      assert Enum.all?(paths(plain), &(&1 in [path, :list_interpreter]))
      assert paths(elixir) == [:cells_elixir]
      # bonded pairs are inside the cutoff: skipping them changes the forces
      refute expected == wca_forces(state.beads, [], edge, indices)
    end

    test "a few hundred beads in chains: all pairs within the cutoff but the bonded ones" do
      {state, edge} = wca_state(7, 340, 11)
      assert_wca(state, edge, Enum.to_list(0..339), :list_kernel)
    end

    test "4000 beads at density 0.8: the neighbour list drops the bonded pairs" do
      {state, edge} = wca_state(16, 4000, 12)
      # every 37th bead against all 4000; natively every sweep is on the neighbour list
      assert_wca(state, edge, Enum.to_list(0..3999//37), :list_kernel)
    end

    test "a small box without a neighbour list checks every pair against the bonds" do
      {state, edge} = wca_state(4, 60, 13)
      assert_wca(state, edge, Enum.to_list(0..59), :all_pairs_interpreter)
    end
  end

  describe "native and pure Elixir" do
    defp spring_chain(n, seed) do
      seed(seed)

      {beads, _} =
        Enum.map_reduce(1..n, {0.0, 0.0, 0.0}, fn _, p ->
          {bead(p, vec(-1.0, 1.0), uniform(0.5, 2.0)), add(p, vec(-0.8, 0.8))}
        end)

      springs = for i <- 0..(n - 2), do: %{a: i, b: i + 1, k: uniform(5.0, 20.0)}
      # springs listed out of bead order, and a bead in three springs
      springs = Enum.reverse(springs) ++ [%{a: n - 1, b: 0}, %{a: div(n, 2), b: 3}]
      %{beads: beads, springs: springs}
    end

    test "Springs: the same bits, kernels on and off" do
      {native, _, _} = agree(Springs, spring_chain(50, 21), steps: 30, dt: 0.005)
      assert length(native.springs) == 51
    end

    test "NoisySprings: a bonded rule's random numbers, springs out of bead order" do
      %{beads: beads, springs: springs} = spring_chain(40, 26)
      springs = Enum.map(springs, &Map.take(&1, [:a, :b]))
      state = %{beads: Enum.map(beads, &Map.delete(&1, :mass)), springs: springs}
      {native, _, _} = agree(NoisySprings, state, steps: 15, dt: 0.005)
      # the draws act: another seed moves the beads elsewhere
      other = NoisySprings |> World.new(state, seed: 7) |> World.step(steps: 15, dt: 0.005)

      refute Enum.map(World.to_state(other).beads, & &1.velocity) ==
               Enum.map(native.beads, & &1.velocity)
    end

    test "Ring: a rule that reads through references the lane it stores reads the start values" do
      # 10,000 nodes: chunks on both threads, each storing while another gathers (the last
      # node reads the first, which the first chunk stores)
      n = 10_000
      nodes = for i <- 0..(n - 1), do: %{next: rem(i + 1, n), value: i * 1.0}
      {native, _, _} = agree(Ring, %{nodes: nodes}, steps: 1)
      want = for i <- 0..(n - 1), do: 0.5 * (i + rem(i + 1, n))
      assert Enum.map(native.nodes, & &1.value) == want
    end

    test "Angles: the same bits" do
      seed(22)
      beads = for _ <- 1..30, do: bead(vec(-3.0, 3.0), vec(-0.5, 0.5), uniform(0.5, 2.0))
      angles = for i <- 0..27, do: %{a: i, b: i + 1, c: i + 2}
      angles = angles ++ [%{a: 29, b: 0, c: 15}]
      agree(Angles, %{beads: beads, angles: angles}, steps: 10, dt: 0.01, params: %{k: 0.7})
    end

    test "Chain across the periodic boundary, every rule, within 1e-12" do
      edge = 8.0
      # a chain along x that crosses the x edge (and, further on, the y edge)
      line =
        for i <- 0..11,
            do: {:math.fmod(6.0 + i * 0.97, edge), :math.fmod(7.0 + i * 0.1, edge), 4.0}

      {beads, bonds} = chains(200, 10, 6, edge, 23, 0.3)
      start = length(beads)
      extra = Enum.map(line, &%{position: &1, velocity: {0.1, 0.0, 0.0}, force: {0.0, 0.0, 0.0}})
      extra_bonds = for i <- 0..10, do: %{a: start + i, b: start + i + 1}
      state = %{beads: beads ++ extra, bonds: bonds ++ extra_bonds, box: {edge, edge, edge}}
      {native, _, _} = agree(Chain, state, [steps: 20, dt: 0.002], false)
      # the chain crossed the edge: its beads lie on both sides of the box
      xs = native.beads |> Enum.drop(start) |> Enum.map(&elem(&1.position, 0))
      assert Enum.any?(xs, &(&1 < 1.0)) and Enum.any?(xs, &(&1 > 7.0))
    end

    test "f32 native agrees with f64 within a loose tolerance" do
      state = spring_chain(40, 24)
      run = fn opts -> Springs |> World.new(state, opts) |> World.step(steps: 20, dt: 0.005) end
      f32 = run.(backend: :native, precision: :f32) |> World.to_state()
      f64 = run.(backend: :native) |> World.to_state()
      elixir = run.(backend: :interpreted) |> World.to_state()
      assert_agree(f32, f64, 1.0e-4)
      assert_agree(f32, elixir, 1.0e-4)
    end

    test "sweep counts: bonded_kernel (or bonded_interpreter without kernels) natively, bonded_elixir in Elixir" do
      state = spring_chain(10, 25)

      for {kernels, path} <- [{true, :bonded_kernel}, {false, :bonded_interpreter}] do
        native = Springs |> World.new(state, kernels: kernels, backend: :native)
        native = World.step(native, steps: 7, dt: 0.01)
        assert Map.fetch!(World.info(native).sweeps, path) == 7
        other = if path == :bonded_kernel, do: :bonded_interpreter, else: :bonded_kernel
        assert Map.fetch!(World.info(native).sweeps, other) == 0
      end

      elixir =
        Springs |> World.new(state, backend: :interpreted) |> World.step(steps: 7, dt: 0.01)

      assert World.info(elixir).sweeps.bonded_elixir == 7
      assert World.info(elixir).sweeps.agent_elixir == 7
    end
  end

  describe "removal" do
    test "a removed bead takes its springs with it, on both backends alike" do
      # beads 2 and 5 expire in the first step, bead 7 in the third
      lives = %{2 => 0.5, 5 => 0.5, 7 => 2.5}

      beads =
        for i <- 0..9,
            do: %{
              position: {i * 1.0, 0.0, 0.0},
              velocity: {0.0, 0.0, 0.0},
              life: Map.get(lives, i, 10.0),
              tag: i
            }

      springs = for i <- 0..8, do: %{a: i, b: i + 1, tag: 100 + i}
      springs = springs ++ [%{a: 0, b: 9, tag: 109}, %{a: 3, b: 5, tag: 110}]
      state = %{beads: beads, springs: springs}
      opts = [dt: 0.1, params: %{k: 1.0}]

      one = fn world_opts ->
        Expiring |> World.new(state, world_opts) |> World.step([steps: 1] ++ opts)
      end

      worlds =
        for o <- [[backend: :native], [backend: :native, kernels: false], [backend: :interpreted]],
            do: one.(o)

      [native | _] = worlds
      for w <- worlds, do: assert_identical(World.to_state(w), World.to_state(native))
      for w <- worlds, do: assert(World.counts(w) == %{beads: 8, springs: 6})

      after_one = World.to_state(native)
      assert Enum.map(after_one.beads, & &1.tag) == [0, 1, 3, 4, 6, 7, 8, 9]
      # a surviving spring keeps the identities of its beads
      assert Enum.map(after_one.springs, &{&1.tag, &1.a, &1.b}) ==
               [{100, 0, 1}, {103, 3, 4}, {106, 6, 7}, {107, 7, 8}, {108, 8, 9}, {109, 0, 9}]

      # the springs left still pull: beads 0 and 1 moved towards each other
      [b0, b1 | _] = after_one.beads
      assert elem(b0.velocity, 0) > 0.0 and elem(b1.velocity, 0) < 0.0

      three =
        for o <- [[backend: :native], [backend: :interpreted]] do
          w = Expiring |> World.new(state, o) |> World.step([steps: 3] ++ opts)
          assert World.counts(w) == %{beads: 7, springs: 4}
          World.to_state(w)
        end

      assert_identical(hd(three), List.last(three))
      assert Enum.map(hd(three).springs, & &1.tag) == [100, 103, 108, 109]
    end
  end
end

defmodule BrokenRecord.Zero.BondsConservationTest do
  # Not async: compiling a system with a violated law writes a warning to the global stderr,
  # which capture_io(:stderr) in concurrently running tests would pick up.
  use ExUnit.Case, async: false

  import ExUnit.CaptureIO
  import BrokenRecord.Zero.TestHelpers, only: [compile_system: 2]

  @moduletag :native

  test "a spring that kicks one bead only is violated, naming the rule" do
    body = """
    agents do
      defagent Bead do
        field :position, :vec3
        field :velocity, :vec3
        field :mass, :float, default: 1.0
        conserves [:momentum]
      end

      defagent Spring do
        field :a, {:ref, Bead}
        field :b, {:ref, Bead}
      end
    end

    rules do
      interaction pull(s: Spring) do
        d = s.b.position - s.a.position
        s.a.velocity = s.a.velocity + d * dt
      end

      interaction both(s: Spring) do
        d = s.b.position - s.a.position
        s.a.velocity = s.a.velocity + d * (dt / s.a.mass)
        s.b.velocity = s.b.velocity - d * (dt / s.b.mass)
      end
    end
    """

    stderr =
      capture_io(:stderr, fn -> send(self(), {:sim, compile_system(body, "one_sided.exs")}) end)

    assert_received {:sim, sim}
    assert {:violated, _residual} = sim.__system__().conservation.pull.momentum
    assert sim.__system__().conservation.both.momentum == :proven
    assert stderr =~ "pull"
  end
end
