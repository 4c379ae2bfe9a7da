// fsspec ReadAheadCache request sequences. Expected requests are worked by hand from
// fsspec/caching.py ReadAheadCache._fetch (master 669de5e1): full hit returns the cached slice; a
// partial hit fetches [self.end, min(size, end + blocksize)); a miss fetches [start, min(size, end +
// blocksize)); the fetched bytes replace the window. They match research/gcsfs_fsspec.md section 2,
// "Reference traces from running the upstream code" (file 64 MiB, bs 5 MiB, 1 MiB reads).
#include "policies/fsspec_readahead.h"

#include <catch2/catch.hpp>
#include <vector>

#include "engine/units.h"
#include "sim/sim_scheduler.h"
#include "tests/support/logging_source.h"

namespace pflab::policies {
namespace {

struct Harness {
  sim::SimScheduler scheduler;
  NullEventSink events;
  MemoryAccount account;
  testing::LoggingSource lower;
  FsspecReadAhead cache;

  explicit Harness(std::uint64_t size, std::uint64_t blocksize = 5 * kMiB)
      : lower(&scheduler, size, 0, &account),
        cache(LayerContext{&scheduler, &events, 0}, &lower, ReadAheadOptions{blocksize}) {}

  // Reads [begin, end) and returns the delivered length.
  std::uint64_t Read(std::uint64_t begin, std::uint64_t end) {
    std::uint64_t got = ~0ull;
    cache.Read({begin, end}, [&](Result<Slices> r) {
      REQUIRE(r.ok());
      got = TotalLength(*r);
    });
    scheduler.Run();
    return got;
  }
  // Reads 1 MiB block k, i.e. [(k-1), k) MiB.
  void Block(int k) { REQUIRE(Read((k - 1) * kMiB, k * kMiB) == kMiB); }
  std::uint64_t Fetched() const {
    std::uint64_t total = 0;
    for (const auto& r : lower.requests) total += r.end - r.begin;
    return total;
  }
};

using Req = testing::LoggedRequest;

TEST_CASE("readahead: sequential 1 MiB reads fetch two 6 MiB windows", "[policies][fsspec-readahead]") {
  Harness h(64 * kMiB);
  for (int k = 1; k <= 12; ++k) h.Block(k);
  // Read 1 misses: [0, 1+5). Reads 2..6 hit. Read 7 ([6,7)) starts at the window end: a miss,
  // fetching [6, 7+5).
  REQUIRE(h.lower.requests == std::vector<Req>{{0, 6 * kMiB, 0, 0}, {6 * kMiB, 12 * kMiB, 0, 0}});
  CHECK(h.cache.hits() == 10);
  CHECK(h.cache.misses() == 2);
}

TEST_CASE("readahead: backtrack 1-2-3-4-2-5-6-7-5", "[policies][fsspec-readahead]") {
  Harness h(64 * kMiB);
  for (int k : {1, 2, 3, 4, 2, 5, 6, 7, 5}) h.Block(k);
  // [0,6) serves 1..6; 7 misses -> [6,12); going back to 5 is a miss -> [4, 5+5).
  REQUIRE(h.lower.requests ==
          std::vector<Req>{{0, 6 * kMiB, 0, 0}, {6 * kMiB, 12 * kMiB, 0, 0}, {4 * kMiB, 10 * kMiB, 0, 0}});
  CHECK(h.Fetched() == 18 * kMiB);
}

TEST_CASE("readahead: visits-home 1-2-1-3-1-4-1-5 is one request", "[policies][fsspec-readahead]") {
  Harness h(64 * kMiB);
  for (int k : {1, 2, 1, 3, 1, 4, 1, 5}) h.Block(k);
  REQUIRE(h.lower.requests == std::vector<Req>{{0, 6 * kMiB, 0, 0}});
}

TEST_CASE("readahead: parquet-ish footer then columns", "[policies][fsspec-readahead]") {
  const std::uint64_t size = 64 * kMiB;
  Harness h(size);
  REQUIRE(h.Read(size - 8, size) == 8);
  REQUIRE(h.Read(size - 8 - 65536, size - 8) == 65536);
  REQUIRE(h.Read(0, 4) == 4);
  REQUIRE(h.Read(8 * kMiB, 12 * kMiB) == 4 * kMiB);
  REQUIRE(h.Read(30 * kMiB, 31 * kMiB) == kMiB);
  // The tail read clamps to EOF; the footer read before it is backward, so a miss that refetches up to
  // EOF; every other read is a miss of [s, e + 5 MiB).
  REQUIRE(h.lower.requests == std::vector<Req>{{size - 8, size, 0, 0},
                                               {size - 8 - 65536, size, 0, 0},
                                               {0, 4 + 5 * kMiB, 0, 0},
                                               {8 * kMiB, 17 * kMiB, 0, 0},
                                               {30 * kMiB, 36 * kMiB, 0, 0}});
  // research: 5 requests, 20.06 MiB.
  CHECK(h.Fetched() == 8 + (65536 + 8) + 4 + 5 * kMiB + 9 * kMiB + 6 * kMiB);
}

TEST_CASE("readahead: a partial hit keeps the tail and fetches from the window end", "[policies][fsspec-readahead]") {
  Harness h(64 * kMiB, kMiB);
  REQUIRE(h.Read(0, kMiB) == kMiB);                         // window [0, 2)
  REQUIRE(h.Read(kMiB + 512, 3 * kMiB) == 2 * kMiB - 512);  // starts inside, ends beyond
  REQUIRE(h.lower.requests == std::vector<Req>{{0, 2 * kMiB, 0, 0}, {2 * kMiB, 4 * kMiB, 0, 0}});
  CHECK(h.cache.misses() == 2);
}

TEST_CASE("readahead: reads at or past EOF deliver nothing and fetch nothing", "[policies][fsspec-readahead]") {
  Harness h(10 * kMiB);
  REQUIRE(h.Read(10 * kMiB, 11 * kMiB) == 0);
  REQUIRE(h.Read(9 * kMiB, 12 * kMiB) == kMiB);
  REQUIRE(h.lower.requests == std::vector<Req>{{9 * kMiB, 10 * kMiB, 0, 0}});
}

TEST_CASE("readahead: lower failures reach the reader and do not poison the cache", "[policies][fsspec-readahead]") {
  Harness h(64 * kMiB);
  h.lower.fail_at_request = 0;
  bool failed = false;
  h.cache.Read({0, kMiB}, [&](Result<Slices> r) { failed = !r.ok(); });
  h.scheduler.Run();
  REQUIRE(failed);
  h.Block(1);
  REQUIRE(h.lower.requests.size() == 2);
}

TEST_CASE("readahead: cancel completes the read with kCancelled exactly once", "[policies][fsspec-readahead]") {
  sim::SimScheduler scheduler;
  NullEventSink events;
  testing::LoggingSource lower(&scheduler, 64 * kMiB, 10 * kMillisecond);
  FsspecReadAhead cache(LayerContext{&scheduler, &events, 0}, &lower, ReadAheadOptions{});
  int calls = 0;
  ErrorCode code = ErrorCode::kInternal;
  ReadId id = cache.Read({0, kMiB}, [&](Result<Slices> r) {
    ++calls;
    if (!r.ok()) code = r.error().code;
  });
  cache.Cancel(id);
  scheduler.Run();
  CHECK(calls == 1);
  CHECK(code == ErrorCode::kCancelled);
}

}  // namespace
}  // namespace pflab::policies
