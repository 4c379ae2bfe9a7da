// An in-process HTTP server speaking the GCS JSON and XML download APIs, with shaping and faults.
//
// Built on Boost.Asio + Beast rather than cpp-httplib (which the engine's HttpTransport uses as a
// client) because a fake that injects faults must own the socket: httplib 0.11 answers a Range it
// cannot parse with a bare 416 before any handler runs (GCS ignores such ranges and sends the whole
// object), cannot send a TCP RST, and holds a thread per keep-alive connection while pacing. Here each
// connection is a coroutine, pauses are timers, and a fault can cut the body after any byte.
//
// Endpoints: `GET /` (health), bucket get/list/insert, object metadata (`/storage/v1/b/B/o/O`, `alt=json`),
// media (`alt=media`, `/download/storage/v1/...`, XML `GET|HEAD /B/O`), listing with prefix, delimiter,
// pageToken, maxResults, startOffset, endOffset, includeTrailingDelimiter, media, multipart and resumable
// uploads (upload_sessions.h), objects.patch, objects.rewrite and objects.copy, delete, and the
// storage-testbench Retry Test API (`/retry_test`, `/retry_tests`, `x-retry-test-id`).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "engine/result.h"
#include "engine/scheduler.h"
#include "fake_gcs/faults.h"
#include "fake_gcs/object_store.h"
#include "fake_gcs/upload_sessions.h"
#include "netmodel/network_profile.h"

namespace pflab::fake_gcs {

/// Most I/O threads a server runs: more than the machine's cores only adds contention, and each
/// thread reserves a stack (8 MiB of address space) and counts against the user's process limit.
inline constexpr unsigned kMaxServerThreads = 256;
/// Longest first-byte latency (median or p99) a server takes: one hour. Longer is a stall, which the
/// stall-for-Ts-after-YK fault models; and lognormal draws around it stay far from timer overflow.
inline constexpr Nanos kMaxServerLatency = 3600 * kSecond;

/// Options of FakeGcsServer.
struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 0;  // 0: any free port
  unsigned threads = 2;
  /// How responses are shaped: a network profile (netmodel/), of which the server imposes the parts a
  /// server can: the first-byte latency (median, p99 and floor, drawn per route from `seed`) and the
  /// per-connection bandwidth (paced; 0: as fast as the socket goes). The link's shared bandwidth is
  /// `link_bandwidth_bytes_per_s` below (a run through the server, replay/fake_server.h, sets it from
  /// the same profile); the connection limit and prices are the client's, not the server's.
  netmodel::NetworkProfile shaping = netmodel::NetworkProfile::Unshaped();
  /// Bytes per second shared by every response body at once (the host's link); 0: no limit. Each
  /// connection's writes book time on one shared clock, so k busy connections get about 1/k each.
  double link_bandwidth_bytes_per_s = 0;
  /// Per-route shaping overriding `shaping`: keys "media", "metadata", "list", "upload", "other". A
  /// default-constructed profile is gcs-regional's: use NetworkProfile::Unshaped() for none.
  std::map<std::string, netmodel::NetworkProfile> route_shaping;
  std::optional<FaultProfile> faults;
  std::uint64_t seed = 1;  // latency draws
  /// x-goog-hash as one comma-joined line (the testbench's form) or one line per hash (GCS's).
  bool hash_header_one_line = false;
  std::uint64_t max_upload_bytes = 1ull << 30;  // per object, single request or resumable session
  /// Resumable upload sessions: at most this many (the least recently used goes; a session staged in a
  /// folder holds two descriptors), each dropped with its staged bytes after this long untouched.
  std::size_t max_upload_sessions = 256;
  std::chrono::milliseconds upload_session_idle_timeout{3'600'000};
  /// objects.rewrite copies at most this much per call unless the request says
  /// maxBytesRewrittenPerCall; larger objects take several calls (done:false and a rewriteToken).
  std::uint64_t rewrite_bytes_per_call = 256ull << 20;
  bool keep_request_log = false;
};

/// One request as the server saw it (kept when ServerOptions::keep_request_log).
struct RequestRecord {
  std::string method;  // HTTP method
  std::string target;
  std::string api_method;  // storage.objects.get, ...
  int status = 0;
  std::uint64_t range_begin = 0;
  std::uint64_t range_end = 0;
  std::uint64_t body_bytes_sent = 0;
  std::string fault;     // the instruction that fired, if any
  Nanos latency_ns = 0;  // the first-byte latency drawn for it
};

/// Counters across all connections.
struct ServerStats {
  std::uint64_t requests = 0;
  std::uint64_t body_bytes_sent = 0;
  std::uint64_t faults_fired = 0;
  std::uint64_t connections = 0;
};

/// The fake GCS server. Start() binds and serves on background threads until Stop() or destruction.
class FakeGcsServer {
 public:
  explicit FakeGcsServer(ServerOptions options = {}, std::shared_ptr<ObjectStore> store = nullptr);
  ~FakeGcsServer();
  FakeGcsServer(const FakeGcsServer&) = delete;
  FakeGcsServer& operator=(const FakeGcsServer&) = delete;

  /// Binds and starts serving; returns the port.
  Result<int> Start();
  /// Stops accepting, drops open connections and joins the threads. Idempotent.
  void Stop();

  /// `http://HOST:PORT`, valid after Start().
  std::string endpoint() const;
  int port() const { return port_; }
  ObjectStore& store() { return *store_; }
  RetryTests& retry_tests() { return retry_tests_; }
  UploadSessions& upload_sessions() { return *uploads_; }
  ServerStats stats() const;
  std::vector<RequestRecord> request_log() const;
  /// Draws the first-byte latencies from `seed` from now on, each route's from its start. Media
  /// downloads then meet, in arrival order, the latencies the simulator draws for a run with `seed`:
  /// a replay through the server and its prediction see the same draws (replay/matrix.cc restarts
  /// them before each run). Call between runs, not while requests are in flight.
  void RestartLatencyDraws(std::uint64_t seed);

 private:
  struct Impl;
  ServerOptions options_;
  std::shared_ptr<ObjectStore> store_;
  RetryTests retry_tests_;
  std::unique_ptr<UploadSessions> uploads_;
  int port_ = 0;
  std::unique_ptr<Impl> impl_;
};

/// Checks the options a user sets: port 0-65535, threads 1 to kMaxServerThreads, latencies up to
/// kMaxServerLatency, a non-negative finite bandwidth. Messages start with the option's name ("port
/// 70000 ..."). Start() checks them too.
Status ValidateServerOptions(const ServerOptions& options);

/// Parses "30ms", "30ms:200ms" (median:p99), "0" into a profile's latencies (each up to kMaxServerLatency;
/// no floor).
Status ParseLatency(const std::string& text, netmodel::NetworkProfile& shaping);
/// Parses "100MB/s", "1GiB/s", "0" (unlimited) into bytes per second.
Result<double> ParseBandwidth(const std::string& text);

}  // namespace pflab::fake_gcs
