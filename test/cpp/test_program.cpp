// Program parser/validator: acceptance, every rejection of docs/program.md, fuzzing.
#include <catch2/catch.hpp>

#include "builder.hpp"

using namespace brzt;
using brz::ArgumentError;

namespace {

ProgramBuilder valid_program() {
  ProgramBuilder pb;
  pb.lanes = {7, 3};
  pb.n_params = 2;
  auto& r = pb.per_agent(0);
  const uint16_t dt = r.param(0);
  for (uint16_t k = 0; k < 3; ++k) {
    const uint16_t x = r.load(0, k), v = r.load(0, 3 + k);
    r.store(0, k, r.op(Op::ADD, r.op(Op::MUL, v, dt), x));
  }
  auto& g = pb.pair(0, 0);
  const uint16_t xa = g.load(0, 0), xb = g.load(1, 0), c = g.cnst(0.5);
  const uint16_t d = g.op(Op::SUB, xa, xb);
  g.store(0, 6, g.op(Op::MUL, d, c));
  g.cflag = 1;
  g.clane_a = 0;
  g.clane_b = 0;
  g.creg = c;
  auto& w = pb.pair(0, 1);
  const uint16_t k = w.param(1), pa = w.load(0, 1), wb = w.load(1, 2);
  w.store(1, 0, w.op(Op::SELECT, w.op(Op::LT, pa, wb), k, pa));
  return pb;
}

void expect_reject(const std::vector<uint8_t>& b, const std::string& needle) {
  try {
    brz::Program::parse(b.data(), b.size());
    FAIL("accepted an invalid program (expected: " << needle << ")");
  } catch (const ArgumentError& e) {
    INFO("message: " << e.what());
    CHECK(std::string(e.what()).find(needle) != std::string::npos);
  }
}

void expect_reject(const ProgramBuilder& pb, const std::string& needle) {
  expect_reject(pb.bytes(), needle);
}

// Builds a one-rule program around a per-agent rule edited by `f`.
template <class F>
ProgramBuilder one_rule(F f, uint32_t kind = 0) {
  ProgramBuilder pb;
  pb.lanes = {4, 2};
  pb.n_params = 1;
  RuleBuilder& r = kind == 0 ? pb.per_agent(0) : kind == 1 ? pb.pair(0, 0) : pb.pair(0, 1);
  f(r);
  return pb;
}

}  // namespace

TEST_CASE("a valid program parses with derived levels", "[program]") {
  auto p = valid_program().build();
  CHECK(p->n_types() == 2);
  CHECK(p->lanes(0) == 7);
  CHECK(p->n_params() == 2);
  REQUIRE(p->n_rules() == 3);
  CHECK(p->rule(0).stores.size() == 3);
  CHECK(p->rule(0).uniform_ops.size() == 1);  // PARAM
  CHECK(p->rule(1).has_cutoff);
  CHECK(p->rule(1).outer_ops.size() == 1);    // LOAD slot 0
  CHECK(p->rule(1).uniform_ops.size() == 1);  // CONST
  CHECK(p->rule(2).kind == brz::RuleKind::PairCross);
}

TEST_CASE("zero rules are allowed", "[program]") {
  ProgramBuilder pb;
  pb.lanes = {1};
  auto p = pb.build();
  CHECK(p->n_rules() == 0);
}

TEST_CASE("header rejections", "[program][reject]") {
  auto b = valid_program().bytes();
  auto m = b;
  m[0] = 'X';
  expect_reject(m, "bad magic");
  m = b;
  m[4] = 1;
  expect_reject(m, "unsupported version 1 (expected 3)");
  m = b;
  m.push_back(0);
  expect_reject(m, "trailing bytes");
  expect_reject(std::vector<uint8_t>{}, "truncated");
  ProgramBuilder pb;
  pb.lanes = {};
  expect_reject(pb, "n_types is 0");
  pb.lanes = {3, 0};
  expect_reject(pb, "type 1 has 0 lanes");
  pb.lanes = {65536};
  expect_reject(pb, "type 0 has 65536 lanes");
  pb.lanes = {65535};
  CHECK_NOTHROW(pb.build());
  pb.n_params = 0;
  expect_reject(pb, "n_params is 0");
  pb.n_params = 65537;
  expect_reject(pb, "exceeds 65536");
}

