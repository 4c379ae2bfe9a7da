#include "engine/concurrent_fetcher.h"

#include <catch2/catch.hpp>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/synthetic_content.h"
#include "engine/units.h"
#include "sim/sim_scheduler.h"
#include "sim/sim_transport.h"
#include "tests/support/scripted_transport.h"

namespace pflab {
namespace {

TEST_CASE("split rules: v795 splits into exactly N parts, main caps at size/min", "[engine][fetcher]") {
  auto v795 = SplitRange({0, 16 * kMiB}, 4, 5 * kMiB, SplitRule::kV795);
  REQUIRE(v795.size() == 4);
  for (std::size_t i = 0; i < 4; ++i) CHECK(v795[i] == ByteRange{i * 4 * kMiB, (i + 1) * 4 * kMiB});
  // gcsfs#926 concurrency.split_range: min(4, 16 MiB // 5 MiB) = 3 parts, the last takes the rest.
  auto main = SplitRange({0, 16 * kMiB}, 4, 5 * kMiB, SplitRule::kMain);
  REQUIRE(main.size() == 3);
  const std::uint64_t part = 16 * kMiB / 3;
  CHECK(main[0] == ByteRange{0, part});
  CHECK(main[1] == ByteRange{part, 2 * part});
  CHECK(main[2] == ByteRange{2 * part, 16 * kMiB});
  CHECK(SplitRange({0, 5 * kMiB - 1}, 4, 5 * kMiB, SplitRule::kV795).size() == 1);
  CHECK(SplitRange({0, 64 * kMiB}, 1, 5 * kMiB, SplitRule::kV795).size() == 1);
  auto odd = SplitRange({7, 7 + 10 * kMiB + 3}, 3, 5 * kMiB, SplitRule::kV795);
  REQUIRE(odd.size() == 3);
  CHECK(odd.front().begin == 7);
  CHECK(odd.back().end == 7 + 10 * kMiB + 3);
}

// Records events.
class Events final : public EventSink {
 public:
  void OnEvent(const Event& e) override { all.push_back(e); }
  int Count(EventType t) const {
    int n = 0;
    for (const auto& e : all) n += e.type == t;
    return n;
  }
  std::vector<Event> all;
};

// The simulator with payloads and no latency tail, and a 64 MiB object.
struct PayloadRig {
  sim::SimScheduler scheduler;
  Events events;
  MemoryAccount account;
  sim::SimTransport transport{&scheduler, NoTail(), 1, sim::SimTransportOptions{true}};
  ObjectRef object{"bkt", "obj", 1, 64 * kMiB};

