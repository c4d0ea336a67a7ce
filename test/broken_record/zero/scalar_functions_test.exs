defmodule BrokenRecord.Zero.ScalarFunctionsTest do
  @moduledoc """
  The scalar functions of the op table added after the first set: their IEEE evaluation
  (`BrokenRecord.Zero.Ops`, which folds constants and runs the pure-Elixir backend's careful
  path), and the native engine against the pure-Elixir backend on edge values.
  """
  use ExUnit.Case, async: true

  import BrokenRecord.Zero.TestHelpers

  alias BrokenRecord.Zero.Ops

  defmodule Systems do
    @moduledoc false
    use BrokenRecord.Zero

    defsystem Modulo do
      agents do
        defagent Pair do
          field :a, :float
          field :b, :float
          field :mod, :float
        end
      end

      rules do
        interaction apply(p: Pair) do
          p.mod = mod(p.a, p.b)
        end
      end
    end

    defsystem Functions do
      agents do
        defagent Sample do
          field :x, :float
          field :y, :float
          field :atan2, :float
          field :tanh, :float
          field :round, :float
          field :sign, :float
        end
      end

      rules do
        interaction apply(s: Sample) do
          s.atan2 = atan2(s.y, s.x)
          s.tanh = tanh(s.x)
          s.round = round(s.x)
          s.sign = sign(s.x)
        end
      end
    end
  end

  alias BrokenRecord.Zero.NumericalError
  alias Systems.{Functions, Modulo}

  @edges [
    0.0,
    1.0,
    -1.0,
    0.5,
    -0.5,
    1.5,
    -1.5,
    2.5,
    -2.5,
    3.0,
    -7.25,
    1.0e300,
    -1.0e300,
    4.5e15,
    -4.5e15,
    1.0e-310,
    123.456,
    0.49999999999999994,
    -0.4,
    2_251_799_813_685_248.5
  ]

  # OTP 25 compiles a -0.0 literal to 0.0: the negative zero is built at run time.
  defp neg_zero, do: :erlang.binary_to_term(<<131, 70, 128, 0, 0, 0, 0, 0, 0, 0>>)

  defp edges, do: [neg_zero() | @edges]

  defp samples do
    for y <- edges(),
        x <- edges(),
        do: %{x: x, y: y, atan2: 0.0, tanh: 0.0, round: 0.0, sign: 0.0}
  end

  @tag :native
  test "native and pure-Elixir backends agree on edge values of every function" do
    state = %{samples: samples()}
    a = Functions.simulate(state, steps: 1, backend: :interpreted)
    b = Functions.simulate(state, steps: 1, backend: :native)
    assert_identical(b, a)
  end

  describe "atan2" do
    test "is C's atan2 on finite values, signed zeros included" do
      assert Ops.apply_op(:atan2, [1.0, 1.0]) == :math.pi() / 4
      assert bits(Ops.apply_op(:atan2, [neg_zero(), 1.0])) == bits(neg_zero())
      assert Ops.apply_op(:atan2, [0.0, -1.0]) == :math.pi()
      assert Ops.apply_op(:atan2, [neg_zero(), -1.0]) == -:math.pi()
      assert Ops.apply_op(:atan2, [-2.0, 0.0]) == -:math.pi() / 2
    end

    test "gives C's angles for infinite operands and NaN for NaN" do
      assert Ops.apply_op(:atan2, [:inf, 3.0]) == :math.pi() / 2
      assert Ops.apply_op(:atan2, [:neg_inf, -3.0]) == -:math.pi() / 2
      assert Ops.apply_op(:atan2, [:inf, :inf]) == :math.pi() / 4
      assert Ops.apply_op(:atan2, [:neg_inf, :neg_inf]) == -3 * :math.pi() / 4
      assert bits(Ops.apply_op(:atan2, [-5.0, :inf])) == bits(neg_zero())
      assert Ops.apply_op(:atan2, [5.0, :neg_inf]) == :math.pi()
      assert Ops.apply_op(:atan2, [-5.0, :neg_inf]) == -:math.pi()
      assert Ops.apply_op(:atan2, [:nan, 1.0]) == :nan
      assert Ops.apply_op(:atan2, [1.0, :nan]) == :nan
    end

    test "a DSL call runs on the pure-Elixir backend" do
      state = %{samples: [%{x: -1.0, y: 0.0, atan2: 0.0, tanh: 0.0, round: 0.0, sign: 0.0}]}
      %{samples: [s]} = Functions.simulate(state, steps: 1, backend: :interpreted)
      assert s.atan2 == :math.pi()
    end
  end

  describe "tanh" do
    test "is libm's tanh, saturating at the infinities" do
      assert Ops.apply_op(:tanh, [0.5]) == :math.tanh(0.5)
      assert Ops.apply_op(:tanh, [:inf]) == 1.0
      assert Ops.apply_op(:tanh, [:neg_inf]) == -1.0
      assert Ops.apply_op(:tanh, [:nan]) == :nan
      assert bits(Ops.apply_op(:tanh, [neg_zero()])) == bits(neg_zero())
    end
  end

  describe "round" do
    test "rounds halves away from zero, as C's round and Erlang's round" do
      for x <- [0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 3.7, -3.7, 1.0e300, 2_251_799_813_685_248.5] do
        assert Ops.apply_op(:round, [x]) == :erlang.float(round(x))
      end

      assert Ops.apply_op(:round, [0.49999999999999994]) == 0.0
      assert bits(Ops.apply_op(:round, [-0.4])) == bits(neg_zero())
      assert Ops.apply_op(:round, [:inf]) == :inf
      assert Ops.apply_op(:round, [:nan]) == :nan
    end

    test "a DSL call runs on the pure-Elixir backend" do
      state = %{samples: [%{x: 2.5, y: 0.0, atan2: 0.0, tanh: 0.0, round: 0.0, sign: 0.0}]}
      %{samples: [s]} = Functions.simulate(state, steps: 1, backend: :interpreted)
      assert s.round == 3.0
    end
  end

  describe "sign" do
    test "is -1.0, 0.0 or 1.0; a zero keeps its sign and NaN stays NaN" do
      assert Ops.apply_op(:sign, [-3.5]) == -1.0
      assert Ops.apply_op(:sign, [1.0e-310]) == 1.0
      assert Ops.apply_op(:sign, [0.0]) == 0.0
      assert bits(Ops.apply_op(:sign, [neg_zero()])) == bits(neg_zero())
      assert Ops.apply_op(:sign, [:inf]) == 1.0
      assert Ops.apply_op(:sign, [:neg_inf]) == -1.0
      assert Ops.apply_op(:sign, [:nan]) == :nan
    end
  end

  describe "mod" do
    test "is floored: the sign of the divisor" do
      assert Ops.apply_op(:mod, [7.0, 3.0]) == 1.0
      assert Ops.apply_op(:mod, [-7.0, 3.0]) == 2.0
      assert Ops.apply_op(:mod, [7.0, -3.0]) == -2.0
      assert Ops.apply_op(:mod, [-7.5, -2.0]) == -1.5
      assert Ops.apply_op(:mod, [5.0, :inf]) == :nan
    end

    test "by zero is NaN, and storing it is a NumericalError on both backends" do
      assert Ops.apply_op(:mod, [1.0, 0.0]) == :nan
      assert Ops.apply_op(:mod, [0.0, 0.0]) == :nan
      state = %{pairs: [%{a: 1.0, b: 0.0, mod: 0.0}]}

      for backend <-
            if(BrokenRecord.Zero.NIF.loaded?(), do: [:interpreted, :native], else: [:interpreted]) do
        assert_raise NumericalError, fn -> Modulo.simulate(state, steps: 1, backend: backend) end
      end
    end

    @tag :native
    test "native and pure-Elixir backends agree on edge values" do
      # Only pairs whose result is finite: 1.0e300 mod 1.0e-310 overflows (a NumericalError).
      pairs =
        for a <- edges(),
            b <- edges(),
            Ops.finite?(Ops.apply_op(:mod, [a, b])),
            do: %{a: a, b: b, mod: 0.0}

      %{pairs: want} = Modulo.simulate(%{pairs: pairs}, steps: 1, backend: :interpreted)
      %{pairs: got} = Modulo.simulate(%{pairs: pairs}, steps: 1, backend: :native)

      # The generated kernels may fuse b * floor(a / b) with the subtraction: one rounding of a.
      Enum.zip(want, got)
      |> Enum.each(fn {w, g} ->
        assert abs(w.mod - g.mod) <= 4.0e-16 * max(abs(w.a), abs(w.b)), inspect({w, g})
      end)
    end
  end
end
