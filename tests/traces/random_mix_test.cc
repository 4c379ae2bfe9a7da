// The random trace generator: reproducible, valid for the trace reader, and covering the ranges it
// promises (object sizes, read sizes, streams, think times, hints, re-reads) over a few hundred seeds.
#include "traces/random_mix.h"

#include <catch2/catch.hpp>
#include <set>
#include <sstream>

#include "traces/generators.h"
#include "traces/trace_io.h"

namespace pflab::traces {
namespace {

constexpr std::uint64_t kKiB = 1ull << 10;
constexpr std::uint64_t kMiB = 1ull << 20;
constexpr std::uint64_t kGiB = 1ull << 30;

std::string Text(const Trace& t) {
  std::ostringstream out;
  WriteTrace(out, t);
  return out.str();
}

Trace Mix(std::uint64_t seed) {
  RandomMixOptions o;
  o.seed = seed;
  auto t = RandomMix(o);
  REQUIRE(t.ok());
  return std::move(*t);
}

TEST_CASE("random mix: the same seed gives the same trace, another seed another", "[traces][mix]") {
  CHECK(Text(Mix(7)) == Text(Mix(7)));
  CHECK(Text(Mix(7)) != Text(Mix(8)));
  // `pflab gen mix --seed 7` is the same trace.
  GeneratorParams p;
  p.seed = 7;
  auto gen = Generate("mix", p);
  REQUIRE(gen.ok());
  CHECK(Text(*gen) == Text(Mix(7)));
}

TEST_CASE("random mix: every trace reads back as written and stays within its objects", "[traces][mix]") {
  for (std::uint64_t seed = 1; seed <= 100; ++seed) {
    INFO("seed " << seed);
    const Trace t = Mix(seed);
    std::istringstream in(Text(t));
    auto back = ParseTrace(in, "mix.jsonl");
    REQUIRE(back.ok());
    REQUIRE(back->records.size() == t.records.size());
    REQUIRE(back->hints.size() == t.hints.size());
    for (const auto& r : t.records) {
      REQUIRE(r.length >= 1);
      REQUIRE(r.offset + r.length <= t.objects[r.object].size);
    }
    for (std::size_t i = 0; i < t.hints.size(); ++i) {
      const auto& h = t.hints[i];
      REQUIRE(h.before < t.records.size());
      // Announced just before a read of its own stream and object, which it covers.
      CHECK(t.records[h.before].stream == h.stream);
      CHECK(t.records[h.before].object == h.object);
      CHECK(back->hints[i].before == h.before);
      for (const auto& r : h.ranges) CHECK(r.end <= t.objects[h.object].size);
    }
  }
}

TEST_CASE("random mix: over many seeds it covers every scale it promises", "[traces][mix]") {
  std::uint64_t min_object = ~0ull, max_object = 0, min_read = ~0ull, max_read = 0;
  std::set<std::uint32_t> stream_counts, object_counts;
  int with_hints = 0, with_think = 0, with_rereads = 0;
  for (std::uint64_t seed = 1; seed <= 300; ++seed) {
    const Trace t = Mix(seed);
    std::set<std::uint32_t> streams;
    std::set<std::tuple<std::uint32_t, std::uint32_t, std::uint64_t, std::uint64_t>> seen;
    bool reread = false;
    for (const auto& r : t.records) {
      streams.insert(r.stream);
      min_read = std::min(min_read, r.length);
      max_read = std::max(max_read, r.length);
      reread |= !seen.insert({r.stream, r.object, r.offset, r.length}).second;
    }
    for (const auto& o : t.objects) {
      min_object = std::min(min_object, o.size);
      max_object = std::max(max_object, o.size);
    }
    stream_counts.insert(static_cast<std::uint32_t>(streams.size()));
    object_counts.insert(static_cast<std::uint32_t>(t.objects.size()));
    with_hints += !t.hints.empty();
    with_rereads += reread;
    for (std::size_t i = 1; i < t.records.size(); ++i) with_think += t.records[i].t_ns > t.records[i - 1].t_ns;
  }
  CHECK(min_object < 16 * kKiB);
  CHECK(max_object > 100 * kGiB);
  CHECK(max_object <= 1024 * kGiB);
  CHECK(min_read < 16);
  CHECK(max_read > 32 * kMiB);
  CHECK(max_read <= 64 * kMiB);
  CHECK(stream_counts == std::set<std::uint32_t>{1, 2, 3, 4});
  CHECK(object_counts == std::set<std::uint32_t>{1, 2, 3});
  CHECK(with_hints > 10);
  CHECK(with_rereads > 100);
  CHECK(with_think > 100);
}

TEST_CASE("random mix: parameters given replace what is drawn - bad options are errors", "[traces][mix]") {
  GeneratorParams p;
  p.seed = 3;
  p.object_size = 6 * kMiB + 1;
  p.read_size = 100 * kKiB;
  p.count = 40;
  p.streams = 2;
  auto t = Generate("mix", p);
  REQUIRE(t.ok());
  CHECK(t->records.size() == 40);
  std::set<std::uint32_t> streams;
  for (const auto& r : t->records) {
    streams.insert(r.stream);
    CHECK(r.length <= 100 * kKiB);
  }
  CHECK(streams.size() <= 2);
  for (const auto& o : t->objects) CHECK(o.size == 6 * kMiB + 1);

  RandomMixOptions bad;
  bad.min_read_size = 10;
  bad.max_read_size = 5;
  CHECK_FALSE(RandomMix(bad).ok());
  bad = {};
  bad.min_object_size = 0;
  CHECK_FALSE(RandomMix(bad).ok());
}

}  // namespace
}  // namespace pflab::traces
