// A hand-written kernel library in the format of the generated ones (docs/kernels.md) for the
// program of cross_fixture.hpp: the all-pairs and pair-block kernels of its one rule.
#include "cross_fixture.hpp"

#include <cstring>

#include "brz/generated_abi.hpp"

#define BRZ_EXPORT __attribute__((visibility("default")))

extern "C" {
BRZ_EXPORT extern const uint32_t brz_abi_version;
BRZ_EXPORT extern const char brz_program_hash[];
BRZ_EXPORT extern uint32_t brz_program_size;
BRZ_EXPORT extern unsigned char brz_program_binary[];
BRZ_EXPORT extern const uint32_t brz_rule_count;

const uint32_t brz_abi_version = BRZ_GEN_ABI_VERSION;
const char brz_program_hash[] = "cross-fixture-hash";
uint32_t brz_program_size = 0;
unsigned char brz_program_binary[4096];
const uint32_t brz_rule_count = 1;
}

namespace {
// Fills the embedded program at load time (a generated library has it as a literal).
struct Init {
  Init() {
    const std::vector<uint8_t> b = brzt::cross_fixture_builder().bytes();
    if (b.size() <= sizeof brz_program_binary) {
      std::memcpy(brz_program_binary, b.data(), b.size());
      brz_program_size = static_cast<uint32_t>(b.size());
    }
  }
} init;

// The ACC delta of one pair.
template <class T>
inline T contact(T pax, T pay, T paz, T pbx, T pby, T pbz, T dt) {
  const T dx = pax - pbx, dy = pay - pby, dz = paz - pbz;
  const T r2 = dx * dx + dy * dy + dz * dz;
  const T c = T(0.3);
  const T c2 = c * c;
  return r2 < c2 ? (c2 - r2) * dt : T(0);
}

template <class T>
void rule0(const BrzKernelArgs<T>* a) {
  const T* const* ca = a->cols_a;
  const T* const* cb = a->cols_b;
  for (size_t i = a->i_begin; i < a->i_end; ++i) {
    T sum = T(0);
    for (size_t j = 0; j < a->n_b; ++j)
      sum += contact(ca[0][i], ca[1][i], ca[2][i], cb[0][j], cb[1][j], cb[2][j], a->params[0]);
    a->acc[0][i] += sum;
  }
}

// Pair-block kernel: pair k reads both slots at index k, writes acc[0][k].
template <class T>
void rule0_block(const BrzKernelArgs<T>* a) {
  const T* const* ca = a->cols_a;
  const T* const* cb = a->cols_b;
  for (size_t k = a->i_begin; k < a->i_end; ++k)
    a->acc[0][k] =
        contact(ca[0][k], ca[1][k], ca[2][k], cb[0][k], cb[1][k], cb[2][k], a->params[0]);
}
}  // namespace

extern "C" {
BRZ_EXPORT void brz_rule_0_f64(const BrzKernelArgsF64* a) { rule0(a); }
BRZ_EXPORT void brz_rule_0_f32(const BrzKernelArgsF32* a) { rule0(a); }
BRZ_EXPORT void brz_rule_0_block_f64(const BrzKernelArgsF64* a) { rule0_block(a); }
BRZ_EXPORT void brz_rule_0_block_f32(const BrzKernelArgsF32* a) { rule0_block(a); }
}
