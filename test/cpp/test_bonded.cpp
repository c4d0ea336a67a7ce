// Bonded rules, exclusions and dangling references (docs/program.md "Bonded rules",
// docs/engine.md "Bonded rules", "Exclusions"): the bonded sweep against a scalar reference
// written from the spec, on both precisions, one and two threads, counts around the chunk and
// the SIMD width, and reordered rows; a reference to no living agent; the neighbour list and the
// all-pairs sweep with exclusions against brute force; a removed bead taking its bonds along.
#include <algorithm>
#include <array>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <random>
#include <set>
#include <type_traits>
#include <utility>
#include <vector>

#include "brz/error.hpp"
#include "builder.hpp"

using namespace brzt;

namespace {

// Beads (type 0; lanes: x 0, v 1, peak 2), springs (type 1; a 0, b 1, own 2) and angles
// (type 2; a 0, b 1, c 2, own 3).
//   rule 0 (spring): d = b.x - a.x; a.v = a.v + d/2 (STORE through a reference); b.v += -d/2
//     (ACC); a.peak = max(a.peak, d) (ACCMAX); own = d * d (slot-0 STORE).
//   rule 1 (angle): u = a.x - b.x, w = c.x - b.x; a.v += u, c.v += w (ACC);
//     b.v = b.v - u - w (STORE); own = u * w.
ProgramBuilder bonded_program() {
  ProgramBuilder pb;
  pb.lanes = {3, 3, 4};
  {
    auto& r = pb.bonded(1, {{0, 0}, {1, 0}});
    const uint16_t d = r.op(Op::SUB, r.load(2, 0), r.load(1, 0));
    const uint16_t half = r.op(Op::MUL, d, r.cnst(0.5));
    r.store(1, 1, r.op(Op::ADD, r.load(1, 1), half));
    r.acc(2, 1, r.op(Op::NEG, half));
    r.accmax(1, 2, d);
    r.store(0, 2, r.op(Op::MUL, d, d));
  }
  {
    auto& r = pb.bonded(2, {{0, 0}, {1, 0}, {2, 0}});
    const uint16_t xb = r.load(2, 0);
    const uint16_t u = r.op(Op::SUB, r.load(1, 0), xb);
    const uint16_t w = r.op(Op::SUB, r.load(3, 0), xb);
    r.acc(1, 1, u);
    r.acc(3, 1, w);
    r.store(2, 1, r.op(Op::SUB, r.op(Op::SUB, r.load(2, 1), u), w));
    r.store(0, 3, r.op(Op::MUL, u, w));
  }
  return pb;
}

// Rule `id` (bonded) on `cols` as the spec says: every bond in order reads the rule's start
// values through its references; a slot-0 store sets the bond's lane; a store through a
// reference adds (value - start), an ACC its value, an ACCMAX reduces; the sums and
// reductions are applied once every bond is done. Identities are caller indices.
template <class T>
void ref_bonded(const brz::Program& p, uint32_t id, Cols<T>& cols) {
  const brz::Rule& r = p.rule(id);
  const Cols<T> start = cols;
  Cols<T> acc = cols;
  std::vector<std::vector<std::vector<uint8_t>>> touched(cols.size());
  for (uint32_t t = 0; t < cols.size(); ++t) {
    touched[t].assign(cols[t].size(), std::vector<uint8_t>(cols[t][0].size(), 0));
    for (auto& lane : acc[t]) std::fill(lane.begin(), lane.end(), T(-0.0));
  }
  std::vector<T> reg(r.n_regs);
  const std::size_t n = cols[r.type_a][0].size();
  for (std::size_t i = 0; i < n; ++i) {
    std::vector<std::size_t> at = {i};
    for (const brz::RefSlot& ref : r.refs)
      at.push_back(static_cast<std::size_t>(start[r.type_a][ref.lane][i]));
    for (const brz::Instr& in : r.instrs) {
      switch (in.op) {
        case Op::CONST:
          reg[in.dst] = static_cast<T>(r.consts[in.a]);
          break;
        case Op::LOAD:
          reg[in.dst] = start[r.slot_type(in.a)][in.b][at[in.a]];
          break;
        case Op::STORE:
        case Op::ACC:
        case Op::ACCMAX: {
          const uint32_t t = r.slot_type(in.a);
          const std::size_t k = at[in.a];
          const T v = reg[in.c];
          if (in.a == 0) {
            cols[t][in.b][k] = v;
          } else if (in.op == Op::ACCMAX) {
            T& m = acc[t][in.b][k];
            m = touched[t][in.b][k] ? std::max(m, v) : v;
          } else {
            acc[t][in.b][k] += in.op == Op::ACC ? v : T(v - start[t][in.b][k]);
          }
          touched[t][in.b][k] = 1;
          break;
        }
        default:
          reg[in.dst] = ref_op<T>(in.op, reg[in.a], reg[in.b], reg[in.c]);
      }
    }
  }
  std::set<std::pair<uint32_t, uint16_t>> applied;  // one accumulator per (type, lane)
  for (const brz::StoreRef& st : r.stores) {
    const uint32_t t = r.slot_type(st.slot);
    if (st.slot == 0 || !applied.insert({t, st.lane}).second) continue;
    for (std::size_t k = 0; k < cols[t][st.lane].size(); ++k) {
      if (!touched[t][st.lane][k]) continue;
      const T a = acc[t][st.lane][k];
      T& v = cols[t][st.lane][k];
      v = st.reduce == brz::kReduceMax ? std::max(v, T(a + T(0))) : T(v + a);
    }
  }
}

// Random beads and bonds: references are bead indices (identities of a world whose agents
// never changed), bead 0 in many bonds.
template <class T>
Cols<T> bonded_cols(const brz::Program& p, std::size_t beads, std::size_t springs,
                    std::size_t angles, std::mt19937_64& rng) {
  Cols<T> c = random_cols<T>(p, {beads, springs, angles}, rng);
  std::uniform_int_distribution<std::size_t> pick(0, beads - 1);
  for (uint32_t t = 1; t < 3; ++t)
    for (uint32_t l = 0; l < t + 1; ++l)
      for (std::size_t i = 0; i < c[t][l].size(); ++i) c[t][l][i] = T(i % 5 == 0 ? 0 : pick(rng));
  return c;
}

// A random permutation of 0 .. n - 1.
std::vector<uint32_t> shuffled(std::size_t n, std::mt19937_64& rng) {
  std::vector<uint32_t> perm(n);
  for (uint32_t k = 0; k < n; ++k) perm[k] = k;
  std::shuffle(perm.begin(), perm.end(), rng);
  return perm;
}

}  // namespace

