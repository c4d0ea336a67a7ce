defmodule BrokenRecord.Zero.Philox do
  @moduledoc """
  The counter-based random number generator of both backends: Philox4x32-10 (bit-identical to
  Random123's `philox4x32_R(10, ...)`) and the conversion of its words to uniform and normal
  deviates, in integer arithmetic, equal to the engine's `include/brz/philox.hpp` (the exact
  definitions are in docs/engine.md, "Random numbers (generator)").

  A counter is four 32-bit words and a key two; the same counter and key always give the same
  four random words:

      iex> BrokenRecord.Zero.Philox.philox4x32_10({0, 0, 0, 0}, {0, 0})
      {0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8}
      iex> BrokenRecord.Zero.Philox.philox4x32_10(
      ...>   {0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344},
      ...>   {0xA4093822, 0x299F31D0}
      ...> )
      {0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1}
      iex> BrokenRecord.Zero.Philox.philox4x32_10(
      ...>   {0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF},
      ...>   {0xFFFFFFFF, 0xFFFFFFFF}
      ...> )
      {0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD}
  """

  import Bitwise

  @mask 0xFFFFFFFF
  @m0 0xD2511F53
  @m1 0xCD9E8D57
  @w0 0x9E3779B9
  @w1 0xBB67AE85
  @rounds 10
  @two_pow_minus_53 :math.pow(2, -53)
  # The double nearest 2 pi, the engine's kTwoPi (doubling is exact).
  @two_pi 2 * :math.pi()

  @typedoc "An unsigned 32-bit word."
  @type word :: 0..0xFFFFFFFF

  @doc """
  Philox4x32-10: the four random words of counter `{c0, c1, c2, c3}` under key `{k0, k1}`.
  """
  @spec philox4x32_10({word, word, word, word}, {word, word}) :: {word, word, word, word}
  def philox4x32_10({c0, c1, c2, c3} = counter, {k0, k1} = key)
      when c0 in 0..@mask and c1 in 0..@mask and c2 in 0..@mask and c3 in 0..@mask and
             k0 in 0..@mask and k1 in 0..@mask do
    rounds(counter, key, @rounds)
  end

  # Each round uses the key bumped once more than the previous one (the first: the key itself).
  defp rounds(counter, _key, 0), do: counter

  defp rounds(counter, {k0, k1} = key, n) do
    rounds(one_round(counter, key), {band(k0 + @w0, @mask), band(k1 + @w1, @mask)}, n - 1)
  end

  defp one_round({c0, c1, c2, c3}, {k0, k1}) do
    p0 = @m0 * c0
    p1 = @m1 * c2

    {bxor(bxor(p1 >>> 32, c1), k0), band(p1, @mask), bxor(bxor(p0 >>> 32, c3), k1),
     band(p0, @mask)}
  end

  @doc """
  A float in the open interval (0, 1) from two random words: with `m = (hi <<< 20) ||| (lo >>>
  12)` (the top 52 bits of `hi:lo`), `(2 m + 1) * 2^-53`, exact, in `[2^-53, 1 - 2^-53]`.

      iex> BrokenRecord.Zero.Philox.uniform_f64(0, 0) == :math.pow(2, -53)
      true
      iex> BrokenRecord.Zero.Philox.uniform_f64(0xFFFFFFFF, 0xFFFFFFFF) == 1 - :math.pow(2, -53)
      true
      iex> BrokenRecord.Zero.Philox.uniform_f64(0x80000000, 0)
      0.5000000000000001
  """
  @spec uniform_f64(word, word) :: float
  def uniform_f64(hi, lo) when hi in 0..@mask and lo in 0..@mask do
    m = bor(hi <<< 20, lo >>> 12)
    # 2 m + 1 < 2^53 converts to a float exactly, and the power of two scales it exactly.
    (2 * m + 1) * @two_pow_minus_53
  end

  @doc """
  A standard normal deviate from two uniforms in (0, 1) (Box-Muller, cosine branch):
  `sqrt(-2 log u1) * cos(2 pi u2)` through `:math`. It equals the engine's `normal_f64` where
  both use the same libm; elsewhere the last bits may differ.

      iex> BrokenRecord.Zero.Philox.normal_f64(:math.exp(-0.5), 0.5)
      -1.0
  """
  @spec normal_f64(float, float) :: float
  def normal_f64(u1, u2) when is_float(u1) and u1 > 0 and u1 < 1 and is_float(u2) do
    :math.sqrt(-2.0 * :math.log(u1)) * :math.cos(@two_pi * u2)
  end
end
