// program_new, program_info and isa: the NIF functions that need no world.
#include <memory>
#include <optional>
#include <string>
#include <tuple>

#include "brz/generated.hpp"
#include "brz/isa.hpp"
#include "brz/program.hpp"
#include "nif/atoms.hpp"
#include "nif/functions.hpp"
#include "nif/term.hpp"

namespace brz::nif {

// program_new(binary), program_new(binary, kernel) and program_new(binary, kernel, kind):
// kernel is nil or {path, hash, sha256} (binaries) naming a generated kernel library and the
// SHA-256 of its bytes (docs/kernels.md); kind is `rules` (the default: a system's program) or
// `observables` (its observables program, whose library has observe kernels). A library that
// fails its checks, cannot be loaded or does not match the program is not an error: it is
// ignored (the interpreter runs every rule) and the reason is reported by world_info/1 as
// kernel_status.
ERL_NIF_TERM program_new(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  using Kernel = std::tuple<std::string, std::string, std::string>;
  const BinaryView bin = decode<BinaryView>(env, argv[0], "program_new/1 expects a binary");
  std::optional<Kernel> kernel;
  if (argc >= 2 && !enif_is_identical(argv[1], atom::nil))
    kernel = decode<Kernel>(env, argv[1],
                            "program_new/2: kernel must be nil or {path, hash, sha256} (binaries)");
  brz::LibraryKind kind = brz::LibraryKind::Rules;
  if (argc == 3) {
    if (enif_is_identical(argv[2], atom::observables))
      kind = brz::LibraryKind::Observables;
    else if (!enif_is_identical(argv[2], atom::rules))
      throw ArgumentError("program_new/3: kind must be :rules or :observables");
  }
  auto prog = std::make_shared<const brz::Program>(brz::Program::parse(bin.data, bin.size));
  std::shared_ptr<const brz::KernelLibrary> kernels;
  std::string kernel_error;
  if (kernel) {
    const auto& [path, hash, sha256] = *kernel;
    kernels = brz::KernelLibrary::open(path, hash, sha256, bin.data, bin.size, prog->n_rules(),
                                       &kernel_error, brz::isa_name(), kind);
    if (kernels == nullptr && kernel_error.empty()) kernel_error = "kernel library rejected";
  }
  return Programs::make(env, 0, std::move(prog), std::move(kernels), std::move(kernel_error));
}

ERL_NIF_TERM kernel_status(ErlNifEnv* env, const ProgramRes& pr) {
  if (pr.kernels) return atom::loaded;
  if (pr.kernel_error.empty()) return atom::none;
  return enif_make_tuple2(env, atom::error, encode(env, pr.kernel_error));
}

ERL_NIF_TERM kernel_isa(ErlNifEnv* env, const ProgramRes& pr) {
  return pr.kernels ? encode(env, pr.kernels->isa()) : atom::nil;
}

ERL_NIF_TERM program_info(ErlNifEnv* env, int, const ERL_NIF_TERM argv[]) {
  const ProgramRes* pr = get_program(env, argv[0]);
  return make_map(env, {{atom::rules, encode(env, pr->prog->n_rules())},
                        {atom::kernel_status, kernel_status(env, *pr)},
                        {atom::kernel_isa, kernel_isa(env, *pr)}});
}

ERL_NIF_TERM isa(ErlNifEnv* env, int, const ERL_NIF_TERM*) {
  return encode(env, std::string(brz::isa_name()));
}

}  // namespace brz::nif
