// Fused kernels generated from a program at `mix compile` (docs/kernels.md): loading and
// validating the shared library, and running one rule's sweep through a generated kernel.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "brz/generated_abi.hpp"

namespace brz {

/// The generated kernels of one rule (any may be null): the per-agent / all-pairs kernels and,
/// for pair rules, the pair-block kernels of the cell-list sweep (generated_abi.hpp).
struct RuleKernels {
  brz_kernel_f64_fn f64 = nullptr;
  brz_kernel_f32_fn f32 = nullptr;
  brz_kernel_f64_fn block_f64 = nullptr;
  brz_kernel_f32_fn block_f32 = nullptr;
  brz_list_f64_fn list_f64 = nullptr;  // neighbour-list kernels (ACC-only cutoff rules)
  brz_list_f32_fn list_f32 = nullptr;
  // An observables library's kernel of this observable rule, and what it reduces: {width,
  // value register 0, 1, 2, reduce} (generated_abi.hpp).
  brz_observe_f64_fn observe_f64 = nullptr;
  brz_observe_f32_fn observe_f32 = nullptr;
  uint32_t observe_spec[5] = {0, 0, 0, 0, 0};
};

/// What a kernel library was generated from: a system's program (its rules' kernels) or its
/// observables program (observe kernels, docs/kernels.md "Observables").
enum class LibraryKind { Rules, Observables };

/// A loaded, validated kernel library: one entry per rule of the program it was generated from.
/// The dlopen handle lives as long as this object (dlclose in the destructor), so keep it alive
/// as long as any world may call its kernels (the NIF ties it to the program resource).
class KernelLibrary {
 public:
  /// Before loading anything, checks the file `path` (absolute): it and its directory must be
  /// owned by the effective user and not group- or world-writable, it must be a regular file
  /// (a symbolic link is refused) and the SHA-256 of its bytes must be `expected_sha256` (64
  /// lowercase hex digits). Then dlopens (RTLD_NOW | RTLD_LOCAL) the very descriptor whose
  /// bytes were hashed, through /proc/self/fd (refused without /proc), and validates the
  /// library: `brz_abi_version` must equal BRZ_GEN_ABI_VERSION, `brz_program_hash` must equal
  /// `expected_hash`, the embedded program binary must equal `program[0, size)` byte for
  /// byte, `brz_rule_count` must equal `n_rules` and every `brz_rule_<k>_f64` / `_f32` must
  /// exist, except for a rule that removes or spawns agents (it has none: the interpreter runs
  /// it, docs/engine.md "Agent lifecycle"). The pair-block kernels
  /// `brz_rule_<k>_block_f64` / `_block_f32` are optional (the generator emits them for pair
  /// rules): a rule without them runs its cell-list sweeps on the interpreter; so are the
  /// neighbour-list kernels `brz_rule_<k>_list_f64` / `_list_f32`. Of every kernel,
  /// the widest ISA variant not wider than `isa` ("sse2", "avx2" or "avx512", as isa_name()
  /// names the engine's choice; generated_abi.hpp) is used: `<name>_avx512`, `<name>_avx2`,
  /// else the baseline `<name>`. A library of `kind` Observables has no rule kernels; its
  /// `brz_observe_<k>_f64` / `_f32` with `brz_observe_<k>_spec` are optional per rule (a rule
  /// without them is evaluated by the engine's block evaluator). Never throws for a bad library:
  /// returns nullptr and sets
  /// `*error` to the reason (the library is closed again).
  static std::shared_ptr<const KernelLibrary> open(
      const std::string& path, const std::string& expected_hash, const std::string& expected_sha256,
      const uint8_t* program, std::size_t size, uint32_t n_rules, std::string* error,
      const std::string& isa = "sse2", LibraryKind kind = LibraryKind::Rules);

  ~KernelLibrary();
  KernelLibrary(const KernelLibrary&) = delete;
  KernelLibrary& operator=(const KernelLibrary&) = delete;

  uint32_t n_rules() const noexcept { return static_cast<uint32_t>(rules_.size()); }
  /// The kernels of rule `id`, or nullptr when `id` is out of range.
  const RuleKernels* rule(uint32_t id) const noexcept {
    return id < rules_.size() ? &rules_[id] : nullptr;
  }
  const std::string& path() const noexcept { return path_; }
  const std::string& hash() const noexcept { return hash_; }
  /// The widest ISA variant among the kernels in use ("sse2" when only baselines are).
  const std::string& isa() const noexcept { return isa_; }

 private:
  KernelLibrary() = default;
  void* handle_ = nullptr;
  std::string path_, hash_, isa_ = "sse2";
  std::vector<RuleKernels> rules_;
};

/// Runs a per-agent rule through `fn` for agents [0, n_a), on `n_threads` threads. Returns
/// true when some stored value is NaN or infinite (the caller must then run its exact check).
template <class T>
bool run_generated_agent(void (*fn)(const BrzKernelArgs<T>*), const BrzKernelArgs<T>& base,
                         int n_threads);

/// Runs a pair rule through `fn` for every i of slot 0, on `n_threads` threads. Thread t adds
/// into the accumulators at `acc + t * acc_stride + store_acc[s]` (s = store index); `ptrs` is
/// scratch for n_threads * n_stores pointers. Once `cancel` (ExecOptions::cancel) is set, the
/// remaining chunks of rows are skipped.
template <class T>
void run_generated_pair(void (*fn)(const BrzKernelArgs<T>*), const BrzKernelArgs<T>& base,
                        int n_threads, T* acc, std::size_t acc_stride, const std::size_t* store_acc,
                        uint32_t n_stores, T** ptrs, const int* cancel);

}  // namespace brz
