defmodule BrokenRecord.Zero.OpTableTest do
  # The Elixir op table and the engine's (include/brz/ops.inc) describe the same instruction set.
  use ExUnit.Case, async: true

  alias BrokenRecord.Zero.Program.Op

  @ops_inc Path.expand("../../../include/brz/ops.inc", __DIR__)

  defp cpp_rows do
    for line <- File.stream!(@ops_inc),
        [_, name, code, arity, kind] <-
          [Regex.run(~r/^BRZ_OP\((\w+), (\d+), (\d+), (\w+)\)/, line)] do
      {name, String.to_integer(code), String.to_integer(arity), kind}
    end
  end

  test "both tables list the same ops with the same codes and register operand counts" do
    elixir =
      for op <- Op.all() do
        kind = if op.class == :data, do: "Data", else: "Value"
        {String.upcase(Atom.to_string(op.name)), op.code, op.arity, kind}
      end

    assert length(cpp_rows()) > 0
    assert Enum.sort_by(cpp_rows(), &elem(&1, 1)) == Enum.sort_by(elixir, &elem(&1, 1))
  end

  test "codes and names are unique" do
    assert Op.all() |> Enum.map(& &1.code) |> Enum.uniq() |> length() == length(Op.all())
    assert Op.all() |> Enum.map(& &1.name) |> Enum.uniq() |> length() == length(Op.all())
  end

  test "every computed op has its evaluator and both generated spellings" do
    Code.ensure_loaded!(BrokenRecord.Zero.Ops)

    for op <- Op.computed() do
      assert function_exported?(BrokenRecord.Zero.Ops, op.eval, op.arity), inspect(op.name)
      assert is_binary(op.cpp) and op.elixir != nil, inspect(op.name)
    end
  end
end
