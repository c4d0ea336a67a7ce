defmodule BrokenRecord.Zero.TrajectoryTest do
  # Trajectories (docs/io.md) read back by the tools they are for: ASE reads extended XYZ
  # (every frame's positions, cell, pbc and species), LAMMPS reads the text dump (rerun over
  # every frame, read_dump of one); worlds on both backends give the same files.
  use ExUnit.Case, async: true

  alias BrokenRecord.Zero.{Lattice, Trajectory, World}
  alias BrokenRecord.Zero.Fixtures.LJLiquid
  alias BrokenRecord.Zero.FieldTypeSystems
  alias BrokenRecord.Zero.FieldTypeSystems.Epidemic

  @python "/usr/bin/python3"

  @moduletag :tmp_dir

  defp python!(script, args) do
    {out, status} = System.cmd(@python, ["-c", script | args], stderr_to_stdout: true)
    assert status == 0, out
    String.split(out, "\n", trim: true)
  end

  defp lammps!(dir, input) do
    path = Path.join(dir, "in.lmp")
    File.write!(path, input)

    {out, status} =
      System.cmd("lmp", ["-in", path, "-log", "none", "-echo", "none"],
        cd: dir,
        stderr_to_stdout: true
      )

    assert status == 0, out
    out
  end

  defp float!(word) do
    {x, ""} = Float.parse(word)
    x
  end

  # Three frames of a periodic two-species liquid as plain states, with time and step keys.
  defp argon_neon_frames do
    :rand.seed(:exsss, {7, 8, 9})

    for f <- 0..2 do
      atoms =
        for i <- 0..9 do
          %{
            position: {:rand.uniform() * 6, :rand.uniform() * 5, :rand.uniform() * 4},
            velocity: {:rand.normal(), :rand.normal(), :rand.normal()},
            element: if(rem(i, 3) == 0, do: :ne, else: :ar),
            charge: rem(i, 2),
            mobile: i != 4,
            label: "not written"
          }
        end

      %{atoms: atoms, box: {6.0, 5.0, 4.0}, step: 10 * f, time: 0.5 * f}
    end
  end

  @ase_read """
  import sys
  from ase.io import read
  for atoms in read(sys.argv[1], index=':'):
      print('frame', len(atoms), *map(repr, atoms.cell.lengths()), *atoms.pbc,
            atoms.info.get('step'), atoms.info.get('Time'))
      for s, p in zip(atoms.get_chemical_symbols(), atoms.positions):
          print(s, *map(repr, p))
      if 'velocity' in atoms.arrays:
          print('velocity', *map(repr, atoms.arrays['velocity'].flatten()))
  """

  # ASE's frames as [{header words, [{symbol, {x, y, z}}], velocities}].
  defp ase_frames(path) do
    @ase_read
    |> python!([path])
    |> Enum.map(&String.split/1)
    |> Enum.chunk_while(
      nil,
      fn
        ["frame" | header], nil -> {:cont, {header, [], []}}
        ["frame" | header], acc -> {:cont, finish(acc), {header, [], []}}
        ["velocity" | vs], {h, atoms, _} -> {:cont, {h, atoms, Enum.map(vs, &float!/1)}}
        [s, x, y, z], {h, atoms, v} -> {:cont, {h, [{s, vec(x, y, z)} | atoms], v}}
      end,
      fn acc -> {:cont, finish(acc), nil} end
    )
  end

  defp finish({h, atoms, v}), do: {h, Enum.reverse(atoms), v}
  defp vec(x, y, z), do: {float!(x), float!(y), float!(z)}

  test "ASE reads every frame of states back: positions, cell, pbc, species, velocities",
       %{tmp_dir: dir} do
    frames = argon_neon_frames()
    path = Path.join(dir, "liquid.xyz")
    assert :ok = Trajectory.write(frames, path, collection: :atoms)

    header = path |> File.stream!() |> Enum.at(1)

    assert header =~
             ~s(Properties=species:S:1:pos:R:3:velocity:R:3:charge:I:1:mobile:L:1 Time=0.0 step=0)

    read = ase_frames(path)
    assert length(read) == 3

    for {frame, {header, atoms, velocities}} <- Enum.zip(frames, read) do
      assert header ==
               ["10", "6.0", "5.0", "4.0", "True", "True", "True"] ++
                 [Integer.to_string(frame.step), Float.to_string(frame.time)]

      assert atoms ==
               Enum.map(frame.atoms, fn a ->
                 {a.element |> Atom.to_string() |> String.capitalize(), a.position}
               end)

      assert velocities == Enum.flat_map(frame.atoms, &Tuple.to_list(&1.velocity))
    end
  end

  test "a box given by corners writes its Origin; fields: and species: choose the columns",
       %{tmp_dir: dir} do
    [frame | _] = argon_neon_frames()
    frame = %{frame | box: {{-3.0, -2.5, -2.0}, {3.0, 2.5, 2.0}}}
    path = Path.join(dir, "corners.xyz")

    assert :ok =
             Trajectory.write([frame], path,
               collection: :atoms,
               fields: [:position, :charge],
               species: "He",
               periodic: [:x, :y]
             )

    [_, header | _] = path |> File.read!() |> String.split("\n")

    assert header ==
             ~s(Lattice="6.0 0 0 0 5.0 0 0 0 4.0" Origin="-3.0 -2.5 -2.0" ) <>
               ~s(Properties=species:S:1:pos:R:3:charge:I:1 Time=0.0 step=0 pbc="T T F")

    [{header, atoms, []}] = ase_frames(path)
    assert Enum.slice(header, 4, 3) == ["True", "True", "False"]
    assert atoms == Enum.map(frame.atoms, &{"He", &1.position})
  end

  # A small LJ liquid stepped on `backend`, one world per frame: 3 frames 5 steps apart.
  defp lj_frames(backend) do
    {positions, side} = Lattice.fcc(3, 0.8442)
    velocities = Lattice.velocities(length(positions), 1.44, 11)
    atoms = Enum.zip_with(positions, velocities, &%{position: &1, velocity: &2})
    world = World.new(LJLiquid, %{atoms: atoms, box: {side, side, side}}, backend: backend)
    world = World.step(world, steps: 1, rules: [:lj_force])
    rules = [:half_kick, :drift, :lj_force, :half_kick_2]

    {Stream.iterate(world, &World.step(&1, steps: 5, dt: 0.005, rules: rules))
     |> Stream.take(3), side}
  end

  # Two files agree: the same words, numbers within 1e-9 of each other.
  defp assert_same_numbers(a, b) do
    {wa, wb} = {String.split(a), String.split(b)}
    assert length(wa) == length(wb)

    for {x, y} <- Enum.zip(wa, wb), x != y do
      assert_in_delta float!(x), float!(y), 1.0e-9
    end
  end

  @tag :native
  test "worlds of both backends give the same dumps; LAMMPS reruns every frame and reads one",
       %{tmp_dir: dir} do
    for backend <- [:native, :interpreted] do
      {frames, _side} = lj_frames(backend)
      path = Path.join(dir, "#{backend}.lammpstrj")
      # a world is stepped in place: each frame is written as the stream yields it
      assert :ok = Trajectory.write(frames, path, collection: :atoms)
    end

    native = Path.join(dir, "native.lammpstrj")
    text = File.read!(native)
    assert_same_numbers(text, File.read!(Path.join(dir, "interpreted.lammpstrj")))

    {_, side} = lj_frames(:interpreted)
    assert text =~ "ITEM: BOX BOUNDS pp pp pp\n0.0 #{side}\n"
    assert text =~ "ITEM: ATOMS id type x y z vx vy vz fx fy fz\n"

    out =
      lammps!(dir, """
      units lj
      atom_style atomic
      boundary p p p
      region b block 0 #{side} 0 #{side} 0 #{side}
      create_box 1 b
      mass 1 1.0
      pair_style zero 2.5
      pair_coeff * *
      thermo_style custom step atoms
      thermo 1
      rerun native.lammpstrj dump x y z vx vy vz box yes add yes
      read_dump native.lammpstrj 11 x y z vx vy vz box yes
      write_dump all custom back.dump id x y z vx vy vz modify sort id format float %.17g
      """)

    # rerun's thermo: one row per frame, steps 1, 6, 11 (the world's step counter), 108 atoms
    rows = for line <- String.split(out, "\n"), [s, "108"] <- [String.split(line)], do: s
    assert Enum.take(Enum.uniq(rows), 3) == ["1", "6", "11"]

    written =
      text
      |> String.split("ITEM: TIMESTEP\n11\n")
      |> List.last()
      |> atom_rows(fn [id, _type, x, y, z, vx, vy, vz, _, _, _] ->
        {id, [x, y, z, vx, vy, vz]}
      end)

    back =
      dir |> Path.join("back.dump") |> File.read!() |> atom_rows(fn [id | xs] -> {id, xs} end)

    assert length(back) == 108

    assert Enum.map(written, &elem(&1, 0)) == Enum.map(back, &elem(&1, 0))

    for {{_, xs}, {_, ys}} <- Enum.zip(written, back), {x, y} <- Enum.zip(xs, ys) do
      assert float!(x) == float!(y)
    end
  end

  defp atom_rows(text, fun) do
    text
    |> String.split("\n", trim: true)
    |> Enum.drop_while(&(not String.starts_with?(&1, "ITEM: ATOMS")))
    |> tl()
    |> Enum.map(&(&1 |> String.split() |> fun.()))
  end

  @tag :native
  test "an enum field is the dump's type (declared index + 1) and the XYZ species, on both backends",
       %{tmp_dir: dir} do
    state = FieldTypeSystems.people(30, 4)
    # a key the system does not declare is the caller's own: numbered as met (the first
    # person is vaccinated: :z is 1, :a is 2)
    team = &Map.put(&1, :team, if(&1.vaccinated, do: :z, else: :a))
    state = %{state | people: Enum.map(state.people, team)}

    files =
      for backend <- [:native, :interpreted], format <- [:lammps_dump, :xyz] do
        world = World.new(Epidemic, state, backend: backend)
        world = World.step(world, steps: 3, dt: 0.1, params: FieldTypeSystems.epidemic_params())
        path = Path.join(dir, "#{backend}.#{format}")
        assert :ok = Trajectory.write([world], path, collection: :people, format: format)
        File.read!(path)
      end

    [native_dump, native_xyz, elixir_dump, elixir_xyz] = files
    assert_same_numbers(native_dump, elixir_dump)
    assert_same_numbers(native_xyz, elixir_xyz)
    assert native_dump =~ "ITEM: TIMESTEP\n3\n"
    # the system's space is periodic in x and y only: the world says so
    assert native_dump =~ "ITEM: BOX BOUNDS pp pp ff\n"
    assert native_xyz =~ ~s(pbc="T T F")
    assert native_xyz =~ ~s(Properties=species:S:1:pos:R:3:team:S:1:vaccinated:L:1 step=3)
    assert native_dump =~ "ITEM: ATOMS id type x y z team vaccinated\n1 2 "
    teams = atom_rows(native_dump, fn [_, _, _, _, _, team, vaccinated] -> {team, vaccinated} end)
    assert Enum.sort(Enum.uniq(teams)) == [{"1", "1"}, {"2", "0"}]

    types = atom_rows(native_dump, fn [_, type | _] -> type end)

    species =
      native_xyz
      |> String.split("\n", trim: true)
      |> Enum.drop(2)
      |> Enum.map(&(&1 |> String.split() |> hd()))

    codes = %{"susceptible" => "1", "infected" => "2", "recovered" => "3"}
    assert length(types) == 30
    assert types == Enum.map(species, &Map.fetch!(codes, &1))
    assert "2" in types
  end

  test "samples and lazy streams: steps from :step, else the ordinal; a bounding box without a box",
       %{tmp_dir: dir} do
    parent = self()

    frames =
      Stream.map(0..3, fn i ->
        send(parent, {:made, i})
        state = %{dots: [%{position: {i * 1.0, -1.0, 2.0}}, %{position: {0.5, 3.0, -2.0}}]}
        if rem(i, 2) == 0, do: %{state: state, step: 100 + i}, else: state
      end)

    path = Path.join(dir, "dots.dump")
    assert :ok = Trajectory.write(frames, path, collection: :dots)
    assert_received {:made, 3}
    text = File.read!(path)

    steps = Regex.scan(~r/ITEM: TIMESTEP\n(\d+)/, text, capture: :all_but_first)
    assert steps == [["100"], ["1"], ["102"], ["3"]]

    assert text =~
             "ITEM: BOX BOUNDS ff ff ff\n0.5 3.0\n-1.0 3.0\n-2.0 2.0\n" <>
               "ITEM: ATOMS id type x y z\n1 1 3.0 -1.0 2.0\n2 1 0.5 3.0 -2.0\n"

    out =
      lammps!(dir, """
      units lj
      atom_style atomic
      boundary m m m
      region b block -10 10 -10 10 -10 10
      create_box 1 b
      mass 1 1.0
      read_dump dots.dump 100 x y z box yes add yes
      write_dump all custom back.dump id x y z modify sort id format float %.17g
      """)

    assert out =~ "2 atoms after read"

    assert dir |> Path.join("back.dump") |> File.read!() |> atom_rows(& &1) ==
             [~w(1 0 -1 2), ~w(2 0.5 3 -2)]
  end

  test "agents' own :id keys are the dump's ids when every agent has a distinct one",
       %{tmp_dir: dir} do
    atoms = [%{id: 7, position: {0.0, 0.0, 0.0}}, %{id: 3, position: {1.0, 0.0, 0.0}}]
    path = Path.join(dir, "ids.dump")
    :ok = Trajectory.write([%{atoms: atoms}], path, collection: :atoms)
    assert atom_rows(File.read!(path), &hd/1) == ["7", "3"]

    :ok = Trajectory.write([%{atoms: [hd(atoms), hd(atoms)]}], path, collection: :atoms)
    assert atom_rows(File.read!(path), &hd/1) == ["1", "2"]
  end

  test "bad input is an ArgumentError naming it, and leaves no file", %{tmp_dir: dir} do
    path = Path.join(dir, "bad.xyz")
    good = %{atoms: [%{position: {0.0, 0.0, 0.0}, kind: :a, tag: "x"}]}

    cases = [
      {[good], [collection: :bodies], "unknown collection :bodies in frame 0; known: :atoms"},
      {[good], [collection: :atoms, fields: [:position, :mass]],
       "unknown field :mass: state.atoms[0] has no key :mass"},
      {[good], [collection: :atoms, fields: [:tag]], ~s(state.atoms[0].tag is "x": not a number)},
      {[good], [collection: :atoms, species: :tag], "state.atoms[0].tag is"},
      {[good, %{atoms: [%{velocity: {1.0, 0.0, 0.0}}]}], [collection: :atoms],
       "state.atoms[0] has no position: its :position is nil"},
      {[good, 7], [collection: :atoms], "frame 1 is not a state, a World or a sample"},
      {good, [collection: :atoms], "(give a single state in a list)"},
      {:good, [collection: :atoms], "frames must be an enumerable, got: :good"},
      {[good], [collection: :atoms, format: :pdb], "unknown format :pdb"},
      {[good], [collection: :atoms, colour: :red], "unknown option :colour"},
      {[good], [], "option collection: (an atom) is required"}
    ]

    for {frames, opts, message} <- cases do
      error = assert_raise ArgumentError, fn -> Trajectory.write(frames, path, opts) end
      assert error.message =~ message
      refute File.exists?(path)
    end

    assert_raise ArgumentError, ~r/option format: is required for the extension ".txt"/, fn ->
      Trajectory.write([good], Path.join(dir, "a.txt"), collection: :atoms)
    end
  end
end
