// The interpreter's vectorised sweeps: a block-at-a-time interpreter of the scalar SSA program.
//
// This file is compiled three times (CMake objects brz_interp_sse2 / _avx2 / _avx512) with
// different -m flags and BRZ_INTERP_ISA set accordingly. To keep the One Definition Rule safe,
// everything here is either a template on the xsimd arch type or lives in an anonymous
// namespace inside the ISA-named namespace; the only external symbol is
// brz::interp_<isa>::sweep_set. No std:: code is instantiated here (see the nm check in CMake).
#include <immintrin.h>
#include <math.h>
#include <omp.h>

#include <algorithm>

// xsimd 8.1 has two non-template inline functions used by the f32 sin/cos range reduction.
// Give them ISA-specific names so that copies compiled with different -m flags never merge.
#define BRZ_CAT2(a, b) a##b
#define BRZ_CAT(a, b) BRZ_CAT2(a, b)
#if BRZ_INTERP_ISA == 1
#define BRZ_INS interp_sse2
#define BRZ_INAME "sse2"
#define BRZ_XSIMD_ARCH xsimd::sse2
#elif BRZ_INTERP_ISA == 2
#define BRZ_INS interp_avx2
#define BRZ_INAME "avx2"
#define BRZ_XSIMD_ARCH xsimd::fma3<xsimd::avx2>
#elif BRZ_INTERP_ISA == 3
#define BRZ_INS interp_avx512
#define BRZ_INAME "avx512"
#define BRZ_XSIMD_ARCH xsimd::avx512bw
#else
#error "BRZ_INTERP_ISA must be 1 (sse2), 2 (avx2) or 3 (avx512)"
#endif
#define __ieee754_rem_pio2 BRZ_CAT(brz_ieee754_rem_pio2_, BRZ_INS)
#define __kernel_rem_pio2 BRZ_CAT(brz_kernel_rem_pio2_, BRZ_INS)
#include <xsimd/xsimd.hpp>
#undef __kernel_rem_pio2
#undef __ieee754_rem_pio2

#include "brz/interpreter.hpp"
#include "brz/philox.hpp"

using BrzArch = BRZ_XSIMD_ARCH;

