// Neighbour search for pair rules with a cutoff (docs/engine.md, "Neighbour search"): grid
// binning (O(N) counting sort) and packing for rules over two types, Verlet neighbour lists
// with a skin for same-type rules, and the hand-off of the pairs found to the interpreter's
// sweep (interpreter.cpp, sweep_cells) or the rule's generated kernels. Baseline ISA code.
#include "brz/neighbour_search.hpp"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <vector>

namespace brz {
namespace {

// dst[k] = src[perm[k]] for k < n (a lane in cell order).
template <class T>
void gather(const T* src, const uint32_t* perm, std::size_t n, T* dst, int threads) {
  const long nl = static_cast<long>(n);
#pragma omp parallel for num_threads(threads) if (threads > 1) schedule(static)
  for (long k = 0; k < nl; ++k) dst[k] = src[perm[k]];
}

}  // namespace

template <class T>
void NeighbourSearch<T>::bin(const World<T>& w, uint32_t type, uint32_t lane, const double* lo,
                             const double* inv, const uint32_t* dims, Bins& b, int threads) {
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
    for (int d = 0; d < 3; ++d) {
      const double v = (double(p[d][i]) - lo[d]) * inv[d];
      long k = v > 0 ? static_cast<long>(v) : 0;
      if (k >= long(dims[d])) k = long(dims[d]) - 1;
      idx[d] = std::size_t(k);
    }
    cell[i] = static_cast<uint32_t>((idx[2] * dims[1] + idx[1]) * dims[0] + idx[0]);
  }
  // Stable counting sort (agents of a cell keep ascending index order).
  b.start.assign(n_cells + 1, 0);
  for (std::size_t i = 0; i < n; ++i) ++b.start[cell[i] + 1];
  for (std::size_t c = 0; c < n_cells; ++c) b.start[c + 1] += b.start[c];
  b.perm.resize(n);
  // Fill using the running starts, then restore them (start[c] is shifted to start[c+1]).
  for (std::size_t i = 0; i < n; ++i) b.perm[b.start[cell[i]]++] = static_cast<uint32_t>(i);
  for (std::size_t c = n_cells; c > 0; --c) b.start[c] = b.start[c - 1];
  b.start[0] = 0;
}

template <class T>
bool NeighbourSearch<T>::bounding_box(const World<T>& w, const Rule& r, int threads, double* lo,
                                      double* hi) const {
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
void NeighbourSearch<T>::make_grid(const double* lo, const double* hi, std::size_t agents,
                                   double width, Grid& g) {
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
    g.lo[d] = lo[d];
    g.inv[d] = g.dims[d] > 1 && len > 0 ? double(g.dims[d]) / len : 0.0;
  }
  g.n_cells = std::size_t(g.dims[0]) * g.dims[1] * g.dims[2];
}

template <class T>
void NeighbourSearch<T>::order_cells(const Grid& g, const Bins& b, std::vector<uint32_t>& order) {
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

template <class T>
double NeighbourSearch<T>::candidates(const Grid& g, const Bins& a, const Bins& b, int max_threads,
                                      long s, const ExecOptions& opts) const {
  const long nx = g.dims[0], ny = g.dims[1], nz = g.dims[2];
  const long nc = static_cast<long>(g.n_cells);
  const int th = g.n_cells > opts.cell_count_parallel_threshold ? max_threads : 1;
  double cand = 0;
#pragma omp parallel for num_threads(th) if (th > 1) schedule(static) reduction(+ : cand)
  for (long c = 0; c < nc; ++c) {
    const std::size_t n_i = a.start[c + 1] - a.start[c];
    if (n_i == 0) continue;
    const long x = c % nx, y = (c / nx) % ny, z = c / (nx * ny);
    const long x0 = std::max(0L, x - s), x1 = std::min(nx - 1, x + s);
    std::size_t m = 0;
    for (long zz = std::max(0L, z - s); zz <= std::min(nz - 1, z + s); ++zz)
      for (long yy = std::max(0L, y - s); yy <= std::min(ny - 1, y + s); ++yy) {
        const long row = (zz * ny + yy) * nx;
        m += b.start[row + x1 + 1] - b.start[row + x0];
      }
    cand += double(n_i) * double(m);
  }
  return cand;
}

template <class T>
bool NeighbourSearch<T>::list_valid(const World<T>& w, const Rule& r, const NeighbourList& L,
                                    double reach, int threads) const {
  const std::size_t n = w.count(r.type_a);
  if (L.rule != &r || L.epoch != w.order_epoch(r.type_a) || L.origin.size() != 3 * n) return false;
  if (!(reach <= L.reach)) return false;
  // Every agent within half the skin of where it was at the build (a little less, for the
  // rounding of the distance as computed here and by the kernels).
  const double limit = 0.25 * L.skin * L.skin * (1 - 1e-6);
  const T* p[3];
  for (int d = 0; d < 3; ++d) p[d] = w.column(r.type_a, r.cutoff_lane_a + d);
  const T* ox = L.origin.data();
  const T* oy = ox + n;
  const T* oz = oy + n;
  const long nl = static_cast<long>(n);
  double m2 = 0;
  int bad = 0;
#pragma omp parallel for simd num_threads(threads) if (threads > 1) reduction(max   \
                                                                              : m2) \
    reduction(|                                                                     \
              : bad)
  for (long i = 0; i < nl; ++i) {
    const double dx = double(p[0][i]) - double(ox[i]), dy = double(p[1][i]) - double(oy[i]),
                 dz = double(p[2][i]) - double(oz[i]);
    const double d2 = dx * dx + dy * dy + dz * dz;
    bad |= !(d2 < INFINITY);  // NaN too
    m2 = m2 > d2 ? m2 : d2;
  }
  return bad == 0 && m2 < limit;
}

