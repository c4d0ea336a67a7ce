defmodule Bench.Report do
  @moduledoc "The printed tables (results and targets) and their number formats."

  alias Bench.Row

  @doc "Prints the results table, one line per row."
  @spec table([map]) :: :ok
  def table(rows) do
    IO.puts(
      line([
        {:left, 12, "scenario"},
        {:right, 10, "N"},
        "  ",
        {:left, 30, "variant"},
        {:right, 12, "time/step"},
        {:right, 22, "throughput"},
        {:right, 9, "GFLOPS"},
        "  ratio"
      ])
    )

    Enum.each(rows, fn row ->
      IO.puts(
        line([
          {:left, 12, Row.scenario_label(row)},
          {:right, 10, Integer.to_string(row.n)},
          "  ",
          {:left, 30, Row.variant(row)} | measured(row)
        ])
      )
    end)
  end

  defp measured(%{skipped: skipped}) when skipped not in [nil, false],
    do: ["  skipped: #{skipped}"]

  defp measured(row) do
    [
      {:right, 12, format_time(row.seconds_per_step)},
      {:right, 22, "#{format_si(row.throughput)} #{row.unit}"},
      {:right, 9, if(row[:gflops], do: fmt2(row.gflops), else: "")},
      "  ",
      if(row[:ratio], do: "#{fmt2(row.ratio)} #{row.ratio_label}", else: ""),
      extra(row)
    ]
  end

  # A table line: `{:left, width, text}` pads text on the right, `{:right, width, text}` on the
  # left; a plain string stands as it is.
  defp line(cells) do
    Enum.map_join(cells, fn
      {:left, width, text} -> String.pad_trailing(text, width)
      {:right, width, text} -> String.pad_leading(text, width)
      text -> text
    end)
  end

  defp extra(%{scenario: :lj_liquid, contender: :native} = row),
    do: "  [#{row.steps} steps, E #{fmt_e(row.energy_final.total)}, input: #{row.input}]"

  defp extra(%{scenario: :lj_liquid, contender: :lammps} = row),
    do:
      "  [#{row.steps} steps, E #{fmt_e(row.energy_final.total)}, DSL E rel diff #{sci(row.rel_diff.total)}]"

  defp extra(%{scenario: :lj_cluster} = row),
    do:
      "  [#{row.steps} steps, E0 #{fmt_e(row.energy_initial)}, E #{fmt_e(row.energy_final)}#{if row[:cutoff], do: ", cutoff #{row.cutoff}", else: ""}]"

  defp extra(%{scenario: :collisions, builds: builds} = row),
    do:
      "  [#{:erlang.float_to_binary(row.ns_per_agent_step, decimals: 1)} ns/agent-step, #{round(builds)} lists built, momentum drift #{sci(row.momentum_drift)}, ISA #{row.isa}]"

  defp extra(%{scenario: :collisions} = row),
    do:
      "  [#{:erlang.float_to_binary(row.ns_per_agent_step, decimals: 1)} ns/agent-step, cutoff #{row.cutoff}]"

  defp extra(%{scenario: :wolf_sheep} = row),
    do:
      "  [#{:erlang.float_to_binary(row.ns_per_agent_step, decimals: 1)} ns/agent-step, #{row.side} x #{row.side} patches, #{round(row.agents_mean)} agents on average, #{row.steps} steps]"

  defp extra(%{scenario: :ensemble} = row),
    do:
      "  [#{row.members} members of #{row.steps} steps in #{format_time(row.seconds)}, state #{format_si(row.state_bytes)}B]"

  defp extra(%{isa: isa} = row) when is_binary(isa), do: "  [ISA #{isa}]" <> check_note(row)
  defp extra(%{rel_diff_vs_reference: _} = row), do: " " <> check_note(row)
  defp extra(_), do: ""

  defp check_note(%{rel_diff_vs_reference: d}) when d > 0,
    do: " [result vs C++: rel diff #{sci(d)}]"

  defp check_note(%{rel_diff_vs_reference: _}), do: " [result vs C++: identical]"
  defp check_note(_), do: ""

  defp fmt_e(x), do: :erlang.float_to_binary(x * 1.0, decimals: 6)

  @doc """
  Prints the LJ liquid's details (Bench.Scenarios.LJLiquid), when it ran: the DSL's time and
  its split, each LAMMPS run's loop time, timing breakdown and the ratio DSL time / LAMMPS
  time, and the energies after the run with the DSL's relative differences from each LAMMPS
  run (the 2-rank `check yes` run is the targets' reference).
  """
  @spec lj_liquid([map]) :: :ok
  def lj_liquid(rows) do
    case Enum.filter(rows, &(&1.scenario == :lj_liquid)) do
      [%{contender: :native} = dsl | lammps] -> print_lj_liquid(dsl, lammps)
      _ -> :ok
    end
  end

  defp print_lj_liquid(dsl, lammps) do
    IO.puts(
      "\nLJ liquid (LAMMPS bench/in.lj), N=#{dsl.n}, #{dsl.steps} steps, dt 0.005, input: #{dsl.input}"
    )

    IO.puts(
      "  DSL native f64: #{fmt_s(dsl.seconds_total)}" <>
        case dsl.split do
          nil ->
            " (World.info/1 reports no timings)"

          split ->
            " = pairs #{fmt_s(split.pairs)} + neighbour #{fmt_s(split.neighbour)} + other #{fmt_s(split.other)}" <>
              " (run #{fmt_s(split.run)})"
        end
    )

    Enum.each(lammps, fn
      %{skipped: why} = row when why not in [nil, false] ->
        IO.puts("  #{String.pad_trailing(Row.variant(row), 30)} skipped: #{why}")

      row ->
        IO.puts(
          "  #{String.pad_trailing(Row.variant(row), 30)} loop #{fmt_s(row.seconds_total)}, DSL/LAMMPS #{fmt2(row.ratio)}x; " <>
            Enum.map_join(~w(pair neigh comm output modify other)a, ", ", fn k ->
              "#{k |> Atom.to_string() |> String.capitalize()} #{fmt_s(row.breakdown[k])}"
            end)
        )
    end)

    IO.puts("  energies (totals) at step #{dsl.steps}:")
    IO.puts("    " <> energy_line("DSL native f64", dsl, nil))

    Enum.each(lammps, fn
      %{skipped: why} when why not in [nil, false] -> :ok
      row -> IO.puts("    " <> energy_line(Row.variant(row), row, row.rel_diff))
    end)
  end

  defp energy_line(label, row, rel) do
    e = row.energy_final

    String.pad_trailing(label, 30) <>
      Enum.map_join([total: "E", kinetic: "KE", potential: "PE"], "  ", fn {k, name} ->
        "#{name} #{:erlang.float_to_binary(e[k], decimals: 9)}" <>
          if(rel, do: " (DSL rel diff #{sci(rel[k])})", else: "")
      end) <> "  T #{:erlang.float_to_binary(row.temp_final, decimals: 9)}"
  end

  defp fmt_s(s), do: format_time(s)

  @doc "Prints the targets table."
  @spec targets([map]) :: :ok
  def targets(targets) do
    IO.puts("\nTargets, every ratio from this run:")

    IO.puts(
      line([
        {:left, 3, "#"},
        {:left, 70, "what"},
        {:right, 11, "target"},
        {:right, 12, "measured"},
        "  verdict"
      ])
    )

    Enum.each(targets, fn t ->
      IO.puts(
        line([
          {:left, 3, t.id},
          {:left, 70, t.what},
          {:right, 11, t.target},
          " ",
          {:right, 11, t.measured || "-"},
          "  ",
          t.verdict,
          if(t[:note], do: "  (#{t.note})", else: "")
        ])
      )
    end)
  end

  @doc "A duration in s, ms or us."
  @spec format_time(float | nil) :: String.t()
  def format_time(nil), do: "-"
  def format_time(s) when s >= 1.0, do: "#{:erlang.float_to_binary(s, decimals: 2)} s"

  def format_time(s) when s >= 1.0e-3,
    do: "#{:erlang.float_to_binary(s * 1.0e3, decimals: 2)} ms"

  def format_time(s), do: "#{:erlang.float_to_binary(s * 1.0e6, decimals: 1)} us"

  defp format_si(x) when x >= 1.0e9, do: "#{:erlang.float_to_binary(x / 1.0e9, decimals: 2)}G"
  defp format_si(x) when x >= 1.0e6, do: "#{:erlang.float_to_binary(x / 1.0e6, decimals: 2)}M"
  defp format_si(x) when x >= 1.0e3, do: "#{:erlang.float_to_binary(x / 1.0e3, decimals: 2)}k"
  defp format_si(x), do: :erlang.float_to_binary(x * 1.0, decimals: 1)

  @doc "A number with two decimals."
  @spec fmt2(number) :: String.t()
  def fmt2(x), do: :erlang.float_to_binary(x * 1.0, decimals: 2)
  @doc "A number in scientific notation, two decimals."
  @spec sci(number) :: String.t()
  def sci(x), do: :io_lib.format("~.2e", [x * 1.0]) |> IO.iodata_to_binary()

  @doc "The 1, 5 and 15 minute load averages (Linux), to judge how quiet the machine was."
  @spec loadavg() :: String.t()
  def loadavg do
    case File.read("/proc/loadavg") do
      {:ok, text} -> text |> String.split() |> Enum.take(3) |> Enum.join(" ")
      _ -> "unknown"
    end
  end
end
