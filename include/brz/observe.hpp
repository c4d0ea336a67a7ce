// Observables (docs/engine.md, "Observables"): rules of a separate program whose value registers
// are reduced over the agents of one type (per-agent rules) or over the unordered pairs / the
// combinations of two types (pair rules), without changing the world. Pure C++: no erl_nif.
#pragma once

#include <cstdint>
#include <vector>

#include "brz/generated.hpp"
#include "brz/program.hpp"
#include "brz/world.hpp"

namespace brz {

/// How the values of one observable combine. A mean is a sum that the caller divides by the
/// count.
enum class ObserveReduce : uint32_t { Sum = 0, Min = 1, Max = 2 };

/// One observable: rule `rule` of the observables program, whose value is register regs[0]
/// (a float) or regs[0..2] (a vec3, reduced per component).
struct ObserveSpec {
  uint32_t rule = 0;
  uint32_t width = 1;
  uint16_t regs[3] = {0, 0, 0};
  ObserveReduce reduce = ObserveReduce::Sum;
};

/// How an observable is evaluated (docs/engine.md, "Observables"): per agent, per bond, over
/// all pairs or neighbouring cells by the block evaluator, or by a generated kernel.
enum class ObservePath : uint32_t { Agents, Bonded, AllPairs, Cells, Kernel };

/// The reduced value of one observable, in f64 whatever the world's precision.
struct ObserveResult {
  double value[3] = {0, 0, 0};
  double magnitude = 0;  // sum of |value| (a vec3's norm) over what was evaluated
  uint64_t count = 0;    // agents, or pairs evaluated (a cutoff sum skips far pairs)
  bool finite = true;    // false when some value was NaN or infinite
  ObservePath path = ObservePath::Agents;
};

/// Rows of slot 0 (cells, for a same-type pair observable with a cutoff) per chunk: every chunk
/// reduces into its own partial result, and the partial results combine in chunk order, so a
/// sum does not depend on the number of threads.
constexpr std::size_t kObserveChunk = 256;

/// Evaluates `specs` over `world`. `observables` must have the world program's agent types
/// (lanes per type) and periodic axes; its rules may not write lanes, remove, spawn, claim or
/// draw random numbers. Pair rules with a cutoff visit neighbouring cells only (their far pairs
/// add zero). A pair observable over all pairs, without exclusions, runs its generated kernel
/// when `kernels` (the library generated from `observables`, LibraryKind::Observables) has one
/// for exactly that spec and, for a same-type rule, the rows are in caller order. Runs on up to
/// `max_threads` threads (0: omp_get_max_threads()). Throws ArgumentError for an invalid
/// program or spec.
std::vector<ObserveResult> observe(const WorldBase& world, const Program& observables,
                                   const std::vector<ObserveSpec>& specs, int max_threads,
                                   const KernelLibrary* kernels = nullptr);

/// The path observe() would take for each spec, without evaluating anything.
std::vector<ObservePath> observe_paths(const WorldBase& world, const Program& observables,
                                       const std::vector<ObserveSpec>& specs,
                                       const KernelLibrary* kernels = nullptr);

/// "agents", "bonded", "all_pairs", "cells" or "kernel".
const char* observe_path_name(ObservePath path) noexcept;

}  // namespace brz
