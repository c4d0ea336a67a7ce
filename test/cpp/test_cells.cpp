// Cell lists for cutoff rules (docs/engine.md, "Cell lists"): the cell-list sweep equals the
// all-pairs sweep up to summation order, the interval bound of the cutoff is sound, and rules
// without a finite bound fall back to all pairs.
#include <omp.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdio>
#include <limits>

#include "brz/neighbour_search.hpp"
#include "builder.hpp"

using namespace brzt;

namespace {

// Ball: position 0..2, velocity 3..5, mass 6, radius 7, w 8, u 9.
// Post (cross-type partner): position 0..2, radius 3, hits 4.
constexpr uint32_t kBallLanes = 10, kPostLanes = 5;

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
};

// Elastic collision, cutoff = r_a + r_b (fields). Cross-type: slot 1 is a Post, which counts
// hits; only the ball's velocity changes.
void collision(RuleBuilder& rb, bool cross) {
  Emit e{rb};
  auto& r = e.r;
  const V3 p1 = e.load3(0, 0), p2 = e.load3(1, 0), v1 = e.load3(0, 3);
  const uint16_t m1 = r.load(0, 6), r1 = r.load(0, 7);
  const uint16_t r2 = cross ? r.load(1, 3) : r.load(1, 7);
  const V3 delta = e.bin(Op::SUB, p1, p2);
  const uint16_t dist = r.op(Op::SQRT, e.dot(delta, delta));
  const uint16_t reach = r.op(Op::ADD, r1, r2);
  const uint16_t zero = r.cnst(0.0), one = r.cnst(1.0), two = r.cnst(2.0);
  const uint16_t inv = r.op(Op::DIV, one, dist);
  const V3 n = e.select(r.op(Op::GT, dist, zero), e.scale(delta, inv), V3{zero, zero, zero});
  if (!cross) {
    const V3 v2 = e.load3(1, 3);
    const uint16_t m2 = r.load(1, 6);
    const uint16_t speed = r.op(Op::NEG, e.dot(e.bin(Op::SUB, v2, v1), n));
    const uint16_t cond = r.op(Op::AND, r.op(Op::LT, dist, reach), r.op(Op::LT, speed, zero));
    const uint16_t imp = r.op(Op::DIV, r.op(Op::MUL, two, speed),
                              r.op(Op::ADD, r.op(Op::DIV, one, m1), r.op(Op::DIV, one, m2)));
    e.store3(0, 3, e.select(cond, e.bin(Op::SUB, v1, e.scale(n, r.op(Op::DIV, imp, m1))), v1));
    e.store3(1, 3, e.select(cond, e.bin(Op::ADD, v2, e.scale(n, r.op(Op::DIV, imp, m2))), v2));
  } else {
    const uint16_t hits = r.load(1, 4);
    const uint16_t speed = e.dot(v1, n);
    const uint16_t cond = r.op(Op::AND, r.op(Op::LT, dist, reach), r.op(Op::LT, speed, zero));
    const uint16_t k = r.op(Op::MUL, two, speed);
    e.store3(0, 3, e.select(cond, e.bin(Op::SUB, v1, e.scale(n, k)), v1));
    r.store(1, 4, r.op(Op::ADD, hits, cond));
  }
  r.cflag = 1;
  r.clane_a = 0;
  r.clane_b = 0;
  r.creg = reach;
}

// Lennard-Jones-like, cutoff the constant 2.5 (guard r2 < rc*rc). Cross-type: Posts attract
// balls (slot-0 stores only) and count them.
void lennard_jones(RuleBuilder& rb, bool cross) {
  Emit e{rb};
  auto& r = e.r;
  const uint16_t dt = r.param(0);
  const V3 p1 = e.load3(0, 0), p2 = e.load3(1, 0), v1 = e.load3(0, 3);
  const uint16_t rc = r.cnst(2.5);
  const V3 d = e.bin(Op::SUB, p1, p2);
  const uint16_t r2 = e.dot(d, d);
  const uint16_t cond = r.op(Op::LT, r2, r.op(Op::MUL, rc, rc));
  const uint16_t inv2 = r.op(Op::DIV, r.cnst(1.0), r2);
  const uint16_t inv6 = r.op(Op::MUL, r.op(Op::MUL, inv2, inv2), inv2);
  const uint16_t f =
      r.op(Op::MUL,
           r.op(Op::MUL, r.op(Op::MUL, r.cnst(24.0), inv2),
                r.op(Op::SUB, r.op(Op::MUL, r.cnst(2.0), r.op(Op::MUL, inv6, inv6)), inv6)),
           dt);
  const V3 fd = e.scale(d, f);
  e.store3(0, 3, e.select(cond, e.bin(Op::ADD, v1, fd), v1));
  if (!cross) {
    const V3 v2 = e.load3(1, 3);
    e.store3(1, 3, e.select(cond, e.bin(Op::SUB, v2, fd), v2));
  } else {
    r.store(1, 4, r.op(Op::ADD, r.load(1, 4), cond));
  }
  r.cflag = 1;
  r.creg = rc;
}

