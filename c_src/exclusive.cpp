// Exclusive pair rules: claims, the greedy matching and the chosen pairs (brz/exclusive.hpp).
#include "brz/exclusive.hpp"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <tuple>

#include "brz/error.hpp"
#include "brz/scalar_eval.hpp"

namespace brz {
namespace {

// UNIFORM and NORMAL of one pair (docs/program.md, "Random numbers").
template <class T>
T draw(const RandomArgs& r, Op op, uint16_t site, uint32_t c0, uint32_t c1) {
  const Philox4x32 w = philox4x32_10(
      Philox4x32{c0, c1, static_cast<uint32_t>(r.step), static_cast<uint32_t>(r.step >> 32)},
      PhiloxKey{r.seed, r.rule_bits | site});
  if constexpr (sizeof(T) == 8) {
    const double u = uniform_f64(w.x0, w.x1);
    return op == Op::UNIFORM ? u : normal_f64(u, uniform_f64(w.x2, w.x3));
  } else {
    const float u = uniform_f32(w.x0);
    return op == Op::UNIFORM ? u : normal_f32(u, uniform_f32(w.x1));
  }
}

// Registers of one pair, evaluated level by level: uniform ops once, outer ops per slot-0 row,
// varying ops per pair.
template <class T>
class PairEvaluator {
 public:
  explicit PairEvaluator(const ExclusiveArgs<T>& a) : a_(a), regs_(a.rule->n_regs, T(0)) {}

  void run(const std::vector<Instr>& ops, std::size_t ra, std::size_t rb, uint32_t c0,
           uint32_t c1) {
    for (const Instr& in : ops) regs_[in.dst] = value(in, ra, rb, c0, c1);
  }
  T reg(uint16_t r) const { return regs_[r]; }

 private:
  T value(const Instr& in, std::size_t ra, std::size_t rb, uint32_t c0, uint32_t c1) const {
    const T* r = regs_.data();
    switch (in.op) {
      case Op::CONST:
        return a_.consts[in.a];
      case Op::PARAM:
        return a_.params[in.a];
      case Op::BOX:
        return a_.params[a_.n_params + in.a];
      case Op::LOAD:
        return in.a == 0 ? a_.cols_a[in.b][ra] : a_.cols_b[in.b][rb];
      case Op::UNIFORM:
      case Op::NORMAL:
        return draw<T>(a_.random, in.op, in.a, c0, c1);
      case Op::STORE:
      case Op::ACC:
      case Op::ACCMAX:
      case Op::ACCMIN:
      case Op::CLAIM:
      case Op::REMOVE:
      case Op::SPAWN:
      case Op::SPAWNLANE:
        return T(0);  // write no register: never in the level lists
#define BRZ_SC_1(NAME) return ScalarOps<T>::NAME(r[in.a]);
#define BRZ_SC_2(NAME) return ScalarOps<T>::NAME(r[in.a], r[in.b]);
#define BRZ_SC_3(NAME) return ScalarOps<T>::NAME(r[in.a], r[in.b], r[in.c]);
#define BRZ_SC_Data(NAME, N)
#define BRZ_SC_Value(NAME, N) \
  case Op::NAME:              \
    BRZ_SC_##N(NAME)
#define BRZ_OP(NAME, CODE, N, KIND) BRZ_SC_##KIND(NAME, N)
#include "brz/ops.inc"
#undef BRZ_OP
#undef BRZ_SC_Value
#undef BRZ_SC_Data
#undef BRZ_SC_3
#undef BRZ_SC_2
#undef BRZ_SC_1
    }
    return T(0);
  }

