// Pair-same and pair-cross sweeps against naive double loops; delta-accumulator semantics;
// threading and ISA agreement.
#include <omp.h>
#include <sched.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <thread>

#include "builder.hpp"

using namespace brzt;

namespace {

// Body: position 0..2, velocity 3..5, mass 6, radius 7. Wall: position 0..2, normal 3..5, hits 6.
constexpr uint32_t kBodyLanes = 8, kWallLanes = 7;

struct V3 {
  uint16_t x, y, z;
};

struct Emit {
  RuleBuilder& r;
  V3 load3(uint16_t slot, uint16_t lane) {
    return {r.load(slot, lane), r.load(slot, lane + 1), r.load(slot, lane + 2)};
  }
  V3 bin(Op op, V3 a, V3 b) { return {r.op(op, a.x, b.x), r.op(op, a.y, b.y), r.op(op, a.z, b.z)}; }
  V3 scale(V3 a, uint16_t s) {
    return {r.op(Op::MUL, a.x, s), r.op(Op::MUL, a.y, s), r.op(Op::MUL, a.z, s)};
  }
  uint16_t dot(V3 a, V3 b) {
    return r.op(Op::ADD, r.op(Op::ADD, r.op(Op::MUL, a.x, b.x), r.op(Op::MUL, a.y, b.y)),
                r.op(Op::MUL, a.z, b.z));
  }
  V3 select(uint16_t c, V3 a, V3 b) {
    return {r.op(Op::SELECT, c, a.x, b.x), r.op(Op::SELECT, c, a.y, b.y),
            r.op(Op::SELECT, c, a.z, b.z)};
  }
  void store3(uint16_t slot, uint16_t lane, V3 v) {
    r.store(slot, lane, v.x);
    r.store(slot, lane + 1, v.y);
    r.store(slot, lane + 2, v.z);
  }
  void acc3(uint16_t slot, uint16_t lane, V3 v) {
    r.acc(slot, lane, v.x);
    r.acc(slot, lane + 1, v.y);
    r.acc(slot, lane + 2, v.z);
  }
  V3 neg(V3 a) { return {r.op(Op::NEG, a.x), r.op(Op::NEG, a.y), r.op(Op::NEG, a.z)}; }
};

// rule 0: softened gravity (pair-same); rule 1: elastic collision (pair-same, selects, cutoff);
// rule 2: wall bounce (pair-cross, stores to both slots); rule 3: integrate (per-agent);
// rules 4-6: the accumulating (ACC) forms of rules 0-2: 4 gravity (ACC to both slots, plus a
// uniform and an outer-level ACC to lane 7 from both slots), 5 wall bounce (ACC to both slots,
// select with a zero branch), 6 collision (slot 0 ACC, slot 1 STORE).
std::shared_ptr<const brz::Program> physics_program() {
  ProgramBuilder pb;
  pb.lanes = {kBodyLanes, kWallLanes};
  pb.n_params = 2;  // dt, G
  {
    Emit e{pb.pair(0, 0)};
    auto& r = e.r;
    const uint16_t dt = r.param(0), g = r.param(1), eps = r.cnst(0.01);
    const V3 pa = e.load3(0, 0), pb_ = e.load3(1, 0), va = e.load3(0, 3), vb = e.load3(1, 3);
    const uint16_t ma = r.load(0, 6), mb = r.load(1, 6);
    const V3 d = e.bin(Op::SUB, pb_, pa);
    const uint16_t r2 = r.op(Op::ADD, e.dot(d, d), eps);
    const uint16_t inv = r.op(Op::DIV, r.cnst(1.0), r.op(Op::MUL, r.op(Op::SQRT, r2), r2));
    const uint16_t s = r.op(Op::MUL, r.op(Op::MUL, g, inv), dt);
    e.store3(0, 3, e.bin(Op::ADD, va, e.scale(d, r.op(Op::MUL, s, mb))));
    e.store3(1, 3, e.bin(Op::SUB, vb, e.scale(d, r.op(Op::MUL, s, ma))));
  }
  {
    Emit e{pb.pair(0, 0)};
    auto& r = e.r;
    const V3 p1 = e.load3(0, 0), p2 = e.load3(1, 0), v1 = e.load3(0, 3), v2 = e.load3(1, 3);
    const uint16_t m1 = r.load(0, 6), m2 = r.load(1, 6), r1 = r.load(0, 7), r2 = r.load(1, 7);
    const V3 delta = e.bin(Op::SUB, p1, p2);
    const uint16_t dist = r.op(Op::SQRT, e.dot(delta, delta));
    const uint16_t reach = r.op(Op::ADD, r1, r2);
    const uint16_t zero = r.cnst(0.0), one = r.cnst(1.0), two = r.cnst(2.0);
    const uint16_t inv = r.op(Op::DIV, one, dist);
    const V3 n = e.select(r.op(Op::GT, dist, zero), e.scale(delta, inv), V3{zero, zero, zero});
    const uint16_t speed = r.op(Op::NEG, e.dot(e.bin(Op::SUB, v2, v1), n));  // dot(v1-v2, n)
    const uint16_t cond = r.op(Op::AND, r.op(Op::LT, dist, reach), r.op(Op::LT, speed, zero));
    const uint16_t imp = r.op(Op::DIV, r.op(Op::MUL, two, speed),
                              r.op(Op::ADD, r.op(Op::DIV, one, m1), r.op(Op::DIV, one, m2)));
    const V3 nv1 = e.bin(Op::SUB, v1, e.scale(n, r.op(Op::DIV, imp, m1)));
    const V3 nv2 = e.bin(Op::ADD, v2, e.scale(n, r.op(Op::DIV, imp, m2)));
    e.store3(0, 3, e.select(cond, nv1, v1));
    e.store3(1, 3, e.select(cond, nv2, v2));
    r.cflag = 1;
    r.creg = reach;
  }
  {
    Emit e{pb.pair(0, 1)};
    auto& r = e.r;
    const V3 p = e.load3(0, 0), v = e.load3(0, 3), wp = e.load3(1, 0), wn = e.load3(1, 3);
    const uint16_t rad = r.load(0, 7), hits = r.load(1, 6);
    const uint16_t dist = e.dot(e.bin(Op::SUB, p, wp), wn);
    const uint16_t cond = r.op(Op::LT, dist, rad);
    const uint16_t vn = r.op(Op::MUL, r.cnst(2.0), e.dot(v, wn));
    e.store3(0, 3, e.select(cond, e.bin(Op::SUB, v, e.scale(wn, vn)), v));
    r.store(1, 6, r.op(Op::ADD, hits, cond));
  }
  {
    Emit e{pb.per_agent(0)};
    auto& r = e.r;
    const uint16_t dt = r.param(0);
    e.store3(0, 0, e.bin(Op::ADD, e.load3(0, 0), e.scale(e.load3(0, 3), dt)));
  }
  {
    Emit e{pb.pair(0, 0)};
    auto& r = e.r;
    const uint16_t dt = r.param(0), g = r.param(1), eps = r.cnst(0.01);
    const V3 pa = e.load3(0, 0), pb_ = e.load3(1, 0);
    const uint16_t ma = r.load(0, 6), mb = r.load(1, 6);
    const V3 d = e.bin(Op::SUB, pb_, pa);
    const uint16_t r2 = r.op(Op::ADD, e.dot(d, d), eps);
    const uint16_t inv = r.op(Op::DIV, r.cnst(1.0), r.op(Op::MUL, r.op(Op::SQRT, r2), r2));
    const uint16_t s = r.op(Op::MUL, r.op(Op::MUL, g, inv), dt);
    e.acc3(0, 3, e.scale(d, r.op(Op::MUL, s, mb)));
    e.acc3(1, 3, e.neg(e.scale(d, r.op(Op::MUL, s, ma))));
    r.acc(0, 7, r.op(Op::MUL, dt, r.cnst(1e-3)));  // uniform
    r.acc(1, 7, r.op(Op::MUL, ma, r.cnst(1e-4)));  // outer (slot 0) value added to slot 1
  }
  {
    Emit e{pb.pair(0, 1)};
    auto& r = e.r;
    const V3 p = e.load3(0, 0), v = e.load3(0, 3), wp = e.load3(1, 0), wn = e.load3(1, 3);
    const uint16_t rad = r.load(0, 7);
    const uint16_t dist = e.dot(e.bin(Op::SUB, p, wp), wn);
    const uint16_t cond = r.op(Op::LT, dist, rad);
    const uint16_t vn = r.op(Op::MUL, r.cnst(2.0), e.dot(v, wn));
    const uint16_t zero = r.cnst(0.0);
    e.acc3(0, 3, e.select(cond, e.neg(e.scale(wn, vn)), V3{zero, zero, zero}));
    r.acc(1, 6, cond);
  }
  {
    Emit e{pb.pair(0, 0)};
    auto& r = e.r;
    const V3 p1 = e.load3(0, 0), p2 = e.load3(1, 0), v1 = e.load3(0, 3), v2 = e.load3(1, 3);
    const uint16_t m1 = r.load(0, 6), m2 = r.load(1, 6), r1 = r.load(0, 7), r2 = r.load(1, 7);
    const V3 delta = e.bin(Op::SUB, p1, p2);
    const uint16_t dist = r.op(Op::SQRT, e.dot(delta, delta));
    const uint16_t reach = r.op(Op::ADD, r1, r2);
    const uint16_t zero = r.cnst(0.0), one = r.cnst(1.0), two = r.cnst(2.0);
    const uint16_t inv = r.op(Op::DIV, one, dist);
    const V3 n = e.select(r.op(Op::GT, dist, zero), e.scale(delta, inv), V3{zero, zero, zero});
    const uint16_t speed = r.op(Op::NEG, e.dot(e.bin(Op::SUB, v2, v1), n));
    const uint16_t cond = r.op(Op::AND, r.op(Op::LT, dist, reach), r.op(Op::LT, speed, zero));
    const uint16_t imp = r.op(Op::DIV, r.op(Op::MUL, two, speed),
                              r.op(Op::ADD, r.op(Op::DIV, one, m1), r.op(Op::DIV, one, m2)));
    const V3 dv1 = e.neg(e.scale(n, r.op(Op::DIV, imp, m1)));
    const V3 nv2 = e.bin(Op::ADD, v2, e.scale(n, r.op(Op::DIV, imp, m2)));
    e.acc3(0, 3, e.select(cond, dv1, V3{zero, zero, zero}));
    e.store3(1, 3, e.select(cond, nv2, v2));
    r.cflag = 1;
    r.creg = reach;
  }
  return pb.build();
}

template <class T>
Cols<T> physics_state(const brz::Program& p, std::size_t n_bodies, std::size_t n_walls,
                      uint64_t seed) {
  std::mt19937_64 rng(seed);
  Cols<T> c = random_cols<T>(p, {n_bodies, n_walls}, rng, -1.0, 1.0);
  std::uniform_real_distribution<double> pos(-3, 3), mass(0.5, 2.0), rad(0.05, 0.4);
  for (std::size_t i = 0; i < n_bodies; ++i) {
    for (int k = 0; k < 3; ++k) c[0][k][i] = T(pos(rng));
    c[0][6][i] = T(mass(rng));
    c[0][7][i] = T(rad(rng));
  }
  for (std::size_t i = 0; i < n_walls; ++i) {
    double nx = c[1][3][i], ny = c[1][4][i], nz = c[1][5][i];
    const double len = std::sqrt(nx * nx + ny * ny + nz * nz) + 1e-3;
    c[1][3][i] = T(nx / len);
    c[1][4][i] = T(ny / len);
    c[1][5][i] = T(nz / len);
    c[1][6][i] = 0;
  }
  return c;
}

template <class T>
void check_rules(const std::vector<uint32_t>& ids, std::size_t nb, std::size_t nw,
                 const brz::SweepSet* ks, bool parallel, int steps = 2) {
  auto prog = physics_program();
  Cols<T> ref = physics_state<T>(*prog, nb, nw, 42 + nb);
  brz::World<T> w(prog, {nb, nw});
  load_world(w, ref);
  w.params() = {0.01, 0.5};
  for (int s = 0; s < steps; ++s)
    for (uint32_t id : ids) ref_run_rule<T>(*prog, id, ref, {0.01, 0.5});
  brz::ExecOptions o;
  o.sweeps = ks;
  if (parallel) {
    o.pair_parallel_threshold = 0;
    o.agent_parallel_threshold = 0;
    o.max_threads = 3;
  }
  const auto res = brz::run_steps(w, ids, steps, 0.01, o);
  CHECK(res.steps_done == uint64_t(steps));
  const double tol = std::is_same<T, double>::value ? 1e-12 : 2e-4;
  INFO("isa " << ks->name << " bodies " << nb << " walls " << nw << " parallel " << parallel << " f"
              << sizeof(T) * 8 << " rule " << ids[0]);
  CHECK(max_scaled_err(w, ref) <= tol);
}

const std::vector<std::size_t> kSizes = {0, 1, 7, 8, 9, 63, 64, 65, 300, 600};

}  // namespace

