// Chunk references: plain counts that release a chunk (and report it to its account) with the last
// strong reference, weak references that outlive it, and release hooks.
#include "engine/buffer.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <memory>
#include <random>
#include <vector>

namespace pflab {
namespace {

TEST_CASE("chunk refs: the last reference releases the chunk to its account", "[engine][buffer]") {
  MemoryAccount account;
  ChunkRef a = Chunk::Make(100, false, &account);
  CHECK(account.held_bytes() == 100);
  {
    ChunkRef b = a;             // copy
    ChunkRef c = std::move(b);  // move leaves b empty
    CHECK(!b);
    CHECK(c == a);
    c->MarkDelivered(10, 20);
    a.reset();
    CHECK(account.held_bytes() == 100);  // c still holds it
  }
  CHECK(account.held_bytes() == 0);
  CHECK(account.released_delivered_bytes() == 20);
  Slices slices;
  slices.push_back(Slice{Chunk::Make(50, false, &account), 0, 50});
  Slices copy = SubSlices(slices, 10, 20);
  slices.clear();
  CHECK(account.held_bytes() == 50);
  copy.clear();
  CHECK(account.held_bytes() == 0);
}

TEST_CASE("chunk refs: weak references lock only while the chunk lives", "[engine][buffer]") {
  MemoryAccount account;
  ChunkRef strong = Chunk::Make(10, true, &account);
  WeakChunkRef weak(strong);
  WeakChunkRef weak_copy = weak;
  {
    ChunkRef locked = weak.lock();
    REQUIRE(locked);
    CHECK(locked.get() == strong.get());
  }
  strong.reset();
  CHECK(account.held_bytes() == 0);  // released although weak references remain
  CHECK(!weak.lock());
  CHECK(!weak_copy.lock());
}

class RecordingHook final : public ChunkReleaseHook {
 public:
  explicit RecordingHook(std::vector<std::uint64_t>* log, MemoryAccount* account) : log_(log), account_(account) {}
  void OnRelease(const Chunk& chunk) override {
    log_->push_back(chunk.delivered());
    log_->push_back(account_->held_bytes());  // the chunk is still charged while the hook runs
  }

 private:
  std::vector<std::uint64_t>* log_;
  MemoryAccount* account_;
};

TEST_CASE("chunk refs: a release hook runs once, before the account hears of the release", "[engine][buffer]") {
  MemoryAccount account;
  std::vector<std::uint64_t> log;
  ChunkRef chunk = Chunk::Make(64, false, &account);
  chunk->SetReleaseHook(std::make_unique<RecordingHook>(&log, &account));
  chunk->MarkDelivered(0, 8);
  WeakChunkRef weak(chunk);
  ChunkRef other = chunk;
  chunk.reset();
  CHECK(log.empty());
  other.reset();
  CHECK(log == std::vector<std::uint64_t>{8, 64});
  CHECK(account.held_bytes() == 0);
  CHECK(!weak.lock());
}

TEST_CASE("chunk delivered ranges: merged and counted as a bitmap of the bytes says, few or many", "[engine][buffer]") {
  // Up to thousands of disjoint intervals: past a few dozen the chunk keeps them in a tree, and both
  // ways must agree with the plain truth. Marks at random places, and marks that mostly continue,
  // overlap or re-read the end of the one before (the path without a search), sometimes jumping.
  for (const bool mostly_sequential : {false, true}) {
    for (const std::uint64_t marks : {5u, 40u, 3000u}) {
      std::mt19937_64 rng(marks);
      constexpr std::uint64_t kSize = 1 << 16;
      ChunkRef chunk = Chunk::Make(kSize, false, nullptr);
      std::vector<bool> truth(kSize, false);
      std::uniform_int_distribution<std::uint64_t> at(0, kSize - 1);
      std::uniform_int_distribution<std::uint64_t> len(0, 24);
      std::uniform_int_distribution<int> step(0, 9);
      std::uint64_t last_end = 0;
      for (std::uint64_t i = 0; i < marks; ++i) {
        std::uint64_t offset = at(rng);
        if (mostly_sequential) {
          const int kind = step(rng);  // 0-4: continue; 5-6: overlap the end; 7: inside the last; 8-9: jump
          const std::uint64_t back = std::min<std::uint64_t>(last_end, 1 + step(rng));
          if (kind <= 4) offset = last_end;
          if (kind == 5 || kind == 6) offset = last_end - back;
          if (kind == 7) offset = last_end - std::min<std::uint64_t>(last_end, 30);
          offset = std::min(offset, kSize - 1);
        }
        const std::uint64_t length = std::min(len(rng), kSize - offset);
        last_end = offset + length;
        chunk->MarkDelivered(offset, length);
        for (std::uint64_t b = offset; b < offset + length; ++b) truth[b] = true;
      }
      std::vector<ByteRange> expected;
      for (std::uint64_t b = 0; b < kSize; ++b) {
        if (!truth[b]) continue;
        if (!expected.empty() && expected.back().end == b) {
          ++expected.back().end;
        } else {
          expected.push_back({b, b + 1});
        }
      }
      CAPTURE(mostly_sequential, marks);
      CHECK(chunk->delivered_ranges() == expected);
      CHECK(chunk->delivered() == static_cast<std::uint64_t>(std::count(truth.begin(), truth.end(), true)));
      if (marks == 3000) CHECK(expected.size() > 100);  // the tree was used
    }
  }
}

}  // namespace
}  // namespace pflab
