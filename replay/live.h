// One run in real time against an HTTP endpoint (the fake GCS server or live GCS): the same replayer,
// policies and fetcher as the simulator, over HttpTransport on an AsioScheduler.
#pragma once

#include "engine/http_transport.h"
#include "replay/simulation.h"

namespace pflab::replay {

/// Where and how a real-time run reaches the objects.
struct LiveOptions {
  HttpEndpoint endpoint;
  HttpTransportOptions http;
  /// Wall time a run may take; 0: no limit. A run stopped by it records its unfinished reads as a hang
  /// (the fault suite's watchdog).
  Nanos run_limit = 0;
};

/// Replays `config.trace` through `config.policy` against `live.endpoint`, reading each trace object
/// as TraceObjectRef names it. Cost is estimated with `config.profile`'s prices from the requests sent
/// and the bytes received. With verify_bytes, every delivered byte must equal the synthetic content
/// (as the fake server serves it). `events_run` is 0: real time has no event count.
Result<RunResult> RunLive(const SimulationConfig& config, const LiveOptions& live);

}  // namespace pflab::replay
