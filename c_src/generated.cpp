// Generated kernels: loading/validation of the library and the threaded drivers that call them.
// The executor decides per rule whether a generated kernel or the interpreter runs a sweep; it
// keeps accumulator allocation, reduction, delta application and the non-finite check.
#include "brz/generated.hpp"

#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <omp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <set>

#include "brz/interpreter.hpp"
#include "brz/sha256.hpp"

namespace brz {
namespace {

// A kernel library file opened and checked before anything of it runs (docs/kernels.md,
// "Loading and validation"): its descriptor and the bytes that were hashed.
struct CheckedFile {
  int fd = -1;
  std::vector<uint8_t> bytes;
  CheckedFile() = default;
  CheckedFile(const CheckedFile&) = delete;
  CheckedFile& operator=(const CheckedFile&) = delete;
  ~CheckedFile() {
    if (fd >= 0) ::close(fd);
  }
};

bool is_hex_digest(const std::string& s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

// "" when `st` is owned by the effective user and writable by nobody else, else what is wrong.
std::string ownership_problem(const struct stat& st) {
  if (st.st_uid != ::geteuid()) return "is not owned by the current user";
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) return "is group- or world-writable";
  return "";
}

// Opens `path` and checks it: its directory (opened first, the file is then opened relative
// to it, so both checks concern the same directory) and the file must be owned by the
// effective user and not group/world-writable, the file must be a regular file (not a
// symbolic link: O_NOFOLLOW) whose SHA-256 is `sha256`. Returns false with `*err` set.
bool open_checked(const std::string& path, const std::string& sha256, CheckedFile* out,
                  std::string* err) {
  const std::size_t slash = path.rfind('/');
  if (path.empty() || path[0] != '/' || path.find('\0') != std::string::npos ||
      slash + 1 == path.size()) {
    *err = "kernel library path must be an absolute file path";
    return false;
  }
  if (!is_hex_digest(sha256)) {
    *err = "kernel library content hash must be 64 lowercase hexadecimal digits";
    return false;
  }
  const std::string dir = slash == 0 ? "/" : path.substr(0, slash);
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) {
    *err = "cannot open the directory of kernel library " + path + ": " + std::strerror(errno);
    return false;
  }
  struct stat st;
  std::string problem = ::fstat(dfd, &st) != 0
                            ? std::string("cannot be read: ") + std::strerror(errno)
                            : ownership_problem(st);
  if (!problem.empty()) {
    ::close(dfd);
    *err = "the directory " + dir + " of kernel library " + path + " " + problem;
    return false;
  }
  // O_NONBLOCK: opening a FIFO must not wait for a writer (it is refused below).
  out->fd = ::openat(dfd, path.c_str() + slash + 1, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  const int open_errno = errno;
  ::close(dfd);
  if (out->fd < 0) {
    *err = open_errno == ELOOP
               ? "kernel library " + path + " is a symbolic link"
               : "cannot open kernel library " + path + ": " + std::strerror(open_errno);
    return false;
  }
  if (::fstat(out->fd, &st) != 0) {
    *err = "cannot stat kernel library " + path + ": " + std::strerror(errno);
    return false;
  }
  if (!S_ISREG(st.st_mode)) {
    *err = "kernel library " + path + " is not a regular file";
    return false;
  }
  problem = ownership_problem(st);
  if (!problem.empty()) {
    *err = "kernel library " + path + " " + problem;
    return false;
  }
  constexpr off_t kMaxSize = off_t(1) << 30;
  if (st.st_size > kMaxSize) {
    *err = "kernel library " + path + " is larger than 1 GiB";
    return false;
  }
  out->bytes.resize(std::size_t(st.st_size));
  std::size_t got = 0;
  while (got < out->bytes.size()) {
    const ssize_t n =
        ::pread(out->fd, out->bytes.data() + got, out->bytes.size() - got, off_t(got));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += std::size_t(n);
  }
  uint8_t extra;
  if (got != out->bytes.size() || ::pread(out->fd, &extra, 1, off_t(got)) != 0) {
    *err = "kernel library " + path + " changed while being read";
    return false;
  }
  const std::string actual = to_hex(brz::sha256(out->bytes.data(), out->bytes.size()));
  if (actual != sha256) {
    *err = "kernel library " + path + " does not match its content hash (SHA-256 " + actual +
           ", expected " + sha256 + ")";
    return false;
  }
  return true;
}

// True when a loaded object (load bias `base`, program headers `phdr[0, phnum)`) maps the ELF
// file `bytes`: the same program headers, and every read-only loaded segment in memory equal
// to the file's (relocation changes only the writable ones).
bool maps_bytes(ElfW(Addr) base, const ElfW(Phdr) * phdr, ElfW(Half) phnum,
                const std::vector<uint8_t>& bytes) {
  ElfW(Ehdr) eh;
  if (phdr == nullptr || bytes.size() < sizeof eh) return false;
  std::memcpy(&eh, bytes.data(), sizeof eh);
  const std::size_t ph_size = std::size_t(phnum) * sizeof(ElfW(Phdr));
  if (eh.e_phentsize != sizeof(ElfW(Phdr)) || eh.e_phnum != phnum || eh.e_phoff > bytes.size() ||
      ph_size > bytes.size() - eh.e_phoff ||
      std::memcmp(phdr, bytes.data() + eh.e_phoff, ph_size) != 0)
    return false;
  bool any = false;
  for (ElfW(Half) k = 0; k < phnum; ++k) {
    const ElfW(Phdr)& ph = phdr[k];
    if (ph.p_type != PT_LOAD || (ph.p_flags & PF_W) != 0) continue;
    if (ph.p_offset > bytes.size() || ph.p_filesz > bytes.size() - ph.p_offset) return false;
    const void* mem = reinterpret_cast<const void*>(base + ph.p_vaddr);
    if (std::memcmp(mem, bytes.data() + ph.p_offset, ph.p_filesz) != 0) return false;
    any = true;
  }
  return any;
}

constexpr char kFdPrefix[] = "/proc/self/fd/";

// What the loaded objects tell about a checked file, from one dl_iterate_phdr pass.
struct Scan {
  const std::vector<uint8_t>* bytes = nullptr;
  ElfW(Addr) want_base = 0;  // when want_name is set: find that object's program headers
  const char* want_name = nullptr;
  const ElfW(Phdr) * phdr = nullptr;  // found by want_name
  ElfW(Half) phnum = 0;
  std::string same;     // the name of an object that already maps the file, if any
  std::set<int> taken;  // descriptor numbers in the "/proc/self/fd/<n>" names of objects
};

int scan_object(struct dl_phdr_info* info, std::size_t, void* data) {
  auto* s = static_cast<Scan*>(data);
  if (s->want_name != nullptr) {
    if (info->dlpi_addr != s->want_base || info->dlpi_name != s->want_name) return 0;
    s->phdr = info->dlpi_phdr;
    s->phnum = info->dlpi_phnum;
    return 1;
  }
  const char* name = info->dlpi_name ? info->dlpi_name : "";
  if (std::strncmp(name, kFdPrefix, sizeof kFdPrefix - 1) == 0)
    s->taken.insert(std::atoi(name + sizeof kFdPrefix - 1));
  if (s->same.empty() && name[0] != '\0' &&
      maps_bytes(info->dlpi_addr, info->dlpi_phdr, info->dlpi_phnum, *s->bytes))
    s->same = name;
  return 0;
}

// True when the object behind `handle` maps the file `bytes` (see maps_bytes).
bool maps_file(void* handle, const std::vector<uint8_t>& bytes) {
  struct link_map* lm = nullptr;
  if (::dlinfo(handle, RTLD_DI_LINKMAP, &lm) != 0 || lm == nullptr) return false;
  Scan s;
  s.bytes = &bytes;
  s.want_base = lm->l_addr;
  s.want_name = lm->l_name;
  ::dl_iterate_phdr(scan_object, &s);
  return maps_bytes(lm->l_addr, s.phdr, s.phnum, bytes);
}

// dlopens the checked file through "/proc/self/fd/<n>", so that the bytes loaded are those of
// the descriptor that was hashed, whatever happens to the path meanwhile (without /proc the
// library is not loaded). dlopen returns an already loaded object whose name (any name it was
// ever opened by) matches, and descriptor numbers are reused: so an object that already maps
// these bytes is reused by its own name, a new one gets a number that no loaded object's name
// has, and the object dlopen returns is checked to map these bytes.
void* load_checked(const CheckedFile& file, const std::string& path, std::string* err) {
  Scan scan;
  scan.bytes = &file.bytes;
  ::dl_iterate_phdr(scan_object, &scan);
  if (!scan.same.empty()) {
    void* h = ::dlopen(scan.same.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_NOLOAD);
    if (h != nullptr && maps_file(h, file.bytes)) return h;
    if (h != nullptr) ::dlclose(h);
  }
  struct stat own;
  if (::fstat(file.fd, &own) != 0) {
    *err = "cannot stat kernel library " + path + ": " + std::strerror(errno);
    return nullptr;
  }
  std::vector<int> dups;
  void* handle = nullptr;
  int fd = file.fd;
  for (int attempt = 0; attempt < 16; ++attempt) {
    if (scan.taken.count(fd) != 0) {
      // A descriptor numbered above every taken one (kept open until the end).
      fd = ::fcntl(file.fd, F_DUPFD_CLOEXEC, *scan.taken.rbegin() + 1);
      if (fd < 0) {
        *err = "cannot load kernel library " + path + ": " + std::strerror(errno);
        break;
      }
      dups.push_back(fd);
    }
    const std::string name = kFdPrefix + std::to_string(fd);
    struct stat via;
    if (::stat(name.c_str(), &via) != 0 || via.st_dev != own.st_dev || via.st_ino != own.st_ino) {
      *err = "kernel library " + path + " not loaded: /proc/self/fd is not available";
      break;
    }
    handle = ::dlopen(name.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) {
      const char* why = ::dlerror();
      *err = "cannot load kernel library " + path + ": " + (why ? why : "dlopen failed");
      break;
    }
    if (maps_file(handle, file.bytes)) break;
    // An object answered to a name it was given besides its own: avoid that number too.
    ::dlclose(handle);
    handle = nullptr;
    scan.taken.insert(fd);
  }
  for (int d : dups) ::close(d);
  if (handle == nullptr && err->empty())
    *err = "cannot load kernel library " + path + ": no unused descriptor name";
  return handle;
}

}  // namespace

std::shared_ptr<const KernelLibrary> KernelLibrary::open(const std::string& path,
                                                         const std::string& expected_hash,
                                                         const std::string& expected_sha256,
                                                         const uint8_t* program, std::size_t size,
                                                         uint32_t n_rules, std::string* error,
                                                         const std::string& isa, LibraryKind kind) {
  std::string scratch;
  std::string& err = error ? *error : scratch;
  err.clear();
  if (expected_hash.empty()) {
    err = "no kernel library hash given";
    return nullptr;
  }
  // Nothing of the library runs (dlopen runs its constructors) before its bytes are checked.
  CheckedFile file;
  if (!open_checked(path, expected_sha256, &file, &err)) return nullptr;
  void* handle = load_checked(file, path, &err);
  if (handle == nullptr) return nullptr;
  std::shared_ptr<KernelLibrary> lib(new KernelLibrary());
  lib->handle_ = handle;  // closed by the destructor, including on every rejection below
  lib->path_ = path;
  lib->hash_ = expected_hash;
  auto sym = [&](const char* name) -> void* {
    ::dlerror();
    return ::dlsym(handle, name);
  };
  const auto* abi = static_cast<const uint32_t*>(sym("brz_abi_version"));
  const auto* hash = static_cast<const char*>(sym("brz_program_hash"));
  const auto* psize = static_cast<const uint32_t*>(sym("brz_program_size"));
  const auto* pbin = static_cast<const unsigned char*>(sym("brz_program_binary"));
  const auto* count = static_cast<const uint32_t*>(sym("brz_rule_count"));
  if (!abi || !hash || !psize || !pbin || !count) {
    err = "kernel library " + path + " lacks the brz_* metadata symbols";
    return nullptr;
  }
  if (*abi != BRZ_GEN_ABI_VERSION) {
    err = "kernel library " + path + " has ABI version " + std::to_string(*abi) + ", expected " +
          std::to_string(BRZ_GEN_ABI_VERSION);
    return nullptr;
  }
  // Bounded compare: stops at the first difference or at the terminator of expected_hash.
  if (std::strncmp(hash, expected_hash.c_str(), expected_hash.size() + 1) != 0) {
    err = "kernel library " + path + " was built for another program (hash mismatch)";
    return nullptr;
  }
  if (*psize != size || (size > 0 && std::memcmp(pbin, program, size) != 0)) {
    err = "kernel library " + path + " was generated from another program binary";
    return nullptr;
  }
  if (*count != n_rules) {
    err = "kernel library " + path + " has " + std::to_string(*count) + " rules, the program " +
          std::to_string(n_rules);
    return nullptr;
  }
  // The ISA variants `isa` allows, widest first; the baseline (no suffix) comes last.
  std::vector<std::string> suffixes;
  if (isa == "avx512") suffixes.push_back("_avx512");
  if (isa == "avx512" || isa == "avx2") suffixes.push_back("_avx2");
  suffixes.push_back("");
  std::size_t widest = suffixes.size() - 1;
  auto pick = [&](const std::string& name) -> void* {
    for (std::size_t v = 0; v < suffixes.size(); ++v)
      if (void* f = sym((name + suffixes[v]).c_str())) {
        widest = std::min(widest, v);
        return f;
      }
    return nullptr;
  };
  // Pair rules that remove or spawn agents have no kernels (the interpreter runs them).
  std::vector<bool> lifecycle(n_rules, false);
  try {
    const Program parsed = Program::parse(program, size);
    for (uint32_t k = 0; k < n_rules && k < parsed.n_rules(); ++k)
      lifecycle[k] = parsed.rule(k).has_lifecycle() && parsed.rule(k).kind != RuleKind::PerAgent;
  } catch (const ArgumentError& e) {
    err = std::string("kernel library ") + path + ": " + e.what();
    return nullptr;
  }
  lib->rules_.resize(n_rules);
  if (kind == LibraryKind::Observables) {
    for (uint32_t k = 0; k < n_rules; ++k) {
      const std::string base = "brz_observe_" + std::to_string(k);
      const auto* spec = static_cast<const uint32_t*>(sym((base + "_spec").c_str()));
      void* f64 = sym((base + "_f64").c_str()) ? pick(base + "_f64") : nullptr;
      void* f32 = sym((base + "_f32").c_str()) ? pick(base + "_f32") : nullptr;
      if (spec == nullptr && f64 == nullptr && f32 == nullptr) continue;
      if (spec == nullptr || f64 == nullptr || f32 == nullptr) {
        err = "kernel library " + path + " lacks part of the observe kernel of rule " +
              std::to_string(k);
        return nullptr;
      }
      RuleKernels& r = lib->rules_[k];
      r.observe_f64 = reinterpret_cast<brz_observe_f64_fn>(f64);
      r.observe_f32 = reinterpret_cast<brz_observe_f32_fn>(f32);
      std::copy(spec, spec + 5, r.observe_spec);
    }
    lib->isa_ = suffixes[widest].empty() ? "sse2" : suffixes[widest].substr(1);
    return lib;
  }
  for (uint32_t k = 0; k < n_rules; ++k) {
    if (lifecycle[k]) continue;
    const std::string base = "brz_rule_" + std::to_string(k);
    // A variant without its baseline is not accepted (the baseline must exist).
    void* f64 = sym((base + "_f64").c_str()) ? pick(base + "_f64") : nullptr;
    void* f32 = sym((base + "_f32").c_str()) ? pick(base + "_f32") : nullptr;
    if (f64 == nullptr || f32 == nullptr) {
      err = "kernel library " + path + " lacks the kernels of rule " + std::to_string(k);
      return nullptr;
    }
    lib->rules_[k].f64 = reinterpret_cast<brz_kernel_f64_fn>(f64);
    lib->rules_[k].f32 = reinterpret_cast<brz_kernel_f32_fn>(f32);
    // Optional: a rule without them runs its cell-list sweeps on the interpreter.
    void* b64 = sym((base + "_block_f64").c_str()) ? pick(base + "_block_f64") : nullptr;
    void* b32 = sym((base + "_block_f32").c_str()) ? pick(base + "_block_f32") : nullptr;
    lib->rules_[k].block_f64 = reinterpret_cast<brz_kernel_f64_fn>(b64);
    lib->rules_[k].block_f32 = reinterpret_cast<brz_kernel_f32_fn>(b32);
    void* l64 = sym((base + "_list_f64").c_str()) ? pick(base + "_list_f64") : nullptr;
    void* l32 = sym((base + "_list_f32").c_str()) ? pick(base + "_list_f32") : nullptr;
    lib->rules_[k].list_f64 = reinterpret_cast<brz_list_f64_fn>(l64);
    lib->rules_[k].list_f32 = reinterpret_cast<brz_list_f32_fn>(l32);
  }
  lib->isa_ = suffixes[widest].empty() ? "sse2" : suffixes[widest].substr(1);
  return lib;
}

KernelLibrary::~KernelLibrary() {
  if (handle_ != nullptr) ::dlclose(handle_);
}

namespace {
// Agents per call of a per-agent kernel when threaded.
constexpr std::size_t kAgentChunk = 4096;
}  // namespace

template <class T>
bool run_generated_agent(void (*fn)(const BrzKernelArgs<T>*), const BrzKernelArgs<T>& base,
                         int n_threads) {
  const std::size_t n = base.n_a;
  int bad = 0;
  if (n_threads <= 1) {
    BrzKernelArgs<T> a = base;
    a.i_begin = 0;
    a.i_end = n;
    a.nonfinite = &bad;
    fn(&a);
    return bad != 0;
  }
  const long chunks = static_cast<long>((n + kAgentChunk - 1) / kAgentChunk);
#pragma omp parallel for num_threads(n_threads) schedule(static) reduction(| : bad)
  for (long c = 0; c < chunks; ++c) {
    BrzKernelArgs<T> a = base;
    int flag = 0;
    a.i_begin = std::size_t(c) * kAgentChunk;
    a.i_end = std::min(n, a.i_begin + kAgentChunk);
    a.nonfinite = &flag;
    fn(&a);
    bad |= flag;
  }
  return bad != 0;
}

template <class T>
void run_generated_pair(void (*fn)(const BrzKernelArgs<T>*), const BrzKernelArgs<T>& base,
                        int n_threads, T* acc, std::size_t acc_stride, const std::size_t* store_acc,
                        uint32_t n_stores, T** ptrs, const int* cancel) {
  const std::size_t n_a = base.n_a;
  auto thread_args = [&](int tid) {
    BrzKernelArgs<T> a = base;
    T** p = ptrs + std::size_t(tid) * n_stores;
    for (uint32_t s = 0; s < n_stores; ++s)
      p[s] = acc + std::size_t(tid) * acc_stride + store_acc[s];
    a.acc = p;
    return a;
  };
  // Enough pairs per call that the dispatch is negligible, small enough to balance the
  // triangular pair-same sweep and to notice a cancellation within a few milliseconds.
  const std::size_t chunk =
      std::max<std::size_t>(1, std::min<std::size_t>(64, 8192 / (base.n_b + 1)));
  const long chunks = static_cast<long>((n_a + chunk - 1) / chunk);
#pragma omp parallel num_threads(n_threads) if (n_threads > 1)
  {
    BrzKernelArgs<T> a = thread_args(omp_get_thread_num());
#pragma omp for schedule(dynamic, 1)
    for (long c = 0; c < chunks; ++c) {
      if (cancel_requested(cancel)) continue;
      a.i_begin = std::size_t(c) * chunk;
      a.i_end = std::min(n_a, a.i_begin + chunk);
      fn(&a);
    }
  }
}

template bool run_generated_agent<double>(brz_kernel_f64_fn, const BrzKernelArgs<double>&, int);
template bool run_generated_agent<float>(brz_kernel_f32_fn, const BrzKernelArgs<float>&, int);
template void run_generated_pair<double>(brz_kernel_f64_fn, const BrzKernelArgs<double>&, int,
                                         double*, std::size_t, const std::size_t*, uint32_t,
                                         double**, const int*);
template void run_generated_pair<float>(brz_kernel_f32_fn, const BrzKernelArgs<float>&, int, float*,
                                        std::size_t, const std::size_t*, uint32_t, float**,
                                        const int*);

}  // namespace brz
