defmodule BrokenRecord.Zero.CheckpointTest do
  # Checkpoints (docs/io.md, "Checkpoints"): World.save/2 and World.load/2 on both backends,
  # exact continuation (random numbers, removals and spawns), and bad files.
  use ExUnit.Case, async: true

  import BrokenRecord.Zero.TestHelpers

  alias BrokenRecord.Zero.{FieldTypeSystems, LifecycleSystems, World}
  alias BrokenRecord.Zero.FieldTypeSystems.Epidemic
  alias BrokenRecord.Zero.LifecycleSystems.{Budding, Cells}

  @backends [:native, :interpreted]
  @params %{radius: 1.5, beta: 0.8, gamma: 0.1, step: 0.05}

  @moduletag :tmp_dir

  defp snapshot(world) do
    system = world.system

    columns =
      for agent <- system.agents, field <- agent.fields do
        World.column(world, agent.collection, field.name, unwrapped: true)
      end

    info = World.info(world)
    {columns, World.__identities__(world), info.step, info.seed, info.counts, info.box}
  end

  # Bit for bit on one backend; across backends (whose floats may differ in the last bits
  # after hundreds of steps) the same agents, identities and step, floats within 1e-9.
  defp same(a, b, true), do: assert(snapshot(a) == snapshot(b))

  defp same(a, b, false) do
    {columns_a, ids_a, step_a, seed_a, counts_a, box_a} = snapshot(a)
    {columns_b, ids_b, step_b, seed_b, counts_b, box_b} = snapshot(b)
    assert {ids_a, step_a, seed_a, counts_a, box_a} == {ids_b, step_b, seed_b, counts_b, box_b}
    assert_agree(Enum.map(columns_a, &floats/1), Enum.map(columns_b, &floats/1), 1.0e-9)
  end

  defp message(fun), do: assert_raise(ArgumentError, fun).message

  # Runs `first` steps, saves, loads into `load_backend`, runs `second` steps; compares with
  # `first + second` steps in one go.
  defp continue(system, state, backend, load_backend, run, dir) do
    path = Path.join(dir, "#{backend}-#{load_backend}.brz")
    world = World.new(system, state, backend: backend, seed: 17, start_step: 3)
    straight = World.new(system, state, backend: load_backend, seed: 17, start_step: 3)
    world = run.(world)
    assert World.save(world, path) == :ok
    loaded = World.load(path, backend: load_backend)
    assert loaded.backend == load_backend
    assert World.info(loaded).step == World.info(world).step
    {run.(loaded), run.(run.(straight))}
  end

  describe "save, load, step == step" do
    for backend <- @backends, load_backend <- @backends do
      test "500 + 500 == 1000 steps with random numbers, a periodic box, enums: #{backend} saved, #{load_backend} loaded",
           %{tmp_dir: dir} do
        run = &World.step(&1, steps: 500, dt: 0.1, params: @params)
        state = FieldTypeSystems.people(20, 4)

        {resumed, straight} =
          continue(Epidemic, state, unquote(backend), unquote(load_backend), run, dir)

        same(resumed, straight, unquote(backend) == unquote(load_backend))
        assert_agree(World.to_state(resumed).people, World.to_state(straight).people, 1.0e-9)
      end

      test "removals and spawns (identities, next identities): #{backend} saved, #{load_backend} loaded",
           %{tmp_dir: dir} do
        run = &World.step(&1, steps: 6, dt: 0.1)
        state = LifecycleSystems.cells(60, 8)

        {resumed, straight} =
          continue(Cells, state, unquote(backend), unquote(load_backend), run, dir)

        same(resumed, straight, unquote(backend) == unquote(load_backend))
        {ids, next, nil} = hd(World.__identities__(resumed))
        assert next > 60 and byte_size(ids) < 4 * next
      end
    end

    test "500 + 500 == 1000 steps, native and pure Elixir, with spawns in a periodic box",
         %{tmp_dir: dir} do
      state = %{
        box: {4.0, 4.0, 4.0},
        buds:
          for(
            i <- 0..5,
            do: %{
              position: {i * 0.6, 1.0, 1.0},
              velocity: {if(i < 2, do: 0.1, else: -0.2), 0.3, 0.0}
            }
          )
      }

      # Buds with a positive x velocity spawn every step: keep those few.
      for backend <- @backends do
        run = &World.step(&1, steps: 500, dt: 0.01)
        {resumed, straight} = continue(Budding, state, backend, backend, run, dir)
        assert snapshot(resumed) == snapshot(straight)
        assert World.counts(resumed).buds > 1000
      end
    end

    test "both backends write the same file for the same f64 world", %{tmp_dir: dir} do
      for system <- [Epidemic, Cells] do
        state =
          if system == Epidemic,
            do: FieldTypeSystems.people(20, 1),
            else: LifecycleSystems.cells(20, 1)

        [native, elixir] =
          for backend <- @backends do
            path = Path.join(dir, "#{backend}.brz")
            :ok = system |> World.new(state, backend: backend, seed: 5) |> World.save(path)
            File.read!(path)
          end

        assert native == elixir
      end
    end

    test "an f32 native world loads as f32 and into the pure-Elixir backend", %{tmp_dir: dir} do
      path = Path.join(dir, "f32.brz")
      world = World.new(Cells, LifecycleSystems.cells(20, 1), backend: :native, precision: :f32)
      :ok = World.save(world, path)
      loaded = World.load(path, backend: :native)
      assert World.info(loaded).precision == :f32
      assert snapshot(loaded) == snapshot(world)
      elixir = World.load(path, backend: :interpreted)

      assert floats(World.column(elixir, :cells, :mass)) ==
               floats32(World.column(world, :cells, :mass))
    end
  end

  describe "bad files" do
    setup %{tmp_dir: dir} do
      path = Path.join(dir, "good.brz")
      :ok = Cells |> World.new(LifecycleSystems.cells(10, 1)) |> World.save(path)
      %{path: path, bytes: File.read!(path), dir: dir}
    end

    test "corrupt, truncated, empty, foreign, missing", %{bytes: bytes, dir: dir} do
      write = fn name, content ->
        path = Path.join(dir, name)
        File.write!(path, content)
        path
      end

      <<head::binary-size(100), byte, tail::binary>> = bytes
      flipped = write.("flipped.brz", [head, Bitwise.bxor(byte, 1), tail])

      assert message(fn -> World.load(flipped) end) ==
               "checkpoint #{flipped} is corrupt or truncated (checksum mismatch)"

      truncated = write.("truncated.brz", binary_part(bytes, 0, byte_size(bytes) - 9))

      assert message(fn -> World.load(truncated) end) =~
               "checkpoint #{truncated} is corrupt or truncated"

      empty = write.("empty.brz", "")
      assert message(fn -> World.load(empty) end) == "checkpoint #{empty} is empty"

      foreign = write.("foreign.brz", "ITEM: TIMESTEP\n0\n")

      assert message(fn -> World.load(foreign) end) =~
               "checkpoint #{foreign} is not a BrokenRecord Zero checkpoint"

      missing = Path.join(dir, "missing.brz")

      assert message(fn -> World.load(missing) end) =~
               "checkpoint #{missing} cannot be read (no such file"

      # A valid checksum over a changed fingerprint: a system that changed since the save.
      name = Atom.to_string(Cells)
      n = byte_size(name)

      <<pre::binary-size(14 + n), _print::binary-size(16), rest::binary>> =
        binary_part(bytes, 0, byte_size(bytes) - 4)

      body = <<pre::binary, 0::128, rest::binary>>
      changed = write.("changed.brz", [body, <<:erlang.crc32(body)::32>>])

      assert message(fn -> World.load(changed) end) =~
               "was saved from a different version of #{inspect(Cells)}"

      # A newer format version.
      <<magic::binary-size(8), _::16, rest::binary>> = binary_part(bytes, 0, byte_size(bytes) - 4)
      body = <<magic::binary, 9::16, rest::binary>>
      newer = write.("newer.brz", [body, <<:erlang.crc32(body)::32>>])

      assert message(fn -> World.load(newer) end) =~
               "has format version 9; this library reads version 1"
    end

    test "identities that do not fit the world are refused on both backends" do
      for backend <- @backends do
        world = World.new(Cells, LifecycleSystems.cells(2, 1), backend: backend)
        ids = <<0::native-32, 1::native-32>>

        for {ids, next} <- [
              {<<1::native-32, 1::native-32>>, 2},
              {ids, 1},
              {<<0::native-32, 5::native-32>>, 5},
              {binary_part(ids, 0, 6), 2},
              {ids, 0x100000001}
            ] do
          refute message(fn -> World.__put_identities__(world, [{ids, next, nil}]) end) =~
                   "stepped"
        end

        world = World.__put_identities__(world, [{<<7::native-32, 3::native-32>>, 9, nil}])
        assert World.__identities__(world) == [{<<7::native-32, 3::native-32>>, 9, nil}]
      end
    end

    test "bad options and superseded handles", %{path: path, dir: dir} do
      assert message(fn -> World.load(path, backend: :gpu) end) =~ "invalid option backend: :gpu"
      assert message(fn -> World.load(path, steps: 3) end) =~ "known options: :backend"
      world = World.new(Cells, LifecycleSystems.cells(10, 1))
      _ = World.step(world, steps: 1, dt: 0.1)

      assert message(fn -> World.save(world, Path.join(dir, "stale.brz")) end) =~
               "this world was stepped"
    end
  end
end
