#include "engine/fault_injecting_transport.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <optional>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "engine/accounting_transport.h"
#include "engine/retrying_transport.h"
#include "engine/synthetic_content.h"
#include "sim/sim_scheduler.h"
#include "sim/sim_transport.h"
#include "tests/support/forwarding_transport.h"

namespace pflab {
namespace {

constexpr std::uint64_t kMB = 1000 * 1000;
constexpr Nanos kLatency = 10 * kMillisecond;

// 10 ms first-byte latency, 100 MB/s per stream: c bytes take ceil(c * 10) ns after the latency.
sim::NetworkProfile Constant(std::uint32_t connections = 100) {
  sim::NetworkProfile p;
  p.latency_median_ns = kLatency;
  p.latency_p99_ns = 0;
  p.stream_bandwidth_bytes_per_s = 100 * kMB;
  p.link_bandwidth_bytes_per_s = 1000 * kMB;
  p.max_connections = connections;
  p.stream_window_bytes = kMB;
  return p;
}
Nanos Transfer(std::uint64_t bytes) {
  return static_cast<Nanos>(bytes * 10);
}

FaultProfile Profile(const std::string& instruction, double probability, std::uint64_t seed = 1) {
  auto parsed = FaultProfile::Parse(
      {{"seed", seed}, {"faults", {{{"instruction", instruction}, {"probability", probability}}}}}, "test");
  REQUIRE(parsed.ok());
  return *parsed;
}
Fault Parsed(const std::string& instruction) {
  auto fault = ParseInstruction(instruction);
  REQUIRE(fault.ok());
  return *fault;
}

struct Done {
  Nanos at = -1;
  int calls = 0;
  FetchOutcome outcome;
  ChunkRef chunk;
};

// SimTransport < FaultInjectingTransport < AccountingTransport, as the run's stack has them.
struct Rig {
  sim::SimScheduler scheduler;
  MemoryAccount account;
  sim::SimTransport sim;
  FaultInjectingTransport faults;
  AccountingTransport accounting{&faults};
  ObjectRef object{"b", "o", 1, 1ull << 30};

  Rig(FaultInjection injection, sim::SimTransportOptions options = {}, std::uint32_t connections = 100)
      : sim(&scheduler, Constant(connections), 1, options), faults(&scheduler, &sim, std::move(injection)) {}

