// Philox4x32-10 and its conversions (brz/philox.hpp): Random123's known answers, a vectorised
// loop against a textbook reference, the open intervals of the uniforms, their statistics, and
// the tables of exact results that test/broken_record/zero/philox_test.exs checks the Elixir
// implementation against.
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "brz/philox.hpp"

namespace {

bool same(const brz::Philox4x32& a, const brz::Philox4x32& b) {
  return a.x0 == b.x0 && a.x1 == b.x1 && a.x2 == b.x2 && a.x3 == b.x3;
}

// Philox4x32-10 as Random123's philox.h writes it (arrays, mulhilo, bump after each round but
// the last), independent of the struct API.
void reference(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]) {
  uint32_t c[4] = {ctr[0], ctr[1], ctr[2], ctr[3]};
  uint32_t k[2] = {key[0], key[1]};
  for (int r = 0; r < 10; ++r) {
    const uint64_t p0 = uint64_t{0xD2511F53u} * c[0];
    const uint64_t p1 = uint64_t{0xCD9E8D57u} * c[2];
    const uint32_t next[4] = {uint32_t(p1 >> 32) ^ c[1] ^ k[0], uint32_t(p1),
                              uint32_t(p0 >> 32) ^ c[3] ^ k[1], uint32_t(p0)};
    std::memcpy(c, next, sizeof c);
    k[0] += 0x9E3779B9u;
    k[1] += 0xBB67AE85u;
  }
  std::memcpy(out, c, sizeof c);
}

uint64_t bits(double x) {
  uint64_t b;
  std::memcpy(&b, &x, sizeof b);
  return b;
}

double from_bits(uint64_t b) {
  double x;
  std::memcpy(&x, &b, sizeof x);
  return x;
}

// Distance in units in the last place between two finite doubles of the same sign.
uint64_t ulps(double a, double b) {
  const uint64_t x = bits(a), y = bits(b);
  return x > y ? x - y : y - x;
}

// uniform_f64(hi, lo) -> its bits. The same literal rows are in philox_test.exs.
struct UniformRow {
  uint32_t hi, lo;
  uint64_t bits;
};
const UniformRow kUniformTable[] = {
    // clang-format off
    // uniform table begin
    {0x00000000, 0x00000000, 0x3CA0000000000000},
    {0xFFFFFFFF, 0xFFFFFFFF, 0x3FEFFFFFFFFFFFFF},
    {0x00000000, 0x00000FFF, 0x3CA0000000000000},
    {0x00000000, 0x00001000, 0x3CB8000000000000},
    {0x00000001, 0x00000000, 0x3DF0000080000000},
    {0x80000000, 0x00000000, 0x3FE0000000000001},
    {0x12345678, 0x9ABCDEF0, 0x3FB23456789ABCD8},
    {0x6627E8D5, 0xE169C58D, 0x3FD989FA35785A72},
    {0xBC57AC4C, 0x9B00DBD8, 0x3FE78AF58993601B},
    {0xD16CFE09, 0x94FDCCEB, 0x3FEA2D9FC1329FB9},
    {0x5001E420, 0x24126EA1, 0x3FD400790809049A},
    {0x408F276D, 0x41C83B0E, 0x3FD023C9DB50720E},
    {0xA20BC7C6, 0x6D5451FD, 0x3FE44178F8CDAA8B},
    // uniform table end
    // clang-format on
};

// normal_f64(uniform_f64(w0, w1), uniform_f64(w2, w3)) -> its bits, as computed with glibc's
// libm; checked to within kNormalUlps (another libm may differ in the last bits).
struct NormalRow {
  uint32_t w0, w1, w2, w3;
  uint64_t bits;
};
const NormalRow kNormalTable[] = {
    // clang-format off
    // normal table begin
    {0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8, 0xBFBF1BCD549837E1},
    {0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1, 0xBFCF0E5557976905},
    {0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD, 0xBFF1D0237EB0DFC3},
    {0x00000000, 0x00000000, 0x00000000, 0x00000000, 0x402124B2800EDA48},
    {0x00000000, 0x00000000, 0xFFFFFFFF, 0xFFFFFFFF, 0x402124B2800EDA48},
    {0xFFFFFFFF, 0xFFFFFFFF, 0x00000000, 0x00000000, 0x3E50000000000000},
    // normal table end
    // clang-format on
};
constexpr uint64_t kNormalUlps = 4;

}  // namespace

