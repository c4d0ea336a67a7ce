// Every atom the NIF returns or compares against, made once at load (atoms are global to the VM,
// valid in every environment), so that no call builds an atom from its text.
#pragma once

#include <erl_nif.h>

#include "brz/rule_path.hpp"

// X(identifier, text): one line per atom. Identifiers that are C++ keywords or not valid
// identifiers get a trailing underscore or a descriptive name.
#define BRZ_NIF_ATOMS(X)                                        \
  X(ok, "ok")                                                   \
  X(busy, "busy")                                               \
  X(cancelled, "cancelled")                                     \
  X(error, "error")                                             \
  X(nil, "nil")                                                 \
  X(true_, "true")                                              \
  X(false_, "false")                                            \
  X(struct_, "__struct__")                                      \
  X(exception_, "__exception__")                                \
  X(message, "message")                                         \
  X(argument_error, "Elixir.ArgumentError")                     \
  X(runtime_error, "Elixir.RuntimeError")                       \
  X(numerical_error, "Elixir.BrokenRecord.Zero.NumericalError") \
  X(agent, "agent")                                             \
  X(collection, "collection")                                   \
  X(index, "index")                                             \
  X(field, "field")                                             \
  X(step, "step")                                               \
  X(seed, "seed")                                               \
  X(float_, "float")                                            \
  X(int_, "int")                                                \
  X(vec3, "vec3")                                               \
  X(bool_, "bool")                                              \
  X(enum_, "enum")                                              \
  X(f64, "f64")                                                 \
  X(f32, "f32")                                                 \
  X(kernels, "kernels")                                         \
  X(loaded, "loaded")                                           \
  X(none, "none")                                               \
  X(rules, "rules")                                             \
  X(observables, "observables")                                 \
  X(kernel_status, "kernel_status")                             \
  X(kernel_isa, "kernel_isa")                                   \
  X(precision, "precision")                                     \
  X(counts, "counts")                                           \
  X(sweeps, "sweeps")                                           \
  X(neighbour_builds, "neighbour_builds")                       \
  X(mass, "mass")                                               \
  X(mass_scale, "mass_scale")                                   \
  X(momentum, "momentum")                                       \
  X(momentum_scale, "momentum_scale")                           \
  X(angular_momentum, "angular_momentum")                       \
  X(angular_momentum_scale, "angular_momentum_scale")           \
  X(kinetic, "kinetic")                                         \
  X(box, "box")                                                 \
  X(timings, "timings")                                         \
  X(run, "run")                                                 \
  X(pairs, "pairs")                                             \
  X(neighbour, "neighbour")                                     \
  X(cutoff_too_large, "cutoff_too_large")

namespace brz::nif::atom {

#define BRZ_NIF_DECLARE_ATOM(name, text) extern ERL_NIF_TERM name;
BRZ_NIF_ATOMS(BRZ_NIF_DECLARE_ATOM)
#undef BRZ_NIF_DECLARE_ATOM

/// The name of a rule path (brz::kRulePathNames) as an atom: the keys of world_info's :sweeps.
ERL_NIF_TERM rule_path(brz::RulePath path);

/// Makes every atom of the table; called by the library's load and upgrade callbacks.
void init(ErlNifEnv* env);

}  // namespace brz::nif::atom
