defmodule BrokenRecord.Zero.PhysicsTest do
  use ExUnit.Case, async: true

  import BrokenRecord.Zero.TestHelpers

  alias BrokenRecord.Zero.World
  alias BrokenRecord.Zero.Fixtures
  alias BrokenRecord.Zero.Fixtures.CollisionWorld
  alias BrokenRecord.Zero.TestSystems.{Ballistics, Gravity, Orbit}

  @opts [backend: :interpreted]

  describe "free flight and constant acceleration" do
    test "free flight is exact to rounding after n steps" do
      particles = [
        %{position: {0.0, 1.0, -2.0}, velocity: {1.5, -0.25, 3.0}},
        %{position: {10.0, 0.1, 0.3}, velocity: {-0.7, 0.0, 1.0e-3}}
      ]

      dt = 0.013
      n = 50

      out =
        Ballistics.simulate(%{particles: particles}, [steps: n, dt: dt, rules: [:drift]] ++ @opts)

      for {p, q} <- Enum.zip(particles, out.particles) do
        # the same sequence of float operations, done here
        expected = Enum.reduce(1..n, p.position, fn _, pos -> add(pos, scale(p.velocity, dt)) end)
        assert_identical(q.position, expected)
        assert_identical(q.velocity, p.velocity)
        # and the analytic answer, to rounding
        assert_close(q.position, add(p.position, scale(p.velocity, n * dt)), 1.0e-13)
      end
    end

    test "constant acceleration (semi-implicit Euler) is exact to rounding after n steps" do
      p0 = %{position: {0.0, 100.0, 0.0}, velocity: {2.0, 15.0, -1.0}}
      g = 9.81
      dt = 0.01
      n = 120

      out =
        Ballistics.simulate(
          %{particles: [p0]},
          [steps: n, dt: dt, rules: [:accelerate, :drift], params: %{g: g}] ++ @opts
        )

      [p] = out.particles

      {pos, vel} =
        Enum.reduce(1..n, {p0.position, p0.velocity}, fn _, {{x, y, z}, {vx, vy, vz}} ->
          v = {vx - 0.0 * dt, vy - g * dt, vz - 0.0 * dt}
          {add({x, y, z}, scale(v, dt)), v}
        end)

      assert_identical(p.velocity, vel)
      assert_identical(p.position, pos)

      # closed form of the discrete scheme: v_n = v0 - g n dt, y_n = y0 + n dt vy0 - g dt^2 n(n+1)/2
      {_, vy0, _} = p0.velocity
      assert_close(elem(p.velocity, 1), vy0 - g * n * dt, 1.0e-13)

      assert_close(
        elem(p.position, 1),
        100.0 + n * dt * vy0 - g * dt * dt * n * (n + 1) / 2,
        1.0e-12
      )

      assert_close(elem(p.position, 0), 2.0 * n * dt, 1.0e-13)
    end
  end

  describe "two-body head-on elastic collision" do
    # v1' = ((m1 - m2) v1 + 2 m2 v2) / (m1 + m2), v2' = ((m2 - m1) v2 + 2 m1 v1) / (m1 + m2)
    defp textbook(m1, m2, v1, v2) do
      {((m1 - m2) * v1 + 2 * m2 * v2) / (m1 + m2), ((m2 - m1) * v2 + 2 * m1 * v1) / (m1 + m2)}
    end

    defp collide(m1, m2, v1, v2, axis) do
      # start one unit apart along `axis`, approaching, and run well past the contact
      particles = [
        %{position: scale(axis, -1.0), velocity: scale(axis, v1), mass: m1, radius: 0.5},
        %{position: scale(axis, 1.0), velocity: scale(axis, v2), mass: m2, radius: 0.5}
      ]

      closing = v1 - v2
      steps = round(2.0 / closing / 0.01) + 50
      out = CollisionWorld.simulate(%{particles: particles}, [steps: steps, dt: 0.01] ++ @opts)
      {particles, out.particles}
    end

    for {m1, m2, v1, v2} <- [
          {1.0, 1.0, 1.0, -1.0},
          {2.0, 2.0, 1.5, 0.0},
          {1.0, 3.0, 2.0, -1.0},
          {5.0, 0.5, 0.5, -3.0},
          {1.0, 1000.0, 1.0, 0.0}
        ] do
      @case {m1, m2, v1, v2}
      test "masses #{m1} and #{m2}, velocities #{v1} and #{v2}" do
        {m1, m2, v1, v2} = @case
        {e1, e2} = textbook(m1, m2, v1, v2)

        for axis <- [{1.0, 0.0, 0.0}, {1 / 3, 2 / 3, 2 / 3}] do
          {before, [a, b]} = collide(m1, m2, v1, v2, axis)
          assert_close(a.velocity, scale(axis, e1), 1.0e-12, 1.0 + abs(e1))
          assert_close(b.velocity, scale(axis, e2), 1.0e-12, 1.0 + abs(e2))

          # momentum and kinetic energy are conserved
          p_scale = m1 * abs(v1) + m2 * abs(v2)
          assert_close(momentum([a, b]), momentum(before), 1.0e-12, p_scale)
          assert_close(kinetic_energy([a, b]), kinetic_energy(before), 1.0e-12)
        end
      end
    end

    test "along the x axis the other components stay exactly zero" do
      {_before, [a, b]} = collide(1.0, 3.0, 2.0, -1.0, {1.0, 0.0, 0.0})
      assert {_, 0.0, 0.0} = a.velocity
      assert {_, 0.0, 0.0} = b.velocity
      assert a.velocity == {-2.5, 0.0, 0.0}
      assert b.velocity == {0.5, 0.0, 0.0}
    end
  end

  describe "a gas of spheres in a box" do
    test "kinetic energy is conserved and every sphere stays inside" do
      seed(11)

      walls = Fixtures.box_walls(2.0)

      particles =
        for i <- 0..1, j <- 0..1, k <- 0..2 do
          %{
            position:
              {-1.0 + 2.0 * i + uniform(-0.2, 0.2), -1.0 + 2.0 * j + uniform(-0.2, 0.2),
               -1.3 + 1.3 * k},
            velocity: vec(-2.0, 2.0),
            mass: uniform(0.5, 2.0),
            radius: 0.3
          }
        end

      state = %{particles: particles, walls: walls}
      out = CollisionWorld.simulate(state, [steps: 300, dt: 0.01] ++ @opts)

      assert_close(kinetic_energy(out.particles), kinetic_energy(particles), 1.0e-12)
      # the spheres did collide with each other and with the walls
      assert Enum.zip(particles, out.particles)
             |> Enum.all?(fn {a, b} -> a.velocity != b.velocity end)

      for %{position: {x, y, z}} <- out.particles do
        assert abs(x) < 2.0 and abs(y) < 2.0 and abs(z) < 2.0
      end

      assert out.walls == walls
    end
  end

  describe "n-body gravity (G = 1.0, implicit dt)" do
    test "conserves total momentum to 1e-12 relative" do
      bodies = moving_bodies(7, 0.3, 2.0, 42)

      out = Gravity.simulate(%{bodies: bodies}, [steps: 200, dt: 0.002] ++ @opts)

      p0 = momentum(bodies)
      p1 = momentum(out.bodies)
      magnitude = Enum.reduce(bodies, 0.0, fn b, acc -> acc + b.mass * norm(b.velocity) end)
      assert norm(sub(p1, p0)) <= 1.0e-12 * magnitude

      # the bodies did move and accelerate
      assert Enum.all?(Enum.zip(bodies, out.bodies), fn {a, b} ->
               norm(sub(a.velocity, b.velocity)) > 1.0e-3
             end)

      # the centre of mass moves uniformly
      total = Enum.reduce(bodies, 0.0, &(&1.mass + &2))

      com = fn bs ->
        scale(Enum.reduce(bs, {0.0, 0.0, 0.0}, &add(&2, scale(&1.position, &1.mass))), 1 / total)
      end

      assert_close(com.(out.bodies), add(com.(bodies), scale(p0, 200 * 0.002 / total)), 1.0e-10)
    end

    test "energy is conserved approximately for a small step" do
      bodies = moving_bodies(5, 0.2, 1.5, 43)

      energy = fn bs -> kinetic_energy(bs) + potential_energy(bs, 1.0, 0.05) end
      out = Gravity.simulate(%{bodies: bodies}, [steps: 200, dt: 5.0e-4] ++ @opts)
      assert abs(energy.(out.bodies) - energy.(bodies)) < 1.0e-3 * abs(energy.(bodies))
    end
  end

  describe "a bounded two-body orbit (leapfrog: rules [:kick, :drift, :kick])" do
    test "keeps its energy and angular momentum over one orbit" do
      # Two unit masses one unit apart on a circular orbit: relative speed sqrt(G M / r).
      v = :math.sqrt(2.0) / 2
      period = 2 * :math.pi() / :math.sqrt(2.0)
      steps = 1000
      dt = period / steps

      stars = [
        %{position: {-0.5, 0.0, 0.0}, velocity: {0.0, -v, 0.0}, mass: 1.0},
        %{position: {0.5, 0.0, 0.0}, velocity: {0.0, v, 0.0}, mass: 1.0}
      ]

      energy = fn [a, b] ->
        kinetic_energy([a, b]) - a.mass * b.mass / norm(sub(a.position, b.position))
      end

      angular = fn bs ->
        Enum.reduce(
          bs,
          {0.0, 0.0, 0.0},
          &add(&2, cross(&1.position, scale(&1.velocity, &1.mass)))
        )
      end

      e0 = energy.(stars)
      l0 = angular.(stars)
      world = World.new(Orbit, %{stars: stars}, @opts)

      world =
        Enum.reduce(1..10, world, fn _, world ->
          world = World.step(world, steps: div(steps, 10), dt: dt, rules: [:kick, :drift, :kick])
          [a, b] = World.to_state(world).stars
          assert abs(energy.([a, b]) - e0) < 1.0e-3 * abs(e0)
          assert_close(angular.([a, b]), l0, 1.0e-12)
          separation = norm(sub(a.position, b.position))
          assert separation > 0.99 and separation < 1.01
          world
        end)

      # after one period the stars are back where they started
      [a, b] = World.to_state(world).stars
      assert norm(sub(a.position, hd(stars).position)) < 1.0e-2
      assert norm(sub(b.position, List.last(stars).position)) < 1.0e-2
      assert abs(energy.([a, b]) - e0) < 1.0e-5 * abs(e0)
    end
  end
end
