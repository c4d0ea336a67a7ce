defmodule BrokenRecord.Zero.KernelSecurityTest do
  @moduledoc """
  Which kernel libraries get loaded (docs/kernels.md, "Trust"): only a file of the user's, in a
  directory of the user's, that nobody else may write, whose bytes have the SHA-256 recorded at
  compile time; and no compiler runs at run time unless asked.

  The tests work on copies of Gravity's library in private directories, at the name the cache
  gives it, and run them through stand-in system modules (same system, another module name, so
  that World creates a fresh program resource for each).
  """
  # Not async: one test sets BROKEN_RECORD_KERNELS_BUILD.
  use ExUnit.Case, async: false

  @moduletag :native

  import BrokenRecord.Zero.TestHelpers
  import ExUnit.CaptureLog

  alias BrokenRecord.Zero.{Codegen, KernelBuilder, NIF, World}
  alias BrokenRecord.Zero.TestSystems.Gravity
  alias BrokenRecord.Zero.Test.SweepCounts

  @include Path.expand("../../../include", __DIR__)

  setup do
    root = Path.join(System.tmp_dir!(), "brz_security_#{System.unique_integer([:positive])}")
    File.mkdir!(root)
    File.chmod!(root, 0o700)
    on_exit(fn -> File.rm_rf(root) end)
    # The cache directory of the test and the name the cache gives Gravity's library in it.
    dir = Path.join(root, "cache")
    File.mkdir!(dir)
    File.chmod!(dir, 0o700)
    gravity = Gravity.__system__()
    cached = Path.join(dir, Path.basename(gravity.kernel.path))
    marker = Path.join(root, "constructor_ran")
    %{root: root, dir: dir, gravity: gravity, cached: cached, marker: marker}
  end

  defp bodies(n, seed) do
    seed(seed)

    for i <- 1..n do
      %{id: i, position: vec(-2.0, 2.0), velocity: vec(-0.3, 0.3), mass: uniform(0.5, 2.0)}
    end
  end

  # A module whose __system__/0 is Gravity's with `kernel` as its kernel library.
  defp system_with(kernel) do
    name = Module.concat(__MODULE__, "Stand#{System.unique_integer([:positive])}")
    system = %{Gravity.__system__() | kernel: kernel, module: name}

    Module.create(
      name,
      quote(do: def(__system__, do: unquote(Macro.escape(system)))),
      Macro.Env.location(__ENV__)
    )

    name
  end

  # A private copy of Gravity's valid library at `path`.
  defp copy_valid(gravity, path) do
    File.cp!(gravity.kernel.path, path)
    File.chmod!(path, 0o755)
    path
  end

  # Compiles `source` into a shared library at `path` with the system C++ compiler.
  defp compile!(source, path, flags \\ ["-O1", "-std=c++17", "-fPIC", "-shared"]) do
    src = path <> ".cpp"
    File.write!(src, source)
    {out, status} = System.cmd("c++", flags ++ ["-I", @include, src, "-o", path])
    File.rm!(src)
    assert status == 0, out
    File.chmod!(path, 0o755)
    path
  end

  # Code whose constructor, run by dlopen before any check of the library's symbols, writes
  # `marker`.
  defp constructor(marker) do
    """
    #include <cstdio>
    __attribute__((constructor)) static void brz_planted() {
      if (FILE* f = std::fopen(#{inspect(marker)}, "w")) {
        std::fputs("ran", f);
        std::fclose(f);
      }
    }
    """
  end

  # Steps a world of `module`; when no generated kernel runs, it must give exactly the state a
  # world of Gravity on the interpreter gives. Returns the world's info (before stepping).
  defp run_against_interpreter(module) do
    state = %{bodies: bodies(12, 5)}

    {info, log} =
      with_log(fn ->
        world = World.new(module, state)
        info = World.info(world)
        world = World.step(world, steps: 5, dt: 0.01)
        reference = World.step(World.new(Gravity, state, kernels: false), steps: 5, dt: 0.01)
        assert SweepCounts.of(world).generated == if(info.kernels == [], do: 0, else: 10)

        if info.kernels == [],
          do: assert_identical(World.to_state(world), World.to_state(reference))

        info
      end)

    case info.kernel_status do
      {:error, reason} -> assert log =~ reason
      _ -> :ok
    end

    info
  end

  defp sha256_hex(bytes), do: Base.encode16(:crypto.hash(:sha256, bytes), case: :lower)

  describe "the NIF" do
    test "loads the valid library (at its compile-time path, or a private copy)", ctx do
      info = World.info(World.new(Gravity, %{bodies: bodies(4, 1)}))
      assert info.kernel_status == :loaded
      assert info.kernels != []

      kernel = %{ctx.gravity.kernel | path: copy_valid(ctx.gravity, ctx.cached)}
      info = run_against_interpreter(system_with(kernel))
      assert info.kernel_status == :loaded
      assert info.kernels == [0, 1]
    end

    test "does not load a library planted at the cached path; the interpreter runs", ctx do
      compile!(constructor(ctx.marker), ctx.cached)
      info = run_against_interpreter(system_with(%{ctx.gravity.kernel | path: ctx.cached}))
      assert {:error, reason} = info.kernel_status
      assert reason =~ "does not match its content hash"
      assert info.kernels == []
      refute File.exists?(ctx.marker)
    end

    test "refuses a library replaced after compile, even one generated for the program", ctx do
      # The replacement passes every other check (same program, key, ABI and kernels): only the
      # content hash tells it from the library built at compile time.
      kernel = %{ctx.gravity.kernel | path: copy_valid(ctx.gravity, ctx.cached)}
      program = ctx.gravity.program
      source = Codegen.Cpp.source(program, ctx.gravity.program_binary, kernel.hash)
      other = Path.join(ctx.dir, "replacement.so")
      compile!(source <> constructor(ctx.marker), other, KernelBuilder.flags())
      File.rename!(other, ctx.cached)

      info = run_against_interpreter(system_with(kernel))
      assert {:error, reason} = info.kernel_status
      assert reason =~ "does not match its content hash"
      assert reason =~ kernel.sha256
      refute File.exists?(ctx.marker)

      # With its own content hash it loads (and its constructor runs): it was a valid library.
      {:ok, bytes} = File.read(ctx.cached)
      tuple = {ctx.cached, kernel.hash, sha256_hex(bytes)}

      assert NIF.program_info(NIF.program_new(ctx.gravity.program_binary, tuple)).kernel_status ==
               :loaded

      assert File.exists?(ctx.marker)
    end

    test "refuses a symbolic link at the path, even to the valid library", ctx do
      valid = copy_valid(ctx.gravity, Path.join(ctx.root, "valid.so"))
      File.ln_s!(valid, ctx.cached)
      info = run_against_interpreter(system_with(%{ctx.gravity.kernel | path: ctx.cached}))
      assert {:error, reason} = info.kernel_status
      assert reason =~ "symbolic link"
    end

    test "refuses a group- or world-writable directory or library", ctx do
      kernel = %{ctx.gravity.kernel | path: copy_valid(ctx.gravity, ctx.cached)}

      for mode <- [0o770, 0o707, 0o1777] do
        File.chmod!(ctx.dir, mode)
        info = run_against_interpreter(system_with(kernel))
        assert {:error, reason} = info.kernel_status
        assert reason =~ "the directory #{ctx.dir}"
        assert reason =~ "group- or world-writable"
      end

      File.chmod!(ctx.dir, 0o700)

      for mode <- [0o775, 0o757] do
        File.chmod!(ctx.cached, mode)
        assert {:error, reason} = run_against_interpreter(system_with(kernel)).kernel_status
        assert reason =~ "group- or world-writable"
      end

      File.chmod!(ctx.cached, 0o755)
      assert run_against_interpreter(system_with(kernel)).kernel_status == :loaded
    end

    # chown to another user needs root; elsewhere test_helper.exs excludes the tag (reported).
    @tag :root
    test "refuses a library or directory owned by another user", ctx do
      kernel = %{ctx.gravity.kernel | path: copy_valid(ctx.gravity, ctx.cached)}
      File.chown!(ctx.cached, 65534)
      assert {:error, reason} = run_against_interpreter(system_with(kernel)).kernel_status
      assert reason =~ "not owned by the current user"
      File.chown!(ctx.cached, 0)
      File.chown!(ctx.dir, 65534)
      assert {:error, reason} = run_against_interpreter(system_with(kernel)).kernel_status
      assert reason =~ "the directory #{ctx.dir} of kernel library"
      assert {:error, message} = build(ctx.gravity, dir: ctx.dir)
      assert message =~ "not owned by the current user"
    end

    test "hashes files as :crypto does", ctx do
      # The NIF reports the SHA-256 it computed when it differs from the expected one.
      zeros = String.duplicate("0", 64)

      for size <- [0, 1, 3, 55, 56, 57, 63, 64, 65, 119, 120, 127, 128, 1000, 65_537] do
        bytes = :crypto.strong_rand_bytes(size)
        path = Path.join(ctx.dir, "bytes_#{size}")
        File.write!(path, bytes)
        File.chmod!(path, 0o644)
        ref = NIF.program_new(ctx.gravity.program_binary, {path, ctx.gravity.kernel.hash, zeros})
        assert {:error, reason} = NIF.program_info(ref).kernel_status
        assert [_, computed] = Regex.run(~r/SHA-256 ([0-9a-f]{64}), expected/, reason)
        assert computed == sha256_hex(bytes)
        assert KernelBuilder.content_hash(path) == {:ok, computed}
      end
    end
  end

  defp build(system, opts), do: KernelBuilder.build(system.program, system.program_binary, opts)

  describe "the cache directory" do
    test "is private: created with mode 0700, never the shared temporary directory", ctx do
      dir = Path.join([ctx.root, "a", "b", "kernels"])
      assert {:ok, %{path: path, sha256: sha256}} = build(ctx.gravity, dir: dir)
      assert Path.dirname(path) == dir
      assert sha256 == ctx.gravity.kernel.sha256

      for d <- [Path.join(ctx.root, "a"), Path.join([ctx.root, "a", "b"]), dir] do
        assert Bitwise.band(File.stat!(d).mode, 0o777) == 0o700
      end

      assert Bitwise.band(File.stat!(path).mode, 0o022) == 0
      assert KernelBuilder.cache_dir() == Path.join(Mix.Project.build_path(), "brz_kernels")

      assert KernelBuilder.user_cache_dir("/xdg", "/home/u") ==
               "/xdg/broken_record_zero/kernels"

      assert KernelBuilder.user_cache_dir(nil, "/home/u") ==
               "/home/u/.cache/broken_record_zero/kernels"

      # a relative XDG_CACHE_HOME is ignored, as the XDG specification says
      assert KernelBuilder.user_cache_dir("rel", "/home/u") ==
               "/home/u/.cache/broken_record_zero/kernels"

      # no home and no XDG cache: no cache at all, never the temporary directory
      assert KernelBuilder.user_cache_dir("", nil) == nil
    end

    test "is refused when group- or world-writable (no kernel)", ctx do
      for mode <- [0o770, 0o777, 0o1777] do
        File.chmod!(ctx.dir, mode)
        assert {:error, message} = build(ctx.gravity, dir: ctx.dir)
        assert message =~ "refusing the kernel cache directory #{ctx.dir}"
        assert message =~ "group- or world-writable"
        assert File.ls!(ctx.dir) == []
      end
    end

    test "a cached entry that the NIF would refuse is replaced, not hashed", ctx do
      # A link, or a library others may write, at the cached name: the build replaces it with a
      # private file of its own.
      File.ln_s!(copy_valid(ctx.gravity, Path.join(ctx.root, "elsewhere.so")), ctx.cached)
      assert {:ok, %{path: path, sha256: sha256}} = build(ctx.gravity, dir: ctx.dir)
      assert path == ctx.cached
      assert File.lstat!(path).type == :regular
      assert sha256 == ctx.gravity.kernel.sha256

      compile!(constructor(ctx.marker), ctx.cached)
      File.chmod!(ctx.cached, 0o775)
      assert {:ok, %{sha256: ^sha256}} = build(ctx.gravity, dir: ctx.dir)
      assert Bitwise.band(File.stat!(ctx.cached).mode, 0o777) == 0o755
      refute File.exists?(ctx.marker)
    end
  end

  # A compiler that records that it ran.
  defp spy_compiler(ctx) do
    spy = Path.join(ctx.root, "spy_cxx")
    File.write!(spy, "#!/bin/sh\necho ran > #{ctx.root}/compiler_ran\nexec c++ \"$@\"\n")
    File.chmod!(spy, 0o755)
    {spy, Path.join(ctx.root, "compiler_ran")}
  end

  describe "KernelBuilder.ensure/2 at run time" do
    test "a missing library is not rebuilt unless asked: the interpreter runs", ctx do
      {spy, ran} = spy_compiler(ctx)
      system = %{ctx.gravity | kernel: %{ctx.gravity.kernel | path: ctx.cached}}

      log =
        capture_log(fn -> assert KernelBuilder.ensure(system, cxx: spy, dir: ctx.dir) == nil end)

      assert log =~ "missing"
      assert log =~ "BROKEN_RECORD_KERNELS_BUILD"
      refute File.exists?(ran)
      assert File.ls!(ctx.dir) == []

      info = run_against_interpreter(system_with(system.kernel))
      assert info.kernel_status == :none
      assert info.kernels == []
    end

    test "rebuilds when asked, and uses the library only with the recorded content hash", ctx do
      system = %{ctx.gravity | kernel: %{ctx.gravity.kernel | path: ctx.cached}}
      gone = %{system | kernel: %{system.kernel | path: Path.join(ctx.root, "gone.so")}}
      assert %{path: path} = rebuilt = KernelBuilder.ensure(gone, build: true, dir: ctx.dir)
      assert path == ctx.cached
      assert Map.take(rebuilt, [:hash, :sha256]) == Map.take(system.kernel, [:hash, :sha256])

      # The same opt-in through the environment.
      File.rm!(ctx.cached)
      System.put_env("BROKEN_RECORD_KERNELS_BUILD", "1")

      try do
        assert KernelBuilder.ensure(gone, dir: ctx.dir) == rebuilt
      after
        System.delete_env("BROKEN_RECORD_KERNELS_BUILD")
      end

      # A rebuild whose bytes differ from those recorded at compile time is not used.
      other = put_in(gone.kernel.sha256, String.duplicate("0", 64))

      log =
        capture_log(fn -> assert KernelBuilder.ensure(other, build: true, dir: ctx.dir) == nil end)

      assert log =~ "differs from the one built at compile time"

      # Another compiler gives another cache key: not used either.
      {spy, ran} = spy_compiler(ctx)

      capture_log(fn ->
        assert KernelBuilder.ensure(gone, build: true, dir: ctx.dir, cxx: spy) == nil
      end)

      assert File.exists?(ran)
    end
  end
end