  FetchId Start(std::uint64_t begin, std::uint64_t size, Done* done) {
    done->chunk = Chunk::Make(size, accounting.wants_payload(), &account);
    const FetchId id =
        accounting.Fetch(object, {begin, begin + size}, {done->chunk, 0}, [this, done](const FetchOutcome& o) {
          done->at = scheduler.Now();
          ++done->calls;
          done->outcome = o;
        });
    CHECK(done->calls == 0);  // never inline
    return id;
  }
  // Fetches [begin, begin + size) and runs the scheduler dry.
  Done FetchAll(std::uint64_t begin, std::uint64_t size) {
    Done done;
    Start(begin, size, &done);
    scheduler.Run();
    return done;
  }
  void Pull(StreamId id, std::uint64_t length, Done* done) {
    done->chunk = Chunk::Make(length, accounting.wants_payload(), &account);
    accounting.ReadStream(id, length, {done->chunk, 0}, [this, done](const FetchOutcome& o) {
      done->at = scheduler.Now();
      ++done->calls;
      done->outcome = o;
    });
    CHECK(done->calls == 0);
  }
  // Whether the first `n` bytes of `done`'s chunk are the object's from `begin`.
  bool Right(const Done& done, std::uint64_t begin, std::uint64_t n) const {
    const std::uint64_t seed = ObjectSeed("b", "o", 1);
    for (std::uint64_t i = 0; i < n; ++i) {
      if (done.chunk->data()[i] != SyntheticByte(seed, begin + i)) return false;
    }
    return true;
  }
};

FaultInjection Always(const std::string& instruction, Nanos read_timeout = 0) {
  FaultInjection f;
  f.profile.emplace(Profile(instruction, 1));
  f.read_timeout = read_timeout;
  return f;
}

TEST_CASE("fault injection: return-X and reset fail a fetch after its first-byte latency, with no bytes",
          "[engine][faults]") {
  SECTION("return-503: retryable, on one connection each frees it for the next") {
    Rig rig(Always("return-503"), {}, 1);
    Done d[3];
    for (auto& x : d) rig.Start(0, kMB, &x);
    rig.scheduler.Run();
    for (int i = 0; i < 3; ++i) {
      INFO(i);
      REQUIRE(!d[i].outcome.status.ok());
      const Error& e = d[i].outcome.status.error();
      CHECK(e.code == ErrorCode::kUnavailable);
      CHECK(e.retryable);
      CHECK(e.http_status == 503);
      CHECK(d[i].outcome.bytes_received == 0);
      CHECK(d[i].chunk->filled() == 0);  // the probe's byte landed elsewhere
      CHECK(d[i].at == (i + 1) * (kLatency + Transfer(1)));
    }
    CHECK(rig.faults.fired().at("return-503") == 3);
    CHECK(rig.faults.refused() == 3);
    CHECK(rig.accounting.requests() == 3);
    CHECK(rig.accounting.billed_requests() == 0);  // error statuses are not billed
    CHECK(rig.accounting.bytes_received() == 0);
  }
  SECTION("the status decides the kind, as over HTTP") {
    for (const auto& [instruction, code, retryable] : std::vector<std::tuple<std::string, ErrorCode, bool>>{
             {"return-404", ErrorCode::kNotFound, false},
             {"return-401", ErrorCode::kPermissionDenied, false},
             {"return-429", ErrorCode::kUnavailable, true},
             {"return-200", ErrorCode::kDataLoss, true},
             {"return-reset-connection", ErrorCode::kUnavailable, true}}) {
      INFO(instruction);
      Rig rig(Always(instruction));
      const Done d = rig.FetchAll(0, 1000);
      REQUIRE(!d.outcome.status.ok());
      CHECK(d.outcome.status.error().code == code);
      CHECK(d.outcome.status.error().retryable == retryable);
    }
  }
  SECTION("seeded: the same seed fails the same requests") {
    auto run = [](std::uint64_t seed) {
      FaultInjection f;
      f.profile.emplace(Profile("return-503", 0.3, seed));
      Rig rig(std::move(f));
      std::vector<Done> d(2000);
      for (auto& x : d) rig.Start(0, 1000, &x);
      rig.scheduler.Run();
      std::vector<bool> failed;
      for (const auto& x : d) failed.push_back(!x.outcome.status.ok());
      CHECK(static_cast<std::uint64_t>(std::count(failed.begin(), failed.end(), true)) == rig.faults.refused());
      return failed;
    };
    const auto a = run(1);
    const double rate = static_cast<double>(std::count(a.begin(), a.end(), true)) / static_cast<double>(a.size());
    CHECK(rate == Approx(0.3).margin(0.04));
    CHECK(a == run(1));
    CHECK(a != run(2));
  }
}

TEST_CASE("fault injection: body faults act on the bytes delivered", "[engine][faults]") {
  const sim::SimTransportOptions payload{.fill_payload = true};
  SECTION("broken stream after 64K: 64 KiB of right bytes, then a retryable failure") {
    Rig rig(Always("return-broken-stream-after-64K"), payload);
    const Done d = rig.FetchAll(1000, kMB);
    REQUIRE(!d.outcome.status.ok());
    CHECK(d.outcome.status.error().code == ErrorCode::kUnavailable);
    CHECK(d.outcome.status.error().retryable);
    CHECK(d.outcome.bytes_received == 65536);
    CHECK(rig.Right(d, 1000, 65536));
    CHECK(d.at == kLatency + Transfer(65536));
    CHECK(rig.accounting.billed_requests() == 1);
    CHECK(rig.accounting.bytes_received() == 65536);
  }
  SECTION("a broken stream fires only on a longer body") {
    Rig rig(Always("return-broken-stream-after-64K"), payload);
    const Done d = rig.FetchAll(0, 65536);
    CHECK(d.outcome.status.ok());
    CHECK(rig.faults.fired().empty());
  }
  SECTION("stall: the rest comes after the pause") {
    Rig rig(Always("stall-for-2s-after-64K"), payload);
    const Done d = rig.FetchAll(0, kMB);
    REQUIRE(d.outcome.status.ok());
    CHECK(d.outcome.bytes_received == kMB);
    CHECK(rig.Right(d, 0, kMB));
    CHECK(d.at == kLatency + Transfer(65536) + 2 * kSecond + kLatency + Transfer(kMB - 65536));
  }
  SECTION("stall longer than the read timeout: cut after the timeout, with the bytes before it") {
    Rig rig(Always("stall-for-2s-after-64K", kSecond), payload);
    const Done d = rig.FetchAll(0, kMB);
    REQUIRE(!d.outcome.status.ok());
    CHECK(d.outcome.status.error().retryable);
    CHECK(d.outcome.bytes_received == 65536);
    CHECK(d.at == kLatency + Transfer(65536) + kSecond);
  }
  SECTION("corrupt-byte: the middle byte of the body differs, only it") {
    Rig rig(Always("corrupt-byte"), payload);
    const Done d = rig.FetchAll(0, 1001);
    REQUIRE(d.outcome.status.ok());
    const std::uint64_t seed = ObjectSeed("b", "o", 1);
    for (std::uint64_t i = 0; i < 1001; ++i) {
      INFO(i);
      CHECK((d.chunk->data()[i] == SyntheticByte(seed, i)) == (i != 500));
    }
  }
  SECTION("corrupt-byte without a payload: the chunk's provenance says where the wrong byte came from") {
    Rig rig(Always("corrupt-byte"), {.record_provenance = true});
    const Done d = rig.FetchAll(0, 1001);
    REQUIRE(d.outcome.status.ok());
    const auto& fills = d.chunk->provenance();
    REQUIRE(fills.size() == 2);
    CHECK(fills.back().chunk_offset == 500);
    CHECK(fills.back().length == 1);
    CHECK(fills.back().object_offset == 501);
  }
}

TEST_CASE("fault injection: a script gives each fault to the first request it fires for", "[engine][faults]") {
  FaultInjection f;
  f.script = {Parsed("return-broken-stream-after-1K"), Parsed("return-500")};
  Rig rig(std::move(f));
  Done small, big, next, last;
  rig.Start(0, 1024, &small);  // 1 KiB: the broken stream does not fire, and stays first
  rig.scheduler.Run();
  rig.Start(0, 4096, &big);
  rig.scheduler.Run();
  rig.Start(0, 4096, &next);
  rig.scheduler.Run();
  rig.Start(0, 4096, &last);
  rig.scheduler.Run();
  CHECK(small.outcome.status.ok());
  REQUIRE(!big.outcome.status.ok());
  CHECK(big.outcome.bytes_received == 1024);
  REQUIRE(!next.outcome.status.ok());
  CHECK(next.outcome.status.error().http_status == 500);
  CHECK(last.outcome.status.ok());
}

TEST_CASE("fault injection: streams", "[engine][faults][stream]") {
  SECTION("a refused GET fails its first pull after the latency, and every later one at once") {
    Rig rig(Always("return-503"));
    const StreamId id = rig.accounting.OpenStream(rig.object, {0, kMB});
    Done a, b;
    rig.Pull(id, 1000, &a);
    rig.scheduler.Run();
    rig.Pull(id, 1000, &b);
    const Nanos asked = rig.scheduler.Now();
    rig.scheduler.Run();
    std::optional<std::uint64_t> unread;
    rig.accounting.CloseStream(id, [&](std::uint64_t n) { unread = n; });
    rig.scheduler.Run();
    REQUIRE(!a.outcome.status.ok());
    CHECK(a.outcome.status.error().http_status == 503);
    CHECK(a.at == kLatency + Transfer(1));
    CHECK(a.outcome.bytes_received == 0);
    REQUIRE(!b.outcome.status.ok());
    CHECK(b.at == asked);
    CHECK(unread == 0);
    CHECK(rig.accounting.billed_requests() == 0);
  }
  SECTION("a broken GET delivers its bytes up to the break, then fails") {
    Rig rig(Always("return-broken-stream-after-64K"), {.fill_payload = true});
    const StreamId id = rig.accounting.OpenStream(rig.object, {0, kMB});
    Done a, b, c;
    rig.Pull(id, 40000, &a);
    rig.scheduler.Run();
    rig.Pull(id, 40000, &b);
    rig.scheduler.Run();
    rig.Pull(id, 40000, &c);
    rig.scheduler.Run();
    CHECK(a.outcome.status.ok());
    CHECK(rig.Right(a, 0, 40000));
    REQUIRE(!b.outcome.status.ok());
    CHECK(b.outcome.bytes_received == 65536 - 40000);
    CHECK(rig.Right(b, 40000, 65536 - 40000));
    REQUIRE(!c.outcome.status.ok());
    CHECK(c.outcome.bytes_received == 0);
    rig.accounting.CloseStream(id, nullptr);
    rig.scheduler.Run();
  }
  SECTION("closing a stream with a pull below ends the pull as cancelled") {
    Rig rig(Always("stall-for-2s-after-64K"));
    const StreamId id = rig.accounting.OpenStream(rig.object, {0, kMB});
    Done a;
    rig.Pull(id, 100000, &a);
    rig.scheduler.RunUntil(kSecond);  // stalled
    std::optional<std::uint64_t> unread;
    rig.accounting.CloseStream(id, [&](std::uint64_t n) { unread = n; });
    rig.scheduler.Run();
    REQUIRE(a.calls == 1);
    CHECK(a.outcome.status.error().code == ErrorCode::kCancelled);
    CHECK(unread.has_value());
  }
}

TEST_CASE("fault injection: a cancelled fetch completes once, with kCancelled, whatever its step", "[engine][faults]") {
  for (const auto& [instruction, at] :
       std::vector<std::pair<std::string, Nanos>>{{"return-503", 0},
                                                  {"return-503", 5 * kMillisecond},
                                                  {"stall-for-2s-after-64K", 5 * kMillisecond},
                                                  {"stall-for-2s-after-64K", kSecond}}) {
    {
      INFO(instruction << " cancelled at " << at);
      Rig rig(Always(instruction));
      Done d;
      const FetchId id = rig.Start(0, kMB, &d);
      rig.scheduler.RunUntil(at);  // before the request, in its stall, or in the posted failure
      REQUIRE(d.calls == 0);
      rig.accounting.Cancel(id);
      rig.scheduler.Run();
      CHECK(d.calls == 1);
      CHECK(d.outcome.status.error().code == ErrorCode::kCancelled);
    }
  }
}

TEST_CASE("fault injection: under the retrying transport, a read resumes and gets every right byte",
          "[engine][faults][retry]") {
  FaultInjection f;
  f.script = {Parsed("return-broken-stream-after-64K"), Parsed("return-503"), Parsed("stall-for-2s-after-64K")};
  f.read_timeout = kSecond;
  Rig rig(std::move(f), {.fill_payload = true});
  NullEventSink events;
  RetryingTransport retrying(LayerContext{&rig.scheduler, &events, 0}, &rig.accounting, RetryPolicy{}, &rig.account);
  Done d;
  d.chunk = Chunk::Make(kMB, true, &rig.account);
  retrying.Fetch(rig.object, {0, kMB}, {d.chunk, 0}, [&](const FetchOutcome& o) {
    ++d.calls;
    d.outcome = o;
  });
  rig.scheduler.Run();
  REQUIRE(d.calls == 1);
  REQUIRE(d.outcome.status.ok());
  CHECK(d.outcome.bytes_received == kMB);
  CHECK(rig.Right(d, 0, kMB));
  CHECK(rig.faults.fired().size() == 3);
  CHECK(rig.accounting.requests() == 4);  // three faulted attempts, then the rest
}

TEST_CASE("accounting: over the simulator it counts what the simulator moved - the cost is as before",
          "[engine][accounting]") {
  // A mix of fetches, cancels at random times, and streams pulled and closed early: the accounting
  // above must see every request and every byte that crossed the simulated link.
  for (std::uint64_t seed = 1; seed <= 5; ++seed) {
    INFO("seed " << seed);
    sim::SimScheduler scheduler;
    MemoryAccount account;
    sim::SimTransport sim(&scheduler, Constant(4), seed);
    AccountingTransport accounting(&sim);
    const ObjectRef object{"b", "o", 1, 1ull << 30};
    std::mt19937_64 rng(seed);
    std::vector<ChunkRef> chunks;
    for (int i = 0; i < 200; ++i) {
      const Nanos at = static_cast<Nanos>(rng() % (200 * kMillisecond));
      const std::uint64_t size = 1 + rng() % (4 * kMB);
      const int kind = static_cast<int>(rng() % 3);
      const Nanos later = at + static_cast<Nanos>(rng() % (60 * kMillisecond));
      scheduler.PostAt(at, [&, size, kind, later] {
        auto chunk = Chunk::Make(size, false, &account);
        chunks.push_back(chunk);
        if (kind < 2) {
          const FetchId id = accounting.Fetch(object, {0, size}, {chunk, 0}, [](const FetchOutcome&) {});
          if (kind == 1) scheduler.PostAt(later, [&accounting, id] { accounting.Cancel(id); });
          return;
        }
        const StreamId id = accounting.OpenStream(object, {0, size});
        accounting.ReadStream(id, size / 2, {chunk, 0}, [](const FetchOutcome&) {});
        scheduler.PostAt(later, [&accounting, id] { accounting.CloseStream(id, [](std::uint64_t) {}); });
      });
    }
    scheduler.Run();
    CHECK(accounting.requests() == sim.requests());
    CHECK(accounting.billed_requests() == sim.requests());
    CHECK(accounting.bytes_received() == sim.bytes_transferred());
    CHECK(sim.bytes_transferred() > 0);
  }
}

// Hands every call to the transport below unchanged: a RetryingTransport over it does not see the
// AccountingTransport under it, so its fetches take the accounting's own hop.
using Forward = testing::ForwardingTransport;

// Keeps every event, as the event log would.
class KeepEvents final : public EventSink {
 public:
  void OnEvent(const Event& e) override {
    events.emplace_back(e.t_ns, static_cast<int>(e.type), e.offset, e.length, e.bytes);
  }
  std::vector<std::tuple<Nanos, int, std::uint64_t, std::uint64_t, std::uint64_t>> events;
};

TEST_CASE("accounting: a retrying transport right above it counts its fetches exactly as the accounting's hop does",
          "[engine][accounting][retry]") {
  // The same fetches, cancels, discards and retries, once with the RetryingTransport directly on the
  // accounting (its fetches skip the accounting's hop and are counted by the decorator) and once
  // through a forwarding layer (the accounting's own Fetch): the counts, the outcomes and their
  // times, and the request events must be the same. The decorator is destroyed with fetches still in
  // flight, whose late answers (cancelled, with the bytes they had) must still be counted.
  struct Run {
    std::vector<std::tuple<int, Nanos, int, std::uint64_t>> ends;  // fetch, when, error code, bytes
    std::vector<std::tuple<Nanos, int, std::uint64_t, std::uint64_t, std::uint64_t>> events;
    std::uint64_t started = 0, requests = 0, billed = 0, bytes = 0, bytes_at_reset = 0;
    bool operator==(const Run&) const = default;
  };
  for (std::uint64_t seed = 1; seed <= 4; ++seed) {
    INFO("seed " << seed);
    auto run = [seed](bool direct) {
      FaultInjection f;
      auto parsed =
          FaultProfile::Parse({{"seed", seed},
                               {"faults",
                                {{{"instruction", "return-503"}, {"probability", 0.15}},
                                 {{"instruction", "return-broken-stream-after-64K"}, {"probability", 0.15}}}}},
                              "test");
      REQUIRE(parsed.ok());
      f.profile.emplace(std::move(*parsed));
      Rig rig(std::move(f), {}, 4);
      Forward forward(&rig.accounting);
      KeepEvents events;
      auto retrying = std::make_unique<RetryingTransport>(
          LayerContext{&rig.scheduler, &events, 0}, direct ? static_cast<Transport*>(&rig.accounting) : &forward,
          RetryPolicy{.initial_backoff = kMillisecond, .seed = seed}, &rig.account);
      Run out;
      std::mt19937_64 rng(seed);
      std::vector<ChunkRef> chunks;
      for (int i = 0; i < 150; ++i) {
        const Nanos at = static_cast<Nanos>(rng() % (200 * kMillisecond));
        const std::uint64_t size = 1 + rng() % (2 * kMB);
        const int kind = static_cast<int>(rng() % 4);  // 0, 1: kept; 2: cancelled; 3: discarded
        const Nanos later = at + static_cast<Nanos>(rng() % (40 * kMillisecond));
        rig.scheduler.PostAt(at, [&, i, size, kind, later] {
          if (!retrying) return;
          auto chunk = Chunk::Make(size, false, &rig.account);
          chunks.push_back(chunk);
          const FetchId id = retrying->Fetch(rig.object, {0, size}, {chunk, 0}, [&, i](const FetchOutcome& o) {
            out.ends.emplace_back(i, rig.scheduler.Now(), o.status.ok() ? 0 : static_cast<int>(o.status.error().code),
                                  o.bytes_received);
          });
          ++out.started;
          if (kind < 2) return;
          rig.scheduler.PostAt(later, [&, id, kind] {
            if (!retrying) return;
            if (kind == 2) retrying->Cancel(id);
            if (kind == 3) retrying->Discard(id);
          });
        });
      }
      rig.scheduler.PostAt(150 * kMillisecond, [&] {  // with fetches in flight
        out.bytes_at_reset = rig.accounting.bytes_received();
        retrying.reset();
      });
      rig.scheduler.Run();
      out.events = events.events;
      out.requests = rig.accounting.requests();
      out.billed = rig.accounting.billed_requests();
      out.bytes = rig.accounting.bytes_received();
      return out;
    };
    const Run direct = run(true);
    const Run hop = run(false);
    CHECK(direct.requests == hop.requests);
    CHECK(direct.billed == hop.billed);
    CHECK(direct.bytes == hop.bytes);
    CHECK(direct.ends == hop.ends);
    CHECK(direct.events == hop.events);
    CHECK(direct == hop);
    // The case covers what it means to: retries, refused requests, and answers after the decorator.
    CHECK(direct.requests > direct.started);
    CHECK(direct.billed < direct.requests);
    CHECK(direct.bytes > direct.bytes_at_reset);
  }
}

}  // namespace
}  // namespace pflab
