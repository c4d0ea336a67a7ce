defmodule BrokenRecord.Zero.Space do
  @moduledoc """
  The space a system declares: which axes are periodic, and which vec3 field holds the
  coordinates (`docs/dsl.md`, "Space").

      space periodic: [:x, :y, :z]
      space periodic: [:x, :y], field: :pos

  Without a `space` declaration every axis is open. In a periodic space the state carries the
  box (`BrokenRecord.Zero.Box`), pair rules see the minimum-image difference of two agents'
  coordinates (`BrokenRecord.Zero.MinimumImage`), and the engine keeps coordinates wrapped into
  the box.
  """

  import Bitwise, only: [<<<: 2]

  alias BrokenRecord.Zero.IR.{Agent, Field}

  @axes [:x, :y, :z]

  defstruct periodic: [], field: :position, line: 0

  @typedoc "Periodic axes (a subset of `[:x, :y, :z]`, in that order) and the coordinate field."
  @type t :: %__MODULE__{periodic: [:x | :y | :z], field: atom, line: non_neg_integer}

  @doc """
  Reads the options of a `space` statement: `{:ok, space}` or `{:error, message}`.

      iex> BrokenRecord.Zero.Space.from_options([periodic: [:z, :x]], 3)
      {:ok, %BrokenRecord.Zero.Space{periodic: [:x, :z], field: :position, line: 3}}
  """
  @spec from_options(term, non_neg_integer) :: {:ok, t} | {:error, String.t()}
  def from_options(opts, line) do
    with true <-
           Keyword.keyword?(opts) ||
             {:error, "space expects options, e.g. space periodic: [:x, :y, :z]"},
         [] <- Keyword.keys(opts) -- [:periodic, :field],
         {:ok, axes} <- axes(Keyword.get(opts, :periodic, [])),
         {:ok, field} <- field(Keyword.get(opts, :field, :position)) do
      {:ok, %__MODULE__{periodic: axes, field: field, line: line}}
    else
      {:error, _} = error ->
        error

      unknown when is_list(unknown) ->
        {:error, "unknown space option #{inspect(hd(unknown))}; known options: :periodic, :field"}
    end
  end

  defp axes(axes) when is_list(axes) do
    case Enum.reject(axes, &(&1 in @axes)) do
      [] -> {:ok, Enum.filter(@axes, &(&1 in axes))}
      [bad | _] -> {:error, "space periodic: #{inspect(bad)} is not an axis (:x, :y or :z)"}
    end
  end

  defp axes(other),
    do: {:error, "space periodic: expects a list of axes (:x, :y, :z), got #{inspect(other)}"}

  defp field(name) when is_atom(name), do: {:ok, name}
  defp field(other), do: {:error, "space field: expects a field name, got #{inspect(other)}"}

  @doc "Whether a space has a periodic axis (`nil`, open space, has none)."
  @spec periodic?(t | nil) :: boolean
  def periodic?(%__MODULE__{periodic: [_ | _]}), do: true
  def periodic?(_), do: false

  @doc """
  The periodic axes as indices (0 = x, 1 = y, 2 = z).

      iex> BrokenRecord.Zero.Space.axis_indices(%BrokenRecord.Zero.Space{periodic: [:x, :z]})
      [0, 2]
  """
  @spec axis_indices(t | nil) :: [0..2]
  def axis_indices(%__MODULE__{periodic: axes}),
    do: for({axis, i} <- Enum.with_index(@axes), axis in axes, do: i)

  def axis_indices(nil), do: []

  @doc "The periodic axes as the program's bit mask (1 = x, 2 = y, 4 = z)."
  @spec mask(t | nil) :: 0..7
  def mask(space), do: space |> axis_indices() |> Enum.reduce(0, &Bitwise.bor(&2, 1 <<< &1))

  @doc """
  The coordinate field of `agent` in `space`: the field, or `nil` when the agent type has none
  (or the space is open).
  """
  @spec coordinate(t | nil, Agent.t()) :: Field.t() | nil
  def coordinate(%__MODULE__{} = space, agent) do
    if periodic?(space), do: Agent.field(agent, space.field)
  end

  def coordinate(nil, _agent), do: nil

  @doc """
  Checks the coordinate field against the agent types: a `vec3` field of that name in at least
  one type, and no type with a field of that name of another type. Returns `:ok` or
  `{:error, message}`.
  """
  @spec check(t | nil, [Agent.t()]) :: :ok | {:error, String.t()}
  def check(space, agents) do
    if periodic?(space) do
      fields = for agent <- agents, f = Agent.field(agent, space.field), do: {agent, f}

      case Enum.find(fields, fn {_, f} -> f.type != :vec3 end) do
        {agent, f} ->
          {:error,
           "space field #{inspect(space.field)} of #{agent.name} is #{inspect(f.type)}; " <>
             "coordinates must be :vec3"}

        nil when fields == [] ->
          {:error,
           "space field #{inspect(space.field)}: no agent type has it (declare " <>
             "field #{inspect(space.field)}, :vec3, or name the field with space ..., field: :name)"}

        nil ->
          :ok
      end
    else
      :ok
    end
  end
end