TEST_CASE("pair-same softened gravity matches the naive double loop", "[pair]") {
  for (const brz::SweepSet* ks : all_sweep_sets())
    for (std::size_t n : kSizes)
      for (bool par : {false, true}) {
        check_rules<double>({0, 3}, n, 3, ks, par);
        check_rules<float>({0, 3}, n, 3, ks, par);
      }
}

TEST_CASE("pair-same elastic collision with selects matches the naive double loop", "[pair]") {
  for (const brz::SweepSet* ks : all_sweep_sets())
    for (std::size_t n : kSizes)
      for (bool par : {false, true}) {
        check_rules<double>({1, 3}, n, 3, ks, par, 3);
        check_rules<float>({1, 3}, n, 3, ks, par, 3);
      }
}

TEST_CASE("pair-cross wall bounce (stores to both slots) matches the naive double loop", "[pair]") {
  for (const brz::SweepSet* ks : all_sweep_sets())
    for (std::size_t nb :
         {std::size_t(0), std::size_t(1), std::size_t(9), std::size_t(65), std::size_t(200)})
      for (std::size_t nw :
           {std::size_t(0), std::size_t(1), std::size_t(7), std::size_t(17), std::size_t(64)})
        for (bool par : {false, true}) {
          check_rules<double>({2, 3}, nb, nw, ks, par);
          check_rules<float>({2, 3}, nb, nw, ks, par);
        }
}

