defmodule Bench.Scenarios.Marshalling do
  @moduledoc """
  `simulate/2` with one integrate step (list-of-maps -> world, one step, world -> a new list of
  maps) against `Enum.map/2` rebuilding the same list of maps in Elixir: the maps simulate
  returns, each with a new position tuple of three new floats (x + v*dt). The step itself
  (~50 us native) is included, so the ratio is an upper bound of the marshalling cost.
  steps: 0 would not measure the way back: a field no rule has written is returned as the
  caller's own term, without conversion.

  Every contender runs in a new process holding only the state. Building 100k maps of new
  terms costs, on a default heap, mostly garbage collections (each one copies the live state
  and what has been built so far), and how many there are depends on the heap's history: the
  same Enum.map took 10 to 55 ms. The target rows therefore give each process a heap that holds
  the result without collecting (min_heap_size), so that both sides measure building terms;
  the same contenders on a default heap are printed too. "Enum.map sharing a tuple" (a map
  update that puts an existing tuple in: no new tuple, no new float) shows the share of the
  reference that is making floats and tuples.
  """

  alias Bench.{Config, Inputs, Measure, Row}
  alias BrokenRecord.Zero.Fixtures.Integrate

  @doc "The scenario's rows: the two Enum.map references first."
  @spec run(Config.t()) :: [map]
  def run(config) do
    n = Config.pick(config, full: 100_000, quick: 100_000, smoke: 1_000)
    dt = 0.01
    state = %{particles: Inputs.particles(n)}
    reps = Config.pick(config, full: 5, quick: 3)
    roomy = 4 * :erts_debug.flat_size(state)

    rebuild = fn state ->
      Enum.map(state.particles, fn %{position: {x, y, z}, velocity: {vx, vy, vz}} = p ->
        %{p | position: {x + vx * dt, y + vy * dt, z + vz * dt}}
      end)
    end

    simulate = fn backend ->
      fn state -> Integrate.simulate(state, steps: 1, dt: dt, backend: backend) end
    end

    share = fn state -> Enum.map(state.particles, &%{&1 | position: &1.velocity}) end
    {t_map, rebuilt} = Measure.best_in_fresh_process(reps, state, roomy, rebuild)
    {t_map_default, _} = Measure.best_in_fresh_process(reps, state, nil, rebuild)

    row = fn contender, heap, t, ref ->
      Row.new(:marshalling, n, contender, nil,
        heap: heap,
        seconds_per_step: t,
        throughput: n / t,
        unit: "agents/s",
        ratio: t / ref,
        ratio_label: if(t == ref, do: "reference", else: "x Enum.map rebuild")
      )
    end

    contenders =
      [{:enum_map_share, share, roomy}] ++
        for {backend, on?} <- [native: config.native?, interpreted: true],
            on?,
            heap <- [roomy, nil] do
          {:"#{backend}_simulate", simulate.(backend), heap}
        end

    rows =
      for {contender, fun, heap} <- contenders do
        {t, out} = Measure.best_in_fresh_process(reps, state, heap, fun)

        # The reference must build what simulate returns.
        is_list(out) or same_positions?(out.particles, rebuilt) or
          raise "marshalling: #{contender} and the Enum.map reference differ"

        row.(contender, heap_kind(heap), t, if(heap, do: t_map, else: t_map_default))
      end

    [
      row.(:enum_map_rebuild, :roomy, t_map, t_map),
      row.(:enum_map_rebuild, :default, t_map_default, t_map_default) | rows
    ]
  end

  defp heap_kind(nil), do: :default
  defp heap_kind(_words), do: :roomy

  defp same_positions?(a, b) do
    Enum.zip(a, b)
    |> Enum.all?(fn {%{position: {x1, y1, z1}}, %{position: {x2, y2, z2}}} ->
      abs(x1 - x2) <= 1.0e-12 and abs(y1 - y2) <= 1.0e-12 and abs(z1 - z2) <= 1.0e-12
    end)
  end
end
