defmodule BrokenRecord.Zero.LammpsThermoTest do
  # LAMMPS's bench/in.lj (a smaller box) run by LAMMPS itself (Debian `lammps`, `lmp`) and by
  # the LJ liquid system from the atoms and velocities LAMMPS made (its write_data): at steps 0
  # and 100 the thermo values Temp, E_pair, TotEng and Press agree within 1e-9 relative.
  use ExUnit.Case, async: true

  alias BrokenRecord.Zero.Fixtures.LJLiquid
  alias BrokenRecord.Zero.{LammpsData, Thermo, World}

  @moduletag :native
  @moduletag :tmp_dir
  @moduletag timeout: 300_000

  @input """
  units           lj
  atom_style      atomic
  lattice         fcc 0.8442
  region          box block 0 6 0 6 0 6
  create_box      1 box
  create_atoms    1 box
  mass            1 1.0
  velocity        all create 1.44 87287 loop geom
  pair_style      lj/cut 2.5
  pair_coeff      1 1 1.0 1.0 2.5
  neighbor        0.3 bin
  neigh_modify    every 1 delay 0 check yes
  fix             1 all nve
  write_data      data.lj
  thermo_style    custom step temp epair etotal press
  thermo_modify   format float %.17g
  thermo          100
  timestep        0.005
  run             100
  """

  # The thermo rows of LAMMPS's log: %{step => [temp, epair, etotal, press]}.
  defp lammps_rows(log) do
    log
    |> String.split("\n")
    |> Enum.drop_while(&(not (&1 =~ ~r/^\s*Step\s+Temp\s+E_pair\s+TotEng\s+Press/)))
    |> Enum.drop(1)
    |> Enum.take_while(&(not String.starts_with?(&1, "Loop time")))
    |> Map.new(fn line ->
      [step | values] = String.split(line)
      {String.to_integer(step), Enum.map(values, &elem(Float.parse(&1), 0))}
    end)
  end

  # The same values from the world: temperature 2 KE / (3N - 3), the energies per atom, the
  # pressure (2 KE + virial) / (3 V).
  defp thermo(world, n, volume) do
    %{kinetic_energy: ke, pe: pe, virial: virial} =
      World.observe(world, [:kinetic_energy, :pe, :virial])

    [2 * ke / (3 * n - 3), pe / n, (pe + ke) / n, (2 * ke + virial) / (3 * volume)]
  end

  test "Temp, E_pair, TotEng and Press at steps 0 and 100 agree with LAMMPS", %{tmp_dir: dir} do
    File.write!(Path.join(dir, "in.lj"), @input)
    {_, 0} = System.cmd("lmp", ["-in", "in.lj", "-log", "log.lammps"], cd: dir)
    expected = lammps_rows(File.read!(Path.join(dir, "log.lammps")))
    assert Map.keys(expected) == [0, 100]

    {:ok, %{atoms: atoms, box: {lo, hi} = box}} = LammpsData.read(Path.join(dir, "data.lj"))
    n = length(atoms)
    assert n == 864
    volume = Enum.reduce(0..2, 1.0, &(&2 * (elem(hi, &1) - elem(lo, &1))))
    atoms = Enum.map(atoms, &Map.delete(&1, :id))

    for backend <- [:native, :interpreted] do
      world = World.new(LJLiquid, %{atoms: atoms, box: box}, backend: backend)
      world = World.step(world, steps: 1, rules: [:lj_force])
      at_0 = thermo(world, n, volume)

      world =
        World.step(world,
          steps: 100,
          dt: 0.005,
          rules: [:half_kick, :drift, :lj_force, :half_kick_2]
        )

      at_100 = thermo(world, n, volume)

      for {got, want} <- [{at_0, expected[0]}, {at_100, expected[100]}],
          {g, w, name} <- Enum.zip([got, want, ~w(Temp E_pair TotEng Press)]) do
        assert abs(g - w) <= 1.0e-9 * abs(w), "#{backend} #{name}: #{g} against LAMMPS #{w}"
      end

      # the same row through the thermo table
      [temp, epair, etotal, press] = at_100

      table =
        Thermo.format(
          [
            %{
              step: 100,
              time: 0.5,
              values: %{temperature: temp, pe: epair, total_energy: etotal, pressure: press}
            }
          ],
          columns: [:step, :temperature, :pe, :total_energy, :pressure]
        )

      assert table =~ ~r/Step\s+Temp\s+E_pair\s+TotEng\s+Press/
    end
  end
end
