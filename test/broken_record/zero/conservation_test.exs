defmodule BrokenRecord.Zero.ConservationTest do
  # Not async: compiling the systems with violations writes warnings to the global stderr,
  # which capture_io(:stderr) in concurrently running tests would pick up.
  use ExUnit.Case, async: false

  import ExUnit.CaptureIO
  import BrokenRecord.Zero.TestHelpers, only: [compile_system: 2]

  alias BrokenRecord.Zero.{ConservationError, ConservationSystems}
  alias BrokenRecord.Zero.ConservationSystems.Monitored.TwoBody
  alias BrokenRecord.Zero.Fixtures.ElasticSpheres

  setup_all do
    module = "BrzLaws#{System.unique_integer([:positive])}"
    source = ConservationSystems.verdicts_source(module)

    stderr = capture_io(:stderr, fn -> Code.compile_string(source, "laws.exs") end)

    system = Module.concat([module, "Laws"]).__system__()
    %{system: system, stderr: stderr, source: source}
  end

  defp verdict(system, rule, law), do: system.conservation |> Map.fetch!(rule) |> Map.fetch!(law)

  describe "compile-time verdicts" do
    test "symmetric pairwise gravity proves momentum and angular momentum", %{system: s} do
      assert verdict(s, :gravity, :momentum) == :proven
      assert verdict(s, :gravity, :angular_momentum) == :proven
      assert verdict(s, :gravity, :mass) == :proven
      assert verdict(s, :gravity, :energy) == :unverified
    end

    test "gravity that updates one body of the pair violates momentum", %{system: s} do
      assert {:violated, residual} = verdict(s, :one_sided, :momentum)
      assert residual =~ "momentum.x"
      assert residual =~ "a.mass"
      assert {:violated, _} = verdict(s, :one_sided, :angular_momentum)
    end

    test "the elastic collision proves momentum", %{system: s} do
      assert verdict(s, :collision, :momentum) == :proven
      assert verdict(s, :collision, :angular_momentum) == :proven
    end

    test "a uniform gravity term is an external force, said in words", %{system: s} do
      assert {:violated, residual} = verdict(s, :falling, :momentum)
      assert residual =~ "momentum.y: -9.81*dt*p.mass"
      assert residual =~ "external force"
      assert verdict(s, :falling, :mass) == :proven
    end

    test "free flight proves momentum, angular momentum and kinetic energy", %{system: s} do
      assert verdict(s, :drift, :momentum) == :proven
      assert verdict(s, :drift, :angular_momentum) == :proven
      assert verdict(s, :drift, :energy) == :proven
    end

    test "an asymmetric write of mass violates mass", %{system: s} do
      assert {:violated, residual} = verdict(s, :accrete, :mass)
      assert residual =~ "mass: 0.1*b.mass"
    end

    test "an exchange with an agent type outside the law is unverified", %{system: s} do
      assert verdict(s, :bounce, :momentum) == :unverified
    end

    test "violations are warnings naming file, line, rule, law and residual", ctx do
      line =
        ctx.source |> String.split("\n") |> Enum.find_index(&(&1 =~ "one_sided(")) |> Kernel.+(1)

      assert ctx.stderr =~ "rule one_sided violates momentum conservation declared by Body"
      assert ctx.stderr =~ "laws.exs:#{line}"
      assert ctx.stderr =~ "rule falling violates momentum"
      assert ctx.stderr =~ "rule accrete violates mass"
      refute ctx.stderr =~ "rule gravity violates"
      refute ctx.stderr =~ "rule collision violates"
    end

    test "conservation :strict turns a violation into a CompileError", %{source: source} do
      module = "BrzStrict#{System.unique_integer([:positive])}"

      strict =
        source
        |> String.replace(~r/defmodule BrzLaws\d+/, "defmodule #{module}")
        |> String.replace("G = 1.0\n", "G = 1.0\n    conservation :strict\n", global: false)

      error =
        assert_raise CompileError, fn ->
          capture_io(:stderr, fn -> Code.compile_string(strict, "strict.exs") end)
        end

      assert error.description =~ "violates"
      assert error.file =~ "strict.exs"
    end

    test "a division by an expression that is always zero is not proven, and compiles" do
      body = """
      agents do
        defagent Body do
          field :velocity, :vec3
          field :mass, :float
          conserves [:mass, :momentum]
        end
      end

      rules do
        interaction spread(b: Body) do
          b.velocity = b.velocity / (b.mass - b.mass)
        end
      end
      """

      {sim, stderr} = with_io(:stderr, fn -> compile_system(body, "zero_divisor.exs") end)
      assert stderr =~ "rule spread violates momentum conservation"
      system = sim.__system__()
      assert system.conservation.spread.mass == :proven
      assert {:violated, residual} = system.conservation.spread.momentum
      assert residual =~ "div(b.velocity.x, 0)"
    end

    test "mix broken_record.check prints the table", %{system: s} do
      table = Mix.Tasks.BrokenRecord.Check.table(s)
      [_name, header, _rule | rows] = String.split(table, "\n")
      assert header =~ ~r/rule\s+mass\s+momentum\s+angular_momentum\s+energy/
      assert Enum.find(rows, &(&1 =~ ~r/^gravity\s/)) =~ ~r/proven\s+proven\s+proven\s+unverified/
      assert Enum.find(rows, &(&1 =~ ~r/^one_sided\s/)) =~ "VIOLATED"
      assert table =~ "violations:"
      assert table =~ "falling / momentum: momentum.y: -9.81*dt*p.mass"

      output = capture_io(fn -> Mix.Tasks.BrokenRecord.Check.run([inspect(TwoBody)]) end)
      assert output =~ "TwoBody"
      assert output =~ ~r/kick\s+proven\s+proven\s+proven\s+unverified/
    end
  end

  describe "the run-time monitor" do
    defp orbit do
      # A light body on a circular orbit around a heavy one, centre of mass at rest.
      m1 = 1.0
      m2 = 1.0e-3
      v = :math.sqrt(1.0 * (m1 + m2) / 1.0)

      %{
        bodies: [
          %{position: {0.0, 0.0, 0.0}, velocity: {0.0, -v * m2 / (m1 + m2), 0.0}, mass: m1},
          %{position: {1.0, 0.0, 0.0}, velocity: {0.0, v * m1 / (m1 + m2), 0.0}, mass: m2}
        ]
      }
    end

    defp gas do
      :rand.seed(:exsss, {3, 1, 4})

      %{
        particles:
          for i <- 0..63 do
            %{
              position: {rem(i, 4) * 1.0, rem(div(i, 4), 4) * 1.0, div(i, 16) * 1.0},
              velocity: {:rand.uniform() - 0.5, :rand.uniform() - 0.5, :rand.uniform() - 0.5},
              mass: 0.5 + :rand.uniform(),
              radius: 0.3
            }
          end
      }
    end

    defp backends do
      if BrokenRecord.Zero.NIF.loaded?(), do: [:interpreted, :native], else: [:interpreted]
    end

    test "a two-body orbit: momentum exact to rounding, energy drift bounded" do
      for backend <- backends() do
        {state, report} =
          TwoBody.simulate(orbit(),
            steps: 630,
            dt: 0.01,
            rules: [:kick, :drift, :kick],
            backend: backend,
            conservation: :report
          )

        assert length(state.bodies) == 2
        assert report.mass.drift == 0.0
        assert report.momentum.drift < 1.0e-13
        assert report.angular_momentum.drift < 1.0e-12
        assert report.energy.drift < 1.0e-4
        assert report.energy.drift > 0.0
        assert is_float(report.energy.initial) and report.energy.initial < 0.0
      end
    end

    test "an elastic-collision gas: momentum exact to rounding, energy bounded" do
      for backend <- backends() do
        {_state, report} =
          ElasticSpheres.simulate(gas(),
            steps: 200,
            dt: 0.01,
            backend: backend,
            conservation: :report
          )

        assert report.momentum.drift < 1.0e-13
        assert report.mass.drift == 0.0
        assert report.energy.drift < 1.0e-12
      end
    end

    test "both backends report the same totals" do
      if BrokenRecord.Zero.NIF.loaded?() do
        opts = [steps: 100, dt: 0.01, conservation: :report]
        {_, a} = ElasticSpheres.simulate(gas(), [backend: :interpreted] ++ opts)
        {_, b} = ElasticSpheres.simulate(gas(), [backend: :native] ++ opts)

        for law <- [:mass, :energy] do
          assert_in_delta a[law].final, b[law].final, 1.0e-9 * abs(a[law].final)
        end
      end
    end

    test "{:raise, tolerance} raises ConservationError when a drift exceeds it" do
      assert %{bodies: [_, _]} =
               TwoBody.simulate(orbit(),
                 steps: 50,
                 dt: 0.01,
                 rules: [:kick, :drift, :kick],
                 conservation: {:raise, 1.0e-3}
               )

      error =
        assert_raise ConservationError, fn ->
          TwoBody.simulate(orbit(),
            steps: 50,
            dt: 0.2,
            rules: [:kick, :drift, :kick],
            conservation: {:raise, 1.0e-9}
          )
        end

      assert error.law == :energy
      assert error.drift > 1.0e-9
      assert error.message =~ "energy drifted"
    end

    test "a bad conservation option is an ArgumentError" do
      assert_raise ArgumentError, ~r/invalid option conservation/, fn ->
        TwoBody.simulate(orbit(), steps: 1, conservation: :maybe)
      end
    end
  end
end
