// World layout (alignment, padding), non-finite detection, ISA selection.
#include <catch2/catch.hpp>
#include <cstdlib>
#include <vector>

#include "brz/env.hpp"
#include "builder.hpp"

using namespace brzt;

TEST_CASE("columns are 64-byte aligned and padded to a multiple of 16", "[world]") {
  ProgramBuilder pb;
  pb.lanes = {5, 1};
  auto prog = pb.build();
  for (std::size_t n : {0, 1, 7, 8, 9, 15, 16, 17, 63, 64, 65, 1000}) {
    brz::World<double> wd(prog, {n, n + 3});
    brz::World<float> wf(prog, {n, n + 3});
    for (uint32_t t = 0; t < 2; ++t) {
      const std::size_t cap = wd.capacity(t);
      CHECK(cap % 16 == 0);
      CHECK(cap >= wd.count(t) + 16);
      for (uint32_t l = 0; l < prog->lanes(t); ++l) {
        CHECK(reinterpret_cast<std::uintptr_t>(wd.column(t, l)) % 64 == 0);
        CHECK(reinterpret_cast<std::uintptr_t>(wf.column(t, l)) % 64 == 0);
        for (std::size_t i = 0; i < cap; ++i) {
          CHECK(wd.column(t, l)[i] == 0.0);
          CHECK(wf.column(t, l)[i] == 0.0f);
        }
      }
    }
  }
  CHECK(brz::column_capacity(0) == 16);
  CHECK(brz::column_capacity(16) == 32);
  CHECK(brz::column_capacity(17) == 48);
}

TEST_CASE("get/set/pack and f32 rounding", "[world]") {
  ProgramBuilder pb;
  pb.lanes = {3};
  auto prog = pb.build();
  auto w = brz::make_world(prog, {2}, brz::Precision::F32);
  CHECK(w->element_size() == 4);
  w->set(0, 0, 0, 1.0);
  w->set(0, 1, 0, 2.0);
  w->set(0, 2, 0, 1e300);  // out of f32 range -> inf (the NIF rejects it before)
  w->set(0, 0, 1, 0.1);
  CHECK(std::isinf(w->get(0, 2, 0)));
  CHECK(w->get(0, 0, 1) == double(0.1f));
  float out[4];
  w->pack(0, 0, 2, out);
  CHECK(out[0] == 1.0f);
  CHECK(out[1] == 2.0f);
  CHECK(out[2] == 0.1f);
  CHECK(out[3] == 0.0f);
  CHECK_THROWS_AS(w->pack(0, 2, 2, out), brz::ArgumentError);
  CHECK_THROWS_AS(w->get(0, 0, 2), brz::ArgumentError);
  CHECK_THROWS_AS(brz::World<double>(prog, {1, 2}), brz::ArgumentError);
}

namespace {

// lanes: x 0, out 1. out = 1 / x; x = x - 1 (per step).
std::shared_ptr<const brz::Program> recip_program() {
  ProgramBuilder pb;
  pb.lanes = {2};
  auto& r = pb.per_agent(0);
  const uint16_t x = r.load(0, 0);
  r.store(0, 1, r.op(Op::DIV, r.cnst(1.0), x));
  r.store(0, 0, r.op(Op::SUB, x, r.cnst(1.0)));
  return pb.build();
}

template <class T>
void expect_numerical(brz::WorldBase& w, const std::vector<uint32_t>& ids, uint64_t steps,
                      const brz::ExecOptions& o, uint32_t type, uint64_t index, uint32_t lane,
                      uint64_t step) {
  try {
    brz::run_steps(w, ids, steps, 0.1, o);
    FAIL("no NumericalError");
  } catch (const brz::NumericalError& e) {
    CHECK(e.type == type);
    CHECK(e.index == index);
    CHECK(e.lane == lane);
    CHECK(e.step == step);
  }
}

}  // namespace

