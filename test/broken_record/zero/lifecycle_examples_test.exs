defmodule BrokenRecord.Zero.LifecycleExamplesTest do
  # The systems with births and deaths that `mix bench` times (examples/systems/evaporation.ex
  # and wolf_sheep.ex): native == pure Elixir step by step, and what each system keeps.
  use ExUnit.Case, async: true

  import BrokenRecord.Zero.TestHelpers

  alias BrokenRecord.Zero.EvaporationProbe
  alias BrokenRecord.Zero.Fixtures.{Evaporation, WolfSheep}
  alias BrokenRecord.Zero.World

  @moduletag :native

  @wolf_sheep_params %{
    sheep_gain: 4.0,
    wolf_gain: 20.0,
    sheep_birth: 0.04,
    wolf_birth: 0.05,
    regrowth: 30.0
  }

  # `n` particles uniform in a periodic cube at 1.2 per unit volume (the bench's density).
  defp gas(n) do
    :rand.seed(:exsss, {4, 5, 6})
    side = :math.pow(n / 1.2, 1 / 3)
    u = fn -> :rand.uniform() end

    %{
      particles:
        for _ <- 1..n do
          %{position: {u.() * side, u.() * side, u.() * side}, velocity: {u.() - 0.5, 0.0, 0.0}}
        end,
      box: {side, side, side}
    }
  end

  # Runs `system` on `state` natively (f64) and in pure Elixir, one step at a time, asserting
  # after each that both have the same counts and agents; returns the native states.
  defp agree(system, state, steps, run, tol) do
    native = World.new(system, state, backend: :native, seed: 11)
    elixir = World.new(system, state, backend: :interpreted, seed: 11)

    {states, _} =
      Enum.map_reduce(1..steps, {native, elixir}, fn _, {native, elixir} ->
        native = World.step(native, [steps: 1] ++ run)
        elixir = World.step(elixir, [steps: 1] ++ run)
        assert World.counts(native) == World.counts(elixir)
        assert_agree(World.to_state(native), World.to_state(elixir), tol)
        {World.to_state(native), {native, elixir}}
      end)

    states
  end

  defp velocity_sum(particles),
    do: Enum.reduce(particles, {0.0, 0.0, 0.0}, &add(&2, &1.velocity))

  describe "evaporation in a soft-sphere gas" do
    test "native and pure Elixir agree; particles evaporate and condense, wrapped into the box" do
      state = gas(400)
      {side, _, _} = state.box
      states = agree(Evaporation, state, 8, [dt: 0.05], 1.0e-9)
      counts = Enum.map(states, &length(&1.particles))

      assert Enum.any?(counts, &(&1 != 400))

      for %{particles: particles} <- states, %{position: {x, y, z}} <- particles do
        assert x >= 0.0 and x < side and y >= 0.0 and y < side and z >= 0.0 and z < side
      end
    end

    # 150,000 particles: one neighbour sub-list per thread, and the 1,500 children a step
    # looked up on every thread; the list is built once and follows the births and deaths.
    # The same agents on 1 and 2 threads; their values within rounding, as the same gas
    # without births and deaths (a list sweep adds up each sub-list's pairs on its own), where
    # one missed or doubled pair would change a velocity by up to 10 * dt.
    @tag timeout: 300_000
    test "1 and 2 threads give the same particles" do
      [{one, info_one}, {two, info_two}] =
        for n <- ["1", "2"], do: EvaporationProbe.run([{"OMP_NUM_THREADS", n}])

      assert info_one =~ "list_kernel"
      assert info_one =~ "builds=1" and info_two =~ "builds=1"
      [count] = Regex.run(~r/count=\d+/, info_one)
      assert info_two =~ count
      assert map_size(one) == 2

      for {name, bin} <- one do
        a = floats(bin)
        b = floats(two[name])
        assert length(a) == length(b)
        assert a |> Enum.zip(b) |> Enum.map(fn {x, y} -> abs(x - y) end) |> Enum.max() < 1.0e-12
      end
    end

    test "without the lifecycle rules the count and the momentum (unit masses) are kept" do
      state = gas(300)
      states = agree(Evaporation, state, 6, [dt: 0.05, rules: [:repel, :drift]], 1.0e-9)
      last = List.last(states)

      assert length(last.particles) == 300
      assert_close(velocity_sum(last.particles), velocity_sum(state.particles), 1.0e-9, 1.0)
    end

    test "repel pushes apart a pair closer than 1, and only such a pair" do
      at = fn x -> %{position: {x, 1.0, 1.0}, velocity: {0.0, 0.0, 0.0}} end
      state = %{particles: [at.(1.0), at.(1.5), at.(4.0)], box: {8.0, 8.0, 8.0}}

      for backend <- [:native, :interpreted] do
        [a, b, c] =
          Evaporation
          |> World.new(state, backend: backend)
          |> World.step(steps: 1, dt: 0.1, rules: [:repel])
          |> World.to_state()
          |> Map.fetch!(:particles)
          |> Enum.map(& &1.velocity)

        # kick = d * 10 (1 - |d|^2) dt with d = -0.5 along x
        assert_close(a, {-0.375, 0.0, 0.0})
        assert_close(b, {0.375, 0.0, 0.0})
        assert c == {0.0, 0.0, 0.0}
      end
    end
  end

  describe "wolf sheep predation" do
    test "native and pure Elixir agree step by step; sheep and wolves are born and die" do
      state = WolfSheep.Setup.state(12, 43, 7, @wolf_sheep_params, 17)
      run = [dt: 1.0, params: @wolf_sheep_params]
      states = agree(WolfSheep, state, 12, run, 1.0e-9)
      sheep = Enum.map(states, &length(&1.sheep))

      assert Enum.all?(states, &(length(&1.patches) == 144))
      assert length(Enum.uniq(sheep)) > 2
    end
  end
end
