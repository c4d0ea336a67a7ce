// Neighbour search for pair rules with a cutoff (docs/engine.md, "Neighbour search").
//
// The engine bounds a rule's cutoff over all pairs (cells.hpp, cutoff_upper_bound) and visits
// only the pairs that may be closer: rules over two types bin both types into a uniform grid
// whose cells are at least that wide and visit the same and neighbouring cells; same-type rules
// keep a Verlet neighbour list with a skin, rebuilt when an agent has moved half the skin.
// Either way the per-pair semantics are exactly those of the all-pairs sweep.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "brz/aligned.hpp"
#include "brz/cells.hpp"
#include "brz/executor.hpp"
#include "brz/generated.hpp"
#include "brz/interpreter.hpp"
#include "brz/program.hpp"
#include "brz/rule_path.hpp"
#include "brz/world.hpp"

namespace brz {

/// Grid cells are at least (1 + kCellMargin) * bound wide: the margin covers the rounding of the
/// distance and cutoff as the kernels compute them (f32 included).
constexpr double kCellMargin = 1e-4;
/// At most this many cells per binned agent (plus kCellsExtra): sparse systems get wider cells
/// instead of mostly empty ones, so memory and time stay O(N).
constexpr double kMaxCellsPerAgent = 4.0;
constexpr std::size_t kCellsExtra = 64;
/// At most this many cells along one axis.
constexpr uint32_t kMaxCellsPerAxis = 1u << 20;
/// Neighbour-list sweeps prefetch the rows of upcoming pairs above this many agents (below it
/// the columns stay in cache and prefetching only costs instructions).
constexpr std::size_t kPrefetchRows = 200000;
/// Neighbour lists of same-type rules list the pairs closer than (1 + kSkinFraction) times the
/// cutoff bound; a list is reused while no agent has moved half the skin since it was built.
constexpr double kSkinFraction = 0.12;
/// Storage order of a listed type's rows: cells in blocks of kOrderBlock^3 cells, the blocks in
/// row-major order and the cells row-major inside a block. A sweep in that order finds most
/// neighbours within a few blocks, in the core's own cache, where a row-major order of cells puts
/// the cells above and below a whole plane of cells away (docs/engine.md, "Storage order").
constexpr uint32_t kOrderBlock = 8;
/// A type's rows are re-sorted by cell (World::reorder) when a list is built for it and it has
/// not been sorted in this run (or was reordered since by someone else), or kResortBuilds lists
/// of it have been built since its last sort.
constexpr uint32_t kResortBuilds = 16;

/// The neighbour search of one world: neighbour lists, the sort state of its types and its
/// buffers, kept in the world's engine cache (executor.cpp) from call to call. A list is reused
/// only after checking, at every sweep, that it still covers every pair within the cutoff.
/// A sweep is prepare(), then the sweep of the path rule_path() chose from its answer.
template <class T>
class NeighbourSearch {
 public:
  /// Readies the neighbour structure for one sweep of pair rule `r` when neighbour search is
  /// possible and pays off (see docs/engine.md): a grid for rules over two types, a (re)built
  /// or reused neighbour list for same-type rules, counting a list built in `stats`. Answers
  /// Neighbours::None, having changed nothing in the world, when the caller must sweep all
  /// pairs instead.
  SearchReady prepare(World<T>& w, const Rule& r, const T* consts, const T* params, int max_threads,
                      const ExecOptions& opts, RunStepsResult& stats);
  /// The sweep over the grid prepare() readied: adds the pair deltas to the world's columns
  /// and counts its pair evaluations in `stats`. `levels` is the rule's Level per register as
  /// bytes; `block_fn`, when not null, is the rule's generated pair-block kernel
  /// (generated_abi.hpp), which then runs the pairs instead of the interpreter.
  void sweep_grid(World<T>& w, const Rule& r, const T* consts, const T* params,
                  const uint8_t* levels, const SweepSet& ks, int max_threads,
                  const ExecOptions& opts, RunStepsResult& stats,
                  void (*block_fn)(const BrzKernelArgs<T>*));
  /// The sweep over the neighbour list prepare() readied, as sweep_grid; with `list_fn` (the
  /// rule's neighbour-list kernel) the listed pairs run through it, else the list filter
  /// gathers them into blocks for `block_fn` or the interpreter.
  void sweep_list(World<T>& w, const Rule& r, const T* consts, const T* params,
                  const uint8_t* levels, const SweepSet& ks, const ExecOptions& opts,
                  RunStepsResult& stats, void (*block_fn)(const BrzKernelArgs<T>*),
                  void (*list_fn)(const BrzListArgs<T>*));
  /// After a sweep: whether every value it stored is known to be finite (false when unknown);
  /// the caller's non-finite check may then be skipped.
  bool last_sweep_finite() const noexcept { return last_finite_; }