TEST_CASE("large buffers are recycled through the bounded cache, zeroed", "[world][memory]") {
  const std::size_t n = (brz::memory::kCachedMinBytes / sizeof(double)) * 3;
  brz::memory::trim();
  CHECK(brz::memory::cached_bytes() == 0);
  const std::size_t before = 0;
  const double* first;
  {
    brz::AlignedBuffer<double> a(n);
    first = a.data();
    for (std::size_t i = 0; i < n; ++i) a[i] = 1.5;
  }
  CHECK(brz::memory::cached_bytes() >= before + n * sizeof(double));
  {
    brz::AlignedBuffer<double> b(n);  // the same block again, zero-filled
    CHECK(b.data() == first);
    CHECK(reinterpret_cast<std::uintptr_t>(b.data()) % brz::kAlignment == 0);
    for (std::size_t i = 0; i < n; ++i) REQUIRE(b[i] == 0.0);
    brz::AlignedBuffer<double> moved(std::move(b));
    CHECK(moved.data() == first);
    CHECK(b.data() == nullptr);
  }
  // The cache never holds more than its cap.
  {
    std::vector<brz::AlignedBuffer<char>> many;
    for (int k = 0; k < 40; ++k) many.emplace_back(std::size_t(1) << 20);
  }
  CHECK(brz::memory::cached_bytes() <= brz::memory::kCacheBytes);
  // Huge buffers are 2 MiB-aligned.
  brz::AlignedBuffer<float> h(brz::kHugeBytes);
  CHECK(reinterpret_cast<std::uintptr_t>(h.data()) % brz::kHugeAlignment == 0);
}

TEST_CASE("reorder keeps get/set/pack in the caller's order", "[world]") {
  ProgramBuilder pb;
  pb.lanes = {2, 1};
  auto prog = pb.build();
  brz::World<double> w(prog, {5, 3});
  for (std::size_t i = 0; i < 5; ++i) {
    w.set(0, 0, i, double(i));
    w.set(0, 1, i, 10.0 + double(i));
  }
  CHECK(w.in_caller_order(0));
  const uint64_t epoch = w.order_epoch(0);
  const double* col0 = w.column(0, 0);
  const uint32_t p1[5] = {3, 0, 4, 1, 2};
  w.reorder(0, p1);
  const uint32_t p2[5] = {1, 2, 0, 4, 3};  // a second reorder composes with the first
  w.reorder(0, p2, 2);
  CHECK(w.column(0, 0) == col0);  // column addresses are stable
  CHECK_FALSE(w.in_caller_order(0));
  CHECK(w.in_caller_order(1));
  CHECK(w.order_epoch(0) == epoch + 2);
  CHECK(w.order_epoch(1) == 0);
  // Row k holds agent p1[p2[k]].
  for (std::size_t k = 0; k < 5; ++k) {
    const std::size_t agent = p1[p2[k]];
    CHECK(w.agent_at(0, k) == agent);
    CHECK(w.row(0, agent) == k);
    CHECK(w.column(0, 0)[k] == double(agent));
    CHECK(w.column(0, 1)[k] == 10.0 + double(agent));
  }
  for (std::size_t i = 0; i < 5; ++i) {
    CHECK(w.get(0, 0, i) == double(i));
    CHECK(w.get(0, 1, i) == 10.0 + double(i));
  }
  w.set(0, 1, 4, -1.0);
  CHECK(w.column(0, 1)[w.row(0, 4)] == -1.0);
  double packed[10];
  w.pack(0, 0, 2, packed);
  for (std::size_t i = 0; i < 5; ++i) {
    CHECK(packed[2 * i] == double(i));
    CHECK(packed[2 * i + 1] == (i == 4 ? -1.0 : 10.0 + double(i)));
  }
  w.restore_caller_order(0);
  CHECK(w.in_caller_order(0));
  CHECK(w.order_epoch(0) == epoch + 3);
  for (std::size_t i = 0; i < 5; ++i) {
    CHECK(w.column(0, 0)[i] == double(i));
    CHECK(w.row(0, i) == i);
    CHECK(w.agent_at(0, i) == i);
  }
}

