defmodule BrokenRecord.Zero.Conservation.Sums do
  @moduledoc """
  The conserved quantities summed over lane tuples in Elixir (the pure-Elixir backend's
  `BrokenRecord.Zero.Backend` `totals` callback; the native engine sums its columns in C++,
  `BrokenRecord.Zero.NIF.world_totals/5`), and the arithmetic on totals that are a float or a
  `{x, y, z}`.

  For each law an agent type has the fields of, a `{value, scale}`: the total and the sum of
  the magnitudes of the per-agent contributions (see `BrokenRecord.Zero.Conservation.Monitor`).

      iex> alias BrokenRecord.Zero.Conservation.Sums
      iex> Sums.add({1.0, 2.0, 3.0}, {1.0, 1.0, 1.0})
      {2.0, 3.0, 4.0}
      iex> Sums.norm(Sums.sub({3.0, 4.0, 0.0}, {0.0, 0.0, 0.0}))
      5.0
  """

  alias BrokenRecord.Zero.Conservation
  alias BrokenRecord.Zero.IR.{Agent, Field}

  @laws [:mass, :momentum, :angular_momentum, :energy]

  @doc """
  `%{law => {value, scale} | nil}` of the agents `rows` (lane tuples) of type `agent`; `nil`
  for a law whose fields the type lacks. `:energy` is the kinetic energy.
  """
  @spec agent_totals(Agent.t(), [tuple]) :: %{atom => {term, float} | nil}
  def agent_totals(%Agent{} = agent, rows) do
    cols =
      Map.new(agent.fields, fn %Field{name: name, type: type, lane: lane} ->
        {name, Enum.map(rows, &field_value(&1, type, lane))}
      end)

    Map.new(@laws, fn law ->
      {law, if(has_fields?(agent, law), do: contribution(law, cols), else: nil)}
    end)
  end

  @doc "Whether `agent` has the fields that `law` is measured on."
  @spec has_fields?(Agent.t(), atom) :: boolean
  def has_fields?(agent, law),
    do:
      Enum.all?(Conservation.needed_fields(law), &(Conservation.quantity_lane(agent, &1) != nil))

  @doc "The zero total of `law`."
  @spec zero(atom) :: float | {float, float, float}
  def zero(law) when law in [:momentum, :angular_momentum], do: {0.0, 0.0, 0.0}
  def zero(_), do: 0.0

  @doc "The sum of two totals."
  @spec add(v, v) :: v when v: number | {number, number, number}
  def add({a, b, c}, {x, y, z}), do: {a + x, b + y, c + z}
  def add(a, b), do: a + b

  @doc "The difference of two totals."
  @spec sub(v, v) :: v when v: number | {number, number, number}
  def sub({a, b, c}, {x, y, z}), do: {a - x, b - y, c - z}
  def sub(a, b), do: a - b

  @doc "The magnitude of a total."
  @spec norm(number | {number, number, number}) :: number
  def norm({x, y, z}), do: :math.sqrt(x * x + y * y + z * z)
  def norm(x), do: abs(x)

  defp field_value(row, :vec3, lane),
    do: {elem(row, lane), elem(row, lane + 1), elem(row, lane + 2)}

  defp field_value(row, _type, lane), do: elem(row, lane)

  defp contribution(:mass, %{mass: m}), do: {Enum.sum(m), m |> Enum.map(&abs/1) |> Enum.sum()}

  defp contribution(:momentum, %{mass: m, velocity: v}) do
    Enum.zip(m, v)
    |> Enum.reduce({{0.0, 0.0, 0.0}, 0.0}, fn {mi, vi}, {acc, s} ->
      {add(acc, scale_vec(vi, mi)), s + abs(mi) * norm(vi)}
    end)
  end

  defp contribution(:angular_momentum, %{mass: m, velocity: v, position: r}) do
    Enum.zip([m, v, r])
    |> Enum.reduce({{0.0, 0.0, 0.0}, 0.0}, fn {mi, vi, ri}, {acc, s} ->
      {add(acc, cross(ri, scale_vec(vi, mi))), s + abs(mi) * norm(ri) * norm(vi)}
    end)
  end

  defp contribution(:energy, %{mass: m, velocity: v}) do
    ke = Enum.zip(m, v) |> Enum.map(fn {mi, vi} -> 0.5 * mi * dot(vi, vi) end) |> Enum.sum()
    {ke, abs(ke)}
  end

  defp dot({a, b, c}, {x, y, z}), do: a * x + b * y + c * z
  defp scale_vec({x, y, z}, k), do: {x * k, y * k, z * k}
  defp cross({a, b, c}, {x, y, z}), do: {b * z - c * y, c * x - a * z, a * y - b * x}
end
