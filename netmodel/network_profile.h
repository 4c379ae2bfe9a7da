// The one description of a network, below both the simulator (sim/) and the fake GCS server
// (fake_gcs/): named profiles of latency, bandwidth, connections and price, their JSON file, the
// first-byte latency sampler and the cost formula. The simulator models all of it; the fake server
// imposes the parts a server can (first-byte latency and per-connection bandwidth), since the client's
// connection count bounds concurrency and the loopback is the link.
//
// In the simulator, a request holds a connection from issue to completion (FIFO queue when all are busy), waits a
// sampled first-byte latency, then transfers its bytes at min(per-stream bandwidth, fair share of the
// link). Optionally a request fails with a retryable 503 instead of its first byte.
//
// First-byte latency is constant or lognormal. Profiles give a lognormal by its median m and 99th
// percentile q because those are what measurements report. If ln X ~ N(mu, sigma), the median of X
// is exp(mu), so mu = ln m; the 0.99 quantile is exp(mu + z99 * sigma) with z99 = 2.3263478740408408
// (the standard normal's 0.99 quantile), so q = m * exp(z99 * sigma) and sigma = ln(q / m) / z99.
//
// A lognormal is unbounded below, but no request is answered faster than the network and the service
// allow, and a lower bound on run time (replay/bound.h) needs a smallest first-byte latency. So a
// profile may give `latency_min`, a floor: the sampler clamps draws below it up to it (clamping, not
// redrawing, consumes exactly one draw per request, so every draw at or above the floor, and therefore
// every run that never drew below it, is unchanged, and the median and p99 stay what the profile says
// as long as the floor is below the median). A constant profile's floor is its constant.
//
// Profiles are read from a JSON file whose numbers each cite a source (see profiles/profiles.json).
// That file is built into the binary (embedded at build time, see CMakeLists.txt), so an installed or
// copied pflab needs no file beside it; $PFLAB_PROFILES or `--profiles FILE` name another file.
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <string_view>

#include "engine/result.h"
#include "engine/scheduler.h"

namespace pflab::netmodel {

/// One network profile. Defaults are the gcs-regional numbers; profiles.json cites each.
struct NetworkProfile {
  /// No latency and no bandwidth cap: the fake server's shaping when none is asked for.
  static NetworkProfile Unshaped();

  Nanos latency_median_ns = 35 * kMillisecond;  // first byte, median
  Nanos latency_p99_ns = 0;                     // 0 or == median: constant latency
  Nanos latency_min_ns = 0;                     // lognormal only: draws below it are raised to it
  double stream_bandwidth_bytes_per_s = 220e6;  // one request's transfer rate cap (fake server: 0, none)
  double link_bandwidth_bytes_per_s = 2e9;      // shared by all active transfers
  std::uint32_t max_connections = 100;          // requests in progress at once; more wait in FIFO order
  double usd_per_request = 4e-7;                // GCS class B operation
  double usd_per_gib = 0;                       // egress / inter-region transfer
  double failure_probability = 0;               // per request: a retryable 503 instead of the first byte
  // How far a streaming GET's body gets ahead of its reader: the receiving socket's buffer. Linux
  // autotunes it up to net.ipv4.tcp_rmem's maximum, 6 MiB by default (Documentation/networking/
  // ip-sysctl.rst); the sender's buffers are not modelled.
  std::uint64_t stream_window_bytes = 6ull << 20;
  // The client's own time per request, simulator only: a constant added to every request's first byte
  // (ranged fetch or stream), for what the real machinery costs beyond the network (reader, policy,
  // fetcher, HTTP client, the server's parsing and timers). The fake server never adds it: over it,
  // that machinery is real. `pflab fidelity --calibrate` measures it; 0 leaves every result unchanged.
  Nanos request_overhead_ns = 0;
  // How many requests' overheads can be worked on at once: the host's cores that the client and the
  // server share. 0: no limit (each request pays exactly request_overhead_ns). With N, the overhead is
  // work queued for N cores in issue order, so requests issued together wait for each other's.
  std::uint32_t request_overhead_cores = 0;
  // A streaming GET's own setup beyond a pooled request's overhead, simulator only: added to each
  // stream's first byte (after request_overhead_ns, on the same cores when they are limited). Over HTTP
  // a stream is a connection and thread of its own (net/http_transport.h), which a pooled request
  // reuses. `pflab fidelity --calibrate` measures it; 0 leaves every result unchanged.
  Nanos stream_overhead_ns = 0;
  // Opening a pooled connection, simulator only: a request (not a stream, whose setup is above) that
  // starts while every connection opened so far in the run is busy, i.e. with more requests in flight
  // than ever before, pays this before its first byte: the TCP handshake, and TLS's over HTTPS. The
  // HTTP transport opens connections that way (a request goes to the worker idle last, and workers keep
  // their connections: net/http_transport.h). `pflab calibrate` measures it from timed handshakes;
  // 0 leaves every result unchanged.
  Nanos connect_overhead_ns = 0;
  // The reading host's time per MiB a read delivers, simulator only: after each read, its bytes cost
  // this much of the reader's thread (one read at a time, across streams) before the stream's think
  // time starts, for the per-byte work on the reader's clock that overlaps no transfer (handing the
  // bytes over, and with --verify-bytes the check of every byte). `pflab fidelity --calibrate`
  // measures it from two read sizes; 0 leaves every result unchanged.
  Nanos read_overhead_ns_per_mib = 0;
  // The reading host's byte throughput, simulator only: the bytes per second its cores can move through
  // the whole machinery at once (the server's content, the loopback's copies, the HTTP client's reads),
  // shared by every active transfer as the link is, so a transfer's rate is also at most this over the
  // active count. It binds when several streams transfer at once on a small machine; for one stream that
  // work hides under the pacing. 0: no limit. `pflab fidelity --calibrate` fits it from four streams of
  // large reads; 0 leaves every result unchanged.
  double host_bandwidth_bytes_per_s = 0;

