defmodule BrokenRecord.Zero.WorldHandleTest do
  # One world semantics on both backends: a world has one live handle (step/2 supersedes the
  # handle it is given), World.copy/1 branches a simulation, and inspect/1 is short.
  use ExUnit.Case, async: true

  alias BrokenRecord.Zero.{LifecycleSystems, TestSystems.Spring, World}
  alias BrokenRecord.Zero.LifecycleSystems.Cells

  @stale "this world was stepped: use the world that World.step/2 returned " <>
           "(World.copy/1 before stepping keeps a branch)"

  @spring_state %{
    particles: [
      %{position: {1.0, 0.0, 0.0}, velocity: {0.0, 0.5, 0.0}},
      %{position: {0.0, 2.0, 0.0}, velocity: {0.1, 0.0, 0.0}}
    ]
  }
  @spring_opts [dt: 0.01, params: %{k: 4.0, damping: 0.1}]

  defp backends do
    if BrokenRecord.Zero.NIF.loaded?(), do: [:interpreted, :native], else: [:interpreted]
  end

  # Every call on `world` raises the superseded-handle error.
  defp assert_superseded(world) do
    [agent] = world.system.agents

    calls = [
      fn -> World.step(world, @spring_opts) end,
      fn -> World.to_state(world) end,
      fn -> World.column(world, :particles, :position) end,
      fn -> World.counts(world) end,
      fn -> World.info(world) end,
      fn -> World.rows(world, agent) end,
      fn -> World.totals(world, agent) end,
      fn -> World.copy(world) end
    ]

    for call <- calls, do: assert_raise(ArgumentError, @stale, call)
  end

  test "step/2 supersedes the handle it is given, on both backends alike" do
    for backend <- backends() do
      w0 = World.new(Spring, @spring_state, backend: backend)
      w1 = World.step(w0, [steps: 3] ++ @spring_opts)
      assert_superseded(w0)
      assert World.info(w1).step == 3
      w2 = World.step(w1, [steps: 2] ++ @spring_opts)
      assert_superseded(w1)
      assert World.info(w2).step == 5
      assert World.counts(w2) == %{particles: 2}
    end
  end

  test "a step that raises leaves the handle live" do
    for backend <- backends() do
      world = World.new(Spring, @spring_state, backend: backend)

      assert_raise ArgumentError, fn ->
        World.step(world, steps: 1, dt: 0.01, params: %{k: 4.0})
      end

      assert World.info(world).step == 0
      assert World.info(World.step(world, [steps: 1] ++ @spring_opts)).step == 1
    end
  end

  @tag :native
  test "the same results on both backends with the one-handle rule" do
    [native, elixir] =
      for backend <- [:native, :interpreted] do
        world = World.new(Spring, @spring_state, backend: backend)

        world =
          Enum.reduce(1..20, world, fn _, w -> World.step(w, [steps: 1] ++ @spring_opts) end)

        World.to_state(world).particles
      end

    # Up to the last bit (the engine may fuse multiply-adds).
    for {a, b} <- Enum.zip(native, elixir), field <- [:position, :velocity], k <- 0..2 do
      assert_in_delta elem(a[field], k), elem(b[field], k), 1.0e-12
    end
  end

  describe "copy/1" do
    test "a branch: stepping the copy and the original alike gives the same results" do
      for backend <- backends() do
        world =
          Cells
          |> World.new(LifecycleSystems.cells(40, 2), backend: backend, seed: 7)
          |> World.step(dt: 0.1, steps: 3)

        before = World.to_state(world)
        copy = World.copy(world)
        assert World.info(copy).step == 3
        assert World.info(copy).seed == 7
        copy = World.step(copy, dt: 0.1, steps: 4)

        # The original is as it was; stepped alike it matches the copy, births and deaths
        # (identities and next identities) and random draws included.
        assert World.to_state(world) == before
        world = World.step(world, dt: 0.1, steps: 4)
        assert World.to_state(world) == World.to_state(copy)
        assert World.counts(world) == World.counts(copy)
        assert World.info(world).step == 7

        assert World.to_state(World.step(world, dt: 0.1, steps: 3)) ==
                 World.to_state(World.step(copy, dt: 0.1, steps: 3))
      end
    end

    @tag :native
    test "native copies agree with pure-Elixir copies" do
      [native, elixir] =
        for backend <- [:native, :interpreted] do
          Cells
          |> World.new(LifecycleSystems.cells(30, 4), backend: backend, seed: 3)
          |> World.step(dt: 0.1, steps: 2)
          |> World.copy()
          |> World.step(dt: 0.1, steps: 5)
          |> World.to_state()
        end

      assert length(native.cells) == length(elixir.cells)

      for {a, b} <- Enum.zip(native.cells, elixir.cells) do
        assert a.age == b.age
        assert_in_delta a.mass, b.mass, 1.0e-12
      end
    end

    @tag :native
    test "a native copy keeps its own columns and the kernels option" do
      world = World.new(Spring, @spring_state, backend: :native, kernels: false)
      copy = World.copy(world)
      assert World.info(copy).kernels == []
      copy = World.step(copy, [steps: 5] ++ @spring_opts)
      assert World.to_state(world) == @spring_state
      refute World.to_state(copy) == @spring_state
    end
  end

  test "inspect/1 is short" do
    for backend <- backends() do
      world = World.new(Spring, @spring_state, backend: backend)
      world = World.step(world, [steps: 4] ++ @spring_opts)

      assert inspect(world) ==
               "#BrokenRecord.Zero.World<BrokenRecord.Zero.TestSystems.Spring, " <>
                 "#{backend} f64, step 4, particles: 2>"
    end
  end
end
