// The NIF boundary (docs/nif.md): translates terms to and from the engine (include/brz/), which
// knows nothing about the BEAM. Every C++ exception is caught here and raised as an Elixir
// exception; nothing non-finite is ever returned as a term.
#include <erl_nif.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <type_traits>
#include <vector>

#include "brz/env.hpp"
#include "brz/error.hpp"
#include "brz/executor.hpp"
#include "brz/generated.hpp"
#include "brz/isa.hpp"
#include "brz/program.hpp"
#include "brz/rule_path.hpp"
#include "brz/totals.hpp"
#include "brz/world.hpp"

namespace {

using brz::ArgumentError;

ErlNifResourceType* g_program_rt = nullptr;
ErlNifResourceType* g_world_rt = nullptr;
std::atomic<long> g_live_worlds{0};

constexpr ErlNifSInt64 kTwo53 = ErlNifSInt64(1) << 53;
constexpr ErlNifSInt64 kTwo24 = ErlNifSInt64(1) << 24;

// ------------------------------------------------------------------------------------------
// Resources
// ------------------------------------------------------------------------------------------

struct ProgramRes {
  std::shared_ptr<const brz::Program> prog;
  // Generated kernels (docs/kernels.md); null when none was given or it was rejected, in which
  // case kernel_error says why (empty when none was given).
  std::shared_ptr<const brz::KernelLibrary> kernels;
  std::string kernel_error;
};

enum class FieldKind { Float, Int, Vec3 };

struct FieldInfo {
  ERL_NIF_TERM atom;  // atoms are valid in every environment
  std::string name;
  FieldKind kind;
  uint32_t first_lane;
  bool has_default = false;
  double def[3] = {0, 0, 0};
  bool written = false;
  uint32_t width() const { return kind == FieldKind::Vec3 ? 3 : 1; }
};

struct TypeInfo {
  ERL_NIF_TERM key;
  std::string key_name;
  std::string type_name;
  std::vector<FieldInfo> fields;
  bool any_written = false;
};

struct WorldRes {
  WorldRes(ProgramRes* p, std::unique_ptr<brz::WorldBase> w, std::vector<TypeInfo> t) noexcept
      : prog_res(p), world(std::move(w)), types(std::move(t)) {
    enif_keep_resource(prog_res);
    ++g_live_worlds;
  }
  ~WorldRes() {
    world.reset();
    enif_release_resource(prog_res);
    --g_live_worlds;
  }
  ProgramRes* prog_res;
  std::unique_ptr<brz::WorldBase> world;
  std::vector<TypeInfo> types;
  // Held (true) by the one call that reads or writes the columns; a call that finds it held
  // returns :busy at once instead of blocking its dirty scheduler (docs/nif.md, "Busy worlds").
  std::atomic<bool> busy{false};
  // The process running native_integrate is monitored; its death sets `cancel`, which the
  // engine polls inside the run (docs/nif.md, "Cancellation").
  std::mutex mon_mu;
  ErlNifMonitor mon{};
  bool monitoring = false;  // guarded by mon_mu
  int cancel = 0;           // atomic access only (__atomic builtins)
  // What native_integrate saves before running and restores when the run raises or is
  // cancelled; kept between calls so that saving allocates nothing new.
  brz::WorldSnapshot undo;
  // Generated kernels allowed (world_set_options(kernels: false) turns it off).
  std::atomic<bool> use_kernels{true};
  // Sweeps per path and neighbour lists built by native_integrate since the world was created
  // (world_info's :sweeps and :neighbour_builds).
  std::array<std::atomic<uint64_t>, brz::kRulePaths> path_sweeps{};
  std::atomic<uint64_t> neighbour_builds{0};
};

void program_dtor(ErlNifEnv*, void* obj) { static_cast<ProgramRes*>(obj)->~ProgramRes(); }
void world_dtor(ErlNifEnv*, void* obj) { static_cast<WorldRes*>(obj)->~WorldRes(); }

// The monitored caller of native_integrate died: ask the engine to stop (only for the monitor
// of the run in progress; a late one from an earlier run is ignored).
void world_down(ErlNifEnv*, void* obj, ErlNifPid*, ErlNifMonitor* mon) {
  WorldRes* w = static_cast<WorldRes*>(obj);
  std::lock_guard<std::mutex> lock(w->mon_mu);
  if (w->monitoring && enif_compare_monitors(mon, &w->mon) == 0)
    __atomic_store_n(&w->cancel, 1, __ATOMIC_RELAXED);
}

// Exclusive use of a world's columns for one call, without waiting: owned() is false when
// another call holds them, and the NIF then returns :busy.
class WorldLock {
 public:
  explicit WorldLock(WorldRes* w) noexcept
      : w_(w), owned_(!w->busy.exchange(true, std::memory_order_acquire)) {}
  WorldLock(const WorldLock&) = delete;
  WorldLock& operator=(const WorldLock&) = delete;
  ~WorldLock() {
    if (owned_) w_->busy.store(false, std::memory_order_release);
  }
  bool owned() const noexcept { return owned_; }

