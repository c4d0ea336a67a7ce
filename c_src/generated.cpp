// Generated kernels: loading/validation of the library and the threaded drivers that call them.
// The executor decides per rule whether a generated kernel or the interpreter runs a sweep; it
// keeps accumulator allocation, reduction, delta application and the non-finite check.
#include "brz/generated.hpp"

#include <dlfcn.h>
#include <omp.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "brz/kernels.hpp"

namespace brz {

std::shared_ptr<const KernelLibrary> KernelLibrary::open(const std::string& path,
                                                         const std::string& expected_hash,
                                                         const uint8_t* program, std::size_t size,
                                                         uint32_t n_rules, std::string* error,
                                                         const std::string& isa) {
  std::string scratch;
  std::string& err = error ? *error : scratch;
  err.clear();
  if (path.empty() || path.find('\0') != std::string::npos) {
    err = "invalid kernel library path";
    return nullptr;
  }
  if (expected_hash.empty()) {
    err = "no kernel library hash given";
    return nullptr;
  }
  void* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* why = ::dlerror();
    err = std::string("cannot load kernel library: ") + (why ? why : path.c_str());
    return nullptr;
  }
  std::shared_ptr<KernelLibrary> lib(new KernelLibrary());
  lib->handle_ = handle;  // closed by the destructor, including on every rejection below
  lib->path_ = path;
  lib->hash_ = expected_hash;
  auto sym = [&](const char* name) -> void* {
    ::dlerror();
    return ::dlsym(handle, name);
  };
  const auto* abi = static_cast<const uint32_t*>(sym("brz_abi_version"));
  const auto* hash = static_cast<const char*>(sym("brz_program_hash"));
  const auto* psize = static_cast<const uint32_t*>(sym("brz_program_size"));
  const auto* pbin = static_cast<const unsigned char*>(sym("brz_program_binary"));
  const auto* count = static_cast<const uint32_t*>(sym("brz_rule_count"));
  if (!abi || !hash || !psize || !pbin || !count) {
    err = "kernel library " + path + " lacks the brz_* metadata symbols";
    return nullptr;
  }
  if (*abi != BRZ_GEN_ABI_VERSION) {
    err = "kernel library " + path + " has ABI version " + std::to_string(*abi) + ", expected " +
          std::to_string(BRZ_GEN_ABI_VERSION);
    return nullptr;
  }
  // Bounded compare: stops at the first difference or at the terminator of expected_hash.
  if (std::strncmp(hash, expected_hash.c_str(), expected_hash.size() + 1) != 0) {
    err = "kernel library " + path + " was built for another program (hash mismatch)";
    return nullptr;
  }
  if (*psize != size || (size > 0 && std::memcmp(pbin, program, size) != 0)) {
    err = "kernel library " + path + " was generated from another program binary";
    return nullptr;
  }
  if (*count != n_rules) {
    err = "kernel library " + path + " has " + std::to_string(*count) + " rules, the program " +
          std::to_string(n_rules);
    return nullptr;
  }
  // The ISA variants `isa` allows, widest first; the baseline (no suffix) comes last.
  std::vector<std::string> suffixes;
  if (isa == "avx512") suffixes.push_back("_avx512");
  if (isa == "avx512" || isa == "avx2") suffixes.push_back("_avx2");
  suffixes.push_back("");
  std::size_t widest = suffixes.size() - 1;
  auto pick = [&](const std::string& name) -> void* {
    for (std::size_t v = 0; v < suffixes.size(); ++v)
      if (void* f = sym((name + suffixes[v]).c_str())) {
        widest = std::min(widest, v);
        return f;
      }
    return nullptr;
  };
  lib->rules_.resize(n_rules);
  for (uint32_t k = 0; k < n_rules; ++k) {
    const std::string base = "brz_rule_" + std::to_string(k);
    // A variant without its baseline is not accepted (the baseline must exist).
    void* f64 = sym((base + "_f64").c_str()) ? pick(base + "_f64") : nullptr;
    void* f32 = sym((base + "_f32").c_str()) ? pick(base + "_f32") : nullptr;
    if (f64 == nullptr || f32 == nullptr) {
      err = "kernel library " + path + " lacks the kernels of rule " + std::to_string(k);
      return nullptr;
    }
    lib->rules_[k].f64 = reinterpret_cast<brz_kernel_f64_fn>(f64);
    lib->rules_[k].f32 = reinterpret_cast<brz_kernel_f32_fn>(f32);
    // Optional: a rule without them runs its cell-list sweeps on the interpreter.
    void* b64 = sym((base + "_block_f64").c_str()) ? pick(base + "_block_f64") : nullptr;
    void* b32 = sym((base + "_block_f32").c_str()) ? pick(base + "_block_f32") : nullptr;
    lib->rules_[k].block_f64 = reinterpret_cast<brz_kernel_f64_fn>(b64);
    lib->rules_[k].block_f32 = reinterpret_cast<brz_kernel_f32_fn>(b32);
    void* l64 = sym((base + "_list_f64").c_str()) ? pick(base + "_list_f64") : nullptr;
    void* l32 = sym((base + "_list_f32").c_str()) ? pick(base + "_list_f32") : nullptr;
    lib->rules_[k].list_f64 = reinterpret_cast<brz_list_f64_fn>(l64);
    lib->rules_[k].list_f32 = reinterpret_cast<brz_list_f32_fn>(l32);
  }
  lib->isa_ = suffixes[widest].empty() ? "sse2" : suffixes[widest].substr(1);
  return lib;
}

