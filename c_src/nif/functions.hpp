// The NIF functions of BrokenRecord.Zero.NIF (docs/nif.md, "Functions"). Each may throw; the
// function table in c_src/nif.cpp wraps every one so that no exception leaves the NIF.
#pragma once

#include <erl_nif.h>

#include "nif/resources.hpp"

namespace brz::nif {

using NifFunction = ERL_NIF_TERM(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]);

// c_src/nif/program_functions.cpp
NifFunction program_new, program_info, isa;
// c_src/nif/world_functions.cpp
NifFunction world_new, world_copy, world_to_state, world_column, world_info, world_set_options,
    world_totals, world_observe, world_observe_paths, live_worlds_count, world_put_column,
    world_identities, world_put_identities;
// c_src/nif/run_steps.cpp
NifFunction native_run_steps;

/// :loaded, :none (no library given) or {:error, reason} (given but rejected).
ERL_NIF_TERM kernel_status(ErlNifEnv* env, const ProgramRes& pr);
/// The ISA variant of the generated kernels in use ("avx512", "avx2", "sse2"), nil without them.
ERL_NIF_TERM kernel_isa(ErlNifEnv* env, const ProgramRes& pr);

}  // namespace brz::nif
