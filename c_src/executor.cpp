// Executor: per-rule set-up, accumulator reduction, non-finite checks. Baseline ISA code; the
// vectorised sweeps live in interpreter.cpp (one copy per ISA, chosen in isa.cpp).
#include "brz/executor.hpp"

#include <omp.h>

#include "brz/counting_sort.hpp"
#include "brz/exclusions.hpp"
#include "brz/identity_index.hpp"
#ifdef __linux__
#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>

#include "brz/exclusive.hpp"
#include "brz/interval.hpp"
#include "brz/isa.hpp"
#include "brz/neighbour_search.hpp"

namespace brz {
namespace {

// Whether col[0, n) holds a NaN or an infinity: a branch-free scan of the exponent bits that
// the compiler vectorises, split across threads for long columns. The exact (first-index)
// search runs only when this finds something.
template <class T>
bool any_non_finite(const T* col, std::size_t n, int threads, std::size_t parallel_threshold) {
  using U = typename std::conditional<sizeof(T) == 8, uint64_t, uint32_t>::type;
  constexpr U kExp = sizeof(T) == 8 ? U(0x7ff0000000000000ull) : U(0x7f800000u);
  constexpr std::size_t kBlock = 8192;
  const long blocks = static_cast<long>((n + kBlock - 1) / kBlock);
  int bad = 0;
#pragma omp parallel for num_threads(threads) \
    reduction(|                               \
              : bad) if (threads > 1 && n > parallel_threshold)
  for (long b = 0; b < blocks; ++b) {
    const std::size_t lo = std::size_t(b) * kBlock, hi = std::min(n, lo + kBlock);
    U found = 0;
    for (std::size_t i = lo; i < hi; ++i) {
      U bits;
      std::memcpy(&bits, col + i, sizeof bits);
      found |= U((bits & kExp) == kExp);
    }
    bad |= found != 0;
  }
  return bad != 0;
}

struct AccArray {
  uint32_t type;
  uint32_t lane;
  std::size_t offset;  // within one thread's accumulator block
  uint16_t reduce;     // how it combines (Reduce)
};

using Clock = std::chrono::steady_clock;
double seconds(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

// A bonded rule: one (type, lane) that its stores through references reach, and which of its
// deltas reach each row of that type (bonded_rows): from[start[x] .. start[x + 1]) index the
// rule's output buffer (store s of the bond run at position q at s * n_bonds + q), in the order
// they are summed: bond after bond in row order, each bond's stores in program order.
struct BondTarget {
  uint32_t type = 0;
  uint16_t lane = 0;
  uint16_t reduce = kReduceSum;
  std::vector<uint32_t> start;
  std::vector<uint32_t> from;
};

template <class T>
struct RulePlan {
  const Rule* rule = nullptr;
  std::vector<T> consts;
  std::vector<uint8_t> levels;
  std::vector<T*> cols_a;
  std::vector<const T*> cols_b;
  std::vector<AccArray> accs;          // pair rules
  std::vector<std::size_t> store_acc;  // per store: offset of its accumulator
  std::size_t acc_stride = 0;
  std::vector<std::pair<uint32_t, uint32_t>> checked;  // (type, lane) stored by the rule
  Rule flat;  // a lifecycle pair rule or a bonded rule as per-agent
  std::vector<uint8_t> flat_levels;
  // Bonded rules: the lanes the body loads (by gathered column), the rows its references name
  // (bonded_rows) and the order epochs of the types they were found in.
  std::vector<uint8_t> loaded;
  std::vector<std::vector<uint32_t>> bond_rows;
  std::vector<uint64_t> bond_epochs;
  std::vector<BondTarget> bond_targets;
  std::vector<uint32_t> bond_order;  // the row of the agent run at each position
  AlignedBuffer<uint32_t> bond_ids;  // its identity, for UNIFORM and NORMAL
};

// The identity of the agent at every row of a type (RandomArgs::ids_a): the world's identity of
// the agent the row holds (WorldBase::id, agent_at); zeros past the count, up to the
// column capacity, so that a vector of lanes started at any row reads only initialised values.
// Rebuilt when the type's rows have moved (order_epoch).
class Identities {
 public:
  const uint32_t* of(const WorldBase& w, uint32_t type) {
    if (ids_.size() < w.counts().size()) {
      ids_.resize(w.counts().size());
      epoch_.resize(w.counts().size(), kNever);
    }
    AlignedBuffer<uint32_t>& ids = ids_[type];
    const std::size_t n = w.count(type);
    if (epoch_[type] == w.order_epoch(type) && ids.size() >= w.capacity(type)) return ids.data();
    // Half again as much room: counts that change a little every step (removals, spawns)
    // reuse the buffer.
    if (ids.size() < w.capacity(type)) ids = AlignedBuffer<uint32_t>(column_capacity(n + n / 2));
    const uint32_t* rows = w.agents(type);
    const uint32_t* given = w.ids(type);
    if (rows == nullptr && given != nullptr && n > 0)
      std::memcpy(ids.data(), given, n * sizeof(uint32_t));
    else
      for (std::size_t r = 0; r < n; ++r) {
        const std::size_t agent = rows ? rows[r] : r;
        ids[r] = given ? given[agent] : static_cast<uint32_t>(agent);
      }
    std::fill(ids.data() + n, ids.data() + w.capacity(type), 0u);
    epoch_[type] = w.order_epoch(type);
    return ids.data();
  }

  // After apply_lifecycle: the identities of a type that were current follow its rows (the
  // removed rows' dropped, the children's appended) instead of being gathered again through
  // the agents' rows, a cache miss per row at 1M agents.
  void follow(const WorldBase& w, const std::vector<WorldBase::RowMoves>& moves) {
    for (uint32_t t = 0; t < moves.size() && t < ids_.size(); ++t) {
      const WorldBase::RowMoves& m = moves[t];
      if (m.epoch_before == m.epoch_after || epoch_[t] != m.epoch_before) continue;
      AlignedBuffer<uint32_t>& ids = ids_[t];
      const std::size_t n = m.survivors + m.appended;
      if (ids.size() < w.capacity(t)) continue;  // of() allocates and gathers them
      uint32_t* id = ids.data();
      if (!m.to.empty())
        for (std::size_t r = 0; r < m.old_count; ++r)
          if (m.to[r] != WorldBase::RowMoves::kGoneRow) id[m.to[r]] = id[r];
      for (std::size_t r = m.survivors; r < n; ++r) id[r] = w.id(t, w.agent_at(t, r));
      if (m.old_count > n) std::fill(id + n, id + m.old_count, 0u);
      epoch_[t] = m.epoch_after;
    }
  }

 private:
  static constexpr uint64_t kNever = UINT64_MAX;
  std::vector<AlignedBuffer<uint32_t>> ids_;
  std::vector<uint64_t> epoch_;
};

// What the executor keeps in a world between run_steps calls (WorldBase::engine_cache): the
// neighbour search (its lists) and its own buffers, so that a call allocates (and page-
// faults) nothing it had already.
template <class T>
struct EngineState final : EngineCache {
  NeighbourSearch<T> search;
  AlignedBuffer<T> scratch, acc;
  AlignedBuffer<T> life;      // lifecycle rules: the columns of their REMOVE / SPAWN registers
  std::vector<T> bonded_out;  // bonded rules: their stores' values and deltas
  Identities identities;

  static EngineState& of(World<T>& w) {
    auto* state = dynamic_cast<EngineState*>(w.engine_cache().get());
    if (state) return *state;
    auto fresh = std::make_unique<EngineState>();
    state = fresh.get();
    w.engine_cache() = std::move(fresh);
    return *state;
  }
};

template <class T>
class Runner {
 public:
  Runner(World<T>& world, const std::vector<uint32_t>& rule_ids, const ExecOptions& opts)
      : w_(world),
        prog_(world.program()),
        opts_(opts),
        cache_(EngineState<T>::of(world)),
        scratch_(cache_.scratch),
        acc_(cache_.acc),
        life_(cache_.life) {
    if (prog_.periodic() && !world.has_box())
      throw ArgumentError("box: the program has periodic axes and the world has no box");
    ks_ = opts.sweeps ? opts.sweeps : &active_sweeps();
    max_threads_ = opts.max_threads > 0 ? opts.max_threads : std::max(1, omp_get_max_threads());
    plans_.resize(prog_.n_rules());
    std::size_t scratch_stride = 0, max_regs = 0;
    int threads_needed = 1;
    for (uint32_t id : rule_ids) {
      if (id >= prog_.n_rules())
        throw ArgumentError("rule id " + std::to_string(id) + " out of range (the program has " +
                            std::to_string(prog_.n_rules()) + " rules)");
      RulePlan<T>& p = plans_[id];
      if (p.rule) continue;
      build_plan(id, p);
      threads_needed = std::max(threads_needed, rule_threads(*p.rule));
      scratch_stride = std::max(scratch_stride,
                                (scratch_elems<T>(p.rule->n_regs, uint32_t(p.rule->stores.size() +
                                                                           life_columns(*p.rule))) +
                                 15) /
                                    16 * 16);
      max_regs = std::max<std::size_t>(max_regs, p.rule->n_regs);
    }
    // Removals and spawns change counts during the call, and with them the threads a sweep
    // may take: room for the most.
    for (uint32_t id : rule_ids)
      if (prog_.rule(id).has_lifecycle()) threads_needed = max_threads_;
    scratch_stride_ = scratch_stride;
    if (scratch_.size() < scratch_stride * threads_needed)
      scratch_ = AlignedBuffer<T>(scratch_stride * threads_needed);
    ptrs_.assign(std::max<std::size_t>(1, max_regs * threads_needed), nullptr);
    params_.resize(std::size_t(prog_.n_params()) + 3);
    std::size_t max_stores = 1;
    for (uint32_t id : rule_ids) max_stores = std::max(max_stores, prog_.rule(id).stores.size());
    gen_ptrs_.assign(max_stores * std::size_t(threads_needed), nullptr);
  }

  // The params buffer every executor reads: n_params values, then the box edges (BOX).
  void set_params(const std::vector<double>& params, double dt) {
    const std::size_t n = prog_.n_params();
    for (std::size_t k = 0; k < n; ++k)
      params_[k] = k < params.size() ? to_precision<T>(params[k]) : T(0);
    params_[0] = to_precision<T>(dt);
    for (int d = 0; d < 3; ++d) params_[n + d] = to_precision<T>(w_.box().len[d]);
  }

  // The sweep arguments every path shares: the rule `r` (the plan's own, or a flattened form of
  // it) at `levels`, the plan's constants, the params, the scratch, cancellation, and the
  // random key of rule `id` in step `counter` (the identity arrays are the caller's to set).
  SweepArgs<T> sweep_args(const Rule& r, const uint8_t* levels, const RulePlan<T>& p, uint32_t id,
                          uint64_t counter) {
    SweepArgs<T> a = rule_sweep_args<T>(r, levels);
    a.consts = p.consts.data();
    a.params = params_.data();
    a.n_params = prog_.n_params();
    a.scratch = scratch_.data();
    a.scratch_stride = scratch_stride_;
    a.ptrs = ptrs_.data();
    a.cancel = opts_.cancel;
    if (r.has_random) {
      a.random.seed = w_.seed();
      a.random.rule_bits = id << 16;
      a.random.step = counter;
    }
    return a;
  }

  // Runs one sweep of rule `id` in step `counter` (the world's step index; `step` counts the
  // call's steps from 1, for NumericalError); false when options.cancel stopped it part-way
  // (the columns then hold partial results and are not checked).
  bool run_rule(uint32_t id, uint64_t step, uint64_t counter) {
    RulePlan<T>& p = plans_[id];
    const Rule& r = *p.rule;
    if (r.kind == RuleKind::Bonded) return run_bonded(id, p, step, counter);
    if (r.has_lifecycle() && r.kind == RuleKind::PerAgent)
      return run_lifecycle(id, p, step, counter);
    if (r.exclusive) return run_exclusive_rule(id, p, step, counter);
    if (r.has_lifecycle()) return run_pair_lifecycle(id, p, step, counter);
    // UNIFORM and NORMAL: the identity arrays are set below, once the rows are where the sweep
    // finds them.
    SweepArgs<T> a = sweep_args(r, p.levels.data(), p, id, counter);
    a.store_acc = p.store_acc.data();
    a.cols_a = p.cols_a.data();
    a.cols_b = p.cols_b.data();
    a.n_a = w_.count(r.type_a);
    a.n_b = r.kind == RuleKind::PerAgent ? 0 : w_.count(r.type_b);
    a.acc = acc_.data();
    a.acc_stride = p.acc_stride;
    if (r.kind == RuleKind::PerAgent) {
      if (r.stores.empty() || a.n_a == 0) return true;  // nothing observable
      if (r.has_random) a.random.ids_a = cache_.identities.of(w_, r.type_a);
      a.n_threads = rule_threads(r);
      const RulePath path = rule_path(w_, id, opts_);
      stats_->on(path) += 1;
      if (path == RulePath::AgentKernel) {
        // A false answer: the generated kernel saw only finite stored values.
        if (!run_generated_agent<T>(generated_fn(id), kernel_args(a), a.n_threads)) return true;
      } else {
        call(a);
      }
    } else {
      if (r.stores.empty()) return true;
      if (pair_count(r) == 0) return true;
      // Neighbour search (c_src/neighbour_search.cpp) when the rule has a usable cutoff.
      NeighbourSearch<T>& search = cache_.search;
      const Clock::time_point t0 = Clock::now();
      const SearchReady ready =
          search.prepare(w_, r, p.consts.data(), params_.data(), max_threads_, opts_, *stats_);
      // The neighbour search may have reordered the rows (and the identities with them).
      if (r.has_random) {
        a.random.ids_a = cache_.identities.of(w_, r.type_a);
        a.random.ids_b = cache_.identities.of(w_, r.type_b);
      }
      const Clock::time_point t1 = Clock::now();
      stats_->neighbour_seconds += seconds(t0, t1);
      const RulePath path = rule_path(w_, id, opts_, ready);
      // A rule with exclusions over all pairs: each pair asks them, on the gathered sweep.
      if (ready.ready == Neighbours::None && r.exclude.type != kNoType)
        return run_pair_lifecycle(id, p, step, counter);
      stats_->on(path) += 1;
      switch (path) {
        case RulePath::GridBlockKernel:
        case RulePath::GridInterpreter:
          search.sweep_grid(w_, r, p.consts.data(), params_.data(), p.levels.data(), a.random, *ks_,
                            max_threads_, opts_, *stats_,
                            path == RulePath::GridBlockKernel ? generated_block_fn(id) : nullptr);
          stats_->pair_seconds += seconds(t1, Clock::now());
          if (!search.last_sweep_finite()) check(p, step);
          return true;
        case RulePath::ListBlockKernel:
        case RulePath::ListInterpreter:
        case RulePath::ListKernel:
          search.sweep_list(w_, r, p.consts.data(), params_.data(), p.levels.data(), a.random, *ks_,
                            opts_, *stats_,
                            path == RulePath::ListBlockKernel ? generated_block_fn(id) : nullptr,
                            path == RulePath::ListKernel ? generated_list_fn(id) : nullptr);
          stats_->pair_seconds += seconds(t1, Clock::now());
          if (!search.last_sweep_finite()) check(p, step);
          return true;
        default:
          break;  // all pairs
      }
      // Slot 0 of a same-type pair is the agent with the lower index in the caller's order:
      // the all-pairs sweep takes it from the row order, so rows must be in that order.
      if (r.kind == RuleKind::PairSame) {
        w_.restore_caller_order(r.type_a, max_threads_);
        if (r.has_random) a.random.ids_a = a.random.ids_b = cache_.identities.of(w_, r.type_a);
      }
      stats_->pair_evaluations += pair_count(r);
      a.n_threads = rule_threads(r);
      // Accumulators are allocated at the first all-pairs sweep (cell-list sweeps have their own).
      const std::size_t acc_size = p.acc_stride * std::size_t(a.n_threads);
      if (acc_.size() < acc_size) acc_ = AlignedBuffer<T>(acc_size);
      a.acc = acc_.data();
      for (int t = 0; t < a.n_threads; ++t)
        for (const AccArray& acc : p.accs) {
          T* a0 = acc_.data() + std::size_t(t) * p.acc_stride + acc.offset;
          std::fill(a0, a0 + w_.capacity(acc.type), reduce_identity<T>(acc.reduce));
        }
      if (path == RulePath::AllPairsKernel)
        run_generated_pair<T>(generated_fn(id), kernel_args(a), a.n_threads, a.acc, a.acc_stride,
                              a.store_acc, a.n_stores, gen_ptrs_.data(), a.cancel);
      else
        call(a);
      stats_->pair_seconds += seconds(t1, Clock::now());
      if (cancel_requested(opts_.cancel)) return false;
      for (const AccArray& acc : p.accs) {
        T* col = w_.column(acc.type, acc.lane);
        const std::size_t n = w_.count(acc.type);
        const T* a0 = acc_.data() + acc.offset;
        for (std::size_t i = 0; i < n; ++i) {
          T sum = a0[i];
          for (int t = 1; t < a.n_threads; ++t)
            sum = reduce_combine(acc.reduce, sum, a0[std::size_t(t) * p.acc_stride + i]);
          col[i] = reduce_apply(acc.reduce, col[i], sum);
        }
      }
    }
    check(p, step);
    return true;
  }

 private:
  // An exclusive pair rule (brz/exclusive.hpp): claims over cells of its cutoff (or all
  // pairs), its periodic cutoff still checked (CutoffError); the chosen pairs' removals and
  // children end the application as in run_pair_lifecycle. Same arguments and answer as
  // run_rule.
  bool run_exclusive_rule(uint32_t id, RulePlan<T>& p, uint64_t step, uint64_t counter) {
    const Rule& r = *p.rule;
    if ((r.stores.empty() && !r.has_lifecycle()) || pair_count(r) == 0) return true;
    ExecOptions no_search = opts_;
    no_search.neighbour_search = false;
    const Clock::time_point t0 = Clock::now();
    cache_.search.prepare(w_, r, p.consts.data(), params_.data(), max_threads_, no_search, *stats_);
    // Slot 0 of a same-type pair is the agent with the lower index in the caller's order.
    if (r.kind == RuleKind::PairSame || r.has_lifecycle())
      w_.restore_caller_order(r.type_a, max_threads_);
    // Removal flags index rows in the caller's order (WorldBase::apply_lifecycle).
    if (r.kind == RuleKind::PairCross && r.has_lifecycle())
      w_.restore_caller_order(r.type_b, max_threads_);
    stats_->on(rule_path(w_, id, opts_)) += 1;
    std::vector<T*> cols_b;
    for (uint32_t l = 0; l < prog_.lanes(r.type_b); ++l) cols_b.push_back(w_.column(r.type_b, l));
    ExclusiveArgs<T> x;
    x.rule = &r;
    x.cols_a = p.cols_a.data();
    x.cols_b = cols_b.data();
    x.n_a = w_.count(r.type_a);
    x.n_b = w_.count(r.type_b);
    x.consts = p.consts.data();
    x.params = params_.data();
    x.n_params = prog_.n_params();
    x.random.seed = w_.seed();
    x.random.rule_bits = id << 16;
    x.random.step = counter;
    x.random.ids_a = cache_.identities.of(w_, r.type_a);
    x.random.ids_b = cache_.identities.of(w_, r.type_b);
    x.cancel = opts_.cancel;
    x.n_threads = rule_threads(r);
    // The claims visit neighbouring cells when the cutoff has a finite positive bound.
    if (r.has_cutoff && opts_.neighbour_search) {
      const std::optional<Interval> iv =
          register_interval<T>(w_, r, r.cutoff_reg, p.consts.data(), params_.data(), max_threads_,
                               opts_.bin_parallel_threshold);
      if (iv && iv->hi > 0) x.reach = iv->hi;
      for (int d = 0; d < 3; ++d) x.len[d] = prog_.periodic_axis(d) ? w_.box().len[d] : 0.0;
    }
    ExclusiveLife life;
    if (r.has_lifecycle()) x.life = &life;
    stats_->pair_evaluations += run_exclusive(x);
    stats_->pair_seconds += seconds(t0, Clock::now());
    if (cancel_requested(opts_.cancel)) return false;
    check(p, step);
    if (life.dead_a.empty() && life.dead_b.empty() && life.children.empty()) return true;
    // Children in (slot-0 identity, slot-1 identity, site) order, whatever the pairs' order.
    std::sort(life.children.begin(), life.children.end(),
              [](const ExclusiveLife::Child& u, const ExclusiveLife::Child& v) {
                return std::tie(u.id_a, u.id_b, u.site) < std::tie(v.id_a, v.id_b, v.site);
              });
    std::vector<WorldBase::Spawned> children(prog_.n_types());
    for (const ExclusiveLife::Child& c : life.children) {
      WorldBase::Spawned& into = children[c.type];
      const std::size_t at = into.values.size();
      into.values.resize(at + prog_.lanes(c.type), 0.0);
      for (const auto& lane : c.lanes) into.values[at + lane.first] = lane.second;
      ++into.n;
    }
    end_pair_lifecycle(r, life.dead_a, life.dead_b, children, step);
    return true;
  }

  // Columns a lifecycle rule's sweep writes besides the agents' lanes: one per REMOVE, SPAWN
  // and SPAWNLANE.
  static std::size_t life_columns(const Rule& r) {
    std::size_t n = r.removes.size() + r.spawns.size();
    for (const SpawnRef& sp : r.spawns) n += sp.lanes.size();
    return n;
  }

  // A per-agent rule that removes or spawns (docs/engine.md, "Agent lifecycle"). Its sweep
  // (the generated kernel or the interpreter) stores the register of every REMOVE, SPAWN and
  // SPAWNLANE into a column of its own, as if it were a lane after the type's last: each agent
  // writes only its own row, so the columns are race-free whatever the threads. Then, only where
  // some agent is removed or spawns, the world compacts and appends (WorldBase::apply_lifecycle).
  // The rows stay in storage order (a sort by cell survives); identities increase in the caller's
  // order, so the spawning agents taken in the caller's order, sites in order within an agent, give
  // the children in (parent identity, site) order.
  bool run_lifecycle(uint32_t id, RulePlan<T>& p, uint64_t step, uint64_t counter) {
    const Rule& r = *p.rule;
    const uint32_t type = r.type_a;
    const std::size_t n = w_.count(type);
    if (n == 0) return true;
    const std::size_t cap = w_.capacity(type);
    const uint32_t lanes = prog_.lanes(type);
    const std::size_t extra = life_columns(r);
    if (std::size_t(lanes) + extra > 65536)
      throw ArgumentError("rule " + std::to_string(id) + ": too many lanes and lifecycle ops");
    // Half again as much room: the count changes a little at every step of such a run, and a
    // new buffer (zeroed, page-faulted) every step would cost more than the sweep.
    if (life_.size() < extra * cap) life_ = AlignedBuffer<T>(extra * column_capacity(n + n / 2));
    std::vector<StoreRef> stores = r.stores;
    std::vector<T*> cols(p.cols_a.begin(), p.cols_a.end());
    auto column_of = [&](uint16_t reg) {
      stores.push_back(StoreRef{0, static_cast<uint16_t>(cols.size()), reg, 0, kReduceSum});
      cols.push_back(life_.data() + (cols.size() - lanes) * cap);
      return cols.back();
    };
    std::vector<const T*> removed, spawn_cond;
    std::vector<std::vector<const T*>> spawn_lanes(r.spawns.size());
    for (const RemoveRef& rm : r.removes) removed.push_back(column_of(rm.reg));
    for (std::size_t s = 0; s < r.spawns.size(); ++s) {
      spawn_cond.push_back(column_of(r.spawns[s].cond));
      for (const auto& l : r.spawns[s].lanes) spawn_lanes[s].push_back(column_of(l.second));
    }
    const std::vector<std::size_t> store_acc(stores.size(), 0);
    SweepArgs<T> a = sweep_args(r, p.levels.data(), p, id, counter);
    a.stores = stores.data();
    a.n_stores = uint32_t(stores.size());
    a.store_acc = store_acc.data();
    a.cols_a = cols.data();
    a.n_a = n;
    if (r.has_random) a.random.ids_a = cache_.identities.of(w_, type);
    a.n_threads = rule_threads(r);
    // The generated kernel stores the lifecycle registers into the same columns, after the
    // type's lanes (Codegen.Cpp, life_columns).
    const RulePath path = rule_path(w_, id, opts_);
    stats_->on(path) += 1;
    if (path == RulePath::AgentKernel)
      run_generated_agent<T>(generated_fn(id), kernel_args(a), a.n_threads);
    else
      call(a);
    if (cancel_requested(opts_.cancel)) return false;
    check(p, step);
    // The flag columns, scanned on the sweep's threads: the removed rows, and the spawning rows
    // (few) with their agents, each thread's own, then sorted into the caller's order of
    // their agents.
    const int threads = a.n_threads;
    std::vector<uint8_t> dead(removed.empty() ? 0 : n, 0);
    std::vector<std::vector<std::pair<uint32_t, uint32_t>>> found(threads);  // (agent, row)
    bool any_dead = false;
    const long nl = long(n);
#pragma omp parallel num_threads(threads) if (threads > 1) reduction(|| : any_dead)
    {
      std::vector<std::pair<uint32_t, uint32_t>>& mine = found[omp_get_thread_num()];
#pragma omp for schedule(static)
      for (long i = 0; i < nl; ++i) {
        for (const T* flags : removed)
          if (flags[i] != T(0)) {
            dead[i] = 1;
            any_dead = true;
          }
        for (std::size_t s = 0; s < r.spawns.size(); ++s)
          if (spawn_cond[s][i] != T(0)) {
            mine.emplace_back(uint32_t(w_.agent_at(type, std::size_t(i))), uint32_t(i));
            break;
          }
      }
    }
    if (!any_dead) dead.clear();
    std::vector<std::pair<uint32_t, uint32_t>> parents;  // (agent, row)
    for (const auto& part : found) parents.insert(parents.end(), part.begin(), part.end());
    std::sort(parents.begin(), parents.end());
    std::vector<WorldBase::Spawned> children(prog_.n_types());
    for (const auto& parent : parents) {
      const std::size_t i = parent.second;
      for (std::size_t s = 0; s < r.spawns.size(); ++s) {
        if (spawn_cond[s][i] == T(0)) continue;
        const SpawnRef& sp = r.spawns[s];
        WorldBase::Spawned& c = children[sp.type];
        const std::size_t at = c.values.size();
        c.values.resize(at + prog_.lanes(sp.type), 0.0);
        for (std::size_t q = 0; q < sp.lanes.size(); ++q)
          c.values[at + sp.lanes[q].first] = double(spawn_lanes[s][q][i]);
        ++c.n;
      }
    }
    if (dead.empty() && parents.empty()) return true;
    place_children(children);
    lifecycle_applied(w_.apply_lifecycle(type, dead, children, max_threads_), children, step);
    return true;
  }

  // Children go to the rows of their cells' order among themselves (VerletLists::birth_rows):
  // the sweeps then read them, and the survivors next to them, nearly in order.
  void place_children(std::vector<WorldBase::Spawned>& children) const {
    for (uint32_t t = 0; t < children.size(); ++t)
      children[t].rows = cache_.search.birth_rows(w_, t, children[t]);
  }

  // Counts, capacities and rows have changed: every plan's column pointers and accumulator
  // offsets are rebuilt, and the neighbour lists follow the rows' moves.
  // A child's lane that is not finite is a NumericalError naming the child (appended last).
  void lifecycle_applied(const std::vector<WorldBase::RowMoves>& moves,
                         const std::vector<WorldBase::Spawned>& children, uint64_t step) {
    rows_moved(moves);
    for (uint32_t t = 0; t < children.size(); ++t) {
      const uint32_t lanes = prog_.lanes(t);
      for (std::size_t q = 0; q < children[t].n; ++q)
        for (uint32_t l = 0; l < lanes; ++l)
          if (!std::isfinite(to_precision<T>(children[t].values[q * lanes + l])))
            throw NumericalError(t, w_.count(t) - children[t].n + q, l, step);
    }
    remove_dangling();
  }

  // After apply_lifecycle: the plans (their column pointers and accumulators) and the
  // neighbour lists follow the rows that moved.
  void rows_moved(const std::vector<WorldBase::RowMoves>& moves) {
    for (uint32_t k = 0; k < plans_.size(); ++k)
      if (plans_[k].rule) {
        plans_[k] = RulePlan<T>();
        build_plan(k, plans_[k]);
      }
    cache_.search.rows_moved(w_, moves);
    cache_.identities.follow(w_, moves);
  }

  // Agents that reference a removed agent go with it, and then those that reference them
  // (docs/program.md, "Bonded rules"): a reference lane holding an identity that its type has
  // given (below its next identity) and no living agent holds. Other values are left to the
  // bonded rules, which reject them.
  void remove_dangling() {
    if (!prog_.has_references()) return;
    for (bool again = true; again;) {
      again = false;
      for (uint32_t t = 0; t < prog_.n_types(); ++t) {
        const std::vector<RefSlot>& refs = prog_.references(t);
        const std::size_t n = w_.count(t);
        if (refs.empty() || n == 0) continue;
        std::vector<uint8_t> dead;
        for (const RefSlot& ref : refs) {
          const IdentityIndex index = IdentityIndex::of(w_, ref.type);
          const T* col = w_.column(t, ref.lane);
          for (std::size_t row = 0; row < n; ++row)
            if (index.removed(col[row])) {
              if (dead.empty()) dead.assign(n, 0);
              dead[row] = 1;
            }
        }
        if (dead.empty()) continue;
        const auto moves = w_.apply_lifecycle(
            t, dead, std::vector<WorldBase::Spawned>(prog_.n_types()), max_threads_);
        rows_moved(moves);
        again = true;
      }
    }
  }

  // A pair rule that removes or spawns. Its pairs, in ascending (slot 0, slot 1) order of the
  // caller's indices, are gathered in chunks into columns (slot 0's lanes, then slot 1's) and
  // the body runs over them as a per-agent rule (each pair a lane; LOAD of slot 1 reads the
  // gathered columns after slot 0's), every lane write and lifecycle op storing its register
  // into a column of its own. The pairs' values are then combined serially in pair order, as
  // docs/program.md prescribes for a pair rule (sums of deltas, max, min), removal flags set
  // and children recorded in (slot-0 identity, slot-1 identity, site) order; the result does
  // not depend on the threads.
  bool run_pair_lifecycle(uint32_t id, RulePlan<T>& p, uint64_t step, uint64_t counter) {
    const Rule& r = *p.rule;
    const bool same = r.kind == RuleKind::PairSame;
    w_.restore_caller_order(r.type_a, max_threads_);
    if (!same) w_.restore_caller_order(r.type_b, max_threads_);
    const bool excludes = r.exclude.type != kNoType;
    const ExcludedPairs excluded = excludes ? ExcludedPairs::of(w_, r) : ExcludedPairs();
    const std::size_t na = w_.count(r.type_a), nb = w_.count(r.type_b);
    const uint64_t total = pair_count(r);
    if (total == 0) return true;
    const uint32_t la = prog_.lanes(r.type_a), lb = prog_.lanes(r.type_b);
    if (p.flat.instrs.empty() && p.flat.uniform_ops.empty()) flatten(r, {0, la}, p);
    constexpr std::size_t kChunk = 4096;
    const std::size_t cap = column_capacity(kChunk);
    const std::size_t n_out = r.stores.size() + life_columns(r);
    const std::size_t n_cols = std::size_t(la) + lb + n_out;
    if (std::size_t(la) + lb + n_out > 65536)
      throw ArgumentError("rule " + std::to_string(id) + ": too many lanes and lifecycle ops");
    if (life_.size() < n_cols * cap) life_ = AlignedBuffer<T>(n_cols * cap);
    AlignedBuffer<uint32_t> c0(cap), c1(cap);
    AlignedBuffer<uint32_t> pi(kChunk), pj(kChunk);
    std::vector<T*> cols(n_cols);
    for (std::size_t c = 0; c < n_cols; ++c) cols[c] = life_.data() + c * cap;
    std::vector<StoreRef> outs;
    auto out = [&](uint16_t reg) {
      outs.push_back(StoreRef{0, static_cast<uint16_t>(la + lb + outs.size()), reg, 0, 0});
    };
    for (const StoreRef& st : r.stores) out(st.reg);
    for (const RemoveRef& rm : r.removes) out(rm.reg);
    for (const SpawnRef& sp : r.spawns) {
      out(sp.cond);
      for (const auto& l : sp.lanes) out(l.second);
    }
    const std::vector<std::size_t> store_acc(outs.size(), 0);
    // Accumulators per store (a store of slot s to lane l of its type), in the type's
    // agent order, starting at the reduction's identity.
    const uint32_t types[2] = {r.type_a, r.type_b};
    std::vector<std::vector<T>> acc;
    std::vector<int> acc_of(r.stores.size());
    std::vector<std::pair<uint32_t, uint16_t>> acc_key;
    for (std::size_t s = 0; s < r.stores.size(); ++s) {
      const std::pair<uint32_t, uint16_t> key(types[r.stores[s].slot], r.stores[s].lane);
      auto it = std::find(acc_key.begin(), acc_key.end(), key);
      if (it == acc_key.end()) {
        acc_key.push_back(key);
        acc.emplace_back(w_.count(key.first), reduce_identity<T>(r.stores[s].reduce));
        it = acc_key.end() - 1;
      }
      acc_of[s] = int(it - acc_key.begin());
    }
    std::vector<uint8_t> dead[2];
    std::vector<WorldBase::Spawned> children(prog_.n_types());
    bool spawned = false;
    SweepArgs<T> a = sweep_args(p.flat, p.flat_levels.data(), p, id, counter);
    a.stores = outs.data();
    a.n_stores = uint32_t(outs.size());
    a.store_acc = store_acc.data();
    a.cols_a = cols.data();
    if (r.has_random) {
      a.random.ids_a = c0.data();
      a.random.ids_b = c1.data();
    }
    a.n_threads = rule_threads(r);
    stats_->on(RulePath::AllPairsInterpreter) += 1;
    stats_->pair_evaluations += total;
    std::size_t i = 0, j = same ? 1 : 0;
    while (i < na && j < nb) {
      std::size_t k = 0;
      while (k < kChunk && i < na && j < nb) {
        if (!excludes || !excluded.excluded(uint32_t(i), uint32_t(j))) {
          pi[k] = uint32_t(i);
          pj[k] = uint32_t(j);
          ++k;
        }
        if (++j == nb) {
          ++i;
          j = same ? i + 1 : 0;
        }
      }
      for (uint32_t l = 0; l < la; ++l) {
        const T* src = w_.column(r.type_a, l);
        for (std::size_t q = 0; q < k; ++q) cols[l][q] = src[pi[q]];
      }
      for (uint32_t l = 0; l < lb; ++l) {
        const T* src = w_.column(r.type_b, l);
        for (std::size_t q = 0; q < k; ++q) cols[la + l][q] = src[pj[q]];
      }
      for (std::size_t q = 0; q < k; ++q) {
        const uint32_t ia = w_.id(r.type_a, pi[q]), ib = w_.id(r.type_b, pj[q]);
        c0[q] = same ? std::min(ia, ib) : ia;
        c1[q] = same ? std::max(ia, ib) : ib;
      }
      a.n_a = k;
      call(a);
      if (cancel_requested(opts_.cancel)) return false;
      for (std::size_t q = 0; q < k; ++q) {
        std::size_t c = std::size_t(la) + lb;
        const std::size_t agent[2] = {pi[q], pj[q]};
        for (std::size_t s = 0; s < r.stores.size(); ++s, ++c) {
          const StoreRef& st = r.stores[s];
          const std::size_t x = agent[st.slot];
          T& sum = acc[acc_of[s]][x];
          const T v = cols[c][q];
          if (st.reduce != kReduceSum)
            sum = reduce_combine(st.reduce, sum, v);
          else
            sum += st.accumulate ? v : T(v - w_.column(types[st.slot], st.lane)[x]);
        }
        for (const RemoveRef& rm : r.removes) {
          if (cols[c++][q] == T(0)) continue;
          std::vector<uint8_t>& d = dead[same ? 0 : rm.slot];
          if (d.empty()) d.assign(w_.count(types[rm.slot]), 0);
          d[agent[rm.slot]] = 1;
        }
        for (const SpawnRef& sp : r.spawns) {
          const bool born = cols[c++][q] != T(0);
          if (born) {
            WorldBase::Spawned& child = children[sp.type];
            const std::size_t at = child.values.size();
            child.values.resize(at + prog_.lanes(sp.type), 0.0);
            for (std::size_t m = 0; m < sp.lanes.size(); ++m)
              child.values[at + sp.lanes[m].first] = double(cols[c + m][q]);
            ++child.n;
            spawned = true;
          }
          c += sp.lanes.size();
        }
      }
    }
    for (std::size_t q = 0; q < acc_key.size(); ++q) {
      T* col = w_.column(acc_key[q].first, acc_key[q].second);
      const uint16_t reduce =
          r.stores[std::size_t(std::find(acc_of.begin(), acc_of.end(), int(q)) - acc_of.begin())]
              .reduce;
      for (std::size_t x = 0; x < acc[q].size(); ++x)
        col[x] = reduce_apply(reduce, col[x], acc[q][x]);
    }
    check(p, step);
    if (dead[0].empty() && dead[1].empty() && !spawned) return true;
    end_pair_lifecycle(r, dead[0], dead[1], children, step);
    return true;
  }

  // A bonded rule (docs/program.md, "Bonded rules"), in chunks of its agents, which run in the
  // order of the rows their first reference names (bonded_rows), so that the gathers and the
  // sums read the referenced columns almost in order when those are sorted by cell: each chunk
  // gathers the lanes of the agent itself and of every agent its references name into columns
  // (slot s at base[s]), runs the rule as a per-agent rule over them (flatten), its stores going
  // to columns after the gathered ones, and then to the output buffer: a store to slot 0 its
  // value, a store through a reference its delta, `stored - start` (an ACC its register,
  // ACCMAX and ACCMIN their value; the generated kernel writes all but the STORE deltas
  // straight into the buffer). With a generated kernel the chunks run in parallel, one per
  // thread at a time. Once every agent is done, so that every application reads the values of
  // the rule's start, the stores to slot 0 set the agents' own lanes, and every row that the
  // references reach sums its deltas (BondTarget) bond after bond, each one's stores in
  // program order, as the pure-Elixir backend does (both give the same bits and no sum
  // depends on the threads), and adds the sum to its lane.
  bool run_bonded(uint32_t id, RulePlan<T>& p, uint64_t step, uint64_t counter) {
    const Rule& r = *p.rule;
    const std::size_t n = w_.count(r.type_a);
    const RulePath path = rule_path(w_, id, opts_);
    stats_->on(path) += 1;
    if (n == 0 || r.stores.empty()) return true;
    const int arity = r.arity();
    std::vector<uint32_t> base(std::size_t(arity) + 1, 0);
    for (int s = 0; s < arity; ++s) base[s + 1] = base[s] + prog_.lanes(r.slot_type(s));
    if (p.flat.instrs.empty() && p.flat.uniform_ops.empty()) {
      flatten(r, base, p);
      // Only the lanes the body loads, and the start values of STOREs through references, are
      // gathered.
      p.loaded.assign(base[arity], 0);
      for (const Instr& in : r.instrs)
        if (in.op == Op::LOAD) p.loaded[base[in.a] + in.b] = 1;
      for (const StoreRef& st : r.stores)
        if (st.slot != 0 && !st.accumulate && st.reduce == kReduceSum)
          p.loaded[base[st.slot] + st.lane] = 1;
    }
    // Store s's values (slot 0) or deltas (through a reference) for the agent run at position
    // q: out[s * n + q].
    if (r.stores.size() * n > UINT32_MAX)
      throw ArgumentError("rule " + std::to_string(id) + ": too many bonds");
    bonded_rows(r, p);
    constexpr std::size_t kChunk = 4096;
    const std::size_t n_chunks = (n + kChunk - 1) / kChunk;
    const int threads = rule_threads(r);
    // The interpreter threads within a chunk; a generated kernel takes a chunk per thread.
    const int team =
        path == RulePath::BondedKernel ? std::max(1, std::min<int>(threads, int(n_chunks))) : 1;
    const std::size_t cap = column_capacity(kChunk);
    const std::size_t n_cols = std::size_t(base[arity]) + r.stores.size();
    if (n_cols > 65536) throw ArgumentError("rule " + std::to_string(id) + ": too many lanes");
    if (life_.size() < std::size_t(team) * n_cols * cap)
      life_ = AlignedBuffer<T>(std::size_t(team) * n_cols * cap);
    std::vector<StoreRef> outs;
    for (const StoreRef& st : r.stores)
      outs.push_back(StoreRef{0, static_cast<uint16_t>(base[arity] + outs.size()), st.reg, 0, 0});
    const std::vector<std::size_t> store_acc(outs.size(), 0);
    // The buffer stays in the engine's cache from step to step.
    std::vector<T>& out = cache_.bonded_out;
    if (out.size() < r.stores.size() * n) out.resize(r.stores.size() * n);
    SweepArgs<T> a = sweep_args(p.flat, p.flat_levels.data(), p, id, counter);
    a.stores = outs.data();
    a.n_stores = uint32_t(outs.size());
    a.store_acc = store_acc.data();
    a.n_threads = team > 1 ? 1 : threads;
    // A generated kernel writes exactly its rows, so the values that need no start value go
    // straight to the buffer; the interpreter writes whole vectors, into the chunk's columns.
    auto direct = [&](std::size_t s) {
      const StoreRef& st = r.stores[s];
      return path == RulePath::BondedKernel &&
             (st.slot == 0 || st.accumulate || st.reduce != kReduceSum);
    };
    bool cancelled = false;
#pragma omp parallel num_threads(team) if (team > 1)
    {
      const int tid = omp_get_thread_num();
      std::vector<T*> cols(n_cols);
      for (std::size_t c = 0; c < n_cols; ++c)
        cols[c] = life_.data() + (std::size_t(tid) * n_cols + c) * cap;
      SweepArgs<T> ta = a;
      ta.cols_a = cols.data();
#pragma omp for schedule(dynamic, 1)
      for (std::size_t chunk = 0; chunk < n_chunks; ++chunk) {
        if (cancel_requested(opts_.cancel)) {
          cancelled = true;
          continue;
        }
        const std::size_t i0 = chunk * kChunk, k = std::min(kChunk, n - i0);
        const uint32_t* own = p.bond_order.data() + i0;
        for (int s = 0; s < arity; ++s) {
          const uint32_t t = r.slot_type(s);
          const uint32_t* rows = s == 0 ? own : p.bond_rows[std::size_t(s) - 1].data() + i0;
          for (uint32_t l = 0; l < prog_.lanes(t); ++l) {
            if (!p.loaded[base[s] + l]) continue;
            const T* src = w_.column(t, l);
            T* dst = cols[base[s] + l];
            for (std::size_t q = 0; q < k; ++q) dst[q] = src[rows[q]];
          }
        }
        for (std::size_t s = 0; s < r.stores.size(); ++s)
          if (direct(s)) cols[base[arity] + s] = out.data() + s * n + i0;
        if (r.has_random) ta.random.ids_a = p.bond_ids.data() + i0;
        ta.n_a = k;
        // The generated kernel is the per-agent kernel of the flattened rule: it writes the
        // same columns (its non-finite flag is not needed: check() below reads the lanes).
        if (path == RulePath::BondedKernel)
          run_generated_agent<T>(generated_fn(id), kernel_args(ta), ta.n_threads);
        else
          call(ta);
        for (std::size_t s = 0; s < r.stores.size(); ++s) {
          const StoreRef& st = r.stores[s];
          if (direct(s)) continue;
          const T* v = cols[base[arity] + s];
          T* d = out.data() + s * n + i0;
          if (st.slot != 0 && st.reduce == kReduceSum && !st.accumulate) {
            const T* start = cols[base[st.slot] + st.lane];  // the gathered start value
            for (std::size_t q = 0; q < k; ++q) d[q] = T(v[q] - start[q]);
          } else {
            std::copy(v, v + k, d);
          }
        }
      }
    }
    if (cancelled) return false;
    // The agents' own lanes, once no chunk gathers any more (a rule whose references name its
    // own type reads the values of the rule's start through them).
    for (std::size_t s = 0; s < r.stores.size(); ++s) {
      if (r.stores[s].slot != 0) continue;
      T* col = w_.column(r.type_a, r.stores[s].lane);
      const T* v = out.data() + s * n;
      const uint32_t* own = p.bond_order.data();
      const long nl = long(n);
#pragma omp parallel for num_threads(threads) if (threads > 1) schedule(static)
      for (long q = 0; q < nl; ++q) col[own[q]] = v[q];
    }
    // Every row a reference reaches: its deltas summed in order, then added to its lane (rows
    // no bond reaches add the identity, which changes nothing). Rows are split between the
    // threads; each row's sum is the same for any split. Every value written is tested for
    // NaN and infinity on the way (x - x is 0 for every finite x).
    const T* dl = out.data();
    int bad = 0;
#pragma omp parallel num_threads(threads) if (threads > 1) reduction(| : bad)
    for (const BondTarget& target : p.bond_targets) {
      T* col = w_.column(target.type, target.lane);
      const uint32_t* start = target.start.data();
      const uint32_t* from = target.from.data();
      const long m = long(target.start.size()) - 1;
      const uint16_t reduce = target.reduce;
#pragma omp for schedule(static) nowait
      for (long x = 0; x < m; ++x) {
        T sum = reduce_identity<T>(reduce);
        if (reduce == kReduceSum)
          for (uint32_t e = start[x]; e < start[x + 1]; ++e) sum += dl[from[e]];
        else
          for (uint32_t e = start[x]; e < start[x + 1]; ++e)
            sum = reduce_combine(reduce, sum, dl[from[e]]);
        const T v = reduce_apply(reduce, col[x], sum);
        col[x] = v;
        bad |= (v - v) != T(0);
      }
    }
    // The exact search (which agent, which lane) runs when a target's value is not finite, or
    // when the rule also stores lanes of its own agents, which the loop above did not test.
    if (bad || std::any_of(r.stores.begin(), r.stores.end(),
                           [](const StoreRef& st) { return st.slot == 0; }))
      check(p, step);
    return true;
  }

  // The order a bonded rule runs its agents in (p.bond_order: rows sorted by the row their first
  // reference names, a counting sort that keeps row order among equals; their identities in
  // p.bond_ids when the rule draws random numbers), the row of the agent each reference names
  // in that order (p.bond_rows[k][q]: slot k + 1 of the agent run at position q), and the
  // deltas that reach each row (p.bond_targets, into run_bonded's buffer), kept while no rows of
  // these types have moved. A reference that names no living agent is an ArgumentError.
  void bonded_rows(const Rule& r, RulePlan<T>& p) {
    std::vector<uint64_t> epochs{w_.order_epoch(r.type_a)};
    for (const RefSlot& ref : r.refs) epochs.push_back(w_.order_epoch(ref.type));
    if (!p.bond_rows.empty() && epochs == p.bond_epochs) return;
    const std::size_t n = w_.count(r.type_a);
    p.bond_rows.clear();
    p.bond_targets.clear();
    // by_row[k][i]: the row that reference k of row i names.
    std::vector<std::vector<uint32_t>> by_row(r.refs.size(), std::vector<uint32_t>(n));
    IdentityIndex index;
    uint32_t indexed = kNoType;
    for (std::size_t k = 0; k < r.refs.size(); ++k) {
      const RefSlot& ref = r.refs[k];
      if (ref.type != indexed) {
        index = IdentityIndex::of(w_, ref.type);
        indexed = ref.type;
      }
      const T* col = w_.column(r.type_a, ref.lane);
      uint32_t* out = by_row[k].data();
      for (std::size_t i = 0; i < n; ++i) {
        const uint32_t row = index.row(col[i]);
        if (row == IdentityIndex::kNone)
          throw ArgumentError("agent " + std::to_string(w_.agent_at(r.type_a, i)) + " of type " +
                              std::to_string(r.type_a) + " references " +
                              std::to_string(double(col[i])) + " in lane " +
                              std::to_string(ref.lane) + ", not a living agent of type " +
                              std::to_string(ref.type));
        out[i] = row;
      }
    }
    std::vector<uint32_t> first;
    counting_sort(by_row[0].data(), n, w_.count(r.refs[0].type), first, p.bond_order);
    std::vector<uint32_t> pos(n);  // the position row i runs at
    for (std::size_t q = 0; q < n; ++q) pos[p.bond_order[q]] = uint32_t(q);
    if (r.has_random) {
      const uint32_t* ids = cache_.identities.of(w_, r.type_a);
      p.bond_ids = AlignedBuffer<uint32_t>(column_capacity(n));
      std::fill(p.bond_ids.data(), p.bond_ids.data() + p.bond_ids.size(), 0u);
      for (std::size_t q = 0; q < n; ++q) p.bond_ids.data()[q] = ids[p.bond_order[q]];
    }
    // One target per (type, lane) stored through a reference, in order of first store; its
    // rows' deltas by a counting sort that keeps row order, then program order.
    std::vector<int> target_of(r.stores.size(), -1);
    for (std::size_t s = 0; s < r.stores.size(); ++s) {
      const StoreRef& st = r.stores[s];
      if (st.slot == 0) continue;
      const uint32_t type = r.slot_type(st.slot);
      std::size_t t = 0;
      while (t < p.bond_targets.size() &&
             (p.bond_targets[t].type != type || p.bond_targets[t].lane != st.lane))
        ++t;
      if (t == p.bond_targets.size()) {
        BondTarget fresh;
        fresh.type = type;
        fresh.lane = st.lane;
        fresh.reduce = st.reduce;
        fresh.start.assign(w_.count(type) + 1, 0);
        p.bond_targets.push_back(std::move(fresh));
      }
      target_of[s] = int(t);
    }
    for (std::size_t s = 0; s < r.stores.size(); ++s)
      if (target_of[s] >= 0) {
        uint32_t* start = p.bond_targets[std::size_t(target_of[s])].start.data();
        for (const uint32_t row : by_row[r.stores[s].slot - 1]) ++start[row + 1];
      }
    for (BondTarget& target : p.bond_targets) {
      for (std::size_t x = 1; x < target.start.size(); ++x) target.start[x] += target.start[x - 1];
      target.from.resize(target.start.back());
    }
    std::vector<std::vector<uint32_t>> fill(p.bond_targets.size());
    for (std::size_t t = 0; t < p.bond_targets.size(); ++t)
      fill[t].assign(p.bond_targets[t].start.begin(), p.bond_targets[t].start.end() - 1);
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t s = 0; s < r.stores.size(); ++s) {
        if (target_of[s] < 0) continue;
        const std::size_t t = std::size_t(target_of[s]);
        const uint32_t row = by_row[r.stores[s].slot - 1][i];
        p.bond_targets[t].from[fill[t][row]++] = uint32_t(s * n + pos[i]);
      }
    // The references in run order.
    p.bond_rows.assign(r.refs.size(), std::vector<uint32_t>(n));
    for (std::size_t k = 0; k < r.refs.size(); ++k)
      for (std::size_t q = 0; q < n; ++q) p.bond_rows[k][q] = by_row[k][p.bond_order[q]];
    p.bond_epochs = epochs;
  }

  // Ends a pair rule's application that removed or spawned: slot 1's type loses its dead (a
  // cross-type rule), slot 0's type its own, and the children are appended.
  void end_pair_lifecycle(const Rule& r, const std::vector<uint8_t>& dead_a,
                          const std::vector<uint8_t>& dead_b,
                          std::vector<WorldBase::Spawned>& children, uint64_t step) {
    if (r.kind == RuleKind::PairCross && !dead_b.empty())
      cache_.search.rows_moved(
          w_, w_.apply_lifecycle(r.type_b, dead_b, std::vector<WorldBase::Spawned>(prog_.n_types()),
                                 max_threads_));
    place_children(children);
    lifecycle_applied(w_.apply_lifecycle(r.type_a, dead_a, children, max_threads_), children, step);
  }

  // The pair or bonded rule r as a per-agent rule over gathered columns (run_pair_lifecycle,
  // run_bonded): outer registers become varying, LOAD of slot s lane l reads column
  // base[s] + l; no lane writes.
  static void flatten(const Rule& r, const std::vector<uint32_t>& base, RulePlan<T>& p) {
    Rule& f = p.flat;
    f.kind = RuleKind::PerAgent;
    f.type_a = r.type_a;
    f.type_b = kNoType;
    f.n_regs = r.n_regs;
    f.consts = r.consts;
    f.reg_level = r.reg_level;
    for (Level& l : f.reg_level)
      if (l == Level::Outer) l = Level::Varying;
    f.uniform_ops = r.uniform_ops;
    for (const Instr& in : r.instrs) {
      if (!writes_register(in.op) || r.reg_level[in.dst] == Level::Uniform) continue;
      Instr g = in;
      if (g.op == Op::LOAD) {
        g.b = static_cast<uint16_t>(base[g.a] + g.b);
        g.a = 0;
      }
      f.varying_ops.push_back(g);
      f.instrs.push_back(g);
    }
    f.has_random = r.has_random;
    for (Level l : f.reg_level) p.flat_levels.push_back(static_cast<uint8_t>(l));
    if (p.flat_levels.empty()) p.flat_levels.push_back(0);
  }

  std::size_t pair_count(const Rule& r) const {
    const std::size_t na = w_.count(r.type_a);
    if (r.kind == RuleKind::PairSame) return na < 2 ? 0 : na * (na - 1) / 2;
    return na * w_.count(r.type_b);
  }

  // Threads for one sweep of rule r (by the counts now; lifecycle rules change them).
  int rule_threads(const Rule& r) const {
    if (r.kind == RuleKind::Bonded)
      return w_.count(r.type_a) > opts_.bonded_parallel_threshold ? max_threads_ : 1;
    if (!r.is_pair()) return w_.count(r.type_a) > opts_.agent_parallel_threshold ? max_threads_ : 1;
    return pair_count(r) > opts_.pair_parallel_threshold ? max_threads_ : 1;
  }

  // The rule's generated kernels for precision T, which rule_path has found present.
  const RuleKernels& kernels(uint32_t id) const { return *opts_.generated->rule(id); }
  auto generated_fn(uint32_t id) const -> void (*)(const BrzKernelArgs<T>*) {
    if constexpr (sizeof(T) == 8)
      return kernels(id).f64;
    else
      return kernels(id).f32;
  }
  auto generated_block_fn(uint32_t id) const -> void (*)(const BrzKernelArgs<T>*) {
    if constexpr (sizeof(T) == 8)
      return kernels(id).block_f64;
    else
      return kernels(id).block_f32;
  }
  auto generated_list_fn(uint32_t id) const -> void (*)(const BrzListArgs<T>*) {
    if constexpr (sizeof(T) == 8)
      return kernels(id).list_f64;
    else
      return kernels(id).list_f32;
  }

  // The arguments of a per-agent or all-pairs generated kernel; it writes the same columns /
  // accumulators as the interpreter (docs/kernels.md).
  static BrzKernelArgs<T> kernel_args(const SweepArgs<T>& a) {
    BrzKernelArgs<T> g{};
    g.params = a.params;
    g.cols_a = a.cols_a;
    g.cols_b = a.cols_b;
    g.n_a = a.n_a;
    g.n_b = a.n_b;
    g.ids_a = a.random.ids_a;
    g.ids_b = a.random.ids_b;
    g.step = a.random.step;
    g.seed = a.random.seed;
    return g;
  }

  void call(const SweepArgs<T>& a) {
    if constexpr (sizeof(T) == 8)
      ks_->sweep_f64(a);
    else
      ks_->sweep_f32(a);
  }

  void build_plan(uint32_t id, RulePlan<T>& p) {
    const Rule& r = prog_.rule(id);
    p.rule = &r;
    for (double c : r.consts) p.consts.push_back(to_precision<T>(c));
    if (p.consts.empty()) p.consts.push_back(T(0));
    for (Level l : r.reg_level) p.levels.push_back(static_cast<uint8_t>(l));
    if (p.levels.empty()) p.levels.push_back(0);
    for (uint32_t l = 0; l < prog_.lanes(r.type_a); ++l) p.cols_a.push_back(w_.column(r.type_a, l));
    if (r.is_pair())
      for (uint32_t l = 0; l < prog_.lanes(r.type_b); ++l)
        p.cols_b.push_back(w_.column(r.type_b, l));
    for (const StoreRef& s : r.stores) {
      const uint32_t type = r.slot_type(s.slot);
      if (!r.is_pair()) {  // per-agent and bonded rules: run_bonded keeps its accumulators
        p.checked.emplace_back(type, s.lane);
        p.store_acc.push_back(0);
        continue;
      }
      auto it = std::find_if(p.accs.begin(), p.accs.end(),
                             [&](const AccArray& a) { return a.type == type && a.lane == s.lane; });
      if (it == p.accs.end()) {
        p.accs.push_back(AccArray{type, s.lane, p.acc_stride, s.reduce});
        p.acc_stride += w_.capacity(type);
        p.checked.emplace_back(type, s.lane);
        it = p.accs.end() - 1;
      }
      p.store_acc.push_back(it->offset);
    }
    // Report the lowest type first, then lane order.
    std::sort(p.checked.begin(), p.checked.end());
  }

  void check(const RulePlan<T>& p, uint64_t step) {
    std::size_t k = 0;
    while (k < p.checked.size()) {
      const uint32_t type = p.checked[k].first;
      std::size_t end = k;
      while (end < p.checked.size() && p.checked[end].first == type) ++end;
      const std::size_t n = w_.count(type);
      std::size_t best_i = n;
      uint32_t best_lane = 0;
      const bool sorted = !w_.in_caller_order(type);
      for (std::size_t q = k; q < end; ++q) {
        const T* col = w_.column(type, p.checked[q].second);
        if (sorted) {
          // Rows are not in agent order (cell sorting): the lowest agent index over all rows.
          if (!any_non_finite(col, n, max_threads_, opts_.check_parallel_threshold)) continue;
          for (std::size_t r = 0; r < n; ++r) {
            const std::size_t i = w_.agent_at(type, r);
            if (!std::isfinite(col[r]) && i < best_i) {
              best_i = i;
              best_lane = p.checked[q].second;
            }
          }
          continue;
        }
        if (!any_non_finite(col, std::min(n, best_i), max_threads_, opts_.check_parallel_threshold))
          continue;
        for (std::size_t i = 0; i < std::min(n, best_i); ++i) {
          if (!std::isfinite(col[i])) {
            if (i < best_i) {
              best_i = i;
              best_lane = p.checked[q].second;
            }
            break;
          }
        }
      }
      if (best_i < n) throw NumericalError(type, best_i, best_lane, step);
      k = end;
    }
  }

  World<T>& w_;
  const Program& prog_;
  ExecOptions opts_;
  const SweepSet* ks_;
  int max_threads_;
  std::vector<RulePlan<T>> plans_;
  EngineState<T>& cache_;  // kept in the world from call to call
  std::size_t scratch_stride_ = 0;
  AlignedBuffer<T>& scratch_;
  std::vector<const T*> ptrs_;
  AlignedBuffer<T>& acc_;
  std::vector<T> params_;
  std::vector<T*> gen_ptrs_;  // per-thread accumulator pointers of generated pair kernels
  AlignedBuffer<T>& life_;    // cache_.life
  RunStepsResult stats_own_;
  RunStepsResult* stats_ = &stats_own_;  // sweep counters

 public:
  void set_result(RunStepsResult* res) { stats_ = res; }
};

// Lowers the scheduling priority of the worker threads of the calling thread's OpenMP team (up
// to `threads`), once per thread: libgomp keeps a pool of workers per calling thread and reuses
// them. `level` as ExecOptions::worker_nice.
void lower_worker_priority(int threads, int level) {
#ifdef __linux__
  if (level <= 0 || threads <= 1) return;
#pragma omp parallel num_threads(threads)
  {
    static thread_local int lowered = 0;
    if (omp_get_thread_num() != 0 && lowered != level) {
      bool done;
      if (level >= kWorkerIdle) {
        // SCHED_IDLE: the kernel treats a core running only such threads as idle when it
        // places a waking thread, so a BEAM scheduler that wakes runs there at once.
        sched_param sp{};
        done = pthread_setschedparam(pthread_self(), SCHED_IDLE, &sp) == 0;
      } else {
        // Linux gives each thread its own nice value (setpriority on a thread id).
        done = setpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)), level) == 0;
      }
      if (done) lowered = level;
    }
  }
