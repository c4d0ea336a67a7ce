// Exclusive pair rules (brz/exclusive.hpp, docs/engine.md "Exclusive pair rules"): the greedy
// matching, the CLAIM validation and whole sweeps against a plain reference, on one and two
// threads.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "brz/exclusive.hpp"
#include "brz/executor.hpp"
#include "builder.hpp"

using brz::ClaimCandidate;
using namespace brzt;

namespace {

bool same_pairs(const std::vector<ClaimCandidate>& x, const std::vector<ClaimCandidate>& y) {
  return std::equal(x.begin(), x.end(), y.begin(), y.end(), [](const auto& a, const auto& b) {
    return std::tie(a.priority, a.id0, a.id1, a.row_a, a.row_b) ==
           std::tie(b.priority, b.id0, b.id1, b.row_a, b.row_b);
  });
}

// A one-type program (lanes: x, count, partner): rule 0 is exclusive, same-type; a pair
// claims when |x_a - x_b| < 1 and adds 1 to both counts and records the partner's x.
ProgramBuilder line_program() {
  ProgramBuilder pb;
  pb.lanes = {3};
  auto& r = pb.pair(0, 0);
  const uint16_t xa = r.load(0, 0), xb = r.load(1, 0);
  const uint16_t near = r.op(Op::LT, r.op(Op::ABS, r.op(Op::SUB, xa, xb)), r.cnst(1.0));
  const uint16_t one = r.op(Op::SELECT, near, r.cnst(1.0), r.cnst(0.0));
  r.acc(0, 1, one);
  r.acc(1, 1, one);
  r.store(0, 2, r.op(Op::SELECT, near, xb, r.load(0, 2)));
  r.store(1, 2, r.op(Op::SELECT, near, xa, r.load(1, 2)));
  r.raw(static_cast<uint16_t>(Op::CLAIM), 0, near, 0, 0);
  return pb;
}

}  // namespace

TEST_CASE("exclusive: the greedy matching is disjoint, maximal and ignores input order",
          "[exclusive]") {
  std::mt19937 gen(7);
  const std::size_t n = 30;
  std::vector<ClaimCandidate> all;
  for (uint32_t i = 0; i < n; ++i)
    for (uint32_t j = i + 1; j < n; ++j)
      if (gen() % 4 == 0) all.push_back(ClaimCandidate{gen() % 16, i, j, i, j});  // ties too
  const auto chosen = brz::greedy_matching(all, n, n, true);
  REQUIRE(!chosen.empty());
  std::vector<int> used(n, 0);
  for (const ClaimCandidate& c : chosen) {
    CHECK(++used[c.row_a] == 1);
    CHECK(++used[c.row_b] == 1);
  }
  // Maximal: every candidate left out shares an agent with a chosen one.
  for (const ClaimCandidate& c : all) CHECK((used[c.row_a] || used[c.row_b]));
  // Ascending (priority, id0, id1).
  for (std::size_t k = 1; k < chosen.size(); ++k)
    CHECK(std::tie(chosen[k - 1].priority, chosen[k - 1].id0, chosen[k - 1].id1) <
          std::tie(chosen[k].priority, chosen[k].id0, chosen[k].id1));
  for (int round = 0; round < 5; ++round) {
    std::shuffle(all.begin(), all.end(), gen);
    CHECK(same_pairs(brz::greedy_matching(all, n, n, true), chosen));
  }
}

TEST_CASE("exclusive: equal priorities fall back to the identities; cross-type rows",
          "[exclusive]") {
  // Cross type: wolves 0, 1; sheep 0, 1. Equal priorities: (0, 0) first by identities.
  const std::vector<ClaimCandidate> c = {
      {5, 1, 0, 1, 0}, {5, 0, 1, 0, 1}, {5, 0, 0, 0, 0}, {9, 1, 1, 1, 1}};
  const auto chosen = brz::greedy_matching(c, 2, 2, false);
  REQUIRE(chosen.size() == 2);
  CHECK((chosen[0].row_a == 0 && chosen[0].row_b == 0));
  CHECK((chosen[1].row_a == 1 && chosen[1].row_b == 1));
  // Rows out of range (or a same-type pair of one agent) are an ArgumentError.
  CHECK_THROWS_AS(brz::greedy_matching({{1, 0, 5, 0, 5}}, 2, 2, false), brz::ArgumentError);
  CHECK_THROWS_AS(brz::greedy_matching({{1, 0, 0, 1, 1}}, 2, 2, true), brz::ArgumentError);
}

TEST_CASE("exclusive: the priority is the Philox words of the claim site", "[exclusive]") {
  const brz::Philox4x32 w =
      brz::philox4x32_10({3, 8, 5, 1}, brz::PhiloxKey{42, (2u << 16) | brz::kClaimSite});
  CHECK(brz::claim_priority(42, 2u << 16, (uint64_t(1) << 32) | 5, 3, 8) ==
        ((uint64_t(w.x0) << 32) | w.x1));
}

