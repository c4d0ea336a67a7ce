// A hand-written kernel library in the format of the generated ones (docs/kernels.md), built
// by CMake in five variants for test_generated.cpp: BRZ_FIXTURE_VARIANT 0 = valid, 1 = the f32
// kernel of rule 1 missing (only its _avx2 variant exists), 2 = a wrong ABI version, 3 = valid
// without the (optional) pair-block kernels of rule 2 and neighbour-list kernels of rule 3,
// 4 = the brz_* metadata symbols not exported (not a kernel library).
// Some kernels have ISA variants
// (`_avx2`, `_avx512`): the same code under another name, so that the test can tell which one
// the loader picked.
#include "kernel_fixture.hpp"

#include <cstring>

#include "brz/generated_abi.hpp"

#define BRZ_EXPORT __attribute__((visibility("default")))

#ifndef BRZ_FIXTURE_VARIANT
#define BRZ_FIXTURE_VARIANT 0
#endif

#if BRZ_FIXTURE_VARIANT == 4
#define BRZ_META_EXPORT
#else
#define BRZ_META_EXPORT BRZ_EXPORT
#endif

extern "C" {
BRZ_META_EXPORT extern const uint32_t brz_abi_version;
BRZ_META_EXPORT extern const char brz_program_hash[];
BRZ_META_EXPORT extern uint32_t brz_program_size;
BRZ_META_EXPORT extern unsigned char brz_program_binary[];
BRZ_META_EXPORT extern const uint32_t brz_rule_count;

const uint32_t brz_abi_version = BRZ_GEN_ABI_VERSION + (BRZ_FIXTURE_VARIANT == 2 ? 1 : 0);
const char brz_program_hash[] = "fixture-hash";
uint32_t brz_program_size = 0;
unsigned char brz_program_binary[4096];
const uint32_t brz_rule_count = 4;
}

namespace {
// Fills the embedded program at load time (a generated library has it as a literal).
struct Init {
  Init() {
    const std::vector<uint8_t> b = brzt::fixture_program_bytes();
    if (b.size() <= sizeof brz_program_binary) {
      std::memcpy(brz_program_binary, b.data(), b.size());
      brz_program_size = static_cast<uint32_t>(b.size());
    }
  }
} init;

template <class T>
void rule0(const BrzKernelArgs<T>* a) {
  T* x = a->cols_a[0];
  const T* v = a->cols_a[1];
  const T dt = a->params[0];
  int bad = 0;
  for (size_t i = a->i_begin; i < a->i_end; ++i) {
    x[i] = x[i] + v[i] * dt;
    bad |= (x[i] - x[i]) != T(0);
  }
  if (bad && a->nonfinite) *a->nonfinite = 1;
}

template <class T>
void rule1(const BrzKernelArgs<T>* a) {
  const T* xa = a->cols_a[0];
  const T* va = a->cols_a[1];
  const T* xb = a->cols_b[0];
  const T* vb = a->cols_b[1];
  T* acc = a->acc[0];  // == acc[1]: both slots store lane 1 of the same type
  for (size_t i = a->i_begin; i < a->i_end; ++i) {
    T sum = T(0);
    for (size_t j = i + 1; j < a->n_b; ++j) {
      const T t = (xb[j] - xa[i]) * T(0.5);
      sum += (va[i] + t) - va[i];
      acc[j] += (vb[j] - t) - vb[j];
    }
    if (i + 1 < a->n_b) acc[i] += sum;
  }
}
// Rule 2, the part one pair computes: its STORE delta (slot 0) and ACC delta (slot 1).
// Rules 2 and 3: whether the pair is closer than 0.3, and t = (0.09 - r2) * dt.
template <class T>
inline bool contact(T pax, T pay, T paz, T pbx, T pby, T pbz, T dt, T* t) {
  const T dx = pax - pbx, dy = pay - pby, dz = paz - pbz;
  const T r2 = dx * dx + dy * dy + dz * dz;
  const T c = T(0.3);
  const T c2 = c * c;
  *t = (c2 - r2) * dt;
  return r2 < c2;
}

template <class T>
inline void rule2_pair(T pax, T pay, T paz, T pbx, T pby, T pbz, T va, T wa, T wb, T dt, T* d0,
                       T* d1) {
  T t;
  const bool cond = contact(pax, pay, paz, pbx, pby, pbz, dt, &t);
  *d0 = (cond ? wa + t * (va + wb) : wa) - wa;
  *d1 = cond ? t * wa : T(0);
}

template <class T>
void rule2(const BrzKernelArgs<T>* a) {
  const T* const* ca = a->cols_a;
  const T* const* cb = a->cols_b;
  T* acc = a->acc[0];  // == acc[1]: both slots write lane 5 of the same type
  for (size_t i = a->i_begin; i < a->i_end; ++i) {
    T sum = T(0);
    for (size_t j = i + 1; j < a->n_b; ++j) {
      T d0, d1;
      rule2_pair(ca[2][i], ca[3][i], ca[4][i], cb[2][j], cb[3][j], cb[4][j], ca[1][i], ca[5][i],
                 cb[5][j], a->params[0], &d0, &d1);
      sum += d0;
      acc[j] += d1;
    }
    if (i + 1 < a->n_b) acc[i] += sum;
  }
}

// Pair-block kernel of rule 2: pair k reads both slots at index k, writes acc[s][k].
template <class T>
void rule2_block(const BrzKernelArgs<T>* a) {
  const T* const* ca = a->cols_a;
  const T* const* cb = a->cols_b;
  for (size_t k = a->i_begin; k < a->i_end; ++k)
    rule2_pair(ca[2][k], ca[3][k], ca[4][k], cb[2][k], cb[3][k], cb[4][k], ca[1][k], ca[5][k],
               cb[5][k], a->params[0], &a->acc[0][k], &a->acc[1][k]);
}
// Rule 3, one pair: its three ACCs (x of slot 0, x and v of slot 1).
template <class T>
inline void rule3_pair(T pax, T pay, T paz, T pbx, T pby, T pbz, T wa, T wb, T dt, T* x0, T* x1,
                       T* v1) {
  T t;
  const bool cond = contact(pax, pay, paz, pbx, pby, pbz, dt, &t);
  *x0 = cond ? t * wb : T(0);
  *x1 = cond ? t * wa : T(0);
  *v1 = cond ? t : T(0);
}

template <class T>
void rule3(const BrzKernelArgs<T>* a) {
  const T* const* ca = a->cols_a;
  const T* const* cb = a->cols_b;
  T* x = a->acc[0];  // == acc[1]: slot 0 and slot 1 both accumulate lane 0
  T* v = a->acc[2];
  for (size_t i = a->i_begin; i < a->i_end; ++i)
    for (size_t j = i + 1; j < a->n_b; ++j) {
      T x0, x1, v1;
      rule3_pair(ca[2][i], ca[3][i], ca[4][i], cb[2][j], cb[3][j], cb[4][j], ca[5][i], cb[5][j],
                 a->params[0], &x0, &x1, &v1);
      x[i] += x0;
      x[j] += x1;
      v[j] += v1;
    }
}

// Neighbour-list kernel of rule 3 (BrzListArgs): window rows (row - lo) * row_stride.
template <class T>
void rule3_list(const BrzListArgs<T>* a) {
  const T* const* c = a->cols;
  for (size_t p = a->begin; p < a->end; ++p) {
    const size_t i = a->li[p], j = a->lj[p];
    T x0, x1, v1;
    rule3_pair(c[2][i], c[3][i], c[4][i], c[2][j], c[3][j], c[4][j], c[5][i], c[5][j], a->params[0],
               &x0, &x1, &v1);
    a->acc[(i - a->lo) * a->row_stride + a->acc_col[0]] += x0;
    a->acc[(j - a->lo) * a->row_stride + a->acc_col[1]] += x1;
    a->acc[(j - a->lo) * a->row_stride + a->acc_col[2]] += v1;
  }
}
}  // namespace

