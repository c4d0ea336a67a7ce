defmodule BrokenRecord.Zero.Random do
  @moduledoc """
  The random numbers of rules: what `uniform()` and `normal()` return (`docs/dsl.md`, "Random
  numbers"; `docs/program.md`, "Random numbers").

  A value is a pure function of the run's seed, the rule's index, the step index, the identities
  of the rule's agents and the call site: one Philox4x32-10 block (`BrokenRecord.Zero.Philox`)
  with

      key     = {seed, (rule <<< 16) ||| site}
      counter = {i, j, step mod 2^32, step div 2^32}

  where `(i, j)` is `(identity, 0)` in a per-agent rule, the smaller and the larger identity in
  a same-type pair rule, and `(slot 0's, slot 1's)` in a cross-type one. The pure-Elixir backend
  calls the functions below; the engine computes the same values (in f64, `uniform/5` to the
  bit).

      iex> source = {0, 0}
      iex> u = BrokenRecord.Zero.Random.uniform(source, 0, 0, 7, 0)
      iex> u > 0.0 and u < 1.0
      true
      iex> u == BrokenRecord.Zero.Random.uniform(source, 0, 0, 7, 0)
      true
      iex> u == BrokenRecord.Zero.Random.uniform({0, 1}, 0, 0, 7, 0)
      false
  """

  import Bitwise

  alias BrokenRecord.Zero.Philox

  @mask 0xFFFFFFFF

  @typedoc "The largest seed: seeds are 32-bit words."
  @type seed :: 0..0xFFFFFFFF

  @typedoc "What a run fixes: `{seed, step index}`."
  @type source :: {seed, non_neg_integer}

  @typedoc """
  Everything a rule's draws depend on but the call site: `{source, rule index, i, j}`, with
  `{i, j}` from `ids/3`.
  """
  @type draw :: {source, non_neg_integer, non_neg_integer, non_neg_integer}

  @doc "The default seed of `simulate/2` and `World.new/3` (`docs/dsl.md`, \"Random numbers\")."
  @spec default_seed() :: seed
  def default_seed, do: 0

  @doc "The largest seed, `2^32 - 1`."
  @spec max_seed() :: seed
  def max_seed, do: @mask

  @doc "The largest step index, `2^64 - 1`."
  @spec max_step() :: non_neg_integer
  def max_step, do: 0xFFFFFFFFFFFFFFFF

  @doc "The largest call site (and rule index) a program can key: `65535`."
  @spec max_site() :: non_neg_integer
  def max_site, do: 0xFFFF

  @doc """
  The identities `{i, j}` that key a draw of a rule of `kind` for the agents `ia` (slot 0) and
  `ib` (slot 1; ignored by a per-agent rule): a same-type pair is unordered.

      iex> BrokenRecord.Zero.Random.ids(:pair_same, 9, 4)
      {4, 9}
      iex> BrokenRecord.Zero.Random.ids(:pair_cross, 9, 4)
      {9, 4}
      iex> BrokenRecord.Zero.Random.ids(:per_agent, 9, nil)
      {9, 0}
  """
  @spec ids(:per_agent | :pair_same | :pair_cross, non_neg_integer, non_neg_integer | nil) ::
          {non_neg_integer, non_neg_integer}
  def ids(:per_agent, ia, _ib), do: {ia, 0}
  def ids(:pair_same, ia, ib) when ia <= ib, do: {ia, ib}
  def ids(:pair_same, ia, ib), do: {ib, ia}
  def ids(:pair_cross, ia, ib), do: {ia, ib}

  @doc "The draw of rule `rule` (of `kind`) for the agents `ia` (slot 0) and `ib` (slot 1)."
  @spec draw_of(
          source,
          non_neg_integer,
          :per_agent | :pair_same | :pair_cross,
          non_neg_integer,
          non_neg_integer | nil
        ) :: draw
  def draw_of(source, rule, kind, ia, ib) do
    {i, j} = ids(kind, ia, ib)
    {source, rule, i, j}
  end

  @doc """
  The value of call site `site` of kind `:uniform` or `:normal` for `draw`. A `nil` draw (a
  caller that did not expect random numbers) is an `ArgumentError`.
  """
  @spec draw(draw | nil, :uniform | :normal, non_neg_integer) :: float
  def draw({source, rule, i, j}, :uniform, site), do: uniform(source, rule, site, i, j)
  def draw({source, rule, i, j}, :normal, site), do: normal(source, rule, site, i, j)

  def draw(nil, kind, site),
    do: raise(ArgumentError, "#{kind}() (call site #{site}) evaluated without a random source")

  @doc "The four Philox words of call site `site` of rule `rule` for the agents `{i, j}`."
  @spec words(source, non_neg_integer, non_neg_integer, non_neg_integer, non_neg_integer) ::
          {Philox.word(), Philox.word(), Philox.word(), Philox.word()}
  def words({seed, step}, rule, site, i, j) do
    Philox.philox4x32_10(
      {i, j, band(step, @mask), step >>> 32},
      {seed, bor(rule <<< 16, site)}
    )
  end

  @doc """
  The call site whose words rank the pairs of an exclusive rule (`claim_priority/4`): the last
  one, which an exclusive rule's `uniform()` and `normal()` calls never get
  (`BrokenRecord.Zero.RandomSites`).
  """
  @spec claim_site() :: non_neg_integer
  def claim_site, do: 0xFFFF

  @doc """
  The priority of the pair `{i, j}` (ordered as by `ids/3`) of exclusive rule `rule`: the
  64-bit number `w0 * 2^32 + w1` of the words of `claim_site/0`. Lower priorities claim first
  (`docs/dsl.md`, "Exclusive pair rules").
  """
  @spec claim_priority(source, non_neg_integer, non_neg_integer, non_neg_integer) ::
          non_neg_integer
  def claim_priority(source, rule, i, j) do
    {w0, w1, _, _} = words(source, rule, claim_site(), i, j)
    bor(w0 <<< 32, w1)
  end

  @doc "`uniform()`: a float in the open interval (0, 1), `uniform_f64(w0, w1)`."
  @spec uniform(source, non_neg_integer, non_neg_integer, non_neg_integer, non_neg_integer) ::
          float
  def uniform(source, rule, site, i, j) do
    {w0, w1, _, _} = words(source, rule, site, i, j)
    Philox.uniform_f64(w0, w1)
  end

  @doc """
  `normal()`: a standard normal deviate,
  `normal_f64(uniform_f64(w0, w1), uniform_f64(w2, w3))`.
  """
  @spec normal(source, non_neg_integer, non_neg_integer, non_neg_integer, non_neg_integer) ::
          float
  def normal(source, rule, site, i, j) do
    {w0, w1, w2, w3} = words(source, rule, site, i, j)
    Philox.normal_f64(Philox.uniform_f64(w0, w1), Philox.uniform_f64(w2, w3))
  end
end
