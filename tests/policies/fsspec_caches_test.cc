// Hand-worked request sequences for the fsspec caches ported as policy layers: blockcache, mmap,
// bytes, first, all, parts and background. Expected requests are worked from fsspec/caching.py
// (master 669de5e1) and checked against research/gcsfs_fsspec.md section 2, "Reference traces from
// running the upstream code": a 64 MiB file, bs 5 MiB, 1 MiB reads, block k = [(k-1), k) MiB.
//
// Requests are logged as the policy sends them, which is clamped to the file size. Where fsspec asks
// past EOF (the doc's "[60,65) past EOF"), we expect the clamped range and say so.
#include <catch2/catch.hpp>
#include <cstring>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "engine/buffer.h"
#include "engine/units.h"
#include "policies/fsspec_all.h"
#include "policies/fsspec_background.h"
#include "policies/fsspec_blockcache.h"
#include "policies/fsspec_bytes.h"
#include "policies/fsspec_first.h"
#include "policies/fsspec_mmap.h"
#include "policies/fsspec_parts.h"
#include "policies/registry.h"
#include "sim/sim_scheduler.h"
#include "tests/support/logging_source.h"

namespace pflab::policies {
namespace {

constexpr std::uint64_t kSize = 64 * kMiB;

using Req = testing::LoggedRequest;
std::vector<Req> Reqs(std::initializer_list<std::pair<std::uint64_t, std::uint64_t>> mib) {
  std::vector<Req> out;
  for (auto [b, e] : mib) out.push_back({b * kMiB, e * kMiB, 0, 0});
  return out;
}

// A policy of type P over a LoggingSource.
template <typename P>
struct Harness {
  sim::SimScheduler scheduler;
  NullEventSink events;
  MemoryAccount account;
  testing::LoggingSource lower;
  P cache;

  template <typename... Options>
  explicit Harness(std::uint64_t size, Nanos delay, Options&&... options)
      : lower(&scheduler, size, delay, &account),
        cache(LayerContext{&scheduler, &events, 0}, &lower, std::forward<Options>(options)...) {}

