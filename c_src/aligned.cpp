// The cache of large aligned blocks behind AlignedBuffer (include/brz/aligned.hpp).
#include "brz/aligned.hpp"

#include <cstdlib>
#include <mutex>
#include <vector>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace brz {
namespace memory {
namespace {

struct Block {
  void* p;
  std::size_t bytes, align;
};

struct Cache {
  std::mutex mu;
  std::vector<Block> blocks;
  std::size_t bytes = 0;
  ~Cache() {
    for (const Block& b : blocks) std::free(b.p);
  }
};

Cache& cache() {
  static Cache c;
  return c;
}

}  // namespace

void* allocate(std::size_t bytes, std::size_t align) {
  if (bytes >= kCachedMinBytes) {
    Cache& c = cache();
    std::lock_guard<std::mutex> lock(c.mu);
    for (std::size_t k = c.blocks.size(); k-- > 0;) {
      const Block b = c.blocks[k];
      if (b.bytes != bytes || b.align != align) continue;
      c.blocks.erase(c.blocks.begin() + static_cast<long>(k));
      c.bytes -= bytes;
      return b.p;
    }
  }
  void* p = std::aligned_alloc(align, bytes);
  if (p == nullptr) throw std::bad_alloc();
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  if (align == kHugeAlignment) madvise(p, bytes, MADV_HUGEPAGE);  // advice only: may fail
#endif
  return p;
}

void release(void* p, std::size_t bytes, std::size_t align) noexcept {
  if (bytes >= kCachedMinBytes) {
    Cache& c = cache();
    std::lock_guard<std::mutex> lock(c.mu);
    if (c.bytes + bytes <= kCacheBytes) {
      try {
        c.blocks.push_back(Block{p, bytes, align});
        c.bytes += bytes;
        return;
      } catch (...) {
        // no room for the bookkeeping: free it
      }
    }
  }
  std::free(p);
}

std::size_t cached_bytes() noexcept {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  return c.bytes;
}

void trim() noexcept {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  for (const Block& b : c.blocks) std::free(b.p);
  c.blocks.clear();
  c.bytes = 0;
}

}  // namespace memory
}  // namespace brz
