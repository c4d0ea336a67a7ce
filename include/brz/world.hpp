// World<T>: Structure-of-Arrays storage of every agent of every type, T = double or float.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "brz/aligned.hpp"
#include "brz/program.hpp"

namespace brz {

enum class Precision { F64, F32 };

/// Column stride for `count` agents: count rounded up to a multiple of 16, plus one extra block
/// of 16 so that a vector started at any agent index < count stays inside the allocation.
inline std::size_t column_capacity(std::size_t count) noexcept {
  return (count + 15) / 16 * 16 + 16;
}

/// State the engine keeps in a world from call to call (neighbour lists and buffers:
/// EngineState in c_src/executor.cpp); opaque to the world, destroyed with it.
struct EngineCache {
  virtual ~EngineCache() = default;
};

/// Copies of some lanes of a world, in the world's own rows, taken by WorldBase::save and put
/// back by WorldBase::restore: a run that fails or is cancelled is undone with it. Its buffers
/// are kept from save to save, so a world saved before every call does not allocate again.
struct WorldSnapshot {
  uint64_t step = 0;  // the world's step counter at the save
  struct Part {
    uint32_t type = 0;
    std::vector<uint32_t> lanes;
    std::vector<uint32_t> agents;  // row -> agent at the save (empty: the caller's order)
    uint64_t epoch = 0;            // order_epoch(type) at the save
    std::vector<unsigned char> bytes;
    std::vector<int64_t> images;  // the type's image counters, when its coordinates are saved
    // A whole type (a run that removes or spawns its agents): its count, every lane, its
    // row maps, identities and next identity.
    bool whole = false;
    std::size_t count = 0;
    std::vector<uint32_t> rows;
    std::vector<uint32_t> ids;
    uint64_t next_id = 0;
    bool changed = false;
  };
  std::vector<Part> parts;
};

/// The periodic box of a world: [lo, hi) per axis, len = hi - lo. Only the axes of the
/// program's periodic mask wrap; the bounds of the others are kept but unused.
struct Box {
  bool periodic[3] = {false, false, false};
  double lo[3] = {0, 0, 0}, hi[3] = {0, 0, 0}, len[3] = {0, 0, 0};
};

/// Precision-independent interface (what the NIF holds).
class WorldBase {
 public:
  virtual ~WorldBase() = default;
  virtual Precision precision() const noexcept = 0;
  const Program& program() const noexcept { return *program_; }
  const std::shared_ptr<const Program>& program_ptr() const noexcept { return program_; }
  std::size_t count(uint32_t type) const { return counts_.at(type); }
  const std::vector<std::size_t>& counts() const noexcept { return counts_; }
  std::size_t capacity(uint32_t type) const { return column_capacity(counts_.at(type)); }
  /// Bytes held by the columns of every type.
  std::size_t column_bytes() const;

  /// Storage order (docs/engine.md, "Storage order"). The engine may keep the agents of a type
  /// in a different order than the caller's (cell-list sweeps sort them by cell); get, set and
  /// pack always speak the caller's order. row(type, i) is the column row holding agent i;
  /// agent_at(type, r) is the agent held at row r. Both are the identity until a reorder.
  std::size_t row(uint32_t type, std::size_t i) const {
    const std::vector<uint32_t>& r = rows_[type];
    return r.empty() ? i : r[i];
  }
  std::size_t agent_at(uint32_t type, std::size_t r) const {
    const std::vector<uint32_t>& a = agents_[type];
    return a.empty() ? r : a[r];
  }
  /// The agent held at each row (agent_at for every row), or nullptr while the rows of `type`
  /// are in the caller's order.
  const uint32_t* agents(uint32_t type) const {
    const std::vector<uint32_t>& a = agents_.at(type);
    return a.empty() ? nullptr : a.data();
  }
  /// True while the rows of `type` are in the caller's order.
  bool in_caller_order(uint32_t type) const { return rows_.at(type).empty(); }
  /// Bumped by every reorder of `type`: lets the engine notice that its rows have moved.
  uint64_t order_epoch(uint32_t type) const { return order_epoch_.at(type); }

