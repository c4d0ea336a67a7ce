// Totals of conserved quantities (the run-time monitor) against a scalar reference.
#include <catch2/catch.hpp>
#include <cmath>
#include <random>

#include "brz/error.hpp"
#include "brz/totals.hpp"
#include "builder.hpp"

using namespace brzt;

namespace {

// Layout of the tests: position (lanes 0-2), velocity (3-5), mass (6).
template <class W>
void fill(W& w, std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(-2.0, 2.0);
  for (std::size_t i = 0; i < n; ++i) {
    for (uint32_t lane = 0; lane < 6; ++lane) w.set(0, lane, i, u(rng));
    w.set(0, 6, i, 0.5 + std::fabs(u(rng)));
  }
}

}  // namespace

TEST_CASE("totals match a scalar reference in both precisions", "[totals]") {
  ProgramBuilder pb;
  pb.lanes = {7};
  auto prog = pb.build();
  for (auto precision : {brz::Precision::F64, brz::Precision::F32}) {
    for (std::size_t n : {0, 1, 7, 65, 1000}) {
      auto w = brz::make_world(prog, {n}, precision);
      fill(*w, n, unsigned(n) + 1);
      double m = 0, p[3] = {0, 0, 0}, l[3] = {0, 0, 0}, ke = 0;
      for (std::size_t i = 0; i < n; ++i) {
        const double r[3] = {w->get(0, 0, i), w->get(0, 1, i), w->get(0, 2, i)};
        const double v[3] = {w->get(0, 3, i), w->get(0, 4, i), w->get(0, 5, i)};
        const double mi = w->get(0, 6, i);
        m += mi;
        for (int k = 0; k < 3; ++k) p[k] += mi * v[k];
        l[0] += mi * (r[1] * v[2] - r[2] * v[1]);
        l[1] += mi * (r[2] * v[0] - r[0] * v[2]);
        l[2] += mi * (r[0] * v[1] - r[1] * v[0]);
        ke += 0.5 * mi * (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]);
      }
      brz::TotalsLanes lanes;
      lanes.position = 0;
      lanes.velocity = 3;
      lanes.mass = 6;
      const brz::Totals t = brz::totals(*w, 0, lanes);
      CHECK(t.mass == Approx(m).epsilon(1e-12));
      CHECK(t.kinetic == Approx(ke).epsilon(1e-12));
      for (int k = 0; k < 3; ++k) {
        CHECK(t.momentum[k] == Approx(p[k]).epsilon(1e-12).margin(1e-12));
        CHECK(t.angular_momentum[k] == Approx(l[k]).epsilon(1e-12).margin(1e-12));
      }
      CHECK(t.mass_scale >= std::fabs(t.mass));
      CHECK(t.momentum_scale >= std::hypot(t.momentum[0], t.momentum[1], t.momentum[2]) - 1e-9);
    }
  }
}

TEST_CASE("totals without velocity or position only sum what exists", "[totals]") {
  ProgramBuilder pb;
  pb.lanes = {7};
  auto prog = pb.build();
  auto w = brz::make_world(prog, {3}, brz::Precision::F64);
  fill(*w, 3, 9);
  brz::TotalsLanes lanes;
  lanes.mass = 6;
  const brz::Totals t = brz::totals(*w, 0, lanes);
  CHECK(t.mass > 0);
  CHECK(t.kinetic == 0);
  CHECK(t.momentum[0] == 0);
}

TEST_CASE("totals reject lanes and types out of range", "[totals]") {
  ProgramBuilder pb;
  pb.lanes = {7};
  auto prog = pb.build();
  auto w = brz::make_world(prog, {3}, brz::Precision::F64);
  brz::TotalsLanes lanes;
  lanes.mass = 7;
  CHECK_THROWS_AS(brz::totals(*w, 0, lanes), brz::ArgumentError);
  lanes.mass = 6;
  lanes.velocity = 5;  // needs three lanes
  CHECK_THROWS_AS(brz::totals(*w, 0, lanes), brz::ArgumentError);
  lanes.velocity = brz::kNoLane;
  CHECK_THROWS_AS(brz::totals(*w, 1, lanes), brz::ArgumentError);
}
