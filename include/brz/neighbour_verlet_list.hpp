// Verlet neighbour lists of same-type pair rules with a cutoff (docs/engine.md, "Neighbour
// lists"): half lists of the pairs closer than the cutoff bound plus a skin, reused while no
// agent has moved half the skin, rebuilt (and the type's rows re-sorted by cell) otherwise.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "brz/aligned.hpp"
#include "brz/exclusions.hpp"
#include "brz/executor.hpp"
#include "brz/neighbour_grid.hpp"
#include "brz/program.hpp"
#include "brz/world.hpp"

namespace brz {

/// Neighbour lists of same-type rules list the pairs closer than (1 + f) times the cutoff bound,
/// f starting at kSkinFraction; a list is reused while no agent has moved half the skin since it
/// was built. A list that lasted fewer than kShortLived sweeps widens its skin by half (up to
/// kMaxSkinFraction): a short cutoff (a WCA core) with fast agents would otherwise be rebuilt
/// nearly every step; one that lasted more than kLongLived narrows it back.
constexpr double kSkinFraction = 0.12;
constexpr double kMaxSkinFraction = 0.4;
constexpr uint32_t kShortLived = 4;
constexpr uint32_t kLongLived = 40;
/// A build bins the agents in cells half as wide as the list (a 5x5x5 stencil) only while those
/// cells hold at least this many agents on average; sparser, most stencil cells are empty and
/// walking 13 rows of cells per cell costs more than the candidates they save, so it bins in
/// cells as wide as the list (3x3x3), provided they are at least kMinFullCellsPerAxis to an
/// axis that has more than one.
constexpr double kMinAgentsPerHalfCell = 1.0;
constexpr uint32_t kMinFullCellsPerAxis = 4;
/// Entries of a sub-list's li and lj that stay readable past its count (each one a row of the
/// list): the neighbour-list kernels round every row's run (or, across rows, the list) up to
/// whole vectors of 8 pairs (generated_abi.hpp, BrzListArgs) and read up to 7 entries past
/// the last.
constexpr std::size_t kListPadding = 8;
/// A type's rows are re-sorted by cell (World::reorder) when a list is built for it and it has
/// not been sorted in this run (or was reordered since by someone else), or kResortBuilds lists
/// of it have been built since its last sort.
constexpr uint32_t kResortBuilds = 16;

/// A row appended to a list since its build (a child): its cell, its row and its origin, read
/// together when a later child looks for its neighbours.
template <class T>
struct AppendedRow {
  uint32_t cell, row;
  T origin[3];
  bool operator<(const AppendedRow& b) const {
    return cell != b.cell ? cell < b.cell : row < b.row;
  }
};

/// A same-type rule's neighbour list: pairs of rows, split into one sub-list per thread, each
/// sorted by slot-0 row (children's pairs are merged in: VerletLists::rows_moved).
template <class T>
struct NeighbourList {
  const Rule* rule = nullptr;
  uint64_t epoch = 0;                    // the world's order_epoch when built
  double reach = 0;                      // the cutoff bound (with margin) it was built for
  double skin = 0;                       // listed: pairs closer than reach + skin
  double skin_fraction = kSkinFraction;  // of the reach, for the next build
  uint32_t sweeps = 0;                   // sweeps since the last build
  int threads = 1;                       // one sub-list per thread
  std::vector<T> origin;                 // positions at the build: x of every row, then y, then z
  std::vector<AlignedBuffer<uint32_t>> li, lj;  // per sub-list: its first count[t] entries
  std::vector<std::size_t> count;
  std::vector<uint32_t> lo, hi;  // per sub-list: rows [lo, hi) its pairs touch
  double candidates = 0;         // pairs of agents in neighbouring cells at the last build
  double mean_run = 0;           // listed pairs per slot-0 row that has any
  // The cells of the origins, kept so that the list can follow births and deaths
  // (VerletLists::rows_moved): a grid of cells at least the list's width wide, the rows of cell
  // c at cell_rows[cell_start[c] .. cell_start[c + 1]) (kGoneRow once removed), and the rows
  // appended since, in ascending (cell, row) order with their origins.
  CellGrid grid{};
  std::vector<uint32_t> cell_start, cell_rows;
  std::vector<T> cell_origin;  // x, y, z of the origin of each cell_rows entry
  std::vector<AppendedRow<T>> appended;
  // A rule with exclusions: where they stood when the list dropped them (a list is rebuilt
  // when either type has changed since), and the excluded pairs then read, which the next
  // build reuses while both types keep their order (most builds do not re-sort the rows).
  ExclusionStamp exclusions;
  ExcludedPairs excluded;
};

/// The neighbour lists of one world, one per same-type rule, with the sort state of its types
/// and the buffers of their builds (kept between builds, so that a rebuild does not fault in
/// fresh pages).
template <class T>
class VerletLists {
 public:
  /// The list of rule `r` covering every pair within `reach` (the cutoff bound with margin):
  /// the rule's list when it still does, else a fresh build (counted in `stats`). nullptr when
  /// a list does not pay off (too many candidate pairs) or a position is not finite: the caller
  /// then sweeps all pairs. The pointer is valid until the next call.
  NeighbourList<T>* prepare(World<T>& w, const Rule& r, double reach, int max_threads,
                            const ExecOptions& opts, RunStepsResult& stats);
  /// After agents were removed or spawned (WorldBase::apply_lifecycle): every list of a changed
  /// type that was current follows its rows (the pairs of removed rows dropped, the others
  /// renumbered, the children's pairs within the list's width of their origins added, in
  /// slot-0 order) and stays current, as does the type's sort; it is then reused while no
  /// agent, child or not, has moved half the skin since its origin.
  void rows_moved(const World<T>& w, const std::vector<WorldBase::RowMoves>& moves);
  /// Where children about to be appended to `type` go in storage order (Spawned::rows): by
  /// the cell of their position in the grid of a current list of the type, ties in their own
  /// order, so that rows near in the sweeps' order hold agents near in space; empty (their
  /// own order) when no list of the type is current.
  std::vector<uint32_t> birth_rows(const World<T>& w, uint32_t type,
                                   const WorldBase::Spawned& children) const;