  static sim::NetworkProfile NoTail() {
    sim::NetworkProfile profile;
    profile.latency_p99_ns = 0;
    return profile;
  }
};

// A policy may ask for more than the machine holds (a hinted range of 28 GiB): the read fails with why,
// instead of the process dying of the allocation.
TEST_CASE("fetcher: a fetch whose bytes would pass the payload limit fails its read - the rest go on",
          "[engine][fetcher]") {
  PayloadRig rig;
  auto& [scheduler, events, account, transport, object] = rig;
  const std::uint64_t before = PayloadBytes();
  SetPayloadLimit(before + 12 * kMiB);
  {
    ConcurrentFetcher fetcher(LayerContext{&scheduler, &events, 0}, &transport, object, {}, &account);
    std::optional<Result<Slices>> held, too_large, small;
    fetcher.Read({0, 8 * kMiB}, [&](Result<Slices> r) { held = std::move(r); });
    scheduler.Run();
    REQUIRE(held.has_value());
    REQUIRE(held->ok());
    CHECK(PayloadBytes() == before + 8 * kMiB);
    // 8 MiB held: 5 MiB more would pass 12 MiB, 4 MiB would not.
    fetcher.Read({8 * kMiB, 13 * kMiB}, [&](Result<Slices> r) { too_large = std::move(r); });
    scheduler.Run();
    REQUIRE(too_large.has_value());
    REQUIRE_FALSE(too_large->ok());
    CHECK(too_large->error().code == ErrorCode::kResourceExhausted);
    CHECK_THAT(too_large->error().message, Catch::Contains("a fetch of 5MiB") && Catch::Contains("past 12MiB"));
    CHECK(events.Count(EventType::kFetchStart) == 1);  // nothing was asked of the network for it
    fetcher.Read({8 * kMiB, 12 * kMiB}, [&](Result<Slices> r) { small = std::move(r); });
    scheduler.Run();
    REQUIRE(small.has_value());
    CHECK(small->ok());
    held.reset();
    small.reset();
    CHECK(PayloadBytes() == before);
  }
  SetPayloadLimit(0);
  CHECK(PayloadLimit() > 12 * kMiB);  // the default again
  // Chunks without a payload (the simulator's) are never limited.
  SetPayloadLimit(1);
  CHECK(Chunk::TryMake(kGiB, false, nullptr));
  CHECK_FALSE(Chunk::TryMake(2, true, nullptr));
  SetPayloadLimit(0);
}

TEST_CASE("fetcher over the simulator delivers one slice of the object's bytes", "[engine][fetcher]") {
  PayloadRig rig;
  auto& [scheduler, events, account, transport, object] = rig;
  ConcurrentFetcherOptions options;
  options.parts = 4;
  options.rule = SplitRule::kV795;
  ConcurrentFetcher fetcher(LayerContext{&scheduler, &events, 0}, &transport, object, options, &account);
  std::optional<Result<Slices>> got;
  ResponseTiming timing{-2, -2};
  fetcher.Read({kMiB + 3, 21 * kMiB + 3}, [&](Result<Slices> r) {
    got = std::move(r);
    timing = fetcher.completing_timing();
  });
  scheduler.Run();
  REQUIRE(got.has_value());
  REQUIRE(got->ok());
  REQUIRE((*got)->size() == 1);
  // The read's callback sees when it was sent and answered: its four parts were sent at once and all
  // began to arrive after one latency.
  CHECK(timing.sent == 0);
  CHECK(timing.first_byte == PayloadRig::NoTail().latency_median_ns);
  CHECK(timing.first_byte < scheduler.Now());
  const Slices& slices = **got;
  CHECK(TotalLength(slices) == 20 * kMiB);
  const std::uint64_t seed = ObjectSeed("bkt", "obj", 1);
  const std::byte* data = slices[0].data();
  for (std::uint64_t i = 0; i < 20 * kMiB; ++i) {
    if (data[i] != SyntheticByte(seed, kMiB + 3 + i)) FAIL("byte " << i);
  }
  CHECK(events.Count(EventType::kFetchStart) == 4);
  CHECK(events.Count(EventType::kFetchEnd) == 4);
  for (const auto& e : events.all) CHECK(std::string(e.layer) == "concurrent");
  CHECK(transport.requests() == 4);
}

struct Harness {
  sim::SimScheduler scheduler;
  Events events;
  MemoryAccount account;
  ScriptedTransport transport{&scheduler};
  ConcurrentFetcher fetcher;
  explicit Harness(ConcurrentFetcherOptions options)
      : fetcher(LayerContext{&scheduler, &events, 0}, &transport, ObjectRef{"b", "o", 1, 100 * kMiB}, options,
                &account) {}
  std::optional<Result<Slices>> Read(ByteRange r) {
    std::optional<Result<Slices>> got;
    fetcher.Read(r, [&](Result<Slices> x) {
      ++read_callbacks;
      got = std::move(x);
    });
    scheduler.Run();
    return got;
  }
  int read_callbacks = 0;
};

ConcurrentFetcherOptions Four() {
  ConcurrentFetcherOptions o;
  o.parts = 4;
  o.rule = SplitRule::kV795;
  return o;
}

TEST_CASE("fetcher: a permanent failure fails the read at once and cancels the siblings", "[engine][fetcher]") {
  Harness h(Four());
  // The second of four 5 MiB parts gets a 404 after 1 ms; the others would take 10 ms.
  h.transport.script[5 * kMiB] = {FetchOutcome{NotFound("404"), 0}};
  h.transport.delays[5 * kMiB] = kMillisecond;
  auto got = h.Read({0, 20 * kMiB});
  REQUIRE(got.has_value());
  CHECK(h.read_callbacks == 1);
  REQUIRE(!got->ok());
  CHECK(got->error().code == ErrorCode::kNotFound);
  CHECK_THAT(got->error().message, Catch::Contains("b/o"));
  CHECK_THAT(got->error().message, Catch::Contains("[5242880, 10485760)"));
  CHECK_THAT(got->error().message, Catch::Contains("404"));
  CHECK(h.transport.fetches.size() == 4);  // no retry of a 404
  CHECK(h.events.Count(EventType::kRetry) == 0);
  CHECK(h.events.Count(EventType::kFetchFail) == 1);
  // The three siblings were still in flight: each is cancelled, with an event, and the transport's
  // cancellation callbacks still arrive (and are ignored).
  CHECK(h.transport.cancelled == 3);
  CHECK(h.transport.cancel_callbacks == 3);
  std::vector<std::uint64_t> cancelled_at;
  for (const auto& e : h.events.all) {
    if (e.type != EventType::kFetchCancel) continue;
    CHECK(e.t_ns == kMillisecond);
    CHECK(e.length == 5 * kMiB);
    cancelled_at.push_back(e.offset);
  }
  CHECK(cancelled_at == std::vector<std::uint64_t>{0, 10 * kMiB, 15 * kMiB});
  CHECK(h.fetcher.in_flight() == 0);
  CHECK(h.scheduler.Now() == kMillisecond);  // nothing left to wait for
}

TEST_CASE("fetcher: retryable failures retry with backoff and resume from the bytes received", "[engine][fetcher]") {
  Harness h(Four());
  h.transport.script[0] = {FetchOutcome{Unavailable("503"), 0},
                           FetchOutcome{Error{ErrorCode::kUnavailable, "reset", true}, 1000}};
  auto got = h.Read({0, 20 * kMiB});
  REQUIRE(got.has_value());
  REQUIRE(got->ok());
  CHECK(TotalLength(**got) == 20 * kMiB);
  // Attempts at 0: the full part, again in full (nothing arrived), then from byte 1000.
  std::vector<ByteRange> at_zero;
  for (const auto& r : h.transport.fetches) {
    if (r.begin < 5 * kMiB) at_zero.push_back(r);
  }
  REQUIRE(at_zero.size() == 3);
  CHECK(at_zero[0] == ByteRange{0, 5 * kMiB});
  CHECK(at_zero[1] == ByteRange{0, 5 * kMiB});
  CHECK(at_zero[2] == ByteRange{1000, 5 * kMiB});
  CHECK(h.events.Count(EventType::kRetry) == 2);
  CHECK(h.scheduler.Now() > 30 * kMillisecond);
}

TEST_CASE("fetcher: attempts are bounded", "[engine][fetcher]") {
  ConcurrentFetcherOptions o;
  o.parts = 1;
  o.max_attempts = 3;
  Harness h(o);
  h.transport.script[0] = std::vector<FetchOutcome>(10, FetchOutcome{Unavailable("503"), 0});
  auto got = h.Read({0, kMiB});
  REQUIRE(got.has_value());
  REQUIRE(!got->ok());
  CHECK(h.transport.fetches.size() == 3);
  CHECK_THAT(got->error().message, Catch::Contains("after 3 attempt(s)"));
}

TEST_CASE("fetcher: cancel completes the read with kCancelled and cancels the parts", "[engine][fetcher]") {
  Harness h(Four());
  std::optional<Result<Slices>> got;
  ReadId id = h.fetcher.Read({0, 20 * kMiB}, [&](Result<Slices> x) { got = std::move(x); });
  h.scheduler.RunUntil(kMillisecond);
  h.fetcher.Cancel(id);
  h.scheduler.Run();
  REQUIRE(got.has_value());
  REQUIRE(!got->ok());
  CHECK(got->error().code == ErrorCode::kCancelled);
  CHECK(h.transport.cancelled == 4);
  CHECK(h.events.Count(EventType::kFetchCancel) == 4);
  CHECK(h.fetcher.in_flight() == 0);
  h.fetcher.Cancel(id);  // a second cancel is a no-op
}

// Streams through the fetcher: pulls one at a time from one transport stream per GET.
std::optional<Result<Slices>> PullOnce(Harness& h, StreamId id, std::uint64_t length) {
  std::optional<Result<Slices>> got;
  h.fetcher.ReadStream(id, length, [&](Result<Slices> x) { got = std::move(x); });
  h.scheduler.Run();
  return got;
}

ConcurrentFetcherOptions QuickRetry() {
  ConcurrentFetcherOptions o;
  o.initial_backoff = kMillisecond;
  o.max_backoff = kMillisecond;
  return o;
}

TEST_CASE("fetcher: a stream is one GET - closed early it is a cancelled request - unread bytes count as fetched",
          "[engine][fetcher][stream]") {
  Harness h(QuickRetry());
  h.transport.unread_at_close = 4096;
  const StreamId id = h.fetcher.OpenStream({kMiB, 9 * kMiB});
  CHECK(h.fetcher.open_streams() == 1);
  for (std::uint64_t length : {kMiB, 2 * kMiB}) {
    auto got = PullOnce(h, id, length);
    REQUIRE(got.has_value());
    REQUIRE(got->ok());
    REQUIRE((*got)->size() == 1);
    CHECK(TotalLength(**got) == length);
    MarkDelivered(**got);
  }
  h.fetcher.CloseStream(id);
  h.scheduler.Run();
  CHECK(h.fetcher.open_streams() == 0);
  CHECK(h.transport.stream_opens == std::vector<ByteRange>{{kMiB, 9 * kMiB}});
  CHECK(h.transport.pulls == std::vector<std::uint64_t>{kMiB, 2 * kMiB});
  CHECK(h.transport.streams_closed == 1);
  CHECK(h.events.Count(EventType::kFetchStart) == 1);
  CHECK(h.events.Count(EventType::kFetchCancel) == 1);
  CHECK(h.events.all.back().bytes == 3 * kMiB);
  CHECK(h.account.released_filled_bytes() == 3 * kMiB + 4096);
  CHECK(h.account.released_delivered_bytes() == 3 * kMiB);
  CHECK(h.account.held_bytes() == 0);
}

TEST_CASE("fetcher: a stream read to its end is a completed request", "[engine][fetcher][stream]") {
  Harness h(QuickRetry());
  const StreamId id = h.fetcher.OpenStream({0, 3 * kMiB});
  REQUIRE(PullOnce(h, id, 3 * kMiB)->ok());
  auto past = PullOnce(h, id, kMiB);  // nothing left: no bytes, no request
  REQUIRE(past.has_value());
  REQUIRE(past->ok());
  CHECK(TotalLength(**past) == 0);
  h.fetcher.CloseStream(id);
  h.scheduler.Run();
  CHECK(h.events.Count(EventType::kFetchEnd) == 1);
  CHECK(h.events.Count(EventType::kFetchCancel) == 0);
  CHECK(h.transport.pulls == std::vector<std::uint64_t>{3 * kMiB});
}

TEST_CASE("fetcher: a broken stream is reopened after the backoff at the first byte its pull lacks",
          "[engine][fetcher][stream]") {
  Harness h(QuickRetry());
  // The first GET breaks on its first pull after 300 KiB; the reopened one at kMiB + 300 KiB works.
  h.transport.stream_breaks[kMiB] = {FetchOutcome{Unavailable("reset"), 300 * 1024}};
  const StreamId id = h.fetcher.OpenStream({kMiB, 9 * kMiB});
  auto got = PullOnce(h, id, 2 * kMiB);
  REQUIRE(got.has_value());
  REQUIRE(got->ok());
  CHECK(TotalLength(**got) == 2 * kMiB);
  REQUIRE(PullOnce(h, id, kMiB)->ok());
  h.fetcher.CloseStream(id);
  h.scheduler.Run();
  CHECK(h.transport.stream_opens == std::vector<ByteRange>{{kMiB, 9 * kMiB}, {kMiB + 300 * 1024, 9 * kMiB}});
  CHECK(h.transport.pulls == std::vector<std::uint64_t>{2 * kMiB, 2 * kMiB - 300 * 1024, kMiB});
  CHECK(h.transport.streams_closed == 2);
  CHECK(h.events.Count(EventType::kFetchStart) == 2);
  CHECK(h.events.Count(EventType::kFetchFail) == 1);
  CHECK(h.events.Count(EventType::kRetry) == 1);
  CHECK(h.events.Count(EventType::kFetchCancel) == 1);
  got.reset();
  CHECK(h.account.held_bytes() == 0);
}

TEST_CASE("fetcher: a stream's permanent failure names the object and range - attempts are bounded",
          "[engine][fetcher][stream]") {
  SECTION("not retryable") {
    Harness h(QuickRetry());
    h.transport.stream_breaks[0] = {FetchOutcome{NotFound("HTTP 404"), 0}};
    const StreamId id = h.fetcher.OpenStream({0, 4 * kMiB});
    auto got = PullOnce(h, id, kMiB);
    REQUIRE(got.has_value());
    REQUIRE(!got->ok());
    CHECK(got->error().code == ErrorCode::kNotFound);
    CHECK(got->error().message == "streaming [0, 1048576) of b/o failed after 1 attempt(s): HTTP 404");
    h.fetcher.CloseStream(id);
    h.scheduler.Run();
    CHECK(h.transport.stream_opens.size() == 1);
    CHECK(h.transport.streams_closed == 1);
  }
  SECTION("retryable, every time") {
    ConcurrentFetcherOptions o = QuickRetry();
    o.max_attempts = 3;
    Harness h(o);
    // Every GET breaks on its first pull with nothing received, so each reopens at 0 again.
    const FetchOutcome broken{Unavailable("503"), 0};
    h.transport.stream_breaks[0] = {broken, broken, broken, broken};
    const StreamId id = h.fetcher.OpenStream({0, 4 * kMiB});
    auto got = PullOnce(h, id, kMiB);
    REQUIRE(got.has_value());
    REQUIRE(!got->ok());
    CHECK(got->error().retryable);
    CHECK(got->error().message.find("failed after 3 attempt(s)") != std::string::npos);
    CHECK(h.transport.stream_opens.size() == 3);
    h.fetcher.CloseStream(id);
    h.scheduler.Run();
  }
}

TEST_CASE("fetcher: closing a stream with a pull running completes it with kCancelled", "[engine][fetcher][stream]") {
  Harness h(QuickRetry());
  const StreamId id = h.fetcher.OpenStream({0, 4 * kMiB});
  std::optional<Result<Slices>> got;
  h.fetcher.ReadStream(id, kMiB, [&](Result<Slices> x) { got = std::move(x); });
  h.scheduler.RunUntil(kMillisecond);
  h.fetcher.CloseStream(id);
  CHECK(!got.has_value());  // not inline
  h.scheduler.Run();
  REQUIRE(got.has_value());
  CHECK(got->error().code == ErrorCode::kCancelled);
  CHECK(h.transport.streams_closed == 1);
  h.fetcher.CloseStream(id);  // a second close is a no-op
  CHECK_THROWS_AS(h.fetcher.ReadStream(id, 1, [](Result<Slices>) {}), std::logic_error);
  CHECK(h.account.held_bytes() == 0);
}

}  // namespace
}  // namespace pflab
