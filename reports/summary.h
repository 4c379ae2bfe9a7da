// Runs grouped for reading: per trace, each policy over its seeds (median, spread, ratios to the
// references of the same seed), the winner and runner-up per trace and whether the seeds tell them
// apart, and each policy's geometric mean relative to the bound over the traces. Every report
// (console, Markdown, HTML) and the sweep summary read this, so they agree.
//
// Conventions, stated once here and in docs/reports.md:
// - A ratio (vs none, vs oracle, vs bound) is taken per seed against the reference run of the same
//   trace, profile, think time and seed, then the median over seeds is shown.
// - The spread is min..max over seeds (with 5 seeds a 95% interval would be no narrower).
// - Two policies are told apart when a two-sided Mann-Whitney U test over their per-seed elapsed times
//   gives p < kSignificance (reports/stats.h); with too few seeds for that (fewer than 4 per side) the
//   report says so instead.
// - The winner of a trace is the policy with the lowest median elapsed, among the policies under
//   study: `bound` and `oracle` are references and never win; `none` can.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "replay/simulation.h"
#include "reports/stats.h"

namespace pflab::reports {

/// The level of every significance test in the reports.
inline constexpr double kSignificance = 0.05;
/// A policy faster than the oracle by more than this fraction (on a run without failed reads) is
/// reported as a gap in the oracle.
inline constexpr double kOracleGapFraction = 0.01;

/// One policy on one trace, over its seeds.
struct PolicyCell {
  std::string policy;
  std::vector<const replay::RunResult*> runs;  // one per seed, in seed order
  std::vector<double> elapsed;                 // per seed, parallel to `runs`
  double elapsed_median = 0;
  double elapsed_min = 0;
  double elapsed_max = 0;
  std::optional<double> vs_none, vs_oracle, vs_bound;  // medians over seeds of the per-seed ratios
  replay::Metrics median;                              // every metric's median over seeds
  std::uint64_t reads_failed = 0;                      // over all seeds
  std::size_t runs_failed = 0;                         // runs with failed reads or wrong bytes
  std::uint64_t reads_wrong = 0;                       // over all seeds
  std::size_t runs_hung = 0;                           // runs with reads that never completed
  bool reference() const;                              // bound or oracle
};

/// One trace (with one profile and think time) and every policy that ran on it.
struct TraceSummary {
  std::string trace;
  std::string label;  // the trace, plus " (profile)" when the runs hold several profiles or think times
  std::string profile;
  std::string think;
  std::vector<std::uint64_t> seeds;  // every seed of the group, ascending
  std::vector<PolicyCell> cells;     // policies in first-seen order
  const PolicyCell* Find(const std::string& policy) const;
  const PolicyCell* bound() const;
  const PolicyCell* none() const;
  const PolicyCell* oracle() const;
  // The two fastest policies under study (indices into `cells`; -1 when absent), and the test of one
  // against the other over the seeds.
  int winner = -1;
  int runner_up = -1;
  UTest winner_test;
};

/// Groups `runs` by (trace, profile, think), in first-seen order.
std::vector<TraceSummary> Summarize(const std::vector<replay::RunResult>& runs);

/// A policy across the traces of a summary.
struct PolicyOverview {
  std::string policy;
  double geomean_vs_bound = 0;  // geometric mean over traces of the median vs bound (0: never)
  std::size_t traces = 0;       // traces that gave a vs bound ratio
  std::size_t wins = 0;         // traces it won
};
/// Every policy (references included, `bound` left out) in first-seen order.
std::vector<PolicyOverview> Overview(const std::vector<TraceSummary>& traces);

/// Whether the winner and runner-up can be told apart: "yes (p=0.008)", "no (p=0.42)", or "too few seeds
/// (N per policy; the test needs 4)".
std::string TellApart(const TraceSummary& trace);

/// One line per run where a policy beat the oracle by more than kOracleGapFraction (neither run with
/// failed reads), naming trace, policy, profile and seed; and one per run that finished under the
/// bound (which would be a bug in the bound or in the simulator). `measured`: the runs' times were
/// measured (`--transport fake|http`), so no oracle line: one real run's time varies by more than the
/// 1% a warning needs, and the oracle's plan is only exact in the simulator's model.
std::vector<std::string> YardstickWarnings(const std::vector<replay::RunResult>& runs, bool measured = false);

}  // namespace pflab::reports