// Asymmetric same-type rule (slot order matters): a.w += 2 b.u + a.u, b.u += a.w - b.w, within
// distance 1.
void asymmetric(RuleBuilder& rb) {
  Emit e{rb};
  auto& r = e.r;
  const V3 d = e.bin(Op::SUB, e.load3(0, 0), e.load3(1, 0));
  const uint16_t c = r.cnst(1.0);
  const uint16_t cond = r.op(Op::LT, r.op(Op::SQRT, e.dot(d, d)), c);
  const uint16_t wa = r.load(0, 8), ua = r.load(0, 9), wb = r.load(1, 8), ub = r.load(1, 9);
  const uint16_t nwa = r.op(Op::ADD, wa, r.op(Op::ADD, r.op(Op::MUL, r.cnst(2.0), ub), ua));
  const uint16_t nub = r.op(Op::ADD, ub, r.op(Op::SUB, wa, wb));
  r.store(0, 8, r.op(Op::SELECT, cond, nwa, wa));
  r.store(1, 9, r.op(Op::SELECT, cond, nub, ub));
  r.cflag = 1;
  r.creg = c;
}

// Lennard-Jones with accumulating stores (ACC): slot 0 adds select(cond, fd, 0), slot 1
// select(cond, -fd, 0) (same type) or the cross partner's hit count (cross type).
void lennard_jones_acc(RuleBuilder& rb, bool cross) {
  Emit e{rb};
  auto& r = e.r;
  const uint16_t dt = r.param(0);
  const V3 p1 = e.load3(0, 0), p2 = e.load3(1, 0);
  const uint16_t rc = r.cnst(2.5), zero = r.cnst(0.0);
  const V3 d = e.bin(Op::SUB, p1, p2);
  const uint16_t r2 = e.dot(d, d);
  const uint16_t cond = r.op(Op::LT, r2, r.op(Op::MUL, rc, rc));
  const uint16_t inv2 = r.op(Op::DIV, r.cnst(1.0), r2);
  const uint16_t inv6 = r.op(Op::MUL, r.op(Op::MUL, inv2, inv2), inv2);
  const uint16_t f =
      r.op(Op::MUL,
           r.op(Op::MUL, r.op(Op::MUL, r.cnst(24.0), inv2),
                r.op(Op::SUB, r.op(Op::MUL, r.cnst(2.0), r.op(Op::MUL, inv6, inv6)), inv6)),
           dt);
  const V3 fd = e.scale(d, f);
  for (uint16_t k = 0; k < 3; ++k) {
    const uint16_t c = k == 0 ? fd.x : k == 1 ? fd.y : fd.z;
    r.acc(0, 3 + k, r.op(Op::SELECT, cond, c, zero));
    if (!cross) r.acc(1, 3 + k, r.op(Op::SELECT, cond, r.op(Op::NEG, c), zero));
  }
  if (cross) r.acc(1, 4, cond);
  r.cflag = 1;
  r.creg = rc;
}

// Rules: 0 collision same, 1 collision cross, 2 LJ same, 3 LJ cross, 4 asymmetric,
// 5 unbounded cutoff (1 / (r_a - 0.3)), 6 integrate, 7 LJ same with ACC, 8 LJ cross with ACC.
std::shared_ptr<const brz::Program> cells_program() {
  ProgramBuilder pb;
  pb.lanes = {kBallLanes, kPostLanes};
  pb.n_params = 2;
  collision(pb.pair(0, 0), false);
  collision(pb.pair(0, 1), true);
  lennard_jones(pb.pair(0, 0), false);
  lennard_jones(pb.pair(0, 1), true);
  asymmetric(pb.pair(0, 0));
  {
    auto& r = pb.pair(0, 0);
    Emit e{r};
    const V3 d = e.bin(Op::SUB, e.load3(0, 0), e.load3(1, 0));
    const uint16_t c = r.op(Op::DIV, r.cnst(1.0), r.op(Op::SUB, r.load(0, 7), r.cnst(0.3)));
    const uint16_t cond = r.op(Op::LT, r.op(Op::SQRT, e.dot(d, d)), c);
    const uint16_t wa = r.load(0, 8), wb = r.load(1, 8);
    r.store(0, 8, r.op(Op::SELECT, cond, r.op(Op::ADD, wa, wb), wa));
    r.cflag = 1;
    r.creg = c;
  }
  {
    Emit e{pb.per_agent(0)};
    e.store3(0, 0, e.bin(Op::ADD, e.load3(0, 0), e.scale(e.load3(0, 3), e.r.param(0))));
  }
  lennard_jones_acc(pb.pair(0, 0), false);
  lennard_jones_acc(pb.pair(0, 1), true);
  return pb.build();
}

enum class Layout { Random, Lattice, OneCell, Far, Boundaries };

