defmodule BrokenRecord.Zero.World do
  @moduledoc """
  A long-lived world: the state of a system held in the backend's own layout between calls.

      world = World.new(MyPhysics.CollisionWorld, state)
      world = World.step(world, steps: 10, dt: 0.01)
      positions = World.column(world, :particles, :position)   # packed floats
      state = World.to_state(world)

  On the native backend the world is a NIF resource (Structure-of-Arrays columns) that is
  stepped in place and freed when no process references it; concurrent calls on one world take
  turns (a call waits in its own process while another uses the world, see `docs/nif.md`), and
  the params of each `step/2` travel with it. On the pure-Elixir backend it is a value.

  ## One live handle

  Both backends give a world the same semantics: a world has one live handle. `step/2` returns
  a new handle and supersedes the one it was given (so does `put_column/4`); any call on a
  superseded handle (`step/2`, `column/4`, `put_column/4`, `save/2`, `to_state/1`, `counts/1`,
  `info/1`, `rows/2`, `totals/2`, `observe/2`, `copy/1`) raises
  `ArgumentError`:

      w1 = World.step(w0, steps: 10)
      World.counts(w0)   # ** (ArgumentError) this world was stepped: use the world that ...

  Every handle made from one `new/3` shares an `:atomics` version cell; a handle carries the
  version it was made at, so the check costs one atomics read (a step takes the version with
  one compare-exchange before it runs: of several steps on one handle, exactly one runs). To
  keep a branch, take `copy/1` before stepping: the copy is an independent world.

  A `step/2` that raises (`BrokenRecord.Zero.NumericalError`) leaves the world as it was
  before the call and its handle live, on both backends. A `step/2` whose caller dies while it
  runs leaves the world as it was, but its handle superseded.

  `to_state/1` returns the state given to `new/3` with the fields that rules write replaced;
  every other key and value is the caller's own term.
  """

  alias BrokenRecord.Zero.{
    Backend,
    Box,
    Columns,
    CompiledSystem,
    NumericalError,
    Observables,
    Options,
    Progress,
    References,
    State
  }

  alias BrokenRecord.Zero.IR.{Agent, Field}

  defstruct [:system, :backend, :impl, :state, :ref, :box, :cell, version: 0]

  @stale "this world was stepped: use the world that World.step/2 returned " <>
           "(World.copy/1 before stepping keeps a branch)"

  @impls %{
    native: BrokenRecord.Zero.Backend.Native,
    interpreted: BrokenRecord.Zero.Backend.Elixir
  }

  @typedoc """
  A world: `system` with the world's precision, `backend` its name, `impl` its module
  (`BrokenRecord.Zero.Backend`), `state` the caller's state given to `new/3` and `ref` the
  backend's own world (a NIF resource on the native backend, a `BrokenRecord.Zero.Backend.Elixir`
  value on the pure-Elixir one), `box` the box of a periodic space (`BrokenRecord.Zero.Box`,
  `nil` in open space), `cell` the `:atomics` version cell shared by the world's handles and
  `version` the version this handle was made at (see "One live handle").
  """
  @type t :: %__MODULE__{
          system: CompiledSystem.t(),
          backend: Backend.name(),
          impl: module,
          state: map,
          ref: Backend.world(),
          box: Box.t() | nil,
          cell: :atomics.atomics_ref(),
          version: non_neg_integer
        }

  @doc """
  Creates a world for `system` (a module defined by `defsystem`) from `state`: a map from
  collection keys to lists of agent maps, or to maps of packed columns, field => binary in the
  layout of `column/4` (`%{particles: %{position: bin, velocity: bin}}`, see
  `BrokenRecord.Zero.Columns`): a field without a column takes its declared default (one
  without a default is an `ArgumentError`), every column must hold the same number of agents,
  and the values are checked as `put_column/4` checks them. `to_state/1` gives such a
  collection back as agent maps of every field.

  Options: `backend: :auto | :native | :interpreted`, `precision: :f64 | :f32` to
  override the system's precision for this world (native worlds compute in it; the pure-Elixir
  backend always computes in f64, but rejects `:int` values that the precision does not hold
  exactly, see `BrokenRecord.Zero.State`), and `kernels: boolean` (native worlds; default
  `true`): whether the fused C++ kernels generated for the system at compile time may run its
  rules (`false`: the engine's interpreter runs every rule; see `docs/kernels.md` and
  `info/1`), `seed:` (an integer in `0..2^32 - 1`, default `0`) and `start_step:` (an integer
  in `0..2^64 - 1`, default `0`): the seed of the rules' random numbers and the index of the
  world's first step (`docs/dsl.md`, "Random numbers"). Any other option is an `ArgumentError`, as in `BrokenRecord.Zero.Runtime.simulate/3`
  (see `BrokenRecord.Zero.Options`).

      iex> alias BrokenRecord.Zero.{TestSystems.Spring, World}
      iex> state = %{particles: [%{position: {1.0, 0.0, 0.0}, velocity: {0.0, 0.0, 0.0}}]}
      iex> world = World.new(Spring, state, backend: :interpreted)
      iex> World.counts(world)
      %{particles: 1}
      iex> params = %{k: 4.0, damping: 0.0}
      iex> world = World.step(world, steps: 1, dt: 0.1, rules: [:spring], params: params)
      iex> World.to_state(world).particles
      [%{position: {1.0, 0.0, 0.0}, velocity: {-0.4, 0.0, 0.0}}]
      iex> World.new(Spring, state, steps: 1)
      ** (ArgumentError) unknown option :steps; known options: :backend, :precision, :kernels, :seed, :start_step
  """
  @spec new(module, map, keyword) :: t
  def new(system_module, state, opts \\ []) do
    Options.keyword!(opts)
    system = system_module.__system__()
    opts = Options.world!(system, opts)
    system = put_in(system.options.precision, opts.precision)
    impl = Map.fetch!(@impls, opts.backend)
    box = Box.from_state!(system, state)
    State.check_collections!(system, state)
    element = Columns.element_size(opts.backend, opts.precision)

    for agent <- system.agents, is_map(state) do
      columns = Map.get(state, agent.collection)
      if Columns.columns?(columns), do: Columns.count!(agent, columns, element)
    end

    State.check_references!(system, state, element)

    new_opts = %{kernels: opts.kernels, box: box, seed: opts.seed, start_step: opts.start_step}
    ref = impl.new(system, state, new_opts)

    %__MODULE__{
      system: system,
      backend: opts.backend,
      impl: impl,
      state: state,
      ref: ref,
      box: box,
      cell: new_cell(),
      version: 0
    }
  end

  @doc """
  An independent copy of `world`, to branch a simulation: the same system, backend, precision,
  step index, seed, box, agents, identities and next identities, so that stepping the copy and
  `world` with the same options gives the same results, and stepping one leaves the other as
  it is. Timings and sweep counts (`info/1`) start from zero in the copy.
  """
  @spec copy(t) :: t
  def copy(%__MODULE__{impl: impl} = world) do
    live!(world)
    %{world | ref: impl.copy(world.system, world.ref), cell: new_cell(), version: 0}
  end

  defp new_cell, do: :atomics.new(1, signed: false)

  # Raises unless `world` is its world's live handle.
  @spec live!(t) :: :ok
  defp live!(%__MODULE__{cell: cell, version: version}) do
    if :atomics.get(cell, 1) == version, do: :ok, else: raise(ArgumentError, @stale)
  end

  # Runs `change` (a call that changes the world and returns the backend's world) after
  # superseding `world`, and returns the new handle. The version is taken before the call, so
  # that of several calls on one handle exactly one runs; a call that raises gives it back.
  @spec change!(t, (() -> Backend.world())) :: t
  defp change!(%__MODULE__{cell: cell, version: version} = world, change) do
    unless :atomics.compare_exchange(cell, 1, version, version + 1) == :ok,
      do: raise(ArgumentError, @stale)

    try do
      %{world | ref: change.(), version: version + 1}
    rescue
      e ->
        :atomics.put(cell, 1, version)
        reraise e, __STACKTRACE__
    end
  end

  @doc """
  Runs steps. Options as `BrokenRecord.Zero.Runtime.simulate/3`: `steps` (default 1000), `dt`,
  `rules`, `params`, `progress` (`BrokenRecord.Zero.Progress`: the run goes in chunks that give
  the results of one call). Raises `BrokenRecord.Zero.NumericalError` on a non-finite value.
  """
  @spec step(t, keyword) :: t
  def step(%__MODULE__{} = world, opts \\ []),
    do: __run__(world, Options.step!(world.system, opts))

  @doc false
  # Runs steps with options already validated by `BrokenRecord.Zero.Options`.
  @spec __run__(t, Options.run()) :: t
  def __run__(%__MODULE__{impl: impl, system: system} = world, run) do
    change!(world, fn ->
      Progress.run(world.ref, run.steps, run.progress, fn ref, steps, done ->
        try do
          impl.run(system, ref, %{run | steps: steps, continues: done > 0})
        rescue
          # a chunk counts its steps from its own start; the caller's from the call's
          e in NumericalError -> reraise %{e | step: e.step + done}, __STACKTRACE__
        end
      end)
    end)
  end

  @doc """
  Replaces `field` of every agent of `collection` (its key or its agent type's name) with a
  packed column in the layout `column/4` returns (`BrokenRecord.Zero.Columns`: native-endian
  floats of the world's element size, `x y z` per agent for a vec3, the codes of `:int`,
  `:bool` and enum fields), and returns the world's new handle, superseding `world` as
  `step/2` does. Coordinates of a periodic space are wrapped into the box (image counters
  count the crossings); `to_state/1` returns the field's new values from then on.

  Raises `ArgumentError`, the world unchanged, for an unknown collection or field, a value that
  is not a binary, a byte size other than the agent count times the field's bytes (naming
  collection, field, expected and given sizes), or a value that the field cannot hold (not
  finite, an `:int` not integral, a `:bool` other than 0 or 1, an enum code out of range, a
  reference that is not the identity of a living agent of its type: naming the agent index
  and the field).

      positions = World.column(world, :particles, :position)
      world = World.put_column(world, :particles, :position, positions)
  """
  @spec put_column(t, atom | String.t(), atom, binary) :: t
  def put_column(%__MODULE__{system: system, impl: impl} = world, collection, field, binary) do
    live!(world)
    {agent, declared} = field!(system, collection, field)
    n = Enum.at(impl.counts(system, world.ref), agent.index)
    element = Columns.element_size(world.backend, system.options.precision)
    Columns.check_size!(agent, declared, binary, n, element)
    width = Field.width(declared.type)
    check_references!(world, agent, declared, binary, element)

    change!(world, fn ->
      impl.put_column(system, world.ref, agent, declared.lane, width, binary)
    end)
  end

  # A reference column must name living agents of its type by their identities (the indices
  # of World.new's state while none was born or removed).
  defp check_references!(world, agent, %Field{type: {:ref, target}} = field, binary, element) do
    %{system: system, impl: impl} = world
    target_agent = CompiledSystem.agent(system, target)
    {ids, _next, _images} = impl.identities(system, world.ref, target_agent)
    index = References.index(for <<id::unsigned-native-32 <- ids>>, do: id)
    bits = element * 8
    # NaN and the infinities decode to nothing here: the backend rejects them (not finite).
    values = for <<v::float-native-size(bits) <- binary>>, do: v

    values
    |> Enum.with_index()
    |> Enum.find(fn {v, _} -> References.lookup(index, v) == :error end)
    |> case do
      found when found == nil or length(values) * element != byte_size(binary) ->
        :ok

      {v, i} ->
        raise ArgumentError,
              "#{agent.collection}[#{i}].#{field.name} would be #{inspect(v)}, not the identity " <>
                "of a living agent of #{target_agent.collection} (a #{agent.name} references a " <>
                "#{target})"
    end
  end

  defp check_references!(_world, _agent, _field, _binary, _element), do: :ok

  @doc false
  # The backend's identities of every type, and puts them back: for BrokenRecord.Zero.Checkpoint.
  @spec __identities__(t) :: [{binary, non_neg_integer, binary | nil}]
  def __identities__(%__MODULE__{system: system, impl: impl} = world) do
    live!(world)
    Enum.map(system.agents, &impl.identities(system, world.ref, &1))
  end

  @doc false
  @spec __put_identities__(t, [{binary, non_neg_integer, binary | nil}]) :: t
  def __put_identities__(%__MODULE__{system: system, impl: impl} = world, identities) do
    change!(world, fn ->
      system.agents
      |> Enum.zip(identities)
      |> Enum.reduce(world.ref, fn {agent, {ids, next_id, images}}, ref ->
        impl.put_identities(system, ref, agent, ids, next_id, images)
      end)
    end)
  end

  @doc """
  Writes `world` to a checkpoint file at `path` (`BrokenRecord.Zero.Checkpoint`, `docs/io.md`):
  its system, precision, step counter, seed, box, agents, identities, next identities and image
  counters, so that `load/2` gives a world that steps exactly as `world` would. Returns `:ok`;
  a superseded handle raises as every call does, a file that cannot be written raises
  `File.Error`.
  """
  @spec save(t, Path.t()) :: :ok
  def save(%__MODULE__{} = world, path) do
    live!(world)
    BrokenRecord.Zero.Checkpoint.save(world, path)
  end

  @doc """
  The world a checkpoint file written by `save/2` holds, on the backend `backend:` chooses
  (`:auto`, default, `:native` or `:interpreted`); a checkpoint of either backend loads into
  either. A missing, empty, truncated, corrupt or foreign file, or one saved from a system whose
  program has changed since, raises `ArgumentError` naming the path and what is wrong.
  """
  @spec load(Path.t(), keyword) :: t
  def load(path, opts \\ []), do: BrokenRecord.Zero.Checkpoint.load(path, opts)

  @doc "The state given to `new/3`, with the fields the rules write updated."
  @spec to_state(t) :: map
  def to_state(%__MODULE__{system: system, impl: impl} = world) do
    live!(world)
    counts = impl.counts(system, world.ref)

    # A collection given as columns comes back as agent maps of every field (the backends
    # write every field of such a collection into the maps given to them).
    state =
      Enum.reduce(system.agents, world.state, fn agent, state ->
        if Columns.columns?(Map.get(state, agent.collection)),
          do: Map.put(state, agent.collection, List.duplicate(%{}, Enum.at(counts, agent.index))),
          else: state
      end)

    impl.to_state(system, world.ref, state)
  end

  @doc """
  One field of every agent of a collection (its key, `:particles`, or its agent type's name,
  `"Particle"`) as a packed binary of native-endian floats (f64, or f32 for a native world of
  precision `:f32`), agent after agent (`x0 y0 z0 x1 ...` for a vec3). No per-agent maps are
  built.

  In a periodic space coordinates are wrapped into the box; `unwrapped: true` gives the
  coordinate field unwrapped instead (each agent's box crossings added back: continuous
  trajectories, for diffusion and mean-square displacement). Other fields ignore it.
  """
  @spec column(t, atom | String.t(), atom, keyword) :: binary
  def column(%__MODULE__{system: system} = world, collection, field, opts \\ []) do
    live!(world)
    Options.keyword!(opts)

    unwrapped =
      case Keyword.pop(opts, :unwrapped, false) do
        {flag, []} when is_boolean(flag) ->
          flag

        {flag, []} ->
          raise ArgumentError, "invalid option unwrapped: #{inspect(flag)}; expected a boolean"

        {_, [{key, _} | _]} ->
          raise ArgumentError, "unknown option #{inspect(key)}; known options: :unwrapped"
      end

    {agent, declared} = field!(system, collection, field)

    world.impl.column(
      system,
      world.ref,
      agent,
      declared.lane,
      Field.width(declared.type),
      unwrapped
    )
  end

  # The agent type and declared field that `collection` and `field` name, or ArgumentError.
  defp field!(system, collection, field) do
    unless is_atom(collection) or is_binary(collection) do
      raise ArgumentError, "collection must be an atom or a string, got: #{inspect(collection)}"
    end

    agent =
      CompiledSystem.agent(system, collection) ||
        raise ArgumentError,
              "unknown collection #{inspect(collection)}; known: " <>
                Enum.map_join(system.agents, ", ", &inspect(&1.collection))

    declared =
      Agent.field(agent, field) ||
        raise ArgumentError, "#{agent.name} has no field #{inspect(field)}"

    {agent, declared}
  end

  @doc """
  What runs a world: `%{backend, precision, counts, kernels, kernel_status, kernel_isa,
  sweeps, neighbour_builds, box, timings, step, seed}`. `kernels` lists the indices of the rules (`__system__().rules`) that the native
  engine runs through the system's generated C++ kernels; `kernel_status` is `:loaded`, `:none`
  (no library) or `{:error, reason}` (a library was found but rejected); `kernel_isa` is the
  instruction set of the generated kernels in use (`"avx512"`, `"avx2"` or `"sse2"`: the
  engine's, `BrokenRecord.Zero.NIF.isa/0`, which `BROKEN_RECORD_ISA` caps), `nil` without a library.
  `sweeps` counts the sweeps the native engine has run for the world so far per path
  (docs/engine.md, "Rule paths"): `agent_kernel`, `agent_interpreter`, `all_pairs_kernel`,
  `all_pairs_interpreter`, `grid_block_kernel`, `grid_interpreter`, `list_block_kernel`,
  `list_interpreter`, `list_kernel`, `exclusive_interpreter` (an exclusive pair rule),
  `bonded_kernel` and `bonded_interpreter` (a bonded rule);
  `neighbour_builds` counts the neighbour lists built for
  same-type cutoff rules (a neighbour-list sweep that built none reused a list). Pure-Elixir
  worlds report `kernels: []`, `kernel_status: :none`, `kernel_isa: nil`, their sweeps on the
  paths `agent_elixir`, `all_pairs_elixir`, `cells_elixir` (a cutoff rule over a cell list),
  `exclusive_elixir` (an exclusive pair rule) and `bonded_elixir` (a bonded rule),
  and no neighbour builds. `box` is the box of a periodic space as corners
  `{{xlo, ylo, zlo}, {xhi, yhi, zhi}}` (`nil` in open space). `timings` holds the wall-clock
  seconds spent since the world was created: `run` in whole runs, `pairs` in pair sweeps and
  `neighbour` in finding the pairs (binning, neighbour lists and their checks); the rest of
  `run` went to per-agent rules and the step's bookkeeping. `step` is the world's step
  counter, the index of the next step it runs (its `start_step` plus the steps run so far: a
  run that raises counts none), and `seed` the seed of its random numbers.
  """
  @spec info(t) :: %{
          backend: :native | :interpreted,
          precision: :f64 | :f32,
          counts: [non_neg_integer],
          kernels: [non_neg_integer],
          kernel_status: :loaded | :none | {:error, String.t()},
          kernel_isa: String.t() | nil,
          sweeps: %{atom => non_neg_integer},
          neighbour_builds: non_neg_integer,
          box: nil | {{float, float, float}, {float, float, float}},
          timings: %{run: float, pairs: float, neighbour: float},
          step: non_neg_integer,
          seed: non_neg_integer
        }
  def info(%__MODULE__{impl: impl} = world) do
    live!(world)
    world.system |> impl.info(world.ref) |> Map.put(:backend, world.backend)
  end

  @doc "The number of agents of each collection."
  @spec counts(t) :: %{atom => non_neg_integer}
  def counts(%__MODULE__{system: system, impl: impl} = world) do
    live!(world)
    counts = impl.counts(system, world.ref)
    system.agents |> Enum.map(& &1.collection) |> Enum.zip(counts) |> Map.new()
  end

  @doc """
  The agents of the agent type `agent` (of `world.system.agents`) as tuples of lane floats, in
  the layout of `BrokenRecord.Zero.State` (for measurements in Elixir over a whole world, such as
  `BrokenRecord.Zero.Conservation.Monitor`'s potentials).
  """
  @spec rows(t, Agent.t()) :: [tuple]
  def rows(%__MODULE__{impl: impl} = world, %Agent{} = agent) do
    live!(world)
    impl.rows(world.system, world.ref, agent)
  end

  @doc """
  Measures observables (`docs/dsl.md`, "Observables") without changing the world:
  `%{name => value}`, a value being a float, a vec3 as `{x, y, z}`, or `nil` (a `:min`,
  `:max` or `:mean` over no agents or pairs, a temperature of fewer than two agents).

  `names` is `:all` (the default: every `observable` and `potential` of the system and every
  built-in that some agent type has the fields of) or a list of observable names, built-in
  names (`:mass`, `:momentum`, `:angular_momentum`, `:kinetic_energy`, `:temperature`) and
  `{collection, built-in}` pairs. The native engine computes them in C++ on a dirty scheduler;
  the pure-Elixir backend gives the same values (sums within rounding: their order differs).
  An unknown name is an `ArgumentError` with a did-you-mean; a value that is not finite is an
  `ArgumentError` naming the observable.

      World.observe(world)                          # every observable and built-in
      World.observe(world, [:temperature, :pe])     # %{temperature: 1.02, pe: -5423.1}
      World.observe(world, [{:ions, :momentum}])    # %{{:ions, :momentum} => {px, py, pz}}
  """
  @spec observe(t, :all | [atom | {atom, atom}]) :: %{term => Observables.value()}
  def observe(%__MODULE__{system: system} = world, names \\ :all) do
    observe_plans(world, Observables.resolve!(system, names))
  end

  @doc """
  How each observable that `observe(world, names)` needs is evaluated now, by the name of its
  rule (a built-in's rules are named like `:"kinetic_energy.particles"`): on the native
  backend `:kernel` (the observe kernel generated for it at compile time: a pair observable
  without exclusions swept over all pairs, docs/kernels.md "Observe kernels") or the engine's
  block evaluator over `:agents`, `:bonded` agents, `:all_pairs` or neighbouring `:cells`
  (docs/engine.md, "Observables"); `:elixir` on the pure-Elixir backend. Evaluates nothing.

      World.observe_paths(world, [:softened_pe])   # %{softened_pe: :kernel}
  """
  @spec observe_paths(t, :all | [atom | {atom, atom}]) :: %{atom => atom}
  def observe_paths(%__MODULE__{system: system, impl: impl} = world, names \\ :all) do
    live!(world)
    needed = Observables.needed(Observables.resolve!(system, names))

    needed
    |> Enum.map(& &1.name)
    |> Enum.zip(impl.observe_paths(system, world.ref, needed))
    |> Map.new()
  end

  @doc """
  A lazy stream of samples of a run: `%{step: s, time: t, values: %{name => value}}`, the
  first at the start (before any step), then one after every `every` steps, up to `steps`
  (`steps / every + 1` samples). `step` is the world's step counter (`info/1`), `time` is
  `step * dt` and `values` is `observe/2` of the `observe:` names (default `:all`).

  Options: `steps` (default 1000; a multiple of `every`), `every` (required, a positive
  integer), `observe`, `frames: true` (each sample also holds `world:`, the world handle after
  its steps, so that `BrokenRecord.Zero.Trajectory.write/3` can write the stream), and `dt`,
  `rules`, `params` as `step/2`, and `progress` (one report for the whole run, advanced as
  each sample's steps end; `BrokenRecord.Zero.Progress`). Bad options and unknown observables
  are an `ArgumentError` when the stream is made.

  Each sample's steps run (`step/2` with `steps: every`, on a dirty scheduler natively) only
  when the sample is asked for: `Enum.take(stream, 3)` runs `2 * every` steps, and a halted
  stream runs no more. The stream owns `world`: once it has run a step, `world` and the
  handles of earlier samples are superseded (see "One live handle"), and a stream can be
  enumerated once. To keep the starting point, stream `copy(world)`; to go on after the
  stream, use the `world:` of its last sample (`frames: true`).

      world
      |> World.stream(steps: 100_000, every: 100, observe: [:temperature, :pe], dt: 0.005)
      |> Stream.take_while(fn s -> s.values.temperature < 2.0 end)
      |> Enum.to_list()
  """
  @spec stream(t, keyword) :: Enumerable.t()
  def stream(%__MODULE__{system: system} = world, opts) do
    live!(world)
    opts = Options.stream!(system, opts)
    plans = Observables.resolve!(system, opts.observe)

    world
    |> __sampled__(opts.run, opts.every)
    |> Stream.map(fn w ->
      step = info(w).step
      sample = %{step: step, time: step * opts.run.dt, values: observe_plans(w, plans)}
      if opts.frames, do: Map.put(sample, :world, w), else: sample
    end)
  end

  @doc false
  # The worlds of a sampled run, lazily: `world` first, then the world after every `every`
  # steps of `run` (`run.steps` a multiple of `every`); each element's steps run when it is
  # asked for.
  @spec __sampled__(t, Options.run(), pos_integer) :: Enumerable.t()
  def __sampled__(%__MODULE__{} = world, run, every) do
    samples = div(run.steps, every)
    # One progress report for the whole run, advanced after every chunk of `every` steps.
    chunk = %{run | steps: every, progress: false}

    Stream.unfold({world, 0, nil}, fn
      {_, k, _} when k > samples ->
        nil

      {w, 0, _} ->
        {w, {w, 1, Progress.start(run.steps, run.progress)}}

      {w, k, progress} ->
        w = __run__(w, chunk)
        progress = Progress.advance(progress, k * every)
        if k == samples, do: Progress.finish(progress)
        {w, {w, k + 1, progress}}
    end)
  end

  @doc false
  # observe/2 of names already resolved (BrokenRecord.Zero.Observables.resolve!/2).
  @spec __observe_plans__(t, [{term, term}]) :: %{term => Observables.value()}
  def __observe_plans__(%__MODULE__{} = world, plans), do: observe_plans(world, plans)

  defp observe_plans(%__MODULE__{system: system, impl: impl} = world, plans) do
    live!(world)
    Observables.finish(plans, impl.observe(system, world.ref, Observables.needed(plans)))
  end

  @doc false
  # The raw reductions of compiled observables (the energy monitor's potentials).
  @spec __observe_raw__(t, [Observables.compiled()]) :: %{non_neg_integer => Observables.raw()}
  def __observe_raw__(%__MODULE__{system: system, impl: impl} = world, observables) do
    live!(world)
    impl.observe(system, world.ref, observables)
  end

  @doc """
  The totals of the conserved quantities over the agent type `agent`, summed by the backend
  (`c:BrokenRecord.Zero.Backend.totals/3`), for `BrokenRecord.Zero.Conservation.Monitor`.
  """
  @spec totals(t, Agent.t()) :: %{atom => Backend.sum() | nil}
  def totals(%__MODULE__{impl: impl} = world, %Agent{} = agent) do
    live!(world)
    impl.totals(world.system, world.ref, agent)
  end
end

defimpl Inspect, for: BrokenRecord.Zero.World do
  # Short: the system, backend, precision, step and counts (the columns would flood a shell).
  def inspect(world, _opts) do
    cell = world.cell

    if cell && :atomics.get(cell, 1) == world.version do
      info = world.impl.info(world.system, world.ref)

      counts =
        world.system.agents
        |> Enum.zip(info.counts)
        |> Enum.map_join(", ", fn {agent, n} -> "#{agent.collection}: #{n}" end)

      "#BrokenRecord.Zero.World<#{Kernel.inspect(world.system.module)}, #{world.backend} " <>
        "#{world.system.options.precision}, step #{info.step}, #{counts}>"
    else
      "#BrokenRecord.Zero.World<#{Kernel.inspect(world.system.module)}, stepped>"
    end
  end
end