#else
  (void)threads;
  (void)level;
#endif
}

template <class T>
RunStepsResult run(World<T>& world, const std::vector<uint32_t>& rule_ids, uint64_t steps,
                   double dt, const ExecOptions& opts) {
  lower_worker_priority(opts.max_threads > 0 ? opts.max_threads : omp_get_max_threads(),
                        opts.worker_nice);
  Runner<T> runner(world, rule_ids, opts);
  runner.set_params(world.params(), dt);
  RunStepsResult res;
  runner.set_result(&res);
  const Program& prog = world.program();
  bool wraps = false;
  for (uint32_t id : rule_ids) {
    if (id >= prog.n_rules()) continue;  // run_rule reports it
    const Rule& r = prog.rule(id);
    wraps = wraps || !r.spawns.empty();
    for (const StoreRef& st : r.stores) {
      const uint32_t lane = prog.coord_lane(r.slot_type(st.slot));
      wraps = wraps || (lane != kNoCoord && st.lane >= lane && st.lane < lane + 3);
    }
  }
  wraps = wraps && prog.periodic();
  for (uint64_t s = 0; s < steps; ++s) {
    // The world's counter is the index of this step (modulo 2^64).
    const uint64_t counter = world.step();
    for (uint32_t id : rule_ids) {
      // Polled before the rule and after it: a sweep cut short by the flag leaves partial
      // results, which must not reach the non-finite check as if they were a step's.
      if (cancel_requested(opts.cancel) || !runner.run_rule(id, s + 1, counter)) {
        res.cancelled = true;
        return res;
      }
    }
    // Agents that left the box during the step re-enter it on the other side (only a rule that
    // stores coordinates or spawns agents can have moved one).
    if (wraps) world.wrap_all();
    res.steps_done = s + 1;
    world.set_step(counter + 1);
  }
  return res;
}

}  // namespace

RunStepsResult run_steps(WorldBase& world, const std::vector<uint32_t>& rule_ids, uint64_t steps,
                         double dt, const ExecOptions& options) {
  if (world.precision() == Precision::F64)
    return run(static_cast<World<double>&>(world), rule_ids, steps, dt, options);
  return run(static_cast<World<float>&>(world), rule_ids, steps, dt, options);
}

}  // namespace brz
