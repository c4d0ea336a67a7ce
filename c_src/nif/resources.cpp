#include "nif/resources.hpp"

namespace brz::nif {

namespace {

std::atomic<long> g_live_worlds{0};

// The monitored caller of native_run_steps died: ask the engine to stop (only for the monitor
// of the run in progress; a late one from an earlier run is ignored).
void world_down(ErlNifEnv*, void* obj, ErlNifPid*, ErlNifMonitor* mon) {
  WorldRes* w = static_cast<WorldRes*>(obj);
  std::lock_guard<std::mutex> lock(w->mon_mu);
  if (w->monitoring && enif_compare_monitors(mon, &w->mon) == 0)
    __atomic_store_n(&w->cancel, 1, __ATOMIC_RELAXED);
}

}  // namespace

WorldRes::WorldRes(ProgramRes* p, std::unique_ptr<brz::WorldBase> w, std::vector<TypeInfo> t,
                   std::vector<std::atomic<uint64_t>> c) noexcept
    : prog_res(p),
      world(std::move(w)),
      types(std::move(t)),
      step(world->step()),
      counts(std::move(c)) {
  publish_counts();
  ++g_live_worlds;
}

WorldRes::~WorldRes() { --g_live_worlds; }

bool open_resource_types(ErlNifEnv* env, ErlNifResourceFlags flags) {
  const bool programs = Programs::open(env, "brz_program", flags);
  const bool worlds = Worlds::open(env, "brz_world", flags, world_down);
  return programs && worlds;
}

ProgramRes* get_program(ErlNifEnv* env, ERL_NIF_TERM term) {
  return Programs::get(env, term, "expected a program resource (from program_new/1)");
}

WorldRes* get_world(ErlNifEnv* env, ERL_NIF_TERM term) {
  return Worlds::get(env, term, "expected a world resource (from world_new/7)");
}

long live_worlds() { return g_live_worlds.load(); }

brz::ExecOptions exec_options(const WorldRes& w) {
  brz::ExecOptions o;
  o.generated = w.prog_res->kernels.get();
  o.use_generated = w.use_kernels.load();
  return o;
}

CallerMonitor::CallerMonitor(ErlNifEnv* env, WorldRes* w) : env_(env), w_(w) {
  std::lock_guard<std::mutex> lock(w->mon_mu);
  __atomic_store_n(&w->cancel, 0, __ATOMIC_RELAXED);
  ErlNifPid self;
  if (enif_self(env, &self) == nullptr || enif_monitor_process(env, w, &self, &w->mon) != 0) {
    // No process to watch or already dead: nothing to run for.
    __atomic_store_n(&w->cancel, 1, __ATOMIC_RELAXED);
    return;
  }
  w->monitoring = true;
}

CallerMonitor::~CallerMonitor() {
  std::lock_guard<std::mutex> lock(w_->mon_mu);
  if (w_->monitoring) enif_demonitor_process(env_, w_, &w_->mon);
  w_->monitoring = false;
}

}  // namespace brz::nif