template <class T>
Cols<T> make_state(const brz::Program& p, std::size_t nb, std::size_t np, Layout layout,
                   uint64_t seed) {
  std::mt19937_64 rng(seed);
  Cols<T> c = random_cols<T>(p, {nb, np}, rng, -1.0, 1.0);
  std::uniform_real_distribution<double> u(0.0, 1.0), rad(0.1, 0.5), mass(0.5, 2.0);
  // Number density about 0.1 (Random), or a jittered lattice of spacing 1.1 (LJ-friendly).
  const double side = std::cbrt(double(nb + np) / 0.1) + 1.0;
  const std::size_t per = std::size_t(std::ceil(std::cbrt(double(nb + np)))) + 1;
  std::vector<std::size_t> sites(per * per * per);
  for (std::size_t k = 0; k < sites.size(); ++k) sites[k] = k;
  std::shuffle(sites.begin(), sites.end(), rng);
  std::size_t next_site = 0;
  // Boundaries: coordinates snapped to multiples of the cell width of a [0, L] box with
  // cutoff bound 1.0 (max radius 0.5), so agents sit exactly on cell faces.
  const double L = 12.0;
  const double width = L / std::floor(L / (1.0 * (1 + brz::kCellMargin)));
  auto place = [&](T* x, T* y, T* z, std::size_t i) {
    double q[3] = {0, 0, 0};
    switch (layout) {
      case Layout::Random:
        for (double& v : q) v = side * u(rng);
        break;
      case Layout::Lattice: {
        const std::size_t s = sites[next_site++];
        const std::size_t g[3] = {s % per, (s / per) % per, s / (per * per)};
        for (int d = 0; d < 3; ++d) q[d] = 1.1 * double(g[d]) + 0.2 * (u(rng) - 0.5);
        break;
      }
      case Layout::OneCell:
        for (double& v : q) v = 0.4 * u(rng);
        break;
      case Layout::Far:
        for (double& v : q) v = 100.0 * std::floor(side * u(rng));
        break;
      case Layout::Boundaries:
        for (double& v : q) {
          v = L * u(rng);
          if (u(rng) < 0.6) v = std::min(L, width * std::floor(v / width + 0.5));
        }
        break;
    }
    x[i] = T(q[0]);
    y[i] = T(q[1]);
    z[i] = T(q[2]);
  };
  std::vector<T> x(nb + np), y(nb + np), z(nb + np);
  for (std::size_t i = 0; i < nb + np; ++i) place(x.data(), y.data(), z.data(), i);
  if (layout == Layout::Boundaries && nb > 1) {  // pin the box to [0, L]
    x[0] = y[0] = z[0] = T(0);
    x[1] = y[1] = z[1] = T(L);
  }
  for (std::size_t i = 0; i < nb; ++i) {
    c[0][0][i] = x[i];
    c[0][1][i] = y[i];
    c[0][2][i] = z[i];
    c[0][6][i] = T(mass(rng));
    c[0][7][i] = T(rad(rng));
  }
  if (layout == Layout::Boundaries)
    for (std::size_t i = 0; i < nb; ++i) c[0][7][i] = T(0.5);  // touching exactly at distance 1
  for (std::size_t i = 0; i < np; ++i) {
    c[1][0][i] = x[nb + i];
    c[1][1][i] = y[nb + i];
    c[1][2][i] = z[nb + i];
    c[1][3][i] = T(rad(rng));
    c[1][4][i] = T(0);
  }
  return c;
}

template <class T>
Cols<T> read_world(const brz::World<T>& w) {
  Cols<T> c(w.program().n_types());
  for (uint32_t t = 0; t < c.size(); ++t) {
    c[t].resize(w.program().lanes(t));
    for (uint32_t l = 0; l < c[t].size(); ++l) {
      c[t][l].resize(w.count(t));
      for (std::size_t i = 0; i < w.count(t); ++i) c[t][l][i] = w.column(t, l)[w.row(t, i)];
    }
  }
  return c;
}

brz::ExecOptions forced_cells(bool threads, const brz::SweepSet* ks = nullptr) {
  brz::ExecOptions o;
  o.neighbour_search = true;
  o.search_min_pairs = 0;
  o.search_max_fraction = std::numeric_limits<double>::infinity();
  o.sweeps = ks;
  if (threads) {
    o.pair_parallel_threshold = o.list_parallel_threshold = 0;
    o.max_threads = 3;
  } else {
    o.max_threads = 1;
  }
  return o;
}

struct Outcome {
  brz::RunStepsResult cells, all;
  double err;
  bool sorted;  // the cell-list world's rows of type 0 are no longer in the caller's order
};

// Runs `ids` for `steps` steps of `dt` with forced cell lists and with all pairs; compares the
// worlds.
template <class T>
Outcome compare(const std::vector<uint32_t>& ids, std::size_t nb, std::size_t np, Layout layout,
                bool threads, int steps = 1, const brz::SweepSet* ks = nullptr, double dt = 0.01) {
  auto prog = cells_program();
  const Cols<T> init = make_state<T>(*prog, nb, np, layout, 1000 + nb * 7 + np);
  brz::World<T> wc(prog, {nb, np}), wa(prog, {nb, np});
  load_world(wc, init);
  load_world(wa, init);
  wc.params() = wa.params() = {0.01, 1.0};
  Outcome out;
  out.cells = brz::run_steps(wc, ids, steps, dt, forced_cells(threads, ks));
  brz::ExecOptions all;
  all.neighbour_search = false;
  all.sweeps = ks;
  out.all = brz::run_steps(wa, ids, steps, dt, all);
  out.err = max_scaled_err(wc, read_world(wa));
  out.sorted = !wc.in_caller_order(0);
  return out;
}

// Runs `ids` for `steps` steps of 0.01 on `a` over all pairs; how far `w` is from the result.
double err_against_all_pairs(const brz::World<double>& w, brz::World<double>& a,
                             const std::vector<uint32_t>& ids, int steps) {
  brz::ExecOptions all;
  all.neighbour_search = false;
  brz::run_steps(a, ids, steps, 0.01, all);
  return max_scaled_err(w, read_world(a));
}

