#include "engine/retrying_transport.h"

#include <catch2/catch.hpp>
#include <optional>
#include <string>
#include <vector>

#include "engine/units.h"
#include "sim/sim_scheduler.h"
#include "tests/support/scripted_transport.h"

namespace pflab {
namespace {

class Events final : public EventSink {
 public:
  // An event's error lives only for the call, so its attempt count is kept aside (0: no error).
  void OnEvent(const Event& e) override {
    all.push_back(e);
    all.back().error = nullptr;
    attempts.push_back(e.error ? e.error->attempts : 0);
  }
  std::vector<EventType> Types() const {
    std::vector<EventType> out;
    for (const auto& e : all) out.push_back(e.type);
    return out;
  }
  std::vector<Event> all;
  std::vector<std::uint32_t> attempts;
};

struct Rig {
  sim::SimScheduler scheduler;
  Events events;
  MemoryAccount account;
  ScriptedTransport below{&scheduler};
  RetryingTransport retrying;
  ObjectRef object{"b", "o", 1, 100 * kMiB};

  explicit Rig(RetryPolicy policy = {}) : retrying(LayerContext{&scheduler, &events, 0}, &below, policy, &account) {}
  ChunkRef MakeChunk(std::uint64_t size) { return Chunk::Make(size, false, &account); }
  // Fetches `range` into a new chunk and runs the scheduler dry; the one outcome, if it came.
  std::optional<FetchOutcome> FetchAll(ByteRange range) {
    std::optional<FetchOutcome> got;
    retrying.Fetch(object, range, FetchTarget{MakeChunk(range.size()), 0}, [&got](const FetchOutcome& o) {
      REQUIRE_FALSE(got.has_value());  // exactly once
      got = o;
    });
    scheduler.Run();
    return got;
  }
};

using T = EventType;

TEST_CASE("retrying transport: a fetch resumes from the bytes received, one event per request", "[engine][retry]") {
  Rig rig;
  rig.below.script[0] = {FetchOutcome{Unavailable("503"), 0},
                         FetchOutcome{Error{ErrorCode::kUnavailable, "reset", true}, 1000}};
  auto got = rig.FetchAll({0, kMiB});
  REQUIRE(got.has_value());
  CHECK(got->status.ok());
  CHECK(got->bytes_received == kMiB);
  // The 503 delivered nothing, so the second attempt asks again from 0; the reset came after 1000
  // bytes, so the third asks for the rest only.
  CHECK(rig.below.fetches == std::vector<ByteRange>{{0, kMiB}, {0, kMiB}, {1000, kMiB}});
  CHECK(rig.events.Types() == std::vector<T>{T::kFetchStart, T::kFetchFail, T::kRetry, T::kFetchStart, T::kFetchFail,
                                             T::kRetry, T::kFetchStart, T::kFetchEnd});
  CHECK(rig.events.attempts[1] == 1);
  CHECK(rig.events.attempts[4] == 2);
  CHECK(rig.events.all[4].bytes == 1000);
  CHECK(rig.events.all[5].offset == 1000);
  // Backoffs are drawn with jitter below 100 ms, then below 200 ms, after each 10 ms attempt.
  CHECK(rig.scheduler.Now() >= 30 * kMillisecond);
  CHECK(rig.scheduler.Now() < 30 * kMillisecond + 300 * kMillisecond);
}

TEST_CASE("retrying transport: a permanent error fails at once; a spent budget names the attempts", "[engine][retry]") {
  SECTION("404: no retry") {
    Rig rig;
    rig.below.script[0] = {FetchOutcome{NotFound("404"), 0}};
    auto got = rig.FetchAll({0, 100});
    REQUIRE(got.has_value());
    REQUIRE_FALSE(got->status.ok());
    CHECK(got->status.error().code == ErrorCode::kNotFound);
    CHECK(got->status.error().message == "fetching [0, 100) of b/o failed after 1 attempt(s): 404");
    CHECK(rig.below.fetches.size() == 1);
  }
  SECTION("503 every time: max_attempts requests, then the error") {
    RetryPolicy policy;
    policy.max_attempts = 3;
    Rig rig(policy);
    rig.below.script[0] = {FetchOutcome{Unavailable("503"), 0}, FetchOutcome{Unavailable("503"), 0},
                           FetchOutcome{Unavailable("503"), 0}};
    auto got = rig.FetchAll({0, 100});
    REQUIRE(got.has_value());
    REQUIRE_FALSE(got->status.ok());
    CHECK(got->status.error().attempts == 3);
    CHECK_THAT(got->status.error().message, Catch::Contains("failed after 3 attempt(s)"));
    CHECK(rig.below.fetches.size() == 3);
  }
}

TEST_CASE("retrying transport: a fetch cancelled while it waits to retry completes once, later", "[engine][retry]") {
  RetryPolicy policy;
  policy.initial_backoff = kSecond;  // long enough to cancel in
  Rig rig(policy);
  rig.below.script[0] = {FetchOutcome{Unavailable("503"), 0}};
  int calls = 0;
  std::optional<FetchOutcome> got;
  const FetchId id =
      rig.retrying.Fetch(rig.object, {0, 100}, FetchTarget{rig.MakeChunk(100), 0}, [&](const FetchOutcome& o) {
        ++calls;
        got = o;
      });
  rig.scheduler.RunUntil(10 * kMillisecond);  // the 503 arrived; the backoff runs
  REQUIRE(rig.events.Types().back() == T::kRetry);
  SECTION("Cancel: the callback hears kCancelled, posted") {
    rig.retrying.Cancel(id);
    CHECK(calls == 0);  // never from inside Cancel
    rig.scheduler.Run();
    CHECK(calls == 1);
    REQUIRE(got.has_value());
    CHECK(got->status.error().code == ErrorCode::kCancelled);
  }
  SECTION("Discard: nothing is left to run, and the callback is never called") {
    rig.retrying.Discard(id);
    CHECK(rig.scheduler.pending() == 0);
    rig.scheduler.Run();
    CHECK(calls == 0);
  }
  CHECK(rig.below.fetches.size() == 1);  // no second attempt
  CHECK(rig.scheduler.Now() == 10 * kMillisecond);
}

// A FetchClient that records every end it hears.
class Client final : public FetchClient {
 public:
  struct End {
    std::uint64_t tag;
    std::uint32_t part;
    FetchOutcome outcome;
  };
  void OnFetchDone(std::uint64_t tag, std::uint32_t part, const FetchOutcome& outcome) override {
    ends.push_back({tag, part, outcome});
  }
  std::vector<End> ends;
};

TEST_CASE("retrying transport: FetchFor retries as Fetch does and tells its client the tag and part",
          "[engine][retry]") {
  Rig rig;
  Client client;
  rig.below.script[0] = {FetchOutcome{Unavailable("503"), 0},
                         FetchOutcome{Error{ErrorCode::kUnavailable, "reset", true}, 1000}};
  rig.retrying.FetchFor(rig.object, {0, kMiB}, FetchTarget{rig.MakeChunk(kMiB), 0}, &client, 77, 3);
  rig.retrying.FetchFor(rig.object, {kMiB, 2 * kMiB}, FetchTarget{rig.MakeChunk(kMiB), 0}, &client, 78, 0);
  CHECK(client.ends.empty());  // never from inside FetchFor
  rig.scheduler.Run();
  REQUIRE(client.ends.size() == 2);
  CHECK(client.ends[0].tag == 78);  // untouched by the script: done after its one 10 ms attempt
  CHECK(client.ends[0].part == 0);
  CHECK(client.ends[0].outcome.status.ok());
  CHECK(client.ends[1].tag == 77);
  CHECK(client.ends[1].part == 3);
  CHECK(client.ends[1].outcome.status.ok());
  CHECK(client.ends[1].outcome.bytes_received == kMiB);
  CHECK(rig.below.fetches == std::vector<ByteRange>{{0, kMiB}, {kMiB, 2 * kMiB}, {0, kMiB}, {1000, kMiB}});
}

TEST_CASE("retrying transport: a FetchFor cancelled while it waits to retry", "[engine][retry]") {
  RetryPolicy policy;
  policy.initial_backoff = kSecond;  // long enough to cancel in
  Rig rig(policy);
  Client client;
  rig.below.script[0] = {FetchOutcome{Unavailable("503"), 0}};
  const FetchId id = rig.retrying.FetchFor(rig.object, {0, 100}, FetchTarget{rig.MakeChunk(100), 0}, &client, 5, 1);
  rig.scheduler.RunUntil(10 * kMillisecond);
  REQUIRE(rig.events.Types().back() == T::kRetry);
  SECTION("Cancel: the client hears kCancelled, posted") {
    rig.retrying.Cancel(id);
    CHECK(client.ends.empty());
    rig.scheduler.Run();
    REQUIRE(client.ends.size() == 1);
    CHECK(client.ends[0].tag == 5);
    CHECK(client.ends[0].part == 1);
    CHECK(client.ends[0].outcome.status.error().code == ErrorCode::kCancelled);
  }
  SECTION("Discard: the client hears nothing") {
    rig.retrying.Discard(id);
    CHECK(rig.scheduler.pending() == 0);
    rig.scheduler.Run();
    CHECK(client.ends.empty());
  }
  CHECK(rig.below.fetches.size() == 1);
}

TEST_CASE("retrying transport: a broken stream reopens at the first byte the pull lacks", "[engine][retry]") {
  Rig rig;
  rig.below.unread_at_close = 7;  // what each GET reports unread when closed
  rig.below.stream_breaks[0] = {FetchOutcome{Error{ErrorCode::kUnavailable, "reset", true}, 300}};
  const StreamId s = rig.retrying.OpenStream(rig.object, {0, kMiB});
  std::vector<FetchOutcome> outcomes;
  rig.retrying.ReadStream(s, 1000, FetchTarget{rig.MakeChunk(1000), 0},
                          [&](const FetchOutcome& o) { outcomes.push_back(o); });
  rig.scheduler.Run();
  REQUIRE(outcomes.size() == 1);
  CHECK(outcomes[0].status.ok());
  CHECK(outcomes[0].bytes_received == 1000);
  CHECK(rig.below.stream_opens == std::vector<ByteRange>{{0, kMiB}, {300, kMiB}});
  CHECK(rig.below.pulls == std::vector<std::uint64_t>{1000, 700});
  CHECK(rig.below.streams_closed == 1);                    // the broken GET, its unread charged to the account
  CHECK(rig.account.released_filled_bytes() == 1000 + 7);  // the pull's chunk, and the unread
  CHECK(rig.events.Types() == std::vector<T>{T::kFetchStart, T::kFetchFail, T::kRetry, T::kFetchStart});

  // Closing with a null callback: the open GET's unread is charged too, and its event says how far it
  // was read.
  const std::uint64_t before = rig.account.released_filled_bytes();
  rig.retrying.CloseStream(s, nullptr);
  rig.scheduler.Run();
  CHECK(rig.below.streams_closed == 2);
  CHECK(rig.account.released_filled_bytes() == before + 7);
  CHECK(rig.events.all.back().type == T::kFetchCancel);
  CHECK(rig.events.all.back().bytes == 700);
}

TEST_CASE("retrying transport: closing a stream mid-pull ends the pull once, with kCancelled", "[engine][retry]") {
  Rig rig;
  const StreamId s = rig.retrying.OpenStream(rig.object, {0, kMiB});
  int calls = 0;
  std::optional<FetchOutcome> got;
  rig.retrying.ReadStream(s, 1000, FetchTarget{rig.MakeChunk(1000), 0}, [&](const FetchOutcome& o) {
    ++calls;
    got = o;
  });
  int closed_calls = 0;
  rig.retrying.CloseStream(s, [&](std::uint64_t) { ++closed_calls; });
  CHECK(calls == 0);
  rig.scheduler.Run();
  CHECK(calls == 1);
  CHECK(closed_calls == 1);
  REQUIRE(got.has_value());
  CHECK(got->status.error().code == ErrorCode::kCancelled);
}

}  // namespace
}  // namespace pflab
