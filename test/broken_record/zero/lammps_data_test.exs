defmodule BrokenRecord.Zero.LammpsDataTest do
  # LammpsData.read/1 on small files written here (atom_style atomic and bond, image flags,
  # errors) and on LAMMPS's FENE bead-spring melt, examples/COUPLE/multiple/data.chain
  # (Debian `lammps-examples`).
  use ExUnit.Case, async: true

  alias BrokenRecord.Zero.LammpsData

  @moduletag :tmp_dir

  @chain "/usr/share/lammps/examples/COUPLE/multiple/data.chain"

  @bond_file """
  LAMMPS data file: two chains of two, written out of order

  4 atoms
  2 bonds
  1 atom types
  1 bond types

  0.0 10.0 xlo xhi
  0.0 10.0 ylo yhi
  -5.0 5.0 zlo zhi

  Masses

  1 2.5

  Atoms # bond

  4 2 1 9.5 1.0 0.0 1 0 -1
  1 1 1 1.0 2.0 3.0 0 0 0
  3 2 1 0.5 1.0 0.0 2 0 -1
  2 1 1 1.5 2.0 3.0 0 0 0

  Velocities

  1 0.1 0.2 0.3
  3 -1 0 1

  Bonds

  2 1 3 4
  1 1 1 2
  """

  defp write(dir, text) do
    path = Path.join(dir, "data.test")
    File.write!(path, text)
    path
  end

  test "atom_style bond: atoms by id, molecules, image flags, unwrapped positions, bonds by index",
       %{tmp_dir: dir} do
    assert {:ok, data} = LammpsData.read(write(dir, @bond_file))
    assert data.style == :bond
    assert data.box == {{0.0, 0.0, -5.0}, {10.0, 10.0, 5.0}}
    assert data.masses == %{1 => 2.5}
    assert Enum.map(data.atoms, & &1.id) == [1, 2, 3, 4]
    assert Enum.map(data.atoms, & &1.molecule) == [1, 1, 2, 2]
    assert Enum.map(data.atoms, & &1.type) == [1, 1, 1, 1]

    assert Enum.at(data.atoms, 2) == %{
             id: 3,
             type: 1,
             molecule: 2,
             position: {0.5, 1.0, 0.0},
             image: {2, 0, -1},
             unwrapped: {20.5, 1.0, -10.0},
             velocity: {-1.0, 0.0, 1.0}
           }

    assert Enum.at(data.atoms, 3).unwrapped == {19.5, 1.0, -10.0}
    assert Enum.at(data.atoms, 1).velocity == {0.0, 0.0, 0.0}
    # bond ids 1 and 2 in order; atom ids 3 and 4 are indices 2 and 3
    assert data.bonds == [{1, 0, 1}, {1, 2, 3}]
  end

  test "atom_style atomic, the style from the columns: no molecule, image flags optional",
       %{tmp_dir: dir} do
    text = """
    2 atoms

    0 2 xlo xhi
    0 2 ylo yhi
    0 2 zlo zhi

    Atoms

    2 1 1.5 0.5 0.5 -1 0 0
    1 1 0.5 0.5 0.5
    """

    assert {:ok, data} = LammpsData.read(write(dir, text))
    assert data.style == :atomic
    assert data.bonds == [] and data.masses == %{}
    assert [%{id: 1, molecule: nil, image: {0, 0, 0}}, second] = data.atoms
    assert second.unwrapped == {-0.5, 0.5, 0.5}
  end

  test "bad files are {:error, reason} naming the path and the line", %{tmp_dir: dir} do
    box = "0 1 xlo xhi\n0 1 ylo yhi\n0 1 zlo zhi\n\n"

    for {text, message} <- [
          {box <> "Atoms # full\n\n1 1 1 0.0 0.5 0.5 0.5\n", "atom style full is not read"},
          {box <> "Atoms # bond\n\n1 1 1 0.5 0.5\n", "Atoms line 1 1 1 0.5 0.5"},
          {box <> "Atoms\n\n1 1 0.5 0.5 0.5 0 0 0 7 8\n", "10 columns"},
          {box <> "Atoms\n\n1 1 0.5 zero 0.5\n", "not a number: \"zero\""},
          {box <> "Atoms\n\n1 1 0.5 0.5 0.5 0 0.5 0\n", "not an integer: \"0.5\""},
          {box <> "Atoms\n\n1 1 1 0.5 0.5 0.5\n\nBonds\n\n1 1 1 9\n", "no atom 9"},
          {box <> "Atoms\n\n1 1 1 0.5 0.5 0.5\n\nBonds\n\n1 1 1\n", "Bonds line 1 1 1"},
          {box, "no box or no atoms"}
        ] do
      path = write(dir, text)
      assert {:error, reason} = LammpsData.read(path)
      assert reason =~ path and reason =~ message, "#{inspect(text)}: #{reason}"
    end

    assert {:error, reason} = LammpsData.read(Path.join(dir, "missing.data"))
    assert reason =~ "missing.data"
  end

  if File.exists?(@chain) do
    test "LAMMPS's data.chain: 32,000 beads in 320 chains of 100, 31,680 bonds" do
      assert {:ok, %{style: :bond, atoms: atoms, bonds: bonds, masses: masses, box: box}} =
               LammpsData.read(@chain)

      assert {length(atoms), length(bonds)} == {32_000, 31_680}
      assert masses == %{1 => 1.0}
      assert box == {{-16.796, -16.796, -16.796}, {16.796, 16.796, 16.796}}

      assert hd(atoms) == %{
               id: 1,
               type: 1,
               molecule: 1,
               position: {5.09947, 3.82766, 14.0409},
               image: {0, 0, 0},
               unwrapped: {5.09947, 3.82766, 14.0409},
               velocity: {-1.38574, -0.958747, -0.931615}
             }

      # atom 137: "137 2 1 16.2004 -4.68722 6.19602 -1 0 0"
      assert %{id: 137, molecule: 2, image: {-1, 0, 0}, unwrapped: {x, _, _}} =
               Enum.at(atoms, 136)

      assert_in_delta x, 16.2004 - 33.592, 1.0e-12
      assert hd(bonds) == {1, 0, 1}

      atoms = List.to_tuple(atoms)

      for {type, i, j} <- bonds do
        a = elem(atoms, i)
        b = elem(atoms, j)
        assert type == 1 and j == i + 1 and a.molecule == b.molecule

        # the unwrapped positions of a bond's atoms are within R0 = 1.5 without any image
        distance =
          Enum.zip_with(Tuple.to_list(a.unwrapped), Tuple.to_list(b.unwrapped), &(&1 - &2))
          |> Enum.map(&(&1 * &1))
          |> Enum.sum()
          |> :math.sqrt()

        assert distance < 1.5, "bond #{i}-#{j}: #{distance}"
      end

      assert atoms |> Tuple.to_list() |> Enum.frequencies_by(& &1.molecule) |> Map.values() ==
               List.duplicate(100, 320)
    end
  else
    @tag skip: "#{@chain} is absent (Debian package lammps-examples)"
    test "LAMMPS's data.chain: 32,000 beads in 320 chains of 100, 31,680 bonds"
  end
end
