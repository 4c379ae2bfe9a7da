// `auto`'s decisions, worked by hand from its rules (policies/auto_prefetcher.h). Sizes are those of
// the network seeds (measure=false: latency 50 ms, 100 MB/s per request, 1.6 GB/s together) with
// max_request=16MiB and ahead=8 (rounder numbers than the defaults, 4MiB and 16), so:
//   BDP = 0.05 s x 100 MB/s = 5,000,000 bytes; part = 2 x BDP = 10,000,000;
//   minimum request = BDP / 16 = 312,500, rounded up to 4 KiB = 315,392;
//   an object is "cheap" to fetch whole when size / 1.6 GB/s <= 50 ms: up to 80,000,000 bytes.
// The lower layer answers every request 1 ms after it is made. M = MiB below. A read runs the
// scheduler until nothing is left (prefetches and timers included), so between two reads the reader
// seems to pause; the pace bound is off (pace=false) but where a test turns it on.
#include <algorithm>
#include <catch2/catch.hpp>
#include <optional>
#include <string>
#include <vector>

#include "engine/reader.h"
#include "engine/units.h"
#include "policies/auto_prefetcher.h"
#include "policies/registry.h"
#include "replay/simulation.h"
#include "sim/network_model.h"
#include "sim/sim_scheduler.h"
#include "sim/sim_transport.h"
#include "tests/support/logging_source.h"
#include "tests/support/run_config.h"
#include "traces/generators.h"
#include "traces/random_mix.h"

namespace pflab::policies {
namespace {

using Req = testing::LoggedRequest;

constexpr std::uint64_t M = kMiB;
constexpr std::uint64_t kPart = 10'000'000;
constexpr std::uint64_t kMin = 315'392;

AutoOptions Seeds() {
  AutoOptions o;
  o.measure = false;
  o.max_request = 16 * kMiB;
  o.ahead = 8;
  o.pace = false;
  return o;
}

struct Harness {
  sim::SimScheduler scheduler;
  NullEventSink events;
  MemoryAccount account;
  testing::LoggingSource lower;
  std::optional<AutoPrefetcher> policy;

  explicit Harness(std::uint64_t size, AutoOptions options = Seeds(), RunShared* run = nullptr, std::string object = "")
      : lower(&scheduler, size, kMillisecond, &account) {
    policy.emplace(LayerContext{&scheduler, &events, 0}, &lower, options, &account, run, std::move(object));
  }