  /// Lane value as double (exact for both precisions).
  virtual double get(uint32_t type, uint32_t lane, std::size_t i) const = 0;
  /// Sets a lane value; in f32 worlds the value is rounded (out-of-range values become +-inf).
  virtual void set(uint32_t type, uint32_t lane, std::size_t i, double v) = 0;
  /// Writes count * n_lanes values of the world's precision, agent-major, to `out`
  /// (which must hold count * n_lanes * element_size() bytes).
  virtual void pack(uint32_t type, uint32_t first_lane, uint32_t n_lanes, void* out) const = 0;
  virtual std::size_t element_size() const noexcept = 0;

  /// Saves lanes[type] (lane indices) of every type, and the step counter, into `into`,
  /// replacing what it held. A type with whole[type] set (a run may remove or spawn its agents)
  /// is saved whole: every lane, its count, row maps, identities and next identity.
  virtual void save(WorldSnapshot& into, const std::vector<std::vector<uint32_t>>& lanes,
                    const std::vector<uint8_t>& whole = {}) const = 0;
  /// Puts the saved lanes and step counter back, each agent's values into the row that holds it
  /// now (the rows may have been reordered since), and drops the engine's cache (neighbour
  /// lists built from the values being undone).
  virtual void restore(const WorldSnapshot& from) = 0;

  /// Sets the box (finite bounds, hi > lo per axis; ArgumentError naming :box otherwise); the
  /// periodic axes come from the program. A periodic program needs one before it runs.
  void set_box(const double lo[3], const double hi[3]);
  bool has_box() const noexcept { return has_box_; }
  const Box& box() const noexcept { return box_; }
  /// Whether axis d of type's coordinates wraps (a periodic axis of a type with coordinates).
  bool wraps(uint32_t type, int d) const {
    return has_box_ && box_.periodic[d] && program_->coord_lane(type) != kNoCoord;
  }
  /// Image counters of `type`: times each agent (caller order) has crossed the box per axis,
  /// agent * 3 + axis. Empty for a type that does not wrap.
  const std::vector<int64_t>& images(uint32_t type) const { return images_.at(type); }
  std::vector<int64_t>& images(uint32_t type) { return images_.at(type); }

  /// Wraps the coordinates of `type` into the box on every periodic axis and counts the
  /// crossings in its image counters (docs/engine.md, "Periodic box"); non-finite values are
  /// left as they are. True when a value changed.
  virtual bool wrap(uint32_t type) = 0;
  /// wrap() for every type with coordinates.
  bool wrap_all();
  /// pack() with the coordinate lanes of periodic axes unwrapped: x + image * len.
  virtual void pack_unwrapped(uint32_t type, uint32_t first_lane, uint32_t n_lanes,
                              void* out) const = 0;

  /// Identities (docs/program.md, "Random numbers"): the identity of agent i (caller order)
  /// of `type`. An agent keeps its identity for life; agents present at creation have their
  /// index, spawned agents the type's next identity (next_id), never reused.
  uint32_t id(uint32_t type, std::size_t i) const {
    const std::vector<uint32_t>& ids = ids_[type];
    return ids.empty() ? static_cast<uint32_t>(i) : ids[i];
  }
  uint64_t next_id(uint32_t type) const { return next_id_.at(type); }
  /// The identity of every agent of `type` in the caller's order, or nullptr while they are
  /// the indices.
  const uint32_t* ids(uint32_t type) const {
    const std::vector<uint32_t>& ids = ids_.at(type);
    return ids.empty() ? nullptr : ids.data();
  }
  /// Whether agents of `type` have been removed or spawned (its identities are no longer the
  /// indices 0 .. count - 1 of the agents the world was created with).
  bool has_ids(uint32_t type) const { return changed_.at(type) != 0; }
  /// Sets the identities of the count(type) agents of `type` (caller order) and the type's
  /// next identity, as a checkpoint holds them (ids nullptr: the indices). Identities must be
  /// distinct and below next_id, and next_id in count .. 2^32; ArgumentError otherwise. Indices
  /// with next_id == count are the identities of a world whose agents never changed.
  void set_identities(uint32_t type, const uint32_t* ids, uint64_t next_id);
  /// Sets the image counters of `type` (count(type) * 3 values, agent * 3 + axis); only a type
  /// that wraps has them (ArgumentError otherwise).
  void set_images(uint32_t type, const int64_t* images, std::size_t n);

