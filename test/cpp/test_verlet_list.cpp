// Verlet neighbour lists (include/brz/neighbour_verlet_list.hpp) built directly: every pair
// within reach listed exactly once, slot 0 the lower caller index, each sub-list sorted by
// slot-0 row within the rows it declares, the same lists from the scalar and the AVX-512
// candidate filters, and sweeps of threaded lists that sum their accumulators exactly.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <set>
#include <utility>
#include <vector>

#include "brz/isa.hpp"
#include "brz/neighbour_verlet_list.hpp"
#include "builder.hpp"

using namespace brzt;

namespace {

// Lane 3 of type 0: the sum of r^2 (slot 0 only), or with `count`, the number of neighbours
// within rc (both slots).
std::shared_ptr<const brz::Program> list_program(uint32_t mask, double rc, bool count = false) {
  ProgramBuilder pb;
  pb.lanes = {4};
  pb.periodic_mask = mask;
  pb.coord_lane = {0};
  auto& r = pb.pair(0, 0);
  uint16_t r2 = 0;
  for (uint16_t d = 0; d < 3; ++d) {
    uint16_t x = r.op(Op::SUB, r.load(1, d), r.load(0, d));
    if (mask >> d & 1) {
      const uint16_t len = r.box(d);
      x = r.op(Op::MINIMG, x, len, r.op(Op::DIV, r.cnst(1.0), len));
    }
    const uint16_t sq = r.op(Op::MUL, x, x);
    r2 = d == 0 ? sq : r.op(Op::ADD, r2, sq);
  }
  const uint16_t cut = r.cnst(rc);
  if (count) {
    const uint16_t in = r.op(Op::LT, r2, r.op(Op::MUL, cut, cut));
    r.acc(0, 3, in);
    r.acc(1, 3, in);
  } else {
    r.acc(0, 3, r2);
  }
  r.cflag = 1;
  r.creg = cut;
  return pb.build();
}

using Pairs = std::vector<std::pair<std::size_t, std::size_t>>;

// The list as (slot 0, slot 1) caller indices, sub-list after sub-list, after checking its
// structure: every pair inside its sub-list's rows, each sub-list sorted by slot-0 row (also
// after VerletLists::rows_moved merged children's pairs in).
template <class T>
Pairs listed(const brz::World<T>& w, const brz::NeighbourList<T>& L) {
  Pairs out;
  for (int t = 0; t < L.threads; ++t) {
    const uint32_t* li = L.li[t].data();
    const uint32_t* lj = L.lj[t].data();
    std::size_t bad = 0;
    for (std::size_t k = 0; k < L.count[t]; ++k) {
      bad += li[k] < L.lo[t] || li[k] >= L.hi[t] || lj[k] < L.lo[t] || lj[k] >= L.hi[t];
      bad += k > 0 && li[k - 1] > li[k];
      const std::size_t a = w.agent_at(0, li[k]), b = w.agent_at(0, lj[k]);
      bad += a >= b;
      out.emplace_back(a, b);
    }
    CHECK(bad == 0);
  }
  return out;
}

// Each unordered pair listed at most once; every pair within rc listed; none beyond the skin.
template <class T>
void check_complete(const brz::World<T>& w, const Pairs& got, uint32_t mask, double len,
                    double rc) {
  std::set<std::pair<std::size_t, std::size_t>> seen(got.begin(), got.end());
  REQUIRE(seen.size() == got.size());
  const std::size_t n = w.count(0);
  std::size_t within = 0, missing = 0, beyond = 0;
  const double far2 = std::pow(rc * (1 + brz::kSkinFraction) * (1 + 1e-6), 2);
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = i + 1; j < n; ++j) {
      double r2 = 0;
      for (uint32_t d = 0; d < 3; ++d) {
        double x = w.get(0, d, j) - w.get(0, d, i);
        if (mask >> d & 1) x -= len * std::nearbyint(x / len);
        r2 += x * x;
      }
      const bool listed_pair = seen.count({i, j}) > 0;
      within += r2 < rc * rc * (1 - 1e-6);
      missing += r2 < rc * rc * (1 - 1e-6) && !listed_pair;
      beyond += r2 > far2 && listed_pair;
    }
  CHECK(missing == 0);
  CHECK(beyond == 0);
  CHECK(within > 0);
}

