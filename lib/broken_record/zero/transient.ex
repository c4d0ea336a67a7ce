defmodule BrokenRecord.Zero.Transient do
  @moduledoc """
  Transient fields (`field :neighbours, :float, transient: true`) as rules.

  A transient field is not part of the state: every step starts with it at its default. This
  pass appends to the parsed system, after the declared rules, one per-agent rule per agent type
  that has transient fields, storing every such field's default; the rule is marked
  `transient_reset` and named `:"transient(collection)"` (a name no `interaction` can take).
  `BrokenRecord.Zero.Options` runs these rules first in every step, before the step's rules, so
  both backends and every executor path reset the fields the way they run any per-agent rule.
  Appending keeps the declared rules' indices, which key their random numbers.
  """

  alias BrokenRecord.Zero.CompiledSystem
  alias BrokenRecord.Zero.IR.{Field, Rule}

  @doc "Appends the reset rules of a parsed system's transient fields."
  @spec add_resets(CompiledSystem.t()) :: CompiledSystem.t()
  def add_resets(%CompiledSystem{agents: agents, rules: rules} = system) do
    resets =
      agents
      |> Enum.map(&reset_rule/1)
      |> Enum.reject(&is_nil/1)
      |> Enum.with_index(length(rules))
      |> Enum.map(fn {rule, index} -> %{rule | index: index} end)

    %{system | rules: rules ++ resets}
  end

  defp reset_rule(agent) do
    case Enum.filter(agent.fields, & &1.transient) do
      [] ->
        nil

      fields ->
        %Rule{
          name: :"transient(#{agent.collection})",
          line: agent.line,
          agents: [{:agent, agent.name}],
          body: Enum.map(fields, &reset/1),
          transient_reset: true
        }
    end
  end

  defp reset(%Field{name: name, type: type, default: default, line: line}) do
    {:store, line, {:agent, name}, literal(type, default, line)}
  end

  @doc """
  A field's default as an untyped IR literal (what a reset stores, and what `spawn` gives a
  field it does not name).
  """
  @spec literal(BrokenRecord.Zero.IR.type(), term, non_neg_integer) :: BrokenRecord.Zero.IR.expr()
  def literal(:vec3, {x, y, z}, line),
    do: {:vec, %{line: line}, Enum.map([x, y, z], &{:num, %{line: line}, &1})}

  def literal(type, value, line) when type in [:float, :int], do: {:num, %{line: line}, value}
  def literal(_bool_or_enum, value, line), do: {:atom, %{line: line}, value}
end
