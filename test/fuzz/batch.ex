defmodule BrokenRecord.Zero.Fuzz.Batch do
  @moduledoc """
  One fuzz batch, run in its own OS process by `BrokenRecord.Zero.Fuzz.Runner` (see
  `docs/fuzzing.md`): a crash of the NIF kills this VM, and the runner reports it.

  The batch seeds `:rand` from `{seed, batch}` and makes `calls` NIF (or public API) calls,
  drawn from three parts:

    * `:a` random arguments: every function of `BrokenRecord.Zero.NIF.__info__(:functions)`
      with random terms, resources of real programs and worlds, and mutated copies of the
      argument lists of earlier structured calls;
    * `:b` random programs: the test systems' program binaries mutated, and programs generated
      from the binary format, given to `program_new`; an accepted one gets worlds with a
      matching layout and state that are integrated, read back and queried (sometimes while
      another process integrates the same world, sometimes killing that process mid-call);
    * `:c` the public API: `World.new/3`, `step/2`, `to_state/1`, `column/3`, `info/1`,
      `counts/1` and `Runtime.simulate/3` on the test systems with random states and options.

  Every call runs in a fresh Erlang process with a time limit (a call still running then is
  killed, which `native_run_steps` notices). Returning anything, raising anything or timing out
  is not a failure; only the OS process dying is. Exceptions other than `ArgumentError`,
  `NumericalError`, `ConservationError` and `RuntimeError` are counted as unexpected and
  reported with a sample message.

  The batch keeps its counters, pools and corpus in the process dictionary (the process is
  thrown away afterwards). Before each call it overwrites `<trace_dir>/last-call` with the
  call's number in the batch, the part and the function, and before each program `<trace_dir>/program.bin` with the binary, so that a
  crash leaves the culprit behind.
  """

  alias BrokenRecord.Zero.{NIF, Runtime, World}
  alias BrokenRecord.Zero.Fuzz.{Adapter, Programs, Terms}
  import BrokenRecord.Zero.Fuzz.Terms, only: [weighted: 1, chance: 1]

  @fine [
    ArgumentError,
    RuntimeError,
    BrokenRecord.Zero.NumericalError,
    BrokenRecord.Zero.ConservationError
  ]
  @pool_size 48
  @corpus_size 24

  @typedoc "Batch options (see `run/1`)."
  @type opts :: %{
          seed: integer,
          batch: non_neg_integer,
          calls: pos_integer,
          parts: [:a | :b | :c],
          call_timeout: pos_integer,
          trace_dir: String.t() | nil,
          crash_at: pos_integer | nil
        }

  @doc """
  The entry point of a batch OS process (`elixir -pa <ebin> -e '...main(System.argv())'`).

  Arguments: `--seed S --batch B --calls N [--parts a,b,c] [--call-timeout MS]
  [--trace-dir DIR] [--expect-priv DIR] [--sanitized] [--crash-at N]`. With `--expect-priv` the batch first
  checks that the NIF it loaded is `DIR/libbroken_record_zero.so` (and with `--sanitized` that
  the ASan runtime is mapped), and exits with status 3 otherwise. Prints one line
  `BRZ_FUZZ_STATS <base64 of the stats term>` and halts with status 0. `--crash-at N` (the
  runner's own test) aborts the VM, as a sanitizer report does, when call N starts.
  """
  @spec main([String.t()]) :: no_return
  def main(argv) do
    {o, _, _} =
      OptionParser.parse(argv,
        strict: [
          seed: :integer,
          batch: :integer,
          calls: :integer,
          parts: :string,
          call_timeout: :integer,
          trace_dir: :string,
          expect_priv: :string,
          sanitized: :boolean,
          crash_at: :integer
        ]
      )

    Logger.configure(level: :error)
    check_library!(o[:expect_priv], Keyword.get(o, :sanitized, false))

    stats =
      run(%{
        seed: Keyword.fetch!(o, :seed),
        batch: Keyword.fetch!(o, :batch),
        calls: Keyword.fetch!(o, :calls),
        parts: parse_parts(Keyword.get(o, :parts, "a,b,c")),
        call_timeout: Keyword.get(o, :call_timeout, 2_000),
        trace_dir: o[:trace_dir],
        crash_at: o[:crash_at]
      })

    IO.puts("BRZ_FUZZ_STATS " <> Base.encode64(:erlang.term_to_binary(stats)))
    System.halt(0)
  end

  @doc "Parses `\"a,b,c\"` into `[:a, :b, :c]`."
  @spec parse_parts(String.t()) :: [:a | :b | :c]
  def parse_parts(text) do
    text
    |> String.split(",", trim: true)
    |> Enum.map(fn
      "a" -> :a
      "b" -> :b
      "c" -> :c
      other -> raise ArgumentError, "unknown fuzz part #{inspect(other)} (known: a, b, c)"
    end)
  end

  # The library this VM loaded must be the one the runner built for it.
  defp check_library!(expect_priv, sanitized?) do
    unless NIF.loaded?() do
      abort_setup("the NIF is not loaded: #{NIF.load_error()}")
    end

    maps = File.read!("/proc/self/maps")

    if expect_priv do
      expected = Path.join(expect_priv, "libbroken_record_zero.so")

      mapped =
        maps
        |> String.split("\n")
        |> Enum.map(&(&1 |> String.split() |> Enum.at(5)))
        |> Enum.find(&(&1 != nil and Path.basename(&1) == "libbroken_record_zero.so"))

      unless mapped != nil and same_file?(mapped, expected) do
        abort_setup("the loaded NIF is #{inspect(mapped)}, not #{expected}")
      end
    end

    if sanitized? and not String.contains?(maps, "libasan") do
      abort_setup("the ASan runtime is not loaded (LD_PRELOAD missing?)")
    end
  end

  # The same file (device and inode), whichever symlinks lead to it.
  defp same_file?(a, b) do
    with {:ok, sa} <- File.stat(a), {:ok, sb} <- File.stat(b) do
      {sa.major_device, sa.minor_device, sa.inode} == {sb.major_device, sb.minor_device, sb.inode}
    else
      _ -> false
    end
  end

  defp abort_setup(message) do
    IO.puts(:stderr, "BRZ_FUZZ_SETUP_ERROR " <> message)
    System.halt(3)
  end

  @doc """
  Runs one batch in the calling process and returns its stats: `calls`, calls per part,
  `outcomes` (`{function, outcome} => count`), `unexpected` (`{function, exception} =>
  {count, sample message}`), program and world counters, and `elapsed_us`.
  """
  @spec run(opts) :: map
  def run(opts) do
    :rand.seed(:exsss, {opts.seed, opts.batch, 0x5EED})
    t0 = System.monotonic_time(:microsecond)
    setup(opts)
    loop(opts)
    stats = Process.get(:brz_stats)
    Map.put(stats, :elapsed_us, System.monotonic_time(:microsecond) - t0)
  end

  defp setup(opts) do
    systems = systems()
    bins = Enum.map(systems, & &1.__system__().program_binary)

    Process.put(:brz_opts, opts)
    Process.put(:brz_systems, systems)
    Process.put(:brz_seed_bins, bins)
    Process.put(:brz_bins, bins)
    Process.put(:brz_programs, [])
    Process.put(:brz_worlds, [])
    Process.put(:brz_values, [])
    Process.put(:brz_corpus, %{})

    Process.put(:brz_stats, %{
      calls: 0,
      parts: %{a: 0, b: 0, c: 0},
      outcomes: %{},
      unexpected: %{},
      programs: %{generated: 0, mutated: 0, accepted: 0},
      worlds: 0,
      integrated: 0
    })

    if opts.trace_dir do
      File.mkdir_p!(opts.trace_dir)
      {:ok, fd} = :file.open(Path.join(opts.trace_dir, "last-call"), [:raw, :write, :binary])
      Process.put(:brz_trace, fd)
    end

    # A few real programs and worlds for the random-argument part from the start.
    for mod <- Enum.take_random(systems, 3), do: program_run(mod.__system__().program_binary)
  end

  @doc "The test systems (modules of the application with `__system__/0` and a program binary)."
  @spec systems() :: [module]
  def systems do
    _ = Application.load(:broken_record)
    {:ok, modules} = :application.get_key(:broken_record, :modules)

    modules
    |> Enum.filter(fn m ->
      Code.ensure_loaded?(m) and function_exported?(m, :__system__, 0) and
        is_binary(m.__system__().program_binary)
    end)
    |> Enum.sort()
  end

  defp loop(opts) do
    if Process.get(:brz_stats).calls < opts.calls do
      case Enum.random(opts.parts) do
        :a -> part_a()
        :b -> part_b()
        :c -> part_c()
      end

      loop(opts)
    end
  end

  # ------------------------------------------------------------------------------------------
  # Calls
  # ------------------------------------------------------------------------------------------

  # Makes NIF calls in order; returns the outcome of the last one. Structured calls are kept
  # in the corpus (args) and the value pool (each argument).
  defp nif(part, calls, keep? \\ true) do
    Enum.reduce(calls, nil, fn {fun, args}, _ ->
      if keep?, do: remember(fun, args)
      guarded(part, fun, args, fn -> apply(NIF, fun, args) end)
    end)
  end

  # Runs `f` in a new process with the time limit; counts the outcome.
  defp guarded(part, fun, args, f) do
    trace(part, fun, length(args))
    opts = Process.get(:brz_opts)
    if Process.get(:brz_stats).calls + 1 == opts[:crash_at], do: :erlang.halt(:abort)
    timeout = opts.call_timeout
    {pid, mref} = spawn_monitor(fn -> exit({:brz_result, outcome(f)}) end)

    result =
      receive do
        {:DOWN, ^mref, :process, ^pid, {:brz_result, r}} -> r
        {:DOWN, ^mref, :process, ^pid, reason} -> {:exit, reason}
      after
        timeout ->
          Process.exit(pid, :kill)
          receive do: ({:DOWN, ^mref, :process, ^pid, _} -> :timeout)
      end

    count(part, fun, result)
    result
  end

  defp outcome(f) do
    {:ok, f.()}
  rescue
    e -> {:raised, e.__struct__, Exception.message(e)}
  catch
    kind, value -> {kind, value}
  end

  defp count(part, fun, result) do
    key =
      case result do
        {:ok, _} -> :ok
        {:raised, mod, _} -> mod
        {:exit, _} -> :exit
        {:throw, _} -> :throw
        :timeout -> :timeout
        :concurrent -> :concurrent
      end

    update_stats(fn s ->
      s = %{s | calls: s.calls + 1, parts: Map.update!(s.parts, part, &(&1 + 1))}
      s = %{s | outcomes: Map.update(s.outcomes, {fun, key}, 1, &(&1 + 1))}

      case result do
        {:raised, mod, msg} when mod not in @fine ->
          %{
            s
            | unexpected:
                Map.update(s.unexpected, {fun, mod}, {1, String.slice(msg, 0, 300)}, fn {n, m} ->
                  {n + 1, m}
                end)
          }

        {kind, value} when kind in [:exit, :throw] ->
          sample = String.slice(inspect(value, limit: 8), 0, 300)

          %{
            s
            | unexpected:
                Map.update(s.unexpected, {fun, kind}, {1, sample}, fn {n, m} -> {n + 1, m} end)
          }

        _ ->
          s
      end
    end)
  end

  defp update_stats(f), do: Process.put(:brz_stats, f.(Process.get(:brz_stats)))
  defp bump(path), do: update_stats(&update_in(&1, path, fn n -> n + 1 end))

  defp trace(part, fun, arity) do
    case Process.get(:brz_trace) do
      nil ->
        :ok

      fd ->
        n = Process.get(:brz_stats).calls + 1
        :file.pwrite(fd, 0, String.pad_trailing("#{n} #{part} #{name(fun)}/#{arity}", 79) <> "\n")
    end
  end

  # A second line (offset 80) names the last call started in another process (a dirty NIF
  # call goes on after its process is killed, until it notices).
  defp trace_concurrent(text) do
    case Process.get(:brz_trace) do
      nil -> :ok
      fd -> :file.pwrite(fd, 80, String.pad_trailing(text, 79) <> "\n")
    end
  end

  defp name({:api, fun}), do: "api:#{fun}"
  defp name(fun), do: "#{fun}"

  defp trace_program(bin) do
    case Process.get(:brz_opts).trace_dir do
      nil -> :ok
      dir -> File.write!(Path.join(dir, "program.bin"), bin)
    end
  end

  defp remember(fun, args) do
    key = {fun, length(args)}
    corpus = Process.get(:brz_corpus)
    Process.put(:brz_corpus, Map.update(corpus, key, [args], &bounded([args | &1], @corpus_size)))

    unless args == [] do
      Process.put(:brz_values, bounded([Enum.random(args) | Process.get(:brz_values)], 64))
    end
  end

  defp bounded(list, n) when length(list) > n, do: List.delete_at(list, :rand.uniform(n))
  defp bounded(list, _n), do: list

  defp push(key, value, n \\ @pool_size),
    do: Process.put(key, bounded([value | Process.get(key)], n))

  # ------------------------------------------------------------------------------------------
  # Part a: every NIF function with random arguments
  # ------------------------------------------------------------------------------------------

  defp part_a do
    functions = Adapter.functions()

    for _ <- 1..16 do
      {fun, arity} = Enum.random(functions)
      seeds = Map.get(Process.get(:brz_corpus), {fun, arity}, [])

      args =
        if seeds != [] and chance(0.6),
          do: mutate_args(Enum.random(seeds)),
          else: for(_ <- 1..arity//1, do: random_arg())

      nif(:a, [{fun, args}], false)
    end

    if chance(0.05), do: :erlang.garbage_collect()
  end

  defp mutate_args([]), do: []

  defp mutate_args(args) do
    Enum.reduce(1..weighted([{70, 1}, {30, 2}]), args, fn _, acc ->
      k = :rand.uniform(length(acc)) - 1
      List.update_at(acc, k, fn old -> if chance(0.5), do: perturb(old), else: random_arg() end)
    end)
  end

  # A small change of a term of the same shape.
  defp perturb(x) when is_integer(x), do: Enum.random([x + 1, x - 1, -x, x * 65_536, Terms.int()])
  defp perturb(x) when is_float(x), do: Enum.random([-x, x / 3, 0.0, Terms.float(), round(x)])
  defp perturb([]), do: [random_arg()]

  defp perturb(list) when is_list(list) do
    if proper?(list) do
      case :rand.uniform(5) do
        1 -> tl(list)
        2 -> list ++ [random_arg()]
        3 -> List.update_at(list, :rand.uniform(length(list)) - 1, &perturb/1)
        4 -> Enum.reverse(list)
        5 -> Enum.reduce(list, Terms.term(0), &[&1 | &2])
      end
    else
      random_arg()
    end
  end

  defp perturb(map) when is_map(map) and map_size(map) > 0 do
    key = Enum.random(Map.keys(map))

    case :rand.uniform(3) do
      1 -> Map.delete(map, key)
      2 -> Map.update!(map, key, &perturb/1)
      3 -> Map.put(map, Terms.atom(), random_arg())
    end
  end

  defp perturb(t) when is_tuple(t) and tuple_size(t) > 0 do
    k = :rand.uniform(tuple_size(t)) - 1
    if chance(0.8), do: put_elem(t, k, perturb(elem(t, k))), else: Tuple.delete_at(t, k)
  end

  defp perturb(_other), do: random_arg()

  defp proper?([]), do: true
  defp proper?([_ | tail]), do: proper?(tail)
  defp proper?(_), do: false

  # An argument: a resource, a structured value from earlier calls, or a random term (which
  # may itself contain resources and structured values).
  defp random_arg do
    resources = resources()
    values = Process.get(:brz_values)

    case weighted([{25, :resource}, {20, :value}, {55, :term}]) do
      :resource when resources != [] -> Enum.random(resources)
      :value when values != [] -> Enum.random(values)
      _ -> Terms.term(3, resources ++ Enum.take(values, 8))
    end
  end

  defp resources do
    Enum.map(Process.get(:brz_programs), & &1.ref) ++
      Enum.map(Process.get(:brz_worlds), & &1.ref)
  end

  # ------------------------------------------------------------------------------------------
  # Part b: random programs, and worlds of the accepted ones
  # ------------------------------------------------------------------------------------------

  defp part_b do
    bin =
      case weighted([{40, :generate}, {50, :mutate}, {10, :seed}]) do
        :generate ->
          bump([:programs, :generated])
          Programs.generate()

        :mutate ->
          bump([:programs, :mutated])
          Programs.mutate(Enum.random(Process.get(:brz_bins)), Process.get(:brz_seed_bins))

        :seed ->
          Enum.random(Process.get(:brz_seed_bins))
      end

    program_run(bin)
  end

  defp program_run(bin) do
    trace_program(bin)

    case nif(:b, Adapter.program_new(bin)) do
      {:ok, ref} when is_reference(ref) ->
        bump([:programs, :accepted])
        push(:brz_bins, bin)

        case Programs.decode(bin) do
          {:ok, raw} ->
            push(:brz_programs, %{ref: ref, raw: raw}, 8)
            for _ <- 1..weighted([{70, 1}, {30, 2}]), do: world_run(ref, raw)

          :error ->
            # Accepted by the NIF, rejected by the harness's decoder: recorded as unexpected.
            count(:b, :program_new, {:raised, :harness_decode_mismatch, Base.encode16(bin)})
        end

      _ ->
        :ok
    end
  end

  defp world_run(program, raw) do
    layout = Programs.layout(raw.lanes)
    state = Programs.state(layout)
    precision = weighted([{60, :f64}, {38, :f32}, {2, Terms.atom()}])
    box = Programs.box(raw)
    {seed, start_step} = Programs.seed_and_step()

    case nif(:b, Adapter.world_new(program, layout, state, precision, box, seed, start_step)) do
      {:ok, world} when is_reference(world) ->
        bump([:worlds])
        w = %{ref: world, program: program, raw: raw, layout: layout, state: state}
        push(:brz_worlds, w, 8)
        if chance(0.2), do: nif(:b, Adapter.set_options(world, kernels: chance(0.5)))
        for _ <- 1..weighted([{50, 1}, {30, 2}, {20, 4}]), do: world_action(w)

      _ ->
        :ok
    end
  end

  defp world_action(w) do
    case weighted([
           {50, :integrate},
           {14, :to_state},
           {12, :column},
           {8, :totals},
           {4, :observe},
           {6, :put_column},
           {4, :identities},
           {6, :info},
           {10, :concurrent}
         ]) do
      :integrate ->
        case nif(:b, integrate_calls(w)) do
          {:ok, _} -> bump([:integrated])
          _ -> :ok
        end

      :to_state ->
        nif(:b, Adapter.to_state(w.ref, state_for_read(w)))

      :column ->
        {t, first, n} = Programs.column_args(w.raw.lanes)
        nif(:b, Adapter.column(w.ref, t, first, n))

      :put_column ->
        # A field's column read back and written, now and then damaged (sizes, NaN, any
        # bytes); now and then a lane range that is no field.
        {t, first, n} =
          if chance(0.8), do: field_lanes(w.layout), else: Programs.column_args(w.raw.lanes)

        case nif(:b, Adapter.column(w.ref, t, first, n)) do
          {:ok, bin} when is_binary(bin) ->
            bin = if chance(0.3), do: damage(bin), else: bin
            nif(:b, Adapter.put_column(w.ref, t, first, n, bin))

          _ ->
            :ok
        end

      :identities ->
        {t, _, _} = Programs.column_args(w.raw.lanes)

        case nif(:b, Adapter.identities(w.ref, t)) do
          {:ok, {ids, next_id, images}} ->
            {ids, next_id} =
              if chance(0.3),
                do: {damage(ids), Enum.random([0, next_id + 1, 0x100000000])},
                else: {ids, next_id}

            nif(:b, Adapter.put_identities(w.ref, t, ids, next_id, images))

          _ ->
            :ok
        end

      :totals ->
        {t, m, v, p} = Programs.totals_args(w.raw.lanes)
        nif(:b, Adapter.totals(w.ref, t, m, v, p))

      :observe ->
        nif(:b, Adapter.observe(w.ref, w.program, Programs.observe_specs(w.raw.rules)))

      :info ->
        nif(:b, Adapter.info(w.ref, w.program))

      :concurrent ->
        concurrent(w)
    end
  end

  # {type, first_lane, n_lanes} of a random field of the layout ({0, 0, 1} without fields).
  defp field_lanes(layout) do
    fields =
      for {{_key, _name, fields, _written}, t} <- Enum.with_index(layout),
          {_, kind, _, _} <- fields,
          reduce: {[], %{}} do
        {acc, next} ->
          first = Map.get(next, t, 0)
          n = if kind == :vec3, do: 3, else: 1
          {[{t, first, n} | acc], Map.put(next, t, first + n)}
      end
      |> elem(0)

    if fields == [], do: {0, 0, 1}, else: Enum.random(fields)
  end

  # A binary cut short, grown, or with a byte flipped or eight bytes of NaN written in.
  defp damage(bin) do
    size = byte_size(bin)
    pos = if size > 0, do: :rand.uniform(size) - 1, else: 0

    case :rand.uniform(4) do
      1 ->
        binary_part(bin, 0, pos)

      2 ->
        bin <> :rand.bytes(:rand.uniform(9))

      3 when size > 0 ->
        binary_part(bin, 0, pos) <>
          <<Bitwise.bxor(:binary.at(bin, pos), 0x40)>> <>
          binary_part(bin, pos + 1, size - pos - 1)

      _ when size >= 8 ->
        # an 8-byte-aligned offset whose 8 bytes lie inside the binary
        at = div(min(pos, size - 8), 8) * 8

        binary_part(bin, 0, at) <>
          <<0, 0, 0, 0, 0, 0, 0xF8, 0x7F>> <>
          binary_part(bin, at + 8, size - at - 8)

      _ ->
        bin
    end
  end

  defp integrate_calls(w) do
    n_rules = length(w.raw.rules)

    Adapter.run_steps(
      w.ref,
      Programs.params(w.raw.n_params),
      Programs.steps(),
      Programs.rule_ids(n_rules)
    )
  end

  defp state_for_read(w) do
    if chance(0.9), do: w.state, else: Programs.state(w.layout)
  end

  # Another process integrates the world while this one reads it; that process is then either
  # waited for or killed in the middle of its call.
  defp concurrent(w) do
    calls = integrate_calls(w)
    parent = self()

    trace_concurrent(
      "at call #{Process.get(:brz_stats).calls + 1} another process started " <>
        Enum.map_join(calls, ", ", &name(elem(&1, 0))) <> " (killed or not, it may still run)"
    )

    {pid, mref} =
      spawn_monitor(fn ->
        for {fun, args} <- calls, do: outcome(fn -> apply(NIF, fun, args) end)
        send(parent, :brz_integrated)
      end)

    for {fun, _} <- calls, do: count(:b, fun, :concurrent)

    for _ <- 1..:rand.uniform(3) do
      case :rand.uniform(3) do
        1 ->
          nif(:b, Adapter.to_state(w.ref, w.state))

        2 ->
          nif(:b, Adapter.info(w.ref, w.program))

        3 ->
          nif(
            :b,
            apply(Adapter, :column, [w.ref | Tuple.to_list(Programs.column_args(w.raw.lanes))])
          )
      end
    end

    if chance(0.5), do: Process.exit(pid, :kill)

    receive do
      {:DOWN, ^mref, :process, ^pid, _} -> :ok
    after
      Process.get(:brz_opts).call_timeout ->
        Process.exit(pid, :kill)
        receive do: ({:DOWN, ^mref, :process, ^pid, _} -> :ok)
    end

    receive do
      :brz_integrated -> :ok
    after
      0 -> :ok
    end
  end

  # ------------------------------------------------------------------------------------------
  # Part c: the public API on the test systems
  # ------------------------------------------------------------------------------------------

  defp part_c do
    mod = Enum.random(Process.get(:brz_systems))
    system = mod.__system__()
    state = system_state(system)
    small? = small_state?(state)

    if chance(0.3) do
      opts = step_opts(system, small?) ++ sim_extra()
      api(:simulate, [mod, state, opts], fn -> Runtime.simulate(mod, state, opts) end)
    else
      opts = world_opts(state)

      case api(:world_new, [mod, state, opts], fn -> World.new(mod, state, opts) end) do
        {:ok, %World{} = world} -> world_api(world, system, small?)
        _ -> :ok
      end
    end
  end

  defp api(fun, args, f), do: guarded(:c, {:api, fun}, args, f)

  defp world_api(world, system, small?) do
    Enum.reduce(1..weighted([{40, 1}, {40, 3}, {20, 6}]), world, fn _, world ->
      case weighted([
             {40, :step},
             {20, :to_state},
             {15, :column},
             {10, :info},
             {10, :counts},
             {5, :copy}
           ]) do
        :step ->
          opts = step_opts(system, small?)

          case api(:step, [world, opts], fn -> World.step(world, opts) end) do
            {:ok, %World{} = next} -> next
            _ -> world
          end

        :to_state ->
          api(:to_state, [world], fn -> World.to_state(world) end)
          world

        :column ->
          {coll, field} = column_names(system)
          api(:column, [world, coll, field], fn -> World.column(world, coll, field) end)
          world

        :info ->
          api(:info, [world], fn -> World.info(world) end)
          world

        :counts ->
          api(:counts, [world], fn -> World.counts(world) end)
          world

        # Goes on with the copy, so that copies are stepped and read too.
        :copy ->
          case api(:copy, [world], fn -> World.copy(world) end) do
            {:ok, %World{} = copy} -> copy
            _ -> world
          end
      end
    end)
  end

  defp system_state(system) do
    spicy? = chance(0.15)

    state =
      Map.new(system.agents, fn agent ->
        n =
          weighted([
            {15, 0},
            {55, :rand.uniform(6)},
            {25, 6 + :rand.uniform(40)},
            {5, 50 + :rand.uniform(200)}
          ])

        agents =
          for _ <- 1..n//1 do
            Map.new(agent.fields, fn f -> {f.name, field_value(f.type, spicy?)} end)
            |> Map.reject(fn {name, _} ->
              Enum.find(agent.fields, &(&1.name == name)).default != nil and chance(0.3)
            end)
          end

        {agent.collection, agents}
      end)

    case weighted([{92, :ok}, {3, :junk_agent}, {2, :missing}, {3, :extra}]) do
      :ok ->
        state

      :junk_agent when map_size(state) > 0 ->
        key = Enum.random(Map.keys(state))
        Map.update!(state, key, &[Terms.term(2) | &1])

      :missing when map_size(state) > 0 ->
        Map.delete(state, Enum.random(Map.keys(state)))

      _ ->
        Map.put(state, Terms.atom(), Terms.term(2))
    end
  end

  defp field_value(:bool, _spicy?), do: Enum.random([true, false, 0, 1, 1.0])

  defp field_value(type, spicy?) do
    if spicy? and chance(0.02), do: Terms.term(1), else: Programs.value(type, spicy?)
  end

  # Small enough for the pure-Elixir backend, or for the default 1000 steps.
  defp small_state?(state),
    do: state |> Map.values() |> Enum.all?(&(is_list(&1) and proper?(&1) and length(&1) <= 8))

  defp world_opts(state) do
    small? = small_state?(state)

    backend =
      weighted([
        {85, :native},
        {5, :auto},
        {5, if(small?, do: :interpreted, else: :native)},
        {5, Terms.atom()}
      ])

    [backend: backend]
    |> maybe_put(0.4, :precision, fn -> weighted([{48, :f64}, {48, :f32}, {4, Terms.term(0)}]) end)
    |> maybe_put(0.3, :kernels, fn -> weighted([{96, chance(0.5)}, {4, Terms.term(0)}]) end)
  end

  defp step_opts(system, small?) do
    rules = Enum.map(system.rules, & &1.name)
    params = system.params -- [:dt]

    []
    |> maybe_put(if(small?, do: 0.98, else: 1.0), :steps, fn ->
      weighted([{97, Programs.steps()}, {3, Terms.term(0)}])
    end)
    |> maybe_put(0.8, :dt, fn ->
      weighted([{90, :rand.uniform() * 0.02}, {10, Terms.number()}])
    end)
    |> maybe_put(0.4, :rules, fn ->
      weighted([{90, Enum.take_random(rules ++ rules, :rand.uniform(3))}, {10, [Terms.atom()]}])
    end)
    |> maybe_put(if(params == [], do: 0.1, else: 0.9), :params, fn ->
      Map.new(params, &{&1, weighted([{90, (:rand.uniform() - 0.5) * 4}, {10, Terms.term(0)}])})
    end)
    |> maybe_put(0.02, Terms.atom(), fn -> Terms.term(0) end)
  end

  defp sim_extra do
    backend = weighted([{90, :native}, {10, Terms.atom()}])

    [backend: backend]
    |> maybe_put(0.15, :conservation, fn ->
      weighted([{50, :report}, {40, {:raise, :rand.uniform()}}, {10, Terms.term(0)}])
    end)
  end

  defp maybe_put(opts, p, key, value_fun),
    do: if(chance(p), do: opts ++ [{key, value_fun.()}], else: opts)

  defp column_names(system) do
    agent = Enum.random(system.agents)

    coll = if chance(0.95), do: agent.collection, else: Terms.atom()
    field = if chance(0.95), do: Enum.random(agent.fields).name, else: Terms.atom()
    {coll, field}
  end
end
