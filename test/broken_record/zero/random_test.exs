defmodule BrokenRecord.Zero.RandomTest do
  use ExUnit.Case, async: true

  import BrokenRecord.Zero.TestHelpers
  import Bitwise
  import ExUnit.CaptureIO
  import BrokenRecord.Zero.RandomSystems, only: [draws_state: 2, dpd_state: 3]

  alias BrokenRecord.Zero.{NIF, Random, RandomProbe, World}
  alias BrokenRecord.Zero.Fixtures.Langevin
  alias BrokenRecord.Zero.RandomSystems.{Brownian, DPD, Draws}

  @backends [:native, :interpreted]

  # The draws of two `Draws` worlds to the bit, the sums of the pair rules within `tol`.
  defp assert_same_draws(a, b, decode, tol) do
    for field <- [:u, :u2, :n] do
      assert World.column(a, :dots, field) == World.column(b, :dots, field), "#{field}"
    end

    for {collection, field} <- [dots: :s, dots: :t, posts: :c] do
      Enum.zip_with(
        decode.(World.column(a, collection, field)),
        decode.(World.column(b, collection, field)),
        &assert_close(&1, &2, tol)
      )
    end
  end

  defp rule_index(system, name),
    do: Enum.find(system.__system__().rules, &(&1.name == name)).index

  defp sites(system, rule) do
    system.__system__().program.rules
    |> Enum.at(rule_index(system, rule))
    |> Map.fetch!(:instrs)
    |> Enum.filter(&(elem(&1, 0) in [:uniform, :normal]))
    |> Enum.map(fn {op, _, site, _, _} -> {op, site} end)
  end

  describe "the DSL" do
    test "call sites are numbered per rule in source order" do
      assert sites(Draws, :record) == [uniform: 0, normal: 1, uniform: 2]
      assert sites(Draws, :pair_sum) == [uniform: 0, normal: 1]

      sim =
        compile_system("""
        agents do
          defagent P do
            field :x, :float
          end
        end

        rules do
          interaction branches(p: P) do
            if uniform() < 0.5 do
              p.x = :rand.normal()
            else
              p.x = :rand.uniform() + normal()
            end
          end
        end
        """)

      instrs = hd(sim.__system__().program.rules).instrs
      ops = for {op, _, site, _, _} <- instrs, op in [:uniform, :normal], do: {op, site}
      # the condition first, then the branches in order, whichever runs
      assert Enum.sort_by(ops, &elem(&1, 1)) == [uniform: 0, normal: 1, uniform: 2, normal: 3]
    end

    test "bad uses are compile errors that name the line" do
      body = fn rule ->
        """
        agents do
          defagent P do
            field :position, :vec3
            field :x, :float
          end
        end

        #{rule}
        """
      end

      assert_raise CompileError, ~r/nofile:\d+: uniform\(\) takes no arguments, got 1/, fn ->
        compile_system(body.("rules do\n interaction r(p: P) do\n p.x = uniform(2)\n end\n end"))
      end

      assert_raise CompileError,
                   ~r/normal\(\) in potential pe: a potential cannot be random/,
                   fn ->
                     compile_system(body.("potential pe(a: P, b: P) do\n  a.x * normal()\nend"))
                   end

      assert_raise CompileError, ~r/a constant must be a number/, fn ->
        compile_system(body.("K = uniform()"))
      end
    end

    test "the prover knows a pair's draw is the same for both agents" do
      assert DPD.__system__().conservation.dpd == %{momentum: :proven}

      {sim, _warning} =
        with_io(:stderr, fn ->
          compile_system("""
            agents do
              defagent B do
              field :position, :vec3
              field :velocity, :vec3
              field :mass, :float
              conserves [:momentum]
            end
          end

          rules do
            interaction kick(a: B, b: B) do
              n = normalize(a.position - b.position)
              a.velocity = a.velocity + n * (normal() / a.mass)
              b.velocity = b.velocity - n * (normal() / b.mass)
            end
          end
          """)
        end)

      # two call sites are two values: momentum is not conserved
      assert {:violated, residual} = sim.__system__().conservation.kick.momentum
      assert residual =~ "normal()#1"
      assert residual =~ "normal()#2"
    end
  end

  describe "values" do
    for backend <- @backends do
      @tag backend
      test "every kind of rule draws the defined value (#{backend})" do
        backend = unquote(backend)
        seed = 1_234_567
        world = World.new(Draws, draws_state(7, 3), backend: backend, seed: seed, start_step: 41)
        world = World.step(world, steps: 1)
        out = World.to_state(world)
        source = {seed, 41}
        record = rule_index(Draws, :record)
        pair = rule_index(Draws, :pair_sum)
        cross = rule_index(Draws, :cross_sum)

        for {dot, i} <- Enum.with_index(out.dots) do
          assert identical?(dot.u, Random.uniform(source, record, 0, i, 0))
          assert identical?(dot.u2, Random.uniform(source, record, 2, i, 0))
          assert_close(dot.n, Random.normal(source, record, 1, i, 0), 1.0e-14)

          pairs = for j <- 0..6, j != i, do: Random.ids(:pair_same, i, j)
          uniforms = for {a, b} <- pairs, do: Random.uniform(source, pair, 0, a, b)
          normals = for {a, b} <- pairs, do: Random.normal(source, pair, 1, a, b)
          assert_close(dot.s, Enum.sum(uniforms), 1.0e-14)
          assert_close(dot.t, Enum.sum(normals), 1.0e-13)
        end

        for {post, j} <- Enum.with_index(out.posts) do
          expected = Enum.sum(for i <- 0..6, do: Random.uniform(source, cross, 0, i, j))
          assert_close(post.c, expected, 1.0e-14)
        end
      end

      @tag backend
      test "the seed and the step index key the draws; 10 + 10 steps == 20 (#{backend})" do
        backend = unquote(backend)
        new = fn opts -> World.new(Draws, draws_state(5, 2), [backend: backend] ++ opts) end
        u = fn world -> World.to_state(world).dots |> Enum.map(& &1.u) end

        default = new.([]) |> World.step(steps: 1)
        assert World.info(default).seed == 0
        assert u.(default) == u.(new.(seed: 0) |> World.step(steps: 1))
        refute u.(default) == u.(new.(seed: 1) |> World.step(steps: 1))

        twenty = new.(seed: 9) |> World.step(steps: 20)
        ten = new.(seed: 9) |> World.step(steps: 10)
        assert World.info(ten).step == 10
        # native worlds step in place: the state after 10 steps is taken now
        saved = World.to_state(ten)
        ten_ten = World.step(ten, steps: 10)
        assert World.info(ten_ten).step == 20
        assert_identical(World.to_state(ten_ten), World.to_state(twenty))

        # a restart from the saved state with start_step draws what the continuous run drew
        restarted =
          Draws
          |> World.new(saved, backend: backend, seed: 9, start_step: 10)
          |> World.step(steps: 10)

        assert_identical(World.to_state(restarted), World.to_state(twenty))
        refute u.(new.(seed: 9, start_step: 10) |> World.step(steps: 1)) == u.(default)
      end

      @tag backend
      test "a run that raises counts no step (#{backend})" do
        backend = unquote(backend)

        sim =
          compile_system("""
          agents do
            defagent P do
              field :x, :float
            end
          end

          rules do
            interaction blow(p: P, k: float) do
              p.x = p.x + uniform() + 1.0 / k
            end
          end
          """)

        world = World.new(sim, %{ps: [%{x: 0.0}]}, backend: backend, start_step: 5)
        world = World.step(world, steps: 2, params: %{k: 1.0})
        assert World.info(world).step == 7

        assert_raise BrokenRecord.Zero.NumericalError, fn ->
          World.step(world, steps: 3, params: %{k: 0.0})
        end

        assert World.info(world).step == 7
        again = World.step(world, steps: 1, params: %{k: 1.0})
        assert World.info(again).step == 8
      end

      @tag backend
      test "the largest seed and step index are accepted; the counter is 64 bits (#{backend})" do
        world =
          World.new(Draws, draws_state(2, 1),
            backend: unquote(backend),
            seed: (1 <<< 32) - 1,
            start_step: (1 <<< 64) - 2
          )

        assert World.info(World.step(world, steps: 1)).step == (1 <<< 64) - 1
      end
    end

    test "bad seeds and start steps are ArgumentErrors naming the option" do
      for seed <- [-1, 1 <<< 32, 1.5, :a, nil] do
        assert_raise ArgumentError,
                     ~r/invalid option seed: .*expected an integer in 0..4294967295/,
                     fn ->
                       World.new(Draws, draws_state(1, 1), seed: seed)
                     end

        assert_raise ArgumentError, ~r/invalid option seed/, fn ->
          Draws.simulate(draws_state(1, 1), steps: 1, seed: seed)
        end
      end

      for step <- [-1, 1 <<< 64, 2.0, "3"] do
        assert_raise ArgumentError,
                     ~r/invalid option start_step: .*0..18446744073709551615/,
                     fn ->
                       World.new(Draws, draws_state(1, 1), start_step: step)
                     end
      end
    end

    test "simulate/2 takes seed and start_step" do
      state = draws_state(4, 1)
      a = Draws.simulate(state, steps: 3, seed: 5, start_step: 100, backend: :interpreted)
      world = World.new(Draws, state, backend: :interpreted, seed: 5, start_step: 100)
      assert_identical(a, world |> World.step(steps: 3) |> World.to_state())
    end
  end

  describe "the native engine" do
    @describetag :native

    test "draws the pure-Elixir values to the bit in f64, every rule kind" do
      state = draws_state(40, 6)

      for kernels <- [true, false], start_step <- [0, (1 <<< 32) + 3] do
        opts = [seed: 77, start_step: start_step]
        native = World.new(Draws, state, [kernels: kernels] ++ opts) |> World.step(steps: 2)
        elixir = World.new(Draws, state, [backend: :interpreted] ++ opts) |> World.step(steps: 2)
        assert World.info(native).step == start_step + 2

        # normal() too: the engine calls libm's log, cos and sqrt in f64, as :math does
        assert_same_draws(native, elixir, &floats/1, 1.0e-13)
      end
    end

    # Each setting is read once by the engine, so each run is a new `mix run`.
    @tag timeout: 600_000
    test "the same draws for every ISA, 1 or 2 threads, with and without neighbour lists" do
      isas = Enum.drop_while(["avx512", "avx2", "sse2"], &(&1 != NIF.isa()))

      runs =
        for isa <- isas, threads <- ["1", "2"], neighbours <- ["1", "0"] do
          env = [
            {"BROKEN_RECORD_ISA", isa},
            {"OMP_NUM_THREADS", threads},
            {"BROKEN_RECORD_NEIGHBOURS", neighbours}
          ]

          {{isa, threads, neighbours}, RandomProbe.run(env)}
        end

      {_, {reference, _}} = hd(runs)

      for {{isa, _threads, neighbours} = setting, {columns, paths}} <- runs do
        # neighbour lists on: the DPD rule runs on them; off: over all pairs
        if neighbours == "1",
          do: assert(paths =~ "list_"),
          else: assert(paths =~ "all_pairs_" and not (paths =~ "list_"))

        # the draws themselves are identical everywhere; sums of them to rounding
        for name <- ["dots.u", "dots.u2", "dots.n"] do
          assert columns[name] == reference[name], "#{name} differs for #{inspect(setting)}"
        end

        for name <- ["dots.s", "dots.t", "posts.c", "beads.velocity"] do
          Enum.zip_with(
            floats(columns[name]),
            floats(reference[name]),
            &assert_close(&1, &2, 1.0e-12)
          )
        end

        # the thread count changes nothing in the draws, nor in sums over neighbour lists
        # (the all-pairs sweep adds per-thread accumulators: the same to rounding)
        {_, {one_thread, _}} =
          Enum.find(runs, fn {{i, t, n}, _} -> {i, t, n} == {isa, "1", neighbours} end)

        exact =
          ["dots.u", "dots.u2", "dots.n"] ++
            if(neighbours == "1", do: ["beads.velocity"], else: [])

        for name <- exact do
          assert columns[name] == one_thread[name],
                 "threads changed #{name} for #{inspect(setting)}"
        end
      end
    end

    test "f32 worlds draw f32 deviates, the same with and without generated kernels" do
      state = draws_state(33, 3)

      run = fn kernels ->
        World.new(Draws, state, precision: :f32, seed: 3, kernels: kernels)
        |> World.step(steps: 1)
      end

      native = run.(true)
      assert World.info(native).kernels != []
      record = rule_index(Draws, :record)

      for {u, i} <- Enum.with_index(floats32(World.column(native, :dots, :u))) do
        {w0, _, _, _} = Random.words({3, 0}, record, 0, i, 0)
        assert u == (w0 >>> 9 <<< 1 ||| 1) * :math.pow(2, -24)
      end

      interpreted = run.(false)
      assert World.info(interpreted).kernels == []

      # the sums of the all-pairs rule to f32 rounding: the kernel and the interpreter add in
      # different orders
      assert_same_draws(native, interpreted, &floats32/1, 1.0e-5)
    end

    test "a cutoff rule with noise on neighbour lists agrees with the pure-Elixir cells (DPD)" do
      state = dpd_state(6, 3.0, 11)
      params = %{repulsion: 25.0, gamma: 4.5, sigma: 3.0}
      native = World.new(DPD, state, seed: 4) |> World.step(steps: 4, dt: 0.01, params: params)
      elixir = World.new(DPD, state, seed: 4, backend: :interpreted)
      elixir = World.step(elixir, steps: 4, dt: 0.01, params: params)

      sweeps = World.info(native).sweeps
      assert sweeps.list_interpreter + sweeps.list_block_kernel + sweeps.list_kernel == 4

      assert World.info(elixir).sweeps.cells_elixir == 4
      assert_agree(World.to_state(native), World.to_state(elixir), 1.0e-9)
    end
  end

  describe "physics" do
    @describetag :native

    test "a Langevin thermostat brings 10,000 free particles to <m v^2> = 3 kT within 2%" do
      n = 10_000
      kt = 1.5

      particles =
        for i <- 1..n,
            do: %{position: {0.0, 0.0, 0.0}, velocity: {0.0, 0.0, 0.0}, mass: 1.0 + rem(i, 3)}

      world = World.new(Langevin, %{particles: particles}, seed: 8)
      params = %{gamma: 2.0, kt: kt}
      run = [dt: 0.01, rules: [:baoab], params: params]
      # relaxation time 1/gamma = 0.5: 600 steps are 12 of them
      world = World.step(world, [steps: 600] ++ run)

      {samples, _} =
        Enum.map_reduce(1..20, world, fn _, world ->
          world = World.step(world, [steps: 10] ++ run)
          {mean_mv2(world), world}
        end)

      mv2 = Enum.sum(samples) / length(samples)
      assert abs(mv2 / (3 * kt) - 1) < 0.02, "<m v^2> = #{mv2}, 3 kT = #{3 * kt}"
    end

    test "Brownian motion gives a mean-square displacement of 6 D t within 5% (unwrapped, periodic)" do
      n = 10_000
      side = 10.0
      :rand.seed(:exsss, {1, 2, 3})

      particles =
        for _ <- 1..n,
            do: %{
              position: {side * :rand.uniform(), side * :rand.uniform(), side * :rand.uniform()}
            }

      world = World.new(Brownian, %{particles: particles, box: {side, side, side}}, seed: 21)
      start = unwrapped(world)
      d = 0.5
      steps = 400
      dt = 0.01
      world = World.step(world, steps: steps, dt: dt, params: %{diffusion: d})
      msd = Enum.sum(Enum.zip_with(unwrapped(world), start, &square_distance/2)) / n
      t = steps * dt
      assert abs(msd / (6 * d * t) - 1) < 0.05, "MSD #{msd}, 6 D t = #{6 * d * t}"
      # the particles really crossed the box: wrapped coordinates stay inside
      assert Enum.all?(
               floats(World.column(world, :particles, :position)),
               &(&1 >= 0.0 and &1 < side)
             )
    end

    test "a DPD fluid conserves momentum to rounding" do
      state = dpd_state(8, 3.0, 5)
      params = %{repulsion: 25.0, gamma: 4.5, sigma: 3.0}
      world = World.new(DPD, state, seed: 12) |> World.step(steps: 50, dt: 0.01, params: params)
      beads = World.to_state(world).beads

      {px, py, pz} = momentum(beads)
      {x0, y0, z0} = momentum(state.beads)
      scale = Enum.sum(Enum.map(beads, &(norm(&1.velocity) * &1.mass)))
      assert abs(px - x0) < 1.0e-12 * scale
      assert abs(py - y0) < 1.0e-12 * scale
      assert abs(pz - z0) < 1.0e-12 * scale
      # and the noise did something: the beads do not move as a rigid block
      refute beads == state.beads
    end
  end

  defp mean_mv2(world) do
    velocities = floats(World.column(world, :particles, :velocity))
    masses = floats(World.column(world, :particles, :mass))

    velocities
    |> Enum.chunk_every(3)
    |> Enum.zip_with(masses, fn [x, y, z], m -> m * (x * x + y * y + z * z) end)
    |> then(&(Enum.sum(&1) / length(&1)))
  end

  defp unwrapped(world),
    do:
      world
      |> World.column(:particles, :position, unwrapped: true)
      |> floats()
      |> Enum.chunk_every(3)

  defp square_distance([a, b, c], [x, y, z]),
    do: (a - x) * (a - x) + (b - y) * (b - y) + (c - z) * (c - z)
end
