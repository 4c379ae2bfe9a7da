// pflab calibrate: the fit on known draws, the reductions of stream traces, the plan, the profile file
// it writes (through the profiles loader), and a short calibration against the fake GCS server.
#include "replay/calibrate.h"

#include <catch2/catch.hpp>
#include <cmath>

#include "fake_gcs/server.h"
#include "net/gcs_objects.h"

namespace pflab::replay {
namespace {

constexpr double kMB = 1e6;

// A stream that moves `bytes` at `rate` after a first byte at `first_byte`, with progress every `piece`.
StreamTrace LinearStream(Nanos first_byte, std::uint64_t bytes, double rate, std::uint64_t piece) {
  StreamTrace s;
  s.issued = 0;
  s.first_byte = first_byte;
  s.progress.emplace_back(first_byte, 1);
  for (std::uint64_t done = piece; done < bytes + piece; done += piece) {
    const std::uint64_t b = std::min(done, bytes);
    s.progress.emplace_back(first_byte + static_cast<Nanos>(static_cast<double>(b) / rate * 1e9), b);
  }
  return s;
}

Observations KnownObservations(std::uint64_t seed, std::size_t latencies) {
  sim::NetworkProfile truth;
  truth.latency_median_ns = 30 * kMillisecond;
  truth.latency_p99_ns = 120 * kMillisecond;
  sim::LatencySampler sampler(truth, seed);
  Observations seen;
  seen.probe_bytes = 4096;
  seen.latency_measured_at = "2026-01-02T03:04:05Z";
  seen.bandwidth_measured_at = "2026-01-02T03:04:06Z";
  seen.concurrency_measured_at = "2026-01-02T03:04:07Z";
  for (std::size_t i = 0; i < latencies; ++i) {
    seen.latency_completions.push_back(sampler.Sample());
  }
  seen.stream_rates = {99 * kMB, 100 * kMB, 101 * kMB, 100 * kMB, 100.5 * kMB};
  // Link of 250 MB/s: 1 and 2 streams are not held back, 4 and 8 are.
  seen.levels = {{1, 100 * kMB, 1, true}, {2, 199 * kMB, 2, true}, {4, 251 * kMB, 4, true}, {8, 249 * kMB, 8, true}};
  return seen;
}

TEST_CASE("calibrate: the fit recovers a known lognormal, the per-request bandwidth and the link", "[calibrate]") {
  const auto seen = KnownObservations(7, 400);
  auto fit = FitCalibration(seen, sim::NetworkProfile{}, 1);
  REQUIRE(fit.ok());
  CHECK(fit->latency_median_ns.value == Approx(30e6).epsilon(0.10));
  CHECK(fit->latency_p99_ns.value == Approx(120e6).epsilon(0.25));
  CHECK(fit->latency_median_ns.low < fit->latency_median_ns.value);
  CHECK(fit->latency_median_ns.high > fit->latency_median_ns.value);
  CHECK(fit->latency_median_ns.low < 30e6);  // the interval holds the truth for this seed
  CHECK(fit->latency_median_ns.high > 30e6);
  CHECK(fit->latency_p99_ns.low < fit->latency_p99_ns.value);
  CHECK(fit->stream_bandwidth.value == Approx(100 * kMB));
  CHECK(fit->link_limited);
  CHECK(fit->link_bandwidth.value == Approx(250 * kMB));
  CHECK(fit->link_bandwidth.low == Approx(249 * kMB));
  CHECK(fit->link_bandwidth.high == Approx(251 * kMB));
  CHECK_FALSE(fit->connection_limited);
  CHECK(fit->profile.max_connections == kDefaultCalibratedConnections);
  CHECK(fit->profile.latency_min_ns <= fit->profile.latency_median_ns);
  CHECK(fit->profile.latency_p99_ns > fit->profile.latency_median_ns);

  // Deterministic: the same observations and seed give the same numbers.
  auto again = FitCalibration(seen, sim::NetworkProfile{}, 1);
  REQUIRE(again.ok());
  CHECK(again->latency_p99_ns.low == fit->latency_p99_ns.low);
  CHECK(again->latency_p99_ns.high == fit->latency_p99_ns.high);
}

TEST_CASE("calibrate: an unreached link is a lower bound; a level short of streams is a connection limit",
          "[calibrate]") {
  auto seen = KnownObservations(3, 50);
  seen.levels = {{1, 100 * kMB, 1, true}, {2, 199 * kMB, 2, true}, {4, 395 * kMB, 4, true}};
  auto fit = FitCalibration(seen, sim::NetworkProfile{}, 1);
  REQUIRE(fit.ok());
  CHECK_FALSE(fit->link_limited);
  CHECK(fit->link_bandwidth.value == Approx(395 * kMB));
  CHECK(std::isinf(fit->link_bandwidth.high));

  // Three connections: four and eight streams never had more than three in flight, sharing no window.
  seen.levels = {{1, 100 * kMB, 1, true}, {2, 199 * kMB, 2, true}, {4, 300 * kMB, 3, false}, {8, 300 * kMB, 3, false}};
  fit = FitCalibration(seen, sim::NetworkProfile{}, 1);
  REQUIRE(fit.ok());
  CHECK(fit->connection_limited);
  CHECK(fit->profile.max_connections == 3);
  CHECK_FALSE(fit->link_limited);  // a level that waited for connections says nothing of the link

  // One level short by one (a first byte in the latency tail after the others' last bytes) is no limit.
  seen.levels = {{1, 100 * kMB, 1, true}, {2, 199 * kMB, 2, true}, {4, 395 * kMB, 4, true}, {8, 700 * kMB, 7, false}};
  fit = FitCalibration(seen, sim::NetworkProfile{}, 1);
  REQUIRE(fit.ok());
  CHECK_FALSE(fit->connection_limited);
  CHECK(fit->profile.max_connections == kDefaultCalibratedConnections);

  seen.latency_completions.clear();
  CHECK_FALSE(FitCalibration(seen, sim::NetworkProfile{}, 1).ok());
}

TEST_CASE("calibrate: stream rates and level aggregates from progress points", "[calibrate]") {
  // The first piece is left out of the rate: it holds the burst sent before pacing took hold.
  StreamTrace burst;
  burst.first_byte = 10 * kMillisecond;
  burst.progress = {{10 * kMillisecond, 1}, {11 * kMillisecond, 1 << 20}, {21 * kMillisecond, 2 << 20}};
  CHECK(StreamRate(burst) == Approx((1 << 20) / 0.010));
  CHECK(StreamRate(StreamTrace{}) == 0);
  // With more pieces, a slope: pieces seen up to a write late (here alternately 0 and 1 ms) still give
  // the rate, where the end points alone would not.
  StreamTrace late;
  late.first_byte = 0;
  late.progress.emplace_back(0, 1);
  for (int i = 1; i <= 10; ++i) {
    late.progress.emplace_back(i * 10 * kMillisecond + (i % 2 ? kMillisecond : 0), std::uint64_t(i) << 20);
  }
  CHECK(StreamRate(late) == Approx((1 << 20) / 0.010).epsilon(0.005));

  // Two streams at 50 MB/s each, the second starting 5 ms later: 100 MB/s while both move.
  std::vector<StreamTrace> two = {LinearStream(0, 8 << 20, 50 * kMB, 1 << 20),
                                  LinearStream(5 * kMillisecond, 8 << 20, 50 * kMB, 1 << 20)};
  auto level = ReduceLevel(2, two);
  CHECK(level.full_overlap);
  CHECK(level.max_in_flight == 2);
  CHECK(level.aggregate_bytes_per_s == Approx(100 * kMB).epsilon(0.001));

  // One after the other (a connection limit of one): never both in flight, no common window.
  const Nanos end0 = two[0].end();
  two[1] = LinearStream(end0, 8 << 20, 50 * kMB, 1 << 20);
  level = ReduceLevel(2, two);
  CHECK_FALSE(level.full_overlap);
  CHECK(level.max_in_flight == 1);
  CHECK(level.aggregate_bytes_per_s == Approx(50 * kMB).epsilon(0.01));
}

TEST_CASE("calibrate: targets, plans and their cost", "[calibrate]") {
  auto t = ParseCalibrationTarget("http://127.0.0.1:4443/bkt/dir/obj.bin");
  REQUIRE(t.ok());
  CHECK(t->endpoint.Url() == "http://127.0.0.1:4443");
  CHECK(t->bucket == "bkt");
  CHECK(t->object == "dir/obj.bin");
  t = ParseCalibrationTarget("gs://b/o");
  REQUIRE(t.ok());
  CHECK(t->bucket == "b");
  CHECK(t->object == "o");
  for (const char* bad : {"bkt/obj", "gs://bkt", "gs://bkt/", "http://host:1", "http://host:1/bkt", "ftp://h/b/o"}) {
    INFO(bad);
    auto r = ParseCalibrationTarget(bad);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().message.find(bad) != std::string::npos);
  }

