#include "replay/live.h"

#include <chrono>

namespace pflab::replay {

Result<RunResult> RunLive(const SimulationConfig& config, const LiveOptions& live) {
  const auto wall_start = std::chrono::steady_clock::now();
  // Declared first so it is destroyed last: completions still queued on the scheduler hold chunks.
  MemoryAccount account;
  AsioScheduler scheduler;
  HttpTransport transport(&scheduler, live.endpoint, live.http);
  auto result = Replay(config, scheduler, transport, account, [&] {
    if (live.run_limit > 0) {
      scheduler.RunFor(live.run_limit);
    } else {
      scheduler.Run();
    }
  });
  if (!result) return result;
  result->metrics.cost_usd =
      static_cast<double>(transport.requests()) * config.profile.usd_per_request +
      static_cast<double>(transport.bytes_received()) / static_cast<double>(1ull << 30) * config.profile.usd_per_gib;
  result->wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  return result;
}

}  // namespace pflab::replay