  /// Children spawned into one type by one rule application: per child (in order) its lanes,
  /// lanes(type) values each, agent-major, and its identity (assigned by apply_lifecycle).
  /// `rows`, when not empty, is where they go in storage order (a permutation of 0 .. n - 1:
  /// the k-th appended row holds child rows[k]); it is followed only where the type's rows
  /// are not in the caller's order (there the children stay in their own order).
  struct Spawned {
    std::vector<double> values;
    std::size_t n = 0;
    std::vector<uint32_t> rows;
  };
  /// How apply_lifecycle moved the rows of one type, for the engine's per-row caches (the
  /// neighbour lists follow the rows instead of being built again): old row r is now row
  /// to[r], or kGoneRow when its agent was removed (`to` is empty when none was); then
  /// `appended` children at rows [survivors, survivors + appended). The type's order_epoch
  /// went from epoch_before to epoch_after (equal when the type did not change).
  struct RowMoves {
    static constexpr uint32_t kGoneRow = UINT32_MAX;
    std::vector<uint32_t> to;
    std::size_t old_count = 0, survivors = 0, appended = 0;
    uint64_t epoch_before = 0, epoch_after = 0;
  };
  /// Ends a rule application that removes or spawns agents (docs/engine.md, "Agent
  /// lifecycle"): the agents of `type` held at the rows with dead[r] set (storage order;
  /// empty: none) are removed, the survivors keep their relative order (the caller's and the
  /// storage order both), and children[t] are appended to type t, last in both orders (in
  /// their own order in the caller's, in Spawned::rows order in storage), with fresh
  /// identities and zero image counters. The rows are not put back in the caller's
  /// order: the moves returned (one per type) tell the engine where its rows went. Up to
  /// `threads` OpenMP threads move the columns and renumber the maps. Throws ArgumentError
  /// when identities run out (2^32 per type), and, before any change, when a type's
  /// Spawned::rows is not a permutation of its children.
  virtual std::vector<RowMoves> apply_lifecycle(uint32_t type, const std::vector<uint8_t>& dead,
                                                const std::vector<Spawned>& children,
                                                int threads = 1) = 0;

  /// An independent deep copy: agents, storage order, identities, next identities, image
  /// counters, box, seed, step counter and params. The engine's cache is not copied (the copy
  /// builds its own on its first run).
  virtual std::unique_ptr<WorldBase> clone() const = 0;

  /// The engine's cache for this world (null until the engine sets one).
  std::unique_ptr<EngineCache>& engine_cache() noexcept { return engine_cache_; }

  /// Params (index 0 is dt; run_steps() overrides it per call). Size n_params.
  std::vector<double>& params() noexcept { return params_; }
  const std::vector<double>& params() const noexcept { return params_; }

  /// The seed of UNIFORM and NORMAL (docs/program.md, "Random numbers"); 0 unless set.
  uint32_t seed() const noexcept { return seed_; }
  void set_seed(uint32_t seed) noexcept { seed_ = seed; }
  /// The step counter: the index of the next step to run. run_steps() runs step step() + k as
  /// the k-th step of a call and advances the counter by every complete step; save() and
  /// restore() take it along.
  uint64_t step() const noexcept { return step_; }
  void set_step(uint64_t step) noexcept { step_ = step; }

 protected:
  WorldBase(std::shared_ptr<const Program> program, std::vector<std::size_t> counts);
  // Copies every member of `from` but the engine's cache (clone()).
  void copy_base(const WorldBase& from);
  std::shared_ptr<const Program> program_;
  std::vector<std::size_t> counts_;
  std::vector<double> params_;
  std::vector<std::vector<uint32_t>> rows_;    // per type: agent -> row (empty: identity)
  std::vector<std::vector<uint32_t>> agents_;  // per type: row -> agent (empty: identity)
  std::vector<uint64_t> order_epoch_;          // per type
  std::unique_ptr<EngineCache> engine_cache_;
  Box box_;
  bool has_box_ = false;
  uint32_t seed_ = 0;
  uint64_t step_ = 0;
  std::vector<std::vector<int64_t>> images_;  // per type: agent * 3 + axis
  std::vector<std::vector<uint32_t>> ids_;    // per type: agent -> identity (empty: index)
  std::vector<uint64_t> next_id_;             // per type
  std::vector<uint8_t> changed_;              // per type: has_ids
};

template <class T>
class World final : public WorldBase {
  static_assert(std::is_same<T, double>::value || std::is_same<T, float>::value, "f64 or f32");

