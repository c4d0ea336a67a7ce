defmodule BrokenRecord.Zero.OptimizerTest do
  use ExUnit.Case, async: true

  import BrokenRecord.Zero.TestHelpers

  alias BrokenRecord.Zero.{Cutoff, Interpreter, Lowering, Ops, Optimizer, Parser, Program}
  alias BrokenRecord.Zero.{Random, Types}
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

  # The agent value a written lane ends up with after one evaluation: the stored value, or
  # start + delta for an ACC. A lane without a STORE/ACC keeps its start value.
  defp resulting(written, slots) do
    Map.new(written, fn
      {{s, l}, {:acc, delta}} -> {{s, l}, {:acc, slots |> elem(s) |> elem(l) |> Ops.add(delta)}}
      {key, value} -> {key, value}
    end)
  end

  # Exact for STOREs; for a lane that the optimised program accumulates, the resulting agent
  # values agree to 1e-12 relative (the ACC form saves the rounding of (v + d) - v). A lane the
  # optimiser dropped (it stored its own load) must have been stored unchanged.
  defp same_results?(got, expected, slots) do
    got = resulting(got, slots)

    Enum.all?(expected, fn {{s, l} = key, want} ->
      start = slots |> elem(s) |> elem(l)

      case Map.fetch(got, key) do
        {:ok, {:acc, value}} -> close?(value, want)
        {:ok, value} -> identical?(value, want)
        :error -> identical?(want, start) or want == start
      end
    end) and Enum.all?(Map.keys(got), &Map.has_key?(expected, &1))
  end

  defp close?(a, b) when is_float(a) and is_float(b) do
    cond do
      identical?(a, b) or a == b -> true
      not (Ops.finite?(a) and Ops.finite?(b)) -> false
      true -> abs(a - b) <= 1.0e-12 * max(abs(a), abs(b))
    end
  end

  defp close?(a, b), do: a == b

  defp assert_same_stores(raw, optimized, seed) do
    seed(seed)

    for {before, rule} <- Enum.zip(raw.rules, optimized.rules), _ <- 1..@samples do
      slots = random_slots(raw, before)
      params = lanes(length(raw.params))
      expected = Interpreter.eval(before, slots, params)
      got = Interpreter.eval(rule, slots, params)

      assert same_results?(got, expected, slots), """
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
            :acc -> assert arity == 2 and a < arity and b < Enum.at(lanes, a)
            _ -> :ok
          end

          if op in [:store, :acc] do
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
      assert rule.n_regs == Enum.count(rule.instrs, &(elem(&1, 0) not in [:store, :acc]))
      assert_same_stores(raw, optimized, 3)
    end

    test "a division by zero between constants is left to run time, not folded" do
      # Through a local: Types rejects a division by a literal zero.
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
                zero = 0.0
                c.x = 0 / zero + 1 / zero
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
          {:mul, 2, 1, 1, 0},
          {:add, 3, 2, 1, 0},
          {:lt, 4, 3, 1, 0},
          {:store, 0, 0, 0, 3}
        ],
        n_regs: 5
      }

      assert Optimizer.flops(rule) == 3
    end

    test "gravity's velocity stores become accumulating stores (ACC)" do
      system = BrokenRecord.Zero.TestSystems.Gravity.__system__()
      rule = Enum.find(system.program.rules, &(&1.name == :gravity))
      ops = Enum.map(rule.instrs, &elem(&1, 0))

      refute :store in ops
      accs = for {:acc, 0, s, l, _} <- rule.instrs, do: {s, l}
      assert Enum.sort(accs) == [{0, 3}, {0, 4}, {0, 5}, {1, 3}, {1, 4}, {1, 5}]
      # a velocity load is no longer needed, and slot 1 subtracts through a NEG
      refute Enum.any?(rule.instrs, &match?({:load, _, _, l, _} when l in 3..5, &1))
      assert Enum.count(ops, &(&1 == :neg)) == 3
      assert Program.stores(rule) |> Enum.sort() == Enum.sort(accs)
      assert Program.disassemble(rule) =~ "acc slot0.lane3 += r"

      binary = Program.encode(system.program)
      assert binary == system.program_binary
      assert binary |> Program.decode() |> Program.encode() == binary
    end

    test "a pair store that is not load + x stays a STORE; load - x and selects become ACCs" do
      block =
        quote do
          agents do
            defagent Cell do
              field :position, :vec3
              field :x, :float
              field :y, :float
              field :z, :float
              field :w, :float
            end
          end

          rules do
            interaction mix(a: Cell, b: Cell) do
              a.x = a.x * 2.0
              b.x = a.y + b.y
              a.y = a.y - b.w

              if length(a.position - b.position) < 1.5 do
                b.z = b.z + a.w
              end

              b.w = b.w
            end
          end
        end

      {_system, raw, optimized} = pipeline(block)
      [rule] = optimized.rules

      by_lane =
        Map.new(for {op, _, s, l, c} <- rule.instrs, op in [:store, :acc], do: {{s, l}, {op, c}})

      # lanes: position 0..2, x 3, y 4, z 5, w 6
      assert {:store, _} = by_lane[{0, 3}]
      assert {:store, _} = by_lane[{1, 3}]
      assert {:acc, neg} = by_lane[{0, 4}]
      assert Enum.any?(rule.instrs, &match?({:neg, ^neg, _, _, _}, &1))
      assert {:acc, sel} = by_lane[{1, 5}]

      assert {:select, ^sel, _, _, zero} =
               Enum.find(rule.instrs, &(elem(&1, 1) == sel and elem(&1, 0) == :select))

      assert {:const, ^zero, k, _, _} = Enum.find(rule.instrs, &(elem(&1, 1) == zero))
      assert identical?(Enum.at(rule.consts, k), 0.0)
      refute Map.has_key?(by_lane, {1, 6})
      check_program!(optimized)
      assert_same_stores(raw, optimized, 11)
    end

    test "per-agent rules keep their STOREs" do
      system = BrokenRecord.Zero.TestSystems.Gravity.__system__()
      rule = Enum.find(system.program.rules, &(&1.name == :drift))
      assert Enum.any?(rule.instrs, &match?({:store, _, _, _, _}, &1))
      refute Enum.any?(rule.instrs, &match?({:acc, _, _, _, _}, &1))
      assert Optimizer.accumulate(rule) == rule
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
          source = {:rand.uniform(1000), :rand.uniform(1000)}
          [i, j] = [:rand.uniform(100), :rand.uniform(100)]

          case rule.kind do
            :per_agent ->
              {row} = slots
              draw = Random.draw_of(source, id, :per_agent, i, nil)
              expected = outcome(fn -> Interpreter.agent(rule, row, params, draw) end)
              got = outcome(fn -> @module.__brz_agent__(id, row, params, source, i) end)
              assert identical?(got, expected), "#{rule.name} on #{inspect(row)}"

            kind ->
              {a, b} = slots
              {acc_a, acc_b} = Codegen.acc_lanes(rule)
              {modes_a, modes_b} = Codegen.acc_reductions(rule)
              draw = Random.draw_of(source, id, kind, i, j)
              {acc_a, acc_b} = {{acc_a, modes_a}, {acc_b, modes_b}}

              expected =
                outcome(fn -> Interpreter.pair(rule, a, b, params, acc_a, acc_b, draw) end)

              got = outcome(fn -> @module.__brz_pair__(id, a, b, params, source, i, j) end)
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
