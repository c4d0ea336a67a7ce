defmodule Bench.Reference do
  @moduledoc """
  The hand-written C++ reference kernels (`bench/reference*.cpp`, built by CMake as
  `_build/cmake/bench/brz_bench_ref`): whether they are built, one run of a kernel, and the
  rows of a scenario's reference.
  """

  alias Bench.{Config, Row}

  @path "_build/cmake/bench/brz_bench_ref"

  @doc "Where the reference binary is expected."
  @spec path() :: String.t()
  def path, do: @path

  @doc "Whether the reference binary is built."
  @spec available?() :: boolean
  def available?, do: File.exists?(@path)

  @doc "The ISA the reference binary dispatches to."
  @spec isa() :: String.t()
  def isa, do: run("peak", 1000, "f64", 1, 1)["isa"]

  @doc "Runs kernel `scenario` on `n` agents and returns the fields of its JSON line."
  @spec run(String.t(), non_neg_integer, String.t(), pos_integer, pos_integer) :: map
  def run(scenario, n, precision, steps, reps) do
    {out, 0} =
      System.cmd(Path.expand(@path), [
        scenario,
        Integer.to_string(n),
        "--precision",
        precision,
        "--steps",
        Integer.to_string(steps),
        "--reps",
        Integer.to_string(reps)
      ])

    Regex.scan(~r/"(\w+)":("[^"]*"|[-+0-9.eE]+|nan|inf)/, out)
    |> Map.new(fn [_, k, v] ->
      value =
        cond do
          String.starts_with?(v, "\"") -> String.trim(v, "\"")
          String.contains?(v, [".", "e", "E"]) -> v |> Float.parse() |> elem(0)
          true -> String.to_integer(v)
        end

      {k, value}
    end)
  end

  @doc """
  One row per precision of the reference's kernel `kernel` for the row keys `scenario` and
  `contender`. `work` is the work per step (agents or pairs) in `unit`; `flops_of` turns it
  into flops (nil: the reference's own count). No rows when the reference is not built.
  """
  @spec rows(Config.t(), map) :: [map]
  def rows(config, spec) do
    %{scenario: scenario, kernel: kernel, n: n, steps: steps, work: work, unit: unit} = spec
    flops_of = spec[:flops_of]

    if available?() do
      for precision <- Map.get(spec, :precisions, [:f64, :f32]) do
        reps = Config.pick(config, full: 3, quick: 2)
        r = run(kernel, n, Atom.to_string(precision), steps, reps)
        t = r["seconds_per_step"]

        Row.new(scenario, n, Map.get(spec, :contender, :cpp_reference), precision,
          steps: steps,
          seconds_per_step: t,
          throughput: work / t,
          unit: unit,
          gflops: if(flops_of, do: flops_of.(work), else: r["flops_per_step"]) / t / 1.0e9,
          isa: r["isa"],
          checksum: r["checksum"],
          # one warm-up step, then reps x steps (see bench/reference.cpp)
          checksum_per_step: r["checksum"] / (1 + reps * steps)
        )
      end
    else
      []
    end
  end
end
