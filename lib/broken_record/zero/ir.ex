defmodule BrokenRecord.Zero.IR do
  @moduledoc """
  The intermediate representation of a system: what the DSL describes, as data.

  `BrokenRecord.Zero.Parser` builds it from the DSL's quoted code, `BrokenRecord.Zero.Types`
  annotates every expression with its type, and `BrokenRecord.Zero.Lowering` turns rule bodies
  into the scalar program.

  ## Expressions

  An expression is a tuple `{kind, meta, payload}`, where `meta` is a map with `:line` and, after
  type checking, `:type` (`:float | :int | :vec3 | :bool | {:enum, [atom]}`):

    * `{:num, meta, number}` - a literal (integers keep type `:int`; `true`/`false` and enum
      values become one after type checking, with type `:bool` or `{:enum, values}` and the
      value's lane code)
    * `{:atom, meta, atom}` - `true`, `false` or an enum value (`:infected`) before type checking
    * `{:var, meta, name}` - a local variable
    * `{:const, meta, name}` - a capitalised constant (`G`)
    * `{:param, meta, name}` - a scalar param (`dt`, `k`)
    * `{:field, meta, {slot, field}}` - `p.velocity`, `slot` being the agent param name
    * `{:vec, meta, [x, y, z]}` - `{x, y, z}`
    * `{:component, meta, {expr, 0 | 1 | 2}}` - `v.x`, `v.y`, `v.z`
    * `{:call, meta, {op, args}}` - operators and functions (`:add`, `:sub`, `:mul`, `:div`,
      `:pow`, `:neg`, `:lt`, `:le`, `:gt`, `:ge`, `:eq`, `:ne`, `:and`, `:or`, `:not`, `:dot`,
      `:cross`, `:length`, `:normalize`, `:sqrt`, `:abs`, `:min`, `:max`, `:clamp`, `:exp`,
      `:log`, `:sin`, `:cos`, `:floor`)
    * `{:random, meta, {:uniform | :normal, site}}` - `uniform()`, `normal()`; `site` is the
      call site's number in its rule (`nil` until `BrokenRecord.Zero.RandomSites` numbers it)

  ## Statements

    * `{:assign, line, name, expr}` - `x = e`
    * `{:destructure, line, [name, name, name], expr}` - `{x, y, z} = v`
    * `{:store, line, {slot, field}, expr}` - `p.velocity = e`
    * `{:if, line, cond, then_statements, else_statements}`
  """

  @type type :: :float | :int | :vec3 | :bool | {:enum, [atom]} | {:ref, String.t()}
  @typedoc "Who a field access names: an agent param, or `{param, ref}` (the agent its reference field `ref` names)."
  @type slot :: atom | {atom, atom}
  @type meta :: %{required(:line) => non_neg_integer, optional(:type) => type}
  @type expr :: {atom, meta, term}
  @type statement ::
          {:assign, non_neg_integer, atom, expr}
          | {:destructure, non_neg_integer, [atom], expr}
          | {:store, non_neg_integer, {slot, atom}, expr}
          | {:if, non_neg_integer, expr, [statement], [statement]}

  defmodule Field do
    @moduledoc """
    A declared field of an agent type, with the lanes it occupies.

    `type` is `:float`, `:int`, `:vec3`, `:bool` or `{:enum, [atom]}`; a bool or enum takes one
    lane holding `0`/`1` or the value's index in the list. A `transient` field is not read from or
    written to the state and is reset to its `default` at the start of every step.
    """
    defstruct [:name, :type, :default, :lane, :line, transient: false]

    @type field_type :: :float | :int | :vec3 | :bool | {:enum, [atom]} | {:ref, String.t()}

    @type t :: %__MODULE__{
            name: atom,
            type: field_type,
            default: nil | number | {number, number, number} | atom,
            lane: non_neg_integer,
            line: non_neg_integer,
            transient: boolean
          }

    @doc "The number of lanes a field type occupies: 3 for `:vec3`, 1 otherwise."
    @spec width(field_type) :: 1 | 3
    def width(:vec3), do: 3
    def width(_type), do: 1

    @doc """
    The default of a transient field declared without one: zero, `false` or the enum's first
    value.

        iex> BrokenRecord.Zero.IR.Field.zero({:enum, [:s, :i, :r]})
        :s
    """
    @spec zero(field_type) :: number | {number, number, number} | atom
    def zero(:float), do: 0.0
    def zero(:int), do: 0
    def zero(:vec3), do: {0.0, 0.0, 0.0}
    def zero(:bool), do: false
    def zero({:enum, [first | _]}), do: first

    @doc """
    The lane value of a scalar field's value: numbers as they are, `true`/`false` as `1`/`0`,
    an enum value as its index.

        iex> BrokenRecord.Zero.IR.Field.code({:enum, [:s, :i, :r]}, :r)
        2
    """
    @spec code(field_type, term) :: number
    def code(:bool, value), do: if(value, do: 1, else: 0)
    def code({:enum, values}, value), do: Enum.find_index(values, &(&1 == value))
    def code(_type, value), do: value
  end

  defmodule Agent do
    @moduledoc """
    An agent type: its fields, lane layout (`lanes` scalar lanes in field order, a vec3 taking
    three), the state key of its collection, and the laws it declares.
    """
    defstruct [:name, :index, :collection, fields: [], lanes: 0, conserves: [], line: 0]

    @type t :: %__MODULE__{
            name: String.t(),
            index: non_neg_integer,
            collection: atom,
            fields: [BrokenRecord.Zero.IR.Field.t()],
            lanes: non_neg_integer,
            conserves: [atom],
            line: non_neg_integer
          }

    @doc "Finds a field by name."
    @spec field(t, atom) :: BrokenRecord.Zero.IR.Field.t() | nil
    def field(%__MODULE__{fields: fields}, name), do: Enum.find(fields, &(&1.name == name))

    @doc "The field that occupies `lane`."
    @spec field_at_lane(t, non_neg_integer) :: BrokenRecord.Zero.IR.Field.t()
    def field_at_lane(%__MODULE__{fields: fields}, lane),
      do: fields |> Enum.filter(&(&1.lane <= lane)) |> List.last()
  end

  defmodule Rule do
    @moduledoc """
    An interaction rule.

    `kind` is `:per_agent` (one agent param), `:pair_same` (two of one type: every unordered
    pair) or `:pair_cross` (two of different types: every combination). `agents` are the agent
    params in order (slot 0, slot 1) as `{name, agent_type_name}`; `scalars` the scalar params
    besides `dt`. `cutoff` is filled by `BrokenRecord.Zero.Cutoff`: `nil` or
    `%{position: {field_a, field_b}, bound: expr}`. A `transient_reset` rule is not written by
    the user: `BrokenRecord.Zero.Transient` adds one per agent type with transient fields, and
    every step runs it before the step's rules.
    `reductions` is filled by `BrokenRecord.Zero.Reductions`: the fields a pair rule reduces,
    `%{{slot, field} => :max | :min}`.
    `exclusive` (`interaction ..., exclusive: true`): every agent takes part in at most one
    applied pair of the rule per step (`docs/dsl.md`, "Exclusive pair rules").
    `exclude` (`interaction ..., exclude: Bond`): the agent type whose references name the
    pairs the rule skips. A rule of kind `:bonded` has one agent param whose type has reference
    fields, and reaches through them (`s.a.position`, `docs/dsl.md`, "Bonds").
    `observe` is set on observables (`observable` and `potential` blocks, whose body ends with
    `{:value, line, expr}`): how they reduce over agents or pairs, and whether the energy
    monitor adds them to the kinetic energy (`potential`); `builtin` is `{name, collection}`
    for the built-ins generated per agent type (`BrokenRecord.Zero.Observables`).
    """
    defstruct [
      :name,
      :index,
      :kind,
      :line,
      agents: [],
      scalars: [],
      body: [],
      cutoff: nil,
      transient_reset: false,
      reductions: %{},
      exclusive: false,
      exclude: nil,
      observe: nil
    ]

    @type t :: %__MODULE__{
            name: atom,
            index: non_neg_integer,
            kind: :per_agent | :pair_same | :pair_cross | :bonded,
            line: non_neg_integer,
            agents: [{atom, String.t()}],
            scalars: [atom],
            body: [BrokenRecord.Zero.IR.statement()],
            cutoff: nil | %{position: {atom, atom}, bound: BrokenRecord.Zero.IR.expr()},
            transient_reset: boolean,
            reductions: %{{atom, atom} => :max | :min},
            exclusive: boolean,
            exclude: nil | String.t(),
            observe:
              nil
              | %{
                  reduce: :sum | :min | :max | :mean,
                  energy: boolean,
                  builtin: nil | {atom, atom}
                }
          }
  end

  @doc "The metadata of an expression."
  @spec meta(expr) :: meta
  def meta({_, meta, _}), do: meta

  @doc "The type of a type-checked expression."
  @spec type(expr) :: type
  def type({_, %{type: type}, _}), do: type

  @doc "The source line of an expression."
  @spec line(expr) :: non_neg_integer
  def line({_, %{line: line}, _}), do: line
end
