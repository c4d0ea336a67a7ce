defmodule BrokenRecord.Zero.Fuzz.Programs do
  @moduledoc """
  Program binaries for the NIF fuzz harness: a raw decoder and encoder of the version-3 format
  of `docs/program.md`, random programs generated from that format, mutations of existing
  binaries, and the layouts, states and call arguments that go with a program.

  The raw form keeps every field as it is in the binary (counts may disagree with the lists,
  constants are 8 raw bytes so that NaN and infinity bit patterns survive), so that a
  mutation can produce anything the binary format can express:

      %{version: 3, lanes: [3, 7], n_params: 2, periodic: 0b101, coord_lanes: [0, 0xFFFFFFFF],
        rules: [%{kind: 0, type_a: 0, type_b: 0xFFFFFFFF, n_regs: 4,
                  cutoff: {0, 0, 0, 0}, refs: [{lane, type}], exclude: {type, [lane]},
                  consts: [<<...8 bytes...>>],
                  instrs: [{op, dst, a, b, c, reserved}]}]}

  All randomness comes from `:rand` (see `BrokenRecord.Zero.Fuzz.Terms`).
  """

  import BrokenRecord.Zero.Fuzz.Terms, only: [weighted: 1, chance: 1]
  alias BrokenRecord.Zero.Fuzz.Terms
  alias BrokenRecord.Zero.Program.Op

  @none 0xFFFFFFFF
  @binary_ops for op <- Op.computed(), op.arity == 2, do: op.code
  @unary_ops for op <- Op.computed(), op.arity == 1, do: op.code
  @ternary_ops for op <- Op.computed(), op.arity == 3, do: op.code
  @all_ops [0, 1, 2, 3, 4, 5, 6, 7, 8, 9] ++ @binary_ops ++ @unary_ops ++ @ternary_ops
  @u16_boundary [0, 1, 2, 3, 4, 5, 255, 256, 4095, 4096, 5000, 32_767, 32_768, 65_534, 65_535]
  @u32_boundary [
    0,
    1,
    2,
    3,
    255,
    256,
    65_535,
    65_536,
    65_537,
    0x7FFFFFFF,
    0x80000000,
    0xFFFFFFFE,
    0xFFFFFFFF
  ]

  @typedoc "A raw program (see the module doc)."
  @type raw :: map

  # ------------------------------------------------------------------------------------------
  # Raw decoding and encoding
  # ------------------------------------------------------------------------------------------

  @doc """
  Decodes a binary into the raw form, checking only that the fields are there (no semantic
  validation): `{:ok, raw}` or `:error` (bad magic, truncated, trailing bytes).
  """
  @spec decode(binary) :: {:ok, raw} | :error
  def decode(<<"BRZP", version::little-32, n_types::little-32, rest::binary>>)
      when n_types <= 1_000_000 do
    with {:ok, lanes, rest} <- u32s(rest, n_types),
         <<n_params::little-32, periodic::little-32, rest::binary>> <- rest,
         {:ok, coord_lanes, rest} <- u32s(rest, n_types),
         {:ok, references, rest} <- references(rest, n_types, []),
         <<n_rules::little-32, rest::binary>> <- rest,
         {:ok, rules, <<>>} <- rules(rest, n_rules, []) do
      {:ok,
       %{
         version: version,
         lanes: lanes,
         n_params: n_params,
         periodic: periodic,
         coord_lanes: coord_lanes,
         references: references,
         rules: rules
       }}
    else
      _ -> :error
    end
  end

  def decode(_), do: :error

  defp references(rest, 0, acc), do: {:ok, Enum.reverse(acc), rest}

  defp references(<<n::little-32, rest::binary>>, k, acc) when byte_size(rest) >= n * 8 do
    <<data::binary-size(n * 8), rest::binary>> = rest
    references(rest, k - 1, [for(<<l::little-32, t::little-32 <- data>>, do: {l, t}) | acc])
  end

  defp references(_, _, _), do: :error

  defp u32s(bin, n) when byte_size(bin) >= n * 4 do
    <<data::binary-size(n * 4), rest::binary>> = bin
    {:ok, for(<<x::little-32 <- data>>, do: x), rest}
  end

  defp u32s(_, _), do: :error

  defp rules(rest, 0, acc), do: {:ok, Enum.reverse(acc), rest}

  defp rules(
         <<kind::little-32, ta::little-32, tb::little-32, nc::little-32, nr::little-32,
           ni::little-32, cf::little-32, cla::little-32, clb::little-32, creg::little-32,
           nrefs::little-32, rest::binary>>,
         n,
         acc
       )
       when byte_size(rest) >= nrefs * 8 + 8 do
    <<rdata::binary-size(nrefs * 8), xt::little-32, nx::little-32, rest::binary>> = rest
    refs = for <<lane::little-32, type::little-32 <- rdata>>, do: {lane, type}

    case rest do
      <<xdata::binary-size(nx * 4), rest::binary>> when byte_size(rest) >= nc * 8 + ni * 12 ->
        exclude = {xt, for(<<l::little-32 <- xdata>>, do: l)}
        rule_body(rest, {kind, ta, tb, nc, nr, ni, {cf, cla, clb, creg}, refs, exclude}, n, acc)

      _ ->
        :error
    end
  end

  defp rules(_, _, _), do: :error

  defp rule_body(rest, {kind, ta, tb, nc, nr, ni, cutoff, refs, exclude}, n, acc) do
    <<cdata::binary-size(nc * 8), idata::binary-size(ni * 12), rest::binary>> = rest
    consts = for <<c::binary-size(8) <- cdata>>, do: c

    instrs =
      for <<op::little-16, d::little-16, a::little-16, b::little-16, c::little-16,
            r::little-16 <- idata>>,
          do: {op, d, a, b, c, r}

    rule = %{
      kind: kind,
      type_a: ta,
      type_b: tb,
      n_regs: nr,
      cutoff: cutoff,
      refs: refs,
      exclude: exclude,
      consts: consts,
      instrs: instrs
    }

    rules(rest, n - 1, [rule | acc])
  end

  @doc """
  Encodes a raw program. Counts come from the lists unless the raw form overrides them
  (`n_types`, `n_rules`, and per rule `n_consts`, `n_instrs`), which makes inconsistent
  binaries on purpose.
  """
  @spec encode(raw) :: binary
  def encode(raw) do
    IO.iodata_to_binary([
      "BRZP",
      u32(Map.get(raw, :version, 3)),
      u32(Map.get(raw, :n_types, length(raw.lanes))),
      Enum.map(raw.lanes, &u32/1),
      u32(raw.n_params),
      u32(Map.get(raw, :periodic, 0)),
      Enum.map(
        Map.get_lazy(raw, :coord_lanes, fn -> Enum.map(raw.lanes, fn _ -> @none end) end),
        &u32/1
      ),
      Enum.map(Map.get_lazy(raw, :references, fn -> declared_references(raw) end), fn refs ->
        [u32(length(refs)), Enum.map(refs, fn {lane, type} -> [u32(lane), u32(type)] end)]
      end),
      u32(Map.get(raw, :n_rules, length(raw.rules))),
      Enum.map(raw.rules, &encode_rule/1)
    ])
  end

  # Per type, the reference lanes its rules need: a bonded rule's references, an exclusion's
  # lanes (each lane once).
  defp declared_references(raw) do
    declared =
      Enum.flat_map(raw.rules, fn rule ->
        refs = for {lane, type} <- Map.get(rule, :refs, []), do: {rule.type_a, lane, type}

        excluded =
          case Map.get(rule, :exclude, {@none, []}) do
            {@none, _} -> []
            {type, lanes} -> for lane <- lanes, do: {type, lane, rule.type_a}
          end

        refs ++ excluded
      end)

    raw.lanes
    |> Enum.with_index()
    |> Enum.map(fn {_, t} ->
      declared
      |> Enum.filter(&(elem(&1, 0) == t))
      |> Enum.uniq_by(&elem(&1, 1))
      |> Enum.map(fn {_, lane, type} -> {lane, type} end)
    end)
  end

  defp encode_rule(rule) do
    {cf, la, lb, reg} = rule.cutoff

    [
      u32(rule.kind),
      u32(rule.type_a),
      u32(rule.type_b),
      u32(Map.get(rule, :n_consts, length(rule.consts))),
      u32(rule.n_regs),
      u32(Map.get(rule, :n_instrs, length(rule.instrs))),
      u32(cf),
      u32(la),
      u32(lb),
      u32(reg),
      u32(Map.get(rule, :n_refs, length(Map.get(rule, :refs, [])))),
      Enum.map(Map.get(rule, :refs, []), fn {lane, type} -> [u32(lane), u32(type)] end),
      case Map.get(rule, :exclude, {@none, []}) do
        {type, lanes} -> [u32(type), u32(length(lanes)), Enum.map(lanes, &u32/1)]
      end,
      rule.consts,
      Enum.map(rule.instrs, fn {op, d, a, b, c, r} ->
        <<op::little-16, d::little-16, a::little-16, b::little-16, c::little-16, r::little-16>>
      end)
    ]
  end

  defp u32(n), do: <<n::little-32>>

  @op_names Map.new(Op.all(), &{&1.code, String.upcase(Atom.to_string(&1.name))})

  @doc """
  A readable listing of a program binary (header, rules, at most `max_instrs` instructions
  per rule as `OP dst a b c`), or a note that it does not decode.
  """
  @spec describe(binary, pos_integer) :: String.t()
  def describe(bin, max_instrs \\ 40) do
    case decode(bin) do
      {:ok, raw} ->
        header =
          "version #{raw.version}, lanes #{inspect(raw.lanes, charlists: :as_lists)}, " <>
            "n_params #{raw.n_params}, periodic #{raw.periodic}, coord_lanes " <>
            "#{inspect(raw.coord_lanes, charlists: :as_lists)}, #{length(raw.rules)} rule(s)"

        rules =
          raw.rules
          |> Enum.with_index()
          |> Enum.map(fn {r, i} ->
            type_b = if r.type_b == @none, do: "-", else: r.type_b

            instrs =
              r.instrs
              |> Enum.take(max_instrs)
              |> Enum.with_index()
              |> Enum.map(fn {{op, d, a, b, c, res}, k} ->
                name = Map.get(@op_names, op, "op#{op}")
                extra = if res != 0, do: " reserved=#{res}", else: ""
                "    #{k}: #{name} #{d} #{a} #{b} #{c}#{extra}"
              end)

            more = if length(r.instrs) > max_instrs, do: ["    ..."], else: []

            Enum.join(
              [
                "  rule #{i}: kind #{r.kind}, types #{r.type_a}/#{type_b}, n_regs #{r.n_regs}, " <>
                  "#{length(r.consts)} consts, cutoff #{inspect(r.cutoff)}"
                | instrs ++ more
              ],
              "\n"
            )
          end)

        Enum.join([header | rules], "\n")

      :error ->
        "#{byte_size(bin)} bytes that do not decode as a program"
    end
  end

  # ------------------------------------------------------------------------------------------
  # Generation
  # ------------------------------------------------------------------------------------------

  @doc """
  A random program built from the format: 1-3 types (rarely more, rarely with huge lane
  counts), a param table that is sometimes huge, rules of every kind with random SSA bodies
  (LOAD/CONST/PARAM, every arithmetic opcode, STOREs, ACCs, ACCMAXs and ACCMINs, sometimes a
  CLAIM, REMOVEs and SPAWNs with their SPAWNLANEs), constant
  pools that are
  sometimes large, and CONST/PARAM indices anywhere in range (and sometimes one past it).
  A third of the programs are periodic (a random axis mask, coordinate lanes for the types
  wide enough, BOX instructions among the leaves). Random draws (UNIFORM and NORMAL, any call
  site, rarely with a non-zero unused operand) are leaves too. Most come out valid; a few fields are
  damaged on purpose.
  """
  @spec generate() :: binary
  def generate do
    n_types = weighted([{60, 1}, {30, 2}, {8, 3}, {2, 5}])
    lanes = for _ <- 1..n_types, do: gen_lanes()

    n_params =
      weighted([
        {55, :rand.uniform(4)},
        {45, Enum.random([8, 255, 256, 1000, 4097, 5001, 20_000, 65_535, 65_536])}
      ])

    periodic = if chance(0.33), do: :rand.uniform(7), else: 0

    coord_lanes =
      for l <- lanes do
        if periodic != 0 and l >= 3 and chance(0.8), do: :rand.uniform(l - 2) - 1, else: @none
      end

    n_rules = weighted([{5, 0}, {55, 1}, {30, 2}, {10, 3 + :rand.uniform(3)}])
    rules = for _ <- 1..n_rules//1, do: gen_rule(lanes, n_params, periodic)

    raw = %{
      version: 3,
      lanes: lanes,
      n_params: n_params,
      periodic: periodic,
      coord_lanes: coord_lanes,
      rules: rules
    }

    raw = if chance(0.05), do: damage_raw(raw), else: raw
    encode(raw)
  end

  defp gen_lanes do
    weighted([
      {30, :rand.uniform(3)},
      {45, Enum.random([3, 4, 6, 7, 8])},
      {20, 9 + :rand.uniform(24)},
      {4, Enum.random([100, 255, 256])},
      {1, Enum.random([4096, 65_535])}
    ])
  end

  defp gen_rule(lanes, n_params, periodic) do
    n_types = length(lanes)

    {kind, ta, tb} =
      cond do
        chance(0.12) ->
          {3, :rand.uniform(n_types) - 1, @none}

        n_types >= 2 and chance(0.3) ->
          [a, b] = Enum.take_random(0..(n_types - 1), 2)
          {2, a, b}

        chance(0.4) ->
          t = :rand.uniform(n_types) - 1
          {1, t, t}

        true ->
          {0, :rand.uniform(n_types) - 1, @none}
      end

    # A bonded rule's references: 1 to 3 lanes of its type naming agents of any type; rarely a
    # lane or type out of range, which the engine rejects.
    refs =
      if kind == 3 do
        for _ <- 1..:rand.uniform(3) do
          lane = :rand.uniform(Enum.at(lanes, ta)) - 1
          type = :rand.uniform(n_types) - 1
          if chance(0.02), do: {lane, n_types}, else: {lane, type}
        end
      else
        []
      end

    slot_lanes =
      case kind do
        0 -> [Enum.at(lanes, ta)]
        3 -> [Enum.at(lanes, ta) | Enum.map(refs, fn {_, t} -> Enum.at(lanes, t, 1) end)]
        _ -> [Enum.at(lanes, ta), Enum.at(lanes, tb)]
      end

    n_consts =
      weighted([
        {25, 0},
        {45, :rand.uniform(5)},
        {30, Enum.random([16, 64, 1000, 5001, 20_000])}
      ])

    consts = for _ <- 1..n_consts//1, do: <<Terms.float()::float-little-64>>
    # Rarely a NaN or infinite constant, which the engine must reject.
    consts = if n_consts > 0 and chance(0.02), do: damage_const(consts), else: consts
    body_len = weighted([{60, :rand.uniform(12)}, {30, 12 + :rand.uniform(40)}, {10, 300}])

    {instrs, next_reg} = gen_body(body_len, slot_lanes, n_consts, n_params, periodic)
    stores = gen_stores(kind, slot_lanes, next_reg)
    # A bonded rule may not store its references (rarely it does, which the engine rejects).
    ref_lanes = for {lane, _} <- refs, do: lane

    stores =
      Enum.reject(stores, fn {_, _, slot, lane, _, _} ->
        kind == 3 and slot == 0 and lane in ref_lanes and not chance(0.02)
      end)

    instrs = if chance(0.15), do: interleave(instrs, stores), else: instrs ++ stores
    instrs = instrs ++ gen_claims(kind, next_reg) ++ gen_lifecycle(kind, lanes, next_reg)
    # Rarely one damaged instruction.
    instrs =
      if instrs != [] and chance(0.04), do: edit_list(instrs, &damage_instr/1), else: instrs

    n_regs =
      next_reg +
        weighted([
          {75, 0},
          {18, :rand.uniform(5)},
          {5, Enum.random([100, 1000])},
          {2, 65_535 - next_reg}
        ])

    n_regs = max(n_regs, 0)

    cutoff =
      if kind != 0 and hd(slot_lanes) >= 3 and List.last(slot_lanes) >= 3 and next_reg > 0 and
           chance(0.25) do
        {1, :rand.uniform(hd(slot_lanes) - 2) - 1, :rand.uniform(List.last(slot_lanes) - 2) - 1,
         :rand.uniform(next_reg) - 1}
      else
        {0, 0, 0, 0}
      end

    %{
      kind: kind,
      type_a: ta,
      type_b: tb,
      n_regs: n_regs,
      cutoff: cutoff,
      refs: refs,
      exclude: gen_exclude(kind, ta, lanes),
      consts: consts,
      instrs: instrs
    }
  end

  # Sometimes a pair-same rule skips the pairs that two or more lanes of some type name; rarely
  # an exclusion on another kind, with one lane, or out of range, which the engine rejects.
  defp gen_exclude(kind, _type_a, lanes) do
    n_types = length(lanes)
    type = :rand.uniform(n_types) - 1
    width = Enum.at(lanes, type)

    cond do
      kind == 1 and width >= 2 and chance(0.2) ->
        {type, Enum.take_random(0..(width - 1), min(width, 1 + :rand.uniform(2)))}

      chance(0.01) ->
        {Enum.random([type, n_types]), Enum.take_random(0..width, :rand.uniform(2))}

      true ->
        {@none, []}
    end
  end

  defp gen_const do
    if chance(0.05),
      do: damage_const([<<0::64>>]) |> hd(),
      else: <<Terms.float()::float-little-64>>
  end

  # One constant replaced by a NaN or infinity bit pattern.
  defp damage_const(consts) do
    bad = Enum.random([<<0, 0, 0, 0, 0, 0, 0xF8, 0x7F>>, <<0, 0, 0, 0, 0, 0, 0xF0, 0xFF>>])
    edit_list(consts, fn _ -> bad end)
  end

  # An SSA body: registers 0..next_reg-1 written in order, operands read earlier registers.
  defp gen_body(len, slot_lanes, n_consts, n_params, periodic) do
    {instrs, next} =
      Enum.reduce(1..len, {[], 0}, fn _, {acc, r} ->
        instr = gen_instr(r, slot_lanes, n_consts, n_params, periodic)
        {[instr | acc], r + 1}
      end)

    {Enum.reverse(instrs), next}
  end

  defp gen_instr(r, slot_lanes, n_consts, n_params, periodic) do
    leaf? = r == 0 or chance(0.35)

    instr =
      if leaf? do
        box = if periodic != 0, do: 15, else: 0

        case weighted([{40, :load}, {30, :param}, {30, :const}, {box, :box}, {8, :draw}]) do
          :draw ->
            # UNIFORM or NORMAL at any call site; rarely b or c set (rejected).
            {b, c} = weighted([{97, {0, 0}}, {2, {1, 0}}, {1, {0, Enum.random(@u16_boundary)}}])
            {Enum.random([6, 7]), r, Enum.random(@u16_boundary), b, c, 0}

          :box ->
            # Mostly a periodic axis; rarely an open one or out of range (rejected).
            axes = for a <- 0..2, Bitwise.band(periodic, Bitwise.bsl(1, a)) != 0, do: a
            {5, r, weighted([{95, Enum.random(axes)}, {5, Enum.random([0, 1, 2, 3])}]), 0, 0, 0}

          :load ->
            slot = :rand.uniform(length(slot_lanes)) - 1
            {2, r, slot, index(Enum.at(slot_lanes, slot)), 0, 0}

          :param ->
            {1, r, index(n_params), 0, 0, 0}

          :const when n_consts > 0 ->
            {0, r, index(n_consts), 0, 0, 0}

          :const ->
            {1, r, index(n_params), 0, 0, 0}
        end
      else
        reg = fn -> :rand.uniform(r) - 1 end

        case weighted([{50, :binary}, {35, :unary}, {15, :ternary}]) do
          :binary -> {Enum.random(@binary_ops), r, reg.(), reg.(), 0, 0}
          :unary -> {Enum.random(@unary_ops), r, reg.(), 0, 0, 0}
          :ternary -> {Enum.random(@ternary_ops), r, reg.(), reg.(), reg.(), 0}
        end
      end

    instr
  end

  # An index into a table of n entries: anywhere in range, the last one, a small one, and
  # rarely one past the end.
  defp index(n) when n <= 0, do: 0

  defp index(n) do
    weighted([
      {40, :rand.uniform(n) - 1},
      {25, n - 1},
      {29, :rand.uniform(min(n, 4)) - 1},
      {1, min(n, 65_535)},
      {5, min(Enum.random(@u16_boundary), n - 1)}
    ])
  end

  defp gen_stores(_kind, _slot_lanes, 0), do: []

  defp gen_stores(kind, slot_lanes, next_reg) do
    targets =
      for {l, slot} <- Enum.with_index(slot_lanes), lane <- 0..(min(l, 16) - 1), do: {slot, lane}

    n = weighted([{10, 0}, {60, :rand.uniform(3)}, {30, :rand.uniform(8)}])
    # How each lane combines over the pairs: mostly a sum (STORE or ACC), else a max (ACCMAX) or
    # a min (ACCMIN); one choice per lane, so that both slots of a same-type rule agree (the
    # engine rejects a lane reduced two ways), except rarely.
    reduce = Map.new(0..15, fn lane -> {lane, weighted([{70, :sum}, {15, 8}, {15, 9}])} end)

    targets
    |> Enum.take_random(n)
    |> Enum.map(fn {slot, lane} ->
      op =
        case {kind, reduce[lane]} do
          {0, _} -> if chance(0.01), do: Enum.random([4, 8, 9]), else: 3
          {3, _} when slot == 0 -> if chance(0.01), do: Enum.random([4, 8, 9]), else: 3
          {_, :sum} -> if chance(0.5), do: 4, else: 3
          {_, code} -> if chance(0.02), do: Enum.random([3, 4, 8, 9]), else: code
        end

      {op, 0, slot, lane, :rand.uniform(next_reg) - 1, 0}
    end)
  end

  # Exclusive rules: a CLAIM of any register written, mostly in pair rules; rarely in a
  # per-agent rule or twice in a rule, which the engine rejects.
  defp gen_claims(_kind, 0), do: []

  defp gen_claims(kind, next_reg) do
    claim = fn -> {80, 0, :rand.uniform(next_reg) - 1, 0, 0, 0} end

    cond do
      kind in [1, 2] and chance(0.2) -> [claim.() | if(chance(0.05), do: [claim.()], else: [])]
      kind in [0, 3] and chance(0.01) -> [claim.()]
      true -> []
    end
  end

  # Births and deaths: sometimes REMOVEs of a slot, and SPAWNs (sites 0, 1, ... of any type)
  # each followed by SPAWNLANEs of some of the child's lanes, conditioned on any register
  # written; rarely a slot, type, site or lane out of range or a lane given twice, which the
  # engine rejects.
  defp gen_lifecycle(_kind, _lanes, 0), do: []

  defp gen_lifecycle(3, lanes, next_reg),
    do: if(chance(0.02), do: gen_lifecycle(0, lanes, next_reg), else: [])

  defp gen_lifecycle(kind, lanes, next_reg) do
    reg = fn -> :rand.uniform(next_reg) - 1 end
    arity = if kind == 0, do: 1, else: 2
    slot = fn -> if chance(0.02), do: arity, else: :rand.uniform(arity) - 1 end

    removes =
      if chance(0.15),
        do: for(_ <- 1..:rand.uniform(2), do: {70, 0, slot.(), 0, reg.(), 0}),
        else: []

    spawns =
      if chance(0.15) do
        for site <- 0..(:rand.uniform(2) - 1) do
          type = if chance(0.02), do: length(lanes), else: :rand.uniform(length(lanes)) - 1
          site = if chance(0.02), do: site + 1, else: site
          width = Enum.at(lanes, type, 1)
          given = Enum.take_random(0..(width - 1), min(width, :rand.uniform(4)))
          given = if chance(0.02), do: [width | given], else: given
          given = if given != [] and chance(0.02), do: [hd(given) | given], else: given
          [{71, 0, type, site, reg.(), 0} | for(l <- given, do: {72, 0, site, l, reg.(), 0})]
        end
      else
        []
      end

    removes ++ List.flatten(spawns)
  end

  # Stores placed anywhere after the instruction that writes their register (instruction k
  # of the body writes register k; inserting from the back keeps those positions).
  defp interleave(instrs, stores) do
    n = length(instrs)

    stores
    |> Enum.map(fn {_, _, _, _, c, _} = st -> {c + 1 + :rand.uniform(n - c) - 1, st} end)
    |> Enum.sort_by(&elem(&1, 0), :desc)
    |> Enum.reduce(instrs, fn {pos, st}, acc -> List.insert_at(acc, pos, st) end)
  end

  defp damage_instr({op, d, a, b, c, r}) do
    case :rand.uniform(7) do
      1 -> {Enum.random([17, 18, 28, 29, 36, 43, 49, 51, 0xFFFF]), d, a, b, c, r}
      2 -> {op, Enum.random(@u16_boundary), a, b, c, r}
      3 -> {op, d, Enum.random(@u16_boundary), b, c, r}
      4 -> {op, d, a, Enum.random(@u16_boundary), c, r}
      5 -> {op, d, a, b, Enum.random(@u16_boundary), r}
      6 -> {op, d, a, b, c, Enum.random([1, 0xFFFF])}
      7 -> {Enum.random(@all_ops), d, a, b, c, r}
    end
  end

  defp damage_raw(raw) do
    case :rand.uniform(6) do
      1 -> Map.put(raw, :version, Enum.random([0, 1, 2, 4, @none]))
      2 -> Map.put(raw, :n_types, length(raw.lanes) + Enum.random([-1, 1]))
      3 -> Map.put(raw, :n_rules, length(raw.rules) + Enum.random([-1, 1]))
      4 -> %{raw | lanes: List.replace_at(raw.lanes, 0, Enum.random([0, 65_536, @none]))}
      5 -> %{raw | n_params: Enum.random([0, 65_537, @none])}
      6 -> %{raw | rules: Enum.map(raw.rules, &Map.put(&1, :n_instrs, length(&1.instrs) + 1))}
    end
  end

  # ------------------------------------------------------------------------------------------
  # Mutation
  # ------------------------------------------------------------------------------------------

  @doc """
  One to four stacked mutations of `bin`: bit flips, byte changes, u16/u32 overwrites with
  boundary values (anywhere, or at an instruction field), truncation, appended bytes, deleted
  or duplicated chunks, splices with `others`, and structure-aware edits of the decoded
  program (an instruction's opcode or operand, n_regs, n_params, lanes, rule kind and types,
  swapped/duplicated/dropped instructions, an index raised with its table grown to match).
  """
  @spec mutate(binary, [binary]) :: binary
  def mutate(bin, others) do
    Enum.reduce(1..weighted([{50, 1}, {30, 2}, {20, 3 + :rand.uniform(2)}]), bin, fn _, acc ->
      if chance(0.55), do: mutate_structure(acc), else: mutate_bytes(acc, others)
    end)
  end

  defp mutate_bytes(<<>>, others), do: Enum.random(others)

  defp mutate_bytes(bin, others) do
    size = byte_size(bin)
    pos = :rand.uniform(size) - 1

    case :rand.uniform(10) do
      1 ->
        <<pre::binary-size(pos), byte, post::binary>> = bin
        <<pre::binary, Bitwise.bxor(byte, Bitwise.bsl(1, :rand.uniform(8) - 1)), post::binary>>

      2 ->
        <<pre::binary-size(pos), _, post::binary>> = bin

        <<pre::binary, Enum.random([0, 1, 0x7F, 0x80, 0xFF, :rand.uniform(256) - 1]),
          post::binary>>

      3 ->
        overwrite(bin, pos, <<Enum.random(@u16_boundary)::little-16>>)

      4 ->
        overwrite(bin, div(pos, 4) * 4, <<Enum.random(@u32_boundary)::little-32>>)

      5 ->
        binary_part(
          bin,
          0,
          Enum.random([pos, max(size - 1, 0), max(size - 12, 0), max(size - 8, 0)])
        )

      6 ->
        bin <> :rand.bytes(Enum.random([1, 2, 4, 8, 12]))

      7 ->
        len = min(:rand.uniform(24), size - pos)
        binary_part(bin, 0, pos) <> binary_part(bin, pos + len, size - pos - len)

      8 ->
        len = min(:rand.uniform(24), size - pos)
        chunk = binary_part(bin, pos, len)
        binary_part(bin, 0, pos) <> chunk <> binary_part(bin, pos, size - pos)

      9 ->
        other = Enum.random(others)
        cut = :rand.uniform(byte_size(other) + 1) - 1
        binary_part(bin, 0, pos) <> binary_part(other, cut, byte_size(other) - cut)

      10 ->
        other = Enum.random(others)
        cut = :rand.uniform(byte_size(other) + 1) - 1
        len = min(:rand.uniform(48), byte_size(other) - cut)

        binary_part(bin, 0, pos) <>
          binary_part(other, cut, len) <> binary_part(bin, pos, size - pos)
    end
  end

  defp overwrite(bin, pos, patch) do
    size = byte_size(bin)
    len = min(byte_size(patch), size - pos)

    binary_part(bin, 0, pos) <>
      binary_part(patch, 0, len) <> binary_part(bin, pos + len, size - pos - len)
  end

  defp mutate_structure(bin) do
    case decode(bin) do
      {:ok, %{rules: [_ | _]} = raw} -> encode(edit(raw))
      {:ok, raw} -> encode(edit_header(raw))
      :error -> bin
    end
  end

  defp edit(raw) do
    if chance(0.2) do
      edit_header(raw)
    else
      i = :rand.uniform(length(raw.rules)) - 1
      {rule, raw} = edit_rule(Enum.at(raw.rules, i), raw)
      %{raw | rules: List.replace_at(raw.rules, i, rule)}
    end
  end

  defp edit_header(raw) do
    case :rand.uniform(7) do
      6 ->
        %{raw | periodic: Enum.random([0, 1, 7, 8, @none, bump(raw.periodic)])}

      7 when raw.coord_lanes != [] ->
        %{
          raw
          | coord_lanes: edit_list(raw.coord_lanes, &Enum.random([0, &1 + 1, bump(&1), @none]))
        }

      1 ->
        %{raw | n_params: bump(raw.n_params)}

      2 when raw.lanes != [] ->
        %{raw | lanes: edit_list(raw.lanes, &bump/1)}

      3 ->
        %{raw | lanes: raw.lanes ++ [Enum.random([1, 3, 65_535])]}

      4 when raw.rules != [] ->
        %{raw | rules: Enum.shuffle(raw.rules ++ [Enum.random(raw.rules)])}

      _ ->
        %{raw | version: bump(raw.version)}
    end
  end

  defp edit_rule(rule, raw) do
    case :rand.uniform(12) do
      1 ->
        {%{rule | n_regs: bump(rule.n_regs)}, raw}

      2 ->
        {%{rule | kind: Enum.random([0, 1, 2, 3, 4])}, raw}

      3 ->
        {%{rule | type_a: bump(rule.type_a)}, raw}

      4 ->
        {%{rule | type_b: Enum.random([rule.type_a, @none, bump(rule.type_b)])}, raw}

      5 ->
        {cf, la, lb, reg} = rule.cutoff

        cutoff =
          Enum.random([
            {1 - min(cf, 1), la, lb, reg},
            {cf, bump(la), lb, reg},
            {cf, la, lb, bump(reg)}
          ])

        {%{rule | cutoff: cutoff}, raw}

      6 ->
        {%{rule | consts: rule.consts ++ [gen_const()]}, raw}

      n when n in 7..10 and rule.instrs != [] ->
        {%{rule | instrs: edit_list(rule.instrs, &edit_instr/1)}, raw}

      11 when rule.instrs != [] ->
        instrs = rule.instrs
        k = :rand.uniform(length(instrs)) - 1

        instrs =
          case :rand.uniform(3) do
            1 -> List.delete_at(instrs, k)
            2 -> List.insert_at(instrs, k, Enum.at(instrs, k))
            3 -> Enum.shuffle(instrs)
          end

        {%{rule | instrs: instrs}, raw}

      _ ->
        raise_index(rule, raw)
    end
  end

  # Sets the index of a CONST or PARAM (or the lane of a LOAD/STORE) to a boundary value and
  # grows the table it indexes so that the program stays valid.
  defp raise_index(rule, raw) do
    candidates =
      rule.instrs
      |> Enum.with_index()
      |> Enum.filter(fn {{op, _, _, _, _, _}, _} -> op in [0, 1] end)

    case candidates do
      [] ->
        {%{rule | n_regs: bump(rule.n_regs)}, raw}

      _ ->
        {{op, d, _a, b, c, r}, k} = Enum.random(candidates)
        new = Enum.random([255, 256, 1000, 4096, 5000, 32_768, 65_535])
        rule = %{rule | instrs: List.replace_at(rule.instrs, k, {op, d, new, b, c, r})}

        case op do
          0 ->
            extra = max(new + 1 - length(rule.consts), 0)

            {%{rule | consts: rule.consts ++ List.duplicate(<<1.0::float-little-64>>, extra)},
             raw}

          1 ->
            {rule, %{raw | n_params: max(raw.n_params, new + 1)}}
        end
    end
  end

  defp edit_instr({op, d, a, b, c, r}) do
    case :rand.uniform(7) do
      1 -> {Enum.random(@all_ops ++ [5, 51, 0xFFFF]), d, a, b, c, r}
      2 -> {op, bump(d), a, b, c, r}
      3 -> {op, d, bump(a), b, c, r}
      4 -> {op, d, a, bump(b), c, r}
      5 -> {op, d, a, b, bump(c), r}
      6 -> {op, d, a, b, c, Enum.random([1, 0xFFFF])}
      7 -> {op, d, b, a, c, r}
    end
    |> clamp16()
  end

  defp clamp16({op, d, a, b, c, r}),
    do:
      {Bitwise.band(op, 0xFFFF), Bitwise.band(d, 0xFFFF), Bitwise.band(a, 0xFFFF),
       Bitwise.band(b, 0xFFFF), Bitwise.band(c, 0xFFFF), Bitwise.band(r, 0xFFFF)}

  defp edit_list(list, fun) do
    k = :rand.uniform(length(list)) - 1
    List.update_at(list, k, fun)
  end

  # A field value nudged by one or replaced by a boundary value.
  defp bump(v) do
    case :rand.uniform(4) do
      1 -> v + 1
      2 -> max(v - 1, 0)
      3 -> Enum.random(@u16_boundary)
      4 -> Enum.random(@u32_boundary)
    end
    |> Bitwise.band(0xFFFFFFFF)
  end

  # ------------------------------------------------------------------------------------------
  # Layouts, states and call arguments for a decoded program
  # ------------------------------------------------------------------------------------------

  @doc """
  The box for a world of `raw`'s program: corners for a periodic program (rarely a degenerate
  or malformed one), mostly `nil` for an open one (rarely a box it does not need).
  """
  @spec box(raw) :: term
  def box(%{periodic: 0}) do
    if chance(0.05), do: box(%{periodic: 7}), else: nil
  end

  def box(_raw) do
    weighted([
      {85, {{-5.0, -5.0, -5.0}, {5.0, 7.5, 10.0}}},
      {10, {{0.0, 0.0, 0.0}, {1.0e-300, 1.0e300, 3.0}}},
      {5,
       Enum.random([nil, {{0.0, 0.0, 0.0}, {0.0, 1.0, 1.0}}, {1, 2}, :box, {{1, 2, 3}, {4, 5}}])}
    ])
  end

  @doc """
  A random `world_new` layout (docs/nif.md) matching `lanes`: each type's lanes split into
  `:float`, `:int`, `:vec3`, `:bool` and enum fields, sometimes with defaults (always for a
  transient field), rarely a damaged entry.
  """
  @spec layout([pos_integer]) :: list
  def layout(lanes) do
    entries =
      lanes
      |> Enum.with_index()
      |> Enum.map(fn {l, t} ->
        fields = split_fields(l, 0, [])

        written =
          if chance(0.15), do: Enum.take_random(0..(l - 1), :rand.uniform(min(l, 4))), else: []

        {collection(t), "T#{t}", fields, written}
      end)

    if chance(0.03), do: damage_layout(entries), else: entries
  end

  defp collection(t), do: Enum.at([:c0, :c1, :c2, :c3, :c4, :c5, :c6, :c7], t, :cx)

  defp split_fields(0, _i, acc), do: Enum.reverse(acc)

  defp split_fields(left, i, acc) do
    kind =
      cond do
        left >= 3 and chance(0.35) -> :vec3
        chance(0.2) -> :int
        chance(0.1) -> :bool
        chance(0.1) -> {:enum, Enum.take([:a, :b, :c, :d], :rand.uniform(4))}
        true -> :float
      end

    name = field_name(i)
    transient = chance(0.1)

    default =
      cond do
        not transient and not chance(0.3) -> nil
        kind == :vec3 -> {Terms.float(), 0.0, 1}
        kind == :int -> :rand.uniform(10)
        kind == :bool -> :rand.uniform(2) - 1
        match?({:enum, _}, kind) -> :rand.uniform(length(elem(kind, 1))) - 1
        true -> Terms.number()
      end

    width = if kind == :vec3, do: 3, else: 1
    split_fields(left - width, i + 1, [{name, kind, default, transient} | acc])
  end

  # 64 distinct names; wider types reuse them (duplicate field names).
  defp field_name(i), do: :"f#{rem(i, 64)}"

  defp damage_layout(entries) do
    case :rand.uniform(5) do
      1 -> tl(entries)
      2 -> entries ++ [hd(entries)]
      3 -> [{:c0, "T0", [{:f0, :complex, nil, false}], []} | tl(entries)]
      4 -> Enum.map(entries, fn {k, n, f, _} -> {k, n, f, [Enum.random([65_535, -1, 1.0])]} end)
      5 -> Enum.map(entries, fn {k, _n, f, w} -> {k, :not_a_string, f, w} end)
    end
  end

  @doc """
  A random state for a layout: per type 0 to a few hundred agents (maps with one value per
  field, a default field sometimes left out), values mostly moderate, sometimes extreme or
  of the wrong type.
  """
  @spec state(list) :: map
  def state(layout) do
    spicy? = chance(0.15)

    Enum.reduce(layout, %{}, fn
      {key, _name, fields, _written}, acc when is_list(fields) ->
        n =
          weighted([
            {15, 0},
            {50, :rand.uniform(8)},
            {25, 8 + :rand.uniform(56)},
            {10, 64 + :rand.uniform(300)}
          ])

        # Huge types get few agents.
        n = if length(fields) > 100, do: min(n, 2), else: n
        Map.put(acc, key, for(_ <- 1..n//1, do: agent(fields, spicy?)))

      _, acc ->
        acc
    end)
    |> maybe_damage_state()
  end

  defp agent(fields, spicy?) do
    Enum.reduce(fields, %{}, fn
      {name, kind, default, _transient}, acc ->
        if default != nil and chance(0.5), do: acc, else: Map.put(acc, name, value(kind, spicy?))

      _, acc ->
        acc
    end)
  end

  @doc """
  A value for a field of `kind` (`:float`, `:int`, `:vec3`, `:bool`, `{:enum, atoms}`):
  moderate, or with `spicy?` now and then an extreme, out-of-range or foreign one.
  """
  @spec value(atom | {:enum, [atom]}, boolean) :: term
  def value(kind, spicy? \\ false)

  def value(:bool, spicy?) do
    if spicy? and chance(0.1), do: Terms.term(), else: chance(0.5)
  end

  def value({:enum, values}, spicy?) do
    if spicy? and chance(0.1),
      do: Enum.random([:zombie, 3, Terms.term()]),
      else: Enum.random(values)
  end

  def value(:vec3, spicy?),
    do: {value(:float, spicy?), value(:float, spicy?), value(:float, spicy?)}

  def value(:int, spicy?) do
    if spicy? and chance(0.05), do: Terms.int(), else: :rand.uniform(2001) - 1001
  end

  def value(_float, spicy?) do
    cond do
      spicy? and chance(0.05) -> Terms.number()
      chance(0.9) -> (:rand.uniform() - 0.5) * 10
      true -> Enum.random([0, -0.0, 1, :rand.uniform(200) - 100, 1.0e-300])
    end
  end

  defp maybe_damage_state(state) do
    if chance(0.04) and map_size(state) > 0 do
      key = Enum.random(Map.keys(state))

      Map.update!(state, key, fn agents ->
        case :rand.uniform(5) do
          1 -> [:not_a_map | agents]
          2 -> agents ++ [%{f0: "x"}]
          3 -> Enum.reduce(agents, :improper, &[&1 | &2])
          4 -> List.to_tuple(agents)
          5 -> agents ++ [%{f0: {1.0, 2.0}}]
        end
      end)
    else
      state
    end
  end

  @doc "The params of one integration: `n_params` numbers, `dt` first; sometimes a wrong list."
  @spec params(non_neg_integer) :: list
  def params(n_params) do
    dt = weighted([{85, :rand.uniform() * 0.1}, {10, 0.0}, {5, Terms.number()}])

    rest =
      for _ <- 2..max(n_params, 1)//1,
          do: weighted([{85, (:rand.uniform() - 0.5) * 4}, {15, Terms.number()}])

    case weighted([{95, :ok}, {2, :short}, {2, :long}, {1, :junk}]) do
      :ok -> [dt | rest]
      :short -> Enum.drop([dt | rest], 1)
      :long -> [dt | rest] ++ [1.0]
      :junk -> [dt | Enum.map(rest, fn _ -> :x end)]
    end
  end

  @doc "Rule ids for a program of `n_rules` rules: a random sequence, sometimes out of range."
  @spec rule_ids(non_neg_integer) :: list
  def rule_ids(0), do: weighted([{90, []}, {10, [0]}])

  def rule_ids(n_rules) do
    ids = for _ <- 1..:rand.uniform(4), do: :rand.uniform(n_rules) - 1

    weighted([
      {90, ids},
      {4, ids ++ [n_rules]},
      {3, [-1 | ids]},
      {3, [Terms.int()]}
    ])
  end

  @doc """
  `{seed, start_step}` for `world_new/7`: mostly valid (anywhere in 0..2^32 - 1 and
  0..2^64 - 1, the boundaries included), sometimes out of range or not an integer.
  """
  @spec seed_and_step() :: {term, term}
  def seed_and_step do
    seed =
      weighted([
        {60, :rand.uniform(1 <<< 32) - 1},
        {30, Enum.random([0, 1, 0xFFFFFFFF])},
        {5, Enum.random([-1, 1 <<< 32, 1 <<< 64])},
        {5, Terms.term()}
      ])

    step =
      weighted([
        {60, :rand.uniform(1 <<< 64) - 1},
        {30, Enum.random([0, 0xFFFFFFFF, 1 <<< 32, (1 <<< 64) - 1])},
        {5, Enum.random([-1, 1 <<< 64, 1 <<< 70])},
        {5, Terms.term()}
      ])

    {seed, step}
  end

  @doc "A number of steps: mostly 1, sometimes 0 or a few."
  @spec steps() :: non_neg_integer
  def steps, do: weighted([{10, 0}, {60, 1}, {25, 1 + :rand.uniform(3)}, {5, 8}])

  @doc "`{type_index, first_lane, n_lanes}` for `world_column`: mostly in range, sometimes not."
  @spec column_args([pos_integer]) :: {integer, integer, integer}
  def column_args(lanes) do
    t = :rand.uniform(length(lanes)) - 1
    l = Enum.at(lanes, t)
    first = :rand.uniform(l) - 1
    n = :rand.uniform(l - first)

    weighted([
      {80, {t, first, n}},
      {5, {t, first, 0}},
      {5, {t, l, 1}},
      {3, {t, first, l - first + 1}},
      {3, {length(lanes), 0, 1}},
      {4,
       {Enum.random([t, 0]), Enum.random([@none, 1 <<< 32, 1 <<< 63]), Enum.random([1, @none])}}
    ])
  end

  @doc "`{type_index, mass_lane, velocity_lane, position_lane}` for `world_totals`."
  @spec totals_args([pos_integer]) :: tuple
  def totals_args(lanes) do
    t = :rand.uniform(length(lanes)) - 1
    l = Enum.at(lanes, t)

    lane = fn width ->
      if l >= width and chance(0.8),
        do: :rand.uniform(l - width + 1) - 1,
        else: Enum.random([nil, l, l - 1])
    end

    {t, lane.(1), lane.(3), lane.(3)}
  end

  @doc """
  Specs for `world_observe`: `{rule, registers, reduce}`, mostly in range for the program's
  rules (which the engine accepts only when they write no lane), now and then not.
  """
  @spec observe_specs([map]) :: [tuple]
  def observe_specs(rules) do
    for _ <- 1..:rand.uniform(3) do
      rule = :rand.uniform(length(rules) + 1) - 1
      n_regs = rules |> Enum.at(rule, %{n_regs: 4}) |> Map.get(:n_regs, 4)
      width = weighted([{45, 1}, {45, 3}, {10, Enum.random([0, 2, 4])}])
      regs = for _ <- List.duplicate(0, width), do: :rand.uniform(max(n_regs, 1) + 1) - 1
      {rule, regs, weighted([{90, :rand.uniform(3) - 1}, {10, Enum.random([3, -1, :sum])}])}
    end
  end

  defp a <<< b, do: Bitwise.bsl(a, b)
end
