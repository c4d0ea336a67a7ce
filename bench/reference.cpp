// brz_bench_ref: the hand-written C++ reference kernels of `mix bench`.
//
//   brz_bench_ref SCENARIO N [--precision f64|f32] [--steps S] [--reps K] [--isa sse2|avx2|avx512]
//
// SCENARIO: gravity (bench.exs Gravity, i < j), gravity_all (the same formula, every i over all
// j), softened (canonical softened gravity, all j per
// i), softened_pairs (the same, i < j), integrate (x += v*dt), langevin (a BAOAB step of free
// particles with the engine's Philox stream: gamma 1, kT 1.5, mass 1, seed 0, one step index
// per step), peak (FMA micro-kernel; N is the
// iteration count, 0 for the default), collisions (bench.exs Collisions: elastic spheres over a
// neighbour list, then x += v*dt; also prints the lists built and the relative drift of the
// total momentum, which the pair rule conserves). Prints one JSON line: seconds
// per step (best of K runs of S steps, after one warm-up step), the flop count per step,
// GFLOPS, the ISA that ran and a checksum. The ISA is chosen as the engine chooses it
// (c_src/isa.cpp): the best the CPU supports, capped by BROKEN_RECORD_ISA or --isa.
#include "reference.hpp"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

using brzref::Bodies;
using brzref::Kernels;
using brzref::KernelSet;

int cpu_level() {
  __builtin_cpu_init();
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  const bool avx512 = avx2 && __builtin_cpu_supports("avx512f") &&
                      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512cd") &&
                      __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
  return avx512 ? 3 : avx2 ? 2 : 1;
}

int level_of(const char* name) {
  if (name == nullptr) return 0;
  if (std::strcmp(name, "sse2") == 0) return 1;
  if (std::strcmp(name, "avx2") == 0) return 2;
  if (std::strcmp(name, "avx512") == 0) return 3;
  return 0;
}

const KernelSet& choose(const char* requested_name) {
  int level = cpu_level();
  const int requested =
      level_of(requested_name ? requested_name : std::getenv("BROKEN_RECORD_ISA"));
  if (requested > 0 && requested < level) level = requested;
  switch (level) {
    case 3:
      return brzref::kern_avx512::kernel_set;
    case 2:
      return brzref::kern_avx2::kernel_set;
    default:
      return brzref::kern_sse2::kernel_set;
  }
}

[[noreturn]] void usage(const char* msg) {
  std::fprintf(
      stderr,
      "brz_bench_ref: %s\nusage: brz_bench_ref gravity|gravity_all|softened|softened_pairs|"
      "integrate|langevin|peak|collisions N [--precision f64|f32] [--steps S] [--reps K] "
      "[--isa sse2|avx2|avx512]\n",
      msg);
  std::exit(2);
}

template <class T>
T* column(std::size_t len) {
  void* p = std::aligned_alloc(64, ((len * sizeof(T) + 63) / 64) * 64);
  if (p == nullptr) usage("out of memory");
  std::memset(p, 0, len * sizeof(T));
  return static_cast<T*>(p);
}

// Deterministic inputs of the same distribution as bench.exs: positions uniform in [0, 10)^3,
// mass 1/n, velocities zero (gravity) or uniform in [-0.5, 0.5) (integrate).
struct Lcg {
  std::uint64_t s = 0x9E3779B97F4A7C15ull;
  double next() {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    return double(s >> 11) * (1.0 / 9007199254740992.0);
  }
};

template <class T>
Bodies<T> make_bodies(int n, bool moving) {
  Bodies<T> b{};
  b.n = n;
  b.stride = ((std::size_t(n) + 15) / 16) * 16 + 16;
  T** cols[] = {&b.x, &b.y, &b.z, &b.vx, &b.vy, &b.vz, &b.ax, &b.ay, &b.az, &b.m};
  for (T** c : cols) *c = column<T>(b.stride);
  b.scratch = column<T>(std::size_t(omp_get_max_threads()) * 3 * b.stride);
  Lcg rng;
  for (int i = 0; i < n; ++i) {
    b.x[i] = T(rng.next() * 10);
    b.y[i] = T(rng.next() * 10);
    b.z[i] = T(rng.next() * 10);
    b.m[i] = T(1.0 / n);
    if (moving) {
      b.vx[i] = T(rng.next() - 0.5);
      b.vy[i] = T(rng.next() - 0.5);
      b.vz[i] = T(rng.next() - 0.5);
    }
  }
  return b;
}

template <class T>
double checksum(const Bodies<T>& b, bool positions, bool accelerations) {
  double s = 0;
  for (int i = 0; i < b.n; ++i) {
    if (positions)
      s += double(b.x[i]) + double(b.y[i]) + double(b.z[i]);
    else if (accelerations)
      s += std::abs(double(b.ax[i])) + std::abs(double(b.ay[i])) + std::abs(double(b.az[i]));
    else
      s += std::abs(double(b.vx[i])) + std::abs(double(b.vy[i])) + std::abs(double(b.vz[i]));
  }
  return s;
}

