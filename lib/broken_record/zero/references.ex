defmodule BrokenRecord.Zero.References do
  @moduledoc """
  Reference fields on the pure-Elixir side (`docs/dsl.md`, "Bonds"): a reference lane holds
  the identity of the agent it names (its index in its collection at `World.new`; identities
  are never reused). The pure-Elixir backend and the observables' evaluator resolve a
  reference to the agent's place among the living agents of its type (`index/1`, `lookup/2`)
  and list the pairs that a rule's or an observable's `exclude:` skips (`excluded_pairs/4`),
  here and nowhere else; the engine does the same in C++ (`brz::IdentityIndex`,
  `brz::ExcludedPairs`).
  """

  @typedoc "Identity => place among the living agents of one type."
  @type index :: %{non_neg_integer => non_neg_integer}

  @doc """
  The index of the living agents whose identities are `identities`, in their order.

      iex> BrokenRecord.Zero.References.index([0, 2, 5])
      %{0 => 0, 2 => 1, 5 => 2}
  """
  @spec index([non_neg_integer]) :: index
  def index(identities), do: identities |> Enum.with_index() |> Map.new()

  @doc """
  The place of the agent that the lane value `value` references, or `:error` when it is not
  the identity of a living agent (not an integral float, or no such agent).

      iex> BrokenRecord.Zero.References.lookup(%{0 => 0, 2 => 1}, 2.0)
      {:ok, 1}
      iex> BrokenRecord.Zero.References.lookup(%{0 => 0, 2 => 1}, 1.0)
      :error
  """
  @spec lookup(index, term) :: {:ok, non_neg_integer} | :error
  def lookup(index, value) when is_float(value) and value == trunc(value),
    do: Map.fetch(index, trunc(value))

  def lookup(_index, _value), do: :error

  @doc """
  The pairs `{i, j}` (`i < j`, places among the agents of `index`) that `exclude`
  (`%{type: bond_type, lanes: reference_lanes}` of a program rule, or `nil`) skips: every two
  agents that one agent of `bond_rows` (the exclusion type's lane tuples) names through
  `lanes`. A reference that names no living agent calls `missing.(value, bond, lane)` (`bond`
  the place of the referencing agent), which must raise.

      iex> BrokenRecord.Zero.References.excluded_pairs(
      ...>   %{type: 1, lanes: [0, 1]},
      ...>   [{0.0, 2.0}, {2.0, 1.0}],
      ...>   %{0 => 0, 1 => 1, 2 => 2},
      ...>   fn _, _, _ -> raise "missing" end
      ...> )
      MapSet.new([{0, 2}, {1, 2}])
  """
  @spec excluded_pairs(
          nil | %{lanes: [non_neg_integer]},
          [tuple],
          index,
          (term, non_neg_integer, non_neg_integer ->
             no_return)
        ) ::
          MapSet.t()
  def excluded_pairs(nil, _bond_rows, _index, _missing), do: MapSet.new()

  def excluded_pairs(%{lanes: lanes}, bond_rows, index, missing) do
    bond_rows
    |> Enum.with_index()
    |> Enum.reduce(MapSet.new(), fn {row, b}, set ->
      named =
        for lane <- lanes do
          value = elem(row, lane)

          case lookup(index, value) do
            {:ok, at} -> at
            :error -> missing.(value, b, lane)
          end
        end

      for i <- named, j <- named, i < j, reduce: set, do: (acc -> MapSet.put(acc, {i, j}))
    end)
  end
end