template <class T>
double tol() {
  return std::is_same<T, double>::value ? 1e-12 : 1e-5;
}

const std::vector<std::size_t> kCounts = {0, 1, 2, 7, 100, 1000, 5000};

template <class T>
void check_rule(uint32_t id, bool cross, Layout layout) {
  for (std::size_t n : kCounts)
    for (bool threads : {false, true}) {
      const std::size_t nb = n, np = cross ? n / 3 + 1 : 0;
      if (layout == Layout::Lattice && n > 1000 && threads) continue;  // time
      const Outcome o = compare<T>({id}, nb, np, layout, threads);
      INFO("rule " << id << " n " << n << " threads " << threads << " f" << sizeof(T) * 8
                   << " layout " << int(layout));
      CHECK(o.err <= tol<T>());
      CHECK(all_pairs_sweeps(o.cells) == 0);
      const std::size_t pairs = cross ? nb * np : (nb < 2 ? 0 : nb * (nb - 1) / 2);
      CHECK(neighbour_sweeps(o.cells) == (pairs > 0 ? 1u : 0u));
      CHECK(neighbour_sweeps(o.all) == 0);
      CHECK(o.all.pair_evaluations == pairs);
      CHECK(o.cells.pair_evaluations <= pairs);
      // Sparse layouts: far fewer evaluations than pairs; the dense LJ lattice (cutoff 2.5 in a
      // box of side ~11-19) still skips most pairs.
      const std::size_t factor = layout == Layout::Lattice ? 4 : 20;
      if (n >= 1000) CHECK(o.cells.pair_evaluations * factor < pairs);
    }
}

}  // namespace

TEST_CASE("cell lists equal all pairs: elastic collision (cutoff r_a + r_b)", "[cells]") {
  for (Layout l : {Layout::Random, Layout::Boundaries, Layout::Far}) {
    check_rule<double>(0, false, l);
    check_rule<float>(0, false, l);
    check_rule<double>(1, true, l);
    check_rule<float>(1, true, l);
  }
}

TEST_CASE("cell lists equal all pairs: Lennard-Jones (cutoff 2.5)", "[cells]") {
  check_rule<double>(2, false, Layout::Lattice);
  check_rule<float>(2, false, Layout::Lattice);
  check_rule<double>(3, true, Layout::Lattice);
  check_rule<float>(3, true, Layout::Lattice);
}

TEST_CASE("cell lists equal all pairs: Lennard-Jones with ACC", "[cells][acc]") {
  check_rule<double>(7, false, Layout::Lattice);
  check_rule<float>(7, false, Layout::Lattice);
  check_rule<double>(8, true, Layout::Lattice);
  check_rule<float>(8, true, Layout::Lattice);
}

TEST_CASE("ACC and STORE forms of Lennard-Jones agree, with cells and all pairs", "[cells][acc]") {
  for (bool cells : {false, true}) {
    auto prog = cells_program();
    const std::size_t n = 500;
    const Cols<double> init = make_state<double>(*prog, n, 0, Layout::Lattice, 77);
    brz::World<double> ws(prog, {n, 0}), wa(prog, {n, 0});
    load_world(ws, init);
    load_world(wa, init);
    ws.params() = wa.params() = {0.01, 1.0};
    brz::ExecOptions o = forced_cells(true);
    o.neighbour_search = cells;
    brz::run_steps(ws, {2}, 2, 0.01, o);
    brz::run_steps(wa, {7}, 2, 0.01, o);
    INFO("cells " << cells);
    CHECK(max_scaled_err(wa, read_world(ws)) <= 1e-12);
  }
}

TEST_CASE("cell lists keep slot order: asymmetric same-type rule", "[cells]") {
  for (Layout l : {Layout::Lattice, Layout::Boundaries, Layout::Random})
    for (std::size_t n : {std::size_t(7), std::size_t(100), std::size_t(1000)}) {
      const Outcome o = compare<double>({4}, n, 0, l, true);
      INFO("n " << n << " layout " << int(l));
      CHECK(o.err <= 1e-12);
      CHECK(neighbour_sweeps(o.cells) == 1);
    }
}

TEST_CASE("cell lists: all agents in one cell", "[cells]") {
  for (std::size_t n : {std::size_t(2), std::size_t(7), std::size_t(100), std::size_t(1000)}) {
    const Outcome o = compare<double>({0}, n, 0, Layout::OneCell, true);
    CHECK(o.err <= 1e-12);
    CHECK(neighbour_sweeps(o.cells) == 1);
    CHECK(o.cells.pair_evaluations == n * (n - 1) / 2);
    const Outcome x = compare<float>({1}, n, n / 2 + 1, Layout::OneCell, false);
    CHECK(x.err <= 1e-5);
    CHECK(x.cells.pair_evaluations == n * (n / 2 + 1));
  }
}