TEST_CASE("Philox4x32-10 matches Random123's known answers", "[philox]") {
  struct Kat {
    brz::Philox4x32 ctr;
    brz::PhiloxKey key;
    brz::Philox4x32 out;
  };
  const Kat kats[] = {
      {{0, 0, 0, 0}, {0, 0}, {0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8}},
      {{0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344},
       {0xA4093822, 0x299F31D0},
       {0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1}},
      {{0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF},
       {0xFFFFFFFF, 0xFFFFFFFF},
       {0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD}},
  };
  for (const Kat& kat : kats) {
    CHECK(same(brz::philox4x32_10(kat.ctr, kat.key), kat.out));
    const uint32_t c[4] = {kat.ctr.x0, kat.ctr.x1, kat.ctr.x2, kat.ctr.x3};
    const uint32_t k[2] = {kat.key.k0, kat.key.k1};
    uint32_t r[4];
    reference(c, k, r);
    CHECK(same(brz::Philox4x32{r[0], r[1], r[2], r[3]}, kat.out));
  }
}

TEST_CASE("Philox4x32-10 in an omp simd loop over SoA lanes equals the scalar reference",
          "[philox]") {
  constexpr std::size_t n = 1000;
  std::vector<uint32_t> c0(n), c1(n), c2(n), c3(n), o0(n), o1(n), o2(n), o3(n);
  for (std::size_t i = 0; i < n; ++i) {
    // Counters that vary in every word, with carries and all-ones words among them.
    c0[i] = static_cast<uint32_t>(i);
    c1[i] = static_cast<uint32_t>(i * 0x9E3779B97F4A7C15ull >> 32);
    c2[i] = ~static_cast<uint32_t>(i);
    c3[i] = static_cast<uint32_t>(i % 7 == 0 ? 0xFFFFFFFFu : i * 3);
  }
  const brz::PhiloxKey key{0x01234567u, 0x89ABCDEFu};
  std::vector<double> u(n);
  const uint32_t *p0 = c0.data(), *p1 = c1.data(), *p2 = c2.data(), *p3 = c3.data();
  uint32_t *q0 = o0.data(), *q1 = o1.data(), *q2 = o2.data(), *q3 = o3.data();
  double* pu = u.data();
#pragma omp simd
  for (std::size_t i = 0; i < n; ++i) {
    const brz::Philox4x32 o = brz::philox4x32_10(brz::Philox4x32{p0[i], p1[i], p2[i], p3[i]}, key);
    q0[i] = o.x0;
    q1[i] = o.x1;
    q2[i] = o.x2;
    q3[i] = o.x3;
    pu[i] = brz::uniform_f64(o.x0, o.x1);
  }
  std::size_t mismatches = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const uint32_t c[4] = {c0[i], c1[i], c2[i], c3[i]};
    const uint32_t k[2] = {key.k0, key.k1};
    uint32_t r[4];
    reference(c, k, r);
    const uint64_t m = (uint64_t{r[0]} << 20) | (r[1] >> 12);
    const double expected_u = static_cast<double>(2 * m + 1) * 0x1p-53;
    if (o0[i] != r[0] || o1[i] != r[1] || o2[i] != r[2] || o3[i] != r[3] ||
        bits(u[i]) != bits(expected_u))
      ++mismatches;
  }
  CHECK(mismatches == 0);
}

TEST_CASE("Uniforms lie in the open interval (0, 1) at the extremes", "[philox]") {
  CHECK(brz::uniform_f64(0, 0) == 0x1p-53);
  CHECK(brz::uniform_f64(0xFFFFFFFFu, 0xFFFFFFFFu) == 1.0 - 0x1p-53);
  CHECK(brz::uniform_f64(0xFFFFFFFFu, 0xFFFFFFFFu) < 1.0);
  CHECK(brz::uniform_f32(0) == 0x1p-24f);
  CHECK(brz::uniform_f32(0xFFFFFFFFu) == 1.0f - 0x1p-24f);
  CHECK(brz::uniform_f32(0xFFFFFFFFu) < 1.0f);
  // The extreme uniforms give finite normals (the largest: sqrt(-2 log 2^-53) = 8.57...).
  for (double u1 : {0x1p-53, 1.0 - 0x1p-53})
    for (double u2 : {0x1p-53, 0.5, 1.0 - 0x1p-53}) CHECK(std::isfinite(brz::normal_f64(u1, u2)));
  for (float u1 : {0x1p-24f, 1.0f - 0x1p-24f})
    for (float u2 : {0x1p-24f, 0.5f, 1.0f - 0x1p-24f})
      CHECK(std::isfinite(brz::normal_f32(u1, u2)));
  CHECK(std::fabs(brz::normal_f64(0x1p-53, 0x1p-53) - std::sqrt(106.0 * std::log(2.0))) < 1e-12);
}

