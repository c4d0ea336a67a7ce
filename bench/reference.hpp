// Hand-written C++ reference kernels of the benchmarks (see bench/reference.cpp).
//
// bench/reference_kernels.cpp is compiled once per ISA (the ISA flags of the engine's per-ISA
// objects, BRZ_ISA_*_FLAGS) with the floating-point flags of the engine's generated kernels
// (-O3 -ffp-contract=fast -fno-math-errno; see the bench section of CMakeLists.txt); each copy
// defines one `brzref::kern_<isa>::kernel_set`. Only plain data crosses this interface.
#pragma once

#include <cstddef>
#include <cstdint>

namespace brzref {

// Structure of arrays, one column per scalar lane, 64-byte aligned, padded.
template <class T>
struct Bodies {
  int n;
  T *x, *y, *z;     // position
  T *vx, *vy, *vz;  // velocity
  T *ax, *ay, *az;  // acceleration (softened gravity)
  T* m;             // mass
  T* scratch;       // per-thread accumulators: threads * 3 * stride
  std::size_t stride;
};

// What the collisions reference reports besides its time.
struct CollisionStats {
  double kinetic;         // kinetic energy at the end (the checksum)
  double momentum_drift;  // |total momentum at the end - at the start| / sum m |v| at the start
                          // (every pair's impulses are equal and opposite: rounding only)
  double builds;          // neighbour lists built
};

template <class T>
struct Kernels {
  // (a) bench.exs Gravity: d = b.x - a.x; r2 = dot(d,d) + 0.01; inv = 1/(sqrt(r2)*r2);
  //     a.v += d*(b.m*inv*dt); b.v -= d*(a.m*inv*dt); unordered pairs i < j.
  void (*gravity)(Bodies<T>&, T dt);
  // (a') the same formula, every i over all j (its own velocity only), as usually hand-written.
  void (*gravity_all)(Bodies<T>&, T dt);
  // (b) canonical softened gravity over all j for every i: r2 = dot(d,d) + eps2;
  //     inv = 1/sqrt(r2); a += d*m*inv^3.
  void (*softened)(Bodies<T>&, T eps2);
  // (b') the same formula over unordered pairs i < j (Newton's third law), as the DSL runs it.
  void (*softened_pairs)(Bodies<T>&, T eps2);
  // (c) x += v*dt.
  void (*integrate)(Bodies<T>&, T dt);
  // (d) independent FMA chains on registers; returns a checksum, *flops gets the flop count.
  double (*peak)(long iters, double* flops);
  // (e) bench.exs Collisions at n spheres, neighbour list with a skin, then x += v*dt: one
  //     warm-up step, then the best of `reps` runs of `steps` steps. Returns seconds per step.
  double (*collisions)(long n, int steps, int reps, CollisionStats* stats);
  // (f) one BAOAB Langevin step of free particles with the engine's Philox stream (rule 0,
  //     call sites 0-2) at step index `step`.
  void (*langevin)(Bodies<T>&, T dt, T gamma, T kt, std::uint32_t seed, std::uint64_t step);
};

struct KernelSet {
  const char* isa;
  Kernels<double> f64;
  Kernels<float> f32;
};

namespace kern_sse2 {
extern const KernelSet kernel_set;
}
namespace kern_avx2 {
extern const KernelSet kernel_set;
}
namespace kern_avx512 {
extern const KernelSet kernel_set;
}

}  // namespace brzref