TEST_CASE("ACC (accumulating stores) matches the naive double loop", "[pair][acc]") {
  for (const brz::SweepSet* ks : all_sweep_sets())
    for (std::size_t n : kSizes)
      for (bool par : {false, true}) {
        check_rules<double>({4, 3}, n, 3, ks, par);
        check_rules<float>({4, 3}, n, 3, ks, par);
        check_rules<double>({6, 3}, n, 3, ks, par, 3);
        check_rules<float>({6, 3}, n, 3, ks, par, 3);
        check_rules<double>({5, 3}, n, n / 3 + 1, ks, par);
        check_rules<float>({5, 3}, n, n / 3 + 1, ks, par);
      }
}

TEST_CASE("ACC adds the register, STORE the difference to the start value", "[pair][acc]") {
  // x_i += sum_j x_j (ACC of the partner's value) vs the 3-body chain of the STORE form.
  ProgramBuilder pb;
  pb.lanes = {1};
  auto& r = pb.pair(0, 0);
  const uint16_t xa = r.load(0, 0), xb = r.load(1, 0);
  r.acc(0, 0, xb);
  r.acc(1, 0, xa);
  auto prog = pb.build();
  for (const brz::SweepSet* ks : all_sweep_sets()) {
    brz::World<double> w(prog, {3});
    w.column(0, 0)[0] = 1;
    w.column(0, 0)[1] = 2;
    w.column(0, 0)[2] = 4;
    brz::ExecOptions o;
    o.sweeps = ks;
    brz::run_steps(w, {0}, 1, 0.0, o);
    CHECK(w.column(0, 0)[0] == 7.0);
    CHECK(w.column(0, 0)[1] == 7.0);
    CHECK(w.column(0, 0)[2] == 7.0);
  }
}

