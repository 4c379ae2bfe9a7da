#include "replay/metrics.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <numeric>
#include <random>
#include <string>
#include <vector>

namespace pflab::replay {
namespace {

// Feeds reads with the given latencies (in ns), one stream, back to back, in a shuffled order.
Metrics Collect(std::vector<Nanos> latencies, std::uint64_t seed) {
  std::shuffle(latencies.begin(), latencies.end(), std::mt19937_64(seed));
  MetricsCollector c;
  Nanos t = 0;
  for (Nanos l : latencies) {
    c.OnEvent(Event{t, EventType::kReadStart, "reader", 0, 0, 10, 0});
    t += l;
    c.OnEvent(Event{t, EventType::kReadEnd, "reader", 0, 0, 10, 10});
  }
  Metrics m;
  c.Finish(&m);
  return m;
}

TEST_CASE("metrics: nearest-rank percentiles - max - stall", "[replay][metrics]") {
  std::vector<Nanos> ms(1000);
  std::iota(ms.begin(), ms.end(), 1);  // 1..1000 ms
  for (Nanos& v : ms) v *= kMillisecond;
  for (std::uint64_t seed : {1, 2, 3}) {
    const Metrics m = Collect(ms, seed);
    CHECK(m.read_latency_p50_s == Approx(0.500));
    CHECK(m.read_latency_p95_s == Approx(0.950));
    CHECK(m.read_latency_p99_s == Approx(0.990));
    CHECK(m.read_latency_max_s == Approx(1.000));
    CHECK(m.stall_s == Approx(500.5));
    CHECK(m.elapsed_s == Approx(500.5));
    CHECK(m.reads == 1000);
    CHECK(m.bytes_read == 10000);
  }
  SECTION("ties and tiny runs") {
    const Metrics one = Collect({7}, 1);
    CHECK(one.read_latency_p50_s == Approx(7e-9));
    CHECK(one.read_latency_p99_s == Approx(7e-9));
    const Metrics ties = Collect({5, 5, 5, 1, 9}, 4);  // sorted 1 5 5 5 9
    CHECK(ties.read_latency_p50_s == Approx(5e-9));    // rank 3
    CHECK(ties.read_latency_p95_s == Approx(9e-9));    // rank 5
    CHECK(ties.read_latency_p99_s == Approx(9e-9));
  }
}

TEST_CASE("metrics: only the backend layer's fetches count as requests", "[replay][metrics]") {
  MetricsCollector c;
  const std::string copy = kBackendLayer;  // same name, another pointer: still the backend
  c.OnEvent(Event{0, EventType::kFetchStart, kBackendLayer, 0, 0, 10, 0});
  c.OnEvent(Event{0, EventType::kFetchStart, copy.c_str(), 0, 0, 10, 0});
  c.OnEvent(Event{0, EventType::kFetchStart, "gcsfs-v795", 0, 0, 10, 0});
  c.OnEvent(Event{0, EventType::kFetchStart, "cached", 0, 0, 10, 0});
  c.OnEvent(Event{0, EventType::kFetchCancel, kBackendLayer, 0, 0, 10, 0});
  c.OnEvent(Event{0, EventType::kFetchFail, "gcsfs-v795", 0, 0, 10, 0});
  c.OnEvent(Event{0, EventType::kRetry, kBackendLayer, 0, 0, 10, 0});
  Metrics m;
  c.Finish(&m);
  CHECK(m.requests == 2);
  CHECK(m.requests_cancelled == 1);
  CHECK(m.requests_failed == 0);
  CHECK(m.retries == 1);
}

}  // namespace
}  // namespace pflab::replay