  CalibrationOptions o;
  o.probes = 10;
  o.probe_bytes = 4096;
  o.bandwidth_probes = 2;
  o.bandwidth_bytes = 1 << 20;
  o.max_connections = 6;
  auto plan = PlanCalibration(o, 100 << 20);
  REQUIRE(plan.ok());
  CHECK(plan->levels == std::vector<std::uint32_t>{1, 2, 4, 6});
  // metadata 1, latency 11 (one warm-up), bandwidth 2, concurrency 1+2+4+6.
  CHECK(plan->requests() == 1 + 11 + 2 + 13);
  CHECK(plan->bytes() == 11 * 4096 + 15ull * (1 << 20));
  sim::NetworkProfile prices;
  prices.usd_per_request = 4e-7;
  prices.usd_per_gib = 0.02;
  CHECK(plan->CostUsd(prices) == Approx(27 * 4e-7 + (11 * 4096 + 15.0 * (1 << 20)) / (1 << 30) * 0.02));
  CHECK(plan->Describe(prices).find("total: 27 requests") != std::string::npos);
  // The connections phase sends nothing: in the plan, at no cost; none at all with no handshakes.
  REQUIRE(plan->phases.back().name == "connections");
  CHECK(plan->phases.back().requests == 0);
  CHECK(plan->phases.back().bytes == 0);
  o.handshakes = 0;
  auto without = PlanCalibration(o, 100 << 20);
  REQUIRE(without.ok());
  CHECK(without->phases.back().name == "concurrency");
  CHECK(without->requests() == plan->requests());
  o.handshakes = 16;

