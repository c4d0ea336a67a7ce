// A hand-written kernel library in the format of the generated ones (docs/kernels.md), built
// by CMake in three variants for test_generated.cpp: BRZ_FIXTURE_VARIANT 0 = valid, 1 = the f32
// kernel of rule 1 missing, 2 = a wrong ABI version.
#include "kernel_fixture.hpp"

#include <cstring>

#include "brz/generated_abi.hpp"

#define BRZ_EXPORT __attribute__((visibility("default")))

#ifndef BRZ_FIXTURE_VARIANT
#define BRZ_FIXTURE_VARIANT 0
#endif

extern "C" {
BRZ_EXPORT extern const uint32_t brz_abi_version;
BRZ_EXPORT extern const char brz_program_hash[];
BRZ_EXPORT extern uint32_t brz_program_size;
BRZ_EXPORT extern unsigned char brz_program_binary[];
BRZ_EXPORT extern const uint32_t brz_rule_count;

const uint32_t brz_abi_version = BRZ_GEN_ABI_VERSION + (BRZ_FIXTURE_VARIANT == 2 ? 1 : 0);
const char brz_program_hash[] = "fixture-hash";
uint32_t brz_program_size = 0;
unsigned char brz_program_binary[4096];
const uint32_t brz_rule_count = 2;
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
}  // namespace

extern "C" {
BRZ_EXPORT void brz_rule_0_f64(const BrzKernelArgsF64* a) { rule0(a); }
BRZ_EXPORT void brz_rule_0_f32(const BrzKernelArgsF32* a) { rule0(a); }
BRZ_EXPORT void brz_rule_1_f64(const BrzKernelArgsF64* a) { rule1(a); }
#if BRZ_FIXTURE_VARIANT != 1
BRZ_EXPORT void brz_rule_1_f32(const BrzKernelArgsF32* a) { rule1(a); }
#endif
}
