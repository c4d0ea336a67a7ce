// Generated-kernel libraries (docs/kernels.md): the loader loads only a private file with the
// expected content hash, accepts only a library built for exactly this program and ABI, and a
// loaded kernel is interchangeable with the interpreter. The libraries are the hand-written
// fixture test/cpp/kernel_fixture.cpp in several variants.
#include <dlfcn.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <stdexcept>

#include "brz/generated.hpp"
#include "fixture_library.hpp"
#include "kernel_fixture.hpp"

using namespace brzt;
namespace fs = std::filesystem;

namespace {

bool loaded(const std::string& path) {
  void* h = ::dlopen(path.c_str(), RTLD_LAZY | RTLD_LOCAL | RTLD_NOLOAD);
  if (h != nullptr) ::dlclose(h);
  return h != nullptr;
}

// The address of `name` in the (already loaded) private copy of the fixture built at `built`.
void* symbol(const char* built, const char* name) {
  void* h = ::dlopen(fixture(built).path.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_NOLOAD);
  REQUIRE(h != nullptr);
  void* f = ::dlsym(h, name);
  ::dlclose(h);
  return f;
}

template <class T>
brz::RunStepsResult run(const std::shared_ptr<const brz::Program>& prog, const Cols<T>& cols,
                        std::size_t n, const brz::ExecOptions& opts, brz::World<T>** out,
                        std::unique_ptr<brz::WorldBase>& holder) {
  holder = brz::make_world(prog, {n}, sizeof(T) == 8 ? brz::Precision::F64 : brz::Precision::F32);
  auto& w = static_cast<brz::World<T>&>(*holder);
  load_world(w, cols);
  *out = &w;
  return brz::run_steps(w, {1, 0, 1}, 3, 0.01, opts);
}

template <class T>
void check_interchangeable(const brz::KernelLibrary& lib, std::size_t n, int threads, double tol) {
  const auto prog = fixture_builder().build();
  std::mt19937_64 rng(42);
  const Cols<T> cols = random_cols<T>(*prog, {n}, rng);
  brz::ExecOptions gen, interp;
  gen.generated = &lib;
  gen.max_threads = interp.max_threads = threads;
  gen.pair_parallel_threshold = interp.pair_parallel_threshold = 0;
  gen.list_parallel_threshold = interp.list_parallel_threshold = 0;
  gen.agent_parallel_threshold = interp.agent_parallel_threshold = 0;
  interp.generated = &lib;
  interp.use_generated = false;
  std::unique_ptr<brz::WorldBase> hg, hi;
  brz::World<T>* wg;
  brz::World<T>* wi;
  const brz::RunStepsResult rg = run<T>(prog, cols, n, gen, &wg, hg);
  const brz::RunStepsResult ri = run<T>(prog, cols, n, interp, &wi, hi);
  CHECK(generated_sweeps(rg) == 9);
  CHECK(generated_sweeps(ri) == 0);
  CHECK(brz::rule_path(*wg, 0, gen) == brz::RulePath::AgentKernel);
  CHECK(brz::runs_generated(brz::rule_path(*wg, 1, gen)));
  CHECK_FALSE(brz::runs_generated(brz::rule_path(*wg, 1, interp)));
  CHECK_THROWS_AS(brz::rule_path(*wg, 4, gen), brz::ArgumentError);
  Cols<T> ref(1, std::vector<std::vector<T>>(6, std::vector<T>(n)));
  for (uint32_t l = 0; l < 6; ++l)
    for (std::size_t i = 0; i < n; ++i) ref[0][l][i] = wi->column(0, l)[wi->row(0, i)];
  CHECK(max_scaled_err(*wg, ref) <= tol);
}

}  // namespace

