// UNIFORM and NORMAL (docs/program.md, "Random numbers") in every sweep of the engine: the value
// each agent or pair draws equals the scalar definition computed from philox.hpp and the agents'
// identities, whatever the ISA, the threads, the neighbour search and the storage order; the
// world's step counter advances with the steps run and goes back with a snapshot.
#include <catch2/catch.hpp>
#include <cstdint>
#include <cstring>
#include <numeric>
#include <random>

#include "brz/interval.hpp"
#include "brz/philox.hpp"
#include "builder.hpp"

using namespace brzt;

namespace {

// Type P: pos1 0..2 (the same-type rule's cutoff), u 3, n 4, k 5, pos2 6..8 (the cross rule's).
// Type Q: pos 0..2, u 3, n 4, k 5.
constexpr uint32_t kPLanes = 9, kQLanes = 6;
constexpr double kCut = 0.5;

// The value a draw of call site `site` of rule `rule` takes (docs/program.md), from the counter
// words (c0, c1) of its agents' identities.
template <class T>
T expected(bool normal, uint32_t seed, uint32_t rule, uint16_t site, uint64_t step, uint32_t c0,
           uint32_t c1) {
  const brz::Philox4x32 w =
      brz::philox4x32_10(brz::Philox4x32{c0, c1, uint32_t(step), uint32_t(step >> 32)},
                         brz::PhiloxKey{seed, (rule << 16) | site});
  if constexpr (sizeof(T) == 8)
    return normal ? brz::normal_f64(brz::uniform_f64(w.x0, w.x1), brz::uniform_f64(w.x2, w.x3))
                  : brz::uniform_f64(w.x0, w.x1);
  else
    return normal ? brz::normal_f32(brz::uniform_f32(w.x0), brz::uniform_f32(w.x1))
                  : brz::uniform_f32(w.x0);
}

// A select of `value` by `cond`, else 0: a pair beyond the cutoff adds zero (docs/program.md).
uint16_t within(RuleBuilder& r, uint16_t cond, uint16_t value) {
  return r.op(Op::SELECT, cond, value, r.cnst(0.0));
}

// |pos_a - pos_b|^2 < kCut^2 over lanes la of slot 0 and lb of slot 1; marks the cutoff.
uint16_t close(RuleBuilder& r, uint16_t la, uint16_t lb) {
  uint16_t r2 = 0;
  for (uint16_t d = 0; d < 3; ++d) {
    const uint16_t dd = r.op(Op::SUB, r.load(0, uint16_t(la + d)), r.load(1, uint16_t(lb + d)));
    const uint16_t sq = r.op(Op::MUL, dd, dd);
    r2 = d == 0 ? sq : r.op(Op::ADD, r2, sq);
  }
  const uint16_t c = r.cnst(kCut);
  r.cflag = 1;
  r.clane_a = la;
  r.clane_b = lb;
  r.creg = c;
  return r.op(Op::LT, r2, r.op(Op::MUL, c, c));
}

// rule 0 (per-agent P): u = UNIFORM 0, n = NORMAL 1, k = k + UNIFORM 7.
// rule 1 (pair-same P, cutoff on pos1): u and n of both agents += the pair's UNIFORM 0 / NORMAL 1
//   when they are within the cutoff.
// rule 2 (pair-cross P-Q, cutoff on P's pos2 and Q's pos): the same for P and Q, with UNIFORM 2
//   and NORMAL 5.
// rule 3 (per-agent Q): u = UNIFORM 3.
// rule 4 (per-agent P): k = k + 1, u = 1 / (k < 2.5): not finite from the third step on.
std::shared_ptr<const brz::Program> random_program() {
  ProgramBuilder pb;
  pb.lanes = {kPLanes, kQLanes};
  {
    RuleBuilder& r = pb.per_agent(0);
    r.store(0, 3, r.emit(Op::UNIFORM, 0));
    r.store(0, 4, r.emit(Op::NORMAL, 1));
    r.store(0, 5, r.op(Op::ADD, r.load(0, 5), r.emit(Op::UNIFORM, 7)));
  }
  // A pair rule over P (slot 0, its position read from lane `lane_a`) and `type_b` (lane 0):
  // within the cutoff, both agents add the pair's UNIFORM (site `u_site`) to lane 3 and its
  // NORMAL (site `n_site`) to lane 4.
  auto pair_draws = [&](uint32_t type_b, uint16_t lane_a, uint16_t u_site, uint16_t n_site) {
    RuleBuilder& r = pb.pair(0, type_b);
    const uint16_t cond = close(r, lane_a, 0);
    const uint16_t u = within(r, cond, r.emit(Op::UNIFORM, u_site));
    const uint16_t n = within(r, cond, r.emit(Op::NORMAL, n_site));
    r.acc(0, 3, u);
    r.acc(1, 3, u);
    r.acc(0, 4, n);
    r.acc(1, 4, n);
  };
  pair_draws(0, 0, 0, 1);
  pair_draws(1, 6, 2, 5);
  {
    RuleBuilder& r = pb.per_agent(1);
    r.store(0, 3, r.emit(Op::UNIFORM, 3));
  }
  {
    RuleBuilder& r = pb.per_agent(0);
    const uint16_t k = r.op(Op::ADD, r.load(0, 5), r.cnst(1.0));
    r.store(0, 5, k);
    r.store(0, 3, r.op(Op::DIV, r.cnst(1.0), r.op(Op::LT, k, r.cnst(2.5))));
  }
  return pb.build();
}

// The geometry: P agents in dimers (each within the cutoff of exactly one other P on pos1),
// each P within the cutoff of exactly one Q (pos2 against Q's pos), in a shuffled caller order
// so that cell sorting moves them. partner_p[i] / partner_q[i]: the partners of P agent i;
// p_of_q[j]: the P partner of Q agent j.
struct Scene {
  std::size_t n = 0;
  std::vector<uint32_t> partner_p, partner_q, p_of_q;
};

template <class T>
Scene fill(brz::World<T>& w, std::size_t n_dimers, uint64_t seed) {
  Scene s;
  s.n = 2 * n_dimers;
  std::mt19937_64 rng(seed);
  std::vector<uint32_t> p(s.n), q(s.n);
  std::iota(p.begin(), p.end(), 0u);
  std::iota(q.begin(), q.end(), 0u);
  std::shuffle(p.begin(), p.end(), rng);
  std::shuffle(q.begin(), q.end(), rng);
  s.partner_p.resize(s.n);
  s.partner_q.resize(s.n);
  s.p_of_q.resize(s.n);
  const std::size_t side = 8;  // dimers on a side x side x ... grid of spacing 2
  auto site = [&](std::size_t m, int d) {
    const std::size_t c[3] = {m % side, (m / side) % side, m / (side * side)};
    return 2.0 * double(c[d]);
  };
  for (std::size_t m = 0; m < n_dimers; ++m) {
    const uint32_t a = p[2 * m], b = p[2 * m + 1];
    s.partner_p[a] = b;
    s.partner_p[b] = a;
    for (int d = 0; d < 3; ++d) {
      w.set(0, uint32_t(d), a, site(m, d) + (d == 0 ? 0.1 : 0.0));
      w.set(0, uint32_t(d), b, site(m, d) - (d == 0 ? 0.1 : 0.0));
    }
  }
  // pos2 of P agent i: the i-th cell of another grid (in a shuffled order), Q partner 0.15 away.
  for (std::size_t i = 0; i < s.n; ++i) {
    const uint32_t a = p[i], b = q[i];
    s.partner_q[a] = b;
    s.p_of_q[b] = a;
    for (int d = 0; d < 3; ++d) {
      w.set(0, uint32_t(6 + d), a, site(i, d));
      w.set(1, uint32_t(d), b, site(i, d) + (d == 1 ? 0.15 : 0.0));
    }
  }
  for (uint32_t t = 0; t < 2; ++t)
    for (uint32_t l = 3; l < 6; ++l)
      for (std::size_t i = 0; i < s.n; ++i) w.set(t, l, i, 0.0);
  return s;
}

// How a run goes: the interpreter's sweeps of one ISA, threads and neighbour search.
struct Mode {
  const brz::SweepSet* sweeps;
  int threads;
  bool search;
};

brz::ExecOptions options(const Mode& m) {
  brz::ExecOptions o;
  o.sweeps = m.sweeps;
  o.max_threads = m.threads;
  o.neighbour_search = m.search;
  if (m.threads > 1) {
    // Small worlds on every thread.
    o.pair_parallel_threshold = 0;
    o.agent_parallel_threshold = 0;
    o.list_parallel_threshold = 0;
    o.bin_parallel_threshold = 0;
    o.cell_count_parallel_threshold = 0;
    o.check_parallel_threshold = 0;
  }
  return o;
}

std::vector<Mode> modes() {
  std::vector<Mode> out;
  for (const brz::SweepSet* k : all_sweep_sets())
    for (int threads : {1, 2})
      for (bool search : {false, true}) out.push_back(Mode{k, threads, search});
  return out;
}

std::string describe(const Mode& m) {
  return std::string(m.sweeps->name) + ", " + std::to_string(m.threads) + " thread(s), " +
         (m.search ? "neighbour search" : "all pairs");
}

// Checks lane `lane` of `type` against `want(i)` for every agent (caller order), bit for bit.
template <class T, class F>
void check_lane(const brz::World<T>& w, uint32_t type, uint32_t lane, std::size_t n, F want) {
  for (std::size_t i = 0; i < n; ++i) {
    const T got = T(w.get(type, lane, i)), exp = want(i);
    if (std::memcmp(&got, &exp, sizeof(T)) != 0) {
      INFO("type " << type << " lane " << lane << " agent " << i << ": " << got << " != " << exp);
      CHECK(std::memcmp(&got, &exp, sizeof(T)) == 0);
      return;
    }
  }
}

// NORMAL calls philox.hpp's normal_f64 / normal_f32 per lane in every executor, so draws and
// their sums are checked bit for bit, as UNIFORM's.
constexpr uint32_t kSeed = 0xDEADBEEFu;
// Steps 2^33 - 2, 2^33 - 1, 2^33: the counter's upper word changes during a 3-step run.
constexpr uint64_t kStep = (uint64_t(1) << 33) - 2;

template <class T>
void per_agent_and_pairs(const Mode& m, std::size_t n_dimers) {
  INFO(describe(m) << ", " << (sizeof(T) == 8 ? "f64" : "f32") << ", " << n_dimers << " dimers");
  auto prog = random_program();
  brz::World<T> w(prog, {2 * n_dimers, 2 * n_dimers});
  const Scene s = fill(w, n_dimers, 42);
  w.set_seed(kSeed);
  w.set_step(kStep);
  const brz::ExecOptions o = options(m);
  const std::size_t n = s.n;

  // The pair rules first: the neighbour search sorts P's rows by cell, and the per-agent rules
  // that follow must still draw by identity.
  const brz::RunStepsResult pairs = brz::run_steps(w, {1, 2}, 3, 0.01, o);
  REQUIRE(pairs.steps_done == 3);
  REQUIRE(w.step() == kStep + 3);
  // (Small worlds are below the neighbour search's minimum of pairs.)
  if (m.search && n_dimers > 100) {
    CHECK(neighbour_sweeps(pairs) == 6);
    CHECK_FALSE(w.in_caller_order(0));
  } else {
    CHECK(all_pairs_sweeps(pairs) == 6);
  }
  // Each agent has one partner within the cutoff per rule: its lane is the sum of that pair's
  // draws over the steps, added in step order (exactly what the engine adds).
  auto summed = [&](bool normal, uint32_t rule, uint16_t site, auto pair_of) {
    return [=](std::size_t i) {
      T sum = T(0);
      for (uint64_t t = kStep; t < kStep + 3; ++t) {
        const auto [c0, c1] = pair_of(uint32_t(i));
        sum = sum + expected<T>(normal, kSeed, rule, site, t, c0, c1);
      }
      return sum;
    };
  };
  auto same = [&](uint32_t i) {
    const uint32_t j = s.partner_p[i];
    return std::pair<uint32_t, uint32_t>(std::min(i, j), std::max(i, j));
  };
  auto cross_p = [&](uint32_t i) { return std::pair<uint32_t, uint32_t>(i, s.partner_q[i]); };
  auto cross_q = [&](uint32_t j) { return std::pair<uint32_t, uint32_t>(s.p_of_q[j], j); };
  // Rules 1 and 2 both add to P's u and n: rule 1's delta, then rule 2's, step by step.
  auto both = [&](bool normal) {
    return [=](std::size_t i) {
      T v = T(0);
      for (uint64_t t = kStep; t < kStep + 3; ++t) {
        const auto [a0, a1] = same(uint32_t(i));
        const auto [b0, b1] = cross_p(uint32_t(i));
        v = v + expected<T>(normal, kSeed, 1, normal ? 1 : 0, t, a0, a1);
        v = v + expected<T>(normal, kSeed, 2, normal ? 5 : 2, t, b0, b1);
      }
      return v;
    };
  };
  check_lane(w, 0, 3, n, both(false));
  check_lane(w, 0, 4, n, both(true));
  check_lane(w, 1, 3, n, summed(false, 2, 2, cross_q));
  check_lane(w, 1, 4, n, summed(true, 2, 5, cross_q));

  // The per-agent rules, on P's cell-sorted rows (after a search) and Q's.
  const uint64_t at = w.step();
  brz::run_steps(w, {0, 3}, 1, 0.01, o);
  REQUIRE(w.step() == at + 1);
  auto agent = [&](bool normal, uint32_t rule, uint16_t site) {
    return
        [=](std::size_t i) { return expected<T>(normal, kSeed, rule, site, at, uint32_t(i), 0); };
  };
  check_lane(w, 0, 3, n, agent(false, 0, 0));
  check_lane(w, 0, 4, n, agent(true, 0, 1));
  check_lane(w, 0, 5, n, agent(false, 0, 7));
  check_lane(w, 1, 3, n, agent(false, 3, 3));
}

}  // namespace

