defmodule BrokenRecord.Zero.Fuzz.Adapter do
  @moduledoc """
  The one place of the fuzz harness that knows the signatures of `BrokenRecord.Zero.NIF`.

  Each function turns an intent ("run steps on this world with these params") into the list of
  `{function, args}` NIF calls that carry it out; the batch (`BrokenRecord.Zero.Fuzz.Batch`)
  makes the calls, each guarded, and keeps them as seeds for the random-argument part, which
  otherwise only enumerates `BrokenRecord.Zero.NIF.__info__(:functions)`. When the NIF's
  signatures change, only this module changes.

  Two shapes of the params API are supported, chosen by what the loaded module exports:

    * `world_set_params/2` exported: params are set with it, and `native_run_steps/4` takes
      `dt` (params[0]) as its second argument;
    * otherwise: `native_run_steps/4` takes the whole params list (params[0] = dt).

  Any call on a world may also return `:busy` (another call holds the world); the batch
  treats every return value alike.
  """

  alias BrokenRecord.Zero.NIF

  @typedoc "A NIF call: function name and arguments."
  @type call :: {atom, [term]}

  @doc "Whether the loaded NIF takes the params list in `native_run_steps/4` (no `world_set_params/2`)."
  @spec params_in_run_steps?() :: boolean
  def params_in_run_steps?, do: not function_exported?(NIF, :world_set_params, 2)

  @doc "Creating a program resource from a binary, with no generated kernel library."
  @spec program_new(binary) :: [call]
  def program_new(binary) do
    if :rand.uniform(4) == 1,
      do: [{:program_new, [binary, nil]}],
      else: [{:program_new, [binary]}]
  end

  @doc """
  Creating a world resource (`box`: `nil` or corners, as the NIF takes it; `seed` and
  `start_step`: what its random draws start from).
  """
  @spec world_new(term, list, map, atom, term, term, term) :: [call]
  def world_new(program, layout, state, precision, box \\ nil, seed \\ 0, start_step \\ 0),
    do: [{:world_new, [program, layout, state, precision, box, seed, start_step]}]

  @doc "Running `steps` steps of `rule_ids` with `params` (params[0] = dt)."
  @spec run_steps(term, list, term, term) :: [call]
  def run_steps(world, params, steps, rule_ids) do
    if params_in_run_steps?() do
      [{:native_run_steps, [world, params, steps, rule_ids]}]
    else
      dt = List.first(params, 0.0)
      [{:world_set_params, [world, params]}, {:native_run_steps, [world, dt, steps, rule_ids]}]
    end
  end

  @doc "Reading the world back into `state`."
  @spec to_state(term, term) :: [call]
  def to_state(world, state), do: [{:world_to_state, [world, state]}]

  @doc "Reading one column range of one type."
  @spec column(term, term, term, term) :: [call]
  def column(world, type, first_lane, n_lanes),
    do: [{:world_column, [world, type, first_lane, n_lanes, false]}]

  @doc "Writing one column range of one type (`binary`: a packed column, perhaps damaged)."
  @spec put_column(term, term, term, term, term) :: [call]
  def put_column(world, type, first_lane, n_lanes, binary),
    do: [{:world_put_column, [world, type, first_lane, n_lanes, binary]}]

  @doc "Reading one type's identities, next identity and image counters."
  @spec identities(term, term) :: [call]
  def identities(world, type), do: [{:world_identities, [world, type]}]

  @doc "Setting one type's identities, next identity and image counters."
  @spec put_identities(term, term, term, term, term) :: [call]
  def put_identities(world, type, ids, next_id, images),
    do: [{:world_put_identities, [world, type, ids, next_id, images]}]

  @doc "The read-only queries of a world and its program."
  @spec info(term, term) :: [call]
  def info(world, program),
    do: [{:world_info, [world]}, {:program_info, [program]}, {:live_worlds, []}, {:isa, []}]

  @doc "Totals over one type (`mass`, `velocity`, `position` lanes or `nil`)."
  @spec totals(term, term, term, term, term) :: [call]
  def totals(world, type, mass, velocity, position),
    do: [{:world_totals, [world, type, mass, velocity, position]}]

  @doc "Observables of `program` (a program resource) over a world."
  @spec observe(term, term, term) :: [call]
  def observe(world, program, specs), do: [{:world_observe, [world, program, specs]}]

  @doc "Per-world options."
  @spec set_options(term, term) :: [call]
  def set_options(world, options), do: [{:world_set_options, [world, options]}]

  @doc "The NIF functions the random-argument part calls: every export but the loader's own."
  @spec functions() :: [{atom, arity}]
  def functions do
    NIF.__info__(:functions)
    |> Enum.reject(fn {name, _} -> name in [:__load__] end)
    |> Enum.sort()
  end
end