template <class T>
void check(uint32_t mask, std::size_t n, double len, double rc, int threads, uint64_t seed) {
  INFO("mask " << mask << " n " << n << " len " << len << " rc " << rc << " threads " << threads
               << " f" << sizeof(T) * 8 << " seed " << seed);
  auto prog = list_program(mask, rc);
  brz::World<T> w(prog, {n});
  const double lo[3] = {-1, 2, 0.5}, hi[3] = {-1 + len, 2 + len, 0.5 + len};
  w.set_box(lo, hi);
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0, 1);
  for (std::size_t i = 0; i < n; ++i)
    for (uint32_t d = 0; d < 3; ++d) w.set(0, d, i, lo[d] + u(rng) * len);
  brz::ExecOptions o;
  o.list_parallel_threshold = 0;  // one sub-list per thread
  o.search_max_fraction = 1.0;
  brz::RunStepsResult stats;
  const brz::Rule& r = w.program().rule(0);
  brz::VerletLists<T> narrow, wide;
  for (int build = 0; build < 3; ++build) {
    // Moves every agent by more than the skin: each prepare builds.
    if (build > 0)
      for (std::size_t i = 0; i < n; ++i)
        for (uint32_t d = 0; d < 3; ++d) {
          double x = w.get(0, d, i) + (u(rng) - 0.5) * 0.6 * rc;
          if (mask >> d & 1) x = x < lo[d] ? x + len : x >= hi[d] ? x - len : x;
          w.set(0, d, i, x);
        }
    o.sweeps = brz::sweeps_for("sse2");
    const brz::NeighbourList<T>* a = narrow.prepare(w, r, rc, threads, o, stats);
    const brz::SweepSet* ks = brz::sweeps_for("avx512");
    if (a == nullptr) {
      // Where the stencil visits a short axis's cells more than once, a rebuild may count more
      // candidates than there are pairs and give up; the first build never does.
      REQUIRE(build > 0);
      o.sweeps = ks;
      if (ks) CHECK(wide.prepare(w, r, rc, threads, o, stats) == nullptr);
      continue;
    }
    const Pairs got = listed(w, *a);
    check_complete(w, got, mask, len, rc);
    if (ks) {
      o.sweeps = ks;
      const brz::NeighbourList<T>* b = wide.prepare(w, r, rc, threads, o, stats);
      REQUIRE(b != nullptr);
      CHECK(listed(w, *b) == got);
    }
  }
}

// A list built once, then agents removed and spawned (some next to others, some anywhere,
// some outside an open box) round after round: the list follows the rows without a rebuild,
// and still lists every pair within reach once, oriented by caller index.
template <class T>
void check_follows(uint32_t mask, std::size_t n, double len, double rc, int threads,
                   uint64_t seed) {
  INFO("mask " << mask << " n " << n << " threads " << threads << " f" << sizeof(T) * 8 << " seed "
               << seed);
  auto prog = list_program(mask, rc);
  brz::World<T> w(prog, {n});
  const double lo[3] = {0, 0, 0}, hi[3] = {len, len, len};
  w.set_box(lo, hi);
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0, 1);
  for (std::size_t i = 0; i < n; ++i)
    for (uint32_t d = 0; d < 3; ++d) w.set(0, d, i, u(rng) * len);
  brz::ExecOptions o;
  o.list_parallel_threshold = 0;
  o.search_max_fraction = 1.0;
  brz::RunStepsResult stats;
  const brz::Rule& r = w.program().rule(0);
  brz::VerletLists<T> lists;
  REQUIRE(lists.prepare(w, r, rc, threads, o, stats) != nullptr);
  REQUIRE(stats.neighbour_builds == 1);
  REQUIRE_FALSE(w.in_caller_order(0));  // the build sorted the rows by cell
  for (int round = 0; round < 6; ++round) {
    INFO("round " << round);
    const std::size_t had = w.count(0);
    std::vector<uint8_t> dead;
    if (round % 2 == 0) {
      dead.assign(had, 0);
      for (std::size_t k = 0; k < had; ++k) dead[k] = u(rng) < 0.1 ? 1 : 0;
    }
    std::vector<brz::WorldBase::Spawned> kids(1);
    if (round != 2) {
      for (int q = 0; q < 40; ++q) {
        // Next to an agent (within reach of it and its neighbours), or anywhere; a few past
        // the box's far side (an open axis lets them be there).
        const std::size_t near = std::size_t(u(rng) * double(had));
        for (uint32_t d = 0; d < 3; ++d) {
          double x = q % 3 == 0 ? u(rng) * len : w.get(0, d, near) + (u(rng) - 0.5) * rc;
          if (q % 7 == 0 && !(mask >> d & 1)) x = len + u(rng) * rc;
          if (mask >> d & 1) x = x < 0 ? x + len : x >= len ? x - len : x;
          kids[0].values.push_back(x);
        }
        kids[0].values.push_back(0.0);
        ++kids[0].n;
      }
    }
    // From round 3 on, the children go to the rows of their cells' order (birth_rows), as the
    // executor places them.
    if (round >= 3) {
      kids[0].rows = lists.birth_rows(w, 0, kids[0]);
      CHECK(kids[0].rows.size() == kids[0].n);
    }
    lists.rows_moved(w, w.apply_lifecycle(0, dead, kids));
    const brz::NeighbourList<T>* L = lists.prepare(w, r, rc, threads, o, stats);
    REQUIRE(L != nullptr);
    CHECK(stats.neighbour_builds == 1);
    check_complete(w, listed(w, *L), mask, len, rc);
  }
}

}  // namespace

