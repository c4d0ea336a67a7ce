// ACCMAX and ACCMIN (docs/program.md, "Execution of one step") in every pair sweep of the
// engine: all pairs, grid and neighbour lists, on every ISA, one and two threads, world sizes
// that leave vector and block tails, against the scalar reference of builder.hpp bit for bit
// (max and min are exact); and their validation.
#include <catch2/catch.hpp>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>

#include "builder.hpp"

using namespace brzt;

namespace {

// Type P: pos 0..2, value 3, top 4, bottom 5, count 6. Type Q: pos 0..2, value 3, top 4,
// bottom 5.
constexpr double kCut = 0.3;

// |pos_a - pos_b|^2 < kCut^2 (lanes 0..2 of both slots); marks the cutoff.
uint16_t close(RuleBuilder& r) {
  uint16_t r2 = 0;
  for (uint16_t d = 0; d < 3; ++d) {
    const uint16_t dd = r.op(Op::SUB, r.load(0, d), r.load(1, d));
    const uint16_t sq = r.op(Op::MUL, dd, dd);
    r2 = d == 0 ? sq : r.op(Op::ADD, r2, sq);
  }
  const uint16_t c = r.cnst(kCut);
  r.cflag = 1;
  r.clane_b = 0;
  r.creg = c;
  return r.op(Op::LT, r2, r.op(Op::MUL, c, c));
}

// What the front end emits for `x.f = max(x.f, e)` inside the cutoff's `if`: the select of the
// reduced value and the start value.
uint16_t reduced(RuleBuilder& r, uint16_t cond, Op op, uint16_t slot, uint16_t lane, uint16_t e) {
  const uint16_t start = r.load(slot, lane);
  return r.op(Op::SELECT, cond, r.op(op, start, e), start);
}

// rule 0 (pair-same P, cutoff): top = max(top, other's value), bottom = min(bottom, other's
//   value) for both agents, and count += 1 (an ACC beside them).
// rule 1 (pair-cross P-Q, cutoff): P's top = max(top, Q's value), Q's bottom = min(bottom, P's
//   value).
// rule 2 (pair-same P, no cutoff): ACCMAX of slot 0's top and ACCMIN of slot 1's bottom with
//   the bare values of the other agent (no start value in them: the accumulator's identity
//   matters).
std::shared_ptr<const brz::Program> reduce_program() {
  ProgramBuilder pb;
  pb.lanes = {7, 6};
  {
    RuleBuilder& r = pb.pair(0, 0);
    const uint16_t cond = close(r);
    for (uint16_t s = 0; s < 2; ++s) {
      const uint16_t other = r.load(uint16_t(1 - s), 3);
      r.accmax(s, 4, reduced(r, cond, Op::MAX, s, 4, other));
      r.accmin(s, 5, reduced(r, cond, Op::MIN, s, 5, other));
      r.acc(s, 6, r.op(Op::SELECT, cond, r.cnst(1.0), r.cnst(0.0)));
    }
  }
  {
    RuleBuilder& r = pb.pair(0, 1);
    const uint16_t cond = close(r);
    r.accmax(0, 4, reduced(r, cond, Op::MAX, 0, 4, r.load(1, 3)));
    r.accmin(1, 5, reduced(r, cond, Op::MIN, 1, 5, r.load(0, 3)));
  }
  {
    RuleBuilder& r = pb.pair(0, 0);
    r.accmax(0, 4, r.load(1, 3));
    r.accmin(1, 5, r.load(0, 3));
  }
  return pb.build();
}

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
  o.search_min_pairs = 0;
  if (m.threads > 1) {
    // Small worlds on every thread.
    o.pair_parallel_threshold = 0;
    o.list_parallel_threshold = 0;
    o.bin_parallel_threshold = 0;
    o.cell_count_parallel_threshold = 0;
    o.check_parallel_threshold = 0;
  }
  return o;
}

