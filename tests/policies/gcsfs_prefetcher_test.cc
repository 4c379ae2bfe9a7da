// gcsfs BackgroundPrefetcher request sequences against the golden numbers in
// research/gcsfs_fsspec.md section 4, which were obtained by running the upstream Python code
// (fsspec/gcsfs gcsfs/prefetcher.py at 5596df92 for v795 and 20c58d0d for main) against a backend that
// completes instantly, with 20 ms between reads, concurrency 4 and max_prefetch_size 256 MiB.
// Per-read expectations cite the code paths they come from. Line numbers refer to gcsfs/prefetcher.py:
// v795 (5596df92): PrefetchProducer.stop L178, _loop L238 (window, chunk and split rules),
// PrefetchConsumer._advance L377 (streak, wakeup at streak >= 2, to_thread slicing),
// BackgroundPrefetcher._restart_producer L567, _async_fetch L576 (soft/hard seek), _fetch L607 (sticky
// errors). main (20c58d0d): stop L215, _loop L280, _calculate_prefetch_params L305,
// _process_prefetch_cycle L353 (shrink-to-fit, EOF stop), _advance L484 (threshold 3, suppressed
// wakeups), _restart_producer L742, _async_fetch L751 (error recovery L763, soft seek L774, local seek
// L783, hard seek L796).
#include "policies/gcsfs_prefetcher.h"

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
  GcsfsPrefetcher prefetcher;

  Harness(GcsfsVariant variant, std::uint64_t size, Nanos delay = 0)
      : lower(&scheduler, size, delay, &account),
        prefetcher(LayerContext{&scheduler, &events, 0}, &lower, Options(variant)) {}

  static GcsfsPrefetcherOptions Options(GcsfsVariant variant) {
    GcsfsPrefetcherOptions o = DefaultGcsfsOptions(variant);
    o.concurrency = 4;
    o.max_prefetch = 256 * kMiB;
    return o;
  }

  // One read, then 20 ms of think time (the research harness).
  Result<Slices> Read(std::uint64_t begin, std::uint64_t end) {
    std::optional<Result<Slices>> got;
    prefetcher.Read({begin, end}, [&](Result<Slices> r) { got = std::move(r); });
    while (!got && scheduler.RunOne()) {
    }
    REQUIRE(got.has_value());
    scheduler.RunUntil(scheduler.Now() + 20 * kMillisecond);
    return std::move(*got);
  }
  void Block(std::uint64_t k, std::uint64_t block = kMiB) {
    auto r = Read((k - 1) * block, k * block);
    REQUIRE(r.ok());
    REQUIRE(TotalLength(*r) == block);
  }
  std::size_t Calls() const { return lower.requests.size(); }
  std::uint64_t FetchedMiB() const {
    std::uint64_t total = 0;
    for (const auto& r : lower.requests) total += r.end - r.begin;
    return total / kMiB;
  }
};

TEST_CASE("gcsfs-v795: sequential 1 MiB x12 is 8 calls / 12 MiB", "[policies][gcsfs]") {
  Harness h(GcsfsVariant::kV795, 64 * kMiB);
  for (int k = 1; k <= 12; ++k) h.Block(k);
  CHECK(h.Calls() == 8);
  CHECK(h.FetchedMiB() == 12);
  // Read 2 schedules blocks 2-5 (window (streak+1)*avg with streak 1, then 2 after the consumer takes
  // block 2: PrefetchProducer._loop); read 3 schedules 6-7; read 6 one 5 MiB chunk at 7
  // (MIN_CHUNK_SIZE once the window reaches 5 MiB).
  using R = testing::LoggedRequest;
  REQUIRE(h.lower.requests.size() == 8);
  CHECK(h.lower.requests[0] == R{0, kMiB, 0, 0});
  for (int k = 1; k <= 6; ++k) CHECK(h.lower.requests[k] == R{k * kMiB, (k + 1) * kMiB, 0, 0});
  CHECK(h.lower.requests[7] == R{7 * kMiB, 12 * kMiB, 0, 0});
  // Split factor: concurrency while streak < 2, then clamp(chunk*conc//window): 5*4//7 = 2.
  CHECK(h.lower.requests[0].max_parts == 4);
  CHECK(h.lower.requests[7].max_parts == 2);
}

TEST_CASE("gcsfs-adaptive: sequential 1 MiB x12 is 12 calls / 20 MiB", "[policies][gcsfs]") {
  Harness h(GcsfsVariant::kMain, 64 * kMiB);
  for (int k = 1; k <= 12; ++k) h.Block(k);
  CHECK(h.Calls() == 12);
  CHECK(h.FetchedMiB() == 20);
}

