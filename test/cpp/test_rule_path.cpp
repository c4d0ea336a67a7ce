// The run-path decision (rule_path, docs/engine.md "Rule paths"): for every RulePath, a world
// and options for which rule_path answers that path, and a run that counts its one sweep on
// exactly that path. Generated kernels come from the hand-written fixture libraries.
#include <catch2/catch.hpp>
#include <cstddef>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "brz/neighbour_search.hpp"
#include "brz/rule_path.hpp"
#include "builder.hpp"
#include "cross_fixture.hpp"
#include "fixture_library.hpp"
#include "kernel_fixture.hpp"

using namespace brzt;
using brz::RulePath;

namespace {

// Agents of `type` on a cube lattice of `side`^3 points `spacing` apart from `offset`, in the
// position lanes from `lane` (every other lane zero).
void lattice(brz::World<double>& w, uint32_t type, uint32_t lane, std::size_t side, double spacing,
             double offset) {
  std::size_t i = 0;
  for (std::size_t z = 0; z < side; ++z)
    for (std::size_t y = 0; y < side; ++y)
      for (std::size_t x = 0; x < side; ++x, ++i) {
        w.column(type, lane)[i] = offset + spacing * double(x);
        w.column(type, lane + 1)[i] = offset + spacing * double(y);
        w.column(type, lane + 2)[i] = offset + spacing * double(z);
      }
}

// One case: rule `rule` of the kernel fixture (one type, positions in lanes 2-4) or of the
// cross fixture (two types, positions in lanes 0-2), on lattices of side^3 agents per type.
struct Case {
  const char* what;
  RulePath path;
  bool cross;  // the cross fixture (a rule over two types)
  uint32_t rule;
  bool library;         // generated kernels in use
  bool search;          // ExecOptions::neighbour_search
  std::size_t side;     // lattice points per axis
  double spacing;       // lattice spacing (the cutoff is 0.3)
  bool dimers = false;  // every odd agent moved 0.1 from the even one before it
};

const std::vector<Case>& cases() {
  static const std::vector<Case> all = {
      {"per-agent rule, library", RulePath::AgentKernel, false, 0, true, true, 4, 0.25},
      {"per-agent rule, no library", RulePath::AgentInterpreter, false, 0, false, true, 4, 0.25},
      {"pair rule without cutoff, library", RulePath::AllPairsKernel, false, 1, true, true, 4,
       0.25},
      {"pair rule without cutoff, no library", RulePath::AllPairsInterpreter, false, 1, false, true,
       4, 0.25},
      {"two-type cutoff rule, library", RulePath::GridBlockKernel, true, 0, true, true, 12, 0.25},
      {"two-type cutoff rule, no library", RulePath::GridInterpreter, true, 0, false, true, 12,
       0.25},
      {"two-type cutoff rule, search off", RulePath::AllPairsKernel, true, 0, true, false, 12,
       0.25},
      // Sparse: about three listed pairs per slot-0 row, under kListKernelMinRun: the
      // neighbour-list kernel all the same (it then evaluates across rows).
      {"ACC-only same-type rule, short runs", RulePath::ListKernel, false, 3, true, true, 12, 0.25},
      // Dimers far apart: one listed pair per slot-0 row, under kListKernelMinAcross, so the
      // pair-block path (the interpreter: the fixture has no pair-block kernel for rule 3).
      {"ACC-only same-type rule, one pair a row", RulePath::ListInterpreter, false, 3, true, true,
       12, 1.0, true},
      {"same-type rule with a STORE, long runs", RulePath::ListBlockKernel, false, 2, true, true,
       16, 0.1},
      {"same-type cutoff rule, no library", RulePath::ListInterpreter, false, 3, false, true, 16,
       0.1},
      // Dense: dozens of listed pairs per slot-0 row.
      {"ACC-only same-type rule, long runs", RulePath::ListKernel, false, 3, true, true, 16, 0.1},
      {"same-type cutoff rule, search off", RulePath::AllPairsInterpreter, false, 3, false, false,
       16, 0.1},
  };
  return all;
}

const std::shared_ptr<const brz::KernelLibrary>& library(bool cross) {
  static std::shared_ptr<const brz::KernelLibrary> libs[2];
  std::shared_ptr<const brz::KernelLibrary>& lib = libs[cross ? 1 : 0];
  if (!lib) {
    const std::vector<uint8_t> prog =
        cross ? cross_fixture_builder().bytes() : fixture_program_bytes();
    std::string err;
    lib = cross ? open_lib(BRZ_FIXTURE_CROSS, "cross-fixture-hash", prog, 1, &err)
                : open_lib(BRZ_FIXTURE_GOOD, "fixture-hash", prog, 4, &err);
    INFO(err);
    REQUIRE(lib);
  }
  return lib;
}

}  // namespace