TEST_CASE("a valid kernel library loads and matches the interpreter", "[generated]") {
  const std::vector<uint8_t> prog = fixture_program_bytes();
  std::string err;
  auto lib = open_lib(BRZ_FIXTURE_GOOD, "fixture-hash", prog, 4, &err);
  REQUIRE(lib != nullptr);
  CHECK(err.empty());
  CHECK(lib->n_rules() == 4);
  CHECK(lib->rule(1)->block_f64 == nullptr);  // no pair-block kernels for rule 1 (optional)
  CHECK(lib->rule(2)->block_f64 != nullptr);
  CHECK(lib->rule(2)->block_f32 != nullptr);
  CHECK(lib->rule(0)->f64 != nullptr);
  CHECK(lib->rule(1)->f32 != nullptr);
  CHECK(lib->rule(3)->list_f64 != nullptr);  // rule 3: ACCs only, a neighbour-list kernel
  CHECK(lib->rule(3)->list_f32 != nullptr);
  CHECK(lib->rule(2)->list_f64 == nullptr);  // rule 2 stores: none (optional)
  CHECK(lib->rule(4) == nullptr);
  for (int threads : {1, 2, 3}) {
    check_interchangeable<double>(*lib, 37, threads, 1e-12);
    check_interchangeable<float>(*lib, 37, threads, 1e-5);
    check_interchangeable<double>(*lib, 300, threads, 1e-12);
  }
}

TEST_CASE("a kernel library for another program is rejected", "[generated]") {
  const std::vector<uint8_t> prog = fixture_program_bytes();
  std::string err;
  CHECK(open_lib(BRZ_FIXTURE_GOOD, "other-hash", prog, 4, &err) == nullptr);
  CHECK(err.find("hash") != std::string::npos);
  CHECK(open_lib(BRZ_FIXTURE_GOOD, "fixture-has", prog, 4, &err) == nullptr);
  CHECK(open_lib(BRZ_FIXTURE_GOOD, "fixture-hash-", prog, 4, &err) == nullptr);
  CHECK(open_lib(BRZ_FIXTURE_GOOD, "", prog, 4, &err) == nullptr);

  std::vector<uint8_t> other = prog;
  other[other.size() - 3] ^= 1;  // a different program with the same size
  CHECK(open_lib(BRZ_FIXTURE_GOOD, "fixture-hash", other, 3, &err) == nullptr);
  CHECK(err.find("program") != std::string::npos);
  other = prog;
  other.push_back(0);
  CHECK(open_lib(BRZ_FIXTURE_GOOD, "fixture-hash", other, 3, &err) == nullptr);
  CHECK(open_lib(BRZ_FIXTURE_GOOD, "fixture-hash", prog, 5, &err) == nullptr);
}

TEST_CASE("the loader uses the widest ISA variant of each kernel that the ISA allows",
          "[generated]") {
  const std::vector<uint8_t> prog = fixture_program_bytes();
  std::string err;
  // Rule 0 f64 has _avx2 and _avx512 variants, rule 2's f64 pair-block kernel an _avx2 one,
  // rule 1 f32 an _avx2 one; the others only their baseline.
  struct Case {
    const char* isa;
    const char* rule0_f64;
    const char* block2_f64;
    const char* rule1_f32;
  };
  const Case cases[] = {
      {"sse2", "brz_rule_0_f64", "brz_rule_2_block_f64", "brz_rule_1_f32"},
      {"avx2", "brz_rule_0_f64_avx2", "brz_rule_2_block_f64_avx2", "brz_rule_1_f32_avx2"},
      {"avx512", "brz_rule_0_f64_avx512", "brz_rule_2_block_f64_avx2", "brz_rule_1_f32_avx2"},
      {"unknown", "brz_rule_0_f64", "brz_rule_2_block_f64", "brz_rule_1_f32"},
  };
  for (const Case& c : cases) {
    INFO(c.isa);
    auto lib = open_lib(BRZ_FIXTURE_GOOD, "fixture-hash", prog, 4, &err, c.isa);
    REQUIRE(lib != nullptr);
    CHECK(lib->isa() == (std::string(c.isa) == "unknown" ? "sse2" : c.isa));
    CHECK(reinterpret_cast<void*>(lib->rule(0)->f64) == symbol(BRZ_FIXTURE_GOOD, c.rule0_f64));
    CHECK(reinterpret_cast<void*>(lib->rule(2)->block_f64) ==
          symbol(BRZ_FIXTURE_GOOD, c.block2_f64));
    CHECK(reinterpret_cast<void*>(lib->rule(1)->f32) == symbol(BRZ_FIXTURE_GOOD, c.rule1_f32));
    CHECK(reinterpret_cast<void*>(lib->rule(0)->f32) == symbol(BRZ_FIXTURE_GOOD, "brz_rule_0_f32"));
    check_interchangeable<double>(*lib, 37, 2, 1e-12);
  }
}

