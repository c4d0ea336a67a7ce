// SHA-256 (brz/sha256.hpp) against the FIPS 180-4 / NIST example vectors, and the incremental
// interface against the one-shot one around the block and padding boundaries.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "brz/sha256.hpp"

namespace {

std::string hex(const std::string& s) { return brz::to_hex(brz::sha256(s.data(), s.size())); }

}  // namespace

TEST_CASE("SHA-256 matches the known vectors", "[sha256]") {
  CHECK(hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  // 448 bits: the padding needs a second block.
  CHECK(hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  CHECK(
      hex("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqr"
          "lmnopqrsmnopqrstnopqrstu") ==
      "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
  CHECK(hex("The quick brown fox jumps over the lazy dog") ==
        "d7a8fbb307d7809469ca9abcb0082e4f8d5651e46d3cdb762d02d0bf37c9e592");
  CHECK(hex(std::string(1000000, 'a')) ==
        "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST_CASE("SHA-256 fed in pieces equals the one-shot digest", "[sha256]") {
  std::vector<uint8_t> data(300);
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(i * 37 + 11);
  for (std::size_t n : {0, 1, 55, 56, 57, 63, 64, 65, 119, 120, 128, 300}) {
    const brz::Sha256::Digest whole = brz::sha256(data.data(), n);
    for (std::size_t piece : {1, 7, 63, 64, 100}) {
      INFO("n = " << n << ", piece = " << piece);
      brz::Sha256 s;
      for (std::size_t at = 0; at < n; at += piece)
        s.update(data.data() + at, std::min(piece, n - at));
      CHECK(s.finish() == whole);
    }
  }
  // Distinct lengths of the same bytes give distinct digests (the length is hashed).
  CHECK(brz::sha256(data.data(), 55) != brz::sha256(data.data(), 56));
  CHECK(brz::to_hex(brz::sha256(data.data(), 0)) ==
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}
