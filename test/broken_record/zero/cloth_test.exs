defmodule BrokenRecord.Zero.ClothTest do
  # The hanging cloth (examples/systems/cloth.ex): the conservation proof of its spring rule,
  # its physical sanity on the native backend (pins that hold, a floor nothing goes through, an
  # energy that the damping only takes away), the momentum the springs alone keep, and the
  # native and pure-Elixir backends agreeing on the same cloth.
  use ExUnit.Case, async: true

  alias BrokenRecord.Zero.Fixtures.Cloth
  alias BrokenRecord.Zero.World

  @moduletag :native

  @spacing 0.05
  @dt 0.0005

  defp energy(world) do
    v = World.observe(world, [:kinetic_energy, :spring_energy, :height_energy])
    v.kinetic_energy + v.spring_energy + v.height_energy
  end

  defp positions(world), do: Enum.map(World.to_state(world).nodes, & &1.position)

  test "the spring rule is proven to conserve momentum; the ground exchanges it with the outside" do
    verdicts = Cloth.__system__().conservation
    assert verdicts.springs.momentum == :proven
    assert verdicts.ground.momentum == :unverified
  end

  test "setup: a flat n x n grid at rest, two corners pinned, springs at their rest length" do
    state = Cloth.Setup.state(4, @spacing)
    assert length(state.nodes) == 16
    # structural 2 * 4 * 3, shear 2 * 3 * 3, bend 2 * 4 * 2
    assert length(state.springs) == 24 + 18 + 16
    pinned = for {node, i} <- Enum.with_index(state.nodes), node.pinned, do: i
    assert pinned == [0, 3]

    for %{a: a, b: b, rest: rest} <- state.springs do
      {ax, ay, az} = Enum.at(state.nodes, a).position
      {bx, by, bz} = Enum.at(state.nodes, b).position
      assert_in_delta :math.sqrt((bx - ax) ** 2 + (by - ay) ** 2 + (bz - az) ** 2), rest, 1.0e-15
    end

    assert [%{height: 0.0}] = state.grounds
  end

  @tag timeout: 120_000
  test "native: pins hold, nothing goes below the floor, the energy only falls" do
    n = 12
    world = World.new(Cloth, Cloth.Setup.state(n, @spacing), backend: :native)
    start = positions(world)
    pinned = [0, n - 1]
    e0 = energy(world)

    {_, energies, lowest} =
      Enum.reduce(1..60, {world, [e0], []}, fn _, {world, energies, lowest} ->
        world = World.step(world, steps: 50, dt: @dt)
        now = positions(world)

        for i <- pinned, do: assert(Enum.at(now, i) == Enum.at(start, i))
        for {_, _, z} <- now, do: assert(z >= 0.0)
        {world, [energy(world) | energies], [World.observe(world, [:lowest]).lowest | lowest]}
      end)

    energies = Enum.reverse(energies)

    # The damping along the springs, the drag and the floor take energy away; nothing adds any
    # beyond rounding (the energy scale is |e0|, the height energy of the flat cloth).
    for {before, later} <- Enum.zip(energies, tl(energies)),
        do: assert(later <= before + 1.0e-9 * abs(e0), "#{later} > #{before}")

    # 1.5 s after it is let go the cloth hangs: it has lost over 40% of its energy, and its
    # far edge, 0.55 long, has reached the floor 0.495 below the pins.
    assert List.last(energies) < 0.6 * e0
    assert Enum.min(lowest) == 0.0
  end

  test "native: the springs alone keep the total momentum" do
    n = 6
    state = Cloth.Setup.state(n, @spacing)

    # Shaken: every node displaced and moving, so that every spring pulls and damps.
    nodes =
      state.nodes
      |> Enum.with_index()
      |> Enum.map(fn {node, i} ->
        {x, y, z} = node.position
        w = 0.01 * :math.sin(1.7 * i)

        Map.merge(node, %{
          position: {x + w, y - 0.5 * w, z + 0.3 * w},
          velocity: {:math.cos(i), 0.5 * :math.sin(2 * i), -0.2}
        })
      end)

    world = World.new(Cloth, %{state | nodes: nodes}, backend: :native)
    {px0, py0, pz0} = World.observe(world, [:momentum]).momentum
    world = World.step(world, steps: 200, dt: @dt, rules: [:springs])
    {px, py, pz} = World.observe(world, [:momentum]).momentum

    # sum m |v| is about 0.3: rounding leaves far less than 1e-12 of it
    assert_in_delta px, px0, 1.0e-13
    assert_in_delta py, py0, 1.0e-13
    assert_in_delta pz, pz0, 1.0e-13
    assert World.to_state(world).nodes != nodes
  end

  test "native == pure Elixir on a 6 x 6 cloth over 50 steps" do
    state = Cloth.Setup.state(6, @spacing, height: 0.002, restitution: 0.0)

    run = fn backend ->
      Cloth |> World.new(state, backend: backend) |> World.step(steps: 50, dt: @dt)
    end

    native = World.to_state(run.(:native))
    elixir = World.to_state(run.(:interpreted))

    for {a, b} <- Enum.zip(native.nodes, elixir.nodes), field <- [:position, :velocity] do
      for {x, y} <- Enum.zip(Tuple.to_list(a[field]), Tuple.to_list(b[field])),
          do: assert_in_delta(x, y, 1.0e-12)
    end

    # the cloth moved, and some of it reached the floor 0.002 below (it falls 0.003 in 0.025 s)
    # and stays there, the floor taking all its normal velocity
    assert Enum.any?(native.nodes, fn %{position: {_, _, z}} -> z == 0.0 end)
  end

  test "a spring that names no node is an ArgumentError on both backends" do
    state = Cloth.Setup.state(3, @spacing)
    springs = List.update_at(state.springs, 4, &%{&1 | b: 9})

    for backend <- [:native, :interpreted] do
      assert_raise ArgumentError,
                   ~r/state\.springs\[4\]\.b is 9, not an index into state\.nodes/,
                   fn ->
                     World.new(Cloth, %{state | springs: springs}, backend: backend)
                   end
    end
  end
end
