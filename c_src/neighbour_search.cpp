// Neighbour search for pair rules with a cutoff (include/brz/neighbour_search.hpp): what
// prepare() readies (a grid, neighbour_grid.cpp, or a Verlet list, neighbour_verlet_list.cpp)
// and the sweeps over it, which hand the pairs found to the interpreter (interpreter.cpp,
// sweep_neighbours) or the rule's generated kernels. Baseline ISA code.
#include "brz/neighbour_search.hpp"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <optional>
#include <type_traits>
#include <vector>

namespace brz {
namespace {

// Rows above which a threaded list sweep sums its accumulators on its threads.
constexpr uint32_t kReduceParallelRows = 4096;

// The minimum-image fields of a neighbour sweep's PairBlockArgs: the box edge on the axes the
// search wraps, 0 on the others.
template <class T>
void set_box(PairBlockArgs<T>& pairs, const bool* periodic, const Box& box) {
  pairs.periodic = false;
  for (int d = 0; d < 3; ++d) {
    pairs.len[d] = periodic[d] ? box.len[d] : 0.0;
    pairs.inv_len[d] = periodic[d] ? 1.0 / box.len[d] : 0.0;
    pairs.periodic = pairs.periodic || periodic[d];
  }
}

}  // namespace

template <class T>
void NeighbourSearch<T>::sweep_list(World<T>& w, const Rule& r, const T* consts, const T* params,
                                    const uint8_t* levels, const RandomArgs& random,
                                    const SweepSet& ks, const ExecOptions& opts,
                                    RunStepsResult& stats,
                                    void (*block_fn)(const BrzKernelArgs<T>*),
                                    void (*list_fn)(const BrzListArgs<T>*)) {
  const uint32_t type = r.type_a;
  const std::size_t n = w.count(type);
  const NeighbourList<T>& L = *list_;
  const double reach = reach_;

  // Accumulators: per sub-list, a row-major window of rows [lo, hi), one element per stored lane.
  const uint32_t lanes = w.program().lanes(type);
  std::vector<uint32_t> acc_lanes;
  std::vector<std::size_t> store_acc;
  std::size_t win = 16;
  for (int t = 0; t < L.threads; ++t) win = std::max<std::size_t>(win, L.hi[t] - L.lo[t]);
  win = (win + 1 + 15) / 16 * 16;    // and a spare row (BrzListArgs::pad_row)
  std::vector<uint16_t> acc_reduce;  // per accumulator lane: how it combines (Reduce)
  for (const StoreRef& s : r.stores) {
    auto it = std::find(acc_lanes.begin(), acc_lanes.end(), s.lane);
    if (it == acc_lanes.end()) {
      it = acc_lanes.insert(acc_lanes.end(), s.lane);
      acc_reduce.push_back(s.reduce);
    }
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
    // A quarter more room: windows widen a little at every step of a run whose agents are
    // born (children's rows come last), and a new buffer every step would fault in its pages.
    if (list_acc_.size() < block * threads)
      list_acc_ = AlignedBuffer<T>(block * threads + block * threads / 4);
    std::fill(list_acc_.data(), list_acc_.data() + list_acc_.size(), T(-0.0));
    for (auto& tb : touched_) std::fill(tb.begin(), tb.end(), 0);
  }
  list_acc_clean_ = false;
  // A max or min reduction's accumulators start at -inf / +inf instead (and the windows are
  // cleared to -0.0 again before the next sweep: list_acc_clean_ stays false).
  if (r.has_reduction)
    for (std::size_t q = 0; q < acc_reduce.size(); ++q)
      if (acc_reduce[q] != kReduceSum)
        for (std::size_t e = q; e < block * threads; e += acc_lanes.size())
          list_acc_[e] = reduce_identity<T>(acc_reduce[q]);

  std::vector<T*> cols(lanes);
  for (uint32_t l = 0; l < lanes; ++l) cols[l] = w.column(type, l);
  // The neighbour-list kernel when rule_path chose it; otherwise the list filter gathers the
  // pairs within the cutoff into blocks for the pair-block kernel or the interpreter.
  uint64_t evals = 0;
  if (list_fn) {
    evals = run_list_kernel(cols, params, random, L, list_fn, store_acc, acc_lanes.size(), block);
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
    ListSweepArgs<T> la{};
    for (int d = 0; d < 3; ++d) la.pairs.pos_a[d] = la.pairs.pos_b[d] = cols[r.cutoff_lane_a + d];
    la.pairs.cut2 = reach * reach;
    bool per[3];
    search_periodic(w, r, per);
    set_box(la.pairs, per, w.box());
    la.n_lists = uint32_t(threads);
    la.pos_lane = r.cutoff_lane_a;
    la.list_i = li.data();
    la.list_j = lj.data();
    la.list_n = L.count.data();
    la.acc_lo = L.lo.data();
    la.acc_row = acc_lanes.size();
    std::vector<uint8_t*> touched(threads);
    for (int t = 0; t < threads; ++t) touched[t] = touched_[t].data();
    la.touched = touched.data();
    la.prefetch = n > kPrefetchRows;
    evals = launch(r, consts, params, levels, random, ks, threads, la, used, used, cols.data(),
                   cols.data(), list_acc_.data(), store_acc, block, block_fn);
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
    // On the sweep's threads when it had several (they are still awake), else above the
    // binning threshold.
    const int th =
        hi_all - lo_all > (threads > 1 ? kReduceParallelRows : opts.bin_parallel_threshold)
            ? threads
            : 1;
#pragma omp parallel num_threads(th) if (th > 1) reduction(&& : finite)
    {
      // A block's sums, row-major: each sub-list's window added in sub-list order (vectorised
      // over its rows and lanes), then the sums to the columns.
      std::vector<T> sum(64 * n_acc);
#pragma omp for schedule(static)
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
        T* s = sum.data();
        if (!r.has_reduction) {
          std::fill(s, s + (r1 - r0) * n_acc, T(-0.0));
        } else {
          for (uint32_t row = r0; row < r1; ++row)
            for (std::size_t l = 0; l < n_acc; ++l)
              s[(row - r0) * n_acc + l] = reduce_identity<T>(acc_reduce[l]);
        }
        for (int t = 0; t < threads; ++t) {
          const uint32_t a = std::max(r0, L.lo[t]), e = std::min(r1, L.hi[t]);
          if (a >= e) continue;
          T* x = acc + std::size_t(t) * block + (a - L.lo[t]) * n_acc;
          T* d = s + (a - r0) * n_acc;
          const long len = long(e - a) * long(n_acc);
          if (r.has_reduction) {
            for (long k = 0; k < len; ++k) {
              d[k] = reduce_combine(acc_reduce[std::size_t(k) % n_acc], d[k], x[k]);
              x[k] = T(-0.0);
            }
            continue;
          }
#pragma omp simd
          for (long k = 0; k < len; ++k) {
            d[k] += x[k];
            x[k] = T(-0.0);
          }
        }
        for (std::size_t l = 0; l < n_acc; ++l) {
          T* col = cols[acc_lanes[l]];
          for (uint32_t row = r0; row < r1; ++row) {
            col[row] = reduce_apply(acc_reduce[l], col[row], s[(row - r0) * n_acc + l]);
            finite = finite && std::isfinite(col[row]);
          }
        }
      }
    }
    for (int t = 0; t < threads; ++t) std::fill(touched_[t].begin(), touched_[t].end(), 0);
  }
  list_acc_clean_ = !r.has_reduction;
  last_finite_ = finite;
  stats.pair_evaluations += evals;
}

