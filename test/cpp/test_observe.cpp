// Observables (brz/observe.hpp) against scalar references: per-agent and pair reductions, the
// cutoff over cells, thread-count independence, the rejections and observe kernels (a
// hand-written observables library, observe_fixture.cpp).
#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <random>

#include "brz/error.hpp"
#include "brz/observe.hpp"
#include "builder.hpp"
#include "fixture_library.hpp"
#include "observe_fixture.hpp"

using namespace brzt;

namespace {

// Layout: position (lanes 0-2), mass (3).
constexpr uint32_t kLanes = 4;

template <class W>
void fill(W& w, uint32_t type, std::size_t n, double edge, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(0.0, edge);
  for (std::size_t i = 0; i < n; ++i) {
    for (uint32_t lane = 0; lane < 3; ++lane) w.set(type, lane, i, u(rng));
    w.set(type, 3, i, 1.0 + u(rng) / edge);
  }
}

// The squared distance of a pair rule's two agents (minimum images when `periodic`): registers
// of rule `r`.
uint16_t squared_distance(RuleBuilder& r, bool periodic = false) {
  uint16_t sum = 0;
  for (uint16_t d = 0; d < 3; ++d) {
    uint16_t diff = r.op(Op::SUB, r.load(0, d), r.load(1, d));
    if (periodic) {
      const uint16_t len = r.box(d);
      diff = r.op(Op::MINIMG, diff, len, r.op(Op::DIV, r.cnst(1.0), len));
    }
    const uint16_t sq = r.op(Op::MUL, diff, diff);
    sum = d == 0 ? sq : r.op(Op::ADD, sum, sq);
  }
  return sum;
}

// A pair rule whose value is 1 / r2 within `cut` (0 beyond), with or without the cutoff flag.
uint16_t inverse_square(RuleBuilder& r, double cut, bool flag, bool periodic) {
  const uint16_t r2 = squared_distance(r, periodic);
  const uint16_t bound = r.cnst(cut);
  const uint16_t near = r.op(Op::LT, r2, r.op(Op::MUL, bound, bound));
  const uint16_t value = r.op(Op::SELECT, near, r.op(Op::DIV, r.cnst(1.0), r2), r.cnst(0.0));
  if (flag) {
    r.cflag = 1;
    r.creg = bound;
  }
  return value;
}

double distance2(const brz::WorldBase& w, uint32_t ta, std::size_t i, uint32_t tb, std::size_t j) {
  double s = 0;
  for (uint32_t d = 0; d < 3; ++d) {
    const double x = w.get(ta, d, i) - w.get(tb, d, j);
    s += x * x;
  }
  return s;
}

brz::ObserveSpec spec(uint32_t rule, std::vector<uint16_t> regs, brz::ObserveReduce reduce) {
  brz::ObserveSpec s;
  s.rule = rule;
  s.width = uint32_t(regs.size());
  for (std::size_t c = 0; c < regs.size(); ++c) s.regs[c] = regs[c];
  s.reduce = reduce;
  return s;
}

}  // namespace

TEST_CASE("per-agent observables: sum, min, max and a vec3, in both precisions", "[observe]") {
  ProgramBuilder world_pb;
  world_pb.lanes = {kLanes};
  auto prog = world_pb.build();
  ProgramBuilder pb;
  pb.lanes = {kLanes};
  auto& r = pb.per_agent(0);
  const uint16_t m = r.load(0, 3);
  const uint16_t mx = r.op(Op::MUL, m, r.load(0, 0));
  const uint16_t my = r.op(Op::MUL, m, r.load(0, 1));
  const uint16_t mz = r.op(Op::MUL, m, r.load(0, 2));
  auto obs = pb.build();
  for (auto precision : {brz::Precision::F64, brz::Precision::F32}) {
    for (std::size_t n : {0, 1, 300, 2000}) {
      auto w = brz::make_world(prog, {n}, precision);
      fill(*w, 0, n, 5.0, unsigned(n) + 3);
      double sum = 0, lo = INFINITY, hi = -INFINITY, first[3] = {0, 0, 0};
      for (std::size_t i = 0; i < n; ++i) {
        const double mi = w->get(0, 3, i);
        sum += mi;
        lo = std::min(lo, mi);
        hi = std::max(hi, mi);
        for (uint32_t d = 0; d < 3; ++d) first[d] += double(w->get(0, 3, i) * w->get(0, d, i));
      }
      const auto res = brz::observe(
          *w, *obs,
          {spec(0, {m}, brz::ObserveReduce::Sum), spec(0, {m}, brz::ObserveReduce::Min),
           spec(0, {m}, brz::ObserveReduce::Max), spec(0, {mx, my, mz}, brz::ObserveReduce::Sum)},
          2);
      REQUIRE(res.size() == 4);
      CHECK(res[0].count == n);
      CHECK(res[0].value[0] == Approx(sum).epsilon(1e-12));
      CHECK(res[0].magnitude == Approx(sum).epsilon(1e-12));
      if (n > 0) {
        CHECK(res[1].value[0] == lo);
        CHECK(res[2].value[0] == hi);
      }
      const double tol = precision == brz::Precision::F64 ? 1e-12 : 1e-6;
      for (int d = 0; d < 3; ++d) CHECK(res[3].value[d] == Approx(first[d]).epsilon(tol));
      for (const auto& x : res) CHECK(x.finite);
    }
  }
}

