defmodule Mix.Tasks.Compile.BrokenRecordNif do
  @moduledoc """
  Builds the native engine (`priv/libbroken_record_zero.so`) with CMake.

  CMake is the one build description (see `CMakeLists.txt`); this compiler only configures
  `_build/cmake` once, builds it incrementally and installs the library into `priv/`. When
  the project is another project's dependency (its build path lies outside this directory),
  the C++ tests and the benchmarks' reference kernels are not configured: only the engine.

  A build failure is a warning and the runtime falls back to the pure-Elixir backend, unless
  `BROKEN_RECORD_REQUIRE_NIF=1` is set, in which case it is an error. `BROKEN_RECORD_SKIP_NIF=1`
  skips the native build altogether.
  """
  use Mix.Task.Compiler

  @build_dir "_build/cmake"

  @impl true
  def run(_args) do
    cond do
      System.get_env("BROKEN_RECORD_SKIP_NIF") in ["1", "true"] ->
        {:noop, []}

      System.find_executable("cmake") == nil ->
        failure("cmake was not found: install it with `apt-get install cmake`")

      true ->
        build()
    end
  end

  defp build do
    root = File.cwd!()
    build_dir = Path.join(root, @build_dir)

    with :ok <- configure(root, build_dir),
         :ok <- cmd(["--build", build_dir, "--parallel", "#{System.schedulers_online()}"]),
         :ok <- cmd(["--install", build_dir]) do
      {:ok, []}
    else
      {:error, message} -> failure(message)
    end
  end

  defp configure(root, build_dir) do
    cond do
      File.exists?(Path.join(build_dir, "CMakeCache.txt")) ->
        :ok

      dependency?(root) ->
        cmd(configure_args(root, build_dir) ++ ["-DBRZ_BUILD_TESTS=OFF", "-DBRZ_BUILD_BENCH=OFF"])

      true ->
        cmd(configure_args(root, build_dir))
    end
  end

  defp configure_args(root, build_dir),
    do: [
      "-S",
      root,
      "-B",
      build_dir,
      "-DCMAKE_BUILD_TYPE=Release",
      "-DCMAKE_INSTALL_PREFIX=#{root}"
    ]

  # A dependency is compiled into its parent's build path.
  defp dependency?(root),
    do: not String.starts_with?(Path.expand(Mix.Project.build_path()), Path.expand(root) <> "/")

  # Runs cmake, echoing the lines that show work being done ("[ 40%] Building CXX object ...",
  # "Linking ..."), so that the first build (a few minutes) shows what it is doing while an
  # up-to-date one stays quiet; the whole output is printed on failure (and with MIX_DEBUG).
  defp cmd(args) do
    port =
      Port.open({:spawn_executable, System.find_executable("cmake")}, [
        :binary,
        :exit_status,
        :stderr_to_stdout,
        {:line, 4096},
        args: args
      ])

    {out, status} = collect(port, [], false)

    cond do
      status == 0 ->
        if Mix.debug?(), do: Mix.shell().info(out)
        :ok

      true ->
        {:error, "cmake #{Enum.join(args, " ")} failed (exit #{status}):\n" <> out}
    end
  end

  defp collect(port, acc, announced?) do
    receive do
      {^port, {:data, {eol, chunk}}} ->
        acc = if eol == :eol, do: ["\n", chunk | acc], else: [chunk | acc]
        collect(port, acc, announce(chunk, announced?))

      {^port, {:exit_status, status}} ->
        {acc |> Enum.reverse() |> IO.iodata_to_binary(), status}
    end
  end

  defp announce(line, announced?) do
    if String.contains?(line, ["Building CXX", "Linking CXX", "-- Configuring done"]) do
      unless announced?,
        do: Mix.shell().info("==> broken_record: building the native engine with CMake")

      Mix.shell().info("    " <> String.trim(line))
      true
    else
      announced?
    end
  end

  defp failure(message) do
    if System.get_env("BROKEN_RECORD_REQUIRE_NIF") in ["1", "true"] do
      Mix.raise("native build failed: " <> message)
    else
      Mix.shell().error(
        "warning: native build failed, the pure-Elixir backend will be used.\n" <> message
      )

      {:ok, []}
    end
  end
end

defmodule BrokenRecord.MixProject do
  use Mix.Project

  def project do
    [
      app: :broken_record,
      version: "0.1.0",
      elixir: "~> 1.14",
      start_permanent: Mix.env() == :prod,
      compilers: [:broken_record_nif] ++ Mix.compilers(),
      elixirc_paths: elixirc_paths(Mix.env()),
      deps: [],
      aliases: aliases(),
      preferred_cli_env: [bench: :prod, "broken_record.fuzz": :test],
      docs: [main: "readme"]
    ]
  end

  def application do
    [extra_applications: [:logger]]
  end

  defp elixirc_paths(:test), do: ["lib", "examples", "test/support", "test/fuzz"]
  defp elixirc_paths(_), do: ["lib"]

  defp aliases do
    [test: [&ctest/1, "test"]]
  end

  # Runs the Catch2 suite of the engine through CTest before the ExUnit suite.
  defp ctest(_args) do
    Mix.Task.run("compile")
    build_dir = "_build/cmake"

    cond do
      System.get_env("BROKEN_RECORD_SKIP_NIF") in ["1", "true"] ->
        Mix.shell().info("Skipping the C++ suite (BROKEN_RECORD_SKIP_NIF is set)")

      not File.exists?(Path.join(build_dir, "CTestTestfile.cmake")) ->
        if System.get_env("BROKEN_RECORD_REQUIRE_NIF") in ["1", "true"] do
          Mix.raise("the C++ suite was not built (see the native build output above)")
        else
          Mix.shell().error("warning: the C++ suite was not built; only ExUnit runs")
        end

      true ->
        Mix.shell().info("==> C++ engine suite (ctest)")

        {_, status} =
          System.cmd("ctest", ["--test-dir", build_dir, "--output-on-failure"],
            into: IO.stream(:stdio, :line),
            stderr_to_stdout: true
          )

        if status != 0, do: Mix.raise("the C++ suite (ctest) failed")
    end
  end
end
