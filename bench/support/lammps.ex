defmodule Bench.Lammps do
  @moduledoc """
  Runs LAMMPS for the LJ scenarios, when `lmp` and `mpirun` are on PATH (Debian packages
  `lammps`, `openmpi-bin`), and reads what it prints and writes:

    * `run/4`: one input in a directory, on 1 rank (plain `lmp`) or on `n` ranks
      (`mpirun --allow-run-as-root -np n lmp`, with OMP_NUM_THREADS=1 and
      OMPI_MCA_btl_vader_single_copy_mechanism=none); returns the loop time ("Loop time of
      X"), the average times of the "MPI task timing breakdown" (Pair, Neigh, Comm, Output,
      Modify, Other) and the thermo rows of `thermo_style custom step temp pe ke etotal`.

  The data files `write_data` writes are read by `BrokenRecord.Zero.LammpsData.read/1`.

  The scenarios (Bench.Scenarios.LJLiquid, Bench.Scenarios.LJCluster) write the inputs.
  """

  @sections ~w(Pair Neigh Comm Output Modify Other)

  @doc "Why LAMMPS cannot run here (an executable missing), or nil."
  @spec missing() :: String.t() | nil
  def missing do
    case Enum.reject(["lmp", "mpirun"], &System.find_executable/1) do
      [] -> nil
      names -> "#{Enum.join(names, "/")} not on PATH"
    end
  end

  @doc "A new empty directory for one scenario's LAMMPS files."
  @spec tmp_dir(String.t()) :: String.t()
  def tmp_dir(name) do
    dir = Path.join(System.tmp_dir!(), "brz_bench_#{name}_#{System.unique_integer([:positive])}")
    File.mkdir_p!(dir)
    dir
  end

  @doc """
  Runs the input file `input` (in `dir`) on `ranks` MPI ranks. `{:ok, %{loop, breakdown,
  thermo}}`: the loop time in seconds, `breakdown` the average seconds per section (`:pair`,
  `:neigh`, `:comm`, `:output`, `:modify`, `:other`; empty for an input without a run) and
  `thermo` the rows `%{step, temp, pe, ke, etotal}` in order; `{:error, reason}` otherwise.
  """
  @spec run(String.t(), String.t(), pos_integer, keyword) :: {:ok, map} | {:error, String.t()}
  def run(dir, input, ranks, opts \\ []) do
    lmp = System.find_executable("lmp")
    lmp_args = ["-in", input, "-log", "log.lammps"]

    {cmd, args, env} =
      if ranks == 1,
        do: {lmp, lmp_args, []},
        else:
          {System.find_executable("mpirun"),
           ["--allow-run-as-root", "-np", Integer.to_string(ranks), lmp | lmp_args],
           [{"OMP_NUM_THREADS", "1"}, {"OMPI_MCA_btl_vader_single_copy_mechanism", "none"}]}

    {out, status} = System.cmd(cmd, args, cd: dir, stderr_to_stdout: true, env: env)

    cond do
      status != 0 ->
        {:error, "LAMMPS failed (exit #{status}): " <> String.slice(out, -300, 300)}

      Keyword.get(opts, :run?, true) == false ->
        {:ok, %{loop: nil, breakdown: %{}, thermo: []}}

      true ->
        with [_, loop] <- Regex.run(~r/Loop time of ([0-9.eE+-]+) on/, out),
             {loop, ""} <- Float.parse(loop),
             [_ | _] = thermo <- thermo(out) do
          {:ok, %{loop: loop, breakdown: breakdown(out), thermo: thermo}}
        else
          _ -> {:error, "LAMMPS output not understood: " <> String.slice(out, -300, 300)}
        end
    end
  end

  # "Step Temp PotEng KinEng TotEng" and the rows under it, up to "Loop time".
  defp thermo(out) do
    out
    |> String.split("\n")
    |> Enum.drop_while(&(String.split(&1) != ~w(Step Temp PotEng KinEng TotEng)))
    |> Enum.drop(1)
    |> Enum.take_while(&(not String.starts_with?(&1, "Loop time")))
    |> Enum.map(&String.split/1)
    |> Enum.filter(&(length(&1) == 5))
    |> Enum.map(fn [step | values] ->
      [temp, pe, ke, etotal] = Enum.map(values, &number/1)
      %{step: String.to_integer(step), temp: temp, pe: pe, ke: ke, etotal: etotal}
    end)
  end

  # "Pair    | 1.6113     | 1.6113     | 1.6113     |   0.0 | 77.75": the avg column.
  defp breakdown(out) do
    for line <- String.split(out, "\n"),
        [name, _min, avg | _] <- [line |> String.split("|") |> Enum.map(&String.trim/1)],
        name in @sections,
        into: %{},
        do: {name |> String.downcase() |> String.to_atom(), number(avg)}
  end

  # LAMMPS prints integers without a decimal point ("0", "1"); everything is read as a float.
  defp number(text) do
    {x, ""} = Float.parse(text)
    x
  end
end