TEST_CASE("exclusive: CLAIM validation", "[exclusive]") {
  auto rejects = [](ProgramBuilder pb, const std::string& needle) {
    const std::vector<uint8_t> b = pb.bytes();
    try {
      brz::Program::parse(b.data(), b.size());
      FAIL("accepted an invalid program (expected: " << needle << ")");
    } catch (const brz::ArgumentError& e) {
      INFO("message: " << e.what());
      CHECK(std::string(e.what()).find(needle) != std::string::npos);
    }
  };
  const auto prog = line_program().build();
  CHECK(prog->rule(0).exclusive);
  {
    ProgramBuilder pb;
    pb.lanes = {1};
    auto& r = pb.per_agent(0);
    r.store(0, 0, r.cnst(1.0));
    r.raw(static_cast<uint16_t>(Op::CLAIM), 0, 0, 0, 0);
    rejects(pb, "only pair rules are exclusive");
  }
  {
    ProgramBuilder pb = line_program();
    pb.rules[0].raw(static_cast<uint16_t>(Op::CLAIM), 0, 0, 0, 0);
    rejects(pb, "second CLAIM");
  }
  {
    ProgramBuilder pb = line_program();
    pb.rules[0].instrs.back()[1] = 1;  // dst
    rejects(pb, "CLAIM: dst must be 0");
  }
  {
    ProgramBuilder pb = line_program();
    pb.rules[0].instrs.back()[3] = 1;  // b
    rejects(pb, "unused operand b");
  }
  {
    ProgramBuilder pb = line_program();
    pb.rules[0].instrs.back()[2] = 999;  // a: no such register
    rejects(pb, "out of range");
  }
}

TEST_CASE("exclusive: a sweep against the reference, on 1 and 2 threads", "[exclusive]") {
  const auto prog = line_program().build();
  const std::size_t n = 200;
  std::mt19937 gen(3);
  std::uniform_real_distribution<double> pos(0.0, 40.0);
  std::vector<double> x(n);
  for (double& v : x) v = pos(gen);

  // The reference: every pair closer than 1, ranked by claim_priority, taken greedily.
  std::vector<std::tuple<uint64_t, uint32_t, uint32_t>> cand;
  for (uint32_t i = 0; i < n; ++i)
    for (uint32_t j = i + 1; j < n; ++j)
      if (std::fabs(x[i] - x[j]) < 1.0) cand.emplace_back(brz::claim_priority(9, 0, 0, i, j), i, j);
  std::sort(cand.begin(), cand.end());
  std::vector<double> count(n, 0.0), partner(n, -1.0);
  for (const auto& [p, i, j] : cand)
    if (count[i] == 0 && count[j] == 0) {
      count[i] = count[j] = 1;
      // A STORE adds (value - start) to the start value (docs/program.md).
      partner[i] = -1.0 + (x[j] - -1.0);
      partner[j] = -1.0 + (x[i] - -1.0);
    }

  for (int threads : {1, 2}) {
    INFO("threads " << threads);
    auto holder = brz::make_world(prog, {n}, brz::Precision::F64);
    auto& w = static_cast<brz::World<double>&>(*holder);
    w.set_seed(9);
    for (std::size_t i = 0; i < n; ++i) {
      w.column(0, 0)[i] = x[i];
      w.column(0, 2)[i] = -1.0;
    }
    brz::ExecOptions o;
    o.max_threads = threads;
    o.pair_parallel_threshold = 0;  // claims on every thread allowed
    const brz::RunStepsResult res = brz::run_steps(w, {0}, 1, 0.01, o);
    CHECK(res.on(brz::RulePath::ExclusiveInterpreter) == 1);
    CHECK(brz::rule_path(w, 0, o) == brz::RulePath::ExclusiveInterpreter);
    for (std::size_t i = 0; i < n; ++i) {
      INFO("agent " << i);
      CHECK(w.column(0, 1)[i] == count[i]);
      CHECK(w.column(0, 2)[i] == partner[i]);
    }
  }
}