TEST_CASE("UNIFORM and NORMAL equal the scalar definition in every sweep", "[random]") {
  // 173 dimers: 346 agents, not a multiple of any batch or block width.
  for (const Mode& m : modes()) {
    per_agent_and_pairs<double>(m, 173);
    per_agent_and_pairs<float>(m, 173);
  }
}

TEST_CASE("UNIFORM and NORMAL in small worlds (vector tails only)", "[random]") {
  for (const Mode& m : modes())
    for (std::size_t dimers : {1, 3, 5}) {
      per_agent_and_pairs<double>(m, dimers);
      per_agent_and_pairs<float>(m, dimers);
    }
}

namespace {

void expect_reject(const ProgramBuilder& pb, const std::string& needle) {
  const std::vector<uint8_t> b = pb.bytes();
  try {
    brz::Program::parse(b.data(), b.size());
    FAIL("accepted an invalid program (expected: " << needle << ")");
  } catch (const brz::ArgumentError& e) {
    INFO("message: " << e.what());
    CHECK(std::string(e.what()).find(needle) != std::string::npos);
  }
}

// A program of `n` per-agent rules storing lane 0; rule `random` (if < n) draws.
ProgramBuilder many_rules(uint32_t n, uint32_t random) {
  ProgramBuilder pb;
  pb.lanes = {1};
  for (uint32_t k = 0; k < n; ++k) {
    RuleBuilder& r = pb.per_agent(0);
    r.store(0, 0, k == random ? r.emit(Op::UNIFORM, 0) : r.cnst(1.0));
  }
  return pb;
}

}  // namespace

