// Limits on what users give the fake server and the real-time runs: ports, threads, latencies,
// synthetic sizes, fault instructions and connection counts are checked, never wrapped or crashed on.
#include <sys/resource.h>

#include <catch2/catch.hpp>

#include "fake_gcs/faults.h"
#include "fake_gcs/server.h"
#include "replay/live.h"

namespace pflab::fake_gcs {
namespace {

std::string Invalid(const ServerOptions& o) {
  auto s = ValidateServerOptions(o);
  REQUIRE_FALSE(s.ok());
  return s.error().message;
}

TEST_CASE("server options: ports, threads and latencies out of range are errors", "[fake_gcs][limits]") {
  ServerOptions o;
  CHECK(ValidateServerOptions(o).ok());
  o.port = 70000;  // once silently 70000 mod 65536 = 4464
  CHECK(Invalid(o) == "port 70000 is not a TCP port (0 to 65535; 0 picks a free one)");
  FakeGcsServer server(o);
  auto started = server.Start();
  REQUIRE_FALSE(started.ok());
  CHECK_THAT(started.error().message, Catch::StartsWith("port 70000"));
  o.port = 65535;
  CHECK(ValidateServerOptions(o).ok());
  o.port = -1;
  CHECK_FALSE(ValidateServerOptions(o).ok());
  o.port = 0;
  o.threads = 0;
  CHECK_THAT(Invalid(o), Catch::StartsWith("threads 0 is not in 1 to 256"));
  o.threads = 100000;
  CHECK_THAT(Invalid(o), Catch::StartsWith("threads 100000 is not in 1 to 256"));
  o.threads = kMaxServerThreads;
  CHECK(ValidateServerOptions(o).ok());
  o.threads = 2;
  o.shaping.latency_median_ns = kMaxServerLatency + 1;
  CHECK_THAT(Invalid(o), Catch::StartsWith("latency of 3600000000001 ns is not in 0 to 1 hour"));
  o.shaping.latency_median_ns = 0;
  o.route_shaping["media"] = netmodel::NetworkProfile::Unshaped();
  o.route_shaping["media"].latency_p99_ns = -5;
  CHECK_THAT(Invalid(o), Catch::StartsWith("latency (route media) of -5 ns"));
  o.route_shaping.clear();
  o.shaping.stream_bandwidth_bytes_per_s = -1;
  CHECK_THAT(Invalid(o), Catch::StartsWith("bandwidth must be a non-negative number"));

  auto shaping = netmodel::NetworkProfile::Unshaped();
  // 10^11 s overflowed to a negative latency, which meant none.
  auto overflow = ParseLatency("100000000000s", shaping);
  REQUIRE_FALSE(overflow.ok());
  CHECK_THAT(overflow.error().message, Catch::Contains("too long"));
  CHECK_FALSE(ParseLatency("2h", shaping).ok());
  CHECK_FALSE(ParseLatency("30ms:3601s", shaping).ok());
  REQUIRE(ParseLatency("30ms:1s", shaping).ok());
  CHECK(shaping.latency_p99_ns == kSecond);
}

TEST_CASE("server options: synthetic sizes and fault numbers are bounded", "[fake_gcs][limits]") {
  ObjectStore store;
  CHECK(store.PutSynthetic("b", "max", ObjectStore::kMaxSyntheticSize).ok());
  auto huge = store.PutSynthetic("b", "huge", ObjectStore::kMaxSyntheticSize + 1);
  REQUIRE_FALSE(huge.ok());
  CHECK_THAT(huge.error().message, Catch::Contains("above 2^50 bytes"));
  // "K * 1024" and "seconds * 10^9" once wrapped.
  for (const char* bad : {"return-broken-stream-after-99999999999999999999K",
                          "return-broken-stream-after-18014398509481984K", "stall-for-9223372037s-after-1K",
                          "return-503-after-18014398509481984K", "return-9999-after-1K", "return-99999999999"}) {
    INFO(bad);
    CHECK_FALSE(ParseInstruction(bad).ok());
  }
  auto stall = ParseInstruction("stall-for-10s-after-1024K");
  REQUIRE(stall.ok());
  CHECK(stall->stall == 10 * kSecond);
  CHECK(stall->after_bytes == 1024 * 1024);
}

TEST_CASE("live runs: connection counts are checked against the cap and RLIMIT_NOFILE", "[replay][limits]") {
  CHECK(replay::CheckConnectionCount(16, true).ok());
  CHECK(replay::CheckConnectionCount(0, false).error().message == "connections: must be at least 1");
  CHECK_THAT(replay::CheckConnectionCount(100000, false).error().message,
             Catch::StartsWith("connections: 100000 is above the limit of 1024"));
  rlimit saved{};
  REQUIRE(::getrlimit(RLIMIT_NOFILE, &saved) == 0);
  rlimit lowered = saved;
  lowered.rlim_cur = 256;
  REQUIRE(::setrlimit(RLIMIT_NOFILE, &lowered) == 0);
  const auto fake = replay::CheckConnectionCount(100, true);   // 2 x 100 + 64 > 256
  const auto http = replay::CheckConnectionCount(100, false);  // 100 + 64 <= 256
  REQUIRE(::setrlimit(RLIMIT_NOFILE, &saved) == 0);
  REQUIRE_FALSE(fake.ok());
  CHECK(fake.error().message ==
        "connections: 100 need about 264 open files (a socket per connection, and the in-process fake server's end "
        "of each, plus 64 to spare), above this process's open-file limit of 256 (RLIMIT_NOFILE; raise it with "
        "`ulimit -n`)");
  CHECK(http.ok());
}

}  // namespace
}  // namespace pflab::fake_gcs