TEST_CASE("all rules together over several steps", "[pair]") {
  for (const brz::SweepSet* ks : all_sweep_sets()) {
    check_rules<double>({0, 1, 2, 3}, 150, 6, ks, false, 5);
    check_rules<double>({3, 2, 1, 0}, 150, 6, ks, true, 5);
  }
}

TEST_CASE("pair rules are simultaneous: a 3-body chain", "[pair][delta]") {
  // swap rule: a.x = b.x; b.x = a.x. Simultaneous semantics: x_i += sum_j (x_j - x_i).
  ProgramBuilder pb;
  pb.lanes = {1};
  auto& r = pb.pair(0, 0);
  const uint16_t xa = r.load(0, 0), xb = r.load(1, 0);
  r.store(0, 0, xb);
  r.store(1, 0, xa);
  auto prog = pb.build();
  for (const brz::SweepSet* ks : all_sweep_sets()) {
    brz::World<double> w(prog, {3});
    w.column(0, 0)[0] = 1;
    w.column(0, 0)[1] = 2;
    w.column(0, 0)[2] = 4;
    brz::ExecOptions o;
    o.sweeps = ks;
    brz::run_steps(w, {0}, 1, 0.0, o);
    // x0: 1 + (2-1) + (4-1) = 5; x1: 2 + (1-2) + (4-2) = 3; x2: 4 + (1-4) + (2-4) = -1.
    CHECK(w.column(0, 0)[0] == 5.0);
    CHECK(w.column(0, 0)[1] == 3.0);
    CHECK(w.column(0, 0)[2] == -1.0);
  }
}

