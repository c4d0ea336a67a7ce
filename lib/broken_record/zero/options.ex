defmodule BrokenRecord.Zero.Options do
  @moduledoc """
  Validation of the options of `BrokenRecord.Zero.Runtime.simulate/3`,
  `BrokenRecord.Zero.World.new/3`, `BrokenRecord.Zero.World.step/2` and
  `BrokenRecord.Zero.Ensemble.run/3`: every check and every
  error message in one place (`progress:`'s in `BrokenRecord.Zero.Progress.option!/1`, which a
  caller reporting its own run uses too). Each function raises `ArgumentError` on the first invalid option,
  in a fixed order: the list itself, unknown keys, then each option in turn.

  Options may repeat a key; the first occurrence counts, as with `Keyword.get/2` (which is why
  `Keyword.validate!/2`, which rejects repeated keys, is not used).

      iex> BrokenRecord.Zero.Options.keyword!([steps: 10])
      :ok
      iex> BrokenRecord.Zero.Options.keyword!(%{steps: 10})
      ** (ArgumentError) options must be a keyword list, got: %{steps: 10}
  """

  alias BrokenRecord.Zero.{Backend, CompiledSystem, Observables, Progress, Random, State}

  @run [:steps, :dt, :rules, :params, :progress]
  @max_u64 2 ** 64 - 1
  @random [:seed, :start_step]
  @sampling [:observe, :every]
  @simulate @run ++ [:backend, :conservation] ++ @random ++ @sampling
  @stream @run ++ @sampling ++ [:frames]
  @world [:backend, :precision, :kernels] ++ @random
  @ensemble [:nodes, :max_concurrency, :progress, :seed]

  @typedoc """
  Validated run options: `rule_ids` are indices into the program, `params` the full param tuple
  (`dt` first, in the order of `CompiledSystem.t/0`'s `params`), `progress` how the run reports
  (`BrokenRecord.Zero.Progress`) and `continues` whether it continues the world's previous run
  (a chunk of a run with progress; `false` here).
  """
  @type run :: %{
          steps: non_neg_integer,
          dt: float,
          rule_ids: [non_neg_integer],
          params: tuple,
          progress: Progress.option(),
          continues: boolean
        }

  @typedoc """
  When a run is sampled (`simulate/3`'s `observe:` and `every:`, `World.stream/2`): the
  observables to measure (`nil`: none) and the steps between samples (`nil`: not sampled).
  """
  @type sampling :: %{observe: nil | :all | [term], every: nil | pos_integer}

  @typedoc "How `simulate/3` checks the declared conservation laws."
  @type conservation :: nil | :report | {:raise, number}

  @typedoc """
  Validated world options, the backend resolved (`BrokenRecord.Zero.Backend.resolve/1`); `seed`
  and `start_step` key the rules' random numbers (`BrokenRecord.Zero.Random`).
  """
  @type world :: %{
          backend: Backend.name(),
          precision: :f64 | :f32,
          kernels: boolean,
          seed: Random.seed(),
          start_step: non_neg_integer
        }

  @typedoc """
  Validated options of `BrokenRecord.Zero.Ensemble.run/3`: the nodes to run on (distinct),
  the members run at a time on each, how progress is reported and the first member's seed.
  """
  @type ensemble :: %{
          nodes: [node],
          max_concurrency: pos_integer,
          progress: Progress.option(),
          seed: Random.seed()
        }

  @doc """
  The names of `BrokenRecord.Zero.Runtime.simulate/3`'s options (`BrokenRecord.Zero.Ensemble.grid/3`
  tells them from params by these).
  """
  @spec simulate_keys() :: [atom]
  def simulate_keys, do: @simulate

  @doc """
  The options of `BrokenRecord.Zero.Ensemble.run/3` for `count` members, of which the last one
  that takes the ensemble's seed (rather than setting its own) has index `last_seeded`
  (`nil`: none): `nodes` (default `[node() | Node.list()]`), `max_concurrency` (default 1),
  `progress` (default `false`) and `seed` (default `BrokenRecord.Zero.Random.default_seed/0`;
  member `i` gets `seed + i`, which must be a seed too).

      iex> opts = BrokenRecord.Zero.Options.ensemble!([max_concurrency: 2], nil)
      iex> Map.take(opts, [:max_concurrency, :progress, :seed])
      %{max_concurrency: 2, progress: false, seed: 0}
      iex> BrokenRecord.Zero.Options.ensemble!([max_concurrency: 0], nil)
      ** (ArgumentError) invalid option max_concurrency: 0; expected a positive integer (members run at a time on each node)
  """
  @spec ensemble!(term, non_neg_integer | nil) :: ensemble
  def ensemble!(opts, last_seeded) do
    known!(opts, @ensemble)
    nodes = Keyword.get_lazy(opts, :nodes, fn -> [node() | Node.list()] end)

    unless is_list(nodes) and nodes != [] and not List.improper?(nodes) and
             Enum.all?(nodes, &is_atom/1) and length(Enum.uniq(nodes)) == length(nodes) do
      raise ArgumentError,
            "invalid option nodes: #{inspect(nodes)}; expected a non-empty list of distinct " <>
              "node names (atoms)"
    end

    max_concurrency = Keyword.get(opts, :max_concurrency, 1)

    unless is_integer(max_concurrency) and max_concurrency > 0 do
      raise ArgumentError,
            "invalid option max_concurrency: #{inspect(max_concurrency)}; expected a positive " <>
              "integer (members run at a time on each node)"
    end

    {seed, _} = random!(Keyword.take(opts, [:seed]))

    if last_seeded != nil and seed + last_seeded > Random.max_seed() do
      raise ArgumentError,
            "invalid option seed: #{seed}; member #{last_seeded} would get the seed " <>
              "#{seed + last_seeded}, above #{Random.max_seed()}"
    end

    %{
      nodes: nodes,
      max_concurrency: max_concurrency,
      progress: Progress.option!(Keyword.get(opts, :progress, false)),
      seed: seed
    }
  end

  @doc "Raises an `ArgumentError` naming `opts` unless it is a keyword list."
  @spec keyword!(term) :: :ok
  def keyword!(opts) do
    unless Keyword.keyword?(opts) do
      raise ArgumentError, "options must be a keyword list, got: #{inspect(opts)}"
    end

    :ok
  end

  @doc """
  The options of `BrokenRecord.Zero.Runtime.simulate/3`: the run, the options of its world
  (`backend` as given, resolved by `world!/2`, `seed` and `start_step` when given), the
  conservation mode and the sampling. `every:` needs `observe:` or `conservation: :report`;
  `observe:` without `every:` samples the start and the end.
  """
  @spec simulate!(CompiledSystem.t(), term) :: {run, keyword, conservation, sampling}
  def simulate!(system, opts) do
    run = run!(system, opts, @simulate)
    random!(opts)

    world =
      [backend: Keyword.get(opts, :backend, :auto)] ++
        for key <- @random, Keyword.has_key?(opts, key), do: {key, Keyword.get(opts, key)}

    conservation = conservation!(Keyword.get(opts, :conservation))
    observe = observe!(system, Keyword.get(opts, :observe))

    every =
      case Keyword.fetch(opts, :every) do
        :error when observe == nil ->
          nil

        :error ->
          max(run.steps, 1)

        {:ok, every} when observe == nil and conservation != :report ->
          raise ArgumentError,
                "option every: #{inspect(every)} needs observe: or conservation: :report " <>
                  "(what to sample)"

        {:ok, every} ->
          every!(every, run.steps)
      end

    {run, world, conservation, %{observe: observe, every: every}}
  end

  @doc """
  The options of `BrokenRecord.Zero.World.stream/2`: the run of the whole stream (`steps`,
  default 1000, and `dt`, `rules`, `params` as `step!/2`), `every` (required), `observe`
  (default `:all`) and `frames` (default `false`).
  """
  @spec stream!(CompiledSystem.t(), term) :: %{
          run: run,
          every: pos_integer,
          observe: :all | [term],
          frames: boolean
        }
  def stream!(system, opts) do
    run = run!(system, Keyword.delete(opts, :backend), @stream)

    every =
      case Keyword.fetch(opts, :every) do
        {:ok, every} -> every!(every, run.steps)
        :error -> raise ArgumentError, "option every: is required (the steps between samples)"
      end

    frames = Keyword.get(opts, :frames, false)

    unless is_boolean(frames) do
      raise ArgumentError, "invalid option frames: #{inspect(frames)}; expected a boolean"
    end

    %{
      run: run,
      every: every,
      observe: observe!(system, Keyword.get(opts, :observe, :all)),
      frames: frames
    }
  end

  # Names are resolved once here, so that an unknown one fails before any step runs.
  defp observe!(_system, nil), do: nil

  defp observe!(system, names) do
    Observables.resolve!(system, names)
    names
  end

  defp every!(every, steps) do
    unless is_integer(every) and every > 0 do
      raise ArgumentError, "invalid option every: #{inspect(every)}; expected a positive integer"
    end

    unless rem(steps, every) == 0 do
      raise ArgumentError,
            "option every: #{every} does not divide steps: #{steps}; a sample is taken at the " <>
              "start and after every #{every} steps, the last one at the end of the run"
    end

    every
  end

  @doc """
  The options of `BrokenRecord.Zero.World.step/2`: those of a run; `backend` is accepted and
  ignored (a world keeps the backend it was created with).
  """
  @spec step!(CompiledSystem.t(), term) :: run
  def step!(system, opts) do
    keyword!(opts)
    run!(system, Keyword.delete(opts, :backend), @run)
  end

  @doc """
  The options of `BrokenRecord.Zero.World.new/3` for `system`: `backend` (resolved),
  `precision` (default the system's), `kernels` (default `true`), `seed` (an integer in
  `0..2^32 - 1`, default `BrokenRecord.Zero.Random.default_seed/0`) and `start_step` (an
  integer in `0..2^64 - 1`, default 0).

      iex> system = BrokenRecord.Zero.TestSystems.Spring.__system__()
      iex> BrokenRecord.Zero.Options.world!(system, backend: :interpreted, precision: :f32)
      %{backend: :interpreted, precision: :f32, kernels: true, seed: 0, start_step: 0}
      iex> BrokenRecord.Zero.Options.world!(system, steps: 3)
      ** (ArgumentError) unknown option :steps; known options: :backend, :precision, :kernels, :seed, :start_step

      iex> system = BrokenRecord.Zero.TestSystems.Spring.__system__()
      iex> BrokenRecord.Zero.Options.world!(system, seed: -1)
      ** (ArgumentError) invalid option seed: -1; expected an integer in 0..4294967295
  """
  @spec world!(CompiledSystem.t(), term) :: world
  def world!(system, opts) do
    known!(opts, @world)
    backend = Backend.resolve(Keyword.get(opts, :backend, :auto))
    precision = Keyword.get(opts, :precision, system.options.precision)

    unless precision in [:f64, :f32] do
      raise ArgumentError,
            "invalid option precision: #{inspect(precision)}; expected :f64 or :f32"
    end

    kernels = Keyword.get(opts, :kernels, true)

    unless is_boolean(kernels) do
      raise ArgumentError, "invalid option kernels: #{inspect(kernels)}; expected a boolean"
    end

    {seed, start_step} = random!(opts)

    %{
      backend: backend,
      precision: precision,
      kernels: kernels,
      seed: seed,
      start_step: start_step
    }
  end

  # The seed and the first step index of the random numbers.
  defp random!(opts) do
    seed = Keyword.get(opts, :seed, Random.default_seed())

    unless is_integer(seed) and seed in 0..Random.max_seed() do
      raise ArgumentError,
            "invalid option seed: #{inspect(seed)}; expected an integer in 0..#{Random.max_seed()}"
    end

    start_step = Keyword.get(opts, :start_step, 0)

    unless is_integer(start_step) and start_step in 0..Random.max_step() do
      raise ArgumentError,
            "invalid option start_step: #{inspect(start_step)}; expected an integer in " <>
              "0..#{Random.max_step()}"
    end

    {seed, start_step}
  end

  defp known!(opts, known) do
    keyword!(opts)

    case Enum.find(Keyword.keys(opts), &(&1 not in known)) do
      nil ->
        :ok

      key ->
        raise ArgumentError,
              "unknown option #{inspect(key)}; known options: " <>
                Enum.map_join(known, ", ", &inspect/1)
    end
  end

  defp run!(system, opts, known) do
    known!(opts, known)
    steps = Keyword.get(opts, :steps, 1000)

    # the engine counts steps in 64 bits (the step index, docs/dsl.md "Random numbers")
    unless is_integer(steps) and steps in 0..@max_u64 do
      raise ArgumentError,
            "invalid option steps: #{inspect(steps)}; expected an integer in 0..#{@max_u64}"
    end

    dt = Keyword.get(opts, :dt, 0.01)

    unless is_number(dt) do
      raise ArgumentError, "invalid option dt: #{inspect(dt)}; expected a number"
    end

    rules = rule_ids!(system, Keyword.get(opts, :rules))
    dt = State.to_float(dt, "option dt")

    %{
      steps: steps,
      dt: dt,
      rule_ids: rules,
      params: params!(system, rules, Keyword.get(opts, :params, %{}), dt),
      progress: Progress.option!(Keyword.get(opts, :progress, false)),
      continues: false
    }
  end

  defp conservation!(nil), do: nil
  defp conservation!(:report), do: :report

  defp conservation!({:raise, tolerance} = mode) when is_number(tolerance) and tolerance >= 0,
    do: mode

  defp conservation!(other) do
    raise ArgumentError,
          "invalid option conservation: #{inspect(other)}; expected :report or " <>
            "{:raise, tolerance}"
  end

  # The transient fields' reset rules run first in every step, whichever rules are asked for.
  defp rule_ids!(system, names) do
    {resets, declared} = Enum.split_with(system.rules, & &1.transient_reset)
    Enum.map(resets, & &1.index) ++ declared_rule_ids!(declared, names)
  end

  defp declared_rule_ids!(rules, nil), do: Enum.map(rules, & &1.index)

  defp declared_rule_ids!(rules, names) when is_list(names) do
    if List.improper?(names), do: invalid_rules!(names)

    Enum.map(names, fn name ->
      case Enum.find(rules, &(&1.name == name)) do
        nil ->
          raise ArgumentError,
                "unknown rule #{inspect(name)}; known rules: " <>
                  Enum.map_join(rules, ", ", &inspect(&1.name))

        rule ->
          rule.index
      end
    end)
  end

  defp declared_rule_ids!(_rules, other), do: invalid_rules!(other)

  defp invalid_rules!(rules) do
    raise ArgumentError, "invalid option rules: #{inspect(rules)}; expected a list of rule names"
  end

  defp params!(system, rule_ids, given, dt) do
    given =
      cond do
        is_map(given) -> given
        Keyword.keyword?(given) -> Map.new(given)
        true -> raise ArgumentError, "invalid option params: expected a map or keyword list"
      end

    needed =
      rule_ids
      |> Enum.flat_map(&Enum.at(system.rules, &1).scalars)
      |> MapSet.new()

    system.params
    |> Enum.map(fn
      :dt ->
        dt

      name ->
        case Map.fetch(given, name) do
          {:ok, value} when is_number(value) ->
            State.to_float(value, "param #{name}")

          {:ok, value} ->
            raise ArgumentError, "invalid param #{name}: #{inspect(value)}; expected a number"

          :error ->
            if MapSet.member?(needed, name) do
              raise ArgumentError,
                    "missing param #{inspect(name)}: pass it as params: %{#{name}: value}"
            else
              0.0
            end
        end
    end)
    |> List.to_tuple()
  end
end