  // Reads [begin, end), runs the scheduler dry, and returns the result.
  Result<Slices> Get(std::uint64_t begin, std::uint64_t end) {
    Result<Slices> out = Internal("read never completed");
    int calls = 0;
    cache.Read({begin, end}, [&](Result<Slices> r) {
      ++calls;
      out = std::move(r);
    });
    scheduler.Run();
    REQUIRE(calls == 1);
    return out;
  }
  // Reads [begin, end) and returns the delivered length (the read must succeed).
  std::uint64_t Read(std::uint64_t begin, std::uint64_t end) {
    auto r = Get(begin, end);
    REQUIRE(r.ok());
    return TotalLength(*r);
  }
  // Reads 1 MiB block k, i.e. [(k-1), k) MiB.
  void Block(int k) { REQUIRE(Read((k - 1) * kMiB, k * kMiB) == kMiB); }
  void Blocks(std::initializer_list<int> ks) {
    for (int k : ks) Block(k);
  }
  void Sequential() {
    for (int k = 1; k <= 12; ++k) Block(k);
  }
  // The "parquet-ish" sequence: last 8 B; 64 KiB before that; bytes 0-4; [8,12) MiB; [30,31) MiB.
  void Parquet() {
    const std::uint64_t size = lower.size();
    REQUIRE(Read(size - 8, size) == 8);
    REQUIRE(Read(size - 8 - 64 * kKiB, size - 8) == 64 * kKiB);
    REQUIRE(Read(0, 4) == 4);
    REQUIRE(Read(8 * kMiB, 12 * kMiB) == 4 * kMiB);
    REQUIRE(Read(30 * kMiB, 31 * kMiB) == kMiB);
  }
  std::uint64_t Fetched() const {
    std::uint64_t total = 0;
    for (const auto& r : lower.requests) total += r.end - r.begin;
    return total;
  }
};

const BlockCacheOptions kBlocks{5 * kMiB, 32};

// Reads with a lower layer that fails its first request, then succeeds: the failure reaches the
// reader, and the same read works afterwards.
template <typename P, typename... Options>
void CheckFailureThenRetry(Options... options) {
  Harness<P> h(kSize, 0, options...);
  h.lower.fail_at_request = 0;
  auto r = h.Get(0, kMiB);
  REQUIRE(!r.ok());
  CHECK(r.error().code == ErrorCode::kUnavailable);
  CHECK(h.Read(0, kMiB) == kMiB);
  CHECK(h.lower.requests.size() >= 2);
  CHECK(h.lower.requests[1].begin == h.lower.requests[0].begin);  // the failed request is sent again
}

// Cancel while the read waits on the layer below: completes once, with kCancelled, and the layer keeps
// working afterwards.
template <typename P, typename... Options>
void CheckCancel(Options... options) {
  Harness<P> h(kSize, 10 * kMillisecond, options...);
  int calls = 0;
  ErrorCode code = ErrorCode::kInternal;
  const ReadId id = h.cache.Read({2 * kMiB, 3 * kMiB}, [&](Result<Slices> r) {
    ++calls;
    if (!r.ok()) code = r.error().code;
  });
  h.cache.Cancel(id);
  h.cache.Cancel(id);  // twice is harmless
  h.scheduler.Run();
  CHECK(calls == 1);
  CHECK(code == ErrorCode::kCancelled);
  CHECK(h.lower.cancelled == 1);
  CHECK(h.Read(2 * kMiB, 3 * kMiB) == kMiB);
}

// ---------------------------------------------------------------------------------------------------
// blockcache

TEST_CASE("fsspec-blockcache: reference sequences", "[fsspec][policies]") {
  using H = Harness<FsspecBlockCache>;
  SECTION("seq 1..12: blocks 0, 1, 2 (3 / 15)") {
    H h(kSize, 0, kBlocks);
    h.Sequential();
    CHECK(h.lower.requests == Reqs({{0, 5}, {5, 10}, {10, 15}}));
    CHECK(h.cache.hits() == 12);  // fsspec counts every read as a hit
    CHECK(h.cache.misses() == 3);
  }
  SECTION("backtrack (2 / 10)") {
    H h(kSize, 0, kBlocks);
    h.Blocks({1, 2, 3, 4, 2, 5, 6, 7, 5});
    CHECK(h.lower.requests == Reqs({{0, 5}, {5, 10}}));
  }
  SECTION("visits home (1 / 5): an aligned end [4,5) stays in block 0 ((e-1)//bs)") {
    H h(kSize, 0, kBlocks);
    h.Blocks({1, 2, 1, 3, 1, 4, 1, 5});
    CHECK(h.lower.requests == Reqs({{0, 5}}));
  }
  SECTION("parquet-ish (5 requests; fsspec's [60,65) is clamped to [60,64))") {
    H h(kSize, 0, kBlocks);
    h.Parquet();
    CHECK(h.lower.requests == Reqs({{60, 64}, {0, 5}, {5, 10}, {10, 15}, {30, 35}}));
    CHECK(h.Fetched() == 24 * kMiB);
  }
}

TEST_CASE("fsspec-blockcache: LRU eviction with maxblocks=2", "[fsspec][policies]") {
  Harness<FsspecBlockCache> h(10 * kMiB, 0, BlockCacheOptions{kMiB, 2});
  h.Blocks({1, 2, 3});  // blocks 0, 1, 2 fetched; 0 evicted
  CHECK(h.cache.blocks().Order() == std::vector<std::uint64_t>{1, 2});
  h.Block(1);  // block 0 again: refetched, evicts 1
  CHECK(h.cache.blocks().Order() == std::vector<std::uint64_t>{2, 0});
  h.Block(3);  // hit: block 2 becomes most recent
  CHECK(h.cache.blocks().Order() == std::vector<std::uint64_t>{0, 2});
  h.Block(2);  // block 1 refetched, evicts 0 (least recent), not 2
  CHECK(h.cache.blocks().Order() == std::vector<std::uint64_t>{2, 1});
  CHECK(h.lower.requests == Reqs({{0, 1}, {1, 2}, {2, 3}, {0, 1}, {1, 2}}));
}

// BlockLru keeps its entries in reused slots linked by index; it must behave as the list-and-map LRU
// it replaced (kept here as the reference): the same order, the same blocks returned, a replaced
// block keeping its place, and an evicted block's chunk released at once.
TEST_CASE("fsspec block LRU: slots behave as a list-and-map LRU", "[fsspec][policies]") {
  struct Reference {
    std::size_t capacity;
    std::list<std::pair<std::uint64_t, std::uint64_t>> order;  // block, tag; least recent first
    std::map<std::uint64_t, std::list<std::pair<std::uint64_t, std::uint64_t>>::iterator> index;
    std::optional<std::uint64_t> Get(std::uint64_t block) {
      auto it = index.find(block);
      if (it == index.end()) return std::nullopt;
      order.splice(order.end(), order, it->second);
      return it->second->second;
    }
    void Put(std::uint64_t block, std::uint64_t tag) {
      if (auto it = index.find(block); it != index.end()) {
        it->second->second = tag;
        return;
      }
      order.emplace_back(block, tag);
      index[block] = std::prev(order.end());
      while (order.size() > capacity) {
        index.erase(order.front().first);
        order.pop_front();
      }
    }
    std::vector<std::uint64_t> Order() const {
      std::vector<std::uint64_t> out;
      for (const auto& [block, tag] : order) out.push_back(block);
      return out;
    }
  };
  MemoryAccount account;
  // A block's data: one slice of a chunk of its own, the tag as its length.
  auto data = [&](std::uint64_t tag) {
    Slices s;
    s.push_back(Slice{Chunk::Make(tag, false, &account), 0, tag});
    return s;
  };
  std::mt19937_64 rng(17);
  for (const std::size_t capacity : {1, 2, 3, 8}) {
    BlockLru lru(capacity);
    Reference ref{capacity, {}, {}};
    std::uint64_t tag = 1;
    for (int op = 0; op < 4000; ++op) {
      const std::uint64_t block = rng() % (capacity + 4);
      switch (rng() % 3) {
        case 0: {
          const Slices* got = lru.Get(block);
          const std::optional<std::uint64_t> want = ref.Get(block);
          REQUIRE((got != nullptr) == want.has_value());
          if (got) CHECK((*got)[0].length == *want);
          break;
        }
        case 1:
          ++tag;
          lru.Put(block, data(tag));
          ref.Put(block, tag);
          break;
        default: CHECK(lru.Contains(block) == ref.index.contains(block));
      }
      REQUIRE(lru.Order() == ref.Order());
      REQUIRE(lru.size() == ref.order.size());
      // Only the blocks held keep chunks: an evicted or replaced block's chunk is gone already.
      std::uint64_t held = 0;
      for (const auto& [b, t] : ref.order) held += t;
      REQUIRE(account.held_bytes() == held);
    }
  }
}

TEST_CASE("fsspec-blockcache: a read spanning more blocks than maxblocks still completes", "[fsspec][policies]") {
  Harness<FsspecBlockCache> h(10 * kMiB, 0, BlockCacheOptions{kMiB, 2});
  CHECK(h.Read(512 * kKiB, 4 * kMiB + 1) == 3 * kMiB + 512 * kKiB + 1);
  CHECK(h.lower.requests == Reqs({{0, 1}, {1, 2}, {2, 3}, {3, 4}, {4, 5}}));
  CHECK(h.cache.blocks().Order() == std::vector<std::uint64_t>{3, 4});
  CHECK(h.Read(9 * kMiB + 5, 10 * kMiB) == kMiB - 5);  // the short last block
  CHECK(h.lower.requests.back() == Req{9 * kMiB, 10 * kMiB, 0, 0});
}

TEST_CASE("fsspec-blockcache: errors and cancel", "[fsspec][policies]") {
  CheckFailureThenRetry<FsspecBlockCache>(kBlocks);
  CheckCancel<FsspecBlockCache>(kBlocks);
  // A failure in the middle of a multi-block read fails it; the blocks fetched before stay cached.
  Harness<FsspecBlockCache> h(kSize, 0, BlockCacheOptions{kMiB, 8});
  h.lower.fail_at_request = 1;
  REQUIRE(!h.Get(0, 3 * kMiB).ok());
  CHECK(h.Read(0, 3 * kMiB) == 3 * kMiB);
  CHECK(h.lower.requests == Reqs({{0, 1}, {1, 2}, {1, 2}, {2, 3}}));
}

// ---------------------------------------------------------------------------------------------------
// mmap

TEST_CASE("fsspec-mmap: reference sequences", "[fsspec][policies]") {
  using H = Harness<FsspecMMap>;
  const MMapOptions options{5 * kMiB};
  SECTION("seq 1..12 (3 / 15): block 1 already at read 5, whose end is aligned") {
    H h(kSize, 0, options);
    for (int k = 1; k <= 4; ++k) h.Block(k);
    CHECK(h.lower.requests == Reqs({{0, 5}}));
    h.Block(5);
    CHECK(h.lower.requests == Reqs({{0, 5}, {5, 10}}));
    for (int k = 6; k <= 12; ++k) h.Block(k);
    CHECK(h.lower.requests == Reqs({{0, 5}, {5, 10}, {10, 15}}));
  }
  SECTION("backtrack (2 / 10)") {
    H h(kSize, 0, options);
    h.Blocks({1, 2, 3, 4, 2, 5, 6, 7, 5});
    CHECK(h.lower.requests == Reqs({{0, 5}, {5, 10}}));
  }
  SECTION("visits home (2 / 10)") {
    H h(kSize, 0, options);
    h.Blocks({1, 2, 1, 3, 1, 4, 1, 5});
    CHECK(h.lower.requests == Reqs({{0, 5}, {5, 10}}));
    CHECK(h.cache.misses() == 2);
    CHECK(h.cache.hits() == 7);  // six reads in block 0 after the first, and block 0 again for read 5
  }
  SECTION("parquet-ish (4 / 24): blocks 1 and 2 merged into one request") {
    H h(kSize, 0, options);
    h.Parquet();
    CHECK(h.lower.requests == Reqs({{60, 64}, {0, 5}, {5, 15}, {30, 35}}));
    CHECK(h.Fetched() == 24 * kMiB);
  }
}

TEST_CASE("fsspec-mmap: runs around cached blocks - the block after a block-aligned EOF", "[fsspec][policies]") {
  Harness<FsspecMMap> h(10 * kMiB, 0, MMapOptions{kMiB});
  h.Block(3);  // [2,3): blocks 2..3
  CHECK(h.lower.requests == Reqs({{2, 4}}));
  CHECK(h.Read(0, 7 * kMiB + 1) == 7 * kMiB + 1);  // blocks 0..7: runs 0-1 and 4-7
  CHECK(h.lower.requests == Reqs({{2, 4}, {0, 2}, {4, 8}}));
  // [9, 10): blocks 9..10; block 10 starts at EOF, so only block 9 is sent and 10 is marked present.
  CHECK(h.Read(9 * kMiB, 10 * kMiB) == kMiB);
  CHECK(h.lower.requests.back() == Req{9 * kMiB, 10 * kMiB, 0, 0});
  CHECK(h.cache.blocks_held() == 10);  // 0..7, 9, 10
}

TEST_CASE("fsspec-mmap: errors and cancel", "[fsspec][policies]") {
  CheckFailureThenRetry<FsspecMMap>(MMapOptions{5 * kMiB});
  CheckCancel<FsspecMMap>(MMapOptions{5 * kMiB});
}

// ---------------------------------------------------------------------------------------------------
// bytes

TEST_CASE("fsspec-bytes: reference sequences", "[fsspec][policies]") {
  using H = Harness<FsspecBytes>;
  const BytesOptions options{5 * kMiB};
  SECTION("seq 1..12 (4 / 20): trim drops [0,10), so read 7 fetches [6,10) again") {
    H h(kSize, 0, options);
    h.Sequential();
    // Read 1: [0,6). Read 6 ([5,6), its end is the buffer's end: not a hit): append [6,11), trim
    // 11 // (5+) = 2 blocks -> buffer [10,11). Read 7: prepend [6,10). Read 11: append [11,16).
    CHECK(h.lower.requests == Reqs({{0, 6}, {6, 11}, {6, 10}, {11, 16}}));
    CHECK(h.cache.misses() == 4);
    CHECK(h.cache.hits() == 8);
  }
  SECTION("backtrack (4 / 21)") {
    H h(kSize, 0, options);
    h.Blocks({1, 2, 3, 4, 2, 5, 6, 7, 5});
    // As above to read 7 (buffer [6,11)); then 5 = [4,5) is before it and end - e = 6 > bs: refetch
    // [4, 5+5).
    CHECK(h.lower.requests == Reqs({{0, 6}, {6, 11}, {6, 10}, {4, 10}}));
    CHECK(h.cache.buffer() == ByteRange{4 * kMiB, 10 * kMiB});
  }
  SECTION("visits home (1 / 6)") {
    H h(kSize, 0, options);
    h.Blocks({1, 2, 1, 3, 1, 4, 1, 5});
    CHECK(h.lower.requests == Reqs({{0, 6}}));
  }
  SECTION("parquet-ish (5 / 20.06)") {
    H h(kSize, 0, options);
    h.Parquet();
    const std::uint64_t s = kSize;
    // Footer to EOF; the 64 KiB before it is prepended (end - e = 8 <= bs); [0,4) is far before:
    // refetch [0, 4+5MiB); [8,12) MiB is more than bs past the end: refetch [8, 17); likewise [30, 36).
    CHECK(h.lower.requests == std::vector<Req>{{s - 8, s, 0, 0},
                                               {s - 8 - 64 * kKiB, s - 8, 0, 0},
                                               {0, 4 + 5 * kMiB, 0, 0},
                                               {8 * kMiB, 17 * kMiB, 0, 0},
                                               {30 * kMiB, 36 * kMiB, 0, 0}});
  }
}

TEST_CASE("fsspec-bytes: append across a gap - a read ending at EOF served without a request", "[fsspec][policies]") {
  Harness<FsspecBytes> h(20 * kMiB, 0, BytesOptions{4 * kMiB});
  CHECK(h.Read(0, kMiB) == kMiB);             // [0,5)
  CHECK(h.Read(7 * kMiB, 8 * kMiB) == kMiB);  // e - end = 3 <= bs: append [5,12), trim to [8,12)
  CHECK(h.cache.buffer() == ByteRange{8 * kMiB, 12 * kMiB});
  CHECK(h.Read(13 * kMiB, 16 * kMiB) == 3 * kMiB);  // e - end = 4 <= bs: append [12,20), trim to [16,20)
  CHECK(h.cache.buffer() == ByteRange{16 * kMiB, 20 * kMiB});
  CHECK(h.Read(19 * kMiB, 20 * kMiB) == kMiB);  // e == end == size: a miss without a request
  CHECK(h.lower.requests == Reqs({{0, 5}, {5, 12}, {12, 20}}));
  CHECK(h.cache.misses() == 4);
}

TEST_CASE("fsspec-bytes: errors and cancel", "[fsspec][policies]") {
  CheckFailureThenRetry<FsspecBytes>(BytesOptions{5 * kMiB});
  CheckCancel<FsspecBytes>(BytesOptions{5 * kMiB});
}

// ---------------------------------------------------------------------------------------------------
// first

TEST_CASE("fsspec-first: reference sequences", "[fsspec][policies]") {
  using H = Harness<FsspecFirstChunk>;
  const FirstChunkOptions options{5 * kMiB};
  SECTION("seq 1..12 (8 / 12)") {
    H h(kSize, 0, options);
    h.Sequential();
    CHECK(h.lower.requests == Reqs({{0, 5}, {5, 6}, {6, 7}, {7, 8}, {8, 9}, {9, 10}, {10, 11}, {11, 12}}));
    CHECK(h.cache.hits() == 5);
    CHECK(h.cache.misses() == 8);
  }
  SECTION("backtrack (3 / 7)") {
    H h(kSize, 0, options);
    h.Blocks({1, 2, 3, 4, 2, 5, 6, 7, 5});
    CHECK(h.lower.requests == Reqs({{0, 5}, {5, 6}, {6, 7}}));
  }
  SECTION("visits home (1 / 5)") {
    H h(kSize, 0, options);
    h.Blocks({1, 2, 1, 3, 1, 4, 1, 5});
    CHECK(h.lower.requests == Reqs({{0, 5}}));
  }
  SECTION("parquet-ish (5 / 10.06)") {
    H h(kSize, 0, options);
    h.Parquet();
    const std::uint64_t s = kSize;
    CHECK(h.lower.requests == std::vector<Req>{{s - 8, s, 0, 0},
                                               {s - 8 - 64 * kKiB, s - 8, 0, 0},
                                               {0, 5 * kMiB, 0, 0},
                                               {8 * kMiB, 12 * kMiB, 0, 0},
                                               {30 * kMiB, 31 * kMiB, 0, 0}});
  }
}

TEST_CASE("fsspec-first: a first read past the block fetches 0..e - later ones fetch only the tail",
          "[fsspec][policies]") {
  Harness<FsspecFirstChunk> h(kSize, 0, FirstChunkOptions{5 * kMiB});
  CHECK(h.Read(4 * kMiB, 7 * kMiB) == 3 * kMiB);
  CHECK(h.Read(3 * kMiB, 6 * kMiB) == 3 * kMiB);
  CHECK(h.lower.requests == Reqs({{0, 7}, {5, 6}}));
  // A file smaller than the block: the block is capped at the size (master).
  Harness<FsspecFirstChunk> small(3 * kMiB, 0, FirstChunkOptions{5 * kMiB});
  CHECK(small.Read(kMiB, 2 * kMiB) == kMiB);
  CHECK(small.Read(2 * kMiB, 3 * kMiB) == kMiB);
  CHECK(small.lower.requests == Reqs({{0, 3}}));
}

TEST_CASE("fsspec-first: errors and cancel", "[fsspec][policies]") {
  CheckFailureThenRetry<FsspecFirstChunk>(FirstChunkOptions{5 * kMiB});
  CheckCancel<FsspecFirstChunk>(FirstChunkOptions{5 * kMiB});
}

// ---------------------------------------------------------------------------------------------------
// all

TEST_CASE("fsspec-all: one request for the whole file - on the first read", "[fsspec][policies]") {
  Harness<FsspecAllBytes> h(kSize, 0);
  h.Sequential();
  h.Parquet();
  CHECK(h.lower.requests == Reqs({{0, 64}}));
  CHECK(h.cache.misses() == 1);
  CHECK(h.cache.hits() == 17);
}

TEST_CASE("fsspec-all: errors and cancel", "[fsspec][policies]") {
  CheckFailureThenRetry<FsspecAllBytes>();
  CheckCancel<FsspecAllBytes>();
}

// ---------------------------------------------------------------------------------------------------
// background

TEST_CASE("fsspec-background: reference sequences", "[fsspec][policies]") {
  // The lower layer answers at once, so every background block has arrived before the next read.
  using H = Harness<FsspecBackground>;
  SECTION("seq 1..12 (4 / 20, 2 on the first read)") {
    H h(kSize, 0, kBlocks);
    h.Block(1);
    CHECK(h.lower.requests == Reqs({{0, 5}, {5, 10}}));  // block 0, then block 1 in the background
    for (int k = 2; k <= 12; ++k) h.Block(k);
    // Read 5 ([4,5), aligned end) needs blocks 0..1 and starts block 2; read 10 starts block 3.
    CHECK(h.lower.requests == Reqs({{0, 5}, {5, 10}, {10, 15}, {15, 20}}));
    CHECK(h.cache.misses() == 4);
  }
  SECTION("backtrack (3 / 15)") {
    H h(kSize, 0, kBlocks);
    h.Blocks({1, 2, 3, 4, 2, 5, 6, 7, 5});
    CHECK(h.lower.requests == Reqs({{0, 5}, {5, 10}, {10, 15}}));
  }
  SECTION("visits home (3 / 15)") {
    H h(kSize, 0, kBlocks);
    h.Blocks({1, 2, 1, 3, 1, 4, 1, 5});
    CHECK(h.lower.requests == Reqs({{0, 5}, {5, 10}, {10, 15}}));
  }
  SECTION("parquet-ish (the doc's 7 requests; block 13 past EOF is not sent)") {
    H h(kSize, 0, kBlocks);
    h.Parquet();
    // Footer: block 12 ([60,65) clamped). Its background block 13 lies past EOF (nblocks = 13): empty,
    // not sent, joined by the next read. [0,4): block 0, background 1. [8,12): joins 1, block 2 sync,
    // background 3. [30,31): joins 3, block 6, background 7.
    CHECK(h.lower.requests == Reqs({{60, 64}, {0, 5}, {5, 10}, {10, 15}, {15, 20}, {30, 35}, {35, 40}}));
  }
}

TEST_CASE("fsspec-background: a read that needs the pending block waits for it", "[fsspec][policies]") {
  Harness<FsspecBackground> h(10 * kMiB, 10 * kMillisecond, BlockCacheOptions{kMiB, 32});
  bool done = false;
  h.cache.Read({0, 512 * kKiB}, [&](Result<Slices> r) { done = r.ok(); });
  h.scheduler.RunUntil(10 * kMillisecond);
  REQUIRE(done);
  REQUIRE(h.lower.requests == Reqs({{0, 1}, {1, 2}}));  // block 1 in flight, due at 20 ms
  CHECK(h.cache.background_block() == 1);
  // Not needing block 1: no new background block while one is pending.
  done = false;
  h.cache.Read({0, 100 * kKiB}, [&](Result<Slices> r) { done = r.ok(); });
  h.scheduler.RunUntil(11 * kMillisecond);
  REQUIRE(done);
  CHECK(h.lower.requests.size() == 2);
  // Needing block 1: waits for the background fetch instead of sending its own.
  std::uint64_t got = 0;
  h.cache.Read({kMiB, kMiB + 512 * kKiB}, [&](Result<Slices> r) { got = r.ok() ? TotalLength(*r) : 0; });
  h.scheduler.RunUntil(19 * kMillisecond);
  CHECK(got == 0);
  h.scheduler.RunUntil(20 * kMillisecond);
  CHECK(got == 512 * kKiB);
  h.scheduler.Run();
  // That read's end block is 1, so block 2 goes to the background.
  CHECK(h.lower.requests == Reqs({{0, 1}, {1, 2}, {1 + 1, 3}}));
}

TEST_CASE("fsspec-background: a sync fetch and the background fetch in flight together", "[fsspec][policies]") {
  Harness<FsspecBackground> h(10 * kMiB, 10 * kMillisecond, BlockCacheOptions{kMiB, 32});
  h.cache.Read({0, kKiB}, [](Result<Slices>) {});
  h.scheduler.RunUntil(10 * kMillisecond);  // block 0 in; block 1 in the background until 20 ms
  bool done = false;
  h.cache.Read({5 * kMiB, 5 * kMiB + kKiB}, [&](Result<Slices> r) { done = r.ok(); });
  h.scheduler.RunUntil(12 * kMillisecond);
  REQUIRE(h.lower.requests.size() == 3);
  CHECK(h.lower.requests[2] == Req{5 * kMiB, 6 * kMiB, 0, 0});
  CHECK(h.lower.requests[2].at == 10 * kMillisecond);  // sent while block 1 is still in flight
  h.scheduler.Run();
  CHECK(done);
  CHECK(h.lower.requests.size() == 3);  // block 1 still unjoined: no second background block
}

TEST_CASE("fsspec-background: an aligned end fetches the next block synchronously", "[fsspec][policies]") {
  Harness<FsspecBackground> h(10 * kMiB, 0, BlockCacheOptions{kMiB, 32});
  CHECK(h.Read(0, kMiB) == kMiB);  // blocks 0..1 sync, then block 2 in the background
  CHECK(h.lower.requests == Reqs({{0, 1}, {1, 2}, {2, 3}}));
  // The block after a block-aligned EOF is empty: nothing sent for it.
  CHECK(h.Read(9 * kMiB, 10 * kMiB) == kMiB);
  CHECK(h.lower.requests == Reqs({{0, 1}, {1, 2}, {2, 3}, {9, 10}}));
}

TEST_CASE("fsspec-background: LRU with maxblocks=2 and a read spanning more", "[fsspec][policies]") {
  Harness<FsspecBackground> h(20 * kMiB, 0, BlockCacheOptions{kMiB, 2});
  // Blocks 0..3 (pass 1), background block 4, then pass 2 (_read_cache) finds 0 and 1 evicted and
  // fetches them again, which evicts 2 and 3.
  CHECK(h.Read(0, 3 * kMiB + 5) == 3 * kMiB + 5);
  CHECK(h.lower.requests == Reqs({{0, 1}, {1, 2}, {2, 3}, {3, 4}, {4, 5}, {0, 1}, {1, 2}, {2, 3}, {3, 4}}));
  CHECK(h.cache.blocks().Order() == std::vector<std::uint64_t>{2, 3});
}

TEST_CASE("fsspec-background: errors and cancel", "[fsspec][policies]") {
  CheckFailureThenRetry<FsspecBackground>(kBlocks);
  CheckCancel<FsspecBackground>(kBlocks);
  SECTION("a failed background block fails the read that joins it, once") {
    Harness<FsspecBackground> h(kSize, 0, kBlocks);
    h.lower.fail_at_request = 1;  // block 1, in the background
    h.Block(1);
    auto r = h.Get(kMiB, 2 * kMiB);
    REQUIRE(!r.ok());
    CHECK(r.error().code == ErrorCode::kUnavailable);
    h.Block(2);
    CHECK(h.lower.requests == Reqs({{0, 5}, {5, 10}, {5, 10}}));
  }
  SECTION("cancel while waiting for the background block leaves it in flight") {
    Harness<FsspecBackground> h(10 * kMiB, 10 * kMillisecond, BlockCacheOptions{kMiB, 32});
    h.cache.Read({0, kKiB}, [](Result<Slices>) {});
    h.scheduler.RunUntil(10 * kMillisecond);
    int calls = 0;
    ErrorCode code = ErrorCode::kInternal;
    const ReadId id = h.cache.Read({kMiB, kMiB + kKiB}, [&](Result<Slices> r) {
      ++calls;
      if (!r.ok()) code = r.error().code;
    });
    h.cache.Cancel(id);
    h.scheduler.Run();
    CHECK(calls == 1);
    CHECK(code == ErrorCode::kCancelled);
    CHECK(h.lower.cancelled == 0);
    CHECK(h.Read(kMiB, kMiB + kKiB) == kKiB);  // joins the block that arrived meanwhile
    CHECK(h.lower.requests == Reqs({{0, 1}, {1, 2}, {2, 3}}));
  }
}

// ---------------------------------------------------------------------------------------------------
// parts

// A lower layer whose chunks carry bytes: byte i of the object is (i % 251) + 1, never zero.
class PayloadSource final : public Source {
 public:
  PayloadSource(Scheduler* scheduler, std::uint64_t size) : scheduler_(scheduler), size_(size) {}
  ReadId Read(ByteRange range, ReadCallback done) override {
    requests.push_back(range);
    scheduler_->Post([range, done = std::move(done)]() mutable {
      auto chunk = Chunk::Make(range.size(), true, nullptr);
      for (std::uint64_t i = 0; i < range.size(); ++i) {
        chunk->mutable_data()[i] = static_cast<std::byte>((range.begin + i) % 251 + 1);
      }
      Slices out;
      out.push_back(Slice{std::move(chunk), 0, range.size()});
      done(std::move(out));
    });
    return next_id_++;
  }
  void Cancel(ReadId) override {}
  std::uint64_t size() const override { return size_; }
  const char* name() const override { return "payload"; }
  std::vector<ByteRange> requests;

