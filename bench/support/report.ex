defmodule Bench.Report do
  @moduledoc "The printed tables (results and targets) and their number formats."

  alias Bench.Row

  @doc "Prints the results table, one line per row."
  @spec table([map]) :: :ok
  def table(rows) do
    IO.puts(
      String.pad_trailing("scenario", 12) <>
        String.pad_leading("N", 10) <>
        "  " <>
        String.pad_trailing("variant", 30) <>
        String.pad_leading("time/step", 12) <>
        String.pad_leading("throughput", 22) <>
        String.pad_leading("GFLOPS", 9) <> "  ratio"
    )

    Enum.each(rows, fn row ->
      IO.puts(
        String.pad_trailing(Row.scenario_label(row), 12) <>
          String.pad_leading(Integer.to_string(row.n), 10) <>
          "  " <>
          String.pad_trailing(Row.variant(row), 30) <>
          if row[:skipped] do
            "  skipped: #{row.skipped}"
          else
            String.pad_leading(format_time(row.seconds_per_step), 12) <>
              String.pad_leading("#{format_si(row.throughput)} #{row.unit}", 22) <>
              String.pad_leading(
                if(row[:gflops],
                  do: :erlang.float_to_binary(row.gflops * 1.0, decimals: 2),
                  else: ""
                ),
                9
              ) <>
              "  " <>
              if(row[:ratio],
                do: "#{:erlang.float_to_binary(row.ratio * 1.0, decimals: 2)} #{row.ratio_label}",
                else: ""
              ) <> extra(row)
          end
      )
    end)
  end

  defp extra(%{scenario: :lj} = row),
    do:
      "  [#{row.steps} steps, E0 #{fmt_e(row.energy_initial)}, E #{fmt_e(row.energy_final)}#{if row[:cutoff], do: ", cutoff #{row.cutoff}", else: ""}]"

  defp extra(%{scenario: :collisions, builds: builds} = row),
    do:
      "  [#{:erlang.float_to_binary(row.ns_per_agent_step, decimals: 1)} ns/agent-step, #{round(builds)} lists built, momentum drift #{sci(row.momentum_drift)}, ISA #{row.isa}]"

  defp extra(%{scenario: :collisions} = row),
    do:
      "  [#{:erlang.float_to_binary(row.ns_per_agent_step, decimals: 1)} ns/agent-step, cutoff #{row.cutoff}]"

  defp extra(%{isa: isa} = row) when is_binary(isa), do: "  [ISA #{isa}]" <> check_note(row)
  defp extra(%{rel_diff_vs_reference: _} = row), do: " " <> check_note(row)
  defp extra(_), do: ""

  defp check_note(%{rel_diff_vs_reference: d}) when d > 0,
    do: " [result vs C++: rel diff #{sci(d)}]"

  defp check_note(%{rel_diff_vs_reference: _}), do: " [result vs C++: identical]"
  defp check_note(_), do: ""

  defp fmt_e(x), do: :erlang.float_to_binary(x * 1.0, decimals: 6)

  @doc "Prints the targets table."
  @spec targets([map]) :: :ok
  def targets(targets) do
    IO.puts("\nTargets, every ratio from this run:")

    IO.puts(
      String.pad_trailing("#", 3) <>
        String.pad_trailing("what", 70) <>
        String.pad_leading("target", 11) <>
        String.pad_leading("measured", 12) <> "  verdict"
    )

    Enum.each(targets, fn t ->
      IO.puts(
        String.pad_trailing(t.id, 3) <>
          String.pad_trailing(t.what, 70) <>
          String.pad_leading(t.target, 11) <>
          " " <>
          String.pad_leading(t.measured || "-", 11) <>
          "  " <> t.verdict <> if(t[:note], do: "  (#{t.note})", else: "")
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
