#include "traces/generators.h"

#include <catch2/catch.hpp>
#include <set>
#include <vector>

#include "engine/units.h"

namespace pflab::traces {
namespace {

std::vector<std::uint64_t> Blocks(const Trace& t, std::uint64_t block) {
  std::vector<std::uint64_t> out;
  for (const auto& r : t.records) out.push_back(r.offset / block + 1);
  return out;
}

GeneratorParams P(std::uint64_t object, std::uint64_t read, std::uint64_t count) {
  GeneratorParams p;
  p.object_size = object;
  p.read_size = read;
  p.count = count;
  return p;
}

TEST_CASE("generators: backtrack- visits-home and strided block sequences", "[traces][gen]") {
  auto b = Generate("backtrack", P(64 * kMiB, kMiB, 13));
  REQUIRE(b.ok());
  CHECK(Blocks(*b, kMiB) == std::vector<std::uint64_t>{1, 2, 3, 4, 2, 5, 6, 7, 5, 8, 9, 10, 8});
  auto h = Generate("visits-home", P(64 * kMiB, kMiB, 9));
  REQUIRE(h.ok());
  CHECK(Blocks(*h, kMiB) == std::vector<std::uint64_t>{1, 2, 1, 3, 1, 4, 1, 5, 1});
  auto s = Generate("strided", P(64 * kMiB, kMiB, 4));
  REQUIRE(s.ok());
  CHECK(Blocks(*s, kMiB) == std::vector<std::uint64_t>{1, 3, 5, 7});
  GeneratorParams wide = P(64 * kMiB, kMiB, 3);
  wide.stride = 3 * kMiB;
  CHECK(Blocks(*Generate("strided", wide), kMiB) == std::vector<std::uint64_t>{1, 5, 9});
}

TEST_CASE("generators: sequential covers the object and clamps the last read", "[traces][gen]") {
  auto t = Generate("sequential", P(10 * kMiB + 5, kMiB, 100));
  REQUIRE(t.ok());
  REQUIRE(t->records.size() == 11);
  CHECK(t->records.back().offset == 10 * kMiB);
  CHECK(t->records.back().length == 5);
}

TEST_CASE("generators: random is aligned- seeded and in bounds", "[traces][gen]") {
  GeneratorParams p = P(1024 * kMiB, kMiB, 500);
  p.seed = 9;
  auto a = Generate("random", p);
  auto b = Generate("random", p);
  p.seed = 10;
  auto c = Generate("random", p);
  REQUIRE((a.ok() && b.ok() && c.ok()));
  CHECK(Blocks(*a, kMiB) == Blocks(*b, kMiB));
  CHECK(Blocks(*a, kMiB) != Blocks(*c, kMiB));
  for (const auto& r : a->records) {
    CHECK(r.offset % kMiB == 0);
    CHECK(r.offset + r.length <= 1024 * kMiB);
  }
  const auto blocks = Blocks(*a, kMiB);
  CHECK(std::set<std::uint64_t>(blocks.begin(), blocks.end()).size() > 300);
}

TEST_CASE("generators: multi-stream interleaves sequential readers", "[traces][gen]") {
  GeneratorParams p = P(64 * kMiB, kMiB, 12);
  p.streams = 3;
  auto t = Generate("multi-stream", p);
  REQUIRE(t.ok());
  REQUIRE(t->records.size() == 12);
  std::vector<std::uint64_t> next = {0, 64 * kMiB / 3, 2 * (64 * kMiB / 3)};
  for (std::size_t i = 0; i < t->records.size(); ++i) {
    const auto& r = t->records[i];
    CHECK(r.stream == i % 3);
    CHECK(r.offset == next[r.stream]);
    next[r.stream] += kMiB;
  }
}

TEST_CASE("generators: footer-then-columns reads the tail- the footer- then column chunks", "[traces][gen]") {
  auto t = Generate("footer-then-columns", {});
  REQUIRE(t.ok());
  const std::uint64_t size = t->objects[0].size;
  REQUIRE(t->records.size() > 10);
  CHECK(t->records[0].offset == size - 8);
  CHECK(t->records[0].length == 8);
  CHECK(t->records[1].offset + t->records[1].length == size - 8);
  for (std::size_t i = 3; i < t->records.size(); ++i) {
    const auto& prev = t->records[i - 1];
    const auto& cur = t->records[i];
    // Within a column chunk, reads are contiguous.
    if (cur.offset == prev.offset + prev.length) continue;
    CHECK(cur.offset > prev.offset);
  }
}

TEST_CASE("generators: every default trace is valid and small - unknown patterns list all", "[traces][gen]") {
  for (const auto& info : Patterns()) {
    INFO(info.name);
    auto t = Generate(info.name, {});
    REQUIRE(t.ok());
    CHECK(!t->records.empty());
    CHECK(t->records.size() <= 5000);
    for (const auto& r : t->records) CHECK(r.offset + r.length <= t->objects[r.object].size);
  }
  auto bad = Generate("zigzag", {});
  REQUIRE(!bad.ok());
  CHECK_THAT(bad.error().message, Catch::Contains("footer-then-columns"));
}

}  // namespace
}  // namespace pflab::traces
