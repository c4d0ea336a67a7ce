defmodule BrokenRecord.Zero.LammpsData do
  @moduledoc """
  Data in from LAMMPS: data files of `atom_style atomic` (as `write_data` writes them) and of
  `atom_style bond` (bead-spring polymers with their bonds, such as LAMMPS's
  `examples/COUPLE/multiple/data.chain`), so that a system can start from exactly the atoms,
  velocities and bonds LAMMPS has, for example to compare energies and thermo output with
  LAMMPS (docs/io.md).
  """

  @styles %{"atomic" => :atomic, "bond" => :bond}

  @doc """
  Reads a LAMMPS data file of `atom_style atomic` or `atom_style bond`:

      {:ok, %{style: :atomic | :bond,
              box: {{xlo, ylo, zlo}, {xhi, yhi, zhi}},
              atoms: [%{id:, type:, molecule:, position: {x, y, z}, image: {ix, iy, iz},
                        unwrapped: {x, y, z}, velocity: {vx, vy, vz}}],
              bonds: [{type, i, j}],
              masses: %{type => mass}}}

  The atoms are sorted by id. `molecule` is the molecule id (`nil` for `atomic`), `image` the
  image flags (`{0, 0, 0}` where the Atoms lines have none), `unwrapped` the position plus the
  image flags times the box lengths, `velocity` zero where the file has no Velocities section.
  A bond's `i` and `j` are 0-based indices into `atoms` (not atom ids), the bonds in the order
  of their ids; `bonds` is empty and `masses` may be empty for an `atomic` file.

  The style comes from the Atoms header (`Atoms # bond`); without one, from the number of
  columns (`id type x y z` for atomic, `id mol type x y z` for bond, each optionally followed
  by `ix iy iz`). `{:error, reason}`, the path in it, for a file that cannot be read, has no
  box or no atoms, another atom style, a line with the wrong number of columns or a value that
  is not a number, or a bond naming an atom the file does not have.
  """
  @spec read(Path.t()) :: {:ok, map} | {:error, String.t()}
  def read(path) do
    case File.read(path) do
      {:ok, text} ->
        try do
          parse(text |> String.split("\n") |> Enum.map(&String.split/1))
        catch
          {:bad_data, reason} -> {:error, "#{path}: #{reason}"}
        end

      {:error, reason} ->
        {:error, "#{path}: #{:file.format_error(reason)}"}
    end
  end

  defp parse(lines) do
    bounds =
      for [lo, hi, axis_lo, _axis_hi] <- lines,
          axis_lo in ~w(xlo ylo zlo),
          into: %{},
          do: {axis_lo, {number(lo), number(hi)}}

    {header, atom_lines} = section(lines, "Atoms")

    case Enum.map(~w(xlo ylo zlo), &bounds[&1]) do
      [{xlo, xhi}, {ylo, yhi}, {zlo, zhi}] when atom_lines != [] ->
        box = {{xlo, ylo, zlo}, {xhi, yhi, zhi}}
        style = style(header, atom_lines)
        atoms = atoms(style, atom_lines, box, velocities(lines))

        {:ok,
         %{
           style: style,
           box: box,
           atoms: atoms,
           bonds: bonds(lines, atoms),
           masses: masses(lines)
         }}

      _ ->
        throw({:bad_data, "no box or no atoms"})
    end
  end

  # "Atoms # bond" names the style; a header without a comment leaves it to the columns.
  defp style(["#", name | _], _lines) do
    Map.get(@styles, name) ||
      throw({:bad_data, "atom style #{name} is not read (atomic and bond are)"})
  end

  defp style(_header, [first | _]) do
    case length(first) do
      n when n in [5, 8] -> :atomic
      n when n in [6, 9] -> :bond
      n -> throw({:bad_data, "Atoms line #{Enum.join(first, " ")}: #{n} columns"})
    end
  end

  defp atoms(style, lines, {lo, hi}, velocities) do
    lengths = Enum.map(0..2, &(elem(hi, &1) - elem(lo, &1)))

    lines
    |> Enum.map(&atom(style, &1, lengths))
    |> Enum.sort_by(& &1.id)
    |> Enum.map(&Map.put(&1, :velocity, Map.get(velocities, &1.id, {0.0, 0.0, 0.0})))
  end

  defp atom(style, line, lengths) do
    {id, molecule, type, rest} =
      case {style, line} do
        {:atomic, [id, type | rest]} -> {integer(id), nil, integer(type), rest}
        {:bond, [id, mol, type | rest]} -> {integer(id), integer(mol), integer(type), rest}
      end

    {xyz, image} =
      case rest do
        [_, _, _] = xyz -> {xyz, [0, 0, 0]}
        [x, y, z, ix, iy, iz] -> {[x, y, z], Enum.map([ix, iy, iz], &integer/1)}
        _ -> throw({:bad_data, "Atoms line #{Enum.join(line, " ")}: not atom_style #{style}"})
      end

    xyz = Enum.map(xyz, &number/1)
    unwrapped = Enum.zip_with([xyz, image, lengths], fn [x, i, l] -> x + i * l end)

    %{
      id: id,
      type: type,
      molecule: molecule,
      position: List.to_tuple(xyz),
      image: List.to_tuple(image),
      unwrapped: List.to_tuple(unwrapped)
    }
  end

  defp velocities(lines) do
    {_, velocity_lines} = section(lines, "Velocities")

    for line <- velocity_lines, into: %{} do
      case line do
        [id, x, y, z] -> {integer(id), {number(x), number(y), number(z)}}
        _ -> throw({:bad_data, "Velocities line #{Enum.join(line, " ")}: expected id vx vy vz"})
      end
    end
  end

  defp bonds(lines, atoms) do
    index = atoms |> Enum.with_index(fn atom, i -> {atom.id, i} end) |> Map.new()
    {_, bond_lines} = section(lines, "Bonds")

    bond_lines
    |> Enum.map(fn
      [id, type, a, b] = line ->
        at = fn atom ->
          Map.get(index, integer(atom)) ||
            throw({:bad_data, "Bonds line #{Enum.join(line, " ")}: no atom #{atom}"})
        end

        {integer(id), {integer(type), at.(a), at.(b)}}

      line ->
        throw({:bad_data, "Bonds line #{Enum.join(line, " ")}: expected id type atom1 atom2"})
    end)
    |> Enum.sort()
    |> Enum.map(&elem(&1, 1))
  end

  defp masses(lines) do
    {_, mass_lines} = section(lines, "Masses")

    for line <- mass_lines, into: %{} do
      case line do
        [type, mass | _comment] -> {integer(type), number(mass)}
        _ -> throw({:bad_data, "Masses line #{Enum.join(line, " ")}: expected type mass"})
      end
    end
  end

  # A section ("Atoms # bond", "Velocities"): the words of its header after the name, and its
  # lines up to the next header (a line that does not start with a number), blank lines
  # dropped; {[], []} when the file has no such section.
  defp section(lines, name) do
    case Enum.drop_while(lines, &(List.first(&1) != name)) do
      [[_ | header] | rest] ->
        {header,
         rest
         |> Enum.reject(&(&1 == []))
         |> Enum.take_while(fn [first | _] -> Integer.parse(first) != :error end)}

      [] ->
        {[], []}
    end
  end

  # LAMMPS prints integers without a decimal point ("0", "1"); coordinates are read as floats.
  defp number(text) do
    case Float.parse(text) do
      {x, ""} -> x
      _ -> throw({:bad_data, "not a number: #{inspect(text)}"})
    end
  end

  defp integer(text) do
    case Integer.parse(text) do
      {i, ""} -> i
      _ -> throw({:bad_data, "not an integer: #{inspect(text)}"})
    end
  end
end
