#include "nif/marshal.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <optional>
#include <string>

#include "nif/atoms.hpp"
#include "nif/term.hpp"

namespace brz::nif {

namespace {

constexpr ErlNifSInt64 kTwo53 = ErlNifSInt64(1) << 53;
constexpr ErlNifSInt64 kTwo24 = ErlNifSInt64(1) << 24;

// Scratch memory of the marshalling functions, kept between calls. A fresh buffer of a few
// megabytes costs a page fault per 4 KiB page on first touch, which measured as a large share of
// world_new / world_to_state on 100,000 agents. One buffer serves the whole library (a call that
// finds it in use gets a buffer of its own); it is freed after use when it has grown beyond
// kScratchKeep bytes, so at most that much stays allocated between calls.
constexpr std::size_t kScratchKeep = std::size_t(16) << 20;

class RawBuf {
 public:
  RawBuf() = default;
  RawBuf(const RawBuf&) = delete;
  RawBuf& operator=(const RawBuf&) = delete;
  ~RawBuf() { std::free(p_); }
  // At least `bytes` bytes; the contents up to the old size are kept.
  void* ensure(std::size_t bytes) {
    if (bytes > cap_) {
      const std::size_t cap = std::max<std::size_t>({bytes, cap_ * 2, std::size_t(64) << 10});
      void* p = std::realloc(p_, cap);
      if (p == nullptr) throw std::bad_alloc();
      p_ = p;
      cap_ = cap;
    }
    return p_;
  }
  std::size_t capacity() const noexcept { return cap_; }
  void release() noexcept {
    std::free(p_);
    p_ = nullptr;
    cap_ = 0;
  }

 private:
  void* p_ = nullptr;
  std::size_t cap_ = 0;
};

std::mutex g_scratch_mu;
RawBuf g_scratch;  // guarded by g_scratch_mu

class Scratch {
 public:
  Scratch() : lock_(g_scratch_mu, std::try_to_lock) {}
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  ~Scratch() {
    if (lock_.owns_lock() && g_scratch.capacity() > kScratchKeep) g_scratch.release();
  }
  // Room for at least `n` elements of T; elements already written are kept.
  template <class T>
  T* ensure(std::size_t n) {
    if (n > SIZE_MAX / sizeof(T)) throw std::bad_alloc();
    return static_cast<T*>(buf().ensure(n * sizeof(T)));
  }

