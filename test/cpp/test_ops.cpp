// Every opcode against the scalar reference, both precisions, every ISA, awkward sizes.
#include <catch2/catch.hpp>

#include "builder.hpp"

using namespace brzt;

namespace {

struct OpCase {
  Op op;
  double lo0, hi0, lo1, hi1;
  double tol_f32;  // relative tolerance in f32 (xsimd vectorised math)
};

const std::vector<OpCase> kCases = {
    {Op::ADD, -10, 10, -10, 10, 0},   {Op::SUB, -10, 10, -10, 10, 0},
    {Op::MUL, -10, 10, -10, 10, 0},   {Op::DIV, -10, 10, 0.5, 4, 0},
    {Op::POW, 0.1, 10, -3, 3, 2e-6},  {Op::MIN, -1, 1, -1, 1, 0},
    {Op::MAX, -1, 1, -1, 1, 0},       {Op::NEG, -5, 5, 0, 0, 0},
    {Op::ABS, -5, 5, 0, 0, 0},        {Op::SQRT, 0, 100, 0, 0, 0},
    {Op::EXP, -20, 20, 0, 0, 1e-6},   {Op::LOG, 1e-3, 1e3, 0, 0, 1e-6},
    {Op::SIN, -20, 20, 0, 0, 1e-5},   {Op::COS, -20, 20, 0, 0, 1e-5},
    {Op::FLOOR, -1e3, 1e3, 0, 0, 0},  {Op::LT, -1, 1, -1, 1, 0},
    {Op::LE, -1, 1, -1, 1, 0},        {Op::GT, -1, 1, -1, 1, 0},
    {Op::GE, -1, 1, -1, 1, 0},        {Op::EQ, -1, 1, -1, 1, 0},
    {Op::NE, -1, 1, -1, 1, 0},        {Op::AND, -1, 1, -1, 1, 0},
    {Op::OR, -1, 1, -1, 1, 0},        {Op::NOT, -1, 1, 0, 0, 0},
    {Op::SELECT, -1, 1, -5, 5, 0},    {Op::ATAN2, -10, 10, -10, 10, 2e-6},
    {Op::TANH, -20, 20, 0, 0, 2e-6},  {Op::ROUND, -1e3, 1e3, 0, 0, 0},
    {Op::SIGN, -2, 2, 0, 0, 0},       {Op::MOD, -10, 10, 0.5, 4, 2e-6},
    {Op::MINIMG, -30, 30, 0.5, 4, 0},
};

const std::vector<std::size_t> kSizes = {0, 1, 7, 8, 9, 63, 64, 65, 1000};

std::shared_ptr<const brz::Program> op_program(Op op) {
  ProgramBuilder pb;
  pb.lanes = {4};
  auto& r = pb.per_agent(0);
  const uint16_t a = r.load(0, 0), b = r.load(0, 1), c = r.load(0, 2);
  const int n = brz::op_reg_operands(op);
  const uint16_t out = r.op(op, a, n >= 2 ? b : 0, n >= 3 ? c : 0);
  r.store(0, 3, out);
  return pb.build();
}

template <class T>
void run_case(const OpCase& oc, const brz::SweepSet* ks, std::size_t n, uint64_t seed) {
  auto prog = op_program(oc.op);
  std::mt19937_64 rng(seed);
  Cols<T> cols(1, std::vector<std::vector<T>>(4, std::vector<T>(n)));
  std::uniform_real_distribution<double> d0(oc.lo0, oc.hi0), d1(oc.lo1, oc.hi1);
  for (std::size_t i = 0; i < n; ++i) {
    cols[0][0][i] = static_cast<T>(d0(rng));
    cols[0][1][i] = static_cast<T>(d1(rng));
    cols[0][2][i] = static_cast<T>(d1(rng));
    // Exercise exact ties for comparisons and booleans.
    if (i % 5 == 0) cols[0][1][i] = cols[0][0][i];
    if (i % 7 == 0) cols[0][0][i] = 0;
    if (oc.op == Op::DIV || oc.op == Op::POW || oc.op == Op::LOG)
      if (cols[0][0][i] == 0 || (oc.op != Op::DIV && cols[0][0][i] < 0))
        cols[0][0][i] = static_cast<T>(oc.lo0 + 0.5);
    if ((oc.op == Op::DIV || oc.op == Op::MOD) && cols[0][1][i] == 0) cols[0][1][i] = 1;
  }
  brz::World<T> w(prog, {n});
  load_world(w, cols);
  ref_run_rule<T>(*prog, 0, cols, {0.1});
  brz::ExecOptions opts;
  opts.sweeps = ks;
  brz::run_steps(w, {0}, 1, 0.1, opts);
  const double tol = std::is_same<T, double>::value ? 0.0 : oc.tol_f32;
  INFO("op " << brz::op_name(static_cast<uint16_t>(oc.op)) << " isa " << ks->name << " n " << n
             << " f" << sizeof(T) * 8);
  CHECK(max_rel_err(w, cols, 1e-30) <= tol);
}

}  // namespace

