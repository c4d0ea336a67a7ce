// Periodic space (docs/engine.md, "Periodic box"): neighbour lists and grid sweeps see the same
// pairs as the all-pairs sweep of the minimum image, wrap() follows its arithmetic exactly, image
// counters are saved and restored, and a cutoff beyond half the box edge is refused.
#include <catch2/catch.hpp>
#include <cmath>
#include <limits>

#include "brz/neighbour_search.hpp"
#include "builder.hpp"

using namespace brzt;

namespace {

// Type 0: position 0..2, same-type count 3, same-type weighted sum 4, cross count 5,
// velocity 6..8. Type 1: position 0..2, cross count 3, velocity 4..6.
constexpr uint32_t kLanes0 = 9, kLanes1 = 7;

// b - a on `axis`, minimum-imaged when the axis is periodic (as the front end emits it).
uint16_t diff(RuleBuilder& r, uint16_t a, uint16_t b, int axis, bool periodic) {
  const uint16_t d = r.op(Op::SUB, b, a);
  if (!periodic) return d;
  const uint16_t len = r.box(static_cast<uint16_t>(axis));
  return r.op(Op::MINIMG, d, len, r.op(Op::DIV, r.cnst(1.0), len));
}

// Counts (and weights) the pairs closer than rc, minimum image on the periodic axes.
void count_pairs(RuleBuilder& r, uint32_t mask, double rc, uint16_t lane_b, bool same) {
  uint16_t r2 = 0;
  for (int d = 0; d < 3; ++d) {
    const uint16_t x = diff(r, r.load(0, uint16_t(d)), r.load(1, uint16_t(d)), d, mask >> d & 1);
    const uint16_t sq = r.op(Op::MUL, x, x);
    r2 = d == 0 ? sq : r.op(Op::ADD, r2, sq);
  }
  const uint16_t cut = r.cnst(rc);
  const uint16_t in = r.op(Op::LT, r2, r.op(Op::MUL, cut, cut));
  r.acc(0, same ? 3 : 5, in);
  r.acc(1, lane_b, in);
  if (same) {
    // A pair listed twice would add its weight twice.
    const uint16_t wgt = r.op(Op::MUL, in, r.op(Op::ADD, r2, r.cnst(1.0)));
    r.acc(0, 4, wgt);
    r.acc(1, 4, wgt);
  }
  r.cflag = 1;
  r.creg = cut;
}

void move(RuleBuilder& r, uint16_t vel) {
  const uint16_t dt = r.param(0);
  for (uint16_t d = 0; d < 3; ++d)
    r.store(0, d, r.op(Op::ADD, r.load(0, d), r.op(Op::MUL, r.load(0, vel + d), dt)));
}

std::shared_ptr<const brz::Program> periodic_program(uint32_t mask, double rc) {
  ProgramBuilder pb;
  pb.lanes = {kLanes0, kLanes1};
  pb.periodic_mask = mask;
  pb.coord_lane = {0, 0};
  move(pb.per_agent(0), 6);
  move(pb.per_agent(1), 4);
  count_pairs(pb.pair(0, 0), mask, rc, 3, true);
  count_pairs(pb.pair(0, 1), mask, rc, 3, false);
  return pb.build();
}

struct Setup {
  uint32_t mask;
  double lo[3], hi[3];
  double rc;
  std::size_t n0, n1;
  double speed;  // velocity scale, in box edges per unit time
};

template <class T>
void fill(brz::World<T>& w, const Setup& s, std::mt19937_64& rng) {
  std::uniform_real_distribution<double> u(0, 1);
  for (uint32_t t = 0; t < 2; ++t) {
    const uint32_t vel = t == 0 ? 6 : 4;
    for (std::size_t i = 0; i < w.count(t); ++i)
      for (int d = 0; d < 3; ++d) {
        const double len = s.hi[d] - s.lo[d];
        // A few agents start outside the box: world creation wraps them in.
        double x = s.lo[d] + u(rng) * len;
        if (i % 17 == 0) x += (u(rng) < 0.5 ? -1 : 1) * len * (1 + 2 * u(rng));
        w.set(t, uint32_t(d), i, x);
        w.set(t, vel + uint32_t(d), i, (u(rng) - 0.5) * s.speed * len);
      }
  }
  w.wrap_all();
}

// Runs `steps` steps with neighbour search and with all pairs; the counts agree exactly.
template <class T>
void compare(const Setup& s, uint64_t seed, uint64_t steps) {
  auto prog = periodic_program(s.mask, s.rc);
  std::mt19937_64 rng(seed);
  brz::World<T> a(prog, {s.n0, s.n1}), b(prog, {s.n0, s.n1});
  a.set_box(s.lo, s.hi);
  b.set_box(s.lo, s.hi);
  fill(a, s, rng);
  std::mt19937_64 rng2(seed);
  fill(b, s, rng2);
  brz::ExecOptions search, all;
  search.search_min_pairs = 0;
  search.search_max_fraction = 1.0;
  all.neighbour_search = false;
  const brz::RunStepsResult rs = brz::run_steps(a, {0, 1, 2, 3}, steps, 0.05, search);
  brz::run_steps(b, {0, 1, 2, 3}, steps, 0.05, all);
  INFO("mask " << s.mask << " rc " << s.rc << " n " << s.n0 << "/" << s.n1 << " f" << sizeof(T) * 8
               << " seed " << seed);
  // Where the stencil visits a short axis's cells more than once, a rebuild may count more
  // candidates than there are pairs and sweep all pairs instead; the first build never does.
  CHECK(neighbour_sweeps(rs) >= 2);
  std::size_t mismatches = 0;
  double worst = 0;
  for (uint32_t t = 0; t < 2; ++t)
    for (std::size_t i = 0; i < a.count(t); ++i) {
      for (uint32_t d = 0; d < 3; ++d) mismatches += a.get(t, d, i) != b.get(t, d, i);
      const std::vector<uint32_t> counts =
          t == 0 ? std::vector<uint32_t>{3, 5} : std::vector<uint32_t>{3};
      for (uint32_t l : counts) mismatches += a.get(t, l, i) != b.get(t, l, i);
      if (t == 0) {
        const double x = a.get(0, 4, i), y = b.get(0, 4, i);
        worst = std::max(worst, std::fabs(x - y) / std::max(1.0, std::fabs(y)));
      }
      for (int d = 0; d < 3; ++d) mismatches += a.images(t)[i * 3 + d] != b.images(t)[i * 3 + d];
    }
  CHECK(mismatches == 0);
  CHECK(worst < (sizeof(T) == 8 ? 1e-12 : 1e-4));
  // Something was counted: the cutoffs are not vacuous.
  double total = 0;
  for (std::size_t i = 0; i < a.count(0); ++i) total += a.get(0, 3, i) + a.get(0, 5, i);
  CHECK(total > 0);
}

Setup random_setup(std::mt19937_64& rng, uint32_t mask, double rc_fraction, std::size_t n0,
                   std::size_t n1) {
  std::uniform_real_distribution<double> u(0, 1);
  Setup s{};
  s.mask = mask;
  double min_len = INFINITY;
  for (int d = 0; d < 3; ++d) {
    const double len = 2 + 8 * u(rng);
    s.lo[d] = -20 + 40 * u(rng);
    s.hi[d] = s.lo[d] + len;
    if (mask >> d & 1) min_len = std::min(min_len, len);
  }
  s.rc = rc_fraction * min_len;
  s.n0 = n0;
  s.n1 = n1;
  s.speed = 0.05;
  return s;
}

}  // namespace