TEST_CASE("a kernel library with a missing kernel or another ABI is rejected", "[generated]") {
  const std::vector<uint8_t> prog = fixture_program_bytes();
  std::string err;
  // The missing f32 kernel of rule 1 has an _avx2 variant: a variant without its baseline does
  // not count, whatever the ISA.
  for (const char* isa : {"sse2", "avx2", "avx512"}) {
    CHECK(open_lib(BRZ_FIXTURE_MISSING, "fixture-hash", prog, 4, &err, isa) == nullptr);
    CHECK(err.find("rule 1") != std::string::npos);
  }
  CHECK(open_lib(BRZ_FIXTURE_ABI, "fixture-hash", prog, 4, &err) == nullptr);
  CHECK(err.find("ABI") != std::string::npos);
}

TEST_CASE("a missing or garbage library path is rejected", "[generated]") {
  const std::vector<uint8_t> prog = fixture_program_bytes();
  const Lib& good = fixture(BRZ_FIXTURE_GOOD);
  std::string err;
  CHECK(open_file("/nonexistent/brz_kernels.so", good.sha256, "fixture-hash", prog, 4, &err) ==
        nullptr);
  CHECK(err.find("cannot open") != std::string::npos);
  CHECK(open_file(fs::path(good.path).parent_path() / "absent.so", good.sha256, "fixture-hash",
                  prog, 4, &err) == nullptr);
  CHECK(err.find("cannot open") != std::string::npos);
  for (const std::string& path : {std::string(), std::string("a\0b", 3), std::string("libc.so.6"),
                                  fs::path(good.path).filename().string(), std::string("/")}) {
    CHECK(open_file(path, good.sha256, "fixture-hash", prog, 4, &err) == nullptr);
    CHECK(err.find("absolute") != std::string::npos);
  }
  // Garbage with the right content hash passes the file checks; dlopen refuses it.
  PrivateDir dir;
  const std::string garbage = dir.path() + "/garbage.so";
  {
    std::ofstream f(garbage, std::ios::binary);
    for (int k = 0; k < 4096; ++k) f.put(static_cast<char>((k * 131 + 7) & 0xff));
  }
  REQUIRE(::chmod(garbage.c_str(), 0644) == 0);
  CHECK(open_file(garbage, file_sha256(garbage), "fixture-hash", prog, 4, &err) == nullptr);
  CHECK(err.find("cannot load") != std::string::npos);
  // A library that is not a kernel library (no brz_* metadata symbols).
  CHECK(open_lib(BRZ_FIXTURE_NOMETA, "fixture-hash", prog, 4, &err) == nullptr);
  CHECK(err.find("metadata") != std::string::npos);
}

TEST_CASE("a library whose bytes differ from its content hash is never loaded", "[generated]") {
  const std::vector<uint8_t> prog = fixture_program_bytes();
  PrivateDir dir;
  // A fresh copy (a new file) of a valid library, so that loaded() tells whether it was loaded.
  const std::string path = copy_to(BRZ_FIXTURE_GOOD, dir.path(), "fresh.so");
  const std::string sha = file_sha256(path);
  const std::string other = file_sha256(BRZ_FIXTURE_NOBLOCK);
  std::string err;
  CHECK(open_file(path, other, "fixture-hash", prog, 4, &err) == nullptr);
  CHECK(err.find("content hash") != std::string::npos);
  CHECK(err.find(sha) != std::string::npos);  // the reason names both hashes
  CHECK(err.find(other) != std::string::npos);
  std::string upper = sha;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  for (const std::string& bad : {std::string(), sha.substr(1), sha + "0", upper}) {
    CHECK(open_file(path, bad, "fixture-hash", prog, 4, &err) == nullptr);
    CHECK(err.find("content hash must be") != std::string::npos);
  }
  CHECK_FALSE(loaded(path));
  auto lib = open_file(path, sha, "fixture-hash", prog, 4, &err);
  REQUIRE(lib != nullptr);
  CHECK(err.empty());
  CHECK(loaded(path));
}

