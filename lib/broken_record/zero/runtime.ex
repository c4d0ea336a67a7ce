defmodule BrokenRecord.Zero.Runtime do
  @moduledoc """
  Runs compiled systems.

  `simulate/3` converts the state to a world (`BrokenRecord.Zero.World`), steps it and converts
  it back. The backend is the native engine when its NIF is loaded, the pure-Elixir backend
  otherwise (`backend/0`); both implement `docs/program.md` and give the same results up to
  floating-point summation order.

  ## Options

    * `:steps` - non-negative integer, default `1000`
    * `:dt` - number, default `0.01`
    * `:rules` - rule names to apply each step, in this order; default all rules in declaration
      order
    * `:params` - map or keyword list of the rules' scalar params (`%{k: 2.0}`); a param needed
      by a selected rule and missing is an `ArgumentError`
    * `:backend` - `:auto` (default), `:native` (raises if the NIF is not loaded) or
      `:interpreted` (the pure-Elixir backend)
    * `:conservation` - `nil` (default), `:report` (return `{state, report}` with the drift of
      every declared law, see `BrokenRecord.Zero.Conservation.Monitor`) or
      `{:raise, tolerance}` (raise `BrokenRecord.Zero.ConservationError` when a relative drift
      exceeds `tolerance`)
    * `:seed` - the seed of the rules' random numbers (`uniform()`, `normal()`), an integer in
      `0..2^32 - 1`; default `0`, so runs are reproducible unless asked otherwise
    * `:observe` - observables to sample (`BrokenRecord.Zero.World.observe/2`'s names, or
      `:all`): `simulate` then returns `{state, samples}`, each sample
      `%{step: s, time: s * dt, values: %{name => value}}`, the first at the start
    * `:every` - sample every this many steps (a positive integer dividing `steps`); default
      `steps` (the start and the end). With `conservation: :report` the report's laws carry
      their drift as a time series (`:series`); with both `observe:` and
      `conservation: :report` the result is `{state, samples, report}`
    * `:start_step` - the step index of the first step (random numbers depend on it), an
      integer in `0..2^64 - 1`; default `0`. A run restarted from a saved state with
      `start_step:` set to the steps already run draws what the continuous run would have
    * `:progress` - `false` (default), `true` (a line on stderr with the steps done, steps per
      second and the time left) or a function of arity 1 called with
      `%{done: d, total: t, rate: r}`; see `BrokenRecord.Zero.Progress`. The results are the
      same with and without it
  """

  alias BrokenRecord.Zero.{Backend, Observables, Options, World}
  alias BrokenRecord.Zero.Conservation.Monitor

  @doc """
  Runs `steps` steps of `system` (a module defined by `defsystem`) on `state` and returns the
  new state, of the same shape. See the module doc for options.

      iex> alias BrokenRecord.Zero.TestSystems.Spring
      iex> state = %{particles: [%{position: {1.0, 0.0, 0.0}, velocity: {0.0, 0.0, 0.0}}]}
      iex> out = BrokenRecord.Zero.Runtime.simulate(Spring, state,
      ...>   steps: 1, dt: 0.1, rules: [:spring], params: %{k: 4.0, damping: 0.0})
      iex> out.particles
      [%{position: {1.0, 0.0, 0.0}, velocity: {-0.4, 0.0, 0.0}}]
      iex> BrokenRecord.Zero.Runtime.simulate(Spring, state, stpes: 1)
      ** (ArgumentError) unknown option :stpes; known options: :steps, :dt, :rules, :params, :progress, :backend, :conservation, :seed, :start_step, :observe, :every
  """
  @spec simulate(module, map, keyword) :: map | {map, map} | {map, [map], map}
  def simulate(system, state, opts \\ []) do
    {run, world_opts, conservation, sampling} = Options.simulate!(system.__system__(), opts)
    world = World.new(system, state, world_opts)
    {world, samples, totals} = sampled_run(world, run, conservation, sampling)
    result = World.to_state(world)

    report =
      if conservation do
        [{_, _, initial} | _] = totals
        {_, _, final} = List.last(totals)
        report = Monitor.report(initial, final)
        if sampling.every, do: Monitor.with_series(report, initial, totals), else: report
      end

    case {conservation, samples} do
      {nil, nil} -> result
      {:report, nil} -> {result, report}
      {:report, samples} -> {result, samples, report}
      {{:raise, tolerance}, samples} -> checked(result, samples, report, tolerance)
      {nil, samples} -> {result, samples}
    end
  end

  defp checked(result, samples, report, tolerance) do
    Monitor.check!(report, tolerance)
    if samples, do: {result, samples}, else: result
  end

  # Runs the steps; at the start and after every `every` steps (or at the end), the samples of
  # `observe:` (nil when not asked for) and the conservation totals `{step, time, totals}`.
  defp sampled_run(world, run, conservation, %{every: nil}) do
    initial = if conservation, do: Monitor.totals(world)
    world = World.__run__(world, run)
    totals = if conservation, do: [{0, 0.0, initial}, {run.steps, 0.0, Monitor.totals(world)}]
    {world, nil, totals}
  end

  defp sampled_run(world, run, conservation, %{every: every, observe: names}) do
    plans = if names, do: Observables.resolve!(world.system, names)

    {world, samples, totals} =
      world
      |> World.__sampled__(run, every)
      |> Enum.reduce({world, [], []}, fn w, {_, samples, totals} ->
        step = World.info(w).step
        time = step * run.dt
        samples = if plans, do: [sample(w, plans, step, time) | samples], else: samples
        totals = if conservation, do: [{step, time, Monitor.totals(w)} | totals], else: totals
        {w, samples, totals}
      end)

    {world, if(plans, do: Enum.reverse(samples)), Enum.reverse(totals)}
  end

  defp sample(world, plans, step, time),
    do: %{step: step, time: time, values: World.__observe_plans__(world, plans)}

  @doc """
  The backend `:auto` selects: `:native` when the NIF is loaded, `:interpreted` otherwise.
  When `BROKEN_RECORD_REQUIRE_NIF=1` is set and the NIF is not loaded, raises instead
  (`BrokenRecord.Zero.Backend.resolve/1`).
  """
  @spec backend() :: Backend.name()
  def backend, do: Backend.resolve(:auto)
end
