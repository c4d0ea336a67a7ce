// The observables program of the hand-written observe-kernel library test/cpp/observe_fixture.cpp,
// the stand-in for a library generated from an observables program (generated_abi.hpp,
// version 8). Type 0 has lanes p (0, 1, 2) and m (3).
//   rule 0 (pair-same): value register `kObserveFixtureValue` = (p_b.x - p_a.x) * m_a, which is
//     not symmetric in its slots; the library's kernel sums it (spec {1, value, 0, 0, 0}).
//   rule 1 (per-agent): m; the library has no kernel for it.
#pragma once

#include <cstdint>
#include <vector>

#include "builder.hpp"

namespace brzt {

inline ProgramBuilder observe_fixture_builder(uint16_t* value = nullptr) {
  ProgramBuilder pb;
  pb.lanes = {4};
  RuleBuilder& r = pb.pair(0, 0);
  const uint16_t v = r.op(Op::MUL, r.op(Op::SUB, r.load(1, 0), r.load(0, 0)), r.load(0, 3));
  if (value) *value = v;
  RuleBuilder& m = pb.per_agent(0);
  m.load(0, 3);
  return pb;
}

}  // namespace brzt