TEST_CASE("non-finite stored values are reported with type, index, lane and step", "[nonfinite]") {
  auto prog = recip_program();
  for (const brz::SweepSet* ks : all_sweep_sets())
    for (std::size_t n : {1, 7, 8, 9, 63, 64, 65, 1000}) {
      brz::ExecOptions o;
      o.sweeps = ks;
      INFO("isa " << ks->name << " n " << n);
      // All x >= 10 except agent n-1 which hits 0 at step 4 (x = 3 -> 2 -> 1 -> 0).
      brz::World<double> w(prog, {n});
      for (std::size_t i = 0; i < n; ++i) w.column(0, 0)[i] = 10.0 + double(i);
      w.column(0, 0)[n - 1] = 3.0;
      expect_numerical<double>(w, {0}, 10, o, 0, n - 1, 1, 4);
      brz::World<float> wf(prog, {n});
      for (std::size_t i = 0; i < n; ++i) wf.column(0, 0)[i] = 10.0f + float(i);
      wf.column(0, 0)[n / 2] = 1.0f;
      expect_numerical<float>(wf, {0}, 10, o, 0, n / 2, 1, 2);
      // Padded lanes hold 0 and compute 1/0 = inf: that must never be reported.
      brz::World<double> ok(prog, {n});
      for (std::size_t i = 0; i < n; ++i) ok.column(0, 0)[i] = 100.0 + double(i);
      CHECK_NOTHROW(brz::run_steps(ok, {0}, 5, 0.1, o));
      for (std::size_t i = n; i < ok.capacity(0); ++i) CHECK(ok.column(0, 1)[i] == 0.0);
    }
}

TEST_CASE("pair sweeps: padded partners never pollute accumulators or the check",
          "[nonfinite][pair]") {
  // a.v = a.v + 1 / b.m  (b.m = 0 in padded lanes).
  ProgramBuilder pb;
  pb.lanes = {2, 1};
  auto& r = pb.pair(0, 0);
  const uint16_t v = r.load(0, 0), mb = r.load(1, 1);
  r.store(0, 0, r.op(Op::ADD, v, r.op(Op::DIV, r.cnst(1.0), mb)));
  auto& c = pb.pair(1, 0);  // cross: w.x += 1 / p.m (slot-1 partners are type 0)
  c.store(0, 0, c.op(Op::ADD, c.load(0, 0), c.op(Op::DIV, c.cnst(1.0), c.load(1, 1))));
  auto prog = pb.build();
  for (const brz::SweepSet* ks : all_sweep_sets())
    for (std::size_t n : {2, 7, 8, 9, 63, 64, 65, 300}) {
      brz::ExecOptions o;
      o.sweeps = ks;
      INFO("isa " << ks->name << " n " << n);
      brz::World<double> w(prog, {n, 3});
      Cols<double> ref(2);
      ref[0].assign(2, std::vector<double>(n, 0.0));
      ref[1].assign(1, std::vector<double>(3, 0.0));
      for (std::size_t i = 0; i < n; ++i) w.column(0, 1)[i] = ref[0][1][i] = 1.0 + double(i % 5);
      ref_run_rule<double>(*prog, 0, ref, {0.1});
      ref_run_rule<double>(*prog, 1, ref, {0.1});
      REQUIRE_NOTHROW(brz::run_steps(w, {0, 1}, 1, 0.1, o));
      CHECK(max_scaled_err(w, ref) <= 1e-14);
      // One real zero mass: every i < k gets +inf -> the lowest index is reported.
      const std::size_t k = n - 1;
      w.column(0, 1)[k] = 0.0;
      expect_numerical<double>(w, {0}, 3, o, 0, 0, 0, 1);
      if (n >= 3) {
        brz::World<double> w2(prog, {n, 3});
        for (std::size_t i = 0; i < n; ++i) w2.column(0, 1)[i] = 1.0;
        w2.column(0, 1)[2] = 0.0;
        expect_numerical<double>(w2, {1}, 3, o, 1, 0, 0, 1);  // reported on type 1
      }
    }
}