TEST_CASE("gcsfs: backtrack 1-2-3-4-2-5-6-7-5", "[policies][gcsfs]") {
  // Both: 4->2 and 2->5 are hard seeks (5 lies beyond producer.current_offset after the restart), so is
  // 7->5; main's local seek (#930) does not apply because 2 is outside the current block.
  SECTION("v795: 16 calls / 16 MiB") {
    Harness h(GcsfsVariant::kV795, 64 * kMiB);
    for (int k : {1, 2, 3, 4, 2, 5, 6, 7, 5}) h.Block(k);
    CHECK(h.Calls() == 16);
    CHECK(h.FetchedMiB() == 16);
  }
  SECTION("main: 12 calls / 12 MiB") {
    Harness h(GcsfsVariant::kMain, 64 * kMiB);
    for (int k : {1, 2, 3, 4, 2, 5, 6, 7, 5}) h.Block(k);
    CHECK(h.Calls() == 12);
    CHECK(h.FetchedMiB() == 12);
  }
}

TEST_CASE("gcsfs: visits-home 1-2-1-3-1-4-1-5", "[policies][gcsfs]") {
  SECTION("v795: 11 calls / 11 MiB; every return and jump is a hard seek") {
    Harness h(GcsfsVariant::kV795, 64 * kMiB);
    for (int k : {1, 2, 1, 3, 1, 4, 1, 5}) h.Block(k);
    CHECK(h.Calls() == 11);
    CHECK(h.FetchedMiB() == 11);
  }
  SECTION("main: 8 calls / 8 MiB; the streak never reaches 3") {
    Harness h(GcsfsVariant::kMain, 64 * kMiB);
    for (int k : {1, 2, 1, 3, 1, 4, 1, 5}) h.Block(k);
    CHECK(h.Calls() == 8);
    CHECK(h.FetchedMiB() == 8);
  }
}

TEST_CASE("gcsfs: stride read 1- skip 1 never prefetches", "[policies][gcsfs]") {
  for (auto variant : {GcsfsVariant::kV795, GcsfsVariant::kMain}) {
    Harness h(variant, 64 * kMiB);
    for (int k = 1; k <= 15; k += 2) h.Block(k);
    CHECK(h.Calls() == 8);
    CHECK(h.FetchedMiB() == 8);
  }
}

TEST_CASE("gcsfs: re-reading 3.5-4 after 3-4", "[policies][gcsfs]") {
  SECTION("v795: a hard seek refetches") {
    Harness h(GcsfsVariant::kV795, 64 * kMiB);
    for (int k = 1; k <= 4; ++k) h.Block(k);
    const std::size_t before = h.Calls();
    REQUIRE(h.Read(3 * kMiB + kMiB / 2, 4 * kMiB).ok());
    REQUIRE(h.Calls() > before);
    CHECK(h.lower.requests[before].begin == 3 * kMiB + kMiB / 2);
  }
  SECTION("main: served from the current block (#930), no call") {
    Harness h(GcsfsVariant::kMain, 64 * kMiB);
    for (int k = 1; k <= 4; ++k) h.Block(k);
    const std::size_t before = h.Calls();
    auto r = h.Read(3 * kMiB + kMiB / 2, 4 * kMiB);
    REQUIRE(r.ok());
    CHECK(TotalLength(*r) == kMiB / 2);
    CHECK(h.Calls() == before);
  }
}

TEST_CASE("gcsfs: 16 MiB sequential x8", "[policies][gcsfs]") {
  SECTION("v795: 16 calls / 256 MiB") {
    Harness h(GcsfsVariant::kV795, 1024 * kMiB);
    for (int k = 1; k <= 8; ++k) h.Block(k, 16 * kMiB);
    CHECK(h.Calls() == 16);
    CHECK(h.FetchedMiB() == 256);
  }
  SECTION("main: 14 calls / 224 MiB") {
    Harness h(GcsfsVariant::kMain, 1024 * kMiB);
    for (int k = 1; k <= 8; ++k) h.Block(k, 16 * kMiB);
    CHECK(h.Calls() == 14);
    CHECK(h.FetchedMiB() == 224);
  }
}

