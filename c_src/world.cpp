#include "brz/world.hpp"

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
  return static_cast<double>(column(type, lane)[i]);
}

template <class T>
void World<T>::set(uint32_t type, uint32_t lane, std::size_t i, double v) {
  if (i >= count(type)) throw ArgumentError("world: agent index out of range");
  column(type, lane)[i] = to_precision<T>(v);
}

template <class T>
void World<T>::pack(uint32_t type, uint32_t first_lane, uint32_t n_lanes, void* out) const {
  if (type >= counts_.size()) throw ArgumentError("world: type index out of range");
  if (uint64_t(first_lane) + n_lanes > program_->lanes(type))
    throw ArgumentError("world: lane range out of range");
  const std::size_t n = counts_[type];
  unsigned char* o = static_cast<unsigned char*>(out);
  for (uint32_t l = 0; l < n_lanes; ++l) {
    const T* col = column(type, first_lane + l);
    for (std::size_t i = 0; i < n; ++i)
      std::memcpy(o + (i * n_lanes + l) * sizeof(T), &col[i], sizeof(T));
  }
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