TEST_CASE("cell lists: several steps with motion, every ISA", "[cells]") {
  for (const brz::SweepSet* ks : all_sweep_sets()) {
    INFO("isa " << ks->name);
    const Outcome o = compare<double>({0, 1, 6}, 2000, 50, Layout::Random, true, 5, ks);
    CHECK(o.err <= 1e-9);
    CHECK(neighbour_sweeps(o.cells) == 10);
    const Outcome f = compare<float>({2, 6}, 1000, 0, Layout::Lattice, false, 1, ks);
    CHECK(f.err <= 1e-5);
  }
}

TEST_CASE("neighbour lists: reused while valid, rebuilt after motion, equal all pairs",
          "[cells][neighbour]") {
  // Collision + integrate at speeds up to ~1.7 and dt 0.01: an agent crosses half the skin
  // (0.06 for a cutoff bound of 1.0) every few steps, so lists are both reused and rebuilt.
  for (bool threads : {false, true}) {
    INFO("threads " << threads);
    const int steps = 60;
    const Outcome o = compare<double>({0, 6}, 2000, 0, Layout::Random, threads, steps);
    CHECK(neighbour_sweeps(o.cells) == uint64_t(steps));
    CHECK(all_pairs_sweeps(o.all) == uint64_t(steps));
    CHECK(o.cells.neighbour_builds > 1);
    CHECK(o.cells.neighbour_builds * 2 < uint64_t(steps));
    CHECK(o.sorted);  // rows sorted by cell
    CHECK(o.err <= 1e-9);
  }
  // f32: Lennard-Jones with ACC (smooth, so rounding cannot flip a discrete event) and a drift
  // large enough to rebuild the lists.
  const Outcome f = compare<float>({7, 6}, 1500, 0, Layout::Lattice, true, 40, nullptr, 0.005);
  CHECK(f.cells.neighbour_builds > 1);
  CHECK(f.err <= 1e-4);
}

TEST_CASE("neighbour lists: a pair whose rows lie in two 64-row blocks adds to both",
          "[cells][neighbour]") {
  // The reduction visits only the 64-row blocks the sweep marked (ListSweepArgs::touched):
  // here the only listed pair has its slot-0 row at the end of one block and its slot-1 row
  // alone at the start of the next.
  auto prog = cells_program();
  const std::size_t n = 300;
  Cols<double> init = make_state<double>(*prog, n, 0, Layout::Random, 11);
  for (std::size_t i = 0; i < n; ++i) {  // a line of agents 3 apart: nobody within reach...
    init[0][0][i] = 3.0 * double(i);
    init[0][1][i] = init[0][2][i] = 0.0;
  }
  init[0][0][64] = 3.0 * 63 + 1.0;  // ...but agents 63 and 64, one apart
  brz::World<double> w(prog, {n, 0}), a(prog, {n, 0});
  load_world(w, init);
  load_world(a, init);
  w.params() = a.params() = {0.01, 1.0};
  const auto res = brz::run_steps(w, {7}, 1, 0.01, forced_cells(false));
  CHECK(neighbour_sweeps(res) == 1);
  CHECK(res.pair_evaluations == 1);
  CHECK(w.row(0, 63) / 64 != w.row(0, 64) / 64);
  CHECK(err_against_all_pairs(w, a, {7}, 1) <= 1e-12);
}

TEST_CASE("neighbour lists persist across calls until agents move", "[cells][neighbour]") {
  auto prog = cells_program();
  const Cols<double> init = make_state<double>(*prog, 1000, 0, Layout::Lattice, 5);
  brz::World<double> w(prog, {1000, 0});
  load_world(w, init);
  w.params() = {0.01, 1.0};
  const brz::ExecOptions o = forced_cells(false);
  CHECK(brz::run_steps(w, {2}, 3, 0.01, o).neighbour_builds == 1);
  CHECK(brz::run_steps(w, {2}, 3, 0.01, o).neighbour_builds == 0);
  // A drift of 0.2 (> half the skin of 0.3) invalidates the list; a second rule has its own.
  CHECK(brz::run_steps(w, {6}, 1, 0.2, o).neighbour_builds == 0);
  CHECK(brz::run_steps(w, {2, 4}, 2, 0.01, o).neighbour_builds == 2);
  // Positions written behind the engine's back are noticed too.
  for (std::size_t i = 0; i < 1000; ++i) w.set(0, 0, i, w.get(0, 0, i) + (i % 2 ? 0.5 : -0.5));
  CHECK(brz::run_steps(w, {2}, 1, 0.01, o).neighbour_builds == 1);
  // And the result still equals all pairs from the same state.
  brz::World<double> a(prog, {1000, 0});
  load_world(a, read_world(w));
  a.params() = w.params();
  brz::run_steps(w, {2}, 1, 0.01, o);
  CHECK(err_against_all_pairs(w, a, {2}, 1) <= 1e-12);
}

TEST_CASE("neighbour lists: NumericalError names the caller's index in a sorted world",
          "[cells][neighbour]") {
  // Agent 150 has mass 0 and approaches agent 37: their collision divides 0 by 0.
  auto prog = cells_program();
  Cols<double> init = make_state<double>(*prog, 400, 0, Layout::Random, 9);
  for (int d = 0; d < 3; ++d) {
    init[0][d][150] = init[0][d][37] + (d == 0 ? 0.3 : 0.0);
    init[0][3 + d][150] = d == 0 ? -1.0 : 0.0;
    init[0][3 + d][37] = 0.0;
  }
  init[0][6][150] = 0.0;
  init[0][7][150] = init[0][7][37] = 0.4;
  brz::World<double> w(prog, {400, 0});
  load_world(w, init);
  w.params() = {0.01, 1.0};
  try {
    brz::run_steps(w, {0}, 1, 0.01, forced_cells(false));
    FAIL("expected a NumericalError");
  } catch (const brz::NumericalError& e) {
    CHECK_FALSE(w.in_caller_order(0));
    CHECK(e.type == 0);
    CHECK(e.index == 150);
    CHECK(e.lane == 3);
    CHECK(e.step == 1);
  }
}

