defmodule BrokenRecord.Zero.Fuzz.Terms do
  @moduledoc """
  Random Erlang terms for the NIF fuzz harness (`docs/fuzzing.md`).

  Every function draws from the process's `:rand` state, so a batch seeded with
  `:rand.seed/2` produces the same terms again (apart from pids, references and resources,
  which are new in every VM). Terms are bounded: a "very long" list has at most 200,000
  elements, a large binary at most 256 KiB, nesting at most `depth` levels.

  BEAM floats are always finite (a NaN or infinity cannot be built, not even by decoding a
  binary: the match fails), so the special floats are the finite extremes: `-0.0`, the
  smallest subnormal, the largest double, values just beyond the f32 range.
  """

  @boundary_ints [
    0,
    1,
    -1,
    2,
    3,
    7,
    8,
    255,
    256,
    32_767,
    32_768,
    65_535,
    65_536,
    2_147_483_647,
    2_147_483_648,
    -2_147_483_648,
    -2_147_483_649,
    4_294_967_295,
    4_294_967_296,
    9_007_199_254_740_992,
    9_007_199_254_740_993,
    -9_007_199_254_740_993,
    9_223_372_036_854_775_807,
    9_223_372_036_854_775_808,
    -9_223_372_036_854_775_808,
    -9_223_372_036_854_775_809,
    18_446_744_073_709_551_615,
    18_446_744_073_709_551_616,
    576_460_752_303_423_487,
    576_460_752_303_423_488
  ]

  @special_floats [
    0.0,
    -0.0,
    1.0,
    -1.0,
    0.5,
    5.0e-324,
    -5.0e-324,
    2.2250738585072014e-308,
    1.7976931348623157e308,
    -1.7976931348623157e308,
    3.4028234663852886e38,
    3.4028235677973366e38,
    -3.4028235677973366e38,
    1.0e39,
    1.401298464324817e-45,
    1.0e-46,
    9_007_199_254_740_992.0,
    9_007_199_254_740_994.0,
    1.8446744073709552e19,
    -9.223372036854776e18,
    1.0e300,
    3.141592653589793
  ]

  @atoms [
    :ok,
    :error,
    nil,
    true,
    false,
    :f64,
    :f32,
    :f16,
    :float,
    :int,
    :vec3,
    :bool,
    :kernels,
    :busy,
    :dt,
    :steps,
    :rules,
    :params,
    :backend,
    :native,
    :interpreted,
    :auto,
    :precision,
    :conservation,
    :report,
    :particles,
    :bodies,
    :walls,
    :position,
    :velocity,
    :mass,
    :radius,
    :x,
    :__struct__,
    :__exception__,
    :infinity,
    :nan,
    :"",
    :"with space",
    :ünïcödé,
    :"-0.0"
  ]

  @doc "A random term, nested at most `depth` levels. `extra` terms are mixed in sometimes."
  @spec term(non_neg_integer, [term]) :: term
  def term(depth \\ 3, extra \\ []) do
    pick =
      if depth == 0,
        do: weighted([{30, :int}, {25, :float}, {15, :atom}, {15, :binary}, {15, :other}]),
        else:
          weighted([
            {16, :int},
            {14, :float},
            {9, :atom},
            {11, :binary},
            {16, :list},
            {11, :tuple},
            {11, :map},
            {6, :other},
            {6, :extra}
          ])

    case pick do
      :int -> int()
      :float -> float()
      :atom -> atom()
      :binary -> binary()
      :list -> list(depth - 1, extra)
      :tuple -> tuple(depth - 1, extra)
      :map -> map(depth - 1, extra)
      :other -> other()
      :extra when extra == [] -> int()
      :extra -> Enum.random(extra)
    end
  end

  @doc "A random integer: small, a boundary value (2^31, 2^53, 2^63, 2^64, ... and neighbours), or a bignum."
  @spec int() :: integer
  def int do
    case :rand.uniform(10) do
      n when n <= 4 -> :rand.uniform(21) - 11
      n when n <= 7 -> Enum.random(@boundary_ints)
      8 -> -Enum.random(@boundary_ints)
      9 -> :rand.uniform(1_000_000) - 500_000
      10 -> bignum()
    end
  end

  @doc "A bignum of up to about 4,000 bits, positive or negative."
  @spec bignum() :: integer
  def bignum do
    bits = Enum.random([65, 100, 128, 1000, 1023, 1024, 1025, 4000])
    n = Bitwise.bsl(1, bits - 1) + :rand.uniform(1_000_000_000)
    if :rand.uniform(2) == 1, do: n, else: -n
  end

  @doc "A random finite float: a special value, a plain one, or random bits decoded."
  @spec float() :: float
  def float do
    case :rand.uniform(4) do
      1 -> Enum.random(@special_floats)
      2 -> (:rand.uniform() - 0.5) * 20.0
      3 -> (:rand.uniform() - 0.5) * :math.pow(10, :rand.uniform(600) - 300)
      4 -> random_bits_float()
    end
  end

  # Decoding a NaN or infinity bit pattern does not match, so retry: BEAM floats are finite.
  defp random_bits_float do
    case :rand.bytes(8) do
      <<f::float-64>> -> f
      _ -> random_bits_float()
    end
  end

  @doc "A random atom from a fixed list (no new atoms are created)."
  @spec atom() :: atom
  def atom, do: Enum.random(@atoms)

  @doc "A random binary: empty, random bytes, large, a sub-binary, a bitstring, a path."
  @spec binary() :: bitstring
  def binary do
    case :rand.uniform(10) do
      1 -> <<>>
      n when n <= 4 -> :rand.bytes(:rand.uniform(64))
      5 -> "BRZP" <> :rand.bytes(:rand.uniform(80))
      6 -> :rand.bytes(:rand.uniform(256 * 1024))
      7 -> sub_binary()
      8 -> <<:rand.uniform(255)::size(:rand.uniform(13))>>
      9 -> Enum.random(["/nonexistent/lib.so", "", "x", "/", "../priv", "a\0b", "é"])
      10 -> String.duplicate("ab", :rand.uniform(500))
    end
  end

  defp sub_binary do
    big = :rand.bytes(64 + :rand.uniform(200))
    start = :rand.uniform(32)
    binary_part(big, start, :rand.uniform(byte_size(big) - start) - 1)
  end

  @doc "A random list: short, of numbers, improper, a keyword list, a charlist or very long."
  @spec list(non_neg_integer, [term]) :: list
  def list(depth, extra \\ []) do
    case :rand.uniform(12) do
      1 -> []
      n when n <= 4 -> for _ <- 1..:rand.uniform(6), do: term(depth, extra)
      5 -> for _ <- 1..:rand.uniform(8), do: Enum.random([int(), float()])
      6 -> for _ <- 1..:rand.uniform(6), do: :rand.uniform(12) - 3
      7 -> improper(depth, extra)
      8 -> [{atom(), term(depth, extra)} | for(_ <- 0..:rand.uniform(3), do: {atom(), int()})]
      9 -> ~c"charlist"
      10 -> long_list()
      11 -> [term(depth, extra) | term(0, extra)]
      12 -> for _ <- 1..:rand.uniform(4), do: map(depth, extra)
    end
  end

  defp improper(depth, extra) do
    tail = Enum.random([term(0, extra), :tail, 1.5, <<1>>])
    Enum.reduce(1..:rand.uniform(5), tail, fn _, acc -> [term(depth, extra) | acc] end)
  end

  @doc "A very long list (1,000 to 200,000 elements) of integers, floats or maps."
  @spec long_list() :: list
  def long_list do
    n = Enum.random([1_000, 65_536, 65_537, 100_000, 200_000])

    case :rand.uniform(3) do
      1 -> Enum.to_list(1..n)
      2 -> List.duplicate(1.5, n)
      3 -> List.duplicate(%{x: 1.0}, n)
    end
  end

  @doc "A random tuple: empty, small, a 3-tuple of numbers, `{binary, binary}`, or large."
  @spec tuple(non_neg_integer, [term]) :: tuple
  def tuple(depth, extra \\ []) do
    case :rand.uniform(8) do
      1 -> {}
      n when n <= 4 -> List.to_tuple(for _ <- 1..:rand.uniform(5), do: term(depth, extra))
      5 -> {number(), number(), number()}
      6 -> {binary(), binary()}
      7 -> List.to_tuple(for _ <- 1..Enum.random([3, 4, 300]), do: term(0, extra))
      8 -> {term(depth, extra), number(), term(depth, extra)}
    end
  end

  @doc "A random map: empty, small, with more than 32 keys, a struct-like or exception-like map."
  @spec map(non_neg_integer, [term]) :: map
  def map(depth, extra \\ []) do
    case :rand.uniform(7) do
      1 ->
        %{}

      n when n <= 4 ->
        Map.new(
          for _ <- 1..:rand.uniform(5), do: {Enum.random([atom(), int()]), term(depth, extra)}
        )

      5 ->
        Map.new(for i <- 1..Enum.random([33, 100]), do: {i, term(0, extra)})

      6 ->
        %{__struct__: Enum.random([ArgumentError, Foo, nil]), message: binary()}

      7 ->
        Map.new([
          {atom(), list(depth, extra)} | for(_ <- 1..:rand.uniform(3), do: {atom(), int()})
        ])
    end
  end

  @doc "A random number (integer or float)."
  @spec number() :: number
  def number, do: if(:rand.uniform(2) == 1, do: int(), else: float())

  @doc "Terms of other types: pids (live and dead), references, ports, funs."
  @spec other() :: term
  def other do
    case :rand.uniform(6) do
      1 -> self()
      2 -> spawn(fn -> :ok end)
      3 -> make_ref()
      4 -> Enum.random([fn -> :ok end, &Enum.map/2])
      5 -> Enum.random(Port.list() ++ [make_ref()])
      6 -> :erlang.list_to_pid(~c"<0.0.0>")
    end
  end

  @doc "Picks from `[{weight, value}]` with probability proportional to the weight."
  @spec weighted([{pos_integer, term}]) :: term
  def weighted(choices) do
    total = Enum.reduce(choices, 0, fn {w, _}, acc -> acc + w end)
    pick(choices, :rand.uniform(total))
  end

  defp pick([{w, v} | _], n) when n <= w, do: v
  defp pick([{w, _} | rest], n), do: pick(rest, n - w)

  @doc "True with probability `p`."
  @spec chance(float) :: boolean
  def chance(p), do: :rand.uniform() < p
end