TEST_CASE("periodic header: mask, coordinate lanes, BOX operands", "[program]") {
  ProgramBuilder pb;
  pb.lanes = {7, 2};
  pb.periodic_mask = 0b011;
  pb.coord_lane = {4, brz::kNoCoord};
  auto& r = pb.per_agent(0);
  r.store(0, 0, r.box(1));
  auto p = pb.build();
  CHECK(p->periodic());
  CHECK(p->periodic_mask() == 3);
  CHECK(p->periodic_axis(0));
  CHECK_FALSE(p->periodic_axis(2));
  CHECK(p->coord_lane(0) == 4);
  CHECK(p->coord_lane(1) == brz::kNoCoord);
  CHECK(p->rule(0).uniform_ops.size() == 1);  // BOX is uniform

  auto bad = pb;
  bad.periodic_mask = 8;
  expect_reject(bad, "periodic_mask 8");
  bad = pb;
  bad.coord_lane = {5, brz::kNoCoord};
  expect_reject(bad, "coord_lane 5 of type 0 out of range");
  bad = pb;
  bad.coord_lane = {4, 0};
  expect_reject(bad, "coord_lane 0 of type 1 out of range");
  bad = pb;
  bad.rules[0].instrs[0][2] = 2;  // BOX(2): z is not periodic
  expect_reject(bad, "rule 0, instruction 0: BOX: axis 2 is not periodic");
  bad = pb;
  bad.rules[0].instrs[0][2] = 3;
  expect_reject(bad, "BOX: axis 3 is not periodic");
  bad = pb;
  bad.rules[0].instrs[0][3] = 1;
  expect_reject(bad, "BOX: unused operand b must be 0");
  bad = pb;
  bad.periodic_mask = 0;
  expect_reject(bad, "BOX: axis 1 is not periodic");
}

TEST_CASE("every truncation is rejected", "[program][reject]") {
  auto b = valid_program().bytes();
  for (std::size_t n = 0; n < b.size(); ++n) {
    std::vector<uint8_t> t(b.begin(), b.begin() + static_cast<long>(n));
    INFO("prefix " << n);
    expect_reject(t, "truncated");
  }
}

TEST_CASE("rule header rejections", "[program][reject]") {
  expect_reject(one_rule([](RuleBuilder& r) { r.kind = 4; }), "unknown kind 4");
  expect_reject(one_rule([](RuleBuilder& r) { r.type_a = 2; }), "type_a 2 out of range");
  expect_reject(one_rule([](RuleBuilder& r) { r.type_b = 5; }, 2), "type_b 5 out of range");
  expect_reject(one_rule([](RuleBuilder& r) { r.type_b = 1; }, 1),
                "kind 1) must have type_a == type_b");
  expect_reject(one_rule([](RuleBuilder& r) { r.type_b = 0; }, 2),
                "kind 2) must have type_a != type_b");
  expect_reject(one_rule([](RuleBuilder& r) { r.type_b = 0; }), "type_b = 0xFFFFFFFF");
  expect_reject(one_rule([](RuleBuilder& r) { r.n_regs_override = 65536; }),
                "n_regs 65536 exceeds");
  expect_reject(one_rule([](RuleBuilder& r) { r.cflag = 2; }, 1), "cutoff_flag must be 0 or 1");
  expect_reject(one_rule([](RuleBuilder& r) { r.creg = 1; }, 1), "cutoff fields must be 0");
}

