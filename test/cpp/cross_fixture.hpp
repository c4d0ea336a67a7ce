// The program of the hand-written kernel library test/cpp/cross_fixture.cpp, the stand-in for a
// generated library (generated_abi.hpp) of a rule over two types, which runs on a grid.
// Type 0 has lanes p (0, 1, 2) and w (3), type 1 lanes p (0, 1, 2); param 0 is dt.
//   rule 0 (pair over types 0 and 1, cutoff 0.3 on p): r2 = |p_a - p_b|^2; if r2 < 0.09:
//     ACC w_a += (0.09 - r2) * dt (else nothing)
#pragma once

#include <cstdint>
#include <vector>

#include "builder.hpp"

namespace brzt {

inline ProgramBuilder cross_fixture_builder() {
  ProgramBuilder pb;
  pb.lanes = {4, 3};
  pb.n_params = 1;
  RuleBuilder& r = pb.pair(0, 1);
  const uint16_t dt = r.param(0);
  uint16_t r2 = 0;
  for (uint16_t d = 0; d < 3; ++d) {
    const uint16_t dd = r.op(Op::SUB, r.load(0, d), r.load(1, d));
    const uint16_t sq = r.op(Op::MUL, dd, dd);
    r2 = d == 0 ? sq : r.op(Op::ADD, r2, sq);
  }
  const uint16_t c = r.cnst(0.3);
  const uint16_t c2 = r.op(Op::MUL, c, c);
  const uint16_t t = r.op(Op::MUL, r.op(Op::SUB, c2, r2), dt);
  r.acc(0, 3, r.op(Op::SELECT, r.op(Op::LT, r2, c2), t, r.cnst(0.0)));
  r.cflag = 1;
  r.clane_a = 0;
  r.clane_b = 0;
  r.creg = c;
  return pb;
}

}  // namespace brzt
