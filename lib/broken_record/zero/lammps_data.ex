defmodule BrokenRecord.Zero.LammpsData do
  @moduledoc """
  Data in from LAMMPS: the data files of `write_data` (`atom_style atomic`), so that a system
  can start from exactly the atoms and velocities LAMMPS made (its lattices and its `velocity
  create` streams), for example to compare energies and thermo output with LAMMPS
  (docs/io.md).
  """

  @doc """
  Reads a data file of `atom_style atomic` (as `write_data` writes it): `{:ok, %{box: {{xlo,
  ylo, zlo}, {xhi, yhi, zhi}}, atoms: [%{id: id, position: {x, y, z}, velocity: {vx, vy,
  vz}}]}}`, the atoms sorted by id (velocities zero where the file has no Velocities
  section), ready for `BrokenRecord.Zero.World.new/3` once the system's other fields are
  added; `{:error, reason}` when the file has no box or no atoms.
  """
  @spec read(Path.t()) :: {:ok, map} | {:error, String.t()}
  def read(path) do
    case File.read(path) do
      {:ok, text} -> parse(path, text |> String.split("\n") |> Enum.map(&String.split/1))
      {:error, reason} -> {:error, "#{path}: #{:file.format_error(reason)}"}
    end
  end

  defp parse(path, lines) do
    bounds =
      for [lo, hi, axis_lo, _axis_hi] <- lines,
          axis_lo in ~w(xlo ylo zlo),
          into: %{},
          do: {axis_lo, {number(lo), number(hi)}}

    positions =
      for [id, _type, x, y, z | _image] <- section(lines, "Atoms"),
          do: {String.to_integer(id), {number(x), number(y), number(z)}}

    velocities =
      for [id, x, y, z] <- section(lines, "Velocities"),
          into: %{},
          do: {String.to_integer(id), {number(x), number(y), number(z)}}

    case Enum.map(~w(xlo ylo zlo), &bounds[&1]) do
      [{xlo, xhi}, {ylo, yhi}, {zlo, zhi}] when positions != [] ->
        atoms =
          positions
          |> Enum.sort()
          |> Enum.map(fn {id, position} ->
            %{id: id, position: position, velocity: Map.get(velocities, id, {0.0, 0.0, 0.0})}
          end)

        {:ok, %{box: {{xlo, ylo, zlo}, {xhi, yhi, zhi}}, atoms: atoms}}

      _ ->
        {:error, "#{path}: no box or no atoms"}
    end
  end

  # The lines of a section ("Atoms # atomic", "Velocities"): from its header to the next
  # header (a line that does not start with a number), blank lines dropped.
  defp section(lines, name) do
    lines
    |> Enum.drop_while(&(List.first(&1) != name))
    |> Enum.drop(1)
    |> Enum.reject(&(&1 == []))
    |> Enum.take_while(fn [first | _] -> Integer.parse(first) != :error end)
  end

  # LAMMPS prints integers without a decimal point ("0", "1"); everything is read as a float.
  defp number(text) do
    case Float.parse(text) do
      {x, ""} -> x
      _ -> raise ArgumentError, "not a number in a LAMMPS data file: #{inspect(text)}"
    end
  end
end