TEST_CASE("a pair sum with a cutoff over cells equals the all-pairs sum", "[observe]") {
  for (uint32_t periodic : {0u, 7u}) {
    ProgramBuilder world_pb;
    world_pb.lanes = {kLanes};
    world_pb.periodic_mask = periodic;
    if (periodic) world_pb.coord_lane = {0};
    auto prog = world_pb.build();
    ProgramBuilder pb = world_pb;
    auto& cut = pb.pair(0, 0);
    const uint16_t v_cut = inverse_square(cut, 1.5, true, periodic != 0);
    auto& all = pb.pair(0, 0);
    const uint16_t v_all = inverse_square(all, 1.5, false, periodic != 0);
    auto obs = pb.build();
    const std::size_t n = 3000;
    auto w = brz::make_world(prog, {n}, brz::Precision::F64);
    if (periodic) {
      const double lo[3] = {0, 0, 0}, hi[3] = {12, 12, 12};
      w->set_box(lo, hi);
    }
    fill(*w, 0, n, 12.0, 11);
    const auto res = brz::observe(
        *w, *obs,
        {spec(0, {v_cut}, brz::ObserveReduce::Sum), spec(1, {v_all}, brz::ObserveReduce::Sum)}, 2);
    double ref = 0;
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t j = i + 1; j < n; ++j) {
        double s = 0;
        for (uint32_t d = 0; d < 3; ++d) {
          double x = w->get(0, d, i) - w->get(0, d, j);
          if (periodic) x -= 12.0 * std::nearbyint(x / 12.0);
          s += x * x;
        }
        if (s < 2.25) ref += 1 / s;
      }
    CHECK(res[1].count == n * (n - 1) / 2);
    CHECK(res[0].count < res[1].count / 10);  // the cells visit neighbours only
    CHECK(res[0].value[0] == Approx(ref).epsilon(1e-12));
    CHECK(res[1].value[0] == Approx(ref).epsilon(1e-12));
  }
}

TEST_CASE("sums do not depend on the thread count; min and max are exact", "[observe]") {
  ProgramBuilder world_pb;
  world_pb.lanes = {kLanes, kLanes};
  auto prog = world_pb.build();
  ProgramBuilder pb = world_pb;
  auto& same = pb.pair(0, 0);
  const uint16_t d_same = same.op(Op::SQRT, squared_distance(same));
  auto& cross = pb.pair(0, 1);
  const uint16_t d_cross = cross.op(Op::SQRT, squared_distance(cross));
  auto obs = pb.build();
  auto w = brz::make_world(prog, {700, 500}, brz::Precision::F64);
  fill(*w, 0, 700, 4.0, 5);
  fill(*w, 1, 500, 4.0, 6);
  const std::vector<brz::ObserveSpec> specs = {
      spec(0, {d_same}, brz::ObserveReduce::Sum), spec(0, {d_same}, brz::ObserveReduce::Min),
      spec(1, {d_cross}, brz::ObserveReduce::Sum), spec(1, {d_cross}, brz::ObserveReduce::Max)};
  const auto one = brz::observe(*w, *obs, specs, 1);
  for (int threads : {2, 3, 4}) {
    const auto many = brz::observe(*w, *obs, specs, threads);
    for (std::size_t k = 0; k < specs.size(); ++k) CHECK(many[k].value[0] == one[k].value[0]);
  }
  double lo = INFINITY, hi = -INFINITY;
  for (std::size_t i = 0; i < 700; ++i)
    for (std::size_t j = i + 1; j < 700; ++j)
      lo = std::min(lo, std::sqrt(distance2(*w, 0, i, 0, j)));
  for (std::size_t i = 0; i < 700; ++i)
    for (std::size_t j = 0; j < 500; ++j) hi = std::max(hi, std::sqrt(distance2(*w, 0, i, 1, j)));
  CHECK(one[1].value[0] == lo);
  CHECK(one[3].value[0] == hi);
  CHECK(one[2].count == 700 * 500);
}

TEST_CASE("a non-finite value is reported, not thrown", "[observe]") {
  ProgramBuilder world_pb;
  world_pb.lanes = {kLanes};
  auto prog = world_pb.build();
  ProgramBuilder pb = world_pb;
  auto& r = pb.pair(0, 0);
  const uint16_t v = r.op(Op::DIV, r.cnst(1.0), squared_distance(r));
  auto obs = pb.build();
  auto w = brz::make_world(prog, {2}, brz::Precision::F64);  // two agents at the origin
  const auto res = brz::observe(*w, *obs, {spec(0, {v}, brz::ObserveReduce::Sum)}, 1);
  CHECK_FALSE(res[0].finite);
}

