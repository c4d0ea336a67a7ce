defmodule BrokenRecord.Zero.Backend.Native do
  @moduledoc """
  The native backend: a world is a NIF resource of the C++ engine (`docs/nif.md`,
  `docs/engine.md`), stepped in place. Every NIF call that a world makes is here.

  A world is used by one call at a time: each call waits its turn in the caller's process
  (`BrokenRecord.Zero.NIF.until_free/1`). Each system gets one program resource, created on first
  use with the system's generated kernel library when there is one.
  """

  @behaviour BrokenRecord.Zero.Backend

  alias BrokenRecord.Zero.{Box, Columns, Conservation, KernelBuilder, NIF}
  alias BrokenRecord.Zero.Observables
  alias BrokenRecord.Zero.IR.Field

  require Logger

  @impl true
  def new(system, state, opts) do
    box = opts.box && Box.to_corners(opts.box)

    ref =
      NIF.world_new(
        program(system),
        layout(system, state),
        state,
        system.options.precision,
        box,
        opts.seed,
        opts.start_step
      )

    unless opts.kernels, do: :ok = NIF.world_set_options(ref, kernels: false)
    ref
  end

  @impl true
  def run(system, ref, run) do
    params = Tuple.to_list(run.params)

    :ok =
      NIF.until_free(fn ->
        NIF.native_run_steps(ref, params, run.steps, run.rule_ids, run.continues)
      end)

    ref
  rescue
    # The engine names the rule by index; the message names it by name.
    e in ErlangError ->
      case e.original do
        {:cutoff_too_large, rule_id, bound, axis, _edge} ->
          box = NIF.world_info(ref).box
          Box.cutoff_too_large!(system, rule_id, bound, axis, Box.new!(box))

        _ ->
          reraise e, __STACKTRACE__
      end
  end

  @impl true
  def copy(_system, ref), do: NIF.until_free(fn -> NIF.world_copy(ref) end)

  @impl true
  def to_state(_system, ref, state), do: NIF.until_free(fn -> NIF.world_to_state(ref, state) end)

  @impl true
  def column(_system, ref, agent, first_lane, n_lanes, unwrapped),
    do:
      NIF.until_free(fn ->
        NIF.world_column(ref, agent.index, first_lane, n_lanes, unwrapped)
      end)

  @impl true
  def put_column(_system, ref, agent, first_lane, n_lanes, binary) do
    :ok =
      NIF.until_free(fn ->
        NIF.world_put_column(ref, agent.index, first_lane, n_lanes, binary)
      end)

    ref
  end

  @impl true
  def identities(_system, ref, agent),
    do: NIF.until_free(fn -> NIF.world_identities(ref, agent.index) end)

  @impl true
  def put_identities(_system, ref, agent, ids, next_id, images) do
    :ok =
      NIF.until_free(fn ->
        NIF.world_put_identities(ref, agent.index, ids, next_id, images)
      end)

    ref
  end

  @impl true
  def rows(system, ref, agent) do
    values =
      case {column(system, ref, agent, 0, agent.lanes, false), system.options.precision} do
        {binary, :f32} -> for <<x::float-native-32 <- binary>>, do: x
        {binary, :f64} -> for <<x::float-native-64 <- binary>>, do: x
      end

    values |> Enum.chunk_every(agent.lanes) |> Enum.map(&List.to_tuple/1)
  end

  @impl true
  def counts(_system, ref), do: NIF.world_info(ref).counts

  @impl true
  def info(_system, ref), do: NIF.world_info(ref)

  @impl true
  def totals(_system, ref, agent) do
    mass = Conservation.quantity_lane(agent, :mass)
    velocity = Conservation.quantity_lane(agent, :velocity)
    position = Conservation.quantity_lane(agent, :position)
    t = NIF.until_free(fn -> NIF.world_totals(ref, agent.index, mass, velocity, position) end)

    %{
      mass: {t.mass, t.mass_scale},
      momentum: {t.momentum, t.momentum_scale},
      angular_momentum: {t.angular_momentum, t.angular_momentum_scale},
      energy: {t.kinetic, abs(t.kinetic)}
    }
  end

  @impl true
  def observe(_system, _ref, []), do: %{}

  def observe(system, ref, observables) do
    specs = Enum.map(observables, &{&1.index, &1.values, Observables.reduce_code(&1.reduce)})
    program = observables_program(system)
    results = NIF.until_free(fn -> NIF.world_observe(ref, program, specs) end)
    observables |> Enum.map(& &1.index) |> Enum.zip(results) |> Map.new()
  end

  # `:kernel` (the observe kernel generated at compile time), or the engine's block evaluator
  # over `:agents`, `:bonded` agents, `:all_pairs` or neighbouring `:cells`.
  @impl true
  def observe_paths(_system, _ref, []), do: []

  def observe_paths(system, ref, observables) do
    specs = Enum.map(observables, &{&1.index, &1.values, Observables.reduce_code(&1.reduce)})
    program = observables_program(system)
    NIF.until_free(fn -> NIF.world_observe_paths(ref, program, specs) end)
  end

  # One program resource per system for its observables, with the system's observe kernels
  # when there are (`program_resource/4`).
  defp observables_program(system) do
    program_resource(system, :observables, system.observables_binary, fn ->
      KernelBuilder.ensure_observables(system)
    end)
  end

  # The NIF's view of the agent types (docs/nif.md). No lane of a collection given as agent
  # maps counts as written at the start (native_run_steps marks the fields of the rules it
  # runs); every lane of one given as columns does, so that to_state returns whole agents.
  defp layout(system, state) do
    Enum.map(system.agents, fn agent ->
      # A reference is an index: the engine decodes it as an int.
      fields =
        Enum.map(agent.fields, fn f ->
          type = if match?({:ref, _}, f.type), do: :int, else: f.type
          {f.name, type, lane_default(f), f.transient}
        end)

      written =
        if is_map(state) and Columns.columns?(Map.get(state, agent.collection)),
          do: Enum.to_list(0..(agent.lanes - 1)//1),
          else: []

      {agent.collection, agent.name, fields, written}
    end)
  end

  defp lane_default(%Field{default: nil}), do: nil
  defp lane_default(%Field{type: type, default: default}), do: Field.code(type, default)

  # One validated program resource per system, with the system's generated kernel library
  # when there is one (`program_resource/4`).
  defp program(system) do
    program_resource(system, :rules, system.program_binary, fn -> KernelBuilder.ensure(system) end)
  end

  # The program resource of `kind` (`:rules` or `:observables`) of a system, created on first
  # use from `binary` with the kernel library that `kernel` gives (or none), and kept in
  # `persistent_term`; a rejected library is a warning, once.
  defp program_resource(system, kind, binary, kernel) do
    key = {__MODULE__, kind, system.module, :erlang.phash2(binary)}

    case :persistent_term.get(key, nil) do
      nil ->
        library =
          case kernel.() do
            %{path: path, hash: hash, sha256: sha256} -> {path, hash, sha256}
            nil -> nil
          end

        ref = NIF.program_new(binary, library, kind)

        case NIF.program_info(ref).kernel_status do
          {:error, reason} ->
            what = if kind == :rules, do: "generated kernels", else: "observe kernels"

            Logger.warning(
              "BrokenRecord Zero: the #{what} of #{inspect(system.module)} are not used " <>
                "(#{reason}); the engine interprets its #{kind}"
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
