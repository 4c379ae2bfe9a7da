// SortedChunks (the oracle planner's ordered map) against std::map: random insertions, erasures
// (single keys and runs spanning several chunks), replacements and searches over enough keys to split
// chunks many times; after every step the two must hold the same entries and answer every search alike.
#include "policies/sorted_chunks.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdint>
#include <iterator>
#include <map>
#include <random>
#include <vector>

namespace pflab::policies {
namespace {

using Chunks = SortedChunks<std::uint32_t>;

std::vector<std::pair<std::uint64_t, std::uint32_t>> Entries(const Chunks& chunks) {
  std::vector<std::pair<std::uint64_t, std::uint32_t>> out;
  chunks.ForEach([&](const auto& e) { out.push_back(e); });
  return out;
}

// The key at a position, or max for End().
std::uint64_t KeyAt(const Chunks& chunks, Chunks::Pos p) {
  return p == chunks.End() ? UINT64_MAX : chunks.At(p).first;
}
std::uint64_t KeyAt(const std::map<std::uint64_t, std::uint32_t>& map,
                    std::map<std::uint64_t, std::uint32_t>::const_iterator it) {
  return it == map.end() ? UINT64_MAX : it->first;
}

TEST_CASE("SortedChunks answers as std::map does", "[oracle][sorted-chunks]") {
  for (std::uint64_t seed : {1u, 2u, 3u}) {
    std::mt19937_64 rng(seed);
    // Sparse keys leave room to grow an entry leftwards; a small space keeps hitting present keys.
    const std::uint64_t key_space = seed == 3 ? 100 : seed == 2 ? 4000 : 1 << 20;
    std::uniform_int_distribution<std::uint64_t> key(0, key_space);
    Chunks chunks;
    std::map<std::uint64_t, std::uint32_t> map;
    for (std::uint32_t step = 0; step < 6000; ++step) {
      const std::uint64_t k = key(rng);
      const int op = static_cast<int>(rng() % 10);
      if (op < 5) {
        chunks.Emplace(k, step);
        map.emplace(k, step);
      } else if (op < 7) {
        chunks.Erase(k);
        map.erase(k);
      } else if (op == 7 && !map.empty()) {
        // Erase a run of up to 600 entries from the first key at or above k (crosses chunks).
        const std::size_t run = rng() % 600;
        Chunks::Pos first = chunks.LowerBound(k), last = first;
        auto mfirst = map.lower_bound(k), mlast = mfirst;
        for (std::size_t i = 0; i < run && mlast != map.end(); ++i) {
          last = chunks.Next(last);
          ++mlast;
        }
        chunks.Erase(first, last);
        map.erase(mfirst, mlast);
      } else if (op == 8 && !map.empty()) {
        // Replace a run of entries [floor(k), +n) by one entry keyed anywhere between the run's
        // predecessor and its first key (as an interval grown to the left).
        const Chunks::Pos first = chunks.FloorOrBegin(k);
        auto mfirst = map.upper_bound(k);
        if (mfirst != map.begin()) --mfirst;
        const std::uint64_t lowest = mfirst == map.begin() ? 0 : std::prev(mfirst)->first + 1;
        const std::uint64_t at = lowest + rng() % (mfirst->first - lowest + 1);
        Chunks::Pos last = chunks.Next(first);
        auto mlast = std::next(mfirst);
        for (std::size_t i = rng() % 300; i > 0 && mlast != map.end(); --i) {
          last = chunks.Next(last);
          ++mlast;
        }
        chunks.Replace(first, last, {at, step});
        map.erase(mfirst, mlast);
        map.emplace(at, step);
        for (std::uint64_t q = at == 0 ? 0 : at - 1; q <= at + 1; ++q) {
          REQUIRE(KeyAt(chunks, chunks.UpperBound(q)) == KeyAt(map, map.upper_bound(q)));
          REQUIRE(KeyAt(chunks, chunks.LowerBound(q)) == KeyAt(map, map.lower_bound(q)));
        }
      } else {
        CHECK(KeyAt(chunks, chunks.UpperBound(k)) == KeyAt(map, map.upper_bound(k)));
        CHECK(KeyAt(chunks, chunks.LowerBound(k)) == KeyAt(map, map.lower_bound(k)));
      }
      REQUIRE(chunks.size() == map.size());
      REQUIRE(chunks.empty() == map.empty());
      if (step % 13 == 0) {
        // Searches at and beside every key present (a chunk's first key left stale shows here).
        std::uint64_t wrong = 0;
        for (const auto& [present, value] : map) {
          for (std::uint64_t q = present == 0 ? 0 : present - 1; q <= present + 1; ++q) {
            wrong += KeyAt(chunks, chunks.UpperBound(q)) != KeyAt(map, map.upper_bound(q));
            wrong += KeyAt(chunks, chunks.LowerBound(q)) != KeyAt(map, map.lower_bound(q));
          }
        }
        REQUIRE(wrong == 0);
      }
      if (step % 97 == 0) {
        REQUIRE(Entries(chunks) == std::vector<std::pair<std::uint64_t, std::uint32_t>>(map.begin(), map.end()));
        // Walking back from the end visits every entry in reverse.
        std::size_t back = 0;
        for (Chunks::Pos p = chunks.End(); p != chunks.Begin(); p = chunks.Prev(p)) ++back;
        CHECK(back == map.size());
      }
    }
    CHECK(Entries(chunks) == std::vector<std::pair<std::uint64_t, std::uint32_t>>(map.begin(), map.end()));
  }
}

TEST_CASE("UpperBoundBy and LowerBoundBy find what std::upper_bound and std::lower_bound find",
          "[oracle][sorted-chunks]") {
  std::mt19937_64 rng(17);
  for (std::size_t n = 0; n < 70; ++n) {
    std::vector<std::uint64_t> keys(n);
    for (auto& k : keys) k = rng() % 40;  // repeats, gaps and runs
    std::sort(keys.begin(), keys.end());
    auto id = [](std::uint64_t k) { return k; };
    for (std::uint64_t q = 0; q <= 41; ++q) {
      INFO("n=" << n << " q=" << q);
      CHECK(UpperBoundBy(keys.data(), n, q, id) - keys.data() ==
            std::upper_bound(keys.begin(), keys.end(), q) - keys.begin());
      CHECK(LowerBoundBy(keys.data(), n, q, id) - keys.data() ==
            std::lower_bound(keys.begin(), keys.end(), q) - keys.begin());
    }
  }
}

}  // namespace
}  // namespace pflab::policies
