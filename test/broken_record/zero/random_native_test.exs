defmodule BrokenRecord.Zero.RandomNativeTest do
  # UNIFORM and NORMAL on the native engine (docs/program.md, "Random numbers"): the generated
  # kernels and the interpreter draw exactly what BrokenRecord.Zero.Philox computes from the
  # seed, the rule, the step and the agents' identities, on every path a sweep can take; the
  # world's step counter and world_new/7's arguments.
  use ExUnit.Case, async: true

  import Bitwise

  alias BrokenRecord.Zero.{KernelBuilder, NIF, Philox, Program}
  alias BrokenRecord.Zero.Program.Rule

  @moduletag :native

  @seed 0x9E3779B9
  # Two steps from here cross 2^32: the counter's upper word changes during the run.
  @start (1 <<< 32) - 1
  @cut 0.5

  # Types P, Q and R: pos (lanes 0..2), u (3), n (4).
  #   rule 0 (per-agent P): u = uniform (site 0), n = normal (site 1)
  #   rule 1 (pair-same P, cutoff): both agents' u and n += the pair's uniform (site 0) and
  #     normal (site 1) when within the cutoff
  #   rule 2 (pair-cross P-Q, cutoff): the same, sites 2 and 5
  #   rule 3 (pair-same R, cutoff): both agents' u += uniform (site 3) when within the cutoff
  #   rule 4 (per-agent Q): u = uniform / 0, which is not finite
  defp program do
    %Program{
      types: [5, 5, 5],
      params: [:dt],
      rules: [
        %Rule{
          name: :own,
          kind: :per_agent,
          type_a: 0,
          instrs:
            [{:uniform, 0, 0, 0, 0}, {:store, 0, 0, 3, 0}, {:normal, 1, 1, 0, 0}] ++
              [{:store, 0, 0, 4, 1}],
          n_regs: 2
        },
        pair_rule(:dimer, :pair_same, 0, 0, [{3, :uniform, 0}, {4, :normal, 1}]),
        pair_rule(:cross, :pair_cross, 0, 1, [{3, :uniform, 2}, {4, :normal, 5}]),
        pair_rule(:swarm, :pair_same, 2, 2, [{3, :uniform, 3}]),
        %Rule{
          name: :broken,
          kind: :per_agent,
          type_a: 1,
          consts: [0.0],
          instrs:
            [{:uniform, 0, 0, 0, 0}, {:const, 1, 0, 0, 0}, {:div, 2, 0, 1, 0}] ++
              [{:store, 0, 0, 3, 2}],
          n_regs: 3
        }
      ]
    }
  end

  # A pair rule that, within the cutoff, adds each draw `{lane, op, site}` to that lane of both
  # agents (an ACC of select(close, draw, 0): beyond the cutoff it adds zero).
  defp pair_rule(name, kind, type_a, type_b, draws) do
    # r0..r2 slot-0 x, r3..r5 slot-1 x - ..., then the squared distance and the guard
    loads = for s <- 0..1, d <- 0..2, do: {:load, 3 * s + d, s, d, 0}
    diffs = for d <- 0..2, do: {:sub, 6 + d, d, 3 + d, 0}
    squares = for d <- 0..2, do: {:mul, 9 + d, 6 + d, 6 + d, 0}

    guard = [
      {:add, 12, 9, 10, 0},
      {:add, 13, 12, 11, 0},
      {:const, 14, 0, 0, 0},
      {:mul, 15, 14, 14, 0},
      {:lt, 16, 13, 15, 0},
      {:const, 17, 1, 0, 0}
    ]

    {body, n} =
      Enum.reduce(draws, {[], 18}, fn {lane, op, site}, {acc, r} ->
        instrs = [
          {op, r, site, 0, 0},
          {:select, r + 1, 16, r, 17},
          {:acc, 0, 0, lane, r + 1},
          {:acc, 0, 1, lane, r + 1}
        ]

        {acc ++ instrs, r + 2}
      end)

    %Rule{
      name: name,
      kind: kind,
      type_a: type_a,
      type_b: type_b,
      consts: [@cut, 0.0],
      instrs: loads ++ diffs ++ squares ++ guard ++ body,
      n_regs: n,
      cutoff: %{lane_a: 0, lane_b: 0, reg: 14}
    }
  end

  defp layout do
    fields = [{:pos, :vec3, nil, false}, {:u, :float, 0.0, false}, {:n, :float, 0.0, false}]
    [{:ps, "P", fields, []}, {:qs, "Q", fields, []}, {:rs, "R", fields, []}]
  end

  # `dimers` pairs of P agents 0.2 apart (along x), each P with one Q 0.35 from it on the
  # outside of its dimer (0.55 from the other P), dimers 3 apart; clusters of 24 R agents
  # within 0.3 of each other, clusters 3 apart. All in a shuffled order. Returns the state and
  # the partners: P -> P, P -> Q and the R clusters.
  defp scene(dimers, clusters) do
    :rand.seed(:exsss, {dimers, clusters, 7})
    n = 2 * dimers
    ps = Enum.shuffle(0..(n - 1))
    qs = Enum.shuffle(0..(n - 1))
    centre = fn m -> {3.0 * rem(m, 5), 3.0 * rem(div(m, 5), 5), 3.0 * div(m, 25)} end
    shift = fn {x, y, z}, dx -> {x + dx, y, z} end

    placed =
      for m <- 0..(dimers - 1), {side, k} <- [{-1, 0}, {1, 1}] do
        c = centre.(m)

        {Enum.at(ps, 2 * m + k), Enum.at(qs, 2 * m + k), shift.(c, side * 0.1),
         shift.(c, side * 0.45), Enum.at(ps, 2 * m + 1 - k)}
      end

    p_pos = Map.new(placed, fn {p, _, pos, _, _} -> {p, pos} end)
    q_pos = Map.new(placed, fn {_, q, _, pos, _} -> {q, pos} end)
    p_partner = Map.new(placed, fn {p, _, _, _, other} -> {p, other} end)
    p_q = Map.new(placed, fn {p, q, _, _, _} -> {p, q} end)
    q_p = Map.new(placed, fn {p, q, _, _, _} -> {q, p} end)

    rn = 24 * clusters
    rs = Enum.shuffle(0..(rn - 1))

    r_placed =
      for m <- 0..(clusters - 1), k <- 0..23 do
        {x, y, z} = centre.(m)
        off = fn -> 0.1 * (:rand.uniform() - 0.5) end
        {Enum.at(rs, 24 * m + k), {x + off.() + 40.0, y + off.(), z + off.()}, m}
      end

    r_pos = Map.new(r_placed, fn {r, pos, _} -> {r, pos} end)
    cluster = Map.new(r_placed, fn {r, _, m} -> {r, m} end)

    agent = fn pos -> %{pos: pos, u: 0.0, n: 0.0} end

    state = %{
      ps: for(i <- 0..(n - 1), do: agent.(p_pos[i])),
      qs: for(i <- 0..(n - 1), do: agent.(q_pos[i])),
      rs: for(i <- 0..(rn - 1)//1, do: agent.(r_pos[i]))
    }

    members = Enum.group_by(0..(rn - 1)//1, &cluster[&1])

    %{
      state: state,
      n: n,
      rn: rn,
      p_partner: p_partner,
      p_q: p_q,
      q_p: q_p,
      members: members,
      cluster: cluster
    }
  end

  # The value of a draw (docs/program.md): UNIFORM, or NORMAL, of rule `rule` at call site
  # `site` in step `step`, counter words (c0, c1); rounded to f32 in an f32 world.
  defp draw(op, precision, rule, site, step, c0, c1) do
    {w0, w1, w2, w3} =
      Philox.philox4x32_10(
        {c0, c1, step &&& 0xFFFFFFFF, step >>> 32},
        {@seed, rule <<< 16 ||| site}
      )

    case {op, precision} do
      {:uniform, :f64} -> Philox.uniform_f64(w0, w1)
      {:normal, :f64} -> Philox.normal_f64(Philox.uniform_f64(w0, w1), Philox.uniform_f64(w2, w3))
      {:uniform, :f32} -> f32((2 * (w0 >>> 9) + 1) * 2.0 ** -24)
      {:normal, :f32} -> f32(Philox.normal_f64(f32_uniform(w0), f32_uniform(w1)))
    end
  end

  defp f32_uniform(x), do: (2 * (x >>> 9) + 1) * 2.0 ** -24

  defp f32(x) do
    <<y::float-32>> = <<x::float-32>>
    y
  end

  # x + y in the world's precision.
  defp add(x, y, :f64), do: x + y
  defp add(x, y, :f32), do: f32(x + y)

  defp pair_words(a, b, :same), do: {min(a, b), max(a, b)}
  defp pair_words(a, b, :cross), do: {a, b}

  # Lanes u and n of every agent of `type`, in the caller's order.
  defp lanes(world, type, n, precision) do
    size = bits(precision)
    bin = NIF.world_column(world, type, 3, 2, false)
    values = for <<u::float-native-size(size), v::float-native-size(size) <- bin>>, do: {u, v}
    assert length(values) == n
    values
  end

  defp bits(:f64), do: 64
  defp bits(:f32), do: 32

  # u exactly; n exactly in f64 (libm on both sides), within a few f32 ulps in f32 (the
  # interpreter's vectorised logf and cosf), `terms` draws summed.
  defp assert_lanes(got, want, precision, terms, what) do
    tol = if precision == :f64, do: 0.0, else: terms * 8 * 8.6 * 1.2e-7

    for {{{u, n}, {eu, en}}, i} <- Enum.with_index(Enum.zip(got, want)) do
      assert u == eu, "#{what}: agent #{i}: u #{u} != #{eu}"
      assert abs(n - en) <= tol, "#{what}: agent #{i}: n #{n} != #{en}"
    end
  end

  defp new_world(prog, state, precision, seed \\ @seed, start \\ @start),
    do: NIF.world_new(prog, layout(), state, precision, nil, seed, start)

  setup_all do
    dir = Path.join(System.tmp_dir!(), "brz_random_test_#{System.unique_integer([:positive])}")
    File.mkdir_p!(dir)
    File.chmod!(dir, 0o700)
    on_exit(fn -> File.rm_rf(dir) end)
    program = program()
    binary = Program.encode(program)

    {:ok, %{path: path, hash: hash, sha256: sha256}} =
      KernelBuilder.build(program, binary, dir: dir)

    %{
      kernels: NIF.program_new(binary, {path, hash, sha256}),
      interpreter: NIF.program_new(binary)
    }
  end

  for dimers <- [5, 64], precision <- [:f64, :f32], engine <- [:kernels, :interpreter] do
    @tag dimers: dimers, precision: precision, engine: engine
    test "#{engine}, #{precision}, #{2 * dimers} agents: every draw is the definition's", ctx do
      %{dimers: dimers, precision: precision, engine: engine} = ctx
      prog = ctx[engine]
      if engine == :kernels, do: assert(NIF.program_info(prog).kernel_status == :loaded)
      s = scene(dimers, if(dimers > 10, do: 16, else: 2))
      world = new_world(prog, s.state, precision)
      assert %{seed: @seed, step: @start} = NIF.world_info(world)

      # Pair rules first: the neighbour search reorders P's and R's rows by cell, and the
      # per-agent rule after them must still draw by identity.
      assert NIF.native_run_steps(world, [0.01], 2, [1, 2, 3]) == :ok
      assert NIF.world_info(world).step == @start + 2
      steps = [@start, @start + 1]

      summed = fn precision, parts ->
        for t <- steps, {op, rule, site, {c0, c1}} <- parts, reduce: 0.0 do
          sum -> add(sum, draw(op, precision, rule, site, t, c0, c1), precision)
        end
      end

      want_p =
        for i <- 0..(s.n - 1) do
          same = pair_words(i, s.p_partner[i], :same)
          cross = pair_words(i, s.p_q[i], :cross)
          u = summed.(precision, [{:uniform, 1, 0, same}, {:uniform, 2, 2, cross}])
          n = summed.(precision, [{:normal, 1, 1, same}, {:normal, 2, 5, cross}])
          {u, n}
        end

      want_q =
        for j <- 0..(s.n - 1) do
          cross = pair_words(s.q_p[j], j, :cross)

          {summed.(precision, [{:uniform, 2, 2, cross}]),
           summed.(precision, [{:normal, 2, 5, cross}])}
        end

      assert_lanes(lanes(world, 0, s.n, precision), want_p, precision, 4, "P after the pairs")
      assert_lanes(lanes(world, 1, s.n, precision), want_q, precision, 2, "Q after the pairs")

      # R: sums over the whole cluster, in an order that depends on the sweep.
      for {{u, _}, i} <- Enum.with_index(lanes(world, 2, s.rn, precision)) do
        others = Enum.reject(s.members[s.cluster[i]], &(&1 == i))

        want =
          Enum.sum(
            for t <- steps, j <- others do
              {c0, c1} = pair_words(i, j, :same)
              draw(:uniform, precision, 3, 3, t, c0, c1)
            end
          )

        assert_in_delta u, want, if(precision == :f64, do: 1.0e-12, else: 2.0e-4)
      end

      assert NIF.native_run_steps(world, [0.01], 1, [0]) == :ok

      want_own =
        for i <- 0..(s.n - 1) do
          {draw(:uniform, precision, 0, 0, @start + 2, i, 0),
           draw(:normal, precision, 0, 1, @start + 2, i, 0)}
        end

      assert_lanes(lanes(world, 0, s.n, precision), want_own, precision, 1, "P after rule 0")

      %{sweeps: sweeps, kernels: kernel_rules} = NIF.world_info(world)
      ran = for {path, k} <- sweeps, k > 0, into: MapSet.new(), do: path

      expected =
        case {engine, dimers > 10} do
          {:kernels, true} ->
            [:agent_kernel, :list_block_kernel, :grid_block_kernel, :list_kernel]

          {:kernels, false} ->
            [:agent_kernel, :all_pairs_kernel]

          {:interpreter, true} ->
            [:agent_interpreter, :list_interpreter, :grid_interpreter]

          {:interpreter, false} ->
            [:agent_interpreter, :all_pairs_interpreter]
        end

      assert ran == MapSet.new(expected)
      if engine == :kernels, do: assert(kernel_rules == [0, 1, 2, 3, 4])
    end
  end

  describe "the step counter" do
    test "advances with the steps run; a NumericalError leaves it as it was", ctx do
      s = scene(3, 1)
      world = new_world(ctx.kernels, s.state, :f64, 1, 10)
      assert NIF.native_run_steps(world, [0.01], 10, [0]) == :ok
      assert NIF.native_run_steps(world, [0.01], 10, [0]) == :ok
      assert %{step: 30, seed: 1} = NIF.world_info(world)
      twenty = new_world(ctx.kernels, s.state, :f64, 1, 10)
      assert NIF.native_run_steps(twenty, [0.01], 20, [0]) == :ok
      assert NIF.world_column(world, 0, 0, 5, false) == NIF.world_column(twenty, 0, 0, 5, false)

      assert_raise BrokenRecord.Zero.NumericalError, fn ->
        NIF.native_run_steps(world, [0.01], 3, [0, 4])
      end

      assert NIF.world_info(world).step == 30
      assert NIF.native_run_steps(world, [0.01], 0, [0]) == :ok
      assert NIF.world_info(world).step == 30
    end

    test "wraps around at 2^64", ctx do
      world = new_world(ctx.interpreter, scene(1, 1).state, :f32, 0, 0xFFFFFFFFFFFFFFFF)
      assert NIF.native_run_steps(world, [0.01], 3, [0]) == :ok
      assert NIF.world_info(world).step == 2
    end
  end

  test "the generated source of rules that draw is -Wall -Wextra clean" do
    dir = Path.join(System.tmp_dir!(), "brz_random_src_#{System.unique_integer([:positive])}")
    File.mkdir_p!(dir)
    on_exit(fn -> File.rm_rf(dir) end)
    program = program()
    file = Path.join(dir, "k.cpp")
    File.write!(file, BrokenRecord.Zero.Codegen.Cpp.source(program, Program.encode(program), "r"))
    include = Path.expand("../../../include", __DIR__)
    args = KernelBuilder.flags() ++ ["-Werror", "-I", include, file, "-o", file <> ".so"]
    {out, status} = System.cmd("c++", args, stderr_to_stdout: true)
    assert status == 0, out
  end

  describe "world_new/7" do
    test "takes a seed in 0..2^32 - 1 and a start step in 0..2^64 - 1", ctx do
      state = scene(1, 1).state

      for {seed, start} <- [{0, 0}, {0xFFFFFFFF, 0xFFFFFFFFFFFFFFFF}, {12, 1 <<< 40}] do
        assert %{seed: ^seed, step: ^start} =
                 NIF.world_info(new_world(ctx.kernels, state, :f64, seed, start))
      end

      for seed <- [-1, 1 <<< 32, 1.0, :seed, nil, "1"] do
        assert_raise ArgumentError, ~r/:seed/, fn ->
          new_world(ctx.kernels, state, :f64, seed, 0)
        end
      end

      for start <- [-1, 1 <<< 64, 2.0, :step, nil] do
        assert_raise ArgumentError, ~r/:start_step/, fn ->
          new_world(ctx.kernels, state, :f64, 0, start)
        end
      end
    end
  end
end
