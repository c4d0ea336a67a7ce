// The pairs a same-type rule skips (brz/exclusions.hpp).
#include "brz/exclusions.hpp"

#include <algorithm>
#include <cmath>
#include <string>

namespace brz {

template <class T>
ExcludedPairs ExcludedPairs::of(const World<T>& w, const Rule& r) {
  ExcludedPairs x;
  const uint32_t type = r.type_a, bond = r.exclude.type;
  const std::size_t n = w.count(type), nb = w.count(bond);
  // The row holding each identity of the rule's type.
  constexpr uint32_t kNone = UINT32_MAX;
  std::vector<uint32_t> row_of(std::size_t(std::min<uint64_t>(w.next_id(type), UINT32_MAX)), kNone);
  for (std::size_t row = 0; row < n; ++row)
    row_of[w.id(type, w.agent_at(type, row))] = uint32_t(row);
  const std::size_t k = r.exclude.lanes.size();
  std::vector<uint32_t> named(nb * k);
  for (std::size_t l = 0; l < k; ++l) {
    const T* col = w.column(bond, r.exclude.lanes[l]);
    for (std::size_t b = 0; b < nb; ++b) {
      const T v = col[b];
      const uint32_t row =
          v >= T(0) && v < T(row_of.size()) && v == std::floor(v) ? row_of[std::size_t(v)] : kNone;
      if (row == kNone)
        throw ArgumentError("agent " + std::to_string(w.agent_at(bond, b)) + " of type " +
                            std::to_string(bond) + " names " + std::to_string(double(v)) +
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
