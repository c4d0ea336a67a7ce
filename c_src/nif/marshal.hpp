// Marshalling between a state (maps of agents in lists, per collection) and a world's columns,
// and column reads: the only code that walks agent lists or touches column memory for the NIF.
#pragma once

#include <erl_nif.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "brz/program.hpp"
#include "brz/world.hpp"
#include "nif/layout.hpp"

namespace brz::nif {

/// The world of `prog`, at `precision`, holding the agents of `state` (a map) as `types` lays
/// them out; a collection given as a map of packed columns (field => binary) is decoded by
/// read_column. Throws the ArgumentError of the first bad collection or agent (docs/nif.md,
/// "Reading the state").
std::unique_ptr<brz::WorldBase> read_state(ErlNifEnv* env, ERL_NIF_TERM state,
                                           const std::vector<TypeInfo>& types,
                                           const std::shared_ptr<const brz::Program>& prog,
                                           brz::Precision precision);

/// Decodes a packed column of field `f` (n agents, f.width() values each, native-endian
/// floats of the world's precision: f32 or f64, agent-major, as read_columns writes them) into
/// out[i * stride + k], checking every value: finite, an :int integral and exactly held by the
/// precision, a :bool 0 or 1, an enum an index of its values; throws the ArgumentError naming
/// `where` + "[i]." + the field (docs/nif.md, "Columns").
void read_column(const FieldInfo& f, const unsigned char* data, std::size_t n, bool f32,
                 const std::string& where, double* out, std::size_t stride);

/// `state` (a map) with the written fields of every agent replaced by the world's values.
ERL_NIF_TERM write_state(ErlNifEnv* env, ERL_NIF_TERM state, const std::vector<TypeInfo>& types,
                         const brz::WorldBase& world);

/// A binary of the `n_lanes` lanes from `first_lane` of type `type`, agent-major, in the
/// world's precision (the range already checked); `unwrapped`: periodic coordinates with their
/// image counters applied (WorldBase::pack_unwrapped).
ERL_NIF_TERM read_columns(ErlNifEnv* env, const brz::WorldBase& world, uint32_t type,
                          uint32_t first_lane, uint32_t n_lanes, bool unwrapped);

}  // namespace brz::nif
