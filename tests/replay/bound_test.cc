// The lower bound, worked by hand: each step of the derivation in replay/bound.h on a trace small
// enough to compute on paper, the bound's tightness on one read, and that the latency floor holds.
#include "replay/bound.h"

#include <catch2/catch.hpp>
#include <cmath>
#include <map>
#include <random>
#include <vector>

#include "engine/units.h"
#include "policies/registry.h"
#include "replay/matrix.h"
#include "sim/network_model.h"

namespace pflab::replay {
namespace {

constexpr std::uint64_t kMB = 1000 * 1000;

// Constant 10 ms first byte; one request can fill the 1 GB/s link.
sim::NetworkProfile OneRequestFillsTheLink() {
  sim::NetworkProfile p;
  p.latency_median_ns = 10 * kMillisecond;
  p.latency_p99_ns = 0;
  p.stream_bandwidth_bytes_per_s = 1e9;
  p.link_bandwidth_bytes_per_s = 1e9;
  p.max_connections = 100;
  return p;
}

traces::Trace OneObject(std::uint64_t size) {
  traces::Trace t;
  t.name = "hand";
  t.objects.push_back({"o", "", "data.bin", size});
  return t;
}

void Read(traces::Trace& t, Nanos at, std::uint32_t stream, std::uint64_t offset, std::uint64_t length,
          std::uint32_t object = 0) {
  traces::TraceRecord r;
  r.t_ns = at;
  r.stream = stream;
  r.object = object;
  r.offset = offset;
  r.length = length;
  t.records.push_back(r);
}

Nanos Bound(const traces::Trace& t, const sim::NetworkProfile& p, const char* think = "recorded") {
  auto b = ComputeLowerBound(t, p, *ThinkTime::Parse(think));
  REQUIRE(b.ok());
  return b->elapsed_ns;
}

Nanos Elapsed(const traces::Trace& t, const sim::NetworkProfile& p, const std::string& policy,
              const char* think = "recorded") {
  SimulationConfig c;
  c.trace = &t;
  auto spec = policies::ParseStackSpec(policy);
  REQUIRE(spec.ok());
  c.policy = *spec;
  c.profile_name = "test";
  c.profile = p;
  c.seed = 1;
  c.think = *ThinkTime::Parse(think);
  auto run = RunSimulation(c);
  REQUIRE(run.ok());
  REQUIRE(run->metrics.reads_failed == 0);
  return static_cast<Nanos>(std::llround(run->metrics.elapsed_s * 1e9));
}

TEST_CASE("bound: one read equals none's elapsed when one request can fill the link", "[bound]") {
  traces::Trace t = OneObject(100 * kMB);
  Read(t, 0, 0, 0, 3 * kMB);
  const sim::NetworkProfile p = OneRequestFillsTheLink();
  // L + B / R = 10 ms + 3 MB / (1 GB/s) = 13 ms.
  CHECK(Bound(t, p) == 13 * kMillisecond);
  CHECK(Elapsed(t, p, "none") == 13 * kMillisecond);
}

TEST_CASE("bound: the request overhead is part of every first byte, in the bound as in the run", "[bound]") {
  traces::Trace t = OneObject(100 * kMB);
  Read(t, 0, 0, 0, 3 * kMB);
  sim::NetworkProfile p = OneRequestFillsTheLink();
  p.request_overhead_ns = 700 * kMicrosecond;
  // L + overhead + B / R = 10 ms + 0.7 ms + 3 ms.
  CHECK(Bound(t, p) == 13700 * kMicrosecond);
  CHECK(Elapsed(t, p, "none") == 13700 * kMicrosecond);
}

TEST_CASE("bound: the read overhead per MiB delays a stream's next read, one read at a time; the bound leaves it out",
          "[bound]") {
  sim::NetworkProfile p = OneRequestFillsTheLink();
  p.link_bandwidth_bytes_per_s = 10e9;               // two requests at once each get their 1 GB/s
  const Nanos read = 10 * kMillisecond + 1'048'576;  // 10 ms + 1 MiB at 1 GB/s
  traces::Trace one = OneObject(100 * kMB);
  Read(one, 0, 0, 0, kMiB);
  Read(one, 0, 0, kMiB, kMiB);
  traces::Trace two = one;
  Read(two, 0, 1, 10 * kMiB, kMiB);
  Read(two, 0, 1, 11 * kMiB, kMiB);
  CHECK(Elapsed(one, p, "none") == 2 * read);
  CHECK(Elapsed(two, p, "none") == 2 * read);
  p.read_overhead_ns_per_mib = kMillisecond;
  // One stream: the first read's MiB costs 1 ms before the second is issued; the last read's cost
  // comes after the run's last byte, so it is not in the elapsed time.
  CHECK(Elapsed(one, p, "none") == 2 * read + kMillisecond);
  // Two streams whose first reads finish together: the reader takes one MiB after the other, so the
  // second stream's next read waits 2 ms.
  CHECK(Elapsed(two, p, "none") == 2 * read + 2 * kMillisecond);
  CHECK(Bound(two, p) <= 2 * read);
}

TEST_CASE("bound: one read at the floor latency is reached by splitting it across the link", "[bound]") {
  // gcs-regional's rates with every latency at its floor: one request gets 220 MB/s, the link 2 GB/s,
  // so ten requests of 200 MB/s each fill the link.
  auto regional = sim::FindProfile("gcs-regional");
  REQUIRE(regional.ok());
  sim::NetworkProfile p = *regional;
  p.latency_median_ns = p.latency_floor_ns();
  p.latency_p99_ns = 0;
  REQUIRE(p.latency_median_ns == 5 * kMillisecond);
  traces::Trace t = OneObject(1ull << 30);
  Read(t, 0, 0, 0, 10 * kMiB);
  // 5 ms + 10 MiB / (2 GB/s) = 5 ms + 5,242,880 ns.
  const Nanos bound = Bound(t, p);
  CHECK(bound == 5 * kMillisecond + 5'242'880);
  CHECK(Elapsed(t, p, "concurrent(parts=10,min=1MiB)") == bound);
  // One request is held to 220 MB/s: 5 ms + 47,662,546 ns (rounded up).
  CHECK(Elapsed(t, p, "none") == 5 * kMillisecond + 47'662'546);
  // With the real lognormal latency, the bound is the same (it uses the floor) and every seed is above it.
  for (std::uint64_t seed = 1; seed <= 20; ++seed) {
    SimulationConfig c;
    c.trace = &t;
    c.policy = *policies::ParseStackSpec("concurrent(parts=10,min=1MiB)");
    c.profile = *regional;
    c.seed = seed;
    auto run = RunSimulation(c);
    REQUIRE(run.ok());
    CHECK(run->metrics.elapsed_s * 1e9 >= static_cast<double>(Bound(t, *regional)));
  }
  CHECK(Bound(t, *regional) == bound);
}

TEST_CASE("bound: the chain adds think times, and a handle's bytes need their latency and transfer", "[bound]") {
  const sim::NetworkProfile p = OneRequestFillsTheLink();
  traces::Trace t = OneObject(100 * kMB);
  Read(t, 0, 0, 0, 1 * kMB);                           // cold: 10 ms + 1 ms
  Read(t, 100 * kMillisecond, 0, 1 * kMB, 1 * kMB);    // 100 ms think; could be prefetched meanwhile
  Read(t, 300 * kMillisecond, 0, 50 * kMB, 40 * kMB);  // 200 ms think
  // LB_D(0) = 11 ms; LB_I(1) = 111 ms; LB_D(1) = max(111, 0 + 10 + 2) = 111 ms; LB_I(2) = 311 ms;
  // LB_D(2) = max(311, 0 + 10 + 42) = 311 ms. The link: one handle released at 10 ms with 42 ms of
  // bytes: 52 ms. So 311 ms, from the stream.
  auto b = ComputeLowerBound(t, p, ThinkTime{});
  REQUIRE(b.ok());
  CHECK(b->elapsed_ns == 311 * kMillisecond);
  CHECK(b->stream_ns == 311 * kMillisecond);
  CHECK(b->link_ns == 52 * kMillisecond);
  CHECK(std::string(b->binding()) == "stream");
  CHECK(b->bytes_needed == 42 * kMB);
  CHECK(b->bytes_read == 42 * kMB);
  CHECK(b->reads == 3);
  // none waits for every read: 11 + 100 + 11 + 200 + 50 = 372 ms.
  CHECK(Elapsed(t, p, "none") == 372 * kMillisecond);
  CHECK(Elapsed(t, p, "oracle") >= b->elapsed_ns);
  // Think time scaled: x0.5 halves the gaps (11 + 50 + 100 = 161 ms); zero drops them, leaving the
  // bytes: 10 ms + 42 ms.
  CHECK(Bound(t, p, "x0.5") == 161 * kMillisecond);
  CHECK(Bound(t, p, "zero") == 52 * kMillisecond);
  CHECK(Elapsed(t, p, "none", "zero") >= 52 * kMillisecond);
}

TEST_CASE("bound: parallel streams share the link", "[bound]") {
  const sim::NetworkProfile p = OneRequestFillsTheLink();
  traces::Trace t = OneObject(1000 * kMB);
  // Four streams each read 100 MB at once: each alone needs 110 ms, together the link needs 400 ms
  // after the first 10 ms.
  for (std::uint32_t s = 0; s < 4; ++s) Read(t, 0, s, s * 100 * kMB, 100 * kMB);
  auto b = ComputeLowerBound(t, p, ThinkTime{});
  REQUIRE(b.ok());
  CHECK(b->stream_ns == 110 * kMillisecond);
  CHECK(b->link_ns == 410 * kMillisecond);
  CHECK(b->elapsed_ns == 410 * kMillisecond);
  CHECK(std::string(b->binding()) == "link");
  CHECK(b->handles == 4);
  CHECK(Elapsed(t, p, "none") == 410 * kMillisecond);  // four requests share the link fairly
  // The same bytes read by two streams may be fetched once: the stacks of one object may share their
  // data (auto's do), so the link needs the union of their reads.
  traces::Trace same = OneObject(1000 * kMB);
  Read(same, 0, 0, 0, 100 * kMB);
  Read(same, 0, 1, 0, 100 * kMB);
  CHECK(Bound(same, p) == 110 * kMillisecond);
  // Two objects: nothing to share, each stream's bytes are its own.
  traces::Trace two = OneObject(1000 * kMB);
  two.objects.push_back({"o1", "", "data1.bin", 1000 * kMB});
  Read(two, 0, 0, 0, 100 * kMB);
  Read(two, 0, 1, 0, 100 * kMB, /*object=*/1);
  CHECK(Bound(two, p) == 210 * kMillisecond);
}

TEST_CASE("bound: a later stream's release time, and the link bound from the latest releases", "[bound]") {
  const sim::NetworkProfile p = OneRequestFillsTheLink();
  traces::Trace t = OneObject(1000 * kMB);
  t.objects.push_back({"o1", "", "data1.bin", 1000 * kMB});
  Read(t, 0, 0, 0, 300 * kMB);                                         // released at 10 ms: 300 ms of bytes
  Read(t, 250 * kMillisecond, 1, 300 * kMB, 100 * kMB, /*object=*/1);  // released at 260 ms: 100 ms
  // Stream 0: 310 ms. Stream 1: 260 + 100 = 360 ms. Link: max(10 + 400, 260 + 100) = 410 ms.
  auto b = ComputeLowerBound(t, p, ThinkTime{});
  REQUIRE(b.ok());
  CHECK(b->stream_ns == 360 * kMillisecond);
  CHECK(b->stream == 1);
  CHECK(b->link_ns == 410 * kMillisecond);
  CHECK(Elapsed(t, p, "none") >= b->elapsed_ns);
  // The same reads of one object: the later stream's bytes may come from requests the first stream's
  // stack made from time 0, so its own bound is its issue time (250 ms), and the first stream's 310 ms
  // binds; the link needs the union, 400 MB, from 10 ms.
  traces::Trace same = OneObject(1000 * kMB);
  Read(same, 0, 0, 0, 300 * kMB);
  Read(same, 250 * kMillisecond, 1, 300 * kMB, 100 * kMB);
  auto c = ComputeLowerBound(same, p, ThinkTime{});
  REQUIRE(c.ok());
  CHECK(c->stream_ns == 310 * kMillisecond);
  CHECK(c->stream == 0);
  CHECK(c->link_ns == 410 * kMillisecond);
  CHECK(Elapsed(same, p, "none") >= c->elapsed_ns);
  CHECK(Elapsed(same, p, "auto") >= c->elapsed_ns);
}

TEST_CASE("bound: hints let a stack start before its first read", "[bound]") {
  const sim::NetworkProfile p = OneRequestFillsTheLink();
  traces::Trace t = OneObject(100 * kMB);
  Read(t, 1 * kSecond, 0, 0, 1 * kMB);
  Read(t, 2 * kSecond, 0, 10 * kMB, 5 * kMB);
  // Without hints: 11 ms + 1 s think (t 1 s -> 2 s, no duration) + ... the second read may be
  // prefetched: max(1.011 + 1, 1 + 10 ms + 6 ms) = 2.011 s from the first read at 1 s: 1.011 s.
  CHECK(Bound(t, p) == 1011 * kMillisecond);
  // A hint at 0 announcing the first read: the stack exists from 0, so by 1 s it could hold the bytes.
  traces::TraceHint hint;
  hint.t_ns = 0;
  hint.stream = 0;
  hint.object = 0;
  hint.ranges = {{0, 1 * kMB}};
  hint.before = 0;
  t.hints.push_back(hint);
  CHECK(Bound(t, p) == 1 * kSecond);  // reads at 1 s and 2 s, nothing left to wait for
  // Hints before a later read only help from the previous read's delivery on: a second object first
  // hinted before read 2 (index 1) is created no earlier than read 1's delivery.
  traces::Trace two = OneObject(100 * kMB);
  two.objects.push_back({"p", "", "other.bin", 100 * kMB});
  Read(two, 0, 0, 0, 1 * kMB);
  Read(two, 0, 0, 0, 50 * kMB, 1);
  traces::TraceHint later;
  later.stream = 0;
  later.object = 1;
  later.ranges = {{0, 50 * kMB}};
  later.before = 1;
  two.hints.push_back(later);
  // Read 0: 11 ms. Object 1's handle: created at or after 11 ms, so read 1: 11 + 10 + 50 = 71 ms.
  CHECK(Bound(two, p) == 71 * kMillisecond);
  CHECK(Elapsed(two, p, "arrow-coalesce") >= 71 * kMillisecond);
}

TEST_CASE("bound: reads past the end and empty reads need no bytes", "[bound]") {
  const sim::NetworkProfile p = OneRequestFillsTheLink();
  traces::Trace t = OneObject(1 * kMB);
  Read(t, 0, 0, 500'000, 2 * kMB);  // clipped to 500,000 bytes
  Read(t, 0, 0, 5 * kMB, 10);       // past the end: nothing
  Read(t, 0, 0, 0, 0);              // empty
  auto b = ComputeLowerBound(t, p, ThinkTime{});
  REQUIRE(b.ok());
  CHECK(b->bytes_read == 500'000);
  CHECK(b->elapsed_ns == 10 * kMillisecond + 500'000);
  CHECK(Elapsed(t, p, "none") >= b->elapsed_ns);
  traces::Trace empty = OneObject(1 * kMB);
  Read(empty, 0, 0, 0, 0);
  CHECK(Bound(empty, p) == 0);
}

TEST_CASE("bound: the bound row carries the derivation and is the same for every seed", "[bound]") {
  traces::Trace t = OneObject(100 * kMB);
  Read(t, 0, 0, 0, 3 * kMB);
  auto a = BoundRun(t, "x", OneRequestFillsTheLink(), 1, ThinkTime{});
  auto b = BoundRun(t, "x", OneRequestFillsTheLink(), 7, ThinkTime{});
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  CHECK(a->policy == kBoundPolicy);
  CHECK(a->metrics.elapsed_s == b->metrics.elapsed_s);
  CHECK(a->metrics.elapsed_s == Approx(0.013));
  CHECK(a->metrics.bytes_fetched == 3 * kMB);
  CHECK(b->seed == 7);
  CHECK(a->derivation.at("binding") == "stream");
  CHECK(a->derivation.at("latency_floor_s") == Approx(0.01));
  // A trace with hints for a stream that never reads is refused, as the replayer refuses it.
  traces::TraceHint orphan;
  orphan.stream = 9;
  t.hints.push_back(orphan);
  CHECK_FALSE(ComputeLowerBound(t, OneRequestFillsTheLink(), ThinkTime{}).ok());
}

TEST_CASE("latency floor: draws below it are raised to it and the others are unchanged", "[bound][sim]") {
  sim::NetworkProfile free;
  free.latency_median_ns = 35 * kMillisecond;
  free.latency_p99_ns = 200 * kMillisecond;
  sim::NetworkProfile floored = free;
  floored.latency_min_ns = 20 * kMillisecond;
  CHECK(free.latency_floor_ns() == 0);
  CHECK(floored.latency_floor_ns() == 20 * kMillisecond);
  sim::LatencySampler a(free, 5), b(floored, 5);
  int raised = 0;
  for (int i = 0; i < 20000; ++i) {
    const Nanos x = a.Sample(), y = b.Sample();
    if (x >= 20 * kMillisecond) {
      CHECK(y == x);
    } else {
      CHECK(y == 20 * kMillisecond);
      ++raised;
    }
  }
  // ln(20/35) / sigma(0.749) = -0.747 standard deviations: about 22.7% of draws.
  CHECK(raised > 4000);
  CHECK(raised < 5100);
  // A constant profile's floor is its constant.
  sim::NetworkProfile constant;
  constant.latency_median_ns = 7 * kMillisecond;
  constant.latency_p99_ns = 0;
  CHECK(constant.latency_floor_ns() == 7 * kMillisecond);
  // Every shipped profile has a floor, and it is in its JSON.
  auto all = sim::LoadProfiles(sim::DefaultProfilesPath());
  REQUIRE(all.ok());
  for (const auto& [name, profile] : *all) {
    INFO(name);
    CHECK(profile.latency_floor_ns() > 0);
    CHECK(profile.ToJson().at("latency_min_ms") == Approx(static_cast<double>(profile.latency_floor_ns()) / 1e6));
  }
}

TEST_CASE("seeds: N, A..B and lists, with errors for nonsense", "[bound][matrix]") {
  CHECK(*ParseSeeds("3") == std::vector<std::uint64_t>{1, 2, 3});
  CHECK(*ParseSeeds("3", 10) == std::vector<std::uint64_t>{10, 11, 12});
  CHECK(*ParseSeeds("4..6") == std::vector<std::uint64_t>{4, 5, 6});
  CHECK(*ParseSeeds("9,2,5") == std::vector<std::uint64_t>{9, 2, 5});
  for (const char* bad : {"0", "x", "6..4", "1,,2", "1,1", "1..100000", ""}) {
    INFO(bad);
    auto seeds = ParseSeeds(bad);
    REQUIRE_FALSE(seeds.ok());
    CHECK_THAT(seeds.error().message, Catch::Contains("seeds"));
  }
}

TEST_CASE("bound: the union sizes of ranges taken in order, against a byte-by-byte count", "[bound]") {
  std::mt19937_64 rng(17);
  for (int round = 0; round < 300; ++round) {
    // Small offsets so that ranges overlap, touch and nest often; some rounds in order (the fast path).
    const std::uint64_t space = 1 + rng() % 400;
    const std::size_t n = rng() % 40;
    std::vector<std::pair<std::uint64_t, std::uint64_t>> ranges;
    for (std::size_t i = 0; i < n; ++i) {
      const std::uint64_t a = rng() % space, b = rng() % space;
      ranges.emplace_back(std::min(a, b), rng() % 8 == 0 ? std::min(a, b) : std::max(a, b));  // some empty
    }
    if (round % 3 == 0) std::sort(ranges.begin(), ranges.end());
    const auto sizes = PrefixUnionSizes(ranges);
    REQUIRE(sizes.size() == n);
    std::vector<bool> covered(space, false);
    std::uint64_t count = 0;
    for (std::size_t i = 0; i < n; ++i) {
      for (std::uint64_t x = ranges[i].first; x < ranges[i].second; ++x) {
        if (!covered[x]) ++count;
        covered[x] = true;
      }
      INFO("round " << round << ", range " << i);
      CHECK(sizes[i] == count);
    }
  }
}

TEST_CASE("bound: the union sizes of thousands of ranges, against an interval set", "[bound]") {
  // Enough ranges for the radix sort of their ends (4,096 ends and more), positions up to 2^44 (four
  // digits) or within 100,000 bytes, lengths from a byte to the whole space (some empty), so that
  // ranges overlap, nest and touch.
  std::mt19937_64 rng(23);
  for (int round = 0; round < 6; ++round) {
    const std::size_t n = 2100 + rng() % 3000;
    const std::uint64_t space = round % 2 == 0 ? std::uint64_t{1} << 44 : 1 + rng() % 100000;
    std::vector<std::pair<std::uint64_t, std::uint64_t>> ranges;
    for (std::size_t i = 0; i < n; ++i) {
      const std::uint64_t begin = rng() % space;
      const std::uint64_t length = rng() % 5 == 0 ? 0 : 1 + rng() % (space / (1 + rng() % 4096) + 1);
      ranges.emplace_back(begin, begin + length);
    }
    const auto sizes = PrefixUnionSizes(ranges);
    REQUIRE(sizes.size() == n);
    std::map<std::uint64_t, std::uint64_t> covered;  // disjoint, begin -> end
    std::uint64_t count = 0;
    for (std::size_t i = 0; i < n; ++i) {
      auto [begin, end] = ranges[i];
      if (begin < end) {
        auto it = covered.upper_bound(begin);
        if (it != covered.begin() && std::prev(it)->second >= begin) --it;
        std::uint64_t overlap = 0;
        while (it != covered.end() && it->first <= end) {
          overlap += std::min(end, it->second) - std::max(begin, it->first);
          begin = std::min(begin, it->first);
          end = std::max(end, it->second);
          it = covered.erase(it);
        }
        count += (ranges[i].second - ranges[i].first) - overlap;
        covered.emplace(begin, end);
      }
      INFO("round " << round << ", range " << i);
      REQUIRE(sizes[i] == count);
    }
  }
}

}  // namespace
}  // namespace pflab::replay
