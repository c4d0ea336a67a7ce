// The program: parsed and validated form of the binary described in docs/program.md.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

#include "brz/error.hpp"

namespace brz {

enum class Op : uint16_t {
#define BRZ_OP(NAME, CODE, N, KIND) NAME = CODE,
#include "brz/ops.inc"
#undef BRZ_OP
};

/// Name of an opcode ("ADD"), or nullptr when `code` is not an opcode.
const char* op_name(uint16_t code) noexcept;
/// Number of register operands read by `op` (LOAD/CONST/PARAM/BOX read none, STORE, ACC, ACCMAX
/// and ACCMIN read c).
int op_reg_operands(Op op) noexcept;

/// Whether `op` writes a lane (STORE, ACC, ACCMAX, ACCMIN) rather than a register.
constexpr bool writes_lane(Op op) noexcept {
  return op == Op::STORE || op == Op::ACC || op == Op::ACCMAX || op == Op::ACCMIN;
}

/// Whether `op` removes or spawns agents (REMOVE, SPAWN, SPAWNLANE): it writes no register.
constexpr bool is_lifecycle(Op op) noexcept {
  return op == Op::REMOVE || op == Op::SPAWN || op == Op::SPAWNLANE;
}

/// Whether `op` writes its dst register: every op but the lane writes, the lifecycle ops and
/// CLAIM.
constexpr bool writes_register(Op op) noexcept {
  return !writes_lane(op) && !is_lifecycle(op) && op != Op::CLAIM;
}

enum class RuleKind : uint32_t { PerAgent = 0, PairSame = 1, PairCross = 2, Bonded = 3 };

constexpr uint32_t kNoType = 0xFFFFFFFFu;
constexpr uint32_t kProgramVersion = 3;
constexpr uint32_t kNoCoord = 0xFFFFFFFFu;  // coord_lane of a type without coordinates
constexpr uint32_t kMaxParams = 65536;      // PARAM operands are u16
/// A program with a UNIFORM or NORMAL has at most this many rules: the rule index fills the
/// upper 16 bits of the Philox key word (docs/program.md, "Random numbers").
constexpr uint32_t kMaxRandomRules = 65536;

struct Instr {
  Op op;
  uint16_t dst, a, b, c;
};

/// Evaluation level of an instruction, computed at parse time:
/// Uniform: depends only on constants, params and box edges (computed once per sweep);
/// Outer: depends on slot 0 of a pair rule (computed once per i);
/// Varying: depends on the agent of a per-agent rule or on slot 1 of a pair rule (UNIFORM and
/// NORMAL are varying: their counter holds the identities of every agent of the rule).
enum class Level : uint8_t { Uniform = 0, Outer = 1, Varying = 2 };

/// How a pair rule's accumulator of a lane combines what the pairs give it (StoreRef::reduce).
enum Reduce : uint16_t {
  kReduceSum = 0,  // STORE and ACC: deltas are added; starts at -0.0
  kReduceMax = 1,  // ACCMAX: the largest value; starts at -inf
  kReduceMin = 2,  // ACCMIN: the smallest value; starts at +inf
};

/// A STORE, ACC, ACCMAX or ACCMIN. What a pair gives the accumulator is `reg - start` for a
/// STORE and `reg` for the others (`accumulate` = 1); `reduce` says how it combines. Per-agent
/// rules have STOREs only.
struct StoreRef {
  uint16_t slot;
  uint16_t lane;
  uint16_t reg;
  uint16_t accumulate;
  uint16_t reduce;
};

/// The value an accumulator of kind `reduce` starts at.
template <class T>
constexpr T reduce_identity(uint16_t reduce) noexcept {
  return reduce == kReduceMax   ? -std::numeric_limits<T>::infinity()
         : reduce == kReduceMin ? std::numeric_limits<T>::infinity()
                                : T(-0.0);
}

/// Combines `v` into the accumulator `acc`. Max and min keep a NaN once one arrives (so that the
/// lane ends non-finite, a NumericalError, whatever the order); which of two equal zeros they keep
/// does not matter, reduce_apply makes the zero +0.0.
template <class T>
inline T reduce_combine(uint16_t reduce, T acc, T v) noexcept {
  if (reduce == kReduceMax) return (acc < v || v != v) ? v : acc;
  if (reduce == kReduceMin) return (v < acc || v != v) ? v : acc;
  return acc + v;
}

/// The lane's value after the rule, from its value before and its accumulator. A max or min
/// reduction's zero is made +0.0 (`acc + 0`), so that the result does not depend on the order in
/// which +0.0 and -0.0 arrived; an untouched accumulator (its identity) leaves the value as it was.
template <class T>
inline T reduce_apply(uint16_t reduce, T value, T acc) noexcept {
  if (reduce == kReduceSum) return value + acc;
  return reduce_combine(reduce, value, acc + T(0));
}

/// A REMOVE: the agent of `slot` is removed where register `reg` is non-zero.
struct RemoveRef {
  uint16_t slot;
  uint16_t reg;
};

/// A SPAWN and its SPAWNLANEs: where register `cond` is non-zero, a child of `type` whose lane
/// lanes[k].first gets register lanes[k].second (lanes not listed are 0).
struct SpawnRef {
  uint32_t type;
  uint16_t site;
  uint16_t cond;
  std::vector<std::pair<uint16_t, uint16_t>> lanes;
};

/// Slot 1 + k of a bonded rule: the agent of `type` whose identity lane `lane` of the rule's
/// own agent (slot 0) holds.
struct RefSlot {
  uint32_t lane;
  uint32_t type;
};

/// A pair rule's exclusions: every two of the `lanes` of each agent of `type` name a pair the
/// rule skips (the lanes hold identities of agents of the rule's type).
struct Exclusion {
  uint32_t type = kNoType;
  std::vector<uint32_t> lanes;
};

struct Rule {
  RuleKind kind;
  uint32_t type_a;
  uint32_t type_b;            // kNoType for per-agent and bonded rules
  std::vector<RefSlot> refs;  // bonded rules: slots 1, 2, ...
  Exclusion exclude;          // pair-same rules: the pairs they skip (type kNoType: none)
  uint32_t n_regs;
  std::vector<double> consts;
  std::vector<Instr> instrs;  // as in the binary, lane writes included
  bool has_cutoff = false;
  uint32_t cutoff_lane_a = 0, cutoff_lane_b = 0, cutoff_reg = 0;

