// Verlet neighbour lists (include/brz/neighbour_verlet_list.hpp). Baseline ISA code.
#include "brz/neighbour_verlet_list.hpp"

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "brz/interpreter.hpp"
#include "brz/isa.hpp"

namespace brz {
namespace {

// Cell ranges of one stencil: 13 rows of cells (s = 2), each at most 2s + 1 ranges (one per
// cell when a periodic x axis has fewer cells than the stencil).
constexpr int kMaxRanges = 13 * 5;

// Grows v to at least n elements, with headroom: the estimates a build sizes its buffers by
// drift from build to build, and a buffer that moved would fault in fresh pages.
template <class V>
void grow(V& v, std::size_t n) {
  if (v.size() < n) v.resize(std::max(n + n / 4, v.size() + v.size() / 2));
}

// The same for a buffer of pairs, keeping its first `used` elements. Buffers of a MiB or more
// are rounded up to whole huge pages (AlignedBuffer backs those of kHugeBytes or more with
// them): in a virtual machine a first touch of a small page costs more than the memory saved.
void grow(AlignedBuffer<uint32_t>& b, std::size_t n, std::size_t used) {
  if (b.size() >= n) return;
  std::size_t m = std::max(n + n / 4, b.size() + b.size() / 2);
  constexpr std::size_t huge = kHugeAlignment / sizeof(uint32_t);
  if (m * sizeof(uint32_t) >= (std::size_t(1) << 20))
    m = std::max(kHugeBytes / sizeof(uint32_t), (m + huge - 1) / huge * huge);
  AlignedBuffer<uint32_t> next(m);
  if (used > 0) std::copy(b.data(), b.data() + used, next.data());
  b = std::move(next);
}

// Fills the kListPadding readable entries past the count of sub-list t's li and lj with rows of
// the list (its first pair), so that a kernel that evaluates them (and discards the result)
// reads only agents' columns.
template <class T>
void pad_sub_list(NeighbourList<T>& L, int t) {
  const std::size_t n = L.count[t];
  for (AlignedBuffer<uint32_t>* rows : {&L.li[t], &L.lj[t]})
    std::fill(rows->data() + n, rows->data() + n + kListPadding, n > 0 ? rows->data()[0] : 0u);
}

// The candidate filter: appends to `hits` (from h on) the rows q in [q0, q1) whose position
// lies within cut2 (squared) of (xs, ys, zs); returns the new count. Branch-free: every
// candidate is written, and kept when within reach.
template <class T>
std::size_t filter_rows(const T* const* pos, uint32_t q0, uint32_t q1, double xs, double ys,
                        double zs, double cut2, uint32_t* hits, std::size_t h) {
  for (uint32_t q = q0; q < q1; ++q) {
    const double dx = double(pos[0][q]) - xs, dy = double(pos[1][q]) - ys,
                 dz = double(pos[2][q]) - zs;
    hits[h] = q;
    h += dx * dx + dy * dy + dz * dz < cut2 ? 1 : 0;
  }
  return h;
}

// The filter of one agent at x over every range of its stencil eight candidates at a time,
// where the sweeps run AVX-512: the same products and sums in the same order as filter_rows,
// so the same pairs. Returns the count; writes up to 8 elements past it.
#define BRZ_AVX512 __attribute__((target("avx512f,avx512vl,avx512dq,avx512bw")))
template <class T>
BRZ_AVX512 inline __m512d load8(const T* p, __mmask8 m) {
  if constexpr (sizeof(T) == 8)
    return _mm512_maskz_loadu_pd(m, p);
  else
    return _mm512_maskz_cvtps_pd(m, _mm256_maskz_loadu_ps(m, p));
}

template <class T>
BRZ_AVX512 std::size_t filter_agent_avx512(const T* const* pos, int n_rows, const uint32_t* rb,
                                           const uint32_t* re, const double* shx, const double* shy,
                                           const double* shz, const double* x, double cut2,
                                           uint32_t* hits) {
  const __m512d C = _mm512_set1_pd(cut2);
  const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  std::size_t h = 0;
  for (int k = 0; k < n_rows; ++k) {
    // A candidate's image is at pos + sh: its offset is pos - (x - sh).
    const __m512d X = _mm512_set1_pd(x[0] - shx[k]), Y = _mm512_set1_pd(x[1] - shy[k]),
                  Z = _mm512_set1_pd(x[2] - shz[k]);
    for (uint32_t b = rb[k]; b < re[k]; b += 8) {
      const __mmask8 m = re[k] - b >= 8 ? __mmask8(0xff) : __mmask8((1u << (re[k] - b)) - 1);
      const __m512d dx = _mm512_sub_pd(load8(pos[0] + b, m), X),
                    dy = _mm512_sub_pd(load8(pos[1] + b, m), Y),
                    dz = _mm512_sub_pd(load8(pos[2] + b, m), Z);
      const __m512d d2 = _mm512_add_pd(_mm512_add_pd(_mm512_mul_pd(dx, dx), _mm512_mul_pd(dy, dy)),
                                       _mm512_mul_pd(dz, dz));
      const __mmask8 in = _mm512_mask_cmp_pd_mask(m, d2, C, _CMP_LT_OQ);
      // A compress into a register and a full store: a compressing store to memory is slow on
      // some cores.
      const __m256i q = _mm256_add_epi32(_mm256_set1_epi32(int(b)), iota);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(hits + h), _mm256_maskz_compress_epi32(in, q));
      h += std::size_t(__builtin_popcount(in));
    }
  }
  return h;
}

}  // namespace