extern "C" {
BRZ_EXPORT void brz_rule_0_f64(const BrzKernelArgsF64* a) { rule0(a); }
BRZ_EXPORT void brz_rule_0_f64_avx2(const BrzKernelArgsF64* a) { rule0(a); }
BRZ_EXPORT void brz_rule_0_f64_avx512(const BrzKernelArgsF64* a) { rule0(a); }
BRZ_EXPORT void brz_rule_0_f32(const BrzKernelArgsF32* a) { rule0(a); }
BRZ_EXPORT void brz_rule_1_f64(const BrzKernelArgsF64* a) { rule1(a); }
#if BRZ_FIXTURE_VARIANT != 1
BRZ_EXPORT void brz_rule_1_f32(const BrzKernelArgsF32* a) { rule1(a); }
#endif
BRZ_EXPORT void brz_rule_1_f32_avx2(const BrzKernelArgsF32* a) { rule1(a); }
BRZ_EXPORT void brz_rule_2_f64(const BrzKernelArgsF64* a) { rule2(a); }
BRZ_EXPORT void brz_rule_2_f32(const BrzKernelArgsF32* a) { rule2(a); }
BRZ_EXPORT void brz_rule_3_f64(const BrzKernelArgsF64* a) { rule3(a); }
BRZ_EXPORT void brz_rule_3_f32(const BrzKernelArgsF32* a) { rule3(a); }
#if BRZ_FIXTURE_VARIANT != 3
BRZ_EXPORT void brz_rule_3_list_f64(const BrzListArgsF64* a) { rule3_list(a); }
BRZ_EXPORT void brz_rule_3_list_f32(const BrzListArgsF32* a) { rule3_list(a); }
BRZ_EXPORT void brz_rule_2_block_f64(const BrzKernelArgsF64* a) { rule2_block(a); }
BRZ_EXPORT void brz_rule_2_block_f64_avx2(const BrzKernelArgsF64* a) { rule2_block(a); }
BRZ_EXPORT void brz_rule_2_block_f32(const BrzKernelArgsF32* a) { rule2_block(a); }
#endif
}