TEST_CASE("exclusive: a cross-type sweep on permuted rows gives each agent the same result",
          "[exclusive]") {
  // Two types (lanes: x, count): a pair claims when |x_a - x_b| < 1.
  ProgramBuilder pb;
  pb.lanes = {2, 2};
  auto& r = pb.pair(0, 1);
  const uint16_t near =
      r.op(Op::LT, r.op(Op::ABS, r.op(Op::SUB, r.load(0, 0), r.load(1, 0))), r.cnst(1.0));
  const uint16_t one = r.op(Op::SELECT, near, r.cnst(1.0), r.cnst(0.0));
  r.acc(0, 1, one);
  r.acc(1, 1, one);
  r.raw(static_cast<uint16_t>(Op::CLAIM), 0, near, 0, 0);
  const auto prog = pb.build();
  const std::size_t na = 60, nb = 90;
  std::mt19937 gen(11);
  std::uniform_real_distribution<double> pos(0.0, 30.0);
  std::vector<double> xa(na), xb(nb);
  for (double& v : xa) v = pos(gen);
  for (double& v : xb) v = pos(gen);

  // Agent i's count, read through the row that holds it.
  auto run = [&](bool permute) {
    auto holder = brz::make_world(prog, {na, nb}, brz::Precision::F64);
    auto& w = static_cast<brz::World<double>&>(*holder);
    for (std::size_t i = 0; i < na; ++i) w.column(0, 0)[i] = xa[i];
    for (std::size_t j = 0; j < nb; ++j) w.column(1, 0)[j] = xb[j];
    if (permute) {
      for (uint32_t t = 0; t < 2; ++t) {
        std::vector<uint32_t> perm(w.count(t));
        for (uint32_t k = 0; k < perm.size(); ++k) perm[k] = k;
        std::shuffle(perm.begin(), perm.end(), gen);
        w.reorder(t, perm.data());
      }
    }
    brz::run_steps(w, {0}, 1, 0.01);
    std::vector<double> counts;
    for (uint32_t t = 0; t < 2; ++t)
      for (std::size_t i = 0; i < w.count(t); ++i) counts.push_back(w.column(t, 1)[w.row(t, i)]);
    return counts;
  };
  const std::vector<double> plain = run(false);
  CHECK(std::count(plain.begin(), plain.end(), 1.0) > 0);
  for (int round = 0; round < 3; ++round) CHECK(run(true) == plain);
}

TEST_CASE("exclusive: a cutoff rule's claims on cells equal those over all pairs", "[exclusive]") {
  // One type (lanes: position 0-2, count 3): a pair claims when its (minimum-image) squared
  // distance is below 1, the cutoff.
  for (bool periodic : {false, true}) {
    INFO("periodic " << periodic);
    ProgramBuilder pb;
    pb.lanes = {4};
    if (periodic) {
      pb.periodic_mask = 7;
      pb.coord_lane = {0};
    }
    auto& r = pb.pair(0, 0);
    const uint16_t cut = r.cnst(1.0);
    uint16_t d2 = 0;
    for (uint16_t d = 0; d < 3; ++d) {
      uint16_t diff = r.op(Op::SUB, r.load(0, d), r.load(1, d));
      if (periodic) {
        const uint16_t edge = r.box(d);
        diff = r.op(Op::MINIMG, diff, edge, r.op(Op::DIV, cut, edge));
      }
      const uint16_t sq = r.op(Op::MUL, diff, diff);
      d2 = d == 0 ? sq : r.op(Op::ADD, d2, sq);
    }
    const uint16_t near = r.op(Op::LT, d2, cut);
    const uint16_t one = r.op(Op::SELECT, near, cut, r.cnst(0.0));
    r.acc(0, 3, one);
    r.acc(1, 3, one);
    r.raw(static_cast<uint16_t>(Op::CLAIM), 0, near, 0, 0);
    r.cflag = 1;
    r.creg = cut;
    const auto prog = pb.build();

    const std::size_t n = 3000;
    std::mt19937 gen(5);
    std::uniform_real_distribution<double> pos(0.0, 20.0);
    std::vector<double> xyz(3 * n);
    for (double& v : xyz) v = pos(gen);
    auto run = [&](bool search, uint64_t& evaluations) {
      auto holder = brz::make_world(prog, {n}, brz::Precision::F64);
      auto& w = static_cast<brz::World<double>&>(*holder);
      const double lo[3] = {0, 0, 0}, hi[3] = {20, 20, 20};
      if (periodic) w.set_box(lo, hi);
      for (std::size_t i = 0; i < n; ++i)
        for (uint32_t d = 0; d < 3; ++d) w.column(0, d)[i] = xyz[3 * i + d];
      brz::ExecOptions o;
      o.neighbour_search = search;
      evaluations = brz::run_steps(w, {0}, 1, 0.01, o).pair_evaluations;
      return std::vector<double>(w.column(0, 3), w.column(0, 3) + n);
    };
    uint64_t cells = 0, all = 0;
    const std::vector<double> on_cells = run(true, cells);
    const std::vector<double> on_all = run(false, all);
    CHECK(on_cells == on_all);
    CHECK(std::count(on_all.begin(), on_all.end(), 1.0) > 100);
    CHECK(cells < all / 10);
  }
}
