// Hand-written C++ reference kernels, compiled once per ISA (BRZ_REF_ISA = 1 sse2, 2 avx2+fma,
// 3 avx512) with the engine's per-ISA flags. Written the way one writes such loops by hand:
// SoA columns, __restrict, `omp simd` inner loops left to the compiler's auto-vectoriser,
// OpenMP across the cores. No xsimd, no intrinsics except in the peak-FMA micro-kernel.
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "brz/philox.hpp"
#include "reference.hpp"

#if BRZ_REF_ISA == 1
#define BRZ_REF_NS kern_sse2
#define BRZ_REF_NAME "sse2"
#elif BRZ_REF_ISA == 2
#define BRZ_REF_NS kern_avx2
#define BRZ_REF_NAME "avx2"
#elif BRZ_REF_ISA == 3
#define BRZ_REF_NS kern_avx512
#define BRZ_REF_NAME "avx512"
#else
#error "BRZ_REF_ISA must be 1, 2 or 3"
#endif

namespace brzref {
namespace BRZ_REF_NS {
namespace {

// The two i/j sweeps of the gravity kernels below; `d2` is dot(d, d), d = x[j] - x[i].
// Templates over the pair formula, inlined, so each kernel's loops are the ones hand-written.

// What a pair adds to its two bodies: d * own to body i, -d * other to body j.
template <class T>
struct PairScales {
  T own, other;
};

// Unordered pairs i < j, Newton's third law: the i side is a register reduction, the j side goes
// to a per-thread accumulator array (b.scratch) that is reduced into (ox, oy, oz) after the
// sweep. dynamic schedule: the triangle is unbalanced. pair(d2, m[j], m[i]) -> PairScales.
template <class T, class Pair>
void pairs_sweep(Bodies<T>& b, T* ox, T* oy, T* oz, Pair pair) {
  const int n = b.n;
  const T* __restrict x = b.x;
  const T* __restrict y = b.y;
  const T* __restrict z = b.z;
  const T* __restrict m = b.m;
  T* __restrict outx = ox;
  T* __restrict outy = oy;
  T* __restrict outz = oz;
  const int threads = omp_get_max_threads();
#pragma omp parallel num_threads(threads)
  {
    T* __restrict bx = b.scratch + std::size_t(omp_get_thread_num()) * 3 * b.stride;
    T* __restrict by = bx + b.stride;
    T* __restrict bz = by + b.stride;
    for (int i = 0; i < n; ++i) bx[i] = by[i] = bz[i] = T(0);
#pragma omp for schedule(dynamic, 16)
    for (int i = 0; i < n; ++i) {
      const T xi = x[i], yi = y[i], zi = z[i], mi = m[i];
      T ax = 0, ay = 0, az = 0;
#pragma omp simd reduction(+ : ax, ay, az)
      for (int j = i + 1; j < n; ++j) {
        const T dx = x[j] - xi, dy = y[j] - yi, dz = z[j] - zi;
        const PairScales<T> s = pair(dx * dx + dy * dy + dz * dz, m[j], mi);
        ax += dx * s.own;
        ay += dy * s.own;
        az += dz * s.own;
        bx[j] -= dx * s.other;
        by[j] -= dy * s.other;
        bz[j] -= dz * s.other;
      }
      bx[i] += ax;
      by[i] += ay;
      bz[i] += az;
    }
    // implicit barrier: every thread's accumulators are complete
#pragma omp for schedule(static)
    for (int i = 0; i < n; ++i) {
      T sx = 0, sy = 0, sz = 0;
      for (int t = 0; t < threads; ++t) {
        const T* a = b.scratch + std::size_t(t) * 3 * b.stride;
        sx += a[i];
        sy += a[b.stride + i];
        sz += a[2 * b.stride + i];
      }
      outx[i] += sx;
      outy[i] += sy;
      outz[i] += sz;
    }
  }
}

// Every i over all j (j == i adds d = 0), each i updating its own column only: twice the
// interactions of pairs_sweep, no accumulators. scale(d2, m[j]) -> what d adds to body i.
template <class T, class Scale>
void all_j_sweep(Bodies<T>& b, T* ox, T* oy, T* oz, Scale scale) {
  const int n = b.n;
  const T* __restrict x = b.x;
  const T* __restrict y = b.y;
  const T* __restrict z = b.z;
  const T* __restrict m = b.m;
  T* __restrict outx = ox;
  T* __restrict outy = oy;
  T* __restrict outz = oz;
#pragma omp parallel for schedule(static)
  for (int i = 0; i < n; ++i) {
    const T xi = x[i], yi = y[i], zi = z[i];
    T ax = 0, ay = 0, az = 0;
#pragma omp simd reduction(+ : ax, ay, az)
    for (int j = 0; j < n; ++j) {
      const T dx = x[j] - xi, dy = y[j] - yi, dz = z[j] - zi;
      const T s = scale(dx * dx + dy * dy + dz * dz, m[j]);
      ax += dx * s;
      ay += dy * s;
      az += dz * s;
    }
    outx[i] += ax;
    outy[i] += ay;
    outz[i] += az;
  }
}

// (a) The DSL formula of bench.exs's Gravity system over unordered pairs i < j.
template <class T>
void gravity(Bodies<T>& b, T dt) {
  pairs_sweep(b, b.vx, b.vy, b.vz, [dt](T d2, T mj, T mi) {
    const T r2 = d2 + T(0.01);
    const T inv = T(1) / (std::sqrt(r2) * r2);
    return PairScales<T>{mj * inv * dt, mi * inv * dt};
  });
}

// (a') the same formula as it is usually hand-written: every i over all j.
template <class T>
void gravity_all(Bodies<T>& b, T dt) {
  all_j_sweep(b, b.vx, b.vy, b.vz, [dt](T d2, T mj) {
    const T r2 = d2 + T(0.01);
    const T inv = T(1) / (std::sqrt(r2) * r2);
    return mj * inv * dt;
  });
}

// Canonical softened gravity's 1/r^3: r2 = dot(d, d) + eps2, inv = 1/sqrt(r2), inv^3.
template <class T>
T softened_inv3(T d2, T eps2) {
  const T inv = T(1) / std::sqrt(d2 + eps2);
  return inv * inv * inv;
}

// (b) canonical softened gravity: for every i, all j.
template <class T>
void softened(Bodies<T>& b, T eps2) {
  all_j_sweep(b, b.ax, b.ay, b.az, [eps2](T d2, T mj) { return mj * softened_inv3(d2, eps2); });
}

// (b') the same formula over unordered pairs with Newton's third law (half the interactions).
template <class T>
void softened_pairs(Bodies<T>& b, T eps2) {
  pairs_sweep(b, b.ax, b.ay, b.az, [eps2](T d2, T mj, T mi) {
    const T inv3 = softened_inv3(d2, eps2);
    return PairScales<T>{mj * inv3, mi * inv3};
  });
}

// (c) x += v*dt over SoA columns, both cores.
template <class T>
void integrate(Bodies<T>& b, T dt) {
  const int n = b.n;
  T* __restrict x = b.x;
  T* __restrict y = b.y;
  T* __restrict z = b.z;
  const T* __restrict vx = b.vx;
  const T* __restrict vy = b.vy;
  const T* __restrict vz = b.vz;
#pragma omp parallel for simd schedule(static)
  for (int i = 0; i < n; ++i) {
    x[i] += vx[i] * dt;
    y[i] += vy[i] * dt;
    z[i] += vz[i] * dt;
  }
}

// (f) one BAOAB step of free particles in a Langevin bath (examples/systems/langevin.ex, rule
// `baoab`): half a drift, v <- c1 v + sqrt((1 - c1^2) kT / m) N(0, 1) per axis, half a drift.
// The three normal deviates are the engine's for rule 0, call sites 0, 1 and 2 (docs/program.md,
// "Random numbers"): one Philox4x32-10 block each, keyed by the seed and the site, counted by
// the particle and the step, through the same brz/philox.hpp conversions.
template <class T>
struct Normal;
template <>
struct Normal<double> {
  static double of(brz::Philox4x32 w) {
    return brz::normal_f64(brz::uniform_f64(w.x0, w.x1), brz::uniform_f64(w.x2, w.x3));
  }
};
template <>
struct Normal<float> {
  static float of(brz::Philox4x32 w) {
    return brz::normal_f32(brz::uniform_f32(w.x0), brz::uniform_f32(w.x1));
  }
};

template <class T>
void langevin(Bodies<T>& b, T dt, T gamma, T kt, std::uint32_t seed, std::uint64_t step) {
  const int n = b.n;
  T* __restrict x = b.x;
  T* __restrict y = b.y;
  T* __restrict z = b.z;
  T* __restrict vx = b.vx;
  T* __restrict vy = b.vy;
  T* __restrict vz = b.vz;
  const T* __restrict m = b.m;
  const T c1 = std::exp(-gamma * dt);
  const T var = (T(1) - c1 * c1) * kt;
  const T half = T(0.5) * dt;
  const brz::PhiloxKey kx{seed, 0u}, ky{seed, 1u}, kz{seed, 2u};
  const auto lo = static_cast<std::uint32_t>(step);
  const auto hi = static_cast<std::uint32_t>(step >> 32);
#pragma omp parallel for simd schedule(static)
  for (int i = 0; i < n; ++i) {
    const brz::Philox4x32 ctr{static_cast<std::uint32_t>(i), 0u, lo, hi};
    const T s = std::sqrt(var / m[i]);
    const T wx = vx[i] * c1 + Normal<T>::of(brz::philox4x32_10(ctr, kx)) * s;
    const T wy = vy[i] * c1 + Normal<T>::of(brz::philox4x32_10(ctr, ky)) * s;
    const T wz = vz[i] * c1 + Normal<T>::of(brz::philox4x32_10(ctr, kz)) * s;
    x[i] += (vx[i] + wx) * half;
    y[i] += (vy[i] + wy) * half;
    z[i] += (vz[i] + wz) * half;
    vx[i] = wx;
    vy[i] = wy;
    vz[i] = wz;
  }
}

// (e) bench.exs Collisions (elastic spheres; density, radii and velocities of bench.exs
// `spheres/1`), one step = the collision rule over every pair closer than the cutoff, then
// x += v*dt. Written as a molecular-dynamics code is written by hand: rows sorted by cell, a half
// Verlet list with a skin (the engine's 12% of the cutoff), one CSR sub-list per thread over
// its rows, rebuilt when some sphere has moved half the skin since the last build; the rule's
// velocity deltas go to per-thread arrays that are added after the sweep (the pair rule's
// simultaneous semantics), and the displacement check is fused into the integration.
template <class T>
struct Spheres {
  std::size_t n = 0;
  std::vector<T> x, y, z, vx, vy, vz, m, r;       // sorted by cell at every build
  std::vector<T> x0, y0, z0;                      // positions at the last build
  std::vector<std::vector<T>> dv;                 // per thread: dvx, dvy, dvz of every row
  std::vector<std::vector<uint32_t>> first, nbr;  // per thread: CSR of its rows [lo, hi)
  std::vector<std::size_t> lo, hi;
  double reach = 0, skin = 0;
  long builds = 0;
  bool valid = false;
};

template <class T>
void build_list(Spheres<T>& s, int threads) {
  const std::size_t n = s.n;
  double lo[3] = {INFINITY, INFINITY, INFINITY}, hi[3] = {-INFINITY, -INFINITY, -INFINITY};
  const std::vector<T>* pos[3] = {&s.x, &s.y, &s.z};
  for (int d = 0; d < 3; ++d)
    for (std::size_t i = 0; i < n; ++i) {
      lo[d] = std::min(lo[d], double((*pos[d])[i]));
      hi[d] = std::max(hi[d], double((*pos[d])[i]));
    }
  // Cells at least as wide as the list's reach; cell of a row by its position.
  const double width = s.reach + s.skin;
  long dims[3];
  double inv[3];
  for (int d = 0; d < 3; ++d) {
    dims[d] = std::max(1L, long((hi[d] - lo[d]) / width));
    inv[d] = dims[d] / std::max(hi[d] - lo[d], 1e-300);
  }
  const std::size_t n_cells = std::size_t(dims[0] * dims[1] * dims[2]);
  std::vector<uint32_t> cell(n), start(n_cells + 1, 0), order(n);
  for (std::size_t i = 0; i < n; ++i) {
    long c[3];
    for (int d = 0; d < 3; ++d)
      c[d] = std::min(dims[d] - 1, long((double((*pos[d])[i]) - lo[d]) * inv[d]));
    cell[i] = uint32_t((c[2] * dims[1] + c[1]) * dims[0] + c[0]);
    ++start[cell[i] + 1];
  }
  for (std::size_t c = 0; c < n_cells; ++c) start[c + 1] += start[c];
  {
    std::vector<uint32_t> at(start.begin(), start.end() - 1);
    for (std::size_t i = 0; i < n; ++i) order[at[cell[i]]++] = uint32_t(i);
  }
  // Rows in cell order (row-major cells), so that neighbours are close in memory.
  std::vector<T> tmp(n);
  for (std::vector<T>* col : {&s.x, &s.y, &s.z, &s.vx, &s.vy, &s.vz, &s.m, &s.r}) {
    for (std::size_t k = 0; k < n; ++k) tmp[k] = (*col)[order[k]];
    col->swap(tmp);
  }
  s.x0 = s.x;
  s.y0 = s.y;
  s.z0 = s.z;
  const T* __restrict x = s.x.data();
  const T* __restrict y = s.y.data();
  const T* __restrict z = s.z.data();
  const double w2 = width * width;
#pragma omp parallel num_threads(threads)
  {
    const int t = omp_get_thread_num();
    const std::size_t r0 = s.lo[t], r1 = s.hi[t];
    std::vector<uint32_t>& first = s.first[t];
    std::vector<uint32_t>& nbr = s.nbr[t];
    first.assign(1, 0);
    nbr.clear();
    for (std::size_t i = r0; i < r1; ++i) {
      long c[3];
      for (int d = 0; d < 3; ++d)
        c[d] = std::min(dims[d] - 1, long((double((*pos[d])[i]) - lo[d]) * inv[d]));
      for (long cz = std::max(0L, c[2] - 1); cz <= std::min(dims[2] - 1, c[2] + 1); ++cz)
        for (long cy = std::max(0L, c[1] - 1); cy <= std::min(dims[1] - 1, c[1] + 1); ++cy) {
          // the three cells of this row are contiguous rows
          const std::size_t row = std::size_t((cz * dims[1] + cy) * dims[0]);
          const uint32_t j0 = start[row + std::size_t(std::max(0L, c[0] - 1))];
          const uint32_t j1 = start[row + std::size_t(std::min(dims[0] - 1, c[0] + 1)) + 1];
          for (uint32_t j = std::max<uint32_t>(j0, uint32_t(i + 1)); j < j1; ++j) {
            const double dx = double(x[j]) - double(x[i]), dy = double(y[j]) - double(y[i]),
                         dz = double(z[j]) - double(z[i]);
            if (dx * dx + dy * dy + dz * dz < w2) nbr.push_back(j);
          }
        }
      first.push_back(uint32_t(nbr.size()));
    }
  }
  s.builds += 1;
  s.valid = true;
}

template <class T>
void collisions_step(Spheres<T>& s, T dt, int threads) {
  if (!s.valid) build_list(s, threads);
  const std::size_t n = s.n;
  T* __restrict vx = s.vx.data();
  T* __restrict vy = s.vy.data();
  T* __restrict vz = s.vz.data();
  const T* __restrict x = s.x.data();
  const T* __restrict y = s.y.data();
  const T* __restrict z = s.z.data();
  const T* __restrict m = s.m.data();
  const T* __restrict r = s.r.data();
  double worst = 0;
#pragma omp parallel num_threads(threads)
  {
    const int t = omp_get_thread_num();
    T* __restrict dx_ = s.dv[t].data();
    T* __restrict dy_ = dx_ + n;
    T* __restrict dz_ = dy_ + n;
    const uint32_t* first = s.first[t].data();
    const uint32_t* nbr = s.nbr[t].data();
    const std::size_t r0 = s.lo[t], r1 = s.hi[t];
    for (std::size_t i = r0; i < r1; ++i) {
      const T xi = x[i], yi = y[i], zi = z[i], vxi = vx[i], vyi = vy[i], vzi = vz[i];
      const T mi = m[i], ri = r[i];
      for (uint32_t k = first[i - r0]; k < first[i - r0 + 1]; ++k) {
        const uint32_t j = nbr[k];
        // delta = p1 - p2; dist = length(delta); if dist < r1 + r2: the elastic impulse
        const T ex = xi - x[j], ey = yi - y[j], ez = zi - z[j];
        const T dist = std::sqrt(ex * ex + ey * ey + ez * ez);
        if (!(dist < ri + r[j])) continue;
        const T inv = dist > T(0) ? T(1) / dist : T(0);  // normalize(0) = 0
        const T nx = ex * inv, ny = ey * inv, nz = ez * inv;
        const T speed = (vxi - vx[j]) * nx + (vyi - vy[j]) * ny + (vzi - vz[j]) * nz;
        if (!(speed < T(0))) continue;
        const T impulse = T(2) * speed / (T(1) / mi + T(1) / m[j]);
        const T ki = impulse / mi, kj = impulse / m[j];
        dx_[i] -= nx * ki;
        dy_[i] -= ny * ki;
        dz_[i] -= nz * ki;
        dx_[j] += nx * kj;
        dy_[j] += ny * kj;
        dz_[j] += nz * kj;
      }
    }
#pragma omp barrier
    // The deltas into the velocities (every thread's arrays back to zero), then x += v*dt and
    // the largest displacement since the build.
    const long nl = long(n);
#pragma omp for schedule(static)
    for (long i = 0; i < nl; ++i) {
      T sx = 0, sy = 0, sz = 0;
      for (int u = 0; u < threads; ++u) {
        T* d = s.dv[u].data();
        sx += d[i];
        sy += d[n + i];
        sz += d[2 * n + i];
        d[i] = d[n + i] = d[2 * n + i] = T(0);
      }
      vx[i] += sx;
      vy[i] += sy;
      vz[i] += sz;
    }
    T* __restrict px = s.x.data();
    T* __restrict py = s.y.data();
    T* __restrict pz = s.z.data();
    const T* __restrict ox = s.x0.data();
    const T* __restrict oy = s.y0.data();
    const T* __restrict oz = s.z0.data();
#pragma omp for simd schedule(static) reduction(max : worst)
    for (long i = 0; i < nl; ++i) {
      px[i] += vx[i] * dt;
      py[i] += vy[i] * dt;
      pz[i] += vz[i] * dt;
      const double ex = double(px[i]) - double(ox[i]), ey = double(py[i]) - double(oy[i]),
                   ez = double(pz[i]) - double(oz[i]);
      worst = std::max(worst, ex * ex + ey * ey + ez * ez);
    }
  }
  if (!(worst < 0.25 * s.skin * s.skin)) s.valid = false;
}

// Kinetic energy, total momentum and the sum of m |v| (the scale of the momentum drift).
template <class T>
void totals(const Spheres<T>& s, double* kinetic, double* p, double* scale) {
  *kinetic = *scale = p[0] = p[1] = p[2] = 0;
  for (std::size_t i = 0; i < s.n; ++i) {
    const double m = double(s.m[i]), v[3] = {double(s.vx[i]), double(s.vy[i]), double(s.vz[i])};
    const double v2 = v[0] * v[0] + v[1] * v[1] + v[2] * v[2];
    *kinetic += 0.5 * m * v2;
    *scale += m * std::sqrt(v2);
    for (int d = 0; d < 3; ++d) p[d] += m * v[d];
  }
}

template <class T>
double collisions(long n, int steps, int reps, CollisionStats* stats) {
  Spheres<T> s;
  s.n = std::size_t(n);
  const double side = std::cbrt(double(n) / 0.2);
  std::uint64_t state = 0x9E3779B97F4A7C15ull;
  auto next = [&state] {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return double(state >> 11) * (1.0 / 9007199254740992.0);
  };
  for (std::vector<T>* c : {&s.x, &s.y, &s.z, &s.vx, &s.vy, &s.vz, &s.m, &s.r}) c->resize(s.n);
  for (std::size_t i = 0; i < s.n; ++i) {
    s.x[i] = T(next() * side);
    s.y[i] = T(next() * side);
    s.z[i] = T(next() * side);
    s.vx[i] = T(next() - 0.5);
    s.vy[i] = T(next() - 0.5);
    s.vz[i] = T(next() - 0.5);
    s.m[i] = T(1);
    s.r[i] = T(0.5);
  }
  s.reach = 2 * double(*std::max_element(s.r.begin(), s.r.end()));  // cutoff r1 + r2
  s.skin = 0.12 * s.reach;
  const int threads = omp_get_max_threads();
  s.dv.assign(threads, std::vector<T>(3 * s.n, T(0)));
  s.first.resize(threads);
  s.nbr.resize(threads);
  for (int t = 0; t < threads; ++t) {
    s.lo.push_back(s.n * std::size_t(t) / std::size_t(threads));
    s.hi.push_back(s.n * std::size_t(t + 1) / std::size_t(threads));
  }
  double e0, p0[3], scale;
  totals(s, &e0, p0, &scale);
  const T dt = T(1.0e-3);
  collisions_step(s, dt, threads);  // warm-up: the first build
  double best = 1e300;
  for (int rep = 0; rep < reps; ++rep) {
    const auto t0 = std::chrono::steady_clock::now();
    for (int k = 0; k < steps; ++k) collisions_step(s, dt, threads);
    const std::chrono::duration<double> t = std::chrono::steady_clock::now() - t0;
    best = std::min(best, t.count() / steps);
  }
  double p1[3], scale1;
  totals(s, &stats->kinetic, p1, &scale1);
  stats->momentum_drift =
      std::sqrt((p1[0] - p0[0]) * (p1[0] - p0[0]) + (p1[1] - p0[1]) * (p1[1] - p0[1]) +
                (p1[2] - p0[2]) * (p1[2] - p0[2])) /
      scale;
  stats->builds = double(s.builds);
  return best;
}

// (d) Peak: CHAINS independent multiply-add chains per thread, all in registers (FMA where the
// ISA has it, separate mul + add on SSE2), on every core.
constexpr int CHAINS = 12;

#if BRZ_REF_ISA == 3
using VD = __m512d;
using VF = __m512;
inline VD set1(double v, VD) { return _mm512_set1_pd(v); }
inline VF set1(float v, VF) { return _mm512_set1_ps(v); }
inline VD madd(VD a, VD b, VD c) { return _mm512_fmadd_pd(a, b, c); }
inline VF madd(VF a, VF b, VF c) { return _mm512_fmadd_ps(a, b, c); }
inline double hsum(VD a) {
  alignas(64) double t[8];
  _mm512_store_pd(t, a);
  double s = 0;
  for (double v : t) s += v;
  return s;
}
inline double hsum(VF a) {
  alignas(64) float t[16];
  _mm512_store_ps(t, a);
  double s = 0;
  for (float v : t) s += v;
  return s;
}
#elif BRZ_REF_ISA == 2
using VD = __m256d;
using VF = __m256;
inline VD set1(double v, VD) { return _mm256_set1_pd(v); }
inline VF set1(float v, VF) { return _mm256_set1_ps(v); }
inline VD madd(VD a, VD b, VD c) { return _mm256_fmadd_pd(a, b, c); }
inline VF madd(VF a, VF b, VF c) { return _mm256_fmadd_ps(a, b, c); }
inline double hsum(VD a) {
  alignas(32) double t[4];
  _mm256_store_pd(t, a);
  return t[0] + t[1] + t[2] + t[3];
}
inline double hsum(VF a) {
  alignas(32) float t[8];
  _mm256_store_ps(t, a);
  double s = 0;
  for (float v : t) s += v;
  return s;
}
#else
using VD = __m128d;
using VF = __m128;
inline VD set1(double v, VD) { return _mm_set1_pd(v); }
inline VF set1(float v, VF) { return _mm_set1_ps(v); }
inline VD madd(VD a, VD b, VD c) { return _mm_add_pd(_mm_mul_pd(a, b), c); }
inline VF madd(VF a, VF b, VF c) { return _mm_add_ps(_mm_mul_ps(a, b), c); }
inline double hsum(VD a) {
  alignas(16) double t[2];
  _mm_store_pd(t, a);
  return t[0] + t[1];
}
inline double hsum(VF a) {
  alignas(16) float t[4];
  _mm_store_ps(t, a);
  return double(t[0]) + t[1] + t[2] + t[3];
}
#endif

template <class V, class S>
double peak(long iters, double* flops) {
  double total = 0;
  int threads = 1;
#pragma omp parallel reduction(+ : total)
  {
#pragma omp single
    threads = omp_get_num_threads();
    const V mul = set1(S(0.999999), V());
    const V add = set1(S(1.0e-7), V());
    V acc[CHAINS];
#pragma GCC unroll 16
    for (int k = 0; k < CHAINS; ++k) acc[k] = set1(S(0.01 * (k + 1 + omp_get_thread_num())), V());
    for (long it = 0; it < iters; ++it) {
#pragma GCC unroll 16
      for (int k = 0; k < CHAINS; ++k) acc[k] = madd(acc[k], mul, add);
    }
    for (int k = 0; k < CHAINS; ++k) total += hsum(acc[k]);
  }
  *flops = 2.0 * double(sizeof(V) / sizeof(S)) * CHAINS * double(iters) * threads;
  return total;
}

}  // namespace

extern const KernelSet kernel_set;
const KernelSet kernel_set = {
    BRZ_REF_NAME,
    {&gravity<double>, &gravity_all<double>, &softened<double>, &softened_pairs<double>,
     &integrate<double>, &peak<VD, double>, &collisions<double>, &langevin<double>},
    {&gravity<float>, &gravity_all<float>, &softened<float>, &softened_pairs<float>,
     &integrate<float>, &peak<VF, float>, &collisions<float>, &langevin<float>},
};

}  // namespace BRZ_REF_NS
}  // namespace brzref