TEST_CASE("accumulators start at -0.0: untouched lanes stay bit-identical", "[pair][delta]") {
  // A rule that stores the loaded value back: every delta is +0, so x + 0.0 = x except -0.0.
  // With no pairs at all (1 agent) even -0.0 must survive.
  ProgramBuilder pb;
  pb.lanes = {1};
  auto& r = pb.pair(0, 0);
  r.store(0, 0, r.load(0, 0));
  auto prog = pb.build();
  brz::World<double> w(prog, {1});
  w.column(0, 0)[0] = -0.0;
  brz::run_steps(w, {0}, 3, 0.0);
  CHECK(std::signbit(w.column(0, 0)[0]));
  brz::World<double> w2(prog, {40});
  for (std::size_t i = 0; i < 40; ++i) w2.column(0, 0)[i] = 0.1 * double(i) + 1e-17;
  brz::run_steps(w2, {0}, 2, 0.0);
  for (std::size_t i = 0; i < 40; ++i) CHECK(w2.column(0, 0)[i] == 0.1 * double(i) + 1e-17);
}

TEST_CASE("per-agent loads see values before the body; stores may swap lanes", "[agent]") {
  ProgramBuilder pb;
  pb.lanes = {3};
  auto& r = pb.per_agent(0);
  const uint16_t x = r.load(0, 0), y = r.load(0, 1);
  r.store(0, 0, y);
  r.store(0, 1, x);
  const uint16_t x_again = r.load(0, 0);  // must still read the old x
  r.store(0, 2, x_again);
  auto prog = pb.build();
  for (const brz::SweepSet* ks : all_sweep_sets())
    for (std::size_t n : {std::size_t(1), std::size_t(9), std::size_t(200)}) {
      brz::World<float> w(prog, {n});
      for (std::size_t i = 0; i < n; ++i) {
        w.column(0, 0)[i] = float(i);
        w.column(0, 1)[i] = float(1000 + i);
      }
      brz::ExecOptions o;
      o.sweeps = ks;
      brz::run_steps(w, {0}, 1, 0.0, o);
      for (std::size_t i = 0; i < n; ++i) {
        CHECK(w.column(0, 0)[i] == float(1000 + i));
        CHECK(w.column(0, 1)[i] == float(i));
        CHECK(w.column(0, 2)[i] == float(i));
      }
    }
}

TEST_CASE("uniform store values and slot-0 stores of outer values", "[pair]") {
  // a.v = a.v + dt (a per-i value: one contribution per partner), b.c = const.
  ProgramBuilder pb;
  pb.lanes = {2};
  auto& r = pb.pair(0, 0);
  const uint16_t dt = r.param(0), v = r.load(0, 0);
  r.store(0, 0, r.op(Op::ADD, v, dt));
  r.store(1, 1, r.cnst(3.0));
  auto prog = pb.build();
  for (const brz::SweepSet* ks : all_sweep_sets())
    for (std::size_t n : {std::size_t(2), std::size_t(17), std::size_t(130)}) {
      Cols<double> ref(1, std::vector<std::vector<double>>(2, std::vector<double>(n, 0.0)));
      brz::World<double> w(prog, {n});
      ref_run_rule<double>(*prog, 0, ref, {0.5});
      brz::ExecOptions o;
      o.sweeps = ks;
      brz::run_steps(w, {0}, 1, 0.5, o);
      CHECK(max_rel_err(w, ref) == 0.0);
      CHECK(w.column(0, 0)[0] == 0.5 * double(n - 1));
    }
}