TEMPLATE_TEST_CASE("bonded: two and three references equal the scalar reference", "[bonded]",
                   double, float) {
  const ProgramBuilder pb = bonded_program();
  const auto prog = pb.build();
  const double tol = std::is_same<TestType, double>::value ? 1e-12 : 1e-5;
  std::mt19937_64 rng(41);
  for (std::size_t n : {1, 7, 4097, 9000})
    for (int threads : {1, 2})
      for (bool reorder : {false, true}) {
        INFO("bonds " << n << ", threads " << threads << ", reordered " << reorder);
        const std::size_t beads = std::max<std::size_t>(3, n / 2 + 1);
        Cols<TestType> cols = bonded_cols<TestType>(*prog, beads, n, n / 3 + 1, rng);
        brz::World<TestType> w(prog, {beads, n, n / 3 + 1});
        load_world(w, cols);
        if (reorder)
          for (uint32_t t = 0; t < 3; ++t) w.reorder(t, shuffled(w.count(t), rng).data());
        brz::ExecOptions o;
        o.max_threads = threads;
        const brz::RunStepsResult res = brz::run_steps(w, {0, 1}, 1, 0.01, o);
        CHECK(res.on(brz::RulePath::BondedInterpreter) == 2);
        ref_bonded(*prog, 0, cols);
        ref_bonded(*prog, 1, cols);
        CHECK(max_scaled_err(w, cols) <= tol);
      }
}

TEST_CASE("bonded: the sums do not depend on the threads or the rows' order", "[bonded]") {
  const auto prog = bonded_program().build();
  std::mt19937_64 rng(42);
  const Cols<double> cols = bonded_cols<double>(*prog, 3000, 9000, 4000, rng);
  auto run = [&](int threads, bool reorder) {
    brz::World<double> w(prog, {3000, 9000, 4000});
    load_world(w, cols);
    if (reorder) w.reorder(0, shuffled(3000, rng).data());
    brz::ExecOptions o;
    o.max_threads = threads;
    brz::run_steps(w, {0, 1}, 1, 0.01, o);
    std::vector<double> out;
    for (uint32_t l = 0; l < 3; ++l)
      for (std::size_t i = 0; i < 3000; ++i) out.push_back(w.column(0, l)[w.row(0, i)]);
    return out;
  };
  const std::vector<double> one = run(1, false);
  CHECK(run(2, false) == one);
  CHECK(run(2, true) == one);
}