template <class T>
NeighbourList<T>* VerletLists<T>::prepare(World<T>& w, const Rule& r, double reach, int max_threads,
                                          const ExecOptions& opts, RunStepsResult& stats) {
  const std::size_t n = w.count(r.type_a);
  NeighbourList<T>* found = nullptr;
  for (NeighbourList<T>& L : lists_)
    if (L.rule == &r) found = &L;
  if (!found) {
    lists_.emplace_back();
    found = &lists_.back();
  }
  NeighbourList<T>& L = *found;
  if (!valid(w, r, L, reach, n > opts.bin_parallel_threshold ? max_threads : 1)) {
    // Outgrown by the agents' motion (not by moved rows): a wider skin next time.
    if (L.rule == &r && L.epoch == w.order_epoch(r.type_a) && L.sweeps < kShortLived)
      L.skin_fraction = std::min(kMaxSkinFraction, L.skin_fraction * 1.5);
    else if (L.sweeps > kLongLived)
      L.skin_fraction = std::max(kSkinFraction, L.skin_fraction / 1.5);
    L.sweeps = 0;
    if (!build(w, r, reach, max_threads, opts, L)) return nullptr;
    stats.neighbour_builds += 1;
  }
  ++L.sweeps;
  return &L;
}

template <class T>
bool VerletLists<T>::valid(const World<T>& w, const Rule& r, const NeighbourList<T>& L,
                           double reach, int threads) const {
  const std::size_t n = w.count(r.type_a);
  if (L.rule != &r || L.epoch != w.order_epoch(r.type_a) || L.origin.size() != 3 * n) return false;
  if (r.exclude.type != kNoType && !(L.exclusions == ExclusionStamp::of(w, r))) return false;
  if (!(reach <= L.reach)) return false;
  // Every agent within half the skin of where it was at the build (a little less, for the
  // rounding of the distance as computed here and by the kernels).
  const double limit = 0.25 * L.skin * L.skin * (1 - 1e-6);
  // On periodic axes the displacement is minimum-imaged: wrap() may have moved an agent by a
  // box edge since the build.
  bool per[3];
  search_periodic(w, r, per);
  double len[3], inv[3];
  for (int d = 0; d < 3; ++d) {
    len[d] = per[d] ? w.box().len[d] : 0.0;
    inv[d] = per[d] ? 1.0 / len[d] : 0.0;
  }
  const double lx = len[0], ly = len[1], lz = len[2], ix = inv[0], iy = inv[1], iz = inv[2];
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
    const double dx = min_image(double(p[0][i]) - double(ox[i]), lx, ix),
                 dy = min_image(double(p[1][i]) - double(oy[i]), ly, iy),
                 dz = min_image(double(p[2][i]) - double(oz[i]), lz, iz);
    const double d2 = dx * dx + dy * dy + dz * dz;
    bad |= !(d2 < INFINITY);  // NaN too
    m2 = m2 > d2 ? m2 : d2;
  }
  return bad == 0 && m2 < limit;
}

