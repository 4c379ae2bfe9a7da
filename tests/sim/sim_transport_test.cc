#include "sim/sim_transport.h"

#include <catch2/catch.hpp>
#include <vector>

#include "engine/synthetic_content.h"
#include "sim/sim_scheduler.h"

namespace pflab::sim {
namespace {

constexpr std::uint64_t kMB = 1000 * 1000;

NetworkProfile Constant(Nanos latency, double stream_bps, double link_bps, std::uint32_t connections = 100) {
  NetworkProfile p;
  p.latency_median_ns = latency;
  p.latency_p99_ns = 0;
  p.stream_bandwidth_bytes_per_s = stream_bps;
  p.link_bandwidth_bytes_per_s = link_bps;
  p.max_connections = connections;
  return p;
}

struct Done {
  Nanos at = -1;
  FetchOutcome outcome;
};

struct Fixture {
  SimScheduler scheduler;
  MemoryAccount account;
  SimTransport transport;
  ObjectRef object{"b", "o", 1, 1ull << 40};

  explicit Fixture(const NetworkProfile& p, std::uint64_t seed = 1, bool payload = false)
      : transport(&scheduler, p, seed, SimTransportOptions{payload}) {}

  FetchId Start(std::uint64_t begin, std::uint64_t size, Done* done) {
    auto chunk = Chunk::Make(size, transport.wants_payload(), &account);
    return transport.Fetch(object, {begin, begin + size}, {chunk, 0}, [this, done](const FetchOutcome& o) {
      done->at = scheduler.Now();
      done->outcome = o;
    });
  }
};

TEST_CASE("sim transport: one transfer takes latency + size/bandwidth exactly", "[sim][transport]") {
  Fixture f(Constant(30 * kMillisecond, 100 * kMB, 1000 * kMB));
  Done d;
  f.Start(0, 10 * kMB, &d);
  f.scheduler.Run();
  REQUIRE(d.outcome.status.ok());
  CHECK(d.at == 30 * kMillisecond + 100 * kMillisecond);
  CHECK(d.outcome.bytes_received == 10 * kMB);
  CHECK(f.transport.requests() == 1);
  CHECK(f.transport.bytes_transferred() == 10 * kMB);
}

TEST_CASE("sim transport: two transfers on a saturated link each get half", "[sim][transport]") {
  // Link 100 MB/s, streams could do 100 MB/s each: together they share 50/50.
  Fixture f(Constant(0, 100 * kMB, 100 * kMB));
  Done a, b;
  f.Start(0, 10 * kMB, &a);
  f.Start(0, 10 * kMB, &b);
  f.scheduler.Run();
  CHECK(a.at == 200 * kMillisecond);
  CHECK(b.at == 200 * kMillisecond);
}

TEST_CASE("sim transport: a transfer joining later slows the first one down", "[sim][transport]") {
  Fixture f(Constant(0, 100 * kMB, 100 * kMB));
  Done a, b;
  f.Start(0, 10 * kMB, &a);  // alone for 50 ms: 5 MB done
  f.scheduler.PostAt(50 * kMillisecond, [&] { f.Start(0, 10 * kMB, &b); });
  f.scheduler.Run();
  // Then 50 MB/s each: a's remaining 5 MB take 100 ms (done at 150 ms); b has 5 MB left then, alone at
  // 100 MB/s: 50 ms more.
  CHECK(a.at == 150 * kMillisecond);
  CHECK(b.at == 200 * kMillisecond);
}

TEST_CASE("sim transport: the per-stream cap binds below the fair share", "[sim][transport]") {
  Fixture f(Constant(0, 20 * kMB, 100 * kMB));
  Done a, b;
  f.Start(0, 2 * kMB, &a);
  f.Start(0, 2 * kMB, &b);
  f.scheduler.Run();
  CHECK(a.at == 100 * kMillisecond);
  CHECK(b.at == 100 * kMillisecond);
}

TEST_CASE("sim transport: the connection limit queues in FIFO order", "[sim][transport]") {
  Fixture f(Constant(10 * kMillisecond, 100 * kMB, 1000 * kMB, 2));
  Done d[4];
  for (auto& x : d) f.Start(0, kMB, &x);
  f.scheduler.Run();
  // Two at a time: each takes 10 ms + 10 ms.
  CHECK(d[0].at == 20 * kMillisecond);
  CHECK(d[1].at == 20 * kMillisecond);
  CHECK(d[2].at == 40 * kMillisecond);
  CHECK(d[3].at == 40 * kMillisecond);
}

TEST_CASE("sim transport: cancel mid-transfer reports partial bytes and frees the link", "[sim][transport]") {
  Fixture f(Constant(0, 100 * kMB, 100 * kMB));
  Done a, b;
  FetchId id = f.Start(0, 10 * kMB, &a);
  f.Start(0, 10 * kMB, &b);
  f.scheduler.PostAt(100 * kMillisecond, [&] { f.transport.Cancel(id); });  // each has 5 MB by then
  f.scheduler.Run();
  REQUIRE(!a.outcome.status.ok());
  CHECK(a.outcome.status.error().code == ErrorCode::kCancelled);
  CHECK(a.outcome.bytes_received == 5 * kMB);
  CHECK(a.at == 100 * kMillisecond);
  CHECK(b.at == 150 * kMillisecond);  // alone from 100 ms: 5 MB at 100 MB/s
  CHECK(f.transport.bytes_transferred() == 15 * kMB);
  f.transport.Cancel(id);  // finished ids are ignored
}

TEST_CASE("sim transport: cancel while queued or in latency", "[sim][transport]") {
  Fixture f(Constant(10 * kMillisecond, 100 * kMB, 1000 * kMB, 1));
  Done a, b, c;
  FetchId first = f.Start(0, kMB, &a);
  FetchId queued = f.Start(0, kMB, &b);
  f.Start(0, kMB, &c);
  f.transport.Cancel(queued);
  f.transport.Cancel(first);  // in latency
  f.scheduler.Run();
  CHECK(a.outcome.status.error().code == ErrorCode::kCancelled);
  CHECK(b.outcome.status.error().code == ErrorCode::kCancelled);
  REQUIRE(c.outcome.status.ok());
  CHECK(c.at == 20 * kMillisecond);
}

TEST_CASE("sim transport: the same seed gives the same completions - another seed differs", "[sim][transport]") {
  NetworkProfile p = Constant(30 * kMillisecond, 100 * kMB, 1000 * kMB);
  p.latency_p99_ns = 200 * kMillisecond;
  auto run = [&](std::uint64_t seed) {
    Fixture f(p, seed);
    std::vector<Done> d(50);
    for (std::size_t i = 0; i < d.size(); ++i) f.Start(0, (i + 1) * 100000, &d[i]);
    f.scheduler.Run();
    std::vector<Nanos> at;
    for (const auto& x : d) at.push_back(x.at);
    return at;
  };
  CHECK(run(7) == run(7));
  CHECK(run(7) != run(8));
}

TEST_CASE("sim transport: lognormal latency reproduces median and p99", "[sim][network]") {
  NetworkProfile p;
  p.latency_median_ns = 35 * kMillisecond;
  p.latency_p99_ns = 200 * kMillisecond;
  LatencySampler sampler(p, 3);
  std::vector<Nanos> v(200000);
  for (auto& x : v) x = sampler.Sample();
  std::sort(v.begin(), v.end());
  CHECK(static_cast<double>(v[v.size() / 2]) == Approx(35e6).epsilon(0.02));
  CHECK(static_cast<double>(v[v.size() * 99 / 100]) == Approx(200e6).epsilon(0.05));
}

TEST_CASE("sim transport: with payload- every byte is the object's content", "[sim][transport]") {
  Fixture f(Constant(kMillisecond, 100 * kMB, 1000 * kMB), 1, true);
  auto chunk = Chunk::Make(100003, true, &f.account);
  Done d;
  f.transport.Fetch(f.object, {12345, 12345 + 100000}, {chunk, 3}, [&](const FetchOutcome& o) { d.outcome = o; });
  f.scheduler.Run();
  REQUIRE(d.outcome.status.ok());
  const std::uint64_t seed = ObjectSeed("b", "o", 1);
  for (std::uint64_t i = 0; i < 100000; ++i) {
    if (chunk->data()[3 + i] != SyntheticByte(seed, 12345 + i)) FAIL("byte " << i << " differs");
  }
  CHECK(chunk->filled() == 100000);
}

}  // namespace
}  // namespace pflab::sim
