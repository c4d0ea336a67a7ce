defmodule BrokenRecord.Zero.DSL do
  @moduledoc """
  The `defsystem` macro: the entry point of the compiler pipeline.

  At compile time it runs, once:

      Parser -> Types -> MinimumImage -> Cutoff -> Lowering -> Optimizer -> Program.encode
                                            |-> Codegen.Elixir (fallback functions)
                                            `-> KernelBuilder (fused C++ kernels, a cached .so)

  and defines the nested module with `simulate/2`, `__system__/0` and the generated
  pure-Elixir rule functions. Warnings (unknown optimize pass, unavailable compile target,
  conservation violations) are compile-time warnings with file and line.
  """

  alias BrokenRecord.Zero.{Codegen, CompiledSystem, Compiler, Conservation, Env, KernelBuilder}

  @doc """
  Defines a system module `Outer.Name`. See `BrokenRecord.Zero` and `docs/dsl.md` for the
  language.
  """
  defmacro defsystem(alias, do: block) do
    module = Module.concat(__CALLER__.module, Macro.expand(alias, __CALLER__))
    line = __CALLER__.line
    system = Compiler.compile(block, module, __CALLER__.file, line)

    Enum.each(system.options.warnings, fn {line, message} ->
      IO.warn(message, Macro.Env.stacktrace(%{__CALLER__ | line: line}))
    end)

    report_conservation(system, __CALLER__)
    system = attach_kernel(system, __CALLER__)
    rule_functions = Codegen.Elixir.functions(system)

    quote do
      defmodule unquote(alias) do
        @moduledoc "A BrokenRecord Zero system (see `__system__/0`)."
        @brz_system unquote(Macro.escape(system))

        @doc "The compiled system: agents, rules, options, analysis and program."
        @spec __system__() :: BrokenRecord.Zero.CompiledSystem.t()
        def __system__, do: @brz_system

        @doc """
        Runs the system on `state` (a map from collection keys to lists of agent maps, and
        `:box` in a periodic space) and returns the new state, of the same shape; with
        `conservation: :report`, `{state, report}`; with `observe:`, `{state, samples}`
        (both: `{state, samples, report}`). Options:

          * `steps` - the number of steps, an integer in `0..2^64 - 1` (default 1000);
          * `dt` - the time step, a number (default 0.01);
          * `rules` - the rules each step runs, in order (default: all, in declaration order);
          * `params` - a map of the rules' scalar params (every one the selected rules take);
          * `backend` - `:auto` (default: native when the NIF is loaded), `:native` or
            `:interpreted`;
          * `conservation` - `nil` (default), `:report` or `{:raise, tolerance}`: the run-time
            monitor of the declared conservation laws;
          * `seed` - the random seed, an integer in `0..2^32 - 1` (default 0);
          * `start_step` - the index of the first step, for random streams (default 0);
          * `observe` - observables to sample (names of the system's `observable`s and
            `potential`s, built-ins such as `:temperature`, or `:all`): samples
            `%{step: s, time: s * dt, values: %{name => value}}`, the first at the start;
          * `every` - steps between samples, a positive integer dividing `steps` (default
            `steps`); with `conservation: :report` the report's laws carry a `:series`.

        See `BrokenRecord.Zero.Runtime.simulate/3` and `docs/dsl.md`.
        """
        @spec simulate(map, keyword) :: map | {map, map | [map]} | {map, [map], map}
        def simulate(state, opts \\ []),
          do: BrokenRecord.Zero.Runtime.simulate(__MODULE__, state, opts)

        unquote_splicing(rule_functions)
      end
    end
  end

  # The fused C++ kernels (docs/kernels.md). No compiler or a failed build: a warning and no
  # kernel (the engine interprets the rules); an error when BROKEN_RECORD_REQUIRE_NIF is set
  # (`Env.require_nif?/0`).
  defp attach_kernel(system, caller) do
    system =
      attach(system, :kernel, KernelBuilder.build(system.program, system.program_binary), caller)

    attach(system, :observables_kernel, KernelBuilder.build_observables(system), caller)
  end

  defp attach(system, key, built, caller) do
    case built do
      {:ok, kernel} ->
        Map.put(system, key, kernel)

      :skip ->
        system

      {:error, reason} ->
        what = if key == :kernel, do: "rules", else: "observables"

        message =
          "no native kernels for the #{what} of #{inspect(system.module)} (the engine will " <>
            "interpret them): " <> reason

        if Env.require_nif?() do
          raise CompileError, file: caller.file, line: caller.line, description: message
        else
          IO.warn(message, Macro.Env.stacktrace(caller))
          system
        end
    end
  end

  # The agent types of a rule (and those its references name) that declare `law`.
  defp declaring(system, rule, law) do
    types = Enum.map(rule.agents, &elem(&1, 1))

    referenced =
      for type <- types,
          %{type: {:ref, target}} <- CompiledSystem.agent(system, type).fields,
          do: target

    Enum.filter(Enum.uniq(types ++ referenced), fn type ->
      law in CompiledSystem.agent(system, type).conserves
    end)
  end

  # A violated law is a warning, or a CompileError under `conservation :strict`.
  defp report_conservation(system, caller) do
    Enum.each(Conservation.violations(system), fn {rule, law, residual} ->
      message =
        "rule #{rule.name} violates #{law} conservation declared by " <>
          "#{declaring(system, rule, law) |> Enum.join(" and ")}: " <>
          "one application changes the total by #{residual}"

      if system.options.conservation == :strict do
        raise CompileError, file: system.file, line: rule.line, description: message
      else
        IO.warn(message, Macro.Env.stacktrace(%{caller | line: rule.line}))
      end
    end)
  end
end