TEST_CASE("cell lists: default thresholds pick cells only where they pay off", "[cells]") {
  auto prog = cells_program();
  for (std::size_t n : {std::size_t(50), std::size_t(3000)}) {
    const Cols<double> init = make_state<double>(*prog, n, 0, Layout::Random, 5);
    brz::World<double> w(prog, {n, 0});
    load_world(w, init);
    brz::ExecOptions o;  // defaults
    o.neighbour_search = true;
    const auto res = brz::run_steps(w, {0}, 2, 0.01, o);
    if (n == 50) {  // 1225 pairs: below search_min_pairs
      CHECK(neighbour_sweeps(res) == 0);
      CHECK(all_pairs_sweeps(res) == 2);
    } else {
      CHECK(neighbour_sweeps(res) == 2);
      CHECK(res.pair_evaluations * 50 < 2 * n * (n - 1) / 2);
    }
  }
  // One cell: cells would visit every pair, so the defaults keep all pairs.
  const Cols<double> init = make_state<double>(*prog, 3000, 0, Layout::OneCell, 5);
  brz::World<double> w(prog, {3000, 0});
  load_world(w, init);
  brz::ExecOptions o;
  o.neighbour_search = true;
  const auto res = brz::run_steps(w, {0}, 1, 0.01, o);
  CHECK(neighbour_sweeps(res) == 0);
  CHECK(all_pairs_sweeps(res) == 1);
  // neighbour_search = false forces all pairs.
  o.neighbour_search = false;
  brz::World<double> w2(prog, {3000, 0});
  load_world(w2, make_state<double>(*prog, 3000, 0, Layout::Random, 5));
  const auto res2 = brz::run_steps(w2, {0}, 1, 0.01, o);
  CHECK(neighbour_sweeps(res2) == 0);
  CHECK(all_pairs_sweeps(res2) == 1);
}

TEST_CASE("neighbour lists: a rebuild that would visit most pairs gives up for all pairs",
          "[cells][neighbour]") {
  // A rebuild counts its candidates while it lists them (it reuses the last count to pick its
  // threads): when the agents have clumped since, it stops past the limit, the step runs all
  // pairs, and the steps after it check the candidates before listing again.
  auto prog = cells_program();
  for (bool threads : {false, true}) {
    INFO("threads " << threads);
    const std::size_t n = 3000;
    brz::World<double> w(prog, {n, 0}), a(prog, {n, 0});
    load_world(w, make_state<double>(*prog, n, 0, Layout::Random, 5));
    w.params() = a.params() = {0.01, 1.0};
    brz::ExecOptions o;  // default thresholds
    o.neighbour_search = true;
    if (threads) {
      o.pair_parallel_threshold = o.list_parallel_threshold = 0;
      o.max_threads = 2;
    }
    const auto spread = brz::run_steps(w, {0}, 1, 0.01, o);
    CHECK(neighbour_sweeps(spread) == 1);
    CHECK(spread.neighbour_builds == 1);
    // Every agent moved into a box of side 0.4, behind the engine's back.
    for (uint32_t d = 0; d < 3; ++d)
      for (std::size_t i = 0; i < n; ++i) w.set(0, d, i, 0.4 * double((i * 7 + d) % 97) / 97);
    load_world(a, read_world(w));
    const auto clumped = brz::run_steps(w, {0}, 2, 0.01, o);
    CHECK(neighbour_sweeps(clumped) == 0);
    CHECK(all_pairs_sweeps(clumped) == 2);
    CHECK(err_against_all_pairs(w, a, {0}, 2) <= 1e-12);
  }
}

TEST_CASE("unbounded cutoff falls back to all pairs", "[cells]") {
  // Rule 5: c = 1 / (r_a - 0.3) with r_a in [0.1, 0.5]: the divisor's interval holds 0.
  auto prog = cells_program();
  const std::size_t n = 1000;
  const Cols<double> init = make_state<double>(*prog, n, 0, Layout::Random, 9);
  brz::World<double> w(prog, {n, 0});
  load_world(w, init);
  CHECK_FALSE(brz::cutoff_upper_bound(w, prog->rule(5), {0.01, 1.0}).has_value());
  Cols<double> ref = init;
  ref_run_rule<double>(*prog, 5, ref, {0.01, 1.0});
  const auto res = brz::run_steps(w, {5}, 1, 0.01, forced_cells(true));
  CHECK(neighbour_sweeps(res) == 0);
  CHECK(all_pairs_sweeps(res) == 1);
  CHECK(max_scaled_err(w, ref) <= 1e-12);
  // With every radius above 0.3 the bound exists (1 / (0.5 - 0.3) at most... 1 / (r - 0.3)).
  for (std::size_t i = 0; i < n; ++i) w.column(0, 7)[i] = 0.35 + 0.1 * double(i % 7) / 7;
  const auto b = brz::cutoff_upper_bound(w, prog->rule(5), {0.01, 1.0});
  REQUIRE(b.has_value());
  CHECK(*b >= 1.0 / (0.35 - 0.3));
  CHECK(*b <= 1.0 / (0.35 - 0.3) * (1 + 1e-12));
  // A non-finite lane in the cutoff's inputs: no bound.
  w.column(0, 7)[3] = INFINITY;
  CHECK_FALSE(brz::cutoff_upper_bound(w, prog->rule(0), {0.01, 1.0}).has_value());
}