template <class T>
bool VerletLists<T>::build(World<T>& w, const Rule& r, double reach, int max_threads,
                           const ExecOptions& opts, NeighbourList<T>& L) {
  const uint32_t type = r.type_a, lane = r.cutoff_lane_a;
  const std::size_t n = w.count(type);
  // A rebuild that lists on several threads (see below) bins and packs on them too.
  const bool rebuild = L.candidates > 0 && L.origin.size() == 3 * n;
  const int bin_threads = n > opts.bin_parallel_threshold ||
                                  (rebuild && L.candidates > double(opts.list_parallel_threshold))
                              ? max_threads
                              : 1;
  L.rule = nullptr;
  bool per[3];
  search_periodic(w, r, per);
  // On a periodic axis the list reaches at most half the box edge (the caller caps `reach`
  // there), so the skin shrinks to what is left, and the listed width stays a hair below half
  // the edge: two images of one pair are then never both within it, even when a short axis
  // makes the stencil visit a cell twice.
  double skin = L.skin_fraction * reach, half = INFINITY;
  for (int d = 0; d < 3; ++d)
    if (per[d]) half = std::min(half, 0.5 * w.box().len[d]);
  skin = std::max(0.0, std::min(skin, half - reach));
  const double width = std::min(reach + skin, half * (1 - 1e-9));
  skin = std::max(0.0, width - reach);
  // Cells half as wide as the list's reach where the cell budget allows (a 5x5x5 stencil visits
  // about 0.6 times the volume of a 3x3x3 one of full-width cells) and they are not mostly
  // empty (kMinAgentsPerHalfCell); otherwise (sparse systems), cells at least as wide as the
  // reach and a 3x3x3 stencil. Periodic axes span the box.
  double box_lo[3], box_hi[3];
  if (!bounding_box(w, r, bin_threads, box_lo, box_hi)) return false;
  for (int d = 0; d < 3; ++d)
    if (per[d]) {
      box_lo[d] = w.box().lo[d];
      box_hi[d] = w.box().hi[d];
    }
  CellGrid g;
  make_grid(box_lo, box_hi, n, width / 2, g, per);
  long s = 2;
  for (int d = 0; d < 3; ++d)
    if ((g.dims[d] > 1 || g.periodic[d]) && 1.0 / g.inv[d] > 0.625 * width)
      s = 1;  // the budget widened the cells
  if (s == 2 && double(n) < kMinAgentsPerHalfCell * double(g.n_cells)) {
    // Mostly empty cells: full-width ones, unless a 3x3x3 stencil of them would span most of
    // an axis (a small box), where the half-width stencil still saves most candidates.
    CellGrid full;
    make_grid(box_lo, box_hi, n, width, full, per);
    s = 1;
    for (int d = 0; d < 3; ++d)
      if (full.dims[d] > 1 && full.dims[d] < kMinFullCellsPerAxis) s = 2;
  }
  if (s == 1) make_grid(box_lo, box_hi, n, width, g, per);
  bin_agents(w, type, lane, g, bins_, bin_threads);
  // Whether cells pay off: at most search_max_fraction of all pairs may be candidates. A rebuild
  // counts them as it lists (agents have moved less than half the skin since the last count, so
  // that count still picks the threads), and gives up past the limit.
  const double pairs = double(n) * double(n - 1) / 2;
  const double max_cand = opts.search_max_fraction * pairs;
  const double cand =
      rebuild ? L.candidates
              : (candidate_pairs(g, bins_, bins_, max_threads, s, opts) - double(n)) / 2;
  if (cand > max_cand) return false;

  // Locality: rows sorted by cell in storage order (kOrderBlock), so that the sweeps (which
  // follow the rows) read the columns almost in order and find the neighbours of a row in cache.
  // The bins stay row-major (the stencil below walks rows of cells); perm then maps a bin slot
  // to the row it now has.
  const uint32_t* start = bins_.start.data();
  if (sort_state_.size() != w.counts().size()) sort_state_.assign(w.counts().size(), SortState{});
  SortState& sorted = sort_state_[type];
  if (sorted.epoch != w.order_epoch(type) || sorted.builds >= kResortBuilds) {
    order_cells(g, bins_, order_);
    sigma_.resize(n);
    uint32_t k = 0;
    for (const uint32_t c : order_)
      for (uint32_t p = start[c]; p < start[c + 1]; ++p) {
        sigma_[k] = bins_.perm[p];
        bins_.perm[p] = k++;
      }
    w.reorder(type, sigma_.data(), bin_threads);
    sorted.epoch = w.order_epoch(type);
    sorted.builds = 0;
  }
  ++sorted.builds;
  // Positions in cell order (the rows themselves when they are sorted by this grid).
  const T* pos[3];
  if (pos_.size() < 3) pos_.resize(3);
  for (int d = 0; d < 3; ++d) {
    AlignedBuffer<T>& buf = pos_[d];
    if (buf.size() < column_capacity(n)) buf = AlignedBuffer<T>(column_capacity(n));
    gather_by_cell(w.column(type, lane + d), bins_.perm.data(), n, buf.data(), bin_threads);
    // Periodic axes: the image inside the box, where the agent was binned (its cell's
    // neighbours then lie at the stencil's shifts).
    if (g.periodic[d]) {
      T* x = buf.data();
      const double lo = g.lo[d], len = g.len[d], inv = 1.0 / len;
      const long nl = static_cast<long>(n);
#pragma omp parallel for num_threads(bin_threads) if (bin_threads > 1) schedule(static)
      for (long k = 0; k < nl; ++k) {
        const double v = double(x[k]);
        if (v < lo || v >= lo + len) x[k] = T(v - len * std::floor((v - lo) * inv));
      }
    }
    pos[d] = buf.data();
  }

  // One sub-list per thread over a contiguous range of cells holding about n / threads agents.
  const int threads = cand > double(opts.list_parallel_threshold) ? max_threads : 1;
  // Pairs a sub-list holds: about as many as at the last build, else a share of the candidates
  // (a sphere fills about a quarter of a 5x5x5 stencil of half-width cells, a sixth of a 3x3x3
  // one of full-width cells). The buffers grow past it where needed.
  const double prev = rebuild ? std::accumulate(L.count.begin(), L.count.end(), 0.0) : 0.0;
  const std::size_t expect =
      static_cast<std::size_t>((prev > 0 ? prev : 0.3 * cand) / threads) + 64;
  L.threads = threads;
  L.li.resize(threads);
  L.lj.resize(threads);
  L.count.assign(threads, 0);
  L.lo.assign(threads, 0);
  L.hi.assign(threads, 0);
  std::vector<long> first_cell(threads + 1);
  for (int t = 0; t <= threads; ++t) {
    const uint32_t target = static_cast<uint32_t>(n * std::size_t(t) / std::size_t(threads));
    first_cell[t] = t == threads
                        ? long(g.n_cells)
                        : std::lower_bound(bins_.start.begin(), bins_.start.end() - 1, target) -
                              bins_.start.begin();
  }
  const long nx = g.dims[0], ny = g.dims[1], nz = g.dims[2];
  const double cut2 = width * width;
  const uint32_t* perm = bins_.perm.data();
  // Per bin slot: the caller's index of its agent, which orients each pair (slot 0 is the
  // agent with the lower index in the caller's order, docs/program.md).
  if (key_.size() < n) key_.resize(n);
  uint32_t* key = key_.data();
  {
    const long nl = static_cast<long>(n);
#pragma omp parallel for num_threads(bin_threads) if (bin_threads > 1) schedule(static)
    for (long p = 0; p < nl; ++p) key[p] = static_cast<uint32_t>(w.agent_at(type, perm[p]));
  }
  if (build_scratch_.size() < std::size_t(threads)) build_scratch_.resize(threads);
  // The filter's ISA follows the interpreter's (ExecOptions::sweeps, else the one chosen at load).
  const SweepSet* wide_set = sweeps_for("avx512");
  const bool wide =
      wide_set != nullptr && (opts.sweeps ? opts.sweeps : &active_sweeps()) == wide_set;
  // The pairs an `exclude:` type joins are never listed (rows as the re-sort above left them).
  const ExcludedPairs* excluded = nullptr;
  if (r.exclude.type != kNoType) {
    const ExclusionStamp now = ExclusionStamp::of(w, r);
    if (!(L.exclusions == now)) {
      L.excluded = ExcludedPairs::of(w, r);
      L.exclusions = now;
    }
    excluded = &L.excluded;
  }
  std::vector<double> counted(threads, 0.0);
  std::vector<std::size_t> runs(threads, 0);  // per sub-list: slot-0 rows with pairs
  bool over = false;
#pragma omp parallel for num_threads(threads) if (threads > 1) schedule(static, 1) \
    reduction(||                                                                   \
              : over)
  for (int t = 0; t < threads; ++t) {
    // Pairs as listed (slot 0 row, slot 1 row); candidates. The buffers only grow: a rebuild
    // reuses their pages.
    BuildScratch& sc = build_scratch_[t];
    grow(sc.s0, expect, 0);
    grow(sc.s1, expect, 0);
    std::size_t n_pairs = 0;
    double seen = 0;  // candidates
    for (long c = first_cell[t]; c < first_cell[t + 1] && !over; ++c) {
      const uint32_t i0 = start[c], i1 = start[c + 1];
      if (i0 == i1) continue;
      const long x = c % nx, y = (c / nx) % ny, z = c / (nx * ny);
      // Forward half of the (2s+1)^3 stencil: the rest of this cell and cells x+1 .. x+s, then
      // the rows (z, y+1 .. y+s) and (z+1 .. z+s, y-s .. y+s), cells x-s .. x+s. Each row is
      // one or more ranges of consecutive cells with one image shift (sh, added to the
      // candidates' positions): open axes clamp, periodic ones wrap (a row that wraps splits in
      // two; a short axis visits a cell once per shift). Range 0 starts at this cell.
      uint32_t rb[kMaxRanges], re[kMaxRanges];
      double shx[kMaxRanges], shy[kMaxRanges], shz[kMaxRanges];
      int n_rows = 0;
      std::size_t span = 0;
      for (long dz = 0; dz <= s; ++dz)
        for (long dy = dz == 0 ? 0 : -s; dy <= s; ++dy) {
          long zz = z + dz, yy = y + dy;
          double sy = 0, sz = 0;
          if (g.periodic[2]) {
            const long k = floor_div(zz, nz);
            zz -= k * nz;
            sz = double(k) * g.len[2];
          } else if (zz >= nz) {
            continue;
          }
          if (g.periodic[1]) {
            const long k = floor_div(yy, ny);
            yy -= k * ny;
            sy = double(k) * g.len[1];
          } else if (yy < 0 || yy >= ny) {
            continue;
          }
          const long row = (zz * ny + yy) * nx;
          const bool first = dz == 0 && dy == 0;
          const long dx0 = first ? 0 : -s;
          auto add = [&](long c0, long c1, double sx) {
            rb[n_rows] = start[row + c0];
            re[n_rows] = start[row + c1 + 1];
            shx[n_rows] = sx;
            shy[n_rows] = sy;
            shz[n_rows] = sz;
            if (first && n_rows == 0) {
              span += re[0] - i0;
              ++n_rows;
            } else if (rb[n_rows] < re[n_rows]) {
              span += re[n_rows] - rb[n_rows];
              ++n_rows;
            }
          };
          if (!g.periodic[0]) {
            add(std::max(0L, x + dx0), std::min(nx - 1, x + s), 0.0);
            continue;
          }
          long c0 = 0, c1 = -2, k0 = 0;
          for (long dx = dx0; dx <= s; ++dx) {
            const long k = floor_div(x + dx, nx), xx = x + dx - k * nx;
            if (c1 >= c0 && k == k0 && xx == c1 + 1) {
              c1 = xx;
              continue;
            }
            if (c1 >= c0) add(c0, c1, double(k0) * g.len[0]);
            c0 = c1 = xx;
            k0 = k;
          }
          add(c0, c1, double(k0) * g.len[0]);
        }
      grow(sc.hits, span + 8);
      grow(sc.s0, n_pairs + (i1 - i0) * span, n_pairs);
      grow(sc.s1, n_pairs + (i1 - i0) * span, n_pairs);
      uint32_t* hits = sc.hits.data();
      uint32_t* s0 = sc.s0.data();
      uint32_t* s1 = sc.s1.data();
      // This cell's agents see `span` candidates less one per agent before them (the rest of
      // the cell is a candidate from the next agent on).
      const double n_i = i1 - i0;
      seen += n_i * double(span) - n_i * (n_i + 1) / 2;
      over = rebuild && seen * threads > max_cand;
      for (uint32_t p = i0; p < i1; ++p) {
        const double xi = pos[0][p], yi = pos[1][p], zi = pos[2][p];
        rb[0] = p + 1;
        std::size_t h = 0;
        if (wide) {
          const double x[3] = {xi, yi, zi};
          h = filter_agent_avx512(pos, n_rows, rb, re, shx, shy, shz, x, cut2, hits);
        } else {
          for (int k = 0; k < n_rows; ++k) {
            // A candidate's image is at pos + sh: its offset is pos - (xi - sh).
            const double xs = xi - shx[k], ys = yi - shy[k], zs = zi - shz[k];
            h = filter_rows(pos, rb[k], re[k], xs, ys, zs, cut2, hits, h);
          }
        }
        const uint32_t ri = perm[p], ki = key[p];
        // Every pair is written and kept when not excluded (branch-free: a good part of a
        // bead-spring list's pairs are bonded).
        for (std::size_t e = 0; e < h; ++e) {
          const uint32_t q = hits[e], rj = perm[q];
          const bool first = ki < key[q];
          s0[n_pairs] = first ? ri : rj;
          s1[n_pairs] = first ? rj : ri;
          n_pairs += excluded == nullptr || !excluded->excluded(ri, rj) ? 1 : 0;
        }
      }
    }
    // Sorted by slot-0 row (stable counting sort): the sweep then finds each agent's slot-0
    // pairs in one run and sums their deltas before adding them to its accumulator.
    if (over) n_pairs = 0;
    const uint32_t* s0 = sc.s0.data();
    const uint32_t* s1 = sc.s1.data();
    uint32_t lo = UINT32_MAX, hi = 0;
#pragma omp simd reduction(min : lo) reduction(max : hi)
    for (std::size_t k = 0; k < n_pairs; ++k) {
      lo = std::min(lo, std::min(s0[k], s1[k]));
      hi = std::max(hi, std::max(s0[k], s1[k]));
    }
    ++hi;
    AlignedBuffer<uint32_t>& li = L.li[t];
    AlignedBuffer<uint32_t>& lj = L.lj[t];
    counted[t] = seen;
    grow(li, n_pairs + kListPadding, 0);
    grow(lj, n_pairs + kListPadding, 0);
    if (n_pairs > 0) {
      std::vector<uint32_t>& at = sc.at;
      at.assign(std::size_t(hi - lo) + 1, 0);
      for (std::size_t k = 0; k < n_pairs; ++k) ++at[s0[k] - lo + 1];
      // Slot 0 is the row of each run: written in order, only slot 1 is scattered.
      uint32_t* pi = li.data();
      uint32_t* pj = lj.data();
      for (std::size_t k = 1; k < at.size(); ++k) {
        runs[t] += at[k] != 0 ? 1 : 0;  // a slot-0 row with pairs
        std::fill(pi + at[k - 1], pi + at[k - 1] + at[k], lo + uint32_t(k - 1));
        at[k] += at[k - 1];
      }
      for (std::size_t k = 0; k < n_pairs; ++k) pj[at[s0[k] - lo]++] = s1[k];
    }
    L.count[t] = n_pairs;
    pad_sub_list(L, t);
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
  // The cells births are looked up in: at least the list's width wide, so that a child's
  // neighbours lie in the 3x3x3 cells around it (9 ranges of rows, where the build's half-width
  // cells would take 25, each a likely cache miss in a large system). The build's own cells
  // when they are that wide; else the rows (in their new order) binned again.
  if (s == 1) {
    L.grid = g;
    L.cell_start.assign(bins_.start.begin(), bins_.start.end());
    L.cell_rows.assign(bins_.perm.begin(), bins_.perm.begin() + long(n));
  } else {
    make_grid(box_lo, box_hi, n, width, L.grid, per);
    bin_agents(w, type, lane, L.grid, bins_, bin_threads);
    L.cell_start.swap(bins_.start);
    L.cell_rows.swap(bins_.perm);
  }
  // Their origins next to them, in the same order: a lookup reads each range of rows'
  // positions in one sweep instead of one random access per row and axis.
  L.cell_origin.resize(3 * n);
  for (std::size_t q = 0; q < n; ++q)
    for (int d = 0; d < 3; ++d) L.cell_origin[3 * q + d] = w.column(type, lane + d)[L.cell_rows[q]];
  L.appended.clear();
  return true;
}

template <class T>
std::vector<uint32_t> VerletLists<T>::birth_rows(const World<T>& w, uint32_t type,
                                                 const WorldBase::Spawned& children) const {
  std::vector<uint32_t> rows;
  for (const NeighbourList<T>& L : lists_) {
    if (!L.rule || L.rule->type_a != type || L.epoch != w.order_epoch(type) ||
        L.origin.size() != 3 * w.count(type) || children.n < 2)
      continue;
    const uint32_t lanes = w.program().lanes(type), lane = L.rule->cutoff_lane_a;
    std::vector<std::pair<uint32_t, uint32_t>> keyed(children.n);  // (cell, child)
    for (std::size_t q = 0; q < children.n; ++q) {
      long idx[3];
      for (int d = 0; d < 3; ++d) {
        const double x = children.values[q * lanes + lane + d];
        idx[d] = std::isfinite(x) ? axis_cell(L.grid, d, x) : 0;
      }
      keyed[q] = {uint32_t((idx[2] * L.grid.dims[1] + idx[1]) * L.grid.dims[0] + idx[0]),
                  uint32_t(q)};
    }
    std::sort(keyed.begin(), keyed.end());
    rows.resize(children.n);
    for (std::size_t k = 0; k < children.n; ++k) rows[k] = keyed[k].second;
    break;
  }
  return rows;
}

template <class T>
void VerletLists<T>::rows_moved(const World<T>& w, const std::vector<WorldBase::RowMoves>& moves) {
  for (uint32_t t = 0; t < moves.size(); ++t) {
    const WorldBase::RowMoves& m = moves[t];
    if (m.epoch_before == m.epoch_after) continue;
    for (NeighbourList<T>& L : lists_)
      if (L.rule && L.rule->type_a == t && L.epoch == m.epoch_before &&
          L.origin.size() == 3 * m.old_count) {
        follow(w, L, m);
        L.epoch = m.epoch_after;
      }
    // The rows kept their order; children at the end do not undo a sort (the periodic
    // re-sort every kResortBuilds builds takes them in).
    if (t < sort_state_.size() && sort_state_[t].epoch == m.epoch_before)
      sort_state_[t].epoch = m.epoch_after;
  }
}

template <class T>
void VerletLists<T>::follow(const World<T>& w, NeighbourList<T>& L, const WorldBase::RowMoves& m) {
  constexpr uint32_t kGone = WorldBase::RowMoves::kGoneRow;
  const uint32_t type = L.rule->type_a, lane = L.rule->cutoff_lane_a;
  const std::size_t n_old = m.old_count, kept = m.survivors, n = kept + m.appended;
  const int threads = L.threads;
  // Removed rows: their pairs dropped, the others renumbered (rows keep their order, so each
  // sub-list stays sorted by slot-0 row).
  if (!m.to.empty()) {
    const uint32_t* to = m.to.data();
#pragma omp parallel for num_threads(threads) if (threads > 1) schedule(static, 1)
    for (int t = 0; t < threads; ++t) {
      uint32_t* li = L.li[t].data();
      uint32_t* lj = L.lj[t].data();
      std::size_t k = 0;
      uint32_t lo = UINT32_MAX, hi = 0;
      for (std::size_t e = 0; e < L.count[t]; ++e) {
        const uint32_t a = to[li[e]], b = to[lj[e]];
        li[k] = a;
        lj[k] = b;
        if (a != kGone && b != kGone) {
          lo = std::min(lo, std::min(a, b));
          hi = std::max(hi, std::max(a, b));
          ++k;
        }
      }
      L.count[t] = k;
      L.lo[t] = k > 0 ? lo : 0;
      L.hi[t] = k > 0 ? hi + 1 : 0;
    }
    const long n_cell_rows = long(L.cell_rows.size());
    uint32_t* cell_rows = L.cell_rows.data();
#pragma omp parallel for num_threads(threads) if (threads > 1) schedule(static)
    for (long q = 0; q < n_cell_rows; ++q)
      if (cell_rows[q] != kGone) cell_rows[q] = to[cell_rows[q]];
    std::size_t k = 0;
    for (const AppendedRow<T>& e : L.appended)
      if (to[e.row] != kGone) {
        L.appended[k] = e;
        L.appended[k++].row = to[e.row];
      }
    L.appended.resize(k);
  }
  // The origins of the survivors, then the children's: where they are now.
  origin_spare_.resize(3 * n);
  for (int d = 0; d < 3; ++d) {
    const T* from = L.origin.data() + std::size_t(d) * n_old;
    T* into = origin_spare_.data() + std::size_t(d) * n;
    if (m.to.empty()) {
      const long nl = long(kept);
#pragma omp parallel for num_threads(threads) if (threads > 1) schedule(static)
      for (long r = 0; r < nl; ++r) into[r] = from[r];
    } else {
      const uint32_t* to = m.to.data();
      const long nl = long(n_old);
#pragma omp parallel for num_threads(threads) if (threads > 1) schedule(static)
      for (long r = 0; r < nl; ++r)
        if (to[r] != kGone) into[to[r]] = from[r];
    }
    std::copy(w.column(type, lane + d) + kept, w.column(type, lane + d) + n, into + kept);
  }
  L.origin.swap(origin_spare_);

  // The children's pairs: each child against every earlier row (survivors, earlier children)
  // whose origin lies within the list's width of its own, found through the cells of the build.
  std::vector<std::pair<uint32_t, uint32_t>> added;  // (slot-0 row, slot-1 row)
  if (m.appended > 0) {
    const CellGrid& g = L.grid;
    const T* o[3] = {L.origin.data(), L.origin.data() + n, L.origin.data() + 2 * n};
    auto cell_index = [&](std::size_t row, long* idx) {
      for (int d = 0; d < 3; ++d) idx[d] = axis_cell(g, d, double(o[d][row]));
    };
    const std::size_t first = L.appended.size();
    for (std::size_t c = kept; c < n; ++c) {
      long idx[3];
      cell_index(c, idx);
      L.appended.push_back(
          AppendedRow<T>{uint32_t((idx[2] * g.dims[1] + idx[1]) * g.dims[0] + idx[0]),
                         uint32_t(c),
                         {o[0][c], o[1][c], o[2][c]}});
    }
    std::sort(L.appended.begin() + long(first), L.appended.end());
    // The children in the order of their cells: consecutive children then look in nearby
    // cells, whose rows and origins are at nearby addresses (the same pages, often the same
    // cache lines), where children in row order would each look somewhere new.
    std::vector<uint32_t>& by_cell = children_by_cell_;
    by_cell.resize(m.appended);
    for (std::size_t k = 0; k < m.appended; ++k) by_cell[k] = L.appended[first + k].row;
    std::inplace_merge(L.appended.begin(), L.appended.begin() + long(first), L.appended.end());
    // Where each cell's appended rows start (a lookup per range of cells, not a search).
    std::vector<uint32_t>& appended_start = appended_start_;
    appended_start.assign(g.n_cells + 1, 0);
    for (const AppendedRow<T>& e : L.appended) ++appended_start[e.cell + 1];
    for (std::size_t k = 0; k < g.n_cells; ++k) appended_start[k + 1] += appended_start[k];
    double len[3], inv[3];
    for (int d = 0; d < 3; ++d) {
      len[d] = g.periodic[d] ? g.len[d] : 0.0;
      inv[d] = g.periodic[d] ? 1.0 / g.len[d] : 0.0;
    }
    const double width = L.reach + L.skin, cut2 = width * width;
    const long s = 1;  // the cells are at least the list's width wide
    const uint32_t* agents = w.agents(type);
    auto agent_of = [agents](uint32_t row) { return agents ? agents[row] : row; };
    // The children in batches of kChildBatch, split between the threads, each collecting its
    // own pairs (sorted below, so the result does not depend on the split). In a large system
    // every step of a lookup is a likely cache miss (a range's start, its rows and their
    // origins, each hit's caller index): a batch takes each step for all its children at once,
    // prefetching what the next step reads, so that its misses overlap instead of following
    // one another. (Perf samples of 10,000 children in a 1M gas: 26 ms of CPU one child at a
    // time in row order, 17 ms in batches in cell order.)
    constexpr long kChildBatch = 32;
    constexpr int kRanges = 3 * 3 * 2;  // rows of cells (y, z), each up to two runs along x
    const long n_batches = long(m.appended + kChildBatch - 1) / kChildBatch;
    const int q_threads = m.appended >= 1024 ? threads : 1;
    std::vector<std::vector<std::pair<uint32_t, uint32_t>>> found(q_threads);
    const long n_children = long(m.appended);
    const uint32_t* cell_start = L.cell_start.data();
    const uint32_t* starts_appended = appended_start.data();
    auto prefetch_range = [](const void* from, const void* to) {
      for (const char* p = static_cast<const char*>(from); p < static_cast<const char*>(to);
           p += 64)
        __builtin_prefetch(p);
    };
#pragma omp parallel for num_threads(q_threads) if (q_threads > 1) schedule(static)
    for (long b = 0; b < n_batches; ++b) {
      std::vector<std::pair<uint32_t, uint32_t>>& mine = found[omp_get_thread_num()];
      const long k_begin = b * kChildBatch, k_end = std::min(n_children, k_begin + kChildBatch);
      // Per child: its ranges of cells [c0, c1], then of cell_rows [q0, q1) and of
      // L.appended [a0, a1).
      uint32_t c0[kChildBatch][kRanges], c1[kChildBatch][kRanges];
      uint32_t q0[kChildBatch][kRanges], q1[kChildBatch][kRanges];
      uint32_t a0[kChildBatch][kRanges], a1[kChildBatch][kRanges];
      int n_ranges[kChildBatch];
      // 1. The stencil's cells per axis, each once (a short periodic axis wraps onto itself),
      // in ascending order: along x, runs of consecutive cells are one range of rows.
      for (long k = 0; k < k_end - k_begin; ++k) {
        const long c = by_cell[k_begin + k];
        long idx[3];
        cell_index(std::size_t(c), idx);
        long cells[3][2 * kMaxNeighbourhood];
        int n_cells[3];
        for (int d = 0; d < 3; ++d) {
          n_cells[d] = 0;
          for (long x = idx[d] - s; x <= idx[d] + s; ++x) {
            long xx = x;
            if (g.periodic[d]) {
              xx = x - floor_div(x, long(g.dims[d])) * long(g.dims[d]);
            } else if (x < 0 || x >= long(g.dims[d])) {
              continue;
            }
            if (std::find(cells[d], cells[d] + n_cells[d], xx) == cells[d] + n_cells[d])
              cells[d][n_cells[d]++] = xx;
          }
          std::sort(cells[d], cells[d] + n_cells[d]);
        }
        int r = 0;
        for (int za = 0; za < n_cells[2]; ++za)
          for (int ya = 0; ya < n_cells[1]; ++ya) {
            const long row = (cells[2][za] * long(g.dims[1]) + cells[1][ya]) * long(g.dims[0]);
            for (int e = 0; e < n_cells[0];) {
              int f = e + 1;
              while (f < n_cells[0] && cells[0][f] == cells[0][f - 1] + 1) ++f;
              c0[k][r] = uint32_t(row + cells[0][e]);
              c1[k][r] = uint32_t(row + cells[0][f - 1]) + 1;
              __builtin_prefetch(cell_start + c0[k][r]);
              __builtin_prefetch(cell_start + c1[k][r]);
              __builtin_prefetch(starts_appended + c0[k][r]);
              __builtin_prefetch(starts_appended + c1[k][r]);
              ++r;
              e = f;
            }
          }
        n_ranges[k] = r;
        if (agents) __builtin_prefetch(agents + c);
      }
      // 2. The ranges of rows, and the rows and origins they hold.
      for (long k = 0; k < k_end - k_begin; ++k)
        for (int r = 0; r < n_ranges[k]; ++r) {
          q0[k][r] = cell_start[c0[k][r]];
          q1[k][r] = cell_start[c1[k][r]];
          a0[k][r] = starts_appended[c0[k][r]];
          a1[k][r] = starts_appended[c1[k][r]];
          prefetch_range(L.cell_rows.data() + q0[k][r], L.cell_rows.data() + q1[k][r]);
          prefetch_range(L.cell_origin.data() + 3 * std::size_t(q0[k][r]),
                         L.cell_origin.data() + 3 * std::size_t(q1[k][r]));
          prefetch_range(L.appended.data() + a0[k][r], L.appended.data() + a1[k][r]);
        }
      // 3. The rows within the width, the caller indices of both ends prefetched.
      const std::size_t batch_first = mine.size();
      for (long k = 0; k < k_end - k_begin; ++k) {
        const long c = by_cell[k_begin + k];
        const double xc = double(o[0][c]), yc = double(o[1][c]), zc = double(o[2][c]);
        // Row j, whose origin is at p (x, y, z).
        auto consider = [&](uint32_t j, const T* p) {
          if (long(j) >= c) return;  // kGone too
          const double dx = min_image(xc - double(p[0]), len[0], inv[0]),
                       dy = min_image(yc - double(p[1]), len[1], inv[1]),
                       dz = min_image(zc - double(p[2]), len[2], inv[2]);
          if (!(dx * dx + dy * dy + dz * dz < cut2)) return;
          if (agents) __builtin_prefetch(agents + j);
          mine.emplace_back(j, uint32_t(c));
        };
        for (int r = 0; r < n_ranges[k]; ++r) {
          for (uint32_t q = q0[k][r]; q < q1[k][r]; ++q)
            consider(L.cell_rows[q], L.cell_origin.data() + 3 * std::size_t(q));
          for (uint32_t q = a0[k][r]; q < a1[k][r]; ++q)
            consider(L.appended[q].row, L.appended[q].origin);
        }
      }
      // 4. Slot 0 is the agent with the lower index in the caller's order.
      for (std::size_t h = batch_first; h < mine.size(); ++h) {
        const uint32_t j = mine[h].first, c = mine[h].second;
        if (agent_of(c) < agent_of(j)) mine[h] = {c, j};
      }
    }
    // Each thread's pairs sorted on its thread, then merged.
    std::vector<std::size_t> part_start(q_threads + 1, 0);
    for (int t = 0; t < q_threads; ++t) {
      part_start[t + 1] = part_start[t] + found[t].size();
      added.insert(added.end(), found[t].begin(), found[t].end());
    }
#pragma omp parallel for num_threads(q_threads) if (q_threads > 1) schedule(static, 1)
    for (int t = 0; t < q_threads; ++t)
      std::sort(added.begin() + long(part_start[t]), added.begin() + long(part_start[t + 1]));
    for (int t = 1; t < q_threads; ++t)
      std::inplace_merge(added.begin(), added.begin() + long(part_start[t]),
                         added.begin() + long(part_start[t + 1]));
  }

  // The children's pairs, sorted by slot-0 row, merged into the sub-lists: each pair into the
  // sub-list that last listed a pair of a row in the same 64-row block as its slot 0 (the
  // sub-list with the fewest pairs when none did), after that sub-list's pairs of the same
  // slot-0 row. Every sub-list stays sorted by slot-0 row, a row's pairs one run, and the
  // children's pairs are swept with the rows around theirs. (Appended as a segment of their
  // own, sorted but spread over every row, they missed the cache on nearly every pair: after
  // 20 steps of the evaporation benchmark the pair sweep took 1.3-1.7 times as long.)
  if (!added.empty()) {
    const std::size_t n_blocks = n / 64 + 1;
    std::vector<uint32_t>& owner = owner_;
    uint32_t fewest = 0;
    for (int u = 1; u < threads; ++u)
      if (L.count[u] < L.count[fewest]) fewest = uint32_t(u);
    owner.assign(n_blocks, fewest);
    for (int t = 0; t < threads; ++t) {
      // Sorted by slot-0 row: one search per block the sub-list touches.
      const uint32_t *li = L.li[t].data(), *end = li + L.count[t];
      for (const uint32_t* e = li; e < end;) {
        const uint32_t block = *e / 64;
        owner[block] = uint32_t(t);
        e = std::lower_bound(e, end, (block + 1) * 64);
      }
    }
    // The pairs of each sub-list, in order: a stable split of `added` by owner.
    std::vector<std::size_t> first_of(threads + 1, 0);
    for (const auto& p : added) ++first_of[owner[p.first / 64] + 1];
    for (int t = 0; t < threads; ++t) first_of[t + 1] += first_of[t];
    std::vector<std::pair<uint32_t, uint32_t>> by_list(added.size());
    {
      std::vector<std::size_t> at(first_of.begin(), first_of.end() - 1);
      for (const auto& p : added) by_list[at[owner[p.first / 64]]++] = p;
    }
#pragma omp parallel for num_threads(threads) if (threads > 1) schedule(static, 1)
    for (int t = 0; t < threads; ++t) {
      const std::size_t k = first_of[t + 1] - first_of[t];
      if (k == 0) continue;
      const std::pair<uint32_t, uint32_t>* add = by_list.data() + first_of[t];
      const std::size_t had = L.count[t], total = had + k;
      grow(L.li[t], total + kListPadding, had);
      grow(L.lj[t], total + kListPadding, had);
      uint32_t* li = L.li[t].data();
      uint32_t* lj = L.lj[t].data();
      uint32_t lo = had > 0 ? L.lo[t] : UINT32_MAX, hi = had > 0 ? L.hi[t] : 0;
      for (std::size_t e = 0; e < k; ++e) {
        lo = std::min(lo, std::min(add[e].first, add[e].second));
        hi = std::max(hi, std::max(add[e].first, add[e].second) + 1);
      }
      // Merged from the back, in place: a listed pair of the same slot-0 row stays first.
      std::size_t i = had, j = k, out = total;
      while (j > 0) {
        if (i > 0 && li[i - 1] > add[j - 1].first) {
          --i;
          --out;
          li[out] = li[i];
          lj[out] = lj[i];
        } else {
          --j;
          --out;
          li[out] = add[j].first;
          lj[out] = add[j].second;
        }
      }
      L.count[t] = total;
      L.lo[t] = lo;
      L.hi[t] = hi;
    }
  }
  for (int t = 0; t < threads; ++t) pad_sub_list(L, t);
}

template class VerletLists<double>;
template class VerletLists<float>;

}  // namespace brz