TEST_CASE("bonded: a reference to no living agent is an ArgumentError", "[bonded]") {
  const auto prog = bonded_program().build();
  std::mt19937_64 rng(43);
  for (double bad : {10.0, -1.0, 2.5, double(NAN)}) {
    INFO("reference " << bad);
    const Cols<double> cols = bonded_cols<double>(*prog, 10, 7, 3, rng);
    brz::World<double> w(prog, {10, 7, 3});
    load_world(w, cols);
    w.column(1, 1)[5] = bad;
    CHECK_THROWS_AS(brz::run_steps(w, {0}, 1, 0.01), brz::ArgumentError);
    // the step is undone: the beads keep their values
    for (std::size_t i = 0; i < 10; ++i) CHECK(w.column(0, 1)[w.row(0, i)] == cols[0][1][i]);
  }
}

namespace {

// Points (type 0; lanes: position 0-2, count 3, sum 4) and bonds (type 1; a 0, b 1). Rule 0,
// same-type with cutoff 0.3 and `exclude` type 1: a pair within the cutoff adds 1 to both
// counts and each one's x to the other's sum.
ProgramBuilder excluding_program() {
  ProgramBuilder pb;
  pb.lanes = {5, 2};
  pb.coord_lane = {0};
  auto& r = pb.pair(0, 0);
  const uint16_t c = r.cnst(0.3);
  uint16_t r2 = 0;
  for (uint16_t k = 0; k < 3; ++k) {
    const uint16_t d = r.op(Op::SUB, r.load(0, k), r.load(1, k));
    const uint16_t dd = r.op(Op::MUL, d, d);
    r2 = k == 0 ? dd : r.op(Op::ADD, r2, dd);
  }
  const uint16_t near = r.op(Op::LT, r2, r.op(Op::MUL, c, c));
  const uint16_t zero = r.cnst(0.0);
  r.acc(0, 3, near);
  r.acc(1, 3, near);
  r.acc(0, 4, r.op(Op::SELECT, near, r.load(1, 0), zero));
  r.acc(1, 4, r.op(Op::SELECT, near, r.load(0, 0), zero));
  r.cflag = 1;
  r.creg = c;
  r.exclude_type = 1;
  r.exclude_lanes = {0, 1};
  return pb;
}

}  // namespace

TEST_CASE("exclusions: the neighbour list and all pairs skip exactly the bonded pairs",
          "[bonded]") {
  const auto prog = excluding_program().build();
  std::mt19937_64 rng(44);
  std::uniform_real_distribution<double> pos(0.0, 3.0);
  const std::size_t n = 2000;
  std::vector<std::array<double, 3>> x(n);
  for (auto& p : x) p = {pos(rng), pos(rng), pos(rng)};
  auto near = [&](std::size_t i, std::size_t j) {
    double r2 = 0;
    for (int k = 0; k < 3; ++k) r2 += (x[i][k] - x[j][k]) * (x[i][k] - x[j][k]);
    return r2 < 0.3 * 0.3;
  };
  // Bonds: every other pair within the cutoff (both orders of the references), and pairs
  // beyond it, which exclude nothing that counts.
  std::vector<std::pair<uint32_t, uint32_t>> bonds;
  std::set<std::pair<std::size_t, std::size_t>> excluded;
  std::size_t seen = 0;
  for (uint32_t i = 0; i < n; ++i)
    for (uint32_t j = i + 1; j < n; ++j)
      if (near(i, j) && seen++ % 2 == 0) {
        bonds.emplace_back(seen % 4 == 1 ? std::make_pair(i, j) : std::make_pair(j, i));
        excluded.insert({i, j});
      }
  for (uint32_t i = 0; i + 500 < n; i += 7) bonds.emplace_back(i, i + 500);
  REQUIRE(excluded.size() > 1000);

  std::vector<double> count(n, 0.0), sum(n, 0.0);
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = i + 1; j < n; ++j)
      if (near(i, j) && !excluded.count({i, j})) {
        count[i] += 1;
        count[j] += 1;
        sum[i] += x[j][0];
        sum[j] += x[i][0];
      }

  for (bool search : {true, false})
    for (int threads : {1, 2}) {
      INFO("neighbour search " << search << ", threads " << threads);
      brz::World<double> w(prog, {n, bonds.size()});
      for (std::size_t i = 0; i < n; ++i)
        for (int k = 0; k < 3; ++k) w.column(0, k)[i] = x[i][k];
      for (std::size_t b = 0; b < bonds.size(); ++b) {
        w.column(1, 0)[b] = bonds[b].first;
        w.column(1, 1)[b] = bonds[b].second;
      }
      brz::ExecOptions o;
      o.max_threads = threads;
      o.search_min_pairs = 0;
      o.neighbour_search = search;
      o.list_parallel_threshold = 0;
      const brz::RunStepsResult res = brz::run_steps(w, {0}, 1, 0.01, o);
      CHECK((search ? neighbour_sweeps(res) : all_pairs_sweeps(res)) == 1);
      for (std::size_t i = 0; i < n; ++i) {
        INFO("point " << i);
        CHECK(w.column(0, 3)[w.row(0, i)] == count[i]);
        CHECK(std::fabs(w.column(0, 4)[w.row(0, i)] - sum[i]) <= 1e-12 * (1 + sum[i]));
      }
    }
}

