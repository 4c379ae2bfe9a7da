// gcsfuse's buffered reader. Expected requests are worked by hand from GoogleCloudPlatform/gcsfuse
// @7b392927, internal/bufferedread/buffered_reader.go:
// - `freshStart` (the offset's block as urgent, then `prefetch` with start-blocks-per-handle = 1),
// - `prefetch` (min(count, max blocks - queue length, blocks left) blocks; the count doubles up to 20
//   when all were scheduled), run from `ReadAt` when a READ passes a block's end (once per READ),
// - `isRandomSeek` (empty queue: offset != 0; else outside [head start, head + len x 16 MiB)),
//   `handleRandomRead` (drop the queue; more than 3 seeks: fall back unless the classifier says
//   sequential, then `resetBufferedReaderState`), `prepareQueueForOffset` (drop head blocks before),
// - download_task.go `Execute` (one GET [start, min(start + 16 MiB, size)) per block),
// - read_manager/read_manager.go `ReadAt` (the shared classifier; a fallback READ goes to GCSReader,
//   whose requests are those of policies/gcsfuse_reader.h).
#include "policies/gcsfuse_buffered.h"

#include <any>
#include <catch2/catch.hpp>
#include <optional>
#include <string>
#include <vector>

#include "engine/units.h"
#include "policies/registry.h"
#include "sim/sim_scheduler.h"
#include "tests/support/logging_source.h"
#include "tests/support/policy_harness.h"

