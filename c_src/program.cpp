// Parser and validator of the program binary (docs/program.md, version 3).
#include "brz/program.hpp"

#include <cmath>
#include <cstring>
#include <string>

namespace brz {

const char* op_name(uint16_t code) noexcept {
  switch (static_cast<Op>(code)) {
#define BRZ_OP(NAME, CODE, N, KIND) \
  case Op::NAME:                    \
    return #NAME;
#include "brz/ops.inc"
#undef BRZ_OP
  }
  return nullptr;
}

int op_reg_operands(Op op) noexcept {
  switch (op) {
#define BRZ_OP(NAME, CODE, N, KIND) \
  case Op::NAME:                    \
    return N;
#include "brz/ops.inc"
#undef BRZ_OP
  }
  return 0;
}

namespace {

class Reader {
 public:
  Reader(const uint8_t* data, std::size_t size) : p_(data), size_(size) {}
  std::size_t remaining() const noexcept { return size_ - pos_; }
  void need(std::size_t n, const char* what) const {
    if (n > remaining())
      throw ArgumentError(std::string("invalid program: truncated binary (reading ") + what +
                          " at byte " + std::to_string(pos_) + ")");
  }
  uint32_t u32(const char* what) {
    need(4, what);
    uint32_t v = uint32_t(p_[pos_]) | uint32_t(p_[pos_ + 1]) << 8 | uint32_t(p_[pos_ + 2]) << 16 |
                 uint32_t(p_[pos_ + 3]) << 24;
    pos_ += 4;
    return v;
  }
  uint16_t u16(const char* what) {
    need(2, what);
    uint16_t v = static_cast<uint16_t>(p_[pos_] | p_[pos_ + 1] << 8);
    pos_ += 2;
    return v;
  }
  double f64(const char* what) {
    need(8, what);
    uint64_t bits = 0;
    for (int k = 7; k >= 0; --k) bits = bits << 8 | p_[pos_ + k];
    pos_ += 8;
    double d;
    std::memcpy(&d, &bits, sizeof d);
    return d;
  }
  std::size_t pos() const noexcept { return pos_; }

