defmodule BrokenRecord.Zero.Program do
  @moduledoc """
  The scalar SSA program that both backends execute, and its versioned binary encoding.

  See `docs/program.md` for the instruction set, the semantics and the byte layout. Instructions
  are tuples `{op, dst, a, b, c}` with `op` an atom (`:add`, `:load`, ...), unused operands 0.
  """

  defmodule Rule do
    @moduledoc """
    One lowered rule: kind, agent types, constant pool, instructions, cutoff, and `claim`: in
    an exclusive pair rule the register that says whether a pair would act (encoded as the
    rule's last instruction, a `CLAIM`), else `nil`. A bonded rule's `refs` are its slots 1, 2,
    ...: `{lane of type_a holding the reference, referenced type}`; a pair rule's `exclude` the
    type whose agents' reference `lanes` name the pairs it skips.
    """
    defstruct [
      :name,
      :kind,
      :type_a,
      :type_b,
      consts: [],
      instrs: [],
      n_regs: 0,
      cutoff: nil,
      claim: nil,
      refs: [],
      exclude: nil
    ]

    @type instr :: {atom, non_neg_integer, non_neg_integer, non_neg_integer, non_neg_integer}
    @type t :: %__MODULE__{
            name: atom,
            kind: :per_agent | :pair_same | :pair_cross | :bonded,
            type_a: non_neg_integer,
            type_b: non_neg_integer | nil,
            consts: [float],
            instrs: [instr],
            n_regs: non_neg_integer,
            cutoff:
              nil | %{lane_a: non_neg_integer, lane_b: non_neg_integer, reg: non_neg_integer},
            claim: nil | non_neg_integer,
            refs: [{non_neg_integer, non_neg_integer}],
            exclude: nil | %{type: non_neg_integer, lanes: [non_neg_integer]}
          }
  end

  defstruct types: [], params: [:dt], periodic: 0, coord_lanes: [], references: [], rules: []

  @typedoc """
  `types` - lanes per agent type; `params` - the param table (`:dt` first); `periodic` - the
  periodic axes as a bit mask (1 = x, 2 = y, 4 = z; 0 for open space); `coord_lanes` - per
  type, the first lane of its coordinate field, or `nil` (empty for open space);
  `references` - per type, its reference fields as `{lane, referenced type}` (an agent is
  removed with an agent it references); `rules`.
  """
  @type t :: %__MODULE__{
          types: [pos_integer],
          params: [atom],
          periodic: 0..7,
          coord_lanes: [non_neg_integer | nil],
          references: [[{non_neg_integer, non_neg_integer}]],
          rules: [Rule.t()]
        }

  alias BrokenRecord.Zero.Program.Op

  @version 3
  @magic "BRZP"
  @none 0xFFFFFFFF

  @lane_writes [:store, :acc, :accmax, :accmin]
  @lifecycle [:remove, :spawn, :spawnlane]
  @opcodes Map.new(Op.all(), &{&1.name, &1.code})
  @names Map.new(@opcodes, fn {k, v} -> {v, k} end)
  @kinds %{per_agent: 0, pair_same: 1, pair_cross: 2, bonded: 3}
  @kind_names Map.new(@kinds, fn {k, v} -> {v, k} end)

  @doc "The encoding version this module writes and reads."
  @spec version() :: pos_integer
  def version, do: @version

  @doc "The opcode table (`op => code`), from `BrokenRecord.Zero.Program.Op`."
  @spec opcodes() :: %{atom => non_neg_integer}
  def opcodes, do: @opcodes

  @doc "Operands read by an instruction, as registers."
  @spec reads(Rule.instr()) :: [non_neg_integer]
  def reads({op, _d, _a, _b, _c}) when op in [:const, :param, :box, :load, :uniform, :normal],
    do: []

  def reads({op, _d, _a, _b, c}) when op in @lane_writes or op in @lifecycle, do: [c]
  def reads({op, _d, a, b, c}), do: Enum.take([a, b, c], Op.fetch!(op).arity)

  @doc "The lanes a rule writes (a `STORE`, `ACC`, `ACCMAX` or `ACCMIN`), as `{slot, lane}`."
  @spec stores(Rule.t()) :: [{0 | 1, non_neg_integer}]
  def stores(%Rule{instrs: instrs}),
    do: for({op, _, s, l, _} <- instrs, op in @lane_writes, do: {s, l})

  @doc """
  Whether an instruction writes a lane (`STORE`, `ACC`, `ACCMAX` or `ACCMIN`) rather than a
  register.
  """
  @spec lane_write?(Rule.instr()) :: boolean
  def lane_write?({op, _, _, _, _}), do: op in @lane_writes

  @doc """
  Whether an instruction is an agent lifecycle op (`REMOVE`, `SPAWN`, `SPAWNLANE`): it writes
  no register and takes effect when the rule's application ends.
  """
  @spec lifecycle?(Rule.instr()) :: boolean
  def lifecycle?({op, _, _, _, _}), do: op in @lifecycle

  @doc "Whether a rule removes or spawns agents (has a lifecycle op)."
  @spec lifecycle_rule?(Rule.t()) :: boolean
  def lifecycle_rule?(%Rule{instrs: instrs}), do: Enum.any?(instrs, &lifecycle?/1)

  @doc "Whether an instruction writes no register: a lane write or a lifecycle op."
  @spec effect?(Rule.instr()) :: boolean
  def effect?({op, _, _, _, _}), do: op in @lane_writes or op in @lifecycle

  @doc """
  How a pair rule combines a lane over its pairs: `:sum` (a `STORE` or `ACC`: deltas are added),
  `:max` (`ACCMAX`) or `:min` (`ACCMIN`).
  """
  @spec reduction(Rule.instr()) :: :sum | :max | :min
  def reduction({:accmax, _, _, _, _}), do: :max
  def reduction({:accmin, _, _, _, _}), do: :min
  def reduction({op, _, _, _, _}) when op in [:store, :acc], do: :sum

  @doc "The agent type of a rule's slot (0 or 1; a bonded rule's 1, 2, ... are its references)."
  @spec slot_type(Rule.t(), non_neg_integer) :: non_neg_integer
  def slot_type(%Rule{type_a: type}, 0), do: type
  def slot_type(%Rule{kind: :bonded, refs: refs}, slot), do: elem(Enum.at(refs, slot - 1), 1)
  def slot_type(%Rule{type_b: type}, 1), do: type

  @doc "Encodes a program to the binary of `docs/program.md`."
  @spec encode(t) :: binary
  def encode(%__MODULE__{types: types, params: params, rules: rules} = program) do
    coord_lanes =
      case program.coord_lanes do
        [] -> Enum.map(types, fn _ -> nil end)
        lanes -> lanes
      end

    IO.iodata_to_binary([
      @magic,
      u32(@version),
      u32(length(types)),
      Enum.map(types, &u32/1),
      u32(length(params)),
      u32(program.periodic),
      Enum.map(coord_lanes, &u32(&1 || @none)),
      Enum.map(references(program, types), fn refs ->
        [u32(length(refs)), Enum.map(refs, fn {lane, type} -> [u32(lane), u32(type)] end)]
      end),
      u32(length(rules)),
      Enum.map(rules, &encode_rule/1)
    ])
  end

  defp encode_rule(%Rule{} = rule) do
    {flag, la, lb, reg} =
      case rule.cutoff do
        nil -> {0, 0, 0, 0}
        %{lane_a: la, lane_b: lb, reg: reg} -> {1, la, lb, reg}
      end

    [
      u32(Map.fetch!(@kinds, rule.kind)),
      u32(rule.type_a),
      u32(rule.type_b || @none),
      u32(length(rule.consts)),
      u32(rule.n_regs),
      u32(length(instrs_with_claim(rule))),
      u32(flag),
      u32(la),
      u32(lb),
      u32(reg),
      u32(length(rule.refs)),
      Enum.map(rule.refs, fn {lane, type} -> [u32(lane), u32(type)] end),
      case rule.exclude do
        nil -> [u32(@none), u32(0)]
        %{type: type, lanes: lanes} -> [u32(type), u32(length(lanes)), Enum.map(lanes, &u32/1)]
      end,
      Enum.map(rule.consts, &<<&1::float-little-64>>),
      Enum.map(instrs_with_claim(rule), fn {op, d, a, b, c} ->
        <<Map.fetch!(@opcodes, op)::little-16, d::little-16, a::little-16, b::little-16,
          c::little-16, 0::little-16>>
      end)
    ]
  end

  defp u32(n), do: <<n::little-32>>

  defp references(%__MODULE__{references: []}, types), do: Enum.map(types, fn _ -> [] end)
  defp references(%__MODULE__{references: refs}, _types), do: refs

  # The binary carries an exclusive rule's claim register as its last instruction.
  defp instrs_with_claim(%Rule{claim: nil, instrs: instrs}), do: instrs

  defp instrs_with_claim(%Rule{claim: reg, instrs: instrs}),
    do: instrs ++ [{:claim, 0, reg, 0, 0}]

  @doc """
  Decodes a program binary. Raises `ArgumentError` if it is malformed (the structural checks;
  the full validation of `docs/program.md` is the engine's).
  """
  @spec decode(binary) :: t
  def decode(<<@magic, @version::little-32, n_types::little-32, rest::binary>>) do
    {types, rest} = take_u32s(rest, n_types)
    <<n_params::little-32, periodic::little-32, rest::binary>> = rest
    {coord_lanes, rest} = take_u32s(rest, n_types)

    {references, rest} =
      Enum.map_reduce(1..n_types//1, rest, fn _, <<n::little-32, rest::binary>> ->
        {refs, rest} = take_u32s(rest, 2 * n)
        {refs |> Enum.chunk_every(2) |> Enum.map(&List.to_tuple/1), rest}
      end)

    <<n_rules::little-32, rest::binary>> = rest
    {rules, rest} = decode_rules(rest, n_rules, [])
    if rest != "", do: raise(ArgumentError, "invalid program: trailing bytes")

    params = [:dt | Enum.map(1..(n_params - 1)//1, &:"param_#{&1}")]

    %__MODULE__{
      types: types,
      params: params,
      periodic: periodic,
      # Open space encodes no coordinate lanes; it decodes as it was built: none at all.
      coord_lanes:
        if(periodic == 0 and Enum.all?(coord_lanes, &(&1 == @none)),
          do: [],
          else: Enum.map(coord_lanes, &if(&1 == @none, do: nil, else: &1))
        ),
      references: references,
      rules: rules
    }
  rescue
    e in MatchError -> raise ArgumentError, "invalid program: truncated (#{inspect(e.term)})"
    FunctionClauseError -> raise ArgumentError, "invalid program: truncated references"
  end

  def decode(_), do: raise(ArgumentError, "invalid program: bad magic or version")

  defp decode_rules(rest, 0, acc), do: {Enum.reverse(acc), rest}

  defp decode_rules(bin, n, acc) do
    <<kind::little-32, ta::little-32, tb::little-32, n_consts::little-32, n_regs::little-32,
      n_instrs::little-32, flag::little-32, la::little-32, lb::little-32, reg::little-32,
      n_refs::little-32, rest::binary>> = bin

    {refs, rest} = take_u32s(rest, 2 * n_refs)
    <<exclude_type::little-32, n_exclude::little-32, rest::binary>> = rest
    {exclude_lanes, rest} = take_u32s(rest, n_exclude)

    const_bytes = n_consts * 8
    <<consts::binary-size(const_bytes), rest::binary>> = rest
    instr_bytes = n_instrs * 12
    <<instrs::binary-size(instr_bytes), rest::binary>> = rest

    instrs =
      for <<op::little-16, d::little-16, a::little-16, b::little-16, c::little-16,
            _::little-16 <- instrs>> do
        {fetch!(@names, op, "opcode"), d, a, b, c}
      end

    {claims, instrs} = Enum.split_with(instrs, &match?({:claim, _, _, _, _}, &1))

    claim =
      case claims do
        [] -> nil
        [{:claim, _, reg, _, _}] -> reg
        _ -> raise ArgumentError, "invalid program: more than one CLAIM in a rule"
      end

    rule = %Rule{
      kind: fetch!(@kind_names, kind, "rule kind"),
      type_a: ta,
      type_b: if(tb == @none, do: nil, else: tb),
      consts: for(<<c::float-little-64 <- consts>>, do: c),
      n_regs: n_regs,
      instrs: instrs,
      cutoff: if(flag == 1, do: %{lane_a: la, lane_b: lb, reg: reg}),
      claim: claim,
      refs: refs |> Enum.chunk_every(2) |> Enum.map(&List.to_tuple/1),
      exclude: if(exclude_type != @none, do: %{type: exclude_type, lanes: exclude_lanes})
    }

    decode_rules(rest, n - 1, [rule | acc])
  end

  defp fetch!(map, key, what) do
    case Map.fetch(map, key) do
      {:ok, value} -> value
      :error -> raise ArgumentError, "invalid program: unknown #{what} #{key}"
    end
  end

  defp take_u32s(bin, n) do
    bytes = n * 4
    <<data::binary-size(bytes), rest::binary>> = bin
    {for(<<x::little-32 <- data>>, do: x), rest}
  end

  @doc """
  The types whose agents may go when agents of `types` are removed: `types` and every type
  that references one of them, directly or through others (an agent is removed with any agent
  it references).
  """
  @spec removed_with(t, [non_neg_integer]) :: [non_neg_integer]
  def removed_with(%__MODULE__{references: refs}, types) do
    grown =
      refs
      |> Enum.with_index()
      |> Enum.filter(fn {type_refs, t} ->
        t not in types and Enum.any?(type_refs, fn {_, target} -> target in types end)
      end)
      |> Enum.map(&elem(&1, 1))

    if grown == [], do: types, else: removed_with(%__MODULE__{references: refs}, types ++ grown)
  end

  @doc """
  A bonded rule as the per-agent rule that the engine runs over gathered columns
  (`docs/engine.md`, "Bonded rules"): the lanes of slot `s` are columns `base[s] + lane`
  (`base` the running sum of the lane counts of `type_a` and the referenced types, in slot
  order), and the `k`-th lane write in program order becomes a `STORE` of column
  `base[arity] + k`. Returns the rule and its column count.
  """
  @spec flatten_bonded(Rule.t(), [pos_integer]) :: {Rule.t(), pos_integer}
  def flatten_bonded(%Rule{kind: :bonded} = rule, types) do
    slot_types = [rule.type_a | Enum.map(rule.refs, &elem(&1, 1))]
    base = slot_types |> Enum.map(&Enum.at(types, &1)) |> Enum.scan(&+/2) |> then(&[0 | &1])
    gathered = List.last(base)

    {instrs, writes} =
      Enum.map_reduce(rule.instrs, 0, fn
        {:load, d, s, l, c}, k ->
          {{:load, d, 0, Enum.at(base, s) + l, c}, k}

        {op, _, _, _, c}, k when op in @lane_writes ->
          {{:store, 0, 0, gathered + k, c}, k + 1}

        instr, k ->
          {instr, k}
      end)

    {%{rule | kind: :per_agent, refs: [], instrs: instrs}, gathered + writes}
  end

  @doc "A readable listing of a rule's instructions."
  @spec disassemble(Rule.t()) :: String.t()
  def disassemble(%Rule{} = rule) do
    Enum.map_join(rule.instrs, "\n", fn
      {:const, d, a, _, _} -> "r#{d} = #{Enum.at(rule.consts, a)}"
      {:param, d, a, _, _} -> "r#{d} = param #{a}"
      {:box, d, a, _, _} -> "r#{d} = box #{a}"
      {op, d, a, _, _} when op in [:uniform, :normal] -> "r#{d} = #{op} site #{a}"
      {:load, d, s, l, _} -> "r#{d} = load slot#{s}.lane#{l}"
      {:store, _, s, l, c} -> "store slot#{s}.lane#{l} <- r#{c}"
      {:acc, _, s, l, c} -> "acc slot#{s}.lane#{l} += r#{c}"
      {:accmax, _, s, l, c} -> "acc slot#{s}.lane#{l} max= r#{c}"
      {:accmin, _, s, l, c} -> "acc slot#{s}.lane#{l} min= r#{c}"
      {:remove, _, s, _, c} -> "remove slot#{s} if r#{c}"
      {:spawn, _, t, site, c} -> "spawn type#{t} site#{site} if r#{c}"
      {:spawnlane, _, site, l, c} -> "spawn site#{site}.lane#{l} <- r#{c}"
      {op, d, _, _, _} = i -> "r#{d} = #{op} " <> Enum.map_join(reads(i), ", ", &"r#{&1}")
    end)
  end
end
