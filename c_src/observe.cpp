// Observables: per-agent and pair reductions over blocks of agents or pairs (brz/observe.hpp).
#include "brz/observe.hpp"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <optional>
#include <string>
#include <type_traits>

#include "brz/env.hpp"
#include "brz/error.hpp"
#include "brz/exclusions.hpp"
#include "brz/generated.hpp"
#include "brz/identity_index.hpp"
#include "brz/interpreter.hpp"
#include "brz/interval.hpp"
#include "brz/scalar_eval.hpp"

namespace brz {
namespace {

// What BlockEvaluator and PairCells read.
template <class T>
struct ObserveArgs {
  const Rule* rule = nullptr;
  const T* const* cols_a = nullptr;
  const T* const* cols_b = nullptr;
  // A bonded observable: the columns of slot s >= 1 (the referenced type's lanes).
  std::vector<const T* const*> ref_cols;
  std::size_t n_a = 0, n_b = 0;
  const T* consts = nullptr;
  const T* params = nullptr;
  uint32_t n_params = 0;
  double reach = 0;
  double len[3] = {0, 0, 0};
};

[[noreturn]] void reject(std::size_t k, const std::string& msg) {
  throw ArgumentError("observe: observable " + std::to_string(k) + ": " + msg);
}

void check(const WorldBase& world, const Program& obs, const std::vector<ObserveSpec>& specs) {
  if (obs.all_lanes() != world.program().all_lanes())
    throw ArgumentError("observe: the observables program's agent types differ from the world's");
  if (obs.periodic_mask() != world.program().periodic_mask())
    throw ArgumentError("observe: the observables program's periodic axes differ from the world's");
  for (std::size_t k = 0; k < specs.size(); ++k) {
    const ObserveSpec& s = specs[k];
    if (s.rule >= obs.n_rules()) reject(k, "rule " + std::to_string(s.rule) + " out of range");
    const Rule& r = obs.rule(s.rule);
    if (!r.stores.empty() || r.has_lifecycle() || r.exclusive || r.has_random)
      reject(k, "its rule writes lanes, removes, spawns, claims or draws random numbers");
    if (s.width != 1 && s.width != 3) reject(k, "width must be 1 or 3");
    if (uint32_t(s.reduce) > 2) reject(k, "unknown reduce");
    for (uint32_t c = 0; c < s.width; ++c) {
      const bool written = std::any_of(r.instrs.begin(), r.instrs.end(), [&](const Instr& in) {
        return writes_register(in.op) && in.dst == s.regs[c];
      });
      if (!written) reject(k, "value register " + std::to_string(s.regs[c]) + " is never written");
    }
  }
}

// One chunk's (or the whole observable's) running reduction.
struct Partial {
  double value[3];
  double magnitude = 0;
  uint64_t count = 0;
  bool finite = true;

  explicit Partial(ObserveReduce reduce) {
    const double start = reduce == ObserveReduce::Max   ? -INFINITY
                         : reduce == ObserveReduce::Min ? INFINITY
                                                        : 0.0;
    std::fill(value, value + 3, start);
  }

  // Adds n values, component c at v[c][0..n), in lane order.
  template <class T>
  void add(ObserveReduce reduce, const T* const* v, uint32_t width, std::size_t n) {
    double check = 0;  // x - x is 0 for every finite x, NaN otherwise
    for (uint32_t c = 0; c < width; ++c) {
      const T* x = v[c];
      double acc = value[c];
      if (reduce == ObserveReduce::Sum)
        for (std::size_t k = 0; k < n; ++k) acc += double(x[k]);
      else if (reduce == ObserveReduce::Max)
        for (std::size_t k = 0; k < n; ++k) acc = std::max(acc, double(x[k]));
      else
        for (std::size_t k = 0; k < n; ++k) acc = std::min(acc, double(x[k]));
      for (std::size_t k = 0; k < n; ++k) check += double(x[k]) - double(x[k]);
      value[c] = acc;
    }
    if (width == 1) {
      for (std::size_t k = 0; k < n; ++k) magnitude += std::fabs(double(v[0][k]));
    } else {
      for (std::size_t k = 0; k < n; ++k) {
        const double x = v[0][k], y = v[1][k], z = v[2][k];
        magnitude += std::sqrt(x * x + y * y + z * z);
      }
    }
    if (!(check == 0)) finite = false;
    count += n;
  }

