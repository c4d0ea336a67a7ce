defmodule BrokenRecord.Zero.Probe do
  @moduledoc """
  The plumbing of the probes (`RandomProbe`, `ReductionProbe`): a probe's `main/0` runs some
  worlds and prints their columns with `print/2`; `run/2` starts it in a new `mix run` (the
  engine reads its environment variables once per OS process) and reads the columns back.
  """

  alias BrokenRecord.Zero.World

  @doc """
  Prints per line `name hex`, the bytes of each `{name, world, collection, field}` column, then
  `paths a,b` with the sorted, distinct paths of `paths`.
  """
  @spec print([{String.t(), World.t(), atom, atom}], [atom]) :: :ok
  def print(columns, paths) do
    for {name, world, collection, field} <- columns do
      IO.puts("#{name} #{Base.encode16(World.column(world, collection, field))}")
    end

    IO.puts("paths #{paths |> Enum.uniq() |> Enum.sort() |> Enum.join(",")}")
  end

  @doc """
  Runs `module.main()` in a new `mix run` with the environment `env`; returns
  `%{name => binary}` and the paths line.
  """
  @spec run(module, [{String.t(), String.t()}]) :: {%{String.t() => binary}, String.t()}
  def run(module, env) do
    {out, 0} =
      System.cmd("mix", ["run", "--no-compile", "-e", "#{inspect(module)}.main()"],
        env: [{"MIX_ENV", "test"} | env],
        stderr_to_stdout: true
      )

    lines = String.split(out, "\n", trim: true)
    paths = Enum.find(lines, &String.starts_with?(&1, "paths "))

    columns =
      for line <- lines, [name, hex] <- [String.split(line, " ")], name != "paths", into: %{} do
        {name, Base.decode16!(hex)}
      end

    {columns, paths}
  end
end
