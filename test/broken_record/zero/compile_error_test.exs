defmodule BrokenRecord.Zero.CompileErrorTest do
  use ExUnit.Case, async: true

  import ExUnit.CaptureIO
  import BrokenRecord.Zero.TestHelpers

  @file_name "brz_snippet.exs"

  # A module with one system. `system` is the body of the defsystem.
  defp source(system), do: system_source(unique_module(), system)

  # The fields of the usual agents, a Particle and a Wall.
  @particle [position: :vec3, velocity: :vec3, mass: :float, count: :int]
  @wall [position: :vec3, normal: :vec3]

  # `defagent name` declaring `fields` ({field, type}).
  defp defagent(name, fields) do
    lines = Enum.map_join(fields, "\n", fn {field, type} -> "  field :#{field}, :#{type}" end)
    "defagent #{name} do\n#{lines}\nend"
  end

  # The usual agents, and `rules` inside a rules block.
  defp with_rules(rules) do
    """
    agents do
    #{indent(defagent("Particle", @particle), 2)}

    #{indent(defagent("Wall", @wall), 2)}
    end

    rules do
    #{indent(rules, 2)}
    end
    """
  end

  # A system that compiles: the usual agents, moved by a drift rule.
  defp moving do
    with_rules("""
    interaction move(p: Particle) do
      p.position = p.position + p.velocity * dt
    end
    """)
  end

  # Compiles `system` and returns the CompileError, checking that it names the file and the line
  # marked with `#!`.
  defp compile_error(system) do
    src = source(system)
    line = line_of(src, "#!")
    error = assert_raise CompileError, fn -> Code.compile_string(src, @file_name) end
    assert error.file =~ @file_name

    assert error.line == line,
           "expected the error on line #{line}, got line #{error.line}: #{error.description}"

    assert Exception.message(error) =~ "#{@file_name}:#{line}"
    error.description
  end

  defp rule_error(rules), do: compile_error(with_rules(rules))

  # An agents block with one agent type, Particle, that declares `fields`.
  defp particle_agents(fields) do
    "agents do\n  defagent Particle do\n#{indent(fields, 4)}\n  end\nend\n"
  end

  defp particle_error(fields), do: compile_error(particle_agents(fields))

  # The error of a rule `bad(params)` whose body is `body`.
  defp bad_rule(params \\ "p: Particle", body) do
    rule_error("interaction bad(#{params}) do\n#{indent(body, 2)}\nend\n")
  end

  describe "unsupported syntax" do
    test "a remote call in an expression" do
      msg = bad_rule("p.mass = Enum.sum([1, 2]) #!")

      assert msg =~ "unsupported expression"
      assert msg =~ "Enum.sum"
      assert msg =~ "supported:"
      assert msg =~ "dot/2"
    end

    test "an unknown local function" do
      msg =
        bad_rule("""
        x = p.mass
        p.mass = hypot(x, 1.0) #!
        """)

      assert msg =~ "unsupported expression hypot"
    end

    test "an unsupported :math function" do
      msg = bad_rule("p.mass = :math.acosh(p.mass) #!")

      assert msg =~ "unsupported expression"
      assert msg =~ ":math.acosh"
    end

    test "a pipe" do
      msg = bad_rule("p.mass = p.velocity |> length() #!")

      assert msg =~ "unsupported expression"
    end

    test "a string literal" do
      msg = bad_rule(~s(p.mass = "heavy" #!))

      assert msg =~ "unsupported expression"
    end

    test "a case statement in a body" do
      msg =
        bad_rule("""
        x = p.mass
        case x do #!
          _ -> x
        end
        """)

      assert msg =~ "unsupported statement"
      assert msg =~ "if/else"
    end

    test "a bare expression as a statement" do
      msg =
        bad_rule("""
        p.mass = 1.0
        p.mass + 1 #!
        """)

      assert msg =~ "unsupported statement"
    end

    test "a 2-tuple where a vector is expected" do
      msg = bad_rule("p.velocity = {1.0, 2.0} #!")

      assert msg =~ "two components"
    end

    test "assigning a vector component" do
      msg = bad_rule("p.velocity.x = 0.0 #!")

      assert msg =~ "unsupported assignment target"
    end

    test "an unknown vector accessor" do
      msg = bad_rule("p.mass = p.velocity.w #!")

      assert msg =~ "unknown accessor .w"
    end

    test "a function with the wrong number of arguments" do
      msg = bad_rule("p.mass = dot(p.velocity) #!")

      assert msg =~ "dot expects 2 argument(s), got 1"
    end

    test "an unsupported statement at system level" do
      msg = compile_error(particle_agents("field :mass, :float") <> "\nimport Enum #!\n")

      assert msg =~ "unsupported statement in defsystem"
    end

    test "an unsupported statement in defagent" do
      msg =
        particle_error("""
        field :mass, :float
        property :spin #!
        """)

      assert msg =~ "unsupported statement in defagent"
    end

    test "an unknown field type" do
      msg =
        particle_error("""
        field :mass, :float
        field :spin, :vec2 #!
        """)

      assert msg =~ "unknown type :vec2"
    end

    test "an unknown conservation law" do
      msg =
        particle_error("""
        field :mass, :float
        conserves [:momentum, :charge] #!
        """)

      assert msg =~ "unknown conservation law :charge"
    end

    test "an invalid precision" do
      msg = compile_error("precision :f16 #!\n" <> particle_agents("field :mass, :float"))

      assert msg =~ "precision must be :f64 or :f32"
    end

    test "a field declared twice" do
      msg =
        particle_error("""
        field :mass, :float
        field :mass, :float #!
        """)

      assert msg =~ ":mass is defined twice"
    end

    test "two agent types with one collection key" do
      msg =
        compile_error("""
        agents do
          defagent Particle do
            field :mass, :float
          end

          defagent Grain, collection: :particles do #!
            field :mass, :float
          end
        end
        """)

      assert msg =~ "collection :particles is defined twice"
    end

    test "a collection override that is not an atom" do
      msg =
        compile_error("""
        agents do
          defagent Particle, collection: "parts" do #!
            field :mass, :float
          end
        end
        """)

      assert msg =~ "collection: must be an atom"
    end

    test "an agent without fields" do
      msg =
        compile_error("""
        agents do
          defagent Ghost do #!
            conserves [:mass]
          end
        end
        """)

      assert msg =~ "agent Ghost declares no fields"
    end

    test "a system without agent types" do
      for body <- ["", "G = 1.0\n\nrules do\nend"] do
        src = source(body)
        error = assert_raise CompileError, fn -> Code.compile_string(src, @file_name) end
        assert error.file =~ @file_name
        assert error.line == line_of(src, "defsystem")
        assert error.description =~ "system Sim declares no agent types"
        assert error.description =~ "agents do defagent"
      end
    end

    test "a default of the wrong type" do
      msg = particle_error("field :velocity, :vec3, default: 0.0 #!")

      assert msg =~ "default for vec3 field :velocity"
    end

    test "a vec3 default that contains a call" do
      msg = particle_error("field :velocity, :vec3, default: {foo(), 0.0, 0.0} #!")

      assert msg =~ "default for vec3 field :velocity must be a literal {x, y, z} of numbers"
      assert msg =~ "got: {foo(), 0.0, 0.0}"
    end

    test "a param name that is not an atom" do
      msg =
        rule_error("""
        interaction bad([{"p", Particle}]) do #!
          p.mass = 1.0
        end
        """)

      assert msg =~ ~s(rule bad: a param name must be an atom, got: "p")

      msg =
        rule_error("""
        interaction bad([{p, Particle}, {k, float}]) do #!
          p.mass = k
        end
        """)

      assert msg =~ "rule bad: a param name must be an atom, got: p"
    end

    test "a param declared twice" do
      msg =
        rule_error("""
        interaction bad(p: Particle, k: float, k: float) do #!
          p.mass = k
        end
        """)

      assert msg =~ "param k is declared twice"
    end

    test "a rule with three agent params" do
      msg =
        rule_error("""
        interaction bad(a: Particle, b: Particle, c: Particle) do #!
          a.mass = b.mass + c.mass
        end
        """)

      assert msg =~ "one or two agent params"
    end

    test "a rule with no agent param" do
      msg =
        rule_error("""
        interaction bad(k: float) do #!
          x = k
        end
        """)

      assert msg =~ "one or two agent params"
    end

    test "a rule defined twice" do
      msg =
        rule_error("""
        interaction move(p: Particle) do
          p.mass = p.mass
        end

        interaction move(p: Particle) do #!
          p.mass = p.mass
        end
        """)

      assert msg =~ "rule :move is defined twice"
    end

    test "a constant bound twice in a body" do
      msg =
        bad_rule("""
        K = 1.0
        K = 2.0 #!
        p.mass = K
        """)

      assert msg =~ "constant K is bound twice"
    end
  end

  describe "numbers outside the float range" do
    @huge "1" <> String.duplicate("0", 400)

    test "an integer literal in a rule" do
      msg = bad_rule("p.mass = p.mass + #{@huge} #!")

      assert msg =~ "integer literal of 401 digits is beyond the float range"
    end

    test "an integer literal in a constant" do
      msg = compile_error("K = -#{@huge} #!\n" <> with_rules(""))
      assert msg =~ "beyond the float range"
    end

    test "a default beyond the float range" do
      msg = particle_error("field :mass, :float, default: #{@huge} #!")

      assert msg =~ "default for float field :mass is beyond the float range"

      msg = particle_error("field :position, :vec3, default: {0.0, #{@huge}, 0} #!")

      assert msg =~ "default for vec3 field :position is beyond the float range"
    end

    test "an int default beyond 2^53" do
      msg = particle_error("field :count, :int, default: #{2 ** 53 + 1} #!")

      assert msg =~ "default for int field :count is out of range"
      assert msg =~ "2^53"
    end
  end

  describe "constant expressions that are not finite" do
    test "a division by zero" do
      msg = bad_rule("p.mass = 1.0 / 0 #!")

      assert msg =~ "division by zero: the divisor is the constant 0"
    end

    test "a division by a constant that is zero, in an untaken branch too" do
      msg =
        compile_error(
          "Z = 2 - 2\n" <>
            with_rules("""
            interaction bad(p: Particle) do
              if p.mass > 1.0e9 do
                p.velocity = p.velocity / Z #!
              end
            end
            """)
        )

      assert msg =~ "division by zero: the divisor is the constant 0"
    end

    test "a constant bound to a division by zero" do
      msg = compile_error("K = 1.0 / 0.0 #!\n" <> with_rules(""))
      assert msg =~ "division by zero: the divisor is the constant 0.0"
    end

    test "an overflow" do
      msg = bad_rule("p.mass = p.mass + 1.0e308 * 10 #!")

      assert msg =~ "the constant expression 1.0e308 * 10 is not finite: it evaluates to infinity"
    end

    test "a function outside its domain" do
      msg =
        bad_rule("""
        K = 0.0
        p.mass = p.mass + sqrt(-1.0) * log(K) #!
        """)

      assert msg =~ "the constant expression sqrt(-1.0) is not finite: it evaluates to NaN"
    end
  end

  describe "conservation laws" do
    test "a coefficient of the proof beyond the float range" do
      msg =
        compile_error("""
        agents do
          defagent Body do
            field :position, :vec3
            field :velocity, :vec3
            field :mass, :float
            conserves [:momentum, :energy]
          end
        end

        rules do
          interaction boost(b: Body) do #!
            b.velocity = b.velocity * 1.0e200
          end
        end
        """)

      assert msg =~ "rule boost: cannot check the conservation of energy"
      assert msg =~ "beyond the float range"
    end
  end

  describe "type errors" do
    test "a vec3 assigned to a float field" do
      msg = bad_rule("p.mass = p.velocity #!")

      assert msg =~ "cannot assign a vec3 to p.mass, a float field of Particle"
    end

    test "a float assigned to a vec3 field" do
      msg =
        bad_rule("p: Particle, dt: float", """
        speed = length(p.velocity)
        p.velocity = speed * dt #!
        """)

      assert msg =~ "cannot assign a float to p.velocity"
    end

    test "adding a vec3 and a float" do
      msg =
        bad_rule("""
        shifted = p.position + 1.0 #!
        p.position = shifted
        """)

      assert msg =~ "type error: cannot add a vec3 and a float"
    end

    test "multiplying two vectors" do
      msg = bad_rule("p.position = p.position * p.velocity #!")

      assert msg =~ "cannot multiply a vec3 by a vec3"
    end

    test "comparing a vector" do
      msg =
        bad_rule("""
        if p.velocity < 1.0 do #!
          p.mass = 0.0
        end
        """)

      assert msg =~ "< expects a float, got a vec3"
    end

    test "a float where a vec3 function argument is needed" do
      msg = bad_rule("p.mass = dot(p.mass, p.velocity) #!")

      assert msg =~ "dot/2 expects a vec3, got a float"
    end

    test "a vector in sqrt" do
      msg = bad_rule("p.mass = sqrt(p.velocity) #!")

      assert msg =~ "sqrt/1 expects a float, got a vec3"
    end

    test "a vector component that is a vector" do
      msg = bad_rule("p.velocity = {p.position, 0.0, 0.0} #!")

      assert msg =~ "vector component must be a float"
    end

    test "destructuring a float" do
      msg =
        bad_rule("""
        {x, y, z} = p.mass #!
        p.mass = x + y + z
        """)

      assert msg =~ "needs a vec3 on the right"
    end

    test "a non-boolean if condition" do
      msg =
        bad_rule("""
        if p.mass do #!
          p.mass = 1.0
        end
        """)

      assert msg =~ "if needs a boolean condition"
    end

    test "a float assigned to an int field" do
      msg = bad_rule("p.count = p.mass * 2 #!")

      assert msg =~ "cannot assign a float to p.count"
      assert msg =~ "floor/1"
    end

    test "a boolean in arithmetic" do
      msg =
        bad_rule("""
        heavy = p.mass > 1.0
        p.mass = heavy * 2.0 #!
        """)

      assert msg =~ "cannot multiply a bool by a float"
    end
  end

  describe "unknown names" do
    test "an unknown field read, with a did-you-mean" do
      msg = bad_rule("p: Particle, dt: float", "p.position = p.position + p.velocty * dt #!")

      assert msg =~ "unknown field p.velocty"
      assert msg =~ "did you mean :velocity?"
    end

    test "an unknown field written, with a did-you-mean" do
      msg =
        bad_rule("p: Particle, w: Wall", """
        d = dot(p.position - w.position, w.normal)
        w.positon = w.position + {0.0, d, 0.0} #!
        """)

      assert msg =~ "unknown field w.positon"
      assert msg =~ "did you mean :position?"
      assert msg =~ "Wall"
    end

    test "an unknown field far from every name lists the fields" do
      msg = bad_rule("p.mass = p.zzz #!")

      assert msg =~ "unknown field p.zzz"
      refute msg =~ "did you mean"
      assert msg =~ ":position, :velocity, :mass, :count"
    end

    test "an unknown agent type, with a did-you-mean" do
      msg =
        rule_error("""
        interaction bad(p: Partcle) do #!
          p.mass = 1.0
        end
        """)

      assert msg =~ "unknown agent type Partcle"
      assert msg =~ "did you mean Particle?"
      assert msg =~ "Particle, Wall"
    end

    test "an undefined variable" do
      msg = bad_rule("p: Particle, dt: float", "p.position = p.position + velocity * dt #!")

      assert msg =~ "undefined variable velocity"
    end

    test "an undefined variable close to a bound one" do
      msg =
        bad_rule("p: Particle, dt: float", """
        velocity = p.velocity
        p.position = p.position + velocty * dt #!
        """)

      assert msg =~ "undefined variable velocty"
      assert msg =~ "did you mean velocity?"
    end

    test "a local bound inside an if branch does not leak out of it" do
      msg =
        bad_rule("""
        if p.mass > 1 do
          heavy = 1.0
        end

        p.mass = heavy #!
        """)

      assert msg =~ "undefined variable heavy"
    end

    test "an undefined constant" do
      msg = bad_rule("p.mass = H * 2 #!")

      assert msg =~ "undefined constant H"
    end
  end

  describe "assignments to params" do
    test "assigning dt (declared)" do
      msg =
        bad_rule("p: Particle, dt: float", """
        dt = 0.5 #!
        p.position = p.position + p.velocity * dt
        """)

      assert msg =~ "cannot assign to scalar param dt"
    end

    test "assigning dt (implicit)" do
      msg =
        bad_rule("""
        dt = 0.5 #!
        p.position = p.position + p.velocity * dt
        """)

      assert msg =~ "cannot assign to scalar param dt"
    end

    test "assigning a scalar param" do
      msg =
        bad_rule("p: Particle, k: float", """
        k = k * 2 #!
        p.mass = k
        """)

      assert msg =~ "cannot assign to scalar param k"
    end

    test "destructuring into a scalar param" do
      msg =
        bad_rule("p: Particle, k: float", """
        {k, y, z} = p.velocity #!
        p.mass = y + z
        """)

      assert msg =~ "cannot bind k"
    end

    test "assigning a field of a scalar param" do
      msg = bad_rule("p: Particle, k: float", "k.x = 1.0 #!")

      assert msg =~ "cannot assign to scalar param k"
    end

    test "rebinding an agent param" do
      msg = bad_rule("p: Particle, w: Wall", "p = w #!")

      assert msg =~ "agent"
    end
  end

  describe "int-typed constants and params" do
    test "integer constants can be stored in int fields" do
      sim =
        compile_system(
          "N = 3\nM = N * 2 - abs(-1)\n" <>
            with_rules("""
            interaction bump(p: Particle) do
              K = min(4, 5)
              p.count = p.count + M + K
            end
            """),
          @file_name
        )

      state = %{particles: [%{position: {0, 0, 0}, velocity: {0, 0, 0}, mass: 1.0, count: 1}]}
      assert [%{count: 10}] = sim.simulate(state, steps: 1, backend: :interpreted).particles
    end

    test "a constant computed with floor/1 is an int" do
      # Types gives floor/1 the type :int, but the folded constant is the float 2.0, so
      # `p.count = K` is rejected with "cannot assign a float ... (use floor/1)".
      sim =
        compile_system(
          "K = floor(2.5)\n" <>
            with_rules("""
            interaction bump(p: Particle) do
              J = floor(7.9)
              p.count = p.count + K + J
            end
            """),
          @file_name
        )

      state = %{particles: [%{position: {0, 0, 0}, velocity: {0, 0, 0}, mass: 1.0, count: 1}]}
      assert [%{count: 10}] = sim.simulate(state, steps: 1, backend: :interpreted).particles
    end

    test "a scalar param declared int is rejected: scalar params are floats" do
      msg =
        rule_error("""
        interaction bump(p: Particle, n: int) do #!
          p.count = p.count + 1
        end
        """)

      assert msg =~ "scalar param n is declared int"
      assert msg =~ "n: float"
    end
  end

  describe "compile-time warnings" do
    defp capture_compile(system) do
      src = source(system)
      stderr = capture_io(:stderr, fn -> Code.compile_string(src, @file_name) end)
      {src, stderr}
    end

    test "an unknown optimize pass warns with the line and is ignored" do
      {src, stderr} = capture_compile("optimize [:simd, :warp_drive] #!\n" <> moving())
      assert stderr =~ "unknown optimize pass :warp_drive"
      assert stderr =~ "known passes"
      assert stderr =~ "#{@file_name}:#{line_of(src, "#!")}"
    end

    test "an unavailable compile_target warns and falls back to :cpu" do
      {src, stderr} = capture_compile("compile_target :quantum #!\n" <> moving())
      assert stderr =~ "compile_target :quantum is not available"
      assert stderr =~ ":cpu"
      assert stderr =~ "#{@file_name}:#{line_of(src, "#!")}"
    end

    test "the system still compiles with the remaining options" do
      {sim, _stderr} =
        with_io(:stderr, fn ->
          compile_system(
            "compile_target :tpu\noptimize [:simd, :nonsense, :loop_fusion]\n" <> moving(),
            @file_name
          )
        end)

      system = sim.__system__()
      assert system.options.target == :cpu
      assert system.options.optimize == [:simd, :loop_fusion]
    end

    test "a clean system compiles without any warning" do
      {_src, stderr} =
        capture_compile("optimize [:simd, :spatial_hash, :loop_fusion]\n" <> moving())

      assert warnings_in(stderr, @file_name) == []
    end
  end

  describe "the canonical systems compile with no warnings" do
    test "the collision example, verbatim" do
      module = unique_module("MyPhysics")

      # the shared fixture's source, compiled again under a module of its own
      src =
        Path.expand("../../../examples/systems/collision_world.ex", __DIR__)
        |> File.read!()
        |> String.replace("BrokenRecord.Zero.Fixtures.CollisionWorld", "#{module}.CollisionWorld")

      stderr = capture_io(:stderr, fn -> Code.compile_string(src, "collision_example.exs") end)

      assert warnings_in(stderr, "collision_example.exs") == [],
             "the collision example warned:\n" <> stderr

      system = Module.concat([module, CollisionWorld])

      state = %{
        particles: [
          %{
            id: "a",
            position: {0.0, 0.0, 0.0},
            velocity: {1.0, 0.0, 0.0},
            mass: 1.0,
            radius: 0.5
          },
          %{
            id: "b",
            position: {2.0, 0.0, 0.0},
            velocity: {-1.0, 0.0, 0.0},
            mass: 1.0,
            radius: 0.5
          }
        ],
        walls: [%{position: {-5.0, 0.0, 0.0}, normal: {1.0, 0.0, 0.0}}]
      }

      out = system.simulate(state, steps: 100, dt: 0.01, backend: :interpreted)
      assert [%{id: "a", velocity: {va, _, _}}, %{id: "b", velocity: {vb, _, _}}] = out.particles
      assert_close(va, -1.0)
      assert_close(vb, 1.0)
    end

    test "n-body gravity with G = 1.0 and implicit dt" do
      module = unique_module("NBody")

      src = """
      defmodule #{module} do
        use BrokenRecord.Zero

        defsystem Gravity do
          G = 1.0

          agents do
            defagent Body do
              field :position, :vec3
              field :velocity, :vec3
              field :mass, :float
              conserves [:mass, :momentum]
            end
          end

          rules do
            interaction gravity(a: Body, b: Body) do
              d = b.position - a.position
              r2 = dot(d, d) + 0.01
              f = G / (r2 * sqrt(r2))
              a.velocity = a.velocity + d * (f * b.mass * dt)
              b.velocity = b.velocity - d * (f * a.mass * dt)
            end

            interaction drift(b: Body) do
              b.position = b.position + b.velocity * dt
            end
          end
        end
      end
      """

      stderr = capture_io(:stderr, fn -> Code.compile_string(src, "nbody.exs") end)
      assert warnings_in(stderr, "nbody.exs") == [], "the n-body system warned:\n" <> stderr

      state = %{
        bodies: [
          %{position: {0.0, 0.0, 0.0}, velocity: {0.0, 0.0, 0.0}, mass: 1.0},
          %{position: {1.0, 0.0, 0.0}, velocity: {0.0, 1.0, 0.0}, mass: 0.001}
        ]
      }

      out = Module.concat([module, Gravity]).simulate(state, steps: 10, backend: :interpreted)
      assert [%{position: {_, y, _}}, _] = Enum.reverse(out.bodies)
      assert y > 0.0
    end
  end
end