 public:
  /// One zero-filled column per lane of every type; counts.size() must equal n_types.
  World(std::shared_ptr<const Program> program, std::vector<std::size_t> counts);

  Precision precision() const noexcept override {
    return std::is_same<T, double>::value ? Precision::F64 : Precision::F32;
  }
  T* column(uint32_t type, uint32_t lane) { return columns_.at(type).at(lane).data(); }
  const T* column(uint32_t type, uint32_t lane) const { return columns_.at(type).at(lane).data(); }
  double get(uint32_t type, uint32_t lane, std::size_t i) const override;
  void set(uint32_t type, uint32_t lane, std::size_t i, double v) override;
  void pack(uint32_t type, uint32_t first_lane, uint32_t n_lanes, void* out) const override;
  std::size_t element_size() const noexcept override { return sizeof(T); }
  void save(WorldSnapshot& into, const std::vector<std::vector<uint32_t>>& lanes,
            const std::vector<uint8_t>& whole = {}) const override;
  void restore(const WorldSnapshot& from) override;
  std::unique_ptr<WorldBase> clone() const override;
  std::vector<RowMoves> apply_lifecycle(uint32_t type, const std::vector<uint8_t>& dead,
                                        const std::vector<Spawned>& children,
                                        int threads = 1) override;
  bool wrap(uint32_t type) override;
  void pack_unwrapped(uint32_t type, uint32_t first_lane, uint32_t n_lanes,
                      void* out) const override;

  /// Reorders the rows of `type`: new row k holds what row perm[k] held, in every lane
  /// (perm is a permutation of 0 .. count(type) - 1). Column addresses do not change. Uses up
  /// to `threads` OpenMP threads.
  void reorder(uint32_t type, const uint32_t* perm, int threads = 1);
  /// Puts the rows of `type` back in the caller's order (no-op when they are).
  void restore_caller_order(uint32_t type, int threads = 1);

 private:
  // Gives `type` room for `n` agents (a larger allocation when needed, values kept).
  void grow(uint32_t type, std::size_t n);

  std::vector<std::vector<AlignedBuffer<T>>> columns_;  // [type][lane]
  AlignedBuffer<T> spare_;                              // reorder's scratch column
  std::vector<uint32_t> map_spare_;                     // apply_lifecycle's next agent -> row
};

/// Creates a World<double> or World<float>.
std::unique_ptr<WorldBase> make_world(std::shared_ptr<const Program> program,
                                      std::vector<std::size_t> counts, Precision precision);

/// The wrap of one coordinate value x into [lo, hi) (docs/engine.md, "Periodic box"): the
/// value to store, in double, and the crossings k added to the image counter. Non-finite x
/// and x already inside are returned unchanged with k = 0.
template <class T>
inline double wrap_coordinate(double x, double lo, double hi, double len, int64_t& k);

/// double -> T without undefined behaviour (f32: out-of-range finite values become +-inf).
template <class T>
inline T to_precision(double v) noexcept {
  if (std::is_same<T, float>::value) {
    constexpr double kMax = 3.4028234663852886e38;
    if (v > kMax) {
      // Values that round to FLT_MAX are below kMax + half an ulp.
      if (v < 3.4028235677973366e38) return static_cast<T>(kMax);
      return static_cast<T>(__builtin_inf());
    }
    if (v < -kMax) {
      if (v > -3.4028235677973366e38) return static_cast<T>(-kMax);
      return static_cast<T>(-__builtin_inf());
    }
  }
  return static_cast<T>(v);
}

template <class T>
inline double wrap_coordinate(double x, double lo, double hi, double len, int64_t& k) {
  k = 0;
  if (!std::isfinite(x) || (lo <= x && x < hi)) return x;
  // The pure-Elixir backend repeats this arithmetic bit for bit in f64.
  double kf = std::floor((x - lo) / len);
  double y = x - kf * len;
  if (y >= hi) {
    y -= len;
    kf += 1;
  }
  if (y < lo) y = lo;
  // f32: a value just below hi may round up to it.
  if (double(to_precision<T>(y)) >= hi) y = double(to_precision<T>(lo));
  // Saturated: only a value some 1e18 boxes away gets there.
  k = kf >= 9.2e18 ? INT64_MAX : kf <= -9.2e18 ? INT64_MIN : static_cast<int64_t>(kf);
  return double(to_precision<T>(y));
}

}  // namespace brz
