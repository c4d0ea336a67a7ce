// Typed conversions between terms and C++ values, in one place (docs/nif.md, "Layout of the C++
// side"). decode<T> reads an argument or throws brz::ArgumentError with the caller's message,
// which the NIF wrapper raises as an Elixir ArgumentError; encode makes the term of a value.
//
// ERL_NIF_TERM and ErlNifUInt64 are the same C++ type on 64-bit systems, so no overload takes a
// raw term: a term that needs no conversion is used as it is, and composite terms are decoded as
// Tuple<N> or term lists.
#pragma once

#include <erl_nif.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "brz/error.hpp"

namespace brz::nif {

using brz::ArgumentError;

/// A map term (any map).
struct Map {
  ERL_NIF_TERM term;
};

/// A binary's bytes, valid while the term is (for the rest of the call).
struct BinaryView {
  const unsigned char* data;
  std::size_t size;
};

/// The elements of a tuple of exactly N elements, undecoded.
template <std::size_t N>
using Tuple = std::array<ERL_NIF_TERM, N>;

// get(env, term, &out): true when `term` has the shape of `out`'s type, which it then holds.

/// A float, or an integer that fits in 64 bits (as a double).
bool get(ErlNifEnv* env, ERL_NIF_TERM term, double* out);
bool get(ErlNifEnv* env, ERL_NIF_TERM term, unsigned* out);
bool get(ErlNifEnv* env, ERL_NIF_TERM term, ErlNifUInt64* out);
/// `true` or `false`.
bool get(ErlNifEnv* env, ERL_NIF_TERM term, bool* out);
bool get(ErlNifEnv* env, ERL_NIF_TERM term, Map* out);
bool get(ErlNifEnv* env, ERL_NIF_TERM term, BinaryView* out);
/// A binary, copied.
bool get(ErlNifEnv* env, ERL_NIF_TERM term, std::string* out);

template <std::size_t N>
bool get(ErlNifEnv* env, ERL_NIF_TERM term, Tuple<N>* out) {
  int arity;
  const ERL_NIF_TERM* el;
  if (!enif_get_tuple(env, term, &arity, &el) || arity != int(N)) return false;
  for (std::size_t k = 0; k < N; ++k) (*out)[k] = el[k];
  return true;
}

template <class Tup, std::size_t... I>
bool get_elements(ErlNifEnv* env, const ERL_NIF_TERM* el, Tup* out, std::index_sequence<I...>) {
  return (get(env, el[I], &std::get<I>(*out)) && ...);  // in order, up to the first mismatch
}

/// A tuple of exactly sizeof...(Ts) elements, each decoded as its type.
template <class... Ts>
bool get(ErlNifEnv* env, ERL_NIF_TERM term, std::tuple<Ts...>* out) {
  int arity;
  const ERL_NIF_TERM* el;
  if (!enif_get_tuple(env, term, &arity, &el) || arity != int(sizeof...(Ts))) return false;
  return get_elements(env, el, out, std::index_sequence_for<Ts...>{});
}

/// `term` as a T, or nothing when it has another shape.
template <class T>
std::optional<T> try_decode(ErlNifEnv* env, ERL_NIF_TERM term) {
  T out{};
  if (!get(env, term, &out)) return std::nullopt;
  return out;
}

/// `term` as a T; throws ArgumentError(message) when it has another shape.
template <class T>
T decode(ErlNifEnv* env, ERL_NIF_TERM term, const std::string& message) {
  T out{};
  if (!get(env, term, &out)) throw ArgumentError(message);
  return out;
}

/// The elements of a proper list, in one walk (a 100,000-element state list is walked once, not
/// once for its length and again for its cells); nothing when `list` is not a proper list or has
/// more than `max` elements. A longer list is found after walking max + 1 cells: a list of 10^7
/// elements given where a few are expected is rejected at once, not walked.
std::optional<std::vector<ERL_NIF_TERM>> list_items(ErlNifEnv* env, ERL_NIF_TERM list,
                                                    std::size_t max = SIZE_MAX);

/// The text of an atom (Latin-1), or "<atom>" when it has none; for error messages.
std::string atom_text(ErlNifEnv* env, ERL_NIF_TERM atom);

ERL_NIF_TERM encode(ErlNifEnv* env, double value);
ERL_NIF_TERM encode(ErlNifEnv* env, unsigned value);
ERL_NIF_TERM encode(ErlNifEnv* env, ErlNifUInt64 value);
ERL_NIF_TERM encode(ErlNifEnv* env, long value);
/// A binary with the string's bytes.
ERL_NIF_TERM encode(ErlNifEnv* env, const std::string& value);
/// A 3-tuple of floats.
ERL_NIF_TERM encode(ErlNifEnv* env, const double (&value)[3]);

/// A list of already-made terms.
ERL_NIF_TERM make_list(ErlNifEnv* env, const std::vector<ERL_NIF_TERM>& items);

/// A map of already-made keys and values (keys distinct, as many keys as values).
ERL_NIF_TERM make_map(ErlNifEnv* env, std::vector<ERL_NIF_TERM> keys,
                      std::vector<ERL_NIF_TERM> values);

/// A map of already-made keys and values (keys distinct).
ERL_NIF_TERM make_map(ErlNifEnv* env,
                      std::initializer_list<std::pair<ERL_NIF_TERM, ERL_NIF_TERM>> entries);

/// Raises the exception struct `module` with `fields` (atom keys) besides __struct__ and
/// __exception__; returns the term the NIF must return.
ERL_NIF_TERM raise_exception(ErlNifEnv* env, ERL_NIF_TERM module,
                             std::initializer_list<std::pair<ERL_NIF_TERM, ERL_NIF_TERM>> fields);

/// Raises `module` (ArgumentError, RuntimeError) with `message`.
ERL_NIF_TERM raise_with_message(ErlNifEnv* env, ERL_NIF_TERM module, const std::string& message);

}  // namespace brz::nif