 private:
  Scheduler* scheduler_;
  std::uint64_t size_;
  ReadId next_id_ = 1;
};

std::string Expected(std::uint64_t begin, std::uint64_t end) {
  std::string out;
  for (std::uint64_t i = begin; i < end; ++i) out.push_back(static_cast<char>(i % 251 + 1));
  return out;
}

TEST_CASE("fsspec-parts: parse the parts parameter", "[fsspec][policies]") {
  auto parts = ParsePartList("5MiB-6MiB;0-1MiB;1MiB-2MiB");
  REQUIRE(parts.ok());
  CHECK(*parts == std::vector<ByteRange>{{0, 2 * kMiB}, {5 * kMiB, 6 * kMiB}});  // touching ones merged
  CHECK(ParsePartList("").ok());
  CHECK_THAT(ParsePartList("0-2MiB;1MiB-3MiB").error().message, Catch::Contains("overlap"));
  CHECK_THAT(ParsePartList("0").error().message, Catch::Contains("START-END"));
  CHECK_THAT(ParsePartList("3-1").error().message, Catch::Contains("empty"));
  CHECK(!ParsePartList("x-1MiB").ok());
}

TEST_CASE("fsspec-parts: served from the parts - gaps zero-filled - reads outside fail", "[fsspec][policies]") {
  sim::SimScheduler scheduler;
  NullEventSink events;
  PayloadSource lower(&scheduler, 100 * kKiB);
  auto parts = ParsePartList("0-10KiB;30KiB-40KiB;60KiB-70KiB");
  REQUIRE(parts.ok());
  FsspecKnownParts cache(LayerContext{&scheduler, &events, 0}, &lower, PartsOptions{*parts});
  auto read = [&](std::uint64_t b, std::uint64_t e) {
    Result<Slices> out = Internal("never completed");
    cache.Read({b, e}, [&](Result<Slices> r) { out = std::move(r); });
    scheduler.Run();
    return out;
  };
  // The first read fetches the parts (the caller's up-front fetch); then nothing is ever sent.
  auto a = read(kKiB, 5 * kKiB);
  REQUIRE(a.ok());
  CHECK(CopyToString(*a) == Expected(kKiB, 5 * kKiB));
  CHECK(lower.requests == std::vector<ByteRange>{{0, 10 * kKiB}, {30 * kKiB, 40 * kKiB}, {60 * kKiB, 70 * kKiB}});
  CHECK(cache.hits() == 1);
  // From a part across a gap into the next part: part bytes, zeros, part bytes.
  auto b = read(5 * kKiB, 35 * kKiB);
  REQUIRE(b.ok());
  CHECK(CopyToString(*b) ==
        Expected(5 * kKiB, 10 * kKiB) + std::string(20 * kKiB, '\0') + Expected(30 * kKiB, 35 * kKiB));
  // Across a whole part and past the last one: zeros to the end of the read.
  auto c = read(9 * kKiB, 80 * kKiB);
  REQUIRE(c.ok());
  CHECK(CopyToString(*c) == Expected(9 * kKiB, 10 * kKiB) + std::string(20 * kKiB, '\0') +
                                Expected(30 * kKiB, 40 * kKiB) + std::string(20 * kKiB, '\0') +
                                Expected(60 * kKiB, 70 * kKiB) + std::string(10 * kKiB, '\0'));
  // Ending in the gap before the next part.
  auto d = read(35 * kKiB, 50 * kKiB);
  REQUIRE(d.ok());
  CHECK(CopyToString(*d) == Expected(35 * kKiB, 40 * kKiB) + std::string(10 * kKiB, '\0'));
  // Starting in a gap: fsspec raises ValueError.
  auto e = read(20 * kKiB, 35 * kKiB);
  REQUIRE(!e.ok());
  CHECK(e.error().code == ErrorCode::kInvalidArgument);
  CHECK_THAT(e.error().message, Catch::Contains("outside the known parts"));
  CHECK(lower.requests.size() == 3);
}

TEST_CASE("fsspec-parts: errors fetching the parts - cancel", "[fsspec][policies]") {
  auto parts = ParsePartList("0-1MiB;2MiB-3MiB");
  REQUIRE(parts.ok());
  CheckCancel<FsspecKnownParts>(PartsOptions{*parts});
  Harness<FsspecKnownParts> h(kSize, 0, PartsOptions{*parts});
  h.lower.fail_at_request = 1;
  REQUIRE(!h.Get(0, kMiB).ok());
  CHECK(h.Read(0, kMiB) == kMiB);  // only the missing part is fetched again
  CHECK(h.lower.requests == Reqs({{0, 1}, {2, 3}, {2, 3}}));
  // No parts at all: every read fails, nothing is fetched.
  Harness<FsspecKnownParts> none(kSize, 0, PartsOptions{});
  CHECK(!none.Get(0, 1).ok());
  CHECK(none.lower.requests.empty());
}

}  // namespace
}  // namespace pflab::policies

