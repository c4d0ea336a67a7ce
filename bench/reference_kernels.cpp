// Hand-written C++ reference kernels, compiled once per ISA (BRZ_REF_ISA = 1 sse2, 2 avx2+fma,
// 3 avx512) with the engine's per-ISA flags. Written the way one writes such loops by hand:
// SoA columns, __restrict, `omp simd` inner loops left to the compiler's auto-vectoriser,
// OpenMP across the cores. No xsimd, no intrinsics except in the peak-FMA micro-kernel.
#include <immintrin.h>
#include <omp.h>

#include <cmath>
#include <cstddef>

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

// (a) The DSL formula of bench.exs's Gravity system, unordered pairs i < j, Newton's third law:
// the i side is a register reduction, the j side goes to a per-thread accumulator array that
// is reduced after the sweep. dynamic schedule: the triangle is unbalanced.
template <class T>
void gravity(Bodies<T>& b, T dt) {
  const int n = b.n;
  const T* __restrict x = b.x;
  const T* __restrict y = b.y;
  const T* __restrict z = b.z;
  const T* __restrict m = b.m;
  T* __restrict vx = b.vx;
  T* __restrict vy = b.vy;
  T* __restrict vz = b.vz;
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
        const T r2 = dx * dx + dy * dy + dz * dz + T(0.01);
        const T inv = T(1) / (std::sqrt(r2) * r2);
        const T sa = m[j] * inv * dt;
        const T sb = mi * inv * dt;
        ax += dx * sa;
        ay += dy * sa;
        az += dz * sa;
        bx[j] -= dx * sb;
        by[j] -= dy * sb;
        bz[j] -= dz * sb;
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
      vx[i] += sx;
      vy[i] += sy;
      vz[i] += sz;
    }
  }
}

// (b) canonical softened gravity: for every i, all j (j == i contributes d = 0).
template <class T>
void softened(Bodies<T>& b, T eps2) {
  const int n = b.n;
  const T* __restrict x = b.x;
  const T* __restrict y = b.y;
  const T* __restrict z = b.z;
  const T* __restrict m = b.m;
  T* __restrict accx = b.ax;
  T* __restrict accy = b.ay;
  T* __restrict accz = b.az;
#pragma omp parallel for schedule(static)
  for (int i = 0; i < n; ++i) {
    const T xi = x[i], yi = y[i], zi = z[i];
    T ax = 0, ay = 0, az = 0;
#pragma omp simd reduction(+ : ax, ay, az)
    for (int j = 0; j < n; ++j) {
      const T dx = x[j] - xi, dy = y[j] - yi, dz = z[j] - zi;
      const T r2 = dx * dx + dy * dy + dz * dz + eps2;
      const T inv = T(1) / std::sqrt(r2);
      const T s = m[j] * (inv * inv * inv);
      ax += dx * s;
      ay += dy * s;
      az += dz * s;
    }
    accx[i] += ax;
    accy[i] += ay;
    accz[i] += az;
  }
}

// (b') the same formula over unordered pairs with Newton's third law (half the interactions).
template <class T>
void softened_pairs(Bodies<T>& b, T eps2) {
  const int n = b.n;
  const T* __restrict x = b.x;
  const T* __restrict y = b.y;
  const T* __restrict z = b.z;
  const T* __restrict m = b.m;
  T* __restrict accx = b.ax;
  T* __restrict accy = b.ay;
  T* __restrict accz = b.az;
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
        const T r2 = dx * dx + dy * dy + dz * dz + eps2;
        const T inv = T(1) / std::sqrt(r2);
        const T inv3 = inv * inv * inv;
        const T sa = m[j] * inv3;
        const T sb = mi * inv3;
        ax += dx * sa;
        ay += dy * sa;
        az += dz * sa;
        bx[j] -= dx * sb;
        by[j] -= dy * sb;
        bz[j] -= dz * sb;
      }
      bx[i] += ax;
      by[i] += ay;
      bz[i] += az;
    }
#pragma omp for schedule(static)
    for (int i = 0; i < n; ++i) {
      T sx = 0, sy = 0, sz = 0;
      for (int t = 0; t < threads; ++t) {
        const T* a = b.scratch + std::size_t(t) * 3 * b.stride;
        sx += a[i];
        sy += a[b.stride + i];
        sz += a[2 * b.stride + i];
      }
      accx[i] += sx;
      accy[i] += sy;
      accz[i] += sz;
    }
  }
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
    {&gravity<double>, &softened<double>, &softened_pairs<double>, &integrate<double>,
     &peak<VD, double>},
    {&gravity<float>, &softened<float>, &softened_pairs<float>, &integrate<float>,
     &peak<VF, float>},
};

}  // namespace BRZ_REF_NS
}  // namespace brzref
