defmodule BrokenRecord.Zero.Ops do
  @moduledoc """
  IEEE-754 double arithmetic for the BEAM, which has no NaN or infinity.

  A value is a float or one of the atoms `:nan`, `:inf`, `:neg_inf`. Every function implements
  the opcode of the same name in `docs/program.md` exactly as C++ does on doubles (apart from the
  sign of zero in a few corner cases), so the pure-Elixir backend can evaluate an untaken branch
  that divides by zero, and detect a non-finite stored value, exactly where the native engine
  does. The fast path of generated code uses plain float arithmetic and only falls back to these
  functions when the BEAM raises.
  """

  alias BrokenRecord.Zero.Program.Op

  @type value :: float | :nan | :inf | :neg_inf

  @doc "Applies opcode `op` (an atom from `docs/program.md`, lower case) to its operands."
  @spec apply_op(atom, [value]) :: value
  for op <- Op.computed() do
    args = Macro.generate_arguments(op.arity, __MODULE__)
    def apply_op(unquote(op.name), unquote(args)), do: unquote(op.eval)(unquote_splicing(args))
  end

  @doc "Whether a value is a finite float."
  @spec finite?(value) :: boolean
  def finite?(x), do: is_float(x)

  @doc "Converts any number to a float value."
  @spec to_value(number) :: float
  def to_value(x) when is_float(x), do: x
  def to_value(x) when is_integer(x), do: x * 1.0

  ## Arithmetic

  @doc false
  def add(a, b) when is_float(a) and is_float(b) do
    a + b
  rescue
    ArithmeticError -> if a > 0, do: :inf, else: :neg_inf
  end

  def add(:nan, _), do: :nan
  def add(_, :nan), do: :nan
  def add(:inf, :neg_inf), do: :nan
  def add(:neg_inf, :inf), do: :nan
  def add(a, b) when is_atom(a) and is_float(b), do: a
  def add(a, b) when is_float(a) and is_atom(b), do: b
  def add(a, a), do: a

  @doc false
  def sub(a, b), do: add(a, neg(b))

  @doc false
  # `-a` is compiled to `0.0 - a` for a known float (OTP 25), which loses the sign of 0.0.
  def neg(a) when is_float(a), do: -1.0 * a
  def neg(:inf), do: :neg_inf
  def neg(:neg_inf), do: :inf
  def neg(:nan), do: :nan

  @doc false
  def mul(a, b) when is_float(a) and is_float(b) do
    a * b
  rescue
    ArithmeticError -> signed_inf(sign(a) * sign(b))
  end

  def mul(:nan, _), do: :nan
  def mul(_, :nan), do: :nan

  def mul(a, b) do
    if zero?(a) or zero?(b), do: :nan, else: signed_inf(sign(a) * sign(b))
  end

  @doc false
  def divide(a, b) when is_float(a) and is_float(b) do
    cond do
      b == 0.0 and a == 0.0 -> :nan
      b == 0.0 -> signed_inf(sign(a) * zero_sign(b))
      true -> safe_div(a, b)
    end
  end

  def divide(:nan, _), do: :nan
  def divide(_, :nan), do: :nan
  def divide(a, b) when is_atom(a) and is_atom(b), do: :nan
  def divide(a, b) when is_atom(a), do: signed_inf(sign(a) * zero_sign(b))
  def divide(a, _b) when is_float(a), do: 0.0

  defp safe_div(a, b) do
    a / b
  rescue
    ArithmeticError -> signed_inf(sign(a) * sign(b))
  end

  @doc false
  def pow(a, b) when is_float(a) and is_float(b) do
    cond do
      b == 0.0 -> 1.0
      a == 0.0 and b < 0.0 -> if odd_integer?(b), do: signed_inf(zero_sign(a)), else: :inf
      a < 0.0 and b != Float.floor(b) -> :nan
      true -> float_pow(a, b)
    end
  end

  def pow(_, b) when b == 0.0, do: 1.0
  def pow(a, _) when a == 1.0, do: 1.0
  def pow(:nan, _), do: :nan
  def pow(_, :nan), do: :nan

  def pow(a, b) when is_atom(b) do
    m = abs_(a)

    cond do
      m == 1.0 -> 1.0
      (b == :inf and lt(1.0, m) == 1.0) or (b == :neg_inf and lt(m, 1.0) == 1.0) -> :inf
      true -> 0.0
    end
  end

  def pow(:inf, b), do: if(b > 0.0, do: :inf, else: 0.0)

  def pow(:neg_inf, b) do
    cond do
      b < 0.0 -> 0.0
      odd_integer?(b) -> :neg_inf
      true -> :inf
    end
  end

  defp float_pow(a, b) do
    :math.pow(a, b)
  rescue
    ArithmeticError ->
      magnitude_big = abs(a) > 1.0 == b > 0.0

      cond do
        not magnitude_big -> 0.0
        a < 0.0 and odd_integer?(b) -> :neg_inf
        true -> :inf
      end
  end

  @doc false
  def abs_(a) when is_float(a), do: abs(a)
  def abs_(:nan), do: :nan
  def abs_(_), do: :inf

  @doc false
  def sqrt(a) when is_float(a) and a >= 0.0, do: :math.sqrt(a)
  def sqrt(a) when is_float(a), do: :nan
  def sqrt(:inf), do: :inf
  def sqrt(_), do: :nan

  @doc false
  def exp(a) when is_float(a) do
    :math.exp(a)
  rescue
    ArithmeticError -> if a > 0, do: :inf, else: 0.0
  end

  def exp(:inf), do: :inf
  def exp(:neg_inf), do: 0.0
  def exp(:nan), do: :nan

  @doc false
  def log(a) when is_float(a) and a > 0.0, do: :math.log(a)
  def log(a) when is_float(a) and a == 0.0, do: :neg_inf
  def log(:inf), do: :inf
  def log(_), do: :nan

  defp trig(fun, a) when is_float(a), do: apply(:math, fun, [a])
  defp trig(_fun, _), do: :nan

  @doc false
  # C's atan2(y, x), infinities included (the quadrant of an infinite operand is exact).
  def atan2(:nan, _), do: :nan
  def atan2(_, :nan), do: :nan
  def atan2(y, x) when is_float(y) and is_float(x), do: :math.atan2(y, x)
  def atan2(y, :inf) when is_float(y), do: y * 0.0
  def atan2(y, :neg_inf) when is_float(y), do: if(sign(y) < 0, do: -:math.pi(), else: :math.pi())
  def atan2(y, :inf), do: :math.atan2(sign(y) * 1.0, 1.0)
  def atan2(y, :neg_inf), do: :math.atan2(sign(y) * 1.0, -1.0)
  def atan2(y, _x), do: :math.atan2(sign(y) * 1.0, 0.0)

  @doc false
  def tanh(a) when is_float(a), do: :math.tanh(a)
  def tanh(:inf), do: 1.0
  def tanh(:neg_inf), do: -1.0
  def tanh(:nan), do: :nan

  @doc false
  # C's round: half away from zero, the sign of zero kept. Not :erlang.round/1, which may add
  # 0.5 and round up 0.49999999999999994.
  def round_(a) when is_float(a) and a == 0.0, do: a
  def round_(a) when is_float(a) and a < 0.0, do: neg(round_(neg(a)))
  def round_(a) when is_float(a) and a >= 4.503599627370496e15, do: a

  def round_(a) when is_float(a) do
    f = Float.floor(a)
    if a - f >= 0.5, do: f + 1.0, else: f
  end

  def round_(a), do: a

  @doc false
  # C's nearbyint in the default rounding mode: to nearest, half to even, the sign of zero kept.
  def rint_(a) when is_float(a) and a == 0.0, do: a
  def rint_(a) when is_float(a) and a < 0.0, do: neg(rint_(neg(a)))
  def rint_(a) when is_float(a) and a >= 4.503599627370496e15, do: a

  def rint_(a) when is_float(a) do
    f = Float.floor(a)

    cond do
      a - f > 0.5 -> f + 1.0
      a - f < 0.5 -> f
      rem(trunc(f), 2) == 0 -> f
      true -> f + 1.0
    end
  end

  def rint_(a), do: a

  @doc false
  # The minimum image of a coordinate difference: a - b * rint(a * c), step by step as C++
  # computes it.
  def minimg(a, b, c), do: sub(a, mul(b, rint_(mul(a, c))))

  @doc false
  # 1.0 above zero, -1.0 below; a zero (either sign) and NaN are returned as they are.
  def sign_(a) when is_float(a) and a > 0.0, do: 1.0
  def sign_(a) when is_float(a) and a < 0.0, do: -1.0
  def sign_(a) when is_float(a), do: a
  def sign_(:inf), do: 1.0
  def sign_(:neg_inf), do: -1.0
  def sign_(:nan), do: :nan

  @doc false
  # Floored modulo, a - b * floor(a / b) step by step as C++ computes it: b = 0 gives NaN.
  def mod(a, b), do: sub(a, mul(b, floor_(divide(a, b))))

  @doc false
  def floor_(a) when is_float(a), do: Float.floor(a)
  def floor_(a), do: a

  @doc false
  def sin(a), do: trig(:sin, a)

  @doc false
  def cos(a), do: trig(:cos, a)

  @doc false
  def min_(a, b), do: if(lt(b, a) == 1.0, do: b, else: a)

  @doc false
  def max_(a, b), do: if(lt(a, b) == 1.0, do: b, else: a)

  ## Comparisons and logic (1.0 true, 0.0 false; NaN is unordered, and true as an operand)

  @doc false
  def lt(a, b) when is_float(a) and is_float(b), do: bool(a < b)
  def lt(a, b), do: bool(ordered?(a, b) and compare(a, b) == :lt)

  @doc false
  def le(a, b), do: bool(ordered?(a, b) and compare(a, b) != :gt)

  @doc false
  def gt(a, b), do: lt(b, a)

  @doc false
  def ge(a, b), do: bool(ordered?(a, b) and compare(a, b) != :lt)

  @doc false
  def eq(a, b), do: bool(ordered?(a, b) and compare(a, b) == :eq)

  @doc false
  def ne(a, b), do: bool(not (ordered?(a, b) and compare(a, b) == :eq))

  @doc false
  def and_(a, b), do: bool(truthy?(a) and truthy?(b))

  @doc false
  def or_(a, b), do: bool(truthy?(a) or truthy?(b))

  @doc false
  def not_(a), do: bool(not truthy?(a))

  @doc false
  def select(c, a, b), do: if(truthy?(c), do: a, else: b)

  ## Helpers

  defp bool(true), do: 1.0
  defp bool(false), do: 0.0

  defp truthy?(a), do: a != 0.0

  defp ordered?(a, b), do: a != :nan and b != :nan

  defp compare(a, b), do: compare_rank(rank(a), rank(b))

  defp compare_rank(x, y) when x < y, do: :lt
  defp compare_rank(x, y) when x > y, do: :gt
  defp compare_rank(_, _), do: :eq

  defp rank(:neg_inf), do: {0, 0.0}
  defp rank(:inf), do: {2, 0.0}
  defp rank(x) when is_float(x), do: {1, x + 0.0}

  defp zero?(x), do: is_float(x) and x == 0.0

  defp sign(:inf), do: 1
  defp sign(:neg_inf), do: -1
  defp sign(x) when x > 0.0, do: 1
  defp sign(x) when x < 0.0, do: -1
  defp sign(x), do: zero_sign(x)

  # The sign of a (possibly negative) zero.
  defp zero_sign(x) when is_float(x) do
    <<s::1, _::63>> = <<x::float>>
    if s == 1, do: -1, else: 1
  end

  defp zero_sign(x), do: sign(x)

  defp signed_inf(s) when s > 0, do: :inf
  defp signed_inf(_), do: :neg_inf

  defp odd_integer?(b) when is_float(b),
    do: b == Float.floor(b) and abs(b) < 9.0e15 and rem(trunc(b), 2) != 0

  defp odd_integer?(_), do: false
end
