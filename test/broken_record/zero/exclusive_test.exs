defmodule BrokenRecord.Zero.ExclusiveTest do
  # Exclusive pair rules (docs/dsl.md, "Exclusive pair rules"; docs/program.md, CLAIM): the
  # option and its CompileErrors, the CLAIM the front end emits, and on both backends (which
  # must agree bit for bit): each agent in at most one applied pair, a maximal matching, the
  # draws the claim and the applied body share, cross-type rules on rows the engine has sorted,
  # periodic space, and thread-count independence.
  use ExUnit.Case, async: true

  import BrokenRecord.Zero.TestHelpers

  alias BrokenRecord.Zero.{ExclusiveProbe, ExclusiveSystems, NIF, Program, Random, World}
  alias BrokenRecord.Zero.ExclusiveSystems.{Molecules, Pasture, Torus}

  @moduletag :native

  # Runs `system` on `state` natively (kernels on and off) and in pure Elixir; asserts that all
  # three give the same bits; returns the native world and the state.
  defp agree(system, state, opts) do
    run = fn world_opts -> system |> World.new(state, world_opts) |> World.step(opts) end
    native = run.(backend: :native)
    plain = run.(backend: :native, kernels: false)
    elixir = run.(backend: :interpreted)
    assert_identical(World.to_state(native), World.to_state(elixir))
    assert_identical(World.to_state(plain), World.to_state(elixir))
    assert World.info(native).sweeps.exclusive_interpreter == Keyword.get(opts, :steps, 1)
    assert World.info(elixir).sweeps.exclusive_elixir == Keyword.get(opts, :steps, 1)
    {native, World.to_state(native)}
  end

  defp distance({ax, ay, az}, {bx, by, bz}, edge \\ nil) do
    image = fn d -> if edge, do: d - edge * Float.round(d / edge), else: d end

    :math.sqrt(
      :math.pow(image.(ax - bx), 2) + :math.pow(image.(ay - by), 2) +
        :math.pow(image.(az - bz), 2)
    )
  end

  # Each agent is in at most one applied pair, and its partner's partner is itself.
  defp assert_matching(agents, counter, partner_of) do
    by_tag = Map.new(agents, &{&1.tag, &1})

    for a <- agents do
      assert Map.fetch!(a, counter) in [0, 1]

      if Map.fetch!(a, counter) == 1 do
        assert Map.fetch!(by_tag, partner_of.(a)) |> partner_of.() == a.tag
      end
    end
  end

  describe "the front end" do
    test "the option is the IR rule's exclusive field; the program rule gets a claim register" do
      [react] = Molecules.__system__().rules
      assert react.exclusive
      [rule] = Molecules.__system__().program.rules
      assert is_integer(rule.claim) and rule.claim < rule.n_regs

      # The binary carries it as the rule's last instruction, CLAIM (80), and decodes back.
      binary = Program.encode(Molecules.__system__().program)
      assert Program.opcodes()[:claim] == 80
      assert [%{claim: claim}] = Program.decode(binary).rules
      assert claim == rule.claim
    end

    test "the claim is the OR of the conditions guarding the writes" do
      system =
        compile_system("""
        agents do
          defagent P do
            field :x, :float
            field :y, :float
          end
        end

        rules do
          interaction touch(a: P, b: P), exclusive: true do
            if a.x < b.x do
              a.y = 1.0
            else
              if a.x > 2.0 do
                b.y = 2.0
              end
            end
          end
        end
        """)

      [rule] = system.__system__().program.rules

      claims? = fn x_a, x_b ->
        BrokenRecord.Zero.Interpreter.claim(rule, {x_a, 0.0}, {x_b, 0.0}, {0.1})
      end

      # The then-branch writes; the else-branch writes only under its own condition.
      assert claims?.(1.0, 2.0)
      assert claims?.(3.0, 1.0)
      refute claims?.(1.5, 1.0)
    end

    @agents """
    agents do
      defagent P do
        field :x, :float
      end
    end
    """

    defp compile_error(rules, file) do
      source = @agents <> "\nrules do\n" <> indent(rules, 2) <> "\nend\n"
      error = assert_raise CompileError, fn -> compile_system(source, file) end
      {Exception.message(error), system_source("M", source)}
    end

    test "an unknown option, a non-boolean value and a per-agent rule are CompileErrors" do
      for {rule, expected} <- [
            {"interaction a(p: P, q: P), cutoff: 1.0 do # here", "unknown option :cutoff"},
            {"interaction a(p: P, q: P), exclusive: 1 do # here",
             "exclusive must be true or false"},
            {"interaction a(p: P), exclusive: true do # here",
             "exclusive: true needs a pair rule"}
          ] do
        {message, source} = compile_error(rule <> "\n  p.x = 1.0\nend", "excl.exs")
        assert message =~ "excl.exs:#{line_of(source, "# here")}"
        assert message =~ expected
      end
    end

    test "exclusive: false is an ordinary pair rule" do
      system =
        compile_system(
          @agents <>
            """
            rules do
              interaction a(p: P, q: P), exclusive: false do
                p.x = p.x + 1.0
              end
            end
            """
        )

      [rule] = system.__system__().program.rules
      assert rule.claim == nil
    end
  end

  describe "the engine's validation" do
    test "a CLAIM in a per-agent rule, twice in a rule or with a bad operand is rejected" do
      program = Molecules.__system__().program
      [rule] = program.rules
      bin = fn rules -> Program.encode(%{program | rules: rules}) end
      assert {:ok, _} = nif_program(bin.([rule]))

      per_agent = %Program.Rule{
        kind: :per_agent,
        type_a: 0,
        consts: [1.0],
        instrs: [{:const, 0, 0, 0, 0}],
        n_regs: 1,
        claim: 0
      }

      twice = %{rule | instrs: rule.instrs ++ [{:claim, 0, rule.claim, 0, 0}]}
      out_of_range = %{rule | claim: rule.n_regs}

      for {bad, reason} <- [
            {per_agent, "only pair rules are exclusive"},
            {twice, "second CLAIM"},
            {out_of_range, "out of range"}
          ] do
        assert {:error, message} = nif_program(bin.([bad]))
        assert message =~ "invalid program"
        assert message =~ reason
      end
    end
  end

  defp nif_program(binary) do
    {:ok, NIF.program_new(binary)}
  rescue
    e in ArgumentError -> {:error, Exception.message(e)}
  end

  describe "same type" do
    test "both backends agree; at most one pair per molecule; the matching is maximal" do
      mols = ExclusiveSystems.scattered(80, 6.0, 1)
      radius = 1.4

      {_world, state} =
        agree(Molecules, %{molecules: mols}, steps: 1, params: %{radius: radius, rate: 1.0})

      assert_matching(state.molecules, :bonds, & &1.partner)
      assert Enum.any?(state.molecules, &(&1.bonds == 1))

      free = Enum.filter(state.molecules, &(&1.bonds == 0))

      for a <- free, b <- free, a.tag < b.tag do
        assert distance(a.position, b.position) >= radius, "#{a.tag} and #{b.tag} both unclaimed"
      end
    end

    test "the claim and the applied body see the same uniform() draws" do
      mols = ExclusiveSystems.scattered(80, 6.0, 5)
      radius = 1.4
      rate = 0.5
      opts = [steps: 1, params: %{radius: radius, rate: rate}]
      {world, state} = agree(Molecules, %{molecules: mols}, opts)
      step = World.info(world).step - 1
      # react is rule 0; uniform() is its call site 0; identities are the input indices.
      draw = fn a, b ->
        Random.uniform({0, step}, 0, 0, trunc(min(a.tag, b.tag)), trunc(max(a.tag, b.tag)))
      end

      by_tag = Map.new(state.molecules, &{&1.tag, &1})

      for a <- state.molecules, a.bonds == 1 do
        b = Map.fetch!(by_tag, a.partner)
        assert distance(a.position, b.position) < radius
        assert draw.(a, b) < rate
      end

      free = Enum.filter(state.molecules, &(&1.bonds == 0))

      for a <- free, b <- free, a.tag < b.tag, distance(a.position, b.position) < radius do
        assert draw.(a, b) >= rate
      end
    end

    test "the choice follows the Philox priorities: greedy in (priority, identities) order" do
      # Three molecules in a row, all within range of each other: the pair of lowest priority wins.
      mols =
        for {x, k} <- Enum.with_index([0.0, 0.5, 1.0]),
            do: %{position: {x, 0.0, 0.0}, tag: k * 1.0}

      for seed <- 0..5 do
        run = fn backend ->
          Molecules
          |> World.new(%{molecules: mols}, backend: backend, seed: seed)
          |> World.step(steps: 1, params: %{radius: 5.0, rate: 1.0})
          |> World.to_state()
        end

        state = run.(:native)
        assert_identical(state, run.(:interpreted))

        {i, j} =
          Enum.min_by([{0, 1}, {0, 2}, {1, 2}], fn {i, j} ->
            {Random.claim_priority({seed, 0}, 0, i, j), i, j}
          end)

        assert Enum.map(state.molecules, & &1.bonds) ==
                 for(k <- 0..2, do: if(k in [i, j], do: 1, else: 0))
      end
    end

    test "several steps: the free flag keeps molecules out once bonded elsewhere" do
      mols = ExclusiveSystems.scattered(40, 5.0, 9)
      agree(Molecules, %{molecules: mols}, steps: 3, params: %{radius: 1.2, rate: 0.6})
    end
  end

  describe "cross type" do
    test "a wolf eats at most one sheep, a sheep is eaten once; maximal; sorted sheep rows" do
      state = %{
        wolves: ExclusiveSystems.scattered(40, 10.0, 2),
        sheep: ExclusiveSystems.scattered(400, 10.0, 3)
      }

      range = 1.5
      {world, out} = agree(Pasture, state, steps: 1, params: %{range: range, near: 1.0})
      # The crowd rule ran on a neighbour list, which sorts the sheep's rows by cell.
      sweeps = World.info(world).sweeps
      assert sweeps.list_block_kernel + sweeps.list_interpreter + sweeps.list_kernel == 1

      sheep = Map.new(out.sheep, &{&1.tag, &1})

      for w <- out.wolves do
        assert w.meals in [0, 1]

        if w.meals == 1 do
          s = Map.fetch!(sheep, w.prey)
          assert s.eaten_by == w.tag and s.times == 1
          assert distance(w.position, s.position) < range
        end
      end

      assert Enum.all?(out.sheep, &(&1.times in [0, 1]))
      assert Enum.count(out.sheep, &(&1.times == 1)) == Enum.count(out.wolves, &(&1.meals == 1))
      assert Enum.any?(out.wolves, &(&1.meals == 1))

      for w <- out.wolves, w.meals == 0, s <- out.sheep, s.times == 0 do
        assert distance(w.position, s.position) >= range
      end
    end
  end

  describe "periodic space" do
    test "minimum-image distances; pairs across the boundary bind; both backends agree" do
      edge = 5.0

      state = %{
        atoms: ExclusiveSystems.scattered(60, edge, 4),
        box: {{0, 0, 0}, {edge, edge, edge}}
      }

      radius = 1.0
      {_world, out} = agree(Torus, state, steps: 1, params: %{radius: radius})
      assert_matching(out.atoms, :bonds, & &1.partner)
      by_tag = Map.new(out.atoms, &{&1.tag, &1})

      across =
        for a <- out.atoms, a.bonds == 1, b = Map.fetch!(by_tag, a.partner) do
          assert distance(a.position, b.position, edge) < radius
          distance(a.position, b.position) >= radius
        end

      assert Enum.any?(across)
      free = Enum.filter(out.atoms, &(&1.bonds == 0))

      for a <- free, b <- free, a.tag < b.tag do
        assert distance(a.position, b.position, edge) >= radius
      end
    end

    test "a cutoff beyond half the box edge is still an error" do
      state = %{atoms: ExclusiveSystems.scattered(10, 2.0, 4), box: {{0, 0, 0}, {2.0, 2.0, 2.0}}}

      for backend <- [:native, :interpreted] do
        assert_raise ArgumentError, ~r/more than half the periodic box edge/, fn ->
          Torus
          |> World.new(state, backend: backend)
          |> World.step(steps: 1, params: %{radius: 1.5})
        end
      end
    end
  end

  describe "threads and ISAs" do
    @tag timeout: 300_000
    test "1 and 2 threads, and the SSE2 engine, give the same bits" do
      [{one, paths}, {two, _}, {sse2, _}] =
        for env <- [
              [{"OMP_NUM_THREADS", "1"}],
              [{"OMP_NUM_THREADS", "2"}],
              [{"OMP_NUM_THREADS", "2"}, {"BROKEN_RECORD_ISA", "sse2"}]
            ],
            do: ExclusiveProbe.run(env)

      assert paths =~ "exclusive_interpreter"
      assert map_size(one) == 4
      assert one == two
      assert one == sse2
    end
  end
end
