#include "sim/sim_transport.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <functional>
#include <optional>
#include <random>
#include <string>
#include <utility>
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
  int calls = 0;
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
      ++done->calls;
      done->outcome = o;
    });
  }
};

TEST_CASE("sim transport: one transfer takes latency + ceil(size * 1e9 / bandwidth) ns exactly", "[sim][transport]") {
  SECTION("round numbers") {
    Fixture f(Constant(30 * kMillisecond, 100 * kMB, 1000 * kMB));
    Done d;
    f.Start(0, 10 * kMB, &d);
    f.scheduler.Run();
    REQUIRE(d.outcome.status.ok());
    CHECK(d.at == 30 * kMillisecond + 100 * kMillisecond);
    CHECK(d.outcome.bytes_received == 10 * kMB);
    CHECK(d.calls == 1);
    CHECK(f.transport.requests() == 1);
    CHECK(f.transport.bytes_transferred() == 10 * kMB);
  }
  SECTION("sizes that do not divide, at gcs-regional's 220 MB/s") {
    const std::uint64_t bandwidth = 220 * kMB;
    for (std::uint64_t size : {1ull, 65536ull, 1234567ull, 5ull * 1024 * 1024 + 7, 999999937ull}) {
      Fixture f(Constant(35 * kMillisecond, static_cast<double>(bandwidth), 2000.0 * kMB));
      Done d;
      f.Start(0, size, &d);
      f.scheduler.Run();
      INFO("size " << size);
      const std::uint64_t transfer_ns = (size * 1'000'000'000ull + bandwidth - 1) / bandwidth;  // integer ceil
      CHECK(d.at == 35 * kMillisecond + static_cast<Nanos>(transfer_ns));
    }
  }
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
  CHECK(f.transport.peak_active() == 2);
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

TEST_CASE("sim transport: the per-stream cap and the link cap, whichever binds", "[sim][transport]") {
  // Streams 40 MB/s, link 90 MB/s.
  SECTION("two transfers: 40 each, the stream cap binds and 10 MB/s stay unused") {
    Fixture f(Constant(0, 40 * kMB, 90 * kMB));
    Done a, b;
    f.Start(0, 3 * kMB, &a);
    f.Start(0, 3 * kMB, &b);
    f.scheduler.Run();
    CHECK(a.at == 75 * kMillisecond);
    CHECK(b.at == 75 * kMillisecond);
  }
  SECTION("three transfers: 30 each, the link binds") {
    Fixture f(Constant(0, 40 * kMB, 90 * kMB));
    Done d[3];
    for (auto& x : d) f.Start(0, 3 * kMB, &x);
    f.scheduler.Run();
    for (auto& x : d) CHECK(x.at == 100 * kMillisecond);
  }
  SECTION("when one of three ends, the other two go up to the stream cap") {
    Fixture f(Constant(0, 40 * kMB, 90 * kMB));
    Done small, big1, big2;
    f.Start(0, 1500 * 1000, &small);  // 1.5 MB at 30 MB/s: done at 50 ms
    f.Start(0, 3 * kMB, &big1);       // 1.5 MB done by 50 ms, the rest at 40 MB/s: 37.5 ms more
    f.Start(0, 3 * kMB, &big2);
    f.scheduler.Run();
    CHECK(small.at == 50 * kMillisecond);
    CHECK(big1.at == 87500 * kMicrosecond);
    CHECK(big2.at == 87500 * kMicrosecond);
  }
}

TEST_CASE("sim transport: the connection limit queues in FIFO order", "[sim][transport]") {
  // One connection; 10 ms latency; 100 MB/s. Sizes differ, so the finish times reveal the order.
  Fixture f(Constant(10 * kMillisecond, 100 * kMB, 1000 * kMB, 1));
  Done a, b, c;
  f.Start(0, 1 * kMB, &a);  // 0..20 ms
  f.Start(0, 2 * kMB, &b);  // starts at 20: 20..50 ms
  f.Start(0, 3 * kMB, &c);  // starts at 50: 50..90 ms
  f.scheduler.Run();
  CHECK(a.at == 20 * kMillisecond);
  CHECK(b.at == 50 * kMillisecond);
  CHECK(c.at == 90 * kMillisecond);
  CHECK(f.transport.peak_active() == 1);
  // Each outcome tells when its response began: the wait for the connection and the latency after it.
  CHECK(a.outcome.sent_at == 0);
  CHECK(a.outcome.first_byte_at == 10 * kMillisecond);
  CHECK(b.outcome.sent_at == 20 * kMillisecond);
  CHECK(b.outcome.first_byte_at == 30 * kMillisecond);
  CHECK(c.outcome.sent_at == 50 * kMillisecond);
  CHECK(c.outcome.first_byte_at == 60 * kMillisecond);
}

TEST_CASE("sim transport: two connections, four fetches", "[sim][transport]") {
  Fixture f(Constant(10 * kMillisecond, 100 * kMB, 1000 * kMB, 2));
  Done d[4];
  for (auto& x : d) f.Start(0, kMB, &x);
  f.scheduler.Run();
  CHECK(d[0].at == 20 * kMillisecond);
  CHECK(d[1].at == 20 * kMillisecond);
  CHECK(d[2].at == 40 * kMillisecond);
  CHECK(d[3].at == 40 * kMillisecond);
}

TEST_CASE("sim transport: the request overhead is added to every first byte", "[sim][transport]") {
  NetworkProfile p = Constant(10 * kMillisecond, 100 * kMB, 1000 * kMB);
  p.request_overhead_ns = 500 * kMicrosecond;
  SECTION("alone: latency + overhead + transfer") {
    Fixture f(p);
    Done d;
    f.Start(0, kMB, &d);
    f.scheduler.Run();
    CHECK(d.at == 10 * kMillisecond + 500 * kMicrosecond + 10 * kMillisecond);
  }
  SECTION("no core limit: requests issued together pay it side by side") {
    Fixture f(p);
    Done d[3];
    for (auto& x : d) f.Start(0, kMB, &x);
    f.scheduler.Run();
    for (auto& x : d) CHECK(x.at == 20500 * kMicrosecond);
  }
  SECTION("one core: requests issued together wait for each other's overhead, in issue order") {
    p.request_overhead_cores = 1;
    Fixture f(p);
    Done d[3];
    for (auto& x : d) f.Start(0, kMB, &x);
    f.scheduler.Run();
    CHECK(d[0].at == 20500 * kMicrosecond);
    CHECK(d[1].at == 21000 * kMicrosecond);
    CHECK(d[2].at == 21500 * kMicrosecond);
  }
  SECTION("two cores: the third waits for the first core") {
    p.request_overhead_cores = 2;
    Fixture f(p);
    Done d[3];
    for (auto& x : d) f.Start(0, kMB, &x);
    f.scheduler.Run();
    CHECK(d[0].at == 20500 * kMicrosecond);
    CHECK(d[1].at == 20500 * kMicrosecond);
    CHECK(d[2].at == 21000 * kMicrosecond);
  }
  SECTION("one core, requests apart: a core already free adds no wait") {
    p.request_overhead_cores = 1;
    Fixture f(p);
    Done a, b;
    f.Start(0, kMB, &a);
    f.scheduler.PostAfter(kMillisecond, [&] { f.Start(0, kMB, &b); });
    f.scheduler.Run();
    CHECK(a.at == 20500 * kMicrosecond);
    CHECK(b.at == kMillisecond + 20500 * kMicrosecond);
  }
}

TEST_CASE("sim transport: cancel mid-transfer reports partial bytes and frees the link", "[sim][transport]") {
  Fixture f(Constant(0, 100 * kMB, 100 * kMB));
  Done a, b;
  FetchId id = f.Start(0, 10 * kMB, &a);
  f.Start(0, 10 * kMB, &b);
  f.scheduler.PostAt(100 * kMillisecond, [&] {
    f.transport.Cancel(id);  // each has 5 MB by then
    CHECK(a.calls == 0);     // never from inside Cancel
  });
  f.scheduler.Run();
  REQUIRE(!a.outcome.status.ok());
  CHECK(a.outcome.status.error().code == ErrorCode::kCancelled);
  CHECK(a.outcome.bytes_received == 5 * kMB);
  CHECK(a.at == 100 * kMillisecond);
  CHECK(a.calls == 1);
  CHECK(b.at == 150 * kMillisecond);  // alone from 100 ms: 5 MB at 100 MB/s
  CHECK(f.transport.bytes_transferred() == 15 * kMB);
  f.transport.Cancel(id);  // finished ids are ignored
  f.scheduler.Run();
  CHECK(a.calls == 1);
}

TEST_CASE("sim transport: cancelled bytes are marked filled in the chunk", "[sim][transport]") {
  Fixture f(Constant(0, 100 * kMB, 100 * kMB));
  auto chunk = Chunk::Make(10 * kMB, false, &f.account);
  Done d;
  FetchId id = f.transport.Fetch(f.object, {0, 10 * kMB}, {chunk, 0}, [&](const FetchOutcome& o) { d.outcome = o; });
  f.scheduler.PostAt(30 * kMillisecond, [&] { f.transport.Cancel(id); });
  f.scheduler.Run();
  CHECK(d.outcome.bytes_received == 3 * kMB);
  CHECK(chunk->filled() == 3 * kMB);
}

TEST_CASE("sim transport: cancel while queued or in latency", "[sim][transport]") {
  Fixture f(Constant(10 * kMillisecond, 100 * kMB, 1000 * kMB, 1));
  Done a, b, c;
  FetchId first = f.Start(0, kMB, &a);
  FetchId queued = f.Start(0, 2 * kMB, &b);
  f.Start(0, 3 * kMB, &c);
  f.transport.Cancel(queued);
  f.transport.Cancel(first);  // in latency: frees the connection for c at once
  f.transport.Cancel(first);  // twice is harmless
  CHECK(a.calls + b.calls == 0);
  f.scheduler.Run();
  CHECK(a.calls == 1);
  CHECK(b.calls == 1);
  CHECK(a.outcome.status.error().code == ErrorCode::kCancelled);
  CHECK(b.outcome.status.error().code == ErrorCode::kCancelled);
  CHECK(a.outcome.bytes_received == 0);
  CHECK(b.outcome.bytes_received == 0);
  CHECK(a.at == 0);
  REQUIRE(c.outcome.status.ok());
  CHECK(c.at == 40 * kMillisecond);  // 10 ms latency + 30 ms
  CHECK(f.transport.bytes_transferred() == 3 * kMB);
  CHECK(f.transport.requests() == 3);
}

TEST_CASE("sim transport: a stale id does not cancel the fetch that reuses its slot", "[sim][transport]") {
  Fixture f(Constant(kMillisecond, 100 * kMB, 1000 * kMB));
  Done a, b;
  FetchId old = f.Start(0, kMB, &a);
  f.scheduler.Run();
  f.Start(0, kMB, &b);
  f.transport.Cancel(old);
  f.transport.Cancel(0);
  f.scheduler.Run();
  REQUIRE(b.outcome.status.ok());
}

TEST_CASE("sim transport: callbacks may start new fetches", "[sim][transport]") {
  Fixture f(Constant(kMillisecond, 100 * kMB, 1000 * kMB));
  int left = 100;
  std::vector<Nanos> at;
  auto chunk = Chunk::Make(kMB, false, &f.account);
  std::function<void()> next = [&] {
    if (left-- == 0) return;
    f.transport.Fetch(f.object, {0, kMB}, {chunk, 0}, [&](const FetchOutcome& o) {
      REQUIRE(o.status.ok());
      at.push_back(f.scheduler.Now());
      next();
    });
  };
  next();
  f.scheduler.Run();
  REQUIRE(at.size() == 100);
  for (std::size_t i = 0; i < at.size(); ++i) CHECK(at[i] == static_cast<Nanos>(i + 1) * 11 * kMillisecond);
}

TEST_CASE("sim transport: the same seed gives the same event log - another seed differs", "[sim][transport]") {
  NetworkProfile p = Constant(30 * kMillisecond, 100 * kMB, 500 * kMB, 8);
  p.latency_p99_ns = 200 * kMillisecond;
  auto run = [&](std::uint64_t seed) {
    SimScheduler scheduler;
    MemoryAccount account;
    SimTransport transport(&scheduler, p, seed);
    ObjectRef object{"b", "o", 1, 1ull << 40};
    std::vector<std::pair<Nanos, int>> log;  // (time, fetch number) of each completion
    for (int i = 0; i < 50; ++i) {
      const std::uint64_t size = static_cast<std::uint64_t>(i + 1) * 100000;
      transport.Fetch(object, {0, size}, {Chunk::Make(size, false, &account), 0},
                      [&log, &scheduler, i](const FetchOutcome&) { log.emplace_back(scheduler.Now(), i); });
    }
    scheduler.Run();
    return log;
  };
  const auto first = run(7);
  CHECK(first.size() == 50);
  CHECK(first == run(7));
  CHECK(first != run(8));
}

// The one-event shortcut for a transfer alone on the link must be invisible: a random mix of fetches
// that overlap, follow each other, and get cancelled in latency or mid-transfer completes at the same
// times with the same bytes with the shortcut on and off.
TEST_CASE("sim transport: the idle-link shortcut changes no completion time or byte count", "[sim][transport]") {
  NetworkProfile p = Constant(20 * kMillisecond, 100 * kMB, 150 * kMB, 3);
  p.latency_p99_ns = 120 * kMillisecond;
  struct Outcome {
    Nanos at;
    int fetch;
    bool ok;
    std::uint64_t bytes;
    Nanos sent;
    Nanos first_byte;
    bool operator==(const Outcome&) const = default;
  };
  auto run = [&](std::uint64_t seed, bool fuse) {
    SimScheduler scheduler;
    MemoryAccount account;
    SimTransport transport(&scheduler, p, seed, SimTransportOptions{.fuse_idle = fuse});
    ObjectRef object{"b", "o", 1, 1ull << 40};
    std::vector<Outcome> log;
    std::mt19937_64 rng(seed);
    Nanos at = 0;
    for (int i = 0; i < 300; ++i) {
      // Gaps from 0 (overlapping) to well past a transfer's duration (the link idles in between).
      at += static_cast<Nanos>(rng() % 4 == 0 ? 0 : rng() % (300 * kMillisecond));
      const std::uint64_t size = 1 + rng() % (20 * kMB);
      const int cancel = static_cast<int>(rng() % 4);  // 0: cancel soon (often in latency), 1: later
      const Nanos cancel_after = static_cast<Nanos>(rng() % (cancel == 0 ? 30 * kMillisecond : 200 * kMillisecond));
      scheduler.PostAt(at, [&, i, size, cancel, cancel_after] {
        const FetchId id = transport.Fetch(
            object, {0, size}, {Chunk::Make(size, false, &account), 0}, [&log, &scheduler, i](const FetchOutcome& o) {
              log.push_back({scheduler.Now(), i, o.status.ok(), o.bytes_received, o.sent_at, o.first_byte_at});
            });
        if (cancel < 2) scheduler.PostAfter(cancel_after, [&transport, id] { transport.Cancel(id); });
      });
    }
    scheduler.Run();
    std::sort(log.begin(), log.end(), [](const Outcome& a, const Outcome& b) { return a.fetch < b.fetch; });
    return log;
  };
  for (std::uint64_t seed : {1, 2, 3, 4}) {
    const auto fused = run(seed, true);
    const auto plain = run(seed, false);
    REQUIRE(fused.size() == 300);
    const auto cancelled = std::count_if(fused.begin(), fused.end(), [](const Outcome& o) { return !o.ok; });
    CHECK(cancelled > 30);  // the mix really has cancels in it
    for (std::size_t i = 0; i < fused.size(); ++i) {
      INFO("seed " << seed << " fetch " << i);
      REQUIRE(fused[i] == plain[i]);
      // A completed fetch's first byte came after it was asked for and before its last byte.
      if (fused[i].ok) {
        CHECK((fused[i].sent >= 0 && fused[i].sent < fused[i].first_byte && fused[i].first_byte <= fused[i].at));
      } else {
        CHECK((fused[i].sent == -1 && fused[i].first_byte == -1));
      }
    }
  }
}

TEST_CASE("sim transport: counts requests and the bytes that crossed the link", "[sim][transport]") {
  NetworkProfile p = Constant(kMillisecond, 100 * kMB, 1000 * kMB);
  Fixture f(p);
  Done d[4];
  for (auto& x : d) f.Start(0, 256ull << 20, &x);  // 1 GiB in total
  f.scheduler.Run();
  CHECK(f.transport.requests() == 4);
  CHECK(f.transport.bytes_transferred() == 1ull << 30);
}

TEST_CASE("sim transport: with payload every byte is the object's content", "[sim][transport]") {
  Fixture f(Constant(kMillisecond, 100 * kMB, 1000 * kMB), 1, true);
  REQUIRE(f.transport.wants_payload());
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
  Fixture no_payload(Constant(kMillisecond, 100 * kMB, 1000 * kMB));
  CHECK(!no_payload.transport.wants_payload());
}

TEST_CASE("sim transport: destroying it with fetches in flight leaves the scheduler clean", "[sim][transport]") {
  SimScheduler scheduler;
  MemoryAccount account;
  {
    SimTransport transport(&scheduler, Constant(10 * kMillisecond, 100 * kMB, 1000 * kMB, 1), 1);
    ObjectRef object{"b", "o", 1, 1ull << 40};
    for (int i = 0; i < 3; ++i) {
      transport.Fetch(object, {0, kMB}, {Chunk::Make(kMB, false, &account), 0}, [](const FetchOutcome&) {});
    }
    scheduler.RunUntil(15 * kMillisecond);  // one active, two queued
    FetchId id = transport.Fetch(object, {0, kMB}, {Chunk::Make(kMB, false, &account), 0}, [](const FetchOutcome&) {});
    transport.Cancel(id);  // its callback is pending
  }
  CHECK(scheduler.pending() == 0);
  scheduler.Run();
}

// Streams. Times below are worked by hand: a byte count c at rate r takes ceil(c * 1e9 / r) ns.
struct Pulled {
  Nanos at = -1;
  int calls = 0;
  FetchOutcome outcome;
  ChunkRef chunk;
};

NetworkProfile Windowed(std::uint64_t window, double stream_bps, double link_bps, std::uint32_t connections = 100) {
  NetworkProfile p = Constant(10 * kMillisecond, stream_bps, link_bps, connections);
  p.stream_window_bytes = window;
  return p;
}

void PullAt(Fixture& f, Nanos at, StreamId id, std::uint64_t length, Pulled* out) {
  f.scheduler.PostAt(at, [&f, id, length, out] {
    out->chunk = Chunk::Make(length, f.transport.wants_payload(), &f.account);
    f.transport.ReadStream(id, length, {out->chunk, 0}, [&f, out](const FetchOutcome& o) {
      out->at = f.scheduler.Now();
      ++out->calls;
      out->outcome = o;
    });
    CHECK(out->calls == 0);  // never inline
  });
}

void CloseAt(Fixture& f, Nanos at, StreamId id, std::optional<std::uint64_t>* unread) {
  f.scheduler.PostAt(at, [&f, id, unread] { f.transport.CloseStream(id, [unread](std::uint64_t n) { *unread = n; }); });
}

TEST_CASE("sim transport: a stream pays latency once - its body runs ahead of the pulls by the window",
          "[sim][transport][stream]") {
  Fixture f(Windowed(kMB, 100 * kMB, 1000 * kMB));
  const StreamId id = f.transport.OpenStream(f.object, {0, 10 * kMB});
  Pulled a, b, c;
  PullAt(f, 0, id, 100'000, &a);                  // latency 10 ms + 1 ms
  PullAt(f, 50 * kMillisecond, id, 500'000, &b);  // 1.1 MB arrived by 21 ms (then paused): at once
  PullAt(f, 60 * kMillisecond, id, 2 * kMB, &c);  // 1.6 MB by 55 ms; 1 MB more takes 10 ms
  std::optional<std::uint64_t> unread;
  CloseAt(f, 75 * kMillisecond, id, &unread);  // flowing again since 70 ms: 3.1 MB arrived
  f.scheduler.Run();
  CHECK(a.at == 11 * kMillisecond);
  CHECK(b.at == 50 * kMillisecond);
  CHECK(c.at == 70 * kMillisecond);
  for (Pulled* p : {&a, &b, &c}) {
    REQUIRE(p->outcome.status.ok());
    CHECK(p->outcome.bytes_received == p->chunk->size());
    CHECK(p->chunk->filled() == p->chunk->size());
  }
  REQUIRE(unread.has_value());
  CHECK(*unread == 500'000);
  CHECK(f.transport.bytes_transferred() == 3'100'000);
  CHECK(f.transport.requests() == 1);
}

TEST_CASE("sim transport: a request pays the connect overhead only when every connection opened is busy",
          "[sim][transport]") {
  NetworkProfile p = Constant(10 * kMillisecond, 100 * kMB, 1000 * kMB, 2);
  p.connect_overhead_ns = 3 * kMillisecond;
  Fixture f(p);
  Done a, b, c, d, e, g, h;
  auto at = [&](Nanos t, Done* done) { f.scheduler.PostAt(t, [&f, done] { f.Start(0, kMB, done); }); };
  at(0, &a);                   // opens the first: 3 + 10 + 10 ms
  at(30 * kMillisecond, &b);   // reuses it
  at(60 * kMillisecond, &c);   // reuses it
  at(60 * kMillisecond, &d);   // the first is busy: opens the second
  at(100 * kMillisecond, &e);  // both reused
  at(100 * kMillisecond, &g);
  at(100 * kMillisecond, &h);  // waits for a connection (the limit is 2), then reuses it
  f.scheduler.Run();
  CHECK(a.at == 23 * kMillisecond);
  CHECK(b.at == 50 * kMillisecond);
  CHECK(c.at == 80 * kMillisecond);
  CHECK(d.at == 83 * kMillisecond);
  CHECK(e.at == 120 * kMillisecond);
  CHECK(g.at == 120 * kMillisecond);
  CHECK(h.at == 140 * kMillisecond);
  SECTION("streams open their own connections: the stream overhead, never this") {
    NetworkProfile q = Windowed(kMB, 100 * kMB, 1000 * kMB);
    q.connect_overhead_ns = 3 * kMillisecond;
    Fixture s(q);
    const StreamId id = s.transport.OpenStream(s.object, {0, 10 * kMB});
    Pulled pulled;
    PullAt(s, 0, id, 100'000, &pulled);  // latency 10 ms, then 1 ms of transfer
    s.scheduler.Run();
    CHECK(pulled.at == 11 * kMillisecond);
  }
}

TEST_CASE("sim transport: a stream pays the stream overhead on top of the request overhead, a fetch does not",
          "[sim][transport][stream]") {
  NetworkProfile p = Windowed(kMB, 100 * kMB, 1000 * kMB);
  p.request_overhead_ns = 500 * kMicrosecond;
  p.stream_overhead_ns = 700 * kMicrosecond;
  SECTION("alone") {
    Fixture f(p);
    const StreamId id = f.transport.OpenStream(f.object, {0, 10 * kMB});
    Pulled a;
    PullAt(f, 0, id, 100'000, &a);  // latency 10 ms + 0.5 + 0.7 ms, then 1 ms of transfer
    Done d;
    f.Start(0, 100'000, &d);  // the same latency and transfer, with the request overhead only
    f.scheduler.Run();
    CHECK(a.at == 12200 * kMicrosecond);
    CHECK(d.at == 11500 * kMicrosecond);
  }
  SECTION("one core: the stream's setup holds the core too") {
    p.request_overhead_cores = 1;
    Fixture f(p);
    const StreamId id = f.transport.OpenStream(f.object, {0, 10 * kMB});
    Pulled a;
    PullAt(f, 0, id, 100'000, &a);
    Done d;
    f.Start(0, 100'000, &d);  // waits for the stream's 1.2 ms on the one core
    f.scheduler.Run();
    CHECK(a.at == 12200 * kMicrosecond);
    CHECK(d.at == 1200 * kMicrosecond + 11500 * kMicrosecond);
  }
}

TEST_CASE("sim transport: the host's byte throughput is shared by the active transfers like the link",
          "[sim][transport]") {
  NetworkProfile p = Constant(10 * kMillisecond, 100 * kMB, 1000 * kMB);
  SECTION("no limit (the default): four transfers at the per-request rate") {
    Fixture f(p);
    Done d[4];
    for (auto& x : d) f.Start(0, kMB, &x);
    f.scheduler.Run();
    for (auto& x : d) CHECK(x.at == 20 * kMillisecond);
  }
  p.host_bandwidth_bytes_per_s = 200 * kMB;
  SECTION("alone: the per-request rate, below the host's") {
    Fixture f(p);
    Done d;
    f.Start(0, kMB, &d);
    f.scheduler.Run();
    CHECK(d.at == 20 * kMillisecond);
  }
  SECTION("four at once: 200 MB/s among four, 50 MB/s each") {
    Fixture f(p);
    Done d[4];
    for (auto& x : d) f.Start(0, kMB, &x);
    f.scheduler.Run();
    for (auto& x : d) CHECK(x.at == 30 * kMillisecond);
  }
  SECTION("a link below the host's limit is what binds") {
    p.link_bandwidth_bytes_per_s = 100 * kMB;
    Fixture f(p);
    Done d[4];
    for (auto& x : d) f.Start(0, kMB, &x);
    f.scheduler.Run();
    for (auto& x : d) CHECK(x.at == 50 * kMillisecond);
  }
  SECTION("a stream's bytes count too") {
    Fixture f(p);
    const StreamId id = f.transport.OpenStream(f.object, {0, 10 * kMB});
    Pulled a;
    PullAt(f, 0, id, 2 * kMB, &a);
    Done d[2];
    for (auto& x : d) f.Start(0, kMB, &x);
    f.scheduler.Run();
    // Three transfers at 66.7 MB/s until the fetches' 1 MB is in (25 ms), the stream's second MB alone.
    for (auto& x : d) CHECK(x.at == 25 * kMillisecond);
    CHECK(a.at == 35 * kMillisecond);
  }
}

TEST_CASE("sim transport: a paused stream takes no share of the link - streams take none of the connections",
          "[sim][transport][stream]") {
  Fixture f(Windowed(kMB, 100 * kMB, 100 * kMB, 1));
  const StreamId id = f.transport.OpenStream(f.object, {0, 10 * kMB});  // paused at 20 ms, 1 MB held
  Done first, second;
  f.scheduler.PostAt(30 * kMillisecond, [&] {
    f.Start(0, kMB, &first);   // the only connection; the whole link: 40 + 10 ms
    f.Start(0, kMB, &second);  // queued behind it
  });
  std::optional<std::uint64_t> unread;
  CloseAt(f, 80 * kMillisecond, id, &unread);
  f.scheduler.Run();
  CHECK(first.at == 50 * kMillisecond);
  CHECK(second.at == 70 * kMillisecond);
  REQUIRE(unread.has_value());
  CHECK(*unread == kMB);
}

TEST_CASE("sim transport: a stream whose body has all arrived serves its pulls from what it holds",
          "[sim][transport][stream]") {
  Fixture f(Windowed(kMB, 100 * kMB, 1000 * kMB, 1));
  const StreamId id = f.transport.OpenStream(f.object, {0, 500'000});  // all there at 15 ms
  Done fetch;
  f.Start(0, kMB, &fetch);  // not queued behind the stream: 10 + 10 ms
  Pulled a;
  PullAt(f, 40 * kMillisecond, id, 600'000, &a);  // clipped to what is left: served at once
  std::optional<std::uint64_t> unread;
  CloseAt(f, 45 * kMillisecond, id, &unread);
  f.scheduler.Run();
  CHECK(fetch.at == 20 * kMillisecond);
  CHECK(a.at == 40 * kMillisecond);
  CHECK(a.outcome.bytes_received == 500'000);
  REQUIRE(unread.has_value());
  CHECK(*unread == 0);
}

// A pull asked for at the instant the stream's body reaches its window, before that instant's completion
// event runs: its bytes have arrived, so a posted task delivers it, but the completion event, first,
// takes it too. It is delivered once (the posted task used to find no pull and crash).
TEST_CASE("sim transport: a pull asked for as its bytes complete is delivered once", "[sim][transport][stream]") {
  Fixture f(Windowed(kMB, 100 * kMB, 1000 * kMB));
  Pulled a;
  const StreamId id = f.transport.OpenStream(f.object, {0, 10 * kMB});  // 1 MB arrived at 20 ms
  PullAt(f, 20 * kMillisecond, id, 500'000, &a);  // posted now, before the 20 ms completion event is
  std::optional<std::uint64_t> unread;
  CloseAt(f, 30 * kMillisecond, id, &unread);
  f.scheduler.Run();
  CHECK(a.calls == 1);
  CHECK(a.at == 20 * kMillisecond);
  REQUIRE(a.outcome.status.ok());
  CHECK(a.outcome.bytes_received == 500'000);
  CHECK(a.chunk->filled() == 500'000);
  REQUIRE(unread.has_value());
  CHECK(*unread == kMB);  // the window refilled, 1 MB ahead of the pull
}

TEST_CASE("sim transport: closing a stream cancels its pull first - then reports the unread bytes",
          "[sim][transport][stream]") {
  Fixture f(Windowed(kMB, 100 * kMB, 1000 * kMB));
  const StreamId id = f.transport.OpenStream(f.object, {0, 10 * kMB});
  Pulled a;
  PullAt(f, 0, id, 5 * kMB, &a);
  std::vector<std::string> order;
  f.scheduler.PostAt(30 * kMillisecond, [&] {
    f.transport.CloseStream(id, [&](std::uint64_t unread) {
      order.push_back(std::string(a.calls == 1 ? "pull done, " : "pull pending, ") + "closed " +
                      std::to_string(unread) + " at " + std::to_string(f.scheduler.Now()));
    });
  });
  f.scheduler.Run();
  CHECK(a.calls == 1);
  CHECK(a.outcome.status.error().code == ErrorCode::kCancelled);
  CHECK(a.at == 30 * kMillisecond);
  // 2 MB arrived (10 to 30 ms), none of it pulled.
  CHECK(order == std::vector<std::string>{"pull done, closed 2000000 at 30000000"});
  CHECK(f.transport.bytes_transferred() == 2 * kMB);
}

TEST_CASE("sim transport: a stream's pulls carry the object's bytes at the stream's offsets",
          "[sim][transport][stream]") {
  Fixture f(Windowed(64 * 1024, 100 * kMB, 1000 * kMB), 1, /*payload=*/true);
  const StreamId id = f.transport.OpenStream(f.object, {12345, 12345 + 300'000});
  Pulled a, b;
  PullAt(f, 0, id, 1000, &a);
  PullAt(f, 20 * kMillisecond, id, 200'000, &b);
  std::optional<std::uint64_t> unread;
  CloseAt(f, 40 * kMillisecond, id, &unread);
  f.scheduler.Run();
  REQUIRE(a.outcome.status.ok());
  REQUIRE(b.outcome.status.ok());
  const std::uint64_t seed = ObjectSeed("b", "o", 1);
  for (std::uint64_t i = 0; i < 1000; ++i) {
    if (a.chunk->data()[i] != SyntheticByte(seed, 12345 + i)) FAIL("byte " << i << " of pull 1 differs");
  }
  for (std::uint64_t i = 0; i < 200'000; ++i) {
    if (b.chunk->data()[i] != SyntheticByte(seed, 13345 + i)) FAIL("byte " << i << " of pull 2 differs");
  }
  REQUIRE(unread.has_value());
  CHECK(*unread == 64 * 1024);  // a full window beyond the last pull
}

}  // namespace
}  // namespace pflab::sim
