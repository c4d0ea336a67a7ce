// Grid binning for the neighbour search (include/brz/neighbour_grid.hpp). Baseline ISA code.
#include "brz/neighbour_grid.hpp"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <optional>

#include "brz/counting_sort.hpp"
#include "brz/interval.hpp"

namespace brz {

template <class T>
bool bounding_box(const World<T>& w, const Rule& r, int threads, double* lo, double* hi) {
  for (int d = 0; d < 3; ++d) {
    lo[d] = INFINITY;
    hi[d] = -INFINITY;
  }
  for (int s = 0; s < (r.kind == RuleKind::PairSame ? 1 : 2); ++s) {
    const uint32_t type = s == 0 ? r.type_a : r.type_b;
    const uint32_t lane = s == 0 ? r.cutoff_lane_a : r.cutoff_lane_b;
    for (int d = 0; d < 3; ++d) {
      const std::optional<Interval> range = lane_range(w, type, lane + d, threads);
      if (!range) return false;  // a non-finite position
      lo[d] = std::min(lo[d], range->lo);
      hi[d] = std::max(hi[d], range->hi);
    }
  }
  return true;
}

template <class T>
void search_periodic(const World<T>& w, const Rule& r, bool periodic[3]) {
  const Program& p = w.program();
  const bool coords = w.has_box() && p.coord_lane(r.type_a) == r.cutoff_lane_a &&
                      p.coord_lane(r.type_b) == r.cutoff_lane_b;
  for (int d = 0; d < 3; ++d) periodic[d] = coords && w.box().periodic[d];
}

void make_grid(const double* lo, const double* hi, std::size_t agents, double width, CellGrid& g,
               const bool* periodic) {
  const std::size_t max_cells = std::min<std::size_t>(
      static_cast<std::size_t>(kMaxCellsPerAgent * double(agents)) + kCellsExtra,
      std::size_t(1) << 31);  // cell indices are u32
  for (;;) {
    std::size_t total = 1;
    for (int d = 0; d < 3; ++d) {
      const double k = std::floor((hi[d] - lo[d]) / width);
      g.dims[d] = !(k >= 1) ? 1u : k >= kMaxCellsPerAxis ? kMaxCellsPerAxis : uint32_t(k);
      total *= g.dims[d];
    }
    if (total <= max_cells) break;
    width *= 1.25;
  }
  for (int d = 0; d < 3; ++d) {
    const double len = hi[d] - lo[d];
    g.periodic[d] = periodic != nullptr && periodic[d];
    g.len[d] = g.periodic[d] ? len : 0.0;
    g.lo[d] = lo[d];
    g.inv[d] = (g.dims[d] > 1 || g.periodic[d]) && len > 0 ? double(g.dims[d]) / len : 0.0;
  }
  g.n_cells = std::size_t(g.dims[0]) * g.dims[1] * g.dims[2];
}

template <class T>
void bin_agents(const World<T>& w, uint32_t type, uint32_t lane, const CellGrid& g, CellBins& b,
                int threads) {
  const uint32_t* dims = g.dims;
  const std::size_t n = w.count(type);
  const std::size_t n_cells = std::size_t(dims[0]) * dims[1] * dims[2];
  b.cell.resize(n);
  const T* px = w.column(type, lane);
  const T* py = w.column(type, lane + 1);
  const T* pz = w.column(type, lane + 2);
  const long nl = static_cast<long>(n);
  uint32_t* cell = b.cell.data();
#pragma omp parallel for num_threads(threads) if (threads > 1) schedule(static)
  for (long i = 0; i < nl; ++i) {
    const T* p[3] = {px, py, pz};
    std::size_t idx[3];
    for (int d = 0; d < 3; ++d) idx[d] = std::size_t(axis_cell(g, d, double(p[d][i])));
    cell[i] = static_cast<uint32_t>((idx[2] * dims[1] + idx[1]) * dims[0] + idx[0]);
  }
  // Agents of a cell keep ascending index order.
  counting_sort(cell, n, n_cells, b.start, b.perm);
}

template <class T>
void gather_by_cell(const T* src, const uint32_t* perm, std::size_t n, T* dst, int threads) {
  const long nl = static_cast<long>(n);
#pragma omp parallel for num_threads(threads) if (threads > 1) schedule(static)
  for (long k = 0; k < nl; ++k) dst[k] = src[perm[k]];
}

void order_cells(const CellGrid& g, const CellBins& b, std::vector<uint32_t>& order) {
  const uint32_t nx = g.dims[0], ny = g.dims[1], nz = g.dims[2], B = kOrderBlock;
  const uint32_t* start = b.start.data();
  order.clear();
  for (uint32_t bz = 0; bz < nz; bz += B)
    for (uint32_t by = 0; by < ny; by += B)
      for (uint32_t bx = 0; bx < nx; bx += B)
        for (uint32_t z = bz; z < std::min(nz, bz + B); ++z)
          for (uint32_t y = by; y < std::min(ny, by + B); ++y) {
            const uint32_t row = (z * ny + y) * nx;
            for (uint32_t c = row + bx; c < row + std::min(nx, bx + B); ++c)
              if (start[c] != start[c + 1]) order.push_back(c);
          }
}

int neighbourhood(const CellGrid& g, int d, long c, long s, long* cells) {
  const long n = g.dims[d];
  int k = 0;
  if (g.periodic[d] && n < 2 * s + 1) {
    for (long q = 0; q < n; ++q) cells[k++] = q;
  } else if (g.periodic[d]) {
    for (long q = c - s; q <= c + s; ++q) cells[k++] = q < 0 ? q + n : q >= n ? q - n : q;
  } else {
    for (long q = std::max(0L, c - s); q <= std::min(n - 1, c + s); ++q) cells[k++] = q;
  }
  return k;
}

int neighbour_runs(const CellGrid& g, long x, long s, long* first, long* last) {
  const long n = g.dims[0];
  if (g.periodic[0] && n < 2 * s + 1) {
    first[0] = 0;
    last[0] = n - 1;
    return 1;
  }
  if (!g.periodic[0] || (x - s >= 0 && x + s < n)) {
    first[0] = std::max(0L, x - s);
    last[0] = std::min(n - 1, x + s);
    return 1;
  }
  // A periodic row that wraps: the cells up to the row's end, then those from its start.
  first[0] = x - s < 0 ? x - s + n : x - s;
  last[0] = n - 1;
  first[1] = 0;
  last[1] = x + s >= n ? x + s - n : x + s;
  return 2;
}

double candidate_pairs(const CellGrid& g, const CellBins& a, const CellBins& b, int max_threads,
                       long s, const ExecOptions& opts) {
  const long nx = g.dims[0], ny = g.dims[1];
  const long nc = static_cast<long>(g.n_cells);
  const int th = g.n_cells > opts.cell_count_parallel_threshold ? max_threads : 1;
  double cand = 0;
#pragma omp parallel for num_threads(th) if (th > 1) schedule(static) reduction(+ : cand)
  for (long c = 0; c < nc; ++c) {
    const std::size_t n_i = a.start[c + 1] - a.start[c];
    if (n_i == 0) continue;
    const long x = c % nx, y = (c / nx) % ny, z = c / (nx * ny);
    long ys[kMaxNeighbourhood], zs[kMaxNeighbourhood], x0[2], x1[2];
    const int n_y = neighbourhood(g, 1, y, s, ys), n_z = neighbourhood(g, 2, z, s, zs);
    const int n_x = neighbour_runs(g, x, s, x0, x1);
    std::size_t m = 0;
    for (int kz = 0; kz < n_z; ++kz)
      for (int ky = 0; ky < n_y; ++ky) {
        const long row = (zs[kz] * ny + ys[ky]) * nx;
        for (int kx = 0; kx < n_x; ++kx) m += b.start[row + x1[kx] + 1] - b.start[row + x0[kx]];
      }
    cand += double(n_i) * double(m);
  }
  return cand;
}

template void search_periodic(const World<double>&, const Rule&, bool*);
template void search_periodic(const World<float>&, const Rule&, bool*);
template bool bounding_box(const World<double>&, const Rule&, int, double*, double*);
template bool bounding_box(const World<float>&, const Rule&, int, double*, double*);
template void bin_agents(const World<double>&, uint32_t, uint32_t, const CellGrid&, CellBins&, int);
template void bin_agents(const World<float>&, uint32_t, uint32_t, const CellGrid&, CellBins&, int);
template void gather_by_cell(const double*, const uint32_t*, std::size_t, double*, int);
template void gather_by_cell(const float*, const uint32_t*, std::size_t, float*, int);
template void gather_by_cell(const uint32_t*, const uint32_t*, std::size_t, uint32_t*, int);

}  // namespace brz