template <class T>
uint64_t NeighbourSearch<T>::run_list_kernel(const std::vector<T*>& cols, const T* params,
                                             const RandomArgs& random, const NeighbourList<T>& L,
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
    a.pad_row = L.hi[t] - L.lo[t];
    a.ids = random.ids_a;
    a.step = random.step;
    a.seed = random.seed;
    a.across = L.mean_run < kListKernelMinRun ? 1 : 0;
    list_fn(&a);
    // Every row of the window may have changed: the reduction visits all of its blocks.
    const std::size_t blocks = ((L.hi[t] - 1) >> 6) - (L.lo[t] >> 6) + 1;
    std::fill(touched_[t].begin(), touched_[t].begin() + blocks, uint8_t(1));
    evals += L.count[t];
  }
  return evals;
}

template <class T>
template <class Sweep>
uint64_t NeighbourSearch<T>::launch(const Rule& r, const T* consts, const T* params,
                                    const uint8_t* levels, const RandomArgs& random,
                                    const SweepSet& ks, int n_threads, Sweep& sweep,
                                    const std::vector<char>& used0, const std::vector<char>& used1,
                                    T* const* cols_a, const T* const* cols_b, T* acc,
                                    const std::vector<std::size_t>& store_acc,
                                    std::size_t acc_stride,
                                    void (*block_fn)(const BrzKernelArgs<T>*)) {
  static_assert(std::is_same_v<Sweep, GridSweepArgs<T>> || std::is_same_v<Sweep, ListSweepArgs<T>>);
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

  PairBlockArgs<T>& ca = sweep.pairs;
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
  a.n_params = n_params_;
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
  a.random = random;
  if constexpr (std::is_same_v<Sweep, GridSweepArgs<T>>)
    a.grid = &sweep;
  else
    a.list = &sweep;
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
  n_params_ = w.program().n_params();
  if (!r.has_cutoff || r.kind == RuleKind::PerAgent) return {};
  const bool same = r.kind == RuleKind::PairSame;
  const std::size_t na = w.count(r.type_a), nb = w.count(r.type_b);
  const std::size_t pairs = same ? (na < 2 ? 0 : na * (na - 1) / 2) : na * nb;
  if (pairs == 0) return {};
  bool per[3];
  search_periodic(w, r, per);
  const bool periodic = per[0] || per[1] || per[2];
  // A periodic rule's cutoff is checked at every sweep, searched or not: one beyond half the
  // box edge would see more than the minimum image.
  std::optional<Interval> iv;
  if (periodic) {
    iv = register_interval<T>(w, r, r.cutoff_reg, consts, params, max_threads,
                              opts.bin_parallel_threshold);
    if (iv)
      for (int d = 0; d < 3; ++d)
        if (per[d] && iv->hi > 0.5 * w.box().len[d])
          throw CutoffError(uint32_t(&r - w.program().rules().data()), iv->hi, d, w.box().len[d]);
  }
  if (!opts.neighbour_search || pairs < opts.search_min_pairs) return {};
  if (na >= UINT32_MAX / 2 || nb >= UINT32_MAX / 2) return {};
  // Kind 1 bins every agent once, by slot 0's position lanes: both slots must use the same.
  if (same && r.cutoff_lane_a != r.cutoff_lane_b) return {};

  // 1. Cutoff bound: pairs farther apart change nothing.
  if (!periodic)
    iv = register_interval<T>(w, r, r.cutoff_reg, consts, params, max_threads,
                              opts.bin_parallel_threshold);
  if (!iv || !(iv->hi > 0)) return {};
  // The margin stops at half a periodic box edge, where the minimum image ends.
  double width0 = iv->hi * (1 + kCellMargin);
  for (int d = 0; d < 3; ++d)
    if (per[d]) width0 = std::min(width0, 0.5 * w.box().len[d]);
  if (same) {
    list_ = lists_.prepare(w, r, width0, max_threads, opts, stats);
    if (!list_) return {};
    reach_ = width0;
    return {Neighbours::List, list_->mean_run};
  }

  // 2. Grid over the positions of both slots, binning, and whether cells pay off.
  const int bin_threads = na + nb > opts.bin_parallel_threshold ? max_threads : 1;
  double box_lo[3], box_hi[3];
  if (!bounding_box(w, r, bin_threads, box_lo, box_hi)) return {};
  for (int d = 0; d < 3; ++d)
    if (per[d]) {
      box_lo[d] = w.box().lo[d];
      box_hi[d] = w.box().hi[d];
    }
  CellGrid& g = grid_;
  make_grid(box_lo, box_hi, na + nb, width0, g, per);
  // The sweep's colour classes need a multiple of 4 cells on a periodic axis of 4 or more
  // (GridSweepArgs): fewer, wider cells.
  for (int d = 0; d < 3; ++d)
    if (g.periodic[d] && g.dims[d] >= 4 && g.dims[d] % 4 != 0) {
      g.dims[d] -= g.dims[d] % 4;
      g.inv[d] = double(g.dims[d]) / g.len[d];
    }
  g.n_cells = std::size_t(g.dims[0]) * g.dims[1] * g.dims[2];
  bin_agents(w, r.type_a, r.cutoff_lane_a, g, a_, bin_threads);
  bin_agents(w, r.type_b, r.cutoff_lane_b, g, b_, bin_threads);
  const double cand = candidate_pairs(g, a_, b_, max_threads, 1, opts);
  if (cand > opts.search_max_fraction * double(pairs)) return {};
  reach_ = width0;
  candidates_ = cand;
  bin_threads_ = bin_threads;
  return {Neighbours::Grid, 0};
}

