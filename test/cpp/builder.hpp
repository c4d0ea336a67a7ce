// Test helpers: a tiny program builder (emits the version-3 binary of docs/program.md) and a
// naive scalar reference interpreter written straight from the spec.
#pragma once

#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "brz/executor.hpp"
#include "brz/isa.hpp"
#include "brz/program.hpp"
#include "brz/world.hpp"

namespace brzt {

using brz::Op;

struct RuleBuilder {
  uint32_t kind = 0, type_a = 0, type_b = brz::kNoType;
  std::vector<double> consts;
  std::vector<std::array<uint16_t, 6>> instrs;
  uint32_t n_regs_override = UINT32_MAX;
  uint32_t cflag = 0, clane_a = 0, clane_b = 0, creg = 0;
  std::vector<std::pair<uint32_t, uint32_t>> refs;  // bonded rules: (lane, type) per slot 1..
  uint32_t exclude_type = brz::kNoType;
  std::vector<uint32_t> exclude_lanes;
  uint16_t next = 0;

  void raw(uint16_t op, uint16_t dst, uint16_t a, uint16_t b, uint16_t c, uint16_t res = 0) {
    instrs.push_back({op, dst, a, b, c, res});
  }
  uint16_t emit(Op op, uint16_t a, uint16_t b = 0, uint16_t c = 0) {
    raw(static_cast<uint16_t>(op), next, a, b, c);
    return next++;
  }
  uint16_t cnst(double v) {
    consts.push_back(v);
    return emit(Op::CONST, static_cast<uint16_t>(consts.size() - 1));
  }
  uint16_t param(uint16_t k) { return emit(Op::PARAM, k); }
  uint16_t box(uint16_t axis) { return emit(Op::BOX, axis); }
  uint16_t load(uint16_t slot, uint16_t lane) { return emit(Op::LOAD, slot, lane); }
  uint16_t op(Op o, uint16_t a, uint16_t b = 0, uint16_t c = 0) { return emit(o, a, b, c); }
  void store(uint16_t slot, uint16_t lane, uint16_t reg) {
    raw(static_cast<uint16_t>(Op::STORE), 0, slot, lane, reg);
  }
  void acc(uint16_t slot, uint16_t lane, uint16_t reg) {
    raw(static_cast<uint16_t>(Op::ACC), 0, slot, lane, reg);
  }
  void accmax(uint16_t slot, uint16_t lane, uint16_t reg) {
    raw(static_cast<uint16_t>(Op::ACCMAX), 0, slot, lane, reg);
  }
  void accmin(uint16_t slot, uint16_t lane, uint16_t reg) {
    raw(static_cast<uint16_t>(Op::ACCMIN), 0, slot, lane, reg);
  }
  uint32_t n_regs() const { return n_regs_override != UINT32_MAX ? n_regs_override : next; }
};

struct ProgramBuilder {
  std::vector<uint32_t> lanes;
  uint32_t n_params = 1;
  uint32_t periodic_mask = 0;
  std::vector<uint32_t> coord_lane;  // per type; missing entries are brz::kNoCoord
  // Per type, its reference lanes (lane, referenced type). When empty, those the bonded rules
  // and exclusions use.
  std::vector<std::vector<std::pair<uint32_t, uint32_t>>> references;
  std::vector<RuleBuilder> rules;

  RuleBuilder& per_agent(uint32_t type) {
    rules.push_back(RuleBuilder{});
    rules.back().kind = 0;
    rules.back().type_a = type;
    return rules.back();
  }
  // A bonded rule over `type` whose slot 1 + k is the agent of refs[k].second named by lane
  // refs[k].first.
  RuleBuilder& bonded(uint32_t type, std::vector<std::pair<uint32_t, uint32_t>> refs) {
    rules.push_back(RuleBuilder{});
    rules.back().kind = 3;
    rules.back().type_a = type;
    rules.back().refs = std::move(refs);
    return rules.back();
  }
  RuleBuilder& pair(uint32_t ta, uint32_t tb) {
    rules.push_back(RuleBuilder{});
    rules.back().kind = ta == tb ? 1 : 2;
    rules.back().type_a = ta;
    rules.back().type_b = tb;
    return rules.back();
  }

