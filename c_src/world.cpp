#include "brz/world.hpp"

#include <omp.h>

#include <cstring>
#include <string>

namespace brz {

WorldBase::WorldBase(std::shared_ptr<const Program> program, std::vector<std::size_t> counts)
    : program_(std::move(program)), counts_(std::move(counts)) {
  if (!program_) throw ArgumentError("world: null program");
  if (counts_.size() != program_->n_types())
    throw ArgumentError("world: expected " + std::to_string(program_->n_types()) +
                        " agent counts, got " + std::to_string(counts_.size()));
  params_.assign(program_->n_params(), 0.0);
  rows_.resize(counts_.size());
  agents_.resize(counts_.size());
  order_epoch_.assign(counts_.size(), 0);
}

std::size_t WorldBase::column_bytes() const {
  std::size_t n = 0;
  for (uint32_t t = 0; t < counts_.size(); ++t)
    n += std::size_t(program_->lanes(t)) * capacity(t) * element_size();
  return n;
}

template <class T>
World<T>::World(std::shared_ptr<const Program> program, std::vector<std::size_t> counts)
    : WorldBase(std::move(program), std::move(counts)) {
  columns_.resize(counts_.size());
  for (uint32_t t = 0; t < counts_.size(); ++t) {
    const std::size_t cap = column_capacity(counts_[t]);
    const uint32_t lanes = program_->lanes(t);
    columns_[t].reserve(lanes);
    for (uint32_t l = 0; l < lanes; ++l) columns_[t].emplace_back(cap);
  }
}

template <class T>
double World<T>::get(uint32_t type, uint32_t lane, std::size_t i) const {
  if (i >= count(type)) throw ArgumentError("world: agent index out of range");
  return static_cast<double>(column(type, lane)[row(type, i)]);
}

template <class T>
void World<T>::set(uint32_t type, uint32_t lane, std::size_t i, double v) {
  if (i >= count(type)) throw ArgumentError("world: agent index out of range");
  column(type, lane)[row(type, i)] = to_precision<T>(v);
}

template <class T>
void World<T>::pack(uint32_t type, uint32_t first_lane, uint32_t n_lanes, void* out) const {
  if (type >= counts_.size()) throw ArgumentError("world: type index out of range");
  if (uint64_t(first_lane) + n_lanes > program_->lanes(type))
    throw ArgumentError("world: lane range out of range");
  const std::size_t n = counts_[type];
  unsigned char* o = static_cast<unsigned char*>(out);
  const std::vector<uint32_t>& rows = rows_[type];
  for (uint32_t l = 0; l < n_lanes; ++l) {
    const T* col = column(type, first_lane + l);
    if (rows.empty()) {
      for (std::size_t i = 0; i < n; ++i)
        std::memcpy(o + (i * n_lanes + l) * sizeof(T), &col[i], sizeof(T));
    } else {
      for (std::size_t i = 0; i < n; ++i)
        std::memcpy(o + (i * n_lanes + l) * sizeof(T), &col[rows[i]], sizeof(T));
    }
  }
}

template <class T>
void World<T>::reorder(uint32_t type, const uint32_t* perm, int threads) {
  const std::size_t n = count(type);
  if (n == 0) return;
  if (spare_.size() < capacity(type)) spare_ = AlignedBuffer<T>(capacity(type));
  T* tmp = spare_.data();
  const long nl = static_cast<long>(n);
  for (AlignedBuffer<T>& column : columns_[type]) {
    T* col = column.data();
#pragma omp parallel for num_threads(threads) if (threads > 1) schedule(static)
    for (long k = 0; k < nl; ++k) tmp[k] = col[perm[k]];
    std::memcpy(col, tmp, n * sizeof(T));
  }
  // Agent bookkeeping: row k now holds agent agents[perm[k]].
  std::vector<uint32_t>& agents = agents_[type];
  std::vector<uint32_t>& rows = rows_[type];
  std::vector<uint32_t> next(n);
  for (std::size_t k = 0; k < n; ++k) next[k] = agents.empty() ? perm[k] : agents[perm[k]];
  agents = std::move(next);
  rows.resize(n);
  for (std::size_t k = 0; k < n; ++k) rows[agents[k]] = static_cast<uint32_t>(k);
  ++order_epoch_[type];
}

template <class T>
void World<T>::restore_caller_order(uint32_t type, int threads) {
  if (rows_.at(type).empty()) return;
  const std::vector<uint32_t> perm = rows_[type];  // new row i holds agent i
  reorder(type, perm.data(), threads);
  rows_[type].clear();
  agents_[type].clear();
}

template <class T>
void World<T>::save(WorldSnapshot& into, const std::vector<std::vector<uint32_t>>& lanes) const {
  std::size_t used = 0;
  for (uint32_t t = 0; t < counts_.size() && t < lanes.size(); ++t) {
    if (lanes[t].empty() || counts_[t] == 0) continue;
    if (into.parts.size() <= used) into.parts.emplace_back();
    WorldSnapshot::Part& p = into.parts[used++];
    const std::size_t n = counts_[t];
    p.type = t;
    p.lanes = lanes[t];
    p.agents = agents_[t];
    p.epoch = order_epoch_[t];
    p.bytes.resize(p.lanes.size() * n * sizeof(T));
    for (std::size_t k = 0; k < p.lanes.size(); ++k)
      std::memcpy(p.bytes.data() + k * n * sizeof(T), column(t, p.lanes[k]), n * sizeof(T));
  }
  into.parts.resize(used);
}

template <class T>
void World<T>::restore(const WorldSnapshot& from) {
  for (const WorldSnapshot::Part& p : from.parts) {
    const std::size_t n = counts_.at(p.type);
    if (p.bytes.size() != p.lanes.size() * n * sizeof(T))
      throw ArgumentError("world: snapshot does not match the world");
    const bool same_rows = p.epoch == order_epoch_[p.type];
    for (std::size_t k = 0; k < p.lanes.size(); ++k) {
      T* col = column(p.type, p.lanes[k]);
      const unsigned char* src = p.bytes.data() + k * n * sizeof(T);
      if (same_rows) {
        std::memcpy(col, src, n * sizeof(T));
        continue;
      }
      for (std::size_t r = 0; r < n; ++r) {
        const std::size_t agent = p.agents.empty() ? r : p.agents[r];
        std::memcpy(&col[row(p.type, agent)], src + r * sizeof(T), sizeof(T));
      }
    }
  }
  engine_cache_.reset();
}

template class World<double>;
template class World<float>;

std::unique_ptr<WorldBase> make_world(std::shared_ptr<const Program> program,
                                      std::vector<std::size_t> counts, Precision precision) {
  if (precision == Precision::F64)
    return std::make_unique<World<double>>(std::move(program), std::move(counts));
  return std::make_unique<World<float>>(std::move(program), std::move(counts));
}

}  // namespace brz
