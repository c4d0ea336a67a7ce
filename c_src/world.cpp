#include "brz/world.hpp"

#include <omp.h>

#include <algorithm>
#include <cmath>
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
  images_.resize(counts_.size());
  ids_.resize(counts_.size());
  next_id_.assign(counts_.begin(), counts_.end());
  changed_.assign(counts_.size(), 0);
  for (int d = 0; d < 3; ++d) box_.periodic[d] = program_->periodic_axis(d);
}

void WorldBase::set_box(const double lo[3], const double hi[3]) {
  for (int d = 0; d < 3; ++d) {
    const double len = hi[d] - lo[d];
    if (!std::isfinite(lo[d]) || !std::isfinite(hi[d]) || !(hi[d] > lo[d]) || !std::isfinite(len))
      throw ArgumentError("box: bounds must be finite with hi > lo on every axis (axis " +
                          std::to_string(d) + ")");
  }
  for (int d = 0; d < 3; ++d) {
    box_.lo[d] = lo[d];
    box_.hi[d] = hi[d];
    box_.len[d] = hi[d] - lo[d];
  }
  has_box_ = true;
  for (uint32_t t = 0; t < counts_.size(); ++t)
    if (program_->periodic() && program_->coord_lane(t) != kNoCoord)
      images_[t].assign(3 * counts_[t], 0);
}

bool WorldBase::wrap_all() {
  bool changed = false;
  for (uint32_t t = 0; t < counts_.size(); ++t)
    if (!images_[t].empty()) changed = wrap(t) || changed;
  return changed;
}

void WorldBase::set_identities(uint32_t type, const uint32_t* ids, uint64_t next_id) {
  const std::size_t n = counts_.at(type);
  if (next_id < n || next_id > uint64_t(UINT32_MAX) + 1)
    throw ArgumentError("world: next identity " + std::to_string(next_id) + " of type " +
                        std::to_string(type) + " is not in " + std::to_string(n) + "..2^32");
  bool indices = next_id == n;
  if (ids != nullptr) {
    std::vector<uint32_t> sorted(ids, ids + n);
    std::sort(sorted.begin(), sorted.end());
    for (std::size_t i = 0; i < n; ++i) {
      if (sorted[i] >= next_id || (i > 0 && sorted[i] == sorted[i - 1]))
        throw ArgumentError("world: the identities of type " + std::to_string(type) +
                            " must be distinct and below the next identity");
      indices = indices && ids[i] == i;
    }
  }
  if (indices) {
    ids_[type].clear();
    changed_[type] = 0;
  } else {
    ids_[type].resize(n);
    for (std::size_t i = 0; i < n; ++i) ids_[type][i] = ids ? ids[i] : static_cast<uint32_t>(i);
    changed_[type] = 1;
  }
  next_id_[type] = next_id;
}

void WorldBase::set_images(uint32_t type, const int64_t* images, std::size_t n) {
  std::vector<int64_t>& own = images_.at(type);
  if (own.empty() || n != own.size())
    throw ArgumentError("world: type " + std::to_string(type) + " has " +
                        std::to_string(own.size()) + " image counters, not " + std::to_string(n));
  std::copy(images, images + n, own.begin());
}

std::size_t WorldBase::column_bytes() const {
  std::size_t n = 0;
  for (uint32_t t = 0; t < counts_.size(); ++t)
    n += std::size_t(program_->lanes(t)) * capacity(t) * element_size();
  return n;
}