TEST_CASE("dangling references: a removed bead takes its bonds along", "[bonded]") {
  // Beads (type 0; lanes: x 0, life 1), bonds (type 1; a 0, b 1, length 2), chains of bonds
  // (type 2; first 0, second 1: references to bonds). Rule 0 removes beads whose life < 0;
  // rule 1 (bonded) sets a bond's length.
  ProgramBuilder pb;
  pb.lanes = {2, 3, 2};
  pb.references = {{}, {{0, 0}, {1, 0}}, {{0, 1}, {1, 1}}};
  {
    auto& r = pb.per_agent(0);
    const uint16_t gone = r.op(Op::LT, r.load(0, 1), r.cnst(0.0));
    r.raw(static_cast<uint16_t>(Op::REMOVE), 0, 0, 0, gone);
  }
  {
    auto& r = pb.bonded(1, {{0, 0}, {1, 0}});
    r.store(0, 2, r.op(Op::SUB, r.load(2, 0), r.load(1, 0)));
  }
  const auto prog = pb.build();
  for (int threads : {1, 2}) {
    INFO("threads " << threads);
    const std::size_t n = 20;
    brz::World<double> w(prog, {n, n - 1, n - 2});
    for (std::size_t i = 0; i < n; ++i) {
      w.column(0, 0)[i] = double(i * i);
      w.column(0, 1)[i] = i == 6 || i == 13 ? -1.0 : 1.0;
    }
    for (std::size_t b = 0; b + 1 < n; ++b) {
      w.column(1, 0)[b] = double(b);
      w.column(1, 1)[b] = double(b + 1);
    }
    for (std::size_t c = 0; c + 2 < n; ++c) {
      w.column(2, 0)[c] = double(c);
      w.column(2, 1)[c] = double(c + 1);
    }
    brz::ExecOptions o;
    o.max_threads = threads;
    brz::run_steps(w, {0, 1}, 1, 0.01, o);
    // Beads 6 and 13 go; bonds 5, 6, 12, 13 with them; the chains of bonds that name those.
    CHECK(w.count(0) == n - 2);
    CHECK(w.count(1) == n - 1 - 4);
    CHECK(w.count(2) == n - 2 - 6);
    std::set<double> alive;
    for (std::size_t i = 0; i < w.count(0); ++i) alive.insert(double(w.id(0, i)));
    CHECK(!alive.count(6.0));
    CHECK(!alive.count(13.0));
    for (std::size_t i = 0; i < w.count(1); ++i) {
      const double a = w.column(1, 0)[w.row(1, i)], b = w.column(1, 1)[w.row(1, i)];
      CHECK(alive.count(a));
      CHECK(alive.count(b));
      CHECK(w.column(1, 2)[w.row(1, i)] == b * b - a * a);  // x = identity^2
    }
    // The next step's bonded sweep finds every reference alive.
    CHECK_NOTHROW(brz::run_steps(w, {0, 1}, 1, 0.01, o));
  }
}
