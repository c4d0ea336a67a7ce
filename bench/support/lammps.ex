defmodule Bench.Lammps do
  @moduledoc """
  Runs LAMMPS for the LJ scenarios and the FENE bead-spring melt, when `lmp` and `mpirun` are
  on PATH (Debian packages `lammps`, `openmpi-bin`; the melt's data file is in
  `lammps-examples`), and reads what it prints and writes:

    * `run/4`: one input in a directory, on 1 rank (plain `lmp`) or on `n` ranks
      (`mpirun --allow-run-as-root -np n lmp`, with OMP_NUM_THREADS=1 and
      OMPI_MCA_btl_vader_single_copy_mechanism=none); returns the loop time ("Loop time of
      X"), the average times of the "MPI task timing breakdown" (Pair, Bond, Neigh, Comm, Output,
      Modify, Other) and the thermo rows (the columns of `thermo_style custom` among step,
      temp, pe, epair, ebond, ke, etotal, press).
    * `fene/2`: LAMMPS's FENE bead-spring benchmark (`examples/COUPLE/multiple/in.chain` on
      its `data.chain`) as an NVE input, or with its Langevin thermostat, written by
      `fene_input/2` and run by `run/4`.

  The data files `write_data` writes are read by `BrokenRecord.Zero.LammpsData.read/1`.

  The scenarios (Bench.Scenarios.LJLiquid, Bench.Scenarios.LJCluster) write the inputs.
  """

  @sections ~w(Pair Bond Neigh Comm Output Modify Other)

  # LAMMPS's thermo column headers and the keys of the rows run/4 returns.
  @columns %{
    "Step" => :step,
    "Temp" => :temp,
    "PotEng" => :pe,
    "E_pair" => :epair,
    "E_bond" => :ebond,
    "KinEng" => :ke,
    "TotEng" => :etotal,
    "Press" => :press
  }

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
  `:bond` where there are bonds, `:neigh`, `:comm`, `:output`, `:modify`, `:other`; empty for
  an input without a run) and `thermo` the rows in order, keyed by the input's `thermo_style
  custom` columns (`%{step, temp, pe, ke, etotal}` for the LJ scenarios); `{:error, reason}` otherwise.
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

  @doc "LAMMPS's FENE bead-spring melt: 32,000 atoms in chains of 100 (Debian `lammps-examples`)."
  @spec chain_data() :: String.t()
  def chain_data, do: "/usr/share/lammps/examples/COUPLE/multiple/data.chain"

  @doc """
  The input of the FENE bead-spring benchmark, in.chain's settings on the data file `data`
  (`read_data`): `atom_style bond`, `special_bonds fene` (bonded 1-2 pairs have no pair
  interaction), `bond_style fene` with `bond_coeff 1 30.0 1.5 1.0 1.0` (K, R0, epsilon,
  sigma), WCA pairs (`pair_style lj/cut 1.12`, `pair_modify shift yes`), `neighbor 0.4 bin`,
  `neigh_modify every 1 delay 1`, `fix nve`, `timestep 0.012`. Options: `:steps` (100), the
  `run`; `:thermo` (100), the thermo interval; `:langevin` (false), in.chain's `fix 2 all
  langevin 1.0 1.0 1.0 904297` (T = 1.0) kept, for timing (its noise differs between rank
  counts). The thermo rows are `step temp epair ebond ke etotal press`, totals (`norm no`),
  printed with 17 significant digits so that they compare within 1e-9 relative.
  """
  @spec fene_input(Path.t(), keyword) :: String.t()
  def fene_input(data, opts \\ []) do
    langevin =
      if Keyword.get(opts, :langevin, false),
        do: "fix             2 all langevin 1.0 1.0 1.0 904297\n",
        else: ""

    """
    units           lj
    atom_style      bond
    special_bonds   fene
    read_data       #{data}
    neighbor        0.4 bin
    neigh_modify    every 1 delay 1
    bond_style      fene
    bond_coeff      1 30.0 1.5 1.0 1.0
    pair_style      lj/cut 1.12
    pair_modify     shift yes
    pair_coeff      1 1 1.0 1.0 1.12
    fix             1 all nve
    #{langevin}thermo_style    custom step temp epair ebond ke etotal press
    thermo_modify   norm no format float %.17g
    thermo          #{Keyword.get(opts, :thermo, 100)}
    timestep        0.012
    run             #{Keyword.get(opts, :steps, 100)}
    """
  end

  @doc """
  Runs the FENE bead-spring benchmark (`fene_input/2` with `opts`, on `:data`, default
  `chain_data/0`) in `dir` on `:ranks` ranks (1): `run/4`'s result, its thermo rows `%{step,
  temp, epair, ebond, ke, etotal, press}` from step 0 every `:thermo` steps.

  The energies are LAMMPS's (src/MOLECULE/bond_fene.cpp, src/pair_lj_cut.cpp), per bond at
  distance r:

      rlogarg = 1 - r^2 / R0^2, taken as 0.1 when under 0.1 (the warning "FENE bond too
                long"; at or under -3 LAMMPS stops with "Bad FENE bond")
      E_bond  = -0.5 K R0^2 ln(rlogarg)
                + 4 eps ((sigma/r)^12 - (sigma/r)^6) + eps   when r^2 < 2^(1/3) sigma^2

  so `ebond` includes the WCA part of the bond; per non-bonded pair with r^2 < rc^2, rc = 1.12:

      E_pair  = 4 eps ((sigma/r)^12 - (sigma/r)^6) - 4 eps ((sigma/rc)^12 - (sigma/rc)^6)

  where the shift subtracted, the LJ energy at rc = 1.12 (just under 2^(1/6) = 1.1225), is
  -0.99982411292772... (so a pair at the cutoff has energy 0). `BrokenRecord.Zero.FeneReference` (test/support) computes both sums in Elixir.
  """
  @spec fene(String.t(), keyword) :: {:ok, map} | {:error, String.t()}
  def fene(dir, opts \\ []) do
    data = Path.expand(Keyword.get(opts, :data, chain_data()))
    File.write!(Path.join(dir, "in.fene"), fene_input(data, opts))
    run(dir, "in.fene", Keyword.get(opts, :ranks, 1))
  end

  # The thermo header ("Step Temp PotEng KinEng TotEng", "Step Temp E_pair E_bond ...") and the
  # rows under it up to "Loop time", as maps keyed by @columns; lines between the rows that are
  # not rows (warnings) are skipped.
  defp thermo(out) do
    lines = out |> String.split("\n") |> Enum.map(&String.split/1)

    case Enum.drop_while(lines, &(List.first(&1) != "Step")) do
      [header | rows] ->
        keys = Enum.map(header, &Map.fetch!(@columns, &1))

        for row <- Enum.take_while(rows, &(List.first(&1) != "Loop")),
            length(row) == length(keys),
            Integer.parse(hd(row)) != :error do
          keys
          |> Enum.zip(row)
          |> Map.new(fn
            {:step, text} -> {:step, String.to_integer(text)}
            {key, text} -> {key, number(text)}
          end)
        end

      [] ->
        []
    end
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
