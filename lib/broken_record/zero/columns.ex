defmodule BrokenRecord.Zero.Columns do
  @moduledoc """
  Packed columns: the binary layout of `BrokenRecord.Zero.World.column/4`, read back by
  `World.put_column/4` and by `World.new/3` for a collection given as a map of columns
  (`%{particles: %{position: bin, mass: bin}}`).

  A column is every agent's value of one field, agent after agent (`x0 y0 z0 x1 ...` for a
  vec3), as native-endian floats of `element_size/2` bytes: 4 for a native world of precision
  `:f32`, else 8. `:int`, `:bool` and enum fields are floats too: the integer, 0 or 1, the
  value's index in the declared list. This module checks the shape of columns for both
  backends, and decodes them for the pure-Elixir backend; the native backend decodes them in
  `c_src/nif/marshal.cpp` with the same checks and messages.
  """

  alias BrokenRecord.Zero.IR.{Agent, Field}

  # The largest integers that f64 and f32 hold exactly, with all smaller ones.
  @max_int %{f64: 9_007_199_254_740_992, f32: 16_777_216}

  @doc """
  The bytes of one float of a column of a world of `backend` (`:native | :interpreted`) at
  `precision`: 4 for a native `:f32` world, else 8 (the pure-Elixir backend holds f64).
  """
  @spec element_size(:native | :interpreted, :f64 | :f32) :: 4 | 8
  def element_size(:native, :f32), do: 4
  def element_size(_backend, _precision), do: 8

  @doc "Whether a collection of a state is given as a map of columns (not a list of agents)."
  @spec columns?(term) :: boolean
  def columns?(value), do: is_map(value) and not is_struct(value)

  @doc """
  Checks the shape of a collection given as columns (`map`: field => binary) and returns the
  number of agents its columns agree on (0 when none is given). Raises `ArgumentError` naming
  the collection and field: an unknown field, a value that is not a binary, a byte size that is
  not a whole number of agents or disagrees with the first column given (expected and given
  byte sizes), a missing field without a default.
  """
  @spec count!(Agent.t(), map, 4 | 8) :: non_neg_integer
  def count!(%Agent{collection: key, fields: fields} = agent, map, element) do
    coll = "state.#{key}"

    for {name, value} <- map do
      cond do
        not is_atom(name) ->
          raise ArgumentError,
                "#{coll} must be a list of maps or a map of columns (field atom => binary)"

        Agent.field(agent, name) == nil ->
          raise ArgumentError, "#{coll} has no field #{inspect(name)}"

        not is_binary(value) ->
          raise ArgumentError, "#{coll}.#{name} must be a binary (a packed column)"

        true ->
          :ok
      end
    end

    {n, _first} =
      Enum.reduce(fields, {0, nil}, fn %Field{name: name} = field, {n, first} ->
        case Map.fetch(map, name) do
          :error when field.default == nil ->
            raise ArgumentError, "#{coll} is missing field #{inspect(name)}"

          :error ->
            {n, first}

          {:ok, binary} ->
            per_agent = Field.width(field.type) * element
            bytes = byte_size(binary)
            where = "#{coll}.#{name}"

            cond do
              rem(bytes, per_agent) != 0 ->
                raise ArgumentError,
                      "#{where}: #{bytes} bytes is not a whole number of agents " <>
                        "(#{per_agent} bytes each)"

              first == nil ->
                {div(bytes, per_agent), name}

              div(bytes, per_agent) != n ->
                raise ArgumentError,
                      "#{where}: expected #{n * per_agent} bytes (#{n} agents, as " <>
                        "#{coll}.#{first}), got #{bytes}"

              true ->
                {n, first}
            end
        end
      end)

    n
  end

  @doc """
  Raises `ArgumentError` unless `binary` is a column of `field` for `n` agents:
  `"<collection>.<field>: expected <bytes> bytes (<n> agents x <b> bytes), got <bytes>"`.
  """
  @spec check_size!(Agent.t(), Field.t(), term, non_neg_integer, 4 | 8) :: :ok
  def check_size!(%Agent{collection: key}, %Field{name: name, type: type}, binary, n, element) do
    where = "#{key}.#{name}"

    unless is_binary(binary),
      do: raise(ArgumentError, "#{where} must be a binary (a packed column)")

    per_agent = Field.width(type) * element

    if byte_size(binary) != n * per_agent do
      raise ArgumentError,
            "#{where}: expected #{n * per_agent} bytes (#{n} agents x #{per_agent} bytes), " <>
              "got #{byte_size(binary)}"
    end

    :ok
  end

  @doc """
  The agents of a collection given as columns, as lane tuples (`BrokenRecord.Zero.State`'s
  layout), for the pure-Elixir backend (8-byte floats): fields without a column take their
  default. `precision` bounds `:int` values as `decode!/4` does. The shape must have been
  checked by `count!/3`.
  """
  @spec rows!(Agent.t(), map, :f64 | :f32) :: [tuple]
  def rows!(%Agent{collection: key, fields: fields} = agent, map, precision) do
    n = count!(agent, map, 8)

    fields
    |> Enum.flat_map(fn %Field{name: name, type: type, default: default} = field ->
      case Map.fetch(map, name) do
        {:ok, binary} -> decode!(field, binary, "state.#{key}", precision)
        :error -> Enum.map(default_lanes(type, default), &List.duplicate(&1, n))
      end
    end)
    |> zip_rows(n)
  end

  defp zip_rows(_lanes, 0), do: []
  defp zip_rows(lanes, _n), do: Enum.zip(lanes)

  defp default_lanes(:vec3, {x, y, z}), do: [x * 1.0, y * 1.0, z * 1.0]
  defp default_lanes(type, value), do: [Field.code(type, value) * 1.0]

  @doc """
  Decodes a column of `field` (8-byte floats) into one list of floats per lane, checking every
  value as the native engine does: finite, an `:int` integral and held exactly by `precision`
  (|n| <= 2^53, or 2^24 for `:f32`), a `:bool` 0 or 1, an enum an index of its values. Raises
  `ArgumentError` naming `where[agent].field`.
  """
  @spec decode!(Field.t(), binary, String.t(), :f64 | :f32) :: [[float]]
  def decode!(%Field{name: name, type: type}, binary, where, precision) do
    width = Field.width(type)
    check = checker(type, Map.fetch!(@max_int, precision))
    values = decode_values(binary, check, width, 0, 0, "#{where}", name, [])

    case width do
      1 ->
        [values]

      3 ->
        values
        |> Enum.chunk_every(3)
        |> Enum.reduce({[], [], []}, fn [x, y, z], {xs, ys, zs} ->
          {[x | xs], [y | ys], [z | zs]}
        end)
        |> then(fn {xs, ys, zs} -> [Enum.reverse(xs), Enum.reverse(ys), Enum.reverse(zs)] end)
    end
  end

  defp decode_values(<<x::float-native-64, rest::binary>>, check, width, i, k, where, name, acc) do
    case check.(x) do
      :ok -> :ok
      message -> raise ArgumentError, "#{where}[#{i}].#{name} #{message}"
    end

    {i, k} = if k + 1 == width, do: {i + 1, 0}, else: {i, k + 1}
    decode_values(rest, check, width, i, k, where, name, [x | acc])
  end

  # NaN and the infinities do not match a float segment.
  defp decode_values(<<_::binary-size(8), _::binary>>, _, _, i, _, where, name, _),
    do: raise(ArgumentError, "#{where}[#{i}].#{name} is not a finite number")

  defp decode_values(<<>>, _, _, _, _, _, _, acc), do: Enum.reverse(acc)

  defp checker(:int, max) do
    fn x ->
      cond do
        x != Float.floor(x) -> "must be an integer"
        abs(x) > max -> "is out of range"
        true -> :ok
      end
    end
  end

  defp checker({:ref, _}, max) do
    fn x ->
      cond do
        x != Float.floor(x) or x < 0 -> "must be an index (an integer >= 0)"
        x > max -> "is out of range"
        true -> :ok
      end
    end
  end

  defp checker(:bool, _max),
    do: fn x -> if x == 0.0 or x == 1.0, do: :ok, else: "must be 0 or 1 (false or true)" end

  defp checker({:enum, values}, _max) do
    count = length(values)

    fn x ->
      if x >= 0 and x < count and x == Float.floor(x),
        do: :ok,
        else: "is not one of its enum's codes (0..#{count - 1})"
    end
  end

  defp checker(_type, _max), do: fn _ -> :ok end
end
