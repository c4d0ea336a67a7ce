defmodule BrokenRecord.Zero.LifecycleTest do
  use ExUnit.Case, async: true

  import BrokenRecord.Zero.TestHelpers

  alias BrokenRecord.Zero.CompiledSystem

  @file_name "brz_lifecycle.exs"

  # Molecules, and `rules` inside a rules block.
  defp molecules(rules) do
    """
    agents do
      defagent Molecule do
        field :position, :vec3
        field :velocity, :vec3
        field :mass, :float, default: 1.0
      end
    end

    rules do
    #{indent(rules, 2)}
    end
    """
  end

  # Compiles `rules` and returns the CompileError's description, checking that it names the
  # file and the line marked with `#!`.
  defp compile_error(rules) do
    src = system_source(unique_module(), molecules(rules))
    line = line_of(src, "#!")
    error = assert_raise CompileError, fn -> Code.compile_string(src, @file_name) end
    assert error.file =~ @file_name
    assert error.line == line, "expected line #{line}, got #{error.line}: #{error.description}"
    error.description
  end

  @merge """
  interaction merge(a: Molecule, b: Molecule), exclusive: true do
    a.velocity = a.velocity + b.velocity * 0.0
  end

  interaction touch(a: Molecule, b: Molecule) do
    a.velocity = a.velocity + b.velocity * 0.0
  end
  """

  describe "exclusive: true" do
    test "sets the rule's exclusive field; the default is false" do
      system = compile_system(molecules(@merge), @file_name).__system__()
      assert CompiledSystem.rule(system, :merge).exclusive == true
      assert CompiledSystem.rule(system, :touch).exclusive == false
    end

    test "another option is a CompileError naming the rule and line" do
      msg =
        compile_error("""
        interaction merge(a: Molecule, b: Molecule), ordered: true do #!
          a.mass = a.mass + b.mass
        end
        """)

      assert msg =~ "rule merge"
      assert msg =~ "unsupported option"
      assert msg =~ "exclusive: true"
    end

    test "another value is a CompileError" do
      for value <- ["false", "1", ":yes"] do
        msg =
          compile_error("""
          interaction merge(a: Molecule, b: Molecule), exclusive: #{value} do #!
            a.mass = a.mass + b.mass
          end
          """)

        assert msg =~ "rule merge: unsupported option [exclusive: #{value}]"
      end
    end

    test "on a per-agent rule is a CompileError" do
      msg =
        compile_error("""
        interaction drift(p: Molecule), exclusive: true do #!
          p.position = p.position + p.velocity * dt
        end
        """)

      assert msg =~ "rule drift: exclusive: true applies to pair rules"
    end
  end
end
