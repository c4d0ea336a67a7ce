// Interval analysis of a pair rule's registers (see brz/interval.hpp). Baseline ISA code.
#include "brz/interval.hpp"

#include <omp.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <type_traits>
#include <utility>

namespace brz {

namespace {

template <class T>
struct IvCtx {
  // Relative widening after an IEEE op (covers rounding to T and the double evaluation here)
  // and after a transcendental (f32: xsimd's implementations, tested to <= 1e-5 relative).
  static constexpr double kRel = std::is_same<T, double>::value ? 4.5e-16 : 1.2e-7;
  static constexpr double kRelTr = std::is_same<T, double>::value ? 1e-14 : 4e-5;
  static constexpr double kTiny = std::is_same<T, double>::value ? 1e-300 : 1e-37;
  static constexpr double kMax = std::is_same<T, double>::value ? DBL_MAX : FLT_MAX;
};

using OptIv = std::optional<Interval>;

template <class T>
OptIv finish(double lo, double hi, double rel) {
  if (!(lo <= hi)) return std::nullopt;  // NaN included
  lo -= std::fabs(lo) * rel;             // a lower bound of 0 stays 0 (rounding is monotone)
  hi += std::fabs(hi) * rel + (hi != 0 ? IvCtx<T>::kTiny : 0.0);
  if (!(std::fabs(lo) <= IvCtx<T>::kMax) || !(std::fabs(hi) <= IvCtx<T>::kMax)) return std::nullopt;
  return Interval{lo, hi};
}

inline bool contains_zero(const Interval& a) { return a.lo <= 0 && a.hi >= 0; }

// The bound of each Value op of include/brz/ops.inc; std::nullopt is "unbounded". Operands are
// the bounds of the operand registers; an operand that is the same register as another arrives
// as the same object (MUL uses it: x*x is a square).
template <class T>
struct IvOps {
  static constexpr double rel = IvCtx<T>::kRel, tr = IvCtx<T>::kRelTr;
  static constexpr Interval boolean{0.0, 1.0};