namespace {

// Evaluates register `reg` of pair rule `r` for the pair (i, j) with the reference ops.
double eval_reg(const brz::Rule& r, const Cols<double>& c, std::size_t i, std::size_t j,
                uint32_t reg, const std::vector<double>& params) {
  std::vector<double> v(r.n_regs, 0.0);
  for (const brz::Instr& in : r.instrs) {
    switch (in.op) {
      case Op::CONST:
        v[in.dst] = r.consts[in.a];
        break;
      case Op::PARAM:
        v[in.dst] = params[in.a];
        break;
      case Op::LOAD:
        v[in.dst] = c[r.slot_type(in.a)][in.b][in.a == 0 ? i : j];
        break;
      case Op::STORE:
        break;
      default:
        v[in.dst] = ref_op<double>(in.op, v[in.a], v[in.b], v[in.c]);
    }
    if (in.op != Op::STORE && in.dst == reg) break;
  }
  return v[reg];
}

}  // namespace

TEST_CASE("interval bound of the cutoff covers every pair", "[cells][interval]") {
  // Cutoffs built from many ops over fields and params; the bound must be >= every pair's c.
  ProgramBuilder pb;
  pb.lanes = {kBallLanes};
  pb.n_params = 2;
  std::vector<uint16_t> regs;
  auto& r = pb.pair(0, 0);
  const uint16_t ra = r.load(0, 7), rb = r.load(1, 7), ma = r.load(0, 6), mb = r.load(1, 6);
  const uint16_t wa = r.load(0, 8), k = r.param(1);
  regs.push_back(r.op(Op::ADD, ra, rb));
  regs.push_back(r.op(Op::SQRT, r.op(Op::ADD, r.op(Op::MUL, ra, ra), r.op(Op::MUL, rb, rb))));
  regs.push_back(r.op(Op::MUL, r.op(Op::MAX, ra, rb), k));
  regs.push_back(r.op(Op::DIV, r.op(Op::MIN, ma, mb), r.op(Op::ADD, ma, mb)));
  regs.push_back(r.op(Op::ABS, r.op(Op::SUB, wa, ra)));
  regs.push_back(r.op(Op::NEG, r.op(Op::SUB, rb, r.op(Op::MUL, wa, wa))));
  regs.push_back(r.op(Op::POW, wa, r.cnst(3.0)));
  regs.push_back(r.op(Op::POW, wa, r.cnst(2.0)));
  regs.push_back(r.op(Op::POW, ra, r.cnst(-2.0)));
  regs.push_back(r.op(Op::POW, ma, r.cnst(0.7)));
  regs.push_back(r.op(Op::ADD, r.op(Op::MUL, wa, wa), ra));
  regs.push_back(r.op(Op::EXP, r.op(Op::NEG, ra)));
  regs.push_back(r.op(Op::LOG, r.op(Op::ADD, ma, rb)));
  regs.push_back(r.op(Op::DIV, r.cnst(1.0), r.op(Op::SQRT, ma)));
  regs.push_back(r.op(Op::FLOOR, r.op(Op::MUL, wa, r.cnst(10.0))));
  regs.push_back(r.op(Op::SELECT, r.op(Op::LT, ra, rb), ma, r.op(Op::ADD, rb, rb)));
  regs.push_back(r.op(Op::ADD, r.op(Op::SIN, wa), r.op(Op::COS, ma)));
  regs.push_back(r.op(Op::ATAN2, wa, rb));
  regs.push_back(r.op(Op::TANH, r.op(Op::MUL, wa, ra)));
  regs.push_back(r.op(Op::ROUND, r.op(Op::MUL, wa, r.cnst(10.0))));
  regs.push_back(r.op(Op::SIGN, r.op(Op::SUB, wa, ra)));
  regs.push_back(r.op(Op::MOD, r.op(Op::MUL, wa, r.cnst(7.0)), ma));
  // normalize-style select: the untaken branch divides by zero, the result is still bounded.
  regs.push_back(r.op(Op::SELECT, r.op(Op::GT, wa, r.cnst(0.0)), r.op(Op::DIV, ra, wa), ra));
  r.store(0, 8, regs.back());
  auto prog = pb.build();
  const brz::Rule& rule = prog->rule(0);
  std::mt19937_64 rng(77);
  const std::size_t n = 60;
  Cols<double> c = random_cols<double>(*prog, {n}, rng, -1.0, 1.0);
  std::uniform_real_distribution<double> rad(0.1, 0.5), mass(0.5, 2.0);
  for (std::size_t i = 0; i < n; ++i) {
    c[0][7][i] = rad(rng);
    c[0][6][i] = mass(rng);
  }
  brz::World<double> w(prog, {n});
  load_world(w, c);
  const std::vector<double> params = {0.01, 1.7};
  const double consts_dummy = 0;
  (void)consts_dummy;
  std::vector<double> consts(rule.consts.begin(), rule.consts.end());
  for (std::size_t q = 0; q < regs.size(); ++q) {
    INFO("register " << regs[q] << " (#" << q << ")");
    const auto iv =
        brz::register_interval<double>(w, rule, regs[q], consts.data(), params.data(), 1, SIZE_MAX);
    if (q + 1 == regs.size()) {
      // The select with an unbounded (NaN-capable) branch: bounded only if both are.
      CHECK_FALSE(iv.has_value());
      continue;
    }
    REQUIRE(iv.has_value());
    double lo = INFINITY, hi = -INFINITY;
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t j = i + 1; j < n; ++j) {
        const double v = eval_reg(rule, c, i, j, regs[q], params);
        lo = std::min(lo, v);
        hi = std::max(hi, v);
      }
    CHECK(iv->lo <= lo);
    CHECK(iv->hi >= hi);
  }
  // f32: the bound covers the values computed in f32.
  brz::World<float> wf(prog, {n});
  Cols<float> cf(1);
  cf[0].resize(kBallLanes);
  for (uint32_t l = 0; l < kBallLanes; ++l)
    for (std::size_t i = 0; i < n; ++i) cf[0][l].push_back(float(c[0][l][i]));
  load_world(wf, cf);
  std::vector<float> fconsts(rule.consts.begin(), rule.consts.end());
  const std::vector<float> fparams = {0.01f, 1.7f};
  const auto iv =
      brz::register_interval<float>(wf, rule, regs[1], fconsts.data(), fparams.data(), 1, SIZE_MAX);
  REQUIRE(iv.has_value());
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = i + 1; j < n; ++j) {
      const float a = cf[0][7][i], b = cf[0][7][j];
      CHECK(double(std::sqrt(a * a + b * b)) <= iv->hi);
    }
}