template <class T>
bool NeighbourSearch<T>::build_list(World<T>& w, const Rule& r, double reach, int max_threads,
                                    const ExecOptions& opts, NeighbourList& L) {
  const uint32_t type = r.type_a, lane = r.cutoff_lane_a;
  const std::size_t n = w.count(type);
  const int bin_threads = n > opts.bin_parallel_threshold ? max_threads : 1;
  L.rule = nullptr;
  const double skin = kSkinFraction * reach;
  const double width = reach + skin;
  // Cells half as wide as the list's reach where the cell budget allows (a 5x5x5 stencil visits
  // about 0.6 times the volume of a 3x3x3 one of full-width cells); where it does not (sparse
  // systems), cells at least as wide as the reach and a 3x3x3 stencil.
  double box_lo[3], box_hi[3];
  if (!bounding_box(w, r, bin_threads, box_lo, box_hi)) return false;
  Grid g;
  make_grid(box_lo, box_hi, n, width / 2, g);
  long s = 2;
  for (int d = 0; d < 3; ++d)
    if (g.dims[d] > 1 && 1.0 / g.inv[d] > 0.625 * width) s = 1;  // the budget widened the cells
  if (s == 1) make_grid(box_lo, box_hi, n, width, g);
  bin(w, type, lane, g.lo, g.inv, g.dims, a_, bin_threads);
  // Whether cells pay off: at most search_max_fraction of all pairs may be candidates. A rebuild
  // counts them as it lists (agents have moved less than half the skin since the last count, so
  // that count still picks the threads), and gives up past the limit.
  const double pairs = double(n) * double(n - 1) / 2;
  const double max_cand = opts.search_max_fraction * pairs;
  const bool rebuild = L.candidates > 0 && L.origin.size() == 3 * n;
  const double cand =
      rebuild ? L.candidates : (candidates(g, a_, a_, max_threads, s, opts) - double(n)) / 2;
  if (cand > max_cand) return false;

  // Locality: rows sorted by cell in storage order (kOrderBlock), so that the sweeps (which
  // follow the rows) read the columns almost in order and find the neighbours of a row in cache.
  // The bins stay row-major (the stencil below walks rows of cells); perm then maps a bin slot
  // to the row it now has.
  const uint32_t* start = a_.start.data();
  if (sort_state_.size() != w.counts().size()) sort_state_.assign(w.counts().size(), SortState{});
  SortState& sorted = sort_state_[type];
  if (sorted.epoch != w.order_epoch(type) || sorted.builds >= kResortBuilds) {
    order_cells(g, a_, order_);
    sigma_.resize(n);
    uint32_t k = 0;
    for (const uint32_t c : order_)
      for (uint32_t p = start[c]; p < start[c + 1]; ++p) {
        sigma_[k] = a_.perm[p];
        a_.perm[p] = k++;
      }
    w.reorder(type, sigma_.data(), bin_threads);
    sorted.epoch = w.order_epoch(type);
    sorted.builds = 0;
  }
  ++sorted.builds;
  // Positions in cell order (the rows themselves when they are sorted by this grid).
  const T* pos[3];
  packed_.resize(2);
  if (packed_[0].size() < 3) packed_[0].resize(3);
  for (int d = 0; d < 3; ++d) {
    AlignedBuffer<T>& buf = packed_[0][d];
    if (buf.size() < column_capacity(n)) buf = AlignedBuffer<T>(column_capacity(n));
    gather(w.column(type, lane + d), a_.perm.data(), n, buf.data(), bin_threads);
    pos[d] = buf.data();
  }

  // One sub-list per thread over a contiguous range of cells holding about n / threads agents.
  const int threads = cand > double(opts.list_parallel_threshold) ? max_threads : 1;
  L.threads = threads;
  L.li.resize(threads);
  L.lj.resize(threads);
  L.count.assign(threads, 0);
  L.lo.assign(threads, 0);
  L.hi.assign(threads, 0);
  std::vector<long> first_cell(threads + 1);
  for (int t = 0; t <= threads; ++t) {
    const uint32_t target = static_cast<uint32_t>(n * std::size_t(t) / std::size_t(threads));
    first_cell[t] = t == threads ? long(g.n_cells)
                                 : std::lower_bound(a_.start.begin(), a_.start.end() - 1, target) -
                                       a_.start.begin();
  }
  const long nx = g.dims[0], ny = g.dims[1], nz = g.dims[2];
  const double cut2 = width * width;
  const uint32_t* perm = a_.perm.data();
  const std::size_t expect = static_cast<std::size_t>(cand / threads * 0.6) + 64;
  if (build_scratch_.size() < std::size_t(threads)) build_scratch_.resize(threads);
  std::vector<double> counted(threads, 0.0);
  std::vector<std::size_t> runs(threads, 0);  // per sub-list: slot-0 rows with pairs
  bool over = false;
#pragma omp parallel for num_threads(threads) if (threads > 1) schedule(static, 1) \
    reduction(||                                                                   \
              : over)
  for (int t = 0; t < threads; ++t) {
    // Pairs as listed (slot 0 row, slot 1 row); candidates.
    std::vector<uint32_t>& s0 = build_scratch_[t].s0;
    std::vector<uint32_t>& s1 = build_scratch_[t].s1;
    std::vector<uint32_t>& hits = build_scratch_[t].hits;
    s0.clear();
    s1.clear();
    s0.reserve(expect);
    s1.reserve(expect);
    uint32_t lo = UINT32_MAX, hi = 0;
    double seen = 0;  // candidates
    for (long c = first_cell[t]; c < first_cell[t + 1] && !over; ++c) {
      const uint32_t i0 = start[c], i1 = start[c + 1];
      if (i0 == i1) continue;
      const long x = c % nx, y = (c / nx) % ny, z = c / (nx * ny);
      const long x0 = std::max(0L, x - s), x1 = std::min(nx - 1, x + s);
      // Forward half of the (2s+1)^3 stencil: the rest of this cell and cells x+1 .. x+s (one
      // range), then the rows (z, y+1 .. y+s) and (z+1 .. z+s, y-s .. y+s), cells x-s .. x+s.
      uint32_t rb[13], re[13];
      int n_rows = 1;
      std::size_t span = 0;
      for (long dz = 0; dz <= s; ++dz)
        for (long dy = dz == 0 ? 1 : -s; dy <= s; ++dy) {
          const long zz = z + dz, yy = y + dy;
          if (zz >= nz || yy < 0 || yy >= ny) continue;
          const long row = (zz * ny + yy) * nx;
          rb[n_rows] = start[row + x0];
          re[n_rows] = start[row + x1 + 1];
          span += re[n_rows] - rb[n_rows];
          if (rb[n_rows] < re[n_rows]) ++n_rows;
        }
      re[0] = start[(z * ny + y) * nx + x1 + 1];
      span += re[0] - i0;
      if (hits.size() < span) hits.resize(span);
      // This cell's agents see `span` candidates less one per agent before them (the rest of
      // the cell is a candidate from the next agent on).
      const double n_i = i1 - i0;
      seen += n_i * double(span) - n_i * (n_i + 1) / 2;
      over = rebuild && seen * threads > max_cand;
      for (uint32_t p = i0; p < i1; ++p) {
        const double xi = pos[0][p], yi = pos[1][p], zi = pos[2][p];
        rb[0] = p + 1;
        // Branch-free candidate filter: every candidate is written, kept when within reach.
        std::size_t m = 0;
        for (int k = 0; k < n_rows; ++k)
          for (uint32_t q = rb[k]; q < re[k]; ++q) {
            const double dx = double(pos[0][q]) - xi, dy = double(pos[1][q]) - yi,
                         dz = double(pos[2][q]) - zi;
            hits[m] = q;
            m += dx * dx + dy * dy + dz * dz < cut2 ? 1 : 0;
          }
        const uint32_t ri = perm[p];
        const std::size_t ai = w.agent_at(type, ri);
        for (std::size_t h = 0; h < m; ++h) {
          const uint32_t rj = perm[hits[h]];
          // Slot 0 is the agent with the lower index in the caller's order (docs/program.md).
          const bool first = ai < w.agent_at(type, rj);
          s0.push_back(first ? ri : rj);
          s1.push_back(first ? rj : ri);
          lo = std::min(lo, std::min(ri, rj));
          hi = std::max(hi, std::max(ri, rj) + 1);
        }
      }
    }
    // Sorted by slot-0 row (stable counting sort): the sweep then finds each agent's slot-0
    // pairs in one run and sums their deltas before adding them to its accumulator.
    std::vector<uint32_t>& li = L.li[t];
    std::vector<uint32_t>& lj = L.lj[t];
    const std::size_t n_pairs = over ? 0 : s0.size();
    counted[t] = seen;
    li.resize(n_pairs);
    lj.resize(n_pairs);
    if (n_pairs > 0) {
      std::vector<uint32_t>& at = build_scratch_[t].at;
      at.assign(std::size_t(hi - lo) + 1, 0);
      for (uint32_t r0 : s0) ++at[r0 - lo + 1];
      for (std::size_t k = 1; k < at.size(); ++k) {
        runs[t] += at[k] != 0 ? 1 : 0;  // a slot-0 row with pairs
        at[k] += at[k - 1];
      }
      for (std::size_t k = 0; k < n_pairs; ++k) {
        const uint32_t dst = at[s0[k] - lo]++;
        li[dst] = s0[k];
        lj[dst] = s1[k];
      }
    }
    L.count[t] = n_pairs;
    L.lo[t] = lo == UINT32_MAX ? 0 : lo;
    L.hi[t] = lo == UINT32_MAX ? 0 : hi;
  }
  if (over) {
    L.candidates = 0;  // the next build counts them first
    return false;
  }
  L.candidates = std::max(1.0, std::accumulate(counted.begin(), counted.end(), 0.0));
  const double n_runs = std::accumulate(runs.begin(), runs.end(), 0.0);
  const double n_listed = std::accumulate(L.count.begin(), L.count.end(), 0.0);
  L.mean_run = n_runs > 0 ? n_listed / n_runs : 0;
  L.origin.resize(3 * n);
  for (int d = 0; d < 3; ++d)
    std::copy(w.column(type, lane + d), w.column(type, lane + d) + n, L.origin.begin() + d * n);
  L.rule = &r;
  L.epoch = w.order_epoch(type);
  L.reach = reach;
  L.skin = skin;
  return true;
}

