// SHA-256 (FIPS 180-4), used to check a generated kernel library's bytes against the content
// hash recorded when it was built, before it is loaded (docs/kernels.md).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

namespace brz {

/// Incremental SHA-256: update() any number of times, then finish() once.
class Sha256 {
 public:
  using Digest = std::array<uint8_t, 32>;

  Sha256() noexcept;
  void update(const void* data, std::size_t size) noexcept;
  /// The digest of everything passed to update(); the object must not be used afterwards.
  Digest finish() noexcept;

 private:
  void block(const uint8_t* p) noexcept;
  uint32_t h_[8];
  uint64_t length_ = 0;  // bytes hashed so far
  uint8_t buffer_[64];
  std::size_t fill_ = 0;  // bytes pending in buffer_
};

/// The SHA-256 digest of `data[0, size)`.
Sha256::Digest sha256(const void* data, std::size_t size) noexcept;

/// A digest as 64 lowercase hexadecimal digits (as Elixir's Base.encode16(case: :lower)).
std::string to_hex(const Sha256::Digest& digest);

}  // namespace brz
