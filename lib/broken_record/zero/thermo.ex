defmodule BrokenRecord.Zero.Thermo do
  @moduledoc """
  Samples of a run as a LAMMPS-like thermo table.

  A sample is `%{step: s, time: t, values: %{name => number | {x, y, z}}}` (what a world's
  observables give); `time` may be left out unless a `:time` column is asked for. The table has
  one line per sample, a header line first:

      iex> alias BrokenRecord.Zero.Thermo
      iex> samples = [
      ...>   %{step: 0, time: 0.0, values: %{temperature: 1.5, pe: -6.7733681, kinetic_energy: 2.2488}},
      ...>   %{step: 100, time: 0.5, values: %{temperature: 0.75, pe: -5.6488, kinetic_energy: 1.1244}}
      ...> ]
      iex> Thermo.format(samples) |> String.split("\\n")
      ["      Step           Temp         E_pair         KinEng         TotEng",
       "         0            1.5     -6.7733681         2.2488     -4.5245681",
       "       100           0.75        -5.6488         1.1244        -4.5244",
       ""]
      iex> Thermo.format(samples, columns: [:step, :time, :kinetic_energy])
      "      Step           Time         KinEng\\n         0              0         2.2488\\n       100            0.5         1.1244\\n"

  ## Columns

  `Step` comes first, then the values: the known ones under their LAMMPS names and in LAMMPS
  order, `:temperature` as `Temp`, `:pe` or `:potential_energy` as `E_pair`, `:kinetic_energy` as
  `KinEng`, `:total_energy` as `TotEng` (the sum of the potential and the kinetic energy when a
  sample has both and no `:total_energy` of its own), `:pressure` as `Press`; then the others,
  by name, in name order. A vec3 value `name` is three columns `name[1] name[2] name[3]` (as
  LAMMPS names the elements of a vector). The sample's time is the column `:time` (`Time`),
  shown only when asked for.

  The option `columns: [name, ...]` chooses and orders the columns (`:step`, `:time`,
  `:total_energy` and the names of the values). Without it the first sample sets the columns;
  a later sample that lacks one of them is an `ArgumentError` naming the column and the step.

  Numbers are right-aligned in columns 14 wide (`Step` 10, wider for a longer name), integers
  as they are and floats as C's `%.8g` (eight significant digits, trailing zeros dropped, an
  exponent outside `1e-4 .. 1e8`).
  """

  alias BrokenRecord.Zero.Options

  @typedoc "A sample: the step, the simulated time and the values."
  @type sample :: %{
          required(:step) => non_neg_integer,
          optional(:time) => number,
          required(:values) => %{atom => number | {number, number, number}}
        }

  @names %{
    step: "Step",
    time: "Time",
    temperature: "Temp",
    pe: "E_pair",
    potential_energy: "E_pair",
    kinetic_energy: "KinEng",
    total_energy: "TotEng",
    pressure: "Press"
  }
  @known [:temperature, :pe, :potential_energy, :kinetic_energy, :total_energy, :pressure]

  @doc """
  The thermo table of `samples` (an enumerable), as one string of lines each ending with a
  newline; `""` when there are no samples. Options: `columns:` (see the module doc).
  """
  @spec format(Enumerable.t(), keyword) :: String.t()
  def format(samples, opts \\ []), do: samples |> stream(opts) |> Enum.join()

  @doc """
  The thermo table of `samples` (an enumerable, possibly endless) as a lazy stream of lines,
  each ending with a newline: the header, with the first sample, then one line per sample.

      iex> alias BrokenRecord.Zero.Thermo
      iex> Stream.iterate(0, &(&1 + 10))
      ...> |> Stream.map(&%{step: &1, values: %{temperature: &1 / 4}})
      ...> |> Thermo.stream()
      ...> |> Enum.take(3)
      ["      Step           Temp\\n", "         0              0\\n", "        10            2.5\\n"]
  """
  @spec stream(Enumerable.t(), keyword) :: Enumerable.t()
  def stream(samples, opts \\ []) do
    columns = columns_option!(opts)

    Stream.transform(samples, columns, fn sample, state ->
      sample!(sample)

      case state do
        {:started, layout} ->
          {[row(layout, sample)], {:started, layout}}

        columns ->
          # The first sample sets the columns (unless given) and which of them are vec3.
          layout = Enum.map(columns || default_columns(sample.values), &{&1, kind(&1, sample)})
          {[header(layout), row(layout, sample)], {:started, layout}}
      end
    end)
  end

  @doc """
  A number as C's `%.8g` formats it: eight significant digits, trailing zeros dropped, the
  exponent form when the exponent is below -4 or at least 8. Integers are written as they are.

      iex> alias BrokenRecord.Zero.Thermo
      iex> Enum.map([1.0, -6.77336812, 0.5, 1.0e-5, 123456789.0, 2.5e-300, 0.0, 42], &Thermo.number/1)
      ["1", "-6.7733681", "0.5", "1e-05", "1.2345679e+08", "2.5e-300", "0", "42"]
  """
  @spec number(number) :: String.t()
  def number(n) when is_integer(n), do: Integer.to_string(n)

  def number(x) when is_float(x) do
    [mantissa, exponent] = x |> :erlang.float_to_binary(scientific: 7) |> String.split("e")
    exp = String.to_integer(exponent)

    if exp < -4 or exp >= 8 do
      sign = if exp < 0, do: "-", else: "+"
      digits = exp |> abs() |> Integer.to_string() |> String.pad_leading(2, "0")
      trim_zeros(mantissa) <> "e" <> sign <> digits
    else
      x |> :erlang.float_to_binary(decimals: 7 - exp) |> trim_zeros()
    end
  end

  # "1.5000" -> "1.5", "2.000" -> "2", "-0.000" -> "-0" (as %g).
  defp trim_zeros(text) do
    if String.contains?(text, "."),
      do: text |> String.trim_trailing("0") |> String.trim_trailing("."),
      else: text
  end

  defp columns_option!(opts) do
    Options.keyword!(opts)

    case Keyword.pop(opts, :columns) do
      {nil, []} ->
        nil

      {[_ | _] = columns, []} ->
        if not List.improper?(columns) and Enum.all?(columns, &is_atom/1),
          do: columns,
          else: invalid_columns!(columns)

      {columns, []} ->
        invalid_columns!(columns)

      {_, [{key, _} | _]} ->
        raise ArgumentError, "unknown option #{inspect(key)}; known options: :columns"
    end
  end

  defp invalid_columns!(columns) do
    raise ArgumentError,
          "invalid option columns: #{inspect(columns)}; expected a non-empty list of names"
  end

  defp sample!(%{step: step, values: values})
       when is_integer(step) and step >= 0 and is_map(values),
       do: :ok

  defp sample!(other) do
    raise ArgumentError,
          "invalid sample #{inspect(other)}; expected %{step: non-negative integer, " <>
            "values: map}"
  end

  defp default_columns(values) do
    known = Enum.filter(@known, &Map.has_key?(values, &1))

    total = if :total_energy not in known and energies?(values), do: [:total_energy], else: []

    # TotEng sits after KinEng, as in LAMMPS' default thermo output.
    {before, rest} = Enum.split_while(known, &(&1 != :pressure))
    others = values |> Map.keys() |> Enum.reject(&(&1 in @known)) |> Enum.sort()
    [:step] ++ before ++ total ++ rest ++ others
  end

  defp energies?(values),
    do:
      Map.has_key?(values, :kinetic_energy) and
        (Map.has_key?(values, :pe) or Map.has_key?(values, :potential_energy))

  defp kind(column, sample) do
    case cell!(column, sample) do
      {_, _, _} -> :vec3
      _ -> :number
    end
  end

  defp header(layout) do
    layout
    |> Enum.flat_map(fn
      {column, :number} -> [{title(column), width(title(column))}]
      {column, :vec3} -> for k <- 1..3, do: {"#{title(column)}[#{k}]", width("")}
    end)
    |> Enum.map(fn {text, width} -> {text, max(width, String.length(text))} end)
    |> line()
  end

  defp title(column), do: Map.get(@names, column, Atom.to_string(column))

  # LAMMPS' widths: 10 for the step, 14 for a value (wider for a longer title).
  defp width("Step"), do: 10
  defp width(_title), do: 14

  defp row(layout, sample) do
    layout
    |> Enum.flat_map(fn {column, kind} ->
      case {kind, cell!(column, sample)} do
        {:vec3, {x, y, z}} ->
          title = title(column)
          for {v, k} <- Enum.with_index([x, y, z], 1), do: {number(v), "#{title}[#{k}]"}

        {:number, n} when is_number(n) ->
          [{number(n), title(column)}]

        {_, other} ->
          raise ArgumentError,
                "value #{inspect(column)} at step #{sample.step} is #{inspect(other)}, but " <>
                  "the first sample's was a #{if kind == :vec3, do: "vec3", else: "number"}"
      end
    end)
    |> Enum.map(fn {text, title} -> {text, max(width(title), String.length(title))} end)
    |> line()
  end

  defp line(cells) do
    [Enum.map_join(cells, " ", fn {text, width} -> String.pad_leading(text, width) end), "\n"]
    |> IO.iodata_to_binary()
  end

  defp cell!(:step, sample), do: sample.step

  defp cell!(:time, sample) do
    case sample do
      %{time: time} when is_number(time) -> time
      _ -> missing!(:time, sample)
    end
  end

  defp cell!(:total_energy, %{values: values} = sample) do
    case values do
      %{total_energy: total} ->
        value!(:total_energy, total, sample)

      %{kinetic_energy: ke, pe: pe} ->
        number!(:kinetic_energy, ke, sample) + number!(:pe, pe, sample)

      %{kinetic_energy: ke, potential_energy: pe} ->
        number!(:kinetic_energy, ke, sample) + number!(:potential_energy, pe, sample)

      _ ->
        missing!(:total_energy, sample)
    end
  end

  defp cell!(column, %{values: values} = sample) do
    case Map.fetch(values, column) do
      {:ok, value} -> value!(column, value, sample)
      :error -> missing!(column, sample)
    end
  end

  defp value!(_column, n, _sample) when is_number(n), do: n

  defp value!(_column, {x, y, z} = v, _sample)
       when is_number(x) and is_number(y) and is_number(z),
       do: v

  defp value!(column, other, sample) do
    raise ArgumentError,
          "invalid value #{inspect(column)} at step #{sample.step}: #{inspect(other)}; " <>
            "expected a number or {x, y, z}"
  end

  defp number!(_column, n, _sample) when is_number(n), do: n

  defp number!(column, other, sample) do
    raise ArgumentError,
          "invalid value #{inspect(column)} at step #{sample.step}: #{inspect(other)}; " <>
            "expected a number"
  end

  defp missing!(column, sample) do
    raise ArgumentError,
          "the sample at step #{sample.step} has no #{inspect(column)} (column #{title(column)})"
  end
end
