defmodule BrokenRecord.Zero.OptimizerTest do
  use ExUnit.Case, async: true

  import BrokenRecord.Zero.TestHelpers

  alias BrokenRecord.Zero.{Cutoff, Interpreter, Lowering, Optimizer, Parser, Program, Types}
  alias BrokenRecord.Zero.Codegen.Elixir, as: Codegen
  alias BrokenRecord.Zero.TestSystems

  @samples 150

  # The pipeline run by hand on a quoted defsystem block.
  defp pipeline(block) do
    system =
      block
      |> Parser.parse(Brz.OptimizerSnippet, "optimizer_test.exs", 1)
      |> Types.check()

    system = %{system | rules: Cutoff.detect(system.rules)}
    raw = Lowering.lower(system)
    {system, raw, Optimizer.optimize(raw)}
  end

  defp random_slots(program, rule) do
    case rule.kind do
      :per_agent ->
        {lanes(Enum.at(program.types, rule.type_a))}

      _ ->
        {lanes(Enum.at(program.types, rule.type_a)), lanes(Enum.at(program.types, rule.type_b))}
    end
  end

  defp assert_same_stores(raw, optimized, seed) do
    seed(seed)

    for {before, rule} <- Enum.zip(raw.rules, optimized.rules), _ <- 1..@samples do
      slots = random_slots(raw, before)
      params = lanes(length(raw.params))
      expected = Interpreter.eval(before, slots, params)
      got = Interpreter.eval(rule, slots, params)

      assert identical?(got, expected), """
      rule #{rule.name}: the optimised program disagrees with the raw one
        slots:     #{inspect(slots)}
        params:    #{inspect(params)}
        raw:       #{inspect(expected)}
        optimised: #{inspect(got)}
      """
    end
  end

  describe "the program before and after optimisation agree on seeded random inputs" do
    for module <- TestSystems.all() do
      @module module
      test "#{inspect(module)}" do
        system = @module.__system__()
        raw = Lowering.lower(system)
        optimized = Optimizer.optimize(raw)
        assert optimized == system.program
        assert_same_stores(raw, optimized, :erlang.phash2(@module))
      end
    end

    test "a pipeline run by hand on a quoted block with algebraic identities and IEEE corners" do
      block =
        quote do
          agents do
            defagent Cell do
              field :x, :float
              field :y, :float
              field :v, :vec3
            end
          end

          rules do
            interaction identities(c: Cell, k: float) do
              a = c.x * 1 + 0
              b = c.y - 0 + -0.0
              e = 1 * (c.x / 1) - 0.0 * c.y
              f = c.x ** 2 + pow(c.y, 2) + c.x ** 1 + 0 ** 0 + 2 ** 10
              g = -(-c.x) + (c.x + c.y) - (c.y + c.x) + k * 0
              h = c.x / (c.y - c.y)
              w = c.v * 1 - {0, 0, 0} + c.v * 0

              if 1 > 0 do
                c.x = a + b + e + f + g
              else
                c.x = h
              end

              if c.x == c.x or c.x != c.x do
                c.v = normalize(w) + normalize({0, 0, 0})
              end

              if k < 0 do
                c.y = h * 0
              end
            end
          end
        end

      {_system, raw, optimized} = pipeline(block)
      [before] = raw.rules
      [rule] = optimized.rules
      assert length(rule.instrs) < length(before.instrs)
      assert_same_stores(raw, optimized, 7)
    end
  end

  describe "optimised programs are valid (docs/program.md validation rules)" do
    for module <- TestSystems.all() do
      @module module
      test "#{inspect(module)}" do
        system = @module.__system__()
        check_program!(Lowering.lower(system))
        check_program!(system.program)
      end
    end
  end

  defp check_program!(%Program{types: types, params: params, rules: rules}) do
    for rule <- rules do
      arity = if rule.kind == :per_agent, do: 1, else: 2

      lanes =
        if arity == 1,
          do: [Enum.at(types, rule.type_a)],
          else: [Enum.at(types, rule.type_a), Enum.at(types, rule.type_b)]

      assert rule.n_regs <= 65_535
      assert Enum.all?(rule.consts, &is_float/1)

      defined =
        Enum.reduce(rule.instrs, MapSet.new(), fn {op, d, a, b, _c} = instr, defined ->
          assert Map.has_key?(Program.opcodes(), op)

          for r <- Program.reads(instr) do
            assert MapSet.member?(defined, r), "#{rule.name}: r#{r} read before it is written"
          end

          case op do
            :const -> assert a < length(rule.consts)
            :param -> assert a < length(params)
            :load -> assert a < arity and b < Enum.at(lanes, a)
            :store -> assert a < arity and b < Enum.at(lanes, a)
            _ -> :ok
          end

          if op == :store do
            assert d == 0
            defined
          else
            assert d < rule.n_regs
            refute MapSet.member?(defined, d), "#{rule.name}: r#{d} written twice"
            MapSet.put(defined, d)
          end
        end)

      stores = Program.stores(rule)
      assert stores == Enum.uniq(stores), "#{rule.name}: two stores to one lane"

      case rule.cutoff do
        nil ->
          :ok

        %{lane_a: la, lane_b: lb, reg: reg} ->
          assert arity == 2
          assert MapSet.member?(defined, reg)
          assert la + 2 < Enum.at(lanes, 0)
          assert lb + 2 < Enum.at(lanes, 1)
      end
    end
  end

  describe "optimisations" do
    test "folds constants, removes dead code and shares common subexpressions" do
      block =
        quote do
          agents do
            defagent Cell do
              field :x, :float
              field :y, :float
            end
          end

          rules do
            interaction fold(c: Cell) do
              unused = sqrt(c.y) * 100
              c.x = (2 + 3) * 4 + c.x * c.x + c.x * c.x
            end
          end
        end

      {_system, raw, optimized} = pipeline(block)
      [rule] = optimized.rules
      ops = Enum.map(rule.instrs, &elem(&1, 0))

      refute :sqrt in ops
      # one multiplication c.x * c.x, shared
      assert Enum.count(ops, &(&1 == :mul)) == 1
      assert 20.0 in rule.consts
      refute 2.0 in rule.consts
      assert length(rule.instrs) < length(hd(raw.rules).instrs)
      assert rule.n_regs == Enum.count(rule.instrs, &(elem(&1, 0) != :store))
      assert_same_stores(raw, optimized, 3)
    end

    test "a division by zero between constants is left to run time, not folded" do
      block =
        quote do
          agents do
            defagent Cell do
              field :x, :float
            end
          end

          rules do
            interaction nan(c: Cell) do
              if c.x > 0 do
                c.x = 0 / 0 + 1 / 0
              end
            end
          end
        end

      {_system, _raw, optimized} = pipeline(block)
      [rule] = optimized.rules
      assert Enum.all?(rule.consts, &is_float/1)
      assert :div in Enum.map(rule.instrs, &elem(&1, 0))
    end

    test "flops counts arithmetic instructions" do
      rule = %Program.Rule{
        kind: :per_agent,
        type_a: 0,
        instrs: [
          {:load, 0, 0, 0, 0},
          {:add, 1, 0, 0, 0},
          {:fma, 2, 1, 1, 1},
          {:lt, 3, 2, 1, 0},
          {:store, 0, 0, 0, 2}
        ],
        n_regs: 4
      }

      assert Optimizer.flops(rule) == 3
    end

    test "the DSL optimize passes" do
      assert Enum.sort(Optimizer.passes()) == [:loop_fusion, :simd, :spatial_hash]
    end
  end

  describe "the generated Elixir functions agree with the interpreter" do
    for module <- TestSystems.all() do
      @module module
      test "#{inspect(module)}" do
        system = @module.__system__()
        program = system.program
        seed(:erlang.phash2({:codegen, @module}))

        for {rule, id} <- Enum.with_index(program.rules), _ <- 1..@samples do
          slots = random_slots(program, rule)
          params = lanes(length(program.params))

          case rule.kind do
            :per_agent ->
              {row} = slots
              expected = outcome(fn -> Interpreter.agent(rule, row, params) end)
              got = outcome(fn -> @module.__brz_agent__(id, row, params) end)
              assert identical?(got, expected), "#{rule.name} on #{inspect(row)}"

            _ ->
              {a, b} = slots
              {acc_a, acc_b} = Codegen.acc_lanes(rule)
              expected = outcome(fn -> Interpreter.pair(rule, a, b, params, acc_a, acc_b) end)
              got = outcome(fn -> @module.__brz_pair__(id, a, b, params) end)
              assert identical?(got, expected), "#{rule.name} on #{inspect({a, b})}"
          end
        end
      end
    end
  end

  defp outcome(fun) do
    fun.()
  catch
    {:brz_nonfinite, slot, lane} -> {:nonfinite, slot, lane}
  end
end
