defmodule Bench.Measure do
  @moduledoc """
  Timing: a world's steps (`world/3`), the best of repeated runs (in this process or each in a
  fresh one), interleaved rounds of a scenario, and the ratios between a scenario's rows.
  Native and Elixir timings exclude marshalling: the world is created first, then
  `World.step/2` is timed.
  """

  alias Bench.{Config, Row}
  alias BrokenRecord.Zero.World

  @doc """
  Times `steps` steps of `system` on `state` (after one untimed step) and returns `row` with
  the measurements. `opts`: `backend`, `precision`, `work` (per step, in `unit`), `flops` (per
  unit of work; without it no GFLOPS), `reps` (default 3), `checksum` (`{collection, field}`: the sum of |x| per
  step, compared with the C++ reference's) and `run` (more `World.step/2` options: `rules`,
  `params`).
  """
  @spec world(map, module, map, keyword) :: map
  def world(row, system, state, opts) do
    {backend, precision} = {Keyword.fetch!(opts, :backend), Keyword.fetch!(opts, :precision)}
    steps = Keyword.fetch!(opts, :steps)
    work = Keyword.fetch!(opts, :work)
    world = World.new(system, state, backend: backend, precision: precision)
    run = [dt: 1.0e-4] ++ Keyword.get(opts, :run, [])
    world = World.step(world, [steps: 1] ++ run)
    reps = Keyword.get(opts, :reps, 3)
    {t, world} = best_steps(reps, world, [steps: steps] ++ run)
    per_step = t / steps

    # positions do not move in the gravity systems, so the accumulated velocity (acceleration)
    # is linear in the number of steps: sum |x| per step compares with the C++ reference
    checksum =
      case opts[:checksum] do
        {collection, field} ->
          size = if backend == :native and precision == :f32, do: 32, else: 64
          bin = World.column(world, collection, field)
          sum = for <<x::float-native-size(size) <- bin>>, reduce: 0.0, do: (acc -> acc + abs(x))
          sum / (1 + reps * steps)

        nil ->
          nil
      end

    Map.merge(row, %{
      steps: steps,
      seconds_per_step: per_step,
      throughput: work / per_step,
      unit: if(row.scenario in [:gravity, :softened], do: "pairs/s", else: "agents/s"),
      gflops: if(opts[:flops], do: work * opts[:flops] / per_step / 1.0e9),
      checksum_per_step: checksum
    })
  end

  @doc """
  `world/4` on the native engine in f64 and f32, rows keyed `scenario`, `n`, `:native`; none
  when the engine is not loaded.
  """
  @spec native(Config.t(), atom, pos_integer, module, map, keyword) :: [map]
  def native(%Config{native?: false}, _scenario, _n, _system, _state, _opts), do: []

  def native(_config, scenario, n, system, state, opts) do
    for precision <- [:f64, :f32] do
      row = Row.new(scenario, n, :native, precision)
      world(row, system, state, [backend: :native, precision: precision] ++ opts)
    end
  end

  @doc """
  Runs a scenario's measurements (DSL and reference rows) in several interleaved rounds and
  keeps each contender's fastest round, so that a burst of load on the machine does not land
  on one side of a ratio only; then adds the ratios.
  """
  @spec in_rounds(Config.t(), (() -> [map])) :: [map]
  def in_rounds(config, fun) do
    rounds = for _ <- 1..Config.pick(config, full: 3, quick: 2, smoke: 1), do: fun.()

    rounds
    |> hd()
    |> Enum.map(fn row ->
      rounds
      |> Enum.map(fn rows -> Enum.find(rows, &same_contender?(&1, row)) end)
      |> Enum.min_by(& &1.seconds_per_step)
    end)
    |> ratio_rows()
  end

  @doc "Whether two rows of a scenario measured the same contender."
  @spec same_contender?(map, map) :: boolean
  def same_contender?(a, b),
    do: {a.contender, a.precision, a[:heap]} == {b.contender, b.precision, b[:heap]}

  @doc "Runs `fun` `k` times, each from a collected heap; the fastest `{seconds, result}`."
  @spec best_of(pos_integer, (() -> term)) :: {float, term}
  def best_of(k, fun) do
    Enum.map(1..k, fn _ ->
      # start every timed run with a collected heap, so a GC of earlier garbage is not timed
      :erlang.garbage_collect()
      t0 = System.monotonic_time(:nanosecond)
      result = fun.()
      {(System.monotonic_time(:nanosecond) - t0) / 1.0e9, result}
    end)
    |> Enum.min_by(&elem(&1, 0))
  end

  @doc """
  The best time of `k` runs of `World.step(world, opts)`, each stepping on from the world the
  previous one returned (a world has one live handle), and the last world.
  """
  @spec best_steps(pos_integer, World.t(), keyword) :: {float, World.t()}
  def best_steps(k, world, opts) do
    {times, world} =
      Enum.map_reduce(1..k, world, fn _, world ->
        {t, world} = best_of(1, fn -> World.step(world, opts) end)
        {t, world}
      end)

    {Enum.min(times), world}
  end

  @doc """
  `best_of/2` with every run in a new process that holds only `arg` (copied in before the
  clock starts), with a heap of at least `heap_words` words (nil: the default), so that every
  contender starts from the same heap.
  """
  @spec best_in_fresh_process(pos_integer, term, pos_integer | nil, (term -> term)) ::
          {float, term}
  def best_in_fresh_process(k, arg, heap_words, fun) do
    parent = self()
    opts = if heap_words, do: [:monitor, {:min_heap_size, heap_words}], else: [:monitor]

    Enum.map(1..k, fn _ ->
      {pid, ref} =
        :erlang.spawn_opt(
          fn ->
            arg = receive(do: ({:arg, a} -> a))
            :erlang.garbage_collect()
            t0 = System.monotonic_time(:nanosecond)
            result = fun.(arg)
            t = (System.monotonic_time(:nanosecond) - t0) / 1.0e9
            send(parent, {:timed, self(), t, result})
          end,
          opts
        )

      send(pid, {:arg, arg})

      receive do
        {:timed, ^pid, t, result} ->
          receive(do: ({:DOWN, ^ref, _, _, _} -> :ok))
          {t, result}

        {:DOWN, ^ref, _, _, reason} ->
          raise "benchmark process failed: #{inspect(reason)}"
      end
    end)
    |> Enum.min_by(&elem(&1, 0))
  end

  # Adds each row's speed relative to the C++ reference (same precision) when there is one,
  # else relative to the Elixir backend of the same scenario and size.
  defp ratio_rows(rows) do
    elixir = Enum.find(rows, &(&1.contender == :elixir))

    Enum.map(rows, fn row ->
      reference = Enum.find(rows, &(Row.cpp?(&1) and &1.precision == row.precision))

      cond do
        reference && row.contender != :elixir ->
          row
          |> result_check(reference)
          |> Map.merge(%{
            ratio: reference.seconds_per_step / row.seconds_per_step,
            ratio_label: "x #{Row.contender_label(reference.contender)} speed"
          })

        elixir ->
          Map.merge(row, %{
            ratio: elixir.seconds_per_step / row.seconds_per_step,
            ratio_label: "x elixir"
          })

        true ->
          row
      end
    end)
  end

  # Relative difference of the per-step checksums of a row and its reference (same inputs).
  defp result_check(%{checksum_per_step: a} = row, %{checksum_per_step: b} = reference)
       when is_float(a) and is_float(b) and b != 0.0 do
    if same_contender?(row, reference),
      do: row,
      else: Map.put(row, :rel_diff_vs_reference, abs(a - b) / abs(b))
  end

  defp result_check(row, _reference), do: row

  @doc "Steps per timed call for `work` units of work per step (about 2e9 units a call)."
  @spec steps_for(Config.t(), number) :: pos_integer
  def steps_for(config, work) do
    target = Config.pick(config, full: 2.0e9, quick: 2.0e8, smoke: 2.0e7)
    max(1, min(1000, round(target / work)))
  end

  @doc "The flops of one application of `rule`, counted from the system's program."
  @spec flops(module, atom) :: number
  def flops(system, rule), do: system.__system__().analysis[rule].flops

  @doc "Whether the engine detected a distance cutoff in `rule` (for the table)."
  @spec cutoff_of(module, atom) :: String.t()
  def cutoff_of(system, rule) do
    case Enum.find(system.__system__().rules, &(&1.name == rule)) do
      %{cutoff: nil} -> "none detected"
      %{cutoff: _} -> "detected"
      _ -> "?"
    end
  end

  @doc """
  The energies of an f64 LJ world (the fixtures LennardJones and LJLiquid): `clear_pe` and
  `lj_energy` run once on a copy of the world (each atom gets half of each pair's energy), then
  `%{total, kinetic, potential}` with kinetic = 0.5 * sum v^2 (unit masses).
  """
  @spec lj_energies(World.t()) :: %{total: float, kinetic: float, potential: float}
  def lj_energies(world) do
    world = world |> World.copy() |> World.step(steps: 1, rules: [:clear_pe, :lj_energy])
    pe = world |> World.column(:atoms, :pe) |> sum_floats()
    ke = world |> World.column(:atoms, :velocity) |> sum_squares() |> Kernel.*(0.5)
    %{total: ke + pe, kinetic: ke, potential: pe}
  end

  defp sum_floats(bin), do: for(<<x::float-native-64 <- bin>>, reduce: 0.0, do: (s -> s + x))
  defp sum_squares(bin), do: for(<<x::float-native-64 <- bin>>, reduce: 0.0, do: (s -> s + x * x))
end
