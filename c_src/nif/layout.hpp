// The layout of a world's agent types as the Elixir side names them (docs/nif.md, "layout"):
// collection keys, field atoms, kinds, defaults and lanes, and which fields have been written.
#pragma once

#include <erl_nif.h>

#include <cstdint>
#include <string>
#include <vector>

#include "brz/program.hpp"

namespace brz::nif {

// Bool lanes hold 0/1, enum lanes the value's index in `values`.
enum class FieldKind { Float, Int, Vec3, Bool, Enum };

struct FieldInfo {
  ERL_NIF_TERM atom;  // atoms are valid in every environment
  std::string name;
  FieldKind kind;
  std::vector<ERL_NIF_TERM> values;  // an enum's atoms, in code order
  uint32_t first_lane;
  bool has_default = false;
  double def[3] = {0, 0, 0};
  bool transient = false;  // never read from nor written to the state
  bool written = false;
  uint32_t width() const { return kind == FieldKind::Vec3 ? 3 : 1; }
  bool holds(uint32_t lane) const { return lane >= first_lane && lane < first_lane + width(); }
};

struct TypeInfo {
  ERL_NIF_TERM key;
  std::string key_name;
  std::string type_name;
  std::vector<FieldInfo> fields;
  bool any_written = false;
  /// The field that holds `lane`, or nullptr.
  const FieldInfo* field_of(uint32_t lane) const;
  /// Marks the field that holds `lane` as written, so world_to_state replaces it (a transient
  /// field never is).
  void mark_written(uint32_t lane);
};

/// The layout argument of world_new, checked against the program; throws ArgumentError
/// ("invalid layout: ...").
std::vector<TypeInfo> parse_layout(ErlNifEnv* env, ERL_NIF_TERM layout, const brz::Program& prog);

}  // namespace brz::nif
