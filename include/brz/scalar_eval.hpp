// The meaning of each op on scalars and the cells of a pair rule's cutoff, shared by the sweeps
// that evaluate pairs outside the vectorised interpreter: exclusive pair rules
// (c_src/exclusive.cpp) and observables (c_src/observe.cpp).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "brz/program.hpp"

namespace brz {

/// The meaning of each Value op of include/brz/ops.inc on one scalar: the interpreter's
/// (VecOps, c_src/interpreter.cpp) lane by lane.
template <class T>
struct ScalarOps {
  static T ADD(T a, T b) { return a + b; }
  static T SUB(T a, T b) { return a - b; }
  static T MUL(T a, T b) { return a * b; }
  static T DIV(T a, T b) { return a / b; }
  static T POW(T a, T b) { return std::pow(a, b); }
  static T MIN(T a, T b) { return b < a ? b : a; }
  static T MAX(T a, T b) { return a < b ? b : a; }
  static T NEG(T a) { return -a; }
  static T ABS(T a) { return std::fabs(a); }
  static T SQRT(T a) { return std::sqrt(a); }
  static T EXP(T a) { return std::exp(a); }
  static T LOG(T a) { return std::log(a); }
  static T SIN(T a) { return std::sin(a); }
  static T COS(T a) { return std::cos(a); }
  static T FLOOR(T a) { return std::floor(a); }
  static T ATAN2(T y, T x) { return std::atan2(y, x); }
  static T TANH(T a) { return std::tanh(a); }
  static T ROUND(T a) { return std::round(a); }
  static T SIGN(T a) { return a > T(0) ? T(1) : (a < T(0) ? T(-1) : a); }
  static T MOD(T a, T b) { return a - b * std::floor(a / b); }
  static T MINIMG(T a, T b, T c) { return a - b * std::nearbyint(a * c); }
  static T LT(T a, T b) { return a < b ? T(1) : T(0); }
  static T LE(T a, T b) { return a <= b ? T(1) : T(0); }
  static T GT(T a, T b) { return a > b ? T(1) : T(0); }
  static T GE(T a, T b) { return a >= b ? T(1) : T(0); }
  static T EQ(T a, T b) { return a == b ? T(1) : T(0); }
  static T NE(T a, T b) { return a == b ? T(0) : T(1); }
  static T AND(T a, T b) { return (a != T(0) && b != T(0)) ? T(1) : T(0); }
  static T OR(T a, T b) { return (a != T(0) || b != T(0)) ? T(1) : T(0); }
  static T NOT(T a) { return a == T(0) ? T(1) : T(0); }
  static T SELECT(T a, T b, T c) { return a == T(0) ? c : b; }
};

/// Cells of edge >= reach over the cutoff positions of both slots: the slot-1 rows of each cell,
/// and for a slot-0 row the distinct cells around it. Axes with fewer than 3 cells (and any axis
/// of a world whose positions are not all finite) are one cell, so a pair is never visited
/// twice. `Args` holds the rule, its columns (cols_a, cols_b), n_a, n_b, reach and len (box edge
/// per periodic axis, 0 when open): ExclusiveArgs, ObserveArgs.
template <class T, class Args>
class PairCells {
 public:
  /// False when the cells cannot be built (non-finite positions): visit all pairs.
  bool build(const Args& a) {
    const Rule& r = *a.rule;
    for (int d = 0; d < 3; ++d) {
      pa_[d] = a.cols_a[r.cutoff_lane_a + d];
      pb_[d] = a.cols_b[r.cutoff_lane_b + d];
    }
    const std::size_t cap = 2 * (a.n_a + a.n_b) + 1;
    for (int d = 0; d < 3; ++d) {
      double lo = INFINITY, hi = -INFINITY;
      for (std::size_t i = 0; i < a.n_a; ++i) {
        lo = std::min(lo, double(pa_[d][i]));
        hi = std::max(hi, double(pa_[d][i]));
      }
      for (std::size_t j = 0; j < a.n_b; ++j) {
        lo = std::min(lo, double(pb_[d][j]));
        hi = std::max(hi, double(pb_[d][j]));
      }
      if (!std::isfinite(lo) || !std::isfinite(hi)) return false;
      len_[d] = a.len[d];
      lo_[d] = lo;
      extent_[d] = len_[d] > 0 ? len_[d] : hi - lo;
      const double cells = std::floor(extent_[d] / a.reach);
      n_[d] = cells >= 3 ? std::size_t(std::min(cells, double(cap))) : 1;
    }
    // At most about two cells per agent: halve the longest axis (its cells only grow).
    while (n_[0] * n_[1] * n_[2] > cap) {
      const int d = int(std::max_element(n_, n_ + 3) - n_);
      n_[d] = n_[d] / 2 >= 3 ? n_[d] / 2 : 1;
    }
    for (int d = 0; d < 3; ++d) edge_[d] = extent_[d] / double(n_[d]);
    start_.assign(n_[0] * n_[1] * n_[2] + 1, 0);
    std::vector<std::size_t> cell_b(a.n_b);
    for (std::size_t j = 0; j < a.n_b; ++j) ++start_[(cell_b[j] = cell(pb_, j)) + 1];
    for (std::size_t c = 1; c < start_.size(); ++c) start_[c] += start_[c - 1];
    rows_.resize(a.n_b);
    std::vector<std::size_t> next(start_.begin(), start_.end() - 1);
    for (std::size_t j = 0; j < a.n_b; ++j) rows_[next[cell_b[j]]++] = uint32_t(j);
    return true;
  }