TEST_CASE("every ISA agrees with sse2", "[isa]") {
  auto prog = physics_program();
  Cols<double> init = physics_state<double>(*prog, 257, 5, 99);
  brz::World<double> base(prog, {257, 5});
  load_world(base, init);
  base.params() = {0.01, 0.5};
  brz::ExecOptions o;
  o.sweeps = brz::sweeps_for("sse2");
  REQUIRE(o.sweeps != nullptr);
  brz::run_steps(base, {0, 1, 2, 3}, 4, 0.01, o);
  Cols<double> b(2);
  for (uint32_t t = 0; t < 2; ++t)
    for (uint32_t l = 0; l < prog->lanes(t); ++l) {
      b[t].emplace_back(base.count(t));
      for (std::size_t i = 0; i < base.count(t); ++i) b[t][l][i] = base.get(t, l, i);
    }
  for (const brz::SweepSet* ks : all_sweep_sets()) {
    brz::World<double> w(prog, {257, 5});
    load_world(w, init);
    w.params() = {0.01, 0.5};
    o.sweeps = ks;
    brz::run_steps(w, {0, 1, 2, 3}, 4, 0.01, o);
    INFO("isa " << ks->name);
    CHECK(max_scaled_err(w, b) <= 1e-13);
  }
}

TEST_CASE("a cancellation flag stops a run before its next rule", "[exec]") {
  auto prog = physics_program();
  brz::World<double> w(prog, {10, 0});
  int flag = 1;
  brz::ExecOptions o;
  o.cancel = &flag;
  auto res = brz::run_steps(w, {3}, 100, 0.1, o);
  CHECK(res.cancelled);
  CHECK(res.steps_done == 0);
  flag = 0;
  res = brz::run_steps(w, {3}, 5, 0.1, o);
  CHECK(!res.cancelled);
  CHECK(res.steps_done == 5);
}

TEST_CASE("a cancellation flag set during an all-pairs sweep stops it part-way", "[exec]") {
  // Gravity over 3,000 bodies: every step is an all-pairs sweep of 4.5 million pairs; the flag
  // is set from another thread while the first steps run, on the interpreter and on 1-2 threads.
  auto prog = physics_program();
  for (int threads : {1, 2}) {
    brz::World<double> w(prog, {3000, 0});
    for (std::size_t i = 0; i < 3000; ++i)
      for (uint32_t l = 0; l < 3; ++l) w.set(0, l, i, double((i * 7919 + l * 104729) % 1000));
    w.params() = {0.01, 0.5};
    int flag = 0;
    brz::ExecOptions o;
    o.cancel = &flag;
    o.max_threads = threads;
    o.neighbour_search = false;
    std::thread setter([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(30));
      __atomic_store_n(&flag, 1, __ATOMIC_RELAXED);
    });
    const auto res = brz::run_steps(w, {0}, 1000000, 0.01, o);
    setter.join();
    CHECK(res.cancelled);
    CHECK(res.steps_done < 1000000);
  }
}

TEST_CASE("bad rule ids are rejected", "[exec]") {
  auto prog = physics_program();
  brz::World<double> w(prog, {1, 1});
  CHECK_THROWS_AS(brz::run_steps(w, {7}, 1, 0.1), brz::ArgumentError);
  CHECK_THROWS_WITH(brz::run_steps(w, {0, 9}, 1, 0.1), Catch::Contains("rule id 9 out of range"));
}

#ifdef __linux__
TEST_CASE("a run gives its OpenMP workers the asked priority, never the calling thread", "[exec]") {
  auto prog = physics_program();
  brz::World<double> w(prog, {4, 0});
  brz::ExecOptions o;
  o.max_threads = 2;
  o.worker_nice = brz::kWorkerIdle;
  brz::run_steps(w, {3}, 1, 0.1, o);
  int worker_policy = -1, caller_policy = -1;
#pragma omp parallel num_threads(2)
  {
    if (omp_get_thread_num() == 0)
      caller_policy = sched_getscheduler(0);
    else
      worker_policy = sched_getscheduler(0);
  }
  CHECK(caller_policy == SCHED_OTHER);
  CHECK(worker_policy == SCHED_IDLE);
}
#endif
