// REMOVE / SPAWN / SPAWNLANE: compaction and append after a per-agent rule (docs/engine.md,
// "Agent lifecycle"), on every ISA, with SIMD tails and 1 or 2 threads.
#include <catch2/catch.hpp>
#include <vector>

#include "builder.hpp"

using namespace brzt;

namespace {

// Type 0 has lanes {x, m}. Rule 0: agents with x >= 10 are removed; agents with m > 0.5 spawn
// a child {x + 100, m / 2} and keep m / 2 (a split). Rule 1: x += 1 (sees the children).
std::shared_ptr<const brz::Program> split_program() {
  ProgramBuilder pb;
  pb.lanes = {2};
  RuleBuilder& r = pb.per_agent(0);
  const uint16_t x = r.load(0, 0), m = r.load(0, 1);
  const uint16_t ten = r.cnst(10.0), half = r.cnst(0.5), hundred = r.cnst(100.0);
  const uint16_t gone = r.op(Op::GE, x, ten);
  const uint16_t splits = r.op(Op::GT, m, half);
  const uint16_t halved = r.op(Op::MUL, m, half);
  const uint16_t kept = r.op(Op::SELECT, splits, halved, m);
  r.store(0, 1, kept);
  r.raw(static_cast<uint16_t>(Op::REMOVE), 0, 0, 0, gone);
  r.raw(static_cast<uint16_t>(Op::SPAWN), 0, 0, 0, splits);
  const uint16_t cx = r.op(Op::ADD, x, hundred);
  r.raw(static_cast<uint16_t>(Op::SPAWNLANE), 0, 0, 0, cx);
  r.raw(static_cast<uint16_t>(Op::SPAWNLANE), 0, 0, 1, halved);
  RuleBuilder& d = pb.per_agent(0);
  const uint16_t x2 = d.load(0, 0), one = d.cnst(1.0);
  d.store(0, 0, d.op(Op::ADD, x2, one));
  return pb.build();
}

}  // namespace

TEMPLATE_TEST_CASE("a per-agent rule removes and spawns; survivors keep their order", "[lifecycle]",
                   double, float) {
  auto prog = split_program();
  for (const brz::SweepSet* ks : all_sweep_sets())
    for (int threads : {1, 2})
      for (std::size_t n : {1, 7, 17, 37, 300}) {
        brz::World<TestType> w(prog, {n});
        for (std::size_t i = 0; i < n; ++i) {
          w.set(0, 0, i, double(i % 13));
          w.set(0, 1, i, i % 3 == 0 ? 1.0 : 0.25);
        }
        brz::ExecOptions o;
        o.sweeps = ks;
        o.max_threads = threads;
        o.agent_parallel_threshold = 0;
        brz::run_steps(w, {0, 1}, 1, 0.0, o);
        std::vector<double> xs, ms;
        std::vector<uint32_t> ids;
        std::vector<double> cx, cm;
        for (std::size_t i = 0; i < n; ++i) {
          const double x = double(i % 13), m = i % 3 == 0 ? 1.0 : 0.25;
          if (m > 0.5) {
            cx.push_back(x + 100 + 1);
            cm.push_back(m / 2);
          }
          if (x >= 10) continue;
          xs.push_back(x + 1);
          ms.push_back(m > 0.5 ? m / 2 : m);
          ids.push_back(uint32_t(i));
        }
        const std::size_t survivors = xs.size();
        for (std::size_t q = 0; q < cx.size(); ++q) {
          xs.push_back(cx[q]);
          ms.push_back(cm[q]);
          ids.push_back(uint32_t(n + q));
        }
        INFO(ks->name << " threads " << threads << " n " << n);
        REQUIRE(w.count(0) == xs.size());
        for (std::size_t i = 0; i < xs.size(); ++i) {
          CHECK(w.get(0, 0, i) == xs[i]);
          CHECK(w.get(0, 1, i) == ms[i]);
          CHECK(w.id(0, i) == ids[i]);
        }
        CHECK(w.next_id(0) == n + cx.size());
        CHECK(survivors <= n);
        // The padding past the count reads as zeros, as in a fresh column.
        for (std::size_t i = w.count(0); i < w.capacity(0); ++i) CHECK(w.column(0, 0)[i] == 0);
      }
}

