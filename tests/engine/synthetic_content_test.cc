#include "engine/synthetic_content.h"

#include <catch2/catch.hpp>
#include <cstddef>
#include <vector>

namespace pflab {
namespace {

TEST_CASE("synthetic content: a fill equals the byte function at every alignment", "[engine][synthetic]") {
  const std::uint64_t seed = ObjectSeed("bucket", "object", 7);
  for (std::uint64_t offset : {0ull, 1ull, 7ull, 8ull, 13ull, (1ull << 40) + 5}) {
    for (std::uint64_t length : {0ull, 1ull, 7ull, 8ull, 9ull, 64ull, 1001ull}) {
      std::vector<std::byte> buf(length + 2, std::byte{0xAA});
      FillSynthetic(seed, offset, buf.data() + 1, length);
      INFO("offset " << offset << " length " << length);
      for (std::uint64_t i = 0; i < length; ++i) REQUIRE(buf[1 + i] == SyntheticByte(seed, offset + i));
      CHECK(buf.front() == std::byte{0xAA});  // nothing written outside
      CHECK(buf.back() == std::byte{0xAA});
    }
  }
}

TEST_CASE("synthetic content: pieces fetched separately join up", "[engine][synthetic]") {
  const std::uint64_t seed = ObjectSeed("b", "o", 1);
  std::vector<std::byte> whole(4096), parts(4096);
  FillSynthetic(seed, 100, whole.data(), whole.size());
  FillSynthetic(seed, 100, parts.data(), 1000);
  FillSynthetic(seed, 1100, parts.data() + 1000, 3);
  FillSynthetic(seed, 1103, parts.data() + 1003, 4096 - 1003);
  CHECK(whole == parts);
}

TEST_CASE("synthetic content: objects and versions have different content", "[engine][synthetic]") {
  const std::uint64_t a = ObjectSeed("b", "o", 1);
  CHECK(a == ObjectSeed("b", "o", 1));
  CHECK(a != ObjectSeed("b", "o", 2));
  CHECK(a != ObjectSeed("b", "p", 1));
  CHECK(a != ObjectSeed("c", "o", 1));
  CHECK(ObjectSeed("ab", "c", 1) != ObjectSeed("a", "bc", 1));
  // Content looks random: about half the bits of two objects' first KiB differ.
  const std::uint64_t b = ObjectSeed("b", "o", 2);
  int differing_bits = 0;
  for (std::uint64_t i = 0; i < 1024; ++i) {
    differing_bits += __builtin_popcount(static_cast<unsigned>(SyntheticByte(a, i) ^ SyntheticByte(b, i)));
  }
  CHECK(differing_bits > 4096 - 300);
  CHECK(differing_bits < 4096 + 300);
}

TEST_CASE("synthetic content: the matching prefix finds the first wrong byte at every alignment",
          "[engine][synthetic]") {
  const std::uint64_t seed = ObjectSeed("b", "o", 1);
  for (std::uint64_t offset : {0ull, 1ull, 7ull, 8ull, 13ull, 1000003ull}) {
    for (std::uint64_t length : {0ull, 1ull, 5ull, 8ull, 9ull, 64ull, 1001ull}) {
      std::vector<std::byte> data(length);
      FillSynthetic(seed, offset, data.data(), length);
      INFO("offset " << offset << " length " << length);
      CHECK(MatchingSyntheticPrefix(seed, offset, data.data(), length) == length);
      for (std::uint64_t wrong : {0ull, 3ull, 8ull, 63ull, 1000ull}) {
        if (wrong >= length) continue;
        auto copy = data;
        copy[wrong] ^= std::byte{0x40};
        CHECK(MatchingSyntheticPrefix(seed, offset, copy.data(), length) == wrong);
      }
      // Another object's content differs within a word (all 8 bytes alike: odds 2^-64).
      if (length >= 8) CHECK(MatchingSyntheticPrefix(ObjectSeed("b", "other", 1), offset, data.data(), length) < 8);
    }
  }
}

}  // namespace
}  // namespace pflab
