// arrow-coalesce worked by hand from Apache Arrow's code (apache/arrow@515410b2): the coalescing rule
// of cpp/src/arrow/io/interfaces.cc ReadRangeCombiner::Coalesce, the eager and lazy caches of
// cpp/src/arrow/io/caching.cc (ReadRangeCache::Impl::Cache / Read, LazyImpl::MaybeRead, the
// prefetch_limit loop in Impl::Read), plus trace hint lines (trace_io), their delivery by the replayer
// in the simulator and over the fake GCS server, and other policies ignoring them.
#include "policies/arrow_coalesce.h"

#include <any>
#include <catch2/catch.hpp>
#include <sstream>
#include <vector>

#include "engine/units.h"
#include "net/http_transport.h"
#include "policies/registry.h"
#include "replay/fake_server.h"
#include "replay/live.h"
#include "replay/simulation.h"
#include "sim/sim_scheduler.h"
#include "tests/support/logging_source.h"
#include "tests/support/run_config.h"
#include "traces/generators.h"
#include "traces/trace_io.h"

namespace pflab::policies {
namespace {

using Req = testing::LoggedRequest;

struct Harness {
  sim::SimScheduler scheduler;
  NullEventSink events;
  MemoryAccount account;
  testing::LoggingSource lower;
  std::unique_ptr<ArrowCoalesce> layer;

  explicit Harness(ArrowCoalesceOptions options, std::uint64_t size = 64 * kMiB)
      : lower(&scheduler, size, kMillisecond, &account),
        layer(std::make_unique<ArrowCoalesce>(LayerContext{&scheduler, &events, 0}, &lower, options)) {}

