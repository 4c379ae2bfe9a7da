// Calibration: measure an endpoint with a bounded number of ranged reads of one object and fit the
// simulator's network model to what was seen (`pflab calibrate`, docs/network.md#calibration).
//
// Five phases, each a fixed number of requests known before anything is sent (PlanCalibration; the
// last sends none):
//   1. metadata: one GET of the object's metadata, for its size and generation;
//   2. latency: small ranged reads at seeded random offsets, one at a time on one warm pooled
//      connection (the first is a warm-up and not counted): a small read's completion time is taken as
//      its first-byte latency (its few KiB come in the response's first burst);
//   3. bandwidth: large ranged reads, one at a time, each a stream pulled in pieces, so the transfer is
//      timed after the first piece (a slope over the later pieces), apart from the first-byte latency
//      and from the first burst (bytes the server sent before pacing took hold);
//   4. concurrency: at 1, 2, 4, ... up to N large streams at once, the aggregate rate over the window in
//      which every stream was transferring (to find the link limit), and how many streams were between
//      first and last byte at once (to find a connection limit);
//   5. connections: a few connections opened and closed with no request on them, each handshake (TCP,
//      and TLS over https) timed: what a request that opens a connection pays (connect_overhead).
//
// The fit (FitCalibration, pure and deterministic) takes a lognormal by the mean and standard deviation
// of the log latencies (median exp(mu), p99 exp(mu + z99 sigma), as sim::NetworkProfile describes it),
// the per-request bandwidth as the median of the per-stream rates, the link as the aggregate of the
// levels that fell short of level x per-request bandwidth, and a connection limit as the number of
// streams in flight at once when two or more levels had that many, fewer than they opened. Each number
// carries a 95% interval: seeded bootstrap for the latency and the per-request bandwidth, the spread of
// the link-limited levels for the link.
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "engine/result.h"
#include "net/http_transport.h"
#include "sim/network_model.h"

namespace pflab::replay {

/// The object a calibration reads and where it lives.
struct CalibrationTarget {
  HttpEndpoint endpoint;
  std::string bucket;
  std::string object;
  std::string Describe() const;
};

/// Parses `gs://BUCKET/OBJECT` (the endpoint is $STORAGE_EMULATOR_HOST when set, else live GCS) or
/// `http[s]://HOST[:PORT]/BUCKET/OBJECT` (the XML API's form of an object URL).
Result<CalibrationTarget> ParseCalibrationTarget(const std::string& text);

/// What to send.
struct CalibrationOptions {
  std::uint32_t probes = 200;                // small reads for first-byte latency
  std::uint64_t probe_bytes = 4096;          // each
  std::uint32_t bandwidth_probes = 8;        // large reads for per-request bandwidth
  std::uint64_t bandwidth_bytes = 16 << 20;  // each (and each stream of the concurrency phase)
  std::uint32_t max_connections = 8;         // highest concurrency level
  std::uint64_t piece_bytes = 1 << 20;       // streams are pulled this much at a time
  std::uint32_t handshakes = 16;             // connections opened and closed, no request sent on them
  std::uint64_t seed = 1;                    // offsets and the bootstrap
  bool verify_synthetic = false;             // check every byte against the synthetic content (tests)
  HttpTransportOptions http;                 // token, timeouts; `connections` is set per phase
};

/// One phase of the plan.
struct ProbePhase {
  std::string name;
  std::uint64_t requests = 0;
  std::uint64_t bytes = 0;  // body bytes, all requests together
  std::string what;         // for the printed plan
};

/// Every request a calibration sends, fixed before the first one.
struct ProbePlan {
  std::uint64_t object_size = 0;
  std::uint64_t probe_bytes = 0;      // clipped to the object
  std::uint64_t bandwidth_bytes = 0;  // clipped to the object
  std::vector<std::uint32_t> levels;  // concurrency levels
  std::vector<ProbePhase> phases;