template <class T>
SearchReady NeighbourSearch<T>::prepare_list(World<T>& w, const Rule& r, double reach,
                                             int max_threads, const ExecOptions& opts,
                                             RunStepsResult& stats) {
  const std::size_t n = w.count(r.type_a);
  NeighbourList* found = nullptr;
  for (NeighbourList& L : lists_)
    if (L.rule == &r) found = &L;
  if (!found) {
    lists_.emplace_back();
    found = &lists_.back();
  }
  NeighbourList& L = *found;
  if (!list_valid(w, r, L, reach, n > opts.bin_parallel_threshold ? max_threads : 1)) {
    if (!build_list(w, r, reach, max_threads, opts, L)) return {};
    stats.neighbour_builds += 1;
  }
  list_ = &L;
  reach_ = reach;
  return {Neighbours::List, L.mean_run};
}

template <class T>
void NeighbourSearch<T>::sweep_list(World<T>& w, const Rule& r, const T* consts, const T* params,
                                    const uint8_t* levels, const SweepSet& ks,
                                    const ExecOptions& opts, RunStepsResult& stats,
                                    void (*block_fn)(const BrzKernelArgs<T>*),
                                    void (*list_fn)(const BrzListArgs<T>*)) {
  const uint32_t type = r.type_a;
  const std::size_t n = w.count(type);
  const NeighbourList& L = *list_;
  const double reach = reach_;

  // Accumulators: per sub-list, a row-major window of rows [lo, hi), one element per stored lane.
  const uint32_t lanes = w.program().lanes(type);
  std::vector<uint32_t> acc_lanes;
  std::vector<std::size_t> store_acc;
  std::size_t win = 16;
  for (int t = 0; t < L.threads; ++t) win = std::max<std::size_t>(win, L.hi[t] - L.lo[t]);
  win = (win + 15) / 16 * 16;
  for (const StoreRef& s : r.stores) {
    auto it = std::find(acc_lanes.begin(), acc_lanes.end(), s.lane);
    if (it == acc_lanes.end()) it = acc_lanes.insert(acc_lanes.end(), s.lane);
    store_acc.push_back(std::size_t(it - acc_lanes.begin()));
  }
  const std::size_t block = acc_lanes.size() * win;
  const int threads = L.threads;
  // Invariant between sweeps: every element of list_acc_ is -0.0 and every touched_ byte is 0
  // (the reduction below resets what the sweep wrote), so no clearing pass is needed.
  const std::size_t n_blocks = (win + 127) / 64;  // 64-row blocks a window can touch
  if (touched_.size() < std::size_t(threads)) touched_.resize(threads);
  for (auto& tb : touched_)
    if (tb.size() < n_blocks) tb.resize(n_blocks, 0);
  if (list_acc_.size() < block * threads || !list_acc_clean_) {
    if (list_acc_.size() < block * threads) list_acc_ = AlignedBuffer<T>(block * threads);
    std::fill(list_acc_.data(), list_acc_.data() + list_acc_.size(), T(-0.0));
    for (auto& tb : touched_) std::fill(tb.begin(), tb.end(), 0);
  }
  list_acc_clean_ = false;

  std::vector<T*> cols(lanes);
  for (uint32_t l = 0; l < lanes; ++l) cols[l] = w.column(type, l);
  // The neighbour-list kernel when rule_path chose it; otherwise the list filter gathers the
  // pairs within the cutoff into blocks for the pair-block kernel or the interpreter.
  uint64_t evals = 0;
  if (list_fn) {
    evals = run_list_kernel(cols, params, L, list_fn, store_acc, acc_lanes.size(), block);
  } else {
    std::vector<char> used(lanes, 0);
    for (const Instr& in : r.instrs)
      if (in.op == Op::LOAD || in.op == Op::STORE) used[in.b] = 1;
    for (int d = 0; d < 3; ++d) used[r.cutoff_lane_a + d] = 1;  // gathered by the list filter
    std::vector<const uint32_t*> li(threads), lj(threads);
    for (int t = 0; t < threads; ++t) {
      li[t] = L.li[t].data();
      lj[t] = L.lj[t].data();
    }
    CellArgs<T> ca{};
    for (int d = 0; d < 3; ++d) ca.pos_a[d] = ca.pos_b[d] = cols[r.cutoff_lane_a + d];
    ca.cut2 = reach * reach;
    ca.n_lists = uint32_t(threads);
    ca.pos_lane = r.cutoff_lane_a;
    ca.list_i = li.data();
    ca.list_j = lj.data();
    ca.list_n = L.count.data();
    ca.acc_lo = L.lo.data();
    ca.acc_row = acc_lanes.size();
    std::vector<uint8_t*> touched(threads);
    for (int t = 0; t < threads; ++t) touched[t] = touched_[t].data();
    ca.touched = touched.data();
    ca.prefetch = n > kPrefetchRows;
    evals = launch(r, consts, params, levels, ks, threads, ca, used, used, cols.data(), cols.data(),
                   list_acc_.data(), store_acc, block, block_fn);
  }

  // Deltas into the columns: each row gets the windows that cover it, in sub-list order.
  uint32_t lo_all = UINT32_MAX, hi_all = 0;
  for (int t = 0; t < threads; ++t)
    if (L.hi[t] > L.lo[t]) {
      lo_all = std::min(lo_all, L.lo[t]);
      hi_all = std::max(hi_all, L.hi[t]);
    }
  // One pass over the 64-row blocks some list has marked (the others are unchanged): sum, add,
  // reset the accumulators, and note any non-finite result (unchanged rows are finite).
  bool finite = true;
  if (lo_all < hi_all) {
    const long b0 = lo_all >> 6, b1 = ((hi_all - 1) >> 6) + 1;
    const std::size_t n_acc = acc_lanes.size();
    T* acc = list_acc_.data();
    const int th = hi_all - lo_all > opts.bin_parallel_threshold ? threads : 1;
#pragma omp parallel for num_threads(th) if (th > 1) schedule(static) reduction(&& : finite)
    for (long bk = b0; bk < b1; ++bk) {
      bool any = false;
      for (int t = 0; t < threads; ++t) {
        const long rel = bk - long(L.lo[t] >> 6);
        if (L.hi[t] > L.lo[t] && rel >= 0 && uint64_t(rel) < n_blocks)
          any = any || touched_[t][rel] != 0;
      }
      if (!any) continue;
      const uint32_t r0 = std::max<uint32_t>(uint32_t(bk) << 6, lo_all),
                     r1 = std::min<uint32_t>((uint32_t(bk) + 1) << 6, hi_all);
      for (uint32_t row = r0; row < r1; ++row)
        for (std::size_t a = 0; a < n_acc; ++a) {
          T sum = T(-0.0);
          for (int t = 0; t < threads; ++t)
            if (row >= L.lo[t] && row < L.hi[t]) {
              T& x = acc[std::size_t(t) * block + (row - L.lo[t]) * n_acc + a];
              sum += x;
              x = T(-0.0);
            }
          T* col = cols[acc_lanes[a]];
          col[row] = col[row] + sum;
          finite = finite && std::isfinite(col[row]);
        }
    }
    for (int t = 0; t < threads; ++t) std::fill(touched_[t].begin(), touched_[t].end(), 0);
  }
  list_acc_clean_ = true;
  last_finite_ = finite;
  stats.pair_evaluations += evals;
}

