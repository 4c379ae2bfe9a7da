// IntervalSet: the delivered intervals of a chunk read at many places, checked against a bitmap.
#include "engine/interval_set.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdint>
#include <random>
#include <vector>

namespace pflab {
namespace {

// The truth: a bitmap of the bytes, turned into maximal runs.
std::vector<ByteRange> Runs(const std::vector<bool>& bits) {
  std::vector<ByteRange> out;
  for (std::uint64_t b = 0; b < bits.size(); ++b) {
    if (!bits[b]) continue;
    if (!out.empty() && out.back().end == b) {
      ++out.back().end;
    } else {
      out.push_back({b, b + 1});
    }
  }
  return out;
}

TEST_CASE("interval set: merged and counted as a bitmap says, across block splits and merges", "[engine][buffer]") {
  // Small blocks make the set split often and merges run across several blocks (a long interval
  // swallowing whole blocks of small ones); the default size is checked on the same marks.
  for (const std::size_t max_block : {2u, 3u, 8u, 256u}) {
    for (const std::uint64_t seed : {1u, 2u, 3u}) {
      std::mt19937_64 rng(seed * 100 + max_block);
      constexpr std::uint64_t kSize = 1 << 15;
      IntervalSet set(max_block);
      std::vector<bool> truth(kSize, false);
      std::uint64_t counted = 0;
      std::uniform_int_distribution<std::uint64_t> at(0, kSize - 1);
      std::uniform_int_distribution<int> kind(0, 99);
      for (int i = 0; i < 4000; ++i) {
        const int k = kind(rng);
        // Mostly short marks (many intervals), some long ones that swallow many, some touching the
        // end of the last.
        std::uint64_t length = k < 3 ? 1 + at(rng) % 4000 : 1 + at(rng) % 6;
        const std::uint64_t offset = at(rng);
        length = std::min(length, kSize - offset);
        std::uint64_t fresh = 0;
        for (std::uint64_t b = offset; b < offset + length; ++b) {
          if (!truth[b]) ++fresh;
          truth[b] = true;
        }
        CAPTURE(max_block, seed, i, offset, length);
        REQUIRE(set.Add({offset, offset + length}) == fresh);
        counted += fresh;
        if (i % 97 == 0 || i == 3999) {
          const std::vector<ByteRange> expected = Runs(truth);
          REQUIRE(set.ranges() == expected);
          REQUIRE(set.size() == expected.size());
        }
      }
      CHECK(counted == static_cast<std::uint64_t>(std::count(truth.begin(), truth.end(), true)));
    }
  }
}

TEST_CASE("interval set: appending, touching and filling the gaps", "[engine][buffer]") {
  IntervalSet set(2);
  CHECK(set.empty());
  CHECK(set.Add({10, 20}) == 10);
  CHECK(set.Add({30, 40}) == 10);
  CHECK(set.Add({50, 60}) == 10);  // a second block
  CHECK(set.Add({0, 5}) == 5);     // before everything
  CHECK(set.ranges() == std::vector<ByteRange>{{0, 5}, {10, 20}, {30, 40}, {50, 60}});
  CHECK(set.Add({20, 30}) == 10);  // touches both neighbours: one interval
  CHECK(set.ranges() == std::vector<ByteRange>{{0, 5}, {10, 40}, {50, 60}});
  CHECK(set.Add({60, 61}) == 1);  // touches the last
  CHECK(set.Add({3, 55}) == 15);  // the gaps 5-10 and 40-50
  CHECK(set.ranges() == std::vector<ByteRange>{{0, 61}});
  CHECK(set.size() == 1);
  CHECK(set.Add({0, 61}) == 0);
}

}  // namespace
}  // namespace pflab
