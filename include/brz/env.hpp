// The environment variables the engine reads, one function each. Each is read once, at first
// use, and carries the BROKEN_RECORD_ prefix of the Elixir side's variables (docs/engine.md,
// "Environment").
#pragma once

namespace brz::env {

/// BROKEN_RECORD_ISA: "sse2", "avx2" or "avx512" caps the instruction set chosen at load;
/// nullptr when unset (other values are ignored by the caller).
const char* isa() noexcept;

/// BROKEN_RECORD_NEIGHBOURS: false when it is "0" (ExecOptions::neighbour_search then defaults
/// to false: every pair rule sweeps all pairs).
bool neighbour_search() noexcept;

/// BROKEN_RECORD_GENERATED_KERNELS: false when it is "0" (generated kernels are then never
/// used at run time and every rule runs on the interpreter).
bool generated_kernels() noexcept;

/// BROKEN_RECORD_WORKER_NICE as an ExecOptions::worker_nice value: "idle", empty or unset (or
/// anything else not understood) is kWorkerIdle, "0".."19" that nice value.
int worker_nice() noexcept;

}  // namespace brz::env
