// RAII buffer of trivially-copyable elements aligned to 64 bytes (large buffers: to 2 MiB, and
// marked for transparent huge pages where the OS has them).
#pragma once

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <type_traits>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace brz {

constexpr std::size_t kAlignment = 64;
/// Buffers of at least this many bytes are 2 MiB-aligned and advised as huge-page candidates
/// (MADV_HUGEPAGE): the sweeps over million-agent columns otherwise miss the TLB constantly.
constexpr std::size_t kHugeBytes = std::size_t(4) << 20;
constexpr std::size_t kHugeAlignment = std::size_t(2) << 20;

template <class T>
class AlignedBuffer {
  static_assert(std::is_trivially_copyable<T>::value, "AlignedBuffer holds plain numbers");

  struct Free {
    void operator()(T* p) const noexcept { std::free(p); }
  };

 public:
  AlignedBuffer() = default;
  /// `n` zero-initialised elements.
  explicit AlignedBuffer(std::size_t n) : size_(n) {
    if (n == 0) return;
    if (n > (SIZE_MAX - kAlignment) / sizeof(T)) throw std::bad_alloc();
    const std::size_t align = n * sizeof(T) >= kHugeBytes ? kHugeAlignment : kAlignment;
    if (n > (SIZE_MAX - align) / sizeof(T)) throw std::bad_alloc();
    const std::size_t bytes = (n * sizeof(T) + align - 1) / align * align;
    void* p = std::aligned_alloc(align, bytes);
    if (p == nullptr) throw std::bad_alloc();
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    if (align == kHugeAlignment) madvise(p, bytes, MADV_HUGEPAGE);  // advice only: may fail
#endif
    std::memset(p, 0, bytes);
    ptr_.reset(static_cast<T*>(p));
  }
  T* data() noexcept { return ptr_.get(); }
  const T* data() const noexcept { return ptr_.get(); }
  std::size_t size() const noexcept { return size_; }
  T& operator[](std::size_t i) noexcept { return ptr_.get()[i]; }
  const T& operator[](std::size_t i) const noexcept { return ptr_.get()[i]; }

 private:
  std::unique_ptr<T, Free> ptr_;
  std::size_t size_ = 0;
};

}  // namespace brz