TEST_CASE("ISA selection", "[isa]") {
  const auto isas = brz::supported_isas();
  REQUIRE(!isas.empty());
  CHECK(isas.back() == "sse2");
  const std::string active = brz::isa_name();
  CHECK(std::find(isas.begin(), isas.end(), active) != isas.end());
  CHECK(brz::sweeps_for("sse2") != nullptr);
  CHECK(brz::sweeps_for("neon") == nullptr);
  CHECK(brz::sweeps_for("sse2")->width_f64 == 2);
  if (const char* env = brz::env::isa()) {
    // ctest runs the suite once per ISA with BROKEN_RECORD_ISA set (capped at what the CPU
    // supports).
    if (brz::sweeps_for(env) != nullptr) CHECK(active == env);
  } else {
    CHECK(active == isas.front());
  }
  const brz::SweepSet& ks = brz::active_sweeps();
  CHECK(std::string(ks.name) == active);
}

TEST_CASE("CONST and PARAM operands index constants and params, never registers", "[world]") {
  // One register: a PARAM or CONST index far beyond n_regs must not be read as a register
  // (an out-of-bounds read that crashed the interpreter; ASan reports it in this test).
  ProgramBuilder pb;
  pb.lanes = {2};
  pb.n_params = 5001;
  auto& r = pb.per_agent(0);
  r.store(0, 0, r.param(5000));
  auto& q = pb.per_agent(0);
  q.consts.assign(4000, 0.0);
  q.consts[3999] = 299.5;
  q.store(0, 1, q.emit(Op::CONST, 3999));
  auto prog = pb.build();
  for (auto prec : {brz::Precision::F64, brz::Precision::F32}) {
    auto w = brz::make_world(prog, {40}, prec);
    w->params().assign(5001, 0.0);
    w->params()[5000] = 2.5;
    brz::run_steps(*w, {0, 1}, 1, 0.1);
    for (std::size_t i = 0; i < 40; ++i) {
      CHECK(w->get(0, 0, i) == 2.5);
      CHECK(w->get(0, 1, i) == 299.5);
    }
  }
}

TEMPLATE_TEST_CASE("save and restore undo changes to the saved lanes, across reorders", "[world]",
                   double, float) {
  ProgramBuilder pb;
  pb.lanes = {3, 2};
  auto prog = pb.build();
  brz::World<TestType> w(prog, {50, 7});
  for (std::size_t i = 0; i < 50; ++i)
    for (uint32_t l = 0; l < 3; ++l) w.set(0, l, i, double(i * 10 + l));
  for (std::size_t i = 0; i < 7; ++i) w.set(1, 1, i, -double(i));
  brz::WorldSnapshot snap;
  w.save(snap, {{0, 2}, {1}});
  CHECK(snap.parts.size() == 2);
  // Change every lane, reorder type 0 twice, then restore: the saved lanes come back for each
  // agent wherever its row now is; lane 1 (not saved) keeps its change.
  for (std::size_t i = 0; i < 50; ++i)
    for (uint32_t l = 0; l < 3; ++l) w.set(0, l, i, -1.0);
  for (std::size_t i = 0; i < 7; ++i) w.set(1, 1, i, 99.0);
  std::vector<uint32_t> perm(50);
  for (uint32_t k = 0; k < 50; ++k) perm[k] = (k * 17) % 50;
  w.reorder(0, perm.data());
  w.reorder(0, perm.data());
  w.restore(snap);
  for (std::size_t i = 0; i < 50; ++i) {
    CHECK(w.get(0, 0, i) == double(i * 10));
    CHECK(w.get(0, 1, i) == -1.0);
    CHECK(w.get(0, 2, i) == double(i * 10 + 2));
  }
  for (std::size_t i = 0; i < 7; ++i) CHECK(w.get(1, 1, i) == -double(i));
  // A save taken in a sorted order, restored after the caller's order came back.
  w.save(snap, {{0}, {}});
  CHECK(snap.parts.size() == 1);
  w.set(0, 0, 3, 1234.0);
  w.restore_caller_order(0);
  w.restore(snap);
  CHECK(w.get(0, 0, 3) == 30.0);
}
