defmodule BrokenRecord.Zero.Conservation.Algebra do
  @moduledoc """
  A small computer-algebra normal form for the conservation proofs: Laurent polynomials over
  opaque atoms.

  A polynomial is a map `%{monomial => coefficient}`, a monomial a sorted list of
  `{atom, exponent}` with non-zero integer exponents (negative for division). Atoms are
  variables (`{:load, slot, lane}`, `{:param, index}`), `{:sqrt, poly}` (with
  `sqrt(p)^2 = p` applied on multiplication), `{:inv, poly}` (the reciprocal of a
  polynomial with several terms) and `{:fn, op, [poly]}` for every other function.
  Two expressions that are equal as rational functions of their atoms, after these
  rewritings, get equal normal forms; `zero?/1` decides a residual. A division by the zero
  polynomial is the atom `{:fn, :div, [a, b]}`. A coefficient beyond the float range raises
  `BrokenRecord.Zero.Conservation.Algebra.OverflowError`.
  """

  alias __MODULE__.OverflowError

  @type atom_term :: term
  @type monomial :: [{atom_term, integer}]
  @type poly :: %{monomial => float}

  @eps 1.0e-12

  @doc "The constant polynomial `c`."
  @spec const(number) :: poly
  def const(c) when c == 0, do: %{}
  def const(c), do: %{[] => c * 1.0}

  @doc "The polynomial made of one atom."
  @spec var(atom_term) :: poly
  def var(atom), do: %{[{atom, 1}] => 1.0}

  @doc "Sum."
  @spec add(poly, poly) :: poly
  def add(a, b) do
    Enum.reduce(b, a, fn {m, c}, acc ->
      sum = c_add(Map.get(acc, m, 0.0), c)
      if abs(sum) <= @eps * max(abs(c), 1.0), do: Map.delete(acc, m), else: Map.put(acc, m, sum)
    end)
  end

  @doc "Difference."
  @spec sub(poly, poly) :: poly
  def sub(a, b), do: add(a, scale(b, -1.0))

  @doc "Element-wise difference of two lists of polynomials."
  @spec sub_list([poly], [poly]) :: [poly]
  def sub_list(a, b), do: Enum.zip_with(a, b, &sub/2)

  @doc "Multiplication by a number."
  @spec scale(poly, number) :: poly
  def scale(_a, k) when k == 0, do: %{}
  def scale(a, k), do: Map.new(a, fn {m, c} -> {m, c_mul(c, k)} end)

  @doc "Product."
  @spec mul(poly, poly) :: poly
  def mul(a, b) do
    for {ma, ca} <- a, {mb, cb} <- b, reduce: %{} do
      acc -> add(acc, scale(mono_mul(ma, mb), c_mul(ca, cb)))
    end
  end

  @doc "Quotient `a / b` (an opaque `div` atom when `b` is zero)."
  @spec divide(poly, poly) :: poly
  def divide(a, b) do
    case Map.to_list(b) do
      [] ->
        fun(:div, [a, b])

      [{m, c}] ->
        a |> mul(%{invert(m) => 1.0}) |> scale(c_div(1.0, c))

      _ ->
        {k, normal} = normalise(b)
        a |> mul(var({:inv, normal})) |> scale(c_div(1.0, k))
    end
  end

  @doc """
  A polynomial that is zero exactly when `p` is, wherever its denominators are not: each
  reciprocal atom `{:inv, q}` is cleared by multiplying `p` by `q` to its highest power
  (`inv(q) * q = 1`). A merge's momentum `(ma + mb) * ((ma va + mb vb) / (ma + mb))` needs it.
  """
  @spec clear_denominators(poly) :: poly
  def clear_denominators(p) do
    inverse =
      Enum.find_value(Map.keys(p), fn m ->
        Enum.find_value(m, fn
          {{:inv, q}, _} -> q
          _ -> nil
        end)
      end)

    case inverse do
      nil ->
        p

      q ->
        atom = {:inv, q}

        top =
          p
          |> Map.keys()
          |> Enum.map(&(List.keyfind(&1, atom, 0) || {atom, 0}))
          |> Enum.map(&elem(&1, 1))
          |> Enum.max()

        p
        |> Enum.reduce(%{}, fn {m, c}, acc ->
          {k, rest} =
            case List.keytake(m, atom, 0) do
              {{_, k}, rest} -> {k, rest}
              nil -> {0, m}
            end

          add(acc, mul(%{rest => c}, power(q, max(top, 0) - k)))
        end)
        |> clear_denominators()
    end
  end

  @doc "Square root: exact for an even monomial, otherwise an atom."
  @spec sqrt(poly) :: poly
  def sqrt(p) do
    case Map.to_list(p) do
      [] ->
        %{}

      [{m, c}] when c > 0 ->
        if Enum.all?(m, fn {_, e} -> rem(e, 2) == 0 end),
          do: %{Enum.map(m, fn {a, e} -> {a, div(e, 2)} end) => :math.sqrt(c)},
          else: var({:sqrt, p})

      _ ->
        case normalise(p) do
          {k, normal} when k > 0 -> scale(var({:sqrt, normal}), :math.sqrt(k))
          _ -> var({:sqrt, p})
        end
    end
  end

  # p = k * normal, the first term of `normal` (in term order) having coefficient 1.
  defp normalise(p) do
    {_m, k} = p |> Enum.sort() |> hd()
    {k, scale(p, c_div(1.0, k))}
  end

  # Coefficient arithmetic. The BEAM raises on a float overflow, and on a division by a
  # coefficient that underflowed to zero: either way the coefficients left the float range.
  defp c_add(a, b) do
    a + b
  rescue
    ArithmeticError -> raise OverflowError
  end

  defp c_mul(a, b) do
    a * b
  rescue
    ArithmeticError -> raise OverflowError
  end

  defp c_div(a, b) do
    a / b
  rescue
    ArithmeticError -> raise OverflowError
  end

  @doc "An opaque function application."
  @spec fun(atom, [poly]) :: poly
  def fun(op, args), do: var({:fn, op, args})

  @doc "Integer power."
  @spec power(poly, integer) :: poly
  def power(_p, 0), do: const(1)
  def power(p, n) when n > 0, do: mul(p, power(p, n - 1))
  def power(p, n), do: divide(const(1), power(p, -n))

  @doc "Whether a polynomial is zero."
  @spec zero?(poly) :: boolean
  def zero?(p), do: map_size(p) == 0

  @doc "The constant value of a polynomial without atoms, or `:error`."
  @spec constant(poly) :: {:ok, float} | :error
  def constant(p) do
    case Map.to_list(p) do
      [] -> {:ok, 0.0}
      [{[], c}] -> {:ok, c}
      _ -> :error
    end
  end

  # Monomial product; sqrt atoms with |exponent| >= 2 are rewritten, which can turn a monomial
  # into a polynomial.
  defp mono_mul(a, b) do
    merged =
      Enum.reduce(b, Map.new(a), fn {atom, e}, acc -> Map.update(acc, atom, e, &(&1 + e)) end)

    {sqrts, rest} =
      merged
      |> Enum.reject(fn {_, e} -> e == 0 end)
      |> Enum.split_with(fn {atom, e} -> match?({:sqrt, _}, atom) and abs(e) >= 2 end)

    base = %{Enum.sort(rest) => 1.0}

    Enum.reduce(sqrts, base, fn {{:sqrt, p}, e}, acc ->
      k = div(e, 2)
      r = e - 2 * k
      acc = mul(acc, power(p, k))
      if r == 0, do: acc, else: mul(acc, %{[{{:sqrt, p}, r}] => 1.0})
    end)
  end

  defp invert(m), do: Enum.map(m, fn {a, e} -> {a, -e} end)

  @doc """
  A readable form, naming atoms with `namer`. At most `max_terms` terms are shown (the rest
  are counted), and a sub-expression inside a function longer than 40 characters is shown as
  `...`.
  """
  @spec format(poly, (atom_term -> String.t()), pos_integer) :: String.t()
  def format(p, namer, max_terms \\ 4) do
    terms = Enum.sort(p)

    if terms == [] do
      "0"
    else
      shown = Enum.take(terms, max_terms)
      more = length(terms) - length(shown)

      text =
        shown
        |> Enum.map_join(" + ", fn {m, c} -> format_term(m, c, namer) end)
        |> String.replace("+ -", "- ")

      if more > 0, do: text <> " + ... (#{more} more terms)", else: text
    end
  end

  defp inner(p, namer) do
    text = format(p, namer, 3)
    if String.length(text) > 40, do: "...", else: text
  end

  defp format_term([], c, _namer), do: format_number(c)

  defp format_term(m, c, namer) do
    factors =
      Enum.map_join(m, "*", fn
        {atom, 1} -> atom_name(atom, namer)
        {atom, e} -> "#{atom_name(atom, namer)}^#{e}"
      end)

    cond do
      c == 1.0 -> factors
      c == -1.0 -> "-" <> factors
      true -> format_number(c) <> "*" <> factors
    end
  end

  defp atom_name({:sqrt, p}, namer), do: "sqrt(#{inner(p, namer)})"
  defp atom_name({:inv, p}, namer), do: "(#{inner(p, namer)})^-1"

  defp atom_name({:fn, op, args}, namer),
    do: "#{op}(#{Enum.map_join(args, ", ", &inner(&1, namer))})"

  defp atom_name(atom, namer), do: namer.(atom)

  defp format_number(c) do
    if c == Float.round(c) and abs(c) < 1.0e15,
      do: Integer.to_string(trunc(c)),
      else: Float.to_string(c)
  end
end

defmodule BrokenRecord.Zero.Conservation.Algebra.OverflowError do
  @moduledoc """
  Raised by `BrokenRecord.Zero.Conservation.Algebra` when a coefficient leaves the float range.
  """
  defexception message: "a coefficient is beyond the float range"
end
