defmodule BrokenRecord.Zero.Backend.Elixir.Cells do
  @moduledoc """
  The pure-Elixir backend's neighbour search: the pairs of agents closer than a cutoff, found
  through a cell list instead of all pairs (`docs/backends.md`).

  Agents are binned into a grid of cells at least `reach` wide; a pair can be within `reach`
  only if its cells are the same or neighbours. On a periodic axis the grid spans the box and
  wraps around, and distances are minimum-image; on an open axis it spans the agents. Each
  pair is checked against `reach` with a small margin (the rule's own guard makes the exact
  test), so every pair the rule may apply to is returned.
  """

  alias BrokenRecord.Zero.Box

  # Candidates within reach * (1 + @margin) are kept: the rule decides the pairs at the edge.
  @margin 1.0e-9
  # At most this many cells along an axis.
  @max_cells 1000

  @typedoc "An agent's position `{x, y, z}`, indexed by its position in the list."
  @type point :: {float, float, float}

  @doc """
  The unordered pairs `{i, j}` (`i < j`) of `points` closer than `reach`, in ascending order of
  `i`, then `j`. `box` and `axes` (periodic axis indices) describe the space; `box` is `nil` in
  open space.
  """
  @spec same([point], float, Box.t() | nil, [0..2]) :: [{non_neg_integer, non_neg_integer}]
  def same(points, reach, box, axes) do
    grid = grid([points], reach, box, axes)
    cells = bin(points, grid)

    # Each unordered pair of neighbouring cells once: a cell with the cells after it.
    cells
    |> Enum.flat_map(fn {cell, members} ->
      others = Enum.filter(neighbours(grid, cell), &(&1 > cell))
      with_neighbours(members, others, cells, grid, within(members, grid, []), :same)
    end)
    |> Enum.sort()
  end

  @doc """
  The pairs `{i, j}` of an agent `i` of `points_a` and an agent `j` of `points_b` closer than
  `reach`, in ascending order of `i`, then `j`.
  """
  @spec cross([point], [point], float, Box.t() | nil, [0..2]) ::
          [{non_neg_integer, non_neg_integer}]
  def cross(points_a, points_b, reach, box, axes) do
    grid = grid([points_a, points_b], reach, box, axes)
    cells_a = bin(points_a, grid)
    cells_b = bin(points_b, grid)

    cells_a
    |> Enum.flat_map(fn {cell, members} ->
      with_neighbours(members, neighbours(grid, cell), cells_b, grid, [], :any)
    end)
    |> Enum.sort()
  end

  # The pairs of `members` with the agents binned in the cells `others` of `cells`, onto `acc`.
  defp with_neighbours(members, others, cells, grid, acc, order) do
    Enum.reduce(others, acc, fn other, acc ->
      case Map.fetch(cells, other) do
        {:ok, agents} -> between(members, agents, grid, acc, order)
        :error -> acc
      end
    end)
  end

  # The pairs within one cell.
  defp within([], _grid, acc), do: acc

  defp within([p | rest], grid, acc),
    do: within(rest, grid, scan(p, rest, grid.metric, acc, :same))

  # The pairs of an agent of `members` and one of `others`; `:same` orders each pair's indices
  # (one agent type), `:any` keeps the agent of `members` first (two types).
  defp between(members, others, grid, acc, order) do
    Enum.reduce(members, acc, fn p, acc -> scan(p, others, grid.metric, acc, order) end)
  end

  defp scan(_p, [], _metric, acc, _order), do: acc

  defp scan({i, x, y, z} = p, [{j, qx, qy, qz} | rest], metric, acc, order) do
    {lx, ix, ly, iy, lz, iz, reach2} = metric
    dx = qx - x
    dx = dx - lx * round(dx * ix)
    dy = qy - y
    dy = dy - ly * round(dy * iy)
    dz = qz - z
    dz = dz - lz * round(dz * iz)

    if dx * dx + dy * dy + dz * dz < reach2 do
      pair = if order == :any or i < j, do: {i, j}, else: {j, i}
      scan(p, rest, metric, [pair | acc], order)
    else
      scan(p, rest, metric, acc, order)
    end
  end

  defp bin(points, grid) do
    points
    |> Enum.with_index()
    |> Enum.group_by(fn {p, _} -> cell(grid, p) end, fn {{x, y, z}, i} -> {i, x, y, z} end)
  end

  # Per axis: {origin, cells per unit length, cell count, wraps?}; the metric holds the edge and
  # its inverse of every periodic axis (0.0 for open axes: no image shift) and reach^2.
  defp grid(point_lists, reach, box, axes) do
    specs =
      for axis <- 0..2 do
        if axis in axes do
          lo = elem(box.lo, axis)
          len = elem(Box.edges(box), axis)
          n = max(1, min(floor(len / reach), @max_cells))
          {{lo, n / len, n, true}, {len, 1 / len}}
        else
          values = for points <- point_lists, p <- points, do: elem(p, axis)
          {lo, hi} = if values == [], do: {0.0, 0.0}, else: Enum.min_max(values)
          n = max(1, min(floor((hi - lo) / reach), @max_cells))
          inv = if hi > lo, do: n / (hi - lo), else: 0.0
          {{lo, inv, n, false}, {0.0, 0.0}}
        end
      end

    [{sx, {lx, ix}}, {sy, {ly, iy}}, {sz, {lz, iz}}] = specs
    %{axes: {sx, sy, sz}, metric: {lx, ix, ly, iy, lz, iz, (reach * (1 + @margin)) ** 2}}
  end

  defp cell(%{axes: {sx, sy, sz}}, {x, y, z}), do: {index(x, sx), index(y, sy), index(z, sz)}

  defp neighbours(%{axes: {sx, sy, sz}}, {cx, cy, cz}) do
    for ix <- around(cx, sx), iy <- around(cy, sy), iz <- around(cz, sz), do: {ix, iy, iz}
  end

  defp index(v, {lo, inv, n, wraps?}) do
    k = floor((v - lo) * inv)
    if wraps?, do: Integer.mod(k, n), else: k |> max(0) |> min(n - 1)
  end

  defp around(c, {_, _, n, true}), do: Enum.uniq(for d <- -1..1, do: Integer.mod(c + d, n))
  defp around(c, {_, _, n, false}), do: for(d <- -1..1, c + d >= 0, c + d < n, do: c + d)
end
