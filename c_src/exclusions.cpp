// The pairs a same-type rule skips (brz/exclusions.hpp).
#include "brz/exclusions.hpp"

#include <algorithm>
#include <string>

#include "brz/identity_index.hpp"

namespace brz {

template <class T>
ExcludedPairs ExcludedPairs::of(const World<T>& w, const Rule& r) {
  ExcludedPairs x;
  const uint32_t type = r.type_a, bond = r.exclude.type;
  const std::size_t n = w.count(type), nb = w.count(bond);
  const IdentityIndex index = IdentityIndex::of(w, type);
  const std::size_t k = r.exclude.lanes.size();
  std::vector<uint32_t> named(nb * k);
  for (std::size_t l = 0; l < k; ++l) {
    const T* col = w.column(bond, r.exclude.lanes[l]);
    for (std::size_t b = 0; b < nb; ++b) {
      const uint32_t row = index.row(col[b]);
      if (row == IdentityIndex::kNone)
        throw ArgumentError("agent " + std::to_string(w.agent_at(bond, b)) + " of type " +
                            std::to_string(bond) + " names " + std::to_string(double(col[b])) +
                            " in lane " + std::to_string(r.exclude.lanes[l]) +
                            ", not a living agent of type " + std::to_string(type));
      named[b * k + l] = row;
    }
  }
  // Counting sort by row: every agent lists each partner of each agent naming it.
  x.start_.assign(n + 1, 0);
  for (std::size_t b = 0; b < nb; ++b)
    for (std::size_t p = 0; p < k; ++p)
      for (std::size_t q = 0; q < k; ++q)
        if (p != q) ++x.start_[named[b * k + p] + 1];
  for (std::size_t row = 0; row < n; ++row) x.start_[row + 1] += x.start_[row];
  x.rows_.resize(x.start_[n]);
  std::vector<uint32_t> at(x.start_.begin(), x.start_.end() - 1);
  for (std::size_t b = 0; b < nb; ++b)
    for (std::size_t p = 0; p < k; ++p)
      for (std::size_t q = 0; q < k; ++q)
        if (p != q) x.rows_[at[named[b * k + p]]++] = named[b * k + q];
  return x;
}

template ExcludedPairs ExcludedPairs::of<double>(const World<double>&, const Rule&);
template ExcludedPairs ExcludedPairs::of<float>(const World<float>&, const Rule&);

}  // namespace brz
