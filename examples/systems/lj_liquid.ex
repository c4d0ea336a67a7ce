# The Lennard-Jones liquid of LAMMPS's bench/in.lj: the system of lennard_jones.ex
# (epsilon = sigma = mass = 1, rc = 2.5, not shifted, no tail correction; velocity Verlet as
# half_kick, drift (which also clears the force accumulator), lj_force, half_kick_2) in a
# periodic box. The state names the box under `:box` (edge lengths `{lx, ly, lz}` or corners
# `{{xlo, ylo, zlo}, {xhi, yhi, zhi}}`); `a.position - b.position` in the pair rules is the
# minimum-image displacement. lj_energy gives each atom half of each pair energy; the observable
# pe is the same energy summed over pairs without writing a field (World.observe/2), and the
# observable virial is the sum over pairs of r . F, from which the pressure follows:
# P = (2 KE + virial) / (3 V), as LAMMPS computes it.
use BrokenRecord.Zero

defsystem BrokenRecord.Zero.Fixtures.LJLiquid do
  space periodic: [:x, :y, :z]

  agents do
    defagent Atom do
      field :position, :vec3
      field :velocity, :vec3
      field :force, :vec3, default: {0.0, 0.0, 0.0}
      field :pe, :float, default: 0.0
      # For the built-in observables (kinetic energy, temperature): the atoms' mass is 1.
      field :mass, :float, default: 1.0
    end
  end

  rules do
    interaction half_kick(p: Atom) do
      p.velocity = p.velocity + p.force * (0.5 * dt)
    end

    interaction drift(p: Atom) do
      p.position = p.position + p.velocity * dt
      p.force = {0.0, 0.0, 0.0}
    end

    interaction lj_force(a: Atom, b: Atom) do
      d = a.position - b.position
      r2 = dot(d, d)

      if r2 < 6.25 do
        ir2 = 1 / r2
        ir6 = ir2 * ir2 * ir2
        f = ir6 * (48 * ir6 - 24) * ir2
        a.force = a.force + d * f
        b.force = b.force - d * f
      end
    end

    interaction half_kick_2(p: Atom) do
      p.velocity = p.velocity + p.force * (0.5 * dt)
    end

    interaction clear_pe(p: Atom) do
      p.pe = 0.0
    end

    interaction lj_energy(a: Atom, b: Atom) do
      d = a.position - b.position
      r2 = dot(d, d)

      if r2 < 6.25 do
        ir2 = 1 / r2
        ir6 = ir2 * ir2 * ir2
        e = ir6 * (4 * ir6 - 4) * 0.5
        a.pe = a.pe + e
        b.pe = b.pe + e
      end
    end

    # The energy of the potential shifted to zero at the cutoff (the forces are the same): it
    # is continuous when pairs cross rc, so velocity Verlet conserves it closely.
    interaction lj_energy_shifted(a: Atom, b: Atom) do
      d = a.position - b.position
      r2 = dot(d, d)

      if r2 < 6.25 do
        ir6 = 1 / (r2 * r2 * r2)
        e = (ir6 * (4 * ir6 - 4) + 0.016316891136) * 0.5
        a.pe = a.pe + e
        b.pe = b.pe + e
      end
    end
  end

  observable pe(a: Atom, b: Atom) do
    d = a.position - b.position
    r2 = dot(d, d)

    if r2 < 6.25 do
      ir6 = 1 / (r2 * r2 * r2)
      ir6 * (4 * ir6 - 4)
    else
      0.0
    end
  end

  observable virial(a: Atom, b: Atom) do
    d = a.position - b.position
    r2 = dot(d, d)

    if r2 < 6.25 do
      ir6 = 1 / (r2 * r2 * r2)
      ir6 * (48 * ir6 - 24)
    else
      0.0
    end
  end
end
