defmodule Bench.Scenarios.Collisions do
  @moduledoc """
  Elastic spheres (`BrokenRecord.Zero.Fixtures.ElasticSpheres`) at constant density (box side
  grows with N^(1/3)), collision + integrate per step, next to a hand-written C++ version of
  the whole step (neighbour list, collision rule, integration) at every size, so that the
  spread of its own times shows what the machine imposes. Sizes run in increasing order; a
  size whose projected time for one step (from the previous size, assuming all-pairs scaling
  when the engine does not scale linearly) exceeds the budget is skipped and reported as such.
  """

  alias Bench.{Config, Inputs, Measure, Reference, Row}
  alias BrokenRecord.Zero.Fixtures.ElasticSpheres
  alias BrokenRecord.Zero.World

  @doc "The DSL's row and the C++ row of every size (native engine only)."
  @spec run(Config.t()) :: [map]
  def run(%Config{native?: false}), do: []

  def run(config) do
    budget = Config.pick(config, full: 60.0, quick: 10.0)

    sizes =
      Config.pick(config,
        full: [10_000, 100_000, 1_000_000],
        quick: [10_000, 100_000, 1_000_000],
        smoke: [1_000]
      )

    {rows, _} =
      Enum.map_reduce(sizes, nil, fn n, prev ->
        projected = project(prev, n)

        if projected > budget do
          row =
            Row.new(:collisions, n, :native, :f64,
              skipped:
                "projected #{:erlang.float_to_binary(projected, decimals: 0)} s/step > budget",
              seconds_per_step: nil,
              throughput: nil,
              unit: "agent-steps/s"
            )

          {row, prev}
        else
          row = measure(config, n)
          {row, {n, row.seconds_per_step, prev}}
        end
      end)

    Enum.flat_map(rows, fn row ->
      [Map.delete(row, :reference_row) | List.wrap(row[:reference_row])]
    end)
  end

  defp project(nil, _n), do: 0.0

  defp project({n0, t0, earlier}, n) do
    linear = t0 * n / n0

    case earlier do
      {n1, t1, _} ->
        # measured exponent between the two previous sizes
        k = :math.log(t0 / t1) / :math.log(n0 / n1)
        t0 * :math.pow(n / n0, max(k, 1.0))

      nil ->
        # one size known: pessimistic all-pairs unless it was fast
        if t0 < 0.05, do: linear * 10, else: t0 * :math.pow(n / n0, 2)
    end
  end

  defp measure(config, n) do
    state = %{particles: Inputs.spheres(n)}
    world = World.new(ElasticSpheres, state, backend: :native, precision: :f64)
    world = World.step(world, steps: 1, dt: 1.0e-3)
    {t1, world} = Measure.best_steps(1, world, steps: 1, dt: 1.0e-3)
    target = Config.pick(config, full: 2.0, quick: 0.5)
    steps = max(1, min(200, round(target / max(t1, 1.0e-6))))
    reps = if t1 * steps > 5, do: 1, else: Config.pick(config, full: 5, quick: 3)
    {t, _} = Measure.best_steps(reps, world, steps: steps, dt: 1.0e-3)
    per_step = t / steps
    reference = reference(config, n, steps)

    Row.new(:collisions, n, :native, :f64,
      steps: steps,
      seconds_per_step: per_step,
      throughput: n / per_step,
      unit: "agent-steps/s",
      ns_per_agent_step: per_step / n * 1.0e9,
      cutoff: Measure.cutoff_of(ElasticSpheres, :collision),
      reference_row: reference
    )
    |> Map.merge(
      if reference,
        do: %{
          ratio: reference.seconds_per_step / per_step,
          ratio_label: "x C++ reference speed"
        },
        else: %{}
    )
  end

  # The hand-written C++ version of the same system and step (bench/reference_kernels.cpp,
  # `collisions`: its own spheres of the same distribution, a neighbour list with the engine's
  # skin), the same number of steps; nil when the reference is not built.
  defp reference(config, n, steps) do
    if Reference.available?() do
      r = Reference.run("collisions", n, "f64", steps, Config.pick(config, full: 3, quick: 2))

      Row.new(:collisions, n, :cpp_reference, :f64,
        steps: steps,
        seconds_per_step: r["seconds_per_step"],
        throughput: n / r["seconds_per_step"],
        unit: "agent-steps/s",
        ns_per_agent_step: r["seconds_per_step"] / n * 1.0e9,
        isa: r["isa"],
        builds: r["builds"],
        momentum_drift: r["momentum_drift"]
      )
    end
  end
end
