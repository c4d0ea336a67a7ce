// RAII buffer of trivially-copyable elements aligned to 64 bytes (large buffers: to 2 MiB, and
// marked for transparent huge pages where the OS has them). Large blocks are recycled through a
// small process-wide cache (aligned.cpp), so that creating world after world of the same size
// does not page-fault fresh memory from the OS every time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>
#include <type_traits>
#include <utility>

namespace brz {

constexpr std::size_t kAlignment = 64;
/// Buffers of at least this many bytes are 2 MiB-aligned and advised as huge-page candidates
/// (MADV_HUGEPAGE): the sweeps over million-agent columns otherwise miss the TLB constantly.
constexpr std::size_t kHugeBytes = std::size_t(4) << 20;
constexpr std::size_t kHugeAlignment = std::size_t(2) << 20;

namespace memory {
/// Blocks of at least this many bytes go through the cache.
constexpr std::size_t kCachedMinBytes = std::size_t(64) << 10;
/// At most this many bytes are kept in the cache.
constexpr std::size_t kCacheBytes = std::size_t(32) << 20;
/// A block of `bytes` (a multiple of `align`) aligned to `align`, not initialised: a cached one
/// of exactly that size and alignment, or a fresh one. Throws std::bad_alloc.
void* allocate(std::size_t bytes, std::size_t align);
/// Gives a block from allocate() back: cached while the cache has room, else freed.
void release(void* p, std::size_t bytes, std::size_t align) noexcept;
/// Bytes held by the cache now.
std::size_t cached_bytes() noexcept;
/// Frees every cached block.
void trim() noexcept;
}  // namespace memory

template <class T>
class AlignedBuffer {
  static_assert(std::is_trivially_copyable<T>::value, "AlignedBuffer holds plain numbers");

 public:
  AlignedBuffer() = default;
  /// `n` zero-initialised elements.
  explicit AlignedBuffer(std::size_t n) : size_(n) {
    if (n == 0) return;
    align_ = n * sizeof(T) >= kHugeBytes ? kHugeAlignment : kAlignment;
    if (n > (SIZE_MAX - align_) / sizeof(T)) throw std::bad_alloc();
    bytes_ = (n * sizeof(T) + align_ - 1) / align_ * align_;
    ptr_ = static_cast<T*>(memory::allocate(bytes_, align_));
    std::memset(static_cast<void*>(ptr_), 0, bytes_);
  }
  AlignedBuffer(AlignedBuffer&& o) noexcept { swap(o); }
  AlignedBuffer& operator=(AlignedBuffer&& o) noexcept {
    AlignedBuffer(std::move(o)).swap(*this);
    return *this;
  }
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;
  ~AlignedBuffer() {
    if (ptr_) memory::release(ptr_, bytes_, align_);
  }

  T* data() noexcept { return ptr_; }
  const T* data() const noexcept { return ptr_; }
  std::size_t size() const noexcept { return size_; }
  T& operator[](std::size_t i) noexcept { return ptr_[i]; }
  const T& operator[](std::size_t i) const noexcept { return ptr_[i]; }

 private:
  void swap(AlignedBuffer& o) noexcept {
    std::swap(ptr_, o.ptr_);
    std::swap(size_, o.size_);
    std::swap(bytes_, o.bytes_);
    std::swap(align_, o.align_);
  }

  T* ptr_ = nullptr;
  std::size_t size_ = 0, bytes_ = 0, align_ = kAlignment;
};

}  // namespace brz
