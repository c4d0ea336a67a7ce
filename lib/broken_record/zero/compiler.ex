defmodule BrokenRecord.Zero.Compiler do
  @moduledoc """
  Runs the compile-time pipeline on the quoted body of a `defsystem`:
  `Parser` -> `Transient` -> `Types` -> `RandomSites` -> `Reductions` -> `MinimumImage` ->
  `Cutoff` -> `Lowering` -> `Optimizer` -> `Program.encode/1`,
  plus `Conservation` (verdicts on the declared laws), and records per-rule analysis (instruction counts before and after optimisation, flops per
  application, written lanes).
  """

  alias BrokenRecord.Zero.{
    CompiledSystem,
    Conservation,
    Cutoff,
    Lowering,
    MinimumImage,
    Observables,
    Optimizer,
    Parser,
    Program,
    RandomSites,
    Reductions,
    Transient,
    Types
  }

  @doc "Compiles a `defsystem` block into a `BrokenRecord.Zero.CompiledSystem`."
  @spec compile(Macro.t(), module, String.t(), non_neg_integer) :: CompiledSystem.t()
  def compile(block, module, file, line) do
    system =
      block
      |> Parser.parse(module, file, line)
      |> Transient.add_resets()
      |> Types.check()
      |> RandomSites.number()
      |> Reductions.find()
      |> MinimumImage.apply()

    system = %{
      system
      | rules: Cutoff.detect(system.rules),
        observables: Cutoff.detect(system.observables)
    }

    raw = Lowering.lower(system)
    program = Optimizer.optimize(raw)

    analysis =
      raw.rules
      |> Enum.zip(program.rules)
      |> Map.new(fn {before, rule} ->
        {rule.name,
         %{
           instructions_before: length(before.instrs),
           instructions: length(rule.instrs),
           registers: rule.n_regs,
           flops: Optimizer.flops(rule),
           stores: Program.stores(rule)
         }}
      end)

    system = %{
      system
      | params: program.params,
        program: program,
        program_binary: Program.encode(program),
        analysis: analysis
    }

    system = %{system | conservation: Conservation.analyze(system, raw)}
    {observables, binary} = Observables.compile(system)
    %{system | observables: observables, observables_binary: binary}
  end
end
