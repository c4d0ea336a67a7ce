// The interpreter: its interface between the executor (baseline code) and its per-ISA sweeps
// (c_src/interpreter.cpp, compiled once per instruction set). Only plain data crosses it: raw
// pointers and sizes, so no std:: code is instantiated inside the per-ISA translation units.
#pragma once

#include <cstddef>
#include <cstdint>

#include "brz/generated_abi.hpp"
#include "brz/program.hpp"

namespace brz {

/// Bytes of one register block of the interpreter: 256 f64 or 512 f32 lanes (a multiple of
/// every batch width).
constexpr std::size_t kBlockBytes = 2048;
template <class T>
constexpr std::size_t block_lanes() noexcept {
  return kBlockBytes / sizeof(T);
}

/// The minimum image of a coordinate difference d on an axis of edge `len` (inv = 1 / len):
/// d - len * rint(d / len), rint rounding half to even; len = inv = 0 on an open axis leaves d
/// as it is (a non-finite d becomes NaN). Branch-free and vectorisable: rint is the usual
/// 1.5 * 2^52 addition, exact for |d / len| < 2^51 (beyond that d is no neighbour anyway).
inline double min_image(double d, double len, double inv) noexcept {
  constexpr double kRound = 6755399441055744.0;
  const double t = d * inv;
  return d - len * ((t + kRound) - kRound);
}

/// What both neighbour sweeps share (built by c_src/neighbour_search.cpp, see docs/engine.md
/// "Neighbour search"): the candidate pairs within the cutoff are packed into blocks of pairs, the
/// lanes of both slots gathered into contiguous per-thread columns, and the whole program runs
/// over each block with outer registers treated as varying (pair_level), or the rule's generated
/// pair-block kernel does.
template <class T>
struct PairBlockArgs {
  const T* pos_a[3];  // position lanes of slot 0 / slot 1
  const T* pos_b[3];
  double cut2;  // pairs at squared distance >= cut2 (in double) are skipped
  // Box edge per axis and its inverse (0 on open axes): distances are minimum images.
  double len[3], inv_len[3];
  bool periodic;              // some axis has len > 0
  const uint8_t* pair_level;  // per register: Level with Outer promoted to Varying
  const int32_t* g_index_a;   // per lane of type_a: its gathered column, or -1
  const int32_t* g_index_b;   // per lane of type_b: its gathered column (after type_a's), or -1
  uint32_t lanes_a, lanes_b;  // lanes of type_a / type_b
  uint32_t n_g;               // gathered columns (both slots)
  T* gbuf;                    // per thread: n_g * (block_lanes + 16) elements, 64-byte aligned
  std::size_t gbuf_stride;
  uint32_t* ibuf;   // per thread: 2 * block_lanes pair indices
  uint64_t* evals;  // per thread (stride 8): pairs evaluated
  /// The rule's generated pair-block kernel (generated_abi.hpp), or nullptr: when set, each
  /// gathered block runs through it instead of the interpreter (its deltas go to the per-thread
  /// scratch, then to the accumulators in the same order as the interpreter's).
  void (*block_fn)(const BrzKernelArgs<T>*);
  T** bptrs;  // per thread: lanes_a + lanes_b + n_stores pointers (with block_fn)
};

/// A grid sweep (rules over two types, kind 2): agents are binned into an nx * ny * nz grid
/// (x fastest) and the columns handed to the kernel (SweepArgs::cols_a / cols_b, pairs.pos_a /
/// pos_b) are packed copies sorted by cell, so the agents of cell c are the packed indices
/// [start[c], start[c+1]). For every agent i of a cell, the kernel lists the agents j of the
/// 3x3x3 neighbourhood (its distinct cells) whose squared distance is below cut2. Cells are swept
/// in 2x2x2-cell blocks in 8 colour classes (block index parity per axis): the neighbourhoods of
/// the blocks of one class are disjoint, so every thread adds its deltas straight into the one
/// shared accumulator block SweepArgs::acc, and each agent's deltas are summed in an order that
/// does not depend on the number of threads.
template <class T>
struct GridSweepArgs {
  PairBlockArgs<T> pairs;
  uint32_t nx, ny, nz;
  /// Axes whose cells wrap (the cells at both ends are neighbours). A periodic axis of 4 or
  /// more cells has a multiple of 4, so that the colour classes stay disjoint across the wrap.
  bool periodic[3];
  const uint32_t* a_start;  // n_cells + 1 (slot 0)
  const uint32_t* b_start;  // n_cells + 1 (slot 1)
};

/// A neighbour-list sweep (same-type rules, kind 1): cols and pos are the world's own columns.
/// List t holds list_n[t] pairs of rows (list_i[t][k], list_j[t][k]) (slot 0, slot 1); the
/// pairs now at squared distance >= cut2 are skipped, the others run in blocks as in a grid
/// sweep, and their deltas go to list t's own accumulator block SweepArgs::acc + t * acc_stride,
/// at index (row - acc_lo[t]) * acc_row. Each list is swept by one thread.
template <class T>
struct ListSweepArgs {
  PairBlockArgs<T> pairs;
  uint32_t n_lists;
  /// The first position lane (both slots); the filter writes these three lanes of the gathered
  /// columns itself, so they must be gathered (g_index >= 0) with consecutive g_index per slot.
  uint32_t pos_lane;
  const uint32_t* const* list_i;
  const uint32_t* const* list_j;
  const std::size_t* list_n;
  const uint32_t* acc_lo;
  /// The accumulator windows are row-major, acc_row elements per row (one per stored lane;
  /// SweepArgs::store_acc gives the lane's position in the row).
  std::size_t acc_row;
  /// Per list, one byte per 64-row block (row >> 6, counted from acc_lo[t] >> 6), set to 1 for
  /// the blocks of both rows of every pair whose deltas are added (a superset of the
  /// accumulators it changes); all zero before the sweep.
  uint8_t* const* touched;
  /// Prefetch the rows of upcoming pairs (worth it only when the columns do not fit in cache).
  bool prefetch;
};

/// What UNIFORM and NORMAL draw from (docs/program.md, "Random numbers"): the Philox key is
/// {seed, rule_bits | site}, the counter {c0, c1, step mod 2^32, step div 2^32} with (c0, c1)
/// from the identities of the lane's agents. ids_a / ids_b map an index of the sweep's slot-0 /
/// slot-1 columns (a world row, or a packed index in a grid sweep) to the identity of the agent
/// there; they are readable up to the column capacity and null when the rule draws nothing.
/// In a per-agent sweep ids_a are the counter words c0 and ids_b, when set, the words c1 (the
/// executor runs the pairs of a lifecycle pair rule as agents, docs/engine.md "Agent
/// lifecycle"); unset, c1 is 0.
struct RandomArgs {
  uint32_t seed = 0;
  uint32_t rule_bits = 0;  // the rule's index << 16
  uint64_t step = 0;
  const uint32_t* ids_a = nullptr;
  const uint32_t* ids_b = nullptr;
};

/// Everything one sweep of one rule needs. Built by the executor.
template <class T>
struct SweepArgs {
  RuleKind kind;
  uint32_t n_regs;
  const uint8_t* reg_level;  // Level per register
  const Instr* uniform_ops;
  uint32_t n_uniform;
  const Instr* outer_ops;
  uint32_t n_outer;
  const Instr* varying_ops;
  uint32_t n_varying;
  const StoreRef* stores;
  uint32_t n_stores;
  const std::size_t* store_acc;  // pair rules: offset of each store's accumulator in a thread block
  const T* consts;
  const T* params;         // n_params values, then the box edges len[0], len[1], len[2]
  uint32_t n_params;       // BOX reads params[n_params + axis]
  T* const* cols_a;        // one column per lane of type_a (written directly by per-agent rules)
  const T* const* cols_b;  // pair rules: one column per lane of type_b
  std::size_t n_a, n_b;
  int n_threads;  // 1 = serial
  T* scratch;     // n_threads * scratch_stride elements, 64-byte aligned blocks
  std::size_t scratch_stride;
  const T** ptrs;  // n_threads * n_regs register pointers
  T* acc;          // pair rules: n_threads * acc_stride accumulators (set to -0.0)
  std::size_t acc_stride;
  // Pair rules: at most one of these is set; a grid sweep adds to one shared accumulator block,
  // a list sweep to one block per list.
  const GridSweepArgs<T>* grid = nullptr;
  const ListSweepArgs<T>* list = nullptr;
  const int* cancel = nullptr;  // all-pairs sweeps skip their remaining rows once non-zero
  RandomArgs random;            // the rule's UNIFORM and NORMAL
};

/// Whether a cancellation flag (ExecOptions::cancel) is set; a relaxed atomic load, so that
/// sweeps can poll it cheaply from any thread.
inline bool cancel_requested(const int* flag) noexcept {
  return flag != nullptr && __atomic_load_n(flag, __ATOMIC_RELAXED) != 0;
}

/// SweepArgs with the fields that come from rule `r` filled in (its kind, registers with their
/// `levels`, instruction lists and stores); the caller sets the rest.
template <class T>
inline SweepArgs<T> rule_sweep_args(const Rule& r, const uint8_t* levels) {
  SweepArgs<T> a{};
  a.kind = r.kind;
  a.n_regs = r.n_regs;
  a.reg_level = levels;
  a.uniform_ops = r.uniform_ops.data();
  a.n_uniform = uint32_t(r.uniform_ops.size());
  a.outer_ops = r.outer_ops.data();
  a.n_outer = uint32_t(r.outer_ops.size());
  a.varying_ops = r.varying_ops.data();
  a.n_varying = uint32_t(r.varying_ops.size());
  a.stores = r.stores.data();
  a.n_stores = uint32_t(r.stores.size());
  return a;
}

/// Elements of scratch one thread needs for a rule.
template <class T>
constexpr std::size_t scratch_elems(uint32_t n_regs, uint32_t n_stores) noexcept {
  return (std::size_t(n_regs) + n_stores + 2) * block_lanes<T>();
}

/// The interpreter's sweeps compiled for one instruction set.
struct SweepSet {
  const char* name;  // "sse2", "avx2", "avx512"
  std::size_t width_f64, width_f32;
  void (*sweep_f64)(const SweepArgs<double>&);
  void (*sweep_f32)(const SweepArgs<float>&);
};

namespace interp_sse2 {
extern const SweepSet sweep_set;
}
namespace interp_avx2 {
extern const SweepSet sweep_set;
}
namespace interp_avx512 {
extern const SweepSet sweep_set;
}

}  // namespace brz