double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

struct Result {
  double seconds_per_step;
  double flops_per_step;
  double checksum;
  brzref::CollisionStats collisions{0, 0, 0};  // the collisions scenario only
};

template <class T>
Result run(const Kernels<T>& k, const std::string& scenario, long n, int steps, int reps) {
  if (scenario == "peak") {
    const long iters = n > 0 ? n : 50'000'000L;
    double flops = 0, best = 1e300, sum = 0;
    k.peak(iters / 20, &flops);  // warm-up (clock ramp)
    for (int r = 0; r < reps; ++r) {
      const double t0 = now();
      sum = k.peak(iters, &flops);
      best = std::min(best, now() - t0);
    }
    return {best, flops, sum};
  }
  if (n < 1 || n > 2'000'000'000L) usage("N out of range");
  if (scenario == "collisions") {
    if (n < 2 || n > 100'000'000L) usage("N out of range");
    Result r{0, 0, 0};
    r.seconds_per_step = k.collisions(n, steps, reps, &r.collisions);
    r.checksum = r.collisions.kinetic;
    return r;
  }
  const bool moving = scenario == "integrate" || scenario == "langevin";
  Bodies<T> b = make_bodies<T>(int(n), moving);
  if (scenario == "langevin") std::fill(b.m, b.m + n, T(1));
  std::uint64_t step = 0;
  const double nn = double(n);
  double flops = 0;
  if (scenario == "gravity")
    flops = nn * (nn - 1) / 2 * 28;  // 3 sub, 5 dot, 1 add, sqrt, mul, div; 2 x 2 mul; 2 x 6
  else if (scenario == "gravity_all")
    flops = nn * nn * 19;  // 3 sub, 5 dot, 1 add, sqrt, mul, div; 2 mul; 3 mul + 3 add
  double best = 1e300;
  auto one = [&](Bodies<T>& bb) {
    if (scenario == "gravity")
      k.gravity(bb, T(1.0e-4));
    else if (scenario == "gravity_all")
      k.gravity_all(bb, T(1.0e-4));
    else if (scenario == "softened")
      k.softened(bb, T(0.01));
    else if (scenario == "softened_pairs")
      k.softened_pairs(bb, T(0.01));
    else if (scenario == "integrate")
      k.integrate(bb, T(1.0e-4));
    else if (scenario == "langevin")
      k.langevin(bb, T(1.0e-4), T(1), T(1.5), 0u, step++);
    else
      usage("unknown scenario");
  };
  if (scenario == "softened")
    flops =
        nn * nn * 20;  // 3 sub, 5 dot, 1 add, 1 sqrt, 1 div, 2 mul (inv^3), 1 mul, 3 mul + 3 add
  else if (scenario == "softened_pairs")
    flops = nn * (nn - 1) / 2 * 24;  // as above plus 1 mul (the second mass) and 3 mul + 3 sub
  else if (scenario == "integrate")
    flops = nn * 6;
  one(b);  // warm-up
  for (int r = 0; r < reps; ++r) {
    const double t0 = now();
    for (int s = 0; s < steps; ++s) one(b);
    best = std::min(best, (now() - t0) / steps);
  }
  return {best, flops, checksum(b, moving, scenario.rfind("softened", 0) == 0)};
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) usage("missing arguments");
  const std::string scenario = argv[1];
  const long n = std::atol(argv[2]);
  std::string precision = "f64";
  int steps = 1, reps = 3;
  const char* isa = nullptr;
  for (int i = 3; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) usage("option without value");
    if (a == "--precision")
      precision = argv[++i];
    else if (a == "--steps")
      steps = std::atoi(argv[++i]);
    else if (a == "--reps")
      reps = std::atoi(argv[++i]);
    else if (a == "--isa")
      isa = argv[++i];
    else
      usage(("unknown option " + a).c_str());
  }
  if (steps < 1 || reps < 1) usage("steps and reps must be >= 1");
  if (precision != "f64" && precision != "f32") usage("precision must be f64 or f32");
  const KernelSet& ks = choose(isa);
  const Result r = precision == "f64" ? run(ks.f64, scenario, n, steps, reps)
                                      : run(ks.f32, scenario, n, steps, reps);
  std::printf(
      "{\"scenario\":\"%s\",\"n\":%ld,\"precision\":\"%s\",\"isa\":\"%s\",\"threads\":%d,"
      "\"steps\":%d,\"reps\":%d,\"seconds_per_step\":%.9g,\"flops_per_step\":%.17g,"
      "\"gflops\":%.6g,\"checksum\":%.17g,\"builds\":%.17g,\"momentum_drift\":%.17g}\n",
      scenario.c_str(), n, precision.c_str(), ks.isa, omp_get_max_threads(), steps, reps,
      r.seconds_per_step, r.flops_per_step, r.flops_per_step / r.seconds_per_step / 1e9, r.checksum,
      r.collisions.builds, r.collisions.momentum_drift);
  return 0;
}
