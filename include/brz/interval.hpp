// Interval analysis of a pair rule's registers: bounds a cutoff over all pairs of a world, so
// that cell lists can be sized (docs/engine.md, "Neighbour search"). Each op's bound is defined
// once, under its row of include/brz/ops.inc.
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
/// unsupported op, an empty agent type, ...). A lane of more than `parallel_threshold` agents
/// is scanned on up to `max_threads` threads (the caller's ExecOptions).
template <class T>
std::optional<Interval> register_interval(const World<T>& w, const Rule& r, uint32_t reg,
                                          const T* consts, const T* params, int max_threads,
                                          std::size_t parallel_threshold);

/// Upper bound of the cutoff register of `r` over all pairs (rule constants rounded to T, the
/// given params rounded to T), on one thread; std::nullopt when r has no cutoff or no finite
/// bound exists.
std::optional<double> cutoff_upper_bound(const WorldBase& w, const Rule& r,
                                         const std::vector<double>& params);

/// The finite [min, max] of one lane over the agents of `type`; std::nullopt when the type has
/// no agents or a value is not finite. `threads` > 1 scans in parallel.
template <class T>
std::optional<Interval> lane_range(const World<T>& w, uint32_t type, uint32_t lane, int threads);

}  // namespace brz
