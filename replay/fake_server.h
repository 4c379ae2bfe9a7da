// The in-process fake GCS server of `pflab compare --transport fake`: shaped like a network profile and
// serving every trace object as a synthetic object, so the real engine reads what the simulator models.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <vector>

#include "fake_gcs/server.h"
#include "netmodel/network_profile.h"
#include "traces/trace.h"

namespace pflab::replay {

/// Starts a server on 127.0.0.1 (free port) shaped by `profile` (the server imposes its first-byte
/// latency and per-connection bandwidth; see fake_gcs::ServerOptions::shaping), with the objects of `traces` as
/// synthetic objects named as TraceObjectRef names them; a profile failure probability becomes a
/// seeded return-503 fault on media reads. `faults`, when not null, is a fault profile (the JSON of
/// fake_gcs::FaultProfile) whose faults are drawn first.
Result<std::unique_ptr<fake_gcs::FakeGcsServer>> StartFakeServer(const std::vector<const traces::Trace*>& traces,
                                                                 const netmodel::NetworkProfile& profile,
                                                                 std::uint64_t seed,
                                                                 const nlohmann::json& faults = nullptr);

}  // namespace pflab::replay
