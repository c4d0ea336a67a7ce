defmodule BrokenRecord.Zero.ExamplesTest do
  # The scripts under examples/ that draw random numbers, run as a user runs them (`mix run`),
  # at small sizes; their output is checked against what they promise.
  use ExUnit.Case, async: true

  defp run_example(args) do
    {out, status} =
      System.cmd("mix", ["run", "--no-compile" | args],
        env: [{"MIX_ENV", "test"}],
        stderr_to_stdout: true
      )

    assert status == 0, out
    String.split(out, "\n", trim: true)
  end

  defp numbers(line), do: line |> String.split() |> Enum.map(&parse/1)

  defp parse(word) do
    case Float.parse(word) do
      {x, ""} -> x
      _ -> word
    end
  end

  @tag timeout: 300_000
  test "examples/langevin.exs: the temperature relaxes to kT as 1 - exp(-2 gamma t)" do
    lines = run_example(["examples/langevin.exs", "5000"])
    assert hd(lines) =~ "Langevin (BAOAB): 5000 particles, kT = 1.5"
    rows = lines |> Enum.drop(2) |> Enum.map(&numbers/1)
    assert length(rows) == 11
    assert [[+0.0, +0.0, +0.0] | _] = rows

    for [step, t, expected] <- tl(rows) do
      assert step > 0
      # 15,000 velocity components: a relative error of about 1%
      assert abs(t - expected) < 0.05 * expected, "step #{step}: T #{t}, expected #{expected}"
    end

    assert_in_delta List.last(List.last(rows)), 1.5, 0.01
  end

  @tag timeout: 300_000
  test "examples/sir.exs: S + I + R is constant, R never falls, the epidemic spreads" do
    lines = run_example(["examples/sir.exs", "4000"])
    assert hd(lines) =~ "SIR: 4000 people"
    rows = lines |> Enum.drop(2) |> Enum.map(&numbers/1)
    assert length(rows) == 16

    for [_step, s, i, r] <- rows, do: assert(s + i + r == 4000)
    recovered = Enum.map(rows, &List.last/1)
    assert recovered == Enum.sort(recovered)
    [[0.0, s0, i0, 0.0] | _] = rows
    assert {s0, i0} == {3996.0, 4.0}
    # beta = 2 against gamma = 0.1 at 2 people per unit area: most people are infected at last
    [_, s_end, _, _] = List.last(rows)
    assert s_end < 0.5 * s0
  end

  @tag timeout: 300_000
  test "examples/boids.exs: random headings align into flocks" do
    lines = run_example(["examples/boids.exs", "2000"])
    assert hd(lines) =~ "Boids: 2000 boids"
    assert hd(lines) =~ "backend native"
    rows = lines |> Enum.drop(2) |> Enum.map(&numbers/1)
    assert length(rows) == 13
    [[+0.0, p0, "-"] | rest] = rows
    # 2000 random headings: about 1 / sqrt(2000) = 0.022
    assert p0 < 0.1

    for [_step, _p, neighbours] <- rest do
      # 2 boids per unit area within radius 1: about 2 pi on average, fewer once they flock
      # apart from crowding, never none.
      assert neighbours > 3.0 and neighbours < 15.0
    end

    [_, p_end, _] = List.last(rows)
    assert p_end > 0.9
  end

  @tag :tmp_dir
  @tag timeout: 300_000
  test "examples/wolf_sheep.exs: births, deaths and grazing keep both species alive, counts move",
       %{tmp_dir: dir} do
    lines = run_example(["examples/wolf_sheep.exs", "51", "200", "--out", dir])
    assert hd(lines) =~ "Wolf Sheep Predation: 51 x 51 patches, backend native"
    png = Path.join(dir, "wolf_sheep.png")
    assert List.last(lines) == "wrote #{png}"

    {size, 0} =
      System.cmd("/usr/bin/python3", [
        "-c",
        "import sys; from PIL import Image; print(*Image.open(sys.argv[1]).size)",
        png
      ])

    assert size == "800 500\n"
    rows = lines |> Enum.drop(2) |> Enum.drop(-1) |> Enum.map(&numbers/1)
    assert length(rows) == 9
    assert hd(rows) |> Enum.take(3) == [0.0, 100.0, 50.0]
    assert Enum.map(rows, &hd/1) == Enum.map(0..8, &(&1 * 25.0))

    for [_step, sheep, wolves, grass] <- rows do
      assert sheep > 0 and wolves > 0
      assert grass >= 0 and grass <= 51 * 51
    end

    # agents are born and die: the counts are not those of the start
    assert Enum.uniq(Enum.map(rows, &Enum.slice(&1, 1, 2))) |> length() > 5
  end

  @tag timeout: 300_000
  test "examples/chemical_reactions.exs: A + B <-> C moves the counts and keeps the mass" do
    lines = run_example(["examples/chemical_reactions.exs", "4000"])
    assert hd(lines) =~ "A + B <-> C: 4000 molecules"

    for rule <- ~w(synthesis decomposition move),
        do: assert(Enum.any?(lines, &(&1 == "  #{rule} conserves mass: :proven")))

    rows = lines |> Enum.drop_while(&(not String.starts_with?(&1, "      step"))) |> tl()
    rows = Enum.map(rows, &numbers/1)
    assert length(rows) == 16
    assert hd(rows) == [0.0, 2000.0, 2000.0, 0.0, 4000.0]

    for [_step, a, b, c, mass] <- rows do
      # A and B have mass 1, C mass 2; every reaction keeps A - B
      assert a == b
      assert a + b + 2 * c == 4000
      assert mass == 4000.0
    end

    [_, _, _, c_end, _] = List.last(rows)
    assert c_end > 500
  end

  @read_outputs """
  import sys
  from ase.io import read
  from PIL import Image
  for path in sys.argv[1:]:
      if path.endswith('.xyz'):
          frames = read(path, index=':')
          print(path, len(frames), len(frames[-1]), frames[-1].get_chemical_symbols()[0])
      else:
          print(path, *Image.open(path).size)
  """

  @tag :tmp_dir
  @tag timeout: 300_000
  test "examples/lj_liquid.exs and collision_world.exs --out DIR: a trajectory and pictures",
       %{tmp_dir: dir} do
    lj = run_example(["examples/lj_liquid.exs", "3", "--out", dir])
    assert hd(lj) =~ "LJ liquid: 108 atoms"
    assert length(lj) == 14
    collisions = run_example(["examples/collision_world.exs", "--out", dir])
    assert Enum.at(collisions, 1) =~ "1000 steps of 200 particles"

    files = ~w(lj_liquid.xyz lj_liquid.png lj_thermo.png collision_world.xyz collision_world.png)
    paths = Enum.map(files, &Path.join(dir, &1))

    {out, 0} =
      System.cmd("/usr/bin/python3", ["-c", @read_outputs | paths], stderr_to_stdout: true)

    assert String.split(out, "\n", trim: true) == [
             "#{Enum.at(paths, 0)} 11 108 Ar",
             "#{Enum.at(paths, 1)} 800 800",
             "#{Enum.at(paths, 2)} 800 500",
             "#{Enum.at(paths, 3)} 11 200 He",
             "#{Enum.at(paths, 4)} 800 800"
           ]
  end

  @tag :tmp_dir
  @tag timeout: 300_000
  test "examples/solar_system.exs: kick-drift-kick keeps the energy, the orbits are drawn",
       %{tmp_dir: dir} do
    lines = run_example(["examples/solar_system.exs", "12", "--out", dir])
    assert hd(lines) =~ "the Sun and 8 planets, 12 years (4380 steps of 1 day), backend native"
    rows = lines |> Enum.slice(2..-3//1) |> Enum.map(&numbers/1)
    # the first sample of each decade and the last: years 0, 10, 12
    assert Enum.map(rows, &hd/1) == [0.0, 10.0, 12.0]

    for [_year, energy, drift] <- rows do
      # the total energy of the Sun and planets in Msun AU^2 / day^2: bound, and kept by the
      # symplectic integrator to far better than a part in a million
      assert_in_delta energy, -3.3176e-8, 1.0e-12
      assert abs(drift) < 1.0e-6
    end

    assert Enum.at(lines, -2) =~ "largest relative energy drift"
    paths = Enum.map(~w(solar_system.png solar_energy.png), &Path.join(dir, &1))

    {out, 0} =
      System.cmd("/usr/bin/python3", ["-c", @read_outputs | paths], stderr_to_stdout: true)

    assert String.split(out, "\n", trim: true) == [
             "#{Enum.at(paths, 0)} 800 800",
             "#{Enum.at(paths, 1)} 800 400"
           ]
  end

  @count_colours """
  import sys
  from PIL import Image
  im = Image.open(sys.argv[1]).convert('RGB')
  print(*im.size)
  counts = {}
  for p in im.getdata():
      counts[p] = counts.get(p, 0) + 1
  for colour in [(255, 255, 255), (31, 119, 180), (255, 127, 14)]:
      print(counts.get(colour, 0))
  """

  @tag :tmp_dir
  @tag timeout: 300_000
  test "examples/cloth.exs: the cloth falls, hangs from its pins onto the floor, and is drawn",
       %{tmp_dir: dir} do
    png = Path.join(dir, "cloth.png")
    lines = run_example(["examples/cloth.exs", "16", "3000", "--out", png])
    assert hd(lines) =~ "Cloth: 16 x 16 nodes, 1378 springs, 3000 steps of 0.0005 s"
    assert hd(lines) =~ "backend native"
    assert List.last(lines) == "wrote #{png}"
    rows = lines |> Enum.slice(2..-2//1) |> Enum.map(&numbers/1)
    assert Enum.map(rows, &hd/1) == Enum.map(0..10, &(&1 * 300.0))
    # flat at 0.9 * 15 * 0.05 = 0.675 above the floor, unstretched
    assert [[+0.0, 0.675, e0, +0.0] | _] = rows

    for {[_, _, before, _], [_, lowest, later, stretch]} <- Enum.zip(rows, tl(rows)) do
      assert later < before
      assert lowest >= 0.0
      assert stretch > 0.0 and stretch < 0.2
    end

    # hanging: its far edge, 0.75 long, has reached the floor 0.675 below the pins
    assert Enum.any?(rows, fn [_, lowest, _, _] -> lowest == 0.0 end)
    assert Enum.at(List.last(rows), 2) < 0.6 * e0

    {out, 0} = System.cmd("/usr/bin/python3", ["-c", @count_colours, png], stderr_to_stdout: true)
    [size, white, cloth, floor] = String.split(out, "\n", trim: true)
    assert size == "800 800"
    # the cloth's dotted springs cover a good part of the picture, the floor a thin line
    assert String.to_integer(cloth) > 20_000
    assert String.to_integer(floor) > 800
    assert String.to_integer(white) > 100_000
  end
end
