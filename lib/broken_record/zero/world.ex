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
  the params of each `step/2` travel with it. On the pure-Elixir backend it is an immutable
  value. Either way, always use the world returned by `step/2`.

  A `step/2` that raises (`BrokenRecord.Zero.NumericalError`), or whose caller dies while it
  runs, leaves the world as it was before the call, on both backends.

  `to_state/1` returns the state given to `new/3` with the fields that rules write replaced;
  every other key and value is the caller's own term.
  """

  alias BrokenRecord.Zero.{KernelBuilder, NIF, Program, Runtime, State}
  alias BrokenRecord.Zero.Backend.Elixir, as: ElixirBackend

  require Logger

  defstruct [:system, :backend, :state, :ref, :lanes, written: %{}]

  @type t :: %__MODULE__{
          system: BrokenRecord.Zero.System.t(),
          backend: :native | :interpreted,
          state: map,
          ref: reference | nil,
          lanes: map | nil,
          written: %{non_neg_integer => [non_neg_integer]}
        }

  @step_opts [:steps, :dt, :rules, :params]

  @doc """
  Creates a world for `system` (a module defined by `defsystem`) from `state`.

  Options: `backend: :auto | :native | :interpreted`, `precision: :f64 | :f32` to
  override the system's precision for this world (native worlds compute in it; the pure-Elixir
  backend always computes in f64, but rejects `:int` values that the precision does not hold
  exactly, see `BrokenRecord.Zero.State`), and `kernels: boolean` (native worlds; default
  `true`): whether the fused C++ kernels generated for the system at compile time may run its
  rules (`false`: the engine's interpreter runs every rule; see `docs/kernels.md` and
  `info/1`).
  """
  @spec new(module, map, keyword) :: t
  def new(system_module, state, opts \\ []) do
    Runtime.keyword!(opts)
    system = system_module.__system__()
    backend = Runtime.resolve_backend(Keyword.get(opts, :backend, :auto))
    precision = Keyword.get(opts, :precision, system.options.precision)

    unless precision in [:f64, :f32] do
      raise ArgumentError,
            "invalid option precision: #{inspect(precision)}; expected :f64 or :f32"
    end

    kernels = Keyword.get(opts, :kernels, true)

    unless is_boolean(kernels) do
      raise ArgumentError, "invalid option kernels: #{inspect(kernels)}; expected a boolean"
    end

    system = put_in(system.options.precision, precision)
    world = %__MODULE__{system: system, backend: backend, state: state}

    case backend do
      :native ->
        layout = layout(system)
        ref = NIF.world_new(program(system), layout, state, precision)
        unless kernels, do: :ok = NIF.world_set_options(ref, kernels: false)
        %{world | ref: ref}

      :interpreted ->
        %{world | lanes: State.to_lanes(system, state)}
    end
  end

  @doc """
  Runs steps. Options as `BrokenRecord.Zero.Runtime.simulate/3`: `steps` (default 1000), `dt`,
  `rules`, `params`. Raises `BrokenRecord.Zero.NumericalError` on a non-finite value.
  """
  @spec step(t, keyword) :: t
  def step(%__MODULE__{} = world, opts \\ []) do
    Runtime.keyword!(opts)
    opts = Keyword.delete(opts, :backend)
    __run__(world, Runtime.validate_opts!(world.system, opts, @step_opts))
  end

  @doc false
  # Runs steps with options already validated by `Runtime.validate_opts!/3`.
  @spec __run__(t, map) :: t
  def __run__(%__MODULE__{} = world, run) do
    case world.backend do
      :native ->
        params = Tuple.to_list(run.params)

        :ok =
          NIF.until_free(fn ->
            NIF.native_integrate(world.ref, params, run.steps, run.rule_ids)
          end)

        world

      :interpreted ->
        lanes = ElixirBackend.run(world.system, world.lanes, run.rule_ids, run.params, run.steps)
        written = if run.steps > 0, do: written(world, run.rule_ids), else: world.written
        %{world | lanes: lanes, written: written}
    end
  end

  @doc "The state given to `new/3`, with the fields the rules write updated."
  @spec to_state(t) :: map
  def to_state(%__MODULE__{backend: :native} = world),
    do: NIF.until_free(fn -> NIF.world_to_state(world.ref, world.state) end)

  def to_state(%__MODULE__{backend: :interpreted} = world),
    do: State.from_lanes(world.system, world.state, world.lanes, world.written)

  @doc """
  One field of every agent of a collection (its key, `:particles`, or its agent type's name,
  `"Particle"`) as a packed binary of native-endian floats (f64, or f32 for a native world of
  precision `:f32`), agent after agent (`x0 y0 z0 x1 ...` for a vec3). No per-agent maps are
  built.
  """
  @spec column(t, atom | String.t(), atom) :: binary
  def column(%__MODULE__{system: system} = world, collection, field) do
    unless is_atom(collection) or is_binary(collection) do
      raise ArgumentError, "collection must be an atom or a string, got: #{inspect(collection)}"
    end

    agent =
      BrokenRecord.Zero.System.agent(system, collection) ||
        raise ArgumentError,
              "unknown collection #{inspect(collection)}; known: " <>
                Enum.map_join(system.agents, ", ", &inspect(&1.collection))

    declared =
      BrokenRecord.Zero.IR.Agent.field(agent, field) ||
        raise ArgumentError, "#{agent.name} has no field #{inspect(field)}"

    width = BrokenRecord.Zero.IR.Field.width(declared.type)

    case world.backend do
      :native ->
        NIF.until_free(fn -> NIF.world_column(world.ref, agent.index, declared.lane, width) end)

      :interpreted ->
        for row <- Map.fetch!(world.lanes, agent.index),
            lane <- declared.lane..(declared.lane + width - 1),
            into: <<>>,
            do: <<elem(row, lane)::float-native-64>>
    end
  end

  @doc """
  What runs a world: `%{backend, precision, counts, kernels, kernel_status, kernel_isa,
  sweeps, neighbour_builds}`. `kernels` lists the indices of the rules (`__system__().rules`) that the native
  engine runs through the system's generated C++ kernels; `kernel_status` is `:loaded`, `:none`
  (no library) or `{:error, reason}` (a library was found but rejected); `kernel_isa` is the
  instruction set of the generated kernels in use (`"avx512"`, `"avx2"` or `"sse2"`: the
  engine's, `BrokenRecord.Zero.NIF.isa/0`, which `BROKEN_RECORD_ISA` caps), `nil` without a library.
  `sweeps` counts the sweeps the native engine has run for the world so far per path
  (docs/engine.md, "Rule paths"): `agent_kernel`, `agent_interpreter`, `all_pairs_kernel`,
  `all_pairs_interpreter`, `grid_block_kernel`, `grid_interpreter`, `list_block_kernel`,
  `list_interpreter` and `list_kernel`; `neighbour_builds` counts the neighbour lists built for
  same-type cutoff rules (a neighbour-list sweep that built none reused a list). Pure-Elixir
  worlds report `kernels: []`,
  `kernel_status: :none`, `kernel_isa: nil`, no sweeps (`%{}`) and no neighbour builds.
  """
  @spec info(t) :: %{
          backend: :native | :interpreted,
          precision: :f64 | :f32,
          counts: [non_neg_integer],
          kernels: [non_neg_integer],
          kernel_status: :loaded | :none | {:error, String.t()},
          kernel_isa: String.t() | nil,
          sweeps: %{atom => non_neg_integer},
          neighbour_builds: non_neg_integer
        }
  def info(%__MODULE__{backend: :native} = world),
    do: Map.put(NIF.world_info(world.ref), :backend, :native)

  def info(%__MODULE__{backend: :interpreted, system: system} = world) do
    %{
      backend: :interpreted,
      precision: :f64,
      counts: Enum.map(system.agents, &length(Map.fetch!(world.lanes, &1.index))),
      kernels: [],
      kernel_status: :none,
      kernel_isa: nil,
      sweeps: %{},
      neighbour_builds: 0
    }
  end

  @doc "The number of agents of each collection."
  @spec counts(t) :: %{atom => non_neg_integer}
  def counts(%__MODULE__{system: system} = world) do
    counts =
      case world.backend do
        :native -> NIF.world_info(world.ref).counts
        :interpreted -> Enum.map(system.agents, &length(Map.fetch!(world.lanes, &1.index)))
      end

    system.agents |> Enum.map(& &1.collection) |> Enum.zip(counts) |> Map.new()
  end

  # The lanes written so far plus those the rules `rule_ids` store to.
  defp written(world, rule_ids) do
    rules = world.system.program.rules

    rule_ids
    |> Enum.flat_map(fn id ->
      rule = Enum.at(rules, id)
      for {slot, lane} <- Program.stores(rule), do: {Program.slot_type(rule, slot), lane}
    end)
    |> Enum.reduce(world.written, fn {type, lane}, acc ->
      Map.update(acc, type, [lane], &Enum.uniq([lane | &1]))
    end)
  end

  # The NIF's view of the agent types (docs/nif.md). No lane counts as written at the start:
  # native_integrate marks the fields of the rules it runs.
  defp layout(system) do
    Enum.map(system.agents, fn agent ->
      fields = Enum.map(agent.fields, &{&1.name, &1.type, &1.default})
      {agent.collection, agent.name, fields, []}
    end)
  end

  # One validated program resource per system, created on first use, with the system's
  # generated kernel library when there is one (a rejected library is a warning, once).
  defp program(system) do
    key = {__MODULE__, system.module, :erlang.phash2(system.program_binary)}

    case :persistent_term.get(key, nil) do
      nil ->
        ref =
          case KernelBuilder.ensure(system) do
            %{path: path, hash: hash, sha256: sha256} ->
              NIF.program_new(system.program_binary, {path, hash, sha256})

            nil ->
              NIF.program_new(system.program_binary, nil)
          end

        case NIF.program_info(ref).kernel_status do
          {:error, reason} ->
            Logger.warning(
              "BrokenRecord Zero: the generated kernels of #{inspect(system.module)} are not " <>
                "used (#{reason}); the engine interprets its rules"
            )

          _ ->
            :ok
        end

        :persistent_term.put(key, ref)
        ref

      ref ->
        ref
    end
  end
end
