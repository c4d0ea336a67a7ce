// The row of a living agent by its identity (docs/program.md, "Random numbers"): what references
// (bonded rules, exclusions, removals that follow references) look up. Dense while identities
// stay close to the count, sorted pairs otherwise, so that a type whose next identity is near
// 2^32 costs memory for its living agents only.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <utility>
#include <vector>

#include "brz/world.hpp"

namespace brz {

class IdentityIndex {
 public:
  static constexpr uint32_t kNone = UINT32_MAX;

  /// The index of the living agents of `type` in `w`.
  static IdentityIndex of(const WorldBase& w, uint32_t type) {
    IdentityIndex x;
    const std::size_t n = w.count(type);
    const uint64_t given = w.next_id(type);
    if (given <= 2 * uint64_t(n) + 1024) {
      x.dense_.assign(std::size_t(given), kNone);
      for (std::size_t row = 0; row < n; ++row)
        x.dense_[w.id(type, w.agent_at(type, row))] = uint32_t(row);
    } else {
      x.sparse_.reserve(n);
      for (std::size_t row = 0; row < n; ++row)
        x.sparse_.emplace_back(w.id(type, w.agent_at(type, row)), uint32_t(row));
      std::sort(x.sparse_.begin(), x.sparse_.end());
    }
    x.given_ = given;
    return x;
  }

  /// The row of the agent whose identity a lane holds, or kNone when `v` is no living agent's
  /// identity (not an integer, out of range, or removed).
  template <class T>
  uint32_t row(T v) const noexcept {
    if (!(v >= T(0) && double(v) < double(given_) && v == std::floor(v))) return kNone;
    const uint32_t id = uint32_t(v);
    if (!dense_.empty() || sparse_.empty()) return id < dense_.size() ? dense_[id] : kNone;
    auto it = std::lower_bound(sparse_.begin(), sparse_.end(), std::make_pair(id, uint32_t(0)));
    return it != sparse_.end() && it->first == id ? it->second : kNone;
  }

  /// Whether `v` is an identity the type has given (below its next identity) that no living
  /// agent holds: a reference to a removed agent.
  template <class T>
  bool removed(T v) const noexcept {
    return v >= T(0) && double(v) < double(given_) && v == std::floor(v) && row(v) == kNone;
  }

 private:
  std::vector<uint32_t> dense_;
  std::vector<std::pair<uint32_t, uint32_t>> sparse_;
  uint64_t given_ = 0;
};

}  // namespace brz
