// Grid binning for the neighbour search (docs/engine.md, "Neighbour search", "Grid"): a uniform
// grid over the positions of a rule's slots, agents binned into its cells by a stable counting
// sort, lanes packed in cell order, the storage order of cells, and the count of candidate pairs
// that decides whether cells pay off. Both the grid sweep and the Verlet list build use it.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "brz/executor.hpp"
#include "brz/program.hpp"
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
/// Storage order of a listed type's rows: cells in blocks of kOrderBlock^3 cells, the blocks in
/// row-major order and the cells row-major inside a block. A sweep in that order finds most
/// neighbours within a few blocks, in the core's own cache, where a row-major order of cells puts
/// the cells above and below a whole plane of cells away (docs/engine.md, "Storage order").
constexpr uint32_t kOrderBlock = 8;

/// A uniform grid of dims[0] * dims[1] * dims[2] cells (x fastest) from `lo`; `inv` is cells
/// per unit length along each axis (0 for an open axis of one cell). A periodic axis covers the
/// box edge [lo, lo + len) and wraps: a position outside it is binned as its image inside, and
/// the cells at both ends are neighbours. `len` is 0 on open axes.
struct CellGrid {
  double lo[3], inv[3];
  uint32_t dims[3];
  std::size_t n_cells;
  bool periodic[3];
  double len[3];
};

/// The periodic axes a rule's neighbour search wraps: those of the world's box, when the rule's
/// cutoff lanes are the coordinates of both its types (the lanes the world wraps); none
/// otherwise.
template <class T>
void search_periodic(const World<T>& w, const Rule& r, bool periodic[3]);

/// Cell index along a periodic axis of `dims` cells for offset v = (x - lo) * inv (finite).
inline long wrap_cell(double v, long dims) {
  // Far-out values are clamped before the conversion; their cell is then any cell, which only
  // costs a fuller neighbourhood in theory and never happens within a step in practice.
  const double f = std::floor(v < -1e15 ? -1e15 : v > 1e15 ? 1e15 : v);
  long k = static_cast<long>(f) % dims;
  return k < 0 ? k + dims : k;
}

/// The cell coordinate along axis d of `g` of coordinate value x: periodic axes wrap, open axes
/// clamp to their first and last cells (bin_agents and the lookups of a list's births).
inline long axis_cell(const CellGrid& g, int d, double x) {
  const double v = (x - g.lo[d]) * g.inv[d];
  if (g.periodic[d]) return wrap_cell(v, long(g.dims[d]));
  const long k = v > 0 ? static_cast<long>(v) : 0;
  return k >= long(g.dims[d]) ? long(g.dims[d]) - 1 : k;
}

/// The floor of a / b for b > 0 (the image of cell index a on an axis of b cells).
inline long floor_div(long a, long b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

/// The agents of one type binned into a CellGrid.
struct CellBins {
  std::vector<uint32_t> cell;   // per agent: its cell
  std::vector<uint32_t> start;  // n_cells + 1: the agents of cell c are perm[start[c], start[c+1])
  std::vector<uint32_t> perm;   // packed index -> agent index
};

/// Bounding box of the position lanes of `r`'s slots (`threads` threads scan them); false when
/// a position is not finite.
template <class T>
bool bounding_box(const World<T>& w, const Rule& r, int threads, double* lo, double* hi);

/// A grid over the box [lo, hi] with cells at least `width` wide (wider within the cell budget
/// of `agents` binned agents); the axes marked in `periodic` (may be null) wrap, over [lo, hi).
void make_grid(const double* lo, const double* hi, std::size_t agents, double width, CellGrid& g,
               const bool* periodic = nullptr);

/// Bins the agents of `type` by the three position lanes from `lane` into `g`: a stable O(N +
/// cells) counting sort, so the agents of a cell keep ascending index order.
template <class T>
void bin_agents(const World<T>& w, uint32_t type, uint32_t lane, const CellGrid& g, CellBins& b,
                int threads);

/// dst[k] = src[perm[k]] for k < n: a lane packed in cell order.
template <class T>
void gather_by_cell(const T* src, const uint32_t* perm, std::size_t n, T* dst, int threads);

/// The cells of `g` that hold an agent of `b`, in storage order (kOrderBlock).
void order_cells(const CellGrid& g, const CellBins& b, std::vector<uint32_t>& order);

/// The most cells a neighbourhood spans along one axis (stencils of up to 2 * 2 + 1 cells).
constexpr int kMaxNeighbourhood = 5;

/// The distinct cells along axis d within s cells of cell c (s <= 2): clamped to the grid on
/// an open axis, wrapped on a periodic one (every cell once when the axis has fewer than
/// 2s + 1). Writes them to `cells`; returns how many.
int neighbourhood(const CellGrid& g, int d, long c, long s, long* cells);
/// The same along x as at most two runs of consecutive cells [first[k], last[k]].
int neighbour_runs(const CellGrid& g, long x, long s, long* first, long* last);

/// Agent pairs (ordered, i == j included when a and b are the same bins) within s cells of each
/// other per axis (cyclically on periodic axes, each cell of a neighbourhood counted once).
double candidate_pairs(const CellGrid& g, const CellBins& a, const CellBins& b, int max_threads,
                       long s, const ExecOptions& opts);

}  // namespace brz