TEST_CASE("periodic lists and grids equal the all-pairs minimum image", "[periodic]") {
  std::mt19937_64 rng(42);
  const uint32_t masks[] = {7, 3, 5, 1};
  // Cutoffs from a small fraction of the shortest periodic edge to just under half of it
  // (stencils wider than the grid), sparse to dense.
  const double fractions[] = {0.08, 0.2, 0.33, 0.4999};
  const std::size_t sizes[][2] = {{150, 60}, {700, 200}, {2000, 300}};
  uint64_t seed = 1;
  for (uint32_t mask : masks)
    for (double f : fractions)
      for (const auto& n : sizes) {
        const Setup s = random_setup(rng, mask, f, n[0], n[1]);
        compare<double>(s, seed, 4);
        compare<float>(s, seed + 1000, 4);
        ++seed;
      }
}

TEST_CASE("periodic lists stay exact as agents cross the box for many steps", "[periodic]") {
  std::mt19937_64 rng(7);
  for (uint32_t mask : {7u, 3u}) {
    Setup s = random_setup(rng, mask, 0.15, 1500, 300);
    s.speed = 0.5;  // several crossings per agent
    compare<double>(s, 99, 40);
    compare<float>(s, 98, 40);
    s.speed = 0.002;  // lists reused for many steps across the wrap
    compare<double>(s, 97, 40);
  }
}

