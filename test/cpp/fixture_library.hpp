// Test helpers: loading the hand-written kernel libraries (kernel_fixture.cpp,
// cross_fixture.cpp) the way the loader requires, from private copies.
#pragma once

#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "brz/generated.hpp"
#include "brz/sha256.hpp"

namespace brzt {

// A fresh directory of the user's that nobody else may write (mkdtemp: mode 0700), removed
// with its contents at the end.
class PrivateDir {
 public:
  PrivateDir() {
    std::string t = (std::filesystem::temp_directory_path() / "brz_kernels_XXXXXX").string();
    if (::mkdtemp(t.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = t;
  }
  ~PrivateDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  PrivateDir(const PrivateDir&) = delete;
  PrivateDir& operator=(const PrivateDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

inline std::string file_sha256(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  const std::vector<char> b((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  return brz::to_hex(brz::sha256(b.data(), b.size()));
}

// Copies `src` to `dir/name` with permissions `mode`; returns the new path.
inline std::string copy_to(const std::string& src, const std::string& dir, const std::string& name,
                           mode_t mode = 0755) {
  const std::string dst = dir + "/" + name;
  std::filesystem::copy_file(src, dst, std::filesystem::copy_options::overwrite_existing);
  REQUIRE(::chmod(dst.c_str(), mode) == 0);
  return dst;
}

struct Lib {
  std::string path, sha256;
};

// The loader takes only a file of the user's that nobody else may write, in such a directory:
// the tests load copies of the fixture libraries (built wherever CMake puts them), one per
// fixture for the whole run.
inline const Lib& fixture(const char* built) {
  static PrivateDir dir;
  static std::map<std::string, Lib> copies;
  auto it = copies.find(built);
  if (it == copies.end()) {
    const std::string path =
        copy_to(built, dir.path(), std::filesystem::path(built).filename().string());
    it = copies.emplace(built, Lib{path, file_sha256(path)}).first;
  }
  return it->second;
}

inline std::shared_ptr<const brz::KernelLibrary> open_file(
    const std::string& path, const std::string& sha256, const std::string& hash,
    const std::vector<uint8_t>& prog, uint32_t n_rules, std::string* err,
    const std::string& isa = "sse2", brz::LibraryKind kind = brz::LibraryKind::Rules) {
  return brz::KernelLibrary::open(path, hash, sha256, prog.data(), prog.size(), n_rules, err, isa,
                                  kind);
}

// Opens the private copy of the fixture library built at `built`.
inline std::shared_ptr<const brz::KernelLibrary> open_lib(
    const char* built, const std::string& hash, const std::vector<uint8_t>& prog, uint32_t n_rules,
    std::string* err, const std::string& isa = "sse2",
    brz::LibraryKind kind = brz::LibraryKind::Rules) {
  const Lib& lib = fixture(built);
  return open_file(lib.path, lib.sha256, hash, prog, n_rules, err, isa, kind);
}

}  // namespace brzt
