// The bound of a pair rule's cutoff over a world's contents, by interval arithmetic
// (docs/engine.md, "Neighbour search"); the neighbour search (neighbour_search.hpp) sizes its
// grid cells by it.
//
// A rule with a cutoff (docs/program.md, "Cutoff") names the position lanes of both slots and a
// register holding the pair's cutoff distance c; pairs with |pos_a - pos_b| >= c change nothing.
// The engine bounds c over all pairs by interval arithmetic over the instructions the cutoff
// register depends on (cutoff_upper_bound), bins the agents into a uniform grid whose cells are
// at least that wide, and visits only pairs in the same or neighbouring cells, with exactly the
// per-pair semantics of the all-pairs sweep.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "brz/program.hpp"
#include "brz/world.hpp"

namespace brz {

/// A closed interval of doubles; both ends finite.
struct Interval {
  double lo, hi;
};

/// Interval of every value register `reg` of pair rule `r` can take over all pairs of the world's
/// current contents, computed in the world's precision T: `consts` and `params` are the rule's
/// constants and the params as the kernels see them (rounded to T). LOADs range over the finite
/// [min, max] of their lane over the slot's agents; the bound covers the rounding of every T
/// operation. std::nullopt when the register may be unbounded, infinite or NaN (a non-finite
/// lane value, a division by an interval holding 0, sqrt/log of possibly negative values, an
/// unsupported op, an empty agent type, ...).
template <class T>
std::optional<Interval> register_interval(const World<T>& w, const Rule& r, uint32_t reg,
                                          const T* consts, const T* params);

/// Upper bound of the cutoff register of `r` over all pairs (rule constants rounded to T, the
/// given params rounded to T); std::nullopt when r has no cutoff or no finite bound exists.
std::optional<double> cutoff_upper_bound(const WorldBase& w, const Rule& r,
                                         const std::vector<double>& params);

/// [min, max] of lane `lane` of `type` over its agents (`threads` threads scan it); std::nullopt
/// when the type is empty or a value is not finite.
template <class T>
std::optional<Interval> lane_range(const World<T>& w, uint32_t type, uint32_t lane, int threads);

}  // namespace brz