namespace pflab::policies {
namespace {

constexpr std::uint64_t kB = 16 * kMiB;  // a block
using Req = testing::LoggedRequest;

struct Harness : testing::PolicyHarness<GcsfuseBuffered> {
  explicit Harness(std::uint64_t size, GcsfuseBufferedOptions options = {})
      : PolicyHarness(size, kMillisecond, options) {}
};

Req Block(std::uint64_t index) {
  return {index * kB, (index + 1) * kB, 0, 0};
}

std::vector<Req> Blocks(std::uint64_t first, std::uint64_t last) {
  std::vector<Req> out;
  for (std::uint64_t i = first; i <= last; ++i) out.push_back(Block(i));
  return out;
}

std::vector<Req> Concat(std::vector<Req> a, const std::vector<Req>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

TEST_CASE("gcsfuse-buffered: sequential reads ramp 1+1, +2, +4, +8, then up to 20 blocks queued",
          "[policies][gcsfuse-buffered]") {
  Harness h(1024 * kMiB);  // 64 blocks
  h.ReadOk(0, kMiB);       // freshStart: urgent block 0, prefetch 1 (block 1); count -> 2
  CHECK(h.lower.requests == Blocks(0, 1));
  CHECK(h.lower.requests[1].at == 0);  // both at once, in parallel
  CHECK(h.policy->prefetch_count() == 2);
  h.ReadOk(kMiB, kB);  // the READ [15M, 16M) passes block 0's end: pop, prefetch 2 (blocks 2, 3)
  CHECK(h.lower.requests == Blocks(0, 3));
  CHECK(h.policy->prefetch_count() == 4);
  h.ReadOk(kB, 2 * kB);  // pop 1, blocks 4-7
  CHECK(h.lower.requests == Blocks(0, 7));
  h.ReadOk(2 * kB, 3 * kB);  // pop 2, blocks 8-15; queue 3..15
  CHECK(h.lower.requests == Blocks(0, 15));
  CHECK(h.policy->prefetch_count() == 16);
  CHECK(h.policy->queued_blocks() == 13);
  h.ReadOk(3 * kB, 4 * kB);  // pop 3: 12 queued, 8 free slots: blocks 16-23; count 32 capped at 20
  CHECK(h.lower.requests == Blocks(0, 23));
  CHECK(h.policy->prefetch_count() == 20);
  CHECK(h.policy->queued_blocks() == 20);
  h.ReadOk(4 * kB, 5 * kB);  // pop 4: one free slot, block 24
  CHECK(h.lower.requests == Blocks(0, 24));
  CHECK(h.policy->queued_blocks() == 20);
  CHECK(h.policy->random_seeks() == 0);

  SECTION("one large read ramps the same way: one prefetch per FUSE READ that passes a block end") {
    Harness big(1024 * kMiB);
    big.ReadOk(0, 4 * kB);  // the READs ending at 16M, 32M, 48M and 64M each pop a block and prefetch
    CHECK(big.lower.requests == Blocks(0, 23));
    CHECK(big.policy->prefetch_count() == 20);
  }
}

TEST_CASE("gcsfuse-buffered: a seek inside the queue drops only the blocks before it; outside drops all",
          "[policies][gcsfuse-buffered]") {
  Harness h(1024 * kMiB);
  h.ReadOk(0, kMiB);               // queue: blocks 0, 1
  h.ReadOk(20 * kMiB, 21 * kMiB);  // inside [0, 32M): prepareQueueForOffset pops block 0, no prefetch
  CHECK(h.lower.requests == Blocks(0, 1));
  CHECK(h.policy->random_seeks() == 0);
  CHECK(h.policy->queued_blocks() == 1);
  CHECK(h.policy->first_queued_block() == 1);
  h.ReadOk(100 * kMiB, 101 * kMiB);  // outside [16M, 32M): a random seek; freshStart at block 6
  CHECK(h.lower.requests == Concat(Blocks(0, 1), Blocks(6, 7)));
  CHECK(h.policy->random_seeks() == 1);
  CHECK(h.policy->prefetch_count() == 2);  // back to start_blocks, doubled once

  SECTION("dropping blocks still downloading cancels them") {
    Harness f(1024 * kMiB);
    f.Start(0, kMiB);  // blocks 0, 1 in flight
    f.policy->Cancel(1);
    f.ReadOk(500 * kMiB, 501 * kMiB);  // outside the queue (blocks 0, 1, still downloading)
    CHECK(f.lower.cancelled == 2);
    CHECK(f.lower.requests == Concat(Blocks(0, 1), Blocks(31, 32)));
  }
}

TEST_CASE("gcsfuse-buffered: a first read away from offset 0 counts as a random seek", "[policies][gcsfuse-buffered]") {
  Harness h(1024 * kMiB);
  h.ReadOk(40 * kMiB, 41 * kMiB);  // empty queue, offset != 0
  CHECK(h.policy->random_seeks() == 1);
  CHECK(h.lower.requests == Blocks(2, 3));
}

TEST_CASE("gcsfuse-buffered: more than 3 random seeks fall back to gcsfuse until the classifier is sequential",
          "[policies][gcsfuse-buffered]") {
  Harness h(1024 * kMiB);
  h.ReadOk(100 * kMiB, 101 * kMiB);  // seek 1 (first read at 100M): blocks 6, 7
  h.ReadOk(300 * kMiB, 301 * kMiB);  // seek 2: blocks 18, 19
  h.ReadOk(500 * kMiB, 501 * kMiB);  // seek 3: blocks 31, 32
  CHECK(!h.policy->fallen_back());
  // Seek 4 > 3, and the classifier is random (3 seeks, 3 MiB read): GCSReader. Its first READ at 700M
  // is random with no bytes yet: a 1 MiB stream (minReadSize).
  h.ReadOk(700 * kMiB, 701 * kMiB);
  CHECK(h.policy->fallen_back());
  CHECK(h.policy->queued_blocks() == 0);
  const std::vector<Req> before =
      Concat(Concat(Blocks(6, 7), Blocks(18, 19)), Concat(Blocks(31, 32), {{700 * kMiB, 701 * kMiB, 0, 0}}));
  CHECK(h.lower.requests == before);
  h.ReadOk(701 * kMiB, 702 * kMiB);  // no seek, 4M / 3 seeks < 8M: still GCSReader; a 1 MiB stream
  // The classifier turns sequential when bytes / 3 seeks reach 8 MiB: at the READ at 721M (24 MiB read).
  // [702M, 721M) goes to GCSReader (streams of 2 MiB, 4 MiB, then 200 MiB as its own classifier
  // sees 2, 4 and 8 MiB read); at 721M the buffered reader resets and starts at block 45.
  h.ReadOk(702 * kMiB, 724 * kMiB);
  CHECK(!h.policy->fallen_back());
  CHECK(h.policy->random_seeks() == 0);
  const std::vector<Req> after = Concat(before, {{701 * kMiB, 702 * kMiB, 0, 0},
                                                 {702 * kMiB, 704 * kMiB, 0, 0},
                                                 {704 * kMiB, 708 * kMiB, 0, 0},
                                                 {708 * kMiB, 721 * kMiB, 0, 0},
                                                 Block(45),
                                                 Block(46)});
  CHECK(h.lower.requests == after);
  CHECK(h.policy->fallback().seeks() == 0);
}

TEST_CASE("gcsfuse-buffered: EOF - the last block is short, nothing is fetched past it",
          "[policies][gcsfuse-buffered]") {
  Harness h(40 * kMiB);  // blocks [0, 16M), [16M, 32M), [32M, 40M)
  h.ReadOk(0, kMiB);
  h.ReadOk(kMiB, 40 * kMiB);  // at 16M: 1 block left to prefetch; at 32M: none
  CHECK(h.lower.requests == std::vector<Req>{Block(0), Block(1), {32 * kMiB, 40 * kMiB, 0, 0}});
  CHECK(h.policy->queued_blocks() == 1);  // ReadAt stops at EOF before popping
  auto past = h.Read(40 * kMiB, 41 * kMiB);
  REQUIRE(past.ok());
  CHECK(TotalLength(*past) == 0);
  auto tail = h.Read(39 * kMiB, 41 * kMiB);  // clipped to [39M, 40M), from the queued block
  REQUIRE(tail.ok());
  CHECK(TotalLength(*tail) == kMiB);
  CHECK(h.lower.requests.size() == 3);
  CHECK(h.policy->random_seeks() == 0);
}

TEST_CASE("gcsfuse-buffered: a failed block fails the read; the rest of the queue stays",
          "[policies][gcsfuse-buffered]") {
  Harness h(1024 * kMiB);
  h.lower.fail_at_request = 0;  // block 0
  auto r = h.Read(0, kMiB);
  REQUIRE(!r.ok());
  CHECK(r.error().message.find("injected failure") != std::string::npos);
  CHECK(h.policy->queued_blocks() == 1);  // block 1
  // Offset 0 is now before the queue [16M, 32M): a random seek, the queue is dropped, fresh start.
  h.ReadOk(0, kMiB);
  CHECK(h.lower.requests == Concat(Blocks(0, 1), Blocks(0, 1)));
  CHECK(h.policy->random_seeks() == 1);

  SECTION("a failure in a later block fails a read that already copied bytes") {
    Harness f(1024 * kMiB);
    f.lower.fail_at_request = 1;  // block 1
    REQUIRE(!f.Read(0, 20 * kMiB).ok());
    CHECK(f.lower.requests == Blocks(0, 3));  // [15M, 16M) popped block 0 and prefetched 2, 3
    CHECK(f.policy->queued_blocks() == 2);
  }
}

TEST_CASE("gcsfuse-buffered: cancel ends the read as cancelled and keeps the queue", "[policies][gcsfuse-buffered]") {
  Harness h(1024 * kMiB);
  const ReadId id = h.Start(0, kMiB);
  h.policy->Cancel(id + 100);  // not the current read: nothing
  CHECK(!h.got.has_value());
  h.policy->Cancel(id);
  h.scheduler.RunUntil(h.scheduler.Now());
  REQUIRE(h.got.has_value());
  REQUIRE(!h.got->ok());
  CHECK(h.got->error().code == ErrorCode::kCancelled);
  CHECK(h.lower.cancelled == 0);
  h.ReadOk(0, kMiB);  // served by the queued block 0
  CHECK(h.lower.requests == Blocks(0, 1));

  SECTION("a read passed to gcsfuse is cancelled there") {
    GcsfuseBufferedOptions o;
    o.random_seek_threshold = 0;
    Harness f(1024 * kMiB, o);
    f.ReadOk(0, kMiB);
    const ReadId fid = f.Start(100 * kMiB, 101 * kMiB);  // seek 1 > 0: falls back
    CHECK(f.policy->fallen_back());
    f.policy->Cancel(fid);
    f.scheduler.Run();
    REQUIRE(f.got.has_value());
    CHECK(f.got->error().code == ErrorCode::kCancelled);
    CHECK(f.lower.cancelled == 1);
    CHECK(f.lower.requests == Concat(Blocks(0, 1), {{100 * kMiB, 101 * kMiB, 0, 0}}));
  }
}

TEST_CASE("gcsfuse-buffered: destroyed with downloads in flight - they are cancelled, no callback runs",
          "[policies][gcsfuse-buffered]") {
  Harness h(1024 * kMiB);
  h.Start(0, kMiB);
  REQUIRE(h.lower.requests.size() == 2);
  h.policy.reset();
  h.scheduler.Run();
  CHECK(!h.got.has_value());
  CHECK(h.lower.cancelled == 2);
}

TEST_CASE("gcsfuse-buffered: workers bound the downloads in flight", "[policies][gcsfuse-buffered]") {
  GcsfuseBufferedOptions o;
  o.workers = 1;
  Harness h(1024 * kMiB, o);
  h.ReadOk(0, kMiB);
  CHECK(h.lower.requests == Blocks(0, 1));
  CHECK(h.lower.requests[0].at == 0);
  CHECK(h.lower.requests[1].at == kMillisecond);  // block 1 waits for the only worker
}

// The head block a read jumps to may be one no worker has started: the worker freed by dropping the
// blocks before it must take it (the read waited forever).
TEST_CASE("gcsfuse-buffered: a read ahead within the queue - the dropped blocks' worker takes the new head",
          "[policies][gcsfuse-buffered]") {
  GcsfuseBufferedOptions o;
  o.workers = 1;
  o.start_blocks = 4;
  Harness h(1024 * kMiB, o);
  h.Start(0, kMiB);
  h.scheduler.RunUntil(kMillisecond);  // block 0 arrived: the read is done; block 1 took the worker
  REQUIRE(h.got.has_value());
  REQUIRE(h.lower.requests == Blocks(0, 1));
  // Block 3 is queued (blocks 1 to 4 were prefetched) but not started: not a random seek.
  h.ReadOk(3 * kB, 3 * kB + kMiB);
  CHECK(h.lower.cancelled == 1);  // block 1
  CHECK(h.lower.requests == std::vector<Req>{Block(0), Block(1), Block(3), Block(4)});
}

TEST_CASE("gcsfuse-buffered: a global limit below the reservation leaves the handle to gcsfuse",
          "[policies][gcsfuse-buffered]") {
  GcsfuseBufferedOptions o;
  o.global_max_blocks = 3;  // < min(64 blocks, min_blocks 4)
  Harness h(1024 * kMiB, o);
  CHECK(!h.policy->has_buffered_reader());
  h.ReadOk(0, 2 * kMiB);  // gcsfuse: a 200 MiB stream, both READs from it, one request
  CHECK(h.lower.requests == std::vector<Req>{{0, 2 * kMiB, 0, 0}});

  SECTION("a global limit below max_blocks caps the queue, and the count stops doubling") {
    GcsfuseBufferedOptions g;
    g.global_max_blocks = 4;
    Harness f(1024 * kMiB, g);
    REQUIRE(f.policy->has_buffered_reader());
    // 0, 1; at 16M: pop 0, blocks 2, 3 (count 4); at 32M: pop 1, of 4 only blocks 4, 5 fit the pool
    // (count stays 4); at 48M: pop 2, block 6 fits.
    f.ReadOk(0, 3 * kB);
    CHECK(f.lower.requests == Blocks(0, 6));
    CHECK(f.policy->prefetch_count() == 4);
    CHECK(f.policy->queued_blocks() == 4);
  }
}

TEST_CASE("gcsfuse-buffered: specs - parameters, defaults, placement", "[policies][gcsfuse-buffered]") {
  auto ok = ParsePolicyList("gcsfuse-buffered(block_size=8MiB,max_blocks=10,sequential_read_size=100MiB)");
  REQUIRE(ok.ok());
  CHECK(!ParsePolicyList("gcsfuse-buffered(block_size=512KiB)").ok());
  CHECK(!ParsePolicyList("gcsfuse-buffered(start_blocks=0)").ok());
  CHECK(!ParsePolicyList("gcsfuse-buffered(bogus=1)").ok());
  auto stacked = ParsePolicyList("gcsfuse-buffered > gcsfuse");
  REQUIRE(!stacked.ok());
  CHECK(stacked.error().message.find("must sit directly on the fetcher") != std::string::npos);
  auto parsed = GcsfuseBufferedEntry().Parse({});
  REQUIRE(parsed.ok());
  const auto& defaults = std::any_cast<const GcsfuseBufferedOptions&>(*parsed);
  CHECK(defaults.block_size == 16 * kMiB);
  CHECK(defaults.max_blocks == 20);
  CHECK(defaults.start_blocks == 1);
  CHECK(defaults.min_blocks == 4);
  CHECK(defaults.global_max_blocks == 40);
  CHECK(defaults.random_seek_threshold == 3);
  CHECK(defaults.fallback.fuse_max == kMiB);
}

}  // namespace
}  // namespace pflab::policies