TEST_CASE("bonded rules: references, slots and what they may store", "[program][bonded]") {
  // Type 0: a bead (3 lanes); type 1: a bond (2 reference lanes and a float).
  auto bonded = [](auto body) {
    ProgramBuilder pb;
    pb.lanes = {3, 3};
    auto& r = pb.bonded(1, {{0, 0}, {1, 0}});
    body(r);
    return pb;
  };
  auto ok = bonded([](RuleBuilder& r) {
    const uint16_t d = r.op(Op::SUB, r.load(2, 0), r.load(1, 0));
    r.acc(1, 1, d);
    r.store(2, 1, r.op(Op::SUB, r.load(2, 1), d));
    r.store(0, 2, d);
  });
  const auto p = ok.build();
  const brz::Rule& rule = p->rule(0);
  CHECK(rule.kind == brz::RuleKind::Bonded);
  CHECK(rule.arity() == 3);
  CHECK(rule.slot_type(2) == 0);
  CHECK(rule.reg_level[0] == brz::Level::Varying);
  expect_reject(bonded([](RuleBuilder& r) { r.store(3, 0, r.cnst(1)); }), "slot 3 out of range");
  expect_reject(bonded([](RuleBuilder& r) { r.acc(0, 2, r.cnst(1)); }),
                "a bonded rule stores its own agent's lanes");
  expect_reject(bonded([](RuleBuilder& r) { r.store(0, 1, r.cnst(1)); }),
                "cannot change its references");
  expect_reject(
      bonded([](RuleBuilder& r) { r.raw(static_cast<uint16_t>(Op::REMOVE), 0, 1, 0, r.cnst(1)); }),
      "REMOVE: in a bonded rule");
  expect_reject(bonded([](RuleBuilder& r) { r.refs.clear(); }), "a bonded rule without references");
  expect_reject(bonded([](RuleBuilder& r) { r.refs[0].first = 3; }), "out of range");
  expect_reject(bonded([](RuleBuilder& r) { r.refs[1].second = 2; }), "out of range");
  auto undeclared = ok;
  undeclared.references = {{}, {{0, 0}}};
  expect_reject(undeclared, "lane 1 is not a reference of type 1 to type 0");
  auto twice = ok;
  twice.references = {{}, {{0, 0}, {0, 0}}};
  expect_reject(twice, "lane 0 of type 1 is a reference twice");
  expect_reject(bonded([](RuleBuilder& r) { r.type_b = 0; }), "type_b = 0xFFFFFFFF");
  expect_reject(one_rule([](RuleBuilder& r) {
                  r.refs = {{0, 0}};
                }),
                "references on a rule that is not bonded");
}

TEST_CASE("exclusions name a type and two or more of its lanes", "[program][bonded]") {
  auto excluding = [](uint32_t kind, uint32_t type, std::vector<uint32_t> lanes) {
    ProgramBuilder pb;
    pb.lanes = {3, 2};
    auto& r = kind == 1 ? pb.pair(0, 0) : pb.per_agent(0);
    r.store(0, 0, r.cnst(1));
    r.exclude_type = type;
    r.exclude_lanes = std::move(lanes);
    return pb;
  };
  const auto p = excluding(1, 1, {0, 1}).build();
  CHECK(p->rule(0).exclude.type == 1);
  CHECK(p->rule(0).exclude.lanes == std::vector<uint32_t>{0, 1});
  expect_reject(excluding(0, 1, {0, 1}), "exclusions on a rule that is not pair-same");
  expect_reject(excluding(1, 2, {0, 1}), "exclusion type out of range");
  expect_reject(excluding(1, 1, {0}), "at least two lanes");
  expect_reject(excluding(1, 1, {0, 2}), "out of range");
  expect_reject(excluding(1, brz::kNoType, {0, 1}), "exclusion lanes without an exclusion type");
}

TEST_CASE("cutoff rejections", "[program][reject]") {
  auto with_cutoff = [](uint32_t kind, uint32_t la, uint32_t lb, uint32_t reg) {
    return one_rule(
        [&](RuleBuilder& r) {
          const uint16_t c = r.cnst(1.0);
          r.store(0, 0, c);
          r.cflag = 1;
          r.clane_a = la;
          r.clane_b = lb;
          r.creg = reg;
        },
        kind);
  };
  CHECK_NOTHROW(with_cutoff(1, 1, 1, 0).build());
  expect_reject(with_cutoff(0, 0, 0, 0), "cutoff on a rule that is not a pair rule");
  expect_reject(with_cutoff(1, 2, 0, 0), "cutoff_lane_a 2 out of range");
  expect_reject(with_cutoff(2, 0, 1, 0), "cutoff_lane_b 1 out of range");  // type 1 has 2 lanes
  expect_reject(with_cutoff(1, 0, 0, 1), "cutoff_reg 1 out of range");
  auto unwritten = with_cutoff(1, 0, 0, 0);
  unwritten.rules[0].n_regs_override = 2;
  unwritten.rules[0].creg = 1;
  expect_reject(unwritten, "never written");
}

