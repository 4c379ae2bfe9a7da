// What a policy may know of the network it runs over: a profile's distributions, never a run's draws.
// Replay fills it from the simulator's profile (replay/simulation.cc); only the oracle's planner reads
// it today, since the policies people use in practice know nothing of the network.
#pragma once

#include <cstdint>

#include "engine/scheduler.h"
#include "engine/units.h"

namespace pflab::policies {

/// A network profile as the oracle's planner sees it. Defaults are gcs-regional's
/// (sim/profiles/profiles.json).
struct NetworkSummary {
  Nanos latency_median_ns = 35 * kMillisecond;
  Nanos latency_p99_ns = 200 * kMillisecond;  // <= median: constant latency
  double stream_bandwidth_bytes_per_s = 220e6;
  double link_bandwidth_bytes_per_s = 2e9;
  std::uint32_t max_connections = 100;
  // The engine's own time added to every request's first byte (a profile's request_overhead); the
  // planner takes it as part of each first byte, not the queueing across cores it may also have.
  Nanos request_overhead_ns = 0;
  // A streaming GET's own setup on top of it (a profile's stream_overhead): later first bytes for the
  // plan's stream regions.
  Nanos stream_overhead_ns = 0;
  // The reading host's time per MiB a read delivers before the next read of its stream is issued (a
  // profile's read_overhead_per_mib), taken per stream; the serialization across streams is not.
  Nanos read_overhead_ns_per_mib = 0;

  bool constant_latency() const { return latency_p99_ns <= latency_median_ns; }
  /// Per-request bandwidth x median latency: below this, a hole costs less to fetch than a request.
  std::uint64_t bandwidth_delay_bytes() const {
    return static_cast<std::uint64_t>(stream_bandwidth_bytes_per_s *
                                      static_cast<double>(latency_median_ns + request_overhead_ns) / 1e9);
  }
};

}  // namespace pflab::policies