template <class T>
uint64_t NeighbourSearch<T>::run_list_kernel(const std::vector<T*>& cols, const T* params,
                                             const NeighbourList& L,
                                             void (*list_fn)(const BrzListArgs<T>*),
                                             const std::vector<std::size_t>& store_acc,
                                             std::size_t n_acc, std::size_t block) {
  const std::vector<uint32_t> acc_col(store_acc.begin(), store_acc.end());
  const int threads = L.threads;
  uint64_t evals = 0;
#pragma omp parallel for num_threads(threads) if (threads > 1) schedule(static, 1) \
    reduction(+ : evals)
  for (int t = 0; t < threads; ++t) {
    if (L.count[t] == 0) continue;
    BrzListArgs<T> a{};
    a.params = params;
    a.cols = cols.data();
    a.li = L.li[t].data();
    a.lj = L.lj[t].data();
    a.begin = 0;
    a.end = L.count[t];
    a.acc = list_acc_.data() + std::size_t(t) * block;
    a.row_stride = n_acc;
    a.acc_col = acc_col.data();
    a.lo = L.lo[t];
    list_fn(&a);
    // Every row of the window may have changed: the reduction visits all of its blocks.
    const std::size_t blocks = ((L.hi[t] - 1) >> 6) - (L.lo[t] >> 6) + 1;
    std::fill(touched_[t].begin(), touched_[t].begin() + blocks, uint8_t(1));
    evals += L.count[t];
  }
  return evals;
}

