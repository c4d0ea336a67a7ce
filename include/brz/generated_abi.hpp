// The plain-data ABI between the engine and the fused kernels generated from a program at
// `mix compile` (BrokenRecord.Zero.Codegen.Cpp, docs/kernels.md). This header is included both by
// the engine (c_src/generated.cpp) and by every generated translation unit, so it must stay
// self-contained: no std:: types, no engine headers, only C-compatible data.
//
// Bump kBrzGenAbiVersion whenever anything below changes; a library built against another
// version is rejected by the loader (and the generator's cache key changes with this file).
#pragma once

#include <stddef.h>
#include <stdint.h>

// Version of this ABI, exported by a generated library as `brz_abi_version`.
#define BRZ_GEN_ABI_VERSION 9u

// Arguments of one call of a generated kernel, T = double (f64 kernels) or float (f32 kernels).
//
// Per-agent kernel (rule kind 0): for i in [i_begin, i_end), evaluates the rule for agent i of
// type_a and writes the stored lanes to cols_a[lane][i] (every load of the body sees the values
// from before the body ran). If any value it stores is NaN or infinite it sets *nonfinite = 1
// (it never writes 0): the caller then runs its exact non-finite check, and skips it otherwise.
//
// Pair kernel (kinds 1 and 2): for i in [i_begin, i_end) of type_a and j in [j_begin(i), n_b) of
// type_b, with j_begin(i) = i + 1 for pair-same rules and 0 for pair-cross rules, adds
// `stored - start` of every STORE and the register of every ACC (version 2) to the accumulator
// array of that instruction: acc[s][agent], s the index of the STORE or ACC among the rule's
// STOREs and ACCs in program order, agent = i for slot 0 and j for slot 1. Stores of the same
// (type, lane) share one array (acc[s] equal for both). The kernel
// reads columns only and writes only the accumulators of agents it visits; the caller
// initialises accumulators to -0.0, reduces threads and applies the deltas.
//
// Pair-block kernel (kinds 1 and 2, version 3; used by the cell-list sweep, docs/kernels.md):
// for k in [i_begin, i_end), evaluates the rule for the pair (slot 0 = lane values
// cols_a[lane][k], slot 1 = cols_b[lane][k]) and writes its delta to acc[s][k], s the index of
// the STORE or ACC among the rule's STOREs and ACCs in program order: `stored - start` for a
// STORE (start = cols_a / cols_b[lane][k] of its slot), the register for an ACC. Every acc[s]
// is its own array (nothing is shared or accumulated); the caller scatters the deltas to the
// agents. cols_a / cols_b hold a column for every lane the rule LOADs or STOREs through that
// slot (other entries may be null); n_a = n_b = the pairs in the block; cols are never written.
//
// Random numbers (version 7): a kernel evaluates UNIFORM / NORMAL at call site `a` of rule k as
// docs/program.md ("Random numbers") defines them, with the Philox key {seed, (k << 16) | a},
// the counter {c0, c1, step mod 2^32, step div 2^32} and the conversions of brz/philox.hpp
// (which a generated library includes). (c0, c1) come from the identities of the pair's agents:
// ids_a[x] is the identity of the agent at index x of cols_a (its row, or its place in the
// block), ids_b[x] that of cols_b; (id, 0) in a per-agent rule, (min, max) of both in a
// pair-same rule, (id_a, id_b) in a pair-cross rule. ids_a / ids_b are readable wherever the
// columns of their slot are (padding included) and null when the rule draws nothing.
template <class T>
struct BrzKernelArgs {
  const T* params;         // n_params values (params[0] = dt), then the box edges (version 5)
  T* const* cols_a;        // one column per lane of type_a (per-agent kernels write them)
  const T* const* cols_b;  // one column per lane of type_b (pair kernels; else nullptr)
  T* const* acc;           // pair kernels: one accumulator array per STORE/ACC (see above)
  size_t n_a, n_b;         // agents of type_a / type_b
  size_t i_begin, i_end;   // the range of slot-0 agents this call covers
  int* nonfinite;          // per-agent kernels: set to 1 when a stored value is not finite
  const uint32_t* ids_a;   // identity of the agent at each index of cols_a (version 7)
  const uint32_t* ids_b;   // identity of the agent at each index of cols_b (pair kernels)
  uint64_t step;           // the step's index (the world's step counter)
  uint32_t seed;           // the world's seed
};

// params (both argument structs, version 5): n_params values in precision T, then the box edge
// lengths len[0], len[1], len[2] (0 without a box). A kernel evaluates BOX(a) as
// params[n_params + a] and MINIMG(a, b, c) as a - b * rint(a * c), rint rounding half to even
// (nearbyint in the default rounding mode).
typedef BrzKernelArgs<double> BrzKernelArgsF64;
typedef BrzKernelArgs<float> BrzKernelArgsF32;

