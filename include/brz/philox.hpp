// Counter-based random numbers: Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy
// as 1, 2, 3", SC'11; bit-identical to Random123's philox4x32_R(10, ...)) and the conversions of
// its output words to uniform and normal deviates. BrokenRecord.Zero.Philox is the same in
// Elixir; docs/engine.md ("Random numbers (generator)") states the exact definitions.
//
// Self-contained (C++17, only C headers) so that generated kernels can include it as they include
// generated_abi.hpp. Every function has internal linkage: the per-ISA interpreter objects and the
// ISA variants of generated kernels each get their own copy, never one merged across -m flags.
//
// Written for loops over lanes (`#pragma omp simd` over SoA arrays): branch-free uint32/uint64
// arithmetic, whose 32x32->64 multiplies GCC turns into pmuludq, and counters and keys passed by
// value as structs of scalars (a local array in an `omp simd` body becomes a per-lane memory
// array, which defeats the vectoriser). uniform_f64 builds its double from bits because AVX2
// has no vector int64->double conversion.
#pragma once

#include <math.h>
#include <stdint.h>

namespace brz {

/// Four 32-bit words: a Philox counter, or the four random words it maps to.
struct Philox4x32 {
  uint32_t x0, x1, x2, x3;
};

/// A Philox key (two 32-bit words).
struct PhiloxKey {
  uint32_t k0, k1;
};

namespace philox {

constexpr uint32_t kM0 = 0xD2511F53u;  // round multipliers
constexpr uint32_t kM1 = 0xCD9E8D57u;
constexpr uint32_t kW0 = 0x9E3779B9u;  // Weyl key increments (golden ratio, sqrt(3) - 1)
constexpr uint32_t kW1 = 0xBB67AE85u;
constexpr int kRounds = 10;
constexpr double kTwoPiF64 = 6.283185307179586;  // the double nearest 2 pi (2 * M_PI exactly)
constexpr float kTwoPiF32 = 6.2831855f;          // the float nearest 2 pi

// One round: (hi(M1 x2) ^ x1 ^ k0, lo(M1 x2), hi(M0 x0) ^ x3 ^ k1, lo(M0 x0)).
static inline Philox4x32 round(Philox4x32 c, PhiloxKey k) {
  const uint64_t p0 = static_cast<uint64_t>(kM0) * c.x0;
  const uint64_t p1 = static_cast<uint64_t>(kM1) * c.x2;
  return Philox4x32{static_cast<uint32_t>(p1 >> 32) ^ c.x1 ^ k.k0, static_cast<uint32_t>(p1),
                    static_cast<uint32_t>(p0 >> 32) ^ c.x3 ^ k.k1, static_cast<uint32_t>(p0)};
}

}  // namespace philox

/// Philox4x32-10: the four random words of counter `ctr` under key `key`.
static inline Philox4x32 philox4x32_10(Philox4x32 ctr, PhiloxKey key) {
  ctr = philox::round(ctr, key);
  // The key is bumped between rounds, not before the first. Unrolled, so that a loop over lanes
  // around it has no inner loop (GCC does not vectorise some of those otherwise).
#pragma GCC unroll 16
  for (int r = 1; r < philox::kRounds; ++r) {
    key.k0 += philox::kW0;
    key.k1 += philox::kW1;
    ctr = philox::round(ctr, key);
  }
  return ctr;
}

/// A double in the open interval (0, 1) from two random words: with m = (hi << 20) | (lo >> 12)
/// (the top 52 bits of hi:lo), u = (2 m + 1) * 2^-53, in [2^-53, 1 - 2^-53]. Computed as
/// (1 + m * 2^-52) - (1 - 2^-53): the first term is m under the exponent of 1.0, the subtraction's
/// exact result is representable, so every step is exact. (53 bits cannot work: m + 0.5 needs 54
/// bits, and the largest m would round to 2^53, giving 1.0.)
static inline double uniform_f64(uint32_t hi, uint32_t lo) {
  const uint64_t bits =
      0x3FF0000000000000ull | (static_cast<uint64_t>(hi) << 20) | static_cast<uint64_t>(lo >> 12);
  // A bit cast, not memcpy: memcpy needs the double's address, which in an `omp simd` loop
  // makes it a per-lane memory array and stops GCC from vectorising pair loops.
  return __builtin_bit_cast(double, bits) - (1.0 - 0x1p-53);
}

/// A float in the open interval (0, 1) from one random word: u = (2 (x >> 9) + 1) * 2^-24 (the
/// top 23 bits of x), exact, in [2^-24, 1 - 2^-24].
static inline float uniform_f32(uint32_t x) {
  return static_cast<float>(static_cast<int32_t>(((x >> 9) << 1) | 1u)) * 0x1p-24f;
}

/// A standard normal deviate from two uniforms in (0, 1) (Box-Muller, cosine branch):
/// sqrt(-2 log u1) * cos(2 pi u2), finite because u1 > 0. log, cos and sqrt are libm's here;
/// other implementations (another libm, vectorised math) may differ in the last bits.
static inline double normal_f64(double u1, double u2) {
  return ::sqrt(-2.0 * ::log(u1)) * ::cos(philox::kTwoPiF64 * u2);
}

/// normal_f64 in single precision: logf, cosf, sqrtf and 2 pi rounded to float.
static inline float normal_f32(float u1, float u2) {
  return ::sqrtf(-2.0f * ::logf(u1)) * ::cosf(philox::kTwoPiF32 * u2);
}

}  // namespace brz