  static OptIv ADD(const OptIv& a, const OptIv& b) {
    if (!a || !b) return std::nullopt;
    return finish<T>(a->lo + b->lo, a->hi + b->hi, rel);
  }
  static OptIv SUB(const OptIv& a, const OptIv& b) {
    if (!a || !b) return std::nullopt;
    return finish<T>(a->lo - b->hi, a->hi - b->lo, rel);
  }
  static OptIv MUL(const OptIv& a, const OptIv& b) {
    if (!a || !b) return std::nullopt;
    if (&a == &b) {
      const double m = std::max(a->lo * a->lo, a->hi * a->hi);
      const double lo = contains_zero(*a) ? 0.0 : std::min(a->lo * a->lo, a->hi * a->hi);
      return finish<T>(lo, m, rel);
    }
    const double p[4] = {a->lo * b->lo, a->lo * b->hi, a->hi * b->lo, a->hi * b->hi};
    return finish<T>(*std::min_element(p, p + 4), *std::max_element(p, p + 4), rel);
  }
  static OptIv DIV(const OptIv& a, const OptIv& b) {
    if (!a || !b || contains_zero(*b)) return std::nullopt;
    const double p[4] = {a->lo / b->lo, a->lo / b->hi, a->hi / b->lo, a->hi / b->hi};
    return finish<T>(*std::min_element(p, p + 4), *std::max_element(p, p + 4), rel);
  }
  static OptIv POW(const OptIv& a, const OptIv& b) {
    if (!a || !b) return std::nullopt;
    if (b->lo == b->hi && b->lo == std::floor(b->lo) && std::fabs(b->lo) <= 64) {
      const int k = static_cast<int>(b->lo);
      if (k == 0) return Interval{1.0, 1.0};
      if (k < 0 && contains_zero(*a)) return std::nullopt;
      const double x = std::pow(a->lo, k), y = std::pow(a->hi, k);
      if (k % 2 != 0) return finish<T>(std::min(x, y), std::max(x, y), tr);  // monotone
      if (contains_zero(*a)) return finish<T>(0.0, std::max(x, y), tr);      // even, k > 0
      return finish<T>(std::min(x, y), std::max(x, y), tr);
    }
    // Real exponent: pow(x, y) = exp(y log x) is monotone in each argument on a box with x > 0,
    // so the extremes lie at the corners. x = 0 is allowed only with y > 0 (0^y = 0).
    if (a->lo < 0) return std::nullopt;
    if (a->lo == 0 && b->lo <= 0) return std::nullopt;
    const double p[4] = {std::pow(a->lo, b->lo), std::pow(a->lo, b->hi), std::pow(a->hi, b->lo),
                         std::pow(a->hi, b->hi)};
    return finish<T>(*std::min_element(p, p + 4), *std::max_element(p, p + 4), tr);
  }
  static OptIv MIN(const OptIv& a, const OptIv& b) {
    if (!a || !b) return std::nullopt;
    return Interval{std::min(a->lo, b->lo), std::min(a->hi, b->hi)};
  }
  static OptIv MAX(const OptIv& a, const OptIv& b) {
    if (!a || !b) return std::nullopt;
    return Interval{std::max(a->lo, b->lo), std::max(a->hi, b->hi)};
  }
  static OptIv NEG(const OptIv& a) {
    if (!a) return std::nullopt;
    return Interval{-a->hi, -a->lo};
  }
  static OptIv ABS(const OptIv& a) {
    if (!a) return std::nullopt;
    if (a->lo >= 0) return a;
    if (a->hi <= 0) return Interval{-a->hi, -a->lo};
    return Interval{0.0, std::max(-a->lo, a->hi)};
  }
  static OptIv SQRT(const OptIv& a) {
    if (!a || a->lo < 0) return std::nullopt;
    return finish<T>(std::sqrt(a->lo), std::sqrt(a->hi), rel);
  }
  static OptIv EXP(const OptIv& a) {
    if (!a) return std::nullopt;
    return finish<T>(std::exp(a->lo), std::exp(a->hi), tr);
  }
  static OptIv LOG(const OptIv& a) {
    if (!a || a->lo <= 0) return std::nullopt;
    return finish<T>(std::log(a->lo), std::log(a->hi), tr);
  }
  static OptIv SIN(const OptIv& a) { return a ? OptIv(Interval{-1.0, 1.0}) : std::nullopt; }
  static OptIv COS(const OptIv& a) { return a ? OptIv(Interval{-1.0, 1.0}) : std::nullopt; }
  static OptIv FLOOR(const OptIv& a) {
    if (!a) return std::nullopt;
    return Interval{std::floor(a->lo), std::floor(a->hi)};
  }
  static OptIv ATAN2(const OptIv& y, const OptIv& x) {
    if (!y || !x) return std::nullopt;
    return finish<T>(-M_PI, M_PI, tr);
  }
  static OptIv TANH(const OptIv& a) {  // increasing, in [-1, 1]
    if (!a) return std::nullopt;
    return finish<T>(std::tanh(a->lo), std::tanh(a->hi), tr);
  }
  static OptIv ROUND(const OptIv& a) {  // non-decreasing, exact
    if (!a) return std::nullopt;
    return Interval{std::round(a->lo), std::round(a->hi)};
  }
  static OptIv SIGN(const OptIv& a) {  // non-decreasing, exact
    if (!a) return std::nullopt;
    const auto sign = [](double v) { return v > 0 ? 1.0 : (v < 0 ? -1.0 : 0.0); };
    return Interval{sign(a->lo), sign(a->hi)};
  }
  // The sign of b and |result| <= |b|, up to the rounding of a / b (which can make the floor
  // one too high, leaving a result just below 0 of the order of |a| ulps).
  static OptIv MOD(const OptIv& a, const OptIv& b) {
    if (!a || !b || contains_zero(*b)) return std::nullopt;
    const double slack = 4 * rel * std::max(std::fabs(a->lo), std::fabs(a->hi));
    if (b->lo > 0) return finish<T>(-slack, b->hi, rel);
    return finish<T>(b->lo, slack, rel);
  }
  // Comparisons and booleans are 0 or 1 whatever their operands (NaN included).
  // a - b * rint(a * c): with c = 1 / b (as the front end emits it), |result| <= |b| / 2 up to
  // the rounding of a * c and of the product; bounded by |b| * (0.5 + slack) whatever c is
  // only when |a * c| is small enough for rint to be exact, so the bound asks that of a and c.
  static OptIv MINIMG(const OptIv& a, const OptIv& b, const OptIv& c) {
    if (!a || !b || !c) return std::nullopt;
    const double amax = std::max(std::fabs(a->lo), std::fabs(a->hi));
    const double bmax = std::max(std::fabs(b->lo), std::fabs(b->hi));
    const double cmax = std::max(std::fabs(c->lo), std::fabs(c->hi));
    if (!(amax * cmax < 1e15)) return std::nullopt;
    // The result is a - b * k with k = rint(a * c), |k| <= |a * c| + 0.5: a sound bound for any
    // b, c, tightened to |b| (0.5 + slack) when c is 1 / b exactly up to rounding.
    const double kmax = std::floor(amax * cmax * (1 + 4 * rel) + 0.5);
    double m = amax + bmax * kmax;
    if (b->lo == b->hi && c->lo == c->hi && b->lo != 0 && std::fabs(b->lo * c->lo - 1) <= 4 * rel)
      m = std::min(m, std::fabs(b->lo) * (0.5 + 8 * rel) + 4 * rel * amax);
    return finish<T>(-m, m, 4 * rel);
  }
  static OptIv LT(const OptIv&, const OptIv&) { return boolean; }
  static OptIv LE(const OptIv&, const OptIv&) { return boolean; }
  static OptIv GT(const OptIv&, const OptIv&) { return boolean; }
  static OptIv GE(const OptIv&, const OptIv&) { return boolean; }
  static OptIv EQ(const OptIv&, const OptIv&) { return boolean; }
  static OptIv NE(const OptIv&, const OptIv&) { return boolean; }
  static OptIv AND(const OptIv&, const OptIv&) { return boolean; }
  static OptIv OR(const OptIv&, const OptIv&) { return boolean; }
  static OptIv NOT(const OptIv&) { return boolean; }
  // The result is b or c whatever the condition is (even NaN): refine when it is known.
  static OptIv SELECT(const OptIv& a, const OptIv& b, const OptIv& c) {
    if (a && (a->lo > 0 || a->hi < 0)) return b;
    if (a && a->lo == 0 && a->hi == 0) return c;
    if (b && c) return Interval{std::min(b->lo, c->lo), std::max(b->hi, c->hi)};
    return std::nullopt;
  }
};

}  // namespace

template <class T>
std::optional<Interval> lane_range(const World<T>& w, uint32_t type, uint32_t lane, int threads) {
  const std::size_t n = w.count(type);
  if (n == 0) return std::nullopt;
  const T* col = w.column(type, lane);
  double lo = INFINITY, hi = -INFINITY;
  bool finite = true;
  const long nl = static_cast<long>(n);
#pragma omp parallel for num_threads(threads) if (threads > 1) reduction(min : lo) \
    reduction(max : hi) reduction(&& : finite)
  for (long i = 0; i < nl; ++i) {
    const double v = col[i];
    finite = finite && std::isfinite(v);
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  if (!finite) return std::nullopt;
  return Interval{lo, hi};
}

template <class T>
std::optional<Interval> register_interval(const World<T>& w, const Rule& r, uint32_t reg,
                                          const T* consts, const T* params, int max_threads,
                                          std::size_t parallel_threshold) {
  if (!r.is_pair() || reg >= r.n_regs) return std::nullopt;
  // Backward slice of `reg`, then one forward pass over it (SSA: operands precede their use).
  std::vector<char> need(r.n_regs, 0);
  need[reg] = 1;
  for (std::size_t k = r.instrs.size(); k-- > 0;) {
    const Instr& in = r.instrs[k];
    if (!writes_register(in.op) || !need[in.dst]) continue;
    const int n_ops = op_reg_operands(in.op);
    if (n_ops >= 1) need[in.a] = 1;
    if (n_ops >= 2) need[in.b] = 1;
    if (n_ops >= 3) need[in.c] = 1;
  }
  std::vector<OptIv> iv(r.n_regs);
  std::vector<std::pair<std::pair<uint32_t, uint32_t>, OptIv>> loaded;  // (type, lane) ranges
  for (const Instr& in : r.instrs) {
    if (!writes_register(in.op) || !need[in.dst]) continue;
    OptIv& d = iv[in.dst];
    switch (in.op) {
      case Op::CONST:
      case Op::PARAM:
      case Op::BOX: {
        const double v = in.op == Op::CONST   ? double(consts[in.a])
                         : in.op == Op::PARAM ? double(params[in.a])
                                              : double(params[w.program().n_params() + in.a]);
        if (std::isfinite(v)) d = Interval{v, v};
        break;
      }
      case Op::LOAD: {
        // Both slots of a same-type rule often load the same lane: one scan each.
        const uint32_t type = r.slot_type(in.a);
        auto seen = std::find_if(loaded.begin(), loaded.end(), [&](const auto& e) {
          return e.first == std::make_pair(type, uint32_t(in.b));
        });
        if (seen == loaded.end()) {
          const int threads = w.count(type) > parallel_threshold ? max_threads : 1;
          loaded.emplace_back(std::make_pair(type, uint32_t(in.b)),
                              lane_range(w, type, in.b, threads));
          seen = loaded.end() - 1;
        }
        d = seen->second;
        break;
      }
      // The extremes of philox.hpp's conversions: uniform_f64 / uniform_f32 are exact, in
      // [2^-53, 1 - 2^-53] / [2^-24, 1 - 2^-24]; Box-Muller from such uniforms stays within
      // 8.58 (f64) and 5.8 (f32), and the vectorised log and cos cannot leave 8.6.
      case Op::UNIFORM:
        d = std::is_same<T, double>::value ? Interval{0x1p-53, 1 - 0x1p-53}
                                           : Interval{0x1p-24, 1 - 0x1p-24};
        break;
      case Op::NORMAL:
        d = Interval{-8.6, 8.6};
        break;
      case Op::STORE:
      case Op::ACC:
      case Op::ACCMAX:
      case Op::ACCMIN:
      case Op::CLAIM:
      case Op::REMOVE:
      case Op::SPAWN:
      case Op::SPAWNLANE:
        break;
#define BRZ_IV_1(NAME) d = IvOps<T>::NAME(iv[in.a]);
#define BRZ_IV_2(NAME) d = IvOps<T>::NAME(iv[in.a], iv[in.b]);
#define BRZ_IV_3(NAME) d = IvOps<T>::NAME(iv[in.a], iv[in.b], iv[in.c]);
#define BRZ_IV_Data(NAME, N)
#define BRZ_IV_Value(NAME, N) \
  case Op::NAME:              \
    BRZ_IV_##N(NAME) break;
#define BRZ_OP(NAME, CODE, N, KIND) BRZ_IV_##KIND(NAME, N)
#include "brz/ops.inc"
#undef BRZ_OP
#undef BRZ_IV_Value
#undef BRZ_IV_Data
#undef BRZ_IV_3
#undef BRZ_IV_2
#undef BRZ_IV_1
    }
  }
  return iv[reg];
}

std::optional<double> cutoff_upper_bound(const WorldBase& w, const Rule& r,
                                         const std::vector<double>& params) {
  if (!r.has_cutoff || r.kind == RuleKind::PerAgent) return std::nullopt;
  auto go = [&](auto tag) -> std::optional<double> {
    using T = decltype(tag);
    std::vector<T> c, p;
    for (double v : r.consts) c.push_back(to_precision<T>(v));
    for (double v : params) p.push_back(to_precision<T>(v));
    p.resize(w.program().n_params(), T(0));
    for (int d = 0; d < 3; ++d) p.push_back(to_precision<T>(w.box().len[d]));
    if (c.empty()) c.push_back(T(0));
    const auto iv = register_interval<T>(static_cast<const World<T>&>(w), r, r.cutoff_reg, c.data(),
                                         p.data(), 1, SIZE_MAX);
    if (!iv) return std::nullopt;
    return iv->hi;
  };
  if (w.precision() == Precision::F64) return go(double{});
  return go(float{});
}

template std::optional<Interval> lane_range<double>(const World<double>&, uint32_t, uint32_t, int);
template std::optional<Interval> lane_range<float>(const World<float>&, uint32_t, uint32_t, int);
template std::optional<Interval> register_interval<double>(const World<double>&, const Rule&,
                                                           uint32_t, const double*, const double*,
                                                           int, std::size_t);
template std::optional<Interval> register_interval<float>(const World<float>&, const Rule&,
                                                          uint32_t, const float*, const float*, int,
                                                          std::size_t);

}  // namespace brz