TEST_CASE("every opcode matches the scalar reference", "[ops]") {
  for (const brz::SweepSet* ks : all_sweep_sets())
    for (const OpCase& oc : kCases)
      for (std::size_t n : kSizes) {
        run_case<double>(oc, ks, n, 7 + n);
        run_case<float>(oc, ks, n, 11 + n);
      }
}

TEST_CASE("NaN semantics of comparisons, booleans, select, min and max", "[ops]") {
  // r = sqrt(-1) = NaN is an intermediate only; the stored results are finite.
  for (const brz::SweepSet* ks : all_sweep_sets()) {
    ProgramBuilder pb;
    pb.lanes = {10};
    auto& r = pb.per_agent(0);
    const uint16_t x = r.load(0, 0);
    const uint16_t nan = r.op(Op::SQRT, r.cnst(-1.0));
    r.store(0, 1, r.op(Op::LT, nan, x));
    r.store(0, 2, r.op(Op::NE, nan, nan));
    r.store(0, 3, r.op(Op::EQ, nan, nan));
    r.store(0, 4, r.op(Op::AND, nan, x));                  // NaN counts as true
    r.store(0, 5, r.op(Op::NOT, nan));                     // -> 0
    r.store(0, 6, r.op(Op::SELECT, nan, x, r.cnst(7.0)));  // NaN is true -> x
    r.store(0, 7, r.op(Op::MIN, x, nan));                  // NaN < x is false -> x
    r.store(0, 8, r.op(Op::MAX, x, nan));                  // x < NaN is false -> x
    r.store(0, 9, r.op(Op::OR, r.cnst(0.0), nan));         // -> 1
    auto prog = pb.build();
    for (std::size_t n : kSizes) {
      brz::World<double> w(prog, {n});
      for (std::size_t i = 0; i < n; ++i) w.column(0, 0)[i] = 2.5;
      brz::ExecOptions o;
      o.sweeps = ks;
      brz::run_steps(w, {0}, 1, 0.0, o);
      for (std::size_t i = 0; i < n; ++i) {
        INFO("isa " << ks->name << " n " << n << " i " << i);
        CHECK(w.column(0, 1)[i] == 0.0);
        CHECK(w.column(0, 2)[i] == 1.0);
        CHECK(w.column(0, 3)[i] == 0.0);
        CHECK(w.column(0, 4)[i] == 1.0);
        CHECK(w.column(0, 5)[i] == 0.0);
        CHECK(w.column(0, 6)[i] == 2.5);
        CHECK(w.column(0, 7)[i] == 2.5);
        CHECK(w.column(0, 8)[i] == 2.5);
        CHECK(w.column(0, 9)[i] == 1.0);
      }
    }
  }
}

TEST_CASE("floor, round, sign and abs on signed zeros, halves and large values", "[ops]") {
  for (const brz::SweepSet* ks : all_sweep_sets()) {
    ProgramBuilder pb;
    pb.lanes = {5};
    auto& r = pb.per_agent(0);
    const uint16_t x = r.load(0, 0);
    r.store(0, 1, r.op(Op::FLOOR, x));
    r.store(0, 2, r.op(Op::ABS, x));
    r.store(0, 3, r.op(Op::ROUND, x));
    r.store(0, 4, r.op(Op::SIGN, x));
    auto prog = pb.build();
    const std::vector<double> xs = {-0.0,
                                    0.0,
                                    -0.5,
                                    0.5,
                                    -1.0,
                                    4503599627370497.0,
                                    -1e300,
                                    2.5,
                                    -2.5,
                                    1e-310,
                                    1.5,
                                    -1.5,
                                    -0.4,
                                    0.49999999999999994,
                                    2251799813685248.5};
    brz::World<double> w(prog, {xs.size()});
    for (std::size_t i = 0; i < xs.size(); ++i) w.column(0, 0)[i] = xs[i];
    brz::ExecOptions o;
    o.sweeps = ks;
    brz::run_steps(w, {0}, 1, 0.0, o);
    for (std::size_t i = 0; i < xs.size(); ++i) {
      INFO("isa " << ks->name << " x " << xs[i]);
      CHECK(w.column(0, 1)[i] == std::floor(xs[i]));
      CHECK(std::signbit(w.column(0, 1)[i]) == std::signbit(std::floor(xs[i])));
      CHECK(w.column(0, 2)[i] == std::fabs(xs[i]));
      CHECK(!std::signbit(w.column(0, 2)[i]));
      CHECK(w.column(0, 3)[i] == std::round(xs[i]));
      CHECK(std::signbit(w.column(0, 3)[i]) == std::signbit(std::round(xs[i])));
      const double sign = xs[i] > 0 ? 1.0 : (xs[i] < 0 ? -1.0 : xs[i]);
      CHECK(w.column(0, 4)[i] == sign);
      CHECK(std::signbit(w.column(0, 4)[i]) == std::signbit(sign));
    }
  }
}

