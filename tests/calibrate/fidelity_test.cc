// pflab fidelity: Kendall's tau, the summary of predicted against measured runs, and a short run of
// the simulator against the fake server.
#include "replay/fidelity.h"

#include <catch2/catch.hpp>
#include <cmath>

#include "engine/sanitizers.h"
#include "traces/generators.h"

#if defined(PFLAB_HAS_ASAN) || defined(PFLAB_HAS_TSAN)
#define PFLAB_FIDELITY_SANITIZED 1
#endif

namespace pflab::replay {
namespace {

#ifdef PFLAB_FIDELITY_SANITIZED
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif

// Six sequential reads of 1 MiB: the pairing tests' trace.
Result<traces::Trace> SixReadsOfOneMiB() {
  traces::GeneratorParams params;
  params.object_size = 8 << 20;
  params.read_size = 1 << 20;
  params.count = 6;
  return traces::Generate("sequential", params);
}

// `trace` x `policy_list` x `seeds` against the fake server at 5 ms constant latency and 200 MB/s a
// request, every byte checked.
RunPlan OverFakeServer(const traces::Trace& trace, const std::string& policy_list, std::vector<std::uint64_t> seeds) {
  RunPlan plan;
  plan.traces = {&trace};
  plan.policies = *policies::ParsePolicyList(policy_list);
  plan.profile.latency_median_ns = 5 * kMillisecond;
  plan.profile.latency_p99_ns = 0;
  plan.profile.stream_bandwidth_bytes_per_s = 200e6;
  plan.seeds = std::move(seeds);
  plan.transport = TransportKind::kFake;
  plan.live.http.connections = 4;
  plan.verify_bytes = true;
  return plan;
}

TEST_CASE("fidelity: Kendall tau-b", "[fidelity]") {
  CHECK(KendallTauB({1, 2, 3, 4}, {10, 20, 30, 40}) == Approx(1));
  CHECK(KendallTauB({1, 2, 3, 4}, {40, 30, 20, 10}) == Approx(-1));
  // One swapped pair of six: (5 - 1) / 6.
  CHECK(KendallTauB({1, 2, 3, 4}, {1, 3, 2, 4}) == Approx(4.0 / 6));
  // A tie in one list: tau-b = (C - D) / sqrt((C + D + Ta)(C + D + Tb)) = 5 / sqrt(6 * 5).
  CHECK(KendallTauB({1, 2, 3, 4}, {1, 1, 3, 4}) == Approx(5 / std::sqrt(30.0)));
  CHECK(KendallTauB({1}, {2}) == 1);
}

TEST_CASE("fidelity: the summary takes medians over seeds and leaves failed runs out", "[fidelity]") {
  std::vector<FidelityPair> pairs = {
      {0, 0, 1, 1.10, 1.00, false}, {0, 0, 2, 0.90, 1.00, false}, {0, 0, 3, 1.00, 1.00, false},  // median 0%
      {0, 1, 1, 2.00, 2.50, false}, {0, 1, 2, 2.00, 2.50, false}, {0, 1, 3, 9.00, 0.00, true},   // -20%
  };
  const auto r = SummarizeFidelity({"t"}, {"a", "b"}, pairs);
  CHECK(r.failed == 1);
  REQUIRE(r.groups.size() == 2);
  CHECK(r.groups[0].error() == Approx(0));
  CHECK(r.groups[1].error() == Approx(-0.2));
  CHECK(r.run_worst_abs_error == Approx(0.2));
  CHECK(r.run_median_abs_error == Approx(0.1));  // |errors| 0.1, 0.1, 0, 0.2, 0.2
  CHECK(r.group_worst_abs_error == Approx(0.2));
  REQUIRE(r.tau.size() == 1);
  CHECK(r.tau[0] == Approx(1));  // a faster than b both ways
  const std::string md = FidelityMarkdown(r, "x");
  CHECK(md.find("| t | b | 2.000 | 2.500 | -20.0% |") != std::string::npos);
  CHECK(md.find("runs: 6 (1 failed, left out)") != std::string::npos);
}

TEST_CASE("fidelity: paired runs order two policies only beyond doubt (sign test, 5%)", "[fidelity]") {
  const std::vector<double> a = {1.00, 1.01, 1.02, 1.03, 1.04, 1.05, 1.06, 1.07, 1.08, 1.09};
  std::vector<double> b = {1.10, 1.11, 1.12, 1.13, 1.14, 1.15, 1.16, 1.17, 1.18, 1.19};
  // Faster on 10 of 10 seeds: p = 2 / 2^10.
  CHECK(MeasuredOrder(a, b) == -1);
  CHECK(MeasuredOrder(b, a) == 1);
  // 9 of 10: p = 2 x 11 / 1024 = 0.021.
  b[0] = 0.99;
  CHECK(MeasuredOrder(a, b) == -1);
  // 8 of 10: p = 2 x 56 / 1024 = 0.109: no order, though every median says a is faster.
  b[1] = 0.99;
  CHECK(MeasuredOrder(a, b) == 0);
  // Seeds where both took the same time say nothing: 8 of 8 that differ, p = 2 / 256.
  b = a;
  for (std::size_t i = 2; i < b.size(); ++i) b[i] += 0.5;
  CHECK(MeasuredOrder(a, b) == -1);
  CHECK(MeasuredOrder(a, a) == 0);
  // Five seeds can never order a pair (p >= 2 / 32), six can.
  CHECK(MeasuredOrder({1, 1, 1, 1, 1}, {2, 2, 2, 2, 2}) == 0);
  CHECK(MeasuredOrder({1, 1, 1, 1, 1, 1}, {2, 2, 2, 2, 2, 2}) == -1);
  CHECK(MeasuredOrder({}, {}) == 0);
}

TEST_CASE("fidelity: a swap of policies the runs cannot tell apart is noise; one they can is counted", "[fidelity]") {
  // Three policies, six seeds. a and b measured a hair apart, each faster on half the seeds; c slower
  // on every seed. The simulator swaps a and b (tau drops) and puts c last.
  std::vector<FidelityPair> pairs;
  const double a_measured[] = {1.00, 1.04, 1.00, 1.04, 1.00, 1.04}, b_measured[] = {1.02, 1.03, 1.02, 1.03, 1.02, 1.03};
  for (std::uint64_t s = 0; s < 6; ++s) {
    pairs.push_back({0, 0, s, 1.05, a_measured[s], false});
    pairs.push_back({0, 1, s, 1.00, b_measured[s], false});
    pairs.push_back({0, 2, s, 2.00, 2.00 + 0.01 * static_cast<double>(s), false});
  }
  auto r = SummarizeFidelity({"t"}, {"a", "b", "c"}, pairs);
  REQUIRE(r.resolved_pairs.size() == 1);
  CHECK(r.resolved_pairs[0] == 2);  // a-c and b-c (6 of 6 seeds); a-b is not (3 of 6)
  CHECK(r.resolved_discordant[0] == 0);
  // The medians: measured a 1.02 < b 1.025, predicted a 1.05 > b 1.00: one pair of three swapped.
  CHECK(r.tau[0] == Approx(1.0 / 3));
  // Now predict c at 1.02: faster than a, which every seed contradicts; slower than b, which is right.
  for (auto& p : pairs) {
    if (p.policy == 2) p.predicted_s = 1.02;
  }
  r = SummarizeFidelity({"t"}, {"a", "b", "c"}, pairs);
  CHECK(r.resolved_pairs[0] == 2);
  CHECK(r.resolved_discordant[0] == 1);
  // A seed that only one policy ran is left out of the pairing: with c's seed 5 failed, a-c and b-c
  // rest on 5 seeds, which cannot order them.
  pairs.back().failed = true;
  r = SummarizeFidelity({"t"}, {"a", "b", "c"}, pairs);
  CHECK(r.resolved_pairs[0] == 0);
  const std::string md = FidelityMarkdown(r, "x");
  CHECK(md.find("| t | ") != std::string::npos);
  CHECK(md.find("pairs of policies the runs order: 0, predicted the other way: 0") != std::string::npos);
}

TEST_CASE("fidelity: a short run pairs every simulated cell with a run against the fake server",
          "[fidelity][fake_gcs]") {
  auto trace = SixReadsOfOneMiB();
  REQUIRE(trace.ok());
  RunPlan plan = OverFakeServer(*trace, "none,fsspec-readahead", {1, 2});
  auto report = RunFidelity(plan, {}, nullptr);
  REQUIRE(report.ok());
  CHECK(report->failed == 0);
  REQUIRE(report->pairs.size() == 4);
  for (const auto& p : report->pairs) {
    CHECK(p.predicted_s > 0);
    CHECK(p.measured_s > 0);
    CHECK(p.measured_s < p.predicted_s + 5);  // a sanity bound: real time on a loaded machine varies
  }
  // Six reads of 1 MiB, one GET each under `none`: 6 x (5 ms + 5.24 ms) predicted; real time is never
  // faster than the shaping.
  CHECK(report->pairs[0].predicted_s == Approx(6 * (0.005 + (1 << 20) / 200e6)).epsilon(0.01));
  CHECK(report->pairs[0].measured_s >= 6 * (0.005 + (1 << 20) / 200e6));

  plan.transport = TransportKind::kSim;
  CHECK_FALSE(RunFidelity(plan, {}, nullptr).ok());
}

TEST_CASE(
    "fidelity: --calibrate measures the request, byte and stream overheads through the engine and predicts "
    "with them",
    "[fidelity][fake_gcs]") {
  auto trace = SixReadsOfOneMiB();
  REQUIRE(trace.ok());
  RunPlan plan = OverFakeServer(*trace, "none", {1});
  FidelityOptions options;
  options.calibrate = true;
  options.calibration.probes = 10;
  options.calibration.bandwidth_probes = 1;
  options.calibration.bandwidth_bytes = 4 << 20;
  options.calibration.max_connections = 1;
  options.overhead_reads = 8;
  options.overhead_seeds = 1;
  auto report = RunFidelity(plan, options, nullptr);
  REQUIRE(report.ok());
  REQUIRE(report->calibrated);
  CHECK(report->failed == 0);
  const auto& c = report->calibration;
  const auto& p = report->predicted_with;
  // Real time is never faster than the shaping, and the engine adds its own on top of the server's.
  // Under a sanitizer the calibration's probes are slowed as much as the engine or more (the fitted
  // bandwidth can come out so low that the simulated twin is the slower one: ThreadSanitizer measured
  // -1.1 ms a request), so there the excess may take either sign, and a zero overhead, with no core
  // search, is a valid outcome too.
  // What a small read took beyond its prediction splits into a part per request and a part per MiB.
  if (kSanitized) {
    CHECK(std::isfinite(c.engine.small_per_request_s));
  } else {
    CHECK(c.engine.small_per_request_s > 0);
  }
  CHECK(c.engine.per_request_s >= 0);
  CHECK(c.engine.per_mib_s >= 0);
  CHECK(c.engine.per_request_s + c.engine.per_mib_s * 0.25 ==
        Approx(std::max(0.0, c.engine.small_per_request_s)).margin(1e-9));
  CHECK(c.small_read_bytes == 256 << 10);
  CHECK(c.large_read_bytes == 4 << 20);
  CHECK(c.engine.runs == 1);
  CHECK(c.engine.requests == 8);  // `none`: one GET a read
  // `gcsfuse` streamed the random reads: one stream for each read it could not serve from one open.
  CHECK(c.engine.streams >= 1);
  CHECK(c.engine.streams <= 8);
  CHECK(c.engine.per_stream_s >= 0);
  CHECK(c.engine.stream_low_s <= c.engine.stream_high_s);
  CHECK(p.request_overhead_ns == std::llround(c.engine.per_request_s * 1e9));
  CHECK(p.read_overhead_ns_per_mib == std::llround(c.engine.per_mib_s * 1e9));
  CHECK(p.stream_overhead_ns == std::llround(c.engine.per_stream_s * 1e9));
  CHECK(p.request_overhead_cores == c.engine.cores);
  if (p.request_overhead_ns > 0) {
    // No limit and every core count up to this host's were tried, no limit first, then down to 1.
    REQUIRE(c.engine.core_errors.size() >= 2);
    CHECK(c.engine.core_errors.front().first == 0);
    CHECK(c.engine.core_errors[1].first == c.engine.core_errors.size() - 1);
    CHECK(c.engine.core_errors.back().first == 1);
  } else {
    CHECK(c.engine.core_errors.empty());
    CHECK(p.request_overhead_cores == 0);
  }
  // The host's byte throughput: none when eight streams of large reads were not optimistic with no
  // limit; else between one stream's rate and eight streams', where their median error was nearest 0.
  CHECK(p.host_bandwidth_bytes_per_s == c.engine.host_bytes_per_s);
  if (c.engine.host_bytes_per_s > 0) {
    CHECK(c.engine.host_unlimited_error < 0);
    CHECK(c.engine.host_bytes_per_s >= std::floor(p.stream_bandwidth_bytes_per_s));
    CHECK(c.engine.host_bytes_per_s <= 8 * p.stream_bandwidth_bytes_per_s);
    CHECK(std::abs(c.engine.host_error) <= std::abs(c.engine.host_unlimited_error));
  } else {
    CHECK(c.engine.host_error == c.engine.host_unlimited_error);
  }
  // The latency distribution is the profile's (the server imposes it); the bandwidth was measured.
  CHECK(p.latency_median_ns == 5 * kMillisecond);
  CHECK(p.constant_latency());
  // Measured, so on a loaded machine or a sanitizer build it may fall short of the shaping, never
  // above it (accuracy is make bench-calibrate's job).
  CHECK(p.stream_bandwidth_bytes_per_s > 0);
  CHECK(p.stream_bandwidth_bytes_per_s <= 200e6 * 1.1);  // as [calibrate]: a piece end seen late
  // Connection setup: the loopback's handshake, timed (well under a millisecond here; a generous bound
  // for a loaded machine or a sanitizer build).
  CHECK(p.connect_overhead_ns > 0);
  CHECK(p.connect_overhead_ns < 50 * kMillisecond);
  // The prediction pays it: six reads of 1 MiB, one GET each, one at a time on the one connection the
  // first opens, and each MiB but the last read's before the next read.
  const double one =
      0.005 + static_cast<double>(p.request_overhead_ns) / 1e9 + (1 << 20) / p.stream_bandwidth_bytes_per_s;
  REQUIRE(report->pairs.size() == 1);
  CHECK(report->pairs[0].predicted_s == Approx(6 * one + 5 * static_cast<double>(p.read_overhead_ns_per_mib) / 1e9 +
                                               static_cast<double>(p.connect_overhead_ns) / 1e9)
                                            .margin(1e-6));
  const std::string md = FidelityMarkdown(*report, "x");
  CHECK(md.find("ms a new connection") != std::string::npos);
  CHECK(md.find("through the engine") != std::string::npos);
  CHECK(md.find("more a stream") != std::string::npos);
  CHECK(md.find("8 streams of large reads' median error") != std::string::npos);
}

}  // namespace
}  // namespace pflab::replay
