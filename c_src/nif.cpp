// The NIF boundary (docs/nif.md): translates terms to and from the engine (include/brz/), which
// knows nothing about the BEAM. This file is the library's entry: the function table, load and
// upgrade. Every C++ exception is caught here and raised as an Elixir exception; nothing
// non-finite is ever returned as a term. The functions themselves are in c_src/nif/.
#include <erl_nif.h>

#include <exception>
#include <new>
#include <string>

#include "brz/error.hpp"
#include "brz/isa.hpp"
#include "nif/atoms.hpp"
#include "nif/functions.hpp"
#include "nif/resources.hpp"
#include "nif/term.hpp"

namespace {

using namespace brz::nif;

template <NifFunction* F>
ERL_NIF_TERM guarded(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  try {
    return F(env, argc, argv);
  } catch (const brz::ArgumentError& e) {
    return raise_with_message(env, atom::argument_error, e.what());
  } catch (const std::bad_alloc&) {
    return raise_with_message(env, atom::runtime_error, "BrokenRecord.Zero NIF: out of memory");
  } catch (const std::exception& e) {
    return raise_with_message(env, atom::runtime_error,
                              std::string("BrokenRecord.Zero NIF: ") + e.what());
  } catch (...) {
    return raise_with_message(env, atom::runtime_error, "BrokenRecord.Zero NIF: unknown error");
  }
}

int open(ErlNifEnv* env, ErlNifResourceFlags flags) {
  atom::init(env);
  if (!open_resource_types(env, flags)) return -1;
  (void)brz::isa_name();  // choose the kernel set once, at load
  return 0;
}

int load(ErlNifEnv* env, void**, ERL_NIF_TERM) { return open(env, ERL_NIF_RT_CREATE); }

int upgrade(ErlNifEnv* env, void**, void**, ERL_NIF_TERM) {
  return open(env, static_cast<ErlNifResourceFlags>(ERL_NIF_RT_CREATE | ERL_NIF_RT_TAKEOVER));
}

constexpr int kDirty = ERL_NIF_DIRTY_JOB_CPU_BOUND;

ErlNifFunc nif_funcs[] = {
    {"program_new", 1, guarded<program_new>, kDirty},
    {"program_new", 2, guarded<program_new>, ERL_NIF_DIRTY_JOB_IO_BOUND},  // dlopen
    {"program_new", 3, guarded<program_new>, ERL_NIF_DIRTY_JOB_IO_BOUND},
    {"program_info", 1, guarded<program_info>, 0},
    {"world_set_options", 2, guarded<world_set_options>, 0},
    {"world_new", 7, guarded<world_new>, kDirty},
    {"native_run_steps", 4, guarded<native_run_steps>, kDirty},
    {"native_run_steps", 5, guarded<native_run_steps>, kDirty},
    {"world_copy", 1, guarded<world_copy>, kDirty},
    {"world_to_state", 2, guarded<world_to_state>, kDirty},
    {"world_column", 5, guarded<world_column>, kDirty},
    {"world_put_column", 5, guarded<world_put_column>, kDirty},
    {"world_identities", 2, guarded<world_identities>, kDirty},
    {"world_put_identities", 5, guarded<world_put_identities>, kDirty},
    {"world_info", 1, guarded<world_info>, 0},
    {"world_totals", 5, guarded<world_totals>, kDirty},
    {"world_observe", 3, guarded<world_observe>, kDirty},
    {"world_observe_paths", 3, guarded<world_observe_paths>, kDirty},
    {"live_worlds", 0, guarded<live_worlds_count>, 0},
    {"isa", 0, guarded<isa>, 0},
};

}  // namespace

ERL_NIF_INIT(Elixir.BrokenRecord.Zero.NIF, nif_funcs, load, nullptr, upgrade, nullptr)
