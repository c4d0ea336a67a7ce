// The NIF functions on worlds other than running them (c_src/nif/run_steps.cpp): creation,
// reading back, queries and options.
#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "brz/executor.hpp"
#include "brz/observe.hpp"
#include "brz/rule_path.hpp"
#include "brz/totals.hpp"
#include "nif/atoms.hpp"
#include "nif/functions.hpp"
#include "nif/marshal.hpp"
#include "nif/term.hpp"

namespace brz::nif {

namespace {

// The box argument of world_new: nil, or {{xlo, ylo, zlo}, {xhi, yhi, zhi}} of finite numbers
// with hi > lo; required when the program has periodic axes.
void set_box(ErlNifEnv* env, ERL_NIF_TERM term, brz::WorldBase& world) {
  const char* const message =
      "box must be nil or {{xlo, ylo, zlo}, {xhi, yhi, zhi}} of finite floats with hi > lo";
  if (enif_is_identical(term, atom::nil)) {
    if (world.program().periodic())
      throw ArgumentError("box is required: the program has periodic axes");
    return;
  }
  const auto corners = decode<Tuple<2>>(env, term, message);
  double lo[3], hi[3];
  for (int k = 0; k < 2; ++k) {
    const auto c = decode<Tuple<3>>(env, corners[k], message);
    for (int d = 0; d < 3; ++d)
      if (!get(env, c[d], k == 0 ? &lo[d] : &hi[d])) throw ArgumentError(message);
  }
  for (int d = 0; d < 3; ++d)
    if (!std::isfinite(lo[d]) || !std::isfinite(hi[d]) || !(hi[d] > lo[d]) ||
        !std::isfinite(hi[d] - lo[d]))
      throw ArgumentError(message);
  world.set_box(lo, hi);
}

}  // namespace

// world_new(program, layout, state, precision, box, seed, start_step).
ERL_NIF_TERM world_new(ErlNifEnv* env, int, const ERL_NIF_TERM argv[]) {
  ProgramRes* pres = get_program(env, argv[0]);
  ErlNifUInt64 seed, start_step;
  if (!get(env, argv[5], &seed) || seed > UINT32_MAX)
    throw ArgumentError(":seed must be an integer in 0..4294967295");
  if (!get(env, argv[6], &start_step))
    throw ArgumentError(":start_step must be an integer in 0..18446744073709551615");
  brz::Precision precision;
  if (enif_is_identical(argv[3], atom::f64))
    precision = brz::Precision::F64;
  else if (enif_is_identical(argv[3], atom::f32))
    precision = brz::Precision::F32;
  else
    throw ArgumentError("precision must be :f64 or :f32");
  std::vector<TypeInfo> types = parse_layout(env, argv[1], *pres->prog);
  const Map state = decode<Map>(env, argv[2], "state must be a map");
  std::unique_ptr<brz::WorldBase> world = read_state(env, state.term, types, pres->prog, precision);
  set_box(env, argv[4], *world);
  world->set_seed(static_cast<uint32_t>(seed));
  world->set_step(start_step);
  // Agents given outside the box enter it; their fields then come back wrapped.
  if (world->wrap_all()) {
    for (uint32_t t = 0; t < types.size(); ++t)
      if (!world->images(t).empty())
        for (uint32_t d = 0; d < 3; ++d)
          if (world->box().periodic[d]) types[t].mark_written(pres->prog->coord_lane(t) + d);
  }
  // The resource is sized by the world's columns too, so that the garbage collector of a
  // process holding it counts them, like the bytes of a binary (docs/nif.md, "Memory").
  const std::size_t column_bytes = world->column_bytes();
  std::vector<std::atomic<uint64_t>> counts(world->counts().size());
  return Worlds::make(env, column_bytes, pres, std::move(world), std::move(types),
                      std::move(counts));
}

ERL_NIF_TERM world_to_state(ErlNifEnv* env, int, const ERL_NIF_TERM argv[]) {
  WorldRes* w = get_world(env, argv[0]);
  const Map state = decode<Map>(env, argv[1], "state must be a map");
  WorldLock lock(w);
  if (!lock.owned()) return atom::busy;
  return write_state(env, state.term, w->types, *w->world);
}

ERL_NIF_TERM world_column(ErlNifEnv* env, int, const ERL_NIF_TERM argv[]) {
  WorldRes* w = get_world(env, argv[0]);
  unsigned type, first, n_lanes;
  const brz::Program& prog = *w->prog_res->prog;
  if (!get(env, argv[1], &type) || type >= prog.n_types())
    throw ArgumentError("type_index out of range (the program has " +
                        std::to_string(prog.n_types()) + " agent types)");
  if (!get(env, argv[2], &first) || !get(env, argv[3], &n_lanes) ||
      uint64_t(first) + n_lanes > prog.lanes(type))
    throw ArgumentError("lane range out of range (type " + std::to_string(type) + " has " +
                        std::to_string(prog.lanes(type)) + " lanes)");
  const bool unwrapped = decode<bool>(env, argv[4], "unwrapped must be a boolean");
  WorldLock lock(w);
  if (!lock.owned()) return atom::busy;
  return read_columns(env, *w->world, type, first, n_lanes, unwrapped);
}

namespace {

// The type index argument of a world function, checked against the program.
uint32_t type_arg(ErlNifEnv* env, ERL_NIF_TERM term, const brz::Program& prog) {
  unsigned type;
  if (!get(env, term, &type) || type >= prog.n_types())
    throw ArgumentError("type_index out of range (the program has " +
                        std::to_string(prog.n_types()) + " agent types)");
  return type;
}

}  // namespace

// world_put_column(world, type, first_lane, n_lanes, binary): replaces one field of every
// agent of a type with a packed column (docs/nif.md, "Columns").
ERL_NIF_TERM world_put_column(ErlNifEnv* env, int, const ERL_NIF_TERM argv[]) {
  WorldRes* w = get_world(env, argv[0]);
  const uint32_t type = type_arg(env, argv[1], *w->prog_res->prog);
  TypeInfo& ti = w->types[type];
  unsigned first, n_lanes;
  const FieldInfo* f = get(env, argv[2], &first) ? ti.field_of(first) : nullptr;
  if (f == nullptr || !get(env, argv[3], &n_lanes) || f->first_lane != first ||
      f->width() != n_lanes)
    throw ArgumentError("the lane range must be one field of type " + std::to_string(type));
  const std::string where = ti.key_name + "." + f->name;
  const BinaryView bin =
      decode<BinaryView>(env, argv[4], where + " must be a binary (a packed column)");
  WorldLock lock(w);
  if (!lock.owned()) return atom::busy;
  brz::WorldBase& world = *w->world;
  const std::size_t n = world.count(type), bytes = n * n_lanes * world.element_size();
  if (bin.size != bytes)
    throw ArgumentError(where + ": expected " + std::to_string(bytes) + " bytes (" +
                        std::to_string(n) + " agents x " +
                        std::to_string(n_lanes * world.element_size()) + " bytes), got " +
                        std::to_string(bin.size));
  // Every value is checked before the first is stored: a bad column leaves the world as it was.
  std::vector<double> values(n * n_lanes);
  read_column(*f, bin.data, n, world.precision() == brz::Precision::F32, ti.key_name, values.data(),
              n_lanes);
  for (std::size_t i = 0; i < n; ++i)
    for (uint32_t k = 0; k < n_lanes; ++k) world.set(type, first + k, i, values[i * n_lanes + k]);
  // Coordinates given outside a periodic box are wrapped in, their crossings counted.
  if (world.program().coord_lane(type) == first && !world.images(type).empty()) world.wrap(type);
  // Neighbour lists and other per-row caches were built from the old values.
  world.engine_cache().reset();
  for (uint32_t k = 0; k < n_lanes; ++k) ti.mark_written(first + k);
  return atom::ok;
}

// world_identities(world, type): {identities, next_identity, images} of a type (docs/nif.md).
ERL_NIF_TERM world_identities(ErlNifEnv* env, int, const ERL_NIF_TERM argv[]) {
  WorldRes* w = get_world(env, argv[0]);
  const uint32_t type = type_arg(env, argv[1], *w->prog_res->prog);
  WorldLock lock(w);
  if (!lock.owned()) return atom::busy;
  const brz::WorldBase& world = *w->world;
  const std::size_t n = world.count(type);
  ERL_NIF_TERM ids_term;
  unsigned char* ids = enif_make_new_binary(env, n * sizeof(uint32_t), &ids_term);
  if (ids == nullptr && n > 0) throw std::bad_alloc();
  for (std::size_t i = 0; i < n; ++i) {
    const uint32_t id = world.id(type, i);
    std::memcpy(ids + i * sizeof id, &id, sizeof id);
  }
  ERL_NIF_TERM images_term = atom::nil;
  const std::vector<int64_t>& images = world.images(type);
  if (!images.empty() || world.wraps(type, 0) || world.wraps(type, 1) || world.wraps(type, 2)) {
    unsigned char* out = enif_make_new_binary(env, images.size() * sizeof(int64_t), &images_term);
    if (out == nullptr && !images.empty()) throw std::bad_alloc();
    if (!images.empty()) std::memcpy(out, images.data(), images.size() * sizeof(int64_t));
  }
  return enif_make_tuple3(env, ids_term, encode(env, ErlNifUInt64(world.next_id(type))),
                          images_term);
}

// world_put_identities(world, type, identities, next_identity, images): sets what
// world_identities returns (a checkpoint being loaded).
ERL_NIF_TERM world_put_identities(ErlNifEnv* env, int, const ERL_NIF_TERM argv[]) {
  WorldRes* w = get_world(env, argv[0]);
  const uint32_t type = type_arg(env, argv[1], *w->prog_res->prog);
  const BinaryView ids = decode<BinaryView>(env, argv[2], "identities must be a binary");
  ErlNifUInt64 next_id;
  if (!get(env, argv[3], &next_id)) throw ArgumentError("next identity must be an integer");
  BinaryView images{nullptr, 0};
  const bool has_images = !enif_is_identical(argv[4], atom::nil);
  if (has_images) images = decode<BinaryView>(env, argv[4], "images must be nil or a binary");
  WorldLock lock(w);
  if (!lock.owned()) return atom::busy;
  brz::WorldBase& world = *w->world;
  const std::size_t n = world.count(type);
  if (ids.size != n * sizeof(uint32_t))
    throw ArgumentError("identities: expected " + std::to_string(n * sizeof(uint32_t)) +
                        " bytes, got " + std::to_string(ids.size));
  const std::size_t n_images = world.images(type).size();
  if (has_images ? images.size != n_images * sizeof(int64_t) : n_images != 0)
    throw ArgumentError("images: expected " + std::to_string(n_images * sizeof(int64_t)) +
                        " bytes of image counters for type " + std::to_string(type) + ", got " +
                        (has_images ? std::to_string(images.size) + " bytes" : "nil"));
  std::vector<uint32_t> id_values(n);
  if (n > 0) std::memcpy(id_values.data(), ids.data, ids.size);
  std::vector<int64_t> image_values(n_images);
  if (n_images > 0) std::memcpy(image_values.data(), images.data, images.size);
  // Both are checked before either is set.
  world.set_identities(type, id_values.data(), next_id);
  if (!image_values.empty()) world.set_images(type, image_values.data(), image_values.size());
  world.engine_cache().reset();
  return atom::ok;
}

ERL_NIF_TERM world_info(ErlNifEnv* env, int, const ERL_NIF_TERM argv[]) {
  WorldRes* w = get_world(env, argv[0]);
  // Precision and seed never change after world_new: no lock needed (the step counter and the
  // counts are WorldRes's copies).
  std::vector<ERL_NIF_TERM> counts;
  for (const std::atomic<uint64_t>& c : w->counts)
    counts.push_back(encode(env, ErlNifUInt64(c.load())));
  const bool f64 = w->world->precision() == brz::Precision::F64;
  // Rules that native_run_steps runs through generated kernels, and the library's status.
  const brz::ExecOptions opts = exec_options(*w);
  std::vector<ERL_NIF_TERM> kernels;
  for (uint32_t id = 0; id < w->prog_res->prog->n_rules(); ++id)
    if (brz::runs_generated(brz::rule_path(*w->world, id, opts)))
      kernels.push_back(encode(env, id));
  const ERL_NIF_TERM status = kernel_status(env, *w->prog_res);
  std::vector<ERL_NIF_TERM> path_keys, path_counts;
  for (std::size_t p = 0; p < brz::kRulePaths; ++p) {
    path_keys.push_back(atom::rule_path(static_cast<brz::RulePath>(p)));
    path_counts.push_back(encode(env, w->path_sweeps[p].load()));
  }
  // The box never changes after world_new either.
  ERL_NIF_TERM box = atom::nil;
  if (w->world->has_box()) {
    const brz::Box& b = w->world->box();
    box = enif_make_tuple2(env, encode(env, b.lo), encode(env, b.hi));
  }
  const ERL_NIF_TERM timings =
      make_map(env, {{atom::run, encode(env, w->run_seconds.load())},
                     {atom::pairs, encode(env, w->pair_seconds.load())},
                     {atom::neighbour, encode(env, w->neighbour_seconds.load())}});
  return make_map(env, {{atom::precision, f64 ? atom::f64 : atom::f32},
                        {atom::box, box},
                        {atom::seed, encode(env, ErlNifUInt64(w->world->seed()))},
                        {atom::step, encode(env, ErlNifUInt64(w->step.load()))},
                        {atom::timings, timings},
                        {atom::counts, make_list(env, counts)},
                        {atom::kernels, make_list(env, kernels)},
                        {atom::kernel_status, status},
                        {atom::kernel_isa, kernel_isa(env, *w->prog_res)},
                        {atom::sweeps, make_map(env, path_keys, path_counts)},
                        {atom::neighbour_builds, encode(env, w->neighbour_builds.load())}});
}

namespace {

constexpr std::size_t kMaxWorldOptions = 16;

// A lane argument of world_totals: a non-negative integer, or nil for a missing field.
uint32_t totals_lane(ErlNifEnv* env, ERL_NIF_TERM term, const char* what) {
  unsigned lane;
  if (get(env, term, &lane)) return lane;
  if (enif_is_identical(term, atom::nil)) return brz::kNoLane;
  throw ArgumentError(std::string("world_totals: ") + what + " lane must be an integer or nil");
}

}  // namespace

// world_copy(world): a new world resource holding a deep copy of the world (WorldBase::clone),
// with its types and kernels option.
ERL_NIF_TERM world_copy(ErlNifEnv* env, int, const ERL_NIF_TERM argv[]) {
  WorldRes* w = get_world(env, argv[0]);
  WorldLock lock(w);
  if (!lock.owned()) return atom::busy;
  std::unique_ptr<brz::WorldBase> world = w->world->clone();
  const std::size_t column_bytes = world->column_bytes();
  std::vector<std::atomic<uint64_t>> counts(world->counts().size());
  std::vector<TypeInfo> types = w->types;
  const bool use_kernels = w->use_kernels.load();
  const ERL_NIF_TERM copy = Worlds::make(env, column_bytes, &*w->prog_res, std::move(world),
                                         std::move(types), std::move(counts));
  Worlds::get(env, copy, "world_copy: no world")->use_kernels = use_kernels;
  return copy;
}

// world_set_options(world, options): options a keyword list; `kernels: boolean` chooses whether
// native_run_steps may use the program's generated kernels (default true).
ERL_NIF_TERM world_set_options(ErlNifEnv* env, int, const ERL_NIF_TERM argv[]) {
  WorldRes* w = get_world(env, argv[0]);
  const auto items = list_items(env, argv[1], kMaxWorldOptions);
  if (!items)
    throw ArgumentError("world options must be a keyword list of at most " +
                        std::to_string(kMaxWorldOptions) + " options");
  for (ERL_NIF_TERM item : *items) {
    const auto option = try_decode<Tuple<2>>(env, item);
    if (!option || !enif_is_atom(env, (*option)[0]))
      throw ArgumentError("world options must be a keyword list");
    const auto [key, value] = *option;
    if (!enif_is_identical(key, atom::kernels))
      throw ArgumentError("unknown world option :" + atom_text(env, key) + " (known: :kernels)");
    w->use_kernels = decode<bool>(env, value, "world option kernels must be a boolean");
  }
  return atom::ok;
}

ERL_NIF_TERM world_totals(ErlNifEnv* env, int, const ERL_NIF_TERM argv[]) {
  WorldRes* w = get_world(env, argv[0]);
  const unsigned type = decode<unsigned>(env, argv[1], "world_totals: bad type index");
  brz::TotalsLanes lanes;
  lanes.mass = totals_lane(env, argv[2], "mass");
  lanes.velocity = totals_lane(env, argv[3], "velocity");
  lanes.position = totals_lane(env, argv[4], "position");
  WorldLock lock(w);
  if (!lock.owned()) return atom::busy;
  const brz::Totals t = brz::totals(*w->world, type, lanes);
  for (double v : {t.mass, t.momentum[0], t.momentum[1], t.momentum[2], t.angular_momentum[0],
                   t.angular_momentum[1], t.angular_momentum[2], t.kinetic})
    if (!std::isfinite(v)) throw ArgumentError("world_totals: the world holds non-finite values");
  return make_map(env, {{atom::mass, encode(env, t.mass)},
                        {atom::mass_scale, encode(env, t.mass_scale)},
                        {atom::momentum, encode(env, t.momentum)},
                        {atom::momentum_scale, encode(env, t.momentum_scale)},
                        {atom::angular_momentum, encode(env, t.angular_momentum)},
                        {atom::angular_momentum_scale, encode(env, t.angular_momentum_scale)},
                        {atom::kinetic, encode(env, t.kinetic)}});
}

namespace {

// The specs of world_observe and world_observe_paths: a list of {rule, [value registers],
// reduce} (reduce 0 sum, 1 min, 2 max; one or three registers).
std::vector<brz::ObserveSpec> decode_observe_specs(ErlNifEnv* env, ERL_NIF_TERM term) {
  constexpr std::size_t kMaxObservables = 65536;
  const auto items = list_items(env, term, kMaxObservables);
  if (!items) throw ArgumentError("world_observe: specs must be a list of {rule, [regs], reduce}");
  std::vector<brz::ObserveSpec> specs;
  for (ERL_NIF_TERM item : *items) {
    const auto [rule, regs_term, reduce] =
        decode<Tuple<3>>(env, item, "world_observe: a spec must be {rule, [regs], reduce}");
    brz::ObserveSpec s;
    s.rule = decode<unsigned>(env, rule, "world_observe: rule must be a non-negative integer");
    const auto regs = list_items(env, regs_term, 3);
    if (!regs || (regs->size() != 1 && regs->size() != 3))
      throw ArgumentError("world_observe: regs must be a list of 1 or 3 registers");
    s.width = uint32_t(regs->size());
    for (uint32_t c = 0; c < s.width; ++c) {
      const unsigned reg = decode<unsigned>(env, (*regs)[c], "world_observe: bad register");
      if (reg > 0xFFFF) throw ArgumentError("world_observe: register out of range");
      s.regs[c] = uint16_t(reg);
    }
    const unsigned r = decode<unsigned>(env, reduce, "world_observe: reduce must be 0, 1 or 2");
    if (r > 2) throw ArgumentError("world_observe: reduce must be 0, 1 or 2");
    s.reduce = brz::ObserveReduce(r);
    specs.push_back(s);
  }
  return specs;
}

// The observe kernels a world may use: none when its option `kernels` is off.
const brz::KernelLibrary* observe_kernels(const WorldRes& w, const ProgramRes& pr) {
  return w.use_kernels.load() ? pr.kernels.get() : nullptr;
}

}  // namespace

// world_observe(world, program, specs): program a program resource of observables (with its
// observe kernels, if any), specs as decode_observe_specs reads them. Returns per spec
// {count, [values], magnitude} (values nil for an empty min or max), or nil when a value was
// not finite.
ERL_NIF_TERM world_observe(ErlNifEnv* env, int, const ERL_NIF_TERM argv[]) {
  WorldRes* w = get_world(env, argv[0]);
  const ProgramRes* pr = get_program(env, argv[1]);
  const std::vector<brz::ObserveSpec> specs = decode_observe_specs(env, argv[2]);
  WorldLock lock(w);
  if (!lock.owned()) return atom::busy;
  const std::vector<brz::ObserveResult> results =
      brz::observe(*w->world, *pr->prog, specs, 0, observe_kernels(*w, *pr));
  std::vector<ERL_NIF_TERM> out;
  for (std::size_t k = 0; k < results.size(); ++k) {
    const brz::ObserveResult& r = results[k];
    // An empty min or max has no value; an overflowing sum is as non-finite as its terms.
    const bool empty = r.count == 0 && specs[k].reduce != brz::ObserveReduce::Sum;
    bool finite = r.finite && std::isfinite(r.magnitude);
    for (uint32_t c = 0; c < specs[k].width; ++c)
      finite = finite && (empty || std::isfinite(r.value[c]));
    if (!finite) {
      out.push_back(atom::nil);
      continue;
    }
    std::vector<ERL_NIF_TERM> values;
    for (uint32_t c = 0; c < specs[k].width; ++c)
      values.push_back(empty ? atom::nil : encode(env, r.value[c]));
    out.push_back(enif_make_tuple3(env, encode(env, ErlNifUInt64(r.count)), make_list(env, values),
                                   encode(env, r.magnitude)));
  }
  return make_list(env, out);
}

// world_observe_paths(world, program, specs): as world_observe, but returns per spec the path
// that would evaluate it (kernel, cells, all_pairs, bonded or agents) without evaluating it.
ERL_NIF_TERM world_observe_paths(ErlNifEnv* env, int, const ERL_NIF_TERM argv[]) {
  WorldRes* w = get_world(env, argv[0]);
  const ProgramRes* pr = get_program(env, argv[1]);
  const std::vector<brz::ObserveSpec> specs = decode_observe_specs(env, argv[2]);
  WorldLock lock(w);
  if (!lock.owned()) return atom::busy;
  std::vector<ERL_NIF_TERM> out;
  for (brz::ObservePath p :
       brz::observe_paths(*w->world, *pr->prog, specs, observe_kernels(*w, *pr)))
    out.push_back(enif_make_atom(env, brz::observe_path_name(p)));
  return make_list(env, out);
}

ERL_NIF_TERM live_worlds_count(ErlNifEnv* env, int, const ERL_NIF_TERM*) {
  return encode(env, live_worlds());
}

}  // namespace brz::nif
