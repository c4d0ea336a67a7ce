defmodule BrokenRecord.Zero.NIF do
  @moduledoc """
  The native engine's NIF (`priv/libbroken_record_zero.so`, built from `c_src/` by
  `mix compile`).

  The library is loaded in `@on_load`. If it cannot be loaded, one warning is logged, `loaded?/0`
  is false and `BrokenRecord.Zero.Runtime` uses the pure-Elixir backend. The functions below are
  the raw boundary described in `docs/nif.md`; use `BrokenRecord.Zero.World` and
  `BrokenRecord.Zero.Runtime` instead of calling them directly.
  """

  require Logger

  @on_load :__load__

  @max_busy_wait_ms 8

  @doc false
  def __load__ do
    # libgomp's idle spin must be set before this library loads libgomp. Loaded explicitly, so
    # that it also happens in embedded mode; while the project itself compiles, the module may
    # not exist yet, and libgomp then keeps its defaults in the compiler's VM.
    if :code.is_loaded(BrokenRecord.Zero.NIF.OpenMP) == false,
      do: :code.load_file(BrokenRecord.Zero.NIF.OpenMP)

    path = :filename.join(:code.priv_dir(:broken_record), ~c"libbroken_record_zero")

    case :erlang.load_nif(path, 0) do
      :ok ->
        :persistent_term.put({__MODULE__, :status}, :loaded)

      {:error, {_reason, text}} ->
        :persistent_term.put({__MODULE__, :status}, {:error, to_string(text)})

        Logger.warning(
          "BrokenRecord Zero: the native engine could not be loaded (#{text}); " <>
            "using the pure-Elixir backend"
        )
    end

    :ok
  end

  @doc "Whether the native library is loaded."
  @spec loaded?() :: boolean
  def loaded?, do: :persistent_term.get({__MODULE__, :status}, nil) == :loaded

  @doc "Why the native library is not loaded (`nil` when it is)."
  @spec load_error() :: String.t() | nil
  def load_error do
    case :persistent_term.get({__MODULE__, :status}, {:error, "not loaded yet"}) do
      :loaded -> nil
      {:error, text} -> text
    end
  end

  @doc "Validates a program binary and returns a program resource (no generated kernels)."
  @spec program_new(binary) :: reference
  def program_new(_binary), do: :erlang.nif_error(:nif_not_loaded)

  @doc """
  Validates a program binary and returns a program resource, with the generated kernel library
  `kernel` (`{path, hash, sha256}`: the library, its cache key and the SHA-256 of its bytes,
  see `docs/kernels.md`) or none (`nil`). A library that fails the file checks (owner,
  permissions, content hash), cannot be loaded or was not built from exactly this program is
  not loaded or not used; `program_info/1` says why.
  """
  @spec program_new(binary, nil | {String.t(), String.t(), String.t()}) :: reference
  def program_new(_binary, _kernel), do: :erlang.nif_error(:nif_not_loaded)

  @doc """
  `program_new/2` for a program of `kind` `:rules` (a system's program, as `program_new/2`) or
  `:observables` (a system's observables program, `kernel` its observe-kernel library,
  `BrokenRecord.Zero.KernelBuilder.build_observables/2`).
  """
  @spec program_new(binary, nil | {String.t(), String.t(), String.t()}, :rules | :observables) ::
          reference
  def program_new(_binary, _kernel, _kind), do: :erlang.nif_error(:nif_not_loaded)

  @doc """
  `%{rules: n, kernel_status: :none | :loaded | {:error, reason}, kernel_isa: isa | nil}` of
  a program resource: whether its generated kernel library is in use, and which ISA variant of
  its kernels (`isa/0` caps it).
  """
  @spec program_info(reference) :: map
  def program_info(_program), do: :erlang.nif_error(:nif_not_loaded)

  @doc "Sets per-world options: `kernels: boolean` (use the generated kernels; default true)."
  @spec world_set_options(reference, keyword) :: :ok
  def world_set_options(_world, _options), do: :erlang.nif_error(:nif_not_loaded)

  @doc """
  Creates a world resource from a state (see `docs/nif.md` for `layout`). `box` is `nil` or
  `{{xlo, ylo, zlo}, {xhi, yhi, zhi}}` (floats, hi > lo), required when the program has periodic
  axes; agents outside it on a periodic axis are wrapped in. `seed` (an integer in
  `0..2^32 - 1`) and `start_step` (the step counter's first value, an integer in
  `0..2^64 - 1`) are what the rules' `uniform()` and `normal()` draw from (`docs/program.md`,
  "Random numbers"); anything else raises an `ArgumentError` naming `:seed` or `:start_step`.
  """
  @spec world_new(
          reference,
          list,
          map,
          :f64 | :f32,
          nil | {tuple, tuple},
          0..0xFFFFFFFF,
          0..0xFFFFFFFFFFFFFFFF
        ) :: reference
  def world_new(_program, _layout, _state, _precision, _box, _seed, _start_step),
    do: :erlang.nif_error(:nif_not_loaded)

  @doc """
  A deep copy of a world on a dirty CPU scheduler (`BrokenRecord.Zero.World.copy/1`): its
  agents, identities, next identities, image counters, step counter, seed, box and the
  kernels option; the engine's caches, timings and sweep counts start empty. `:busy` when
  another call holds the world.
  """
  @spec world_copy(reference) :: reference | :busy
  def world_copy(_world), do: :erlang.nif_error(:nif_not_loaded)

  @doc """
  Runs `steps` steps of the rules `rule_ids` on a world, on a dirty CPU scheduler, with `params`
  (the program's params, `dt` first), and advances the world's step counter by `steps`. `:busy`
  when another call holds the world; `:cancelled` when the caller died during the run (the world
  is then as it was before the call, step counter included, as after a
  `BrokenRecord.Zero.NumericalError`).
  """
  @spec native_run_steps(reference, [number], non_neg_integer, [non_neg_integer]) ::
          :ok | :busy | :cancelled
  def native_run_steps(_world, _params, _steps, _rule_ids),
    do: :erlang.nif_error(:nif_not_loaded)

  @doc """
  `native_run_steps/4`, with `continues`: `false` is `native_run_steps/4`; `true` continues the
  world's previous run (the next chunk of a run split to report progress): the call keeps what
  the previous call saved instead of saving again, so a `NumericalError` or a cancellation puts
  the world back as it was before the first chunk. A continuation raises `ArgumentError` unless
  the previous call on the world was a run of the same rules that completed.
  """
  @spec native_run_steps(reference, [number], non_neg_integer, [non_neg_integer], boolean) ::
          :ok | :busy | :cancelled
  def native_run_steps(_world, _params, _steps, _rule_ids, _continues),
    do: :erlang.nif_error(:nif_not_loaded)

  @doc "Returns `state` with the written fields replaced by the world's values (or `:busy`)."
  @spec world_to_state(reference, map) :: map | :busy
  def world_to_state(_world, _state), do: :erlang.nif_error(:nif_not_loaded)

  @doc """
  A packed binary of `n_lanes` lanes from `first_lane` of one agent type (or `:busy`); with
  `unwrapped` true, the coordinates of periodic axes have their box crossings added back.
  """
  @spec world_column(reference, non_neg_integer, non_neg_integer, pos_integer, boolean) ::
          binary | :busy
  def world_column(_world, _type, _first_lane, _n_lanes, _unwrapped),
    do: :erlang.nif_error(:nif_not_loaded)

  @doc """
  Replaces one field (`n_lanes` lanes from `first_lane`: exactly one field of the layout) of
  every agent of a type with a packed column in `world_column/5`'s layout; every value is
  checked before any is stored (finite; `:int` integral, `:bool` 0 or 1, enum an index), the
  coordinates of a periodic space are wrapped, and the field counts as written. `:ok`, or
  `:busy`.
  """
  @spec world_put_column(reference, non_neg_integer, non_neg_integer, pos_integer, binary) ::
          :ok | :busy
  def world_put_column(_world, _type, _first_lane, _n_lanes, _binary),
    do: :erlang.nif_error(:nif_not_loaded)

  @doc """
  `{identities, next_identity, images}` of one type: the agents' identities as native-endian
  u32, the next identity the type gives, and its image counters as native-endian i64 (`x y z`
  per agent; `nil` for a type that does not wrap). `:busy` when another call holds the world.
  """
  @spec world_identities(reference, non_neg_integer) ::
          {binary, non_neg_integer, binary | nil} | :busy
  def world_identities(_world, _type), do: :erlang.nif_error(:nif_not_loaded)

  @doc """
  Sets what `world_identities/2` returns (identities distinct and below `next_identity`, which
  is in `count..2^32`; `images` `nil` exactly for a type that does not wrap). `:ok` or `:busy`.
  """
  @spec world_put_identities(reference, non_neg_integer, binary, non_neg_integer, binary | nil) ::
          :ok | :busy
  def world_put_identities(_world, _type, _ids, _next_id, _images),
    do: :erlang.nif_error(:nif_not_loaded)

  @doc """
  `%{precision, box, seed, step, counts, kernels, kernel_status, kernel_isa, sweeps,
  neighbour_builds, timings}` of a world: `box` is `nil` or `{{xlo, ylo, zlo}, {xhi, yhi, zhi}}`;
  `seed` is the world's seed and `step` its step counter (the index of the next step: the
  `start_step` plus every step run since, as of the last `native_run_steps/4`); `kernels` lists
  the rule ids whose per-agent or all-pairs sweeps `native_run_steps/4` runs through generated
  kernels; `sweeps` counts its sweeps per rule path (docs/engine.md); `timings` is
  `%{run: s, pairs: s, neighbour: s}`, seconds spent by `native_run_steps/4` since the world
  was created: in all, in pair sweeps, in neighbour search.
  """
  @spec world_info(reference) :: map
  def world_info(_world), do: :erlang.nif_error(:nif_not_loaded)

  @doc """
  Totals of the conserved quantities over one agent type, summed natively in f64: a map with
  `mass`, `momentum`, `angular_momentum` (3-tuples), `kinetic` and the `*_scale` sums of
  magnitudes. Lanes are the first lanes of the `mass`, `velocity` and `position` fields, or
  `nil` where the type lacks one.
  """
  @spec world_totals(reference, non_neg_integer, lane, lane, lane) :: map | :busy
        when lane: non_neg_integer | nil
  def world_totals(_world, _type, _mass, _velocity, _position),
    do: :erlang.nif_error(:nif_not_loaded)

  @doc """
  Evaluates observables over a world on a dirty CPU scheduler, leaving it as it is: `program`
  is a program resource of observables (`BrokenRecord.Zero.Observables`), `specs` a list of
  `{rule, value_registers, reduce}` (one or three registers; reduce 0 sum, 1 min, 2 max).
  Returns per spec `{count, values, magnitude}` (agents or pairs evaluated, the reduced values
  in f64, `nil` for an empty min or max, and the sum of the values' magnitudes), or `nil` when a
  value is not finite; `:busy` when another call holds the world.
  """
  @spec world_observe(reference, reference, [{non_neg_integer, [non_neg_integer], 0..2}]) ::
          [{non_neg_integer, [float | nil], float} | nil] | :busy
  def world_observe(_world, _program, _specs), do: :erlang.nif_error(:nif_not_loaded)

  @doc """
  The path that `world_observe/3` takes for each of `specs`, without evaluating anything:
  `:kernel` (the program's observe kernel), or the block evaluator over `:agents`, `:bonded`
  agents, `:all_pairs` or `:cells`; `:busy` when another call holds the world.
  """
  @spec world_observe_paths(reference, reference, [{non_neg_integer, [non_neg_integer], 0..2}]) ::
          [atom] | :busy
  def world_observe_paths(_world, _program, _specs), do: :erlang.nif_error(:nif_not_loaded)

  @doc """
  Calls `call` (a call of a world function of this module) until it returns something other
  than `:busy`. A world is used by one call at a time; a call that finds it in use returns
  `:busy` at once instead of waiting on a dirty scheduler (`docs/nif.md`, "Busy worlds"), and
  the caller waits here, in its own process: it sleeps 1, 2, 4, then 8 ms between tries, and
  stays killable.
  """
  @spec until_free((() -> result)) :: result when result: term
  def until_free(call), do: until_free(call, 0)

  defp until_free(call, wait) do
    case call.() do
      :busy ->
        Process.sleep(wait)
        until_free(call, min(max(2 * wait, 1), @max_busy_wait_ms))

      result ->
        result
    end
  end

  @doc "The number of world resources not yet freed."
  @spec live_worlds() :: non_neg_integer
  def live_worlds, do: :erlang.nif_error(:nif_not_loaded)

  @doc "The SIMD instruction set the engine selected at load (`\"avx512\"`, `\"avx2\"`, `\"sse2\"`)."
  @spec isa() :: String.t()
  def isa, do: :erlang.nif_error(:nif_not_loaded)
end