TEST_CASE("uniform_f64 and normal_f64 give the tabled results", "[philox]") {
  for (const UniformRow& row : kUniformTable) {
    INFO("hi = " << row.hi << ", lo = " << row.lo);
    CHECK(bits(brz::uniform_f64(row.hi, row.lo)) == row.bits);
  }
  for (const NormalRow& row : kNormalTable) {
    INFO("words = " << row.w0 << " " << row.w1 << " " << row.w2 << " " << row.w3);
    const double z =
        brz::normal_f64(brz::uniform_f64(row.w0, row.w1), brz::uniform_f64(row.w2, row.w3));
    CHECK(ulps(z, from_bits(row.bits)) <= kNormalUlps);
  }
}

// 10^6 deviates from counters (i, 0, 0, 0) under a fixed key: two uniforms or one normal per
// counter. Each bound is 5 standard errors of the estimate for a perfect generator (for the
// variance: sqrt((mu4 - sigma^4) / N)), so a correct generator passes a fixed key with
// probability 1 - 6e-7 while a bias of a few parts in 10^4 fails.
TEST_CASE("Uniforms and normals have the right mean and variance", "[philox]") {
  constexpr std::size_t n = 1000000;
  const brz::PhiloxKey key{0xCAFEF00Du, 0x0BADBEEFu};
  double su = 0, suu = 0, sn = 0, snn = 0, sf = 0, sff = 0, sg = 0, sgg = 0;
  for (std::size_t i = 0; i < n / 2; ++i) {
    const brz::Philox4x32 o =
        brz::philox4x32_10(brz::Philox4x32{static_cast<uint32_t>(i), 0, 0, 0}, key);
    for (double u : {brz::uniform_f64(o.x0, o.x1), brz::uniform_f64(o.x2, o.x3)}) {
      su += u;
      suu += (u - 0.5) * (u - 0.5);
    }
    for (float u : {brz::uniform_f32(o.x0), brz::uniform_f32(o.x2)}) {
      sf += u;
      sff += (u - 0.5) * (u - 0.5);
    }
  }
  for (std::size_t i = 0; i < n; ++i) {
    const brz::Philox4x32 o =
        brz::philox4x32_10(brz::Philox4x32{static_cast<uint32_t>(i), 1, 0, 0}, key);
    const double z = brz::normal_f64(brz::uniform_f64(o.x0, o.x1), brz::uniform_f64(o.x2, o.x3));
    sn += z;
    snn += z * z;
    const double g = brz::normal_f32(brz::uniform_f32(o.x0), brz::uniform_f32(o.x2));
    sg += g;
    sgg += g * g;
  }
  const double N = static_cast<double>(n);
  // Uniform: mean 1/2, variance 1/12, SE(mean) = sqrt(1/12 / N), SE(var) = sqrt((1/80 - 1/144) /
  // N).
  const double se_um = std::sqrt(1.0 / 12.0 / N), se_uv = std::sqrt((1.0 / 80 - 1.0 / 144) / N);
  CHECK(std::fabs(su / N - 0.5) < 5 * se_um);
  CHECK(std::fabs(suu / N - 1.0 / 12.0) < 5 * se_uv);
  CHECK(std::fabs(sf / N - 0.5) < 5 * se_um);
  CHECK(std::fabs(sff / N - 1.0 / 12.0) < 5 * se_uv);
  // Normal: mean 0, variance 1, SE(mean) = sqrt(1 / N), SE(var) = sqrt((3 - 1) / N).
  const double se_nm = std::sqrt(1.0 / N), se_nv = std::sqrt(2.0 / N);
  CHECK(std::fabs(sn / N) < 5 * se_nm);
  CHECK(std::fabs(snn / N - 1.0) < 5 * se_nv);
  CHECK(std::fabs(sg / N) < 5 * se_nm);
  CHECK(std::fabs(sgg / N - 1.0) < 5 * se_nv);
}
