defmodule BrokenRecord.Zero.ProgramTest do
  use ExUnit.Case, async: true

  alias BrokenRecord.Zero.Program
  alias BrokenRecord.Zero.TestSystems
  alias BrokenRecord.Zero.Fixtures.CollisionWorld
  alias BrokenRecord.Zero.TestSystems.{Cutoffs, Spring}

  # decode/1 cannot know rule or param names; everything else must survive.
  defp strip(%Program{} = program) do
    %{
      program
      | params: length(program.params),
        rules: Enum.map(program.rules, &%{&1 | name: nil})
    }
  end

  describe "encode/decode" do
    test "round trip of every test system's program" do
      for module <- TestSystems.all() do
        system = module.__system__()
        decoded = Program.decode(system.program_binary)
        assert strip(decoded) == strip(system.program), "#{inspect(module)}"
        assert Program.encode(decoded) == system.program_binary
        assert Program.encode(system.program) == system.program_binary
      end
    end

    test "params decode as dt plus numbered params" do
      decoded = Program.decode(Spring.__system__().program_binary)
      assert decoded.params == [:dt, :param_1, :param_2]
    end

    test "cutoffs survive" do
      system = Cutoffs.__system__()
      decoded = Program.decode(system.program_binary)
      assert Enum.map(decoded.rules, & &1.cutoff) == Enum.map(system.program.rules, & &1.cutoff)
      assert Enum.any?(decoded.rules, & &1.cutoff)
    end

    test "the byte layout of docs/program.md" do
      program = CollisionWorld.__system__().program
      bin = Program.encode(program)

      <<"BRZP", version::little-32, n_types::little-32, l0::little-32, l1::little-32,
        n_params::little-32, periodic::little-32, c0::little-32, c1::little-32, refs0::little-32,
        refs1::little-32, n_rules::little-32, rest::binary>> = bin

      assert version == Program.version()
      assert version == 3
      assert {n_types, l0, l1, n_params, n_rules} == {2, 8, 6, 1, 3}
      # No reference fields: each type's references list is empty.
      assert {refs0, refs1} == {0, 0}
      # Open space: no periodic axis, no coordinate lanes.
      assert {periodic, c0, c1} == {0, 0xFFFFFFFF, 0xFFFFFFFF}

      [collision, wall_bounce, integrate] = program.rules

      <<kind::little-32, ta::little-32, tb::little-32, n_consts::little-32, n_regs::little-32,
        n_instrs::little-32, flag::little-32, la::little-32, lb::little-32, reg::little-32,
        n_refs::little-32, exclude_type::little-32, n_exclude::little-32, rest::binary>> = rest

      assert {kind, ta, tb} == {1, 0, 0}
      # Not a bonded rule and no exclusions.
      assert {n_refs, exclude_type, n_exclude} == {0, 0xFFFFFFFF, 0}

      assert {n_consts, n_regs, n_instrs} ==
               {length(collision.consts), collision.n_regs, length(collision.instrs)}

      assert {flag, la, lb, reg} == {1, 0, 0, collision.cutoff.reg}

      const_bytes = n_consts * 8
      <<consts::binary-size(const_bytes), rest::binary>> = rest
      assert for(<<c::float-little-64 <- consts>>, do: c) == collision.consts

      instr_bytes = n_instrs * 12
      <<instrs::binary-size(instr_bytes), rest::binary>> = rest

      decoded =
        for <<op::little-16, d::little-16, a::little-16, b::little-16, c::little-16,
              reserved::little-16 <- instrs>> do
          assert reserved == 0
          {op, d, a, b, c}
        end

      assert decoded ==
               Enum.map(collision.instrs, fn {op, d, a, b, c} ->
                 {Map.fetch!(Program.opcodes(), op), d, a, b, c}
               end)

      <<kind::little-32, ta::little-32, tb::little-32, _::binary>> = rest
      assert {kind, ta, tb} == {2, 0, 1}

      sizes =
        for rule <- [collision, wall_bounce, integrate],
            do: 52 + 8 * length(rule.consts) + 12 * length(rule.instrs)

      assert byte_size(bin) == 4 + 4 + 4 + 2 * 4 + 4 + 4 + 2 * 4 + 2 * 4 + 4 + Enum.sum(sizes)

      # the per-agent rule has type_b = 0xFFFFFFFF and no cutoff
      tail_size = Enum.at(sizes, 2)

      <<kind::little-32, ta::little-32, tb::little-32, _::binary-size(12), flag::little-32,
        _::binary>> = binary_part(bin, byte_size(bin) - tail_size, tail_size)

      assert {kind, ta, tb, flag} == {0, 0, 0xFFFFFFFF, 0}
    end

    test "the opcode table of docs/program.md" do
      assert Program.opcodes() == %{
               const: 0,
               param: 1,
               load: 2,
               store: 3,
               acc: 4,
               box: 5,
               uniform: 6,
               normal: 7,
               accmax: 8,
               accmin: 9,
               add: 10,
               sub: 11,
               mul: 12,
               div: 13,
               pow: 14,
               min: 15,
               max: 16,
               neg: 20,
               abs: 21,
               sqrt: 22,
               exp: 23,
               log: 24,
               sin: 25,
               cos: 26,
               floor: 27,
               lt: 30,
               le: 31,
               gt: 32,
               ge: 33,
               eq: 34,
               ne: 35,
               and: 40,
               or: 41,
               not: 42,
               select: 50,
               atan2: 60,
               tanh: 61,
               round: 62,
               sign: 63,
               mod: 64,
               minimg: 65,
               remove: 70,
               spawn: 71,
               spawnlane: 72,
               claim: 80
             }
    end

    test "disassemble lists every instruction" do
      rule = hd(CollisionWorld.__system__().program.rules)
      listing = Program.disassemble(rule)
      assert length(String.split(listing, "\n")) == length(rule.instrs)
      assert listing =~ "load slot0.lane0"
      assert listing =~ "acc slot1.lane3 += r"
    end
  end

  describe "decode rejects malformed binaries with an ArgumentError" do
    setup do
      %{bin: CollisionWorld.__system__().program_binary}
    end

    test "bad magic", %{bin: bin} do
      <<_::binary-size(4), rest::binary>> = bin
      assert_raise ArgumentError, fn -> Program.decode("BRZQ" <> rest) end
    end

    test "wrong version", %{bin: bin} do
      <<magic::binary-size(4), _::binary-size(4), rest::binary>> = bin

      for version <- [1, 2, 4] do
        assert_raise ArgumentError, fn ->
          Program.decode(magic <> <<version::little-32>> <> rest)
        end
      end
    end

    test "truncated at every length", %{bin: bin} do
      for size <- [0, 3, 8, 12, 20, 27, 40, 80, byte_size(bin) - 12, byte_size(bin) - 1] do
        assert_raise ArgumentError, fn -> Program.decode(binary_part(bin, 0, size)) end
      end
    end

    test "trailing bytes", %{bin: bin} do
      error = assert_raise ArgumentError, fn -> Program.decode(bin <> <<0>>) end
      assert error.message =~ "trailing"
    end

    test "an unknown opcode or rule kind", %{bin: bin} do
      # Patch the first instruction's opcode of the first rule to 99 (no such opcode).
      n_consts = length(hd(CollisionWorld.__system__().program.rules).consts)
      # magic, version, n_types, lanes, n_params, periodic, coord lanes, references (none per
      # type), n_rules; the rule's 52-byte header and its constants.
      offset = 4 + 4 + 4 + 8 + 4 + 4 + 8 + 8 + 4 + 52 + 8 * n_consts
      <<head::binary-size(offset), _op::little-16, tail::binary>> = bin
      assert_raise ArgumentError, fn -> Program.decode(head <> <<99::little-16>> <> tail) end

      # The first rule's kind set to 7.
      kind_offset = 4 + 4 + 4 + 8 + 4 + 4 + 8 + 8 + 4
      <<head::binary-size(kind_offset), _kind::little-32, tail::binary>> = bin
      assert_raise ArgumentError, fn -> Program.decode(head <> <<7::little-32>> <> tail) end
    end
  end
end