  /// Calls f(rb) for every slot-1 row in the cells around slot-0 row ra.
  template <class F>
  void around(std::size_t ra, F f) const {
    std::size_t k[3];
    for (int d = 0; d < 3; ++d) k[d] = coord(pa_, ra, d);
    for (int dz = -1; dz <= 1; ++dz)
      for (int dy = -1; dy <= 1; ++dy)
        for (int dx = -1; dx <= 1; ++dx) {
          std::size_t cell = 0;
          if (!offset_cell(k, dx, dy, dz, cell)) continue;
          for (std::size_t q = start_[cell]; q < start_[cell + 1]; ++q) f(rows_[q]);
        }
  }

  /// The number of cells.
  std::size_t n_cells() const noexcept { return start_.size() - 1; }

  /// Same-type rules (slot-1 rows are slot-0 rows): calls f(i, j) once for every unordered pair
  /// of rows within `cell` and between `cell` and each of its forward neighbours (offsets after
  /// (0, 0, 0) in (dz, dy, dx) order, a half stencil): over every cell, each pair of rows in
  /// neighbouring cells once.
  template <class F>
  void half_pairs(std::size_t cell, F f) const {
    const std::size_t k[3] = {cell % n_[0], cell / n_[0] % n_[1], cell / (n_[0] * n_[1])};
    for (std::size_t q = start_[cell]; q < start_[cell + 1]; ++q)
      for (std::size_t q2 = q + 1; q2 < start_[cell + 1]; ++q2) f(rows_[q], rows_[q2]);
    for (int dz = 0; dz <= 1; ++dz)
      for (int dy = dz == 0 ? 0 : -1; dy <= 1; ++dy)
        for (int dx = dz == 0 && dy == 0 ? 1 : -1; dx <= 1; ++dx) {
          std::size_t other = 0;
          if (!offset_cell(k, dx, dy, dz, other)) continue;
          for (std::size_t q = start_[cell]; q < start_[cell + 1]; ++q)
            for (std::size_t q2 = start_[other]; q2 < start_[other + 1]; ++q2)
              f(rows_[q], rows_[q2]);
        }
  }

 private:
  std::size_t coord(const T* const* p, std::size_t row, int d) const {
    if (n_[d] == 1) return 0;
    double x = double(p[d][row]) - lo_[d];
    if (len_[d] > 0) x -= len_[d] * std::floor(x / len_[d]);
    const double k = std::floor(x / edge_[d]);
    return k <= 0 ? 0 : std::min(n_[d] - 1, std::size_t(k));
  }
  std::size_t cell(const T* const* p, std::size_t row) const {
    return (coord(p, row, 2) * n_[1] + coord(p, row, 1)) * n_[0] + coord(p, row, 0);
  }
  // The cell at offset (dx, dy, dz) from the cell of coordinates k: false when it lies outside
  // an open axis (or off a single-cell axis).
  bool offset_cell(const std::size_t k[3], long dx, long dy, long dz, std::size_t& cell) const {
    const long off[3] = {dx, dy, dz};
    std::size_t c[3] = {0, 0, 0};
    for (int d = 0; d < 3; ++d) {
      const long n = long(n_[d]), v = long(k[d]) + off[d];
      if (n == 1) {
        if (off[d] != 0) return false;
      } else if (len_[d] > 0) {
        c[d] = std::size_t((v + n) % n);  // periodic: 3 or more cells, all distinct
      } else {
        if (v < 0 || v >= n) return false;
        c[d] = std::size_t(v);
      }
    }
    cell = (c[2] * n_[1] + c[1]) * n_[0] + c[0];
    return true;
  }

  const T* pa_[3] = {};
  const T* pb_[3] = {};
  double lo_[3] = {}, len_[3] = {}, extent_[3] = {}, edge_[3] = {};
  std::size_t n_[3] = {1, 1, 1};
  std::vector<std::size_t> start_;
  std::vector<uint32_t> rows_;
};

}  // namespace brz
