defmodule BrokenRecord.Zero.TestHelpers do
  @moduledoc """
  Helpers shared by the ExUnit suite: float and state comparisons, bit-level equality, physical
  quantities of states, seeded random inputs and the sources of one-system snippets.
  """

  import ExUnit.Assertions

  @doc "The IEEE-754 bits of a float (so `-0.0` and `0.0` differ)."
  def bits(x) when is_float(x), do: <<x::float-64>>
  def bits(x), do: x

  @doc "Whether two terms are identical, comparing floats by their bits (recursively)."
  def identical?(a, b) when is_float(a) and is_float(b), do: bits(a) == bits(b)

  def identical?(a, b) when is_tuple(a) and is_tuple(b),
    do: identical?(Tuple.to_list(a), Tuple.to_list(b))

  def identical?(a, b) when is_list(a) and is_list(b),
    do: length(a) == length(b) and Enum.all?(Enum.zip(a, b), fn {x, y} -> identical?(x, y) end)

  def identical?(%{} = a, %{} = b) when not is_struct(a) and not is_struct(b),
    do:
      Map.keys(a) == Map.keys(b) and
        Enum.all?(a, fn {k, v} -> identical?(v, Map.fetch!(b, k)) end)

  def identical?(a, b), do: a === b

  @doc "Asserts that two terms are identical, floats compared bit for bit."
  def assert_identical(a, b) do
    assert identical?(a, b),
           "expected bit-identical terms\n  left:  #{inspect(a)}\n  right: #{inspect(b)}"
  end

  @doc "Asserts that `a` and `b` (numbers or 3-tuples) agree to `tol` relative to `scale`."
  def assert_close(a, b, tol \\ 1.0e-12, scale \\ nil)

  def assert_close({ax, ay, az}, {bx, by, bz}, tol, scale) do
    scale = scale || Enum.max([1.0, abs(bx), abs(by), abs(bz)])
    assert_close(ax, bx, tol, scale)
    assert_close(ay, by, tol, scale)
    assert_close(az, bz, tol, scale)
  end

  def assert_close(a, b, tol, scale) when is_number(a) and is_number(b) do
    scale = scale || max(1.0, abs(b))

    assert abs(a - b) <= tol * scale,
           "expected #{inspect(a)} to be within #{tol} (scale #{scale}) of #{inspect(b)}"
  end

  @doc """
  Asserts that two states agree: the same shape, floats within `tol` relative (see
  `assert_close/3`), everything else identical.
  """
  @spec assert_agree(term, term, float) :: term
  def assert_agree(a, b, tol) when is_map(a) and is_map(b) and not is_struct(a) do
    assert Map.keys(a) == Map.keys(b)
    Enum.each(a, fn {k, v} -> assert_agree(v, Map.fetch!(b, k), tol) end)
  end

  def assert_agree(a, b, tol) when is_list(a) and is_list(b) do
    assert length(a) == length(b)
    Enum.zip(a, b) |> Enum.each(fn {x, y} -> assert_agree(x, y, tol) end)
  end

  def assert_agree(a, b, tol) when is_tuple(a) and is_tuple(b) do
    assert tuple_size(a) == tuple_size(b)
    assert_agree(Tuple.to_list(a), Tuple.to_list(b), tol)
  end

  def assert_agree(a, b, tol) when is_float(a) and is_float(b), do: assert_close(b, a, tol)
  def assert_agree(a, b, _tol), do: assert(a === b)

  ## Vectors

  def add({ax, ay, az}, {bx, by, bz}), do: {ax + bx, ay + by, az + bz}
  def sub({ax, ay, az}, {bx, by, bz}), do: {ax - bx, ay - by, az - bz}
  def scale({x, y, z}, s), do: {x * s, y * s, z * s}
  def dot({ax, ay, az}, {bx, by, bz}), do: ax * bx + ay * by + az * bz
  def norm(v), do: :math.sqrt(dot(v, v))

  def cross({ax, ay, az}, {bx, by, bz}),
    do: {ay * bz - az * by, az * bx - ax * bz, ax * by - ay * bx}

  @doc "The floats of a packed native-endian f64 column (`World.column/4` of an f64 world)."
  @spec floats(binary) :: [float]
  def floats(binary), do: for(<<x::float-native-64 <- binary>>, do: x)

  @doc "The floats of a packed native-endian f32 column (`World.column/4` of an f32 world)."
  @spec floats32(binary) :: [float]
  def floats32(binary), do: for(<<x::float-native-32 <- binary>>, do: x)

  ## Physical quantities

  @doc "Total momentum `sum m v` of a list of agents with :mass and :velocity."
  def momentum(agents) do
    Enum.reduce(agents, {0.0, 0.0, 0.0}, fn a, acc -> add(acc, scale(a.velocity, a.mass)) end)
  end

  @doc "Total kinetic energy."
  def kinetic_energy(agents) do
    Enum.reduce(agents, 0.0, fn a, acc -> acc + 0.5 * a.mass * dot(a.velocity, a.velocity) end)
  end

  @doc "Total potential energy of pairwise softened gravity, `-G m_i m_j / sqrt(r^2 + eps^2)`."
  def potential_energy(agents, g, eps) do
    indexed = Enum.with_index(agents)

    for {a, i} <- indexed, {b, j} <- indexed, i < j, reduce: 0.0 do
      acc ->
        d = sub(a.position, b.position)
        acc - g * a.mass * b.mass / :math.sqrt(dot(d, d) + eps * eps)
    end
  end

  ## Lattices

  @doc """
  `%{position, velocity}` atoms on an fcc lattice (`BrokenRecord.Zero.Lattice`) at density
  `rho` with velocities at temperature `temp` (seeded by `seed`), and the box edge.
  """
  @spec lj_liquid(pos_integer, float, float, integer) :: {[map], float}
  def lj_liquid(cells, rho, temp, seed) do
    {positions, edge} = BrokenRecord.Zero.Lattice.fcc(cells, rho)
    velocities = BrokenRecord.Zero.Lattice.velocities(length(positions), temp, seed)
    {Enum.zip_with(positions, velocities, &%{position: &1, velocity: &2}), edge}
  end

  ## Random inputs

  @doc "Seeds the process's random generator deterministically."
  def seed(n), do: :rand.seed(:exsss, {n, n * 7 + 1, n * 13 + 5})

  @doc "A random float in [lo, hi)."
  def uniform(lo, hi), do: lo + (hi - lo) * :rand.uniform()

  @doc "A random vec3 with components in [lo, hi)."
  def vec(lo, hi), do: {uniform(lo, hi), uniform(lo, hi), uniform(lo, hi)}

  @doc "`n` gravity bodies at rest in a cube of side `side`, total mass 1 (seeded by `seed`)."
  def bodies(n, side, seed) do
    seed(seed)
    for _ <- 1..n, do: %{position: vec(0.0, side), velocity: {0.0, 0.0, 0.0}, mass: 1.0 / n}
  end

  @doc """
  `n` moving gravity bodies in [-1, 1)^3, velocity components in [-speed, speed), masses in
  [0.5, max_mass) (seeded by `seed`).
  """
  @spec moving_bodies(pos_integer, float, float, integer) :: [map]
  def moving_bodies(n, speed, max_mass, seed) do
    seed(seed)

    for _ <- 1..n do
      %{position: vec(-1.0, 1.0), velocity: vec(-speed, speed), mass: uniform(0.5, max_mass)}
    end
  end

  @doc """
  A random lane value for the optimiser tests: mostly uniform in [-3, 3), sometimes an edge case
  (zero, one, a repeated value) so that every branch and comparison is exercised.
  """
  def lane_value do
    case :rand.uniform(10) do
      1 -> 0.0
      2 -> 1.0
      3 -> -1.0
      4 -> 0.5
      _ -> uniform(-3.0, 3.0)
    end
  end

  @doc "A tuple of `n` random lane values."
  def lanes(n), do: List.to_tuple(for(_ <- 1..n//1, do: lane_value()))

  ## Source snippets

  @doc "A unique module name for `Code.compile_string/2` tests."
  def unique_module(prefix \\ "BrzSnippet"),
    do: "#{prefix}#{System.unique_integer([:positive])}"

  @doc "`text` with every non-empty line indented by `n` spaces."
  @spec indent(String.t(), non_neg_integer) :: String.t()
  def indent(text, n) do
    pad = String.duplicate(" ", n)
    text |> String.split("\n") |> Enum.map_join("\n", &if(&1 == "", do: "", else: pad <> &1))
  end

  @doc "The source of module `module` that defines one system, `Sim`, whose body is `body`."
  @spec system_source(String.t(), String.t()) :: String.t()
  def system_source(module, body) do
    """
    defmodule #{module} do
      use BrokenRecord.Zero

      defsystem Sim do
    #{indent(body, 4)}
      end
    end
    """
  end

  @doc """
  Compiles `body` as the system `Sim` of a new module (`file` names the source in messages) and
  returns the system's module.
  """
  @spec compile_system(String.t(), String.t()) :: module
  def compile_system(body, file \\ "nofile") do
    module = unique_module()
    Code.compile_string(system_source(module, body), file)
    Module.concat([module, Sim])
  end

  @doc """
  The compiler warnings in `stderr` (as captured by `capture_io(:stderr, ...)`)
  whose location is in `file`. Capturing stderr is global, so warnings printed
  by tests that run at the same time land in the same capture; keeping only the
  blocks that name the compiled file makes a "no warnings" assertion exact.
  """
  @spec warnings_in(String.t(), String.t()) :: [String.t()]
  def warnings_in(stderr, file) do
    stderr
    |> String.split(~r/\n\s*\n/, trim: true)
    |> Enum.filter(&String.contains?(&1, file <> ":"))
  end

  @doc "The 1-based line of `source` that contains `marker`."
  def line_of(source, marker) do
    source
    |> String.split("\n")
    |> Enum.find_index(&String.contains?(&1, marker))
    |> case do
      nil -> raise ArgumentError, "marker #{inspect(marker)} not found"
      i -> i + 1
    end
  end
end