  // A small object clips the reads.
  plan = PlanCalibration(o, 1000);
  REQUIRE(plan.ok());
  CHECK(plan->probe_bytes == 1000);
  CHECK(plan->bandwidth_bytes == 1000);
  CHECK_FALSE(PlanCalibration(o, 0).ok());
  o.max_connections = 0;
  auto bad = PlanCalibration(o, 100);
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().message.find("max-connections") != std::string::npos);
}

TEST_CASE("calibrate: the profile file loads through the profiles loader with its intervals", "[calibrate]") {
  const auto seen = KnownObservations(11, 200);
  sim::NetworkProfile prices;
  prices.usd_per_request = 4e-7;
  auto fit = FitCalibration(seen, prices, 1);
  REQUIRE(fit.ok());
  CalibrationOptions o;
  auto plan = PlanCalibration(o, 1 << 30);
  REQUIRE(plan.ok());
  const auto file = CalibratedProfilesFile(*fit, "mine", "gs://b/o at http://x:1", *plan);
  auto loaded = sim::ParseProfiles(file.dump(), "calibrated.json");
  REQUIRE(loaded.ok());
  REQUIRE(loaded->count("mine") == 1);
  const auto& p = loaded->at("mine");
  CHECK(p.latency_median_ns == fit->profile.latency_median_ns);
  CHECK(p.latency_p99_ns == fit->profile.latency_p99_ns);
  CHECK(p.latency_min_ns == fit->profile.latency_min_ns);
  CHECK(p.stream_bandwidth_bytes_per_s == fit->profile.stream_bandwidth_bytes_per_s);
  CHECK(p.link_bandwidth_bytes_per_s == fit->profile.link_bandwidth_bytes_per_s);
  CHECK(p.max_connections == fit->profile.max_connections);
  CHECK(p.usd_per_request == 4e-7);
  const auto& fields = file["profiles"]["mine"]["calibration"]["fields"];
  CHECK(fields["latency_median"]["ci95"][0].get<double>() < fields["latency_median"]["value"].get<double>());
  CHECK(fields["latency_median"]["samples"] == 200);
  CHECK(fields["latency_p99"]["measured_at"] == "2026-01-02T03:04:05Z");
  CHECK(fields["link_bandwidth"]["measured_at"] == "2026-01-02T03:04:07Z");
  CHECK(file["profiles"]["mine"]["sources"]["latency_median"].get<std::string>().find("pflab calibrate") !=
        std::string::npos);
  // No handshakes timed: no connection setup charged, and the file says so.
  CHECK(fit->connect_overhead_ns.samples == 0);
  CHECK(p.connect_overhead_ns == 0);
  CHECK_FALSE(file["profiles"]["mine"].contains("connect_overhead"));
  CHECK(file["profiles"]["mine"]["sources"]["connect_overhead"].get<std::string>().find("not measured") !=
        std::string::npos);

  // Handshakes timed: their median, with an interval, through the file to the simulator's profile.
  auto timed = seen;
  timed.handshakes = {900'000, 1'000'000, 1'100'000, 1'050'000, 950'000, 30'000'000};
  timed.connections_measured_at = "2026-01-02T03:04:08Z";
  auto with_connect = FitCalibration(timed, prices, 1);
  REQUIRE(with_connect.ok());
  CHECK(with_connect->connect_overhead_ns.value == 1'025'000);  // the median: one slow handshake is not the rule
  CHECK(with_connect->connect_overhead_ns.low <= 1'025'000);
  CHECK(with_connect->connect_overhead_ns.high >= 1'025'000);
  const auto timed_file = CalibratedProfilesFile(*with_connect, "mine", "gs://b/o at http://x:1", *plan);
  auto timed_loaded = sim::ParseProfiles(timed_file.dump(), "calibrated.json");
  REQUIRE(timed_loaded.ok());
  CHECK(timed_loaded->at("mine").connect_overhead_ns == 1'025'000);
  CHECK(timed_file["profiles"]["mine"]["calibration"]["fields"]["connect_overhead"]["measured_at"] ==
        "2026-01-02T03:04:08Z");

  // A misspelt field is still refused: only `calibration` was added to what the loader accepts.
  auto broken = file;
  broken["profiles"]["mine"]["calibraton"] = 1;
  auto refused = sim::ParseProfiles(broken.dump(), "calibrated.json");
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().message.find("calibraton: unknown field") != std::string::npos);
}

