// How one sweep of a rule runs (docs/engine.md, "Rule paths"): the one function that decides
// it, rule_path, and the names of its answers. The executor dispatches on the answer and
// nothing else re-derives it.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "brz/world.hpp"

namespace brz {

struct ExecOptions;

/// The ways a sweep of a rule can run, one row X(enumerator, name) each; the enum, its count and
/// its names (the keys of World.info/1's sweep counts) are derived from the rows. Agent*: a
/// per-agent rule; AllPairs*: a pair rule over all pairs; Grid*: a two-type cutoff rule over a
/// grid; List*: a same-type cutoff rule over a neighbour list. *Kernel: the rule's generated
/// kernel (its pair-block kernel for GridBlockKernel and ListBlockKernel, its neighbour-list
/// kernel for ListKernel); *Interpreter: the interpreter. ExclusiveInterpreter: an exclusive pair
/// rule (claims, matching, then the chosen pairs), on the scalar evaluator of brz/exclusive.hpp.
/// Bonded*: a bonded rule (gather through its references, the rule's kernel or the interpreter,
/// scatter).
#define BRZ_RULE_PATHS(X)                          \
  X(AgentKernel, "agent_kernel")                   \
  X(AgentInterpreter, "agent_interpreter")         \
  X(AllPairsKernel, "all_pairs_kernel")            \
  X(AllPairsInterpreter, "all_pairs_interpreter")  \
  X(GridBlockKernel, "grid_block_kernel")          \
  X(GridInterpreter, "grid_interpreter")           \
  X(ListBlockKernel, "list_block_kernel")          \
  X(ListInterpreter, "list_interpreter")           \
  X(ListKernel, "list_kernel")                     \
  X(ExclusiveInterpreter, "exclusive_interpreter") \
  X(BondedKernel, "bonded_kernel")                 \
  X(BondedInterpreter, "bonded_interpreter")

enum class RulePath : uint8_t {
#define BRZ_RULE_PATH_ENUM(id, name) id,
  BRZ_RULE_PATHS(BRZ_RULE_PATH_ENUM)
#undef BRZ_RULE_PATH_ENUM
};

/// Name of each path, indexed by RulePath.
constexpr std::array kRulePathNames = {
#define BRZ_RULE_PATH_NAME(id, name) name,
    BRZ_RULE_PATHS(BRZ_RULE_PATH_NAME)
#undef BRZ_RULE_PATH_NAME
};

constexpr std::size_t kRulePaths = kRulePathNames.size();

/// A neighbour-list kernel (generated_abi.hpp) evaluates a list row by row, vectorised over
/// the pairs of one row, when its slot-0 rows have at least kListKernelMinRun pairs on
/// average; on shorter runs (a WCA core: about three) it evaluates vectors of pairs that span
/// rows and adds them pair by pair (BrzListArgs::across). Under kListKernelMinAcross (sparse
/// systems such as the collision benchmark: under two) the pair-block path runs the list
/// instead: the kernel leaves every row of its window to the reduction, while the block path
/// drops the pairs that change nothing and touches only the rows of the rest
/// (docs/engine.md, "Neighbour-list kernels").
constexpr double kListKernelMinRun = 8;
constexpr double kListKernelMinAcross = 2;

/// The neighbour structure the neighbour search has ready for one sweep of a pair rule.
enum class Neighbours : uint8_t {
  None,  // none: the sweep visits all pairs
  Grid,  // agents binned into a grid (rules over two types)
  List,  // a neighbour list (same-type rules)
};

/// What the neighbour search found for one sweep (NeighbourSearch<T>::prepare).
struct SearchReady {
  Neighbours ready = Neighbours::None;
  double mean_run = 0;  // List: listed pairs per slot-0 row that has any
};

/// The path of one sweep of rule `rule` of `world`'s program under `options`, given what the
/// neighbour search has ready for it (nothing for per-agent rules and before a search). It goes
/// by the kernels the world's loaded library provides for the rule in the world's precision,
/// when generated kernels are in use (present, built for this program, allowed by the options
/// and not disabled by BROKEN_RECORD_GENERATED_KERNELS=0); the interpreter runs the rest.
/// Throws ArgumentError for a rule id out of range.
RulePath rule_path(const WorldBase& world, uint32_t rule, const ExecOptions& options,
                   const SearchReady& search = {});

/// Whether `path` runs generated code.
constexpr bool runs_generated(RulePath path) noexcept {
  return path == RulePath::AgentKernel || path == RulePath::AllPairsKernel ||
         path == RulePath::GridBlockKernel || path == RulePath::ListBlockKernel ||
         path == RulePath::ListKernel || path == RulePath::BondedKernel;
}

}  // namespace brz