TEMPLATE_TEST_CASE("children go to the storage rows Spawned::rows names, not in the caller's order",
                   "[lifecycle][world]", double, float) {
  auto prog = split_program();
  brz::World<TestType> w(prog, {6});
  for (std::size_t i = 0; i < 6; ++i) w.set(0, 0, i, double(i));
  const uint32_t perm[6] = {5, 3, 1, 0, 2, 4};  // the rows out of the caller's order
  w.reorder(0, perm, 2);
  const std::vector<uint8_t> dead = {0, 1, 0, 0, 0, 0};  // row 1: agent 3
  std::vector<brz::WorldBase::Spawned> kids(1);
  for (int q = 0; q < 4; ++q) kids[0].values.insert(kids[0].values.end(), {100.0 + q, 0.5});
  kids[0].n = 4;

  SECTION("a permutation places them") {
    kids[0].rows = {2, 0, 3, 1};
    const auto moves = w.apply_lifecycle(0, dead, kids, 2);
    REQUIRE(w.count(0) == 9);
    // The caller's order: survivors 0 1 2 4 5, then the children in their own order.
    const double want[9] = {0, 1, 2, 4, 5, 100, 101, 102, 103};
    for (std::size_t i = 0; i < 9; ++i) {
      CHECK(w.get(0, 0, i) == want[i]);
      CHECK(w.agent_at(0, w.row(0, i)) == i);
      CHECK(w.id(0, i) == (i < 5 ? uint32_t(want[i]) : uint32_t(6 + i - 5)));
    }
    // Storage: the survivors in their rows' order, then children 2, 0, 3, 1.
    const double stored[9] = {5, 1, 0, 2, 4, 102, 100, 103, 101};
    for (std::size_t r = 0; r < 9; ++r) CHECK(w.column(0, 0)[r] == TestType(stored[r]));
    CHECK(moves[0].survivors == 5);
    CHECK(moves[0].appended == 4);
  }
  SECTION("anything but a permutation of the children is rejected before a change") {
    for (const std::vector<uint32_t>& bad :
         {std::vector<uint32_t>{0, 1, 2}, {0, 1, 1, 2}, {0, 1, 2, 4}}) {
      kids[0].rows = bad;
      CHECK_THROWS_AS(w.apply_lifecycle(0, dead, kids), brz::ArgumentError);
      CHECK(w.count(0) == 6);
      CHECK(w.next_id(0) == 6);
    }
  }
  SECTION("rows in the caller's order keep the children in theirs") {
    w.restore_caller_order(0);
    kids[0].rows = {2, 0, 3, 1};
    w.apply_lifecycle(0, {}, kids);
    for (std::size_t r = 0; r < 10; ++r) CHECK(w.column(0, 0)[r] == TestType(r < 6 ? r : 94 + r));
  }
}

TEST_CASE("a snapshot of a whole type undoes removals and spawns", "[lifecycle]") {
  auto prog = split_program();
  brz::World<double> w(prog, {20});
  for (std::size_t i = 0; i < 20; ++i) {
    w.set(0, 0, i, double(i));
    w.set(0, 1, i, 1.0);
  }
  brz::WorldSnapshot snap;
  w.save(snap, {{}}, {1});
  brz::run_steps(w, {0, 1}, 2, 0.0, brz::ExecOptions{});
  CHECK(w.count(0) != 20);
  w.restore(snap);
  REQUIRE(w.count(0) == 20);
  CHECK(w.next_id(0) == 20);
  for (std::size_t i = 0; i < 20; ++i) {
    CHECK(w.get(0, 0, i) == double(i));
    CHECK(w.id(0, i) == i);
  }
}

TEST_CASE("a snapshot of an empty type saves and restores nothing", "[lifecycle]") {
  auto prog = split_program();
  brz::World<double> w(prog, {0});
  brz::WorldSnapshot snap;
  w.save(snap, {{}}, {1});
  brz::run_steps(w, {0, 1}, 2, 0.0, brz::ExecOptions{});
  w.restore(snap);
  CHECK(w.count(0) == 0);
  CHECK(w.next_id(0) == 0);
}

