// `pflab diff`: matching, medians, the significance test, the regression rule and the exit status.
#include "reports/diff.h"

#include <catch2/catch.hpp>

#include "replay/bound.h"

namespace pflab::reports {
namespace {

replay::RunResult Run(const std::string& trace, const std::string& policy, std::uint64_t seed, double elapsed,
                      std::uint64_t fetched = 1000) {
  replay::RunResult r;
  r.trace = trace;
  r.policy = policy;
  r.profile = "gcs-regional";
  r.think = "recorded";
  r.seed = seed;
  r.metrics.elapsed_s = elapsed;
  r.metrics.bytes_fetched = fetched;
  r.metrics.requests = 10;
  r.metrics.peak_memory_bytes = 1 << 20;
  return r;
}

ResultsDocument Doc(std::uint64_t seeds, double a_elapsed, double b_elapsed, const std::string& commit) {
  ResultsDocument doc;
  for (std::uint64_t s = 1; s <= seeds; ++s) {
    const double jitter = 0.01 * static_cast<double>(s);
    doc.runs.push_back(Run("t", "none", s, 10 + jitter));
    doc.runs.push_back(Run("t", replay::kBoundPolicy, s, 1));
    doc.runs.push_back(Run("t", "a", s, a_elapsed + jitter));
    doc.runs.push_back(Run("t", "b", s, b_elapsed + jitter, 2000));
  }
  doc.config = {{"seeds", seeds},
                {"provenance",
                 {{"pflab_version", "0.1.0"},
                  {"commit", commit},
                  {"dirty", false},
                  {"traces", {{{"name", "t"}, {"md5", "abc"}}}}}}};
  return doc;
}

const DiffRow& Row(const DiffResult& d, const std::string& policy) {
  for (const auto& r : d.rows) {
    if (r.policy == policy) return r;
  }
  FAIL("no row for " << policy);
  return d.rows.front();
}

TEST_CASE("diff: a significant slowdown beyond the threshold is a regression", "[reports][diff]") {
  // Five seeds: a is 20% slower on every seed (significant), b 1% faster (under the threshold).
  const auto base = Doc(5, 2.0, 3.0, "aaa"), now = Doc(5, 2.4, 2.97, "bbb");
  const DiffOptions options;
  const auto d = Diff(base, now, options);
  REQUIRE(d.rows.size() == 4);
  const DiffRow& a = Row(d, "a");
  CHECK(a.seeds.size() == 5);
  CHECK(a.base_elapsed == Approx(2.03));
  CHECK(a.new_elapsed == Approx(2.43));
  CHECK(a.testable);
  CHECK(a.significant);
  CHECK(a.test.p == Approx(2.0 / 252));
  CHECK(a.regression);
  const DiffRow& b = Row(d, "b");
  CHECK_FALSE(b.regression);
  CHECK_FALSE(b.improvement);
  CHECK(d.regressions == 1);
  const std::string text = RenderDiff(d, options);
  CHECK_THAT(text, Catch::Contains("SLOWER") && Catch::Contains("Mann-Whitney U") && Catch::Contains("level 0.05") &&
                       Catch::Contains("1 regression(s), 0 improvement(s) of 4 compared") &&
                       Catch::Contains("base: pflab 0.1.0 at aaa") && Catch::Contains("new: pflab 0.1.0 at bbb"));
  CHECK_THAT(RenderDiffMarkdown(d, options), Catch::Contains("**SLOWER**"));
  // A higher threshold lets it pass.
  CHECK(Diff(base, now, DiffOptions{0.25, 0.05}).regressions == 0);
}

TEST_CASE("diff: with too few seeds the threshold alone decides, and the test says n/a", "[reports][diff]") {
  const auto d = Diff(Doc(1, 2.0, 3.0, "x"), Doc(1, 1.0, 3.5, "x"), DiffOptions{});
  const DiffRow& a = Row(d, "a");
  CHECK_FALSE(a.testable);
  CHECK(a.improvement);
  CHECK(Row(d, "b").regression);
  CHECK_THAT(RenderDiff(d, DiffOptions{}), Catch::Contains("n/a (1 seeds)"));
}

TEST_CASE("diff: a change the seeds cannot confirm is no regression", "[reports][diff]") {
  // Four seeds each; the new values interleave with the old ones: the median moves 10% but p is large.
  ResultsDocument base, now;
  for (std::uint64_t s = 1; s <= 4; ++s) {
    base.runs.push_back(Run("t", "a", s, s % 2 ? 1.0 : 2.0));
    now.runs.push_back(Run("t", "a", s, s % 2 ? 1.1 : 2.2));
  }
  const auto d = Diff(base, now, DiffOptions{});
  const DiffRow& a = Row(d, "a");
  CHECK(a.change == Approx(0.1));
  CHECK(a.testable);
  CHECK_FALSE(a.significant);
  CHECK_FALSE(a.regression);
}

TEST_CASE("diff: only the seeds both ran are compared; unmatched runs and provenance are listed", "[reports][diff]") {
  auto base = Doc(5, 2.0, 3.0, "aaa");
  auto now = Doc(3, 2.0, 3.0, "aaa");
  now.runs.push_back(Run("t", "new-policy", 1, 1));
  now.config["provenance"]["traces"][0]["md5"] = "def";
  now.config["profile_parameters"] = {{"latency_min_ms", 5}};
  const auto d = Diff(base, now, DiffOptions{});
  CHECK(Row(d, "a").seeds == std::vector<std::uint64_t>{1, 2, 3});
  CHECK(d.only_in_new == std::vector<std::string>{"t x new-policy"});
  CHECK(d.only_in_base.empty());
  bool trace_note = false, profile_note = false;
  for (const auto& n : d.notes) {
    trace_note |= n.find("trace t has different content") != std::string::npos;
    profile_note |= n.find("profile's numbers differ") != std::string::npos;
  }
  CHECK(trace_note);
  CHECK(profile_note);
  // The bound moving is reported but is not a regression.
  for (auto& r : now.runs) {
    if (r.policy == replay::kBoundPolicy) r.metrics.elapsed_s = 1.5;
  }
  const auto moved = Diff(base, now, DiffOptions{});
  CHECK_FALSE(Row(moved, replay::kBoundPolicy).regression);
  CHECK(Row(moved, replay::kBoundPolicy).reference);
}

TEST_CASE("diff: files with no run in common say which of trace, profile, think mode and policy differs",
          "[reports][diff]") {
  const ResultsDocument base = Doc(3, 12, 13, "aaa");
  ResultsDocument other_trace = base;
  for (auto& r : other_trace.runs) r.trace = "u";
  CHECK(NothingInCommon(base, other_trace) == "no trace is in both files (base: t; new: u)");
  ResultsDocument other_profile = base;
  for (auto& r : other_profile.runs) r.profile = "local-fast";
  CHECK(Diff(base, other_profile, DiffOptions{}).rows.empty());
  CHECK(NothingInCommon(base, other_profile) == "no profile is in both files (base: gcs-regional; new: local-fast)");
  ResultsDocument other_think = base;
  for (auto& r : other_think.runs) r.think = "zero";
  CHECK(NothingInCommon(base, other_think) == "no think mode is in both files (base: recorded; new: zero)");
  ResultsDocument other_policies;
  other_policies.runs = {Run("t", "c", 1, 5), Run("t", "d", 1, 5)};
  CHECK(NothingInCommon(base, other_policies) == "no policy is in both files (base: a, b, bound, none; new: c, d)");
  // Every field shared, but never together: the trace of one with the profile of the other.
  ResultsDocument crossed;
  crossed.runs = {Run("t", "a", 1, 5), Run("u", "a", 1, 5)};
  crossed.runs[0].profile = "local-fast";
  ResultsDocument plain;
  plain.runs = {Run("u", "b", 1, 5), Run("t", "a", 1, 5)};
  plain.runs[1].profile = "gcs-cross-region";
  plain.runs[0].profile = "local-fast";
  CHECK(NothingInCommon(crossed, plain) == "no policy is in both files (base: a; new: b)");
  // Every field shared, even narrowed in the key's order, yet no run matches another.
  plain.runs[0].policy = "a";
  crossed.runs.push_back(Run("u", "c", 1, 5));
  plain.runs.push_back(Run("t", "c", 1, 5));
  plain.runs.back().profile = "local-fast";
  CHECK(Diff(crossed, plain, DiffOptions{}).rows.empty());
  CHECK(NothingInCommon(crossed, plain) == "no trace, profile, think mode and policy is in both files");
}

}  // namespace
}  // namespace pflab::reports
