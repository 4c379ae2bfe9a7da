#include "replay/matrix.h"

#include <atomic>
#include <mutex>
#include <thread>

#include "replay/fake_server.h"

namespace pflab::replay {

Result<TransportKind> ParseTransportKind(const std::string& text) {
  if (text == "sim") return TransportKind::kSim;
  if (text == "fake") return TransportKind::kFake;
  if (text == "http") return TransportKind::kHttp;
  return InvalidArgument("'" + text + "' is not one of sim, fake, http");
}

const char* ToString(TransportKind kind) {
  switch (kind) {
    case TransportKind::kSim: return "sim";
    case TransportKind::kFake: return "fake";
    case TransportKind::kHttp: return "http";
  }
  return "?";
}

RunCell CellAt(const RunPlan& plan, std::size_t index) {
  RunCell cell;
  cell.index = index;
  cell.seed = index % plan.seeds.size();
  cell.policy = index / plan.seeds.size() % plan.policies.size();
  cell.trace = index / plan.seeds.size() / plan.policies.size();
  return cell;
}

SimulationConfig CellConfig(const RunPlan& plan, const RunCell& cell) {
  SimulationConfig config;
  config.trace = plan.traces[cell.trace];
  config.policy = plan.policies[cell.policy];
  config.profile_name = plan.profile_name;
  config.profile = plan.profile;
  config.seed = plan.seeds[cell.seed];
  config.think = plan.think;
  config.verify_bytes = plan.verify_bytes;
  return config;
}

Status RunMatrix(const RunPlan& plan, const RunHooks& hooks) {
  std::vector<std::size_t> cells(plan.size());
  for (std::size_t i = 0; i < cells.size(); ++i) cells[i] = i;
  return RunCells(plan, hooks, cells);
}

Status RunCells(const RunPlan& plan, const RunHooks& hooks, const std::vector<std::size_t>& order) {
  if (plan.seeds.empty()) return InvalidArgument("no seeds to run");
  if (order.empty()) return OkStatus();
  for (std::size_t i : order) {
    if (i >= plan.size()) return InvalidArgument("cell " + std::to_string(i) + " is not in the plan");
  }

  LiveOptions live = plan.live;
  std::unique_ptr<fake_gcs::FakeGcsServer> fake;
  if (plan.transport == TransportKind::kFake) {
    auto started = StartFakeServer(plan.traces, plan.profile, plan.seeds.front());
    if (!started) return Error{started.error().code, "fake GCS server: " + started.error().message};
    fake = std::move(*started);
    live.endpoint = *HttpEndpoint::Parse(fake->endpoint());
    if (hooks.on_note) hooks.on_note("fake GCS server at " + fake->endpoint() + ", shaped as " + plan.profile_name);
  }

  std::mutex mutex;  // serializes the hooks
  // Stacks with a layer that shares process-wide state (Python policies: one interpreter) run one at a
  // time, whatever the number of threads; other cells still run beside them.
  static std::mutex one_at_a_time;
  std::vector<bool> serial(plan.policies.size());
  for (std::size_t i = 0; i < plan.policies.size(); ++i) serial[i] = policies::RunsOneAtATime(plan.policies[i]);
  std::atomic<std::size_t> next{0};
  std::atomic<bool> stop{false};
  auto worker = [&] {
    for (;;) {
      if (stop.load()) return;
      const std::size_t i = next.fetch_add(1);
      if (i >= order.size()) return;
      const RunCell cell = CellAt(plan, order[i]);
      SimulationConfig config = CellConfig(plan, cell);
      {
        std::lock_guard lock(mutex);
        if (hooks.on_start) hooks.on_start(cell);
        if (hooks.sink) config.event_log = hooks.sink(cell);
      }
      std::unique_lock<std::mutex> serial_lock(one_at_a_time, std::defer_lock);
      if (serial[cell.policy]) serial_lock.lock();
      Result<RunResult> result = plan.transport == TransportKind::kSim ? RunSimulation(config) : RunLive(config, live);
      if (serial_lock.owns_lock()) serial_lock.unlock();
      std::lock_guard lock(mutex);
      if (hooks.on_finish && !hooks.on_finish(cell, std::move(result))) stop = true;
    }
  };
  const unsigned threads = plan.transport == TransportKind::kSim
                               ? static_cast<unsigned>(std::min<std::size_t>(std::max(1u, hooks.jobs), order.size()))
                               : 1;
  if (threads <= 1) {
    worker();
  } else {
    std::vector<std::thread> pool;
    for (unsigned t = 0; t < threads; ++t) pool.emplace_back(worker);
    for (auto& thread : pool) thread.join();
  }
  return OkStatus();
}

}  // namespace pflab::replay
