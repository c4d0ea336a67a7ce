// Internal interface between the executor (baseline code) and the per-ISA sweep kernels
// (c_src/kernels.cpp, compiled once per instruction set). Only plain data crosses it: raw
// pointers and sizes, so no std:: code is instantiated inside the per-ISA translation units.
#pragma once

#include <cstddef>
#include <cstdint>

#include "brz/program.hpp"

namespace brz {

/// Bytes of one register block of the interpreter: 256 f64 or 512 f32 lanes (a multiple of
/// every batch width).
constexpr std::size_t kBlockBytes = 2048;
template <class T>
constexpr std::size_t block_lanes() noexcept {
  return kBlockBytes / sizeof(T);
}

/// Everything one sweep of one rule needs. Built by the executor.
template <class T>
struct SweepArgs {
  RuleKind kind;
  uint32_t n_regs;
  const uint8_t* reg_level;  // Level per register
  const Instr* uniform_ops;
  uint32_t n_uniform;
  const Instr* outer_ops;
  uint32_t n_outer;
  const Instr* varying_ops;
  uint32_t n_varying;
  const StoreRef* stores;
  uint32_t n_stores;
  const std::size_t* store_acc;  // pair rules: offset of each store's accumulator in a thread block
  const T* consts;
  const T* params;
  T* const* cols_a;        // one column per lane of type_a (written directly by per-agent rules)
  const T* const* cols_b;  // pair rules: one column per lane of type_b
  std::size_t n_a, n_b;
  int n_threads;  // 1 = serial
  T* scratch;     // n_threads * scratch_stride elements, 64-byte aligned blocks
  std::size_t scratch_stride;
  const T** ptrs;  // n_threads * n_regs register pointers
  T* acc;          // pair rules: n_threads * acc_stride accumulators (set to -0.0)
  std::size_t acc_stride;
};

/// Elements of scratch one thread needs for a rule.
template <class T>
constexpr std::size_t scratch_elems(uint32_t n_regs, uint32_t n_stores) noexcept {
  return (std::size_t(n_regs) + n_stores + 2) * block_lanes<T>();
}

struct KernelSet {
  const char* name;  // "sse2", "avx2", "avx512"
  std::size_t width_f64, width_f32;
  void (*sweep_f64)(const SweepArgs<double>&);
  void (*sweep_f32)(const SweepArgs<float>&);
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

}  // namespace brz