TEST_CASE("UNIFORM and NORMAL: operands, level, rule limit", "[random][program]") {
  ProgramBuilder pb;
  pb.lanes = {2, 2};
  {
    RuleBuilder& r = pb.per_agent(0);
    r.store(0, 0, r.emit(Op::UNIFORM, 65535));
    r.store(0, 1, r.emit(Op::NORMAL, 0));
  }
  {
    RuleBuilder& r = pb.pair(0, 1);
    const uint16_t u = r.emit(Op::UNIFORM, 3);
    r.acc(0, 0, r.op(Op::MUL, u, r.load(0, 1)));  // slot 0 only, still varying
  }
  auto p = pb.build();
  CHECK(p->rule(0).has_random);
  CHECK(p->rule(1).has_random);
  for (uint32_t id = 0; id < 2; ++id) {
    const brz::Rule& r = p->rule(id);
    CHECK(r.uniform_ops.empty());
    CHECK(r.outer_ops.size() == (id == 0 ? 0u : 1u));  // the LOAD of slot 0
    for (const brz::Instr& in : r.instrs)
      if (in.op == Op::UNIFORM || in.op == Op::NORMAL)
        CHECK(r.reg_level[in.dst] == brz::Level::Varying);
  }

  ProgramBuilder bad = pb;
  bad.rules[0].instrs[0][3] = 1;  // b
  expect_reject(bad, "rule 0, instruction 0: UNIFORM: unused operand b must be 0");
  bad = pb;
  bad.rules[0].instrs[2][4] = 2;  // c
  expect_reject(bad, "rule 0, instruction 2: NORMAL: unused operand c must be 0");

  // The rule index fills 16 bits of the key: 65536 rules may draw, 65537 may not.
  CHECK_NOTHROW(many_rules(65536, 65535).build());
  CHECK_NOTHROW(many_rules(65537, 65537).build());
  expect_reject(many_rules(65537, 12), "rule 12: UNIFORM or NORMAL in a program of 65537 rules");
}

