#include "nif/term.hpp"

#include <cstring>
#include <utility>
#include <vector>

#include "nif/atoms.hpp"

namespace brz::nif {

bool get(ErlNifEnv* env, ERL_NIF_TERM term, double* out) {
  if (enif_get_double(env, term, out)) return true;
  ErlNifSInt64 i;
  if (!enif_get_int64(env, term, &i)) return false;
  *out = static_cast<double>(i);
  return true;
}

bool get(ErlNifEnv* env, ERL_NIF_TERM term, unsigned* out) { return enif_get_uint(env, term, out); }

bool get(ErlNifEnv* env, ERL_NIF_TERM term, ErlNifUInt64* out) {
  return enif_get_uint64(env, term, out);
}

bool get(ErlNifEnv*, ERL_NIF_TERM term, bool* out) {
  if (enif_is_identical(term, atom::true_)) {
    *out = true;
    return true;
  }
  if (enif_is_identical(term, atom::false_)) {
    *out = false;
    return true;
  }
  return false;
}

bool get(ErlNifEnv* env, ERL_NIF_TERM term, Map* out) {
  if (!enif_is_map(env, term)) return false;
  out->term = term;
  return true;
}

bool get(ErlNifEnv* env, ERL_NIF_TERM term, BinaryView* out) {
  ErlNifBinary bin;
  if (!enif_inspect_binary(env, term, &bin)) return false;
  *out = BinaryView{bin.data, bin.size};
  return true;
}

bool get(ErlNifEnv* env, ERL_NIF_TERM term, std::string* out) {
  BinaryView bin;
  if (!get(env, term, &bin)) return false;
  out->assign(reinterpret_cast<const char*>(bin.data), bin.size);
  return true;
}

std::optional<std::vector<ERL_NIF_TERM>> list_items(ErlNifEnv* env, ERL_NIF_TERM list,
                                                    std::size_t max) {
  std::vector<ERL_NIF_TERM> items;
  ERL_NIF_TERM head, tail = list;
  while (items.size() < max && enif_get_list_cell(env, tail, &head, &tail)) items.push_back(head);
  if (!enif_is_empty_list(env, tail)) return std::nullopt;
  return items;
}

std::string atom_text(ErlNifEnv* env, ERL_NIF_TERM atom) {
  char buf[1024];
  if (enif_get_atom(env, atom, buf, sizeof buf, ERL_NIF_LATIN1) > 0) return buf;
  return "<atom>";
}

ERL_NIF_TERM encode(ErlNifEnv* env, double value) { return enif_make_double(env, value); }

ERL_NIF_TERM encode(ErlNifEnv* env, unsigned value) { return enif_make_uint(env, value); }

ERL_NIF_TERM encode(ErlNifEnv* env, ErlNifUInt64 value) { return enif_make_uint64(env, value); }

ERL_NIF_TERM encode(ErlNifEnv* env, long value) { return enif_make_long(env, value); }

ERL_NIF_TERM encode(ErlNifEnv* env, const std::string& value) {
  ERL_NIF_TERM term;
  unsigned char* buf = enif_make_new_binary(env, value.size(), &term);
  if (!value.empty()) std::memcpy(buf, value.data(), value.size());
  return term;
}

ERL_NIF_TERM encode(ErlNifEnv* env, const double (&value)[3]) {
  return enif_make_tuple3(env, encode(env, value[0]), encode(env, value[1]), encode(env, value[2]));
}

ERL_NIF_TERM make_list(ErlNifEnv* env, const std::vector<ERL_NIF_TERM>& items) {
  return enif_make_list_from_array(env, items.data(), unsigned(items.size()));
}

// enif_make_map_from_arrays takes non-const arrays (it does not write them).
ERL_NIF_TERM make_map(ErlNifEnv* env, std::vector<ERL_NIF_TERM> keys,
                      std::vector<ERL_NIF_TERM> values) {
  ERL_NIF_TERM map;
  if (keys.size() != values.size() ||
      !enif_make_map_from_arrays(env, keys.data(), values.data(), keys.size(), &map))
    return enif_make_badarg(env);
  return map;
}

ERL_NIF_TERM make_map(ErlNifEnv* env,
                      std::initializer_list<std::pair<ERL_NIF_TERM, ERL_NIF_TERM>> entries) {
  std::vector<ERL_NIF_TERM> keys, values;
  keys.reserve(entries.size());
  values.reserve(entries.size());
  for (const auto& [k, v] : entries) {
    keys.push_back(k);
    values.push_back(v);
  }
  return make_map(env, std::move(keys), std::move(values));
}

ERL_NIF_TERM raise_exception(ErlNifEnv* env, ERL_NIF_TERM module,
                             std::initializer_list<std::pair<ERL_NIF_TERM, ERL_NIF_TERM>> fields) {
  std::vector<ERL_NIF_TERM> keys{atom::struct_, atom::exception_};
  std::vector<ERL_NIF_TERM> values{module, atom::true_};
  for (const auto& [k, v] : fields) {
    keys.push_back(k);
    values.push_back(v);
  }
  return enif_raise_exception(env, make_map(env, std::move(keys), std::move(values)));
}

ERL_NIF_TERM raise_with_message(ErlNifEnv* env, ERL_NIF_TERM module, const std::string& message) {
  return raise_exception(env, module, {{atom::message, encode(env, message)}});
}

}  // namespace brz::nif