  Result<Slices> Read(ByteRange r) {
    std::optional<Result<Slices>> got;
    layer->Read(r, [&](Result<Slices> x) { got = std::move(x); });
    scheduler.Run();
    REQUIRE(got.has_value());
    return std::move(*got);
  }
  void Hint(std::vector<ByteRange> ranges) {
    layer->Hint(ranges);
    scheduler.Run();
  }
};

ArrowCoalesceOptions Eager() {
  ArrowCoalesceOptions o;
  o.lazy = false;
  return o;
}

TEST_CASE("arrow: CoalesceReadRanges merges small holes, stops at the size limit, never splits", "[arrow]") {
  // interfaces.cc ReadRangeCombiner::Coalesce with hole 10, limit 100, worked by hand.
  auto c = [](std::vector<ByteRange> in) { return CoalesceReadRanges(std::move(in), 10, 100); };
  CHECK(c({}).empty());
  CHECK(c({{50, 50}}).empty());  // empty ranges are dropped
  // Unsorted input; holes 0 and 10 (<= limit) merge, the hole of 11 does not.
  CHECK(c({{30, 40}, {0, 20}, {20, 30}}) == std::vector<ByteRange>{{0, 40}});
  CHECK(c({{0, 20}, {30, 40}, {51, 60}}) == std::vector<ByteRange>{{0, 40}, {51, 60}});
  // The merged span from the first start may reach exactly 100; one byte more starts a new range.
  CHECK(c({{0, 50}, {50, 100}}) == std::vector<ByteRange>{{0, 100}});
  CHECK(c({{0, 50}, {50, 101}}) == std::vector<ByteRange>{{0, 50}, {50, 101}});
  // A range over the limit stays whole; its neighbours do not join it.
  CHECK(c({{0, 5}, {5, 300}, {300, 310}}) == std::vector<ByteRange>{{0, 5}, {5, 300}, {300, 310}});
  // Ranges inside the one kept before them go; partial overlaps merge (a hole of zero).
  CHECK(c({{0, 40}, {10, 20}, {0, 40}}) == std::vector<ByteRange>{{0, 40}});
  CHECK(c({{0, 40}, {30, 60}}) == std::vector<ByteRange>{{0, 60}});
  // Greedy, left to right: 0..30 and 40..70 merge (span 70), 80..130 would make the span 130.
  CHECK(c({{0, 30}, {40, 70}, {80, 130}}) == std::vector<ByteRange>{{0, 70}, {80, 130}});
}

TEST_CASE("arrow: parameters default to CacheOptions::LazyDefaults and are checked", "[arrow]") {
  const PolicyEntry entry = ArrowCoalesceEntry();
  auto parsed = entry.Parse({});
  REQUIRE(parsed.ok());
  const auto& d = std::any_cast<const ArrowCoalesceOptions&>(*parsed);
  CHECK(d.hole_size_limit == 8192);        // ReadRangeCache::kDefaultHoleSizeLimit
  CHECK(d.range_size_limit == 32 * kMiB);  // ReadRangeCache::kDefaultRangeSizeLimit
  CHECK(d.lazy);
  CHECK(d.prefetch_limit == 0);
  CHECK_FALSE(entry.Parse({{"hole_size_limit", "1MiB"}, {"range_size_limit", "1MiB"}}).ok());
  // Eager mode keeps several requests in flight: only the fetcher may be below it.
  auto spec = ParseStackSpec("arrow-coalesce > gcsfs-v795");
  REQUIRE(spec.ok());
  CHECK_FALSE(ValidateStack(*spec).ok());
  auto ok = ParseStackSpec("fsspec-readahead > arrow-coalesce(lazy=false,prefetch_limit=2)");
  REQUIRE(ok.ok());
  CHECK(ValidateStack(*ok).ok());
}

TEST_CASE("arrow: eager cache fetches every coalesced range on the hint and serves reads from it", "[arrow]") {
  Harness h(Eager());
  // Impl::Cache: [0,1M) and [1M+4K,2M) merge (hole 4 KiB <= 8 KiB); [5M,6M) stays apart.
  h.Hint({{5 * kMiB, 6 * kMiB}, {0, kMiB}, {kMiB + 4 * kKiB, 2 * kMiB}});
  CHECK(h.layer->entry_ranges() == std::vector<ByteRange>{{0, 2 * kMiB}, {5 * kMiB, 6 * kMiB}});
  REQUIRE(h.lower.requests == std::vector<Req>{{0, 2 * kMiB, 0, 0}, {5 * kMiB, 6 * kMiB, 0, 0}});
  CHECK(h.lower.requests[0].at == 0);
  CHECK(h.lower.requests[1].at == 0);
  // Impl::Read: reads inside an entry cost no request.
  CHECK(TotalLength(*h.Read({0, 512 * kKiB})) == 512 * kKiB);
  CHECK(TotalLength(*h.Read({kMiB + 4 * kKiB, 2 * kMiB})) == kMiB - 4 * kKiB);
  CHECK(TotalLength(*h.Read({5 * kMiB + 1, 6 * kMiB})) == kMiB - 1);
  CHECK(h.lower.requests.size() == 2);
  // Not inside one entry (none, or across two): straight below, exactly the read.
  CHECK(TotalLength(*h.Read({3 * kMiB, 3 * kMiB + 100})) == 100);
  CHECK(TotalLength(*h.Read({2 * kMiB - 10, 5 * kMiB + 10})) == 3 * kMiB + 20);
  CHECK(h.lower.requests == std::vector<Req>{{0, 2 * kMiB, 0, 0},
                                             {5 * kMiB, 6 * kMiB, 0, 0},
                                             {3 * kMiB, 3 * kMiB + 100, 0, 0},
                                             {2 * kMiB - 10, 5 * kMiB + 10, 0, 0}});
  // Entries stay held (ReadRangeCache keeps them until it is destroyed); the uncovered reads' bytes
  // were delivered and dropped.
  CHECK(h.account.held_bytes() == 3 * kMiB);
  h.layer.reset();
  CHECK(h.account.held_bytes() == 0);
}

TEST_CASE("arrow: lazy cache fetches an entry on its first read; prefetch_limit starts the next ones after it",
          "[arrow]") {
  const std::vector<ByteRange> hint = {{0, kMiB}, {2 * kMiB, 3 * kMiB}, {4 * kMiB, 5 * kMiB}, {6 * kMiB, 7 * kMiB}};
  SECTION("prefetch_limit 0 (LazyDefaults): LazyImpl::MaybeRead only") {
    Harness h(ArrowCoalesceOptions{});
    h.Hint(hint);
    CHECK(h.lower.requests.empty());
    REQUIRE(h.Read({2 * kMiB + 10, 2 * kMiB + 20}).ok());
    REQUIRE(h.lower.requests == std::vector<Req>{{2 * kMiB, 3 * kMiB, 0, 0}});
    REQUIRE(h.Read({2 * kMiB + 20, 3 * kMiB}).ok());
    CHECK(h.lower.requests.size() == 1);
  }
  SECTION("prefetch_limit 2: after the entry read arrives, the next two in offset order start") {
    ArrowCoalesceOptions o;
    o.prefetch_limit = 2;
    Harness h(o);
    h.Hint(hint);
    REQUIRE(h.Read({0, 100}).ok());
    // Entry 0 at t=0; once it arrived (1 ms), entries 1 and 2; entry 3 is not touched.
    REQUIRE(h.lower.requests ==
            std::vector<Req>{{0, kMiB, 0, 0}, {2 * kMiB, 3 * kMiB, 0, 0}, {4 * kMiB, 5 * kMiB, 0, 0}});
    CHECK(h.lower.requests[0].at == 0);
    CHECK(h.lower.requests[1].at == kMillisecond);
    CHECK(h.lower.requests[2].at == kMillisecond);
    // Reading entry 1 (held) counts entries 2 (already started) and 3: only 3 is new.
    REQUIRE(h.Read({2 * kMiB, 2 * kMiB + 100}).ok());
    REQUIRE(h.lower.requests.size() == 4);
    CHECK(h.lower.requests[3] == Req{6 * kMiB, 7 * kMiB, 0, 0});
  }
}

TEST_CASE("arrow: range_size_limit closes a coalesced range; a larger hinted range stays whole", "[arrow]") {
  ArrowCoalesceOptions o = Eager();
  o.range_size_limit = 3 * kMiB;
  Harness h(o, 64 * kMiB);
  std::vector<ByteRange> adjacent;
  for (std::uint64_t k = 0; k < 5; ++k) adjacent.push_back({k * kMiB, (k + 1) * kMiB});
  adjacent.push_back({10 * kMiB, 20 * kMiB});
  h.Hint(adjacent);
  CHECK(h.lower.requests ==
        std::vector<Req>{{0, 3 * kMiB, 0, 0}, {3 * kMiB, 5 * kMiB, 0, 0}, {10 * kMiB, 20 * kMiB, 0, 0}});
}

TEST_CASE("arrow: uncovered reads outstanding at the same instant are coalesced into one request", "[arrow]") {
  Harness h(ArrowCoalesceOptions{});
  std::vector<std::optional<Result<Slices>>> got(3);
  // Holes of 4 KiB (merged) and of ~1 MiB (not): two requests for three reads.
  h.layer->Read({0, 100 * kKiB}, [&](Result<Slices> x) { got[0] = std::move(x); });
  h.layer->Read({104 * kKiB, 200 * kKiB}, [&](Result<Slices> x) { got[1] = std::move(x); });
  h.layer->Read({2 * kMiB, 3 * kMiB}, [&](Result<Slices> x) { got[2] = std::move(x); });
  h.scheduler.Run();
  CHECK(h.lower.requests == std::vector<Req>{{0, 200 * kKiB, 0, 0}, {2 * kMiB, 3 * kMiB, 0, 0}});
  REQUIRE(got[0].has_value());
  REQUIRE(got[1].has_value());
  REQUIRE(got[2].has_value());
  CHECK(TotalLength(**got[0]) == 100 * kKiB);
  CHECK(TotalLength(**got[1]) == 96 * kKiB);
  CHECK(TotalLength(**got[2]) == kMiB);
  got.clear();                         // the delivered slices were the last holders
  CHECK(h.account.held_bytes() == 0);  // these requests are not kept
}

TEST_CASE("arrow: a failed entry fails its reads without refetching; a cancelled uncovered read cancels below",
          "[arrow]") {
  SECTION("failure is kept like Arrow's future") {
    Harness h(Eager());
    h.lower.fail_at_request = 0;
    h.Hint({{0, kMiB}});
    CHECK_FALSE(h.Read({0, 10}).ok());
    CHECK_FALSE(h.Read({10, 20}).ok());
    CHECK(h.lower.requests.size() == 1);
    CHECK(TotalLength(*h.Read({2 * kMiB, 2 * kMiB + 10})) == 10);  // elsewhere unaffected
  }
  SECTION("cancel") {
    Harness h(ArrowCoalesceOptions{});
    std::optional<Result<Slices>> got;
    const ReadId id = h.layer->Read({0, kMiB}, [&](Result<Slices> x) { got = std::move(x); });
    h.scheduler.RunUntil(kMillisecond / 2);  // the request is in flight
    REQUIRE(h.lower.requests.size() == 1);
    h.layer->Cancel(id);
    h.scheduler.Run();
    REQUIRE(got.has_value());
    CHECK(got->error().code == ErrorCode::kCancelled);
    CHECK(h.lower.cancelled == 1);
  }
}

// --- trace hint lines --------------------------------------------------------------------------------

constexpr const char* kHeader =
    R"({"format":"pflab-trace","version":1,"objects":[{"id":"o0","name":"a.bin","size":1000}]})";

Result<traces::Trace> Parse(const std::string& body) {
  std::istringstream in(std::string(kHeader) + "\n" + body);
  return traces::ParseTrace(in, "t.jsonl");
}

TEST_CASE("arrow: trace hint lines round-trip and name FILE:LINE when wrong", "[arrow][traces]") {
  auto t = Parse(
      "{\"t\":0,\"stream\":0,\"offset\":0,\"length\":10}\n"
      "{\"t\":5,\"stream\":0,\"hint\":[[100,50],[300,0],[10,20]]}\n"
      "{\"t\":5,\"stream\":0,\"offset\":100,\"length\":50}\n"
      "{\"t\":9,\"stream\":0,\"hint\":[]}\n");
  REQUIRE(t.ok());
  REQUIRE(t->records.size() == 2);
  REQUIRE(t->hints.size() == 2);
  CHECK(t->hints[0].t_ns == 5);
  CHECK(t->hints[0].before == 1);
  CHECK(t->hints[0].ranges == std::vector<ByteRange>{{100, 150}, {300, 300}, {10, 30}});
  CHECK(t->hints[1].before == 2);  // after the last read
  CHECK(t->hints[1].ranges.empty());
  std::ostringstream out;
  traces::WriteTrace(out, *t);
  std::istringstream again(out.str());
  auto back = traces::ParseTrace(again, "back.jsonl");
  REQUIRE(back.ok());
  std::ostringstream out2;
  traces::WriteTrace(out2, *back);
  CHECK(out2.str() == out.str());
  CHECK(out.str().find("{\"t\":5,\"stream\":0,\"hint\":[[100,50],[300,0],[10,20]]}\n") != std::string::npos);

  auto error = [](const std::string& body) {
    auto r = Parse(body);
    REQUIRE_FALSE(r.ok());
    return r.error().message;
  };
  const std::string read = "{\"t\":0,\"offset\":0,\"length\":10}\n";
  CHECK_THAT(error(read + "{\"t\":1,\"hint\":[[990,20]]}\n"), Catch::StartsWith("t.jsonl:3: \"hint\"[0] beyond EOF"));
  CHECK_THAT(error(read + "{\"t\":1,\"hint\":[[1,2,3]]}\n"), Catch::StartsWith("t.jsonl:3: \"hint\"[0] must be"));
  CHECK_THAT(error(read + "{\"t\":1,\"hint\":{\"a\":1}}\n"), Catch::StartsWith("t.jsonl:3: \"hint\" must be an array"));
  CHECK_THAT(error(read + "{\"t\":1,\"hint\":[[0,1]],\"offset\":0,\"length\":1}\n"),
             Catch::StartsWith("t.jsonl:3: a line is either a read"));
  CHECK_THAT(error(read + "{\"t\":0,\"stream\":7,\"hint\":[[0,1]]}\n"),
             Catch::StartsWith("t.jsonl:3: hint for stream 7, which has no reads"));
  CHECK_THAT(error("{\"t\":5,\"hint\":[[0,1]]}\n" + read), Catch::StartsWith("t.jsonl:3: \"t\" goes backwards"));
}

TEST_CASE("arrow: generators other than parquet-hinted and mix write no hint lines", "[arrow][traces]") {
  for (const auto& p : traces::Patterns()) {
    if (p.name == "mix") continue;  // random: some seeds hint (tests/traces/random_mix_test.cc)
    auto t = traces::Generate(p.name, {});
    REQUIRE(t.ok());
    INFO(p.name);
    CHECK(t->hints.empty() == (p.name != "parquet-hinted"));
  }
  auto t = traces::Generate("parquet-hinted", {});
  REQUIRE(t.ok());
  auto plain = traces::Generate("footer-then-columns", {});
  REQUIRE(plain.ok());
  // The same reads as footer-then-columns, each row group announced just before its first read.
  REQUIRE(t->records.size() == plain->records.size());
  for (std::size_t i = 0; i < t->records.size(); ++i) CHECK(t->records[i].offset == plain->records[i].offset);
  REQUIRE(t->hints.size() == 4);
  for (const auto& h : t->hints) {
    REQUIRE(h.ranges.size() == 2);
    REQUIRE(h.before < t->records.size());
    CHECK(t->records[h.before].offset == h.ranges[0].begin);
  }
}

// --- replay --------------------------------------------------------------------------------------------

// Requests an eager arrow-coalesce makes for parquet-hinted: tail, footer, and per row group the
// coalesced hint (the reads are all inside it).
std::uint64_t EagerRequests(const traces::Trace& t) {
  std::uint64_t n = 2;
  for (const auto& h : t.hints) n += CoalesceReadRanges(h.ranges, 8192, 32 * kMiB).size();
  return n;
}

TEST_CASE("arrow: simulated replay of hints: eager coalesced fetches, every byte right, faster than none",
          "[arrow][replay]") {
  traces::GeneratorParams params;
  params.object_size = 64 * kMiB;
  params.read_size = 512 * kKiB;
  params.seed = 4;  // columns 3 and 6: two entries per row group (seed 1 picks adjacent 6 and 7)
  auto trace = traces::Generate("parquet-hinted", params);
  REQUIRE(trace.ok());
  REQUIRE(CoalesceReadRanges(trace->hints[0].ranges, 8192, 32 * kMiB).size() == 2);
  std::uint64_t expected = 0;
  for (const auto& r : trace->records) expected += r.length;
  auto none = replay::RunSimulation(testing::RunConfig(*trace, "none", "gcs-regional"));
  REQUIRE(none.ok());
  auto eager = replay::RunSimulation(testing::RunConfig(*trace, "arrow-coalesce(lazy=false)", "gcs-regional"));
  REQUIRE(eager.ok());  // verify_bytes
  auto lazy = replay::RunSimulation(testing::RunConfig(*trace, "arrow-coalesce", "gcs-regional"));
  REQUIRE(lazy.ok());
  for (const auto* r : {&*eager, &*lazy}) {
    CHECK(r->metrics.reads_failed == 0);
    CHECK(r->metrics.reads_wrong == 0);  // verify_bytes
    CHECK(r->metrics.bytes_read == expected);
    CHECK(r->metrics.requests == EagerRequests(*trace));
    CHECK(r->metrics.elapsed_s < none->metrics.elapsed_s);
  }
  CHECK(none->metrics.requests == trace->records.size());
  // Eager starts every entry of a row group at the hint; lazy only the one the first read needs, so
  // the second column chunk waits for its own first byte.
  CHECK(eager->metrics.elapsed_s < lazy->metrics.elapsed_s);
  // Without hints the layer reads like none.
  traces::Trace unhinted = *trace;
  unhinted.hints.clear();
  auto plain = replay::RunSimulation(testing::RunConfig(unhinted, "arrow-coalesce(lazy=false)", "gcs-regional"));
  REQUIRE(plain.ok());
  CHECK(plain->metrics.requests == none->metrics.requests);
  CHECK(plain->metrics.elapsed_s == none->metrics.elapsed_s);
}

// Records the fetch events of arrow-coalesce.
struct FetchLog final : EventSink {
  std::vector<Event> events;
  void OnEvent(const Event& e) override {
    if (std::string(e.layer) == "arrow-coalesce") events.push_back(e);
  }
};

TEST_CASE("arrow: a hint reaches the stack at its recorded distance after the previous read", "[arrow][replay]") {
  // Read 1 at 0 took 10 ms; the hint comes 5 ms after it ended; read 2 after 50 ms of think time.
  auto t = Parse(
      "{\"t\":0,\"offset\":0,\"length\":10,\"dur\":10000000}\n"
      "{\"t\":15000000,\"hint\":[[500,100]]}\n"
      "{\"t\":60000000,\"offset\":500,\"length\":100}\n");
  REQUIRE(t.ok());
  t->name = "timed";
  auto c = testing::RunConfig(*t, "arrow-coalesce(lazy=false)", "gcs-regional");
  c.profile.latency_p99_ns = c.profile.latency_median_ns;  // constant latency
  for (const double factor : {1.0, 0.5}) {
    INFO("think x" << factor);
    FetchLog log;
    c.event_log = &log;
    c.think = replay::ThinkTime{replay::ThinkTime::Mode::kScaled, factor};
    REQUIRE(replay::RunSimulation(c).ok());
    // fetch of read 1, its end (when read 1 is delivered), the hint's fetch; read 2 needs no fetch.
    REQUIRE(log.events.size() == 4);
    CHECK(log.events[0].type == EventType::kFetchStart);
    CHECK(log.events[1].type == EventType::kFetchEnd);
    CHECK(log.events[2].type == EventType::kFetchStart);
    CHECK(log.events[2].offset == 500);
    CHECK(log.events[2].length == 100);
    CHECK(log.events[2].t_ns - log.events[1].t_ns == static_cast<Nanos>(5 * kMillisecond * factor));
  }
  SECTION("think zero: the hint comes right before the next read") {
    FetchLog log;
    c.event_log = &log;
    c.think = replay::ThinkTime{replay::ThinkTime::Mode::kZero, 1};
    REQUIRE(replay::RunSimulation(c).ok());
    REQUIRE(log.events.size() == 4);
    CHECK(log.events[2].t_ns == log.events[1].t_ns);
  }
}

TEST_CASE("arrow: hints change nothing for policies that do not use them", "[arrow][replay]") {
  traces::GeneratorParams params;
  params.object_size = 48 * kMiB + 4321;
  params.read_size = 512 * kKiB;
  auto hinted = traces::Generate("parquet-hinted", params);
  REQUIRE(hinted.ok());
  REQUIRE_FALSE(hinted->hints.empty());
  traces::Trace plain = *hinted;
  plain.hints.clear();
  for (const auto& p : RegisteredPolicies()) {
    if (p.name == "arrow-coalesce" || p.name == "fsspec-parts") continue;
    INFO(p.name);
    auto a = replay::RunSimulation(testing::RunConfig(*hinted, p.name, "gcs-regional"));
    auto b = replay::RunSimulation(testing::RunConfig(plain, p.name, "gcs-regional"));
    REQUIRE(a.ok());
    REQUIRE(b.ok());
    CHECK(a->metrics.ToJson() == b->metrics.ToJson());
  }
}

TEST_CASE("arrow: over the fake GCS server, hints are delivered the same way and every byte is right",
          "[arrow][fake_gcs]") {
  traces::GeneratorParams params;
  params.object_size = 6 * kMiB + 777;
  params.read_size = 96 * kKiB;
  auto trace = traces::Generate("parquet-hinted", params);
  REQUIRE(trace.ok());
  auto profile = sim::FindProfile("local-fast");
  REQUIRE(profile.ok());
  auto server = replay::StartFakeServer({&*trace}, *profile, 1);
  REQUIRE(server.ok());
  replay::LiveOptions live;
  live.endpoint = *HttpEndpoint::Parse((*server)->endpoint());
  live.http.connections = 4;
  std::uint64_t expected = 0;
  for (const auto& r : trace->records) expected += r.length;
  for (const char* policy : {"arrow-coalesce(lazy=false)", "arrow-coalesce", "none", "gcsfs-adaptive"}) {
    INFO(policy);
    auto result = replay::RunLive(testing::RunConfig(*trace, policy, "local-fast"), live);
    REQUIRE(result.ok());
    CHECK(result->metrics.reads_failed == 0);
    CHECK(result->metrics.reads_wrong == 0);  // verify_bytes: every delivered byte checked
    CHECK(result->metrics.bytes_read == expected);
    if (std::string(policy).rfind("arrow-coalesce", 0) == 0) {
      CHECK(result->metrics.requests == EagerRequests(*trace));
    }
    if (std::string(policy) == "none") CHECK(result->metrics.requests == trace->records.size());
  }
}

}  // namespace
}  // namespace pflab::policies