TEST_CASE("the loader refuses links, non-regular files and files others may write", "[generated]") {
  const std::vector<uint8_t> prog = fixture_program_bytes();
  const Lib& good = fixture(BRZ_FIXTURE_GOOD);
  PrivateDir dir;
  std::string err;
  auto refused = [&](const std::string& path, const char* why) {
    INFO(path);
    CHECK(open_file(path, good.sha256, "fixture-hash", prog, 4, &err) == nullptr);
    CHECK(err.find(why) != std::string::npos);
    struct stat st;
    // (dlopen, which loaded() calls, would wait for a writer of a FIFO)
    if (::lstat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode)) CHECK_FALSE(loaded(path));
  };
  // A symbolic link to a valid library, in a private directory.
  const std::string link = dir.path() + "/link.so";
  REQUIRE(::symlink(good.path.c_str(), link.c_str()) == 0);
  refused(link, "symbolic link");
  // Group- or world-writable files.
  refused(copy_to(BRZ_FIXTURE_GOOD, dir.path(), "g.so", 0775), "group- or world-writable");
  refused(copy_to(BRZ_FIXTURE_GOOD, dir.path(), "o.so", 0757), "group- or world-writable");
  // Not a regular file: a directory, a FIFO (opening it must not block).
  const std::string sub = dir.path() + "/sub.so";
  REQUIRE(::mkdir(sub.c_str(), 0700) == 0);
  refused(sub, "not a regular file");
  const std::string fifo = dir.path() + "/fifo.so";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  refused(fifo, "not a regular file");
  // Group- or world-writable directories (the sticky bit does not help).
  for (mode_t mode : {0770, 0707, 01777}) {
    INFO(mode);
    const std::string d = dir.path() + "/dir" + std::to_string(mode);
    REQUIRE(::mkdir(d.c_str(), 0700) == 0);
    const std::string path = copy_to(BRZ_FIXTURE_GOOD, d, "lib.so");
    REQUIRE(::chmod(d.c_str(), mode) == 0);
    refused(path, "group- or world-writable");
    CHECK(err.find("directory") != std::string::npos);
  }
  // Owned by another user (needs root to arrange).
  if (::geteuid() == 0) {
    const std::string theirs = copy_to(BRZ_FIXTURE_GOOD, dir.path(), "theirs.so");
    REQUIRE(::chown(theirs.c_str(), 65534, 65534) == 0);
    refused(theirs, "not owned by the current user");
    const std::string d = dir.path() + "/their_dir";
    REQUIRE(::mkdir(d.c_str(), 0755) == 0);
    const std::string path = copy_to(BRZ_FIXTURE_GOOD, d, "lib.so");
    REQUIRE(::chown(d.c_str(), 65534, 65534) == 0);
    refused(path, "not owned by the current user");
  } else {
    WARN("not root: the refusals of files and directories of another owner are not checked");
  }
  // The same file, made private again, loads.
  const std::string path = dir.path() + "/g.so";
  REQUIRE(::chmod(path.c_str(), 0755) == 0);
  CHECK(open_file(path, good.sha256, "fixture-hash", prog, 4, &err) != nullptr);
  CHECK(err.empty());
}

TEST_CASE("libraries loaded through reused descriptor numbers are each the right one",
          "[generated]") {
  // The loader dlopens "/proc/self/fd/<n>"; dlopen returns an already loaded object whose name
  // matches, and descriptor numbers are reused: the loader must still load each library.
  const std::vector<uint8_t> prog = fixture_program_bytes();
  std::string err;
  for (int round = 0; round < 3; ++round) {
    auto good = open_lib(BRZ_FIXTURE_GOOD, "fixture-hash", prog, 4, &err);
    REQUIRE(good != nullptr);
    auto noblock = open_lib(BRZ_FIXTURE_NOBLOCK, "fixture-hash", prog, 4, &err);
    REQUIRE(noblock != nullptr);
    auto good2 = open_lib(BRZ_FIXTURE_GOOD, "fixture-hash", prog, 4, &err);
    REQUIRE(good2 != nullptr);
    CHECK(good->rule(2)->block_f64 != nullptr);
    CHECK(noblock->rule(2)->block_f64 == nullptr);
    CHECK(good2->rule(2)->block_f64 == good->rule(2)->block_f64);
    CHECK(noblock->rule(0)->f64 != good->rule(0)->f64);
    good.reset();
    CHECK(open_lib(BRZ_FIXTURE_ABI, "fixture-hash", prog, 4, &err) == nullptr);
    CHECK(err.find("ABI") != std::string::npos);
  }
  // Names that dlopen attaches to an object besides its own (opening a loaded file through
  // another descriptor adds that name): the next library gets one of those numbers.
  auto good = open_lib(BRZ_FIXTURE_GOOD, "fixture-hash", prog, 4, &err);
  REQUIRE(good != nullptr);
  std::vector<int> fds;
  std::vector<void*> extra;
  for (int k = 0; k < 8; ++k) {
    fds.push_back(::open(fixture(BRZ_FIXTURE_GOOD).path.c_str(), O_RDONLY | O_CLOEXEC));
    REQUIRE(fds.back() >= 0);
    extra.push_back(::dlopen(("/proc/self/fd/" + std::to_string(fds.back())).c_str(), RTLD_NOW));
    REQUIRE(extra.back() != nullptr);
  }
  for (int fd : fds) ::close(fd);
  const Lib& nb = fixture(BRZ_FIXTURE_NOBLOCK);
  const std::string copy = copy_to(nb.path, fs::path(nb.path).parent_path(), "noblock2.so");
  auto noblock = open_file(copy, nb.sha256, "fixture-hash", prog, 4, &err);
  REQUIRE(noblock != nullptr);
  CHECK(err.empty());
  CHECK(noblock->rule(2)->block_f64 == nullptr);
  CHECK(good->rule(2)->block_f64 != nullptr);
  for (void* h : extra) ::dlclose(h);
}

