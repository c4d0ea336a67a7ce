// Vectorised sweep kernels: a block-at-a-time interpreter of the scalar SSA program.
//
// This file is compiled three times (CMake objects brz_kern_sse2 / _avx2 / _avx512) with
// different -m flags and BRZ_KERNEL_ISA set accordingly. To keep the One Definition Rule safe,
// everything here is either a template on the xsimd arch type or lives in an anonymous
// namespace inside the ISA-named namespace; the only external symbol is
// brz::kern_<isa>::kernel_set. No std:: code is instantiated here (see the nm check in CMake).
#include <math.h>
#include <omp.h>

// xsimd 8.1 has one non-template inline function used by the f32 sin/cos range reduction.
// Give it an ISA-specific name so that copies compiled with different -m flags never merge.
#define BRZ_CAT2(a, b) a##b
#define BRZ_CAT(a, b) BRZ_CAT2(a, b)
#if BRZ_KERNEL_ISA == 1
#define BRZ_KNS kern_sse2
#define BRZ_KNAME "sse2"
#define BRZ_XSIMD_ARCH xsimd::sse2
#elif BRZ_KERNEL_ISA == 2
#define BRZ_KNS kern_avx2
#define BRZ_KNAME "avx2"
#define BRZ_XSIMD_ARCH xsimd::fma3<xsimd::avx2>
#elif BRZ_KERNEL_ISA == 3
#define BRZ_KNS kern_avx512
#define BRZ_KNAME "avx512"
#define BRZ_XSIMD_ARCH xsimd::avx512bw
#else
#error "BRZ_KERNEL_ISA must be 1 (sse2), 2 (avx2) or 3 (avx512)"
#endif
#define __ieee754_rem_pio2 BRZ_CAT(brz_ieee754_rem_pio2_, BRZ_KNS)
#include <xsimd/xsimd.hpp>
#undef __ieee754_rem_pio2

#include "brz/kernels.hpp"

using BrzArch = BRZ_XSIMD_ARCH;

