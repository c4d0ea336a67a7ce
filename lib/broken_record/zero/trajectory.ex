defmodule BrokenRecord.Zero.Trajectory do
  @moduledoc """
  Writes a run's frames as a trajectory that molecular-dynamics tools read (OVITO, ASE, VMD,
  LAMMPS; `docs/io.md`): extended XYZ or a LAMMPS text dump.

      Trajectory.write(frames, "run.xyz", collection: :atoms)
      Trajectory.write(frames, "run.dump", collection: :atoms, format: :lammps_dump)

  `frames` is any enumerable of states (maps as `simulate` returns them), of
  `BrokenRecord.Zero.World`s, or of samples `%{world: world}` / `%{state: state}` with an
  optional `:step` and `:time` (see `BrokenRecord.Zero.Frame`). Frames are written one by one
  as the enumerable yields them: a lazy stream is never held in memory as a whole.

      iex> path = Path.join(System.tmp_dir!(), "brz_doctest.xyz")
      iex> state = %{atoms: [%{position: {0.0, 1.0, 2.0}, kind: :ar}], box: {4.0, 4.0, 4.0}}
      iex> BrokenRecord.Zero.Trajectory.write([state], path, collection: :atoms)
      :ok
      iex> File.read!(path)
      ~s(1\\nLattice="4.0 0 0 0 4.0 0 0 0 4.0" Properties=species:S:1:pos:R:3 step=0 pbc="T T T"\\nar 0.0 1.0 2.0\\n)
  """

  alias BrokenRecord.Zero.{Box, Frame}

  @options [:collection, :format, :fields, :species, :periodic, :position]
  @axes [:x, :y, :z]

  @doc """
  Writes `frames` to `path` and returns `:ok`.

  Options:
    * `collection:` (required) the state key of the agents to write;
    * `format:` `:xyz` (extended XYZ) or `:lammps_dump`; by default from the extension
      (`.xyz`/`.extxyz`; `.dump`/`.lammpstrj`);
    * `fields:` the fields to write (default: the position, the velocity, then every other
      field whose values are numbers, `{x, y, z}`, booleans or atoms, in alphabetical order);
    * `species:` an enum field (default: the first enum field written) or a string: the
      species column of XYZ and the type of a LAMMPS dump (the field's index + 1, else 1);
      without an enum field the species is the collection's name;
    * `periodic:` the periodic axes (default: a world's, as its system's `space` declares them;
      for a state all three when it has a box, none without);
    * `position:` the coordinate field (default `:position`).

  An unknown option, collection or field, a frame without positions or an unwritable value is
  an `ArgumentError` naming it; the file is then removed.
  """
  @spec write(Enumerable.t(), Path.t(), keyword) :: :ok
  def write(frames, path, opts) do
    opts = options!(opts, path)

    unless Enumerable.impl_for(frames),
      do: raise(ArgumentError, "frames must be an enumerable, got: #{inspect(frames, limit: 5)}")

    file = File.open!(path, [:write, :binary, :delayed_write])

    try do
      frames
      |> Stream.with_index()
      |> Enum.reduce(%{}, fn {input, ordinal}, enums ->
        frame = Frame.new!(input, opts.collection, ordinal, enums, opts.position)
        IO.binwrite(file, render(opts.format, frame, opts))
        Frame.enums(frame, enums)
      end)

      :ok = File.close(file)
    rescue
      error ->
        File.close(file)
        File.rm(path)
        reraise error, __STACKTRACE__
    end
  end

  defp options!(opts, path) do
    unless Keyword.keyword?(opts),
      do: raise(ArgumentError, "options must be a keyword list, got: #{inspect(opts)}")

    for {key, _} <- opts, key not in @options do
      raise ArgumentError,
            "unknown option #{inspect(key)}; known options: " <>
              Enum.map_join(@options, ", ", &inspect/1)
    end

    collection = Keyword.get(opts, :collection)

    unless is_atom(collection) and collection != nil,
      do: raise(ArgumentError, "option collection: (an atom) is required")

    periodic = Keyword.get(opts, :periodic)

    unless periodic == nil or (is_list(periodic) and Enum.all?(periodic, &(&1 in @axes))),
      do: raise(ArgumentError, "option periodic must be a list of :x, :y, :z")

    species = Keyword.get(opts, :species)

    unless species == nil or is_atom(species) or is_binary(species),
      do: raise(ArgumentError, "option species must be a field name or a string")

    %{
      collection: collection,
      format: format!(Keyword.get(opts, :format), path),
      fields: Keyword.get(opts, :fields),
      species: species,
      periodic: periodic,
      position: Keyword.get(opts, :position, :position)
    }
  end

  defp format!(format, _path) when format in [:xyz, :lammps_dump], do: format

  defp format!(nil, path) do
    case Path.extname(path) do
      ext when ext in [".xyz", ".extxyz"] ->
        :xyz

      ext when ext in [".dump", ".lammpstrj"] ->
        :lammps_dump

      ext ->
        raise ArgumentError,
              "option format: is required for the extension #{inspect(ext)} " <>
                "(:xyz or :lammps_dump)"
    end
  end

  defp format!(other, _path),
    do: raise(ArgumentError, "unknown format #{inspect(other)}; known: :xyz, :lammps_dump")

  # The fields of one frame and its species field (an enum field, or nil for a fixed name).
  defp layout!(frame, opts) do
    fields = Frame.fields!(frame, opts.fields, opts.position)

    {species, name} =
      case opts.species do
        nil ->
          case Enum.find(fields, &match?({:enum, _}, Frame.kind(frame, &1))) do
            nil -> {nil, Atom.to_string(opts.collection)}
            field -> {field, nil}
          end

        name when is_binary(name) ->
          {nil, name}

        field ->
          # an unknown or unwritable species field raises here, naming it
          Frame.fields!(frame, [field], opts.position)

          case Frame.kind(frame, field) do
            {:enum, _} ->
              {field, nil}

            _ when frame.count == 0 ->
              {nil, Atom.to_string(opts.collection)}

            kind ->
              raise ArgumentError,
                    "species field #{inspect(field)} of #{opts.collection} must be an enum " <>
                      "field, got a #{inspect(kind)} field"
          end
      end

    others = fields |> List.delete(opts.position) |> List.delete(species)
    %{species: species, species_name: name, others: others}
  end

  defp periodic(frame, opts) do
    cond do
      opts.periodic != nil -> opts.periodic
      frame.periodic != nil -> frame.periodic
      frame.box != nil -> @axes
      true -> []
    end
  end

  defp render(:xyz, frame, opts) do
    layout = layout!(frame, opts)
    position = opts.position

    properties =
      ["species:S:1:pos:R:3" | Enum.map(layout.others, &"#{&1}:#{xyz_type(frame, &1)}")]
      |> Enum.join(":")

    header = [
      lattice(frame),
      "Properties=",
      properties,
      if(frame.time, do: [" Time=", num(frame.time)], else: []),
      " step=",
      Integer.to_string(frame.step),
      pbc(frame, opts),
      ?\n
    ]

    rows =
      Enum.map(frame.agents, fn agent ->
        [
          species(agent, layout),
          vec(Map.fetch!(agent, position)),
          Enum.map(layout.others, &[?\s | xyz_value(Map.fetch!(agent, &1))]),
          ?\n
        ]
      end)

    [Integer.to_string(frame.count), ?\n, header, rows]
  end

  defp render(:lammps_dump, frame, opts) do
    layout = layout!(frame, opts)
    position = opts.position
    periodic = periodic(frame, opts)
    {lo, hi} = bounds(frame, position)

    flags = Enum.map_join(@axes, " ", &if(&1 in periodic, do: "pp", else: "ff"))
    lines = Enum.zip_with(Tuple.to_list(lo), Tuple.to_list(hi), &[num(&1), ?\s, num(&2), ?\n])

    columns =
      ["id type x y z" | Enum.map(layout.others, &dump_columns(frame, &1))] |> Enum.join(" ")

    ids = ids(frame)

    rows =
      frame.agents
      |> Enum.zip(ids)
      |> Enum.map(fn {agent, id} ->
        [
          Integer.to_string(id),
          ?\s,
          type(agent, frame, layout),
          vec(Map.fetch!(agent, position)),
          Enum.map(layout.others, &[?\s | dump_value(frame, &1, Map.fetch!(agent, &1))]),
          ?\n
        ]
      end)

    [
      "ITEM: TIMESTEP\n",
      Integer.to_string(frame.step),
      "\nITEM: NUMBER OF ATOMS\n",
      Integer.to_string(frame.count),
      "\nITEM: BOX BOUNDS ",
      flags,
      ?\n,
      lines,
      "ITEM: ATOMS ",
      columns,
      ?\n,
      rows
    ]
  end

  defp lattice(%Frame{box: nil}), do: []

  defp lattice(%Frame{box: box, box_corners?: corners?}) do
    {lx, ly, lz} = Box.edges(box)
    {xl, yl, zl} = box.lo
    lattice = ["Lattice=\"", Enum.map_join([lx, 0, 0, 0, ly, 0, 0, 0, lz], " ", &num/1), "\" "]

    if corners?,
      do: [lattice, "Origin=\"", Enum.map_join([xl, yl, zl], " ", &num/1), "\" "],
      else: lattice
  end

  defp pbc(%Frame{box: nil}, %{periodic: nil}), do: []

  defp pbc(frame, opts) do
    periodic = periodic(frame, opts)
    [" pbc=\"", Enum.map_join(@axes, " ", &if(&1 in periodic, do: "T", else: "F")), ?"]
  end

  defp xyz_type(frame, field) do
    case Frame.kind(frame, field) do
      :vec3 -> "R:3"
      :float -> "R:1"
      :int -> "I:1"
      :bool -> "L:1"
      {:enum, _} -> "S:1"
    end
  end

  defp xyz_value({_, _, _} = v), do: vec(v) |> tl()
  defp xyz_value(true), do: "T"
  defp xyz_value(false), do: "F"
  defp xyz_value(x) when is_atom(x), do: Atom.to_string(x)
  defp xyz_value(x), do: num(x)

  defp species(_agent, %{species: nil, species_name: name}), do: name
  defp species(agent, %{species: field}), do: Atom.to_string(Map.fetch!(agent, field))

  defp type(_agent, _frame, %{species: nil}), do: "1"

  defp type(agent, frame, %{species: field}),
    do: enum_number(frame, field, Map.fetch!(agent, field))

  defp enum_number(frame, field, value) do
    {:enum, indices} = Frame.kind(frame, field)
    Integer.to_string(Map.fetch!(indices, value) + 1)
  end

  defp dump_columns(frame, field) do
    case {field, Frame.kind(frame, field)} do
      {:velocity, :vec3} -> "vx vy vz"
      {:force, :vec3} -> "fx fy fz"
      {_, :vec3} -> Enum.map_join(@axes, " ", &"#{field}_#{&1}")
      _ -> Atom.to_string(field)
    end
  end

  defp dump_value(_frame, _field, {_, _, _} = v), do: vec(v) |> tl()
  defp dump_value(_frame, _field, true), do: "1"
  defp dump_value(_frame, _field, false), do: "0"
  defp dump_value(frame, field, x) when is_atom(x), do: enum_number(frame, field, x)
  defp dump_value(_frame, _field, x), do: num(x)

  # The agents' own positive integer `:id`s when every agent has a distinct one, else 1..n.
  defp ids(%Frame{agents: agents, count: count}) do
    ids = Enum.map(agents, &Map.get(&1, :id))

    if Enum.all?(ids, &(is_integer(&1) and &1 > 0)) and length(Enum.uniq(ids)) == count,
      do: ids,
      else: Enum.to_list(1..count//1)
  end

  # The box, or the bounding box of the positions (a unit box for an empty frame).
  defp bounds(%Frame{box: %Box{lo: lo, hi: hi}}, _position), do: {lo, hi}
  defp bounds(%Frame{count: 0}, _position), do: {{0.0, 0.0, 0.0}, {1.0, 1.0, 1.0}}

  defp bounds(%Frame{agents: agents}, position) do
    coords = Enum.map(agents, &Tuple.to_list(Map.fetch!(&1, position)))

    coords
    |> Enum.zip_with(&Enum.min_max/1)
    |> Enum.unzip()
    |> then(fn {lo, hi} -> {List.to_tuple(lo), List.to_tuple(hi)} end)
  end

  defp vec({x, y, z}), do: [?\s, num(x), ?\s, num(y), ?\s, num(z)]

  defp num(x) when is_float(x), do: :erlang.float_to_binary(x, [:short])
  defp num(x) when is_integer(x), do: Integer.to_string(x)
end