  static void u32(std::vector<uint8_t>& o, uint32_t v) {
    for (int k = 0; k < 4; ++k) o.push_back(static_cast<uint8_t>(v >> (8 * k)));
  }
  static void u16(std::vector<uint8_t>& o, uint16_t v) {
    o.push_back(static_cast<uint8_t>(v));
    o.push_back(static_cast<uint8_t>(v >> 8));
  }
  std::vector<uint8_t> bytes() const {
    std::vector<uint8_t> o = {'B', 'R', 'Z', 'P'};
    u32(o, 3);
    u32(o, static_cast<uint32_t>(lanes.size()));
    for (uint32_t l : lanes) u32(o, l);
    u32(o, n_params);
    u32(o, periodic_mask);
    for (std::size_t t = 0; t < lanes.size(); ++t)
      u32(o, t < coord_lane.size() ? coord_lane[t] : brz::kNoCoord);
    std::vector<std::vector<std::pair<uint32_t, uint32_t>>> refs = references;
    refs.resize(lanes.size());
    auto declare = [&](uint32_t t, uint32_t lane, uint32_t target) {
      if (t >= refs.size()) return;
      for (const auto& e : refs[t])
        if (e.first == lane) return;
      refs[t].emplace_back(lane, target);
    };
    if (references.empty())
      for (const RuleBuilder& r : rules) {
        for (const auto& ref : r.refs) declare(r.type_a, ref.first, ref.second);
        for (uint32_t l : r.exclude_lanes) declare(r.exclude_type, l, r.type_a);
      }
    for (const auto& type_refs : refs) {
      u32(o, static_cast<uint32_t>(type_refs.size()));
      for (const auto& e : type_refs) {
        u32(o, e.first);
        u32(o, e.second);
      }
    }
    u32(o, static_cast<uint32_t>(rules.size()));
    for (const RuleBuilder& r : rules) {
      u32(o, r.kind);
      u32(o, r.type_a);
      u32(o, r.type_b);
      u32(o, static_cast<uint32_t>(r.consts.size()));
      u32(o, r.n_regs());
      u32(o, static_cast<uint32_t>(r.instrs.size()));
      u32(o, r.cflag);
      u32(o, r.clane_a);
      u32(o, r.clane_b);
      u32(o, r.creg);
      u32(o, static_cast<uint32_t>(r.refs.size()));
      for (const auto& ref : r.refs) {
        u32(o, ref.first);
        u32(o, ref.second);
      }
      u32(o, r.exclude_type);
      u32(o, static_cast<uint32_t>(r.exclude_lanes.size()));
      for (uint32_t l : r.exclude_lanes) u32(o, l);
      for (double c : r.consts) {
        uint64_t bits;
        std::memcpy(&bits, &c, 8);
        for (int k = 0; k < 8; ++k) o.push_back(static_cast<uint8_t>(bits >> (8 * k)));
      }
      for (const auto& in : r.instrs)
        for (uint16_t f : in) u16(o, f);
    }
    return o;
  }
  std::shared_ptr<const brz::Program> build() const {
    const std::vector<uint8_t> b = bytes();
    return std::make_shared<const brz::Program>(brz::Program::parse(b.data(), b.size()));
  }
};

// ------------------------------------------------------------------------------------------
// Reference: plain scalar loops over std::vector<std::vector<T>> columns.
// ------------------------------------------------------------------------------------------

template <class T>
using Cols = std::vector<std::vector<std::vector<T>>>;  // [type][lane][agent]

template <class T>
T ref_op(Op op, T a, T b, T c) {
  switch (op) {
    case Op::ADD:
      return a + b;
    case Op::SUB:
      return a - b;
    case Op::MUL:
      return a * b;
    case Op::DIV:
      return a / b;
    case Op::POW:
      return std::pow(a, b);
    case Op::MIN:
      return b < a ? b : a;
    case Op::MAX:
      return a < b ? b : a;
    case Op::NEG:
      return -a;
    case Op::ABS:
      return std::fabs(a);
    case Op::SQRT:
      return std::sqrt(a);
    case Op::EXP:
      return std::exp(a);
    case Op::LOG:
      return std::log(a);
    case Op::SIN:
      return std::sin(a);
    case Op::COS:
      return std::cos(a);
    case Op::FLOOR:
      return std::floor(a);
    case Op::ATAN2:
      return std::atan2(a, b);
    case Op::TANH:
      return std::tanh(a);
    case Op::ROUND:
      return std::round(a);
    case Op::SIGN:
      return a > 0 ? T(1) : (a < 0 ? T(-1) : a);
    case Op::MOD:
      return a - b * std::floor(a / b);
    case Op::MINIMG:
      return a - b * std::nearbyint(a * c);
    case Op::LT:
      return a < b ? 1 : 0;
    case Op::LE:
      return a <= b ? 1 : 0;
    case Op::GT:
      return a > b ? 1 : 0;
    case Op::GE:
      return a >= b ? 1 : 0;
    case Op::EQ:
      return a == b ? 1 : 0;
    case Op::NE:
      return a != b ? 1 : 0;
    case Op::AND:
      return (a != 0 && b != 0) ? 1 : 0;
    case Op::OR:
      return (a != 0 || b != 0) ? 1 : 0;
    case Op::NOT:
      return a != 0 ? 0 : 1;
    case Op::SELECT:
      return a != 0 ? b : c;
    default:
      return T(0);
  }
}

template <class T>
void ref_run_rule(const brz::Program& p, uint32_t id, Cols<T>& cols,
                  const std::vector<double>& params) {
  const brz::Rule& r = p.rule(id);
  std::vector<T> reg(r.n_regs);
  auto eval = [&](std::size_t i, std::size_t j, std::vector<std::array<T, 2>>* stores_out) {
    for (const brz::Instr& in : r.instrs) {
      switch (in.op) {
        case Op::CONST:
          reg[in.dst] = static_cast<T>(r.consts[in.a]);
          break;
        case Op::PARAM:
          reg[in.dst] = static_cast<T>(params[in.a]);
          break;
        case Op::BOX:  // params holds n_params values, then the box edges
          reg[in.dst] = static_cast<T>(params[p.n_params() + in.a]);
          break;
        case Op::LOAD:
          reg[in.dst] = cols[r.slot_type(in.a)][in.b][in.a == 0 ? i : j];
          break;
        case Op::STORE:
          stores_out->push_back({reg[in.c], T(0)});
          break;
        case Op::ACC:  // [1] = 1: the value is the delta itself
        case Op::ACCMAX:
        case Op::ACCMIN:
          stores_out->push_back({reg[in.c], T(1)});
          break;
        default:
          reg[in.dst] = ref_op<T>(in.op, reg[in.a], reg[in.b], reg[in.c]);
      }
    }
  };
  const std::size_t na = cols[r.type_a].empty() ? 0 : cols[r.type_a][0].size();
  if (r.kind == brz::RuleKind::PerAgent) {
    for (std::size_t i = 0; i < na; ++i) {
      std::vector<std::array<T, 2>> st;
      eval(i, 0, &st);
      for (std::size_t s = 0; s < r.stores.size(); ++s)
        cols[r.type_a][r.stores[s].lane][i] = st[s][0];
    }
    return;
  }
  const std::size_t nb = cols[r.type_b][0].size();
  Cols<T> start = cols;
  // accumulators keyed like columns, each at its identity (-0.0 for a sum, -inf for a max, +inf
  // for a min: docs/program.md)
  Cols<T> acc = cols;
  for (auto& t : acc)
    for (auto& l : t)
      for (auto& v : l) v = T(-0.0);
  for (const auto& sr : r.stores)
    for (auto& v : acc[r.slot_type(sr.slot)][sr.lane]) v = brz::reduce_identity<T>(sr.reduce);
  for (std::size_t i = 0; i < na; ++i) {
    for (std::size_t j = r.kind == brz::RuleKind::PairSame ? i + 1 : 0; j < nb; ++j) {
      std::vector<std::array<T, 2>> st;
      eval(i, j, &st);
      for (std::size_t s = 0; s < r.stores.size(); ++s) {
        const auto& sr = r.stores[s];
        const uint32_t t = r.slot_type(sr.slot);
        const std::size_t k = sr.slot == 0 ? i : j;
        const T v = st[s][1] != T(0) ? st[s][0] : st[s][0] - start[t][sr.lane][k];
        if (sr.reduce == brz::kReduceSum)
          acc[t][sr.lane][k] += v;
        else if (sr.reduce == brz::kReduceMax)
          acc[t][sr.lane][k] = v > acc[t][sr.lane][k] || v != v ? v : acc[t][sr.lane][k];
        else
          acc[t][sr.lane][k] = v < acc[t][sr.lane][k] || v != v ? v : acc[t][sr.lane][k];
      }
    }
  }
  for (const auto& sr : r.stores) {
    const uint32_t t = r.slot_type(sr.slot);
    const std::size_t n = cols[t][0].size();
    for (std::size_t k = 0; k < n; ++k) {
      const T a = acc[t][sr.lane][k], v = start[t][sr.lane][k];
      if (sr.reduce == brz::kReduceSum) {
        cols[t][sr.lane][k] = v + a;
        continue;
      }
      // a max / min reduction: the extreme of the start value and the pairs' values, a zero +0.0
      const T z = a + T(0);
      const bool take = z != z || (sr.reduce == brz::kReduceMax ? v < z : z < v);
      cols[t][sr.lane][k] = take ? z : v;
    }
  }
}

template <class T>
void load_world(brz::World<T>& w, const Cols<T>& cols) {
  for (uint32_t t = 0; t < cols.size(); ++t)
    for (uint32_t l = 0; l < cols[t].size(); ++l)
      for (std::size_t i = 0; i < cols[t][l].size(); ++i) w.column(t, l)[i] = cols[t][l][i];
}

template <class T>
Cols<T> random_cols(const brz::Program& p, const std::vector<std::size_t>& counts,
                    std::mt19937_64& rng, double lo = -1.0, double hi = 1.0) {
  std::uniform_real_distribution<double> d(lo, hi);
  Cols<T> c(p.n_types());
  for (uint32_t t = 0; t < p.n_types(); ++t) {
    c[t].resize(p.lanes(t));
    for (auto& lane : c[t]) {
      lane.resize(counts[t]);
      for (auto& v : lane) v = static_cast<T>(d(rng));
    }
  }
  return c;
}

/// Max relative error (|a-b| / max(|b|, floor)) between world and reference.
template <class T>
double max_rel_err(const brz::World<T>& w, const Cols<T>& cols, double floor = 1e-300) {
  double worst = 0;
  for (uint32_t t = 0; t < cols.size(); ++t)
    for (uint32_t l = 0; l < cols[t].size(); ++l)
      for (std::size_t i = 0; i < cols[t][l].size(); ++i) {
        const double a = w.column(t, l)[w.row(t, i)], b = cols[t][l][i];
        if (std::isnan(a) != std::isnan(b)) return INFINITY;
        if (a == b) continue;
        const double e = std::fabs(a - b) / std::max(std::fabs(b), floor);
        if (e > worst) worst = e;
      }
  return worst;
}

inline std::vector<const brz::SweepSet*> all_sweep_sets() {
  std::vector<const brz::SweepSet*> out;
  for (const std::string& n : brz::supported_isas()) out.push_back(brz::sweeps_for(n));
  return out;
}

// The per-path sweep counts (RulePath) that the engine's tests add up.
inline uint64_t sweeps_on(const brz::RunStepsResult& r,
                          std::initializer_list<brz::RulePath> paths) {
  uint64_t n = 0;
  for (brz::RulePath p : paths) n += r.on(p);
  return n;
}
// Sweeps with neighbour search (a grid or a neighbour list).
inline uint64_t neighbour_sweeps(const brz::RunStepsResult& r) {
  using P = brz::RulePath;
  return sweeps_on(r, {P::GridBlockKernel, P::GridInterpreter, P::ListBlockKernel,
                       P::ListInterpreter, P::ListKernel});
}
// Neighbour-search sweeps run by generated pair-block or neighbour-list kernels.
inline uint64_t generated_neighbour_sweeps(const brz::RunStepsResult& r) {
  using P = brz::RulePath;
  return sweeps_on(r, {P::GridBlockKernel, P::ListBlockKernel, P::ListKernel});
}
// Pair sweeps over all pairs.
inline uint64_t all_pairs_sweeps(const brz::RunStepsResult& r) {
  return sweeps_on(r, {brz::RulePath::AllPairsKernel, brz::RulePath::AllPairsInterpreter});
}
// Per-agent and all-pairs sweeps run by generated kernels.
inline uint64_t generated_sweeps(const brz::RunStepsResult& r) {
  return sweeps_on(r, {brz::RulePath::AgentKernel, brz::RulePath::AllPairsKernel});
}

}  // namespace brzt

namespace brzt {

/// Max over lanes of max_i |a_i - b_i| / max_i |b_i| (error relative to the column's scale).
template <class T>
double max_scaled_err(const brz::World<T>& w, const Cols<T>& cols) {
  double worst = 0;
  for (uint32_t t = 0; t < cols.size(); ++t)
    for (uint32_t l = 0; l < cols[t].size(); ++l) {
      double scale = 0;
      for (T v : cols[t][l]) scale = std::max(scale, std::fabs(double(v)));
      if (scale == 0) scale = 1e-300;
      for (std::size_t i = 0; i < cols[t][l].size(); ++i) {
        const double a = w.column(t, l)[w.row(t, i)], b = cols[t][l][i];
        if (!std::isfinite(a) || !std::isfinite(b)) return INFINITY;
        worst = std::max(worst, std::fabs(a - b) / scale);
      }
    }
  return worst;
}

}  // namespace brzt
