defmodule Bench.Json do
  @moduledoc """
  Writes a run's rows and targets as JSON (`bench/results/bench-<timestamp>.json`; a smoke
  run's go to the system's temporary directory, its figures mean nothing). Every row carries
  its printed `label` next to its keys.
  """

  alias Bench.{Config, Reference, Report, Row}
  alias BrokenRecord.Zero.NIF

  @doc "Writes the document of a run that took `seconds`; returns its path."
  @spec write(Config.t(), [map], [map], float) :: String.t()
  def write(config, rows, targets, seconds) do
    dir =
      if config.mode == :smoke,
        do: Path.join(System.tmp_dir!(), "brz_bench_smoke"),
        else: "bench/results"

    File.mkdir_p!(dir)
    stamp = DateTime.utc_now() |> DateTime.to_iso8601(:basic) |> String.replace(~r/[^0-9TZ]/, "")
    path = Path.join(dir, "bench-#{stamp}.json")

    doc = %{
      date: DateTime.to_iso8601(DateTime.utc_now()),
      isa: if(NIF.loaded?(), do: NIF.isa(), else: nil),
      reference_isa: if(Reference.available?(), do: Reference.isa(), else: nil),
      schedulers: System.schedulers_online(),
      mode: config.mode,
      quick: config.mode == :quick,
      seconds: seconds,
      loadavg_end: Report.loadavg(),
      results: Enum.map(rows, &Map.put(&1, :label, Row.variant(&1))),
      targets: targets
    }

    File.write!(path, encode(doc) <> "\n")
    path
  end

  @doc "The JSON text of a term of maps, lists, strings, atoms and numbers."
  @spec encode(term) :: String.t()
  def encode(nil), do: "null"
  def encode(true), do: "true"
  def encode(false), do: "false"
  def encode(x) when is_integer(x), do: Integer.to_string(x)
  def encode(x) when is_float(x), do: :erlang.float_to_binary(x, [:short])
  def encode(x) when is_atom(x), do: encode(Atom.to_string(x))
  def encode(x) when is_binary(x), do: inspect(x, printable_limit: :infinity)
  def encode(list) when is_list(list), do: "[" <> Enum.map_join(list, ",", &encode/1) <> "]"

  def encode(map) when is_map(map),
    do: "{" <> Enum.map_join(map, ",", fn {k, v} -> encode(k) <> ":" <> encode(v) end) <> "}"
end