template <class T>
void NeighbourSearch<T>::sweep_grid(World<T>& w, const Rule& r, const T* consts, const T* params,
                                    const uint8_t* levels, const RandomArgs& random,
                                    const SweepSet& ks, int max_threads, const ExecOptions& opts,
                                    RunStepsResult& stats,
                                    void (*block_fn)(const BrzKernelArgs<T>*)) {
  const CellGrid& g = grid_;
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
    const CellBins& bins = s == 0 ? a_ : b_;
    const std::size_t n = w.count(type);
    if (packed_[s].size() < lanes) packed_[s].resize(lanes);
    for (uint32_t l = 0; l < lanes; ++l) {
      if (!use[l]) continue;
      AlignedBuffer<T>& buf = packed_[s][l];
      if (buf.size() < column_capacity(n)) buf = AlignedBuffer<T>(column_capacity(n));
      T* dst = buf.data();
      gather_by_cell(w.column(type, l), bins.perm.data(), n, dst, bin_threads);
      if (s == 0) cols_a[l] = dst;
      if (s == 1) cols_b[l] = dst;
    }
  }
  // The identities of the packed agents, for UNIFORM and NORMAL.
  RandomArgs packed_random = random;
  if (random.ids_a) {
    for (int s = 0; s < 2; ++s) {
      const std::size_t n = w.count(s == 0 ? r.type_a : r.type_b);
      AlignedBuffer<uint32_t>& ids = packed_ids_[s];
      if (ids.size() < column_capacity(n)) ids = AlignedBuffer<uint32_t>(column_capacity(n));
      gather_by_cell(s == 0 ? random.ids_a : random.ids_b, (s == 0 ? a_ : b_).perm.data(), n,
                     ids.data(), bin_threads);
    }
    packed_random.ids_a = packed_ids_[0].data();
    packed_random.ids_b = packed_ids_[1].data();
  }

  // 4. One shared accumulator block, one array per stored (type, lane).
  struct Acc {
    uint32_t type, lane;
    std::size_t offset;
    uint16_t reduce;
  };
  std::vector<Acc> accs;
  std::vector<std::size_t> store_acc;
  std::size_t acc_size = 0;
  for (const StoreRef& s : r.stores) {
    const uint32_t type = r.slot_type(s.slot);
    auto it = std::find_if(accs.begin(), accs.end(),
                           [&](const Acc& a) { return a.type == type && a.lane == s.lane; });
    if (it == accs.end()) {
      accs.push_back(Acc{type, s.lane, acc_size, s.reduce});
      acc_size += column_capacity(w.count(type));
      it = accs.end() - 1;
    }
    store_acc.push_back(it->offset);
  }
  if (acc_.size() < acc_size) acc_ = AlignedBuffer<T>(acc_size);
  for (std::size_t q = 0; q < accs.size(); ++q) {
    T* acc = acc_.data() + accs[q].offset;
    const T start = reduce_identity<T>(accs[q].reduce);
    const long n =
        static_cast<long>((q + 1 < accs.size() ? accs[q + 1].offset : acc_size) - accs[q].offset);
#pragma omp parallel for num_threads(bin_threads) if (bin_threads > 1) schedule(static)
    for (long k = 0; k < n; ++k) acc[k] = start;
  }

  // 5. The sweep over the grid.
  GridSweepArgs<T> ga{};
  ga.nx = g.dims[0];
  ga.ny = g.dims[1];
  ga.nz = g.dims[2];
  for (int d = 0; d < 3; ++d) ga.periodic[d] = g.periodic[d];
  set_box(ga.pairs, g.periodic, w.box());
  ga.a_start = a_.start.data();
  ga.b_start = b_.start.data();
  for (int d = 0; d < 3; ++d) {
    ga.pairs.pos_a[d] = cols_a[r.cutoff_lane_a + d];
    ga.pairs.pos_b[d] = cols_b[r.cutoff_lane_b + d];
  }
  ga.pairs.cut2 = width0 * width0;
  const int n_threads = cand > double(opts.pair_parallel_threshold) ? max_threads : 1;
  const uint64_t evals =
      launch(r, consts, params, levels, packed_random, ks, n_threads, ga, used0, used1,
             cols_a.data(), cols_b.data(), acc_.data(), store_acc, acc_size, block_fn);

  // 6. Deltas back to the agents' own order.
  for (const Acc& acc : accs) {
    T* col = w.column(acc.type, acc.lane);
    const T* src = acc_.data() + acc.offset;
    const uint32_t* perm = (acc.type == r.type_a ? a_ : b_).perm.data();
    const long n = static_cast<long>(w.count(acc.type));
    const uint16_t reduce = acc.reduce;
#pragma omp parallel for num_threads(bin_threads) if (bin_threads > 1) schedule(static)
    for (long k = 0; k < n; ++k) col[perm[k]] = reduce_apply(reduce, col[perm[k]], src[k]);
  }
  stats.pair_evaluations += evals;
}

template class NeighbourSearch<double>;
template class NeighbourSearch<float>;

}  // namespace brz
