// Runtime instruction-set dispatch of the sweep kernels.
#pragma once

#include <string>
#include <vector>

#include "brz/interpreter.hpp"

namespace brz {

/// Name of the kernel set chosen at load: "avx512", "avx2" or "sse2". Chosen once from
/// xsimd::available_architectures() (confirmed with __builtin_cpu_supports, which also checks
/// that the OS saves the wide registers), capped by the environment variable BROKEN_RECORD_ISA
/// (sse2|avx2|avx512; unknown values are ignored).
const char* isa_name() noexcept;
/// The kernel set chosen at load.
const SweepSet& active_sweeps() noexcept;
/// The kernel set for `name`, or nullptr when unknown or not supported by this CPU.
const SweepSet* sweeps_for(const std::string& name) noexcept;
/// Every kernel set this CPU can run, widest first (always ends with "sse2").
std::vector<std::string> supported_isas();

}  // namespace brz