namespace pflab::policies {
namespace {

TEST_CASE("fsspec caches: registry parameters and placement", "[fsspec][policies][registry]") {
  CHECK(ParsePolicyList("fsspec-blockcache(blocksize=1MiB,maxblocks=4)").ok());
  CHECK(ParsePolicyList("fsspec-mmap(blocksize=64KiB),fsspec-bytes(blocksize=1MiB),fsspec-first,fsspec-all").ok());
  CHECK(ParsePolicyList("fsspec-parts(parts=0-1MiB;5MiB-6MiB) > gcsfs-v795").ok());
  CHECK(ParsePolicyList("fsspec-background(maxblocks=8) > concurrent(parts=2)").ok());
  CHECK_THAT(ParsePolicyList("fsspec-blockcache(maxblocks=0)").error().message, Catch::Contains("maxblocks"));
  CHECK_THAT(ParsePolicyList("fsspec-background(blocksize=0)").error().message, Catch::Contains("blocksize"));
  CHECK_THAT(ParsePolicyList("fsspec-all(blocksize=1MiB)").error().message, Catch::Contains("no parameter"));
  CHECK_THAT(ParsePolicyList("fsspec-parts(parts=2MiB-1MiB)").error().message, Catch::Contains("empty"));
  // It keeps a background request and a sync one in flight: only the fetcher accepts that.
  CHECK_THAT(ParsePolicyList("fsspec-background > none").error().message,
             Catch::Contains("fsspec-background must sit directly on the fetcher"));
}

}  // namespace
}  // namespace pflab::policies