KernelLibrary::~KernelLibrary() {
  if (handle_ != nullptr) ::dlclose(handle_);
}

bool generated_kernels_enabled_by_env() noexcept {
  static const bool enabled = [] {
    const char* v = std::getenv("BRZ_KERNELS");
    return !(v != nullptr && std::strcmp(v, "0") == 0);
  }();
  return enabled;
}

namespace {
// Agents per call of a per-agent kernel when threaded.
constexpr std::size_t kAgentChunk = 4096;
}  // namespace

template <class T>
bool run_generated_agent(void (*fn)(const BrzKernelArgs<T>*), const BrzKernelArgs<T>& base,
                         int n_threads) {
  const std::size_t n = base.n_a;
  int bad = 0;
  if (n_threads <= 1) {
    BrzKernelArgs<T> a = base;
    a.i_begin = 0;
    a.i_end = n;
    a.nonfinite = &bad;
    fn(&a);
    return bad != 0;
  }
  const long chunks = static_cast<long>((n + kAgentChunk - 1) / kAgentChunk);
#pragma omp parallel for num_threads(n_threads) schedule(static) reduction(| : bad)
  for (long c = 0; c < chunks; ++c) {
    BrzKernelArgs<T> a = base;
    int flag = 0;
    a.i_begin = std::size_t(c) * kAgentChunk;
    a.i_end = std::min(n, a.i_begin + kAgentChunk);
    a.nonfinite = &flag;
    fn(&a);
    bad |= flag;
  }
  return bad != 0;
}

template <class T>
void run_generated_pair(void (*fn)(const BrzKernelArgs<T>*), const BrzKernelArgs<T>& base,
                        int n_threads, T* acc, std::size_t acc_stride, const std::size_t* store_acc,
                        uint32_t n_stores, T** ptrs, const int* cancel) {
  const std::size_t n_a = base.n_a;
  auto thread_args = [&](int tid) {
    BrzKernelArgs<T> a = base;
    T** p = ptrs + std::size_t(tid) * n_stores;
    for (uint32_t s = 0; s < n_stores; ++s)
      p[s] = acc + std::size_t(tid) * acc_stride + store_acc[s];
    a.acc = p;
    return a;
  };
  // Enough pairs per call that the dispatch is negligible, small enough to balance the
  // triangular pair-same sweep and to notice a cancellation within a few milliseconds.
  const std::size_t chunk =
      std::max<std::size_t>(1, std::min<std::size_t>(64, 8192 / (base.n_b + 1)));
  const long chunks = static_cast<long>((n_a + chunk - 1) / chunk);
#pragma omp parallel num_threads(n_threads) if (n_threads > 1)
  {
    BrzKernelArgs<T> a = thread_args(omp_get_thread_num());
#pragma omp for schedule(dynamic, 1)
    for (long c = 0; c < chunks; ++c) {
      if (cancel_requested(cancel)) continue;
      a.i_begin = std::size_t(c) * chunk;
      a.i_end = std::min(n_a, a.i_begin + chunk);
      fn(&a);
    }
  }
}

template bool run_generated_agent<double>(brz_kernel_f64_fn, const BrzKernelArgs<double>&, int);
template bool run_generated_agent<float>(brz_kernel_f32_fn, const BrzKernelArgs<float>&, int);
template void run_generated_pair<double>(brz_kernel_f64_fn, const BrzKernelArgs<double>&, int,
                                         double*, std::size_t, const std::size_t*, uint32_t,
                                         double**, const int*);
template void run_generated_pair<float>(brz_kernel_f32_fn, const BrzKernelArgs<float>&, int, float*,
                                        std::size_t, const std::size_t*, uint32_t, float**,
                                        const int*);

}  // namespace brz