  void merge(ObserveReduce reduce, const Partial& p, uint32_t width) {
    if (p.count == 0) return;
    for (uint32_t c = 0; c < width; ++c)
      value[c] = reduce == ObserveReduce::Sum   ? value[c] + p.value[c]
                 : reduce == ObserveReduce::Max ? std::max(value[c], p.value[c])
                                                : std::min(value[c], p.value[c]);
    magnitude += p.magnitude;
    count += p.count;
    finite = finite && p.finite;
  }
};

// Registers of a block of up to kObserveBlock agents or pairs, evaluated instruction by
// instruction over the block (each op as ScalarOps defines it: the interpreter's meaning), so
// that an instruction's dispatch is paid once per block and its loop can vectorise. Lane k of
// the block is slot-0 row ia[k] and slot-1 row ib[k] (a bonded observable: slot s >= 1 is row
// refs[s - 1][k]).
constexpr std::size_t kObserveBlock = 256;

template <class T>
class BlockEvaluator {
 public:
  explicit BlockEvaluator(const ObserveArgs<T>& a)
      : a_(a), regs_(std::size_t(a.rule->n_regs) * kObserveBlock, T(0)) {}

  void run(const uint32_t* ia, const uint32_t* ib, std::size_t n,
           const uint32_t* const* refs = nullptr) {
    for (const Instr& in : a_.rule->instrs) {
      // SSA: an instruction's register is none of its operands, so the loops may vectorise.
      T* __restrict d = out(in.dst);
      switch (in.op) {
        case Op::CONST:
          std::fill(d, d + n, a_.consts[in.a]);
          break;
        case Op::PARAM:
          std::fill(d, d + n, a_.params[in.a]);
          break;
        case Op::BOX:
          std::fill(d, d + n, a_.params[a_.n_params + in.a]);
          break;
        case Op::LOAD: {
          const T* col = in.a == 0 ? a_.cols_a[in.b]
                         : refs    ? a_.ref_cols[in.a - 1][in.b]
                                   : a_.cols_b[in.b];
          const uint32_t* rows = in.a == 0 ? ia : refs ? refs[in.a - 1] : ib;
          for (std::size_t k = 0; k < n; ++k) d[k] = col[rows[k]];
          break;
        }
#define BRZ_BL_1(NAME)                                                   \
  {                                                                      \
    const T* __restrict x = reg(in.a);                                   \
    for (std::size_t k = 0; k < n; ++k) d[k] = ScalarOps<T>::NAME(x[k]); \
    break;                                                               \
  }
#define BRZ_BL_2(NAME)                                                         \
  {                                                                            \
    const T* __restrict x = reg(in.a), * __restrict y = reg(in.b);             \
    for (std::size_t k = 0; k < n; ++k) d[k] = ScalarOps<T>::NAME(x[k], y[k]); \
    break;                                                                     \
  }
#define BRZ_BL_3(NAME)                                                                         \
  {                                                                                            \
    const T* __restrict x = reg(in.a), * __restrict y = reg(in.b), * __restrict z = reg(in.c); \
    for (std::size_t k = 0; k < n; ++k) d[k] = ScalarOps<T>::NAME(x[k], y[k], z[k]);           \
    break;                                                                                     \
  }
#define BRZ_BL_Data(NAME, N)
#define BRZ_BL_Value(NAME, N) \
  case Op::NAME:              \
    BRZ_BL_##N(NAME)
#define BRZ_OP(NAME, CODE, N, KIND) BRZ_BL_##KIND(NAME, N)
#include "brz/ops.inc"
#undef BRZ_OP
#undef BRZ_BL_Value
#undef BRZ_BL_Data
#undef BRZ_BL_3
#undef BRZ_BL_2
#undef BRZ_BL_1
        default:
          break;  // lane writes, lifecycle, CLAIM, draws: rejected by check()
      }
    }
  }

  const T* reg(uint16_t r) const { return regs_.data() + std::size_t(r) * kObserveBlock; }

 private:
  T* out(uint16_t r) { return regs_.data() + std::size_t(r) * kObserveBlock; }

