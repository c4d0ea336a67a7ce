// The choice of a sweep's path (include/brz/rule_path.hpp).
#include "brz/rule_path.hpp"

#include <algorithm>
#include <string>

#include "brz/env.hpp"
#include "brz/error.hpp"
#include "brz/executor.hpp"

namespace brz {
namespace {

// The generated kernels the world's library provides for one rule in its precision.
struct Provided {
  bool sweep = false;  // per-agent or all-pairs kernel
  bool block = false;  // pair-block kernel
  bool list = false;   // neighbour-list kernel
};

Provided provided(const WorldBase& world, uint32_t rule, const ExecOptions& o) {
  const KernelLibrary* lib = o.generated;
  if (lib == nullptr || !o.use_generated || !env::generated_kernels() ||
      lib->n_rules() != world.program().n_rules())
    return {};
  const RuleKernels* k = lib->rule(rule);
  if (k == nullptr) return {};
  if (world.precision() == Precision::F64)
    return {k->f64 != nullptr, k->block_f64 != nullptr, k->list_f64 != nullptr};
  return {k->f32 != nullptr, k->block_f32 != nullptr, k->list_f32 != nullptr};
}

}  // namespace

RulePath rule_path(const WorldBase& world, uint32_t rule, const ExecOptions& options,
                   const SearchReady& search) {
  if (rule >= world.program().n_rules())
    throw ArgumentError("rule id " + std::to_string(rule) + " out of range");
  const Rule& r = world.program().rule(rule);
  const Provided k = provided(world, rule, options);
  if (r.kind == RuleKind::PerAgent)
    return k.sweep ? RulePath::AgentKernel : RulePath::AgentInterpreter;
  if (r.kind == RuleKind::Bonded)
    return k.sweep ? RulePath::BondedKernel : RulePath::BondedInterpreter;
  if (r.exclusive) return RulePath::ExclusiveInterpreter;
  switch (search.ready) {
    case Neighbours::Grid:
      return k.block ? RulePath::GridBlockKernel : RulePath::GridInterpreter;
    case Neighbours::List: {
      // The neighbour-list kernel adds deltas only: every store must be an ACC.
      const bool all_acc = std::all_of(r.stores.begin(), r.stores.end(), [](const StoreRef& s) {
        return s.accumulate && s.reduce == kReduceSum;
      });
      if (k.list && search.mean_run >= kListKernelMinAcross && all_acc) return RulePath::ListKernel;
      return k.block ? RulePath::ListBlockKernel : RulePath::ListInterpreter;
    }
    case Neighbours::None:
      break;
  }
  return k.sweep ? RulePath::AllPairsKernel : RulePath::AllPairsInterpreter;
}

}  // namespace brz
