// A NIF library that does one thing: before the engine's library (and with it libgomp) is
// loaded, give libgomp a short idle spin unless the user chose a wait policy. libgomp reads
// OMP_WAIT_POLICY and GOMP_SPINCOUNT once, when it is loaded; by default its idle workers spin
// for milliseconds after every parallel region, on cores the BEAM's schedulers need (see
// docs/engine.md, "OpenMP and the BEAM"). This library links neither libgomp nor the engine.
// BrokenRecord.Zero.NIF loads it (module BrokenRecord.Zero.NIF.OpenMP) before its own library.
#include <erl_nif.h>

#include <cstdlib>
#include <cstring>

namespace {

// Spin iterations of an idle libgomp worker: about 0.1-0.5 ms, enough to bridge the parallel
// regions of one step, short enough not to hold a core between calls.
constexpr const char* kSpinCount = "10000";

int load(ErlNifEnv*, void**, ERL_NIF_TERM) {
  if (std::getenv("OMP_WAIT_POLICY") == nullptr && std::getenv("GOMP_SPINCOUNT") == nullptr)
    setenv("GOMP_SPINCOUNT", kSpinCount, 0);
  return 0;
}

int upgrade(ErlNifEnv*, void**, void**, ERL_NIF_TERM) { return 0; }

ERL_NIF_TERM env_value(ErlNifEnv* env, const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr) return enif_make_atom(env, "nil");
  ERL_NIF_TERM bin;
  const std::size_t n = std::strlen(v);
  unsigned char* p = enif_make_new_binary(env, n, &bin);
  std::memcpy(p, v, n);
  return bin;
}

// {OMP_WAIT_POLICY, GOMP_SPINCOUNT} as the process environment (what libgomp reads) has them.
ERL_NIF_TERM settings(ErlNifEnv* env, int, const ERL_NIF_TERM*) {
  return enif_make_tuple2(env, env_value(env, "OMP_WAIT_POLICY"), env_value(env, "GOMP_SPINCOUNT"));
}

ErlNifFunc funcs[] = {{"settings", 0, settings, 0}};

}  // namespace

ERL_NIF_INIT(Elixir.BrokenRecord.Zero.NIF.OpenMP, funcs, load, nullptr, upgrade, nullptr)
