// Neighbour search for pair rules with a cutoff (docs/engine.md, "Neighbour search"): the sweep
// orchestration. The engine bounds a rule's cutoff over all pairs (interval.hpp, register_interval)
// and visits only the pairs that may be closer: rules over two types bin both types into a
// uniform grid whose cells are at least that wide (neighbour_grid.hpp) and visit the same and
// neighbouring cells; same-type rules keep a Verlet neighbour list with a skin
// (neighbour_verlet_list.hpp). Either way the per-pair semantics are exactly those of the all-pairs
// sweep.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "brz/aligned.hpp"
#include "brz/executor.hpp"
#include "brz/generated.hpp"
#include "brz/interpreter.hpp"
#include "brz/interval.hpp"
#include "brz/neighbour_grid.hpp"
#include "brz/neighbour_verlet_list.hpp"
#include "brz/program.hpp"
#include "brz/rule_path.hpp"
#include "brz/world.hpp"

namespace brz {

/// Neighbour-list sweeps prefetch the rows of upcoming pairs above this many agents (below it
/// the columns stay in cache and prefetching only costs instructions).
constexpr std::size_t kPrefetchRows = 200000;

/// The neighbour search of one world: its Verlet lists, the grid of the last prepare() and the
/// sweeps' buffers, kept in the world's engine cache (executor.cpp) from call to call. A list is
/// reused only after checking, at every sweep, that it still covers every pair within the
/// cutoff. A sweep is prepare(), then the sweep of the path rule_path() chose from its answer.
template <class T>
class NeighbourSearch {
 public:
  /// Readies the neighbour structure for one sweep of pair rule `r` when neighbour search is
  /// possible and pays off (see docs/engine.md): a grid for rules over two types, a (re)built
  /// or reused neighbour list for same-type rules, counting a list built in `stats`. Answers
  /// Neighbours::None, having changed nothing in the world, when the caller must sweep all
  /// pairs instead. On periodic axes (search_periodic) the search sees the minimum images, and
  /// a cutoff bound beyond half the box edge throws CutoffError (searched or not).
  SearchReady prepare(World<T>& w, const Rule& r, const T* consts, const T* params, int max_threads,
                      const ExecOptions& opts, RunStepsResult& stats);
  /// The sweep over the grid prepare() readied: adds the pair deltas to the world's columns
  /// and counts its pair evaluations in `stats`. `levels` is the rule's Level per register as
  /// bytes; `random` the key, step and row identities of its UNIFORM and NORMAL (ids_a / ids_b
  /// indexed by world row); `block_fn`, when not null, is the rule's generated pair-block kernel
  /// (generated_abi.hpp), which then runs the pairs instead of the interpreter.
  void sweep_grid(World<T>& w, const Rule& r, const T* consts, const T* params,
                  const uint8_t* levels, const RandomArgs& random, const SweepSet& ks,
                  int max_threads, const ExecOptions& opts, RunStepsResult& stats,
                  void (*block_fn)(const BrzKernelArgs<T>*));
  /// The sweep over the neighbour list prepare() readied, as sweep_grid; with `list_fn` (the
  /// rule's neighbour-list kernel) the listed pairs run through it, else the list filter
  /// gathers them into blocks for `block_fn` or the interpreter.
  void sweep_list(World<T>& w, const Rule& r, const T* consts, const T* params,
                  const uint8_t* levels, const RandomArgs& random, const SweepSet& ks,
                  const ExecOptions& opts, RunStepsResult& stats,
                  void (*block_fn)(const BrzKernelArgs<T>*),
                  void (*list_fn)(const BrzListArgs<T>*));
  /// After agents were removed or spawned: the neighbour lists follow the rows
  /// (VerletLists::rows_moved).
  void rows_moved(const World<T>& w, const std::vector<WorldBase::RowMoves>& moves) {
    lists_.rows_moved(w, moves);
  }
  /// Where children go in storage order (VerletLists::birth_rows).
  std::vector<uint32_t> birth_rows(const World<T>& w, uint32_t type,
                                   const WorldBase::Spawned& children) const {
    return lists_.birth_rows(w, type, children);
  }
  /// After a sweep: whether every value it stored is known to be finite (false when unknown);
  /// the caller's non-finite check may then be skipped.
  bool last_sweep_finite() const noexcept { return last_finite_; }

 private:
  /// Runs the interpreter's neighbour sweep `sweep` (GridSweepArgs or ListSweepArgs, whose
  /// PairBlockArgs it completes) over the lanes marked in used0 / used1; returns the pairs
  /// evaluated. `random`'s identities are indexed like cols_a / cols_b.
  template <class Sweep>
  uint64_t launch(const Rule& r, const T* consts, const T* params, const uint8_t* levels,
                  const RandomArgs& random, const SweepSet& ks, int n_threads, Sweep& sweep,
                  const std::vector<char>& used0, const std::vector<char>& used1, T* const* cols_a,
                  const T* const* cols_b, T* acc, const std::vector<std::size_t>& store_acc,
                  std::size_t acc_stride, void (*block_fn)(const BrzKernelArgs<T>*));
  /// The neighbour-list kernel over every sub-list of L, each into its own accumulator window
  /// (`block` elements, `n_acc` a row) with its blocks marked touched; returns the pairs
  /// evaluated.
  uint64_t run_list_kernel(const std::vector<T*>& cols, const T* params, const RandomArgs& random,
                           const NeighbourList<T>& L, void (*list_fn)(const BrzListArgs<T>*),
                           const std::vector<std::size_t>& store_acc, std::size_t n_acc,
                           std::size_t block);

  // What prepare() readied for the sweep that follows it.
  CellGrid grid_{};
  double reach_ = 0;                  // the cutoff bound with margin
  double candidates_ = 0;             // grid: candidate pairs
  int bin_threads_ = 1;               // grid: threads for binning, packing and scattering
  uint32_t n_params_ = 0;             // the program's params (the box edges follow them)
  NeighbourList<T>* list_ = nullptr;  // list: the rule's list

  VerletLists<T> lists_;
  CellBins a_, b_;                                     // grid: both types binned
  std::vector<std::vector<AlignedBuffer<T>>> packed_;  // grid: [0 = type_a, 1 = type_b][lane]
  AlignedBuffer<uint32_t> packed_ids_[2];              // grid: identities of the packed agents
  AlignedBuffer<T> acc_, scratch_, gbuf_;
  AlignedBuffer<T> list_acc_;  // neighbour-list accumulators (all -0.0 between sweeps)
  std::vector<std::vector<uint8_t>> touched_;  // per list: changed 64-row blocks (ListSweepArgs)
  bool list_acc_clean_ = false;
  bool last_finite_ = false;
  std::vector<const T*> ptrs_;
  std::vector<uint32_t> ibuf_;
  std::vector<uint64_t> evals_;
  std::vector<T*> bptrs_;
};

extern template class NeighbourSearch<double>;
extern template class NeighbourSearch<float>;

}  // namespace brz