TEST_CASE("observe rejects programs and specs it cannot evaluate", "[observe]") {
  ProgramBuilder world_pb;
  world_pb.lanes = {kLanes};
  auto prog = world_pb.build();
  auto w = brz::make_world(prog, {3}, brz::Precision::F64);
  ProgramBuilder pb = world_pb;
  auto& ok = pb.per_agent(0);
  const uint16_t m = ok.load(0, 3);
  auto& writes = pb.per_agent(0);
  writes.store(0, 3, writes.cnst(1.0));
  auto obs = pb.build();
  const auto rejects = [&](const brz::Program& p, brz::ObserveSpec s, const char* what) {
    CHECK_THROWS_WITH(brz::observe(*w, p, {s}, 1), Catch::Contains(what));
  };
  rejects(*obs, spec(2, {m}, brz::ObserveReduce::Sum), "out of range");
  rejects(*obs, spec(1, {0}, brz::ObserveReduce::Sum), "writes lanes");
  rejects(*obs, spec(0, {m, m}, brz::ObserveReduce::Sum), "width must be 1 or 3");
  rejects(*obs, spec(0, {7}, brz::ObserveReduce::Sum), "never written");
  brz::ObserveSpec bad = spec(0, {m}, brz::ObserveReduce::Sum);
  bad.reduce = brz::ObserveReduce(9);
  rejects(*obs, bad, "unknown reduce");
  ProgramBuilder other;
  other.lanes = {kLanes + 1};
  other.per_agent(0).load(0, 0);
  rejects(*other.build(), spec(0, {0}, brz::ObserveReduce::Sum), "agent types differ");
}

TEST_CASE("observe kernels: loaded from an observables library, used for their spec only",
          "[observe]") {
  uint16_t value = 0;
  const ProgramBuilder pb = observe_fixture_builder(&value);
  const std::vector<uint8_t> bytes = pb.bytes();
  auto obs = pb.build();
  ProgramBuilder world_pb;
  world_pb.lanes = {4};
  auto prog = world_pb.build();
  std::string err;
  const auto lib = open_lib(BRZ_FIXTURE_OBSERVE, "observe-fixture-hash", bytes, 2, &err, "sse2",
                            brz::LibraryKind::Observables);
  REQUIRE(lib != nullptr);
  CHECK(err.empty());
  REQUIRE(lib->rule(0)->observe_f64 != nullptr);
  CHECK(lib->rule(1)->observe_f64 == nullptr);  // optional per rule
  // The same library as a rules library lacks the rule kernels.
  CHECK(open_lib(BRZ_FIXTURE_OBSERVE, "observe-fixture-hash", bytes, 2, &err) == nullptr);

  const std::size_t n = 1500;
  for (auto precision : {brz::Precision::F64, brz::Precision::F32}) {
    auto w = brz::make_world(prog, {n}, precision);
    fill(*w, 0, n, 6.0, 21);
    const std::vector<brz::ObserveSpec> specs = {spec(0, {value}, brz::ObserveReduce::Sum),
                                                 spec(0, {value}, brz::ObserveReduce::Max),
                                                 spec(1, {0}, brz::ObserveReduce::Sum)};
    const auto paths = brz::observe_paths(*w, *obs, specs, lib.get());
    CHECK(paths[0] == brz::ObservePath::Kernel);
    CHECK(paths[1] == brz::ObservePath::AllPairs);  // the kernel sums: not for a maximum
    CHECK(paths[2] == brz::ObservePath::Agents);
    const auto kernel = brz::observe(*w, *obs, specs, 2, lib.get());
    const auto block = brz::observe(*w, *obs, specs, 2);
    double ref = 0, mag = 0;
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t j = i + 1; j < n; ++j) {
        const double v = double((w->get(0, 0, j) - w->get(0, 0, i)) * w->get(0, 3, i));
        ref += v;
        mag += std::fabs(v);
      }
    const double tol = precision == brz::Precision::F64 ? 1e-12 : 1e-5;
    CHECK(kernel[0].value[0] == Approx(ref).epsilon(tol));
    CHECK(block[0].value[0] == Approx(ref).epsilon(tol));
    CHECK(kernel[0].magnitude == Approx(mag).epsilon(tol));
    CHECK(kernel[0].count == n * (n - 1) / 2);
    CHECK(kernel[0].finite);
    CHECK(kernel[1].value[0] == block[1].value[0]);
    // Chunks reduce in chunk order: the thread count changes nothing.
    CHECK(brz::observe(*w, *obs, specs, 1, lib.get())[0].value[0] == kernel[0].value[0]);
    // Rows out of the caller's order: slot 0 would not be the lower caller index.
    std::vector<uint32_t> perm(n);
    for (std::size_t k = 0; k < n; ++k) perm[k] = uint32_t(n - 1 - k);
    if (precision == brz::Precision::F64)
      static_cast<brz::World<double>&>(*w).reorder(0, perm.data());
    else
      static_cast<brz::World<float>&>(*w).reorder(0, perm.data());
    CHECK(brz::observe_paths(*w, *obs, specs, lib.get())[0] == brz::ObservePath::AllPairs);
    CHECK(brz::observe(*w, *obs, specs, 2, lib.get())[0].value[0] == Approx(ref).epsilon(tol));
  }
}
