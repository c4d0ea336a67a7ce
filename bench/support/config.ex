defmodule Bench.Config do
  @moduledoc """
  How big a bench run is, from the command line:

    * `:full` (`mix bench`): every scenario at its full sizes;
    * `:quick` (`--quick`): the same sizes, fewer repetitions and shorter timed runs;
    * `:smoke` (`--smoke`): every scenario once at a small size, in seconds. It checks that
      the bench still runs against the library (CI runs it); its figures mean nothing.

  `--only lj_liquid,gravity` runs only the scenarios of those names (a scenario's module name
  in snake case: `Bench.Scenarios.LJLiquid` is `lj_liquid`); `only` is `nil` for all of them.
  `native?` says whether the native engine is loaded.
  """

  defstruct mode: :full, native?: false, only: nil

  @type mode :: :full | :quick | :smoke
  @type t :: %__MODULE__{mode: mode, native?: boolean, only: [String.t()] | nil}

  @doc "The configuration of the run that `argv` asks for."
  @spec from_argv([String.t()], boolean) :: t
  def from_argv(argv, native?) do
    mode =
      cond do
        "--smoke" in argv -> :smoke
        "--quick" in argv -> :quick
        true -> :full
      end

    only =
      case Enum.drop_while(argv, &(&1 != "--only")) do
        ["--only", names | _] -> String.split(names, ",", trim: true)
        _ -> nil
      end

    %__MODULE__{mode: mode, native?: native?, only: only}
  end

  @doc "Whether the run includes the scenario module `scenario` (see `only`)."
  @spec includes?(t, module) :: boolean
  def includes?(%__MODULE__{only: nil}, _scenario), do: true

  def includes?(%__MODULE__{only: only}, scenario),
    do: (scenario |> Module.split() |> List.last() |> Macro.underscore()) in only

  @doc """
  The value for the run's mode among `full:`, `quick:` and `smoke:` (a smoke run takes the
  quick value when it has none of its own).
  """
  @spec pick(t, keyword) :: term
  def pick(%__MODULE__{mode: :smoke}, values),
    do: Keyword.get_lazy(values, :smoke, fn -> Keyword.fetch!(values, :quick) end)

  def pick(%__MODULE__{mode: mode}, values), do: Keyword.fetch!(values, mode)
end