TEST_CASE("the step counter: 10 + 10 steps are 20 steps, a snapshot takes it back",
          "[random][world]") {
  auto prog = random_program();
  const Mode m{all_sweep_sets().back(), 2, true};
  const brz::ExecOptions o = options(m);
  brz::World<double> a(prog, {2 * 60, 2 * 60}), b(prog, {2 * 60, 2 * 60});
  fill(a, 60, 7);
  fill(b, 60, 7);
  for (brz::World<double>* w : {&a, &b}) {
    w->set_seed(12345);
    w->set_step(UINT64_MAX - 4);  // the counter wraps around during the run
  }
  brz::run_steps(a, {1, 2, 0}, 10, 0.01, o);
  CHECK(a.step() == 5);
  brz::run_steps(a, {1, 2, 0}, 10, 0.01, o);
  brz::run_steps(b, {1, 2, 0}, 20, 0.01, o);
  CHECK(a.step() == 15);
  CHECK(b.step() == 15);
  for (uint32_t t = 0; t < 2; ++t)
    for (uint32_t l = 3; l < 6; ++l)
      for (std::size_t i = 0; i < 120; ++i) {
        INFO("type " << t << " lane " << l << " agent " << i);
        REQUIRE(a.get(t, l, i) == b.get(t, l, i));
      }

  // Rule 4 stores 1 / 0 in the third step: the run throws with the counter at the two steps
  // done, and the snapshot taken before it puts the counter back.
  brz::World<double> c(prog, {4, 4});
  c.set_step(100);
  brz::WorldSnapshot snap;
  c.save(snap, {{3, 5}, {}});
  try {
    brz::run_steps(c, {4}, 5, 0.01, o);
    FAIL("expected a NumericalError");
  } catch (const brz::NumericalError& e) {
    CHECK(e.step == 3);
  }
  CHECK(c.step() == 102);
  c.restore(snap);
  CHECK(c.step() == 100);
  CHECK(c.get(0, 5, 0) == 0.0);
  // A cancelled run stops at a step boundary: the counter has the complete steps.
  int cancel = 1;
  brz::ExecOptions oc = o;
  oc.cancel = &cancel;
  const brz::RunStepsResult r = brz::run_steps(c, {0}, 5, 0.01, oc);
  CHECK(r.cancelled);
  CHECK(c.step() == 100);
}

