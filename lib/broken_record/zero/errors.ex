defmodule BrokenRecord.Zero.NumericalError do
  @moduledoc """
  Raised when a simulation produces a NaN or an infinite value.

  The BEAM has no representation for non-finite floats, so such a value is never handed back:
  the simulation stops and this exception names where it appeared. `step` is the 1-based step of
  the call in which the value was detected (native worlds check after every rule, so it is exact
  there; it is approximate only in the sense that the value may have been produced by an earlier
  rule of the same step).
  """
  defexception [:agent, :collection, :index, :field, :step]

  @type t :: %__MODULE__{
          agent: String.t(),
          collection: atom,
          index: non_neg_integer,
          field: atom,
          step: pos_integer
        }

  @doc false
  @spec new(String.t(), atom, non_neg_integer, atom, pos_integer) :: t
  def new(agent, collection, index, field, step) do
    %__MODULE__{agent: agent, collection: collection, index: index, field: field, step: step}
  end

  @doc """
  The message, made from the fields (both backends raise the fields only: the pure-Elixir one
  through `new/5`, the native one from the NIF), e.g.
  `"non-finite value in Particle[3].velocity at step 17"`.
  """
  @impl true
  @spec message(t) :: String.t()
  def message(%__MODULE__{agent: agent, index: index, field: field, step: step}),
    do: "non-finite value in #{agent}[#{index}].#{field} at step #{step}"
end

defmodule BrokenRecord.Zero.ConservationError do
  @moduledoc """
  Raised by `simulate(..., conservation: {:raise, tolerance})` when the relative drift of a
  declared conservation law exceeds `tolerance`. `report` is the full drift report (see
  `BrokenRecord.Zero.Conservation.Monitor`).
  """
  defexception [:message, :law, :drift, :tolerance, :report]

  @type t :: %__MODULE__{
          message: String.t(),
          law: atom,
          drift: float,
          tolerance: float,
          report: map
        }
end

defmodule BrokenRecord.Zero.NodesDownError do
  @moduledoc """
  The result `{:error, %NodesDownError{}}` of an ensemble member that was not run because every
  node of the ensemble had gone down (or could not be reached at its start) before the member
  finished (`BrokenRecord.Zero.Ensemble.run/3`): `member` is its index, `nodes` each node with
  why it was given up, in the order of the `nodes:` option.
  """
  defexception [:member, :nodes]

  @type t :: %__MODULE__{member: non_neg_integer, nodes: [{node, term}]}

  @doc """
  The message, made from the fields, e.g.
  `"member 3 was not run: every node is down (a@host: :noconnection)"`.
  """
  @impl true
  @spec message(t) :: String.t()
  def message(%__MODULE__{member: member, nodes: nodes}) do
    "member #{member} was not run: every node is down (" <>
      Enum.map_join(nodes, ", ", fn {node, reason} -> "#{node}: #{inspect(reason)}" end) <> ")"
  end
end
