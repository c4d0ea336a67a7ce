defmodule BrokenRecord.Zero.CutoffTest do
  use ExUnit.Case, async: true

  import BrokenRecord.Zero.TestHelpers

  alias BrokenRecord.Zero.{CompiledSystem, Cutoff, Interpreter, Parser, Types}
  alias BrokenRecord.Zero.Fixtures.CollisionWorld
  alias BrokenRecord.Zero.TestSystems.{Chain, Cutoffs, Gravity}

  defp cutoff(module, rule), do: CompiledSystem.rule(module.__system__(), rule).cutoff

  describe "cutoffs recorded in __system__/0" do
    test "the elastic collision rule: length of the position difference below the radii sum" do
      assert %{position: {:position, :position}, bound: bound} =
               cutoff(CollisionWorld, :collision)

      assert {:call, %{type: :float},
              {:add, [{:field, _, {:p1, :radius}}, {:field, _, {:p2, :radius}}]}} = bound
    end

    test "non-distance guards, per-agent rules and unguarded rules have none" do
      assert cutoff(CollisionWorld, :wall_bounce) == nil
      assert cutoff(CollisionWorld, :integrate) == nil
      assert cutoff(Gravity, :gravity) == nil
      assert cutoff(Cutoffs, :unguarded) == nil
      assert cutoff(Cutoffs, :not_distance) == nil
    end

    test "an if with an else, or a write outside the guard, has none" do
      assert cutoff(Cutoffs, :with_else) == nil
      assert cutoff(Cutoffs, :write_outside) == nil
    end

    test "dot(d, d) < c * c gives the bound c" do
      assert %{position: {:position, :position}, bound: {:num, _, 2.5}} =
               cutoff(Cutoffs, :squared)
    end

    test "dot(d, d) < c2 gives the bound sqrt(c2)" do
      assert %{position: {:position, :position}, bound: bound} = cutoff(Cutoffs, :squared_param)
      assert {:call, _, {:sqrt, [{:param, _, :rc2}]}} = bound
    end

    test "a reversed comparison inside a conjunction" do
      assert %{position: {:position, :position}, bound: bound} = cutoff(Cutoffs, :reversed)
      assert {:call, _, {:add, [{:field, _, {:a, :radius}}, {:field, _, {:b, :radius}}]}} = bound
    end

    test "cross-type pairs and a bound from one field" do
      assert %{position: {:position, :position}, bound: {:field, _, {:x, :reach}}} =
               cutoff(Cutoffs, :tether)
    end

    test "a literal bound (Chain)" do
      assert %{position: {:position, :position}, bound: {:num, _, 1.5}} = cutoff(Chain, :exchange)
    end

    test "the program records the lanes of the position fields and the bound register" do
      system = Cutoffs.__system__()

      for {rule, prog} <- Enum.zip(system.rules, system.program.rules) do
        case rule.cutoff do
          nil ->
            assert prog.cutoff == nil

          _ ->
            assert %{lane_a: 0, lane_b: 0, reg: reg} = prog.cutoff
            assert reg < prog.n_regs
        end
      end
    end
  end

  describe "Cutoff.detect on parsed rules" do
    defp detect(body, extra_fields \\ []) do
      block =
        quote do
          agents do
            defagent Atom do
              field :pos, :vec3
              field :vel, :vec3
              field :sigma, :float
              unquote_splicing(extra_fields)
            end
          end

          rules do
            interaction rule(a: Atom, b: Atom, rc: float) do
              unquote(body)
            end
          end
        end

      system = block |> Parser.parse(Brz.CutoffSnippet, "cutoff_test.exs", 1) |> Types.check()
      [rule] = Cutoff.detect(system.rules)
      rule.cutoff
    end

    test "the bound may combine params, fields and constants" do
      cutoff =
        detect(
          quote do
            d = b.pos - a.pos
            r = length(d)

            if r < 2 * rc + a.sigma do
              a.vel = a.vel - d * 0.1
            end
          end
        )

      assert %{position: {:pos, :pos}, bound: _} = cutoff
    end

    test "the bound may not depend on locals that are not bounded (a velocity)" do
      cutoff =
        detect(
          quote do
            d = b.pos - a.pos
            s = length(a.vel)

            if length(d) < s do
              a.vel = a.vel * 0.5
            end
          end
        )

      assert cutoff == nil
    end

    test "a difference of two fields of the same agent is no distance" do
      cutoff =
        detect(
          quote do
            if length(a.pos - a.vel) < rc do
              a.vel = a.vel * 0.5
            end
          end
        )

      assert cutoff == nil
    end

    test "a disjunction is no cutoff" do
      cutoff =
        detect(
          quote do
            if length(a.pos - b.pos) < rc or a.sigma > 1 do
              a.vel = a.vel * 0.5
            end
          end
        )

      assert cutoff == nil
    end

    test "sqrt(dot(d, d)) counts as a length" do
      cutoff =
        detect(
          quote do
            d = a.pos - b.pos

            if sqrt(dot(d, d)) < rc do
              a.vel = a.vel * 0.5
            end
          end
        )

      assert %{position: {:pos, :pos}, bound: {:param, _, :rc}} = cutoff
    end
  end

  describe "the cutoff contract: beyond the bound a pair stores nothing different" do
    # Evaluates the rule with one extra store of the bound register, so the bound of each
    # random pair is known.
    defp check_contract(module, rule_name, samples, spread) do
      system = module.__system__()
      index = CompiledSystem.rule(system, rule_name).index
      rule = Enum.at(system.program.rules, index)
      %{lane_a: la, lane_b: lb, reg: reg} = rule.cutoff
      probe = %{rule | instrs: rule.instrs ++ [{:store, 0, 0, 1_000, reg}]}
      [ta, tb] = [rule.type_a, rule.type_b]
      seed(:erlang.phash2({module, rule_name}))

      outside =
        for _ <- 1..samples, reduce: 0 do
          count ->
            a = random_agent(Enum.at(system.program.types, ta), la, spread)
            b = random_agent(Enum.at(system.program.types, tb), lb, spread)

            params =
              List.to_tuple([0.01 | for(_ <- 2..length(system.params)//1, do: uniform(0.5, 4.0))])

            stores = Interpreter.eval(probe, {a, b}, params)
            {bound, stores} = Map.pop(stores, {0, 1_000})
            pa = {elem(a, la), elem(a, la + 1), elem(a, la + 2)}
            pb = {elem(b, lb), elem(b, lb + 1), elem(b, lb + 2)}

            if norm(sub(pa, pb)) >= bound do
              for {{slot, lane}, value} <- stores do
                loaded = elem(if(slot == 0, do: a, else: b), lane)

                case value do
                  {:acc, delta} ->
                    assert delta == 0.0,
                           "#{rule_name}: a pair beyond the cutoff accumulated a change"

                  value ->
                    assert identical?(value, loaded),
                           "#{rule_name}: a pair beyond the cutoff stored a change"
                end
              end

              count + 1
            else
              count
            end
        end

      assert outside > 0
    end

    defp random_agent(lanes, pos_lane, spread) do
      lanes
      |> lanes()
      |> Tuple.to_list()
      |> Enum.with_index()
      |> Enum.map(fn
        {_, i} when i in pos_lane..(pos_lane + 2) -> uniform(-spread, spread)
        {v, _} -> abs(v)
      end)
      |> List.to_tuple()
    end

    test "for every rule with a cutoff in the test systems" do
      for module <- BrokenRecord.Zero.TestSystems.all(),
          rule <- module.__system__().rules,
          rule.cutoff != nil,
          rule.name != :inclusive do
        check_contract(module, rule.name, 200, 3.0)
      end
    end

    test "a <= guard: a pair at exactly the bound still interacts, so it must not get a cutoff" do
      # docs/program.md: if |pos_a - pos_b| >= c the body stores nothing different. With
      # `length(d) <= c` a pair at distance exactly c does store, so an engine that skips
      # pairs at >= c would change the result.
      state = %{
        particles: [
          %{position: {0.0, 0.0, 0.0}, velocity: {0.0, 0.0, 0.0}, radius: 0.1},
          %{position: {1.0, 0.0, 0.0}, velocity: {0.0, 0.0, 0.0}, radius: 0.1}
        ]
      }

      out = Cutoffs.simulate(state, steps: 1, rules: [:inclusive], backend: :interpreted)
      assert hd(out.particles).velocity == {1.0, 0.0, 0.0}

      # Either no cutoff, or a bound the engine would not skip this pair at.
      system = Cutoffs.__system__()
      rule = Enum.at(system.program.rules, CompiledSystem.rule(system, :inclusive).index)

      case rule.cutoff do
        nil ->
          :ok

        %{reg: reg} ->
          probe = %{rule | instrs: rule.instrs ++ [{:store, 0, 0, 1_000, reg}]}

          [a, b] =
            Enum.map(
              state.particles,
              &List.to_tuple(Tuple.to_list(&1.position) ++ [0.0, 0.0, 0.0, 0.1])
            )

          bound = Map.fetch!(Interpreter.eval(probe, {a, b}, {0.01, 1.0}), {0, 1_000})

          assert 1.0 < bound,
                 "a <= guard got the cutoff bound #{bound}: the pair at distance 1.0 interacts " <>
                   "but an engine may skip it"
      end
    end
  end
end
