defmodule BrokenRecord.Zero.Fuzz.Runner do
  @moduledoc """
  Runs fuzz batches (`BrokenRecord.Zero.Fuzz.Batch`), each in its own OS process, and reports
  crashes: the entry point of `mix broken_record.fuzz` (see `docs/fuzzing.md`).

  A batch process is `elixir -pa <app>/ebin -e 'Batch.main(System.argv())' -- ...`. The NIF it
  loads is the one in `<app>/priv`, because the NIF is found through
  `:code.priv_dir(:broken_record)`, i.e. next to the `ebin` in the code path:

    * normally `<app>` is the project's own `_build/test/lib/broken_record` (its priv is the
      project's `priv/`);
    * with `sanitized: true`, the NIF is built with ASan+UBSan by CMake in `_build/asan`
      (`-DBRZ_SANITIZE=ON`, installed into `_build/asan/sanitized/priv`), and `<app>` is
      `<out>/app/broken_record`: a copy of the compiled `ebin` beside a `priv/` holding the
      sanitized libraries. The batch VM runs with the ASan runtime preloaded
      (`LD_PRELOAD` of `g++ -print-file-name=libasan.so`), leak detection off (the BEAM does
      not free everything at exit) and every report fatal (`abort_on_error=1`, UBSan
      `halt_on_error=1`).

  Each batch checks first that the library it mapped is the expected one (and that the ASan
  runtime is mapped), so a run never silently fuzzes the wrong library. A batch that exits
  with a non-zero status or a signal, or runs past `batch_timeout`, is a failure: its output
  (with the sanitizer report), the last call it started and the last program it tried are
  kept in `<out>/crashes/seed-<seed>-batch-<batch>/` and printed with the command that
  reruns that batch.
  """

  alias BrokenRecord.Zero.Fuzz.{Batch, Programs}

  @typedoc "Runner options (see `mix broken_record.fuzz`)."
  @type opts :: %{
          root: String.t(),
          ebin: String.t(),
          calls: pos_integer,
          batch_size: pos_integer,
          seed: non_neg_integer,
          batch: non_neg_integer | nil,
          sanitized: boolean,
          jobs: pos_integer,
          batch_timeout: pos_integer,
          call_timeout: pos_integer,
          max_time: pos_integer | nil,
          out: String.t(),
          parts: String.t(),
          keep_going: boolean,
          crash_at: pos_integer | nil
        }

  @doc """
  The options of a run: the defaults of `mix broken_record.fuzz` (run from the project root,
  in the test environment) merged with `overrides`. `crash_at: n` makes every batch abort at
  its call `n` (to test the runner itself).
  """
  @spec options(map) :: opts
  def options(overrides \\ %{}) do
    root = File.cwd!()

    Map.merge(
      %{
        root: root,
        ebin: Path.join(:code.lib_dir(:broken_record), "ebin"),
        calls: 20_000,
        batch_size: 2_000,
        seed: :rand.uniform(1_000_000_000),
        batch: nil,
        sanitized: false,
        jobs: 1,
        max_time: nil,
        parts: "a,b,c",
        call_timeout: 2_000,
        batch_timeout: 600,
        out: Path.join(root, "_build/fuzz"),
        keep_going: false,
        crash_at: nil
      },
      overrides
    )
  end

  @doc """
  Runs the batches and prints a summary. Returns `:ok`, or `{:error, failures}` (a list of
  `%{batch, reason, dir}`) when a batch crashed.
  """
  @spec run(opts) :: :ok | {:error, [map]}
  def run(opts) do
    _ = Batch.parse_parts(opts.parts)
    File.mkdir_p!(opts.out)
    app = prepare_app(opts)
    batches = batches(opts)

    info(
      "==> fuzzing the NIF (#{if opts.sanitized, do: "ASan+UBSan build", else: "project build"}: " <>
        "#{app.priv}): seed #{opts.seed}, #{length(batches)} batch(es) of #{opts.batch_size} " <>
        "calls, #{opts.jobs} at a time" <>
        if(opts.max_time, do: ", no new batch after #{opts.max_time} s", else: "")
    )

    t0 = System.monotonic_time(:millisecond)
    results = run_batches(batches, app, opts, t0)
    wall_ms = max(System.monotonic_time(:millisecond) - t0, 1)
    summary(results, wall_ms, opts)

    case Enum.filter(results, &(&1.status != :ok)) do
      [] -> :ok
      failures -> {:error, failures}
    end
  end

  defp batches(%{batch: b}) when is_integer(b), do: [b]

  defp batches(opts),
    do: Enum.to_list(0..(div(opts.calls + opts.batch_size - 1, opts.batch_size) - 1))

  # ------------------------------------------------------------------------------------------
  # The app directory and environment of the batch processes
  # ------------------------------------------------------------------------------------------

  @doc """
  Where the batch processes load the application from, `%{ebin, priv, env}`: the project's own
  build, or (`sanitized: true`) a copy of its `ebin` beside the ASan+UBSan NIF (built here if
  needed), with the environment that preloads the sanitizer runtime.
  """
  @spec prepare_app(opts) :: %{
          ebin: String.t(),
          priv: String.t(),
          env: [{String.t(), String.t()}]
        }
  def prepare_app(%{sanitized: false} = opts) do
    %{ebin: opts.ebin, priv: Path.join(Path.dirname(opts.ebin), "priv"), env: base_env(opts)}
  end

  def prepare_app(%{sanitized: true} = opts) do
    asan_priv = build_sanitized(opts.root)
    app = Path.join([opts.out, "app", "broken_record"])
    File.rm_rf!(app)
    File.mkdir_p!(Path.join(app, "priv"))
    File.cp_r!(opts.ebin, Path.join(app, "ebin"))

    for lib <- ["libbroken_record_zero.so", "libbrz_omp_env.so"],
        do: File.cp!(Path.join(asan_priv, lib), Path.join([app, "priv", lib]))

    preload = runtime_library("libasan.so")

    env =
      base_env(opts) ++
        [
          {"LD_PRELOAD", preload},
          {"ASAN_OPTIONS",
           "detect_leaks=0:abort_on_error=1:halt_on_error=1:symbolize=1:" <>
             "detect_stack_use_after_return=0:allocator_may_return_null=0"},
          {"UBSAN_OPTIONS", "halt_on_error=1:abort_on_error=1:print_stacktrace=1:symbolize=1"}
        ]

    %{ebin: Path.join(app, "ebin"), priv: Path.join(app, "priv"), env: env}
  end

  defp base_env(_opts) do
    [
      {"ERL_CRASH_DUMP_SECONDS", "5"},
      # The batch fuzzes the interpreter's and the generated kernels' paths alike; two
      # OpenMP threads keep a 2-core machine responsive while exercising the parallel sweeps.
      {"OMP_NUM_THREADS", System.get_env("OMP_NUM_THREADS", "2")}
    ]
  end

  @doc """
  Builds the NIF with ASan+UBSan in `<root>/_build/asan` (configured with `-DBRZ_SANITIZE=ON`
  unless it already is) and installs it into `<root>/_build/asan/sanitized`. Returns the
  directory holding the two libraries.
  """
  @spec build_sanitized(String.t()) :: String.t()
  def build_sanitized(root) do
    build = Path.join(root, "_build/asan")
    prefix = Path.join(build, "sanitized")
    cache = Path.join(build, "CMakeCache.txt")

    unless File.exists?(cache) do
      cmake!([
        "-S",
        root,
        "-B",
        build,
        "-DBRZ_SANITIZE=ON",
        "-DBRZ_BUILD_BENCH=OFF",
        "-DCMAKE_BUILD_TYPE=RelWithDebInfo"
      ])
    end

    unless File.read!(cache) =~ ~r/^BRZ_SANITIZE:BOOL=ON$/m do
      raise "#{build} is not configured with -DBRZ_SANITIZE=ON; remove it or reconfigure it"
    end

    info("==> building the NIF with ASan+UBSan (#{build})")
    jobs = "#{System.schedulers_online()}"

    cmake!(["--build", build, "--parallel", jobs, "--target", "broken_record_zero", "brz_omp_env"])

    cmake!(["--install", build, "--prefix", prefix])
    Path.join(prefix, "priv")
  end

  defp cmake!(args) do
    case System.cmd("cmake", args, stderr_to_stdout: true) do
      {_, 0} -> :ok
      {out, status} -> raise "cmake #{Enum.join(args, " ")} failed (exit #{status}):\n#{out}"
    end
  end

  @doc "The absolute path of a compiler runtime library (`g++ -print-file-name=NAME`)."
  @spec runtime_library(String.t()) :: String.t()
  def runtime_library(name) do
    cxx = System.get_env("CXX", "g++")

    case System.cmd(cxx, ["-print-file-name=#{name}"], stderr_to_stdout: true) do
      {path, 0} ->
        path = String.trim(path)

        if Path.type(path) == :absolute and File.exists?(path),
          do: path,
          else: raise("#{cxx} does not know #{name} (install its sanitizer runtime)")

      {out, _} ->
        raise "#{cxx} -print-file-name=#{name} failed: #{out}"
    end
  end

  # ------------------------------------------------------------------------------------------
  # Running batches
  # ------------------------------------------------------------------------------------------

  defp run_batches(batches, app, opts, t0) do
    queue = :atomics.new(2, [])
    parent = self()
    list = List.to_tuple(batches)

    workers =
      for _ <- 1..min(opts.jobs, length(batches)) do
        spawn_link(fn -> worker(list, queue, app, opts, t0, parent) end)
      end

    collect(length(workers), [], 0, opts)
  end

  # Index 1 of `queue`: batches taken; index 2: 1 once a batch has failed (no new ones then,
  # unless keep_going).
  defp worker(list, queue, app, opts, t0, parent) do
    k = :atomics.add_get(queue, 1, 1)

    late? =
      opts.max_time != nil and System.monotonic_time(:millisecond) - t0 > opts.max_time * 1000

    stopped? = :atomics.get(queue, 2) == 1 and not opts.keep_going

    if k > tuple_size(list) or late? or stopped? do
      send(parent, :brz_worker_done)
    else
      result = run_batch(elem(list, k - 1), app, opts)
      result = Map.put(result, :at_ms, System.monotonic_time(:millisecond) - t0)
      if result.status != :ok, do: :atomics.put(queue, 2, 1)
      send(parent, {:brz_result, result})
      worker(list, queue, app, opts, t0, parent)
    end
  end

  # `done` counts the calls of the batches completed so far, for the crash report.
  defp collect(0, acc, _done, _opts), do: Enum.sort_by(acc, & &1.batch)

  defp collect(running, acc, done, opts) do
    receive do
      :brz_worker_done ->
        collect(running - 1, acc, done, opts)

      {:brz_result, %{status: :ok} = result} ->
        report(result, opts)
        collect(running, [result | acc], done + result.stats.calls, opts)

      {:brz_result, result} ->
        result = Map.put(result, :calls_before, done)
        report(result, opts)
        collect(running, [result | acc], done, opts)
    end
  end

  @doc """
  Runs batch `batch` of `opts.seed` in a new OS process loading the application `app` (from
  `prepare_app/1`). Returns `%{batch, seed, status: :ok | :crash, reason, stats, dir,
  wall_ms}`; a crashed batch also has `report` (the sanitizer report, or the end of the
  output), `last_call` and `program` (the path of the last program binary tried, or `nil`),
  and its files are moved to `<out>/crashes/seed-<seed>-batch-<batch>/`.
  """
  @spec run_batch(non_neg_integer, map, opts) :: map
  def run_batch(batch, app, opts) do
    dir = Path.join([opts.out, "batches", "seed-#{opts.seed}-batch-#{batch}"])
    File.rm_rf!(dir)
    File.mkdir_p!(dir)
    log_path = Path.join(dir, "output.log")
    {:ok, log} = File.open(log_path, [:write, :binary])

    args =
      ["-pa", app.ebin, "-e", "BrokenRecord.Zero.Fuzz.Batch.main(System.argv())", "--"] ++
        [
          "--seed",
          "#{opts.seed}",
          "--batch",
          "#{batch}",
          "--calls",
          "#{opts.batch_size}",
          "--parts",
          opts.parts,
          "--call-timeout",
          "#{opts.call_timeout}",
          "--trace-dir",
          dir,
          "--expect-priv",
          app.priv
        ] ++
        if(opts.sanitized, do: ["--sanitized"], else: []) ++
        if(opts.crash_at, do: ["--crash-at", "#{opts.crash_at}"], else: [])

    env = Enum.map(app.env, fn {k, v} -> {String.to_charlist(k), String.to_charlist(v)} end)
    env = [{~c"ERL_CRASH_DUMP", String.to_charlist(Path.join(dir, "erl_crash.dump"))} | env]

    t0 = System.monotonic_time(:millisecond)

    port =
      Port.open({:spawn_executable, System.find_executable("elixir")}, [
        :binary,
        :exit_status,
        :stderr_to_stdout,
        args: args,
        env: env,
        cd: opts.root
      ])

    {:os_pid, os_pid} = Port.info(port, :os_pid)
    status = wait(port, log, os_pid, t0 + opts.batch_timeout * 1000)
    File.close(log)
    wall_ms = System.monotonic_time(:millisecond) - t0
    output = File.read!(log_path)
    stats = parse_stats(output)

    result = %{batch: batch, seed: opts.seed, dir: dir, wall_ms: wall_ms, stats: stats}

    cond do
      status == 0 and stats != nil ->
        File.rm_rf!(dir)
        Map.merge(result, %{status: :ok, reason: nil})

      true ->
        crash_dir = Path.join([opts.out, "crashes", "seed-#{opts.seed}-batch-#{batch}"])
        File.rm_rf!(crash_dir)
        File.mkdir_p!(Path.dirname(crash_dir))
        File.rename!(dir, crash_dir)

        Map.merge(result, %{
          status: :crash,
          reason: reason(status, output),
          dir: crash_dir,
          report: sanitizer_report(output) || tail(output, 30),
          last_call: read_trimmed(Path.join(crash_dir, "last-call")),
          program: program_file(crash_dir)
        })
    end
  end

  defp program_file(dir) do
    path = Path.join(dir, "program.bin")
    if File.exists?(path), do: path
  end

  defp wait(port, log, os_pid, deadline) do
    left = max(deadline - System.monotonic_time(:millisecond), 0)

    receive do
      {^port, {:data, data}} ->
        IO.binwrite(log, data)
        wait(port, log, os_pid, deadline)

      {^port, {:exit_status, status}} ->
        status
    after
      left ->
        System.cmd("kill", ["-KILL", "#{os_pid}"])
        drain(port, log)
        :timeout
    end
  end

  defp drain(port, log) do
    receive do
      {^port, {:data, data}} ->
        IO.binwrite(log, data)
        drain(port, log)

      {^port, {:exit_status, _}} ->
        :ok
    after
      5_000 -> :ok
    end
  end

  defp parse_stats(output) do
    case Regex.run(~r/^BRZ_FUZZ_STATS (\S+)$/m, output) do
      [_, b64] -> :erlang.binary_to_term(Base.decode64!(b64))
      nil -> nil
    end
  end

  defp reason(:timeout, _), do: "timed out (hang?)"

  defp reason(status, output) do
    cond do
      output =~ "BRZ_FUZZ_SETUP_ERROR" ->
        [line] = Regex.run(~r/BRZ_FUZZ_SETUP_ERROR .*/, output)
        "setup failed: " <> line

      status == 1 and output =~ ~r/^\*\* \(/m ->
        "the harness raised (a bug in test/fuzz/, not a crash of the NIF)"

      status > 128 ->
        "killed by signal #{status - 128}#{signal_name(status - 128)}"

      status == 0 ->
        "exited 0 without stats"

      true ->
        "exited with status #{status}"
    end
  end

  defp signal_name(6), do: " (SIGABRT: a sanitizer report or abort)"
  defp signal_name(11), do: " (SIGSEGV)"
  defp signal_name(7), do: " (SIGBUS)"
  defp signal_name(8), do: " (SIGFPE)"
  defp signal_name(9), do: " (SIGKILL: out of memory?)"
  defp signal_name(_), do: ""

  @doc "The sanitizer report (ASan, UBSan, or a BEAM crash message) in a batch's output, or `nil`."
  @spec sanitizer_report(String.t()) :: String.t() | nil
  def sanitizer_report(output) do
    lines = String.split(output, "\n")

    start =
      Enum.find_index(lines, fn l ->
        l =~
          ~r/^=+\d+=+ERROR: AddressSanitizer|AddressSanitizer:DEADLYSIGNAL|runtime error:|^==\d+==ERROR:|Segmentation fault|Crash dump is being written|^\*\*\* /
      end)

    case start do
      nil -> nil
      k -> lines |> Enum.drop(max(k - 1, 0)) |> Enum.take(80) |> Enum.join("\n")
    end
  end

  defp tail(output, n) do
    output |> String.split("\n") |> Enum.take(-n) |> Enum.join("\n")
  end

  defp read_trimmed(path) do
    case File.read(path) do
      {:ok, text} -> String.trim(text)
      _ -> nil
    end
  end

  # ------------------------------------------------------------------------------------------
  # Reporting
  # ------------------------------------------------------------------------------------------

  defp report(%{status: :ok} = r, _opts) do
    s = r.stats
    rate = s.calls / max(s.elapsed_us, 1) * 1.0e6

    info(
      "batch #{r.batch}: #{s.calls} calls in #{fmt(r.wall_ms / 1000)} s " <>
        "(#{round(rate)} calls/s in the batch), " <>
        "programs #{s.programs.accepted}/#{s.programs.generated + s.programs.mutated} accepted, " <>
        "#{s.worlds} worlds, #{s.integrated} integrations"
    )
  end

  defp report(r, opts) do
    rerun =
      "MIX_ENV=test mix broken_record.fuzz --seed #{r.seed} --batch #{r.batch} " <>
        "--batch-size #{opts.batch_size} --parts #{opts.parts}" <>
        if(opts.sanitized, do: " --sanitized", else: "")

    {in_batch, last_call} =
      case r.last_call && Integer.parse(r.last_call) do
        {n, " " <> call} -> {n, call |> String.split("\n") |> Enum.map_join("; ", &String.trim/1)}
        _ -> {nil, r.last_call || "?"}
      end

    found =
      "found #{fmt(r.at_ms / 1000)} s into the run" <>
        if(in_batch,
          do:
            ", at call #{in_batch} of the batch (#{r.calls_before + in_batch} calls made in the " <>
              "run, counting completed batches)",
          else: ""
        )

    program =
      case r.program do
        nil -> "-"
        path -> path <> "\n" <> Programs.describe(File.read!(path))
      end

    report = if String.trim(r.report) == "", do: "(the batch printed nothing)", else: r.report

    text = """

    ==> FUZZ FAILURE in batch #{r.batch} (seed #{r.seed}): #{r.reason}
    #{report}

    #{found}
    last call started: #{last_call}
    last program tried: #{program}
    batch output: #{Path.join(r.dir, "output.log")}
    rerun this batch: #{rerun}
    """

    File.write!(Path.join(r.dir, "report.txt"), text)
    IO.puts(:stderr, text)
  end

  defp summary(results, wall_ms, opts) do
    stats = Enum.map(results, & &1.stats) |> Enum.reject(&is_nil/1)
    calls = Enum.sum(Enum.map(stats, & &1.calls))
    busy_us = Enum.sum(Enum.map(stats, & &1.elapsed_us))
    crashed = Enum.count(results, &(&1.status != :ok))

    outcomes =
      Enum.reduce(stats, %{}, fn s, acc -> Map.merge(acc, s.outcomes, fn _, a, b -> a + b end) end)

    unexpected =
      Enum.reduce(stats, %{}, fn s, acc ->
        Map.merge(acc, s.unexpected, fn _, {a, m}, {b, _} -> {a + b, m} end)
      end)

    parts =
      Enum.reduce(stats, %{a: 0, b: 0, c: 0}, fn s, acc ->
        Map.merge(acc, s.parts, fn _, a, b -> a + b end)
      end)

    programs =
      Enum.reduce(stats, %{generated: 0, mutated: 0, accepted: 0}, fn s, acc ->
        Map.merge(acc, s.programs, fn _, a, b -> a + b end)
      end)

    info("""

    ==> fuzz summary (seed #{opts.seed})
    batches: #{length(results)} run, #{crashed} crashed
    calls: #{calls} in completed batches (a: #{parts.a}, b: #{parts.b}, c: #{parts.c}); #{fmt(wall_ms / 1000)} s wall, \
    #{round(calls / (wall_ms / 1000))} calls/s overall, #{round(calls / max(busy_us, 1) * 1.0e6)} calls/s per batch process
    programs: #{programs.generated} generated, #{programs.mutated} mutated, #{programs.accepted} accepted; \
    worlds: #{Enum.sum(Enum.map(stats, & &1.worlds))}; integrations that returned: #{Enum.sum(Enum.map(stats, & &1.integrated))}
    outcomes per function:
    #{outcome_table(outcomes)}
    """)

    unless unexpected == %{} do
      info("unexpected exceptions (not failures; worth a look):")

      for {{fun, kind}, {n, sample}} <- Enum.sort(unexpected) do
        info("  #{fmt_fun(fun)} #{inspect(kind)} x#{n}: #{sample}")
      end
    end
  end

  defp outcome_table(outcomes) do
    outcomes
    |> Enum.group_by(fn {{fun, _}, _} -> fun end, fn {{_, kind}, n} -> {kind, n} end)
    |> Enum.sort_by(fn {fun, _} -> fmt_fun(fun) end)
    |> Enum.map_join("\n", fn {fun, kinds} ->
      detail =
        kinds
        |> Enum.sort_by(fn {_, n} -> -n end)
        |> Enum.map_join(", ", fn {kind, n} -> "#{short(kind)} #{n}" end)

      "  #{String.pad_trailing(fmt_fun(fun), 22)} #{detail}"
    end)
  end

  defp fmt_fun({:api, fun}), do: "api:#{fun}"
  defp fmt_fun(fun), do: "#{fun}"

  defp short(kind) when is_atom(kind) do
    case Atom.to_string(kind) do
      "Elixir." <> name -> name |> String.split(".") |> List.last()
      name -> name
    end
  end

  defp fmt(x), do: :erlang.float_to_binary(x * 1.0, decimals: 1)

  defp info(text), do: IO.puts(text)
end
