// The executor: runs rule lists for a number of steps with the semantics of docs/program.md.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "brz/env.hpp"
#include "brz/generated.hpp"
#include "brz/interpreter.hpp"
#include "brz/rule_path.hpp"
#include "brz/world.hpp"

namespace brz {

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
  /// sweeps are memory-bound (a 100k-agent per-agent sweep takes ~40 us on one core), and after a
  /// parallel region libgomp's idle workers spin for milliseconds by default, taking cores the
  /// BEAM needs (docs/engine.md, "OpenMP and the BEAM"), so only large sweeps are threaded.
  std::size_t agent_parallel_threshold = 200000;
  /// A bonded sweep runs on several threads when it has more agents (bonds) than this: a bond
  /// gathers its agents' lanes and scatters to them, about ten times a per-agent rule's work
  /// (31,680 FENE bonds: 1.1 ms a step on one thread), so two chunks of 4,096 are worth it.
  std::size_t bonded_parallel_threshold = 8192;
  /// Neighbour search bins, packs and scatters (and checks a neighbour list, and sums its
  /// accumulators) on several threads when it handles more agents (rows) than this.
  std::size_t bin_parallel_threshold = 50000;
  /// Neighbour search counts the candidate pairs of a grid on several threads when the grid
  /// has more cells than this.
  std::size_t cell_count_parallel_threshold = 200000;
  /// The non-finite check scans a stored column on several threads when it has more values
  /// than this (24 blocks of 8192).
  std::size_t check_parallel_threshold = 24 * 8192;
  /// The interpreter's sweeps to use; nullptr = active_sweeps() (the ISA chosen at load).
  const SweepSet* sweeps = nullptr;
  /// Fused kernels generated from the world's program (docs/kernels.md); nullptr = none. Used
  /// for the sweeps whose path (rule_path, rule_path.hpp) is one of its kernels, when
  /// `use_generated` is true and the environment does not say
  /// BROKEN_RECORD_GENERATED_KERNELS=0; the interpreter runs every other sweep.
  const KernelLibrary* generated = nullptr;
  bool use_generated = true;
  /// Neighbour search for pair rules with a cutoff (docs/engine.md, "Neighbour search"); false
  /// forces the all-pairs sweep. The default honours BROKEN_RECORD_NEIGHBOURS=0.
  bool neighbour_search = env::neighbour_search();
  /// Neighbour search is tried only for sweeps with at least this many pairs...
  std::size_t search_min_pairs = 4096;
  /// ...and used only when the candidate pairs they visit are at most this fraction of all pairs.
  double search_max_fraction = 0.5;
  /// Cancellation flag (non-zero: stop), set by another thread while the run goes on; nullptr =
  /// none. Polled before every rule and, inside all-pairs sweeps, every few rows of slot 0.
  const int* cancel = nullptr;
  /// Priority of the OpenMP worker threads of the calling thread's team during a run (Linux;
  /// never the calling thread itself): 0 leaves it alone, 1-19 is a nice value, kWorkerIdle
  /// the SCHED_IDLE policy (they run only on cores nothing else wants). The NIF asks for
  /// kWorkerIdle so that the engine's workers give their cores to the BEAM's schedulers.
  int worker_nice = 0;
};

struct RunStepsResult {
  uint64_t steps_done = 0;
  bool cancelled = false;
  /// Sweeps run per path (indexed by RulePath, names in kRulePathNames).
  std::array<uint64_t, kRulePaths> sweeps{};
  /// Pair evaluations done by pair sweeps: one per pair handed to the kernel or the
  /// interpreter, including the neighbours beyond the cutoff.
  uint64_t pair_evaluations = 0;
  /// Neighbour lists built (docs/engine.md, "Neighbour lists"); a neighbour-list sweep that did
  /// not build one reused the list of an earlier step.
  uint64_t neighbour_builds = 0;
  /// Wall-clock seconds in pair sweeps (kernels or the interpreter over pairs, with their
  /// packing and reductions) and in neighbour work (binning, list builds, validity checks).
  double pair_seconds = 0;
  double neighbour_seconds = 0;

  /// Sweeps run on `path`.
  uint64_t& on(RulePath path) noexcept { return sweeps[static_cast<std::size_t>(path)]; }
  uint64_t on(RulePath path) const noexcept { return sweeps[static_cast<std::size_t>(path)]; }
};

/// Runs `steps` steps; each step applies the rules `rule_ids` in order. `dt` is param 0 for this
/// call (the world's other params come from world.params()). Throws ArgumentError for a rule id
/// out of range and NumericalError (type, agent index, lane, 1-based step) when a stored lane
/// becomes non-finite. A run stopped by options.cancel returns with RunStepsResult::cancelled
/// (steps_done counts the complete steps). A periodic program's coordinates are wrapped into the
/// world's box at the end of every step (WorldBase::wrap_all); a cutoff bound beyond half the
/// box edge throws CutoffError. After a NumericalError or a cancellation the world's
/// contents are unspecified: the caller restores a WorldSnapshot taken before the run.
RunStepsResult run_steps(WorldBase& world, const std::vector<uint32_t>& rule_ids, uint64_t steps,
                         double dt, const ExecOptions& options = ExecOptions());

}  // namespace brz
