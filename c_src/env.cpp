// The engine's environment variables (include/brz/env.hpp).
#include "brz/env.hpp"

#include <cstdlib>
#include <cstring>

#include "brz/executor.hpp"

namespace brz::env {
namespace {

// Whether variable `name` is set to "0" (the switches are on unless turned off).
bool is_zero(const char* name) noexcept {
  const char* v = std::getenv(name);
  return v != nullptr && std::strcmp(v, "0") == 0;
}

}  // namespace

const char* isa() noexcept {
  static const char* const value = std::getenv("BROKEN_RECORD_ISA");
  return value;
}

bool neighbour_search() noexcept {
  static const bool enabled = !is_zero("BROKEN_RECORD_NEIGHBOURS");
  return enabled;
}

bool generated_kernels() noexcept {
  static const bool enabled = !is_zero("BROKEN_RECORD_GENERATED_KERNELS");
  return enabled;
}

int worker_nice() noexcept {
  static const int level = [] {
    const char* v = std::getenv("BROKEN_RECORD_WORKER_NICE");
    if (v == nullptr || *v == '\0' || std::strcmp(v, "idle") == 0) return kWorkerIdle;
    char* end = nullptr;
    const long n = std::strtol(v, &end, 10);
    return *end == '\0' && n >= 0 && n <= 19 ? int(n) : kWorkerIdle;
  }();
  return level;
}

}  // namespace brz::env
