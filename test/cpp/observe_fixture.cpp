// A hand-written observe-kernel library in the format of the generated ones (docs/kernels.md,
// "Observe kernels") for the observables program of observe_fixture.hpp: the kernel of rule 0.
#include "observe_fixture.hpp"

#include <cmath>
#include <cstring>

#include "brz/generated_abi.hpp"

#define BRZ_EXPORT __attribute__((visibility("default")))

extern "C" {
BRZ_EXPORT extern const uint32_t brz_abi_version;
BRZ_EXPORT extern const char brz_program_hash[];
BRZ_EXPORT extern uint32_t brz_program_size;
BRZ_EXPORT extern unsigned char brz_program_binary[];
BRZ_EXPORT extern const uint32_t brz_rule_count;
BRZ_EXPORT extern uint32_t brz_observe_0_spec[5];

const uint32_t brz_abi_version = BRZ_GEN_ABI_VERSION;
const char brz_program_hash[] = "observe-fixture-hash";
uint32_t brz_program_size = 0;
unsigned char brz_program_binary[4096];
const uint32_t brz_rule_count = 2;
uint32_t brz_observe_0_spec[5] = {1, 0, 0, 0, 0};
}

namespace {
// Fills the embedded program and the spec at load time (a generated library has literals).
struct Init {
  Init() {
    uint16_t value = 0;
    const std::vector<uint8_t> b = brzt::observe_fixture_builder(&value).bytes();
    if (b.size() <= sizeof brz_program_binary) {
      std::memcpy(brz_program_binary, b.data(), b.size());
      brz_program_size = static_cast<uint32_t>(b.size());
    }
    brz_observe_0_spec[1] = value;
  }
} init;

template <class T>
void observe_0(const BrzObserveArgs<T>* args) {
  const T* px = args->cols_a[0];
  const T* m = args->cols_a[3];
  double sum = args->out[0], mag = args->out[3];
  for (size_t i = args->i_begin; i < args->i_end; ++i)
    for (size_t j = i + 1; j < args->n_b; ++j) {
      const T v = (px[j] - px[i]) * m[i];
      sum += double(v);
      mag += std::fabs(double(v));
    }
  args->out[0] = sum;
  args->out[3] = mag;
}
}  // namespace

extern "C" BRZ_EXPORT void brz_observe_0_f64(const BrzObserveArgsF64* args) { observe_0(args); }
extern "C" BRZ_EXPORT void brz_observe_0_f32(const BrzObserveArgsF32* args) { observe_0(args); }