TEST_CASE("identities set from a checkpoint continue a run as the original does", "[lifecycle]") {
  auto prog = split_program();
  brz::World<double> w(prog, {20});
  for (std::size_t i = 0; i < 20; ++i) {
    w.set(0, 0, i, double(i % 13));
    w.set(0, 1, i, i % 3 == 0 ? 1.0 : 0.25);
  }
  brz::run_steps(w, {0, 1}, 2, 0.0, brz::ExecOptions{});
  REQUIRE(w.has_ids(0));
  // A fresh world given w's values, identities and next identity steps as w does.
  const std::size_t n = w.count(0);
  brz::World<double> v(prog, {n});
  std::vector<uint32_t> ids(n);
  for (std::size_t i = 0; i < n; ++i) {
    ids[i] = w.id(0, i);
    for (uint32_t l = 0; l < 2; ++l) v.set(0, l, i, w.get(0, l, i));
  }
  v.set_identities(0, ids.data(), w.next_id(0));
  CHECK(v.has_ids(0));
  brz::run_steps(w, {0, 1}, 2, 0.0, brz::ExecOptions{});
  brz::run_steps(v, {0, 1}, 2, 0.0, brz::ExecOptions{});
  REQUIRE(v.count(0) == w.count(0));
  CHECK(v.next_id(0) == w.next_id(0));
  for (std::size_t i = 0; i < w.count(0); ++i) {
    CHECK(v.id(0, i) == w.id(0, i));
    CHECK(v.get(0, 0, i) == w.get(0, 0, i));
  }
  // The indices with next identity == count are a world whose agents never changed.
  std::vector<uint32_t> indices(v.count(0));
  for (std::size_t i = 0; i < indices.size(); ++i) indices[i] = uint32_t(i);
  v.set_identities(0, indices.data(), indices.size());
  CHECK_FALSE(v.has_ids(0));
  // Duplicates, identities not below the next one, a next identity below the count: rejected,
  // the world unchanged; a type that does not wrap has no image counters to set.
  std::vector<uint32_t> bad(v.count(0), 0);
  CHECK_THROWS_AS(v.set_identities(0, bad.data(), v.count(0) + 5), brz::ArgumentError);
  CHECK_THROWS_AS(v.set_identities(0, indices.data(), v.count(0) - 1), brz::ArgumentError);
  CHECK_THROWS_AS(v.set_identities(0, nullptr, uint64_t(UINT32_MAX) + 2), brz::ArgumentError);
  CHECK_FALSE(v.has_ids(0));
  const int64_t images[3] = {0, 0, 0};
  CHECK_THROWS_AS(v.set_images(0, images, 3), brz::ArgumentError);
}

TEMPLATE_TEST_CASE("a clone is independent and steps like the original", "[lifecycle][world]",
                   double, float) {
  auto prog = split_program();
  brz::World<TestType> w(prog, {20});
  for (std::size_t i = 0; i < 20; ++i) {
    w.set(0, 0, i, double(i % 13));
    w.set(0, 1, i, i % 3 == 0 ? 1.0 : 0.25);
  }
  w.set_seed(9);
  brz::run_steps(w, {0, 1}, 1, 0.0, brz::ExecOptions{});
  std::unique_ptr<brz::WorldBase> c = w.clone();
  REQUIRE(c->precision() == w.precision());
  CHECK(c->step() == w.step());
  CHECK(c->seed() == 9);
  // Stepping the clone leaves the original as it is.
  const std::size_t n = w.count(0);
  const double x0 = w.get(0, 0, 0);
  brz::run_steps(*c, {0, 1}, 2, 0.0, brz::ExecOptions{});
  CHECK(w.count(0) == n);
  CHECK(w.get(0, 0, 0) == x0);
  // Stepped alike, both end the same: values, identities and next identities.
  brz::run_steps(w, {0, 1}, 2, 0.0, brz::ExecOptions{});
  REQUIRE(c->count(0) == w.count(0));
  CHECK(c->next_id(0) == w.next_id(0));
  CHECK(c->step() == w.step());
  for (std::size_t i = 0; i < w.count(0); ++i) {
    CHECK(c->get(0, 0, i) == w.get(0, 0, i));
    CHECK(c->get(0, 1, i) == w.get(0, 1, i));
    CHECK(c->id(0, i) == w.id(0, i));
  }
}

