// The in-process fake GCS server of `pflab compare --transport fake`: shaped like a network profile and
// serving every trace object as a synthetic object, so the real engine reads what the simulator models.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <vector>

#include "fake_gcs/server.h"
#include "netmodel/network_profile.h"
#include "replay/simulation.h"
#include "traces/trace.h"

namespace pflab::replay {

/// Starts a server on 127.0.0.1 (free port) shaped by `profile` (the server imposes its first-byte
/// latency and per-connection bandwidth; see fake_gcs::ServerOptions::shaping), with the objects of `traces` as
/// synthetic objects named as TraceObjectRef names them. The server draws the run's fault profile,
/// RunFaultProfile(faults, profile.failure_probability, seed), the same a simulated run injects; a
/// fault script is a retry test's (see RunCells), not the server's.
Result<std::unique_ptr<fake_gcs::FakeGcsServer>> StartFakeServer(const std::vector<const traces::Trace*>& traces,
                                                                 const netmodel::NetworkProfile& profile,
                                                                 std::uint64_t seed, const RunFaults& faults = {});

}  // namespace pflab::replay