TEST_CASE("instruction rejections", "[program][reject]") {
  expect_reject(one_rule([](RuleBuilder& r) {
                  r.raw(99, 0, 0, 0, 0);
                  r.next = 1;
                }),
                "unknown opcode 99");
  expect_reject(one_rule([](RuleBuilder& r) {
                  r.raw(1, 0, 0, 0, 0, 7);
                  r.next = 1;
                }),
                "reserved field is non-zero");
  expect_reject(one_rule([](RuleBuilder& r) {
                  r.raw(1, 5, 0, 0, 0);
                  r.n_regs_override = 2;
                }),
                "dst register 5 out of range");
  expect_reject(one_rule([](RuleBuilder& r) {
                  r.raw(1, 0, 0, 0, 0);
                  r.raw(1, 0, 0, 0, 0);
                  r.n_regs_override = 1;
                }),
                "written twice");
  expect_reject(one_rule([](RuleBuilder& r) {
                  const uint16_t p = r.param(0);
                  r.raw(static_cast<uint16_t>(Op::ADD), 1, p, 9, 0);
                  r.n_regs_override = 2;
                }),
                "register 9 out of range");
  expect_reject(one_rule([](RuleBuilder& r) {
                  const uint16_t p = r.param(0);
                  r.raw(static_cast<uint16_t>(Op::ADD), 1, p, 2, 0);
                  r.raw(static_cast<uint16_t>(Op::PARAM), 2, 0, 0, 0);
                  r.n_regs_override = 3;
                }),
                "before it is written");
  expect_reject(one_rule([](RuleBuilder& r) { r.emit(Op::CONST, 0); }),
                "CONST: index 0 out of range");
  expect_reject(one_rule([](RuleBuilder& r) { r.emit(Op::PARAM, 1); }),
                "PARAM: index 1 out of range");
  expect_reject(one_rule([](RuleBuilder& r) { r.load(1, 0); }), "slot 1 out of range (arity 1)");
  expect_reject(one_rule([](RuleBuilder& r) { r.load(0, 4); }), "lane 4 out of range");
  expect_reject(one_rule([](RuleBuilder& r) { r.load(1, 2); }, 2), "lane 2 out of range");
  expect_reject(one_rule([](RuleBuilder& r) {
                  const uint16_t p = r.param(0);
                  r.store(0, 1, p);
                  r.store(0, 1, p);
                }),
                "second store to slot 0 lane 1");
  expect_reject(one_rule(
                    [](RuleBuilder& r) {
                      const uint16_t p = r.param(0);
                      r.store(2, 0, p);
                    },
                    1),
                "slot 2 out of range");
  expect_reject(one_rule([](RuleBuilder& r) {
                  const uint16_t p = r.param(0);
                  r.raw(static_cast<uint16_t>(Op::STORE), 3, 0, 0, p);
                }),
                "STORE: dst must be 0");
  expect_reject(one_rule([](RuleBuilder& r) { r.cnst(std::nan("")); }), "not finite");
  expect_reject(one_rule([](RuleBuilder& r) { r.cnst(INFINITY); }), "not finite");
  expect_reject(one_rule([](RuleBuilder& r) { r.emit(Op::PARAM, 0, 1); }), "unused operand b");
  expect_reject(one_rule([](RuleBuilder& r) {
                  const uint16_t p = r.param(0);
                  r.op(Op::NEG, p, 0, 1);
                }),
                "unused operand c");
  // ACC: pair rules only, at most one STORE or ACC per (slot, lane), operands checked.
  expect_reject(one_rule([](RuleBuilder& r) { r.acc(0, 1, r.param(0)); }),
                "ACC: only pair rules accumulate");
  expect_reject(one_rule(
                    [](RuleBuilder& r) {
                      const uint16_t p = r.param(0);
                      r.store(0, 1, p);
                      r.acc(0, 1, p);
                    },
                    1),
                "ACC: second store to slot 0 lane 1");
  expect_reject(one_rule(
                    [](RuleBuilder& r) {
                      const uint16_t p = r.param(0);
                      r.acc(1, 0, p);
                      r.store(1, 0, p);
                    },
                    2),
                "STORE: second store to slot 1 lane 0");
  expect_reject(one_rule(
                    [](RuleBuilder& r) {
                      const uint16_t p = r.param(0);
                      r.acc(0, 2, p);
                      r.acc(0, 2, p);
                    },
                    1),
                "ACC: second store to slot 0 lane 2");
  expect_reject(one_rule(
                    [](RuleBuilder& r) {
                      const uint16_t p = r.param(0);
                      r.acc(2, 0, p);
                    },
                    1),
                "ACC: slot 2 out of range");
  expect_reject(one_rule([](RuleBuilder& r) { r.acc(1, 2, r.param(0)); }, 2),
                "ACC: lane 2 out of range");
  expect_reject(one_rule(
                    [](RuleBuilder& r) {
                      r.param(0);
                      r.acc(0, 0, 7);
                    },
                    1),
                "ACC: operand c register 7 out of range");
  expect_reject(one_rule(
                    [](RuleBuilder& r) {
                      r.param(0);
                      r.acc(0, 0, 1);
                      r.param(0);
                    },
                    1),
                "reads register 1 before it is written");
  expect_reject(one_rule(
                    [](RuleBuilder& r) {
                      const uint16_t p = r.param(0);
                      r.raw(static_cast<uint16_t>(Op::ACC), 2, 0, 0, p);
                    },
                    1),
                "ACC: dst must be 0");
  {
    auto ok = one_rule(
        [](RuleBuilder& r) {
          const uint16_t p = r.param(0);
          r.store(0, 0, p);
          r.acc(0, 1, p);
          r.acc(1, 1, p);
        },
        1);
    const auto prog = ok.build();
    const brz::Rule& rule = prog->rule(0);
    REQUIRE(rule.stores.size() == 3);
    CHECK(rule.stores[0].accumulate == 0);
    CHECK(rule.stores[1].accumulate == 1);
    CHECK(rule.stores[2].accumulate == 1);
    CHECK(std::string(brz::op_name(4)) == "ACC");
    CHECK(rule.varying_ops.size() + rule.outer_ops.size() + rule.uniform_ops.size() == 1);
  }
  // Same (slot, lane) stored twice is rejected, but slot 0 and slot 1 of one lane are distinct.
  CHECK_NOTHROW(one_rule(
                    [](RuleBuilder& r) {
                      const uint16_t p = r.param(0);
                      r.store(0, 1, p);
                      r.store(1, 1, p);
                    },
                    1)
                    .build());
}