  bool constant_latency() const { return latency_p99_ns <= latency_median_ns; }
  /// What all active transfers share: the link, or the host's byte throughput when that is set and lower.
  double shared_bandwidth_bytes_per_s() const {
    return host_bandwidth_bytes_per_s > 0 ? std::min(link_bandwidth_bytes_per_s, host_bandwidth_bytes_per_s)
                                          : link_bandwidth_bytes_per_s;
  }
  /// The smallest first-byte latency any request can get: the constant, or the lognormal's floor.
  Nanos latency_floor_ns() const {
    return constant_latency() ? latency_median_ns : std::min(latency_min_ns, latency_median_ns);
  }
  /// What `requests` billed requests and `bytes` transferred cost: requests * usd_per_request +
  /// bytes / GiB * usd_per_gib. The one cost formula of simulated and real-time runs.
  double CostUsd(std::uint64_t requests, std::uint64_t bytes) const;
  nlohmann::json ToJson() const;
};

/// std::llround for 0 <= x < 2^63 (a latency draw in nanoseconds), as LatencySampler rounds.
std::int64_t RoundNonNegative(double x);

/// Draws first-byte latencies for a profile from a seeded generator.
class LatencySampler {
 public:
  LatencySampler(const NetworkProfile& profile, std::uint64_t seed);
  Nanos Sample();

 private:
  bool constant_;
  Nanos median_;
  Nanos floor_;
  std::mt19937_64 rng_;
  std::lognormal_distribution<double> dist_;
};

/// The text of the shipped profiles file (sim/profiles/profiles.json), built into the binary.
std::string_view BuiltInProfilesText();
/// How error messages name the built-in profiles.
inline constexpr const char* kBuiltInProfilesName = "built-in profiles (sim/profiles/profiles.json)";

/// The profiles file to use: `file` when not empty (a `--profiles FILE` option), else $PFLAB_PROFILES
/// when set, else "" for the built-in profiles.
std::string ProfilesPath(const std::string& file = "");
/// What named the profiles file ProfilesPath(file) picks, for errors about the file itself:
/// "--profiles" when `file` is set, "$PFLAB_PROFILES" when the variable is, "" for the built-in
/// profiles (a variable set long ago is easily forgotten).
std::string ProfilesSource(const std::string& file = "");
/// What to blame for `error`, from FindProfile or LoadProfiles on ProfilesPath(file): ProfilesSource(file)
/// when the file itself could not be used (the error names its path), else `otherwise`.
std::string ProfilesErrorSource(const Error& error, const std::string& file, const std::string& otherwise);
/// The profiles file when no option names one: $PFLAB_PROFILES, else "" (the built-in profiles).
inline std::string DefaultProfilesPath() {
  return ProfilesPath();
}
/// Reads every profile of a profiles file, or of the built-in profiles when `path` is empty; errors
/// start with the path (or kBuiltInProfilesName).
Result<std::map<std::string, NetworkProfile>> LoadProfiles(const std::string& path);
/// Parses the text of a profiles file; errors start with `origin`.
Result<std::map<std::string, NetworkProfile>> ParseProfiles(std::string_view text, const std::string& origin);
/// The text of a profiles file, or the built-in text when `path` is empty.
Result<std::string> ReadProfilesText(const std::string& path);
/// One profile by name; an unknown name lists the known ones.
Result<NetworkProfile> FindProfile(const std::string& name, const std::string& path = DefaultProfilesPath());

}  // namespace pflab::netmodel
