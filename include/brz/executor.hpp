// The executor: runs rule lists for a number of steps with the semantics of docs/program.md.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

#include "brz/kernels.hpp"
#include "brz/world.hpp"

namespace brz {

struct ExecOptions {
  /// Threads for a parallel sweep; 0 = omp_get_max_threads().
  int max_threads = 0;
  /// A pair sweep runs on several threads when it has more pair interactions than this.
  std::size_t pair_parallel_threshold = 20000;
  /// A per-agent sweep runs on several threads when it has more agents than this.
  std::size_t agent_parallel_threshold = 50000;
  /// Kernel set to use; nullptr = active_kernels() (the one chosen at load).
  const KernelSet* kernels = nullptr;
};

struct IntegrateResult {
  uint64_t steps_done = 0;
  bool cancelled = false;
};

/// Polled once before every step; returning true stops the run (IntegrateResult::cancelled).
using CancelFn = std::function<bool()>;

/// Runs `steps` steps; each step applies the rules `rule_ids` in order. `dt` is param 0 for this
/// call (the world's other params come from world.params()). Throws ArgumentError for a rule id
/// out of range and NumericalError (type, agent index, lane, 1-based step) when a stored lane
/// becomes non-finite; the world's contents are then unspecified.
IntegrateResult integrate(WorldBase& world, const std::vector<uint32_t>& rule_ids, uint64_t steps,
                          double dt, const CancelFn& should_stop = nullptr,
                          const ExecOptions& options = ExecOptions());

}  // namespace brz
