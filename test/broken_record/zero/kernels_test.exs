defmodule BrokenRecord.Zero.KernelsTest.Systems do
  @moduledoc false
  use BrokenRecord.Zero

  # Selects, every comparison/boolean op, min/max/abs/floor, and divisions by zero (and logs of
  # non-positive numbers) in branches that the selects discard, in every rule kind.
  defsystem Guarded do
    agents do
      defagent Dot do
        field :position, :vec3
        field :x, :float
        field :y, :float
        field :z, :float
      end

      defagent Post do
        field :x, :float
        field :w, :float
      end
    end

    rules do
      interaction pairwise(a: Dot, b: Dot, k: float) do
        d = a.x - b.x

        if d != 0 and abs(d) > 0.25 and not (abs(d) > 100) do
          a.y = a.y + k / d
          b.z = b.z + max(min(1 / d, 3.0), -2.0)
        else
          b.y = b.y - 1
          a.z = a.z + floor(a.x) * 0.5
        end
      end

      interaction across(p: Dot, q: Post) do
        d = p.x - q.x

        if d > 0.5 or d <= -1 do
          p.y = p.y + 1 / d + q.w
          q.w = q.w + log(abs(d)) * 0.01
        else
          p.z = p.z - 1
        end
      end

      interaction own(p: Dot) do
        if p.x > 0 && !(p.x == 1.5) do
          p.y = p.y * 0.5 + sqrt(p.x) + 1 / p.x
        else
          p.x = p.x * 0.5 + 0.25
        end

        p.position = p.position * 0.5
      end
    end
  end

  # Lennard-Jones-like with a guard `if r2 < 6.25` (a cutoff, so big worlds use cell lists):
  # ACCs for the forces, a STORE (not an accumulation) for the peak.
  defsystem LJCells do
    agents do
      defagent Atom do
        field :position, :vec3
        field :velocity, :vec3
        field :force, :vec3
        field :peak, :float
      end
    end

    rules do
      interaction lj(a: Atom, b: Atom) do
        d = a.position - b.position
        r2 = dot(d, d)

        if r2 < 6.25 do
          ir2 = 1 / r2
          ir6 = ir2 * ir2 * ir2
          f = ir6 * (48 * ir6 - 24) * ir2
          a.force = a.force + d * f
          b.force = b.force - d * f
          a.peak = max(a.peak, ir2)
        end
      end

      interaction move(p: Atom) do
        p.velocity = p.velocity + p.force * dt
        p.position = p.position + p.velocity * dt
        p.force = {0.0, 0.0, 0.0}
      end
    end
  end

  # The same forces with ACCs only (plus a per-pair energy ACC on both slots): the rule runs
  # through the generated neighbour-list kernel on neighbour lists.
  defsystem LJForces do
    agents do
      defagent Atom do
        field :position, :vec3
        field :velocity, :vec3
        field :force, :vec3
        field :pe, :float
      end
    end

    rules do
      interaction lj(a: Atom, b: Atom) do
        d = a.position - b.position
        r2 = dot(d, d)

        if r2 < 6.25 do
          ir2 = 1 / r2
          ir6 = ir2 * ir2 * ir2
          f = ir6 * (48 * ir6 - 24) * ir2
          e = ir6 * (2 * ir6 - 2)
          a.force = a.force + d * f
          b.force = b.force - d * f
          a.pe = a.pe + e
          b.pe = b.pe + e
        end
      end

      interaction move(p: Atom) do
        p.velocity = p.velocity + p.force * dt
        p.position = p.position + p.velocity * dt
        p.force = {0.0, 0.0, 0.0}
        p.pe = 0.0
      end
    end
  end
end