TEST_CASE("atan2 on signed zeros, every quadrant and large values, f64 bit-identical", "[ops]") {
  const std::vector<double> vs = {-0.0, 0.0,  -0.5,  0.5,    -1.0,  1.0,
                                  2.5,  -2.5, 1e300, -1e300, 1e-310};
  const std::size_t n = vs.size() * vs.size();
  for (const brz::SweepSet* ks : all_sweep_sets()) {
    ProgramBuilder pb;
    pb.lanes.push_back(3);  // not `= {3}`: GCC 12 warns (-Wnonnull) on that assignment here
    auto& r = pb.per_agent(0);
    const uint16_t y = r.load(0, 0), x = r.load(0, 1);
    r.store(0, 2, r.op(Op::ATAN2, y, x));
    auto prog = pb.build();
    brz::World<double> w(prog, {n});
    for (std::size_t i = 0; i < n; ++i) {
      w.column(0, 0)[i] = vs[i / vs.size()];
      w.column(0, 1)[i] = vs[i % vs.size()];
    }
    brz::ExecOptions o;
    o.sweeps = ks;
    brz::run_steps(w, {0}, 1, 0.0, o);
    for (std::size_t i = 0; i < n; ++i) {
      const double want = std::atan2(w.column(0, 0)[i], w.column(0, 1)[i]);
      INFO("isa " << ks->name << " y " << w.column(0, 0)[i] << " x " << w.column(0, 1)[i]);
      CHECK(w.column(0, 2)[i] == want);
      CHECK(std::signbit(w.column(0, 2)[i]) == std::signbit(want));
    }
  }
}

TEST_CASE("MINIMG rounds half to even, in SIMD bodies and tails", "[ops]") {
  // a - b * rint(a * c) with b = c = 1: ties at every half-integer, of both signs.
  const std::vector<double> a = {0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 3.25, -3.75, 0.0, -0.0, 7.5};
  const std::vector<double> expect = {0.5, -0.5, 0.5, -0.5, 0.5, -0.5, 0.25, 0.25, 0.0, 0.0, -0.5};
  ProgramBuilder pb;
  pb.lanes = {2};
  auto& r = pb.per_agent(0);
  const uint16_t one = r.cnst(1.0);
  r.store(0, 1, r.op(Op::MINIMG, r.load(0, 0), one, one));
  auto prog = pb.build();
  for (const brz::SweepSet* ks : all_sweep_sets())
    for (std::size_t n : kSizes) {
      brz::World<double> w(prog, {n});
      brz::World<float> wf(prog, {n});
      for (std::size_t i = 0; i < n; ++i) {
        w.column(0, 0)[i] = a[i % a.size()];
        wf.column(0, 0)[i] = static_cast<float>(a[i % a.size()]);
      }
      brz::ExecOptions o;
      o.sweeps = ks;
      brz::run_steps(w, {0}, 1, 0.0, o);
      brz::run_steps(wf, {0}, 1, 0.0, o);
      for (std::size_t i = 0; i < n; ++i) {
        INFO("isa " << ks->name << " n " << n << " i " << i);
        CHECK(w.column(0, 1)[i] == expect[i % a.size()]);
        CHECK(std::signbit(w.column(0, 1)[i]) == std::signbit(expect[i % a.size()]));
        CHECK(wf.column(0, 1)[i] == static_cast<float>(expect[i % a.size()]));
      }
    }
}

TEST_CASE("BOX reads the box edge of its axis after the params", "[ops]") {
  ProgramBuilder pb;
  pb.lanes.assign(1, 4);
  pb.n_params = 2;
  pb.periodic_mask = 0b101;
  pb.coord_lane.assign(1, 0);
  auto& r = pb.per_agent(0);
  r.store(0, 3, r.op(Op::ADD, r.box(0), r.op(Op::MUL, r.box(2), r.param(1))));
  auto prog = pb.build();
  const double lo[3] = {-1, 0, 2}, hi[3] = {2, 1, 7.5};
  for (const brz::SweepSet* ks : all_sweep_sets())
    for (std::size_t n : kSizes) {
      brz::World<double> w(prog, {n});
      w.set_box(lo, hi);
      w.params() = {0.1, 10.0};
      brz::ExecOptions o;
      o.sweeps = ks;
      brz::run_steps(w, {0}, 1, 0.1, o);
      for (std::size_t i = 0; i < n; ++i) CHECK(w.column(0, 3)[i] == 3.0 + 5.5 * 10.0);
    }
}
