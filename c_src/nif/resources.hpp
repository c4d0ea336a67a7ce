// The two resource types of the NIF, program and world, and the per-call guards of a world:
// exclusive use of its columns (WorldLock) and the watch on a run's caller (CallerMonitor).
#pragma once

#include <erl_nif.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "brz/executor.hpp"
#include "brz/generated.hpp"
#include "brz/program.hpp"
#include "brz/rule_path.hpp"
#include "brz/world.hpp"
#include "nif/layout.hpp"
#include "nif/resource.hpp"

namespace brz::nif {

struct ProgramRes {
  ProgramRes(std::shared_ptr<const brz::Program> p, std::shared_ptr<const brz::KernelLibrary> k,
             std::string error) noexcept
      : prog(std::move(p)), kernels(std::move(k)), kernel_error(std::move(error)) {}
  std::shared_ptr<const brz::Program> prog;
  // Generated kernels (docs/kernels.md); null when none was given or it was rejected, in which
  // case kernel_error says why (empty when none was given).
  std::shared_ptr<const brz::KernelLibrary> kernels;
  std::string kernel_error;
};

struct WorldRes {
  /// `counts` has one element per agent type (allocated by the caller: construction cannot
  /// fail); it is set from the world.
  WorldRes(ProgramRes* p, std::unique_ptr<brz::WorldBase> w, std::vector<TypeInfo> t,
           std::vector<std::atomic<uint64_t>> counts) noexcept;
  ~WorldRes();
  WorldRes(const WorldRes&) = delete;
  WorldRes& operator=(const WorldRes&) = delete;
  // Declared before `world`, so released after the world is destroyed.
  ResourceRef<ProgramRes> prog_res;
  std::unique_ptr<brz::WorldBase> world;
  std::vector<TypeInfo> types;
  // Held (true) by the one call that reads or writes the columns; a call that finds it held
  // returns :busy at once instead of blocking its dirty scheduler (docs/nif.md, "Busy worlds").
  std::atomic<bool> busy{false};
  // The process running native_run_steps is monitored; its death sets `cancel`, which the
  // engine polls inside the run (docs/nif.md, "Cancellation").
  std::mutex mon_mu;
  ErlNifMonitor mon{};
  bool monitoring = false;  // guarded by mon_mu
  int cancel = 0;           // atomic access only (__atomic builtins)
  // What native_run_steps saves before running and restores when the run raises or is
  // cancelled; kept between calls so that saving allocates nothing new.
  brz::WorldSnapshot undo;
  // Whether `undo` holds the world as it was before a run that has completed so far, and that
  // run's rules: a continuation of it (native_run_steps(..., true)) keeps `undo` instead of
  // saving, so that its failure undoes the whole run. Guarded by the WorldLock.
  bool undo_open = false;
  std::vector<uint32_t> undo_rules;
  // The written flags of the fields (TypeInfo) when `undo` was saved, put back with it.
  std::vector<uint8_t> undo_written;
  // Generated kernels allowed (world_set_options(kernels: false) turns it off).
  std::atomic<bool> use_kernels{true};
  // Sweeps per rule path and neighbour lists built by native_run_steps since the world was
  // created (world_info's :sweeps and :neighbour_builds).
  std::array<std::atomic<uint64_t>, brz::kRulePaths> path_sweeps{};
  std::atomic<uint64_t> neighbour_builds{0};
  // Seconds spent by native_run_steps since the world was created: in all, in pair sweeps and
  // in neighbour work (world_info's :timings). Written only under the WorldLock.
  std::atomic<double> run_seconds{0}, pair_seconds{0}, neighbour_seconds{0};
  // The world's step counter as of the end of the last native_run_steps (world_info's :step,
  // read without the WorldLock while a run may be advancing the world's own).
  std::atomic<uint64_t> step{0};
  // The world's agent counts per type as of the end of the last native_run_steps (world_info's
  // :counts; rules that remove or spawn change them while a run holds the lock).
  std::vector<std::atomic<uint64_t>> counts;
  void publish_counts() noexcept {
    for (std::size_t t = 0; t < world->counts().size(); ++t) counts[t].store(world->counts()[t]);
  }
};

using Programs = Resource<ProgramRes>;
using Worlds = Resource<WorldRes>;

/// Registers both resource types; false when the BEAM refuses one.
bool open_resource_types(ErlNifEnv* env, ErlNifResourceFlags flags);

ProgramRes* get_program(ErlNifEnv* env, ERL_NIF_TERM term);
WorldRes* get_world(ErlNifEnv* env, ERL_NIF_TERM term);

/// World resources whose destructor has not run.
long live_worlds();

/// Executor options of a world: its program's generated kernels, unless turned off for it.
brz::ExecOptions exec_options(const WorldRes& w);

// Exclusive use of a world's columns for one call, without waiting: owned() is false when
// another call holds them, and the NIF then returns :busy.
class WorldLock {
 public:
  explicit WorldLock(WorldRes* w) noexcept
      : w_(w), owned_(!w->busy.exchange(true, std::memory_order_acquire)) {}
  WorldLock(const WorldLock&) = delete;
  WorldLock& operator=(const WorldLock&) = delete;
  ~WorldLock() {
    if (owned_) w_->busy.store(false, std::memory_order_release);
  }
  bool owned() const noexcept { return owned_; }

 private:
  WorldRes* w_;
  bool owned_;
};

// Monitors the calling process for the duration of a run: its death sets the world's cancel
// flag (world_down). The destructor removes the monitor.
class CallerMonitor {
 public:
  CallerMonitor(ErlNifEnv* env, WorldRes* w);
  CallerMonitor(const CallerMonitor&) = delete;
  CallerMonitor& operator=(const CallerMonitor&) = delete;
  ~CallerMonitor();

 private:
  ErlNifEnv* env_;
  WorldRes* w_;
};

}  // namespace brz::nif
