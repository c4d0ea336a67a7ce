# A hanging mass-spring cloth (examples/cloth.exs): `Node`s joined by `Spring` bonds
# (docs/dsl.md, "Bonds") - structural springs between grid neighbours, shear springs along the
# diagonals and bend springs two apart - under gravity, above a floor at `Ground`'s height
# (z up). `Cloth.Setup.state/3` builds the grid.
#
# The springs are Hooke's law plus a damping force along the spring, equal and opposite through
# the two references, so the rule is proven to conserve momentum. Gravity, the pins, air drag
# and the floor all exchange momentum with the outside: they are one rule between each node
# and the `Ground`, a type that declares no law, so the proof leaves them unverified instead of
# reporting an external force as a violation. Semi-implicit Euler: the springs kick the
# velocities, then `ground` adds gravity and drag, moves the free nodes and puts those that
# went below the floor back on it, their normal velocity reversed and scaled by the
# restitution. Pinned nodes keep their position, and their velocity is zero after every step.
# The potentials (the springs' and the nodes' height energy) and the other observables are
# measured in the engine, the springs' through their references.
use BrokenRecord.Zero

defsystem BrokenRecord.Zero.Fixtures.Cloth do
  agents do
    defagent Node do
      field :position, :vec3
      field :velocity, :vec3, default: {0.0, 0.0, 0.0}
      field :mass, :float
      field :pinned, :bool, default: false
      conserves [:momentum]
    end

    defagent Spring do
      field :a, {:ref, Node}
      field :b, {:ref, Node}
      field :rest, :float
      field :k, :float
      field :damping, :float
    end

    defagent Ground do
      field :height, :float
      field :gravity, :float, default: 9.81
      field :restitution, :float, default: 0.3
      field :drag, :float, default: 0.0
    end
  end

  rules do
    interaction springs(s: Spring) do
      d = s.b.position - s.a.position
      r = length(d)
      u = d / r
      f = s.k * (r - s.rest) + s.damping * dot(s.b.velocity - s.a.velocity, u)
      s.a.velocity = s.a.velocity + u * (f * dt / s.a.mass)
      s.b.velocity = s.b.velocity - u * (f * dt / s.b.mass)
    end

    interaction ground(p: Node, g: Ground) do
      if p.pinned do
        p.velocity = {0.0, 0.0, 0.0}
      else
        {vx, vy, vz} = (p.velocity - {0.0, 0.0, g.gravity * dt}) * (1.0 - g.drag * dt)
        {x, y, z} = p.position + {vx, vy, vz} * dt

        if z < g.height do
          p.position = {x, y, g.height}
          p.velocity = {vx, vy, -g.restitution * vz}
        else
          p.position = {x, y, z}
          p.velocity = {vx, vy, vz}
        end
      end
    end
  end

  potential spring_energy(s: Spring) do
    stretch = length(s.b.position - s.a.position) - s.rest
    0.5 * s.k * stretch * stretch
  end

  potential height_energy(p: Node, g: Ground) do
    p.mass * g.gravity * (p.position.z - g.height)
  end

  observable lowest(p: Node), reduce: :min do
    p.position.z
  end

  observable max_stretch(s: Spring), reduce: :max do
    length(s.b.position - s.a.position) / s.rest - 1.0
  end
end

defmodule BrokenRecord.Zero.Fixtures.Cloth.Setup do
  @moduledoc """
  The initial state of `BrokenRecord.Zero.Fixtures.Cloth`: an `n` x `n` grid of nodes
  `spacing` apart, lying flat (in the x-y plane) at `height` above the floor, at rest, with
  the two corners of its y = 0 edge pinned, so that it falls and swings down to hang from
  them.

  Node `i + n * j` sits at `{i * spacing, j * spacing, floor + height}`. The springs are
  listed structural first (grid neighbours along x, then along y), then shear (both
  diagonals of every square), then bend (two apart along x, then y); each one's rest length
  is its length in the grid, so the flat cloth starts without tension.
  """

  @doc """
  The state map (`:nodes`, `:springs`, `:grounds`) of an `n` x `n` cloth (`n >= 2`).

  Options (defaults in brackets):
    * `:mass` of each node [0.01];
    * `:stiffness` of the structural and shear springs [8000.0]; bend springs get a tenth;
    * `:damping` along each spring [0.2];
    * `:floor` the floor's z [0.0]; `:height` of the cloth above it
      [0.9 * (n - 1) * spacing: hanging, the far edge reaches the floor];
    * `:gravity` [9.81], `:restitution` of the floor [0.3], `:drag` (per second) [1.0].
  """
  @spec state(pos_integer, float, keyword) :: %{
          nodes: [map],
          springs: [map],
          grounds: [map]
        }
  def state(n, spacing, opts \\ []) when is_integer(n) and n >= 2 and spacing > 0 do
    mass = Keyword.get(opts, :mass, 0.01)
    k = Keyword.get(opts, :stiffness, 8000.0)
    damping = Keyword.get(opts, :damping, 0.2)
    floor = Keyword.get(opts, :floor, 0.0)
    height = Keyword.get(opts, :height, 0.9 * (n - 1) * spacing)
    index = fn i, j -> i + n * j end

    nodes =
      for j <- 0..(n - 1), i <- 0..(n - 1) do
        %{
          position: {i * spacing, j * spacing, floor + height},
          mass: mass,
          pinned: j == 0 and i in [0, n - 1]
        }
      end

    spring = fn {i, j}, {i2, j2}, stiffness ->
      %{
        a: index.(i, j),
        b: index.(i2, j2),
        rest: spacing * :math.sqrt((i2 - i) ** 2 + (j2 - j) ** 2),
        k: stiffness,
        damping: damping
      }
    end

    last = n - 1

    structural =
      for(j <- 0..last, i <- 0..(last - 1), do: spring.({i, j}, {i + 1, j}, k)) ++
        for j <- 0..(last - 1), i <- 0..last, do: spring.({i, j}, {i, j + 1}, k)

    shear =
      for j <- 0..(last - 1),
          i <- 0..(last - 1),
          pair <- [{{i, j}, {i + 1, j + 1}}, {{i + 1, j}, {i, j + 1}}],
          do: spring.(elem(pair, 0), elem(pair, 1), k)

    bend =
      for(j <- 0..last, i <- 0..(last - 2)//1, do: spring.({i, j}, {i + 2, j}, k / 10)) ++
        for j <- 0..(last - 2)//1, i <- 0..last, do: spring.({i, j}, {i, j + 2}, k / 10)

    ground = %{
      height: floor,
      gravity: Keyword.get(opts, :gravity, 9.81),
      restitution: Keyword.get(opts, :restitution, 0.3),
      drag: Keyword.get(opts, :drag, 1.0)
    }

    %{nodes: nodes, springs: structural ++ shear ++ bend, grounds: [ground]}
  end
end
