// The optional per-run details of the results document: latency quantiles and the timeline, collected
// from events and carried through ResultsToJson / ReadResultsDocument.
#include "reports/run_details.h"

#include <algorithm>
#include <catch2/catch.hpp>

#include "reports/results.h"

namespace pflab::reports {
namespace {

Event Ev(Nanos t, EventType type, std::uint32_t stream, std::uint64_t offset, std::uint64_t length,
         const char* layer = kBackendLayer) {
  Event e;
  e.t_ns = t;
  e.type = type;
  e.layer = layer;
  e.stream = stream;
  e.offset = offset;
  e.length = length;
  e.bytes = length;
  return e;
}

replay::RunResult Run(const std::string& trace, const std::string& policy, double elapsed) {
  replay::RunResult r;
  r.trace = trace;
  r.policy = policy;
  r.profile = "gcs-regional";
  r.seed = 3;
  r.think = "recorded";
  r.metrics.elapsed_s = elapsed;
  r.metrics.reads = 2;
  r.metrics.bytes_read = 100;
  r.metrics.bytes_fetched = 150;
  return r;
}

TEST_CASE("reports: latency quantiles are nearest-rank 0..100%", "[reports]") {
  std::vector<Nanos> values;
  for (Nanos v = 200; v >= 1; --v) values.push_back(v * 1000);  // 1..200 us, unsorted
  const auto q = LatencyQuantiles(values);
  REQUIRE(q.size() == kLatencyQuantiles);
  CHECK(q[0] == Approx(1e-6));     // the minimum
  CHECK(q[1] == Approx(2e-6));     // rank ceil(0.01 * 200) = 2
  CHECK(q[50] == Approx(100e-6));  // rank 100
  CHECK(q[99] == Approx(198e-6));
  CHECK(q[100] == Approx(200e-6));  // the maximum
  CHECK(LatencyQuantiles({}).empty());
}

TEST_CASE("reports: the recorder pairs backend fetches with their ends and keeps reads", "[reports]") {
  RunRecorder rec(/*keep_timeline=*/true);
  rec.OnEvent(Ev(1000, EventType::kReadStart, 0, 0, 10, "app"));
  rec.OnEvent(Ev(1100, EventType::kFetchStart, 0, 0, 50));
  rec.OnEvent(Ev(1100, EventType::kFetchStart, 0, 50, 50));
  rec.OnEvent(Ev(1150, EventType::kFetchStart, 0, 0, 10, "upper-layer"));  // not a backend GET
  rec.OnEvent(Ev(1200, EventType::kFetchFail, 0, 50, 50));
  rec.OnEvent(Ev(1200, EventType::kRetry, 0, 50, 50));
  rec.OnEvent(Ev(1300, EventType::kFetchStart, 0, 50, 50));  // the retry's own GET
  rec.OnEvent(Ev(1400, EventType::kFetchEnd, 0, 0, 50));
  rec.OnEvent(Ev(1500, EventType::kReadEnd, 0, 0, 10, "app"));
  rec.OnEvent(Ev(1600, EventType::kFetchStart, 1, 100, 20));
  rec.OnEvent(Ev(1700, EventType::kFetchCancel, 1, 100, 20));
  rec.OnEvent(Ev(1800, EventType::kReadStart, 1, 20, 5, "app"));
  rec.OnEvent(Ev(2000, EventType::kReadEnd, 1, 20, 5, "app"));
  const RunDetails d = rec.Finish("t", "p");
  REQUIRE(d.latency_quantiles_s.size() == kLatencyQuantiles);
  CHECK(d.latency_quantiles_s.front() == Approx(200e-9));
  CHECK(d.latency_quantiles_s.back() == Approx(500e-9));
  REQUIRE(d.timeline);
  const Timeline& t = *d.timeline;
  CHECK(t.trace == "t");
  CHECK(t.policy == "p");
  CHECK(t.reads_total == 2);
  CHECK(t.reads_stride == 1);
  // Times are relative to the first event (t = 1000).
  CHECK(t.reads == std::vector<TimelineRead>{{0, 500, 0, 10, 0}, {800, 1000, 20, 5, 1}});
  // In start order; equal starts keep the order their ends arrived in.
  CHECK(t.fetches == std::vector<TimelineFetch>{{100, 200, 50, 100, "failed"},
                                                {100, 400, 0, 50, "done"},
                                                {300, 1000, 50, 100, "open"},  // never ended: open to the end
                                                {600, 700, 100, 120, "cancelled"}});
}

TEST_CASE("reports: a fetch's end goes to the oldest open fetch of its range; those left open keep their order",
          "[reports]") {
  RunRecorder rec(/*keep_timeline=*/true);
  rec.OnEvent(Ev(0, EventType::kFetchStart, 0, 500, 10));
  rec.OnEvent(Ev(10, EventType::kFetchStart, 0, 500, 10));  // the same stream and range again
  rec.OnEvent(Ev(20, EventType::kFetchStart, 2, 0, 10));
  rec.OnEvent(Ev(20, EventType::kFetchStart, 1, 100, 10));  // same start, a key that sorts first
  rec.OnEvent(Ev(40, EventType::kFetchEnd, 0, 500, 10));
  const RunDetails d = rec.Finish("t", "p");
  REQUIRE(d.timeline);
  CHECK(d.timeline->fetches == std::vector<TimelineFetch>{{0, 40, 500, 510, "done"},
                                                          {10, 40, 500, 510, "open"},
                                                          {20, 40, 0, 10, "open"},  // started first
                                                          {20, 40, 100, 110, "open"}});
}

TEST_CASE("reports: a timeline beyond the cap keeps every k-th item and says so", "[reports]") {
  RunRecorder rec(true);
  const std::size_t n = 2 * kTimelineMaxItems + 7;
  for (std::size_t i = 0; i < n; ++i) {
    const Nanos t = static_cast<Nanos>(i) * 10;
    rec.OnEvent(Ev(t, EventType::kReadStart, 0, i, 1, "app"));
    rec.OnEvent(Ev(t + 5, EventType::kReadEnd, 0, i, 1, "app"));
  }
  const RunDetails d = rec.Finish("t", "p");
  REQUIRE(d.timeline);
  CHECK(d.timeline->reads_total == n);
  CHECK(d.timeline->reads_stride == 3);
  REQUIRE(d.timeline->reads.size() <= kTimelineMaxItems);
  CHECK(d.timeline->reads.size() == (n + 2) / 3);
  CHECK(d.timeline->reads[1].offset == 3);
  // Quantiles still see every read.
  CHECK(d.latency_quantiles_s.back() == Approx(5e-9));
}

// A run of millions of fetches (36 M one-byte GETs made a 3.5 GB timeline) holds a bounded sample.
TEST_CASE("reports: a long run's timeline is thinned while it records - totals and strides stay true", "[reports]") {
  RunRecorder rec(true);
  const std::size_t n = 5 * kTimelineThinAt + 3;
  std::size_t most_held = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const Nanos t = static_cast<Nanos>(i) * 10;
    rec.OnEvent(Ev(t, EventType::kReadStart, 0, i, 1, "app"));
    rec.OnEvent(Ev(t + 5, EventType::kReadEnd, 0, i, 1, "app"));
    if (i % 4096 == 0) most_held = std::max(most_held, rec.timeline_items_held());
  }
  CHECK(most_held < 2 * kTimelineThinAt);
  const RunDetails d = rec.Finish("t", "p");
  REQUIRE(d.timeline);
  const Timeline& t = *d.timeline;
  CHECK(t.reads_total == n);
  // Thinned twice while recording (at 2 M and again at 2 M kept of every 2nd), so every 4th was held;
  // then every k-th of those to fit kTimelineMaxItems.
  const std::uint64_t held = (n + 3) / 4;
  const std::uint64_t k = (held + kTimelineMaxItems - 1) / kTimelineMaxItems;
  CHECK(t.reads_stride == 4 * k);
  REQUIRE(t.reads.size() <= kTimelineMaxItems);
  for (std::size_t i = 0; i < t.reads.size(); ++i) CHECK(t.reads[i].offset == i * t.reads_stride);
  CHECK(d.latency_quantiles_s.back() == Approx(5e-9));
}

TEST_CASE("reports: without a timeline the recorder keeps only latencies", "[reports]") {
  RunRecorder rec(false);
  rec.OnEvent(Ev(0, EventType::kReadStart, 0, 0, 1, "app"));
  rec.OnEvent(Ev(0, EventType::kFetchStart, 0, 0, 1));
  rec.OnEvent(Ev(7, EventType::kReadEnd, 0, 0, 1, "app"));
  const RunDetails d = rec.Finish("t", "p");
  CHECK_FALSE(d.timeline);
  CHECK(d.latency_quantiles_s.at(50) == Approx(7e-9));
}

TEST_CASE("reports: quantiles and timelines round-trip through the results JSON", "[reports]") {
  std::vector<replay::RunResult> runs = {Run("a", "none", 2), Run("a", "gcsfs-v795", 1)};
  std::vector<RunDetails> details(2);
  for (std::size_t i = 0; i < kLatencyQuantiles; ++i) {
    details[0].latency_quantiles_s.push_back(0.001 * static_cast<double>(i));
    details[1].latency_quantiles_s.push_back(0.0005 * static_cast<double>(i) + 1e-7);
  }
  Timeline t;
  t.trace = "a";
  t.policy = "gcsfs-v795";
  t.reads_total = 9;
  t.fetches_total = 2;
  t.reads_stride = 5;
  t.reads = {{0, 10, 0, 4096, 0}, {20, 25, 4096, 4096, 1}};
  t.fetches = {{1, 9, 0, 8192, "done"}, {3, 4, 8192, 9000, "cancelled"}};
  details[1].timeline = t;
  const nlohmann::json config = {{"profile", "gcs-regional"}, {"seed", 3}};
  const nlohmann::json doc = nlohmann::json::parse(ResultsToJson(runs, config, details).dump());
  CHECK(doc["runs"][0]["latency_quantiles_s"].size() == kLatencyQuantiles);
  REQUIRE(doc["timelines"].size() == 1);
  CHECK(doc["timelines"][0]["reads"][1] == nlohmann::json({20, 25, 4096, 4096, 1}));
  CHECK(doc["timelines"][0]["fetches"][1] == nlohmann::json({3, 4, 8192, 9000, "cancelled"}));

  auto back = ReadResultsDocument(doc, "r.json");
  REQUIRE(back);
  REQUIRE(back->runs.size() == 2);
  REQUIRE(back->details.size() == 2);
  CHECK(back->details[0].latency_quantiles_s == details[0].latency_quantiles_s);
  CHECK(back->details[1].latency_quantiles_s == details[1].latency_quantiles_s);
  CHECK_FALSE(back->details[0].timeline);
  REQUIRE(back->details[1].timeline);
  CHECK(*back->details[1].timeline == t);
  CHECK(back->config == config);
  // The old reader still reads the runs.
  auto runs_back = ResultsFromJson(doc, "r.json");
  REQUIRE(runs_back);
  CHECK(runs_back->at(1).metrics.elapsed_s == 1);
}

TEST_CASE("reports: documents without the optional fields still read; bad ones name the field", "[reports]") {
  const std::vector<replay::RunResult> runs = {Run("a", "none", 2)};
  nlohmann::json doc = ResultsToJson(runs, nlohmann::json::object());
  CHECK_FALSE(doc["runs"][0].contains("latency_quantiles_s"));
  CHECK_FALSE(doc.contains("timelines"));
  auto back = ReadResultsDocument(doc, "old.json");
  REQUIRE(back);
  CHECK(back->details.at(0).latency_quantiles_s.empty());
  CHECK_FALSE(back->details.at(0).timeline);

  nlohmann::json short_q = doc;
  short_q["runs"][0]["latency_quantiles_s"] = {0.1, 0.2};
  auto bad = ReadResultsDocument(short_q, "q.json");
  REQUIRE_FALSE(bad);
  CHECK_THAT(bad.error().message, Catch::Contains("q.json: runs[0].latency_quantiles_s has 2 values"));

  nlohmann::json orphan = doc;
  Timeline t;
  t.trace = "a";
  t.policy = "oracle";
  orphan["timelines"] = nlohmann::json::array({t.ToJson()});
  auto bad2 = ReadResultsDocument(orphan, "o.json");
  REQUIRE_FALSE(bad2);
  CHECK_THAT(bad2.error().message, Catch::Contains("o.json: timelines[0]: no run of trace 'a' and policy 'oracle'"));

  nlohmann::json broken = doc;
  broken["timelines"] = nlohmann::json::array({{{"trace", "a"}}});
  auto bad3 = ReadResultsDocument(broken, "b.json");
  REQUIRE_FALSE(bad3);
  CHECK_THAT(bad3.error().message, Catch::Contains("b.json: timelines[0]: malformed timeline"));
}

}  // namespace
}  // namespace pflab::reports