// Arguments of a neighbour-list kernel (version 4; pair-same rules with a cutoff whose every
// store is an ACC, used by the neighbour-list sweep, docs/kernels.md): for every listed pair p
// in [begin, end), slot 0 = row li[p] and slot 1 = row lj[p] of the type's columns `cols`,
// evaluates the rule and adds the register of ACC s to acc[(row - lo) * row_stride +
// acc_col[s]], row = the slot's row. Pairs come in runs of one li (sorted by li, except that
// pairs appended after a list's build may repeat an earlier li in a run of their own), and
// the lj of one li are distinct (each unordered pair is listed once). Listed pairs beyond the
// cutoff are evaluated too: the rule's guard makes their ACCs zero. Only the accumulator window
// is written. Version 6: the kernel may also add -0.0 (which changes nothing) to any element
// of window row `pad_row`, a spare row of the window that holds no agent (it pads a run's last
// vector).
// Version 7: UNIFORM / NORMAL as in BrzKernelArgs, with ids[row] the identity of the agent at
// a row of the type (both slots; readable for every listed row, null when the rule draws
// nothing).
// Version 9: with `across` non-zero the kernel adds the pairs' ACCs pair by pair in list order
// (slot 0's, then slot 1's), evaluating them in vectors that span rows (for lists of short
// runs): it reads li and lj up to 7 entries past `end` (rows of the list, which it evaluates
// and discards) and never writes the spare row.
template <class T>
struct BrzListArgs {
  const T* params;          // as BrzKernelArgs
  const T* const* cols;     // one column per lane of the type (both slots)
  const uint32_t* li;       // slot-0 row of each listed pair
  const uint32_t* lj;       // slot-1 row of each listed pair
  size_t begin, end;        // the pairs this call covers
  T* acc;                   // accumulator window: rows [lo, ...), row_stride elements a row
  size_t row_stride;        // elements per window row
  const uint32_t* acc_col;  // per ACC (program order): its element within a window row
  uint32_t lo;              // the window's first row
  size_t pad_row;           // a window row that no agent uses (row lo + pad_row is none)
  const uint32_t* ids;      // identity of the agent at each row (version 7)
  uint64_t step;            // as BrzKernelArgs
  uint32_t seed;
  uint32_t across;  // non-zero: evaluate across rows, add pair by pair (version 9)
};

typedef BrzListArgs<double> BrzListArgsF64;
typedef BrzListArgs<float> BrzListArgsF32;

// Arguments of an observe kernel (version 8; a library generated from an observables program,
// docs/kernels.md "Observables"): for i in [i_begin, i_end) of type_a and j in [j_begin(i), n_b)
// of type_b (j_begin as for pair kernels), evaluates the observable's value registers (one, or
// three for a vec3) in precision T and reduces them in double into out[c], c < width, starting
// from out[c]'s value: a sum (reduce 0), a minimum (1) or a maximum (2) that keeps a NaN, per
// component; out[3] += the sum of the values' magnitudes (|v|, or a vec3's norm). Lanes may be
// reduced in any order that depends only on the ISA variant (vector partial sums).
template <class T>
struct BrzObserveArgs {
  const T* params;         // as BrzKernelArgs (observables read no params: zeros, then the box)
  const T* const* cols_a;  // one column per lane of type_a
  const T* const* cols_b;  // one column per lane of type_b
  size_t n_a, n_b;         // agents of type_a / type_b
  size_t i_begin, i_end;   // the range of slot-0 agents this call covers
  double* out;             // out[0..width): the reduction; out[3]: the sum of magnitudes
};

typedef BrzObserveArgs<double> BrzObserveArgsF64;
typedef BrzObserveArgs<float> BrzObserveArgsF32;

extern "C" {
typedef void (*brz_kernel_f64_fn)(const BrzKernelArgsF64*);
typedef void (*brz_kernel_f32_fn)(const BrzKernelArgsF32*);
typedef void (*brz_list_f64_fn)(const BrzListArgsF64*);
typedef void (*brz_list_f32_fn)(const BrzListArgsF32*);
typedef void (*brz_observe_f64_fn)(const BrzObserveArgsF64*);
typedef void (*brz_observe_f32_fn)(const BrzObserveArgsF32*);
}

// Symbols of a generated library (all extern "C"):
//   const uint32_t brz_abi_version;            == BRZ_GEN_ABI_VERSION
//   const char brz_program_hash[];             the cache key the library was built for (hex)
//   const uint32_t brz_program_size;           size of the program binary it was generated from
//   const unsigned char brz_program_binary[];  that binary (the loader compares it byte for byte)
//   const uint32_t brz_rule_count;             number of rules (== the program's)
//   void brz_rule_<k>_f64(const BrzKernelArgsF64*);   one pair per rule k = 0 .. count-1
//   void brz_rule_<k>_f32(const BrzKernelArgsF32*);
//   void brz_rule_<k>_block_f64(const BrzKernelArgsF64*);  pair rules only, optional: without
//   void brz_rule_<k>_block_f32(const BrzKernelArgsF32*);  them cell sweeps use the interpreter
//   void brz_rule_<k>_list_f64(const BrzListArgsF64*);  pair-same rules with a cutoff and only
//   void brz_rule_<k>_list_f32(const BrzListArgsF32*);  ACC stores, optional (version 4)
// A library generated from an observables program (version 8) has the same metadata
// (brz_rule_count = its number of observable rules) and, instead of the kernels above, per
// observable rule k that has them (pair rules without exclusions):
//   void brz_observe_<k>_f64(const BrzObserveArgsF64*);
//   void brz_observe_<k>_f32(const BrzObserveArgsF32*);
//   const uint32_t brz_observe_<k>_spec[5];  {width, value register 0, 1, 2, reduce}: what the
//                                            kernel reduces (the engine uses it for that only)
// Each kernel above is the baseline (SSE2 on x86-64) build; a library may also export, for any
// of them, `<name>_avx2` (built for AVX2 + FMA) and `<name>_avx512` (the engine's AVX-512
// features), version 4. The loader uses the widest variant the engine's ISA allows
// (BROKEN_RECORD_ISA caps it, like the engine's own kernels).