  Result<Slices> Read(std::uint64_t begin, std::uint64_t end) {
    std::optional<Result<Slices>> got;
    policy->Read({begin, end}, [&](Result<Slices>&& r) { got = std::move(r); });
    scheduler.Run();
    REQUIRE(got.has_value());
    return std::move(*got);
  }
  void ReadOk(std::uint64_t begin, std::uint64_t end) {
    auto r = Read(begin, end);
    REQUIRE(r.ok());
    CHECK(TotalLength(*r) == end - begin);
  }
};

TEST_CASE("auto: sizes follow the seeds when nothing is measured", "[policies][auto]") {
  Harness h(1024 * M);
  CHECK(h.policy->part_size() == kPart);
  CHECK(h.policy->min_request() == kMin);
}

TEST_CASE("auto: random reads of a large object are requested as they are, small ones rounded up", "[policies][auto]") {
  const std::uint64_t size = 1024 * M;  // larger than the memory budget: never fetched whole
  Harness h(size);
  h.ReadOk(100 * M, 101 * M);       // first read: its bytes, no prefetch
  h.ReadOk(500 * M, 501 * M);       // far away: a new cursor, no prefetch
  h.ReadOk(20 * M, 20 * M + 4096);  // 4 KiB: rounded up to the minimum request
  h.ReadOk(size - 8, size);         // at the end: the minimum request ends at the end
  CHECK(h.lower.requests == std::vector<Req>{{100 * M, 101 * M, 0, 0},
                                             {500 * M, 501 * M, 0, 0},
                                             {20 * M, 20 * M + kMin, 0, 0},
                                             {size - kMin, size, 0, 0}});
  CHECK_FALSE(h.policy->whole_fetched());
}

TEST_CASE("auto: a sequential run prefetches `ahead` times what it has read, in parts", "[policies][auto]") {
  Harness h(1024 * M);
  h.ReadOk(0, M);  // [0, 1M): no prefetch on a cursor's first read
  CHECK(h.lower.requests == std::vector<Req>{{0, M, 0, 0}});
  // Read 2 continues the cursor (confirm=2): its bytes, then the window: the run has read 2M, 8 x 2M
  // = 16M ahead of 2M, to 18M, in parts of 10,000,000 (the last part reaches past 18M).
  h.ReadOk(M, 2 * M);
  CHECK(h.lower.requests ==
        std::vector<Req>{
            {0, M, 0, 0}, {M, 2 * M, 0, 0}, {2 * M, 2 * M + kPart, 0, 0}, {2 * M + kPart, 2 * M + 2 * kPart, 0, 0}});
  // Read 3: the window is 24M ahead of 3M = 27M; 2M + 2 parts = 22,097,152 is requested, the 6.2M
  // missing are less than a part and more than half the window is still ahead: nothing.
  h.ReadOk(2 * M, 3 * M);
  CHECK(h.lower.requests.size() == 4);
  // Read 4: 32M ahead of 4M = 36M; 15.6M missing: two more parts.
  h.ReadOk(3 * M, 4 * M);
  CHECK(h.lower.requests.size() == 6);
  CHECK(h.lower.requests[4] == Req{2 * M + 2 * kPart, 2 * M + 3 * kPart, 0, 0});
  CHECK(h.lower.requests[5] == Req{2 * M + 3 * kPart, 2 * M + 4 * kPart, 0, 0});
  CHECK(h.lower.cancelled == 0);
}

TEST_CASE("auto: after runs, a run the average says ends within a part asks for the rest, not a part",
          "[policies][auto]") {
  Harness h(1024 * M);  // larger than the memory budget: never fetched whole
  // Run 1: three reads of 1M. Its second read confirms it with no runs before: 8 x 2M ahead, in parts.
  h.ReadOk(0, M);
  h.ReadOk(M, 2 * M);
  h.ReadOk(2 * M, 3 * M);
  REQUIRE(h.lower.requests.size() == 4);
  // Run 2, far on: the reader left run 1 (3M), which is now the average run. Its second read confirms
  // it with 2M read, so 1M is left of a run of the average length: that, not a part of 10,000,000.
  h.ReadOk(100 * M, 101 * M);
  h.ReadOk(101 * M, 102 * M);
  CHECK(std::vector<Req>(h.lower.requests.begin() + 4, h.lower.requests.end()) ==
        std::vector<Req>{{100 * M, 101 * M, 0, 0}, {101 * M, 102 * M, 0, 0}, {102 * M, 103 * M, 0, 0}});
  // At the average length the run is where the runs before ended: a minimum request past it, in case
  // it goes on; past that, `ahead` times what it went beyond.
  h.ReadOk(102 * M, 103 * M);
  CHECK(h.lower.requests.back() == Req{103 * M, 103 * M + kMin, 0, 0});
}

TEST_CASE("auto: random accesses buy the whole object once they have waited as long as it takes (ski rental)",
          "[policies][auto]") {
  // 100,000,000 bytes: within the budget, and not cheap at the first read (62.5 ms at 1.6 GB/s, more
  // than a 50 ms first byte). Each access waits for one request (1 ms), so the stream has waited as
  // long as the whole object takes after 63 of them.
  const std::uint64_t size = 100'000'000;
  AutoOptions options = Seeds();
  options.hedge = 0;  // no hedge timers: the harness runs them before the next read, a pause of the reader
  auto accesses_until_whole = [&](bool in_two_reads) {
    Harness h(size, options);
    for (int i = 0; i < 200; ++i) {
      const std::uint64_t at = static_cast<std::uint64_t>((i * 37) % 90) * M;  // far apart, all over
      if (in_two_reads) {
        // A header and its body, as stdio reads a record (a 4 KiB refill, then the rest): the body
        // continues the header's cursor densely, but the run ends within a part.
        h.ReadOk(at, at + 4096);
        h.ReadOk(at + 4096, at + 200 * 1024);
      } else {
        h.ReadOk(at, at + 4096);
      }
      if (h.policy->whole_fetched()) return i + 1;
    }
    return 0;
  };
  const int single = accesses_until_whole(false);
  CHECK(single >= 63);
  CHECK(single <= 70);
  const int pairs = accesses_until_whole(true);
  CHECK(pairs >= 63);
  CHECK(pairs <= 70);
}

TEST_CASE("auto: a block read again is served from retained data (backtrack)", "[policies][auto]") {
  Harness h(1024 * M);
  for (std::uint64_t k : {1, 2, 3, 4}) h.ReadOk((k - 1) * M, k * M);
  const std::size_t before = h.lower.requests.size();
  CHECK(before == 6);  // as in the sequential case
  h.ReadOk(M, 2 * M);  // block 2 again: held, no request, no new cursor
  h.ReadOk(4 * M, 5 * M);
  CHECK(h.lower.requests.size() == before);
  CHECK(h.policy->live_cursors() == 1);
}

TEST_CASE("auto: a strided run prefetches the next reads of the stride", "[policies][auto]") {
  Harness h(1024 * M);
  h.ReadOk(0, M);          // cursor 1
  h.ReadOk(4 * M, 5 * M);  // 3M gap > minimum request: cursor 2, stride 4M from the read before
  CHECK(h.lower.requests.size() == 2);
  // Read 3 is one stride on: the stride is confirmed. Its run has read 2 reads (2M): the window is
  // 16M, 16 reads of 1M, at 12M, 16M, ..., 72M; their gaps (3M) are over the minimum request, so each
  // is a request of its own.
  h.ReadOk(8 * M, 9 * M);
  REQUIRE(h.lower.requests.size() == 3 + 16);
  CHECK(h.lower.requests[2] == Req{8 * M, 9 * M, 0, 0});
  for (std::uint64_t i = 1; i <= 16; ++i) {
    CHECK(h.lower.requests[2 + i] == Req{(8 + 4 * i) * M, (9 + 4 * i) * M, 0, 0});
  }
  // Read 4 (held): 3 reads, a 24M window, the predicted reads up to 12M + 24 x 4M = 108M: nine more.
  h.ReadOk(12 * M, 13 * M);
  REQUIRE(h.lower.requests.size() == 19 + 9);
  CHECK(h.lower.requests.back() == Req{108 * M, 109 * M, 0, 0});
}

// Reads of 8 KiB blocks one record apart, where a record (12,458,880 bytes, the corpus's netCDF-3
// file) is not a whole number of blocks: the reader steps a block short every sixth or seventh record,
// as netCDF-C's classic layer does when reading one variable's values over time.
std::uint64_t RecordBlock(std::uint64_t base, std::uint64_t k) {
  constexpr std::uint64_t kRecord = 12'458'880, kBlock = 8192;
  return (base + k * kRecord) / kBlock * kBlock;
}

TEST_CASE("auto: a stride the reader slips from by a block is followed, and learned for the next run",
          "[policies][auto]") {
  // 2,000,000,000 bytes: over the budget, never fetched whole. Each read runs the scheduler until all
  // is done, so a read that needs a request of its own is one no prediction covered.
  AutoOptions options = Seeds();
  options.hedge = 0;
  Harness h(2'000'000'000, options);
  auto own_request = [&](std::uint64_t at) {
    const std::size_t before = h.lower.requests.size();
    h.ReadOk(at, at + 8192);
    for (std::size_t i = before; i < h.lower.requests.size(); ++i) {
      if (h.lower.requests[i].begin <= at && h.lower.requests[i].end > at) return true;
    }
    return false;
  };
  int misses = 0;
  for (std::uint64_t k = 0; k < 120; ++k) misses += own_request(RecordBlock(0, k)) ? 1 : 0;
  // The first reads find the stride (a new cursor, then its confirming read); after that every read
  // was predicted, slips included (an exact stride would lose the cursor at each of the 17 slips and
  // pay two reads to find it again).
  CHECK(misses <= 4);
  // The predictions are the reads widened by the slip and its uncertainty (up to two blocks each side),
  // not whole parts; with the first reads' minimum requests and the predictions made at the exact
  // stride before the first slip, under ten times the bytes read.
  std::uint64_t requested = 0;
  for (const Req& r : h.lower.requests) requested += r.end - r.begin;
  CHECK(requested <= 120 * 10 * 8192);

  // A second series of the same variable elsewhere: at its first stride the cursor starts from the
  // stride measured by the first (120 strides), so it asks for many reads ahead at once, not one.
  const std::uint64_t base = 7'000'000;
  own_request(RecordBlock(base, 0));
  own_request(RecordBlock(base, 1));
  const std::size_t before = h.lower.requests.size();
  h.ReadOk(RecordBlock(base, 2), RecordBlock(base, 2) + 8192);
  CHECK(h.lower.requests.size() - before >= 60);
  misses = 0;
  for (std::uint64_t k = 3; k < 120; ++k) misses += own_request(RecordBlock(base, k)) ? 1 : 0;
  CHECK(misses == 0);
}

TEST_CASE("auto: a small object is fetched whole from its first read", "[policies][auto]") {
  const std::uint64_t size = 8 * M;  // 8,388,608 / 1.6 GB/s = 5 ms, under one first byte
  Harness h(size);
  h.ReadOk(0, 4096);
  // The read's own request first (not rounded up: the bytes around it are in the bet, and the first
  // response, which decides the bet, comes sooner), then the rest of the object (less than one part).
  CHECK(h.lower.requests == std::vector<Req>{{0, 4096, 0, 0}, {4096, size, 0, 0}});
  CHECK(h.policy->whole_fetched());
  h.ReadOk(5 * M, 5 * M + 4096);
  h.ReadOk(100, 200);
  CHECK(h.lower.requests.size() == 2);
  CHECK(h.lower.cancelled == 0);
}

TEST_CASE("auto: the first request's latency calls off a whole fetch the network is too fast for", "[policies][auto]") {
  // Measured: a 1 ms answer makes the latency about 1 ms, and 64M at the seeds' 1.6 GB/s takes 42 ms,
  // more than two latencies: the parts not arrived are cancelled.
  AutoOptions o = Seeds();
  o.measure = true;
  Harness h(64 * M, o);
  auto r = h.Read(0, 4096);
  REQUIRE(r.ok());
  REQUIRE(h.lower.requests.size() == 8);  // the read's request and 7 parts of 10,000,000
  CHECK(h.lower.requests[0] == Req{0, 4096, 0, 0});
  CHECK(h.lower.requests[1] == Req{4096, 4096 + kPart, 0, 0});
  CHECK(h.lower.requests[7] == Req{4096 + 6 * kPart, 64 * M, 0, 0});
  CHECK(h.lower.cancelled == 7);
  CHECK_FALSE(h.policy->whole_fetched());
  CHECK(h.policy->network().latency_s() < 0.002);
}

// Two stacks of one run, each with its own lower source (its own account, a child of the run's), as
// the replayer builds them: two streams of one object, or one stream's two files.
struct TwoStreams {
  sim::SimScheduler scheduler;
  NullEventSink events;
  MemoryAccount run_account;
  RunShared run{&run_account};
  MemoryAccount* a1 = run_account.NewChild();
  MemoryAccount* a2 = run_account.NewChild();
  testing::LoggingSource lower1;
  testing::LoggingSource lower2;
  std::optional<AutoPrefetcher> first;
  std::optional<AutoPrefetcher> second;
  AutoOptions options;

  // The second source may differ (a stream's other file): its size (0: the same) and its delay.
  explicit TwoStreams(std::uint64_t size, AutoOptions o = Seeds(), std::uint64_t second_size = 0,
                      Nanos second_delay = kMillisecond, std::string first_object = "b/o")
      : lower1(&scheduler, size, kMillisecond, a1),
        lower2(&scheduler, second_size ? second_size : size, second_delay, a2),
        options(o) {
    first.emplace(LayerContext{&scheduler, &events, 0}, &lower1, options, a1, &run, std::move(first_object));
  }
  void OpenSecond(std::uint32_t stream = 1, std::string object = "b/o") {
    second.emplace(LayerContext{&scheduler, &events, stream}, &lower2, options, a2, &run, std::move(object));
  }
  // Starts a read; `got` holds its result once the scheduler has run.
  static void Start(AutoPrefetcher& p, ByteRange r, std::optional<Result<Slices>>* got) {
    p.Read(r, [got](Result<Slices>&& result) { *got = std::move(result); });
  }
};

void CheckLength(const std::optional<Result<Slices>>& got, std::uint64_t length) {
  REQUIRE(got.has_value());
  REQUIRE(got->ok());
  CHECK(TotalLength(**got) == length);
}

TEST_CASE("auto: a reader of two files in turn does not compute while it waits on the other", "[policies][auto]") {
  // One stream reads 4 KiB far apart in `x` (100,000,000 bytes, as in the ski-rental test: its reads wait
  // 1 ms) and in `y` in turn. `y` is larger than the file budget, so never fetched whole, and its reads
  // wait 5 ms. The reader itself never pauses: the 5 ms before each read of `x` were spent waiting on
  // `y`, not computing, so `x` is bought after the same 63-70 accesses as when read alone (counted
  // from x's last read, they would close the gate: 5 ms "computed" per 1 ms waited). A reader that
  // does compute 5 ms after each read buys nothing: it waits less than it computes.
  const std::uint64_t size = 100'000'000;
  AutoOptions options = Seeds();
  options.hedge = 0;
  auto accesses_until_whole = [&](Nanos pause) {
    TwoStreams t(size, options, 3 * size, 5 * kMillisecond, "b/x");
    t.OpenSecond(/*stream=*/0, "b/y");
    AutoPrefetcher& x = *t.first;
    AutoPrefetcher& y = *t.second;
    auto read = [&](AutoPrefetcher& p, std::uint64_t at) {
      std::optional<Result<Slices>> got;
      p.Read({at, at + 4096}, [&](Result<Slices>&& r) { got = std::move(r); });
      t.scheduler.Run();
      REQUIRE(got.has_value());
      REQUIRE(got->ok());
      if (pause > 0) {
        t.scheduler.PostAfter(pause, [] {});
        t.scheduler.Run();
      }
    };
    for (int i = 0; i < 200; ++i) {
      const std::uint64_t at = static_cast<std::uint64_t>((i * 37) % 90) * M;
      read(x, at);
      if (x.whole_fetched()) return i + 1;
      read(y, at);
    }
    CHECK_FALSE(y.whole_fetched());
    return 0;
  };
  const int waiting = accesses_until_whole(0);
  CHECK(waiting >= 63);
  CHECK(waiting <= 70);
  CHECK(accesses_until_whole(5 * kMillisecond) == 0);
}

TEST_CASE("auto: with share off, an object other streams have open too is never fetched whole", "[policies][auto]") {
  AutoOptions o = Seeds();
  o.share = false;
  TwoStreams t(8 * M, o);
  t.first->Read({0, 4096}, [](Result<Slices>&&) {});
  CHECK(t.first->whole_fetched());  // alone: the whole 8M
  // A second stream opens the same object before the first request is back: the first calls its
  // whole fetch off (the part in flight is cancelled), and the second never starts one.
  t.OpenSecond();
  CHECK_FALSE(t.first->whole_fetched());
  CHECK(t.lower1.cancelled == 1);
  t.second->Read({0, 4096}, [](Result<Slices>&&) {});
  t.scheduler.Run();
  CHECK_FALSE(t.second->whole_fetched());
  CHECK(t.lower2.requests == std::vector<Req>{{0, kMin, 0, 0}});
}

TEST_CASE("auto: streams of one object share one whole fetch begun at offset 0", "[policies][auto]") {
  TwoStreams t(8 * M);
  std::optional<Result<Slices>> a, b;
  TwoStreams::Start(*t.first, {0, 4096}, &a);
  CHECK(t.lower1.requests == std::vector<Req>{{0, 4096, 0, 0}, {4096, 8 * M, 0, 0}});
  // The second stream's read lies in the first one's whole fetch, still in flight: it waits for it
  // and asks for nothing itself, and starts no whole fetch of its own.
  t.OpenSecond();
  CHECK(t.first->whole_fetched());
  CHECK(t.lower1.cancelled == 0);
  TwoStreams::Start(*t.second, {5 * M, 5 * M + 4096}, &b);
  t.scheduler.Run();
  CheckLength(a, 4096);
  CheckLength(b, 4096);
  CHECK(t.lower2.requests.empty());
  CHECK_FALSE(t.second->whole_fetched());
  // Later reads anywhere in the object are served from the first stream's data.
  b.reset();
  TwoStreams::Start(*t.second, {100, 200}, &b);
  t.scheduler.Run();
  CheckLength(b, 100);
  CHECK(t.lower1.requests.size() == 2);
  CHECK(t.lower2.requests.empty());
  // Nothing is copied: the data stays charged to the stream that fetched it.
  CHECK(t.a1->held_bytes() == 8 * M);
  CHECK(t.a2->held_bytes() == 0);
}

TEST_CASE("auto: a shared first-read bet that began elsewhere than offset 0 is called off", "[policies][auto]") {
  TwoStreams t(8 * M);
  t.first->Read({8 * M - 4096, 8 * M}, [](Result<Slices>&&) {});  // a footer, and a bet on the rest
  CHECK(t.lower1.requests == std::vector<Req>{{8 * M - 4096, 8 * M, 0, 0}, {0, 8 * M - 4096, 0, 0}});
  CHECK(t.first->whole_fetched());
  t.OpenSecond();
  CHECK_FALSE(t.first->whole_fetched());
  CHECK(t.lower1.cancelled == 1);
  t.second->Read({8 * M - 4096, 8 * M}, [](Result<Slices>&&) {});
  t.scheduler.Run();
  // The footer the first stream asked for serves the second one; no whole fetch.
  CHECK(t.lower2.requests.empty());
  CHECK_FALSE(t.second->whole_fetched());
}

TEST_CASE("auto: a window stops where another stream of the object reads", "[policies][auto]") {
  TwoStreams t(1024 * M);  // never fetched whole
  std::optional<Result<Slices>> a, b;
  TwoStreams::Start(*t.first, {0, M}, &a);
  t.OpenSecond();
  TwoStreams::Start(*t.second, {6 * M, 7 * M}, &b);
  t.scheduler.Run();
  CheckLength(a, M);
  CheckLength(b, M);
  // Read 2 confirms the first stream's run: its window (16M ahead) stops at 6M, where the second
  // stream's run starts and its request is.
  a.reset();
  TwoStreams::Start(*t.first, {M, 2 * M}, &a);
  t.scheduler.Run();
  CheckLength(a, M);
  CHECK(t.lower1.requests == std::vector<Req>{{0, M, 0, 0}, {M, 2 * M, 0, 0}, {2 * M, 6 * M, 0, 0}});
  // Reading on up to 6M and into the second stream's bytes asks for nothing more: the second
  // stream's data serves them.
  for (std::uint64_t k = 2; k < 6; ++k) {
    a.reset();
    TwoStreams::Start(*t.first, {k * M, (k + 1) * M}, &a);
    t.scheduler.Run();
    CheckLength(a, M);
  }
  a.reset();
  TwoStreams::Start(*t.first, {6 * M, 6 * M + M / 2}, &a);
  t.scheduler.Run();
  CheckLength(a, M / 2);
  CHECK(t.lower1.requests.size() == 3);
  CHECK(t.lower2.requests == std::vector<Req>{{6 * M, 7 * M, 0, 0}});
}

TEST_CASE("auto: a window stops at another stream's hinted range, where no run of it starts", "[policies][auto]") {
  TwoStreams t(1024 * M);  // never fetched whole
  std::optional<Result<Slices>> a;
  TwoStreams::Start(*t.first, {0, M}, &a);
  t.OpenSecond();
  const std::vector<ByteRange> hint{{8 * M, 9 * M}};
  t.second->Hint(hint);  // requested at once, by no cursor
  t.scheduler.Run();
  CheckLength(a, M);
  a.reset();
  TwoStreams::Start(*t.first, {M, 2 * M}, &a);  // confirms the run: its window stops at the hinted bytes
  t.scheduler.Run();
  CheckLength(a, M);
  CHECK(t.lower2.requests == std::vector<Req>{{8 * M, 9 * M, 0, 0}});
  CHECK(t.lower1.requests == std::vector<Req>{{0, M, 0, 0}, {M, 2 * M, 0, 0}, {2 * M, 8 * M, 0, 0}});
}

TEST_CASE("auto: a stream waiting for another's request asks for the bytes itself when that one goes away",
          "[policies][auto]") {
  TwoStreams t(8 * M);
  std::optional<Result<Slices>> b;
  t.first->Read({0, 4096}, [](Result<Slices>&&) {});
  t.OpenSecond();
  TwoStreams::Start(*t.second, {5 * M, 5 * M + 4096}, &b);
  t.scheduler.RunUntil(kMillisecond / 2);  // the read has looked: it waits for the first stream's whole fetch
  CHECK_FALSE(b.has_value());
  CHECK(t.lower2.requests.empty());
  t.first.reset();  // closed before its requests are back: they are cancelled, and the second is told
  CHECK(t.lower1.cancelled == 2);
  t.scheduler.Run();
  CheckLength(b, 4096);
  CHECK(t.lower2.requests == std::vector<Req>{{5 * M, 5 * M + kMin, 0, 0}});
}

TEST_CASE("auto: hinted ranges are merged across small holes and requested at the hint", "[policies][auto]") {
  Harness h(256 * M);
  // [10M, 12M) and [12M + 100K, 14M): a 100 KiB hole, under the minimum request: one range.
  const std::vector<ByteRange> hint{{10 * M, 12 * M}, {12 * M + 100 * kKiB, 14 * M}, {100 * M, 101 * M}};
  h.policy->Hint(hint);
  CHECK(h.lower.requests == std::vector<Req>{{10 * M, 14 * M, 0, 0}, {100 * M, 101 * M, 0, 0}});
  h.scheduler.Run();
  h.ReadOk(10 * M, 11 * M);
  h.ReadOk(11 * M, 12 * M);
  h.ReadOk(100 * M, 101 * M);
  CHECK(h.lower.requests.size() == 2);  // reads inside hints: no request, no cursor prefetch
}

TEST_CASE("auto: a hinted range larger than a part: its first part at the hint, the rest follows the reads",
          "[policies][auto]") {
  const std::uint64_t size = 1024 * M;  // larger than the budget: never fetched whole
  const std::vector<ByteRange> hint{{100 * M, 200 * M}};
  SECTION("windowed") {
    Harness h(size);
    h.policy->Hint(hint);
    CHECK(h.lower.requests == std::vector<Req>{{100 * M, 100 * M + kPart, 0, 0}});
    h.scheduler.Run();
    // Read 1 (no confirming: the hint promised the run): 8 x 1M ahead, at least a part, to 101M +
    // kPart; of it only 1 MiB is missing, less than a part with more than half the window still
    // ahead: nothing.
    h.ReadOk(100 * M, 101 * M);
    CHECK(h.lower.requests.size() == 1);
    // Read 2: 16M ahead of 102M, to 118M; 8.5M missing and less than half the window ahead: a part.
    h.ReadOk(101 * M, 102 * M);
    CHECK(h.lower.requests ==
          std::vector<Req>{{100 * M, 100 * M + kPart, 0, 0}, {100 * M + kPart, 100 * M + 2 * kPart, 0, 0}});
    // Near the range's end the window is far larger than what is left: it stops at the end.
    h.ReadOk(190 * M, 191 * M);
    CHECK(h.lower.requests.back() == Req{191 * M, 200 * M, 0, 0});
    for (const Req& r : h.lower.requests) CHECK(r.end <= 200 * M);
  }
  SECTION("eager_hints: the whole range at the hint, in parts") {
    AutoOptions o = Seeds();
    o.eager_hints = true;
    Harness h(size, o);
    h.policy->Hint(hint);
    std::uint64_t requested = 0;
    for (const Req& r : h.lower.requests) requested += r.end - r.begin;
    CHECK(h.lower.requests.size() == 11);  // 10 parts of 10,000,000 and the rest
    CHECK(requested == 100 * M);
  }
}

TEST_CASE("auto: a failed demand request fails its read; a failed prefetch is asked again by the read",
          "[policies][auto]") {
  SECTION("demand") {
    Harness h(1024 * M);
    h.lower.fail_at_request = 0;
    auto r = h.Read(0, M);
    REQUIRE_FALSE(r.ok());
    h.ReadOk(0, M);  // the next read asks again
    CHECK(h.lower.requests.size() == 2);
  }
  SECTION("prefetch") {
    Harness h(1024 * M);
    h.lower.fail_at_request = 2;  // the first prefetched part, [2M, 2M + part)
    h.ReadOk(0, M);
    h.ReadOk(M, 2 * M);
    REQUIRE(h.lower.requests.size() == 4);
    h.ReadOk(2 * M, 3 * M);  // its bytes are requested again when read
    CHECK(h.lower.requests[4].begin == 2 * M);
  }
}

TEST_CASE("auto: cancel completes the read once with kCancelled; destroying it cancels what is in flight",
          "[policies][auto]") {
  Harness h(1024 * M);
  int calls = 0;
  std::optional<Result<Slices>> got;
  const ReadId id = h.policy->Read({0, M}, [&](Result<Slices>&& r) {
    ++calls;
    got = std::move(r);
  });
  h.policy->Cancel(id);
  h.scheduler.Run();
  CHECK(calls == 1);
  REQUIRE(got.has_value());
  CHECK(got->error().code == ErrorCode::kCancelled);
  h.policy->Read({M, 2 * M}, [](Result<Slices>&&) {});
  h.policy.reset();  // with requests in flight
  h.scheduler.Run();
  CHECK(h.lower.cancelled >= 1);
}

TEST_CASE("auto: a read larger than the budget is still requested (the one exception)", "[policies][auto]") {
  AutoOptions o = Seeds();
  o.memory = 8 * M;
  o.shared_memory = 8 * M;
  Harness h(1024 * M, o);
  h.ReadOk(0, 20 * M);
  CHECK(h.lower.requests == std::vector<Req>{{0, 20 * M, 0, 0}});
}

// Memory, measured by the engine: the real fetcher over the simulated network, every stack's account a
// child of the run's, checked at every event of the run.
class BudgetCheck final : public EventSink {
 public:
  BudgetCheck(const MemoryAccount* run, std::vector<const MemoryAccount*> files, std::uint64_t file_budget,
              std::uint64_t run_budget)
      : run_(run), files_(std::move(files)), file_budget_(file_budget), run_budget_(run_budget) {}
  void OnEvent(const Event&) override {
    ++events;
    if (run_->held_bytes() > run_budget_) ++violations;
    for (const MemoryAccount* f : files_) {
      if (f->held_bytes() > file_budget_) ++violations;
    }
  }
  std::uint64_t events = 0;
  std::uint64_t violations = 0;

 private:
  const MemoryAccount* run_;
  std::vector<const MemoryAccount*> files_;
  std::uint64_t file_budget_;
  std::uint64_t run_budget_;
};

TEST_CASE("auto: the engine's accounts stay within the file and run budgets at every event", "[policies][auto]") {
  constexpr std::uint64_t kFile = 24 * M;
  constexpr std::uint64_t kRun = 40 * M;  // three files of 24M would be 72M
  auto profile = sim::FindProfile("gcs-regional", "");
  REQUIRE(profile.ok());
  MemoryAccount run_account;
  sim::SimScheduler scheduler;
  sim::SimTransport transport(&scheduler, *profile, 7, {});
  RunShared run(&run_account);
  std::vector<MemoryAccount*> files{run_account.NewChild(), run_account.NewChild(), run_account.NewChild()};
  BudgetCheck check(&run_account, {files[0], files[1], files[2]}, kFile, kRun);
  auto spec = ParseStackSpec("auto(memory=24MiB,shared_memory=40MiB)");
  REQUIRE(spec.ok());
  std::vector<std::unique_ptr<PolicyStack>> stacks;
  std::vector<std::unique_ptr<Reader>> readers;
  for (std::uint32_t s = 0; s < 3; ++s) {
    StackEnv env;
    env.ctx = LayerContext{&scheduler, &check, s};
    env.transport = &transport;
    env.object = ObjectRef{"b", "o" + std::to_string(s), 1, 512 * M};
    env.account = files[s];
    env.run = &run;
    auto stack = BuildStack(*spec, env);
    REQUIRE(stack.ok());
    readers.push_back(std::make_unique<Reader>(env.ctx, (*stack)->top()));
    stacks.push_back(std::move(*stack));
  }
  // Three sequential readers at once, then backtracking, then random reads of 1M.
  std::uint64_t failed = 0;
  for (int round = 0; round < 96; ++round) {
    for (std::uint32_t s = 0; s < 3; ++s) {
      const std::uint64_t block = round < 64 ? static_cast<std::uint64_t>(round) : (round * 7919u + s * 31u) % 500;
      readers[s]->ReadAt(block * M, M, [&](Result<Slices>&& r) { failed += r.ok() ? 0 : 1; });
    }
    scheduler.Run();
  }
  stacks.clear();
  scheduler.Run();
  CHECK(failed == 0);
  CHECK(check.events > 1000);
  CHECK(check.violations == 0);
  CHECK(run_account.peak_bytes() <= kRun);
  CHECK(run_account.max_child_peak_bytes() <= kFile);
  CHECK(run_account.peak_bytes() > kFile);  // the run budget was what bound (not trivially met)
  CHECK(run_account.held_bytes() == 0);
}

TEST_CASE("auto: a hedge check not yet due waits for its own deadline (no re-arm loop at one instant)",
          "[policies][auto]") {
  // The random trace on which a hedge timer re-armed at the current instant without end: the arming
  // estimated from the bytes not yet consumed, the check from the whole request, and the check was not
  // yet due when the arming's deadline had passed. Without the fix this run never ends.
  traces::RandomMixOptions mix;
  mix.seed = 1805;
  auto trace = traces::RandomMix(mix);
  REQUIRE(trace.ok());
  replay::SimulationConfig c;
  c.trace = &*trace;
  c.policy = *policies::ParseStackSpec("auto");
  c.profile_name = "gcs-cross-region";
  c.profile = *sim::FindProfile("gcs-cross-region");
  c.seed = 1805;
  c.think = *replay::ThinkTime::Parse("x0.5");
  auto run = replay::RunSimulation(c);
  REQUIRE(run.ok());
  CHECK(run->metrics.reads == trace->records.size());
  CHECK(run->metrics.reads_failed == 0);
}

TEST_CASE("auto: without probe, a first read that bets on the whole object is rounded up as any", "[policies][auto]") {
  AutoOptions o = Seeds();
  o.probe = false;
  Harness h(8 * M, o);
  h.ReadOk(0, 4096);
  CHECK(h.lower.requests == std::vector<Req>{{0, kMin, 0, 0}, {kMin, 8 * M, 0, 0}});
  CHECK(h.policy->whole_fetched());
}

// A reader of 1M records from 0: with `think`, each that long after the scheduler has run everything
// the read before set going; without, each at the moment the one before is delivered (back to back).
// With `head`, each record is read in two calls, its first `head` bytes and, a microsecond later, its
// rest (as htslib reads a BGZF block).
struct PausedRun {
  Harness h;
  std::optional<Nanos> think;
  std::uint64_t head;
  std::uint64_t next = 0;
  PausedRun(bool pace, std::optional<Nanos> think_time, std::uint64_t head_bytes = 0)
      : h(1024 * M, Options(pace)), think(think_time), head(head_bytes) {}
  static AutoOptions Options(bool pace) {
    AutoOptions o = Seeds();
    o.pace = pace;
    return o;
  }
  void Read(int reads) {
    for (int i = 0; i < reads; ++i, next += M) {
      if (head > 0) {
        ReadRange({next, next + head});
        h.scheduler.RunUntil(h.scheduler.Now() + kMicrosecond);
      }
      ReadRange({next + head, next + M});
      if (think) h.scheduler.RunUntil(h.scheduler.Now() + *think);
    }
  }
  // The furthest byte requested so far.
  std::uint64_t Furthest() const {
    std::uint64_t end = 0;
    for (const Req& r : h.lower.requests) end = std::max(end, r.end);
    return end;
  }

 private:
  void ReadRange(ByteRange r) {
    if (think) {
      h.ReadOk(r.begin, r.end);
      return;
    }
    std::optional<Result<Slices>> got;
    h.policy->Read(r, [&](Result<Slices>&& result) { got = std::move(result); });
    while (!got && h.scheduler.RunOne()) {
    }
    REQUIRE(got.has_value());
    REQUIRE(got->ok());
  }
};

TEST_CASE("auto: a reader that pauses gets the window its pace needs, not the run's", "[policies][auto]") {
  // The horizon is 8 seed latencies (no tail measured: measure=false) plus a part at 100 MB/s:
  // 0.4 s + 0.1 s = 0.5 s. A reader that reads 1M a second moves at most 1M in it, so from its third
  // read on (two pauses measured) its window is twice that, 2M, where the run's bound is 8 times what
  // it has read.
  PausedRun paced(true, kSecond);
  PausedRun unpaced(false, kSecond);
  // Reads 1 and 2: the same (read 2 confirms the run, not yet paced: 16M ahead in parts).
  paced.Read(2);
  unpaced.Read(2);
  CHECK(paced.h.lower.requests == unpaced.h.lower.requests);
  REQUIRE(paced.h.lower.requests.size() == 4);
  CHECK(paced.h.lower.requests[3] == Req{2 * M + kPart, 2 * M + 2 * kPart, 0, 0});
  // Read 4: the run's bound (32M ahead of 4M) asks for two more parts; the paced window (2M ahead)
  // has them already.
  paced.Read(2);
  unpaced.Read(2);
  CHECK(unpaced.h.lower.requests.size() == 6);
  CHECK(paced.h.lower.requests.size() == 4);
  // Reads up to [21M, 22M): 2M ahead reaches past the 2M + 2 parts requested; it is topped up in
  // requests of the window's size, not of a part.
  paced.Read(18);
  REQUIRE(paced.h.lower.requests.size() == 5);
  CHECK(paced.h.lower.requests[4] == Req{2 * M + 2 * kPart, 2 * M + 2 * kPart + 2 * M, 0, 0});
  CHECK_FALSE(paced.h.policy->whole_fetched());
}

TEST_CASE("auto: a reader that reads back to back has no pace bound", "[policies][auto]") {
  PausedRun paced(true, std::nullopt);
  PausedRun unpaced(false, std::nullopt);
  paced.Read(24);
  unpaced.Read(24);
  CHECK(paced.h.lower.requests.size() > 6);
  CHECK(paced.h.lower.requests == unpaced.h.lower.requests);
}

TEST_CASE("auto: a reader that reads each record in two calls is paced by its records", "[policies][auto]") {
  // htslib reads a BGZF block's first 4 KiB, then its rest, a microsecond later, then works on it. Here
  // records of 1M a second, each read so: the pace is that of the PausedRun above (1M in a horizon, a
  // window of 2M), not the first microsecond's pause scaled up to a horizon. After 24 records the split
  // reader has asked for no more than one window past the whole-record reader (with the scaled-up
  // pause: 5.6M past its last read, against 1.1M; without a pace bound, 196M).
  PausedRun whole(true, kSecond);
  PausedRun split(true, kSecond, 4096);
  PausedRun unpaced(false, kSecond, 4096);
  for (PausedRun* r : {&whole, &split, &unpaced}) r->Read(24);
  INFO("whole records " << whole.Furthest() << ", split " << split.Furthest() << ", no pace " << unpaced.Furthest());
  CHECK(split.Furthest() <= whole.Furthest() + 2 * M);
  CHECK(unpaced.Furthest() > whole.Furthest() + 4 * kPart);
}

// The network estimate fed by the simulator's link: requests issued in batches (each new batch while
// the last one's requests are still waiting for their first byte, as a window's top-ups are), every
// completion sampled as the layer samples it. What the link delivered is never measured above the
// link (the old estimate, one request's rate times the requests in flight, said 12.6 GB/s on
// local-fast's 10 GB/s); it is a lower bound, nearer the link where first bytes are short.
struct LinkRig {
  sim::SimScheduler scheduler;
  MemoryAccount account;
  sim::NetworkProfile profile;
  std::optional<sim::SimTransport> transport;
  NetworkEstimate estimate;
  double highest = 0;  // the most delivered() ever said
  int samples = 0;

  // `link`: the profile's link (and one request's bandwidth) cut to this many bytes/s; 0: as it is.
  LinkRig(const std::string& name, std::uint64_t seed, double link = 0) {
    auto found = sim::FindProfile(name, "");
    REQUIRE(found.ok());
    profile = *found;
    if (link > 0) {
      profile.link_bandwidth_bytes_per_s = link;
      profile.stream_bandwidth_bytes_per_s = std::min(profile.stream_bandwidth_bytes_per_s, link);
    }
    transport.emplace(&scheduler, profile, seed, sim::SimTransportOptions{});
  }
  // `bytes` asked for at `at`; the estimate sees it start and end as the layer's requests.
  void Issue(Nanos at, std::uint64_t bytes) {
    scheduler.PostAt(at, [this, bytes] {
      const Nanos issued = scheduler.Now();
      estimate.Started(issued);
      const double busy = estimate.Busy(issued);
      transport->Fetch(ObjectRef{"b", "o", 1, 64 * kGiB}, ByteRange{0, bytes},
                       FetchTarget{Chunk::Make(bytes, false, &account), 0},
                       [this, bytes, issued, busy](const FetchOutcome& outcome) {
                         REQUIRE(outcome.status.ok());
                         const Nanos now = scheduler.Now();
                         const double concurrency =
                             std::max(1.0, (estimate.Busy(now) - busy) / (static_cast<double>(now - issued) / 1e9));
                         estimate.Finished(now);
                         estimate.Sample(bytes, issued, now, concurrency, outcome.timing());
                         highest = std::max(highest, estimate.delivered());
                         ++samples;
                       });
    });
  }
};

TEST_CASE("auto: the link's bandwidth is measured from the bytes it delivered, never above it", "[policies][auto]") {
  for (const std::string name : {"local-fast", "gcs-regional", "gcs-cross-region"}) {
    for (std::uint64_t seed : {1, 2, 3}) {
      INFO(name << " seed " << seed);
      LinkRig rig(name, seed);
      const double link = rig.profile.link_bandwidth_bytes_per_s;
      const Nanos latency = rig.profile.latency_median_ns;
      // The pattern that measured 12.6 GB/s on a 10 GB/s link: a demand request, then 7 parts with
      // another demand, 19 parts as those begin, 31 more while the 19 wait for their first byte.
      rig.Issue(0, 315'392);
      rig.Issue(2 * latency, M);
      for (int i = 0; i < 7; ++i) rig.Issue(3 * latency, 2'000'000);
      rig.Issue(3 * latency, M);
      for (int i = 0; i < 19; ++i) rig.Issue(5 * latency, 2'000'000);
      for (int i = 0; i < 31; ++i) rig.Issue(6 * latency, 2'000'000);
      // Then parts asked for twice as fast as the link moves them, for a while: it is full.
      const auto part_time = static_cast<Nanos>(1e9 * 2'000'000 / link / 2);
      for (int i = 0; i < 200; ++i) rig.Issue(40 * latency + i * part_time, 2'000'000);
      rig.scheduler.Run();
      CHECK(rig.samples == 260);
      CHECK(rig.highest <= link);
      CHECK(rig.estimate.delivered() <= link);
      // The link was full. The measure is a lower bound: a stretch's time holds the first bytes and
      // queueing of its earliest requests, so it is near the link where first bytes are short.
      CHECK(rig.estimate.delivered() >= (name == "local-fast" ? 0.5 : 0.25) * link);
      if (name == "local-fast") {
        CHECK(rig.estimate.link_full());
        CHECK(rig.estimate.aggregate() == rig.estimate.delivered());
      }
    }
  }
}

TEST_CASE("auto: until the link has been full, windows probe at twice what it delivered", "[policies][auto]") {
  LinkRig rig("local-fast", 1);  // 1 GB/s a request, 10 GB/s the link
  // Four 2 MB requests together: each at one request's bandwidth, 4 GB/s delivered, the link not full.
  for (int i = 0; i < 4; ++i) rig.Issue(0, 2'000'000);
  rig.scheduler.Run();
  CHECK_FALSE(rig.estimate.link_full());
  CHECK(rig.estimate.delivered() <= 4e9 * (1 + 1e-9));
  CHECK(rig.estimate.delivered() >= 2.6e9);  // 8 MB over the 3 ms of the requests' lives
  CHECK(rig.estimate.aggregate() == Approx(2 * rig.estimate.delivered()));
}

// A link slower than the profiles (12.5 MB/s, gcs-regional's first bytes) under the pattern of a
// whole-object bet: the read's own 32 KiB and 15 parts of 4 MiB together, none ever alone on the link.
// Before requests told their first byte, the estimate fitted each request's whole time as latency plus
// bytes at a bandwidth pulled to its 1 GB/s prior, and said: a link of 1 GB/s, first bytes of seconds.
TEST_CASE("auto: on a slow link, first bytes are measured apart from transfers, and the link from both",
          "[policies][auto]") {
  const double link = 12.5e6;
  for (std::uint64_t seed : {1, 2, 3}) {
    INFO("seed " << seed);
    LinkRig rig("gcs-regional", seed, link);
    rig.Issue(0, 32 * 1024);
    for (int i = 0; i < 15; ++i) rig.Issue(0, 4 * M);
    rig.scheduler.Run();
    REQUIRE(rig.samples == 16);
    CHECK(rig.highest <= link);
    CHECK(rig.estimate.delivered() >= 0.9 * link);  // 60 MiB over 5 s, less the first bytes
    CHECK(rig.estimate.link_full());
    CHECK(rig.estimate.aggregate() == rig.estimate.delivered());
    // The first bytes are the profile's (median 35 ms, p99 200 ms), not the transfers' 5 s.
    CHECK(rig.estimate.latency_s() < 0.1);
    REQUIRE(rig.estimate.tail_latency_s().has_value());
    CHECK(*rig.estimate.tail_latency_s() < 1.0);
  }
}

// The sizes of the requests a layer starts, by layer name, from a run's events.
class FetchSizes final : public EventSink {
 public:
  explicit FetchSizes(std::string layer) : layer_(std::move(layer)) {}
  void OnEvent(const Event& e) override {
    if (e.type == EventType::kFetchStart && layer_ == e.layer) sizes.push_back(e.length);
  }
  std::vector<std::uint64_t> sizes;

 private:
  std::string layer_;
};

// A sequential reader on a link one request fills (gcs-regional's first bytes, the link and one request
// at 12.5 MB/s), of an object too large to be bought whole, so that no bet's parts show the link full.
// Parts are sized by one request's measured bandwidth: 2 x 35 ms x 12.5 MB/s, about 0.9 MB. Sized by
// the link's share of 16 requests while the link was still a probe (1.6 GB/s / 16 = 100 MB/s), they
// were 4 MiB, more than the window the link bounds (8 x 35 ms x 12.5 MB/s = 3.5 MB): one at a time,
// each asked for once the one before had arrived. (In parts both take 1.14x the link's time here:
// parts asked for together share the link and arrive together, and the reader then asks for the next
// ones together. The run, once 8 MiB long, is now read as one stream, 1.02x: the next test.)
TEST_CASE("auto: on a slow link parts are sized by one request's bandwidth, not a share of the probe",
          "[policies][auto]") {
  traces::GeneratorParams params;
  params.object_size = 512 * M;  // over the 256 MiB budget: never fetched whole
  params.read_size = 128 * 1024;
  params.count = 512;  // its first 64 MiB
  auto trace = traces::Generate("sequential", params);
  REQUIRE(trace.ok());
  for (std::uint64_t seed : {1, 2, 3}) {
    INFO("seed " << seed);
    replay::SimulationConfig config = testing::RunConfig(*trace, "auto");
    config.profile.link_bandwidth_bytes_per_s = 12.5e6;
    config.profile.stream_bandwidth_bytes_per_s = 12.5e6;
    config.seed = seed;
    FetchSizes fetches("auto");
    config.event_log = &fetches;
    auto run = replay::RunSimulation(config);
    REQUIRE(run.ok());
    REQUIRE_FALSE(run->failed());
    REQUIRE(fetches.sizes.size() >= 16);
    std::vector<std::uint64_t> parts(fetches.sizes.end() - 16, fetches.sizes.end());
    std::sort(parts.begin(), parts.end());
    CHECK(parts[parts.size() / 2] <= 2 * M);
    CHECK(parts.back() <= 2 * M);
  }
}

// The same link with a constant first byte: the link bound (the link's bytes while a part arrives) is
// under two parts, so parts go one at a time, each after the last has arrived, a first byte lost per
// part (7.43 s, 1.38x the link's time, with `stream=false`). Once the run has read 8 MiB on a link one
// request fills, it is read as one streaming GET whose bytes arrive in order at the link's rate
// (5.82 s, 1.08x: the whole-object bet called off and the first 8 MiB are the rest). On gcs-regional,
// whose link carries many requests, nothing is streamed: the runs are the same with and without it.
TEST_CASE("auto: a long run on a link one request fills is read as one stream", "[policies][auto]") {
  traces::GeneratorParams params;
  params.object_size = 64 * M;
  params.read_size = 128 * 1024;
  params.count = 512;  // the whole object
  auto trace = traces::Generate("sequential", params);
  REQUIRE(trace.ok());
  auto run = [&](const std::string& spec, bool slow) {
    replay::SimulationConfig config = testing::RunConfig(*trace, spec);
    if (slow) {
      config.profile.link_bandwidth_bytes_per_s = 12.5e6;
      config.profile.stream_bandwidth_bytes_per_s = 12.5e6;
      config.profile.latency_p99_ns = config.profile.latency_median_ns;  // constant: 35 ms
    }
    auto result = replay::RunSimulation(config);
    REQUIRE(result.ok());
    REQUIRE_FALSE(result->failed());  // every byte checked against the object's content
    CHECK(result->metrics.peak_memory_bytes <= AutoOptions{}.memory);
    return result->metrics;
  };
  const double link_s = static_cast<double>(64 * M) / 12.5e6;  // 5.37 s
  const replay::Metrics streamed = run("auto", true);
  const replay::Metrics parts = run("auto(stream=false)", true);
  CHECK(streamed.elapsed_s <= 1.10 * link_s);
  CHECK(parts.elapsed_s >= 1.2 * link_s);
  CHECK(streamed.requests < parts.requests / 2);
  CHECK(streamed.bytes_fetched <= 64 * M + 8 * M);
  const replay::Metrics fast = run("auto", false);
  const replay::Metrics fast_parts = run("auto(stream=false)", false);
  CHECK(fast.elapsed_s == fast_parts.elapsed_s);
  CHECK(fast.requests == fast_parts.requests);
}

TEST_CASE("auto: registry entry, parameters and placement", "[policies][auto][registry]") {
  CHECK(ValidateStack(*ParseStackSpec("auto")).ok());
  CHECK(ValidateStack(*ParseStackSpec("auto(memory=64MiB,ahead=4) > concurrent(parts=1)")).ok());
  CHECK(ValidateStack(*ParseStackSpec("fsspec-readahead > auto")).ok());      // layers above it may be anything
  CHECK_FALSE(ValidateStack(*ParseStackSpec("auto > gcsfs-adaptive")).ok());  // it must sit on the fetcher
  auto bad = ParseStackSpec("auto(memory=2GiB)");                             // over the shared budget
  REQUIRE(bad.ok());
  auto stack = ValidateStack(*bad);
  REQUIRE_FALSE(stack.ok());
  CHECK(stack.error().message.find("shared_memory") != std::string::npos);
  CHECK_FALSE(ValidateStack(*ParseStackSpec("auto(cursors=0)")).ok());
}

}  // namespace
}  // namespace pflab::policies