TEST_CASE("wrap follows the documented arithmetic and counts images", "[periodic][wrap]") {
  ProgramBuilder pb;
  pb.lanes = {4, 2};
  pb.periodic_mask = 0b101;
  pb.coord_lane = {1, brz::kNoCoord};
  auto prog = pb.build();
  const double lo[3] = {-1.25, 0, 3}, hi[3] = {2.5, 1, 3.1};
  const double xs[] = {-1.25, 2.5,  2.4999999999, -1.2500000001, 1e6,       -1e6,
                       1e300, -7.5, 10.0,         3.05,          3.1,       2.99,
                       0.0,   -0.0, NAN,          INFINITY,      -INFINITY, 3.75 * 1e9 + 0.1};
  auto reference = [&](double x, int d, bool f32, int64_t& k) {
    k = 0;
    if (!std::isfinite(x) || (lo[d] <= x && x < hi[d])) return x;
    const double len = hi[d] - lo[d];
    double kf = std::floor((x - lo[d]) / len);
    double y = x - kf * len;
    if (y >= hi[d]) {
      y -= len;
      kf += 1;
    }
    if (y < lo[d]) y = lo[d];
    k = kf >= 9.2e18 ? INT64_MAX : kf <= -9.2e18 ? INT64_MIN : static_cast<int64_t>(kf);
    double stored = f32 ? double(float(y)) : y;
    if (stored >= hi[d]) stored = f32 ? double(float(lo[d])) : lo[d];
    return stored;
  };
  auto check = [&](auto tag) {
    using T = decltype(tag);
    const bool f32 = sizeof(T) == 4;
    const std::size_t n = std::size(xs);
    brz::World<T> w(prog, {n, 3});
    w.set_box(lo, hi);
    for (std::size_t i = 0; i < n; ++i)
      for (uint32_t d = 0; d < 3; ++d) w.set(0, 1 + d, i, xs[(i + d) % n]);
    // Twice: the second wrap changes nothing.
    for (int pass = 0; pass < 2; ++pass) {
      w.wrap_all();
      for (std::size_t i = 0; i < n; ++i)
        for (int d = 0; d < 3; ++d) {
          const double given = f32 ? double(float(xs[(i + d) % n])) : xs[(i + d) % n];
          int64_t k = 0;
          const double expect = (pb.periodic_mask >> d & 1) ? reference(given, d, f32, k) : given;
          const double got = w.get(0, uint32_t(1 + d), i);
          INFO("f" << sizeof(T) * 8 << " x " << given << " axis " << d);
          if (std::isnan(expect))
            CHECK(std::isnan(got));
          else
            CHECK(got == expect);
          CHECK(w.images(0)[i * 3 + d] == k);
          if (std::isfinite(got) && (pb.periodic_mask >> d & 1)) {
            CHECK(got >= lo[d]);
            CHECK(got < hi[d]);
          }
        }
    }
    CHECK(w.images(1).empty());  // a type without coordinates has none
  };
  check(double{});
  check(float{});
}