  const ExclusiveArgs<T>& a_;
  std::vector<T> regs_;
};

template <class T>
using ClaimCells = PairCells<T, ExclusiveArgs<T>>;

}  // namespace

std::vector<ClaimCandidate> greedy_matching(std::vector<ClaimCandidate> candidates, std::size_t n_a,
                                            std::size_t n_b, bool same) {
  const std::size_t nb = same ? n_a : n_b;
  for (const ClaimCandidate& c : candidates)
    if (c.row_a >= n_a || c.row_b >= nb || (same && c.row_a == c.row_b))
      throw ArgumentError("greedy_matching: candidate rows (" + std::to_string(c.row_a) + ", " +
                          std::to_string(c.row_b) + ") out of range");
  // (id0, id1) identify a pair, so the order is total: no two candidates tie.
  std::sort(candidates.begin(), candidates.end(),
            [](const ClaimCandidate& x, const ClaimCandidate& y) {
              return std::tie(x.priority, x.id0, x.id1) < std::tie(y.priority, y.id0, y.id1);
            });
  std::vector<uint8_t> claimed_a(n_a, 0), claimed_b(same ? 0 : n_b, 0);
  std::vector<uint8_t>& cb = same ? claimed_a : claimed_b;
  std::vector<ClaimCandidate> chosen;
  for (const ClaimCandidate& c : candidates) {
    if (claimed_a[c.row_a] || cb[c.row_b]) continue;
    claimed_a[c.row_a] = 1;
    cb[c.row_b] = 1;
    chosen.push_back(c);
  }
  return chosen;
}

// The removals and children of one chosen pair (REMOVE, SPAWN, SPAWNLANE).
template <class T>
void record_life(const ExclusiveArgs<T>& a, const PairEvaluator<T>& ev, const ClaimCandidate& c,
                 ExclusiveLife& life) {
  const Rule& r = *a.rule;
  const bool same = r.kind == RuleKind::PairSame;
  for (const RemoveRef& rm : r.removes) {
    if (ev.reg(rm.reg) == T(0)) continue;
    const bool on_a = rm.slot == 0 || same;
    std::vector<uint8_t>& dead = on_a ? life.dead_a : life.dead_b;
    if (dead.empty()) dead.assign(on_a ? a.n_a : a.n_b, 0);
    dead[rm.slot == 0 ? c.row_a : c.row_b] = 1;
  }
  for (const SpawnRef& sp : r.spawns) {
    if (ev.reg(sp.cond) == T(0)) continue;
    ExclusiveLife::Child child{
        a.random.ids_a[c.row_a], a.random.ids_b[c.row_b], sp.site, sp.type, {}};
    for (const auto& lane : sp.lanes) child.lanes.emplace_back(lane.first, ev.reg(lane.second));
    life.children.push_back(std::move(child));
  }
}

template <class T>
uint64_t run_exclusive(const ExclusiveArgs<T>& a) {
  const Rule& r = *a.rule;
  const bool same = r.kind == RuleKind::PairSame;
  const auto words = [&](std::size_t ra, std::size_t rb) {
    const uint32_t x = a.random.ids_a[ra], y = a.random.ids_b[rb];
    return same && y < x ? std::make_pair(y, x) : std::make_pair(x, y);
  };
  // Claims, across slot-0 rows on the threads; which thread found a candidate does not matter,
  // the matching sorts them into one total order.
  ClaimCells<T> cells;
  const bool use_cells = r.has_cutoff && a.reach > 0 && cells.build(a);
  const int threads = std::max(1, a.n_threads);
  std::vector<std::vector<ClaimCandidate>> found(threads);
  std::vector<uint64_t> evaluated(threads, 0);
#pragma omp parallel num_threads(threads) if (threads > 1)
  {
    const int t = omp_get_thread_num();
    PairEvaluator<T> ev(a);
    ev.run(r.uniform_ops, 0, 0, 0, 0);
    const auto visit = [&](std::size_t ra, std::size_t rb) {
      const auto [c0, c1] = words(ra, rb);
      ev.run(r.varying_ops, ra, rb, c0, c1);
      ++evaluated[t];
      if (ev.reg(r.claim_reg) != T(0))
        found[t].push_back(
            ClaimCandidate{claim_priority(a.random.seed, a.random.rule_bits, a.random.step, c0, c1),
                           c0, c1, static_cast<uint32_t>(ra), static_cast<uint32_t>(rb)});
    };
#pragma omp for schedule(dynamic, 8)
    for (std::size_t ra = 0; ra < a.n_a; ++ra) {
      if (cancel_requested(a.cancel)) continue;
      ev.run(r.outer_ops, ra, 0, 0, 0);
      if (use_cells) {
        cells.around(ra, [&](std::size_t rb) {
          if (!same || rb > ra) visit(ra, rb);
        });
      } else {
        for (std::size_t rb = same ? ra + 1 : 0; rb < a.n_b; ++rb) visit(ra, rb);
      }
    }
  }
  uint64_t evaluations = 0;
  for (uint64_t n : evaluated) evaluations += n;
  if (cancel_requested(a.cancel)) return evaluations;
  std::vector<ClaimCandidate> candidates;
  for (const auto& f : found) candidates.insert(candidates.end(), f.begin(), f.end());
  PairEvaluator<T> ev(a);
  ev.run(r.uniform_ops, 0, 0, 0, 0);
  for (const ClaimCandidate& c : greedy_matching(std::move(candidates), a.n_a, a.n_b, same)) {
    ev.run(r.outer_ops, c.row_a, 0, 0, 0);
    ev.run(r.varying_ops, c.row_a, c.row_b, c.id0, c.id1);
    ++evaluations;
    // Every register is computed before any lane is written, so loads saw the start values.
    for (const StoreRef& s : r.stores) {
      T* col = s.slot == 0 ? a.cols_a[s.lane] : a.cols_b[s.lane];
      const std::size_t row = s.slot == 0 ? c.row_a : c.row_b;
      const T start = col[row];
      const T v = ev.reg(s.reg);
      const T acc =
          reduce_combine(s.reduce, reduce_identity<T>(s.reduce), s.accumulate ? v : v - start);
      col[row] = reduce_apply(s.reduce, start, acc);
    }
    if (a.life) record_life(a, ev, c, *a.life);
  }
  return evaluations;
}

template uint64_t run_exclusive<double>(const ExclusiveArgs<double>&);
template uint64_t run_exclusive<float>(const ExclusiveArgs<float>&);

}  // namespace brz
