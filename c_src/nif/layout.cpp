#include "nif/layout.hpp"

#include <cmath>
#include <optional>

#include "nif/atoms.hpp"
#include "nif/term.hpp"

namespace brz::nif {

const FieldInfo* TypeInfo::field_of(uint32_t lane) const {
  const FieldInfo* found = nullptr;
  for (const FieldInfo& f : fields)
    if (f.holds(lane)) found = &f;
  return found;
}

void TypeInfo::mark_written(uint32_t lane) {
  for (FieldInfo& f : fields)
    if (f.holds(lane) && !f.transient) {
      f.written = true;
      any_written = true;
    }
}

namespace {

[[noreturn]] void bad_layout(const std::string& msg) {
  throw ArgumentError("invalid layout: " + msg);
}

// An enum kind {enum, [atom, ...]}: its atoms, or nullopt.
std::optional<std::vector<ERL_NIF_TERM>> enum_values(ErlNifEnv* env, ERL_NIF_TERM kind) {
  const std::optional<Tuple<2>> el = try_decode<Tuple<2>>(env, kind);
  if (!el || !enif_is_identical((*el)[0], atom::enum_)) return std::nullopt;
  const auto items = list_items(env, (*el)[1]);
  if (!items || items->empty()) return std::nullopt;
  for (ERL_NIF_TERM a : *items)
    if (!enif_is_atom(env, a)) return std::nullopt;
  return *items;
}

FieldInfo parse_field(ErlNifEnv* env, ERL_NIF_TERM term, const std::string& where) {
  const std::optional<Tuple<4>> el = try_decode<Tuple<4>>(env, term);
  if (!el || !enif_is_atom(env, (*el)[0]))
    bad_layout(where + ": each field must be {name, kind, default, transient}");
  const auto [name, kind, def, transient] = *el;
  FieldInfo fi;
  fi.atom = name;
  fi.name = atom_text(env, name);
  if (enif_is_identical(kind, atom::float_))
    fi.kind = FieldKind::Float;
  else if (enif_is_identical(kind, atom::int_))
    fi.kind = FieldKind::Int;
  else if (enif_is_identical(kind, atom::vec3))
    fi.kind = FieldKind::Vec3;
  else if (enif_is_identical(kind, atom::bool_))
    fi.kind = FieldKind::Bool;
  else if (auto values = enum_values(env, kind)) {
    fi.kind = FieldKind::Enum;
    fi.values = std::move(*values);
  } else
    bad_layout(where + ": field " + fi.name + " has an unknown kind");
  if (enif_is_identical(transient, atom::true_))
    fi.transient = true;
  else if (!enif_is_identical(transient, atom::false_))
    bad_layout(where + ": field " + fi.name + ": transient must be true or false");
  if (!enif_is_identical(def, atom::nil)) {
    fi.has_default = true;
    bool good;
    if (fi.kind == FieldKind::Vec3) {
      const auto v = try_decode<std::tuple<double, double, double>>(env, def);
      good = v.has_value();
      if (good) std::tie(fi.def[0], fi.def[1], fi.def[2]) = *v;
    } else {
      good = get(env, def, &fi.def[0]);
    }
    // A bool or enum default is its lane code.
    if (good && fi.kind == FieldKind::Bool) good = fi.def[0] == 0 || fi.def[0] == 1;
    if (good && fi.kind == FieldKind::Enum)
      good = fi.def[0] >= 0 && fi.def[0] < double(fi.values.size()) &&
             fi.def[0] == std::floor(fi.def[0]);
    if (!good) bad_layout(where + ": bad default for field " + fi.name);
  }
  if (fi.transient && !fi.has_default)
    bad_layout(where + ": transient field " + fi.name + " needs a default");
  return fi;
}

TypeInfo parse_type(ErlNifEnv* env, ERL_NIF_TERM entry, uint32_t t, const brz::Program& prog) {
  const std::string where = "entry " + std::to_string(t);
  const std::optional<Tuple<4>> el = try_decode<Tuple<4>>(env, entry);
  if (!el) bad_layout(where + " must be {collection_key, type_name, fields, written_lanes}");
  const auto [key, type_name, fields, written] = *el;
  TypeInfo ti;
  if (!enif_is_atom(env, key)) bad_layout(where + ": collection_key must be an atom");
  ti.key = key;
  ti.key_name = atom_text(env, key);
  if (!get(env, type_name, &ti.type_name)) bad_layout(where + ": type_name must be a string");
  const auto field_terms = list_items(env, fields);
  if (!field_terms) bad_layout(where + ": fields must be a list");
  uint32_t lane = 0;
  for (ERL_NIF_TERM f : *field_terms) {
    FieldInfo fi = parse_field(env, f, where);
    fi.first_lane = lane;
    lane += fi.width();
    ti.fields.push_back(fi);
  }
  if (lane != prog.lanes(t))
    bad_layout(where + " has " + std::to_string(lane) + " lanes, the program has " +
               std::to_string(prog.lanes(t)));
  const auto written_terms = list_items(env, written);
  if (!written_terms) bad_layout(where + ": written_lanes must be a list");
  for (ERL_NIF_TERM w : *written_terms) {
    unsigned l;
    if (!get(env, w, &l) || l >= lane) bad_layout(where + ": written lane out of range");
    ti.mark_written(l);
  }
  return ti;
}

}  // namespace

std::vector<TypeInfo> parse_layout(ErlNifEnv* env, ERL_NIF_TERM layout, const brz::Program& prog) {
  const auto entries = list_items(env, layout);
  if (!entries) bad_layout("expected a list with one entry per agent type");
  if (entries->size() != prog.n_types())
    bad_layout("expected " + std::to_string(prog.n_types()) + " agent types, got " +
               std::to_string(entries->size()));
  std::vector<TypeInfo> types;
  for (uint32_t t = 0; t < entries->size(); ++t)
    types.push_back(parse_type(env, (*entries)[t], t, prog));
  return types;
}

}  // namespace brz::nif
