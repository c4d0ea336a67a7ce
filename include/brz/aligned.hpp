// RAII buffer of trivially-copyable elements aligned to 64 bytes.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <type_traits>

namespace brz {

constexpr std::size_t kAlignment = 64;

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
    std::size_t bytes = (n * sizeof(T) + kAlignment - 1) / kAlignment * kAlignment;
    void* p = std::aligned_alloc(kAlignment, bytes);
    if (p == nullptr) throw std::bad_alloc();
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