 private:
  struct Bins {
    std::vector<uint32_t> cell;   // per agent: its cell
    std::vector<uint32_t> start;  // n_cells + 1
    std::vector<uint32_t> perm;   // packed index -> agent index
  };
  /// A same-type rule's neighbour list (docs/engine.md, "Neighbour lists"): pairs of rows.
  struct NeighbourList {
    const Rule* rule = nullptr;
    uint64_t epoch = 0;     // the world's order_epoch when built
    double reach = 0;       // the cutoff bound (with margin) it was built for
    double skin = 0;        // listed: pairs closer than reach + skin
    int threads = 1;        // one sub-list per thread
    std::vector<T> origin;  // positions at the build: x of every row, then y, then z
    std::vector<std::vector<uint32_t>> li, lj;
    std::vector<std::size_t> count;
    std::vector<uint32_t> lo, hi;  // per sub-list: rows [lo, hi) its pairs touch
    double candidates = 0;         // pairs of agents in neighbouring cells at the last build
    double mean_run = 0;           // listed pairs per slot-0 row that has any
  };
  /// Per-thread scratch of build_list, kept so that a rebuild does not fault in fresh pages.
  struct BuildScratch {
    std::vector<uint32_t> s0, s1, hits, at;
  };
  struct Grid {
    double lo[3], inv[3];
    uint32_t dims[3];
    std::size_t n_cells;
  };

  void bin(const World<T>& w, uint32_t type, uint32_t lane, const double* lo, const double* inv,
           const uint32_t* dims, Bins& b, int threads);
  /// Bounding box of the position lanes of `r`'s slots; false when a position is not finite.
  bool bounding_box(const World<T>& w, const Rule& r, int threads, double* lo, double* hi) const;
  /// A grid over the box [lo, hi] with cells at least `width` wide (wider within the cell budget
  /// of `agents` binned agents).
  static void make_grid(const double* lo, const double* hi, std::size_t agents, double width,
                        Grid& g);
  /// The cells of `g` that hold an agent of `b`, in storage order (kOrderBlock).
  static void order_cells(const Grid& g, const Bins& b, std::vector<uint32_t>& order);
  /// Agent pairs (ordered, i == j included for kind 1) within s cells of each other per axis.
  double candidates(const Grid& g, const Bins& a, const Bins& b, int max_threads, long s,
                    const ExecOptions& opts) const;
  bool list_valid(const World<T>& w, const Rule& r, const NeighbourList& L, double reach,
                  int threads) const;
  bool build_list(World<T>& w, const Rule& r, double reach, int max_threads,
                  const ExecOptions& opts, NeighbourList& L);
  /// prepare() of a same-type rule: finds the rule's list and rebuilds it when it no longer
  /// covers every pair within `reach`.
  SearchReady prepare_list(World<T>& w, const Rule& r, double reach, int max_threads,
                           const ExecOptions& opts, RunStepsResult& stats);
  uint64_t launch(const Rule& r, const T* consts, const T* params, const uint8_t* levels,
                  const SweepSet& ks, int n_threads, CellArgs<T>& ca,
                  const std::vector<char>& used0, const std::vector<char>& used1, T* const* cols_a,
                  const T* const* cols_b, T* acc, const std::vector<std::size_t>& store_acc,
                  std::size_t acc_stride, void (*block_fn)(const BrzKernelArgs<T>*));
  /// The neighbour-list kernel over every sub-list of L, each into its own accumulator window
  /// (`block` elements, `n_acc` a row) with its blocks marked touched; returns the pairs
  /// evaluated.
  uint64_t run_list_kernel(const std::vector<T*>& cols, const T* params, const NeighbourList& L,
                           void (*list_fn)(const BrzListArgs<T>*),
                           const std::vector<std::size_t>& store_acc, std::size_t n_acc,
                           std::size_t block);

  // What prepare() readied for the sweep that follows it.
  Grid grid_{};
  double reach_ = 0;               // the cutoff bound with margin
  double candidates_ = 0;          // grid: candidate pairs
  int bin_threads_ = 1;            // grid: threads for binning, packing and scattering
  NeighbourList* list_ = nullptr;  // list: the rule's list

  Bins a_, b_;
  std::vector<NeighbourList> lists_;
  struct SortState {
    uint64_t epoch = UINT64_MAX;  // the type's order_epoch after its last sort by this object
    uint32_t builds = 0;          // lists built since
  };
  std::vector<SortState> sort_state_;                  // per type
  std::vector<uint32_t> order_, sigma_;                // build_list: cells and rows in order
  std::vector<BuildScratch> build_scratch_;            // build_list: per thread
  std::vector<std::vector<AlignedBuffer<T>>> packed_;  // [0 = type_a, 1 = type_b][lane]
  AlignedBuffer<T> acc_, scratch_, gbuf_;
  AlignedBuffer<T> list_acc_;  // neighbour-list accumulators (all -0.0 between sweeps)
  std::vector<std::vector<uint8_t>> touched_;  // per list: changed 64-row blocks (CellArgs)
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