 private:
  WorldRes* w_;
  bool owned_;
};

// ------------------------------------------------------------------------------------------
// Term helpers
// ------------------------------------------------------------------------------------------

ERL_NIF_TERM atom(ErlNifEnv* env, const char* name) { return enif_make_atom(env, name); }

ERL_NIF_TERM make_binary(ErlNifEnv* env, const std::string& s) {
  ERL_NIF_TERM term;
  unsigned char* buf = enif_make_new_binary(env, s.size(), &term);
  if (!s.empty()) std::memcpy(buf, s.data(), s.size());
  return term;
}

ERL_NIF_TERM make_map(ErlNifEnv* env, std::vector<ERL_NIF_TERM> keys,
                      std::vector<ERL_NIF_TERM> values) {
  ERL_NIF_TERM map;
  if (!enif_make_map_from_arrays(env, keys.data(), values.data(), keys.size(), &map))
    return enif_make_badarg(env);
  return map;
}

ERL_NIF_TERM raise_exception(ErlNifEnv* env, const char* module, const std::string& msg) {
  return enif_raise_exception(
      env,
      make_map(env, {atom(env, "__struct__"), atom(env, "__exception__"), atom(env, "message")},
               {atom(env, module), atom(env, "true"), make_binary(env, msg)}));
}

std::string atom_text(ErlNifEnv* env, ERL_NIF_TERM term) {
  char buf[1024];
  if (enif_get_atom(env, term, buf, sizeof buf, ERL_NIF_LATIN1) > 0) return buf;
  return "<atom>";
}

bool get_number(ErlNifEnv* env, ERL_NIF_TERM t, double* out) {
  if (enif_get_double(env, t, out)) return true;
  ErlNifSInt64 i;
  if (enif_get_int64(env, t, &i)) {
    *out = static_cast<double>(i);
    return true;
  }
  return false;
}

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

// The elements of a proper list, in one walk (a 100,000-element state list is walked once, not
// once for its length and again for its cells); *ok is false when `list` is not a proper list
// or has more than `max` elements. A longer list is found after walking max + 1 cells: a list
// of 10^7 elements given where a few are expected is rejected at once, not walked.
std::vector<ERL_NIF_TERM> list_items(ErlNifEnv* env, ERL_NIF_TERM list, bool* ok,
                                     std::size_t max = SIZE_MAX) {
  std::vector<ERL_NIF_TERM> items;
  ERL_NIF_TERM head, tail = list;
  while (items.size() < max && enif_get_list_cell(env, tail, &head, &tail)) items.push_back(head);
  *ok = enif_is_empty_list(env, tail);
  return items;
}

ProgramRes* get_program(ErlNifEnv* env, ERL_NIF_TERM t) {
  void* p;
  if (!enif_get_resource(env, t, g_program_rt, &p))
    throw ArgumentError("expected a program resource (from program_new/1)");
  return static_cast<ProgramRes*>(p);
}

WorldRes* get_world(ErlNifEnv* env, ERL_NIF_TERM t) {
  void* p;
  if (!enif_get_resource(env, t, g_world_rt, &p))
    throw ArgumentError("expected a world resource (from world_new/4)");
  return static_cast<WorldRes*>(p);
}

// ------------------------------------------------------------------------------------------
// Layout
// ------------------------------------------------------------------------------------------

[[noreturn]] void bad_layout(const std::string& msg) {
  throw ArgumentError("invalid layout: " + msg);
}

std::vector<TypeInfo> parse_layout(ErlNifEnv* env, ERL_NIF_TERM layout, const brz::Program& prog) {
  bool ok;
  std::vector<ERL_NIF_TERM> entries = list_items(env, layout, &ok);
  if (!ok) bad_layout("expected a list with one entry per agent type");
  if (entries.size() != prog.n_types())
    bad_layout("expected " + std::to_string(prog.n_types()) + " agent types, got " +
               std::to_string(entries.size()));
  std::vector<TypeInfo> types;
  for (uint32_t t = 0; t < entries.size(); ++t) {
    const std::string where = "entry " + std::to_string(t);
    int arity;
    const ERL_NIF_TERM* el;
    if (!enif_get_tuple(env, entries[t], &arity, &el) || arity != 4)
      bad_layout(where + " must be {collection_key, type_name, fields, written_lanes}");
    TypeInfo ti;
    if (!enif_is_atom(env, el[0])) bad_layout(where + ": collection_key must be an atom");
    ti.key = el[0];
    ti.key_name = atom_text(env, el[0]);
    ErlNifBinary name;
    if (!enif_inspect_binary(env, el[1], &name)) bad_layout(where + ": type_name must be a string");
    ti.type_name.assign(reinterpret_cast<const char*>(name.data), name.size);
    std::vector<ERL_NIF_TERM> fields = list_items(env, el[2], &ok);
    if (!ok) bad_layout(where + ": fields must be a list");
    uint32_t lane = 0;
    for (ERL_NIF_TERM f : fields) {
      int fa;
      const ERL_NIF_TERM* fe;
      if (!enif_get_tuple(env, f, &fa, &fe) || fa != 3 || !enif_is_atom(env, fe[0]) ||
          !enif_is_atom(env, fe[1]))
        bad_layout(where + ": each field must be {name, kind, default}");
      FieldInfo fi;
      fi.atom = fe[0];
      fi.name = atom_text(env, fe[0]);
      const std::string kind = atom_text(env, fe[1]);
      if (kind == "float")
        fi.kind = FieldKind::Float;
      else if (kind == "int")
        fi.kind = FieldKind::Int;
      else if (kind == "vec3")
        fi.kind = FieldKind::Vec3;
      else
        bad_layout(where + ": field " + fi.name + " has unknown kind :" + kind);
      fi.first_lane = lane;
      lane += fi.width();
      if (!enif_is_identical(fe[2], atom(env, "nil"))) {
        fi.has_default = true;
        bool good;
        if (fi.kind == FieldKind::Vec3) {
          int va;
          const ERL_NIF_TERM* ve;
          good = enif_get_tuple(env, fe[2], &va, &ve) && va == 3 &&
                 get_number(env, ve[0], &fi.def[0]) && get_number(env, ve[1], &fi.def[1]) &&
                 get_number(env, ve[2], &fi.def[2]);
        } else {
          good = get_number(env, fe[2], &fi.def[0]);
        }
        if (!good) bad_layout(where + ": bad default for field " + fi.name);
      }
      ti.fields.push_back(fi);
    }
    if (lane != prog.lanes(t))
      bad_layout(where + " has " + std::to_string(lane) + " lanes, the program has " +
                 std::to_string(prog.lanes(t)));
    std::vector<ERL_NIF_TERM> written = list_items(env, el[3], &ok);
    if (!ok) bad_layout(where + ": written_lanes must be a list");
    for (ERL_NIF_TERM w : written) {
      unsigned l;
      if (!enif_get_uint(env, w, &l) || l >= lane)
        bad_layout(where + ": written lane out of range");
      for (FieldInfo& fi : ti.fields)
        if (l >= fi.first_lane && l < fi.first_lane + fi.width()) fi.written = true;
      ti.any_written = true;
    }
    types.push_back(std::move(ti));
  }
  return types;
}

// ------------------------------------------------------------------------------------------
// NIFs
// ------------------------------------------------------------------------------------------

// program_new(binary) and program_new(binary, kernel): kernel is nil or {path, hash, sha256}
// (binaries) naming a generated kernel library and the SHA-256 of its bytes (docs/kernels.md).
// A library that fails its checks, cannot be loaded or does not match the program is not an
// error: it is ignored (the interpreter runs every rule) and the reason is reported by
// world_info/1 as kernel_status.
ERL_NIF_TERM program_new(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  ErlNifBinary bin;
  if (!enif_inspect_binary(env, argv[0], &bin))
    throw ArgumentError("program_new/1 expects a binary");
  std::string kpath, khash, ksha;
  bool want_kernels = false;
  if (argc == 2 && !enif_is_identical(argv[1], atom(env, "nil"))) {
    int arity;
    const ERL_NIF_TERM* el;
    ErlNifBinary p, h, c;
    if (!enif_get_tuple(env, argv[1], &arity, &el) || arity != 3 ||
        !enif_inspect_binary(env, el[0], &p) || !enif_inspect_binary(env, el[1], &h) ||
        !enif_inspect_binary(env, el[2], &c))
      throw ArgumentError("program_new/2: kernel must be nil or {path, hash, sha256} (binaries)");
    kpath.assign(reinterpret_cast<const char*>(p.data), p.size);
    khash.assign(reinterpret_cast<const char*>(h.data), h.size);
    ksha.assign(reinterpret_cast<const char*>(c.data), c.size);
    want_kernels = true;
  }
  auto prog = std::make_shared<const brz::Program>(brz::Program::parse(bin.data, bin.size));
  std::shared_ptr<const brz::KernelLibrary> kernels;
  std::string kernel_error;
  if (want_kernels) {
    kernels = brz::KernelLibrary::open(kpath, khash, ksha, bin.data, bin.size, prog->n_rules(),
                                       &kernel_error, brz::isa_name());
    if (kernels == nullptr && kernel_error.empty()) kernel_error = "kernel library rejected";
  }
  void* mem = enif_alloc_resource(g_program_rt, sizeof(ProgramRes));
  if (mem == nullptr) throw std::bad_alloc();
  new (mem) ProgramRes{std::move(prog), std::move(kernels), std::move(kernel_error)};
  ERL_NIF_TERM term = enif_make_resource(env, mem);
  enif_release_resource(mem);
  return term;
}

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
    if (!enif_get_map_value(env, agent, f.atom, &v)) {
      if (!f.has_default) throw ArgumentError(path() + " is missing field :" + f.name);
      for (uint32_t k = 0; k < f.width(); ++k) vals[k] = f.def[k];
    } else if (f.kind == FieldKind::Vec3) {
      int arity;
      const ERL_NIF_TERM* el;
      if (!enif_get_tuple(env, v, &arity, &el) || arity != 3)
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

ERL_NIF_TERM world_new(ErlNifEnv* env, int, const ERL_NIF_TERM argv[]) {
  ProgramRes* pres = get_program(env, argv[0]);
  const brz::Program& prog = *pres->prog;
  const std::string prec = enif_is_atom(env, argv[3]) ? atom_text(env, argv[3]) : "";
  if (prec != "f64" && prec != "f32") throw ArgumentError("precision must be :f64 or :f32");
  const bool f32 = prec == "f32";
  std::vector<TypeInfo> types = parse_layout(env, argv[1], prog);
  const ERL_NIF_TERM state = argv[2];
  if (!enif_is_map(env, state)) throw ArgumentError("state must be a map");

  // One walk per list, decoding each agent as its cell is reached (a list is a chain of
  // dependent loads: walking it first to count its cells cost as much again), into agent-major
  // scratch values; the columns are filled once the counts are known.
  std::vector<ERL_NIF_TERM> lists(types.size());
  std::vector<bool> present(types.size(), false);
  for (std::size_t t = 0; t < types.size(); ++t)
    present[t] = enif_get_map_value(env, state, types[t].key, &lists[t]);
  Scratch scratch;
  std::vector<std::size_t> counts(types.size(), 0), offsets(types.size(), 0);
  std::size_t used = 0;  // doubles
  try {
    for (uint32_t t = 0; t < types.size(); ++t) {
      offsets[t] = used;
      if (!present[t]) continue;
      const uint32_t lanes = prog.lanes(t);
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
      if (present[t]) state_list_length(env, lists[t], "state." + types[t].key_name);
    throw;
  }
  std::unique_ptr<brz::WorldBase> world =
      brz::make_world(pres->prog, counts, f32 ? brz::Precision::F32 : brz::Precision::F64);
  const double* vals = scratch.ensure<double>(used);
  for (uint32_t t = 0; t < types.size(); ++t) {
    if (counts[t] == 0) continue;
    if (f32)
      fill_columns(static_cast<brz::World<float>&>(*world), t, vals + offsets[t], counts[t],
                   prog.lanes(t));
    else
      fill_columns(static_cast<brz::World<double>&>(*world), t, vals + offsets[t], counts[t],
                   prog.lanes(t));
  }

  // The resource is sized by the world's columns too, so that the garbage collector of a
  // process holding it counts them, like the bytes of a binary (docs/nif.md, "Memory"): the
  // bytes past sizeof(WorldRes) are never touched, so they take address space, not memory.
  void* mem = enif_alloc_resource(g_world_rt, sizeof(WorldRes) + world->column_bytes());
  if (mem == nullptr) throw std::bad_alloc();
  new (mem) WorldRes(pres, std::move(world), std::move(types));
  ERL_NIF_TERM term = enif_make_resource(env, mem);
  enif_release_resource(mem);
  return term;
}

ERL_NIF_TERM numerical_error(ErlNifEnv* env, const WorldRes& w, const brz::NumericalError& e) {
  const TypeInfo& ti = w.types.at(e.type);
  const FieldInfo* field = nullptr;
  for (const FieldInfo& f : ti.fields)
    if (e.lane >= f.first_lane && e.lane < f.first_lane + f.width()) field = &f;
  const std::string fname = field ? field->name : "lane" + std::to_string(e.lane);
  const std::string msg = "non-finite value in " + ti.type_name + "[" + std::to_string(e.index) +
                          "]." + fname + " at step " + std::to_string(e.step);
  return enif_raise_exception(
      env, make_map(env,
                    {atom(env, "__struct__"), atom(env, "__exception__"), atom(env, "message"),
                     atom(env, "agent"), atom(env, "collection"), atom(env, "index"),
                     atom(env, "field"), atom(env, "step")},
                    {atom(env, "Elixir.BrokenRecord.Zero.NumericalError"), atom(env, "true"),
                     make_binary(env, msg), make_binary(env, ti.type_name), ti.key,
                     enif_make_uint64(env, e.index), field ? field->atom : atom(env, "nil"),
                     enif_make_uint64(env, e.step)}));
}

// The lanes that the rules `ids` store to, per type (what a run may change, so what it saves).
std::vector<std::vector<uint32_t>> stored_lanes(const brz::Program& prog,
                                                const std::vector<uint32_t>& ids) {
  std::vector<std::vector<uint32_t>> lanes(prog.n_types());
  for (uint32_t id : ids) {
    const brz::Rule& rule = prog.rule(id);
    for (const brz::StoreRef& s : rule.stores) {
      std::vector<uint32_t>& l = lanes[rule.slot_type(s.slot)];
      if (std::find(l.begin(), l.end(), s.lane) == l.end()) l.push_back(s.lane);
    }
  }
  return lanes;
}

// Marks the fields that hold `lanes` (per type, from stored_lanes) as written, so world_to_state
// replaces them (and only them: a field no rule has written comes back as the caller's own term).
void mark_written(WorldRes& w, const std::vector<std::vector<uint32_t>>& lanes) {
  for (uint32_t t = 0; t < lanes.size(); ++t) {
    TypeInfo& ti = w.types[t];
    for (uint32_t lane : lanes[t]) {
      for (FieldInfo& fi : ti.fields)
        if (lane >= fi.first_lane && lane < fi.first_lane + fi.width()) fi.written = true;
      ti.any_written = true;
    }
  }
}

// Executor options of a world: its program's generated kernels, unless turned off for it.
brz::ExecOptions exec_options(const WorldRes& w) {
  brz::ExecOptions o;
  o.generated = w.prog_res->kernels.get();
  o.use_generated = w.use_kernels.load();
  return o;
}

// Monitors the calling process for the duration of a run: its death sets the world's cancel
// flag (world_down). The destructor removes the monitor.
class CallerMonitor {
 public:
  CallerMonitor(ErlNifEnv* env, WorldRes* w) : env_(env), w_(w) {
    std::lock_guard<std::mutex> lock(w->mon_mu);
    __atomic_store_n(&w->cancel, 0, __ATOMIC_RELAXED);
    ErlNifPid self;
    if (enif_self(env, &self) == nullptr || enif_monitor_process(env, w, &self, &w->mon) != 0) {
      // No process to watch or already dead: nothing to run for.
      __atomic_store_n(&w->cancel, 1, __ATOMIC_RELAXED);
      return;
    }
    w->monitoring = true;
  }
  CallerMonitor(const CallerMonitor&) = delete;
  CallerMonitor& operator=(const CallerMonitor&) = delete;
  ~CallerMonitor() {
    std::lock_guard<std::mutex> lock(w_->mon_mu);
    if (w_->monitoring) enif_demonitor_process(env_, w_, &w_->mon);
    w_->monitoring = false;
  }

 private:
  ErlNifEnv* env_;
  WorldRes* w_;
};

// native_integrate(world, params, steps, rule_ids): params travel with the call (a list of
// n_params numbers, dt first), so concurrent callers never run with each other's. A run that
// raises (NumericalError) or is cancelled by its caller's death leaves the world as it was
// before the call (docs/nif.md).
ERL_NIF_TERM native_integrate(ErlNifEnv* env, int, const ERL_NIF_TERM argv[]) {
  WorldRes* w = get_world(env, argv[0]);
  const brz::Program& prog = *w->prog_res->prog;
  const std::size_t n_params = prog.n_params();
  bool ok;
  std::vector<ERL_NIF_TERM> items = list_items(env, argv[1], &ok, n_params);
  const std::string pmsg =
      "params must be a list of " + std::to_string(n_params) + " numbers (dt first)";
  if (!ok || items.size() != n_params) throw ArgumentError(pmsg);
  std::vector<double> params(n_params);
  for (std::size_t k = 0; k < n_params; ++k)
    if (!get_number(env, items[k], &params[k]) || !std::isfinite(params[k]))
      throw ArgumentError(pmsg);
  ErlNifUInt64 steps;
  if (!enif_get_uint64(env, argv[2], &steps))
    throw ArgumentError("steps must be a non-negative integer");
  items = list_items(env, argv[3], &ok);
  if (!ok) throw ArgumentError("rule_ids must be a list of rule indices");
  const uint32_t n_rules = prog.n_rules();
  std::vector<uint32_t> ids;
  ids.reserve(items.size());
  for (ERL_NIF_TERM t : items) {
    ErlNifUInt64 id;
    if (!enif_get_uint64(env, t, &id))
      throw ArgumentError("rule_ids must be a list of rule indices");
    if (id >= n_rules)
      throw ArgumentError("rule id " + std::to_string(id) + " out of range (the program has " +
                          std::to_string(n_rules) + " rules)");
    ids.push_back(static_cast<uint32_t>(id));
  }
  WorldLock lock(w);
  if (!lock.owned()) return atom(env, "busy");
  if (steps == 0) return atom(env, "ok");
  w->world->params() = params;
  CallerMonitor monitor(env, w);
  const std::vector<std::vector<uint32_t>> lanes = stored_lanes(prog, ids);
  w->world->save(w->undo, lanes);
  brz::ExecOptions opts = exec_options(*w);
  opts.cancel = &w->cancel;
  opts.worker_nice = brz::env::worker_nice();
  brz::RunStepsResult res;
  try {
    res = brz::run_steps(*w->world, ids, steps, params[0], opts);
  } catch (const brz::NumericalError& e) {
    w->world->restore(w->undo);
    return numerical_error(env, *w, e);
  } catch (...) {
    w->world->restore(w->undo);
    throw;
  }
  for (std::size_t p = 0; p < brz::kRulePaths; ++p) w->path_sweeps[p] += res.sweeps[p];
  w->neighbour_builds += res.neighbour_builds;
  if (res.cancelled) {
    w->world->restore(w->undo);
    return atom(env, "cancelled");
  }
  mark_written(*w, lanes);
  return atom(env, "ok");
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
  std::size_t count = 0;
  bool shape_ok = true;
  try {
    ERL_NIF_TERM m, tail = list;
    for (std::size_t i = 0; enif_get_list_cell(env, tail, &m, &tail); ++i) {
      if (i == n) {
        shape_ok = false;
        break;
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
          val = enif_make_tuple3(env, enif_make_double(env, v[0]), enif_make_double(env, v[1]),
                                 enif_make_double(env, v[2]));
        } else if (f.kind == FieldKind::Int) {
          const double r = std::round(v[0]);
          if (std::fabs(r) >= 9.2e18)
            throw ArgumentError(path() + "." + f.name + " is out of range");
          val = enif_make_int64(env, static_cast<ErlNifSInt64>(r));
        } else {
          val = enif_make_double(env, v[0]);
        }
        if (!enif_make_map_put(env, m, f.atom, val, &m))
          throw ArgumentError(path() + " must be a map");
      }
      items[count++] = m;
    }
    if (shape_ok) shape_ok = count == n && enif_is_empty_list(env, tail);
  } catch (const ArgumentError&) {
    check_agent_count(env, list, coll, n);
    throw;
  }
  if (!shape_ok) {
    check_agent_count(env, list, coll, n);
    throw ArgumentError(coll + " must be a list of maps");  // not reached
  }
  return enif_make_list_from_array(env, items, unsigned(n));
}

ERL_NIF_TERM world_to_state(ErlNifEnv* env, int, const ERL_NIF_TERM argv[]) {
  WorldRes* w = get_world(env, argv[0]);
  ERL_NIF_TERM state = argv[1];
  if (!enif_is_map(env, state)) throw ArgumentError("state must be a map");
  WorldLock lock(w);
  if (!lock.owned()) return atom(env, "busy");
  const brz::WorldBase& world = *w->world;
  for (uint32_t t = 0; t < w->types.size(); ++t) {
    const TypeInfo& ti = w->types[t];
    const std::size_t n = world.count(t);
    ERL_NIF_TERM list;
    const std::string coll = "state." + ti.key_name;
    if (!enif_get_map_value(env, state, ti.key, &list)) {
      if (n == 0) continue;
      throw ArgumentError(coll + " is missing (the world has " + std::to_string(n) + " agents)");
    }
    if (!ti.any_written || n == 0) {
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

ERL_NIF_TERM world_column(ErlNifEnv* env, int, const ERL_NIF_TERM argv[]) {
  WorldRes* w = get_world(env, argv[0]);
  unsigned type, first, n_lanes;
  const brz::Program& prog = *w->prog_res->prog;
  if (!enif_get_uint(env, argv[1], &type) || type >= prog.n_types())
    throw ArgumentError("type_index out of range (the program has " +
                        std::to_string(prog.n_types()) + " agent types)");
  if (!enif_get_uint(env, argv[2], &first) || !enif_get_uint(env, argv[3], &n_lanes) ||
      uint64_t(first) + n_lanes > prog.lanes(type))
    throw ArgumentError("lane range out of range (type " + std::to_string(type) + " has " +
                        std::to_string(prog.lanes(type)) + " lanes)");
  WorldLock lock(w);
  if (!lock.owned()) return atom(env, "busy");
  const std::size_t bytes = w->world->count(type) * n_lanes * w->world->element_size();
  ERL_NIF_TERM term;
  unsigned char* out = enif_make_new_binary(env, bytes, &term);
  if (out == nullptr) throw std::bad_alloc();
  if (bytes) w->world->pack(type, first, n_lanes, out);
  return term;
}

// :loaded, :none (no library given) or {:error, reason} (given but rejected).
ERL_NIF_TERM kernel_status(ErlNifEnv* env, const ProgramRes& pr) {
  if (pr.kernels) return atom(env, "loaded");
  if (pr.kernel_error.empty()) return atom(env, "none");
  return enif_make_tuple2(env, atom(env, "error"), make_binary(env, pr.kernel_error));
}

// The ISA variant of the generated kernels in use ("avx512", "avx2", "sse2"), nil without them.
ERL_NIF_TERM kernel_isa(ErlNifEnv* env, const ProgramRes& pr) {
  return pr.kernels ? make_binary(env, pr.kernels->isa()) : atom(env, "nil");
}

ERL_NIF_TERM world_info(ErlNifEnv* env, int, const ERL_NIF_TERM argv[]) {
  WorldRes* w = get_world(env, argv[0]);
  // Precision and counts never change after world_new: no lock needed.
  std::vector<ERL_NIF_TERM> counts;
  for (std::size_t c : w->world->counts()) counts.push_back(enif_make_uint64(env, c));
  const bool f64 = w->world->precision() == brz::Precision::F64;
  // Rules that native_integrate runs through generated kernels, and the library's status.
  const brz::ExecOptions opts = exec_options(*w);
  std::vector<ERL_NIF_TERM> kernels;
  for (uint32_t id = 0; id < w->prog_res->prog->n_rules(); ++id)
    if (brz::runs_generated(brz::rule_path(*w->world, id, opts)))
      kernels.push_back(enif_make_uint(env, id));
  const ERL_NIF_TERM status = kernel_status(env, *w->prog_res);
  std::vector<ERL_NIF_TERM> path_keys, path_counts;
  for (std::size_t p = 0; p < brz::kRulePaths; ++p) {
    path_keys.push_back(atom(env, brz::kRulePathNames[p]));
    path_counts.push_back(enif_make_uint64(env, w->path_sweeps[p].load()));
  }
  const ERL_NIF_TERM sweeps = make_map(env, path_keys, path_counts);
  return make_map(
      env,
      {atom(env, "precision"), atom(env, "counts"), atom(env, "kernels"),
       atom(env, "kernel_status"), atom(env, "kernel_isa"), atom(env, "sweeps"),
       atom(env, "neighbour_builds")},
      {atom(env, f64 ? "f64" : "f32"),
       enif_make_list_from_array(env, counts.data(), unsigned(counts.size())),
       enif_make_list_from_array(env, kernels.data(), unsigned(kernels.size())), status,
       kernel_isa(env, *w->prog_res), sweeps, enif_make_uint64(env, w->neighbour_builds.load())});
}

ERL_NIF_TERM program_info(ErlNifEnv* env, int, const ERL_NIF_TERM argv[]) {
  const ProgramRes* pr = get_program(env, argv[0]);
  return make_map(
      env, {atom(env, "rules"), atom(env, "kernel_status"), atom(env, "kernel_isa")},
      {enif_make_uint(env, pr->prog->n_rules()), kernel_status(env, *pr), kernel_isa(env, *pr)});
}

constexpr std::size_t kMaxWorldOptions = 16;

// world_set_options(world, options): options a keyword list; `kernels: boolean` chooses whether
// native_integrate may use the program's generated kernels (default true).
ERL_NIF_TERM world_set_options(ErlNifEnv* env, int, const ERL_NIF_TERM argv[]) {
  WorldRes* w = get_world(env, argv[0]);
  bool ok;
  std::vector<ERL_NIF_TERM> items = list_items(env, argv[1], &ok, kMaxWorldOptions);
  if (!ok)
    throw ArgumentError("world options must be a keyword list of at most " +
                        std::to_string(kMaxWorldOptions) + " options");
  for (ERL_NIF_TERM item : items) {
    int arity;
    const ERL_NIF_TERM* el;
    if (!enif_get_tuple(env, item, &arity, &el) || arity != 2 || !enif_is_atom(env, el[0]))
      throw ArgumentError("world options must be a keyword list");
    const std::string key = atom_text(env, el[0]);
    if (key == "kernels") {
      const std::string v = enif_is_atom(env, el[1]) ? atom_text(env, el[1]) : "";
      if (v != "true" && v != "false")
        throw ArgumentError("world option kernels must be a boolean");
      w->use_kernels = v == "true";
    } else {
      throw ArgumentError("unknown world option :" + key + " (known: :kernels)");
    }
  }
  return atom(env, "ok");
}

// A lane argument of world_totals: a non-negative integer, or nil for a missing field.
uint32_t totals_lane(ErlNifEnv* env, ERL_NIF_TERM term, const char* what) {
  unsigned lane;
  if (enif_get_uint(env, term, &lane)) return lane;
  if (enif_is_atom(env, term) && atom_text(env, term) == "nil") return brz::kNoLane;
  throw ArgumentError(std::string("world_totals: ") + what + " lane must be an integer or nil");
}

ERL_NIF_TERM world_totals(ErlNifEnv* env, int, const ERL_NIF_TERM argv[]) {
  WorldRes* w = get_world(env, argv[0]);
  unsigned type;
  if (!enif_get_uint(env, argv[1], &type)) throw ArgumentError("world_totals: bad type index");
  brz::TotalsLanes lanes;
  lanes.mass = totals_lane(env, argv[2], "mass");
  lanes.velocity = totals_lane(env, argv[3], "velocity");
  lanes.position = totals_lane(env, argv[4], "position");
  WorldLock lock(w);
  if (!lock.owned()) return atom(env, "busy");
  const brz::Totals t = brz::totals(*w->world, type, lanes);
  const auto vec = [env](const double* v) {
    return enif_make_tuple3(env, enif_make_double(env, v[0]), enif_make_double(env, v[1]),
                            enif_make_double(env, v[2]));
  };
  for (double v : {t.mass, t.momentum[0], t.momentum[1], t.momentum[2], t.angular_momentum[0],
                   t.angular_momentum[1], t.angular_momentum[2], t.kinetic})
    if (!std::isfinite(v)) throw ArgumentError("world_totals: the world holds non-finite values");
  return make_map(
      env,
      {atom(env, "mass"), atom(env, "mass_scale"), atom(env, "momentum"),
       atom(env, "momentum_scale"), atom(env, "angular_momentum"),
       atom(env, "angular_momentum_scale"), atom(env, "kinetic")},
      {enif_make_double(env, t.mass), enif_make_double(env, t.mass_scale), vec(t.momentum),
       enif_make_double(env, t.momentum_scale), vec(t.angular_momentum),
       enif_make_double(env, t.angular_momentum_scale), enif_make_double(env, t.kinetic)});
}

ERL_NIF_TERM live_worlds(ErlNifEnv* env, int, const ERL_NIF_TERM*) {
  return enif_make_long(env, g_live_worlds.load());
}

ERL_NIF_TERM isa(ErlNifEnv* env, int, const ERL_NIF_TERM*) {
  return make_binary(env, brz::isa_name());
}

template <ERL_NIF_TERM (*F)(ErlNifEnv*, int, const ERL_NIF_TERM[])>
ERL_NIF_TERM guarded(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  try {
    return F(env, argc, argv);
  } catch (const brz::ArgumentError& e) {
    return raise_exception(env, "Elixir.ArgumentError", e.what());
  } catch (const std::bad_alloc&) {
    return raise_exception(env, "Elixir.RuntimeError", "BrokenRecord.Zero NIF: out of memory");
  } catch (const std::exception& e) {
    return raise_exception(env, "Elixir.RuntimeError",
                           std::string("BrokenRecord.Zero NIF: ") + e.what());
  } catch (...) {
    return raise_exception(env, "Elixir.RuntimeError", "BrokenRecord.Zero NIF: unknown error");
  }
}

int open_resources(ErlNifEnv* env, ErlNifResourceFlags flags) {
  g_program_rt = enif_open_resource_type(env, nullptr, "brz_program", program_dtor, flags, nullptr);
  ErlNifResourceTypeInit world_init{};
  world_init.dtor = world_dtor;
  world_init.down = world_down;
  g_world_rt = enif_open_resource_type_x(env, "brz_world", &world_init, flags, nullptr);
  if (g_program_rt == nullptr || g_world_rt == nullptr) return -1;
  (void)brz::isa_name();  // choose the kernel set once, at load
  return 0;
}

int load(ErlNifEnv* env, void**, ERL_NIF_TERM) { return open_resources(env, ERL_NIF_RT_CREATE); }

int upgrade(ErlNifEnv* env, void**, void**, ERL_NIF_TERM) {
  return open_resources(env,
                        static_cast<ErlNifResourceFlags>(ERL_NIF_RT_CREATE | ERL_NIF_RT_TAKEOVER));
}

constexpr int kDirty = ERL_NIF_DIRTY_JOB_CPU_BOUND;

ErlNifFunc nif_funcs[] = {
    {"program_new", 1, guarded<program_new>, kDirty},
    {"program_new", 2, guarded<program_new>, ERL_NIF_DIRTY_JOB_IO_BOUND},  // dlopen
    {"program_info", 1, guarded<program_info>, 0},
    {"world_set_options", 2, guarded<world_set_options>, 0},
    {"world_new", 4, guarded<world_new>, kDirty},
    {"native_integrate", 4, guarded<native_integrate>, kDirty},
    {"world_to_state", 2, guarded<world_to_state>, kDirty},
    {"world_column", 4, guarded<world_column>, kDirty},
    {"world_info", 1, guarded<world_info>, 0},
    {"world_totals", 5, guarded<world_totals>, kDirty},
    {"live_worlds", 0, guarded<live_worlds>, 0},
    {"isa", 0, guarded<isa>, 0},
};

}  // namespace

ERL_NIF_INIT(Elixir.BrokenRecord.Zero.NIF, nif_funcs, load, nullptr, upgrade, nullptr)