// Random agents in a cube of edge `edge` (positions), values in [-100, 100) that include equal
// values and zeros of both signs, top / bottom / count 0.
template <class T>
Cols<T> scene(const brz::Program& p, std::size_t n, double edge, uint64_t seed) {
  std::mt19937_64 rng(seed);
  Cols<T> c = random_cols<T>(p, {n, n}, rng, 0.0, edge);
  std::uniform_int_distribution<int> value(-8, 7);
  for (uint32_t t = 0; t < 2; ++t)
    for (std::size_t i = 0; i < n; ++i) {
      const int v = value(rng);
      c[t][3][i] = v == 0 ? T(i % 2 ? -0.0 : 0.0) : T(v) * T(12.5);
      for (uint32_t l = 4; l < p.lanes(t); ++l) c[t][l][i] = T(0);
    }
  return c;
}

template <class T>
void check_same(const brz::World<T>& w, const Cols<T>& want) {
  for (uint32_t t = 0; t < want.size(); ++t)
    for (uint32_t l = 0; l < want[t].size(); ++l)
      for (std::size_t i = 0; i < want[t][l].size(); ++i) {
        const T got = T(w.get(t, l, i)), exp = want[t][l][i];
        if (std::memcmp(&got, &exp, sizeof(T)) != 0) {
          INFO("type " << t << " lane " << l << " agent " << i << ": " << got << " != " << exp);
          CHECK(std::memcmp(&got, &exp, sizeof(T)) == 0);
          return;
        }
      }
}

template <class T>
void against_reference(const Mode& m, std::size_t n, double edge) {
  INFO(m.sweeps->name << ", " << m.threads << " thread(s), "
                      << (m.search ? "neighbour search" : "all pairs") << ", "
                      << (sizeof(T) == 8 ? "f64" : "f32") << ", " << n << " agents per type");
  const auto prog = reduce_program();
  Cols<T> cols = scene<T>(*prog, n, edge, 7 + n);
  brz::World<T> w(prog, {n, n});
  load_world(w, cols);
  const brz::ExecOptions o = options(m);
  const std::vector<double> params(1, 0.01);
  for (uint32_t rule : {0u, 1u, 2u}) {
    const brz::RunStepsResult res = brz::run_steps(w, {rule}, 1, 0.01, o);
    REQUIRE(res.steps_done == 1);
    if (rule < 2 && m.search && n >= 64)
      CHECK(neighbour_sweeps(res) == 1);
    else if (rule == 1 || n >= 2)  // (a same-type rule over one agent has no pair to sweep)
      CHECK(all_pairs_sweeps(res) == 1);
    ref_run_rule<T>(*prog, rule, cols, params);
    check_same(w, cols);
  }
}

std::vector<Mode> modes() {
  std::vector<Mode> out;
  for (const brz::SweepSet* k : all_sweep_sets())
    for (int threads : {1, 2})
      for (bool search : {false, true}) out.push_back(Mode{k, threads, search});
  return out;
}

}  // namespace

TEST_CASE("ACCMAX and ACCMIN equal the scalar reference on every path", "[reduce]") {
  // 1000 agents per type at a density of about 3 neighbours within the cutoff: lists and a grid
  // (with the search on), blocks that end part-way; 1, 3, 5 and 13: vector tails only.
  for (const Mode& m : modes()) {
    against_reference<double>(m, 1000, 2.0);
    against_reference<float>(m, 1000, 2.0);
    for (std::size_t n : {1, 3, 5, 13}) {
      against_reference<double>(m, n, 0.4);
      against_reference<float>(m, n, 0.4);
    }
  }
}

