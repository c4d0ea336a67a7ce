defmodule BrokenRecord.Zero.Box do
  @moduledoc """
  The box of a periodic space (`docs/dsl.md`, "Space"): the state's top-level key `:box`.

  A box is given as edge lengths `{lx, ly, lz}` (the box spans `[0, l)` on each axis) or as
  corners `{{xlo, ylo, zlo}, {xhi, yhi, zhi}}` (the form of LAMMPS data files). It is required
  when the system has a periodic axis, and comes back unchanged in the output state. On a
  periodic axis the engine keeps coordinates in `[lo, hi)` and counts each agent's crossings
  (`wrap/3`), so that unwrapped coordinates can be given back (`unwrap/4`); open axes ignore the
  box.

      iex> BrokenRecord.Zero.Box.new!({10, 10, 5})
      %BrokenRecord.Zero.Box{lo: {0.0, 0.0, 0.0}, hi: {10.0, 10.0, 5.0}}
      iex> BrokenRecord.Zero.Box.new!({{-1, -1, -1}, {1, 1, 1}}) |> BrokenRecord.Zero.Box.edges()
      {2.0, 2.0, 2.0}
      iex> BrokenRecord.Zero.Box.new!({1, 0, 1})
      ** (ArgumentError) state :box edge lengths must be positive, got 0.0 on the y axis
  """

  alias BrokenRecord.Zero.{CompiledSystem, Space}

  @enforce_keys [:lo, :hi]
  defstruct [:lo, :hi]

  @typedoc "Lower and upper corners, floats, hi > lo on every axis."
  @type t :: %__MODULE__{lo: {float, float, float}, hi: {float, float, float}}

  @axes [:x, :y, :z]
  @forms "{lx, ly, lz} (edge lengths) or {{xlo, ylo, zlo}, {xhi, yhi, zhi}} (corners) of " <>
           "finite numbers"

  @doc """
  The box of `state` for `system`: `nil` when the system's space has no periodic axis (a `:box`
  key is then left alone), else the validated box. A missing or invalid box raises
  `ArgumentError` naming `:box`.
  """
  @spec from_state!(CompiledSystem.t(), map) :: t | nil
  def from_state!(%CompiledSystem{space: space}, state) do
    cond do
      not Space.periodic?(space) ->
        nil

      not is_map(state) ->
        nil

      true ->
        case Map.fetch(state, :box) do
          {:ok, box} ->
            new!(box)

          :error ->
            raise ArgumentError,
                  "state :box is missing: the system is periodic on " <>
                    "#{inspect(space.periodic)}, so the state needs its box as " <> @forms
        end
    end
  end

  @doc "Validates a box term (either form) and returns the box."
  @spec new!(term) :: t
  def new!({{xlo, ylo, zlo}, {xhi, yhi, zhi}}), do: corners!({xlo, ylo, zlo}, {xhi, yhi, zhi})
  def new!({lx, ly, lz}), do: corners!({0, 0, 0}, {lx, ly, lz})

  def new!(other),
    do: raise(ArgumentError, "state :box must be #{@forms}, got: #{inspect(other)}")

  defp corners!(lo, hi) do
    lo = floats!(lo)
    hi = floats!(hi)

    for {axis, l, h} <- Enum.zip([@axes, Tuple.to_list(lo), Tuple.to_list(hi)]),
        not (h - l > 0.0 and h - l < :infinity) do
      raise ArgumentError,
            "state :box edge lengths must be positive, got #{edge(h, l)} on the #{axis} axis"
    end

    %__MODULE__{lo: lo, hi: hi}
  end

  defp edge(h, l) do
    h - l
  rescue
    ArithmeticError -> :infinity
  end

  defp floats!(tuple) do
    tuple
    |> Tuple.to_list()
    |> Enum.map(fn
      x when is_float(x) -> x
      x when is_integer(x) and abs(x) < 1.0e300 -> x * 1.0
      _ -> raise ArgumentError, "state :box must be #{@forms}, got a value: #{inspect(tuple)}"
    end)
    |> List.to_tuple()
  end

  @doc "The edge lengths `hi - lo`."
  @spec edges(t) :: {float, float, float}
  def edges(%__MODULE__{lo: {xl, yl, zl}, hi: {xh, yh, zh}}), do: {xh - xl, yh - yl, zh - zl}

  @doc """
  Wraps coordinate `x` into `[lo, hi)` of `axis` (0, 1, 2): `{wrapped, crossings}`, with
  `crossings` the number of edge lengths subtracted. The engine does exactly this arithmetic in
  double (docs/engine.md, "Periodic space"); a non-finite `x` is returned as it is.

      iex> box = BrokenRecord.Zero.Box.new!({10, 10, 10})
      iex> BrokenRecord.Zero.Box.wrap(box, 0, 23.5)
      {3.5, 2}
      iex> BrokenRecord.Zero.Box.wrap(box, 1, -0.5)
      {9.5, -1}
  """
  @spec wrap(t, 0..2, float) :: {float, integer}
  def wrap(%__MODULE__{lo: lo, hi: hi}, axis, x) when is_float(x) do
    lo = elem(lo, axis)
    hi = elem(hi, axis)

    if x >= lo and x < hi do
      {x, 0}
    else
      len = hi - lo
      k = Float.floor((x - lo) / len)
      y = x - k * len
      {y, k} = if y >= hi, do: {y - len, k + 1.0}, else: {y, k}
      {if(y < lo, do: lo, else: y), trunc(k)}
    end
  rescue
    ArithmeticError -> {x, 0}
  end

  def wrap(_box, _axis, x), do: {x, 0}

  @doc "The unwrapped coordinate of `x` after `crossings` crossings of `axis`: `x + crossings * len`."
  @spec unwrap(t, 0..2, float, integer) :: float
  def unwrap(_box, _axis, x, 0), do: x
  def unwrap(box, axis, x, crossings), do: x + crossings * elem(edges(box), axis)

  @doc """
  Raises the `ArgumentError` of a pair rule whose cutoff `bound` exceeds half the periodic edge
  of `axis` (the rule would need more than the nearest image of a neighbour). `rule_id` indexes
  `system.rules`.
  """
  @spec cutoff_too_large!(CompiledSystem.t(), non_neg_integer, float, 0..2, t) :: no_return
  def cutoff_too_large!(%CompiledSystem{} = system, rule_id, bound, axis, %__MODULE__{} = box) do
    rule = Enum.at(system.rules, rule_id)

    raise ArgumentError,
          "rule #{rule.name}: its cutoff #{bound} is more than half the periodic box edge " <>
            "#{elem(edges(box), axis)} on the #{Enum.at(@axes, axis)} axis (box " <>
            "#{inspect(to_corners(box))}); a cutoff (plus the neighbour skin, which shrinks " <>
            "to fit) must be at most half of every periodic edge"
  end

  @doc """
  The params tuple that programs see: the box edges follow the params (the `BOX` instruction,
  `docs/program.md`); unchanged without a box.
  """
  @spec with_edges(tuple, t | nil) :: tuple
  def with_edges(params, nil), do: params

  def with_edges(params, box) do
    {lx, ly, lz} = edges(box)
    params |> Tuple.append(lx) |> Tuple.append(ly) |> Tuple.append(lz)
  end

  @doc "Edge `axis` of the box from a params tuple made by `with_edges/2` (the `BOX` instruction)."
  @spec edge_param(tuple, 0..2) :: float
  def edge_param(params, axis), do: elem(params, tuple_size(params) - 3 + axis)

  @doc "The box as the engine takes it: `{{xlo, ylo, zlo}, {xhi, yhi, zhi}}`."
  @spec to_corners(t) :: {{float, float, float}, {float, float, float}}
  def to_corners(%__MODULE__{lo: lo, hi: hi}), do: {lo, hi}
end
