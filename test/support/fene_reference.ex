defmodule BrokenRecord.Zero.FeneReference do
  @moduledoc """
  The energies of a FENE bead-spring melt (Kremer-Grest, LAMMPS's
  `examples/COUPLE/multiple/in.chain`) computed by hand in Elixir with LAMMPS's own formulas
  (`bond_style fene`, `pair_style lj/cut` with `pair_modify shift yes`, `special_bonds fene`;
  docs/performance.md, "The FENE bead-spring melt"): the reference a system with bonds is
  compared with, as LAMMPS's thermo output at step 0 is.

  Both functions take what `BrokenRecord.Zero.LammpsData.read/1` returns for a data file of
  `atom_style bond` and use the minimum image in the periodic box, as LAMMPS's bonds
  (`closest_image`) and ghost atoms do.
  """

  alias BrokenRecord.Zero.LammpsData

  @doc """
  The total FENE bond energy (LAMMPS's `ebond` with `thermo_modify norm no`) of every bond,
  `-0.5 K R0^2 ln(1 - r^2/R0^2)` plus, for `r^2 < 2^(1/3) sigma^2`, the WCA term
  `4 epsilon ((sigma/r)^12 - (sigma/r)^6) + epsilon`. As LAMMPS does, a log argument under 0.1
  ("FENE bond too long") is taken as 0.1; one at or under -3 ("Bad FENE bond", where LAMMPS
  stops) raises `ArgumentError` naming the bond. Options `:k` (30.0), `:r0` (1.5), `:epsilon`
  and `:sigma` (1.0): in.chain's `bond_coeff 1 30.0 1.5 1.0 1.0`.
  """
  @spec bond_energy(map, keyword) :: float
  def bond_energy(%{atoms: atoms, bonds: bonds, box: box}, opts \\ []) do
    k = Keyword.get(opts, :k, 30.0)
    r0 = Keyword.get(opts, :r0, 1.5)
    epsilon = Keyword.get(opts, :epsilon, 1.0)
    sigma = Keyword.get(opts, :sigma, 1.0)
    positions = positions(atoms)
    lengths = lengths(box)
    r0sq = r0 * r0
    two_1_3 = :math.pow(2.0, 1.0 / 3.0)

    bonds
    |> Enum.with_index()
    |> Enum.reduce(0.0, fn {{_type, i, j}, n}, sum ->
      rsq = distance_squared(elem(positions, i), elem(positions, j), lengths)
      rlogarg = 1.0 - rsq / r0sq

      if rlogarg <= -3.0,
        do: raise(ArgumentError, "bad FENE bond #{n} (atoms #{i} and #{j}): r^2 = #{rsq}")

      e = -0.5 * k * r0sq * :math.log(max(rlogarg, 0.1))

      e =
        if rsq < two_1_3 * sigma * sigma do
          sr2 = sigma * sigma / rsq
          sr6 = sr2 * sr2 * sr2
          e + (4.0 * epsilon * sr6 * (sr6 - 1.0) + epsilon)
        else
          e
        end

      sum + e
    end)
  end

  @doc """
  The total pair energy (LAMMPS's `epair` with `thermo_modify norm no`) of `pair_style lj/cut`
  with `pair_modify shift yes`: over the pairs with `r^2 < rc^2` that are not bonded (the 1-2
  pairs, weight 0 under `special_bonds fene`), `4 epsilon ((sigma/r)^12 - (sigma/r)^6)` minus
  its value at the cutoff, `4 epsilon ((sigma/rc)^12 - (sigma/rc)^6)`. The pairs are found with
  a cell list (cells at least `rc` wide). Options `:cutoff` (1.12), `:epsilon` and `:sigma`
  (1.0): in.chain's `pair_coeff 1 1 1.0 1.0 1.12`.
  """
  @spec pair_energy(map, keyword) :: float
  def pair_energy(%{atoms: atoms, bonds: bonds, box: box}, opts \\ []) do
    cutoff = Keyword.get(opts, :cutoff, 1.12)
    epsilon = Keyword.get(opts, :epsilon, 1.0)
    sigma = Keyword.get(opts, :sigma, 1.0)
    lj3 = 4.0 * epsilon * :math.pow(sigma, 12.0)
    lj4 = 4.0 * epsilon * :math.pow(sigma, 6.0)
    ratio = sigma / cutoff
    offset = 4.0 * epsilon * (:math.pow(ratio, 12.0) - :math.pow(ratio, 6.0))
    cutsq = cutoff * cutoff
    bonded = MapSet.new(bonds, fn {_type, i, j} -> {min(i, j), max(i, j)} end)
    positions = positions(atoms)
    lengths = lengths(box)

    Enum.reduce(pairs(positions, box, cutoff), 0.0, fn {i, j}, sum ->
      rsq = distance_squared(elem(positions, i), elem(positions, j), lengths)

      if rsq < cutsq and not MapSet.member?(bonded, {i, j}) do
        r2inv = 1.0 / rsq
        r6inv = r2inv * r2inv * r2inv
        sum + (r6inv * (lj3 * r6inv - lj4) - offset)
      else
        sum
      end
    end)
  end

  @doc "Reads `path` with `LammpsData.read/1` and returns `%{ebond:, epair:}` with the defaults."
  @spec energies(Path.t()) :: %{ebond: float, epair: float}
  def energies(path) do
    {:ok, data} = LammpsData.read(path)
    %{ebond: bond_energy(data), epair: pair_energy(data)}
  end

  # Every pair {i, j}, i < j, of atoms in the same or neighbouring cells (periodically).
  defp pairs(positions, {lo, hi}, cutoff) do
    cells_per_axis =
      Enum.map(0..2, fn a -> max(1, trunc((elem(hi, a) - elem(lo, a)) / cutoff)) end)

    cell_of = fn position ->
      Enum.map(0..2, fn a ->
        {l, h, n} = {elem(lo, a), elem(hi, a), Enum.at(cells_per_axis, a)}
        c = floor((elem(position, a) - l) / (h - l) * n)
        Integer.mod(c, n)
      end)
    end

    cells =
      positions
      |> Tuple.to_list()
      |> Enum.with_index()
      |> Enum.group_by(fn {position, _} -> cell_of.(position) end, &elem(&1, 1))

    offsets = for dx <- -1..1, dy <- -1..1, dz <- -1..1, do: [dx, dy, dz]

    for {cell, members} <- cells,
        neighbour <- neighbours(cell, offsets, cells_per_axis),
        i <- members,
        j <- Map.get(cells, neighbour, []),
        i < j,
        do: {i, j}
  end

  # The distinct cells around `cell` (fewer than 27 when an axis has under 3 cells).
  defp neighbours(cell, offsets, cells_per_axis) do
    offsets
    |> Enum.map(fn offset ->
      Enum.zip_with([cell, offset, cells_per_axis], fn [c, d, n] -> Integer.mod(c + d, n) end)
    end)
    |> Enum.uniq()
  end

  defp distance_squared({xi, yi, zi}, {xj, yj, zj}, {lx, ly, lz}) do
    dx = minimum_image(xi - xj, lx)
    dy = minimum_image(yi - yj, ly)
    dz = minimum_image(zi - zj, lz)
    dx * dx + dy * dy + dz * dz
  end

  defp minimum_image(d, l) when d > 0.5 * l, do: d - l
  defp minimum_image(d, l) when d < -0.5 * l, do: d + l
  defp minimum_image(d, _l), do: d

  defp positions(atoms), do: atoms |> Enum.map(& &1.position) |> List.to_tuple()

  defp lengths({{xlo, ylo, zlo}, {xhi, yhi, zhi}}), do: {xhi - xlo, yhi - ylo, zhi - zlo}
end