TEST_CASE("without a library or with use_generated off, nothing is generated", "[generated]") {
  const auto prog = fixture_builder().build();
  auto w = brz::make_world(prog, {5}, brz::Precision::F64);
  brz::ExecOptions opts;
  CHECK_FALSE(brz::runs_generated(brz::rule_path(*w, 0, opts)));
  const brz::RunStepsResult r = brz::run_steps(*w, {0, 1}, 2, 0.1, opts);
  CHECK(generated_sweeps(r) == 0);
}

TEST_CASE("a non-finite value stored by a generated per-agent kernel is reported", "[generated]") {
  const std::vector<uint8_t> bytes = fixture_program_bytes();
  std::string err;
  auto lib = open_lib(BRZ_FIXTURE_GOOD, "fixture-hash", bytes, 4, &err);
  REQUIRE(lib != nullptr);
  const auto prog = fixture_builder().build();
  for (int threads : {1, 2}) {
    auto w = brz::make_world(prog, {100000}, brz::Precision::F64);
    for (std::size_t i = 0; i < 100000; ++i) w->set(0, 1, i, 1.0);
    w->set(0, 1, 77777, 1e308);  // x + v * dt overflows at dt = 1e10
    brz::ExecOptions opts;
    opts.generated = lib.get();
    opts.max_threads = threads;
    try {
      brz::run_steps(*w, {0}, 1, 1e10, opts);
      FAIL("expected a NumericalError");
    } catch (const brz::NumericalError& e) {
      CHECK(e.type == 0);
      CHECK(e.index == 77777);
      CHECK(e.lane == 0);
      CHECK(e.step == 1);
    }
  }
}

