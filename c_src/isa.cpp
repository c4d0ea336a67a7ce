// Runtime ISA selection. Compiled with the baseline flags only.
#include "brz/isa.hpp"

#include <cstring>
#include <xsimd/config/xsimd_cpuid.hpp>

#include "brz/env.hpp"

namespace brz {
namespace {

int cpu_level() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  const auto avail = xsimd::available_architectures();
  __builtin_cpu_init();
  const bool avx2 =
      avail.fma3_avx2 && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  const bool avx512 = avx2 && avail.avx512bw && avail.avx512dq && avail.avx512cd && avail.avx512f &&
                      __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
                      __builtin_cpu_supports("avx512cd") && __builtin_cpu_supports("avx512bw") &&
                      __builtin_cpu_supports("avx512vl");
  return avx512 ? 3 : avx2 ? 2 : 1;
#else
  return 1;
#endif
}

const SweepSet* set_for_level(int level) noexcept {
  switch (level) {
    case 3:
      return &interp_avx512::sweep_set;
    case 2:
      return &interp_avx2::sweep_set;
    default:
      return &interp_sse2::sweep_set;
  }
}

int level_of(const char* name) noexcept {
  if (name == nullptr) return 0;
  if (std::strcmp(name, "sse2") == 0) return 1;
  if (std::strcmp(name, "avx2") == 0) return 2;
  if (std::strcmp(name, "avx512") == 0) return 3;
  return 0;
}

const SweepSet& choose() noexcept {
  int level = cpu_level();
  const int requested = level_of(env::isa());
  if (requested > 0 && requested < level) level = requested;
  return *set_for_level(level);
}

}  // namespace

const SweepSet& active_sweeps() noexcept {
  static const SweepSet& chosen = choose();
  return chosen;
}

const char* isa_name() noexcept { return active_sweeps().name; }

const SweepSet* sweeps_for(const std::string& name) noexcept {
  const int level = level_of(name.c_str());
  if (level == 0 || level > cpu_level()) return nullptr;
  return set_for_level(level);
}

std::vector<std::string> supported_isas() {
  std::vector<std::string> out;
  for (int level = cpu_level(); level >= 1; --level) out.push_back(set_for_level(level)->name);
  return out;
}

}  // namespace brz
