defmodule Bench.Scenarios.Peak do
  @moduledoc """
  Peak FMA rate of both cores on the dispatched ISA (the C++ micro-kernel), run first and
  again at the end: the faster of the two is kept (load on the machine only slows it).
  """

  alias Bench.{Config, Reference, Row}

  @doc "One row per precision; none when the C++ reference is not built."
  @spec run(Config.t()) :: [map]
  def run(config) do
    if Reference.available?() do
      for precision <- [:f64, :f32] do
        r =
          Reference.run(
            "peak",
            0,
            Atom.to_string(precision),
            1,
            Config.pick(config, full: 5, quick: 3)
          )

        Row.new(:peak, 0, :micro_kernel, precision,
          seconds_per_step: r["seconds_per_step"],
          throughput: r["flops_per_step"] / r["seconds_per_step"],
          unit: "flop/s",
          gflops: r["gflops"],
          isa: r["isa"]
        )
      end
    else
      []
    end
  end

  @doc "`row`, or its measurement in `again` when that one was faster."
  @spec faster(map, [map]) :: map
  def faster(%{scenario: :peak} = row, again) do
    case Enum.find(again, &(&1.precision == row.precision)) do
      %{seconds_per_step: t} = other when t < row.seconds_per_step -> other
      _ -> row
    end
  end

  def faster(row, _again), do: row
end
