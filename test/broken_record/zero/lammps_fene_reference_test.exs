defmodule BrokenRecord.Zero.LammpsFeneReferenceTest do
  # LAMMPS's FENE bead-spring melt (examples/COUPLE/multiple/in.chain on data.chain, Debian
  # `lammps` and `lammps-examples`) as an NVE input (Bench.Lammps.fene/2), run by LAMMPS itself
  # for 100 steps on 1 rank: LAMMPS's side is sane (32,000 atoms, finite energies, the total
  # energy kept within 1e-3), and the hand-computed reference (FeneReference, the energies a
  # system with bonds is to be compared with) gives LAMMPS's step-0 E_bond and E_pair within
  # 1e-9 relative.
  use ExUnit.Case, async: true

  alias BrokenRecord.Zero.{FeneReference, LammpsData, World}
  alias BrokenRecord.Zero.Fixtures.FeneChain

  unless Code.ensure_loaded?(Bench.Lammps),
    do: Code.require_file("../../../bench/support/lammps.ex", __DIR__)

  @chain "/usr/share/lammps/examples/COUPLE/multiple/data.chain"

  @moduletag :tmp_dir
  @moduletag timeout: 300_000

  if not File.exists?(@chain),
    do: @moduletag(skip: "#{@chain} is absent (Debian package lammps-examples)")

  test "LAMMPS's NVE run of the melt, its step-0 E_bond and E_pair by hand, and the DSL's run",
       %{tmp_dir: dir} do
    assert {:ok, %{thermo: [at_0, at_100], loop: loop}} =
             Bench.Lammps.fene(dir, data: @chain, steps: 100, ranks: 1)

    assert_dsl_agrees(at_0, at_100)

    assert File.read!(Path.join(dir, "log.lammps")) =~ "for 100 steps with 32000 atoms"
    assert {at_0.step, at_100.step} == {0, 100}
    assert is_float(loop) and loop > 0

    for row <- [at_0, at_100], key <- [:temp, :epair, :ebond, :ke, :etotal, :press] do
      assert is_float(row[key]) and abs(row[key]) < 1.0e300, "step #{row.step} #{key}"
    end

    # NVE at dt 0.012: the total energy drifts (2.6e-5 here) but stays within 1e-3
    assert abs(at_100.etotal - at_0.etotal) <= 1.0e-3 * abs(at_0.etotal)
    assert_in_delta at_0.etotal, at_0.epair + at_0.ebond + at_0.ke, 1.0e-9 * at_0.etotal

    {:ok, data} = LammpsData.read(@chain)

    for {name, got, want} <- [
          {"E_bond", FeneReference.bond_energy(data), at_0.ebond},
          {"E_pair", FeneReference.pair_energy(data), at_0.epair}
        ] do
      assert abs(got - want) <= 1.0e-9 * abs(want), "#{name}: #{got} against LAMMPS #{want}"
    end
  end

  # The DSL's FeneChain on the native engine (bonded rule, exclusions, observables through
  # references) from the same data: Temp, E_pair, E_bond and KinEng within 1e-9 of LAMMPS's at
  # steps 0 and 100.
  defp assert_dsl_agrees(at_0, at_100) do
    {:ok, data} = LammpsData.read(@chain)

    state = %{
      beads: Enum.map(data.atoms, &%{position: &1.position, velocity: &1.velocity}),
      bonds: Enum.map(data.bonds, fn {_, i, j} -> %{a: i, b: j} end),
      box: data.box
    }

    world =
      FeneChain
      |> World.new(state, backend: :native)
      |> World.step(steps: 1, rules: [:wca, :fene])

    names = [:epair, :ebond, :kinetic_energy, :temperature]
    before = World.observe(world, names)

    world =
      World.step(world,
        steps: 100,
        dt: 0.012,
        rules: [:half_kick, :drift, :wca, :fene, :half_kick_2]
      )

    assert World.info(world).sweeps.bonded_kernel == 101

    assert World.info(world).sweeps.list_block_kernel + World.info(world).sweeps.list_interpreter +
             World.info(world).sweeps.list_kernel == 101

    after_100 = World.observe(world, names)

    for {ours, thermo} <- [{before, at_0}, {after_100, at_100}],
        {name, key} <- [epair: :epair, ebond: :ebond, kinetic_energy: :ke, temperature: :temp] do
      got = Map.fetch!(ours, name)
      want = Map.fetch!(thermo, key)

      assert abs(got - want) <= 1.0e-9 * abs(want),
             "step #{thermo.step} #{name}: #{got} vs #{want}"
    end
  end

  test "FeneReference on four atoms: the periodic bond, the clamp, the exclusion and the cutoff" do
    atom = fn x -> %{position: {x, 0.0, 0.0}} end
    # atoms 0 and 1 bonded across the boundary at r = 1.0; atom 2 at 1.1 from 1 (a pair), atom 3
    # at 1.13 from 2 (beyond the cutoff)
    data = %{
      box: {{-5.0, -5.0, -5.0}, {5.0, 5.0, 5.0}},
      atoms: [atom.(4.5), atom.(-4.5), atom.(-3.4), atom.(-2.27)],
      bonds: [{1, 0, 1}]
    }

    fene_at_1 = -0.5 * 30.0 * 2.25 * :math.log(1.0 - 1.0 / 2.25) + 1.0
    assert_in_delta FeneReference.bond_energy(data), fene_at_1, 1.0e-12

    lj = fn r -> 4.0 * (:math.pow(r, -12) - :math.pow(r, -6)) end
    assert_in_delta FeneReference.pair_energy(data), lj.(1.1) - lj.(1.12), 1.0e-12

    # r = 1.45: 1 - r^2/R0^2 = 0.0656 is taken as 0.1; beyond the WCA range
    stretched = %{data | atoms: [atom.(0.0), atom.(1.45), atom.(3.0), atom.(-3.0)]}

    assert_in_delta FeneReference.bond_energy(stretched),
                    -0.5 * 30.0 * 2.25 * :math.log(0.1),
                    1.0e-12

    broken = %{data | atoms: [atom.(0.0), atom.(3.0), atom.(-3.0), atom.(-1.5)]}

    assert_raise ArgumentError, ~r/bad FENE bond 0 \(atoms 0 and 1\)/, fn ->
      FeneReference.bond_energy(broken)
    end
  end
end