 private:
  const uint8_t* p_;
  std::size_t size_;
  std::size_t pos_ = 0;
};

[[noreturn]] void reject(uint32_t rule, const std::string& msg) {
  throw ArgumentError("invalid program: rule " + std::to_string(rule) + ": " + msg);
}

[[noreturn]] void reject_instr(uint32_t rule, uint32_t k, const std::string& msg) {
  throw ArgumentError("invalid program: rule " + std::to_string(rule) + ", instruction " +
                      std::to_string(k) + ": " + msg);
}

constexpr std::size_t kRuleHeaderBytes = 13 * 4;
constexpr std::size_t kInstrBytes = 12;

}  // namespace

Program Program::parse(const uint8_t* data, std::size_t size) {
  if (data == nullptr && size != 0) throw ArgumentError("invalid program: null data");
  Reader r(data, size);
  r.need(4, "magic");
  if (std::memcmp(data, "BRZP", 4) != 0)
    throw ArgumentError("invalid program: bad magic (expected \"BRZP\")");
  r.u32("magic");
  const uint32_t version = r.u32("version");
  if (version != kProgramVersion)
    throw ArgumentError("invalid program: unsupported version " + std::to_string(version) +
                        " (expected " + std::to_string(kProgramVersion) + ")");
  Program prog;
  const uint32_t n_types = r.u32("n_types");
  if (n_types == 0) throw ArgumentError("invalid program: n_types is 0");
  r.need(std::size_t(n_types) * 4, "lanes");
  prog.lanes_.reserve(n_types);
  for (uint32_t t = 0; t < n_types; ++t) {
    const uint32_t l = r.u32("lanes");
    if (l == 0 || l > 65535)
      throw ArgumentError("invalid program: type " + std::to_string(t) + " has " +
                          std::to_string(l) + " lanes (must be 1..65535)");
    prog.lanes_.push_back(l);
  }
  prog.n_params_ = r.u32("n_params");
  if (prog.n_params_ == 0) throw ArgumentError("invalid program: n_params is 0 (dt is param 0)");
  if (prog.n_params_ > kMaxParams)
    throw ArgumentError("invalid program: n_params " + std::to_string(prog.n_params_) +
                        " exceeds 65536");
  prog.periodic_mask_ = r.u32("periodic_mask");
  if (prog.periodic_mask_ > 7)
    throw ArgumentError("invalid program: periodic_mask " + std::to_string(prog.periodic_mask_) +
                        " has bits beyond x, y and z (must be <= 7)");
  r.need(std::size_t(n_types) * 4, "coord_lane");
  prog.coord_lane_.reserve(n_types);
  for (uint32_t t = 0; t < n_types; ++t) {
    const uint32_t c = r.u32("coord_lane");
    if (c != kNoCoord && uint64_t(c) + 3 > prog.lanes_[t])
      throw ArgumentError("invalid program: coord_lane " + std::to_string(c) + " of type " +
                          std::to_string(t) + " out of range (the type has " +
                          std::to_string(prog.lanes_[t]) + " lanes)");
    prog.coord_lane_.push_back(c);
  }
  prog.refs_.resize(n_types);
  for (uint32_t t = 0; t < n_types; ++t) {
    const uint32_t n = r.u32("n_references");
    if (n > prog.lanes_[t])
      throw ArgumentError("invalid program: type " + std::to_string(t) + " has " +
                          std::to_string(n) + " references but " + std::to_string(prog.lanes_[t]) +
                          " lanes");
    for (uint32_t k = 0; k < n; ++k) {
      const RefSlot ref{r.u32("reference lane"), r.u32("reference type")};
      if (ref.lane >= prog.lanes_[t] || ref.type >= n_types)
        throw ArgumentError("invalid program: reference " + std::to_string(k) + " of type " +
                            std::to_string(t) + " out of range");
      for (const RefSlot& o : prog.refs_[t])
        if (o.lane == ref.lane)
          throw ArgumentError("invalid program: lane " + std::to_string(ref.lane) + " of type " +
                              std::to_string(t) + " is a reference twice");
      prog.refs_[t].push_back(ref);
    }
  }
  const uint32_t n_rules = r.u32("n_rules");
  r.need(std::size_t(n_rules) * kRuleHeaderBytes, "rules");
  prog.rules_.reserve(n_rules);

  for (uint32_t ri = 0; ri < n_rules; ++ri) {
    Rule rule;
    const uint32_t kind = r.u32("rule kind");
    if (kind > 3) reject(ri, "unknown kind " + std::to_string(kind) + " (must be 0 .. 3)");
    rule.kind = static_cast<RuleKind>(kind);
    rule.type_a = r.u32("type_a");
    rule.type_b = r.u32("type_b");
    if (rule.type_a >= n_types)
      reject(ri, "type_a " + std::to_string(rule.type_a) + " out of range (n_types " +
                     std::to_string(n_types) + ")");
    if (rule.kind == RuleKind::PerAgent || rule.kind == RuleKind::Bonded) {
      if (rule.type_b != kNoType)
        reject(ri, "per-agent and bonded rules must have type_b = 0xFFFFFFFF");
    } else {
      if (rule.type_b >= n_types)
        reject(ri, "type_b " + std::to_string(rule.type_b) + " out of range (n_types " +
                       std::to_string(n_types) + ")");
      if (rule.kind == RuleKind::PairSame && rule.type_a != rule.type_b)
        reject(ri, "pair-same rule (kind 1) must have type_a == type_b");
      if (rule.kind == RuleKind::PairCross && rule.type_a == rule.type_b)
        reject(ri, "pair-cross rule (kind 2) must have type_a != type_b");
    }
    const uint32_t n_consts = r.u32("n_consts");
    rule.n_regs = r.u32("n_regs");
    if (rule.n_regs > 65535) reject(ri, "n_regs " + std::to_string(rule.n_regs) + " exceeds 65535");
    const uint32_t n_instrs = r.u32("n_instrs");
    const uint32_t cflag = r.u32("cutoff_flag");
    rule.cutoff_lane_a = r.u32("cutoff_lane_a");
    rule.cutoff_lane_b = r.u32("cutoff_lane_b");
    rule.cutoff_reg = r.u32("cutoff_reg");
    if (cflag > 1) reject(ri, "cutoff_flag must be 0 or 1");
    rule.has_cutoff = cflag == 1;
    if (!rule.has_cutoff) {
      if (rule.cutoff_lane_a != 0 || rule.cutoff_lane_b != 0 || rule.cutoff_reg != 0)
        reject(ri, "cutoff fields must be 0 when cutoff_flag is 0");
    } else {
      if (!rule.is_pair()) reject(ri, "cutoff on a rule that is not a pair rule");
      if (uint64_t(rule.cutoff_lane_a) + 3 > prog.lanes_[rule.type_a])
        reject(ri, "cutoff_lane_a " + std::to_string(rule.cutoff_lane_a) + " out of range");
      if (uint64_t(rule.cutoff_lane_b) + 3 > prog.lanes_[rule.type_b])
        reject(ri, "cutoff_lane_b " + std::to_string(rule.cutoff_lane_b) + " out of range");
      if (rule.cutoff_reg >= rule.n_regs)
        reject(ri, "cutoff_reg " + std::to_string(rule.cutoff_reg) + " out of range");
    }
    const uint32_t n_refs = r.u32("n_refs");
    if (n_refs > 0 && rule.kind != RuleKind::Bonded)
      reject(ri, "references on a rule that is not bonded");
    if (rule.kind == RuleKind::Bonded && n_refs == 0)
      reject(ri, "a bonded rule without references");
    if (n_refs > 65534) reject(ri, "more than 65534 references");
    r.need(std::size_t(n_refs) * 8, "refs");
    for (uint32_t k = 0; k < n_refs; ++k) {
      RefSlot ref{r.u32("ref lane"), r.u32("ref type")};
      if (ref.lane >= prog.lanes_[rule.type_a])
        reject(ri, "reference " + std::to_string(k) + ": lane " + std::to_string(ref.lane) +
                       " out of range");
      if (ref.type >= n_types)
        reject(ri, "reference " + std::to_string(k) + ": type " + std::to_string(ref.type) +
                       " out of range");
      bool declared = false;
      for (const RefSlot& o : prog.refs_[rule.type_a])
        declared = declared || (o.lane == ref.lane && o.type == ref.type);
      if (!declared)
        reject(ri, "reference " + std::to_string(k) + ": lane " + std::to_string(ref.lane) +
                       " is not a reference of type " + std::to_string(rule.type_a) + " to type " +
                       std::to_string(ref.type));
      rule.refs.push_back(ref);
    }
    rule.exclude.type = r.u32("exclude type");
    const uint32_t n_exclude = r.u32("exclude lanes");
    if (rule.exclude.type == kNoType) {
      if (n_exclude != 0) reject(ri, "exclusion lanes without an exclusion type");
    } else {
      if (rule.kind != RuleKind::PairSame) reject(ri, "exclusions on a rule that is not pair-same");
      if (rule.exclude.type >= n_types) reject(ri, "exclusion type out of range");
      if (n_exclude < 2) reject(ri, "an exclusion needs at least two lanes");
      r.need(std::size_t(n_exclude) * 4, "exclude lanes");
      for (uint32_t k = 0; k < n_exclude; ++k) {
        const uint32_t lane = r.u32("exclude lane");
        if (lane >= prog.lanes_[rule.exclude.type]) reject(ri, "exclusion lane out of range");
        bool declared = false;
        for (const RefSlot& o : prog.refs_[rule.exclude.type])
          declared = declared || (o.lane == lane && o.type == rule.type_a);
        if (!declared)
          reject(ri, "exclusion lane " + std::to_string(lane) + " is not a reference to type " +
                         std::to_string(rule.type_a));
        rule.exclude.lanes.push_back(lane);
      }
    }
    r.need(std::size_t(n_consts) * 8, "consts");
    rule.consts.reserve(n_consts);
    for (uint32_t k = 0; k < n_consts; ++k) {
      const double c = r.f64("const");
      if (!std::isfinite(c)) reject(ri, "constant " + std::to_string(k) + " is not finite");
      rule.consts.push_back(c);
    }
    r.need(std::size_t(n_instrs) * kInstrBytes, "instructions");
    rule.instrs.reserve(n_instrs);
    std::vector<uint8_t> written(rule.n_regs, 0);
    rule.reg_level.assign(rule.n_regs, Level::Uniform);
    const int arity = rule.arity();
    // One flag per (slot, lane) the rule can store to, sized by its types' lanes: a fixed
    // 2 x 65536 table per rule made parsing a many-rule program take seconds.
    // slot_base[s]: the first flag of slot s.
    std::vector<std::size_t> slot_base(std::size_t(arity) + 1, 0);
    for (int s = 0; s < arity; ++s)
      slot_base[s + 1] = slot_base[s] + prog.lanes_[rule.slot_type(s)];
    std::vector<uint8_t> stored(slot_base[arity], 0);
    for (uint32_t k = 0; k < n_instrs; ++k) {
      const uint16_t code = r.u16("op");
      Instr in;
      in.dst = r.u16("dst");
      in.a = r.u16("a");
      in.b = r.u16("b");
      in.c = r.u16("c");
      const uint16_t reserved = r.u16("reserved");
      if (op_name(code) == nullptr) reject_instr(ri, k, "unknown opcode " + std::to_string(code));
      in.op = static_cast<Op>(code);
      const std::string name = op_name(code);
      if (reserved != 0) reject_instr(ri, k, name + ": reserved field is non-zero");
      auto check_reg = [&](uint16_t reg, const char* which) {
        if (reg >= rule.n_regs)
          reject_instr(ri, k,
                       name + ": operand " + which + " register " + std::to_string(reg) +
                           " out of range (n_regs " + std::to_string(rule.n_regs) + ")");
        if (!written[reg])
          reject_instr(ri, k,
                       name + ": operand " + which + " reads register " + std::to_string(reg) +
                           " before it is written");
      };
      auto check_zero = [&](uint16_t v, const char* which) {
        if (v != 0) reject_instr(ri, k, name + ": unused operand " + which + " must be 0");
      };
      auto check_slot_lane = [&](uint16_t slot, uint16_t lane) {
        if (slot >= arity)
          reject_instr(ri, k,
                       name + ": slot " + std::to_string(slot) + " out of range (arity " +
                           std::to_string(arity) + ")");
        const uint32_t t = rule.slot_type(slot);
        if (lane >= prog.lanes_[t])
          reject_instr(ri, k,
                       name + ": lane " + std::to_string(lane) + " out of range (type " +
                           std::to_string(t) + " has " + std::to_string(prog.lanes_[t]) +
                           " lanes)");
      };
      Level lvl = Level::Uniform;
      auto lv = [&](uint16_t reg) {
        if (rule.reg_level[reg] > lvl) lvl = rule.reg_level[reg];
      };
      switch (in.op) {
        case Op::CONST:
          if (in.a >= n_consts)
            reject_instr(ri, k,
                         "CONST: index " + std::to_string(in.a) + " out of range (n_consts " +
                             std::to_string(n_consts) + ")");
          check_zero(in.b, "b");
          check_zero(in.c, "c");
          break;
        case Op::PARAM:
          if (in.a >= prog.n_params_)
            reject_instr(ri, k,
                         "PARAM: index " + std::to_string(in.a) + " out of range (n_params " +
                             std::to_string(prog.n_params_) + ")");
          check_zero(in.b, "b");
          check_zero(in.c, "c");
          break;
        case Op::BOX:
          if (in.a > 2 || !prog.periodic_axis(in.a))
            reject_instr(ri, k,
                         "BOX: axis " + std::to_string(in.a) + " is not periodic (periodic_mask " +
                             std::to_string(prog.periodic_mask_) + ")");
          check_zero(in.b, "b");
          check_zero(in.c, "c");
          break;
        case Op::UNIFORM:
        case Op::NORMAL:
          // a is the call site: any u16 fits the 16 bits of the key word it goes to.
          check_zero(in.b, "b");
          check_zero(in.c, "c");
          lvl = Level::Varying;
          rule.has_random = true;
          break;
        case Op::LOAD:
          check_slot_lane(in.a, in.b);
          check_zero(in.c, "c");
          if (rule.kind == RuleKind::PerAgent || rule.kind == RuleKind::Bonded || in.a == 1)
            lvl = Level::Varying;
          else
            lvl = Level::Outer;
          break;
        case Op::STORE:
        case Op::ACC:
        case Op::ACCMAX:
        case Op::ACCMIN: {
          const bool acc = in.op != Op::STORE;
          const uint16_t reduce = in.op == Op::ACCMAX   ? kReduceMax
                                  : in.op == Op::ACCMIN ? kReduceMin
                                                        : kReduceSum;
          if (acc && rule.kind == RuleKind::PerAgent)
            reject_instr(ri, k, name + ": only pair rules accumulate (this rule is per-agent)");
          if (acc && rule.kind == RuleKind::Bonded && in.a == 0)
            reject_instr(ri, k, name + ": a bonded rule stores its own agent's lanes (slot 0)");
          if (in.dst != 0) reject_instr(ri, k, name + ": dst must be 0");
          check_slot_lane(in.a, in.b);
          check_reg(in.c, "c");
          if (rule.kind == RuleKind::Bonded && in.a == 0)
            for (const RefSlot& ref : rule.refs)
              if (ref.lane == in.b)
                reject_instr(ri, k, name + ": a bonded rule cannot change its references");
          uint8_t& s = stored[slot_base[in.a] + in.b];
          if (s)
            reject_instr(ri, k,
                         name + ": second store to slot " + std::to_string(in.a) + " lane " +
                             std::to_string(in.b));
          s = 1;
          // Both slots of a same-type rule share one accumulator per lane: one way to combine.
          if (rule.kind == RuleKind::PairSame)
            for (const StoreRef& o : rule.stores)
              if (o.lane == in.b && o.reduce != reduce)
                reject_instr(ri, k,
                             name + ": lane " + std::to_string(in.b) +
                                 " is reduced differently through the other slot (a same-type "
                                 "rule's two slots share the lane's accumulator)");
          rule.has_reduction = rule.has_reduction || reduce != kReduceSum;
          rule.stores.push_back(StoreRef{in.a, in.b, in.c, uint16_t(acc ? 1 : 0), reduce});
          break;
        }
        case Op::CLAIM:
          if (!rule.is_pair()) reject_instr(ri, k, "CLAIM: only pair rules are exclusive");
          if (rule.exclusive) reject_instr(ri, k, "CLAIM: second CLAIM in the rule");
          if (in.dst != 0) reject_instr(ri, k, "CLAIM: dst must be 0");
          check_reg(in.a, "a");
          check_zero(in.b, "b");
          check_zero(in.c, "c");
          rule.exclusive = true;
          rule.claim_reg = in.a;
          break;
        case Op::REMOVE:
          if (rule.kind == RuleKind::Bonded) reject_instr(ri, k, name + ": in a bonded rule");
          if (in.dst != 0) reject_instr(ri, k, name + ": dst must be 0");
          if (in.a >= arity)
            reject_instr(ri, k,
                         name + ": slot " + std::to_string(in.a) + " out of range (arity " +
                             std::to_string(arity) + ")");
          check_zero(in.b, "b");
          check_reg(in.c, "c");
          rule.removes.push_back(RemoveRef{in.a, in.c});
          break;
        case Op::SPAWN:
          if (rule.kind == RuleKind::Bonded) reject_instr(ri, k, name + ": in a bonded rule");
          if (in.dst != 0) reject_instr(ri, k, name + ": dst must be 0");
          if (in.a >= n_types)
            reject_instr(ri, k,
                         name + ": type " + std::to_string(in.a) + " out of range (n_types " +
                             std::to_string(n_types) + ")");
          // Sites are numbered 0, 1, ... in program order: they order the children.
          if (in.b != rule.spawns.size())
            reject_instr(ri, k,
                         name + ": site " + std::to_string(in.b) + " out of order (expected " +
                             std::to_string(rule.spawns.size()) + ")");
          check_reg(in.c, "c");
          rule.spawns.push_back(SpawnRef{in.a, in.b, in.c, {}});
          break;
        case Op::SPAWNLANE: {
          if (in.dst != 0) reject_instr(ri, k, name + ": dst must be 0");
          if (in.a >= rule.spawns.size())
            reject_instr(ri, k,
                         name + ": site " + std::to_string(in.a) + " has no SPAWN before it");
          SpawnRef& sp = rule.spawns[in.a];
          if (in.b >= prog.lanes_[sp.type])
            reject_instr(ri, k,
                         name + ": lane " + std::to_string(in.b) + " out of range (type " +
                             std::to_string(sp.type) + " has " +
                             std::to_string(prog.lanes_[sp.type]) + " lanes)");
          for (const auto& l : sp.lanes)
            if (l.first == in.b)
              reject_instr(ri, k, name + ": lane " + std::to_string(in.b) + " given twice");
          check_reg(in.c, "c");
          sp.lanes.emplace_back(in.b, in.c);
          break;
        }
        default: {
          const int n = op_reg_operands(in.op);
          check_reg(in.a, "a");
          lv(in.a);
          if (n >= 2) {
            check_reg(in.b, "b");
            lv(in.b);
          } else {
            check_zero(in.b, "b");
          }
          if (n >= 3) {
            check_reg(in.c, "c");
            lv(in.c);
          } else {
            check_zero(in.c, "c");
          }
        }
      }
      if (writes_register(in.op)) {
        if (in.dst >= rule.n_regs)
          reject_instr(ri, k,
                       name + ": dst register " + std::to_string(in.dst) +
                           " out of range (n_regs " + std::to_string(rule.n_regs) + ")");
        if (written[in.dst])
          reject_instr(ri, k, name + ": dst register " + std::to_string(in.dst) + " written twice");
        written[in.dst] = 1;
        rule.reg_level[in.dst] = lvl;
        switch (lvl) {
          case Level::Uniform:
            rule.uniform_ops.push_back(in);
            break;
          case Level::Outer:
            rule.outer_ops.push_back(in);
            break;
          case Level::Varying:
            rule.varying_ops.push_back(in);
            break;
        }
      }
      rule.instrs.push_back(in);
    }
    if (rule.exclusive && rule.exclude.type != kNoType)
      reject(ri, "an exclusive rule cannot have exclusions");
    if (rule.has_cutoff && !written[rule.cutoff_reg])
      reject(ri, "cutoff_reg " + std::to_string(rule.cutoff_reg) + " is never written");
    prog.rules_.push_back(std::move(rule));
  }
  if (r.remaining() != 0)
    throw ArgumentError("invalid program: " + std::to_string(r.remaining()) +
                        " trailing bytes after the last rule");
  if (n_rules > kMaxRandomRules)
    for (uint32_t ri = 0; ri < n_rules; ++ri)
      if (prog.rules_[ri].has_random)
        reject(ri, "UNIFORM or NORMAL in a program of " + std::to_string(n_rules) +
                       " rules (at most " + std::to_string(kMaxRandomRules) +
                       " with random numbers)");
  return prog;
}

}  // namespace brz
