# A reaction network among molecules in a spherical container: A + B -> C on contact, with
# probability exp(-ea / e) where e is the kinetic energy of the pair's relative motion
# (Arrhenius); C -> A + B by decay with probability `rate * dt` per step, the halves flying
# apart with equal and opposite kicks. Molecules move ballistically and reflect off the wall
# of radius `radius`. Mass is conserved by every rule, and proven so at compile time:
# synthesis merges B's mass (and momentum) into A, which becomes C, and removes B;
# decomposition halves C's mass and spawns B with the other half.
use BrokenRecord.Zero

defsystem BrokenRecord.Zero.Fixtures.ChemicalReactions do
  agents do
    defagent Molecule do
      field :position, :vec3
      field :velocity, :vec3
      field :mass, :float, default: 1.0
      field :kind, {:enum, [:a, :b, :c]}, default: :a
      conserves [:mass]
    end
  end

  rules do
    interaction synthesis(a: Molecule, b: Molecule, contact: float, ea: float),
      exclusive: true do
      if length(b.position - a.position) < contact and
           ((a.kind == :a and b.kind == :b) or (a.kind == :b and b.kind == :a)) do
        dv = a.velocity - b.velocity
        e = 0.5 * a.mass * b.mass / (a.mass + b.mass) * dot(dv, dv)

        if uniform() < exp(-ea / max(e, 1.0e-12)) do
          m = a.mass + b.mass
          a.velocity = (a.velocity * a.mass + b.velocity * b.mass) / m
          a.mass = m
          a.kind = :c
          remove(b)
        end
      end
    end

    interaction decomposition(p: Molecule, rate: float, kick: float) do
      if p.kind == :c and uniform() < rate * dt do
        k = {normal(), normal(), normal()} * kick
        half = p.mass / 2.0
        spawn(Molecule, position: p.position, velocity: p.velocity + k, mass: half, kind: :b)
        p.velocity = p.velocity - k
        p.mass = half
        p.kind = :a
      end
    end

    interaction move(p: Molecule, radius: float) do
      x = p.position + p.velocity * dt

      if length(x) > radius and dot(x, p.velocity) > 0.0 do
        n = normalize(x)
        p.velocity = p.velocity - n * (2.0 * dot(p.velocity, n))
      end

      p.position = x
    end
  end
end
