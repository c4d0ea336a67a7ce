defmodule BrokenRecord.Zero.Lattice do
  @moduledoc """
  Initial states for molecular dynamics: lattice positions and thermal velocities.

      iex> {positions, edge} = BrokenRecord.Zero.Lattice.fcc(2, 0.8442)
      iex> {length(positions), Float.round(edge, 6)}
      {32, 3.359192}
      iex> velocities = BrokenRecord.Zero.Lattice.velocities(32, 1.44, 7)
      iex> BrokenRecord.Zero.Lattice.temperature(velocities) |> Float.round(12)
      1.44
  """

  @basis [{0.0, 0.0, 0.0}, {0.5, 0.5, 0.0}, {0.5, 0.0, 0.5}, {0.0, 0.5, 0.5}]

  @doc """
  A face-centred cubic lattice of `cells`^3 cubic unit cells (4 sites each) at number density
  `density`: the sites `{x, y, z}` in `[0, edge)^3`, x slowest, and the box edge (LAMMPS's
  `lattice fcc density` with `region box block 0 cells 0 cells 0 cells`, sites in the same
  order as its `create_atoms`).
  """
  @spec fcc(pos_integer, number) :: {[{float, float, float}], float}
  def fcc(cells, density) when is_integer(cells) and cells > 0 and density > 0 do
    a = :math.pow(4 / density, 1 / 3)

    positions =
      for i <- 0..(cells - 1),
          j <- 0..(cells - 1),
          k <- 0..(cells - 1),
          {bx, by, bz} <- @basis,
          do: {(i + bx) * a, (j + by) * a, (k + bz) * a}

    {positions, cells * a}
  end

  @doc """
  `n` Maxwell-Boltzmann velocities of unit-mass particles at temperature `temperature`
  (reduced units, `k_B = 1`): normal components from a generator seeded with `seed` (the
  caller's `:rand` state is not touched), the mean removed, and scaled so that
  `temperature/1` is exactly `temperature` (3n - 3 degrees of freedom, as LAMMPS counts them).
  """
  @spec velocities(pos_integer, number, integer) :: [{float, float, float}]
  def velocities(n, temperature, seed) when is_integer(n) and n > 1 and temperature >= 0 do
    state = :rand.seed_s(:exsss, {seed, 1, 2})

    {raw, _} =
      Enum.map_reduce(1..n, state, fn _, s ->
        {x, s} = :rand.normal_s(s)
        {y, s} = :rand.normal_s(s)
        {z, s} = :rand.normal_s(s)
        {{x, y, z}, s}
      end)

    {sx, sy, sz} = Enum.reduce(raw, {0.0, 0.0, 0.0}, &add/2)
    centred = Enum.map(raw, fn {x, y, z} -> {x - sx / n, y - sy / n, z - sz / n} end)
    scale = :math.sqrt(temperature / temperature(centred))
    Enum.map(centred, fn {x, y, z} -> {x * scale, y * scale, z * scale} end)
  end

  @doc "The temperature of unit-mass velocities: `sum v^2 / (3n - 3)` (2 KE / dof)."
  @spec temperature([{float, float, float}]) :: float
  def temperature(velocities) do
    n = length(velocities)

    Enum.reduce(velocities, 0.0, fn {x, y, z}, acc -> acc + x * x + y * y + z * z end) /
      (3 * n - 3)
  end

  defp add({x, y, z}, {ax, ay, az}), do: {ax + x, ay + y, az + z}
end