 private:
  RawBuf& buf() { return lock_.owns_lock() ? g_scratch : own_; }
  std::unique_lock<std::mutex> lock_;
  RawBuf own_;
};

// Number check for state values: 0 = ok, 1 = not a number, 2 = out of range (an :int beyond
// 2^24 in f32 worlds or 2^53 in f64 worlds, which the lane would round).
int state_number(ErlNifEnv* env, ERL_NIF_TERM t, bool want_int, bool f32, double* out) {
  if (enif_get_double(env, t, out)) {
    if (want_int) return 1;
    if (f32 && std::isinf(brz::to_precision<float>(*out))) return 2;
    return 0;
  }
  ErlNifSInt64 i;
  if (enif_get_int64(env, t, &i)) {
    *out = static_cast<double>(i);
    // An :int lane holds every integer its precision represents exactly, and no other.
    const ErlNifSInt64 limit = f32 ? kTwo24 : kTwo53;
    if (want_int && (i > limit || i < -limit)) return 2;
    return 0;
  }
  if (enif_is_number(env, t)) return 2;  // an integer beyond 64 bits
  return 1;
}

// The ArgumentError of an enum field's bad value, as the Elixir side words it: an atom or a
// 64-bit integer is named (`is :zombie, not one of ...`), any other term is not.
[[noreturn]] void bad_enum(ErlNifEnv* env, const std::string& where, ERL_NIF_TERM v,
                           const std::string& allowed) {
  ErlNifSInt64 i;
  if (enif_is_atom(env, v))
    throw ArgumentError(where + " is :" + atom_text(env, v) + ", not one of " + allowed);
  if (enif_get_int64(env, v, &i))
    throw ArgumentError(where + " is " + std::to_string(i) + ", not one of " + allowed);
  throw ArgumentError(where + " must be one of " + allowed);
}

std::string show_values(ErlNifEnv* env, const std::vector<ERL_NIF_TERM>& values) {
  std::string out;
  for (ERL_NIF_TERM a : values) out += (out.empty() ? ":" : ", :") + atom_text(env, a);
  return out;
}

// Decodes one agent map of `ti` into out[lane] (every lane of the type), or throws the
// ArgumentError of its first bad field.
void read_agent(ErlNifEnv* env, const TypeInfo& ti, ERL_NIF_TERM agent, std::size_t i, bool f32,
                double* out) {
  // Built only for an error message: a string per agent would dominate the marshalling.
  const auto path = [&] { return "state." + ti.key_name + "[" + std::to_string(i) + "]"; };
  if (!enif_is_map(env, agent)) throw ArgumentError(path() + " must be a map");
  for (const FieldInfo& f : ti.fields) {
    ERL_NIF_TERM v;
    double* vals = out + f.first_lane;
    if (f.transient || !enif_get_map_value(env, agent, f.atom, &v)) {
      if (!f.has_default) throw ArgumentError(path() + " is missing field :" + f.name);
      for (uint32_t k = 0; k < f.width(); ++k) vals[k] = f.def[k];
    } else if (f.kind == FieldKind::Bool) {
      if (enif_is_identical(v, atom::true_))
        vals[0] = 1;
      else if (enif_is_identical(v, atom::false_))
        vals[0] = 0;
      else
        throw ArgumentError(path() + "." + f.name + " must be true or false");
    } else if (f.kind == FieldKind::Enum) {
      const auto at = std::find_if(f.values.begin(), f.values.end(),
                                   [&](ERL_NIF_TERM a) { return enif_is_identical(a, v); });
      if (at == f.values.end()) bad_enum(env, path() + "." + f.name, v, show_values(env, f.values));
      vals[0] = double(at - f.values.begin());
    } else if (f.kind == FieldKind::Vec3) {
      Tuple<3> el;
      if (!get(env, v, &el))
        throw ArgumentError(path() + "." + f.name + " must be a 3-tuple of numbers");
      for (int k = 0; k < 3; ++k) {
        const int rc = state_number(env, el[k], false, f32, &vals[k]);
        if (rc == 1) throw ArgumentError(path() + "." + f.name + " must be a 3-tuple of numbers");
        if (rc == 2) throw ArgumentError(path() + "." + f.name + " is out of range");
      }
    } else {
      const bool want_int = f.kind == FieldKind::Int;
      const int rc = state_number(env, v, want_int, f32, &vals[0]);
      if (rc == 1)
        throw ArgumentError(path() + "." + f.name +
                            (want_int ? " must be an integer" : " must be a number"));
      if (rc == 2) throw ArgumentError(path() + "." + f.name + " is out of range");
    }
  }
}

// Copies agent-major values (vals[i * lanes + lane]) into the columns of type `t`, straight
// into the columns (no virtual call per value), rounded as World<T>::set rounds them.
template <class T>
void fill_columns(brz::World<T>& world, uint32_t t, const double* vals, std::size_t n,
                  uint32_t lanes) {
  const bool identity = world.in_caller_order(t);
  for (uint32_t l = 0; l < lanes; ++l) {
    T* col = world.column(t, l);
    for (std::size_t i = 0; i < n; ++i)
      col[identity ? i : world.row(t, i)] = brz::to_precision<T>(vals[i * lanes + l]);
  }
}

// The length of a state list, or the ArgumentError of one that is not a proper list.
std::size_t state_list_length(ErlNifEnv* env, ERL_NIF_TERM list, const std::string& coll) {
  std::size_t len = 0;
  ERL_NIF_TERM head, tail = list;
  while (enif_get_list_cell(env, tail, &head, &tail)) ++len;
  if (!enif_is_empty_list(env, tail)) throw ArgumentError(coll + " must be a list of maps");
  return len;
}

// The errors of a state list given to world_to_state that is not a proper list of n agents.
void check_agent_count(ErlNifEnv* env, ERL_NIF_TERM list, const std::string& coll, std::size_t n) {
  const std::size_t len = state_list_length(env, list, coll);
  if (len != n)
    throw ArgumentError(coll + " has " + std::to_string(len) + " agents, the world has " +
                        std::to_string(n));
}

// The agent maps of `list` (n agents of type `t`) with their written fields replaced by the
// world's values, read straight from the columns. One walk of the list, each agent encoded as
// its cell is reached; a list of the wrong shape is reported before any agent's error.
template <class T>
ERL_NIF_TERM write_agents(ErlNifEnv* env, const TypeInfo& ti, const std::string& coll,
                          const brz::World<T>& world, uint32_t t, ERL_NIF_TERM list,
                          std::size_t n) {
  struct Written {
    const FieldInfo* f;
    const T* col[3];
  };
  std::vector<Written> written;
  for (const FieldInfo& f : ti.fields) {
    if (!f.written) continue;
    Written wf{&f, {nullptr, nullptr, nullptr}};
    for (uint32_t k = 0; k < f.width(); ++k) wf.col[k] = world.column(t, f.first_lane + k);
    written.push_back(wf);
  }
  const bool identity = world.in_caller_order(t);
  Scratch scratch;
  ERL_NIF_TERM* items = scratch.ensure<ERL_NIF_TERM>(n);
  // Agents removed or spawned (the type has identities, docs/nif.md): agent i is the given
  // agent its identity names, or a new map for a spawned one.
  const bool lifecycle = world.has_ids(t);
  std::vector<ERL_NIF_TERM> given;
  if (lifecycle) {
    ERL_NIF_TERM m, tail = list;
    while (enif_get_list_cell(env, tail, &m, &tail)) given.push_back(m);
    if (!enif_is_empty_list(env, tail)) throw ArgumentError(coll + " must be a list of maps");
  }
  std::size_t count = 0;
  bool shape_ok = true;
  try {
    ERL_NIF_TERM m, tail = list;
    for (std::size_t i = 0; lifecycle ? i < n : enif_get_list_cell(env, tail, &m, &tail); ++i) {
      if (i == n) {
        shape_ok = false;
        break;
      }
      if (lifecycle) {
        const uint32_t id = world.id(t, i);
        m = id < given.size() ? given[id] : enif_make_new_map(env);
      }
      const std::size_t row = identity ? i : world.row(t, i);
      const auto path = [&] { return coll + "[" + std::to_string(i) + "]"; };
      if (!enif_is_map(env, m)) throw ArgumentError(path() + " must be a map");
      for (const Written& wf : written) {
        const FieldInfo& f = *wf.f;
        double v[3];
        for (uint32_t k = 0; k < f.width(); ++k) {
          v[k] = static_cast<double>(wf.col[k][row]);
          if (!std::isfinite(v[k]))
            throw ArgumentError("the world holds a non-finite value at " + path() + "." + f.name +
                                " (left by a NumericalError)");
        }
        ERL_NIF_TERM val;
        if (f.kind == FieldKind::Vec3) {
          val = encode(env, v);
        } else if (f.kind == FieldKind::Bool) {
          val = v[0] != 0 ? atom::true_ : atom::false_;
        } else if (f.kind == FieldKind::Enum) {
          if (!(v[0] >= 0 && v[0] < double(f.values.size()) && v[0] == std::floor(v[0])))
            throw ArgumentError("the world holds a value at " + path() + "." + f.name +
                                " that is not one of its enum's codes (0.." +
                                std::to_string(f.values.size() - 1) + ")");
          val = f.values[std::size_t(v[0])];
        } else if (f.kind == FieldKind::Int) {
          const double r = std::round(v[0]);
          if (std::fabs(r) >= 9.2e18)
            throw ArgumentError(path() + "." + f.name + " is out of range");
          val = encode(env, static_cast<ErlNifSInt64>(r));
        } else {
          val = encode(env, v[0]);
        }
        if (!enif_make_map_put(env, m, f.atom, val, &m))
          throw ArgumentError(path() + " must be a map");
      }
      items[count++] = m;
    }
    if (shape_ok && !lifecycle) shape_ok = count == n && enif_is_empty_list(env, tail);
  } catch (const ArgumentError&) {
    if (!lifecycle) check_agent_count(env, list, coll, n);
    throw;
  }
  if (!shape_ok) {
    check_agent_count(env, list, coll, n);
    throw ArgumentError(coll + " must be a list of maps");  // not reached
  }
  return enif_make_list_from_array(env, items, unsigned(n));
}

// The fields of a collection given as packed columns (a map of field => binary), checked
// against the layout: cols[k] is field k's binary, if given. Returns the agent count the
// columns agree on (0 when none is given); throws the ArgumentError of an unknown field, a
// value that is not a binary, a size that is not whole agents or disagrees with the first
// column, or a missing field without a default.
std::size_t column_agents(ErlNifEnv* env, const TypeInfo& ti, ERL_NIF_TERM map, std::size_t element,
                          std::vector<std::optional<BinaryView>>& cols) {
  const std::string coll = "state." + ti.key_name;
  std::vector<std::pair<ERL_NIF_TERM, ERL_NIF_TERM>> pairs;
  ErlNifMapIterator it;
  if (!enif_map_iterator_create(env, map, &it, ERL_NIF_MAP_ITERATOR_FIRST))
    throw ArgumentError(coll + " must be a list of maps or a map of columns");
  ERL_NIF_TERM key, value;
  while (enif_map_iterator_get_pair(env, &it, &key, &value)) {
    pairs.emplace_back(key, value);
    enif_map_iterator_next(env, &it);
  }
  enif_map_iterator_destroy(env, &it);
  cols.assign(ti.fields.size(), std::nullopt);
  for (const auto& [k, v] : pairs) {
    std::size_t f = 0;
    while (f < ti.fields.size() && !enif_is_identical(ti.fields[f].atom, k)) ++f;
    if (f == ti.fields.size()) {
      if (!enif_is_atom(env, k))
        throw ArgumentError(coll +
                            " must be a list of maps or a map of columns (field atom => binary)");
      throw ArgumentError(coll + " has no field :" + atom_text(env, k));
    }
    BinaryView bin;
    if (!get(env, v, &bin))
      throw ArgumentError(coll + "." + ti.fields[f].name + " must be a binary (a packed column)");
    cols[f] = bin;
  }
  std::size_t n = 0;
  const FieldInfo* first = nullptr;
  for (std::size_t k = 0; k < ti.fields.size(); ++k) {
    const FieldInfo& f = ti.fields[k];
    if (!cols[k]) {
      if (!f.has_default) throw ArgumentError(coll + " is missing field :" + f.name);
      continue;
    }
    const std::size_t per_agent = f.width() * element, bytes = cols[k]->size;
    const std::string where = coll + "." + f.name;
    if (bytes % per_agent != 0)
      throw ArgumentError(where + ": " + std::to_string(bytes) +
                          " bytes is not a whole number of agents (" + std::to_string(per_agent) +
                          " bytes each)");
    if (first == nullptr) {
      first = &f;
      n = bytes / per_agent;
    } else if (bytes / per_agent != n) {
      throw ArgumentError(where + ": expected " + std::to_string(n * per_agent) + " bytes (" +
                          std::to_string(n) + " agents, as " + coll + "." + first->name +
                          "), got " + std::to_string(bytes));
    }
  }
  return n;
}

}  // namespace

namespace {

// read_column's checks, each value (agent i, lane k of the field) handed to store(i, k, v).
template <class Store>
void decode_column(const FieldInfo& f, const unsigned char* data, std::size_t n, bool f32,
                   const std::string& where, Store&& store) {
  const uint32_t width = f.width();
  const std::size_t element = f32 ? sizeof(float) : sizeof(double);
  const double max_int = double(f32 ? kTwo24 : kTwo53);
  const auto path = [&](std::size_t i) { return where + "[" + std::to_string(i) + "]." + f.name; };
  for (std::size_t i = 0; i < n; ++i) {
    for (uint32_t k = 0; k < width; ++k) {
      const unsigned char* p = data + (i * width + k) * element;
      double v;
      if (f32) {
        float x;
        std::memcpy(&x, p, sizeof x);
        v = x;
      } else {
        std::memcpy(&v, p, sizeof v);
      }
      if (!std::isfinite(v)) throw ArgumentError(path(i) + " is not a finite number");
      switch (f.kind) {
        case FieldKind::Int:
          if (v != std::floor(v)) throw ArgumentError(path(i) + " must be an integer");
          if (std::fabs(v) > max_int) throw ArgumentError(path(i) + " is out of range");
          break;
        case FieldKind::Bool:
          if (v != 0 && v != 1) throw ArgumentError(path(i) + " must be 0 or 1 (false or true)");
          break;
        case FieldKind::Enum:
          if (!(v >= 0 && v < double(f.values.size()) && v == std::floor(v)))
            throw ArgumentError(path(i) + " is not one of its enum's codes (0.." +
                                std::to_string(f.values.size() - 1) + ")");
          break;
        default:
          break;
      }
      store(i, k, v);
    }
  }
}

// The columns of a collection given as columns (column_agents), decoded straight into the
// new world's columns (rows in the caller's order); fields without a column take their default.
template <class T>
void fill_from_columns(brz::World<T>& world, uint32_t t, const TypeInfo& ti,
                       const std::vector<std::optional<BinaryView>>& cols, std::size_t n,
                       bool f32) {
  const std::string where = "state." + ti.key_name;
  for (std::size_t k = 0; k < ti.fields.size(); ++k) {
    const FieldInfo& f = ti.fields[k];
    T* lanes[3] = {nullptr, nullptr, nullptr};
    for (uint32_t w = 0; w < f.width(); ++w) lanes[w] = world.column(t, f.first_lane + w);
    if (cols[k]) {
      decode_column(f, cols[k]->data, n, f32, where, [&](std::size_t i, uint32_t w, double v) {
        lanes[w][i] = brz::to_precision<T>(v);
      });
    } else {
      for (uint32_t w = 0; w < f.width(); ++w)
        std::fill(lanes[w], lanes[w] + n, brz::to_precision<T>(f.def[w]));
    }
  }
}

}  // namespace

void read_column(const FieldInfo& f, const unsigned char* data, std::size_t n, bool f32,
                 const std::string& where, double* out, std::size_t stride) {
  decode_column(f, data, n, f32, where,
                [&](std::size_t i, uint32_t k, double v) { out[i * stride + k] = v; });
}

std::unique_ptr<brz::WorldBase> read_state(ErlNifEnv* env, ERL_NIF_TERM state,
                                           const std::vector<TypeInfo>& types,
                                           const std::shared_ptr<const brz::Program>& program,
                                           brz::Precision precision) {
  const brz::Program& prog = *program;
  const bool f32 = precision == brz::Precision::F32;
  // One walk per list, decoding each agent as its cell is reached (a list is a chain of
  // dependent loads: walking it first to count its cells cost as much again), into agent-major
  // scratch values; the columns are filled once the counts are known.
  std::vector<ERL_NIF_TERM> lists(types.size());
  std::vector<bool> present(types.size(), false);
  for (std::size_t t = 0; t < types.size(); ++t)
    present[t] = enif_get_map_value(env, state, types[t].key, &lists[t]);
  Scratch scratch;
  std::vector<std::size_t> counts(types.size(), 0), offsets(types.size(), 0);
  std::vector<std::vector<std::optional<BinaryView>>> columns(types.size());
  std::size_t used = 0;  // doubles
  try {
    for (uint32_t t = 0; t < types.size(); ++t) {
      offsets[t] = used;
      if (!present[t]) continue;
      const uint32_t lanes = prog.lanes(t);
      if (enif_is_map(env, lists[t])) {
        // Decoded into the world's columns once it exists; checked for shape now.
        counts[t] = column_agents(env, types[t], lists[t], f32 ? sizeof(float) : sizeof(double),
                                  columns[t]);
        continue;
      }
      std::size_t i = 0;
      ERL_NIF_TERM head, tail = lists[t];
      while (enif_get_list_cell(env, tail, &head, &tail)) {
        double* out = scratch.ensure<double>(used + lanes) + used;
        read_agent(env, types[t], head, i, f32, out);
        used += lanes;
        ++i;
      }
      if (!enif_is_empty_list(env, tail))
        throw ArgumentError("state." + types[t].key_name + " must be a list of maps");
      counts[t] = i;
    }
  } catch (const ArgumentError&) {
    // A list that is not a proper list is reported before any agent's error, whichever type.
    for (std::size_t t = 0; t < types.size(); ++t)
      if (present[t] && !enif_is_map(env, lists[t]))
        state_list_length(env, lists[t], "state." + types[t].key_name);
    throw;
  }
  std::unique_ptr<brz::WorldBase> world = brz::make_world(program, counts, precision);
  const double* vals = scratch.ensure<double>(used);
  for (uint32_t t = 0; t < types.size(); ++t) {
    if (counts[t] == 0) continue;
    if (!columns[t].empty()) {
      if (f32)
        fill_from_columns(static_cast<brz::World<float>&>(*world), t, types[t], columns[t],
                          counts[t], f32);
      else
        fill_from_columns(static_cast<brz::World<double>&>(*world), t, types[t], columns[t],
                          counts[t], f32);
      continue;
    }
    if (f32)
      fill_columns(static_cast<brz::World<float>&>(*world), t, vals + offsets[t], counts[t],
                   prog.lanes(t));
    else
      fill_columns(static_cast<brz::World<double>&>(*world), t, vals + offsets[t], counts[t],
                   prog.lanes(t));
  }
  return world;
}

ERL_NIF_TERM write_state(ErlNifEnv* env, ERL_NIF_TERM state, const std::vector<TypeInfo>& types,
                         const brz::WorldBase& world) {
  for (uint32_t t = 0; t < types.size(); ++t) {
    const TypeInfo& ti = types[t];
    const std::size_t n = world.count(t);
    ERL_NIF_TERM list;
    const std::string coll = "state." + ti.key_name;
    if (!enif_get_map_value(env, state, ti.key, &list)) {
      if (n == 0 && !world.has_ids(t)) continue;
      if (!world.has_ids(t))
        throw ArgumentError(coll + " is missing (the world has " + std::to_string(n) + " agents)");
      // Agents spawned into a collection the state does not hold.
      list = enif_make_list(env, 0);
    }
    if (!ti.any_written || (n == 0 && !world.has_ids(t))) {
      check_agent_count(env, list, coll, n);
      continue;
    }
    const ERL_NIF_TERM new_list =
        world.precision() == brz::Precision::F32
            ? write_agents(env, ti, coll, static_cast<const brz::World<float>&>(world), t, list, n)
            : write_agents(env, ti, coll, static_cast<const brz::World<double>&>(world), t, list,
                           n);
    if (!enif_make_map_update(env, state, ti.key, new_list, &state))
      throw ArgumentError("state must be a map");
  }
  return state;
}

ERL_NIF_TERM read_columns(ErlNifEnv* env, const brz::WorldBase& world, uint32_t type,
                          uint32_t first_lane, uint32_t n_lanes, bool unwrapped) {
  const std::size_t bytes = world.count(type) * n_lanes * world.element_size();
  ERL_NIF_TERM term;
  unsigned char* out = enif_make_new_binary(env, bytes, &term);
  if (out == nullptr) throw std::bad_alloc();
  if (bytes && unwrapped)
    world.pack_unwrapped(type, first_lane, n_lanes, out);
  else if (bytes)
    world.pack(type, first_lane, n_lanes, out);
  return term;
}

}  // namespace brz::nif