TEST_CASE("rule_path: every path has a world that takes it, and a run counts it there",
          "[rule_path]") {
  std::set<RulePath> covered;
  for (const Case& c : cases()) {
    INFO(c.what);
    const auto prog = c.cross ? cross_fixture_builder().build() : fixture_builder().build();
    const std::size_t n = c.side * c.side * c.side;
    auto holder = brz::make_world(
        prog, c.cross ? std::vector<std::size_t>{n, n} : std::vector<std::size_t>{n},
        brz::Precision::F64);
    auto& w = static_cast<brz::World<double>&>(*holder);
    const uint32_t lane = c.cross ? 0 : 2;
    lattice(w, 0, lane, c.side, c.spacing, 0.0);
    if (c.dimers)
      for (std::size_t i = 1; i < n; i += 2) {
        w.column(0, lane)[i] = w.column(0, lane)[i - 1] + 0.1;
        w.column(0, lane + 1)[i] = w.column(0, lane + 1)[i - 1];
        w.column(0, lane + 2)[i] = w.column(0, lane + 2)[i - 1];
      }
    // The second type sits off the first's lattice points, closer than the cutoff to some.
    if (c.cross) lattice(w, 1, lane, c.side, c.spacing, 0.1);
    brz::ExecOptions o;
    o.max_threads = 1;
    o.search_min_pairs = 0;
    o.neighbour_search = c.search;
    if (c.library) o.generated = library(c.cross).get();

    // The decision itself, with what the neighbour search has ready for the rule.
    const brz::Rule& r = prog->rule(c.rule);
    std::vector<double> params = w.params();
    params[0] = 0.01;
    brz::RunStepsResult prepared;
    brz::NeighbourSearch<double> search;
    const brz::SearchReady ready =
        r.kind == brz::RuleKind::PerAgent
            ? brz::SearchReady{}
            : search.prepare(w, r, r.consts.data(), params.data(), 1, o, prepared);
    CHECK(brz::rule_path(w, c.rule, o, ready) == c.path);

    // A run: one sweep, counted on that path and no other.
    const brz::RunStepsResult res = brz::run_steps(w, {c.rule}, 1, 0.01, o);
    for (std::size_t p = 0; p < brz::kRulePaths; ++p) {
      INFO(brz::kRulePathNames[p]);
      CHECK(res.sweeps[p] == (static_cast<RulePath>(p) == c.path ? 1u : 0u));
    }
    if (c.path != RulePath::AgentKernel && c.path != RulePath::AgentInterpreter)
      CHECK(res.pair_evaluations > 0);
    covered.insert(c.path);
  }
  {
    // An exclusive rule (a CLAIM) takes its own path, library or not.
    INFO("exclusive rule");
    ProgramBuilder pb;
    pb.lanes = {1};
    auto& r = pb.pair(0, 0);
    const uint16_t one = r.cnst(1.0);
    r.acc(0, 0, one);
    r.raw(static_cast<uint16_t>(brz::Op::CLAIM), 0, one, 0, 0);
    auto holder = brz::make_world(pb.build(), {4}, brz::Precision::F64);
    brz::ExecOptions o;
    o.max_threads = 1;
    CHECK(brz::rule_path(*holder, 0, o) == RulePath::ExclusiveInterpreter);
    const brz::RunStepsResult res = brz::run_steps(*holder, {0}, 1, 0.01, o);
    for (std::size_t p = 0; p < brz::kRulePaths; ++p)
      CHECK(res.sweeps[p] ==
            (static_cast<RulePath>(p) == RulePath::ExclusiveInterpreter ? 1u : 0u));
    covered.insert(RulePath::ExclusiveInterpreter);
  }
  {
    // A bonded rule without a library: the interpreter over the gathered columns.
    INFO("bonded rule");
    ProgramBuilder pb;
    pb.lanes = {1, 2};
    auto& r = pb.bonded(1, {{0, 0}, {1, 0}});
    r.acc(1, 0, r.load(2, 0));
    auto holder = brz::make_world(pb.build(), {2, 1}, brz::Precision::F64);
    holder->set(1, 1, 0, 1.0);
    brz::ExecOptions o;
    o.max_threads = 1;
    CHECK(brz::rule_path(*holder, 0, o) == RulePath::BondedInterpreter);
    const brz::RunStepsResult res = brz::run_steps(*holder, {0}, 1, 0.01, o);
    for (std::size_t p = 0; p < brz::kRulePaths; ++p)
      CHECK(res.sweeps[p] == (static_cast<RulePath>(p) == RulePath::BondedInterpreter ? 1u : 0u));
    covered.insert(RulePath::BondedInterpreter);
  }
  // The bonded kernel's world is the generated library of a real system (the fixture library
  // has no bonded rule): test/broken_record/zero/bonds_test.exs and the FENE melt's test assert
  // that their runs take bonded_kernel.
  CHECK(covered.size() + 1 == brz::kRulePaths);
  CHECK(covered.count(RulePath::BondedKernel) == 0);
}
