// One run in real time against an HTTP endpoint (the fake GCS server or live GCS): the same replayer,
// policies and fetcher as the simulator, over HttpTransport on an AsioScheduler.
#pragma once

#include <map>
#include <optional>
#include <string>

#include "net/http_transport.h"
#include "replay/simulation.h"

namespace pflab::replay {

/// Where and how a real-time run reaches the objects.
struct LiveOptions {
  HttpEndpoint endpoint;
  HttpTransportOptions http;
  /// Where each trace object is read instead of where TraceObjectRef names it, keyed by that ref's
  /// "bucket/name": objects mapped with --object or created for the run (replay/live_objects.h). The
  /// value's generation is pinned and its size (at least the trace's) is what responses are checked
  /// against; the replay itself still sees the trace's object.
  std::map<std::string, ObjectRef> objects;
  /// Wall time a run may take; 0: no limit. A run stopped by it records its unfinished reads as a hang
  /// (the fault suite's watchdog).
  Nanos run_limit = 0;
};

/// Most connections a real-time run opens: HttpTransport runs a worker thread per connection.
inline constexpr std::uint32_t kMaxConnections = 1024;
/// Descriptors kept free for everything but connections (trace and results files, event logs, the
/// server's listening socket, the scheduler's wake-up pipes).
inline constexpr std::uint64_t kSpareDescriptors = 64;

/// Checks a connection count before a real-time run: at least 1, at most kMaxConnections, and within
/// the process's open-file limit (RLIMIT_NOFILE) with kSpareDescriptors to spare: a connection is a
/// socket, and with the fake server in this process (`in_process_server`) the server's end is a second
/// one. The message starts with "connections" and names the limit.
Status CheckConnectionCount(std::uint64_t connections, bool in_process_server);

/// The connections of a real-time run: `asked` (--connections) when given, else the profile's
/// max_connections, the limit the simulator models for the same runs (a real run with fewer queues
/// what the prediction runs at once). Checked as CheckConnectionCount does; an error from the
/// profile's number says that it came from there.
Result<std::uint32_t> RealRunConnections(std::optional<std::uint32_t> asked, std::uint32_t profile_max_connections,
                                         bool in_process_server);

/// Largest read a real-time run accepts: a quarter of this machine's physical memory. The transport
/// holds each fetch's bytes in one buffer, so a larger read would exhaust memory instead of failing.
std::uint64_t MaxLiveReadBytes();

/// Replays `config.trace` through `config.policy` against `live.endpoint`, reading each trace object
/// as TraceObjectRef names it, through the stack MakeTransportStack builds (replay/transport_stack.h):
/// `config.faults` are injected client-side, and cost is estimated with `config.profile`'s prices from
/// the requests billed and the bytes received. With verify_bytes, every delivered byte must equal the synthetic content
/// (as the fake server serves it). `events_run` is 0: real time has no event count. A trace with a
/// read above MaxLiveReadBytes() is refused before anything is sent.
Result<RunResult> RunLive(const SimulationConfig& config, const LiveOptions& live);

}  // namespace pflab::replay
