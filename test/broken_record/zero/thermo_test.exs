defmodule BrokenRecord.Zero.ThermoTest do
  # The LAMMPS-like thermo table (BrokenRecord.Zero.Thermo): %.8g numbers, columns and their
  # names, vec3 values, the lazy stream, bad input, and tables of samples of real runs on both
  # backends.
  use ExUnit.Case, async: true

  import BrokenRecord.Zero.TestHelpers, only: [assert_close: 3]

  alias BrokenRecord.Zero.{Lattice, NIF, Thermo, World}
  alias BrokenRecord.Zero.Fixtures.LJLiquid

  # What C's printf("%.8g") writes for each (glibc).
  @printf [
    {0.0001, "0.0001"},
    {1.0e-5, "1e-05"},
    {9.99999999e-5, "0.0001"},
    {99_999_999.5, "1e+08"},
    {100_000_000.0, "1e+08"},
    {12_345_678.9, "12345679"},
    {0.000123456789, "0.00012345679"},
    {5.0e-324, "4.9406565e-324"},
    {1.7976931348623157e308, "1.7976931e+308"},
    {0.1, "0.1"},
    {123.456, "123.456"},
    {-6.77336812, "-6.7733681"},
    {1.0, "1"},
    {2.5e-300, "2.5e-300"},
    {100.0, "100"},
    {-1.0e-5, "-1e-05"},
    {0.30000000000000004, "0.3"},
    {3.14159265358979, "3.1415927"},
    {0.0, "0"}
  ]

  defp sample(step, values), do: %{step: step, time: step * 0.005, values: values}

  defp cells(line), do: String.split(line)

  describe "numbers" do
    test "floats as C's %.8g, integers as they are" do
      for {x, text} <- @printf, do: assert({x, Thermo.number(x)} == {x, text})
      assert Thermo.number(-42) == "-42"
      assert Thermo.number(12_345_678_901) == "12345678901"
    end

    test "eight significant digits that read back within half an ulp of the eighth" do
      :rand.seed(:exsss, {1, 2, 3})

      for _ <- 1..2000 do
        x = (:rand.uniform() - 0.5) * :math.pow(10, :rand.uniform(40) - 20)
        text = Thermo.number(x)
        back = text |> Float.parse() |> elem(0)
        assert abs(back - x) <= 5.0e-8 * abs(x), "#{x} -> #{text}"
        digits = text |> String.split("e") |> hd() |> String.replace(~r/[^0-9]/, "")
        assert String.length(String.trim_leading(digits, "0")) <= 8, "#{x} -> #{text}"
      end
    end
  end

  describe "columns" do
    test "Step, then the known values under LAMMPS names in LAMMPS order, then the others" do
      values = %{
        zeta: 1.0,
        pressure: 0.25,
        alpha: 2.0,
        kinetic_energy: 3.0,
        potential_energy: -5.0,
        temperature: 1.44
      }

      [header, row, ""] = [sample(7, values)] |> Thermo.format() |> String.split("\n")

      assert cells(header) ==
               ~w(Step Temp E_pair KinEng TotEng Press alpha zeta)

      assert cells(row) == ~w(7 1.44 -5 3 -2 0.25 2 1)
      # right-aligned: Step 10 wide, the others 14, one space between
      assert header ==
               "      Step" <>
                 Enum.map_join(
                   ~w(Temp E_pair KinEng TotEng Press alpha zeta),
                   &String.pad_leading(&1, 15)
                 )
    end

    test "TotEng only when both energies are there, or given" do
      [header | _] = [sample(0, %{pe: -1.0})] |> Thermo.format() |> String.split("\n")
      assert cells(header) == ~w(Step E_pair)

      table = Thermo.format([sample(0, %{pe: -1.0, kinetic_energy: 0.5, total_energy: 9.0})])
      assert [_, row, ""] = String.split(table, "\n")
      # its own total, not the sum
      assert cells(row) == ~w(0 -1 0.5 9)
    end

    test "a vec3 is three columns name[1] name[2] name[3]" do
      table = Thermo.format([sample(1, %{momentum: {1.0, -2.0, 0.5}})], columns: [:momentum])
      assert [header, row, ""] = String.split(table, "\n")
      assert cells(header) == ~w(momentum[1] momentum[2] momentum[3])
      assert cells(row) == ~w(1 -2 0.5)
    end

    test "columns: chooses and orders them, the time included" do
      samples = [
        sample(0, %{temperature: 2.0, pe: -3.0}),
        sample(10, %{temperature: 1.0, pe: -2.0})
      ]

      table = Thermo.format(samples, columns: [:pe, :time, :step])

      assert Enum.map(String.split(table, "\n", trim: true), &cells/1) ==
               [~w(E_pair Time Step), ~w(-3 0 0), ~w(-2 0.05 10)]
    end

    test "a long name widens its column, header and rows alike" do
      name = :a_rather_long_observable_name
      table = Thermo.format([sample(0, %{name => 1.0}), sample(1, %{name => 22.5})])
      [header, first, second, ""] = String.split(table, "\n")
      assert String.length(header) == String.length(first)
      assert String.length(first) == String.length(second)
      assert String.ends_with?(header, " " <> Atom.to_string(name))
    end
  end

  describe "stream" do
    test "lazy: a sample is read when its line is taken" do
      me = self()

      lines =
        Stream.map(0..1_000_000, fn step ->
          send(me, {:read, step})
          sample(step, %{temperature: 1.0})
        end)
        |> Thermo.stream()
        |> Enum.take(3)

      assert length(lines) == 3
      assert Enum.all?(lines, &String.ends_with?(&1, "\n"))
      assert_received {:read, 1}
      refute_received {:read, 3}
    end

    test "no samples, no lines" do
      assert Thermo.format([]) == ""
      assert Enum.to_list(Thermo.stream([], columns: [:step])) == []
    end
  end

  describe "bad input" do
    test "options" do
      assert_raise ArgumentError, "unknown option :colums; known options: :columns", fn ->
        Thermo.format([], colums: [:step])
      end

      for bad <- [[], :step, ["Step"], [:step | :pe]] do
        assert_raise ArgumentError, ~r/^invalid option columns: /, fn ->
          Thermo.format([sample(0, %{})], columns: bad)
        end
      end

      assert_raise ArgumentError, ~r/^options must be a keyword list/, fn ->
        Thermo.format([], %{columns: [:step]})
      end
    end

    test "samples" do
      assert_raise ArgumentError, ~r/^invalid sample %{step: -1/, fn ->
        Thermo.format([%{step: -1, values: %{}}])
      end

      assert_raise ArgumentError, ~r/^invalid sample/, fn -> Thermo.format([{0, 1.0}]) end

      message = "the sample at step 5 has no :pe (column E_pair)"

      assert_raise ArgumentError, message, fn ->
        Thermo.format([sample(0, %{pe: 1.0}), sample(5, %{temperature: 1.0})])
      end

      assert_raise ArgumentError, "the sample at step 0 has no :time (column Time)", fn ->
        Thermo.format([%{step: 0, values: %{}}], columns: [:time])
      end

      assert_raise ArgumentError,
                   ~r/^value :v at step 1 is 2.0, but the first sample's was a vec3$/,
                   fn ->
                     Thermo.format([sample(0, %{v: {1.0, 2.0, 3.0}}), sample(1, %{v: 2.0})])
                   end

      assert_raise ArgumentError, ~r/^invalid value :pe at step 0: "x"/, fn ->
        Thermo.format([sample(0, %{pe: "x"})])
      end

      assert_raise ArgumentError,
                   ~r/^invalid value :kinetic_energy at step 0: \{1, 2, 3\}; expected a number$/,
                   fn ->
                     Thermo.format([sample(0, %{pe: 1.0, kinetic_energy: {1, 2, 3}})],
                       columns: [:total_energy]
                     )
                   end
    end
  end

  describe "samples of a run" do
    # Kinetic energy and temperature (3N - 3 degrees of freedom, unit mass) every 5 steps of a
    # small LJ liquid, measured in Elixir from the world's velocity column.
    defp lj_samples(backend) do
      {positions, side} = Lattice.fcc(3, 0.8442)
      velocities = Lattice.velocities(length(positions), 1.44, 11)
      atoms = Enum.zip_with(positions, velocities, &%{position: &1, velocity: &2})
      world = World.new(LJLiquid, %{atoms: atoms, box: {side, side, side}}, backend: backend)
      world = World.step(world, steps: 1, rules: [:lj_force])
      rules = [:half_kick, :drift, :lj_force, :half_kick_2]

      Stream.iterate(world, &World.step(&1, steps: 5, dt: 0.005, rules: rules))
      |> Stream.take(4)
      |> Enum.map(fn world ->
        v = for <<x::float-native-64 <- World.column(world, :atoms, :velocity)>>, do: x
        ke = 0.5 * Enum.sum(Enum.map(v, &(&1 * &1)))
        n = div(length(v), 3)
        step = World.info(world).step
        sample(step, %{kinetic_energy: ke, temperature: 2 * ke / (3 * n - 3)})
      end)
    end

    test "the native and the pure-Elixir tables agree" do
      backends = if NIF.loaded?(), do: [:native, :interpreted], else: [:interpreted]

      tables =
        Enum.map(
          backends,
          &(&1
            |> lj_samples()
            |> Thermo.format(columns: [:step, :time, :temperature, :kinetic_energy]))
        )

      for table <- tables do
        [header | rows] = String.split(table, "\n", trim: true)
        assert cells(header) == ~w(Step Time Temp KinEng)
        assert Enum.map(rows, &(&1 |> cells() |> hd())) == ~w(1 6 11 16)
      end

      [reference | others] = Enum.map(tables, &String.split(&1, "\n", trim: true))

      for other <- others,
          {a, b} <- Enum.zip(reference, other),
          {x, y} <- Enum.zip(cells(a), cells(b)) do
        case {Float.parse(x), Float.parse(y)} do
          {{fx, ""}, {fy, ""}} -> assert_close(fx, fy, 1.0e-6)
          _ -> assert x == y
        end
      end
    end
  end
end
