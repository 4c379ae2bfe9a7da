// The in-process fake GCS server of `pflab compare --transport fake`: shaped like a network profile and
// serving every trace object as a synthetic object, so the real engine reads what the simulator models.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <vector>

#include "fake_gcs/server.h"
#include "sim/network_model.h"
#include "traces/trace.h"

namespace pflab::replay {

/// First-byte latency and per-connection bandwidth of a profile as server shaping. The link's shared
/// bandwidth, the connection limit and prices are not the server's to impose (the client's connection
/// count bounds concurrency; the loopback is the link).
fake_gcs::Shaping ShapingFromProfile(const sim::NetworkProfile& profile);

/// Starts a server on 127.0.0.1 (free port) shaped by `profile`, with the objects of `traces` as
/// synthetic objects named as TraceObjectRef names them; a profile failure probability becomes a
/// seeded return-503 fault on media reads. `faults`, when not null, is a fault profile (the JSON of
/// fake_gcs::FaultProfile) whose faults are drawn first.
Result<std::unique_ptr<fake_gcs::FakeGcsServer>> StartFakeServer(const std::vector<const traces::Trace*>& traces,
                                                                 const sim::NetworkProfile& profile, std::uint64_t seed,
                                                                 const nlohmann::json& faults = nullptr);

}  // namespace pflab::replay