template <class T>
uint64_t NeighbourSearch<T>::launch(
    const Rule& r, const T* consts, const T* params, const uint8_t* levels, const SweepSet& ks,
    int n_threads, CellArgs<T>& ca, const std::vector<char>& used0, const std::vector<char>& used1,
    T* const* cols_a, const T* const* cols_b, T* acc, const std::vector<std::size_t>& store_acc,
    std::size_t acc_stride, void (*block_fn)(const BrzKernelArgs<T>*)) {
  const uint32_t lanes_a = uint32_t(used0.size()), lanes_b = uint32_t(used1.size());
  std::vector<int32_t> g_index_a(lanes_a, -1), g_index_b(lanes_b, -1);
  uint32_t n_g = 0;
  for (uint32_t l = 0; l < lanes_a; ++l)
    if (used0[l]) g_index_a[l] = int32_t(n_g++);
  for (uint32_t l = 0; l < lanes_b; ++l)
    if (used1[l]) g_index_b[l] = int32_t(n_g++);
  std::vector<uint8_t> pair_level(levels, levels + std::max<uint32_t>(1, r.n_regs));
  for (uint8_t& l : pair_level)
    if (l == static_cast<uint8_t>(Level::Outer)) l = static_cast<uint8_t>(Level::Varying);
  const uint32_t n_stores = static_cast<uint32_t>(r.stores.size());
  const std::size_t scratch_stride = (scratch_elems<T>(r.n_regs, n_stores) + 15) / 16 * 16;
  if (scratch_.size() < scratch_stride * n_threads)
    scratch_ = AlignedBuffer<T>(scratch_stride * n_threads);
  ptrs_.assign(std::max<std::size_t>(1, std::size_t(r.n_regs) * n_threads), nullptr);
  const std::size_t gbuf_stride = std::max<std::size_t>(1, n_g) * (block_lanes<T>() + 16);
  if (gbuf_.size() < gbuf_stride * n_threads) gbuf_ = AlignedBuffer<T>(gbuf_stride * n_threads);
  if (ibuf_.size() < 2 * block_lanes<T>() * n_threads)
    ibuf_.resize(2 * block_lanes<T>() * n_threads);
  evals_.assign(std::size_t(8) * n_threads, 0);
  if (block_fn)
    bptrs_.assign(std::size_t(lanes_a + lanes_b + n_stores) * std::size_t(n_threads), nullptr);

  ca.pair_level = pair_level.data();
  ca.g_index_a = g_index_a.data();
  ca.g_index_b = g_index_b.data();
  ca.lanes_a = lanes_a;
  ca.lanes_b = lanes_b;
  ca.n_g = n_g;
  ca.gbuf = gbuf_.data();
  ca.gbuf_stride = gbuf_stride;
  ca.ibuf = ibuf_.data();
  ca.evals = evals_.data();
  ca.block_fn = block_fn;
  ca.bptrs = block_fn ? bptrs_.data() : nullptr;

  SweepArgs<T> a = rule_sweep_args<T>(r, levels);
  a.store_acc = store_acc.data();
  a.consts = consts;
  a.params = params;
  a.cols_a = cols_a;
  a.cols_b = cols_b;
  a.n_a = 0;
  a.n_b = 0;
  a.n_threads = n_threads;
  a.scratch = scratch_.data();
  a.scratch_stride = scratch_stride;
  a.ptrs = ptrs_.data();
  a.acc = acc;
  a.acc_stride = acc_stride;
  a.cells = &ca;
  if constexpr (sizeof(T) == 8)
    ks.sweep_f64(a);
  else
    ks.sweep_f32(a);
  uint64_t evals = 0;
  for (int t = 0; t < n_threads; ++t) evals += evals_[std::size_t(t) * 8];
  return evals;
}