namespace brz {
namespace BRZ_KNS {
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
// :math = libm); f32 uses xsimd's vectorised implementations.
template <class T>
inline Batch<T> v_exp(const Batch<T>& x) {
  if constexpr (is_f64(T{}))
    return per_lane1<T>(x, [](T v) { return ::exp(v); });
  else
    return xsimd::exp(x);
}
template <class T>
inline Batch<T> v_log(const Batch<T>& x) {
  if constexpr (is_f64(T{}))
    return per_lane1<T>(x, [](T v) { return ::log(v); });
  else
    return xsimd::log(x);
}
template <class T>
inline Batch<T> v_sin(const Batch<T>& x) {
  if constexpr (is_f64(T{}))
    return per_lane1<T>(x, [](T v) { return ::sin(v); });
  else
    return xsimd::sin(x);
}
template <class T>
inline Batch<T> v_cos(const Batch<T>& x) {
  if constexpr (is_f64(T{}))
    return per_lane1<T>(x, [](T v) { return ::cos(v); });
  else
    return xsimd::cos(x);
}
template <class T>
inline Batch<T> v_pow(const Batch<T>& x, const Batch<T>& y) {
  if constexpr (is_f64(T{}))
    return per_lane2<T>(x, y, [](T a, T b) { return ::pow(a, b); });
  else
    return xsimd::pow(x, y);
}
template <class T>
inline Batch<T> v_floor(const Batch<T>& x) {
  if constexpr (is_f64(T{})) {
#if BRZ_KERNEL_ISA == 1
    // SSE2 has no rounding instruction; libm floor per lane is exact.
    return per_lane1<T>(x, [](T v) { return ::floor(v); });
#else
    return xsimd::floor(x);
#endif
  } else {
#if BRZ_KERNEL_ISA == 1
    return per_lane1<T>(x, [](T v) { return ::floorf(v); });
#else
    return xsimd::floor(x);
#endif
  }
}

// Executes one non-STORE instruction over nb batches. Register r is read at
// rp[r] + k * stride(r); stride is kW for Varying registers, 0 for Uniform/Outer ones.
template <class T>
inline void exec_op(const Instr& in, const T** rp, T* regs, const uint8_t* lvl, std::size_t nb,
                    const T* consts, const T* params) {
  using B = Batch<T>;
  constexpr std::size_t W = kW<T>;
  constexpr std::size_t BL = block_lanes<T>();
  T* d = regs + std::size_t(in.dst) * BL;
  const T* pa = rp[in.a];
  const T* pb = rp[in.b];
  const T* pc = rp[in.c];
  const std::size_t sa = lvl[in.a] == kVarying ? W : 0;
  const std::size_t sb = lvl[in.b] == kVarying ? W : 0;
  const std::size_t sc = lvl[in.c] == kVarying ? W : 0;
  const B zero(T(0)), one(T(1));
#define BRZ_UN(expr)                            \
  for (std::size_t k = 0; k < nb; ++k) {        \
    const B a = B::load_unaligned(pa + k * sa); \
    (expr).store_aligned(d + k * W);            \
  }                                             \
  break;
#define BRZ_BIN(expr)                           \
  for (std::size_t k = 0; k < nb; ++k) {        \
    const B a = B::load_unaligned(pa + k * sa); \
    const B b = B::load_unaligned(pb + k * sb); \
    (expr).store_aligned(d + k * W);            \
  }                                             \
  break;
#define BRZ_TER(expr)                           \
  for (std::size_t k = 0; k < nb; ++k) {        \
    const B a = B::load_unaligned(pa + k * sa); \
    const B b = B::load_unaligned(pb + k * sb); \
    const B c = B::load_unaligned(pc + k * sc); \
    (expr).store_aligned(d + k * W);            \
  }                                             \
  break;
  switch (in.op) {
    case Op::CONST:
      B(consts[in.a]).store_aligned(d);
      break;
    case Op::PARAM:
      B(params[in.a]).store_aligned(d);
      break;
    case Op::LOAD:
    case Op::STORE:
      break;  // handled by the sweeps
    case Op::ADD:
      BRZ_BIN(a + b)
    case Op::SUB:
      BRZ_BIN(a - b)
    case Op::MUL:
      BRZ_BIN(a * b)
    case Op::DIV:
      BRZ_BIN(a / b)
    case Op::POW:
      BRZ_BIN(v_pow<T>(a, b))
    case Op::MIN:
      BRZ_BIN(xsimd::select(b < a, b, a))
    case Op::MAX:
      BRZ_BIN(xsimd::select(a < b, b, a))
    case Op::FMA:
      BRZ_TER(xsimd::fma(a, b, c))
    case Op::NEG:
      BRZ_UN(-a)
    case Op::ABS:
      BRZ_UN(xsimd::abs(a))
    case Op::SQRT:
      BRZ_UN(xsimd::sqrt(a))
    case Op::EXP:
      BRZ_UN(v_exp<T>(a))
    case Op::LOG:
      BRZ_UN(v_log<T>(a))
    case Op::SIN:
      BRZ_UN(v_sin<T>(a))
    case Op::COS:
      BRZ_UN(v_cos<T>(a))
    case Op::FLOOR:
      BRZ_UN(v_floor<T>(a))
    case Op::RSQRT:
      BRZ_UN(one / xsimd::sqrt(a))
    case Op::LT:
      BRZ_BIN(xsimd::select(a < b, one, zero))
    case Op::LE:
      BRZ_BIN(xsimd::select(a <= b, one, zero))
    case Op::GT:
      BRZ_BIN(xsimd::select(a > b, one, zero))
    case Op::GE:
      BRZ_BIN(xsimd::select(a >= b, one, zero))
    case Op::EQ:
      BRZ_BIN(xsimd::select(a == b, one, zero))
    // Only ordered == is used below, so NaN counts as "not equal" / "true".
    case Op::NE:
      BRZ_BIN(xsimd::select(a == b, zero, one))
    case Op::AND:
      BRZ_BIN(xsimd::select(a == zero, zero, xsimd::select(b == zero, zero, one)))
    case Op::OR:
      BRZ_BIN(xsimd::select(a == zero, xsimd::select(b == zero, zero, one), one))
    case Op::NOT:
      BRZ_UN(xsimd::select(a == zero, one, zero))
    case Op::SELECT:
      BRZ_TER(xsimd::select(a == zero, c, b))
  }
#undef BRZ_UN
#undef BRZ_BIN
#undef BRZ_TER
}

template <class T>
inline void setup_thread(const SweepArgs<T>& A, int tid, T*& regs, const T**& rp) {
  constexpr std::size_t BL = block_lanes<T>();
  regs = A.scratch + std::size_t(tid) * A.scratch_stride;
  rp = A.ptrs + std::size_t(tid) * A.n_regs;
  for (uint32_t r = 0; r < A.n_regs; ++r) rp[r] = regs + std::size_t(r) * BL;
  for (uint32_t k = 0; k < A.n_uniform; ++k)
    exec_op<T>(A.uniform_ops[k], rp, regs, A.reg_level, 1, A.consts, A.params);
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
#pragma omp for schedule(static)
    for (long blk = 0; blk < n_blocks; ++blk) {
      const std::size_t i0 = std::size_t(blk) * BL;
      const std::size_t cnt = min_sz(BL, n - i0);
      const std::size_t nb = (cnt + W - 1) / W;
      for (uint32_t k = 0; k < A.n_varying; ++k) {
        const Instr& in = A.varying_ops[k];
        if (in.op == Op::LOAD)
          rp[in.dst] = A.cols_a[in.b] + i0;
        else
          exec_op<T>(in, rp, regs, A.reg_level, nb, A.consts, A.params);
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

template <class T>
void sweep_pair(const SweepArgs<T>& A) {
  using B = Batch<T>;
  constexpr std::size_t W = kW<T>;
  constexpr std::size_t BL = block_lanes<T>();
  static const Iota<T> iota;
  const B iota_b = B::load_aligned(iota.v);
  const B neg_zero(T(-0.0));
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
#pragma omp for schedule(dynamic, 8)
    for (long il = 0; il < static_cast<long>(n_a); ++il) {
      const std::size_t i = static_cast<std::size_t>(il);
      const std::size_t j0 = same ? i + 1 : 0;
      if (j0 >= n_b) continue;
      for (uint32_t k = 0; k < A.n_outer; ++k) {
        const Instr& in = A.outer_ops[k];
        if (in.op == Op::LOAD)
          B(A.cols_a[in.b][i]).store_aligned(regs + std::size_t(in.dst) * BL);
        else
          exec_op<T>(in, rp, regs, A.reg_level, 1, A.consts, A.params);
      }
      for (uint32_t s = 0; s < A.n_stores; ++s) neg_zero.store_aligned(partial + s * W);
      for (std::size_t jb = j0; jb < n_b; jb += BL) {
        const std::size_t cnt = min_sz(BL, n_b - jb);
        const std::size_t nb = (cnt + W - 1) / W;
        const std::size_t tail = cnt - (nb - 1) * W;  // valid lanes of the last batch
        const auto tail_mask = iota_b < B(static_cast<T>(tail));
        for (uint32_t k = 0; k < A.n_varying; ++k) {
          const Instr& in = A.varying_ops[k];
          if (in.op == Op::LOAD)
            rp[in.dst] = A.cols_b[in.b] + jb;
          else
            exec_op<T>(in, rp, regs, A.reg_level, nb, A.consts, A.params);
        }
        for (uint32_t s = 0; s < A.n_stores; ++s) {
          const StoreRef& st = A.stores[s];
          const T* src = rp[st.reg];
          const std::size_t ss = A.reg_level[st.reg] == kVarying ? W : 0;
          if (st.slot == 0) {
            const B start(A.cols_a[st.lane][i]);
            B sum = B::load_aligned(partial + s * W);
            for (std::size_t k = 0; k + 1 < nb; ++k) sum += B::load_unaligned(src + k * ss) - start;
            const B last = B::load_unaligned(src + (nb - 1) * ss) - start;
            sum += xsimd::select(tail_mask, last, neg_zero);
            sum.store_aligned(partial + s * W);
          } else {
            const T* startp = A.cols_b[st.lane] + jb;
            T* ap = acc + A.store_acc[s] + jb;
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
        if (A.stores[s].slot != 0) continue;
        acc[A.store_acc[s] + i] += xsimd::hadd(B::load_aligned(partial + s * W));
      }
    }
  }
}

template <class T>
void sweep(const SweepArgs<T>& A) {
  if (A.kind == RuleKind::PerAgent)
    sweep_per_agent<T>(A);
  else
    sweep_pair<T>(A);
}

void sweep_f64(const SweepArgs<double>& a) { sweep<double>(a); }
void sweep_f32(const SweepArgs<float>& a) { sweep<float>(a); }

}  // namespace

extern const KernelSet kernel_set;
const KernelSet kernel_set = {BRZ_KNAME, kW<double>, kW<float>, &sweep_f64, &sweep_f32};

}  // namespace BRZ_KNS
}  // namespace brz
