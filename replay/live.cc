#include "replay/live.h"

#include <sys/resource.h>
#include <unistd.h>

#include <chrono>

#include "engine/units.h"
#include "replay/transport_stack.h"

namespace pflab::replay {

Status CheckConnectionCount(std::uint64_t connections, bool in_process_server) {
  if (connections == 0) return InvalidArgument("connections: must be at least 1");
  if (connections > kMaxConnections) {
    return InvalidArgument("connections: " + std::to_string(connections) + " is above the limit of " +
                           std::to_string(kMaxConnections) + " (each connection is a worker thread)");
  }
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return OkStatus();
  const std::uint64_t needed = connections * (in_process_server ? 2 : 1) + kSpareDescriptors;
  if (needed <= limit.rlim_cur) return OkStatus();
  return InvalidArgument("connections: " + std::to_string(connections) + " need about " + std::to_string(needed) +
                         " open files (a socket per connection" +
                         (in_process_server ? std::string(", and the in-process fake server's end of each") : "") +
                         ", plus " + std::to_string(kSpareDescriptors) +
                         " to spare), above this process's open-file limit of " + std::to_string(limit.rlim_cur) +
                         " (RLIMIT_NOFILE; raise it with `ulimit -n`)");
}

Result<std::uint32_t> RealRunConnections(std::optional<std::uint32_t> asked, std::uint32_t profile_max_connections,
                                         bool in_process_server) {
  const std::uint32_t connections = asked.value_or(profile_max_connections);
  if (auto s = CheckConnectionCount(connections, in_process_server); !s) {
    if (asked) return s.error();
    return InvalidArgument(s.error().message + " (the profile's max_connections; pass --connections to choose)");
  }
  return connections;
}

std::uint64_t MaxLiveReadBytes() {
  const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGESIZE);
  if (pages <= 0 || page <= 0) return std::uint64_t{1} << 30;  // unknown: 1 GiB
  return static_cast<std::uint64_t>(pages) / 4 * static_cast<std::uint64_t>(page);
}

Result<RunResult> RunLive(const SimulationConfig& config, const LiveOptions& live) {
  const std::uint64_t max_read = MaxLiveReadBytes();
  for (std::size_t i = 0; i < config.trace->records.size(); ++i) {
    const auto& r = config.trace->records[i];
    if (r.length > max_read) {
      return InvalidArgument("trace " + config.trace->name + ": read " + std::to_string(i + 1) + " of " +
                             std::to_string(r.length) + " bytes is larger than " + FormatSize(max_read) +
                             ", a quarter of this machine's memory: a real-time run holds each read's bytes in "
                             "memory (the simulator does not; use --transport sim)");
    }
  }
  const auto wall_start = std::chrono::steady_clock::now();
  // Declared first so it is destroyed last: completions still queued on the scheduler hold chunks.
  MemoryAccount account;
  AsioScheduler scheduler;
  TransportStackOptions options;
  options.backend = TransportStackOptions::Backend::kHttp;
  options.profile = config.profile;
  options.seed = config.seed;
  options.live = &live;
  options.faults = config.faults;
  auto stack = MakeTransportStack(&scheduler, options);
  if (!stack) return stack.error();
  // Real runs are heard from as their reads complete (Replayer::set_progress) only.
  auto result = Replay(config, scheduler, (*stack)->top(), account, [&](const std::function<void()>&) {
    if (live.run_limit > 0) {
      scheduler.RunFor(live.run_limit);
    } else {
      scheduler.Run();
    }
  });
  if (!result) return result;
  result->metrics.cost_usd = (*stack)->CostUsd();
  result->wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  return result;
}

}  // namespace pflab::replay
