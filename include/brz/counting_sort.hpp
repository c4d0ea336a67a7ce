// A stable counting sort of small integer keys: the one the cell binning and the bonded rules'
// run order both use.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace brz {

/// Sorts items 0 .. n-1 by key[i] < buckets, stably: afterwards the items with key b are
/// perm[start[b] .. start[b + 1]), in ascending item order (start has buckets + 1 entries).
inline void counting_sort(const uint32_t* key, std::size_t n, std::size_t buckets,
                          std::vector<uint32_t>& start, std::vector<uint32_t>& perm) {
  start.assign(buckets + 1, 0);
  for (std::size_t i = 0; i < n; ++i) ++start[key[i] + 1];
  for (std::size_t b = 0; b < buckets; ++b) start[b + 1] += start[b];
  perm.resize(n);
  // Fill using the running starts, then restore them (start[b] is shifted to start[b + 1]).
  for (std::size_t i = 0; i < n; ++i) perm[start[key[i]]++] = static_cast<uint32_t>(i);
  for (std::size_t b = buckets; b > 0; --b) start[b] = start[b - 1];
  start[0] = 0;
}

}  // namespace brz