TEST_CASE("a Verlet list follows removals and spawns without a rebuild", "[list][lifecycle]") {
  uint64_t seed = 11;
  for (uint32_t mask : {7u, 0u, 5u})
    for (int threads : {1, 2}) {
      check_follows<double>(mask, 1200, 8.0, 1.3, threads, seed);
      check_follows<float>(mask, 700, 6.0, 1.1, threads, seed + 50);
      ++seed;
    }
  // A box a few cells wide, where the stencil wraps onto itself.
  check_follows<double>(7, 300, 4.0, 1.9, 2, 99);
}

TEST_CASE("Verlet lists list every pair within reach once, oriented and sorted", "[list]") {
  uint64_t seed = 1;
  for (uint32_t mask : {7u, 0u, 5u})
    for (int threads : {1, 2, 3})
      for (const double rc : {0.7, 1.9}) {
        check<double>(mask, 1500, 8.0, rc, threads, seed);
        check<float>(mask, 900, 6.0, rc, threads, seed + 100);
        ++seed;
      }
  // A box a few cells wide, where the stencil wraps onto itself.
  check<double>(7, 400, 4.0, 1.9, 2, 77);
}

TEST_CASE("threaded list sweeps of many rows sum every neighbour", "[list]") {
  // Enough rows that the sweep's threads also sum the accumulators.
  const std::size_t n = 6000;
  const double len = 20, rc = 1.5;
  for (uint32_t mask : {7u, 0u}) {
    INFO("mask " << mask);
    auto prog = list_program(mask, rc, true);
    brz::World<double> a(prog, {n}), b(prog, {n});
    const double lo[3] = {0, 0, 0}, hi[3] = {len, len, len};
    a.set_box(lo, hi);
    b.set_box(lo, hi);
    std::mt19937_64 rng(5);
    std::uniform_real_distribution<double> u(0, len);
    for (std::size_t i = 0; i < n; ++i)
      for (uint32_t d = 0; d < 3; ++d) {
        const double x = u(rng);
        a.set(0, d, i, x);
        b.set(0, d, i, x);
      }
    brz::ExecOptions list, all;
    list.max_threads = 2;
    list.pair_parallel_threshold = list.list_parallel_threshold = 0;
    all.neighbour_search = false;
    const brz::RunStepsResult rs = brz::run_steps(a, {0}, 3, 0.01, list);
    brz::run_steps(b, {0}, 3, 0.01, all);
    CHECK(rs.on(brz::RulePath::ListInterpreter) + rs.on(brz::RulePath::ListBlockKernel) +
              rs.on(brz::RulePath::ListKernel) ==
          3);
    std::size_t mismatches = 0;
    double total = 0;
    for (std::size_t i = 0; i < n; ++i) {
      mismatches += a.get(0, 3, i) != b.get(0, 3, i);
      total += a.get(0, 3, i);
    }
    CHECK(mismatches == 0);
    CHECK(total > n);
  }
}