TEST_CASE("cutoff bound of the collision rule is max r_a + max r_b", "[cells][interval]") {
  auto prog = cells_program();
  const Cols<double> init = make_state<double>(*prog, 500, 20, Layout::Random, 3);
  brz::World<double> w(prog, {500, 20});
  load_world(w, init);
  double ma = 0, mp = 0;
  for (double v : init[0][7]) ma = std::max(ma, v);
  for (double v : init[1][3]) mp = std::max(mp, v);
  const auto same = brz::cutoff_upper_bound(w, prog->rule(0), {0.01, 1.0});
  const auto cross = brz::cutoff_upper_bound(w, prog->rule(1), {0.01, 1.0});
  REQUIRE(same.has_value());
  REQUIRE(cross.has_value());
  CHECK(*same >= 2 * ma);
  CHECK(*same <= 2 * ma * (1 + 1e-12));
  CHECK(*cross >= ma + mp);
  CHECK(*cross <= (ma + mp) * (1 + 1e-12));
  const auto lj = brz::cutoff_upper_bound(w, prog->rule(2), {0.01, 1.0});
  REQUIRE(lj.has_value());
  CHECK(*lj >= 2.5);
  CHECK(*lj <= 2.5 * (1 + 1e-12));
  // Rules without a cutoff have no bound.
  CHECK_FALSE(brz::cutoff_upper_bound(w, prog->rule(6), {0.01, 1.0}).has_value());
}

// Hidden timing test ([.]): elastic collisions at number density 0.1, radius 0.5, per
// particle-step; run with `brz_tests "[.cells_timing]"`.
TEST_CASE("cell-list timing: collisions at fixed density", "[.cells_timing]") {
  auto prog = cells_program();
  for (std::size_t n : {std::size_t(10000), std::size_t(100000), std::size_t(1000000)}) {
    std::mt19937_64 rng(n);
    brz::World<double> w(prog, {n, 0});
    const double side = std::cbrt(double(n) / 0.1);
    std::uniform_real_distribution<double> u(0.0, 1.0);
    for (std::size_t i = 0; i < n; ++i) {
      for (int d = 0; d < 3; ++d) w.column(0, d)[i] = side * u(rng);
      for (int d = 3; d < 6; ++d) w.column(0, d)[i] = u(rng) - 0.5;
      w.column(0, 6)[i] = 1.0;
      w.column(0, 7)[i] = 0.5;
    }
    w.params() = {0.01, 1.0};
    brz::run_steps(w, {0, 6}, 1, 0.01);  // warm-up
    const int steps = n >= 1000000 ? 3 : 10;
    const double t0 = omp_get_wtime();
    const auto res = brz::run_steps(w, {0, 6}, steps, 0.01);
    const double t = omp_get_wtime() - t0;
    std::printf(
        "cells timing: N=%zu steps=%d %.3f s, %.1f ns per particle-step, cell sweeps %llu,"
        " pair evaluations per particle-step %.2f\n",
        n, steps, t, t / double(steps) / double(n) * 1e9,
        static_cast<unsigned long long>(neighbour_sweeps(res)),
        double(res.pair_evaluations) / double(steps) / double(n));
  }
}