namespace {

// Rules 2 and 3 of the fixture (cutoff 0.3) over `n` agents in [-1, 1]^3, 3 steps of {0, 2, 3}.
template <class T>
brz::RunStepsResult run_cells(const brz::ExecOptions& opts, std::size_t n, Cols<T>* out) {
  const auto prog = fixture_builder().build();
  std::mt19937_64 rng(7);
  const Cols<T> cols = random_cols<T>(*prog, {n}, rng);
  auto holder =
      brz::make_world(prog, {n}, sizeof(T) == 8 ? brz::Precision::F64 : brz::Precision::F32);
  auto& w = static_cast<brz::World<T>&>(*holder);
  load_world(w, cols);
  const brz::RunStepsResult res = brz::run_steps(w, {0, 2, 3}, 3, 0.5, opts);
  out->assign(1, std::vector<std::vector<T>>(6, std::vector<T>(n)));
  for (uint32_t l = 0; l < 6; ++l)
    for (std::size_t i = 0; i < n; ++i) (*out)[0][l][i] = w.column(0, l)[w.row(0, i)];
  return res;
}

template <class T>
void check_cells_generated(const brz::KernelLibrary& good, const brz::KernelLibrary& noblock,
                           std::size_t n, int threads, double tol) {
  brz::ExecOptions gen, interp, all, nob;
  for (brz::ExecOptions* o : {&gen, &interp, &all, &nob}) {
    o->max_threads = threads;
    o->pair_parallel_threshold = o->list_parallel_threshold = 0;
    o->generated = &good;
  }
  interp.use_generated = false;
  all.use_generated = false;
  all.neighbour_search = false;
  nob.generated = &noblock;
  Cols<T> cg, ci, ca, cn;
  const brz::RunStepsResult rg = run_cells<T>(gen, n, &cg);
  const brz::RunStepsResult ri = run_cells<T>(interp, n, &ci);
  const brz::RunStepsResult ra = run_cells<T>(all, n, &ca);
  const brz::RunStepsResult rn = run_cells<T>(nob, n, &cn);
  // The cell path ran, through the pair-block kernel (rule 2) and the neighbour-list kernel
  // (rule 3) only where there is one and it is allowed.
  CHECK(neighbour_sweeps(rg) == 6);
  CHECK(generated_neighbour_sweeps(rg) == 6);
  CHECK(rg.on(brz::RulePath::ListKernel) == 3);
  CHECK(generated_sweeps(rg) == 3);  // rule 0 (per-agent)
  CHECK(neighbour_sweeps(ri) == 6);
  CHECK(generated_neighbour_sweeps(ri) == 0);
  CHECK(ri.on(brz::RulePath::ListKernel) == 0);
  CHECK(neighbour_sweeps(ra) == 0);
  CHECK(all_pairs_sweeps(ra) == 6);
  CHECK(neighbour_sweeps(rn) == 6);
  CHECK(generated_neighbour_sweeps(rn) == 0);
  CHECK(rn.on(brz::RulePath::ListKernel) == 0);
  CHECK(generated_sweeps(rn) == 3);  // rule 0 only
  // The list kernel evaluates every listed pair, the filter only those within the cutoff.
  CHECK(rg.pair_evaluations > ri.pair_evaluations);
  // Some pairs are within the cutoff, so the comparison is not vacuous: w (lane 5) is changed
  // by rule 2 and v (lane 1) by rule 3 only.
  double moved_w = 0, moved_v = 0;
  const auto prog = fixture_builder().build();
  std::mt19937_64 rng(7);
  const Cols<T> start = random_cols<T>(*prog, {n}, rng);
  for (std::size_t i = 0; i < n; ++i) {
    moved_w = std::max(moved_w, std::fabs(double(ci[0][5][i]) - double(start[0][5][i])));
    moved_v = std::max(moved_v, std::fabs(double(ci[0][1][i]) - double(start[0][1][i])));
  }
  CHECK(moved_w > 0);
  CHECK(moved_v > 0);
  auto holder =
      brz::make_world(prog, {n}, sizeof(T) == 8 ? brz::Precision::F64 : brz::Precision::F32);
  auto& w = static_cast<brz::World<T>&>(*holder);
  for (const Cols<T>* ref : {&ci, &ca, &cn}) {
    load_world(w, cg);
    CHECK(max_scaled_err(w, *ref) <= tol);
  }
}

}  // namespace

TEST_CASE(
    "cell sweeps run through pair-block and neighbour-list kernels and match the "
    "interpreter",
    "[generated][cells]") {
  const std::vector<uint8_t> prog = fixture_program_bytes();
  std::string err;
  auto good = open_lib(BRZ_FIXTURE_GOOD, "fixture-hash", prog, 4, &err);
  REQUIRE(good != nullptr);
  // A library without the optional pair-block kernels loads; its cell sweeps use the interpreter.
  auto noblock = open_lib(BRZ_FIXTURE_NOBLOCK, "fixture-hash", prog, 4, &err);
  REQUIRE(noblock != nullptr);
  CHECK(err.empty());
  CHECK(noblock->rule(2)->f64 != nullptr);
  CHECK(noblock->rule(2)->block_f64 == nullptr);
  CHECK(noblock->rule(2)->block_f32 == nullptr);
  CHECK(noblock->rule(3)->list_f64 == nullptr);
  // 3000 agents: dozens of listed pairs per row (the list kernel runs row by row); 300: about
  // three (it runs across rows).
  for (std::size_t n : {300, 3000})
    for (int threads : {1, 3}) {
      check_cells_generated<double>(*good, *noblock, n, threads, 1e-12);
      check_cells_generated<float>(*good, *noblock, n, threads, 1e-5);
    }
}
