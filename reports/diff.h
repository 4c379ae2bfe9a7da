// `pflab diff BASE.json NEW.json`: what a change does to the numbers. Runs are matched by trace,
// profile, think time and policy; for each pair the medians over the seeds both documents ran are
// compared (elapsed, bytes fetched, requests, peak memory), and the elapsed times of those seeds are put
// to a two-sided Mann-Whitney U test (reports/stats.h).
//
// A pair is a regression when the median elapsed grew by more than the threshold and, where the seeds
// allow the test to reach the level (4 or more per side), the test is significant at that level; with
// fewer seeds the threshold alone decides (the simulator is deterministic, so a change on one seed is
// real for that seed, but may not hold for others: run more seeds to know). An improvement is the
// mirror image. Reference rows (`bound`, `oracle`) are compared like the others but never count as
// regressions or improvements: they move when the model or the oracle changes, not the policy.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "reports/results.h"
#include "reports/stats.h"

namespace pflab::reports {

/// How `Diff` judges a change.
struct DiffOptions {
  double threshold = 0.05;  // relative change of median elapsed that counts (0.05: 5%)
  double alpha = 0.05;      // significance level of the U test
};

/// One (trace, policy) present in both documents.
struct DiffRow {
  std::string trace;  // label, with profile and think time when the documents hold several
  std::string policy;
  std::vector<std::uint64_t> seeds;          // seeds compared (those both ran)
  double base_elapsed = 0, new_elapsed = 0;  // medians over `seeds`
  double change = 0;                         // new / base - 1 (0 when base is 0)
  double base_fetched = 0, new_fetched = 0;  // bytes, medians
  double base_requests = 0, new_requests = 0;
  double base_memory = 0, new_memory = 0;  // peak memory bytes, medians
  UTest test;
  bool testable = false;     // the seeds let the test reach alpha
  bool significant = false;  // testable and p < alpha
  bool reference = false;    // bound or oracle
  bool regression = false;
  bool improvement = false;
};

/// Everything `pflab diff` prints.
struct DiffResult {
  std::vector<DiffRow> rows;
  std::vector<std::string> only_in_base;  // "trace x policy" not in the new document
  std::vector<std::string> only_in_new;
  std::vector<std::string> notes;  // provenance differences (commits, profile numbers, trace contents)
  std::size_t regressions = 0;
  std::size_t improvements = 0;
};

DiffResult Diff(const ResultsDocument& base, const ResultsDocument& now, const DiffOptions& options);
/// Why two documents have no run in common (Diff compares runs of one trace, profile, think mode and
/// policy): the first of those that no run of both shares, with what each side has.
std::string NothingInCommon(const ResultsDocument& base, const ResultsDocument& now);

/// The console table and verdict lines.
std::string RenderDiff(const DiffResult& diff, const DiffOptions& options);
/// The same as a Markdown section, for a pull request.
std::string RenderDiffMarkdown(const DiffResult& diff, const DiffOptions& options);

}  // namespace pflab::reports