void WorldBase::copy_base(const WorldBase& from) {
  program_ = from.program_;
  counts_ = from.counts_;
  params_ = from.params_;
  rows_ = from.rows_;
  agents_ = from.agents_;
  order_epoch_ = from.order_epoch_;
  box_ = from.box_;
  has_box_ = from.has_box_;
  seed_ = from.seed_;
  step_ = from.step_;
  images_ = from.images_;
  ids_ = from.ids_;
  next_id_ = from.next_id_;
  changed_ = from.changed_;
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
std::unique_ptr<WorldBase> World<T>::clone() const {
  auto out = std::make_unique<World<T>>(program_, counts_);
  out->copy_base(*this);
  for (uint32_t t = 0; t < counts_.size(); ++t)
    for (uint32_t l = 0; l < columns_[t].size(); ++l)
      std::copy_n(columns_[t][l].data(), counts_[t], out->columns_[t][l].data());
  return out;
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
bool World<T>::wrap(uint32_t type) {
  std::vector<int64_t>& images = images_.at(type);
  if (images.empty()) return false;
  const uint32_t lane = program_->coord_lane(type);
  const std::size_t n = counts_[type];
  bool changed = false;
  for (int d = 0; d < 3; ++d) {
    if (!box_.periodic[d]) continue;
    const double lo = box_.lo[d], hi = box_.hi[d], len = box_.len[d];
    T* col = column(type, lane + d);
    for (std::size_t r = 0; r < n; ++r) {
      const double x = double(col[r]);
      if (!(x < lo) && !(x >= hi)) continue;  // inside, or NaN
      int64_t k;
      const T y = static_cast<T>(wrap_coordinate<T>(x, lo, hi, len, k));
      if (y == col[r] && k == 0) continue;  // an infinity
      col[r] = y;
      int64_t& image = images[agent_at(type, r) * 3 + d];
      image = static_cast<int64_t>(static_cast<uint64_t>(image) + static_cast<uint64_t>(k));
      changed = true;
    }
  }
  return changed;
}

template <class T>
void World<T>::pack_unwrapped(uint32_t type, uint32_t first_lane, uint32_t n_lanes,
                              void* out) const {
  pack(type, first_lane, n_lanes, out);
  const std::vector<int64_t>& images = images_[type];
  if (images.empty()) return;
  const uint32_t coord = program_->coord_lane(type);
  const std::size_t n = counts_[type];
  unsigned char* o = static_cast<unsigned char*>(out);
  for (uint32_t l = 0; l < n_lanes; ++l) {
    const uint32_t lane = first_lane + l;
    if (lane < coord || lane >= coord + 3 || !box_.periodic[lane - coord]) continue;
    const int d = static_cast<int>(lane - coord);
    for (std::size_t i = 0; i < n; ++i) {
      T v;
      unsigned char* at = o + (i * n_lanes + l) * sizeof(T);
      std::memcpy(&v, at, sizeof(T));
      v = to_precision<T>(double(v) + double(images[i * 3 + d]) * box_.len[d]);
      std::memcpy(at, &v, sizeof(T));
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
void World<T>::grow(uint32_t type, std::size_t n) {
  std::vector<AlignedBuffer<T>>& cols = columns_[type];
  if (cols.empty() || cols[0].size() >= column_capacity(n)) return;
  // Half again as much room: a run that spawns every step reallocates now and then only.
  const std::size_t cap = column_capacity(n + n / 2);
  for (AlignedBuffer<T>& col : cols) {
    AlignedBuffer<T> bigger(cap);
    if (counts_[type] > 0) std::memcpy(bigger.data(), col.data(), counts_[type] * sizeof(T));
    col = std::move(bigger);
  }
}

template <class T>
std::vector<WorldBase::RowMoves> World<T>::apply_lifecycle(uint32_t type,
                                                           const std::vector<uint8_t>& dead,
                                                           const std::vector<Spawned>& children,
                                                           int threads) {
  const uint32_t n_types = static_cast<uint32_t>(counts_.size());
  if (type >= n_types || children.size() != n_types)
    throw ArgumentError("world: lifecycle of an unknown type");
  // Where each child goes among its type's appended rows (Spawned::rows), checked before
  // anything changes.
  std::vector<std::vector<uint32_t>> slots(n_types);
  for (uint32_t t = 0; t < n_types; ++t) {
    const Spawned& c = children[t];
    if (c.rows.empty()) continue;
    if (c.rows.size() != c.n) throw ArgumentError("world: spawned rows do not match");
    slots[t].assign(c.n, UINT32_MAX);
    for (std::size_t k = 0; k < c.n; ++k) {
      if (c.rows[k] >= c.n || slots[t][c.rows[k]] != UINT32_MAX)
        throw ArgumentError("world: spawned rows are not a permutation");
      slots[t][c.rows[k]] = static_cast<uint32_t>(k);
    }
  }
  std::vector<RowMoves> moves(n_types);
  for (uint32_t t = 0; t < n_types; ++t) {
    moves[t].old_count = moves[t].survivors = counts_[t];
    moves[t].epoch_before = moves[t].epoch_after = order_epoch_[t];
  }
  std::vector<std::size_t> gone;  // the removed rows, ascending
  const std::size_t n = counts_[type];
  if (!dead.empty()) {
    if (dead.size() != n) throw ArgumentError("world: removal flags do not match the count");
    for (std::size_t r = 0; r < n; ++r)
      if (dead[r]) gone.push_back(r);
  }
  if (!gone.empty()) {
    // Stable compaction of every column by rows, and of the identities and image counters
    // (both in the caller's order) by agents: the removed (few), then the runs between them
    // moved down.
    std::vector<uint32_t>& ids = ids_[type];
    if (ids.empty()) {
      ids.resize(n);
      for (std::size_t i = 0; i < n; ++i) ids[i] = static_cast<uint32_t>(i);
    }
    std::vector<int64_t>& images = images_[type];
    std::vector<uint32_t>& agents = agents_[type];
    std::vector<uint32_t>& rows = rows_[type];
    std::vector<std::size_t> gone_agents = gone;
    if (!agents.empty()) {
      for (std::size_t& g : gone_agents) g = agents[g];
      std::sort(gone_agents.begin(), gone_agents.end());
    }
    auto compact = [n](const std::vector<std::size_t>& out_rows, auto* data, std::size_t width) {
      std::size_t out = out_rows[0];
      for (std::size_t g = 0; g < out_rows.size(); ++g) {
        const std::size_t from = out_rows[g] + 1,
                          to = g + 1 < out_rows.size() ? out_rows[g + 1] : n;
        if (to > from)
          std::memmove(data + out * width, data + from * width,
                       (to - from) * width * sizeof(*data));
        out += to - from;
      }
    };
    const std::size_t k = n - gone.size();
    // The columns, then the identities and image counters, one array a task.
    std::vector<AlignedBuffer<T>>& cols = columns_[type];
    const long n_tasks = long(cols.size()) + 2;
#pragma omp parallel for num_threads(threads) if (threads > 1) schedule(dynamic, 1)
    for (long q = 0; q < n_tasks; ++q) {
      if (q < long(cols.size())) {
        compact(gone, cols[std::size_t(q)].data(), 1);
        // Rows past the count stay readable by vectors: zero, as a fresh column.
        std::fill(cols[std::size_t(q)].data() + k, cols[std::size_t(q)].data() + n, T(0));
      } else if (q == long(cols.size())) {
        compact(gone_agents, ids.data(), 1);
      } else if (!images.empty()) {
        compact(gone_agents, images.data(), 3);
      }
    }
    ids.resize(k);
    if (!images.empty()) images.resize(k * 3);
    RowMoves& m = moves[type];
    m.to.resize(n);
    // Row r goes to r less the removed rows before it: chunks of rows split between the
    // threads, each starting at its own count of removed rows.
    const long n_chunks = threads > 1 ? long(threads) * 4 : 1;
#pragma omp parallel for num_threads(threads) if (threads > 1) schedule(static)
    for (long q = 0; q < n_chunks; ++q) {
      const std::size_t r0 = n * std::size_t(q) / std::size_t(n_chunks),
                        r1 = n * std::size_t(q + 1) / std::size_t(n_chunks);
      std::size_t g = std::lower_bound(gone.begin(), gone.end(), r0) - gone.begin();
      for (std::size_t r = r0; r < r1; ++r) {
        if (g < gone.size() && gone[g] == r) {
          m.to[r] = RowMoves::kGoneRow;
          ++g;
        } else {
          m.to[r] = static_cast<uint32_t>(r - g);
        }
      }
    }
    if (!agents.empty()) {
      // The maps between agents and rows, with both renumbered: agent a is now a less the
      // removed agents before it, row r is to[r]. The surviving agents' new rows, in the
      // caller's order, go to a spare array (rows split between threads, each chunk of
      // agents starting at its own count of removed agents), then each names its agent; the
      // old agents of the rows are not needed. Both passes read or write at random rows.
      std::vector<uint32_t>& next = map_spare_;
      next.resize(k);
      const uint32_t* to = m.to.data();
      const long n_chunks = threads > 1 ? long(threads) * 4 : 1;
#pragma omp parallel for num_threads(threads) if (threads > 1) schedule(static)
      for (long q = 0; q < n_chunks; ++q) {
        const std::size_t a0 = n * std::size_t(q) / std::size_t(n_chunks),
                          a1 = n * std::size_t(q + 1) / std::size_t(n_chunks);
        std::size_t g =
            std::lower_bound(gone_agents.begin(), gone_agents.end(), a0) - gone_agents.begin();
        for (std::size_t a = a0; a < a1; ++a) {
          if (g < gone_agents.size() && gone_agents[g] == a) {
            ++g;
            continue;
          }
          next[a - g] = to[rows[a]];
        }
      }
      rows.swap(next);
      agents.resize(k);
      const long kl = long(k);
      uint32_t* agent = agents.data();
      const uint32_t* row = rows.data();
#pragma omp parallel for num_threads(threads) if (threads > 1) schedule(static)
      for (long a = 0; a < kl; ++a) agent[row[a]] = uint32_t(a);
    }
    counts_[type] = k;
    m.survivors = k;
    changed_[type] = 1;
    ++order_epoch_[type];
    m.epoch_after = order_epoch_[type];
  }
  for (uint32_t t = 0; t < n_types; ++t) {
    const Spawned& c = children[t];
    if (c.n == 0) continue;
    const uint32_t lanes = program_->lanes(t);
    if (c.values.size() != c.n * lanes) throw ArgumentError("world: spawned lanes do not match");
    if (next_id_[t] + c.n > uint64_t(UINT32_MAX) + 1)
      throw ArgumentError("world: type " + std::to_string(t) +
                          " has used up its 2^32 agent identities");
    // Children come last in both orders; in storage, in the order of c.rows where the rows
    // are not in the caller's order anyway.
    const bool placed = !agents_[t].empty() && !c.rows.empty();
    const std::vector<uint32_t>& slot = slots[t];
    const std::size_t had = counts_[t];
    grow(t, had + c.n);
    std::vector<uint32_t>& ids = ids_[t];
    if (ids.empty()) {
      ids.resize(had);
      for (std::size_t i = 0; i < had; ++i) ids[i] = static_cast<uint32_t>(i);
    }
    for (std::size_t k = 0; k < c.n; ++k) {
      const std::size_t q = placed ? c.rows[k] : k;
      for (uint32_t l = 0; l < lanes; ++l)
        columns_[t][l][had + k] = to_precision<T>(c.values[q * lanes + l]);
      ids.push_back(static_cast<uint32_t>(next_id_[t]++));
    }
    if (!agents_[t].empty())
      for (std::size_t k = 0; k < c.n; ++k) {
        agents_[t].push_back(static_cast<uint32_t>(had + (placed ? c.rows[k] : k)));
        rows_[t].push_back(static_cast<uint32_t>(had + (placed ? slot[k] : k)));
      }
    counts_[t] = had + c.n;
    changed_[t] = 1;
    std::vector<int64_t>& images = images_[t];
    if (!images.empty() ||
        (has_box_ && program_->periodic() && program_->coord_lane(t) != kNoCoord))
      images.resize(3 * counts_[t], 0);
    ++order_epoch_[t];
    moves[t].appended = c.n;
    moves[t].epoch_after = order_epoch_[t];
  }
  return moves;
}

template <class T>
void World<T>::save(WorldSnapshot& into, const std::vector<std::vector<uint32_t>>& lanes,
                    const std::vector<uint8_t>& whole) const {
  into.step = step_;
  std::size_t used = 0;
  for (uint32_t t = 0; t < counts_.size() && t < lanes.size(); ++t) {
    const bool all = t < whole.size() && whole[t];
    if (!all && (lanes[t].empty() || counts_[t] == 0)) continue;
    if (into.parts.size() <= used) into.parts.emplace_back();
    WorldSnapshot::Part& p = into.parts[used++];
    const std::size_t n = counts_[t];
    p.type = t;
    p.whole = all;
    p.lanes = lanes[t];
    if (all) {
      p.lanes.resize(program_->lanes(t));
      for (uint32_t l = 0; l < program_->lanes(t); ++l) p.lanes[l] = l;
      p.count = n;
      p.rows = rows_[t];
      p.ids = ids_[t];
      p.next_id = next_id_[t];
      p.changed = changed_[t] != 0;
    }
    p.agents = agents_[t];
    p.epoch = order_epoch_[t];
    p.bytes.resize(p.lanes.size() * n * sizeof(T));
    // An empty type has no buffers to copy (memcpy must not see their null pointers).
    for (std::size_t k = 0; k < p.lanes.size() && n > 0; ++k)
      std::memcpy(p.bytes.data() + k * n * sizeof(T), column(t, p.lanes[k]), n * sizeof(T));
    // A run that moves the coordinates may wrap them: their image counters go with them.
    const uint32_t coord = program_->coord_lane(t);
    const bool coords =
        !images_[t].empty() && (all || std::any_of(p.lanes.begin(), p.lanes.end(), [&](uint32_t l) {
                                  return l >= coord && l < coord + 3;
                                }));
    if (coords)
      p.images = images_[t];
    else
      p.images.clear();
  }
  into.parts.resize(used);
}

template <class T>
void World<T>::restore(const WorldSnapshot& from) {
  step_ = from.step;
  for (const WorldSnapshot::Part& p : from.parts) {
    if (p.whole) {
      // The type as it was: its count, rows (in their saved order), maps and identities.
      const uint32_t t = p.type;
      const std::size_t n = p.count;
      if (p.lanes.size() != columns_.at(t).size() ||
          p.bytes.size() != p.lanes.size() * n * sizeof(T))
        throw ArgumentError("world: snapshot does not match the world");
      grow(t, n);
      for (std::size_t k = 0; k < p.lanes.size(); ++k) {
        T* col = columns_[t][k].data();
        if (n > 0) std::memcpy(col, p.bytes.data() + k * n * sizeof(T), n * sizeof(T));
        const std::size_t cap = columns_[t][k].size();
        if (counts_[t] > n) std::fill(col + n, col + std::min(cap, counts_[t]), T(0));
      }
      counts_[t] = n;
      rows_[t] = p.rows;
      agents_[t] = p.agents;
      ids_[t] = p.ids;
      next_id_[t] = p.next_id;
      changed_[t] = p.changed ? 1 : 0;
      if (!images_[t].empty() || !p.images.empty()) images_[t] = p.images;
      ++order_epoch_[t];
      continue;
    }
    const std::size_t n = counts_.at(p.type);
    if (p.bytes.size() != p.lanes.size() * n * sizeof(T))
      throw ArgumentError("world: snapshot does not match the world");
    const bool same_rows = p.epoch == order_epoch_[p.type];
    for (std::size_t k = 0; k < p.lanes.size(); ++k) {
      T* col = column(p.type, p.lanes[k]);
      const unsigned char* src = p.bytes.data() + k * n * sizeof(T);
      if (same_rows) {
        if (n > 0) std::memcpy(col, src, n * sizeof(T));
        continue;
      }
      for (std::size_t r = 0; r < n; ++r) {
        const std::size_t agent = p.agents.empty() ? r : p.agents[r];
        std::memcpy(&col[row(p.type, agent)], src + r * sizeof(T), sizeof(T));
      }
    }
    if (!p.images.empty()) images_.at(p.type) = p.images;
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
