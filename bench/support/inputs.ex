defmodule Bench.Inputs do
  @moduledoc "The scenarios' initial states, each from a fixed seed."

  @doc "`n` particles in the unit cube with velocities in [-0.5, 0.5)^3."
  @spec particles(pos_integer) :: [map]
  def particles(n) do
    :rand.seed(:exsss, {1, 2, 3})

    for i <- 1..n do
      %{
        id: i,
        position: {:rand.uniform(), :rand.uniform(), :rand.uniform()},
        velocity: {:rand.uniform() - 0.5, :rand.uniform() - 0.5, :rand.uniform() - 0.5}
      }
    end
  end

  @doc """
  `n` particles uniform in a periodic cube at `density` per unit volume, velocities in
  [-0.5, 0.5)^3: the state `%{particles, box}` (the box's edge lengths).
  """
  @spec gas(pos_integer, float) :: map
  def gas(n, density) do
    :rand.seed(:exsss, {4, 5, 6})
    side = :math.pow(n / density, 1 / 3)

    particles =
      for _ <- 1..n do
        %{
          position: {:rand.uniform() * side, :rand.uniform() * side, :rand.uniform() * side},
          velocity: {:rand.uniform() - 0.5, :rand.uniform() - 0.5, :rand.uniform() - 0.5}
        }
      end

    %{particles: particles, box: {side, side, side}}
  end

  @doc """
  Bodies from the same generator as the C++ reference (bench/reference.cpp, Lcg): positions
  uniform in [0, 10)^3, mass 1/n, at rest, so that DSL and reference results can be compared.
  """

  alias BrokenRecord.Zero.Lattice
  @spec bodies(pos_integer) :: [map]
  def bodies(n) do
    {list, _} =
      Enum.map_reduce(1..n, 0x9E3779B97F4A7C15, fn _, s0 ->
        s1 = lcg(s0)
        s2 = lcg(s1)
        s3 = lcg(s2)

        body = %{
          position: {lcg_value(s1) * 10, lcg_value(s2) * 10, lcg_value(s3) * 10},
          velocity: {0.0, 0.0, 0.0},
          acceleration: {0.0, 0.0, 0.0},
          mass: 1.0 / n
        }

        {body, s3}
      end)

    list
  end

  defp lcg(s),
    do:
      Bitwise.band(s * 6_364_136_223_846_793_005 + 1_442_695_040_888_963_407, 0xFFFFFFFFFFFFFFFF)

  defp lcg_value(s), do: Bitwise.bsr(s, 11) * (1.0 / 9_007_199_254_740_992.0)

  @doc """
  Spheres of radius 0.5 at 0.2 per unit volume (volume fraction 10.5%), velocities in
  [-0.5, 0.5)^3: the box side grows as N^(1/3), so the density is the same at every size.
  """
  @spec spheres(pos_integer) :: [map]
  def spheres(n) do
    :rand.seed(:exsss, {7, 8, 9})
    side = :math.pow(n / 0.2, 1 / 3)

    for _ <- 1..n do
      %{
        position: {:rand.uniform() * side, :rand.uniform() * side, :rand.uniform() * side},
        velocity: {:rand.uniform() - 0.5, :rand.uniform() - 0.5, :rand.uniform() - 0.5},
        mass: 1.0,
        radius: 0.5
      }
    end
  end

  @doc """
  `cells`^3 fcc unit cells at reduced density `rho`; velocities Maxwell-Boltzmann at `temp`
  with zero total momentum, scaled to exactly `temp` with 3N - 3 degrees of freedom
  (`BrokenRecord.Zero.Lattice`, seed 87287). Returns the atoms and the side of the box.
  """
  @spec fcc_lattice(pos_integer, float, float) :: {[map], float}
  def fcc_lattice(cells, rho, temp) do
    {positions, edge} = Lattice.fcc(cells, rho)
    velocities = Lattice.velocities(length(positions), temp, 87_287)

    atoms =
      Enum.zip_with(positions, velocities, fn p, v ->
        %{position: p, velocity: v, force: {0.0, 0.0, 0.0}, pe: 0.0}
      end)

    {atoms, edge}
  end
end
