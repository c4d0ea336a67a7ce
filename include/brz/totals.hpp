// Totals of the conserved quantities over one agent type, computed where the data lives (the
// run-time conservation monitor). Pure C++: no erl_nif.
#pragma once

#include <cstdint>

#include "brz/world.hpp"

namespace brz {

/// Lanes of the fields a total reads; kNoLane where the agent type lacks the field.
constexpr uint32_t kNoLane = 0xFFFFFFFFu;

struct TotalsLanes {
  uint32_t mass = kNoLane;
  uint32_t velocity = kNoLane;  // first of three lanes
  uint32_t position = kNoLane;  // first of three lanes
};

/// Sums over the agents of one type, in f64 whatever the world's precision. Each `*_scale` is the
/// sum of the magnitudes of the per-agent contributions (|m|, m|v|, m|r||v|, |ke|), used for
/// relative drift. Quantities whose lanes are missing stay 0.
struct Totals {
  double mass = 0, mass_scale = 0;
  double momentum[3] = {0, 0, 0};
  double momentum_scale = 0;
  double angular_momentum[3] = {0, 0, 0};
  double angular_momentum_scale = 0;
  double kinetic = 0;
};

/// Throws ArgumentError when a lane is out of range for the type.
Totals totals(const WorldBase& world, uint32_t type, const TotalsLanes& lanes);

}  // namespace brz
