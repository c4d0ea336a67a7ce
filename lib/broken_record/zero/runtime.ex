defmodule BrokenRecord.Zero.Runtime do
  @moduledoc """
  Runs compiled systems.

  `simulate/3` converts the state to a world (`BrokenRecord.Zero.World`), steps it and converts
  it back. The backend is the native engine when its NIF is loaded, the pure-Elixir backend
  otherwise (`backend/0`); both implement `docs/program.md` and give the same results up to
  floating-point summation order.

  ## Options

    * `:steps` - non-negative integer, default `1000`
    * `:dt` - number, default `0.01`
    * `:rules` - rule names to apply each step, in this order; default all rules in declaration
      order
    * `:params` - map or keyword list of the rules' scalar params (`%{k: 2.0}`); a param needed
      by a selected rule and missing is an `ArgumentError`
    * `:backend` - `:auto` (default), `:native` (raises if the NIF is not loaded) or
      `:interpreted` (the pure-Elixir backend)
    * `:conservation` - `nil` (default), `:report` (return `{state, report}` with the drift of
      every declared law, see `BrokenRecord.Zero.Conservation.Monitor`) or
      `{:raise, tolerance}` (raise `BrokenRecord.Zero.ConservationError` when a relative drift
      exceeds `tolerance`)
  """

  alias BrokenRecord.Zero.{NIF, State, World}
  alias BrokenRecord.Zero.Conservation.Monitor

  @known [:steps, :dt, :rules, :params, :backend, :conservation]

  @doc """
  Runs `steps` steps of `system` (a module defined by `defsystem`) on `state` and returns the
  new state, of the same shape. See the module doc for options.
  """
  @spec simulate(module, map, keyword) :: map | {map, map}
  def simulate(system, state, opts \\ []) do
    run_opts = validate_opts!(system.__system__(), opts, @known)
    conservation = validate_conservation!(Keyword.get(opts, :conservation))
    world = World.new(system, state, backend: run_opts.backend)
    initial = if conservation, do: Monitor.totals(world)
    world = World.__run__(world, run_opts)
    result = World.to_state(world)

    case conservation do
      nil ->
        result

      :report ->
        {result, Monitor.report(initial, Monitor.totals(world))}

      {:raise, tolerance} ->
        initial |> Monitor.report(Monitor.totals(world)) |> Monitor.check!(tolerance)
        result
    end
  end

  defp validate_conservation!(nil), do: nil
  defp validate_conservation!(:report), do: :report

  defp validate_conservation!({:raise, tolerance} = mode)
       when is_number(tolerance) and tolerance >= 0,
       do: mode

  defp validate_conservation!(other) do
    raise ArgumentError,
          "invalid option conservation: #{inspect(other)}; expected :report or " <>
            "{:raise, tolerance}"
  end

  @doc """
  The backend `:auto` selects: `:native` when the NIF is loaded, `:interpreted` otherwise.
  When `BROKEN_RECORD_REQUIRE_NIF=1` is set and the NIF is not loaded, raises instead.
  """
  @spec backend() :: :native | :interpreted
  def backend do
    cond do
      NIF.loaded?() ->
        :native

      System.get_env("BROKEN_RECORD_REQUIRE_NIF") in ["1", "true"] ->
        raise RuntimeError,
              "BROKEN_RECORD_REQUIRE_NIF is set but the native engine is not loaded: " <>
                to_string(NIF.load_error())

      true ->
        :interpreted
    end
  end

  @doc false
  @spec resolve_backend(term) :: :native | :interpreted
  def resolve_backend(:auto), do: backend()

  def resolve_backend(:native) do
    if NIF.loaded?() do
      :native
    else
      raise ArgumentError,
            "backend: :native was requested but the native engine is not loaded (" <>
              to_string(NIF.load_error()) <> ")"
    end
  end

  def resolve_backend(:interpreted), do: :interpreted

  def resolve_backend(other) do
    raise ArgumentError,
          "invalid option backend: #{inspect(other)}; expected :auto, :native or :interpreted"
  end

  @doc false
  # Raises an ArgumentError naming `opts` unless it is a keyword list.
  @spec keyword!(term) :: :ok
  def keyword!(opts) do
    unless Keyword.keyword?(opts) do
      raise ArgumentError, "options must be a keyword list, got: #{inspect(opts)}"
    end

    :ok
  end

  @doc false
  # Validates run options; returns %{steps, dt, rule_ids, params (tuple, dt first), backend}.
  @spec validate_opts!(BrokenRecord.Zero.System.t(), term, [atom]) :: map
  def validate_opts!(system, opts, known) do
    keyword!(opts)

    Enum.each(Keyword.keys(opts), fn key ->
      unless key in known do
        raise ArgumentError,
              "unknown option #{inspect(key)}; known options: " <>
                Enum.map_join(known, ", ", &inspect/1)
      end
    end)

    steps = Keyword.get(opts, :steps, 1000)

    unless is_integer(steps) and steps >= 0 do
      raise ArgumentError,
            "invalid option steps: #{inspect(steps)}; expected a non-negative integer"
    end

    dt = Keyword.get(opts, :dt, 0.01)

    unless is_number(dt) do
      raise ArgumentError, "invalid option dt: #{inspect(dt)}; expected a number"
    end

    rules = rule_ids!(system, Keyword.get(opts, :rules))

    dt = State.to_float(dt, "option dt")

    %{
      steps: steps,
      dt: dt,
      rule_ids: rules,
      params: params!(system, rules, Keyword.get(opts, :params, %{}), dt),
      backend: Keyword.get(opts, :backend, :auto)
    }
  end

  defp rule_ids!(system, nil), do: Enum.map(system.rules, & &1.index)

  defp rule_ids!(system, names) when is_list(names) do
    if List.improper?(names), do: invalid_rules!(names)

    Enum.map(names, fn name ->
      case Enum.find(system.rules, &(&1.name == name)) do
        nil ->
          raise ArgumentError,
                "unknown rule #{inspect(name)}; known rules: " <>
                  Enum.map_join(system.rules, ", ", &inspect(&1.name))

        rule ->
          rule.index
      end
    end)
  end

  defp rule_ids!(_system, other), do: invalid_rules!(other)

  defp invalid_rules!(rules) do
    raise ArgumentError, "invalid option rules: #{inspect(rules)}; expected a list of rule names"
  end

  defp params!(system, rule_ids, given, dt) do
    given =
      cond do
        is_map(given) -> given
        Keyword.keyword?(given) -> Map.new(given)
        true -> raise ArgumentError, "invalid option params: expected a map or keyword list"
      end

    needed =
      rule_ids
      |> Enum.flat_map(&Enum.at(system.rules, &1).scalars)
      |> MapSet.new()

    system.params
    |> Enum.map(fn
      :dt ->
        dt

      name ->
        case Map.fetch(given, name) do
          {:ok, value} when is_number(value) ->
            State.to_float(value, "param #{name}")

          {:ok, value} ->
            raise ArgumentError, "invalid param #{name}: #{inspect(value)}; expected a number"

          :error ->
            if MapSet.member?(needed, name) do
              raise ArgumentError,
                    "missing param #{inspect(name)}: pass it as params: %{#{name}: value}"
            else
              0.0
            end
        end
    end)
    |> List.to_tuple()
  end
end
