defmodule BrokenRecord.Zero.IR do
  @moduledoc """
  The intermediate representation of a system: what the DSL describes, as data.

  `BrokenRecord.Zero.Parser` builds it from the DSL's quoted code, `BrokenRecord.Zero.Types`
  annotates every expression with its type, and `BrokenRecord.Zero.Lowering` turns rule bodies
  into the scalar program.

  ## Expressions

  An expression is a tuple `{kind, meta, payload}`, where `meta` is a map with `:line` and, after
  type checking, `:type` (`:float | :int | :vec3 | :bool`):

    * `{:num, meta, number}` - a literal (integers keep type `:int`)
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

  @type type :: :float | :int | :vec3 | :bool
  @type meta :: %{required(:line) => non_neg_integer, optional(:type) => type}
  @type expr :: {atom, meta, term}
  @type statement ::
          {:assign, non_neg_integer, atom, expr}
          | {:destructure, non_neg_integer, [atom], expr}
          | {:store, non_neg_integer, {atom, atom}, expr}
          | {:if, non_neg_integer, expr, [statement], [statement]}

  defmodule Field do
    @moduledoc "A declared field of an agent type, with the lanes it occupies."
    defstruct [:name, :type, :default, :lane, :line]

    @type t :: %__MODULE__{
            name: atom,
            type: :float | :int | :vec3,
            default: nil | number | {number, number, number},
            lane: non_neg_integer,
            line: non_neg_integer
          }

    @doc "The number of lanes a field type occupies: 3 for `:vec3`, 1 otherwise."
    @spec width(:float | :int | :vec3) :: 1 | 3
    def width(:vec3), do: 3
    def width(_type), do: 1
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
    `%{position: {field_a, field_b}, bound: expr}`.
    """
    defstruct [:name, :index, :kind, :line, agents: [], scalars: [], body: [], cutoff: nil]

    @type t :: %__MODULE__{
            name: atom,
            index: non_neg_integer,
            kind: :per_agent | :pair_same | :pair_cross,
            line: non_neg_integer,
            agents: [{atom, String.t()}],
            scalars: [atom],
            body: [BrokenRecord.Zero.IR.statement()],
            cutoff: nil | %{position: {atom, atom}, bound: BrokenRecord.Zero.IR.expr()}
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
