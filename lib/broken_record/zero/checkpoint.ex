defmodule BrokenRecord.Zero.Checkpoint do
  @moduledoc """
  Checkpoint files of worlds (`BrokenRecord.Zero.World.save/2` and `load/2`, `docs/io.md`).

  A checkpoint holds everything a world steps from: its system (module name and a fingerprint
  of its program and fields), precision, step counter, seed, box, and per agent type the agent
  count, every field's column (`BrokenRecord.Zero.Columns`), the identities, the next identity
  and the image counters. Loading it and stepping gives exactly the steps the saved world would
  have run, random numbers included. Both backends write the same file for an f64 world, and
  either loads a file of either.

  Layout (integers big-endian, columns, identities and image counters native-endian, as
  `World.column/4` gives them; a byte-order mark refuses a file of a machine of the other
  byte order):

      "BRZCKPT\\n"  u16 version  u16 byte-order mark (native 1)
      u16 name length, module name  16-byte fingerprint (MD5 of the program and fields)
      u8 precision (0 f64, 1 f32)  u8 element size (8 or 4)  u32 seed  u64 step
      u8 box flag [6 f64: xlo ylo zlo xhi yhi zhi]
      u16 types, then per type:
        u64 count, each field's column in field order, count u32 identities, u64 next
        identity, u8 image flag [count * 3 i64 image counters]
      u32 CRC-32 of every byte before it
  """

  alias BrokenRecord.Zero.{Backend, Columns, World}
  alias BrokenRecord.Zero.IR.Field

  @magic "BRZCKPT\n"
  @version 1

  @doc "Writes `world` (a live handle) to `path`; see the module doc. Returns `:ok`."
  @spec save(World.t(), Path.t()) :: :ok
  def save(%World{system: system} = world, path) do
    info = World.info(world)
    precision = system.options.precision
    element = Columns.element_size(world.backend, precision)
    identities = World.__identities__(world)
    name = Atom.to_string(system.module)

    box =
      case info.box do
        nil ->
          <<0>>

        {{xl, yl, zl}, {xh, yh, zh}} ->
          <<1, xl::float-64, yl::float-64, zl::float-64, xh::float-64, yh::float-64,
            zh::float-64>>
      end

    types =
      system.agents
      |> Enum.zip(identities)
      |> Enum.map(fn {agent, {ids, next_id, images}} ->
        count = Enum.at(info.counts, agent.index)
        columns = Enum.map(agent.fields, &World.column(world, agent.collection, &1.name))
        image_part = if images, do: [1, images], else: [0]
        [<<count::64>>, columns, ids, <<next_id::64>>, image_part]
      end)

    body =
      IO.iodata_to_binary([
        @magic,
        <<@version::16, 1::native-16, byte_size(name)::16>>,
        name,
        fingerprint(system),
        <<precision_code(precision), element, info.seed::32, info.step::64>>,
        box,
        <<length(system.agents)::16>>,
        types
      ])

    File.write!(path, [body, <<:erlang.crc32(body)::32>>])
  end

  @doc """
  Loads the world of the checkpoint at `path` (options: `backend:`); see `World.load/2`.
  Raises `ArgumentError` naming the path and what is wrong.
  """
  @spec load(Path.t(), keyword) :: World.t()
  def load(path, opts) do
    backend =
      case opts do
        [] -> :auto
        [backend: backend] -> backend
        _ -> raise ArgumentError, "invalid options #{inspect(opts)}; known options: :backend"
      end
      |> Backend.resolve()

    binary =
      case File.read(path) do
        {:ok, binary} -> binary
        {:error, reason} -> bad!(path, "cannot be read (#{:file.format_error(reason)})")
      end

    body = checked_body!(path, binary)
    header = header!(path, body)
    world_of!(path, header, backend)
  end

  defp bad!(path, what), do: raise(ArgumentError, "checkpoint #{path} #{what}")

  defp checked_body!(path, binary) do
    size = byte_size(binary)

    cond do
      size == 0 ->
        bad!(path, "is empty")

      size < byte_size(@magic) or binary_part(binary, 0, byte_size(@magic)) != @magic ->
        bad!(path, "is not a BrokenRecord Zero checkpoint (no checkpoint header)")

      size < byte_size(@magic) + 4 ->
        bad!(path, "is truncated")

      true ->
        body = binary_part(binary, 0, size - 4)
        <<crc::32>> = binary_part(binary, size - 4, 4)

        if :erlang.crc32(body) != crc,
          do: bad!(path, "is corrupt or truncated (checksum mismatch)"),
          else: body
    end
  end

  defp header!(path, body) do
    case body do
      <<@magic, @version::16, 1::native-16, n::16, name::binary-size(n), print::binary-size(16),
        precision, element, seed::32, step::64, rest::binary>> ->
        {box, rest} = box!(path, rest)

        %{
          name: name,
          fingerprint: print,
          precision: precision,
          element: element,
          seed: seed,
          step: step,
          box: box,
          rest: rest
        }

      <<@magic, @version::16, _::binary>> ->
        bad!(path, "was written on a machine of the other byte order or is malformed")

      <<@magic, version::16, _::binary>> ->
        bad!(path, "has format version #{version}; this library reads version #{@version}")

      _ ->
        bad!(path, "is malformed")
    end
  end

  defp box!(_path, <<0, rest::binary>>), do: {nil, rest}

  defp box!(
         _path,
         <<1, xl::float-64, yl::float-64, zl::float-64, xh::float-64, yh::float-64, zh::float-64,
           rest::binary>>
       ),
       do: {{{xl, yl, zl}, {xh, yh, zh}}, rest}

  defp box!(path, _), do: bad!(path, "is malformed (box)")

  defp world_of!(path, header, backend) do
    module = system_module!(path, header.name)
    system = module.__system__()

    if fingerprint(system) != header.fingerprint do
      bad!(
        path,
        "was saved from a different version of #{inspect(module)}: its program or " <>
          "fields have changed since"
      )
    end

    precision =
      case header.precision do
        0 -> :f64
        1 -> :f32
        other -> bad!(path, "is malformed (precision #{other})")
      end

    unless header.element in [4, 8], do: bad!(path, "is malformed (element size)")

    {types, rest} = types!(path, system, header.element, header.rest)
    if rest != <<>>, do: bad!(path, "is malformed (#{byte_size(rest)} bytes after the agents)")

    element = Columns.element_size(backend, precision)

    state =
      system.agents
      |> Enum.zip(types)
      |> Map.new(fn {agent, type} ->
        {agent.collection,
         Map.new(type.columns, fn {f, bin} -> {f, convert(bin, header.element, element)} end)}
      end)

    state = if header.box, do: Map.put(state, :box, header.box), else: state

    try do
      module
      |> World.new(state,
        backend: backend,
        precision: precision,
        seed: header.seed,
        start_step: header.step
      )
      |> World.__put_identities__(Enum.map(types, &{&1.ids, &1.next_id, &1.images}))
    rescue
      e in ArgumentError ->
        bad!(path, "holds agents that do not fit #{inspect(module)}: " <> Exception.message(e))
    end
  end

  defp system_module!(path, name) do
    module =
      try do
        String.to_existing_atom(name)
      rescue
        ArgumentError -> bad!(path, "was saved from #{name}, which is not loaded")
      end

    if Code.ensure_loaded?(module) and function_exported?(module, :__system__, 0),
      do: module,
      else: bad!(path, "was saved from #{name}, which is not a loaded system")
  end

  defp types!(path, system, element, rest) do
    case rest do
      <<n::16, rest::binary>> when n == length(system.agents) ->
        Enum.map_reduce(system.agents, rest, &type!(path, &1, element, &2))

      _ ->
        bad!(path, "is malformed (agent types)")
    end
  end

  defp type!(path, agent, element, <<count::64, rest::binary>>) do
    {columns, rest} =
      Enum.map_reduce(agent.fields, rest, fn field, rest ->
        size = count * Field.width(field.type) * element

        case rest do
          <<column::binary-size(size), rest::binary>> -> {{field.name, column}, rest}
          _ -> bad!(path, "is malformed (#{agent.collection}.#{field.name})")
        end
      end)

    case rest do
      <<ids::binary-size(count * 4), next_id::64, 0, rest::binary>> ->
        {%{columns: columns, ids: ids, next_id: next_id, images: nil}, rest}

      <<ids::binary-size(count * 4), next_id::64, 1, images::binary-size(count * 24),
        rest::binary>> ->
        {%{columns: columns, ids: ids, next_id: next_id, images: images}, rest}

      _ ->
        bad!(path, "is malformed (#{agent.collection} identities)")
    end
  end

  defp type!(path, agent, _element, _rest),
    do: bad!(path, "is malformed (#{agent.collection})")

  defp convert(binary, same, same), do: binary

  defp convert(binary, 8, 4),
    do: for(<<x::float-native-64 <- binary>>, into: <<>>, do: <<x::float-native-32>>)

  defp convert(binary, 4, 8),
    do: for(<<x::float-native-32 <- binary>>, into: <<>>, do: <<x::float-native-64>>)

  defp precision_code(:f64), do: 0
  defp precision_code(:f32), do: 1

  # The system's program and the names and kinds of its fields: what a checkpoint's columns
  # and identities depend on.
  defp fingerprint(system) do
    fields =
      for agent <- system.agents,
          field <- agent.fields,
          do: "#{agent.collection}.#{field.name}:#{inspect(field.type)}:#{field.lane};"

    :erlang.md5([system.program_binary | fields])
  end
end
