defmodule BrokenRecord.Zero.ColumnsTest do
  # Columns in (docs/io.md, "Columns"): World.put_column/4 and World.new/3 from packed columns,
  # on both backends: byte-identical round trips, native == pure Elixir, and bad columns.
  use ExUnit.Case, async: true

  import BrokenRecord.Zero.TestHelpers

  alias BrokenRecord.Zero.{FieldTypeSystems, LifecycleSystems, World}
  alias BrokenRecord.Zero.FieldTypeSystems.Epidemic
  alias BrokenRecord.Zero.LifecycleSystems.Cells

  @backends [:native, :interpreted]
  @epidemic_fields [:position, :status, :vaccinated, :exposure]
  @cells_fields [:position, :velocity, :mass, :age, :seen]
  @params %{radius: 1.5, beta: 0.8, gamma: 0.1, step: 0.05}

  defp columns(world, collection, fields),
    do: Map.new(fields, &{&1, World.column(world, collection, &1)})

  defp message(fun), do: assert_raise(ArgumentError, fun).message

  describe "round trips" do
    for backend <- @backends do
      test "column -> new -> column and column -> put_column -> column are byte-identical (#{backend})" do
        backend = unquote(backend)
        from_maps = World.new(Epidemic, FieldTypeSystems.people(60, 1), backend: backend, seed: 3)
        from_maps = World.step(from_maps, steps: 5, dt: 0.1, params: @params)
        given = columns(from_maps, :people, @epidemic_fields)
        box = World.info(from_maps).box
        people = Enum.map(World.to_state(from_maps).people, &Map.delete(&1, :exposure))

        world = World.new(Epidemic, %{people: given, box: box}, backend: backend, seed: 3)
        assert columns(world, :people, @epidemic_fields) == given

        put =
          Enum.reduce(@epidemic_fields, from_maps, fn field, world ->
            World.put_column(world, :people, field, Map.fetch!(given, field))
          end)

        assert columns(put, :people, @epidemic_fields) == given

        # Every field comes back from to_state, with the maps' values.
        assert World.to_state(world).people == people
      end

      test "an int field and a transient one, and defaults for fields not given (#{backend})" do
        backend = unquote(backend)
        maps = World.new(Cells, LifecycleSystems.cells(30, 2), backend: backend)
        given = columns(maps, :cells, @cells_fields)
        world = World.new(Cells, %{cells: given}, backend: backend)
        assert columns(world, :cells, @cells_fields) == given

        partial =
          World.new(Cells, %{cells: Map.take(given, [:position, :velocity])}, backend: backend)

        assert floats(World.column(partial, :cells, :mass)) == List.duplicate(1.0, 30)
        assert floats(World.column(partial, :cells, :age)) == List.duplicate(0.0, 30)
        assert World.counts(partial) == %{cells: 30}
      end
    end

    test "an f32 native world takes and gives 4-byte floats" do
      maps = World.new(Cells, LifecycleSystems.cells(20, 4), backend: :native, precision: :f32)
      given = columns(maps, :cells, @cells_fields)
      assert byte_size(given.position) == 20 * 3 * 4
      world = World.new(Cells, %{cells: given}, backend: :native, precision: :f32)
      assert columns(world, :cells, @cells_fields) == given
    end
  end

  describe "stepping a world built from columns" do
    test "native == pure Elixir, and == the world built from maps" do
      state = FieldTypeSystems.people(50, 7)
      maps = World.new(Epidemic, state, backend: :interpreted)
      given = %{people: columns(maps, :people, @epidemic_fields), box: World.info(maps).box}

      [native, elixir, from_maps] =
        for {backend, state} <- [native: given, interpreted: given, interpreted: state] do
          Epidemic
          |> World.new(state, backend: backend, seed: 9)
          |> World.step(steps: 40, dt: 0.1, params: @params)
        end

      assert World.column(native, :people, :status) == World.column(elixir, :people, :status)
      assert_agree(World.to_state(native).people, World.to_state(elixir).people, 1.0e-12)

      assert columns(elixir, :people, @epidemic_fields) ==
               columns(from_maps, :people, @epidemic_fields)
    end

    test "lifecycle: native == pure Elixir from columns" do
      maps = World.new(Cells, LifecycleSystems.cells(40, 5), backend: :interpreted)
      given = %{cells: columns(maps, :cells, @cells_fields)}

      [native, elixir] =
        for backend <- @backends do
          Cells |> World.new(given, backend: backend, seed: 4) |> World.step(steps: 8, dt: 0.1)
        end

      assert World.counts(native) == World.counts(elixir)
      assert_agree(World.to_state(native), World.to_state(elixir), 1.0e-12)
    end

    test "put_column wraps coordinates into a periodic box on both backends" do
      state = FieldTypeSystems.people(10, 2)

      [native, elixir] =
        for backend <- @backends do
          world = World.new(Epidemic, state, backend: backend)

          shifted =
            for <<x::float-native-64 <- World.column(world, :people, :position)>>,
              into: <<>>,
              do: <<x + 25.0::float-native-64>>

          world = World.put_column(world, :people, :position, shifted)

          {World.column(world, :people, :position),
           World.column(world, :people, :position, unwrapped: true), shifted}
        end

      assert native == elixir
      {wrapped, unwrapped, shifted} = native

      assert Enum.zip(floats(unwrapped), floats(shifted))
             |> Enum.all?(fn {a, b} -> abs(a - b) < 1.0e-9 end)

      # Periodic on x and y only.
      for [x, y, z] <- Enum.chunk_every(floats(wrapped), 3) do
        assert x >= 0.0 and x < 20.0 and y >= 0.0 and y < 20.0 and z == 25.0
      end
    end
  end

  describe "bad columns" do
    setup do
      maps = World.new(Epidemic, FieldTypeSystems.people(4, 1), backend: :interpreted)
      %{given: columns(maps, :people, @epidemic_fields), box: World.info(maps).box}
    end

    test "World.new: the same ArgumentError on both backends", %{given: given, box: box} do
      nan = <<0, 0, 0, 0, 0, 0, 0xF8, 0x7F>>
      three = <<3.0::float-native-64>>

      cases = [
        {%{given | position: binary_part(given.position, 0, 88)},
         "state.people.position: 88 bytes is not a whole number of agents (24 bytes each)"},
        {%{given | vaccinated: <<0.0::float-native-64>>},
         "state.people.vaccinated: expected 32 bytes (4 agents, as state.people.position), got 8"},
        {%{given | status: [1, 2]}, "state.people.status must be a binary (a packed column)"},
        {Map.put(given, :colour, <<>>), "state.people has no field :colour"},
        {Map.delete(given, :position), "state.people is missing field :position"},
        {%{given | exposure: nan <> binary_part(given.exposure, 8, 24)},
         "state.people[0].exposure is not a finite number"},
        {%{
           given
           | status: binary_part(given.status, 0, 16) <> three <> binary_part(given.status, 24, 8)
         }, "state.people[2].status is not one of its enum's codes (0..2)"},
        {%{given | vaccinated: binary_part(given.vaccinated, 0, 24) <> <<0.5::float-native-64>>},
         "state.people[3].vaccinated must be 0 or 1 (false or true)"}
      ]

      for {people, want} <- cases, backend <- @backends do
        assert message(fn ->
                 World.new(Epidemic, %{people: people, box: box}, backend: backend)
               end) == want,
               "#{backend}: #{want}"
      end
    end

    test "an int that is not integral or out of range" do
      for backend <- @backends do
        world = World.new(Cells, LifecycleSystems.cells(3, 1), backend: backend)
        age = fn x -> <<0.0::float-native-64, x::float-native-64, 1.0::float-native-64>> end

        assert message(fn -> World.put_column(world, :cells, :age, age.(1.5)) end) ==
                 "cells[1].age must be an integer"

        assert message(fn -> World.put_column(world, :cells, :age, age.(1.0e17)) end) ==
                 "cells[1].age is out of range"
      end
    end

    test "put_column: sizes, kinds, names; the world stays as it was and its handle live" do
      for backend <- @backends do
        world = World.new(Epidemic, FieldTypeSystems.people(4, 1), backend: backend)
        before = World.column(world, :people, :status)
        bad = binary_part(before, 0, 24) <> <<7.0::float-native-64>>

        assert message(fn -> World.put_column(world, :people, :status, bad) end) ==
                 "people[3].status is not one of its enum's codes (0..2)"

        assert message(fn ->
                 World.put_column(world, :people, :position, <<1.0::float-native-64>>)
               end) ==
                 "people.position: expected 96 bytes (4 agents x 24 bytes), got 8"

        assert message(fn -> World.put_column(world, :people, :position, :nope) end) ==
                 "people.position must be a binary (a packed column)"

        assert message(fn -> World.put_column(world, :persons, :position, <<>>) end) =~
                 "unknown collection :persons"

        assert message(fn -> World.put_column(world, :people, :colour, <<>>) end) ==
                 "Person has no field :colour"

        assert World.column(world, :people, :status) == before
        new = World.put_column(world, :people, :status, before)

        assert message(fn -> World.column(world, :people, :status) end) =~
                 "this world was stepped"

        assert message(fn -> World.put_column(world, :people, :status, before) end) =~
                 "this world was stepped"

        assert World.column(new, :people, :status) == before
      end
    end

    test "the NIF checks its arguments" do
      alias BrokenRecord.Zero.NIF
      world = World.new(Epidemic, FieldTypeSystems.people(2, 1), backend: :native)
      ref = world.ref

      assert_raise ArgumentError, ~r/type_index out of range/, fn ->
        NIF.world_put_column(ref, 5, 0, 3, <<>>)
      end

      assert_raise ArgumentError, ~r/one field/, fn ->
        NIF.world_put_column(ref, 0, 1, 1, <<>>)
      end

      assert_raise ArgumentError, ~r/must be a binary/, fn ->
        NIF.world_put_column(ref, 0, 0, 3, 1.0)
      end

      assert_raise ArgumentError, ~r/expected 48 bytes/, fn ->
        NIF.world_put_column(ref, 0, 0, 3, <<>>)
      end

      assert_raise ArgumentError, ~r/identities: expected 8 bytes/, fn ->
        NIF.world_put_identities(ref, 0, <<>>, 2, nil)
      end

      assert_raise ArgumentError, ~r/images/, fn ->
        NIF.world_put_identities(ref, 0, <<0::32, 1::native-32>>, 2, nil)
      end

      assert_raise ArgumentError, ~r/distinct/, fn ->
        NIF.world_put_identities(ref, 0, <<1::native-32, 1::native-32>>, 2, <<0::size(48 * 8)>>)
      end

      assert_raise ArgumentError, ~r/next identity/, fn ->
        NIF.world_put_identities(ref, 0, <<0::64>>, 1, <<0::size(48 * 8)>>)
      end

      assert {<<0::native-32, 1::native-32>>, 2, images} = NIF.world_identities(ref, 0)
      assert byte_size(images) == 48
    end
  end
end
