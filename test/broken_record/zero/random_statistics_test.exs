defmodule BrokenRecord.Zero.RandomStatisticsTest do
  # 10^6 draws of every kind from one native step, shared by the tests.
  use ExUnit.Case, async: true

  import BrokenRecord.Zero.TestHelpers, only: [floats: 1]
  import BrokenRecord.Zero.RandomSystems, only: [draws_state: 2]

  alias BrokenRecord.Zero.World
  alias BrokenRecord.Zero.RandomSystems.Draws

  @moduletag :native

  setup_all do
    n = 1_000_000

    world =
      World.new(Draws, draws_state(n, 0), seed: 2026) |> World.step(steps: 1, rules: [:record])

    u = floats(World.column(world, :dots, :u))
    u2 = floats(World.column(world, :dots, :u2))
    normal = floats(World.column(world, :dots, :n))
    next = World.step(world, steps: 1, rules: [:record])

    %{n: n, u: u, u2: u2, normal: normal, u_next: floats(World.column(next, :dots, :u))}
  end

  test "uniform(): in (0, 1), mean 1/2, variance 1/12, Kolmogorov-Smirnov", %{u: u, n: n} do
    assert Enum.all?(u, &(&1 > 0.0 and &1 < 1.0))
    {mean, var} = moments(u)
    assert abs(mean - 0.5) < 5 * :math.sqrt(1 / 12 / n)
    assert abs(var - 1 / 12) < 5 * :math.sqrt(1 / 180 / n)
    assert ks(u, & &1) < 1.95 / :math.sqrt(n)
  end

  test "normal(): mean 0, variance 1, Kolmogorov-Smirnov", %{normal: z, n: n} do
    assert Enum.all?(z, &(abs(&1) < 8.58))
    {mean, var} = moments(z)
    assert abs(mean) < 5 / :math.sqrt(n)
    assert abs(var - 1) < 5 * :math.sqrt(2 / n)
    assert ks(z, &(0.5 * (1 + :math.erf(&1 / :math.sqrt(2))))) < 1.95 / :math.sqrt(n)
  end

  test "no correlation between neighbouring agents, steps or call sites", ctx do
    bound = 5 / :math.sqrt(ctx.n)
    assert abs(correlation(ctx.u, tl(ctx.u) ++ [hd(ctx.u)])) < bound
    assert abs(correlation(ctx.u, ctx.u_next)) < bound
    assert abs(correlation(ctx.u, ctx.u2)) < bound
    assert abs(correlation(ctx.u, ctx.normal)) < bound
  end

  defp moments(xs) do
    n = length(xs)
    mean = Enum.sum(xs) / n
    {mean, Enum.reduce(xs, 0.0, fn x, acc -> acc + (x - mean) * (x - mean) end) / (n - 1)}
  end

  # The Kolmogorov-Smirnov statistic of `xs` against the distribution function `cdf`.
  defp ks(xs, cdf) do
    n = length(xs)

    xs
    |> Enum.sort()
    |> Enum.with_index(1)
    |> Enum.reduce(0.0, fn {x, i}, d ->
      f = cdf.(x)
      max(d, max(i / n - f, f - (i - 1) / n))
    end)
  end

  defp correlation(xs, ys) do
    {mx, vx} = moments(xs)
    {my, vy} = moments(ys)
    n = length(xs)
    cov = Enum.sum(Enum.zip_with(xs, ys, &((&1 - mx) * (&2 - my)))) / (n - 1)
    cov / :math.sqrt(vx * vy)
  end
end