namespace brz {
namespace BRZ_INS {
namespace {

template <class T>
using Batch = xsimd::batch<T, BrzArch>;

template <class T>
constexpr std::size_t kW = Batch<T>::size;

constexpr uint8_t kVarying = static_cast<uint8_t>(Level::Varying);

inline std::size_t min_sz(std::size_t a, std::size_t b) { return a < b ? a : b; }

template <class T>
struct Iota {
  alignas(64) T v[64];
  Iota() {
    for (int k = 0; k < 64; ++k) v[k] = static_cast<T>(k);
  }
};

template <class T, class F>
inline Batch<T> per_lane1(const Batch<T>& x, F f) {
  alignas(64) T tmp[kW<T>];
  x.store_aligned(tmp);
  for (std::size_t k = 0; k < kW<T>; ++k) tmp[k] = f(tmp[k]);
  return Batch<T>::load_aligned(tmp);
}

template <class T, class F>
inline Batch<T> per_lane2(const Batch<T>& x, const Batch<T>& y, F f) {
  alignas(64) T tx[kW<T>];
  alignas(64) T ty[kW<T>];
  x.store_aligned(tx);
  y.store_aligned(ty);
  for (std::size_t k = 0; k < kW<T>; ++k) tx[k] = f(tx[k], ty[k]);
  return Batch<T>::load_aligned(tx);
}

constexpr bool is_f64(double) { return true; }
constexpr bool is_f64(float) { return false; }

// Transcendentals: f64 calls libm per lane (bit-identical to the reference backend, which uses
// :math = libm); f32 uses xsimd's vectorised implementations (tested to 2e-6 relative).
#define BRZ_LIBM_OR_XSIMD1(fn)                             \
  template <class T>                                       \
  inline Batch<T> v_##fn(const Batch<T>& x) {              \
    if constexpr (is_f64(T{}))                             \
      return per_lane1<T>(x, [](T v) { return ::fn(v); }); \
    else                                                   \
      return xsimd::fn(x);                                 \
  }
#define BRZ_LIBM_OR_XSIMD2(fn)                                        \
  template <class T>                                                  \
  inline Batch<T> v_##fn(const Batch<T>& x, const Batch<T>& y) {      \
    if constexpr (is_f64(T{}))                                        \
      return per_lane2<T>(x, y, [](T a, T b) { return ::fn(a, b); }); \
    else                                                              \
      return xsimd::fn(x, y);                                         \
  }
BRZ_LIBM_OR_XSIMD1(exp)
BRZ_LIBM_OR_XSIMD1(log)
BRZ_LIBM_OR_XSIMD1(sin)
BRZ_LIBM_OR_XSIMD1(cos)
BRZ_LIBM_OR_XSIMD1(tanh)
BRZ_LIBM_OR_XSIMD2(pow)
BRZ_LIBM_OR_XSIMD2(atan2)
#undef BRZ_LIBM_OR_XSIMD1
#undef BRZ_LIBM_OR_XSIMD2

template <class T>
inline Batch<T> v_floor(const Batch<T>& x) {
  if constexpr (is_f64(T{})) {
#if BRZ_INTERP_ISA == 1
    // SSE2 has no rounding instruction; libm floor per lane is exact.
    return per_lane1<T>(x, [](T v) { return ::floor(v); });
#else
    return xsimd::floor(x);
#endif
  } else {
#if BRZ_INTERP_ISA == 1
    return per_lane1<T>(x, [](T v) { return ::floorf(v); });
#else
    return xsimd::floor(x);
#endif
  }
}

// The interpreter's meaning of each Value op of include/brz/ops.inc, on batches.
template <class T>
struct VecOps {
  using B = Batch<T>;
  static B ADD(const B& a, const B& b) { return a + b; }
  static B SUB(const B& a, const B& b) { return a - b; }
  static B MUL(const B& a, const B& b) { return a * b; }
  static B DIV(const B& a, const B& b) { return a / b; }
  static B POW(const B& a, const B& b) { return v_pow<T>(a, b); }
  static B MIN(const B& a, const B& b) { return xsimd::select(b < a, b, a); }
  static B MAX(const B& a, const B& b) { return xsimd::select(a < b, b, a); }
  static B NEG(const B& a) { return -a; }
  static B ABS(const B& a) { return xsimd::abs(a); }
  static B SQRT(const B& a) { return xsimd::sqrt(a); }
  static B EXP(const B& a) { return v_exp<T>(a); }
  static B LOG(const B& a) { return v_log<T>(a); }
  static B SIN(const B& a) { return v_sin<T>(a); }
  static B COS(const B& a) { return v_cos<T>(a); }
  static B FLOOR(const B& a) { return v_floor<T>(a); }
  static B ATAN2(const B& y, const B& x) { return v_atan2<T>(y, x); }
  static B TANH(const B& a) { return v_tanh<T>(a); }
  // Half away from zero. SSE2 has no rounding instruction: libm per lane, which is exact.
  static B ROUND(const B& a) {
#if BRZ_INTERP_ISA == 1
    return per_lane1<T>(a, [](T v) { return std::round(v); });
#else
    return xsimd::round(a);
#endif
  }
  static B SIGN(const B& a) {
    return xsimd::select(a > B(0), B(1), xsimd::select(a < B(0), B(-1), a));
  }
  static B MOD(const B& a, const B& b) { return a - b * v_floor<T>(a / b); }
  // Round half to even, as the other backends do. SSE2 has no rounding instruction: libm per
  // lane, which is exact.
  static B MINIMG(const B& a, const B& b, const B& c) {
#if BRZ_INTERP_ISA == 1
    const B k = per_lane1<T>(a * c, [](T v) { return std::nearbyint(v); });
#else
    const B k = xsimd::nearbyint(a * c);
#endif
    return a - b * k;
  }
  static B LT(const B& a, const B& b) { return xsimd::select(a < b, B(1), B(0)); }
  static B LE(const B& a, const B& b) { return xsimd::select(a <= b, B(1), B(0)); }
  static B GT(const B& a, const B& b) { return xsimd::select(a > b, B(1), B(0)); }
  static B GE(const B& a, const B& b) { return xsimd::select(a >= b, B(1), B(0)); }
  static B EQ(const B& a, const B& b) { return xsimd::select(a == b, B(1), B(0)); }
  // Only ordered == is used below, so NaN counts as "not equal" / "true".
  static B NE(const B& a, const B& b) { return xsimd::select(a == b, B(0), B(1)); }
  static B AND(const B& a, const B& b) {
    return xsimd::select(a == B(0), B(0), xsimd::select(b == B(0), B(0), B(1)));
  }
  static B OR(const B& a, const B& b) {
    return xsimd::select(a == B(0), xsimd::select(b == B(0), B(0), B(1)), B(1));
  }
  static B NOT(const B& a) { return xsimd::select(a == B(0), B(1), B(0)); }
  static B SELECT(const B& a, const B& b, const B& c) { return xsimd::select(a == B(0), c, b); }
};

// What UNIFORM and NORMAL read in one block (docs/program.md, "Random numbers"): the key and
// step words of the sweep (RandomArgs) and, per lane of the block, the counter words c0 and c1
// that come from the identities of its agents.
struct Draws {
  uint32_t seed = 0, rule_bits = 0, step_lo = 0, step_hi = 0;
  const uint32_t* c0 = nullptr;
  const uint32_t* c1 = nullptr;
  explicit Draws(const RandomArgs& r)
      : seed(r.seed),
        rule_bits(r.rule_bits),
        step_lo(static_cast<uint32_t>(r.step)),
        step_hi(static_cast<uint32_t>(r.step >> 32)) {}
};

// Philox4x32-10 over whole vectors of 32-bit lanes, with this ISA's even/odd 32x32->64
// multiply (pmuludq): measured twice as fast as an `omp simd` loop over philox.hpp's scalar
// rounds, which GCC widens to 64-bit lanes (docs/engine.md, "Random numbers in rules").
#if BRZ_INTERP_ISA == 1
using Words = __m128i;
#define BRZ_W(op) _mm_##op
#define BRZ_WSI(op) _mm_##op##_si128
#define BRZ_SET1_64 _mm_set1_epi64x
#elif BRZ_INTERP_ISA == 2
using Words = __m256i;
#define BRZ_W(op) _mm256_##op
#define BRZ_WSI(op) _mm256_##op##_si256
#define BRZ_SET1_64 _mm256_set1_epi64x
#else
using Words = __m512i;
#define BRZ_W(op) _mm512_##op
#define BRZ_WSI(op) _mm512_##op##_si512
#define BRZ_SET1_64 _mm512_set1_epi64
#endif
constexpr std::size_t kWords = sizeof(Words) / 4;  // lanes of one Philox vector

// (hi, lo) of the 32x32->64 products a * m of every lane: the even lanes' products are one
// multiply, the odd lanes' another (after shifting them down).
inline void mul_hi_lo(Words a, Words m, Words& hi, Words& lo) {
  const Words low = BRZ_SET1_64(0xFFFFFFFFll);
  const Words even = BRZ_W(mul_epu32)(a, m);
  const Words odd = BRZ_W(mul_epu32)(BRZ_W(srli_epi64)(a, 32), m);
  lo = BRZ_WSI(or)(BRZ_WSI(and)(even, low), BRZ_W(slli_epi64)(odd, 32));
  hi = BRZ_WSI(or)(BRZ_W(srli_epi64)(even, 32), BRZ_WSI(andnot)(low, odd));
}

// The four words of philox4x32_10({c0[k], c1[k], s0, s1}, key) for k < n, into w0..w3 (w2 and
// w3 only when not null). c0 and c1 are read, and w0..w3 written, up to n rounded up to kWords.
inline void philox_lanes(const uint32_t* c0, const uint32_t* c1, uint32_t s0, uint32_t s1,
                         PhiloxKey key, std::size_t n, uint32_t* w0, uint32_t* w1, uint32_t* w2,
                         uint32_t* w3) {
  const Words m0 = BRZ_W(set1_epi32)(int(philox::kM0)), m1 = BRZ_W(set1_epi32)(int(philox::kM1));
  for (std::size_t k = 0; k < n; k += kWords) {
    Words x0 = BRZ_WSI(loadu)(reinterpret_cast<const Words*>(c0 + k));
    Words x1 = BRZ_WSI(loadu)(reinterpret_cast<const Words*>(c1 + k));
    Words x2 = BRZ_W(set1_epi32)(int(s0)), x3 = BRZ_W(set1_epi32)(int(s1));
    uint32_t k0 = key.k0, k1 = key.k1;
    for (int r = 0; r < philox::kRounds; ++r) {
      if (r > 0) {
        k0 += philox::kW0;
        k1 += philox::kW1;
      }
      Words hi0, lo0, hi1, lo1;
      mul_hi_lo(x0, m0, hi0, lo0);
      mul_hi_lo(x2, m1, hi1, lo1);
      x0 = BRZ_WSI(xor)(BRZ_WSI(xor)(hi1, x1), BRZ_W(set1_epi32)(int(k0)));
      x1 = lo1;
      x2 = BRZ_WSI(xor)(BRZ_WSI(xor)(hi0, x3), BRZ_W(set1_epi32)(int(k1)));
      x3 = lo0;
    }
    BRZ_WSI(storeu)(reinterpret_cast<Words*>(w0 + k), x0);
    BRZ_WSI(storeu)(reinterpret_cast<Words*>(w1 + k), x1);
    if (w2) BRZ_WSI(storeu)(reinterpret_cast<Words*>(w2 + k), x2);
    if (w3) BRZ_WSI(storeu)(reinterpret_cast<Words*>(w3 + k), x3);
  }
}
#undef BRZ_W
#undef BRZ_WSI
#undef BRZ_SET1_64

// Lanes a block's counter words are read at: a block rounded up to whole Philox vectors.
constexpr std::size_t kWordLanes = 512;
static_assert(block_lanes<float>() <= kWordLanes && block_lanes<double>() <= kWordLanes &&
                  block_lanes<double>() % 16 == 0,
              "a block of lanes is a whole number of Philox vectors");
inline std::size_t word_lanes(std::size_t n) { return (n + kWords - 1) / kWords * kWords; }

// The second counter word of every lane of a per-agent rule.
alignas(64) constexpr uint32_t kZeroWords[kWordLanes] = {};

// A pair sweep's counter words, per thread.
struct PairWords {
  alignas(64) uint32_t c0[kWordLanes];
  alignas(64) uint32_t c1[kWordLanes];
};

// The counter words of n pairs (written up to word_lanes(n), so the slot-1 identities must be
// readable that far): slot-0 identities a[k * sa] (sa = 0: one slot-0 agent for every lane)
// and slot-1 identities b[k]; (min, max) in a same-type rule, so that both orders of a pair
// draw alike, else (a, b). Sets dr's words to them.
inline void pair_words(const uint32_t* __restrict a, std::size_t sa, const uint32_t* __restrict b,
                       std::size_t n, bool same, PairWords& w, Draws& dr) {
  uint32_t* __restrict c0 = w.c0;
  uint32_t* __restrict c1 = w.c1;
  n = word_lanes(n);
  if (same) {
#pragma omp simd
    for (std::size_t k = 0; k < n; ++k) {
      const uint32_t x = a[k * sa], y = b[k];
      c0[k] = x < y ? x : y;
      c1[k] = x < y ? y : x;
    }
  } else {
#pragma omp simd
    for (std::size_t k = 0; k < n; ++k) {
      c0[k] = a[k * sa];
      c1[k] = b[k];
    }
  }
  dr.c0 = c0;
  dr.c1 = c1;
}

// UNIFORM of call site `site` for n lanes: one Philox4x32-10 block per lane (philox_lanes),
// converted as philox.hpp does: bit for bit the scalar definition.
template <class T>
inline void draw_uniform(const Draws& dr, uint16_t site, T* __restrict d, std::size_t n) {
  alignas(64) uint32_t w0[kWordLanes], w1[kWordLanes];
  philox_lanes(dr.c0, dr.c1, dr.step_lo, dr.step_hi, PhiloxKey{dr.seed, dr.rule_bits | site}, n, w0,
               w1, nullptr, nullptr);
#pragma omp simd
  for (std::size_t k = 0; k < n; ++k) {
    if constexpr (is_f64(T{}))
      d[k] = uniform_f64(w0[k], w1[k]);
    else
      d[k] = uniform_f32(w0[k]);
  }
}

// NORMAL of call site `site` for n lanes: both uniforms as in draw_uniform, then philox.hpp's
// normal_f64 / normal_f32 per lane (libm's log, cos and sqrt), the very function the generated
// kernels call: a draw is the same bits whatever the ISA, the path or the precision's executor
// (xsimd's vector log and cos would be faster, but differ in the last bits between ISAs and
// from the kernels).
template <class T>
inline void draw_normal(const Draws& dr, uint16_t site, T* __restrict d, std::size_t n) {
  alignas(64) uint32_t w0[kWordLanes], w1[kWordLanes], w2[kWordLanes], w3[kWordLanes];
  constexpr bool f64 = is_f64(T{});
  philox_lanes(dr.c0, dr.c1, dr.step_lo, dr.step_hi, PhiloxKey{dr.seed, dr.rule_bits | site}, n, w0,
               w1, f64 ? w2 : nullptr, f64 ? w3 : nullptr);
  for (std::size_t k = 0; k < n; ++k) {
    if constexpr (f64)
      d[k] = normal_f64(uniform_f64(w0[k], w1[k]), uniform_f64(w2[k], w3[k]));
    else
      d[k] = normal_f32(uniform_f32(w0[k]), uniform_f32(w1[k]));
  }
}

// Executes one non-STORE instruction over nb batches. Register r is read at
// rp[r] + k * stride(r); stride is kW for Varying registers, 0 for Uniform/Outer ones. `dr`:
// the block's counter words, for UNIFORM and NORMAL (always varying, so never needed by
// uniform or outer code).
template <class T>
inline void exec_op(const Instr& in, const T** rp, T* regs, const uint8_t* lvl, std::size_t nb,
                    const T* consts, const T* params, uint32_t n_params,
                    const Draws* dr = nullptr) {
  using B = Batch<T>;
  constexpr std::size_t W = kW<T>;
  constexpr std::size_t BL = block_lanes<T>();
  T* d = regs + std::size_t(in.dst) * BL;
  // Operands are read only by the ops that have them: for CONST, PARAM and BOX, `a` is a
  // constant, param or axis index, not a register, and must never index rp or lvl.
  const auto reg = [&](uint16_t r, std::size_t& stride) {
    stride = lvl[r] == kVarying ? W : 0;
    return rp[r];
  };
  // One loop per operand count; each calls the op's VecOps function on its batches.
#define BRZ_RUN_1(f)                              \
  {                                               \
    std::size_t sa;                               \
    const T* pa = reg(in.a, sa);                  \
    for (std::size_t k = 0; k < nb; ++k) {        \
      const B a = B::load_unaligned(pa + k * sa); \
      f(a).store_aligned(d + k * W);              \
    }                                             \
  }                                               \
  break;
#define BRZ_RUN_2(f)                              \
  {                                               \
    std::size_t sa, sb;                           \
    const T* pa = reg(in.a, sa);                  \
    const T* pb = reg(in.b, sb);                  \
    for (std::size_t k = 0; k < nb; ++k) {        \
      const B a = B::load_unaligned(pa + k * sa); \
      const B b = B::load_unaligned(pb + k * sb); \
      f(a, b).store_aligned(d + k * W);           \
    }                                             \
  }                                               \
  break;
#define BRZ_RUN_3(f)                              \
  {                                               \
    std::size_t sa, sb, sc;                       \
    const T* pa = reg(in.a, sa);                  \
    const T* pb = reg(in.b, sb);                  \
    const T* pc = reg(in.c, sc);                  \
    for (std::size_t k = 0; k < nb; ++k) {        \
      const B a = B::load_unaligned(pa + k * sa); \
      const B b = B::load_unaligned(pb + k * sb); \
      const B c = B::load_unaligned(pc + k * sc); \
      f(a, b, c).store_aligned(d + k * W);        \
    }                                             \
  }                                               \
  break;
  switch (in.op) {
    case Op::CONST:
      B(consts[in.a]).store_aligned(d);
      break;
    case Op::PARAM:
      B(params[in.a]).store_aligned(d);
      break;
    case Op::BOX:  // the box edges follow the params
      B(params[n_params + in.a]).store_aligned(d);
      break;
    case Op::UNIFORM:
      draw_uniform<T>(*dr, in.a, d, nb * W);
      break;
    case Op::NORMAL:
      draw_normal<T>(*dr, in.a, d, nb * W);
      break;
    case Op::LOAD:
    case Op::STORE:
    case Op::ACC:
    case Op::ACCMAX:
    case Op::ACCMIN:
    case Op::CLAIM:  // exclusive rules run on c_src/exclusive.cpp, never here
    case Op::REMOVE:
    case Op::SPAWN:
    case Op::SPAWNLANE:
      break;  // handled by the sweeps (lifecycle ops: as stores to the executor's flag columns)
#define BRZ_EXEC_Data(NAME, N)
#define BRZ_EXEC_Value(NAME, N) \
  case Op::NAME:                \
    BRZ_RUN_##N(VecOps<T>::NAME)
#define BRZ_OP(NAME, CODE, N, KIND) BRZ_EXEC_##KIND(NAME, N)
#include "brz/ops.inc"
#undef BRZ_OP
#undef BRZ_EXEC_Value
#undef BRZ_EXEC_Data
#undef BRZ_RUN_3
#undef BRZ_RUN_2
#undef BRZ_RUN_1
  }
}

template <class T>
inline void setup_thread(const SweepArgs<T>& A, int tid, T*& regs, const T**& rp) {
  constexpr std::size_t BL = block_lanes<T>();
  regs = A.scratch + std::size_t(tid) * A.scratch_stride;
  rp = A.ptrs + std::size_t(tid) * A.n_regs;
  for (uint32_t r = 0; r < A.n_regs; ++r) rp[r] = regs + std::size_t(r) * BL;
  for (uint32_t k = 0; k < A.n_uniform; ++k)
    exec_op<T>(A.uniform_ops[k], rp, regs, A.reg_level, 1, A.consts, A.params, A.n_params);
}

template <class T>
void sweep_per_agent(const SweepArgs<T>& A) {
  using B = Batch<T>;
  constexpr std::size_t W = kW<T>;
  constexpr std::size_t BL = block_lanes<T>();
  const std::size_t n = A.n_a;
  const long n_blocks = static_cast<long>((n + BL - 1) / BL);
#pragma omp parallel num_threads(A.n_threads) if (A.n_threads > 1)
  {
    T* regs;
    const T** rp;
    setup_thread<T>(A, omp_get_thread_num(), regs, rp);
    T* stage = regs + std::size_t(A.n_regs) * BL;
    Draws dr(A.random);
    dr.c1 = kZeroWords;
#pragma omp for schedule(static)
    for (long blk = 0; blk < n_blocks; ++blk) {
      const std::size_t i0 = std::size_t(blk) * BL;
      const std::size_t cnt = min_sz(BL, n - i0);
      const std::size_t nb = (cnt + W - 1) / W;
      // Counter (identity, 0): the identities are readable up to the column capacity.
      if (A.random.ids_a) dr.c0 = A.random.ids_a + i0;
      // Pairs gathered as agents (a lifecycle pair rule): the second counter word per lane.
      if (A.random.ids_b) dr.c1 = A.random.ids_b + i0;
      for (uint32_t k = 0; k < A.n_varying; ++k) {
        const Instr& in = A.varying_ops[k];
        if (in.op == Op::LOAD)
          rp[in.dst] = A.cols_a[in.b] + i0;
        else
          exec_op<T>(in, rp, regs, A.reg_level, nb, A.consts, A.params, A.n_params, &dr);
      }
      // Stage every stored value first: a store may read a register that aliases a column.
      for (uint32_t s = 0; s < A.n_stores; ++s) {
        const StoreRef& st = A.stores[s];
        const T* src = rp[st.reg];
        const std::size_t ss = A.reg_level[st.reg] == kVarying ? W : 0;
        T* dst = stage + std::size_t(s) * BL;
        for (std::size_t k = 0; k < nb; ++k)
          B::load_unaligned(src + k * ss).store_aligned(dst + k * W);
      }
      for (uint32_t s = 0; s < A.n_stores; ++s) {
        const T* src = stage + std::size_t(s) * BL;
        T* col = A.cols_a[A.stores[s].lane] + i0;
        for (std::size_t k = 0; k < cnt; ++k) col[k] = src[k];
      }
    }
  }
}

// One slot-0 agent i against the slot-1 agents j in [j0, j_end): outer ops for i, then the
// varying ops over contiguous blocks of j read from colb[lane] + j. Slot-1 deltas are added to
// acc1[s] + j (acc1 gives a base pointer per store), slot-0 deltas to acc0[store_acc[s] + i].
template <class T, class Acc1>
inline void pair_row(const SweepArgs<T>& A, std::size_t i, std::size_t j0, std::size_t j_end,
                     const T* const* colb, const Acc1& acc1, T* acc0, T* regs, const T** rp,
                     T* partial, const Batch<T>& iota_b, PairWords& words) {
  using B = Batch<T>;
  constexpr std::size_t W = kW<T>;
  constexpr std::size_t BL = block_lanes<T>();
  const B neg_zero(T(-0.0));
  for (uint32_t k = 0; k < A.n_outer; ++k) {
    const Instr& in = A.outer_ops[k];
    if (in.op == Op::LOAD)
      B(A.cols_a[in.b][i]).store_aligned(regs + std::size_t(in.dst) * BL);
    else
      exec_op<T>(in, rp, regs, A.reg_level, 1, A.consts, A.params, A.n_params);
  }
  for (uint32_t s = 0; s < A.n_stores; ++s)
    B(reduce_identity<T>(A.stores[s].reduce)).store_aligned(partial + s * W);
  for (std::size_t jb = j0; jb < j_end; jb += BL) {
    const std::size_t cnt = min_sz(BL, j_end - jb);
    const std::size_t nb = (cnt + W - 1) / W;
    const std::size_t tail = cnt - (nb - 1) * W;  // valid lanes of the last batch
    const auto tail_mask = iota_b < B(static_cast<T>(tail));
    Draws dr(A.random);
    if (A.random.ids_a)
      pair_words(A.random.ids_a + i, 0, A.random.ids_b + jb, nb * W, A.kind == RuleKind::PairSame,
                 words, dr);
    for (uint32_t k = 0; k < A.n_varying; ++k) {
      const Instr& in = A.varying_ops[k];
      if (in.op == Op::LOAD)
        rp[in.dst] = colb[in.b] + jb;
      else
        exec_op<T>(in, rp, regs, A.reg_level, nb, A.consts, A.params, A.n_params, &dr);
    }
    for (uint32_t s = 0; s < A.n_stores; ++s) {
      const StoreRef& st = A.stores[s];
      const T* src = rp[st.reg];
      const std::size_t ss = A.reg_level[st.reg] == kVarying ? W : 0;
      if (st.reduce != kReduceSum) {
        // ACCMAX / ACCMIN: the register is the value; the tail's lanes give the identity.
        const B none(reduce_identity<T>(st.reduce));
        // (xsimd::isnan, not v != v: xsimd's != is an ordered comparison on some ISAs)
        auto combine = [&](const B& acc, const B& v) {
          const auto nan = xsimd::isnan(v);
          return xsimd::select(((st.reduce == kReduceMax ? acc < v : v < acc) | nan), v, acc);
        };
        if (st.slot == 0) {
          B acc = B::load_aligned(partial + s * W);
          for (std::size_t k = 0; k + 1 < nb; ++k)
            acc = combine(acc, B::load_unaligned(src + k * ss));
          const B last = B::load_unaligned(src + (nb - 1) * ss);
          combine(acc, xsimd::select(tail_mask, last, none)).store_aligned(partial + s * W);
        } else {
          T* ap = acc1(s) + jb;
          for (std::size_t k = 0; k + 1 < nb; ++k)
            combine(B::load_unaligned(ap + k * W), B::load_unaligned(src + k * ss))
                .store_unaligned(ap + k * W);
          const std::size_t k = nb - 1;
          const B v = B::load_unaligned(src + k * ss);
          combine(B::load_unaligned(ap + k * W), xsimd::select(tail_mask, v, none))
              .store_unaligned(ap + k * W);
        }
      } else if (st.accumulate) {
        // ACC: the register is the delta.
        if (st.slot == 0) {
          B sum = B::load_aligned(partial + s * W);
          for (std::size_t k = 0; k + 1 < nb; ++k) sum += B::load_unaligned(src + k * ss);
          const B last = B::load_unaligned(src + (nb - 1) * ss);
          sum += xsimd::select(tail_mask, last, neg_zero);
          sum.store_aligned(partial + s * W);
        } else {
          T* ap = acc1(s) + jb;
          for (std::size_t k = 0; k + 1 < nb; ++k)
            (B::load_unaligned(ap + k * W) + B::load_unaligned(src + k * ss))
                .store_unaligned(ap + k * W);
          const std::size_t k = nb - 1;
          const B dlt = B::load_unaligned(src + k * ss);
          (B::load_unaligned(ap + k * W) + xsimd::select(tail_mask, dlt, neg_zero))
              .store_unaligned(ap + k * W);
        }
      } else if (st.slot == 0) {
        const B start(A.cols_a[st.lane][i]);
        B sum = B::load_aligned(partial + s * W);
        for (std::size_t k = 0; k + 1 < nb; ++k) sum += B::load_unaligned(src + k * ss) - start;
        const B last = B::load_unaligned(src + (nb - 1) * ss) - start;
        sum += xsimd::select(tail_mask, last, neg_zero);
        sum.store_aligned(partial + s * W);
      } else {
        const T* startp = colb[st.lane] + jb;
        T* ap = acc1(s) + jb;
        for (std::size_t k = 0; k + 1 < nb; ++k) {
          const B dlt = B::load_unaligned(src + k * ss) - B::load_unaligned(startp + k * W);
          (B::load_unaligned(ap + k * W) + dlt).store_unaligned(ap + k * W);
        }
        const std::size_t k = nb - 1;
        const B dlt = B::load_unaligned(src + k * ss) - B::load_unaligned(startp + k * W);
        (B::load_unaligned(ap + k * W) + xsimd::select(tail_mask, dlt, neg_zero))
            .store_unaligned(ap + k * W);
      }
    }
  }
  for (uint32_t s = 0; s < A.n_stores; ++s) {
    const StoreRef& st = A.stores[s];
    if (st.slot != 0) continue;
    if (st.reduce == kReduceSum) {
      acc0[A.store_acc[s] + i] += xsimd::hadd(B::load_aligned(partial + s * W));
      continue;
    }
    T& acc = acc0[A.store_acc[s] + i];
    for (std::size_t k = 0; k < W; ++k) acc = reduce_combine(st.reduce, acc, partial[s * W + k]);
  }
}

template <class T>
void sweep_pair(const SweepArgs<T>& A) {
  constexpr std::size_t BL = block_lanes<T>();
  static const Iota<T> iota;
  const Batch<T> iota_b = Batch<T>::load_aligned(iota.v);
  const std::size_t n_a = A.n_a, n_b = A.n_b;
  const bool same = A.kind == RuleKind::PairSame;
#pragma omp parallel num_threads(A.n_threads) if (A.n_threads > 1)
  {
    const int tid = omp_get_thread_num();
    T* regs;
    const T** rp;
    setup_thread<T>(A, tid, regs, rp);
    T* partial = regs + std::size_t(A.n_regs) * BL;  // n_stores * W, slot-0 partial sums
    T* acc = A.acc + std::size_t(tid) * A.acc_stride;
    auto acc1 = [&](uint32_t s) { return acc + A.store_acc[s]; };
    PairWords words;
#pragma omp for schedule(dynamic, 8)
    for (long il = 0; il < static_cast<long>(n_a); ++il) {
      const std::size_t i = static_cast<std::size_t>(il);
      const std::size_t j0 = same ? i + 1 : 0;
      if (j0 >= n_b || cancel_requested(A.cancel)) continue;
      pair_row<T>(A, i, j0, n_b, A.cols_b, acc1, acc, regs, rp, partial, iota_b, words);
    }
  }
}

// acc[(idx[k] - lo) * L->acc_row] += src[k * ss] (- start[k] when start is not null), k < cnt.
// A list sweep (L not null; a list comes in runs of one slot-0 row, docs/engine.md) sums a
// run of equal consecutive slot-0 indices first, in four partial sums, which avoids a chain of
// dependent loads and stores, and skips a zero sum; the slot-1 side (`runs` false: a partner
// rarely follows itself) adds each non-zero delta on its own, which halves the instructions
// per pair. A grid sweep (L null) keeps one addition per pair, so that its sums do not depend
// on where the blocks happen to be cut (which depends on the thread count).
// A max or min reduction (`reduce`) combines every value in turn (none is "nothing": a zero is a
// value like any other).
template <class T>
inline void scatter_add(const ListSweepArgs<T>* L, T* __restrict acc,
                        const uint32_t* __restrict idx, const T* __restrict src, std::size_t ss,
                        const T* __restrict start, std::size_t cnt, uint32_t lo, bool runs,
                        uint16_t reduce) {
  auto delta = [&](std::size_t k) { return start ? src[k * ss] - start[k] : src[k * ss]; };
  if (reduce != kReduceSum) {
    const std::size_t row = L ? L->acc_row : 1;
    for (std::size_t k = 0; k < cnt; ++k) {
      T& a = acc[std::size_t(idx[k] - lo) * row];
      a = reduce_combine(reduce, a, src[k * ss]);
    }
    return;
  }
  if (!L) {
    for (std::size_t k = 0; k < cnt; ++k) acc[idx[k] - lo] += delta(k);
    return;
  }
  const std::size_t row = L->acc_row;
  if (!runs) {
    for (std::size_t k = 0; k < cnt; ++k) {
      const T d = delta(k);
      if (d != T(0)) acc[std::size_t(idx[k] - lo) * row] += d;  // a zero: as below
    }
    return;
  }
  std::size_t k = 0;
  while (k < cnt) {
    const uint32_t x = idx[k];
    std::size_t m = k + 1;
    while (m < cnt && idx[m] == x) ++m;
    T s0 = delta(k), s1 = T(-0.0), s2 = T(-0.0), s3 = T(-0.0);
    std::size_t q = k + 1;
    for (; q + 4 <= m; q += 4) {
      s0 += delta(q);
      s1 += delta(q + 1);
      s2 += delta(q + 2);
      s3 += delta(q + 3);
    }
    for (; q < m; ++q) s0 += delta(q);
    const T sum = (s0 + s1) + (s2 + s3);
    // A zero changes nothing (the accumulator starts at -0.0 and its sum is added to the column
    // at the end; skipping a +0.0 keeps a -0.0 column -0.0, as if the pair had not been listed),
    // and rules whose pairs mostly do nothing (collisions) then touch no accumulator at all.
    if (sum != T(0)) acc[std::size_t(x - lo) * row] += sum;
    k = m;
  }
}

// List sweeps: marks the 64-row blocks of both rows of the first cnt pairs in
// `touched` (ListSweepArgs::touched). Plain byte stores: a bitmap would make every pair a
// read-modify-write of the word the previous pair wrote, a chain through memory.
inline void mark_blocks(const uint32_t* pi, const uint32_t* pj, std::size_t cnt, uint32_t lo,
                        uint8_t* __restrict touched) {
  const uint32_t base = lo >> 6;
  for (std::size_t k = 0; k < cnt; ++k) {
    touched[(pi[k] >> 6) - base] = 1;
    touched[(pj[k] >> 6) - base] = 1;
  }
}

// Runs the whole program over `cnt` listed pairs (pi[k], pj[k]) and adds their deltas to the
// accumulators (PairBlockArgs; L: the list sweep, null in a grid sweep).
// `dr`: the pairs' counter words, for UNIFORM and NORMAL.
template <class T>
inline void flush_pairs(const SweepArgs<T>& A, const PairBlockArgs<T>& C, const ListSweepArgs<T>* L,
                        const uint32_t* pi, const uint32_t* pj, std::size_t cnt, T* regs,
                        const T** rp, T* gbuf, T* acc_block, uint32_t lo, uint8_t* touched,
                        const Draws& dr) {
  constexpr std::size_t W = kW<T>;
  constexpr std::size_t GS = block_lanes<T>() + 16;
  const std::size_t nb = (cnt + W - 1) / W;
  auto gathered = [&](uint16_t slot, uint16_t lane) -> T* {
    const int32_t g = slot == 0 ? C.g_index_a[lane] : C.g_index_b[lane];
    return gbuf + std::size_t(g) * GS;
  };
  for (uint32_t k = 0; k < A.n_outer; ++k) {
    const Instr& in = A.outer_ops[k];
    if (in.op == Op::LOAD)
      rp[in.dst] = gathered(0, in.b);
    else
      exec_op<T>(in, rp, regs, C.pair_level, nb, A.consts, A.params, A.n_params, &dr);
  }
  for (uint32_t k = 0; k < A.n_varying; ++k) {
    const Instr& in = A.varying_ops[k];
    if (in.op == Op::LOAD)
      rp[in.dst] = gathered(1, in.b);
    else
      exec_op<T>(in, rp, regs, C.pair_level, nb, A.consts, A.params, A.n_params, &dr);
  }
  for (uint32_t s = 0; s < A.n_stores; ++s) {
    const StoreRef& st = A.stores[s];
    const T* src = rp[st.reg];
    const std::size_t ss = C.pair_level[st.reg] == kVarying ? 1 : 0;
    const uint32_t* idx = st.slot == 0 ? pi : pj;
    const T* start = st.accumulate ? nullptr : gathered(st.slot, st.lane);
    scatter_add<T>(L, acc_block + A.store_acc[s], idx, src, ss, start, cnt, lo, st.slot == 0,
                   st.reduce);
  }
  if (touched) mark_blocks(pi, pj, cnt, lo, touched);
}

// Keeps the pairs with a delta that is not zero (pi, pj and out compacted in place, in order)
// and returns how many. A pair whose deltas are all zero changes nothing (scatter_add skips a
// zero sum too), and on rules where many pairs do nothing (collisions: pairs in contact that
// do not approach) the scatter's zero test would otherwise be a coin toss per store. The test
// is one vectorised pass; the copy runs only when some pair is dropped, so rules whose pairs
// all act (Lennard-Jones) pay only the test. It lists the kept pairs first (branch-free) and
// then moves only those: on the collision benchmark most pairs are dropped, and moving every
// pair's deltas cost as much as the rule itself.
template <class T>
inline std::size_t drop_zero_pairs(uint32_t n_stores, uint32_t* __restrict pi,
                                   uint32_t* __restrict pj, T* const* out, std::size_t cnt) {
  uint8_t keep[block_lanes<T>()];
  std::fill(keep, keep + cnt, uint8_t(0));
  for (uint32_t s = 0; s < n_stores; ++s) {
    const T* __restrict d = out[s];
    for (std::size_t k = 0; k < cnt; ++k) keep[k] |= d[k] != T(0) ? 1 : 0;
  }
  std::size_t kept = 0;
  for (std::size_t k = 0; k < cnt; ++k) kept += keep[k];
  if (kept == cnt) return cnt;
  static_assert(block_lanes<T>() <= 65536, "pair positions are uint16_t");
  uint16_t at[block_lanes<T>()];
  std::size_t c = 0;
  for (std::size_t k = 0; k < cnt; ++k) {
    at[c] = uint16_t(k);
    c += keep[k];
  }
  // at[m] >= m: each pair moves down (or stays), after the pairs before it have moved.
  for (std::size_t m = 0; m < c; ++m) {
    const std::size_t k = at[m];
    for (uint32_t s = 0; s < n_stores; ++s) out[s][m] = out[s][k];
    pi[m] = pi[k];
    pj[m] = pj[k];
  }
  return c;
}

// The same as flush_pairs, through the rule's generated pair-block kernel: it writes each
// pair's deltas to out[s][k] (args set up by sweep_neighbours), which are then added to the shared
// accumulators exactly as flush_pairs adds them.
template <class T>
inline void flush_pairs_generated(const SweepArgs<T>& A, const PairBlockArgs<T>& C,
                                  const ListSweepArgs<T>* L, uint32_t* pi, uint32_t* pj,
                                  std::size_t cnt, BrzKernelArgs<T>& g, T* const* out, T* acc_block,
                                  uint32_t lo, uint8_t* touched) {
  g.n_a = g.n_b = cnt;
  g.i_begin = 0;
  g.i_end = cnt;
  C.block_fn(&g);
  // (a max or min reduction's zero is a value, not a pair that did nothing)
  bool reduces = false;
  for (uint32_t s = 0; s < A.n_stores; ++s) reduces = reduces || A.stores[s].reduce != kReduceSum;
  if (L && !reduces) cnt = drop_zero_pairs(A.n_stores, pi, pj, out, cnt);
  for (uint32_t s = 0; s < A.n_stores; ++s) {
    const uint32_t* idx = A.stores[s].slot == 0 ? pi : pj;
    scatter_add<T>(L, acc_block + A.store_acc[s], idx, out[s], 1, nullptr, cnt, lo,
                   A.stores[s].slot == 0, A.stores[s].reduce);
  }
  if (touched) mark_blocks(pi, pj, cnt, lo, touched);
}

// The identities of the listed pairs' agents (ida[k] of pi[k], idb[k] of pj[k]), zero up to a
// whole number of Philox vectors.
inline void gather_ids(const RandomArgs& R, const uint32_t* pi, const uint32_t* pj, std::size_t cnt,
                       uint32_t* __restrict ida, uint32_t* __restrict idb) {
  const std::size_t pad = word_lanes(cnt);
  for (std::size_t k = 0; k < cnt; ++k) {
    ida[k] = R.ids_a[pi[k]];
    idb[k] = R.ids_b[pj[k]];
  }
  for (std::size_t k = cnt; k < pad; ++k) ida[k] = idb[k] = 0;
}

// Gathers the used lanes of both slots for the listed pairs into the per-thread columns.
template <class T>
inline void gather_pairs(const SweepArgs<T>& A, const PairBlockArgs<T>& C,
                         const ListSweepArgs<T>* L, const uint32_t* pi, const uint32_t* pj,
                         std::size_t cnt, T* gbuf) {
  constexpr std::size_t W = kW<T>;
  constexpr std::size_t GS = block_lanes<T>() + 16;
  const std::size_t pad = (cnt + W - 1) / W * W;
  for (int slot = 0; slot < 2; ++slot) {
    const uint32_t lanes = slot == 0 ? C.lanes_a : C.lanes_b;
    const int32_t* gi = slot == 0 ? C.g_index_a : C.g_index_b;
    const uint32_t* idx = slot == 0 ? pi : pj;
    for (uint32_t l = 0; l < lanes; ++l) {
      if (gi[l] < 0) continue;
      const T* src = slot == 0 ? A.cols_a[l] : A.cols_b[l];
      T* dst = gbuf + std::size_t(gi[l]) * GS;
      // (the list filter has already gathered the positions)
      if (!L || l < L->pos_lane || l >= L->pos_lane + 3)
        for (std::size_t k = 0; k < cnt; ++k) dst[k] = src[idx[k]];
      for (std::size_t k = cnt; k < pad; ++k) dst[k] = T(0);
    }
  }
}

// The distinct cells within one of cell c on an axis of n cells: clamped when open, wrapped
// when periodic (every cell once when the axis has fewer than 3). Returns how many.
inline int grid_cells(long c, long n, bool periodic, long* out) {
  int k = 0;
  if (periodic && n < 3) {
    for (long q = 0; q < n; ++q) out[k++] = q;
    return k;
  }
  for (long q = c - 1; q <= c + 1; ++q) {
    if (periodic)
      out[k++] = q < 0 ? q + n : q >= n ? q - n : q;
    else if (q >= 0 && q < n)
      out[k++] = q;
  }
  return k;
}

// Neighbour sweep: over a grid (GridSweepArgs) or neighbour lists (ListSweepArgs). Both gather
// the pairs they find into blocks the same way (PairBlockArgs).
template <class T>
void sweep_neighbours(const SweepArgs<T>& A) {
  constexpr std::size_t BL = block_lanes<T>();
  const ListSweepArgs<T>* L = A.list;
  const PairBlockArgs<T>& C = L ? L->pairs : A.grid->pairs;
  const double cut2 = C.cut2;
  const T* __restrict pa0 = C.pos_a[0];
  const T* __restrict pa1 = C.pos_a[1];
  const T* __restrict pa2 = C.pos_a[2];
  const T* __restrict pb0 = C.pos_b[0];
  const T* __restrict pb1 = C.pos_b[1];
  const T* __restrict pb2 = C.pos_b[2];
#pragma omp parallel num_threads(A.n_threads) if (A.n_threads > 1)
  {
    const int tid = omp_get_thread_num();
    const int nthr = omp_get_num_threads();
    T* regs;
    const T** rp;
    setup_thread<T>(A, tid, regs, rp);
    T* gbuf = C.gbuf + std::size_t(tid) * C.gbuf_stride;
    uint32_t* pi = C.ibuf + std::size_t(tid) * 2 * BL;
    uint32_t* pj = pi + BL;
    std::size_t cnt = 0;
    uint64_t evals = 0;
    // UNIFORM and NORMAL: the listed pairs' identities and counter words.
    const bool draws = A.random.ids_a != nullptr;
    alignas(64) uint32_t ida[kWordLanes], idb[kWordLanes];
    PairWords words;
    Draws dr(A.random);
    // Generated pair-block kernel: column pointers into the gathered block (fixed per thread)
    // and one delta array per store in the register scratch (unused by it).
    BrzKernelArgs<T> g{};
    T** out = nullptr;
    if (C.block_fn) {
      constexpr std::size_t GS = BL + 16;
      T** p = C.bptrs + std::size_t(tid) * (C.lanes_a + C.lanes_b + A.n_stores);
      for (uint32_t l = 0; l < C.lanes_a; ++l)
        p[l] = C.g_index_a[l] < 0 ? nullptr : gbuf + std::size_t(C.g_index_a[l]) * GS;
      for (uint32_t l = 0; l < C.lanes_b; ++l)
        p[C.lanes_a + l] = C.g_index_b[l] < 0 ? nullptr : gbuf + std::size_t(C.g_index_b[l]) * GS;
      out = p + C.lanes_a + C.lanes_b;
      for (uint32_t s = 0; s < A.n_stores; ++s) out[s] = regs + std::size_t(s) * BL;
      g.params = A.params;
      g.cols_a = p;
      g.cols_b = p + C.lanes_a;
      g.acc = out;
      if (draws) {
        g.ids_a = ida;
        g.ids_b = idb;
        g.seed = A.random.seed;
        g.step = A.random.step;
      }
    }
    // Grid mode adds to the one shared block; neighbour-list mode to each list's own block.
    T* acc_block = A.acc;
    uint32_t lo = 0;
    uint8_t* touched = nullptr;
    auto flush = [&]() {
      gather_pairs<T>(A, C, L, pi, pj, cnt, gbuf);
      if (draws) gather_ids(A.random, pi, pj, cnt, ida, idb);
      if (C.block_fn) {
        flush_pairs_generated<T>(A, C, L, pi, pj, cnt, g, out, acc_block, lo, touched);
      } else {
        if (draws)
          pair_words(ida, 1, idb, (cnt + kW<T> - 1) / kW<T> * kW<T>, A.kind == RuleKind::PairSame,
                     words, dr);
        flush_pairs<T>(A, C, L, pi, pj, cnt, regs, rp, gbuf, acc_block, lo, touched, dr);
      }
      evals += cnt;
      cnt = 0;
    };
    if (L) {
      // The listed pairs, minus those now at or beyond the cutoff. Lists are dealt out to the
      // threads the runtime gave us (possibly fewer than there are lists).
      // Branch-free: every pair is written at the fill position, which advances only when the
      // pair is within the cutoff; its positions go straight to the gathered columns (slot 0's
      // three lanes at g, g + GS, g + 2 GS and slot 1's at the same places plus `ob`, as
      // neighbour_search.cpp numbers them). Both slots read the same columns.
      constexpr std::size_t GS = BL + 16;
      T* const g = gbuf + std::size_t(C.g_index_a[L->pos_lane]) * GS;
      const std::size_t ob = std::size_t(C.g_index_b[L->pos_lane] - C.g_index_a[L->pos_lane]) * GS;
      // The other gathered lanes: prefetched for each listed pair when it is filtered, so that
      // the gather of its block (at most one block later) finds them in cache. Past the last
      // level of cache (a million agents), the gather otherwise waits on memory for every lane.
      constexpr uint32_t kMaxPrefetch = 8;
      const T* pf[kMaxPrefetch];
      uint32_t n_pf = 0;
      for (uint32_t l = 0; l < C.lanes_a && n_pf < kMaxPrefetch && L->prefetch; ++l)
        if (C.g_index_a[l] >= 0 && (l < L->pos_lane || l >= L->pos_lane + 3))
          pf[n_pf++] = A.cols_a[l];
      // Fills the block from pairs [k, n_list) until it holds BL pairs within the cutoff;
      // returns how many it holds. Prefetch: a compile-time choice, so the cache-resident case
      // keeps the plain loop.
      auto fill = [&](auto prefetch, const uint32_t* __restrict li, const uint32_t* __restrict lj,
                      std::size_t& k, std::size_t n_list) {
        constexpr std::size_t kAhead = 16;  // pairs: the positions are prefetched this far ahead
        std::size_t c = 0;
        for (; k < n_list && c < BL; ++k) {
          const uint32_t i = li[k], j = lj[k];
          if constexpr (decltype(prefetch)::value) {
            if (k + kAhead < n_list) {
              const uint32_t i2 = li[k + kAhead], j2 = lj[k + kAhead];
              __builtin_prefetch(pa0 + i2);
              __builtin_prefetch(pa1 + i2);
              __builtin_prefetch(pa2 + i2);
              __builtin_prefetch(pa0 + j2);
              __builtin_prefetch(pa1 + j2);
              __builtin_prefetch(pa2 + j2);
            }
            for (uint32_t q = 0; q < n_pf; ++q) {
              __builtin_prefetch(pf[q] + i);
              __builtin_prefetch(pf[q] + j);
            }
          }
          const T xa = pa0[i], ya = pa1[i], za = pa2[i], xb = pa0[j], yb = pa1[j], zb = pa2[j];
          double dx = double(xb) - double(xa), dy = double(yb) - double(ya),
                 dz = double(zb) - double(za);
          if (C.periodic) {
            dx = min_image(dx, C.len[0], C.inv_len[0]);
            dy = min_image(dy, C.len[1], C.inv_len[1]);
            dz = min_image(dz, C.len[2], C.inv_len[2]);
          }
          pi[c] = i;
          pj[c] = j;
          g[c] = xa;
          g[GS + c] = ya;
          g[2 * GS + c] = za;
          g[ob + c] = xb;
          g[ob + GS + c] = yb;
          g[ob + 2 * GS + c] = zb;
          c += dx * dx + dy * dy + dz * dz < cut2 ? 1 : 0;
        }
        return c;
      };
      for (uint32_t t = uint32_t(tid); t < L->n_lists; t += uint32_t(nthr)) {
        acc_block = A.acc + std::size_t(t) * A.acc_stride;
        lo = L->acc_lo[t];
        touched = L->touched[t];
        const uint32_t* li = L->list_i[t];
        const uint32_t* lj = L->list_j[t];
        const std::size_t n_list = L->list_n[t];
        std::size_t k = 0;
        while (k < n_list) {
          cnt = L->prefetch ? fill(std::true_type{}, li, lj, k, n_list)
                            : fill(std::false_type{}, li, lj, k, n_list);
          if (cnt > 0) flush();
        }
      }
    } else {
      const GridSweepArgs<T>& G = *A.grid;
      const long nx = G.nx, ny = G.ny, nz = G.nz;
      const uint32_t* __restrict a_start = G.a_start;
      const uint32_t* __restrict b_start = G.b_start;
      // 8 colour classes of 2x2x2-cell blocks (block index parity per axis): the neighbourhoods
      // (4x4x4 cells) of two blocks of one class are disjoint.
      const long bx = (nx + 1) / 2, by = (ny + 1) / 2, bz = (nz + 1) / 2;
      for (int colour = 0; colour < 8; ++colour) {
        const long cx = colour & 1, cy = (colour >> 1) & 1, cz = colour >> 2;
        const long mx = (bx - cx + 1) / 2, my = (by - cy + 1) / 2, mz = (bz - cz + 1) / 2;
        const long total = mx * my * mz;
        long chunk = total / (long(nthr) * 16);
        if (chunk < 1) chunk = 1;
#pragma omp for schedule(dynamic, chunk) nowait
        for (long t = 0; t < total; ++t) {
          const long qx = 2 * (cx + 2 * (t % mx)), qy = 2 * (cy + 2 * ((t / mx) % my)),
                     qz = 2 * (cz + 2 * (t / (mx * my)));
          for (long c8 = 0; c8 < 8; ++c8) {
            const long x = qx + (c8 & 1), y = qy + ((c8 >> 1) & 1), z = qz + (c8 >> 2);
            if (x >= nx || y >= ny || z >= nz) continue;
            const long c = (z * ny + y) * nx + x;
            const uint32_t ia0 = a_start[c], ia1 = a_start[c + 1];
            if (ia0 == ia1) continue;
            // The (up to) 9 rows of 3 cells of the neighbourhood, each one or two contiguous
            // packed ranges: an open axis clamps, a periodic one wraps (each cell once).
            long ys[3], zs[3], x0[2], x1[2];
            const int n_y = grid_cells(y, ny, G.periodic[1], ys);
            const int n_z = grid_cells(z, nz, G.periodic[2], zs);
            int n_x = 1;
            if (G.periodic[0] && nx < 3) {
              x0[0] = 0;
              x1[0] = nx - 1;
            } else if (G.periodic[0] && (x == 0 || x == nx - 1)) {
              // A row that wraps: the cells up to its end, then those from its start.
              x0[0] = x == 0 ? nx - 1 : x - 1;
              x1[0] = nx - 1;
              x0[1] = 0;
              x1[1] = x == 0 ? 1 : 0;
              n_x = 2;
            } else {
              x0[0] = x > 0 ? x - 1 : 0;
              x1[0] = x + 1 < nx ? x + 1 : nx - 1;
            }
            uint32_t rb[18], re[18];
            int n_rows = 0;
            for (int kz = 0; kz < n_z; ++kz)
              for (int ky = 0; ky < n_y; ++ky) {
                const long row = (zs[kz] * ny + ys[ky]) * nx;
                for (int kx = 0; kx < n_x; ++kx) {
                  rb[n_rows] = b_start[row + x0[kx]];
                  re[n_rows] = b_start[row + x1[kx] + 1];
                  if (rb[n_rows] < re[n_rows]) ++n_rows;
                }
              }
            for (uint32_t i = ia0; i < ia1; ++i) {
              const double xi = pa0[i], yi = pa1[i], zi = pa2[i];
              for (int q = 0; q < n_rows; ++q) {
                for (uint32_t j = rb[q]; j < re[q]; ++j) {
                  double dx = double(pb0[j]) - xi, dy = double(pb1[j]) - yi,
                         dz = double(pb2[j]) - zi;
                  if (C.periodic) {
                    dx = min_image(dx, C.len[0], C.inv_len[0]);
                    dy = min_image(dy, C.len[1], C.inv_len[1]);
                    dz = min_image(dz, C.len[2], C.inv_len[2]);
                  }
                  if (!(dx * dx + dy * dy + dz * dz < cut2)) continue;
                  pi[cnt] = i;
                  pj[cnt++] = j;
                  if (cnt == BL) flush();
                }
              }
            }
          }
        }
        if (cnt > 0) flush();
#pragma omp barrier
      }
    }
    C.evals[std::size_t(tid) * 8] = evals;
  }
}

template <class T>
void sweep(const SweepArgs<T>& A) {
  if (A.kind == RuleKind::PerAgent)
    sweep_per_agent<T>(A);
  else if (A.grid || A.list)
    sweep_neighbours<T>(A);
  else
    sweep_pair<T>(A);
}

void sweep_f64(const SweepArgs<double>& a) { sweep<double>(a); }
void sweep_f32(const SweepArgs<float>& a) { sweep<float>(a); }

}  // namespace

extern const SweepSet sweep_set;
const SweepSet sweep_set = {BRZ_INAME, kW<double>, kW<float>, &sweep_f64, &sweep_f32};

}  // namespace BRZ_INS
}  // namespace brz
