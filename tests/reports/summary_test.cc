// Statistics over seeds and the summaries every report reads: medians, exact Mann-Whitney U p-values
// (checked against values worked by hand and published tables), ratios per seed, winners, warnings.
#include "reports/summary.h"

#include <catch2/catch.hpp>

#include "replay/bound.h"
#include "reports/results.h"

namespace pflab::reports {
namespace {

replay::RunResult Run(const std::string& trace, const std::string& policy, std::uint64_t seed, double elapsed) {
  replay::RunResult r;
  r.trace = trace;
  r.policy = policy;
  r.profile = "gcs-regional";
  r.think = "recorded";
  r.seed = seed;
  r.metrics.elapsed_s = elapsed;
  r.metrics.reads = 4;
  r.metrics.bytes_read = 4000;
  r.metrics.bytes_fetched = 4000;
  r.metrics.peak_memory_bytes = static_cast<std::uint64_t>(elapsed * 1000);
  return r;
}

TEST_CASE("stats: median and geometric mean", "[reports][stats]") {
  CHECK(Median({}) == 0);
  CHECK(Median({3}) == 3);
  CHECK(Median({5, 1, 3}) == 3);
  CHECK(Median({4, 1, 3, 2}) == 2.5);
  CHECK(GeometricMean({1, 4, 16}) == Approx(4));
  CHECK(GeometricMean({}) == 0);
}

TEST_CASE("stats: exact Mann-Whitney U p-values", "[reports][stats]") {
  // Complete separation of 5 and 5: U = 0, p = 2 / C(10, 5) = 2/252.
  auto sep = MannWhitneyU({1, 2, 3, 4, 5}, {6, 7, 8, 9, 10});
  CHECK(sep.u == 0);
  CHECK(sep.p == Approx(2.0 / 252));
  CHECK(sep.exact);
  CHECK(sep.min_p == Approx(2.0 / 252));
  // Symmetric in its arguments (U becomes n*m - U, p is the same).
  auto rev = MannWhitneyU({6, 7, 8, 9, 10}, {1, 2, 3, 4, 5});
  CHECK(rev.u == 25);
  CHECK(rev.p == Approx(sep.p));
  // 3 and 3 can never reach 0.05: the smallest p is 2/20 = 0.1.
  CHECK(MinimumUTestP(3, 3) == Approx(0.1));
  CHECK(MinimumUTestP(4, 4) == Approx(2.0 / 70));
  CHECK(MannWhitneyU({1, 2, 3}, {4, 5, 6}).p == Approx(0.1));
  // One swap out of complete separation (4 and 4): U = 1; P(U <= 1) = 2/70, two-sided 4/70.
  CHECK(MannWhitneyU({1, 2, 3, 5}, {4, 6, 7, 8}).p == Approx(4.0 / 70));
  // Identical samples cannot be told apart.
  CHECK(MannWhitneyU({2, 2, 2}, {2, 2, 2}).p == 1);
  // Ties across the samples: {1, 1} vs {1, 2}: midranks 2, 2 | 2, 4; the doubled rank sums of all six
  // 2-subsets of {4, 4, 4, 8} are 8 (three ways) and 12 (three ways); E = 10; observed 8: p = 1.
  CHECK(MannWhitneyU({1, 1}, {1, 2}).p == Approx(1.0));
  // Deterministic runs on different seeds giving constant but different values are told apart.
  CHECK(MannWhitneyU({2, 2, 2, 2, 2}, {3, 3, 3, 3, 3}).p == Approx(2.0 / 252));
  // Large samples use the normal approximation and agree roughly with the exact p.
  std::vector<double> a, b;
  for (int i = 0; i < 40; ++i) {
    a.push_back(i);
    b.push_back(i + 10.5);
  }
  auto big = MannWhitneyU(a, b);
  CHECK_FALSE(big.exact);
  CHECK(big.p < 0.05);
  CHECK(big.p > 0.0001);
}

TEST_CASE("summary: medians over seeds, ratios per seed, spread and the winner", "[reports]") {
  std::vector<replay::RunResult> runs;
  // Seeds 1..5: none takes 10+s, the bound 1, the oracle 2, a and b close to each other, c far away.
  for (std::uint64_t s = 1; s <= 5; ++s) {
    const double k = static_cast<double>(s);
    runs.push_back(Run("t", "none", s, 10 + k));
    runs.push_back(Run("t", replay::kBoundPolicy, s, 1));
    runs.push_back(Run("t", "oracle", s, 2));
    runs.push_back(Run("t", "a", s, 3 + 0.1 * k));
    runs.push_back(Run("t", "b", s, 3.05 + 0.1 * k));
    runs.push_back(Run("t", "c", s, 6 + k));
  }
  const auto traces = Summarize(runs);
  REQUIRE(traces.size() == 1);
  const TraceSummary& t = traces[0];
  CHECK(t.seeds == std::vector<std::uint64_t>{1, 2, 3, 4, 5});
  CHECK(t.label == "t");
  const PolicyCell* a = t.Find("a");
  REQUIRE(a);
  CHECK(a->elapsed_median == Approx(3.3));
  CHECK(a->elapsed_min == Approx(3.1));
  CHECK(a->elapsed_max == Approx(3.5));
  CHECK(*a->vs_bound == Approx(3.3));
  CHECK(*a->vs_oracle == Approx(1.65));
  // Per seed: 3.1/11, 3.2/12, ... ; the median is the third, 3.3/13.
  CHECK(*a->vs_none == Approx(3.3 / 13));
  // References never win; a and b cannot be told apart (interleaved), a and c can.
  REQUIRE(t.winner >= 0);
  CHECK(t.cells[static_cast<std::size_t>(t.winner)].policy == "a");
  CHECK(t.cells[static_cast<std::size_t>(t.runner_up)].policy == "b");
  CHECK(t.winner_test.p > 0.05);
  CHECK_THAT(TellApart(t), Catch::StartsWith("no (p="));
  // With one seed the test cannot decide, and says so.
  std::vector<replay::RunResult> one = {Run("u", "none", 1, 2), Run("u", "x", 1, 1)};
  CHECK_THAT(TellApart(Summarize(one)[0]), Catch::StartsWith("too few seeds (1 per policy"));
  // The overview: geometric means relative to the bound over traces, and wins.
  const auto overview = Overview(traces);
  auto find = [&](const std::string& p) {
    return *std::find_if(overview.begin(), overview.end(), [&](const PolicyOverview& o) { return o.policy == p; });
  };
  CHECK(find("a").wins == 1);
  CHECK(find("a").geomean_vs_bound == Approx(3.3));
  CHECK(find("oracle").wins == 0);
  CHECK(std::none_of(overview.begin(), overview.end(),
                     [](const PolicyOverview& o) { return o.policy == replay::kBoundPolicy; }));
}

TEST_CASE("summary: runs are told apart when the seeds allow it, whatever their order", "[reports]") {
  std::vector<replay::RunResult> runs;
  for (std::uint64_t s = 1; s <= 5; ++s) {
    runs.push_back(Run("t", "slow", s, 5 + 0.01 * static_cast<double>(s)));
    runs.push_back(Run("t", "fast", 6 - s, 1 + 0.01 * static_cast<double>(s)));
  }
  auto t = Summarize(runs)[0];
  CHECK(t.cells[static_cast<std::size_t>(t.winner)].policy == "fast");
  CHECK(t.winner_test.p == Approx(2.0 / 252));
  CHECK_THAT(TellApart(t), Catch::StartsWith("yes (p=0.008"));
  std::reverse(runs.begin(), runs.end());
  auto again = Summarize(runs)[0];
  CHECK(again.cells[static_cast<std::size_t>(again.winner)].policy == "fast");
  CHECK(again.cells[static_cast<std::size_t>(again.winner)].elapsed == t.Find("fast")->elapsed);
}

TEST_CASE("summary: warnings name a policy that beat the oracle, and a run under the bound", "[reports]") {
  std::vector<replay::RunResult> runs = {Run("t", "oracle", 3, 2.0), Run("t", "quick", 3, 1.9),
                                         Run("t", "close", 3, 1.99), Run("t", replay::kBoundPolicy, 3, 1.5),
                                         Run("t", "impossible", 3, 1.0)};
  runs.push_back(Run("t", "failed", 3, 0.5));
  runs.back().metrics.reads_failed = 1;
  const auto warnings = YardstickWarnings(runs);
  REQUIRE(warnings.size() == 3);
  CHECK_THAT(warnings[0], Catch::Contains("quick beat the oracle") && Catch::Contains("trace t") &&
                              Catch::Contains("profile gcs-regional") && Catch::Contains("seed 3") &&
                              Catch::Contains("5.0% faster"));
  CHECK_THAT(warnings[1], Catch::StartsWith("error: impossible") && Catch::Contains("under the bound"));
  CHECK_THAT(warnings[2], Catch::Contains("impossible beat the oracle"));
  // A run that stopped before its last read is named, and compared with nothing.
  std::vector<replay::RunResult> stopped = {Run("t", replay::kBoundPolicy, 3, 1.5), Run("t", "hung", 3, 0.1)};
  stopped[1].metrics.reads = 2;
  const auto stopped_warnings = YardstickWarnings(stopped);
  REQUIRE(stopped_warnings.size() == 1);
  CHECK_THAT(stopped_warnings[0], Catch::Contains("hung delivered only 2 of 4 reads"));
  // Measured runs (fake server, live GCS): no oracle line, one real run varies by more than 1%.
  const auto measured_warnings = YardstickWarnings(runs, /*measured=*/true);
  REQUIRE(measured_warnings.size() == 1);
  CHECK_THAT(measured_warnings[0], Catch::StartsWith("error: impossible"));
  CHECK(YardstickWarnings(stopped, /*measured=*/true).size() == 1);
  // Within 1% of the oracle, or with failed reads, is no warning.
  for (const auto& w : warnings) {
    CHECK(w.find("close") == std::string::npos);
    CHECK(w.find("failed") == std::string::npos);
  }
}

TEST_CASE("reports: console and Markdown show vs bound, medians and the overview", "[reports]") {
  std::vector<replay::RunResult> runs;
  for (std::uint64_t s = 1; s <= 3; ++s) {
    for (const char* trace : {"t1", "t2"}) {
      runs.push_back(Run(trace, "none", s, 4 + static_cast<double>(s)));
      runs.push_back(Run(trace, replay::kBoundPolicy, s, 1));
      runs.push_back(Run(trace, "x", s, 2 * static_cast<double>(s)));
    }
  }
  const std::string console = RenderConsole(runs);
  CHECK_THAT(console, Catch::Contains("vs bound") && Catch::Contains("min..max s") &&
                          Catch::Contains("median of 3 seeds (1..3)"));
  // x on t1: elapsed 2, 4, 6: median 4, spread 2..6, 4x the bound.
  CHECK_THAT(console, Catch::Contains("4.000  2.000..6.000"));
  CHECK_THAT(console, Catch::Contains("overview: elapsed relative to bound"));
  // The bound's row shows "-" where it bounds nothing.
  CHECK_THAT(console, Catch::Contains("bound") && Catch::Contains("1.00x"));
  const std::string md = RenderMarkdown(runs, "T");
  CHECK_THAT(md, Catch::Contains("## Overview") && Catch::Contains("| trace | bound s | none | oracle | winner |") &&
                     Catch::Contains("| policy | geomean x bound | traces | wins |") &&
                     Catch::Contains("3 seeds (1..3)") && Catch::Contains("Mann-Whitney U"));
  CHECK(md.find("## Overview") < md.find("## t1"));
}

}  // namespace
}  // namespace pflab::reports