  std::uint64_t requests() const;
  std::uint64_t bytes() const;
  /// At `prices`' request and egress prices.
  double CostUsd(const sim::NetworkProfile& prices) const;
  /// A few lines: each phase, then the totals and the cost.
  std::string Describe(const sim::NetworkProfile& prices) const;
};

/// Checks the options (counts at least 1 but `handshakes`, whose 0 leaves the connections phase out;
/// N within replay::kMaxConnections) and sizes the phases for an object of `object_size` bytes (at
/// least 1).
Result<ProbePlan> PlanCalibration(const CalibrationOptions& options, std::uint64_t object_size);

/// One stream as the client saw it: times on one clock, bytes cumulative.
struct StreamTrace {
  Nanos issued = 0;
  Nanos first_byte = 0;  // the first piece's pull started; its first byte had arrived when it ended
  std::vector<std::pair<Nanos, std::uint64_t>> progress;  // (time, bytes so far) at the end of each piece
  Nanos end() const { return progress.empty() ? first_byte : progress.back().first; }
  std::uint64_t bytes() const { return progress.empty() ? 0 : progress.back().second; }
};

/// One concurrency level, reduced.
struct LevelObservation {
  std::uint32_t concurrency = 0;
  double aggregate_bytes_per_s = 0;  // over the window where every stream was transferring
  std::uint32_t max_in_flight = 0;   // most streams between first and last byte at once
  bool full_overlap = true;          // false: no common window; the aggregate spans first to last byte
};

/// Reduces the streams of one level (pure).
LevelObservation ReduceLevel(std::uint32_t concurrency, const std::vector<StreamTrace>& streams);
/// A stream's rate after its first piece: the least-squares slope of bytes over time of the later
/// progress points (with two or three points, the bytes after the first piece over the time they took),
/// or its whole rate when it had one piece; 0 when it moved nothing.
double StreamRate(const StreamTrace& stream);

/// Everything measured, with when.
struct Observations {
  std::uint64_t probe_bytes = 0;
  std::vector<Nanos> latency_completions;  // small reads: issue to last byte
  std::vector<double> stream_rates;        // bandwidth phase, bytes per second
  std::vector<LevelObservation> levels;
  std::string latency_measured_at;  // UTC, ISO 8601, when the phase started
  std::string bandwidth_measured_at;
  std::string concurrency_measured_at;
  std::vector<Nanos> handshakes;  // connections phase: each connection's setup (none: not measured)
  std::string connections_measured_at;
  std::uint64_t requests = 0;  // sent, the metadata request included
  std::uint64_t bytes = 0;     // body bytes received
};

/// Progress lines while probing.
using CalibrationProgress = std::function<void(const std::string&)>;

/// Sends the plan's requests to `target` (whose size and generation are `object`'s) and records what
/// was seen. A failed request fails the calibration, naming the phase and the request.
Result<Observations> RunProbes(const CalibrationTarget& target, const ObjectRef& object, const ProbePlan& plan,
                               const CalibrationOptions& options, const CalibrationProgress& progress = nullptr);

/// A fitted number and its 95% confidence interval (high is infinity for a lower bound).
struct Estimate {
  double value = 0;
  double low = 0;
  double high = 0;
  std::uint64_t samples = 0;
  std::string method;
  std::string measured_at;
};

/// The fitted model.
struct Calibration {
  Estimate latency_median_ns;
  Estimate latency_p99_ns;
  Estimate latency_min_ns;
  Estimate stream_bandwidth;  // bytes per second
  Estimate link_bandwidth;    // bytes per second
  Estimate max_connections;
  Estimate connect_overhead_ns;     // samples 0: not measured, and the profile's is 0
  bool link_limited = false;        // false: the link was not reached; link_bandwidth is a lower bound
  bool connection_limited = false;  // false: no limit seen; max_connections is the default
  sim::NetworkProfile profile;      // the fit as the simulator takes it (prices from the caller)
};

/// Profiles get this many connections when no limit was seen (aiohttp's default, as gcs-regional).
inline constexpr std::uint32_t kDefaultCalibratedConnections = 100;

/// Fits the model to `seen` (pure; the bootstrap is seeded). `prices` gives the profile's prices,
/// which calibration does not measure.
Result<Calibration> FitCalibration(const Observations& seen, const sim::NetworkProfile& prices, std::uint64_t seed);

/// A profiles file (the format of sim/profiles/profiles.json) holding one profile, `name`: the fitted
/// numbers, a source for each, and a `calibration` object with each number's interval, sample count,
/// method and measurement time.
nlohmann::json CalibratedProfilesFile(const Calibration& fit, const std::string& name, const std::string& target,
                                      const ProbePlan& plan);

}  // namespace pflab::replay