defmodule BrokenRecord.Zero.KernelsTest do
  @moduledoc """
  The fused C++ kernels generated at compile time (docs/kernels.md): they really run, and they
  agree with the engine's interpreter and with the pure-Elixir backend.
  """
  use ExUnit.Case, async: true

  @moduletag :native

  import BrokenRecord.Zero.TestHelpers

  alias BrokenRecord.Zero.{Codegen, KernelBuilder, NIF, NumericalError, World}
  alias BrokenRecord.Zero.KernelsTest.Systems.{Guarded, LJCells, LJForces}
  alias BrokenRecord.Zero.TestForms.Kitchen
  alias BrokenRecord.Zero.Fixtures.CollisionWorld
  alias BrokenRecord.Zero.Test.SweepCounts
  alias BrokenRecord.Zero.TestSystems.{Fragile, Gravity, GravityF32, Tally}

  # Runs `opts` on three worlds: native with kernels, native interpreter, pure Elixir.
  defp three(system, state, opts, world_opts \\ []) do
    run = fn extra ->
      system |> World.new(state, world_opts ++ extra) |> World.step(opts) |> World.to_state()
    end

    {run.(kernels: true), run.(kernels: false), run.(backend: :interpreted)}
  end

  defp rule_id(system, name), do: Enum.find(system.__system__().rules, &(&1.name == name)).index

  defp bodies(n, seed) do
    seed(seed)

    for i <- 1..n do
      %{
        id: i,
        position: vec(-2.0, 2.0),
        velocity: vec(-0.3, 0.3),
        mass: uniform(0.5, 2.0)
      }
    end
  end

  defp dots(n, seed) do
    seed(seed)
    # Duplicated x values make d == 0 (1/0 in the untaken branch); 1.5 and negatives hit the
    # other guards.
    xs = [0.0, 1.5, -0.5, 1.5, 0.0, 2.0, -3.0]

    for i <- 1..n do
      x = if rem(i, 3) == 0, do: Enum.at(xs, rem(i, length(xs))), else: uniform(-4.0, 4.0)
      %{position: vec(-1.0, 1.0), x: x, y: uniform(-1.0, 1.0), z: uniform(-1.0, 1.0)}
    end
  end

  defp posts(n, seed) do
    seed(seed + 1)
    for i <- 1..n, do: %{x: if(rem(i, 2) == 0, do: 0.0, else: uniform(-4.0, 4.0)), w: 0.0}
  end

  describe "kernel library" do
    test "is built at compile time and recorded in __system__/0" do
      for system <- [Gravity, GravityF32, Tally, Guarded, Kitchen] do
        assert %{path: path, hash: hash, sha256: sha256} = system.__system__().kernel
        assert File.regular?(path)
        assert Path.type(path) == :absolute
        assert hash =~ ~r/^[0-9a-f]{64}$/
        assert String.contains?(Path.basename(path), hash)
        # the content hash is the SHA-256 of the library's bytes
        assert sha256 == Base.encode16(:crypto.hash(:sha256, File.read!(path)), case: :lower)
      end
    end

    test "runs every all-pairs and per-agent rule, in both precisions" do
      state = %{bodies: bodies(10, 1)}

      for precision <- [:f64, :f32] do
        info = World.info(World.new(Gravity, state, precision: precision))
        assert info.kernel_status == :loaded
        # the ISA variant of the generated kernels is the engine's (BROKEN_RECORD_ISA caps both)
        assert info.kernel_isa == NIF.isa()
        assert info.precision == precision
        assert info.kernels == [0, 1]
      end

      info = World.info(World.new(Guarded, %{dots: dots(5, 2), posts: posts(3, 2)}))
      assert info.kernels == [0, 1, 2]
    end

    test "kernels: false runs the interpreter" do
      world = World.new(Gravity, %{bodies: bodies(4, 1)}, kernels: false)
      assert World.info(world).kernels == []
      assert World.info(world).kernel_status == :loaded

      assert_raise ArgumentError, ~r/kernels/, fn ->
        World.new(Gravity, %{bodies: []}, kernels: :maybe)
      end
    end

    test "world_set_options validates its options" do
      world = World.new(Gravity, %{bodies: bodies(3, 1)})
      assert :ok = NIF.world_set_options(world.ref, kernels: false)
      assert World.info(world).kernels == []
      assert :ok = NIF.world_set_options(world.ref, kernels: true)
      assert World.info(world).kernels == [0, 1]
      assert_raise ArgumentError, fn -> NIF.world_set_options(world.ref, kernels: 1) end
      assert_raise ArgumentError, fn -> NIF.world_set_options(world.ref, speed: true) end
      assert_raise ArgumentError, fn -> NIF.world_set_options(world.ref, :nope) end
    end

    test "a stale, foreign, missing or garbage library is ignored, never used" do
      gravity = Gravity.__system__()
      tally = Tally.__system__()

      %{path: path, hash: hash, sha256: sha256} = gravity.kernel

      statuses = [
        {path, "0" <> String.slice(hash, 1..-1), sha256},
        {tally.kernel.path, tally.kernel.hash, tally.kernel.sha256},
        {tally.kernel.path, hash, tally.kernel.sha256},
        {tally.kernel.path, tally.kernel.hash, sha256},
        {"/nonexistent/brz_kernels.so", hash, sha256},
        {garbage_library(), hash, sha256},
        {path, "", sha256},
        {path, hash, ""},
        {path, hash, String.upcase(sha256)}
      ]

      for kernel <- statuses do
        ref = NIF.program_new(gravity.program_binary, kernel)
        assert {:error, reason} = NIF.program_info(ref).kernel_status
        assert is_binary(reason) and reason != ""
      end

      ref = NIF.program_new(gravity.program_binary, {path, hash, sha256})
      assert NIF.program_info(ref).kernel_status == :loaded
      assert NIF.program_info(ref).kernel_isa == NIF.isa()
      assert NIF.program_info(NIF.program_new(gravity.program_binary, nil)).kernel_status == :none
      assert NIF.program_info(NIF.program_new(gravity.program_binary, nil)).kernel_isa == nil
      assert NIF.program_info(NIF.program_new(gravity.program_binary)).kernel_status == :none

      assert_raise ArgumentError, fn ->
        NIF.program_new(gravity.program_binary, {:a, "b", "c"})
      end

      assert_raise ArgumentError, fn -> NIF.program_new(gravity.program_binary, "path") end
      # the content hash is not optional
      assert_raise ArgumentError, ~r/sha256/, fn ->
        NIF.program_new(gravity.program_binary, {path, hash})
      end
    end
  end

  describe "KernelBuilder" do
    setup do
      dir = Path.join(System.tmp_dir!(), "brz_kernels_test_#{System.unique_integer([:positive])}")
      File.mkdir_p!(dir)
      # a cache directory others may write is refused, whatever the umask
      File.chmod!(dir, 0o700)
      on_exit(fn -> File.rm_rf(dir) end)
      %{tmp_dir: dir}
    end

    test "builds into the cache once, then reuses the library", %{tmp_dir: dir} do
      system = Guarded.__system__()
      assert {:ok, %{path: path, hash: hash, sha256: sha256}} = build(system, dir: dir)
      assert hash == system.kernel.hash
      # the build is reproducible: the same bytes as the library built at compile time
      assert sha256 == system.kernel.sha256
      assert Path.dirname(path) == dir
      %{mtime: mtime} = File.stat!(path, time: :posix)
      assert {:ok, %{path: ^path}} = build(system, dir: dir)
      assert File.stat!(path, time: :posix).mtime == mtime
      assert Enum.filter(File.ls!(dir), &String.ends_with?(&1, ".cpp")) == []
    end

    test "no compiler, or a failing one, is an error (no library)", %{tmp_dir: dir} do
      system = Guarded.__system__()
      assert {:error, msg} = build(system, dir: dir, cxx: "/nonexistent/c++")
      assert msg =~ "no C++ compiler"
      assert {:error, msg} = build(system, dir: dir, cxx: "false")
      assert msg =~ "failed"
      assert File.ls!(dir) == []
    end

    test "the generated source is -Wall -Wextra clean and names its program", %{tmp_dir: dir} do
      system = Kitchen.__system__()
      src = Codegen.Cpp.source(system.program, system.program_binary, "abc123")
      assert src =~ ~s(brz_program_hash[] = "abc123")
      file = Path.join(dir, "k.cpp")
      File.write!(file, src)
      include = Path.expand("../../../include", __DIR__)

      {out, status} =
        System.cmd(
          "c++",
          KernelBuilder.flags() ++ ["-Werror", "-I", include, file, "-o", file <> ".so"],
          stderr_to_stdout: true
        )

      assert status == 0, out

      # one variant per ISA the engine dispatches on (x86-64): the loader picks by BROKEN_RECORD_ISA
      if :erlang.system_info(:system_architecture) |> to_string() =~ ~r/^x86_64/ do
        {syms, 0} = System.cmd("nm", ["-D", "--defined-only", file <> ".so"])

        for k <- 0..(length(system.program.rules) - 1),
            precision <- ["f64", "f32"],
            suffix <- ["", "_avx2", "_avx512"] do
          assert syms =~ ~r/ T brz_rule_#{k}_#{precision}#{suffix}$/m
        end
      end
    end
  end

  defp build(system, opts), do: KernelBuilder.build(system.program, system.program_binary, opts)

  describe "kernels == interpreter == pure Elixir" do
    test "gravity (pair-same) and drift (per-agent), f64" do
      state = %{bodies: bodies(40, 3), note: :kept}
      gravity = Enum.find(Gravity.__system__().program.rules, &(&1.name == :gravity))
      assert Enum.count(gravity.instrs, &match?({:acc, _, _, _, _}, &1)) == 6

      src = Codegen.Cpp.source(Gravity.__system__().program, "", "h")
      refute src =~ "- start_"
      assert src =~ ~r/acc_\d+\[j\] \+= r\d+;/

      {k, i, e} = three(Gravity, state, steps: 20, dt: 0.01)
      assert_agree(k, i, 1.0e-12)
      assert_agree(k, e, 1.0e-12)
      assert k.note == :kept
    end

    test "gravity, f32" do
      state = %{bodies: bodies(40, 4)}
      {k, i, e} = three(GravityF32, state, steps: 5, dt: 0.01)
      assert_agree(k, i, 1.0e-4)
      assert_agree(k, e, 1.0e-4)
    end

    test "threaded sweeps (many pairs and agents) agree" do
      state = %{bodies: bodies(400, 5)}
      {k, i, _} = three(Gravity, state, [steps: 2, dt: 0.001], [])
      assert_agree(k, i, 1.0e-12)
    end

    test "cross-type rules (both slots store) and pair-same counting" do
      seed(6)

      state = %{
        particles: for(i <- 0..9, do: %{code: :math.pow(2, i), seen: 0.0, visits: 0}),
        walls: for(i <- 0..3, do: %{code: :math.pow(2, 10 + i), seen: 0.0, visits: 0})
      }

      {k, i, e} = three(Tally, state, steps: 3)
      assert_identical(k, i)
      assert_identical(k, e)
      assert rule_id(Tally, :touch) in World.info(World.new(Tally, state)).kernels
    end

    test "collisions, wall bounces and integration" do
      seed(7)

      particles =
        for i <- 1..30 do
          %{
            id: i,
            position: vec(-3.0, 3.0),
            velocity: vec(-1.0, 1.0),
            mass: uniform(0.5, 2),
            radius: 0.4
          }
        end

      walls = [
        %{position: {-4.0, 0.0, 0.0}, normal: {1.0, 0.0, 0.0}},
        %{position: {4.0, 0.0, 0.0}, normal: {-1.0, 0.0, 0.0}}
      ]

      state = %{particles: particles, walls: walls}
      collision = Enum.find(CollisionWorld.__system__().program.rules, &(&1.name == :collision))
      assert Enum.any?(collision.instrs, &match?({:acc, _, _, _, _}, &1))
      {k, i, e} = three(CollisionWorld, state, steps: 30, dt: 0.01)
      assert_agree(k, i, 1.0e-12)
      assert_agree(k, e, 1.0e-12)
      kernels = World.info(World.new(CollisionWorld, state)).kernels
      assert rule_id(CollisionWorld, :wall_bounce) in kernels
      assert rule_id(CollisionWorld, :integrate) in kernels
    end

    test "selects with divisions by zero in untaken branches, f64 and f32" do
      state = %{dots: dots(60, 8), posts: posts(7, 8)}
      opts = [steps: 4, params: %{k: 0.001}]
      {k, i, e} = three(Guarded, state, opts)
      assert_agree(k, i, 1.0e-12)
      assert_agree(k, e, 1.0e-12)

      {k32, i32, _} = three(Guarded, state, opts, precision: :f32)
      assert_agree(k32, i32, 1.0e-4)
      assert_agree(k32, e, 1.0e-4)
    end

    test "every op of the kitchen sink" do
      seed(9)

      state = %{
        particles:
          for(_ <- 1..20, do: %{position: vec(-2.0, 2.0), velocity: vec(-3.0, 3.0), mass: 1.5}),
        bodies: for(_ <- 1..12, do: %{position: vec(-2.0, 2.0), mass: uniform(0.5, 2.0)}),
        walls: [%{position: {0.0, -1.0, 0.0}, normal: {0.0, 1.0, 0.0}}],
        molecules: for(_ <- 1..5, do: %{charge: uniform(-1.0, 1.0)}),
        boxes: for(_ <- 1..5, do: %{size: uniform(-10.0, 60.0)})
      }

      {k, i, e} = three(Kitchen, state, steps: 3, params: %{strength: 0.5})
      assert_agree(k, i, 1.0e-12)
      assert_agree(k, e, 1.0e-12)
    end

    test "a non-finite value stored by a kernel is a NumericalError, as without kernels" do
      cells = for i <- 0..99_999, do: %{value: 1.0, scale: if(i == 61_234, do: 0.0, else: 2.0)}

      for kernels <- [true, false], precision <- [:f64, :f32] do
        world = World.new(Fragile, %{cells: cells}, kernels: kernels, precision: precision)
        assert kernels == World.info(world).kernels != []

        error =
          assert_raise NumericalError, fn -> World.step(world, steps: 3, rules: [:divide]) end

        assert {error.index, error.field, error.step} == {61_234, :value, 1}
      end
    end

    test "cutoff rules on cell lists run the generated pair-block kernels" do
      seed(11)
      # A jittered 12 x 12 x 2 lattice (spacing 1.5, cutoff 2.5): 41k pairs, a small fraction
      # of them in neighbouring cells, so the engine sweeps cell lists.
      atoms =
        for x <- 0..11, y <- 0..11, z <- 0..1 do
          {jx, jy, jz} = vec(-0.2, 0.2)

          %{
            position: {1.5 * x + jx, 1.5 * y + jy, 1.5 * z + jz},
            velocity: vec(-0.1, 0.1),
            force: {0.0, 0.0, 0.0},
            peak: 0.0
          }
        end

      state = %{atoms: atoms}
      opts = [steps: 3, dt: 0.001]
      run = fn world_opts -> LJCells |> World.new(state, world_opts) |> World.step(opts) end

      on = run.(kernels: true)
      off = run.(kernels: false)
      elixir = run.(backend: :interpreted)
      lj = rule_id(LJCells, :lj)
      assert lj in World.info(on).kernels
      # a STORE (peak): the pair-block kernel, not the neighbour-list kernel
      assert %{cells: 3, generated_cells: 3, generated_lists: 0, all_pairs: 0} =
               SweepCounts.of(on)

      assert %{cells: 3, generated_cells: 0, all_pairs: 0} = SweepCounts.of(off)
      assert SweepCounts.of(elixir).generated_cells == 0

      assert_agree(World.to_state(on), World.to_state(off), 1.0e-12)
      assert_agree(World.to_state(on), World.to_state(elixir), 1.0e-12)
      assert Enum.any?(World.to_state(on).atoms, &(&1.peak > 0))

      on32 = run.(kernels: true, precision: :f32)
      off32 = run.(kernels: false, precision: :f32)
      assert %{cells: 3, generated_cells: 3} = SweepCounts.of(on32)
      assert %{cells: 3, generated_cells: 0} = SweepCounts.of(off32)
      assert_agree(World.to_state(on32), World.to_state(off32), 1.0e-4)
      assert_agree(World.to_state(on32), World.to_state(elixir), 1.0e-3)

      # Turning kernels off on a live world sends its cell sweeps back to the interpreter.
      :ok = NIF.world_set_options(on.ref, kernels: false)
      after_off = World.step(on, steps: 2, dt: 0.001)
      assert %{cells: 5, generated_cells: 3} = SweepCounts.of(after_off)
    end

    test "ACC-only cutoff rules run the generated neighbour-list kernels" do
      # A jittered simple-cubic lattice (spacing 1.2, cutoff 2.5): a few dozen listed pairs
      # per atom, in runs of one slot-0 row, every ACC on both slots.
      lattice = fn side ->
        seed(12)

        for x <- 0..(side - 1), y <- 0..(side - 1), z <- 0..(side - 1) do
          {jx, jy, jz} = vec(-0.15, 0.15)

          %{
            position: {1.2 * x + jx, 1.2 * y + jy, 1.2 * z + jz},
            velocity: vec(-0.1, 0.1),
            force: {0.0, 0.0, 0.0},
            pe: 0.0,
            id: {x, y, z}
          }
        end
      end

      # steps of both rules, then steps of the forces alone (the state keeps them)
      run = fn state, world_opts, steps ->
        LJForces
        |> World.new(state, world_opts)
        |> World.step(steps: steps, dt: 0.001)
        |> World.step(steps: steps, dt: 0.001, rules: [:lj])
      end

      # Small enough for the pure-Elixir backend: all three agree, in both precisions.
      small = %{atoms: lattice.(7)}
      on = run.(small, [kernels: true], 2)
      off = run.(small, [kernels: false], 2)
      elixir = run.(small, [backend: :interpreted], 2)
      assert %{cells: 4, generated_cells: 4, generated_lists: 4} = SweepCounts.of(on)
      assert %{cells: 4, generated_cells: 0, generated_lists: 0} = SweepCounts.of(off)
      assert_agree(World.to_state(on), World.to_state(off), 1.0e-12)
      assert_agree(World.to_state(on), World.to_state(elixir), 1.0e-12)
      assert Enum.all?(World.to_state(on).atoms, &(&1.pe != 0.0))

      on32 = run.(small, [kernels: true, precision: :f32], 2)
      assert %{generated_lists: 4} = SweepCounts.of(on32)
      assert_agree(World.to_state(on32), World.to_state(elixir), 1.0e-3)

      # Big enough for one sub-list per thread (more than 100,000 candidates).
      big = %{atoms: lattice.(16)}
      on = run.(big, [kernels: true], 1)
      off = run.(big, [kernels: false], 1)
      assert %{generated_lists: 2} = SweepCounts.of(on)
      assert_agree(World.to_state(on), World.to_state(off), 1.0e-12)

      # Sparse (twice the spacing: a few pairs per row): the list kernel runs across rows.
      sparse = %{
        atoms:
          Enum.map(lattice.(16), fn %{position: {x, y, z}} = a ->
            %{a | position: {2 * x, 2 * y, 2 * z}}
          end)
      }

      on = run.(sparse, [kernels: true], 1)
      off = run.(sparse, [kernels: false], 1)
      assert %{cells: 2, generated_cells: 2, generated_lists: 2} = SweepCounts.of(on)
      assert_agree(World.to_state(on), World.to_state(off), 1.0e-12)
      assert Enum.any?(World.to_state(on).atoms, &(&1.pe != 0.0))
    end

    test "a division by zero in an untaken pair branch stores nothing non-finite" do
      state = %{
        dots: [%{position: {0.0, 0.0, 0.0}, x: 1.0, y: 0.0, z: 0.0}],
        posts: [%{x: 1.0, w: 0.0}]
      }

      world = World.new(Guarded, Map.put(state, :dots, [hd(state.dots), hd(state.dots)]))
      # d == 0 for the pair: the untaken branch divides by zero, nothing non-finite is stored.
      world = World.step(world, steps: 1, rules: [:pairwise], params: %{k: 1.0})
      assert [%{y: y}, _] = World.to_state(world).dots
      assert y == 0.0
    end
  end

  defp garbage_library do
    path = Path.join(System.tmp_dir!(), "brz_garbage_#{System.unique_integer([:positive])}.so")
    File.write!(path, :rand.bytes(4096))
    on_exit(fn -> File.rm(path) end)
    path
  end
end
