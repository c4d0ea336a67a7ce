defmodule BrokenRecord.Zero.Program.Op do
  @moduledoc """
  The op table: one row per instruction of the scalar program (`docs/program.md`).

  Every stage that knows about ops reads its facts here: the parser (DSL spellings), the type
  checker (operand and result types), the program encoder and decoder (opcodes), the optimizer
  (flop counts), `BrokenRecord.Zero.Ops` (the IEEE evaluator, `eval`), the conservation analysis
  (`class`) and both code generators (`elixir`, `cpp`). The engine's table is
  `include/brz/ops.inc`; a test checks that the two agree on names, codes and operand counts.

  Row fields:

    * `name`, `code` - the op and its opcode,
    * `arity` - register operands (`:const`, `:param`, `:load`, `:store`, `:acc`, `:accmax`,
      `:accmin` read their operands as indices; see `docs/program.md`),
    * `class` - `:data` (constants, params, lanes), `:arith` (`+ - * /` and negation, which
      also apply to vec3 in the DSL), `:math` (scalar functions), `:compare`, `:logic`,
      `:select`,
    * `result` - the DSL type of the result: `:int_preserving` (`:int` when every operand is,
      else `:float`), `:int`, `:float` or `:bool`,
    * `flops` - floating-point operations counted per application,
    * `functions`, `math`, `operators` - DSL spellings: `f(...)`, `:math.f(...)`, an operator,
    * `eval` - the function of `BrokenRecord.Zero.Ops` that evaluates it,
    * `elixir` - the generated Elixir fast path, a quoted expression over `a`, `b`, `c`,
    * `cpp` - the generated C++ expression, with `$a`, `$b`, `$c` for the operand registers.
  """

  @enforce_keys [:name, :code, :arity, :class]
  defstruct [
    :name,
    :code,
    :arity,
    :class,
    :result,
    :eval,
    :elixir,
    :cpp,
    flops: 0,
    functions: [],
    math: [],
    operators: []
  ]

  @type t :: %__MODULE__{
          name: atom,
          code: non_neg_integer,
          arity: 0..3,
          class: :data | :arith | :math | :compare | :logic | :select,
          result: :int_preserving | :int | :float | :bool | nil,
          eval: atom | nil,
          elixir: Macro.t() | nil,
          cpp: String.t() | nil,
          flops: non_neg_integer,
          functions: [atom],
          math: [atom],
          operators: [atom]
        }

  bool = fn condition -> quote(do: if(unquote(condition), do: 1.0, else: 0.0)) end

  @rows [
    [name: :const, code: 0, arity: 0, class: :data],
    [name: :param, code: 1, arity: 0, class: :data],
    [name: :load, code: 2, arity: 0, class: :data],
    [name: :store, code: 3, arity: 1, class: :data],
    [name: :acc, code: 4, arity: 1, class: :data],
    # The edge length of periodic axis `a` of the world's box (executors pass the three edges
    # after the params).
    [name: :box, code: 5, arity: 0, class: :data],
    # Random numbers (`uniform()`, `normal()`): `a` is the call site; the value is a function
    # of the run's seed, the rule, the step index, the agents' identities and `a`
    # (`BrokenRecord.Zero.Random`, docs/program.md "UNIFORM and NORMAL").
    [name: :uniform, code: 6, arity: 0, class: :data, result: :float],
    [name: :normal, code: 7, arity: 0, class: :data, result: :float],
    # Pair-rule reductions (`x.f = max(x.f, e)`): the (slot, lane) accumulator keeps the max /
    # min of register `c` over the pairs (docs/program.md, "Execution of one step").
    [name: :accmax, code: 8, arity: 1, class: :data],
    [name: :accmin, code: 9, arity: 1, class: :data],
    # Agent lifecycle (`remove p`, `spawn T, f: e`; docs/program.md, "Agent lifecycle"):
    # REMOVE removes the agent of slot `a` where register `c` is non-zero; SPAWN opens, where
    # `c` is non-zero, a child of type `a` at call site `b`; SPAWNLANE gives lane `b` of the
    # child of site `a` the value of register `c`. They write no register.
    [name: :remove, code: 70, arity: 1, class: :data],
    [name: :spawn, code: 71, arity: 1, class: :data],
    [name: :spawnlane, code: 72, arity: 1, class: :data],
    # Exclusive pair rules: register `a` says whether the pair would act (a claim); executors
    # apply the rule to a greedy matching of the claiming pairs (docs/program.md, "Exclusive
    # pair rules"). `Program.Rule` holds it as `claim`, not among its instructions.
    [name: :claim, code: 80, arity: 1, class: :data],
    [
      name: :add,
      code: 10,
      arity: 2,
      class: :arith,
      result: :int_preserving,
      flops: 1,
      operators: [:+],
      eval: :add,
      elixir: quote(do: a + b),
      cpp: "$a + $b"
    ],
    [
      name: :sub,
      code: 11,
      arity: 2,
      class: :arith,
      result: :int_preserving,
      flops: 1,
      operators: [:-],
      eval: :sub,
      elixir: quote(do: a - b),
      cpp: "$a - $b"
    ],
    [
      name: :mul,
      code: 12,
      arity: 2,
      class: :arith,
      result: :int_preserving,
      flops: 1,
      operators: [:*],
      eval: :mul,
      elixir: quote(do: a * b),
      cpp: "$a * $b"
    ],
    [
      name: :div,
      code: 13,
      arity: 2,
      class: :arith,
      result: :float,
      flops: 1,
      operators: [:/],
      eval: :divide,
      elixir: quote(do: a / b),
      cpp: "$a / $b"
    ],
    [
      name: :pow,
      code: 14,
      arity: 2,
      class: :math,
      result: :float,
      flops: 1,
      operators: [:**],
      functions: [:pow],
      math: [:pow],
      eval: :pow,
      elixir: quote(do: :math.pow(a, b)),
      cpp: "brz_pow($a, $b)"
    ],
    [
      name: :min,
      code: 15,
      arity: 2,
      class: :math,
      result: :int_preserving,
      flops: 1,
      functions: [:min],
      eval: :min_,
      elixir: quote(do: if(b < a, do: b, else: a)),
      cpp: "$b < $a ? $b : $a"
    ],
    [
      name: :max,
      code: 16,
      arity: 2,
      class: :math,
      result: :int_preserving,
      flops: 1,
      functions: [:max],
      eval: :max_,
      elixir: quote(do: if(a < b, do: b, else: a)),
      cpp: "$a < $b ? $b : $a"
    ],
    [
      name: :neg,
      code: 20,
      arity: 1,
      class: :arith,
      result: :int_preserving,
      flops: 1,
      operators: [:-],
      eval: :neg,
      # Not `-a`: for a known float the compiler emits `0.0 - a`, so neg(0.0) would be +0.0.
      elixir: quote(do: -1.0 * a),
      cpp: "-$a"
    ],
    [
      name: :abs,
      code: 21,
      arity: 1,
      class: :math,
      result: :int_preserving,
      flops: 1,
      functions: [:abs],
      eval: :abs_,
      elixir: quote(do: abs(a)),
      cpp: "brz_abs($a)"
    ],
    [
      name: :sqrt,
      code: 22,
      arity: 1,
      class: :math,
      result: :float,
      flops: 1,
      functions: [:sqrt],
      math: [:sqrt],
      eval: :sqrt,
      elixir: quote(do: :math.sqrt(a)),
      cpp: "brz_sqrt($a)"
    ],
    [
      name: :exp,
      code: 23,
      arity: 1,
      class: :math,
      result: :float,
      flops: 1,
      functions: [:exp],
      math: [:exp],
      eval: :exp,
      elixir: quote(do: :math.exp(a)),
      cpp: "brz_exp($a)"
    ],
    [
      name: :log,
      code: 24,
      arity: 1,
      class: :math,
      result: :float,
      flops: 1,
      functions: [:log],
      math: [:log],
      eval: :log,
      elixir: quote(do: :math.log(a)),
      cpp: "brz_log($a)"
    ],
    [
      name: :sin,
      code: 25,
      arity: 1,
      class: :math,
      result: :float,
      flops: 1,
      functions: [:sin],
      math: [:sin],
      eval: :sin,
      elixir: quote(do: :math.sin(a)),
      cpp: "brz_sin($a)"
    ],
    [
      name: :cos,
      code: 26,
      arity: 1,
      class: :math,
      result: :float,
      flops: 1,
      functions: [:cos],
      math: [:cos],
      eval: :cos,
      elixir: quote(do: :math.cos(a)),
      cpp: "brz_cos($a)"
    ],
    [
      name: :floor,
      code: 27,
      arity: 1,
      class: :math,
      result: :int,
      flops: 1,
      functions: [:floor],
      math: [:floor],
      eval: :floor_,
      elixir: quote(do: Float.floor(a)),
      cpp: "brz_floor($a)"
    ],
    [
      name: :atan2,
      code: 60,
      arity: 2,
      class: :math,
      result: :float,
      flops: 1,
      functions: [:atan2],
      math: [:atan2],
      eval: :atan2,
      elixir: quote(do: :math.atan2(a, b)),
      cpp: "::atan2($a, $b)"
    ],
    [
      name: :tanh,
      code: 61,
      arity: 1,
      class: :math,
      result: :float,
      flops: 1,
      functions: [:tanh],
      math: [:tanh],
      eval: :tanh,
      elixir: quote(do: :math.tanh(a)),
      cpp: "::tanh($a)"
    ],
    [
      name: :round,
      code: 62,
      arity: 1,
      class: :math,
      result: :int,
      flops: 1,
      functions: [:round],
      eval: :round_,
      elixir: quote(do: BrokenRecord.Zero.Ops.round_(a)),
      cpp: "::round($a)"
    ],
    [
      name: :sign,
      code: 63,
      arity: 1,
      class: :math,
      result: :int_preserving,
      flops: 1,
      functions: [:sign],
      eval: :sign_,
      elixir: quote(do: if(a > 0.0, do: 1.0, else: if(a < 0.0, do: -1.0, else: a))),
      cpp: "$a > T(0) ? T(1) : ($a < T(0) ? T(-1) : $a)"
    ],
    [
      name: :mod,
      code: 64,
      arity: 2,
      class: :math,
      result: :int_preserving,
      flops: 1,
      functions: [:mod],
      eval: :mod,
      elixir: quote(do: a - b * Float.floor(a / b)),
      cpp: "$a - $b * brz_floor($a / $b)"
    ],
    # The minimum image of a coordinate difference `a` on an axis of edge `b` (`c` = 1 / `b`):
    # `a - b * rint(a * c)`, rint rounding half to even. Not a DSL function: the compiler emits
    # it for the difference of two agents' coordinates in a periodic space.
    [
      name: :minimg,
      code: 65,
      arity: 3,
      class: :math,
      result: :float,
      flops: 3,
      eval: :minimg,
      elixir: quote(do: a - b * BrokenRecord.Zero.Ops.rint_(a * c)),
      cpp: "$a - $b * brz_rint($a * $c)"
    ],
    [
      name: :lt,
      code: 30,
      arity: 2,
      class: :compare,
      result: :bool,
      operators: [:<],
      eval: :lt,
      elixir: bool.(quote(do: a < b)),
      cpp: "$a < $b ? T(1) : T(0)"
    ],
    [
      name: :le,
      code: 31,
      arity: 2,
      class: :compare,
      result: :bool,
      operators: [:<=],
      eval: :le,
      elixir: bool.(quote(do: a <= b)),
      cpp: "$a <= $b ? T(1) : T(0)"
    ],
    [
      name: :gt,
      code: 32,
      arity: 2,
      class: :compare,
      result: :bool,
      operators: [:>],
      eval: :gt,
      elixir: bool.(quote(do: a > b)),
      cpp: "$a > $b ? T(1) : T(0)"
    ],
    [
      name: :ge,
      code: 33,
      arity: 2,
      class: :compare,
      result: :bool,
      operators: [:>=],
      eval: :ge,
      elixir: bool.(quote(do: a >= b)),
      cpp: "$a >= $b ? T(1) : T(0)"
    ],
    [
      name: :eq,
      code: 34,
      arity: 2,
      class: :compare,
      result: :bool,
      operators: [:==],
      eval: :eq,
      elixir: bool.(quote(do: a == b)),
      cpp: "$a == $b ? T(1) : T(0)"
    ],
    [
      name: :ne,
      code: 35,
      arity: 2,
      class: :compare,
      result: :bool,
      operators: [:!=],
      eval: :ne,
      elixir: bool.(quote(do: a != b)),
      cpp: "$a != $b ? T(1) : T(0)"
    ],
    [
      name: :and,
      code: 40,
      arity: 2,
      class: :logic,
      result: :bool,
      operators: [:and, :&&],
      eval: :and_,
      elixir: bool.(quote(do: a != 0.0 and b != 0.0)),
      cpp: "(($a != T(0)) & ($b != T(0))) ? T(1) : T(0)"
    ],
    [
      name: :or,
      code: 41,
      arity: 2,
      class: :logic,
      result: :bool,
      operators: [:or, :||],
      eval: :or_,
      elixir: bool.(quote(do: a != 0.0 or b != 0.0)),
      cpp: "(($a != T(0)) | ($b != T(0))) ? T(1) : T(0)"
    ],
    [
      name: :not,
      code: 42,
      arity: 1,
      class: :logic,
      result: :bool,
      operators: [:not, :!],
      eval: :not_,
      elixir: bool.(quote(do: a == 0.0)),
      cpp: "$a != T(0) ? T(0) : T(1)"
    ],
    [
      name: :select,
      code: 50,
      arity: 3,
      class: :select,
      eval: :select,
      elixir: quote(do: if(a != 0.0, do: b, else: c)),
      cpp: "$a != T(0) ? $b : $c"
    ]
  ]

  # The struct cannot be built with `struct!/2` while its own module compiles.
  @defaults %{
    __struct__: __MODULE__,
    result: nil,
    eval: nil,
    elixir: nil,
    cpp: nil,
    flops: 0,
    functions: [],
    math: [],
    operators: []
  }
  @ops Enum.map(@rows, &Map.merge(@defaults, Map.new(&1)))
  @by_name Map.new(@ops, &{&1.name, &1})
  @by_code Map.new(@ops, &{&1.code, &1})

  @doc "Every op, in opcode order."
  @spec all() :: [t]
  def all, do: @ops

  @doc "The row of an op; raises `KeyError` for an unknown name."
  @spec fetch!(atom) :: t
  def fetch!(name), do: Map.fetch!(@by_name, name)

  @doc "The row of an opcode, or `:error`."
  @spec from_code(non_neg_integer) :: {:ok, t} | :error
  def from_code(code), do: Map.fetch(@by_code, code)

  @doc "The ops that compute a register from registers (all but the `:data` class)."
  @spec computed() :: [t]
  def computed, do: Enum.reject(@ops, &(&1.class == :data))

  @doc "DSL functions spelled `f(...)` that are one op, as `{name, op}`, in table order."
  @spec functions() :: [{atom, t}]
  def functions, do: for(op <- @ops, f <- op.functions, do: {f, op})

  @doc "DSL functions spelled `:math.f(...)` that are one op, as `{name, op}`, in table order."
  @spec math_functions() :: [{atom, t}]
  def math_functions, do: for(op <- @ops, f <- op.math, do: {f, op})

  @doc "DSL operators of `arity` operands, as `{operator, op}`, in table order."
  @spec operators(1 | 2) :: [{atom, t}]
  def operators(arity),
    do: for(op <- @ops, op.arity == arity, o <- op.operators, do: {o, op})

  @doc "The generated Elixir expression of `op` over the quoted operands `args`."
  @spec elixir(t, [Macro.t()]) :: Macro.t()
  def elixir(%__MODULE__{elixir: template}, args) do
    vars = Enum.zip([:a, :b, :c], args) |> Map.new()

    Macro.prewalk(template, fn
      {name, _, __MODULE__} = var -> Map.get(vars, name, var)
      other -> other
    end)
  end

  @doc "The generated C++ expression of `op` over the operand register numbers `regs`."
  @spec cpp(t, [non_neg_integer]) :: String.t()
  def cpp(%__MODULE__{cpp: template}, regs) do
    Enum.zip(["$a", "$b", "$c"], regs)
    |> Enum.reduce(template, fn {hole, reg}, acc -> String.replace(acc, hole, "r#{reg}") end)
  end
end
