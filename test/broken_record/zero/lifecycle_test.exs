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

  describe "remove" do
    test "in a pair rule that is not exclusive is a CompileError at the remove" do
      msg =
        compile_error("""
        interaction react(a: Molecule, b: Molecule) do
          a.mass = a.mass + b.mass
          if a.mass > 2.0 do
            remove b #!
          end
        end
        """)

      assert msg =~ "rule react: a pair rule that removes an agent must be exclusive: true"
    end

    test "of something other than an agent param is a CompileError" do
      msg =
        compile_error("""
        interaction decay(p: Molecule, k: float) do
          remove k #!
        end
        """)

      assert msg =~ "remove expects an agent param of the rule, got: k"
      assert compile_error("interaction decay(p: Molecule) do\n  remove #!\nend") =~ "remove"
    end

    test "passes its checks in a per-agent rule and an exclusive pair rule" do
      for rules <- [
            "interaction decay(p: Molecule) do\n  if uniform() < 0.1 do\n    remove p #!\n" <>
              "  end\nend",
            "interaction merge(a: Molecule, b: Molecule), exclusive: true do\n" <>
              "  a.mass = a.mass + b.mass\n  remove b #!\nend"
          ] do
        assert compile_error(rules) =~ "remove is not supported by the backends yet"
      end
    end
  end

  describe "spawn" do
    test "passes its checks with every field without a default given" do
      msg =
        compile_error("""
        interaction split(p: Molecule) do
          p.mass = p.mass / 2
          spawn Molecule, position: p.position, velocity: p.velocity, mass: p.mass / 2 #!
        end
        """)

      assert msg =~ "rule split: spawn is not supported by the backends yet"
    end

    test "of an unknown type is a CompileError with a did-you-mean" do
      msg =
        compile_error("""
        interaction split(p: Molecule) do
          spawn Molecul, position: p.position, velocity: p.velocity #!
        end
        """)

      assert msg =~ "unknown agent type Molecul in spawn of rule split"
      assert msg =~ "did you mean Molecule?"
    end

    test "of an unknown field is a CompileError with a did-you-mean" do
      msg =
        compile_error("""
        interaction split(p: Molecule) do
          spawn Molecule, position: p.position, velocity: p.velocity, mas: 1.0 #!
        end
        """)

      assert msg =~ "unknown field Molecule.mas"
      assert msg =~ "did you mean :mass?"
    end

    test "without a field that has no default is a CompileError naming it" do
      msg =
        compile_error("""
        interaction split(p: Molecule) do
          spawn Molecule, position: p.position #!
        end
        """)

      assert msg =~ "spawn Molecule: no value for field :velocity, which has no default"
    end

    test "of a value of the wrong type, or a field given twice, is a CompileError" do
      msg =
        compile_error("""
        interaction split(p: Molecule) do
          spawn Molecule, position: p.position, velocity: p.velocity, mass: p.velocity #!
        end
        """)

      assert msg =~ "cannot assign a vec3 to spawn Molecule, mass: a float field of Molecule"

      msg =
        compile_error("""
        interaction split(p: Molecule) do
          spawn Molecule, position: p.position, velocity: p.velocity, position: p.position #!
        end
        """)

      assert msg =~ "spawn Molecule: field position is given twice"
    end

    test "in a potential is a CompileError" do
      msg =
        compile_error("""
        potential pe(a: Molecule, b: Molecule) do
          spawn Molecule, position: a.position, velocity: a.velocity #!
          a.mass * b.mass
        end
        """)

      assert msg =~ "spawn is not allowed in a potential"
    end
  end
end
