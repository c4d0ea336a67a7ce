// native_run_steps: runs rules on a world, undoing a run that raises or is cancelled.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "brz/env.hpp"
#include "brz/error.hpp"
#include "brz/executor.hpp"
#include "nif/atoms.hpp"
#include "nif/functions.hpp"
#include "nif/term.hpp"

namespace brz::nif {

namespace {

// Raises BrokenRecord.Zero.NumericalError with the fields of `e` in the world's terms; its
// message is made from them on the Elixir side (NumericalError.message/1).
ERL_NIF_TERM raise_numerical_error(ErlNifEnv* env, const WorldRes& w,
                                   const brz::NumericalError& e) {
  const TypeInfo& ti = w.types.at(e.type);
  const FieldInfo* field = ti.field_of(e.lane);
  return raise_exception(env, atom::numerical_error,
                         {{atom::agent, encode(env, ti.type_name)},
                          {atom::collection, ti.key},
                          {atom::index, encode(env, ErlNifUInt64(e.index))},
                          {atom::field, field ? field->atom : atom::nil},
                          {atom::step, encode(env, ErlNifUInt64(e.step))}});
}

// The types whose agents the rules `ids` may remove or spawn, or that reference those (saved
// whole before a run).
std::vector<uint8_t> lifecycle_types(const brz::Program& prog, const std::vector<uint32_t>& ids) {
  std::vector<uint8_t> whole(prog.n_types(), 0);
  for (uint32_t id : ids) {
    const brz::Rule& rule = prog.rule(id);
    for (const brz::RemoveRef& rm : rule.removes) whole[rule.slot_type(rm.slot)] = 1;
    for (const brz::SpawnRef& sp : rule.spawns) whole[sp.type] = 1;
  }
  // An agent that references a removed agent goes with it.
  for (bool again = true; again;) {
    again = false;
    for (uint32_t t = 0; t < prog.n_types(); ++t)
      for (const brz::RefSlot& ref : prog.references(t))
        if (whole[ref.type] && !whole[t]) whole[t] = again = 1;
  }
  return whole;
}

// The lanes that the rules `ids` store to, per type (what a run may change, so what it saves),
// and the coordinates of every type a periodic program may wrap at the end of a step.
std::vector<std::vector<uint32_t>> stored_lanes(const brz::WorldBase& world,
                                                const std::vector<uint32_t>& ids) {
  const brz::Program& prog = world.program();
  std::vector<std::vector<uint32_t>> lanes(prog.n_types());
  for (uint32_t t = 0; t < prog.n_types(); ++t)
    if (!world.images(t).empty())
      for (uint32_t d = 0; d < 3; ++d)
        if (world.box().periodic[d]) lanes[t].push_back(prog.coord_lane(t) + d);
  for (uint32_t id : ids) {
    const brz::Rule& rule = prog.rule(id);
    for (const brz::StoreRef& s : rule.stores) {
      std::vector<uint32_t>& l = lanes[rule.slot_type(s.slot)];
      if (std::find(l.begin(), l.end(), s.lane) == l.end()) l.push_back(s.lane);
    }
  }
  // A type whose agents a rule removes or spawns changes whole: every lane.
  const std::vector<uint8_t> whole = lifecycle_types(prog, ids);
  for (uint32_t t = 0; t < prog.n_types(); ++t)
    if (whole[t]) {
      lanes[t].resize(prog.lanes(t));
      for (uint32_t l = 0; l < prog.lanes(t); ++l) lanes[t][l] = l;
    }
  return lanes;
}

// Marks the fields that hold `lanes` (per type, from stored_lanes) as written, so world_to_state
// replaces them (and only them: a field no rule has written comes back as the caller's own term).
void mark_written(WorldRes& w, const std::vector<std::vector<uint32_t>>& lanes) {
  for (uint32_t t = 0; t < lanes.size(); ++t)
    for (uint32_t lane : lanes[t]) w.types[t].mark_written(lane);
}

// The written flags of every type and field, in layout order: what a run in chunks puts back
// when a later chunk is undone (the chunks before it marked theirs).
void save_written(const WorldRes& w, std::vector<uint8_t>& into) {
  into.clear();
  for (const TypeInfo& t : w.types) {
    into.push_back(t.any_written);
    for (const FieldInfo& f : t.fields) into.push_back(f.written);
  }
}

void restore_written(WorldRes& w, const std::vector<uint8_t>& from) {
  std::size_t k = 0;
  for (TypeInfo& t : w.types) {
    t.any_written = from.at(k++) != 0;
    for (FieldInfo& f : t.fields) f.written = from.at(k++) != 0;
  }
}

// The params argument: a list of exactly n_params finite numbers.
std::vector<double> decode_params(ErlNifEnv* env, ERL_NIF_TERM list, std::size_t n_params) {
  const std::string message =
      "params must be a list of " + std::to_string(n_params) + " numbers (dt first)";
  const auto items = list_items(env, list, n_params);
  if (!items || items->size() != n_params) throw ArgumentError(message);
  std::vector<double> params(n_params);
  for (std::size_t k = 0; k < n_params; ++k)
    if (!get(env, (*items)[k], &params[k]) || !std::isfinite(params[k]))
      throw ArgumentError(message);
  return params;
}

// The rule_ids argument: a list of indices of the program's rules.
std::vector<uint32_t> decode_rule_ids(ErlNifEnv* env, ERL_NIF_TERM list, uint32_t n_rules) {
  const char* const message = "rule_ids must be a list of rule indices";
  const auto items = list_items(env, list);
  if (!items) throw ArgumentError(message);
  std::vector<uint32_t> ids;
  ids.reserve(items->size());
  for (ERL_NIF_TERM t : *items) {
    const auto id = decode<ErlNifUInt64>(env, t, message);
    if (id >= n_rules)
      throw ArgumentError("rule id " + std::to_string(id) + " out of range (the program has " +
                          std::to_string(n_rules) + " rules)");
    ids.push_back(static_cast<uint32_t>(id));
  }
  return ids;
}

}  // namespace

// native_run_steps(world, params, steps, rule_ids[, continues]): params travel with the call (a
// list of n_params numbers, dt first), so concurrent callers never run with each other's. A run
// that raises (NumericalError, a cutoff beyond half a periodic box edge) or is cancelled by its
// caller's death leaves the world as it was before the call (docs/nif.md), its step counter
// included; otherwise the counter has advanced by `steps`. With `continues` true the call is
// the next chunk of the previous run (same rules, completed): it keeps that run's save, so
// undoing it undoes the whole run.
ERL_NIF_TERM native_run_steps(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  WorldRes* w = get_world(env, argv[0]);
  const brz::Program& prog = *w->prog_res->prog;
  const std::vector<double> params = decode_params(env, argv[1], prog.n_params());
  const auto steps = decode<ErlNifUInt64>(env, argv[2], "steps must be a non-negative integer");
  const std::vector<uint32_t> ids = decode_rule_ids(env, argv[3], prog.n_rules());
  const bool continues = argc > 4 && decode<bool>(env, argv[4], "continues must be a boolean");
  WorldLock lock(w);
  if (!lock.owned()) return atom::busy;
  if (continues && !(w->undo_open && w->undo_rules == ids))
    throw ArgumentError(
        "continues: the previous run on this world was not a completed run of "
        "the same rules");
  // A new run ends the one before: nothing older can be continued after it.
  if (!continues) w->undo_open = false;
  if (steps == 0) return atom::ok;
  w->world->params() = params;
  CallerMonitor monitor(env, w);
  const std::vector<std::vector<uint32_t>> lanes = stored_lanes(*w->world, ids);
  if (!continues) {
    w->world->save(w->undo, lanes, lifecycle_types(prog, ids));
    save_written(*w, w->undo_written);
  }
  // Open again only when this run completes (an undone run has nothing left to continue).
  w->undo_open = false;
  // Puts the world back as it was before the run (before its first chunk, for a continuation),
  // and what world_info and world_to_state read of it: earlier chunks published their step
  // counter and counts, and marked the fields they wrote.
  const auto undo = [w] {
    w->world->restore(w->undo);
    restore_written(*w, w->undo_written);
    w->step.store(w->world->step());
    w->publish_counts();
  };
  brz::ExecOptions opts = exec_options(*w);
  opts.cancel = &w->cancel;
  opts.worker_nice = brz::env::worker_nice();
  brz::RunStepsResult res;
  const auto t0 = std::chrono::steady_clock::now();
  try {
    res = brz::run_steps(*w->world, ids, steps, params[0], opts);
  } catch (const brz::NumericalError& e) {
    undo();
    return raise_numerical_error(env, *w, e);
  } catch (const brz::CutoffError& e) {
    undo();
    return enif_raise_exception(
        env, enif_make_tuple5(env, atom::cutoff_too_large, encode(env, e.rule),
                              encode(env, e.bound), encode(env, long(e.axis)), encode(env, e.len)));
  } catch (...) {
    undo();
    throw;
  }
  const double run = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  w->run_seconds.store(w->run_seconds.load() + run);
  w->pair_seconds.store(w->pair_seconds.load() + res.pair_seconds);
  w->neighbour_seconds.store(w->neighbour_seconds.load() + res.neighbour_seconds);
  for (std::size_t p = 0; p < brz::kRulePaths; ++p) w->path_sweeps[p] += res.sweeps[p];
  w->neighbour_builds += res.neighbour_builds;
  if (res.cancelled) {
    undo();
    return atom::cancelled;
  }
  w->undo_open = true;
  w->undo_rules = ids;
  w->step.store(w->world->step());
  w->publish_counts();
  mark_written(*w, lanes);
  return atom::ok;
}

}  // namespace brz::nif