TEST_CASE("unwrapped reads add the crossings back", "[periodic][wrap]") {
  ProgramBuilder pb;
  pb.lanes = {4};
  pb.periodic_mask = 0b011;
  pb.coord_lane.assign(1, 0);
  auto prog = pb.build();
  const double lo[3] = {0, -1, 0}, hi[3] = {2, 1, 5};
  brz::World<double> w(prog, {2});
  w.set_box(lo, hi);
  const double given[2][4] = {{5.5, -3.25, 7.0, 9.0}, {-0.5, 0.5, -2.0, 1.0}};
  for (std::size_t i = 0; i < 2; ++i)
    for (uint32_t l = 0; l < 4; ++l) w.set(0, l, i, given[i][l]);
  CHECK(w.wrap_all());
  CHECK_FALSE(w.wrap_all());
  double wrapped[8], unwrapped[8];
  w.pack(0, 0, 4, wrapped);
  w.pack_unwrapped(0, 0, 4, unwrapped);
  CHECK(wrapped[0] == 1.5);
  CHECK(wrapped[1] == 0.75);
  CHECK(wrapped[2] == 7.0);  // z is open
  CHECK(wrapped[4] == 1.5);
  for (std::size_t i = 0; i < 2; ++i)
    for (std::size_t l = 0; l < 4; ++l) CHECK(unwrapped[i * 4 + l] == given[i][l]);
  // A lane range that starts inside the coordinates.
  double yz[4];
  w.pack_unwrapped(0, 1, 2, yz);
  CHECK(yz[0] == -3.25);
  CHECK(yz[1] == 7.0);
  CHECK(yz[2] == 0.5);
}

TEST_CASE("save and restore undo the image counters with the coordinates", "[periodic][wrap]") {
  auto prog = periodic_program(7, 0.5);
  const double lo[3] = {0, 0, 0}, hi[3] = {4, 4, 4};
  brz::World<double> w(prog, {50, 10});
  w.set_box(lo, hi);
  std::mt19937_64 rng(3);
  Setup s{7, {0, 0, 0}, {4, 4, 4}, 0.5, 50, 10, 2.0};
  fill(w, s, rng);
  const std::vector<int64_t> images0 = w.images(0), images1 = w.images(1);
  std::vector<double> x0(50);
  for (std::size_t i = 0; i < 50; ++i) x0[i] = w.get(0, 0, i);
  brz::WorldSnapshot snap;
  w.save(snap, {{0, 1, 2}, {}});
  brz::run_steps(w, {0, 2}, 10, 0.5);
  CHECK(w.images(0) != images0);  // fast agents crossed
  w.restore(snap);
  CHECK(w.images(0) == images0);
  CHECK(w.images(1) == images1);
  for (std::size_t i = 0; i < 50; ++i) CHECK(w.get(0, 0, i) == x0[i]);
  // Lanes that are not coordinates leave the counters alone.
  w.save(snap, {{3}, {}});
  brz::run_steps(w, {0}, 3, 0.5);
  const std::vector<int64_t> moved = w.images(0);
  w.restore(snap);
  CHECK(w.images(0) == moved);
}

TEST_CASE("a cutoff beyond half the box edge is refused", "[periodic]") {
  const double lo[3] = {1, 1, 1}, hi[3] = {11, 5, 11};  // y is 4 long
  for (bool search : {true, false}) {
    auto prog = periodic_program(3, 2.5);  // periodic x and y: 2.5 > 4 / 2
    brz::World<double> w(prog, {200, 20});
    w.set_box(lo, hi);
    std::mt19937_64 rng(5);
    Setup s{3, {1, 1, 1}, {11, 5, 11}, 2.5, 200, 20, 0.01};
    fill(w, s, rng);
    brz::ExecOptions o;
    o.neighbour_search = search;
    try {
      brz::run_steps(w, {2}, 1, 0.1, o);
      FAIL("no CutoffError");
    } catch (const brz::CutoffError& e) {
      CHECK(e.rule == 2);
      CHECK(e.bound >= 2.5);
      CHECK(e.axis == 1);
      CHECK(e.len == 4.0);
    }
    // The same cutoff on a slab whose short axis is open is fine.
    auto open_y = periodic_program(5, 2.5);
    brz::World<double> v(open_y, {200, 20});
    v.set_box(lo, hi);
    CHECK_NOTHROW(brz::run_steps(v, {2, 3}, 1, 0.1, o));
  }
  // A periodic program needs a box.
  brz::World<double> nobox(periodic_program(7, 0.5), {3, 3});
  CHECK_THROWS_AS(brz::run_steps(nobox, {0}, 1, 0.1), brz::ArgumentError);
  brz::World<double> bad(periodic_program(7, 0.5), {3, 3});
  const double flat[3] = {1, 5, 1};
  CHECK_THROWS_AS(bad.set_box(lo, flat), brz::ArgumentError);
}
