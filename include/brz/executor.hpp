// The executor: runs rule lists for a number of steps with the semantics of docs/program.md.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "brz/generated.hpp"
#include "brz/kernels.hpp"
#include "brz/world.hpp"

namespace brz {

/// Default of ExecOptions::cell_lists: true unless the environment variable BRZ_CELLS is "0"
/// (read once, at first use).
bool cell_lists_default() noexcept;

/// ExecOptions::worker_nice for the SCHED_IDLE policy, below every nice value.
constexpr int kWorkerIdle = 20;

struct ExecOptions {
  /// Threads for a parallel sweep; 0 = omp_get_max_threads().
  int max_threads = 0;
  /// A pair sweep runs on several threads when it has more pair interactions than this.
  std::size_t pair_parallel_threshold = 20000;
  /// A neighbour list is built for (and swept by) several threads when its cells hold more
  /// candidate pairs than this. Below it a sweep takes tens of microseconds, about what waking
  /// the other thread costs on a virtual machine (10,000 collision spheres, about 40,000
  /// candidates: 6.8-7.1 ns per particle-step on one thread, 7.3-9.5 on two).
  std::size_t list_parallel_threshold = 100000;
  /// A per-agent sweep runs on several threads when it has more agents than this. Per-agent
  /// sweeps are memory-bound (a 100k-agent integrate takes ~40 us on one core), and after a
  /// parallel region libgomp's idle workers spin for milliseconds by default, taking cores the
  /// BEAM needs (docs/engine.md, "OpenMP and the BEAM"), so only large sweeps are threaded.
  std::size_t agent_parallel_threshold = 200000;
  /// Kernel set to use; nullptr = active_kernels() (the one chosen at load).
  const KernelSet* kernels = nullptr;
  /// Fused kernels generated from the world's program (docs/kernels.md); nullptr = none. Used
  /// for all-pairs and per-agent sweeps of the rules it covers, and for cell-list sweeps of the
  /// rules it has pair-block kernels for, when `use_generated` is true and the environment does
  /// not say BRZ_KERNELS=0; the interpreter runs every other sweep.
  const KernelLibrary* generated = nullptr;
  bool use_generated = true;
  /// Cell lists for pair rules with a cutoff (docs/engine.md, "Cell lists"); false forces the
  /// all-pairs sweep. The default honours BRZ_CELLS=0.
  bool cell_lists = cell_lists_default();
  /// Cell lists are tried only for sweeps with at least this many pairs...
  std::size_t cell_min_pairs = 4096;
  /// ...and used only when the candidate pairs they visit are at most this fraction of all pairs.
  double cell_max_fraction = 0.5;
  /// Cancellation flag (non-zero: stop), set by another thread while the run goes on; nullptr =
  /// none. Polled before every rule and, inside all-pairs sweeps, every few rows of slot 0.
  const int* cancel = nullptr;
  /// Priority of the OpenMP worker threads of the calling thread's team during a run (Linux;
  /// never the calling thread itself): 0 leaves it alone, 1-19 is a nice value, kWorkerIdle
  /// the SCHED_IDLE policy (they run only on cores nothing else wants). The NIF asks for
  /// kWorkerIdle so that the engine's workers give their cores to the BEAM's schedulers.
  int worker_nice = 0;
};

/// Whether rule `id` of `world`'s program runs its per-agent or all-pairs sweeps through a
/// generated kernel under `options` (false: the interpreter runs them). A cutoff rule may still
/// run cell-list sweeps instead of all-pairs ones when those pay off (they take precedence).
bool uses_generated_kernel(const WorldBase& world, uint32_t id, const ExecOptions& options);

struct IntegrateResult {
  uint64_t steps_done = 0;
  bool cancelled = false;
  /// Pair sweeps run with cell lists / over all pairs, and pair evaluations done by both (one per
  /// pair handed to the kernel, including the cell neighbours beyond the cutoff).
  uint64_t cell_sweeps = 0, all_pairs_sweeps = 0, pair_evaluations = 0;
  /// Per-agent and all-pairs sweeps run by generated kernels (docs/kernels.md).
  uint64_t generated_sweeps = 0;
  /// Cell-list sweeps (counted in cell_sweeps too) run by generated pair-block or
  /// neighbour-list kernels, and of those, the ones run by neighbour-list kernels.
  uint64_t generated_cell_sweeps = 0, generated_list_sweeps = 0;
  /// Neighbour lists built (docs/engine.md, "Neighbour lists"); a cell-list sweep of a
  /// same-type rule that did not build one reused the list of an earlier step.
  uint64_t neighbour_builds = 0;
};

/// Runs `steps` steps; each step applies the rules `rule_ids` in order. `dt` is param 0 for this
/// call (the world's other params come from world.params()). Throws ArgumentError for a rule id
/// out of range and NumericalError (type, agent index, lane, 1-based step) when a stored lane
/// becomes non-finite. A run stopped by options.cancel returns with IntegrateResult::cancelled
/// (steps_done counts the complete steps). After a NumericalError or a cancellation the world's
/// contents are unspecified: the caller restores a WorldSnapshot taken before the run.
IntegrateResult integrate(WorldBase& world, const std::vector<uint32_t>& rule_ids, uint64_t steps,
                          double dt, const ExecOptions& options = ExecOptions());

}  // namespace brz