template <class T>
SearchReady NeighbourSearch<T>::prepare(World<T>& w, const Rule& r, const T* consts,
                                        const T* params, int max_threads, const ExecOptions& opts,
                                        RunStepsResult& stats) {
  last_finite_ = false;
  if (!opts.neighbour_search || !r.has_cutoff || r.kind == RuleKind::PerAgent) return {};
  const bool same = r.kind == RuleKind::PairSame;
  const std::size_t na = w.count(r.type_a), nb = w.count(r.type_b);
  const std::size_t pairs = same ? (na < 2 ? 0 : na * (na - 1) / 2) : na * nb;
  if (pairs == 0 || pairs < opts.search_min_pairs) return {};
  if (na >= UINT32_MAX / 2 || nb >= UINT32_MAX / 2) return {};
  // Kind 1 bins every agent once, by slot 0's position lanes: both slots must use the same.
  if (same && r.cutoff_lane_a != r.cutoff_lane_b) return {};

  // 1. Cutoff bound: pairs farther apart change nothing.
  const auto iv = register_interval<T>(w, r, r.cutoff_reg, consts, params);
  if (!iv || !(iv->hi > 0)) return {};
  const double width0 = iv->hi * (1 + kCellMargin);
  if (same) return prepare_list(w, r, width0, max_threads, opts, stats);

  // 2. Grid over the positions of both slots, binning, and whether cells pay off.
  const int bin_threads = na + nb > opts.bin_parallel_threshold ? max_threads : 1;
  double box_lo[3], box_hi[3];
  if (!bounding_box(w, r, bin_threads, box_lo, box_hi)) return {};
  Grid& g = grid_;
  make_grid(box_lo, box_hi, na + nb, width0, g);
  bin(w, r.type_a, r.cutoff_lane_a, g.lo, g.inv, g.dims, a_, bin_threads);
  bin(w, r.type_b, r.cutoff_lane_b, g.lo, g.inv, g.dims, b_, bin_threads);
  const double cand = candidates(g, a_, b_, max_threads, 1, opts);
  if (cand > opts.search_max_fraction * double(pairs)) return {};
  reach_ = width0;
  candidates_ = cand;
  bin_threads_ = bin_threads;
  return {Neighbours::Grid, 0};
}

