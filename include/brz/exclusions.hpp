// Exclusions of same-type pair rules (docs/engine.md, "Exclusions"): the pairs that the agents
// of another type join through their references (Rule::exclude), which the rule skips. The
// neighbour search drops them from a list once, when it builds it; the all-pairs sweep of such
// a rule asks for each pair.
#pragma once

#include <cstdint>
#include <vector>

#include "brz/program.hpp"
#include "brz/world.hpp"

namespace brz {

/// For every row of a rule's type, the rows it must not be paired with.
class ExcludedPairs {
 public:
  /// The pairs `r.exclude` names in `w` as it is now (rows of r.type_a). Throws ArgumentError
  /// when an exclusion lane does not hold the identity of a living agent of r.type_a.
  template <class T>
  static ExcludedPairs of(const World<T>& w, const Rule& r);

  bool excluded(uint32_t a, uint32_t b) const noexcept {
    for (uint32_t k = start_[a]; k < start_[a + 1]; ++k)
      if (rows_[k] == b) return true;
    return false;
  }
  /// Pairs named (each unordered pair counted once per agent that names it).
  std::size_t size() const noexcept { return rows_.size() / 2; }

 private:
  std::vector<uint32_t> start_;  // rows + 1 offsets into rows_
  std::vector<uint32_t> rows_;
};

/// Where the exclusions of rule `r` come from stood when they were read: a list built then
/// stays right while both types keep their order_epoch (no rows moved, none born or removed).
struct ExclusionStamp {
  uint64_t excluding = UINT64_MAX;  // order_epoch of r.exclude.type
  uint64_t excluded = UINT64_MAX;   // order_epoch of r.type_a

  static ExclusionStamp of(const WorldBase& w, const Rule& r) {
    if (r.exclude.type == kNoType) return {};
    return {w.order_epoch(r.exclude.type), w.order_epoch(r.type_a)};
  }
  bool operator==(const ExclusionStamp& o) const noexcept {
    return excluding == o.excluding && excluded == o.excluded;
  }
};

extern template ExcludedPairs ExcludedPairs::of<double>(const World<double>&, const Rule&);
extern template ExcludedPairs ExcludedPairs::of<float>(const World<float>&, const Rule&);

}  // namespace brz