 private:
  /// Per-thread scratch of build.
  struct BuildScratch {
    AlignedBuffer<uint32_t> s0, s1;
    std::vector<uint32_t> hits, at;
  };
  struct SortState {
    uint64_t epoch = UINT64_MAX;  // the type's order_epoch after its last sort by this object
    uint32_t builds = 0;          // lists built since
  };

  /// Whether L still lists every pair of r within `reach`.
  bool valid(const World<T>& w, const Rule& r, const NeighbourList<T>& L, double reach,
             int threads) const;
  /// rows_moved for one list of the type that `m` changed.
  void follow(const World<T>& w, NeighbourList<T>& L, const WorldBase::RowMoves& m);
  /// (Re)builds L, without the pairs r's exclusions name; false when the list does not pay off
  /// or a position is not finite.
  bool build(World<T>& w, const Rule& r, double reach, int max_threads, const ExecOptions& opts,
             NeighbourList<T>& L);

  std::vector<NeighbourList<T>> lists_;
  std::vector<SortState> sort_state_;        // per type
  CellBins bins_;                            // build: the type's agents binned
  std::vector<uint32_t> order_, sigma_;      // build: cells and rows in order
  std::vector<uint32_t> key_;                // build: caller index per bin slot
  std::vector<BuildScratch> build_scratch_;  // build: per thread
  std::vector<AlignedBuffer<T>> pos_;        // build: positions in cell order
  std::vector<T> origin_spare_;              // rows_moved: the next origins
  std::vector<uint32_t> appended_start_;     // rows_moved: per cell, its first appended row
  std::vector<uint32_t> owner_;              // rows_moved: per 64-row block, its sub-list
  std::vector<uint32_t> children_by_cell_;   // rows_moved: the children's rows, by cell
};

extern template class VerletLists<double>;
extern template class VerletLists<float>;

}  // namespace brz