template <class T>
void NeighbourSearch<T>::sweep_grid(World<T>& w, const Rule& r, const T* consts, const T* params,
                                    const uint8_t* levels, const SweepSet& ks, int max_threads,
                                    const ExecOptions& opts, RunStepsResult& stats,
                                    void (*block_fn)(const BrzKernelArgs<T>*)) {
  const Grid& g = grid_;
  const double width0 = reach_, cand = candidates_;
  const int bin_threads = bin_threads_;

  // 3. Packed (cell-sorted) copies of the lanes the rule reads or STOREs (an ACC needs no start
  // value), and of the positions.
  const uint32_t lanes_a = w.program().lanes(r.type_a), lanes_b = w.program().lanes(r.type_b);
  std::vector<char> used0(lanes_a, 0), used1(lanes_b, 0);  // lanes read/stored through a slot
  for (const Instr& in : r.instrs) {
    if (in.op != Op::LOAD && in.op != Op::STORE) continue;
    (in.a == 0 ? used0 : used1)[in.b] = 1;
  }
  std::vector<char> pack_a(used0), pack_b(used1);
  for (int d = 0; d < 3; ++d) {
    pack_a[r.cutoff_lane_a + d] = 1;
    pack_b[r.cutoff_lane_b + d] = 1;
  }
  packed_.resize(2);
  std::vector<T*> cols_a(lanes_a, nullptr);
  std::vector<const T*> cols_b(lanes_b, nullptr);
  for (int s = 0; s < 2; ++s) {
    const uint32_t type = s == 0 ? r.type_a : r.type_b;
    const uint32_t lanes = s == 0 ? lanes_a : lanes_b;
    const std::vector<char>& use = s == 0 ? pack_a : pack_b;
    const Bins& bins = s == 0 ? a_ : b_;
    const std::size_t n = w.count(type);
    if (packed_[s].size() < lanes) packed_[s].resize(lanes);
    for (uint32_t l = 0; l < lanes; ++l) {
      if (!use[l]) continue;
      AlignedBuffer<T>& buf = packed_[s][l];
      if (buf.size() < column_capacity(n)) buf = AlignedBuffer<T>(column_capacity(n));
      T* dst = buf.data();
      gather(w.column(type, l), bins.perm.data(), n, dst, bin_threads);
      if (s == 0) cols_a[l] = dst;
      if (s == 1) cols_b[l] = dst;
    }
  }

  // 4. One shared accumulator block, one array per stored (type, lane).
  struct Acc {
    uint32_t type, lane;
    std::size_t offset;
  };
  std::vector<Acc> accs;
  std::vector<std::size_t> store_acc;
  std::size_t acc_size = 0;
  for (const StoreRef& s : r.stores) {
    const uint32_t type = r.slot_type(s.slot);
    auto it = std::find_if(accs.begin(), accs.end(),
                           [&](const Acc& a) { return a.type == type && a.lane == s.lane; });
    if (it == accs.end()) {
      accs.push_back(Acc{type, s.lane, acc_size});
      acc_size += column_capacity(w.count(type));
      it = accs.end() - 1;
    }
    store_acc.push_back(it->offset);
  }
  if (acc_.size() < acc_size) acc_ = AlignedBuffer<T>(acc_size);
  {
    T* acc = acc_.data();
    const long n = static_cast<long>(acc_size);
#pragma omp parallel for num_threads(bin_threads) if (bin_threads > 1) schedule(static)
    for (long k = 0; k < n; ++k) acc[k] = T(-0.0);
  }

  // 5. The sweep over the grid.
  CellArgs<T> ca{};
  ca.nx = g.dims[0];
  ca.ny = g.dims[1];
  ca.nz = g.dims[2];
  ca.a_start = a_.start.data();
  ca.b_start = b_.start.data();
  for (int d = 0; d < 3; ++d) {
    ca.pos_a[d] = cols_a[r.cutoff_lane_a + d];
    ca.pos_b[d] = cols_b[r.cutoff_lane_b + d];
  }
  ca.cut2 = width0 * width0;
  ca.pos_lane = UINT32_MAX;
  const int n_threads = cand > double(opts.pair_parallel_threshold) ? max_threads : 1;
  const uint64_t evals =
      launch(r, consts, params, levels, ks, n_threads, ca, used0, used1, cols_a.data(),
             cols_b.data(), acc_.data(), store_acc, acc_size, block_fn);

  // 6. Deltas back to the agents' own order.
  for (const Acc& acc : accs) {
    T* col = w.column(acc.type, acc.lane);
    const T* src = acc_.data() + acc.offset;
    const uint32_t* perm = (acc.type == r.type_a ? a_ : b_).perm.data();
    const long n = static_cast<long>(w.count(acc.type));
#pragma omp parallel for num_threads(bin_threads) if (bin_threads > 1) schedule(static)
    for (long k = 0; k < n; ++k) col[perm[k]] = col[perm[k]] + src[k];
  }
  stats.pair_evaluations += evals;
}

template class NeighbourSearch<double>;
template class NeighbourSearch<float>;

}  // namespace brz