TEST_CASE("interval bounds of UNIFORM and NORMAL", "[random][cells]") {
  ProgramBuilder pb;
  pb.lanes = {3};
  for (int normal = 0; normal < 2; ++normal) {
    RuleBuilder& r = pb.pair(0, 0);
    const uint16_t draw = r.emit(normal ? Op::NORMAL : Op::UNIFORM, 0);
    const uint16_t c = r.op(Op::ADD, r.cnst(1.0), r.op(Op::ABS, draw));
    r.acc(0, 0, r.op(Op::MUL, c, r.load(1, 0)));
    r.cflag = 1;
    r.creg = c;
  }
  auto prog = pb.build();
  brz::World<double> w(prog, {10});
  brz::World<float> wf(prog, {10});
  const auto u = brz::cutoff_upper_bound(w, prog->rule(0), {0.01});
  const auto uf = brz::cutoff_upper_bound(wf, prog->rule(0), {0.01});
  const auto n = brz::cutoff_upper_bound(w, prog->rule(1), {0.01});
  REQUIRE(u.has_value());
  REQUIRE(uf.has_value());
  REQUIRE(n.has_value());
  CHECK(*u >= 2 - 0x1p-53);
  CHECK(*u < 2.0 + 1e-12);
  CHECK(*uf >= 2 - 0x1p-24);
  CHECK(*uf < 2.0 + 1e-5);
  CHECK(*n >= 9.6);
  CHECK(*n < 9.6 + 1e-12);
}
