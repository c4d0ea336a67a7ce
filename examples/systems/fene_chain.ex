# LAMMPS's FENE bead-spring melt (examples/COUPLE/multiple/in.chain with data.chain): beads of
# mass 1 in chains joined by FENE bonds (K = 30, R0 = 1.5, epsilon = sigma = 1, LAMMPS's
# bond_style fene: the FENE term plus a WCA core below 2^(1/6) sigma), a WCA pair potential
# (lj/cut 1.12, shifted to zero at the cutoff) between beads that no bond joins (special_bonds
# fene: bonded pairs excluded), in a periodic box, integrated by velocity Verlet as LAMMPS's
# fix nve does: half_kick, drift (which clears the forces), wca, fene, half_kick_2.
# Every formula follows LAMMPS's arithmetic (BondFENE::compute, PairLJCut::compute), so that
# energies agree to rounding. The rule langevin is LAMMPS's fix langevin (a drag and a uniform
# random force, after the pair and bond forces), with this library's random numbers.
# Observables: epair (the shifted WCA energy over non-bonded pairs), ebond (per bond), and the
# built-in kinetic energy and temperature of the beads.
use BrokenRecord.Zero

defsystem BrokenRecord.Zero.Fixtures.FeneChain do
  space periodic: [:x, :y, :z]

  K = 30.0
  R0 = 1.5
  Rc = 1.12
  # 2^(1/3) (LAMMPS's MY_CUBEROOT2): the WCA core of a bond acts below 2^(1/6) sigma.
  Cuberoot2 = 1.25992104989487316476
  # The pair energy at the cutoff (pair_modify shift yes): 4 ((1/rc)^12 - (1/rc)^6).
  Shift = 4.0 * (pow(1.0 / 1.12, 12.0) - pow(1.0 / 1.12, 6.0))

  agents do
    defagent Bead do
      field :position, :vec3
      field :velocity, :vec3
      field :force, :vec3, default: {0.0, 0.0, 0.0}
      field :mass, :float, default: 1.0
    end

    defagent Bond do
      field :a, {:ref, Bead}
      field :b, {:ref, Bead}
    end
  end

  rules do
    interaction half_kick(p: Bead) do
      p.velocity = p.velocity + p.force * (0.5 * dt)
    end

    interaction drift(p: Bead) do
      p.position = p.position + p.velocity * dt
      p.force = {0.0, 0.0, 0.0}
    end

    interaction wca(a: Bead, b: Bead), exclude: Bond do
      d = a.position - b.position
      r2 = dot(d, d)

      if r2 < Rc * Rc do
        r2inv = 1.0 / r2
        r6inv = r2inv * r2inv * r2inv
        f = r6inv * (48.0 * r6inv - 24.0) * r2inv
        a.force = a.force + d * f
        b.force = b.force - d * f
      end
    end

    interaction fene(s: Bond) do
      d = s.a.position - s.b.position
      r2 = dot(d, d)
      # LAMMPS clamps the log's argument at 0.1 (with a warning) when a bond is overstretched.
      rlogarg = max(1.0 - r2 / (R0 * R0), 0.1)
      fbond = -K / rlogarg

      if r2 < Cuberoot2 do
        sr2 = 1.0 / r2
        sr6 = sr2 * sr2 * sr2
        f = fbond + 48.0 * sr6 * (sr6 - 0.5) / r2
        s.a.force = s.a.force + d * f
        s.b.force = s.b.force - d * f
      else
        s.a.force = s.a.force + d * fbond
        s.b.force = s.b.force - d * fbond
      end
    end

    interaction langevin(p: Bead, temp: float, damp: float) do
      g = sqrt(24.0 * temp / (dt * damp))
      noise = {uniform() - 0.5, uniform() - 0.5, uniform() - 0.5}
      p.force = p.force - p.velocity * (1.0 / damp) + noise * g
    end

    interaction half_kick_2(p: Bead) do
      p.velocity = p.velocity + p.force * (0.5 * dt)
    end
  end

  observable epair(a: Bead, b: Bead), exclude: Bond do
    d = a.position - b.position
    r2 = dot(d, d)

    if r2 < Rc * Rc do
      r2inv = 1.0 / r2
      r6inv = r2inv * r2inv * r2inv
      r6inv * (4.0 * r6inv - 4.0) - Shift
    else
      0.0
    end
  end

  observable ebond(s: Bond) do
    d = s.a.position - s.b.position
    r2 = dot(d, d)
    rlogarg = max(1.0 - r2 / (R0 * R0), 0.1)
    e = -0.5 * K * R0 * R0 * log(rlogarg)

    if r2 < Cuberoot2 do
      sr2 = 1.0 / r2
      sr6 = sr2 * sr2 * sr2
      e + (4.0 * sr6 * (sr6 - 1.0) + 1.0)
    else
      e
    end
  end
end
