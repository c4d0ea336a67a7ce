// Exclusive pair rules (docs/engine.md, "Exclusive pair rules"): every pair whose CLAIM register
// is non-zero is a candidate; a greedy matching in (priority, identities) order picks disjoint
// pairs; only those are applied. The priority is a Philox draw keyed on the rule and the two
// agents' identities, so the choice depends neither on threads nor on storage order.
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "brz/interpreter.hpp"
#include "brz/philox.hpp"
#include "brz/program.hpp"

namespace brz {

/// The call site whose Philox words rank an exclusive rule's pairs: the last one, which the
/// front end never gives an exclusive rule's UNIFORM or NORMAL.
constexpr uint16_t kClaimSite = 0xFFFF;

/// A pair whose claim holds: its priority, its counter words (the identities, ordered as a
/// UNIFORM's: (min, max) in a same-type rule, else (slot 0's, slot 1's)) and its rows.
struct ClaimCandidate {
  uint64_t priority;
  uint32_t id0, id1;
  uint32_t row_a, row_b;
};

/// The priority of the pair with counter words (id0, id1) of the rule whose key word is
/// `rule_bits` (its index << 16) in step `step`: (w0 << 32) | w1 of
/// philox4x32_10({id0, id1, step mod 2^32, step div 2^32}, {seed, rule_bits | kClaimSite}).
inline uint64_t claim_priority(uint32_t seed, uint32_t rule_bits, uint64_t step, uint32_t id0,
                               uint32_t id1) noexcept {
  const Philox4x32 w = philox4x32_10(
      Philox4x32{id0, id1, static_cast<uint32_t>(step), static_cast<uint32_t>(step >> 32)},
      PhiloxKey{seed, rule_bits | kClaimSite});
  return (static_cast<uint64_t>(w.x0) << 32) | w.x1;
}

/// The greedy matching: the candidates in ascending (priority, id0, id1) order, each kept when
/// neither of its agents is in a pair kept before. Rows index `n_a` agents of slot 0's type and
/// `n_b` of slot 1's; in a same-type rule (`same`) both index the one type (n_b is ignored).
/// Returns the kept pairs in that order. Throws ArgumentError for a row out of range.
std::vector<ClaimCandidate> greedy_matching(std::vector<ClaimCandidate> candidates, std::size_t n_a,
                                            std::size_t n_b, bool same);

/// What the chosen pairs of an exclusive rule that removes or spawns leave: removal flags by
/// row of slot 0's type and of slot 1's (empty: none; a same-type rule uses dead_a only), and
/// the children, each with its pair's identities (slot 0's, slot 1's) and its call site, in
/// the order the pairs were applied (the executor sorts them).
struct ExclusiveLife {
  struct Child {
    uint32_t id_a, id_b;
    uint16_t site;
    uint32_t type;
    std::vector<std::pair<uint16_t, double>> lanes;  // (lane, value); lanes not listed are 0
  };
  std::vector<uint8_t> dead_a, dead_b;
  std::vector<Child> children;
};

/// One sweep of an exclusive pair rule. The columns are the world's (rows of a same-type rule
/// in the caller's order, so that slot 0 is the lower agent index as in every pair sweep); the
/// chosen pairs' stores are applied to them directly: each agent is in at most one chosen pair,
/// so every accumulator receives at most one value.
template <class T>
struct ExclusiveArgs {
  const Rule* rule = nullptr;
  T* const* cols_a = nullptr;  // one column per lane of type_a
  T* const* cols_b = nullptr;  // one column per lane of type_b (cols_a in a same-type rule)
  std::size_t n_a = 0, n_b = 0;
  const T* consts = nullptr;
  const T* params = nullptr;  // n_params values, then the box edges (BOX)
  uint32_t n_params = 0;
  RandomArgs random;  // the rule's key and step; ids_a / ids_b: the identities of the rows
  const int* cancel = nullptr;  // polled per slot-0 row of the claim phase
  int n_threads = 1;            // threads of the claim phase
  /// A bound of the rule's cutoff over all pairs (0: none): the claim phase then visits only
  /// the pairs of neighbouring cells of at least this edge, on the cutoff's position lanes.
  /// Every write of a cutoff rule sits inside its distance guard, so a pair farther apart
  /// never claims.
  double reach = 0;
  double len[3] = {0, 0, 0};  // box edge per periodic axis (0: open)
  /// Where the chosen pairs' removals and children go (null: the rule has none).
  ExclusiveLife* life = nullptr;
};

/// Runs the claim phase (across slot-0 rows on `n_threads` threads), the matching and the
/// chosen pairs (on the calling thread), with the scalar evaluator (each op as the interpreter
/// defines it; f64 transcendentals are libm's, as the interpreter's, f32 ones libm's too, where the
/// vectorised interpreter uses xsimd). Returns the pair evaluations done (every candidate pair,
/// plus the chosen ones again); when `cancel` is set during the claim phase it returns early and
/// applies nothing.
template <class T>
uint64_t run_exclusive(const ExclusiveArgs<T>& args);

extern template uint64_t run_exclusive<double>(const ExclusiveArgs<double>&);
extern template uint64_t run_exclusive<float>(const ExclusiveArgs<float>&);

}  // namespace brz