TEST_CASE("calibrate: a short calibration against the shaped fake server", "[calibrate][fake_gcs]") {
  // Short latencies and few probes keep this a few seconds; the accuracy targets are checked by
  // `make bench-calibrate` with the numbers. Here only bounds that hold on a busy machine.
  fake_gcs::ServerOptions server_options;
  server_options.shaping.latency_median_ns = 10 * kMillisecond;
  server_options.shaping.latency_p99_ns = 40 * kMillisecond;
  server_options.shaping.stream_bandwidth_bytes_per_s = 40 * kMB;
  server_options.link_bandwidth_bytes_per_s = 60 * kMB;
  fake_gcs::FakeGcsServer server(server_options);
  REQUIRE(server.store().PutSynthetic("bkt", "obj", 64 << 20).ok());
  REQUIRE(server.Start().ok());

  auto target = ParseCalibrationTarget(server.endpoint() + "/bkt/obj");
  REQUIRE(target.ok());
  CalibrationOptions o;
  o.probes = 60;
  o.bandwidth_probes = 3;
  o.bandwidth_bytes = 3 << 20;
  o.piece_bytes = 256 << 10;
  o.max_connections = 4;
  o.verify_synthetic = true;
  auto meta = GcsObjectClient(target->endpoint, {}, nullptr).Get("bkt", "obj");
  REQUIRE(meta.ok());
  CHECK(meta->size == 64 << 20);
  auto plan = PlanCalibration(o, meta->size);
  REQUIRE(plan.ok());
  auto seen = RunProbes(*target, ObjectRef{"bkt", "obj", meta->generation, meta->size}, *plan, o);
  REQUIRE(seen.ok());
  CHECK(seen->requests == plan->requests());
  CHECK(seen->bytes == plan->bytes());
  CHECK(server.stats().requests == plan->requests());
  auto fit = FitCalibration(*seen, sim::NetworkProfile{}, 1);
  REQUIRE(fit.ok());
  // What the shaping guarantees whatever the machine's load: nothing faster than it. A loaded machine
  // only makes things slower, so the upper bounds on time are loose (accuracy is the benchmark's job).
  CHECK(fit->latency_median_ns.value >= 0.7 * 10e6);  // 60 lognormal draws: the median within 30%
  CHECK(fit->latency_median_ns.value <= 3 * 10e6);
  CHECK(fit->latency_p99_ns.value > fit->latency_median_ns.value);
  CHECK(fit->stream_bandwidth.value <= 1.1 * 40 * kMB);
  CHECK(fit->stream_bandwidth.value >= 0.25 * 40 * kMB);
  REQUIRE(seen->levels.size() == 3);  // 1, 2 and 4 at once
  for (const auto& level : seen->levels) {
    INFO(level.concurrency << " at once");
    // The link and the per-request pacing hold; 20% for a window measured between pieces the client
    // may see late when the machine is busy (a slow start of the window reads as a faster rate).
    CHECK(level.aggregate_bytes_per_s <= 1.2 * 60 * kMB);
    CHECK(level.aggregate_bytes_per_s <= 1.2 * level.concurrency * 40 * kMB);
    CHECK(level.max_in_flight <= level.concurrency);
  }
  CHECK_FALSE(fit->connection_limited);
  // Connection setup on the loopback: timed, no request sent for it (the request counts above).
  REQUIRE(seen->handshakes.size() == o.handshakes);
  for (Nanos t : seen->handshakes) CHECK(t > 0);
  CHECK(fit->connect_overhead_ns.samples == o.handshakes);
  CHECK(fit->connect_overhead_ns.value < 50e6);
  CHECK(fit->profile.connect_overhead_ns == std::llround(fit->connect_overhead_ns.value));

  auto missing = GcsObjectClient(target->endpoint, {}, nullptr).Get("bkt", "nope");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().code == ErrorCode::kNotFound);
  CHECK(missing.error().message.find("gs://bkt/nope") != std::string::npos);
  server.Stop();
}

}  // namespace
}  // namespace pflab::replay