  // Derived at parse time.
  std::vector<Level> reg_level;                            // per register
  std::vector<Instr> uniform_ops, outer_ops, varying_ops;  // register-writing instrs by level
  std::vector<StoreRef> stores;                            // lane writes, program order
  bool has_random = false;                                 // some UNIFORM or NORMAL
  bool has_reduction = false;                              // some ACCMAX or ACCMIN
  // An exclusive pair rule (its CLAIM): each agent takes part in at most one applied pair,
  // chosen among the pairs whose claim_reg is non-zero (brz/exclusive.hpp).
  bool exclusive = false;
  uint16_t claim_reg = 0;
  std::vector<RemoveRef> removes;  // REMOVEs, program order
  std::vector<SpawnRef> spawns;    // SPAWNs by site

  /// Whether the rule removes or spawns agents (it then runs on the interpreter).
  bool has_lifecycle() const noexcept { return !removes.empty() || !spawns.empty(); }
  int arity() const noexcept {
    return kind == RuleKind::PerAgent ? 1
           : kind == RuleKind::Bonded ? 1 + static_cast<int>(refs.size())
                                      : 2;
  }
  uint32_t slot_type(int slot) const noexcept {
    if (slot == 0) return type_a;
    return kind == RuleKind::Bonded ? refs[std::size_t(slot) - 1].type : type_b;
  }
  bool is_pair() const noexcept {
    return kind == RuleKind::PairSame || kind == RuleKind::PairCross;
  }
};

class Program {
 public:
  /// Parses and validates a version-3 program binary. Throws brz::ArgumentError.
  static Program parse(const uint8_t* data, std::size_t size);

  uint32_t n_types() const noexcept { return static_cast<uint32_t>(lanes_.size()); }
  uint32_t lanes(uint32_t type) const { return lanes_.at(type); }
  const std::vector<uint32_t>& all_lanes() const noexcept { return lanes_; }
  uint32_t n_params() const noexcept { return n_params_; }
  /// Periodic axes: bit d set when axis d (0 = x, 1 = y, 2 = z) wraps around the world's box.
  uint32_t periodic_mask() const noexcept { return periodic_mask_; }
  bool periodic() const noexcept { return periodic_mask_ != 0; }
  bool periodic_axis(int d) const noexcept { return (periodic_mask_ >> d & 1u) != 0; }
  /// First lane of the type's vec3 coordinate field, or kNoCoord.
  uint32_t coord_lane(uint32_t type) const { return coord_lane_.at(type); }
  /// The reference lanes of `type` (lane, referenced type): an agent is removed with any agent
  /// it references (docs/program.md, "Bonded rules").
  const std::vector<RefSlot>& references(uint32_t type) const { return refs_.at(type); }
  bool has_references() const noexcept {
    for (const auto& r : refs_)
      if (!r.empty()) return true;
    return false;
  }
  uint32_t n_rules() const noexcept { return static_cast<uint32_t>(rules_.size()); }
  const Rule& rule(uint32_t id) const { return rules_.at(id); }
  const std::vector<Rule>& rules() const noexcept { return rules_; }

 private:
  std::vector<uint32_t> lanes_;
  uint32_t n_params_ = 0;
  uint32_t periodic_mask_ = 0;
  std::vector<uint32_t> coord_lane_;
  std::vector<std::vector<RefSlot>> refs_;
  std::vector<Rule> rules_;
};

}  // namespace brz
