defmodule Bench.Targets do
  @moduledoc """
  The speed targets, each with the ratio measured in this run and PASS / MISS (or SKIP when a
  scenario could not run, with the reason).
  """

  alias Bench.{Reference, Report, Row}

  @doc "The targets, each with the ratio measured in `rows` and its verdict."
  @spec evaluate([map]) :: [map]
  def evaluate(rows) do
    find = fn scenario, n, contender, precision ->
      Enum.find(
        rows,
        &Row.matches?(&1, scenario: scenario, n: n, contender: contender, precision: precision)
      )
    end

    speed = fn dsl, reference ->
      if dsl && reference && dsl.seconds_per_step && reference.seconds_per_step,
        do: reference.seconds_per_step / dsl.seconds_per_step
    end

    ref_missing = if Reference.available?(), do: "no measurement", else: "C++ reference not built"

    # A smoke run measures none of the targets' sizes: say so rather than blame the engine.
    native_missing =
      if BrokenRecord.Zero.NIF.loaded?(),
        do: "not measured in this run",
        else: "native engine not loaded"

    g =
      for p <- [:f64, :f32],
          do:
            {p, find.(:gravity, 16_384, :native, p), find.(:gravity, 16_384, :cpp_all_j, p),
             find.(:gravity, 16_384, :cpp_i_lt_j, p)}

    s =
      for p <- [:f64, :f32],
          do:
            {p, find.(:softened, 16_384, :native, p),
             find.(:softened, 16_384, :cpp_canonical_all_j, p)}

    i =
      for p <- [:f64, :f32],
          do:
            {p, find.(:integrate, 1_000_000, :native, p),
             find.(:integrate, 1_000_000, :cpp_reference, p)}

    peak = find.(:peak, 0, :micro_kernel, :f64)
    peak32 = find.(:peak, 0, :micro_kernel, :f32)

    gravity_targets =
      for {p, dsl, reference, newton} <- g do
        newton_note =
          case speed.(dsl, newton) do
            nil -> nil
            x -> "against C++ i<j (Newton's third law too): #{fmt2(x)}x"
          end

        target(
          "1",
          "gravity #{p} N=16384: C++ all-pairs time / DSL time",
          :ge,
          1.0,
          speed.(dsl, reference),
          note:
            case Enum.reject([gflops_note(dsl, nil), newton_note], &is_nil/1) do
              [] -> nil
              notes -> Enum.join(notes, "; ")
            end,
          skip: ref_missing
        )
      end

    softened_targets =
      for {p, dsl, reference} <- s do
        target(
          "2",
          "softened gravity #{p} N=16384: C++ canonical time / DSL time",
          :ge,
          1.0,
          speed.(dsl, reference),
          note: gflops_note(dsl, if(p == :f64, do: peak, else: peak32)),
          skip: ref_missing
        )
      end

    integrate_targets =
      for {p, dsl, reference} <- i do
        target(
          "3",
          "integrate #{p} N=1,000,000: C++ loop time / DSL time",
          :ge,
          0.8,
          speed.(dsl, reference),
          skip: ref_missing
        )
      end

    lj_targets =
      lj_liquid_targets(rows, native_missing) ++
        lj_cluster_targets(find, native_missing) ++ fene_chain_targets(rows, native_missing)

    {collisions, collision_refs} =
      rows
      |> Enum.filter(&(&1.scenario == :collisions))
      |> Enum.split_with(&(&1.contender == :native))

    measured = Enum.filter(collisions, & &1.seconds_per_step)
    skipped = Enum.filter(collisions, & &1[:skipped])
    spread_of = fn rows -> rows |> Enum.map(& &1.ns_per_agent_step) |> Enum.min_max() end

    spread =
      if length(measured) >= 2 and skipped == [] do
        {lo, hi} = spread_of.(measured)
        hi / lo
      end

    # The hand-written C++ version's spread over the same sizes, in this run: how much of the
    # spread the machine's memory hierarchy imposes on any implementation.
    collision_context =
      if length(collision_refs) >= 2 and length(collision_refs) == length(measured) do
        {lo, hi} = spread_of.(collision_refs)

        "hand-written C++ in this run: #{fmt2(hi / lo)}x; DSL speed / C++ speed per size: " <>
          Enum.map_join(measured, " / ", &"#{fmt2(&1.ratio)}x")
      end

    # A size that could not run within the budget misses the target (it does not scale).
    collision_miss =
      case skipped do
        [] -> nil
        [row | _] -> "N=#{row.n} not run: #{row.skipped}"
      end

    all_pairs = Enum.filter(rows, &(&1.scenario == :all_pairs and &1.n == 50_000))

    collision_targets = [
      target("5", "collisions: max/min time per particle-step, N=10k..1M", :le, 1.5, spread,
        skip: native_missing,
        miss: collision_miss,
        note: collision_context
      ),
      %{
        id: "5",
        what: "all-pairs rule (gravity) at N=50,000 runs (time per step)",
        target: "runs",
        measured:
          case all_pairs do
            [] -> nil
            rows -> Enum.map_join(rows, ", ", &Report.format_time(&1.seconds_per_step))
          end,
        verdict:
          cond do
            all_pairs == [] -> "SKIP (#{native_missing})"
            Enum.all?(all_pairs, & &1.finite) -> "PASS"
            true -> "MISS (non-finite result)"
          end
      }
    ]

    progress = find.(:progress, 32_000, :native_progress, :f64)
    monitor = find.(:observe, 2_000, :monitor_native, :f64)
    observed = find.(:observe, 32_000, :native_observed, :f64)

    marshalling =
      Enum.find(
        rows,
        &Row.matches?(&1,
          scenario: :marshalling,
          n: 100_000,
          contender: :native_simulate,
          heap: :roomy
        )
      )

    columns =
      Enum.find(
        rows,
        &Row.matches?(&1, scenario: :columns, n: 100_000, contender: :world_new_columns)
      )

    elixir_speed =
      case {find.(:gravity, 1_000, :native, :f64), find.(:gravity, 1_000, :elixir, :f64)} do
        {%{} = native, %{} = elixir} -> elixir.seconds_per_step / native.seconds_per_step
        _ -> nil
      end

    gravity_targets ++
      softened_targets ++
      integrate_targets ++
      langevin_targets(find, speed, ref_missing) ++
      evaporation_targets(find, speed, native_missing) ++
      lj_targets ++
      collision_targets ++
      [
        target(
          "6",
          "marshalling N=100,000: simulate(steps: 1) time / Enum.map rebuild time",
          :le,
          2.0,
          marshalling && marshalling.ratio,
          skip: native_missing
        ),
        target(
          "7",
          "gravity N=1,000: native f64 speed / pure-Elixir speed",
          :ge,
          500.0,
          elixir_speed,
          skip: native_missing
        ),
        target(
          "10",
          "LJ liquid 32k atoms: time with progress: fun / time without",
          :le,
          1.01,
          progress && progress.ratio,
          skip: native_missing
        ),
        target(
          "11",
          "columns N=100,000: World.new from maps time / from columns time",
          :ge,
          10.0,
          columns && columns.ratio,
          skip: native_missing
        ),
        target(
          "13",
          "energy monitor, 2,000 bodies: native speed / Elixir all-pairs speed",
          :ge,
          1000.0,
          monitor && monitor.ratio,
          skip: native_missing
        ),
        target(
          "14",
          "LJ liquid 32k atoms: time sampling T and pe every 100 steps / time without",
          :le,
          1.02,
          observed && observed.ratio,
          skip: native_missing
        )
      ]
  end

  # LAMMPS's bench/in.lj (Bench.Scenarios.LJLiquid): 32,000 atoms, 100 steps, against the
  # 2-rank run with the engine's neighbour policy (every 1 delay 0 check yes).
  defp lj_liquid_targets(rows, native_missing) do
    dsl =
      Enum.find(
        rows,
        &Row.matches?(&1, scenario: :lj_liquid, n: 32_000, contender: :native, steps: 100)
      )

    lmp =
      Enum.find(
        rows,
        &Row.matches?(&1,
          scenario: :lj_liquid,
          n: 32_000,
          contender: :lammps,
          ranks: 2,
          neigh: :every_1_check_yes
        )
      )

    skip =
      cond do
        dsl == nil -> native_missing
        lmp && lmp[:skipped] -> lmp.skipped
        true -> "no measurement"
      end

    measured = fn key -> lmp && lmp[:rel_diff] && dsl && lmp.rel_diff[key] end

    [
      target(
        "4",
        "LJ liquid (in.lj) 32k atoms: DSL time / LAMMPS np 2 check yes time",
        :le,
        0.8,
        dsl && lmp && lmp[:ratio],
        skip: skip,
        note: if(dsl && dsl.split == nil, do: "World.info/1 reports no timings")
      )
      | for {key, name} <- [total: "total", kinetic: "kinetic", potential: "potential"] do
          target(
            "4",
            "LJ liquid #{name} energy after 100 steps: rel diff from LAMMPS np 2",
            :le,
            1.0e-9,
            measured.(key),
            skip: skip,
            format: :sci,
            note:
              if(lmp && lmp[:rel_diff_initial],
                do: "at step 0: #{sci(lmp.rel_diff_initial[key])}"
              )
          )
        end
    ]
  end

  # LAMMPS's FENE bead-spring melt (Bench.Scenarios.FeneChain): 100 NVE steps against the 2-rank
  # run, and its energies after them.
  defp fene_chain_targets(rows, native_missing) do
    at = fn keys ->
      Enum.find(rows, &Row.matches?(&1, [scenario: :fene_chain, n: 32_000] ++ keys))
    end

    dsl = at.(contender: :native, thermostat: :nve, steps: 100)
    lmp = at.(contender: :lammps, thermostat: :nve, ranks: 2)
    langevin = at.(contender: :lammps, thermostat: :langevin, ranks: 2)

    skip =
      cond do
        dsl && dsl[:skipped] -> dsl.skipped
        dsl == nil -> native_missing
        lmp && lmp[:skipped] -> lmp.skipped
        true -> "no measurement"
      end

    [
      target(
        "12",
        "FENE bead-spring melt (in.chain) 32k beads, NVE: DSL time / LAMMPS np 2 time",
        :le,
        0.8,
        dsl && lmp && lmp[:ratio],
        skip: skip,
        note:
          if(langevin && langevin[:ratio],
            do: "with Langevin, against LAMMPS's fix langevin np 2: #{fmt2(langevin.ratio)}x"
          )
      )
      | for {key, name} <- [total: "total", pair: "pair", bond: "bond", kinetic: "kinetic"] do
          target(
            "12",
            "FENE melt #{name} energy after 100 steps: rel diff from LAMMPS np 2",
            :le,
            1.0e-9,
            lmp && lmp[:rel_diff] && dsl && lmp.rel_diff[key],
            skip: skip,
            format: :sci
          )
        end
    ]
  end

  # The free cluster (Bench.Scenarios.LJCluster): the same system non-periodic in both codes.
  defp lj_cluster_targets(find, native_missing) do
    lj = find.(:lj_cluster, 32_000, :native, :f64)
    lmp = find.(:lj_cluster, 32_000, :lammps, nil)

    lj_note =
      if lj && lj.steps != lj.steps_wanted,
        do: "#{lj.steps} steps, not #{lj.steps_wanted}: over the time budget",
        else: nil

    lj_skip =
      cond do
        lj == nil -> native_missing
        lmp && lmp[:skipped] -> lmp.skipped
        true -> "no measurement"
      end

    [
      target(
        "4",
        "LJ cluster 32k atoms: DSL time / LAMMPS (np 2) time",
        :le,
        1.5,
        lmp && lmp[:ratio],
        skip: lj_skip,
        note: lj_note
      ),
      target(
        "4",
        "LJ cluster total energy after the run: |E_DSL - E_LAMMPS| / |E_LAMMPS|",
        :le,
        1.0e-4,
        lmp && lmp[:energy_rel_diff],
        skip: lj_skip,
        format: :sci,
        note:
          if(lmp && lmp[:energy_rel_diff_initial],
            do: "initial energies differ by #{sci(lmp.energy_rel_diff_initial)}"
          )
      )
    ]
  end

  # A Langevin step with random numbers (Bench.Scenarios.Langevin) against the hand-written C++
  # step with the same Philox stream; the note gives the cost of the noise (the same step
  # without it).
  defp langevin_targets(find, speed, ref_missing) do
    for p <- [:f64, :f32] do
      dsl = find.(:langevin, 1_000_000, :native, p)
      quiet = find.(:langevin, 1_000_000, :native_no_noise, p)

      target(
        "8",
        "Langevin step #{p} N=1,000,000: C++ step time / DSL time",
        :ge,
        0.9,
        speed.(dsl, find.(:langevin, 1_000_000, :cpp_reference, p)),
        note:
          case speed.(dsl, quiet) do
            nil -> nil
            x -> "the noise makes the step #{fmt2(1 / x)}x as long as without it"
          end,
        skip: ref_missing
      )
    end
  end

  # Agents removed and spawned every step in an interacting gas (Bench.Scenarios.Evaporation)
  # against the same gas without the lifecycle rules; the note gives the lean comparison (the
  # lifecycle rules on a bare drift against the drift alone).
  defp evaporation_targets(find, speed, native_missing) do
    slower = fn row, base ->
      case speed.(row, base) do
        nil -> nil
        x -> 1 / x
      end
    end

    for p <- [:f64, :f32] do
      life = find.(:evaporation, 1_000_000, :native, p)
      base = find.(:evaporation, 1_000_000, :native_no_lifecycle, p)
      lean = find.(:evaporation, 1_000_000, :native_lean, p)
      drift = find.(:evaporation, 1_000_000, :native_drift_only, p)

      target(
        "9",
        "evaporation #{p} N=1,000,000 (1% removed, 1% spawned a step): time / no lifecycle",
        :le,
        1.5,
        slower.(life, base),
        skip: native_missing,
        note:
          case slower.(lean, drift) do
            nil -> nil
            x -> "informational: lifecycle rules on a bare drift take #{fmt2(x)}x drift only"
          end
      )
    end
  end

  defp target(id, what, cmp, goal, measured, opts) do
    format = Keyword.get(opts, :format, :ratio)

    # three decimals where two would round onto the goal and hide the verdict
    show = fn x ->
      decimals = if abs(x - goal) < 0.01 and x != goal, do: 3, else: 2

      if format == :sci,
        do: sci(x),
        else: "#{:erlang.float_to_binary(x * 1.0, decimals: decimals)}x"
    end

    verdict =
      cond do
        measured == nil and opts[:miss] -> "MISS (#{opts[:miss]})"
        measured == nil -> "SKIP (#{opts[:skip]})"
        cmp == :ge and measured >= goal -> "PASS"
        cmp == :le and measured <= goal -> "PASS"
        true -> "MISS"
      end

    %{
      id: id,
      what: what,
      target: "#{if cmp == :ge, do: ">=", else: "<="} #{show.(goal)}",
      goal: goal,
      measured: measured && show.(measured),
      value: measured,
      verdict: verdict,
      note: opts[:note]
    }
  end

  defp gflops_note(nil, _), do: nil
  defp gflops_note(dsl, nil), do: "DSL #{fmt2(dsl.gflops)} GFLOPS"

  defp gflops_note(dsl, peak),
    do:
      "DSL #{fmt2(dsl.gflops)} GFLOPS, peak FMA #{fmt2(peak.gflops)} GFLOPS (#{fmt2(100 * dsl.gflops / peak.gflops)}%)"

  defp fmt2(x), do: Report.fmt2(x)
  defp sci(x), do: Report.sci(x)
end
