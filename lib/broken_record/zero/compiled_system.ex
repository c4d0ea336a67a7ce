defmodule BrokenRecord.Zero.CompiledSystem do
  @moduledoc """
  A compiled system, as returned by `YourSystem.__system__/0`.

    * `agents` - the agent types (`BrokenRecord.Zero.IR.Agent`), with fields, lane layout and
      collection key, in type-index order
    * `rules` - the rules (`BrokenRecord.Zero.IR.Rule`), with kind, params and cutoff
    * `params` - the global scalar param table; index 0 is always `:dt`
    * `options` - `%{target: :cpu, optimize: [atom], precision: :f64 | :f32,
      conservation: :warn | :strict}`
    * `program` - the optimised `BrokenRecord.Zero.Program`, and `program_binary` its encoding
    * `analysis` - per rule: instruction counts before/after optimisation and flops per
      application
    * `observables` - the `observable` and `potential` declarations, compiled
      (`BrokenRecord.Zero.Observables`), and `observables_binary` the program of their rules
      (one program rule per observable, in this order) that the native engine evaluates
    * `space` - the declared space (`BrokenRecord.Zero.Space`), or `nil`: every axis open
    * `kernel` - the fused C++ kernel library built at compile time
      (`%{path: absolute_path, hash: cache_key, sha256: content_hash}`, see
      `BrokenRecord.Zero.KernelBuilder`), or
      `nil` when none could be built (the native engine then interprets every rule)
    * `observables_kernel` - the observe kernels of `observables` built at compile time
      (`BrokenRecord.Zero.KernelBuilder.build_observables/2`, the same shape as `kernel`), or
      `nil` (none is a pair observable, or none could be built: the engine's block evaluator
      then evaluates every observable)
  """
  defstruct [
    :module,
    :name,
    :file,
    agents: [],
    rules: [],
    constants: %{},
    params: [:dt],
    options: %{},
    program: nil,
    program_binary: nil,
    analysis: %{},
    conservation: %{},
    observables: [],
    observables_binary: nil,
    space: nil,
    kernel: nil,
    observables_kernel: nil
  ]

  @type t :: %__MODULE__{
          module: module,
          name: String.t(),
          file: String.t(),
          agents: [BrokenRecord.Zero.IR.Agent.t()],
          rules: [BrokenRecord.Zero.IR.Rule.t()],
          constants: %{atom => number},
          params: [atom],
          options: map,
          program: BrokenRecord.Zero.Program.t() | nil,
          program_binary: binary | nil,
          analysis: map,
          conservation: map,
          observables: [BrokenRecord.Zero.Observables.compiled()],
          observables_binary: binary | nil,
          space: BrokenRecord.Zero.Space.t() | nil,
          kernel: nil | %{path: String.t(), hash: String.t(), sha256: String.t()},
          observables_kernel: nil | %{path: String.t(), hash: String.t(), sha256: String.t()}
        }

  @doc "Finds an agent type by name (`\"Particle\"`) or collection key (`:particles`)."
  @spec agent(t, String.t() | atom) :: BrokenRecord.Zero.IR.Agent.t() | nil
  def agent(%__MODULE__{agents: agents}, name) when is_binary(name),
    do: Enum.find(agents, &(&1.name == name))

  def agent(%__MODULE__{agents: agents}, key) when is_atom(key),
    do: Enum.find(agents, &(&1.collection == key))

  @doc "Finds a rule by name."
  @spec rule(t, atom) :: BrokenRecord.Zero.IR.Rule.t() | nil
  def rule(%__MODULE__{rules: rules}, name), do: Enum.find(rules, &(&1.name == name))
end
