// World<T>: Structure-of-Arrays storage of every agent of every type, T = double or float.
#pragma once

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

  /// Lane value as double (exact for both precisions).
  virtual double get(uint32_t type, uint32_t lane, std::size_t i) const = 0;
  /// Sets a lane value; in f32 worlds the value is rounded (out-of-range values become +-inf).
  virtual void set(uint32_t type, uint32_t lane, std::size_t i, double v) = 0;
  /// Writes count * n_lanes values of the world's precision, agent-major, to `out`
  /// (which must hold count * n_lanes * element_size() bytes).
  virtual void pack(uint32_t type, uint32_t first_lane, uint32_t n_lanes, void* out) const = 0;
  virtual std::size_t element_size() const noexcept = 0;

  /// Params (index 0 is dt; integrate() overrides it per call). Size n_params.
  std::vector<double>& params() noexcept { return params_; }
  const std::vector<double>& params() const noexcept { return params_; }

 protected:
  WorldBase(std::shared_ptr<const Program> program, std::vector<std::size_t> counts);
  std::shared_ptr<const Program> program_;
  std::vector<std::size_t> counts_;
  std::vector<double> params_;
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

 private:
  std::vector<std::vector<AlignedBuffer<T>>> columns_;  // [type][lane]
};

/// Creates a World<double> or World<float>.
std::unique_ptr<WorldBase> make_world(std::shared_ptr<const Program> program,
                                      std::vector<std::size_t> counts, Precision precision);

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

}  // namespace brz