TEST_CASE("malformed lifecycle ops are rejected", "[lifecycle][program]") {
  auto reject = [](ProgramBuilder& pb, const char* what) {
    CHECK_THROWS_WITH(pb.build(), Catch::Contains(what));
  };
  {
    ProgramBuilder pb;
    pb.lanes = {2};
    RuleBuilder& r = pb.per_agent(0);
    const uint16_t c = r.cnst(1.0);
    r.raw(static_cast<uint16_t>(Op::SPAWNLANE), 0, 0, 0, c);
    reject(pb, "has no SPAWN before it");
  }
  {
    ProgramBuilder pb;
    pb.lanes = {2};
    RuleBuilder& r = pb.per_agent(0);
    const uint16_t c = r.cnst(1.0);
    r.raw(static_cast<uint16_t>(Op::SPAWN), 0, 3, 0, c);
    reject(pb, "type 3 out of range");
  }
  {
    ProgramBuilder pb;
    pb.lanes = {2};
    RuleBuilder& r = pb.per_agent(0);
    const uint16_t c = r.cnst(1.0);
    r.raw(static_cast<uint16_t>(Op::SPAWN), 0, 0, 1, c);
    reject(pb, "out of order");
  }
  {
    ProgramBuilder pb;
    pb.lanes = {2};
    RuleBuilder& r = pb.per_agent(0);
    const uint16_t c = r.cnst(1.0);
    r.raw(static_cast<uint16_t>(Op::SPAWN), 0, 0, 0, c);
    r.raw(static_cast<uint16_t>(Op::SPAWNLANE), 0, 0, 2, c);
    reject(pb, "lane 2 out of range");
  }
  {
    ProgramBuilder pb;
    pb.lanes = {2};
    RuleBuilder& r = pb.per_agent(0);
    const uint16_t c = r.cnst(1.0);
    r.raw(static_cast<uint16_t>(Op::REMOVE), 0, 1, 0, c);
    reject(pb, "slot 1 out of range");
  }
  {
    ProgramBuilder pb;
    pb.lanes = {2};
    RuleBuilder& r = pb.per_agent(0);
    r.raw(static_cast<uint16_t>(Op::REMOVE), 0, 0, 0, 0);
    r.n_regs_override = 1;
    reject(pb, "before it is written");
  }
}

TEMPLATE_TEST_CASE("a pair rule merges (remove b) and spawns per pair, in pair order",
                   "[lifecycle]", double, float) {
  // Pairs closer than 0.5: a.m += b.m, b is removed, and a child {a.x + 100, 0.5} is born.
  ProgramBuilder pb;
  pb.lanes = {2};
  RuleBuilder& r = pb.pair(0, 0);
  const uint16_t xa = r.load(0, 0), xb = r.load(1, 0), ma = r.load(0, 1), mb = r.load(1, 1);
  const uint16_t near = r.op(Op::LT, r.op(Op::ABS, r.op(Op::SUB, xa, xb)), r.cnst(0.5));
  r.store(0, 1, r.op(Op::SELECT, near, r.op(Op::ADD, ma, mb), ma));
  r.raw(static_cast<uint16_t>(Op::REMOVE), 0, 1, 0, near);
  r.raw(static_cast<uint16_t>(Op::SPAWN), 0, 0, 0, near);
  r.raw(static_cast<uint16_t>(Op::SPAWNLANE), 0, 0, 0, r.op(Op::ADD, xa, r.cnst(100.0)));
  r.raw(static_cast<uint16_t>(Op::SPAWNLANE), 0, 0, 1, r.cnst(0.5));
  auto prog = pb.build();
  const double x0[] = {0.0, 0.25, 5.0, 5.25, 10.0, 20.0, 20.1};
  for (const brz::SweepSet* ks : all_sweep_sets())
    for (int threads : {1, 2}) {
      brz::World<TestType> w(prog, {7});
      for (std::size_t i = 0; i < 7; ++i) {
        w.set(0, 0, i, x0[i]);
        w.set(0, 1, i, double(i + 1));
      }
      brz::ExecOptions o;
      o.sweeps = ks;
      o.max_threads = threads;
      o.pair_parallel_threshold = 0;
      brz::run_steps(w, {0}, 1, 0.0, o);
      INFO(ks->name << " threads " << threads);
      const double xs[] = {0.0, 5.0, 10.0, 20.0, 100.0, 105.0, 120.0};
      const double ms[] = {3.0, 7.0, 5.0, 13.0, 0.5, 0.5, 0.5};
      const uint32_t ids[] = {0, 2, 4, 5, 7, 8, 9};
      REQUIRE(w.count(0) == 7);
      for (std::size_t i = 0; i < 7; ++i) {
        CHECK(w.get(0, 0, i) == Approx(xs[i]));
        CHECK(w.get(0, 1, i) == ms[i]);
        CHECK(w.id(0, i) == ids[i]);
      }
    }
}
