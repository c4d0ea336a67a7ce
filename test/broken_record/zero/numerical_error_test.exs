defmodule BrokenRecord.Zero.NumericalErrorTest do
  use ExUnit.Case, async: true

  alias BrokenRecord.Zero.NumericalError
  alias BrokenRecord.Zero.Fixtures.CollisionWorld
  alias BrokenRecord.Zero.TestSystems.{Fragile, FragilePairs, Gravity}

  @opts [backend: :interpreted]

  defp cells(scales), do: %{cells: Enum.map(scales, &%{value: 1.0, scale: &1})}

  # FragilePairs nodes, `{position, energy}` each.
  defp nodes(nodes), do: %{nodes: Enum.map(nodes, fn {p, e} -> %{position: p, energy: e} end)}

  # The NumericalError of running `rule` of `system` on `state` for `steps` steps.
  defp raised(system, state, rule, steps \\ 1) do
    assert_raise NumericalError, fn ->
      system.simulate(state, [steps: steps, rules: [rule]] ++ @opts)
    end
  end

  describe "a non-finite stored value raises NumericalError" do
    test "dividing by a zero field names the agent, index, field and step" do
      state = cells([2.0, 4.0, 0.0, 1.0])
      copy = state

      error = raised(Fragile, state, :divide, 5)

      assert %NumericalError{agent: "Cell", collection: :cells, index: 2, field: :value, step: 1} =
               error

      assert Exception.message(error) =~ "Cell[2].value"
      assert Exception.message(error) =~ "step 1"
      assert state == copy
    end

    test "the step is the one in which the value appeared" do
      # scale counts down by one per step; agent 1 reaches zero in step 3
      error = raised(Fragile, cells([5.0, 3.0, 4.0]), :countdown, 10)

      assert %NumericalError{index: 1, field: :value, step: 3} = error
    end

    test "0/0 is non-finite too" do
      state = %{cells: [%{value: 0.0, scale: 0.0}]}

      raised(Fragile, state, :divide)
    end

    test "in a pair rule, the agent whose field became non-finite is named" do
      # only b (slot 1) is written: the coincident pair (1, 2) gives agent 2 an infinite energy
      state = nodes([{{0.0, 0.0, 0.0}, 0.0}, {{1.0, 0.0, 0.0}, 0.0}, {{1.0, 0.0, 0.0}, 0.0}])

      error = raised(FragilePairs, state, :coulomb)

      assert %NumericalError{agent: "Node", collection: :nodes, index: 2, field: :energy, step: 1} =
               error
    end

    test "coincident bodies without softening in a gravity-like rule" do
      state = nodes([{{0.5, 0.5, 0.5}, 1.0}, {{0.5, 0.5, 0.5}, 2.0}])

      raised(FragilePairs, state, :coulomb)
    end

    test "overflow of a per-agent value" do
      state = %{cells: [%{value: 1.0e300, scale: 1.0e-300}]}

      error = raised(Fragile, state, :divide)

      assert %NumericalError{index: 0, field: :value, step: 1} = error
    end

    test "overflow while accumulating pair deltas names the overflowing field" do
      # Each pair adds 1e308 to both energies; agent 0 is in two pairs, so its accumulated delta
      # overflows. The field is :energy (lane 3), not :position (lane 0).
      state = nodes([{{0.0, 0.0, 0.0}, 0.0}, {{1.0, 0.0, 0.0}, 0.0}, {{2.0, 0.0, 0.0}, 0.0}])

      error = raised(FragilePairs, state, :pump)

      assert %NumericalError{agent: "Node", field: :energy, step: 1} = error
      assert error.index in [0, 1, 2]
    end

    test "overflow of a value stored by a pair rule" do
      state = nodes([{{0.0, 0.0, 0.0}, 1.0e308}, {{1.0, 0.0, 0.0}, 0.0}])

      error = raised(FragilePairs, state, :pump)

      assert %NumericalError{index: 0, field: :energy, step: 1} = error
    end

    test "no ArithmeticError ever reaches the caller" do
      for {system, state, rules} <- [
            {Fragile, cells([0.0]), [:divide]},
            {Fragile, cells([1.0]), [:countdown]},
            {FragilePairs, nodes([{{0.0, 0.0, 0.0}, 0.0}, {{0.0, 0.0, 0.0}, 0.0}]), [:coulomb]}
          ] do
        try do
          system.simulate(state, [steps: 3, rules: rules] ++ @opts)
        rescue
          e in NumericalError -> assert e.step >= 1
        end
      end
    end
  end

  describe "untaken branches never raise" do
    test "if r > 0 do x = 1 / r ... end with r == 0" do
      out = Fragile.simulate(cells([0.0, 2.0, -1.0]), [steps: 2, rules: [:guarded]] ++ @opts)
      assert Enum.map(out.cells, & &1.value) == [0.0, 0.5, 0.0]
    end

    test "log, sqrt and a negative power of zero or a negative number in an untaken branch" do
      out = Fragile.simulate(cells([0.0, -4.0, 4.0]), [steps: 1, rules: [:guarded_math]] ++ @opts)
      assert [%{value: 1.0}, %{value: 1.0}, %{value: v}] = out.cells
      assert_in_delta v, :math.log(4.0) + 2.0 + 0.5, 1.0e-15
    end

    test "coincident spheres: normalize of a zero vector is the zero vector" do
      particles = [
        %{position: {1.0, 1.0, 1.0}, velocity: {1.0, 0.0, 0.0}, mass: 1.0, radius: 0.5},
        %{position: {1.0, 1.0, 1.0}, velocity: {-1.0, 0.0, 0.0}, mass: 2.0, radius: 0.5}
      ]

      out =
        CollisionWorld.simulate(%{particles: particles}, [steps: 1, rules: [:collision]] ++ @opts)

      assert Enum.map(out.particles, & &1.velocity) == [{1.0, 0.0, 0.0}, {-1.0, 0.0, 0.0}]
    end

    test "softened gravity between coincident bodies is finite" do
      bodies = [
        %{position: {0.0, 0.0, 0.0}, velocity: {0.0, 0.0, 0.0}, mass: 1.0},
        %{position: {0.0, 0.0, 0.0}, velocity: {0.0, 0.0, 0.0}, mass: 1.0}
      ]

      out = Gravity.simulate(%{bodies: bodies}, [steps: 3] ++ @opts)
      assert Enum.map(out.bodies, & &1.velocity) == [{0.0, 0.0, 0.0}, {0.0, 0.0, 0.0}]
    end
  end

  test "NumericalError.new/5 builds the message" do
    error = NumericalError.new("Particle", :particles, 3, :velocity, 17)

    assert %NumericalError{
             agent: "Particle",
             collection: :particles,
             index: 3,
             field: :velocity,
             step: 17
           } = error

    assert Exception.message(error) == "non-finite value in Particle[3].velocity at step 17"
  end
end