TEST_CASE("fuzzed programs are rejected or accepted, never crash", "[program][fuzz]") {
  std::mt19937_64 rng(1234);
  const auto base = valid_program().bytes();
  int accepted = 0, rejected = 0;
  for (int iter = 0; iter < 20000; ++iter) {
    auto b = base;
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) {
      const std::size_t pos = rng() % b.size();
      switch (rng() % 4) {
        case 0:
          b[pos] = static_cast<uint8_t>(rng());
          break;
        case 1:
          b[pos] ^= static_cast<uint8_t>(1u << (rng() % 8));
          break;
        case 2:
          b.resize(pos);
          break;
        default:
          b.insert(b.begin() + static_cast<long>(pos), static_cast<uint8_t>(rng()));
      }
      if (b.empty()) break;
    }
    try {
      auto p = brz::Program::parse(b.data(), b.size());
      ++accepted;
      // An accepted program must also run.
      std::vector<std::size_t> counts(p.n_types(), 3);
      brz::World<double> w(std::make_shared<const brz::Program>(p), counts);
      const double lo[3] = {-1, -1, -1}, hi[3] = {1, 1, 1};
      if (p.periodic()) w.set_box(lo, hi);  // a periodic program runs in a box
      std::vector<uint32_t> ids;
      for (uint32_t k = 0; k < p.n_rules(); ++k) ids.push_back(k);
      try {
        brz::run_steps(w, ids, 1, 0.1);
      } catch (const brz::NumericalError&) {
      }
    } catch (const ArgumentError&) {
      ++rejected;
    }
  }
  CHECK(rejected > 0);
  INFO("accepted " << accepted);
  CHECK(accepted + rejected == 20000);
}