  const ObserveArgs<T>& a_;
  std::vector<T> regs_;
};

// The generated kernel of spec `s` when `kernels` has one that reduces what `s` asks for
// (none under BROKEN_RECORD_GENERATED_KERNELS=0, as for rules).
const RuleKernels* kernel_for(const KernelLibrary* kernels, const ObserveSpec& s) {
  if (kernels == nullptr || !env::generated_kernels()) return nullptr;
  const RuleKernels* k = kernels->rule(s.rule);
  if (k == nullptr || k->observe_f64 == nullptr || k->observe_f32 == nullptr) return nullptr;
  const uint32_t* spec = k->observe_spec;
  if (spec[0] != s.width || spec[4] != uint32_t(s.reduce)) return nullptr;
  for (uint32_t c = 0; c < s.width; ++c)
    if (spec[1 + c] != s.regs[c]) return nullptr;
  return k;
}

template <class T>
auto observe_fn(const RuleKernels& k) {
  if constexpr (std::is_same_v<T, double>)
    return k.observe_f64;
  else
    return k.observe_f32;
}

// True when the caller indices `agent[0, n)` ascend with the rows (null: the rows are in the
// caller's order): a same-type kernel's i < j of rows is then the lower caller index first, as
// the slots require.
bool ascending(const uint32_t* agent, std::size_t n) {
  if (agent == nullptr) return true;
  for (std::size_t r = 1; r < n; ++r)
    if (agent[r] < agent[r - 1]) return false;
  return true;
}

// One observable through its generated kernel: chunks of slot-0 rows, each reduced into its
// own partial result by one kernel call, the partials combined in chunk order.
template <class T>
Partial observe_kernel(const RuleKernels& k, const ObserveArgs<T>& a, const ObserveSpec& s,
                       bool same, int threads) {
  BrzObserveArgs<T> base{};
  base.params = a.params;
  base.cols_a = a.cols_a;
  base.cols_b = a.cols_b;
  base.n_a = a.n_a;
  base.n_b = same ? a.n_a : a.n_b;
  const auto fn = observe_fn<T>(k);
  const std::size_t n_chunks = (a.n_a + kObserveChunk - 1) / kObserveChunk;
  std::vector<Partial> partial(n_chunks, Partial(s.reduce));
  const int team = std::max(1, std::min<int>(threads, int(n_chunks)));
#pragma omp parallel for num_threads(team) if (team > 1) schedule(dynamic, 1)
  for (std::size_t chunk = 0; chunk < n_chunks; ++chunk) {
    Partial& p = partial[chunk];
    BrzObserveArgs<T> args = base;
    args.i_begin = chunk * kObserveChunk;
    args.i_end = std::min(a.n_a, args.i_begin + kObserveChunk);
    double out[4] = {p.value[0], p.value[1], p.value[2], 0.0};
    args.out = out;
    fn(&args);
    std::copy(out, out + 3, p.value);
    p.magnitude = out[3];
    // Every value's magnitude is in the sum: it is finite only when they all are.
    p.finite = std::isfinite(out[3]);
    for (std::size_t i = args.i_begin; i < args.i_end; ++i)
      p.count += same ? base.n_b - 1 - i : base.n_b;
  }
  Partial total(s.reduce);
  for (const Partial& p : partial) total.merge(s.reduce, p, s.width);
  return total;
}

template <class T>
ObserveResult observe_one(const World<T>& w, const Program& obs, const ObserveSpec& s,
                          const KernelLibrary* kernels, int threads, bool evaluate) {
  const Rule& r = obs.rule(s.rule);
  std::vector<const T*> cols_a(obs.lanes(r.type_a)), cols_b;
  for (uint32_t l = 0; l < cols_a.size(); ++l) cols_a[l] = w.column(r.type_a, l);
  const bool pair = r.is_pair();
  const bool same = r.kind == RuleKind::PairSame;
  const bool bonded = r.kind == RuleKind::Bonded;
  if (pair) {
    cols_b.resize(obs.lanes(r.type_b));
    for (uint32_t l = 0; l < cols_b.size(); ++l) cols_b[l] = w.column(r.type_b, l);
  }
  std::vector<T> consts(r.consts.begin(), r.consts.end());
  // Observables read no params; BOX reads the edges after them.
  std::vector<T> params(obs.n_params() + 3, T(0));
  for (int d = 0; d < 3; ++d)
    if (obs.periodic_axis(d)) params[obs.n_params() + d] = T(w.box().len[d]);

  ObserveArgs<T> a;
  a.rule = &r;
  a.cols_a = cols_a.data();
  a.cols_b = pair ? cols_b.data() : cols_a.data();
  a.n_a = w.count(r.type_a);
  a.n_b = pair ? w.count(r.type_b) : 0;
  a.consts = consts.data();
  a.params = params.data();
  a.n_params = obs.n_params();
  // A same-type observable with exclusions skips the pairs they name.
  const bool excludes = r.exclude.type != kNoType;
  PairCells<T, ObserveArgs<T>> cells;
  bool use_cells = false;
  // With cells, the candidate pairs at squared distance >= cut2 (in double, minimum images on
  // periodic axes) are skipped as the engine's neighbour sweeps skip them: their value is the
  // else branch's 0.0 (docs/engine.md, "Observables").
  double cut2 = 0, len[3] = {0, 0, 0}, inv_len[3] = {0, 0, 0};
  const T* pos_a[3] = {};
  const T* pos_b[3] = {};
  if (pair && r.has_cutoff) {
    const std::optional<Interval> iv =
        register_interval<T>(w, r, r.cutoff_reg, consts.data(), params.data(), threads, 50000);
    if (iv && iv->hi > 0) {
      a.reach = iv->hi;
      for (int d = 0; d < 3; ++d) a.len[d] = obs.periodic_axis(d) ? w.box().len[d] : 0.0;
      use_cells = cells.build(a);
      cut2 = a.reach * a.reach;
      for (int d = 0; d < 3; ++d) {
        len[d] = a.len[d];
        inv_len[d] = len[d] > 0 ? 1.0 / len[d] : 0.0;
        pos_a[d] = cols_a[r.cutoff_lane_a + d];
        pos_b[d] = cols_b[r.cutoff_lane_b + d];
      }
    }
  }
  const auto near = [&](std::size_t ra, std::size_t rb) {
    double s = 0;
    for (int d = 0; d < 3; ++d) {
      const double x = min_image(double(pos_b[d][rb]) - double(pos_a[d][ra]), len[d], inv_len[d]);
      s += x * x;
    }
    return s < cut2;
  };

  // A same-type pair's slot 0 is the agent of lower caller index, as in the Elixir backend,
  // whatever the storage order.
  const uint32_t* agent = same ? w.agents(r.type_a) : nullptr;
  const RuleKernels* kernel = pair && !excludes && !use_cells ? kernel_for(kernels, s) : nullptr;
  if (kernel != nullptr && same && !ascending(agent, a.n_a)) kernel = nullptr;
  ObserveResult out;
  out.path = kernel != nullptr ? ObservePath::Kernel
             : use_cells       ? ObservePath::Cells
             : bonded          ? ObservePath::Bonded
             : pair            ? ObservePath::AllPairs
                               : ObservePath::Agents;
  if (!evaluate) return out;
  if (kernel != nullptr) {
    const Partial total = observe_kernel(*kernel, a, s, same, threads);
    std::copy(total.value, total.value + 3, out.value);
    out.magnitude = total.magnitude;
    out.count = total.count;
    out.finite = total.finite;
    return out;
  }
  // What only the block evaluator reads: the exclusions, and the rows a bonded observable's
  // references name, found (and checked) before the parallel sweep.
  const ExcludedPairs excluded = excludes ? ExcludedPairs::of(w, r) : ExcludedPairs();
  std::vector<std::vector<const T*>> ref_lanes;
  std::vector<std::vector<uint32_t>> ref_rows;
  if (bonded) {
    ref_lanes.resize(r.refs.size());
    ref_rows.resize(r.refs.size());
    for (std::size_t q = 0; q < r.refs.size(); ++q) {
      const RefSlot& ref = r.refs[q];
      for (uint32_t l = 0; l < obs.lanes(ref.type); ++l)
        ref_lanes[q].push_back(w.column(ref.type, l));
      a.ref_cols.push_back(ref_lanes[q].data());
      const IdentityIndex index = IdentityIndex::of(w, ref.type);
      const T* col = w.column(r.type_a, ref.lane);
      ref_rows[q].resize(a.n_a);
      for (std::size_t i = 0; i < a.n_a; ++i) {
        const uint32_t row = index.row(col[i]);
        if (row == IdentityIndex::kNone)
          throw ArgumentError("observe: agent " + std::to_string(w.agent_at(r.type_a, i)) +
                              " of type " + std::to_string(r.type_a) + " references " +
                              std::to_string(double(col[i])) + ", not a living agent of type " +
                              std::to_string(ref.type));
        ref_rows[q][i] = row;
      }
    }
  }
  // Chunks of slot-0 rows, or of cells for a same-type rule over cells (a half stencil).
  const bool by_cell = same && use_cells;
  const std::size_t units = by_cell ? cells.n_cells() : a.n_a;
  const std::size_t n_chunks = (units + kObserveChunk - 1) / kObserveChunk;
  std::vector<Partial> partial(n_chunks, Partial(s.reduce));
  const int team = std::max(1, std::min<int>(threads, int(n_chunks)));
#pragma omp parallel num_threads(team) if (team > 1)
  {
    BlockEvaluator<T> ev(a);
    uint32_t ia[kObserveBlock], ib[kObserveBlock];
    std::vector<std::vector<uint32_t>> rb(ref_rows.size(), std::vector<uint32_t>(kObserveBlock));
    std::vector<const uint32_t*> rb_ptr;
    for (const auto& v : rb) rb_ptr.push_back(v.data());
    std::size_t n = 0;
    // Evaluates the pending block into p, in lane order.
    const auto flush = [&](Partial& p) {
      if (n == 0) return;
      ev.run(ia, ib, n, bonded ? rb_ptr.data() : nullptr);
      const T* v[3];
      for (uint32_t c = 0; c < s.width; ++c) v[c] = ev.reg(s.regs[c]);
      p.add(s.reduce, v, s.width, n);
      n = 0;
    };
    const auto push = [&](Partial& p, std::size_t ra, std::size_t rb) {
      if (excludes && excluded.excluded(uint32_t(ra), uint32_t(rb))) return;
      if (agent != nullptr && agent[rb] < agent[ra]) std::swap(ra, rb);
      ia[n] = uint32_t(ra);
      ib[n] = uint32_t(rb);
      if (++n == kObserveBlock) flush(p);
    };
#pragma omp for schedule(dynamic, 1)
    for (std::size_t chunk = 0; chunk < n_chunks; ++chunk) {
      Partial& p = partial[chunk];
      const std::size_t end = std::min(units, (chunk + 1) * kObserveChunk);
      for (std::size_t u = chunk * kObserveChunk; u < end; ++u) {
        if (by_cell)
          cells.half_pairs(u, [&](std::size_t ra, std::size_t rb) {
            if (near(ra, rb)) push(p, ra, rb);
          });
        else if (bonded) {
          for (std::size_t q = 0; q < ref_rows.size(); ++q) rb[q][n] = ref_rows[q][u];
          push(p, u, 0);
        } else if (!pair)
          push(p, u, 0);
        else if (use_cells)
          cells.around(u, [&](std::size_t rb) {
            if (near(u, rb)) push(p, u, rb);
          });
        else
          for (std::size_t rb = same ? u + 1 : 0; rb < a.n_b; ++rb) push(p, u, rb);
      }
      flush(p);
    }
  }
  Partial total(s.reduce);
  for (const Partial& p : partial) total.merge(s.reduce, p, s.width);
  std::copy(total.value, total.value + 3, out.value);
  out.magnitude = total.magnitude;
  out.count = total.count;
  out.finite = total.finite;
  return out;
}

}  // namespace

namespace {

std::vector<ObserveResult> observe_all(const WorldBase& world, const Program& observables,
                                       const std::vector<ObserveSpec>& specs,
                                       const KernelLibrary* kernels, int max_threads,
                                       bool evaluate) {
  check(world, observables, specs);
  const int threads = max_threads > 0 ? max_threads : omp_get_max_threads();
  std::vector<ObserveResult> results;
  results.reserve(specs.size());
  for (const ObserveSpec& s : specs) {
    if (world.precision() == Precision::F64)
      results.push_back(observe_one(static_cast<const World<double>&>(world), observables, s,
                                    kernels, threads, evaluate));
    else
      results.push_back(observe_one(static_cast<const World<float>&>(world), observables, s,
                                    kernels, threads, evaluate));
  }
  return results;
}

}  // namespace

std::vector<ObserveResult> observe(const WorldBase& world, const Program& observables,
                                   const std::vector<ObserveSpec>& specs, int max_threads,
                                   const KernelLibrary* kernels) {
  return observe_all(world, observables, specs, kernels, max_threads, true);
}

std::vector<ObservePath> observe_paths(const WorldBase& world, const Program& observables,
                                       const std::vector<ObserveSpec>& specs,
                                       const KernelLibrary* kernels) {
  std::vector<ObservePath> paths;
  for (const ObserveResult& r : observe_all(world, observables, specs, kernels, 1, false))
    paths.push_back(r.path);
  return paths;
}

const char* observe_path_name(ObservePath path) noexcept {
  switch (path) {
    case ObservePath::Kernel:
      return "kernel";
    case ObservePath::Cells:
      return "cells";
    case ObservePath::Bonded:
      return "bonded";
    case ObservePath::AllPairs:
      return "all_pairs";
    case ObservePath::Agents:
      break;
  }
  return "agents";
}

}  // namespace brz
