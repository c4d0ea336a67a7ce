defmodule Mix.Tasks.BrokenRecord.Check do
  @shortdoc "Prints the conservation verdicts of BrokenRecord Zero systems"
  @moduledoc """
  Prints a table of the compile-time conservation verdicts (see
  `BrokenRecord.Zero.Conservation`) of every system in the project, or of the systems named on
  the command line:

      mix broken_record.check
      mix broken_record.check MyPhysics.CollisionWorld

  Each row is a rule; each column a law declared by an agent type that the rule touches:
  `proven`, `VIOLATED` (the residual is printed under the table), `unverified` (with the reason
  under the table when there is one, e.g. a field reduced with `max(...)`) or `-` (not declared
  by the agents the rule touches).
  """
  use Mix.Task

  alias BrokenRecord.Zero.Conservation

  @impl true
  def run(args) do
    Mix.Task.run("compile")
    systems = if args == [], do: project_systems(), else: Enum.map(args, &load!/1)

    if systems == [] do
      Mix.shell().info("No BrokenRecord Zero systems found.")
    else
      Enum.each(systems, &print/1)
    end
  end

  @doc false
  @spec table(BrokenRecord.Zero.CompiledSystem.t()) :: String.t()
  def table(system) do
    laws = Conservation.laws()
    header = ["rule" | Enum.map(laws, &Atom.to_string/1)]

    rows =
      Enum.map(system.rules, fn rule ->
        verdicts = Map.get(system.conservation, rule.name, %{})
        [Atom.to_string(rule.name) | Enum.map(laws, &cell(Map.get(verdicts, &1)))]
      end)

    widths =
      [header | rows]
      |> Enum.zip()
      |> Enum.map(fn col -> col |> Tuple.to_list() |> Enum.map(&String.length/1) |> Enum.max() end)

    line = fn cells ->
      cells |> Enum.zip(widths) |> Enum.map_join("  ", fn {c, w} -> String.pad_trailing(c, w) end)
    end

    violations =
      for {rule, law, residual} <- Conservation.violations(system),
          do: "  #{rule.name} / #{law}: #{residual}"

    reasons =
      for rule <- system.rules,
          {law, {:unverified, reason}} <- Enum.sort(Map.get(system.conservation, rule.name, %{})),
          do: "  #{rule.name} / #{law}: #{reason}"

    Enum.join(
      [
        "#{inspect(system.module)}",
        line.(header),
        line.(Enum.map(widths, &String.duplicate("-", &1)))
      ] ++
        Enum.map(rows, line) ++
        if(violations == [], do: [], else: ["violations:" | violations]) ++
        if(reasons == [], do: [], else: ["not proven:" | reasons]),
      "\n"
    )
  end

  defp print(system), do: Mix.shell().info(table(system) <> "\n")

  defp cell(nil), do: "-"
  defp cell(:proven), do: "proven"
  defp cell(:unverified), do: "unverified"
  defp cell({:unverified, _reason}), do: "unverified"
  defp cell({:violated, _}), do: "VIOLATED"

  defp project_systems do
    app = Mix.Project.config()[:app]
    {:ok, modules} = :application.get_key(app, :modules) |> ensure_loaded(app)

    modules
    |> Enum.filter(&(Code.ensure_loaded?(&1) and function_exported?(&1, :__system__, 0)))
    |> Enum.map(& &1.__system__())
  end

  defp ensure_loaded(:undefined, app) do
    Application.load(app)
    :application.get_key(app, :modules)
  end

  defp ensure_loaded(result, _app), do: result

  defp load!(name) do
    module = Module.concat([name])

    if Code.ensure_loaded?(module) and function_exported?(module, :__system__, 0) do
      module.__system__()
    else
      Mix.raise("#{name} is not a BrokenRecord Zero system")
    end
  end
end
