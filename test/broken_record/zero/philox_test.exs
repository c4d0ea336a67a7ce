defmodule BrokenRecord.Zero.PhiloxTest do
  @moduledoc """
  `BrokenRecord.Zero.Philox` against Random123's known answers, against the engine's
  `include/brz/philox.hpp` through tables of exact results (the same literal rows as in
  test/cpp/test_philox.cpp), and the mean and variance of its deviates.
  """
  use ExUnit.Case, async: true

  import Bitwise

  alias BrokenRecord.Zero.Philox

  # uniform_f64(hi, lo) -> its bits, computed by the engine (test/cpp/test_philox.cpp).
  @uniform_table [
    # uniform table begin
    {0x00000000, 0x00000000, 0x3CA0000000000000},
    {0xFFFFFFFF, 0xFFFFFFFF, 0x3FEFFFFFFFFFFFFF},
    {0x00000000, 0x00000FFF, 0x3CA0000000000000},
    {0x00000000, 0x00001000, 0x3CB8000000000000},
    {0x00000001, 0x00000000, 0x3DF0000080000000},
    {0x80000000, 0x00000000, 0x3FE0000000000001},
    {0x12345678, 0x9ABCDEF0, 0x3FB23456789ABCD8},
    {0x6627E8D5, 0xE169C58D, 0x3FD989FA35785A72},
    {0xBC57AC4C, 0x9B00DBD8, 0x3FE78AF58993601B},
    {0xD16CFE09, 0x94FDCCEB, 0x3FEA2D9FC1329FB9},
    {0x5001E420, 0x24126EA1, 0x3FD400790809049A},
    {0x408F276D, 0x41C83B0E, 0x3FD023C9DB50720E},
    {0xA20BC7C6, 0x6D5451FD, 0x3FE44178F8CDAA8B}
    # uniform table end
  ]

  # normal_f64(uniform_f64(w0, w1), uniform_f64(w2, w3)) -> its bits, computed by the engine
  # with glibc's libm; checked to within @normal_ulps (another libm may differ in the last bits).
  @normal_table [
    # normal table begin
    {0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8, 0xBFBF1BCD549837E1},
    {0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1, 0xBFCF0E5557976905},
    {0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD, 0xBFF1D0237EB0DFC3},
    {0x00000000, 0x00000000, 0x00000000, 0x00000000, 0x402124B2800EDA48},
    {0x00000000, 0x00000000, 0xFFFFFFFF, 0xFFFFFFFF, 0x402124B2800EDA48},
    {0xFFFFFFFF, 0xFFFFFFFF, 0x00000000, 0x00000000, 0x3E50000000000000}
    # normal table end
  ]
  @normal_ulps 4

  defp bits(x), do: :binary.decode_unsigned(<<x::float-64>>)

  test "Random123's known answers" do
    assert Philox.philox4x32_10({0, 0, 0, 0}, {0, 0}) ==
             {0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8}

    assert Philox.philox4x32_10(
             {0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344},
             {0xA4093822, 0x299F31D0}
           ) == {0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1}

    assert Philox.philox4x32_10(
             {0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF},
             {0xFFFFFFFF, 0xFFFFFFFF}
           ) == {0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD}
  end

  test "words outside 0..2^32-1 are rejected" do
    assert_raise FunctionClauseError, fn -> Philox.philox4x32_10({1 <<< 32, 0, 0, 0}, {0, 0}) end
    assert_raise FunctionClauseError, fn -> Philox.philox4x32_10({0, 0, 0, 0}, {-1, 0}) end
    assert_raise FunctionClauseError, fn -> Philox.uniform_f64(0, 1 <<< 32) end
  end

  test "uniform_f64 is bit-identical to the engine's" do
    for {hi, lo, expected} <- @uniform_table do
      assert {hi, lo, bits(Philox.uniform_f64(hi, lo))} == {hi, lo, expected}
    end
  end

  test "normal_f64 matches the engine's to within a few ulps" do
    for {w0, w1, w2, w3, expected} <- @normal_table do
      z = Philox.normal_f64(Philox.uniform_f64(w0, w1), Philox.uniform_f64(w2, w3))
      # Same-sign finite doubles: the difference of their bits counts the ulps between them.
      assert abs(bits(z) - expected) <= @normal_ulps, "words #{inspect({w0, w1, w2, w3})}"
    end
  end

  test "uniforms stay inside (0, 1) at the extremes" do
    assert Philox.uniform_f64(0, 0) > 0.0
    assert Philox.uniform_f64(0xFFFFFFFF, 0xFFFFFFFF) < 1.0
    assert Philox.normal_f64(Philox.uniform_f64(0, 0), 0.5) == -:math.sqrt(106 * :math.log(2))
  end

  # 10^5 deviates from counters (i, j, 0, 0) under a fixed key: two uniforms per counter (j = 0)
  # or one normal (j = 1). Each bound is 5 standard errors of the estimate for a perfect generator
  # (for a variance about the known mean: sqrt((mu4 - sigma^4) / N)), which a correct generator
  # fails with probability 6e-7.
  test "uniforms and normals have the right mean and variance" do
    n = 100_000
    key = {0xCAFEF00D, 0x0BADBEEF}

    us =
      Enum.flat_map(0..(div(n, 2) - 1), fn i ->
        {x0, x1, x2, x3} = Philox.philox4x32_10({i, 0, 0, 0}, key)
        [Philox.uniform_f64(x0, x1), Philox.uniform_f64(x2, x3)]
      end)

    zs =
      Enum.map(0..(n - 1), fn i ->
        {x0, x1, x2, x3} = Philox.philox4x32_10({i, 1, 0, 0}, key)
        Philox.normal_f64(Philox.uniform_f64(x0, x1), Philox.uniform_f64(x2, x3))
      end)

    mean = fn xs -> Enum.sum(xs) / n end

    moment2 = fn xs, mu ->
      Enum.reduce(xs, 0.0, fn x, acc -> acc + (x - mu) * (x - mu) end) / n
    end

    # Uniform: mean 1/2, variance 1/12, mu4 = 1/80.
    assert abs(mean.(us) - 0.5) < 5 * :math.sqrt(1 / 12 / n)
    assert abs(moment2.(us, 0.5) - 1 / 12) < 5 * :math.sqrt((1 / 80 - 1 / 144) / n)
    # Normal: mean 0, variance 1, mu4 = 3.
    assert abs(mean.(zs)) < 5 * :math.sqrt(1 / n)
    assert abs(moment2.(zs, 0.0) - 1) < 5 * :math.sqrt(2 / n)
  end
end
