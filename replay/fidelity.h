// Fidelity: how well the simulator predicts real runs. The same traces x policies x seeds run in the
// simulator (predicted) and in real time (measured: the fake server shaped by the same profile, or an
// endpoint whose profile was calibrated), and each pair is compared (`pflab fidelity`,
// docs/network.md#fidelity).
//
// Errors are signed, (predicted - measured) / measured, so a positive error is a pessimistic
// prediction. Per (trace, policy) the medians over seeds are compared, since a lognormal profile's
// draws differ between the simulator and the server (each draws its own), and only their distributions
// agree. Whether the policies' order on a trace is the same is Kendall's tau-b between the predicted
// and the measured medians.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "replay/calibrate.h"
#include "replay/matrix.h"

namespace pflab::replay {

/// One cell run both ways.
struct FidelityPair {
  std::size_t trace = 0;
  std::size_t policy = 0;
  std::uint64_t seed = 0;
  double predicted_s = 0;
  double measured_s = 0;
  bool failed = false;  // either run failed: left out of the errors
  double error() const { return (predicted_s - measured_s) / measured_s; }
};

/// One trace and policy over the seeds.
struct FidelityGroup {
  std::size_t trace = 0;
  std::size_t policy = 0;
  double predicted_median_s = 0;
  double measured_median_s = 0;
  double error() const { return (predicted_median_s - measured_median_s) / measured_median_s; }
};

/// Everything compared, and the summary.
struct FidelityReport {
  std::vector<std::string> traces;    // names, by index
  std::vector<std::string> policies;  // spec texts, by index
  std::vector<FidelityPair> pairs;
  std::vector<FidelityGroup> groups;
  std::vector<double> tau;          // per trace: Kendall tau-b of the policies' medians
  double run_median_abs_error = 0;  // over the pairs that did not fail
  double run_worst_abs_error = 0;
  double group_median_abs_error = 0;  // over the groups
  double group_worst_abs_error = 0;
  double min_tau = 1;
  std::size_t failed = 0;
  sim::NetworkProfile predicted_with;  // the profile the simulator ran on
  bool calibrated = false;             // predicted_with's latency and bandwidth were measured first
};

/// How the prediction is made.
struct FidelityOptions {
  /// For the fake server: calibrate it first (an extra synthetic object, the same shaping) and predict
  /// with the fitted first-byte latency and per-request bandwidth instead of the profile's, so that the
  /// server's own overhead per request (parsing, timers, the loopback) is in the model.
  bool calibrate = false;
  CalibrationOptions calibration;
};

/// Kendall's tau-b of two equally long lists (ties count in neither direction); 1 with fewer than two
/// items or when either list is all ties.
double KendallTauB(const std::vector<double>& a, const std::vector<double>& b);

/// Builds the report from the pairs (pure).
FidelityReport SummarizeFidelity(std::vector<std::string> traces, std::vector<std::string> policies,
                                 std::vector<FidelityPair> pairs);

/// Runs `plan` (transport kFake or kHttp) in the simulator and then for real, and compares.
/// `progress` gets a line per finished real run.
Result<FidelityReport> RunFidelity(const RunPlan& plan, const FidelityOptions& options,
                                   const std::function<void(const std::string&)>& progress);

/// The report as Markdown: per (trace, policy) the medians and error, per trace tau, then the summary.
std::string FidelityMarkdown(const FidelityReport& report, const std::string& title);

}  // namespace pflab::replay