TEST_CASE("gcsfs: 100 MiB x3 then 16 MiB x3", "[policies][gcsfs]") {
  auto run = [](Harness& h) {
    std::uint64_t at = 0;
    for (int i = 0; i < 3; ++i, at += 100 * kMiB) REQUIRE(h.Read(at, at + 100 * kMiB).ok());
    for (int i = 0; i < 3; ++i, at += 16 * kMiB) REQUIRE(h.Read(at, at + 16 * kMiB).ok());
  };
  SECTION("v795: 5 calls / 500 MiB") {
    Harness h(GcsfsVariant::kV795, 1024 * kMiB);
    run(h);
    CHECK(h.Calls() == 5);
    CHECK(h.FetchedMiB() == 500);
  }
  SECTION("main: 4 calls / 400 MiB; prefetch stops once sizes vary and avg > 64 MiB") {
    Harness h(GcsfsVariant::kMain, 1024 * kMiB);
    run(h);
    CHECK(h.Calls() == 4);
    CHECK(h.FetchedMiB() == 400);
  }
}

TEST_CASE("gcsfs: delivered slices cover exactly the requested range", "[policies][gcsfs]") {
  for (auto variant : {GcsfsVariant::kV795, GcsfsVariant::kMain}) {
    Harness h(variant, 64 * kMiB, 5 * kMillisecond);
    std::uint64_t at = 0;
    for (std::uint64_t len : {100u, 70000u, 1u << 20, 3u << 20, 12345u, 9u << 20}) {
      auto r = h.Read(at, at + len);
      REQUIRE(r.ok());
      REQUIRE(TotalLength(*r) == len);
      at += len;
    }
    // Past EOF: clamped; at EOF: empty.
    auto tail = h.Read(64 * kMiB - 10, 64 * kMiB + 10);
    REQUIRE(tail.ok());
    CHECK(TotalLength(*tail) == 10);
    auto eof = h.Read(64 * kMiB, 64 * kMiB + 10);
    REQUIRE(eof.ok());
    CHECK(TotalLength(*eof) == 0);
  }
}

TEST_CASE("gcsfs: errors are permanent in v795 and recovered from in main", "[policies][gcsfs]") {
  SECTION("v795") {
    Harness h(GcsfsVariant::kV795, 64 * kMiB);
    h.lower.fail_at_request = 0;
    CHECK(!h.Read(0, kMiB).ok());
    CHECK(!h.Read(0, kMiB).ok());  // BackgroundPrefetcher._fetch re-raises self._error
    CHECK(!h.Read(5 * kMiB, 6 * kMiB).ok());
    CHECK(h.Calls() == 1);
  }
  SECTION("main") {
    Harness h(GcsfsVariant::kMain, 64 * kMiB);
    h.lower.fail_at_request = 0;
    CHECK(!h.Read(0, kMiB).ok());
    auto again = h.Read(0, kMiB);  // _async_fetch: "Recovering from error state", restart at start
    REQUIRE(again.ok());
    CHECK(TotalLength(*again) == kMiB);
    CHECK(h.lower.requests.back().begin == 0);
  }
}

TEST_CASE("gcsfs: a hard seek waits for in-flight fetches instead of cancelling them", "[policies][gcsfs]") {
  Harness h(GcsfsVariant::kV795, 64 * kMiB, 50 * kMillisecond);
  for (int k = 1; k <= 3; ++k) h.Block(k);  // 20 ms think < 50 ms latency: prefetches are in flight
  // Let everything settle except a fresh prefetch, then seek far away.
  const std::size_t before = h.Calls();
  const Nanos t0 = h.scheduler.Now();
  std::optional<Result<Slices>> got;
  h.prefetcher.Read({40 * kMiB, 41 * kMiB}, [&](Result<Slices> r) { got = std::move(r); });
  h.scheduler.Run();
  REQUIRE(got.has_value());
  REQUIRE(got->ok());
  CHECK(h.lower.cancelled == 0);
  CHECK(h.Calls() > before);
  CHECK(h.lower.requests.back().begin == 40 * kMiB);
  CHECK(h.scheduler.Now() - t0 >= 50 * kMillisecond);
}

TEST_CASE("gcsfs: destroying the layer with fetches in flight is clean", "[policies][gcsfs]") {
  sim::SimScheduler scheduler;
  NullEventSink events;
  testing::LoggingSource lower(&scheduler, 64 * kMiB, 100 * kMillisecond);
  bool called = false;
  {
    GcsfsPrefetcher p(LayerContext{&scheduler, &events, 0}, &lower, DefaultGcsfsOptions(GcsfsVariant::kMain));
    p.Read({0, kMiB}, [&](Result<Slices>) { called = true; });
    scheduler.RunUntil(10 * kMillisecond);
  }
  scheduler.Run();
  CHECK(!called);
  CHECK(lower.cancelled >= 1);
}

}  // namespace
}  // namespace pflab::policies
