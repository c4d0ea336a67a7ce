#include "nif/atoms.hpp"

#include <array>
#include <cstddef>

namespace brz::nif::atom {

#define BRZ_NIF_DEFINE_ATOM(name, text) ERL_NIF_TERM name = 0;
BRZ_NIF_ATOMS(BRZ_NIF_DEFINE_ATOM)
#undef BRZ_NIF_DEFINE_ATOM

namespace {
std::array<ERL_NIF_TERM, brz::kRulePaths> rule_paths{};
}  // namespace

ERL_NIF_TERM rule_path(brz::RulePath path) { return rule_paths[static_cast<std::size_t>(path)]; }

void init(ErlNifEnv* env) {
#define BRZ_NIF_MAKE_ATOM(name, text) name = enif_make_atom(env, text);
  BRZ_NIF_ATOMS(BRZ_NIF_MAKE_ATOM)
#undef BRZ_NIF_MAKE_ATOM
  for (std::size_t p = 0; p < brz::kRulePaths; ++p)
    rule_paths[p] = enif_make_atom(env, brz::kRulePathNames[p]);
}

}  // namespace brz::nif::atom
