defmodule BrokenRecord.Zero.Backend do
  @moduledoc """
  What a backend implements for `BrokenRecord.Zero.World`, and which backend runs a world.

  A backend keeps a world's agents in its own layout (its `t:world/0`): the native engine
  (`BrokenRecord.Zero.Backend.Native`, a NIF resource) or the pure-Elixir backend
  (`BrokenRecord.Zero.Backend.Elixir`, lane tuples). `BrokenRecord.Zero.World` holds that value
  with the compiled system and the caller's state, and calls the callbacks below; nothing else
  sees a backend's world. Every callback receives the compiled system the world was created
  with (its precision is the world's).

  Backends are named `:native` and `:interpreted` (`t:name/0`, the value of the `backend:`
  option and of `World.info/1`'s `:backend`); `resolve/1` picks one, and `World.new/3` maps it
  to its module.

      iex> BrokenRecord.Zero.Backend.resolve(:interpreted)
      :interpreted
  """

  alias BrokenRecord.Zero.{CompiledSystem, Env, NIF, Observables, Options}
  alias BrokenRecord.Zero.IR.Agent

  @typedoc "A backend's name."
  @type name :: :native | :interpreted

  @typedoc "A backend's own world value (opaque outside the backend)."
  @type world :: term

  @typedoc "A conserved quantity's total over one agent type and its scale (`{value, scale}`)."
  @type sum :: {float | {float, float, float}, float}

  @typedoc """
  How to create a world: `kernels: false` keeps generated kernels off (native only); `box` is
  the validated box of a periodic space (`nil` in open space); `seed` and `start_step` key the
  random numbers of the rules (`BrokenRecord.Zero.Random`): the world's step counter starts at
  `start_step` and counts the steps run.
  """
  @type new_opts :: %{
          kernels: boolean,
          box: BrokenRecord.Zero.Box.t() | nil,
          seed: BrokenRecord.Zero.Random.seed(),
          start_step: non_neg_integer
        }

  @doc """
  Creates the backend's world from `state` (validated by the backend; an invalid state is an
  `ArgumentError`). In a periodic space, coordinates outside the box are wrapped in.
  """
  @callback new(CompiledSystem.t(), state :: map, new_opts) :: world

  @doc """
  Runs steps (`BrokenRecord.Zero.Options.run/0`) and returns the world to use from then on.
  Raises `BrokenRecord.Zero.NumericalError` on a non-finite stored value, the world left as it
  was before the call; when `run.continues` (a later chunk of a run split by
  `BrokenRecord.Zero.Progress`), as it was before the run's first chunk, so that a backend whose
  world is changed in place undoes the earlier chunks too.
  """
  @callback run(CompiledSystem.t(), world, Options.run()) :: world

  @doc """
  An independent copy of the world (`BrokenRecord.Zero.World.copy/1`): the same agents,
  identities, next identities, image counters, step counter, seed and box.
  """
  @callback copy(CompiledSystem.t(), world) :: world

  @doc "`state` with the fields that the rules have written replaced by the world's values."
  @callback to_state(CompiledSystem.t(), world, state :: map) :: map

  @doc """
  `n_lanes` lanes from `first_lane` of every agent of one type as a packed binary of
  native-endian floats of the world's precision (`:f64` always on the Elixir backend), agent
  after agent. With `unwrapped` true, the lanes of a periodic coordinate field come unwrapped
  (each agent's box crossings added back).
  """
  @callback column(
              CompiledSystem.t(),
              world,
              Agent.t(),
              first_lane :: non_neg_integer,
              n_lanes :: pos_integer,
              unwrapped :: boolean
            ) :: binary

  @doc """
  Replaces the field whose lanes are `first_lane ..` (`n_lanes` of them) of every agent of one
  type with a packed column (`BrokenRecord.Zero.Columns`, the layout of `c:column/6`, its byte
  size already checked), and returns the world to use from then on. Every value is checked
  before any is stored (`ArgumentError` naming the agent index and field, the world unchanged);
  coordinates of a periodic space are wrapped into the box. The field then counts as written.
  """
  @callback put_column(
              CompiledSystem.t(),
              world,
              Agent.t(),
              first_lane :: non_neg_integer,
              n_lanes :: pos_integer,
              binary
            ) :: world

  @doc """
  The identities of one type's agents (native-endian u32, agent order), its next identity and
  its image counters (native-endian i64, `x y z` per agent; `nil` for a type that does not
  wrap): what a checkpoint keeps.
  """
  @callback identities(CompiledSystem.t(), world, Agent.t()) ::
              {binary, non_neg_integer, binary | nil}

  @doc """
  Sets what `c:identities/3` returns (a checkpoint being loaded); `ArgumentError` when they do
  not fit the world (identities not distinct or not below the next one, wrong sizes).
  """
  @callback put_identities(
              CompiledSystem.t(),
              world,
              Agent.t(),
              binary,
              non_neg_integer,
              binary | nil
            ) :: world

  @doc "The agents of one type as tuples of lane floats (`BrokenRecord.Zero.State`'s layout)."
  @callback rows(CompiledSystem.t(), world, Agent.t()) :: [tuple]

  @doc "The number of agents of each type, in type-index order."
  @callback counts(CompiledSystem.t(), world) :: [non_neg_integer]

  @doc "What runs the world: `BrokenRecord.Zero.World.info/1` without `:backend`."
  @callback info(CompiledSystem.t(), world) :: map

  @doc """
  The totals of the conserved quantities over one agent type, `%{mass: sum, momentum: sum,
  angular_momentum: sum, energy: sum}` (kinetic energy only), for the laws whose fields the type
  has (`BrokenRecord.Zero.Conservation.Monitor`).
  """
  @callback totals(CompiledSystem.t(), world, Agent.t()) :: %{atom => sum | nil}

  @doc """
  The raw reductions of compiled observables over the world (`BrokenRecord.Zero.Observables`),
  by observable index; the world is left as it is.
  """
  @callback observe(CompiledSystem.t(), world, [Observables.compiled()]) ::
              %{non_neg_integer => Observables.raw()}

  @doc """
  How the backend evaluates each of `observables` over the world now, in order
  (`BrokenRecord.Zero.World.observe_paths/2`).
  """
  @callback observe_paths(CompiledSystem.t(), world, [Observables.compiled()]) :: [atom]

  @doc """
  The backend that the `backend:` option selects: `:auto` is `:native` when the NIF is loaded
  and `:interpreted` otherwise (an error instead when `BrokenRecord.Zero.Env.require_nif?/0`);
  `:native` raises `ArgumentError` when the NIF is not loaded.
  """
  @spec resolve(term) :: name
  def resolve(:auto) do
    cond do
      NIF.loaded?() ->
        :native

      Env.require_nif?() ->
        raise RuntimeError,
              "BROKEN_RECORD_REQUIRE_NIF is set but the native engine is not loaded: " <>
                to_string(NIF.load_error())

      true ->
        :interpreted
    end
  end

  def resolve(:native) do
    if NIF.loaded?() do
      :native
    else
      raise ArgumentError,
            "backend: :native was requested but the native engine is not loaded (" <>
              to_string(NIF.load_error()) <> ")"
    end
  end

  def resolve(:interpreted), do: :interpreted

  def resolve(other) do
    raise ArgumentError,
          "invalid option backend: #{inspect(other)}; expected :auto, :native or :interpreted"
  end
end