TEST_CASE("ACCMAX and ACCMIN: a NaN stays, -inf / +inf change nothing, a zero is +0.0",
          "[reduce]") {
  ProgramBuilder pb;
  pb.lanes = {3};
  RuleBuilder& r = pb.pair(0, 0);
  // Over the pairs (0, 1), (0, 2), (1, 2): slot 0's lane 1 takes the max of slot 1's lane 0
  // (agent 0: values 1 and 2; agent 1: value 2), slot 1's lane 2 the min of slot 0's lane 0
  // (agent 1: value 0; agent 2: values 0 and 1).
  r.accmax(0, 1, r.load(1, 0));
  r.accmin(1, 2, r.load(0, 0));
  const auto prog = pb.build();
  for (const Mode& m : modes()) {
    INFO(m.sweeps->name << ", " << m.threads << " thread(s)");
    brz::World<double> w(prog, {3});
    auto run = [&](double v0, double v1, double v2) {
      const double values[3] = {v0, v1, v2};
      for (std::size_t i = 0; i < 3; ++i) {
        w.set(0, 0, i, values[i]);
        w.set(0, 1, i, -5.0);
        w.set(0, 2, i, 5.0);
      }
      brz::run_steps(w, {0}, 1, 0.01, options(m));
    };
    auto positive_zero = [&](uint32_t lane, std::size_t i) {
      return w.get(0, lane, i) == 0.0 && !std::signbit(w.get(0, lane, i));
    };
    run(INFINITY, -0.0, 0.0);
    CHECK(positive_zero(1, 0));  // max(-0.0, 0.0) in either order
    CHECK(positive_zero(1, 1));
    CHECK(w.get(0, 1, 2) == -5.0);
    CHECK(w.get(0, 2, 1) == 5.0);  // min(+inf): no change
    CHECK(positive_zero(2, 2));    // min(+inf, -0.0)
    run(1.0, -0.0, -INFINITY);
    CHECK(positive_zero(1, 0));     // max(-0.0, -inf)
    CHECK(w.get(0, 1, 1) == -5.0);  // max(-inf): no change
    CHECK(positive_zero(2, 2));     // min(1.0, -0.0)
    CHECK(w.get(0, 2, 1) == 1.0);
    try {
      run(1.0, NAN, 2.0);
      FAIL("a NaN reduced into a lane is not reported");
    } catch (const brz::NumericalError& e) {
      CHECK(e.index == 0);
      CHECK(e.lane == 1);
    }
  }
}

TEST_CASE("ACCMAX and ACCMIN: validation", "[reduce][program]") {
  auto reject = [](const ProgramBuilder& pb, const std::string& needle) {
    const std::vector<uint8_t> b = pb.bytes();
    try {
      brz::Program::parse(b.data(), b.size());
      FAIL("accepted an invalid program (expected: " << needle << ")");
    } catch (const brz::ArgumentError& e) {
      INFO("message: " << e.what());
      CHECK(std::string(e.what()).find(needle) != std::string::npos);
    }
  };
  {
    ProgramBuilder pb;
    pb.lanes = {2};
    RuleBuilder& r = pb.per_agent(0);
    r.accmax(0, 0, r.load(0, 1));
    reject(pb, "ACCMAX: only pair rules accumulate");
  }
  {
    ProgramBuilder pb;
    pb.lanes = {2};
    RuleBuilder& r = pb.pair(0, 0);
    const uint16_t v = r.load(0, 1);
    r.accmax(0, 0, v);
    r.accmin(0, 0, v);
    reject(pb, "ACCMIN: second store to slot 0 lane 0");
  }
  {
    // Both slots of a same-type rule share a lane's accumulator: one way to combine.
    ProgramBuilder pb;
    pb.lanes = {2};
    RuleBuilder& r = pb.pair(0, 0);
    const uint16_t v = r.load(0, 1);
    r.accmax(0, 0, v);
    r.acc(1, 0, v);
    reject(pb, "ACC: lane 0 is reduced differently through the other slot");
  }
  {
    ProgramBuilder pb;
    pb.lanes = {2};
    RuleBuilder& r = pb.pair(0, 0);
    r.raw(static_cast<uint16_t>(Op::ACCMIN), 1, 0, 0, r.load(0, 1));
    reject(pb, "ACCMIN: dst must be 0");
  }
  {
    // The same lane of two types, or through both slots with the same reduction, is fine.
    ProgramBuilder pb;
    pb.lanes = {2, 2};
    RuleBuilder& same = pb.pair(0, 0);
    const uint16_t v = same.load(0, 1);
    same.accmin(0, 0, v);
    same.accmin(1, 0, v);
    RuleBuilder& cross = pb.pair(0, 1);
    const uint16_t u = cross.load(1, 1);
    cross.accmax(0, 0, u);
    cross.acc(1, 0, u);
    const auto prog = pb.build();
    CHECK(prog->rule(0).has_reduction);
    CHECK(prog->rule(0).stores[1].reduce == brz::kReduceMin);
    CHECK(prog->rule(1).stores[1].reduce == brz::kReduceSum);
  }
}
