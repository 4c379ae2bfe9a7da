// Fidelity: how well the simulator predicts real runs. The same traces x policies x seeds run in the
// simulator (predicted) and in real time (measured: the fake server shaped by the same profile, or an
// endpoint whose profile was calibrated), and each pair is compared (`pflab fidelity`,
// docs/network.md#fidelity).
//
// Errors are signed, (predicted - measured) / measured, so a positive error is a pessimistic
// prediction. Per (trace, policy) the medians over seeds are compared, since a lognormal profile's
// draws differ between the simulator and the server (each draws its own), and only their distributions
// agree. Whether the policies' order on a trace is the same is Kendall's tau-b between the predicted
// and the measured medians. Medians a percent apart swap places from one set of seeds to the next, so
// tau alone cannot tell a wrong order from noise: the report also counts the pairs of policies whose
// measured runs order them beyond doubt (an exact two-sided sign test at the 5% level over the seeds,
// which pair the runs: with the same seed both meet the same latency draws) and how many of those the
// simulator puts the other way round.
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

/// The engine's time per request, measured by replaying a short trace with `none` for real and in
/// the simulator (paired draws) and dividing the difference by the requests; and how many cores work
/// on it, from four streams at once (docs/network.md#fidelity).
struct EngineOverhead {
  double per_request_s = 0;  // the fit over the runs of both read sizes (at least 0)
  double low_s = 0;          // the smallest and largest run of the small reads, less their bytes' time
  double high_s = 0;
  std::size_t runs = 0;
  std::uint64_t requests = 0;  // all runs of the small reads together
  // Per MiB a read delivers: the difference between the two read sizes' medians per request, divided
  // by the difference of their sizes in MiB (at least 0); and those medians.
  double per_mib_s = 0;
  double small_per_request_s = 0;
  double large_per_request_s = 0;
  // A stream's own setup: the median over `gcsfuse` runs (one stream a request) of what they took
  // beyond the prediction with the request and byte overheads, per stream (at least 0).
  double per_stream_s = 0;
  double stream_low_s = 0;
  double stream_high_s = 0;
  std::uint64_t streams = 0;                                  // all stream runs together
  std::uint32_t cores = 0;                                    // 0: no limit fitted better
  std::vector<std::pair<std::uint32_t, double>> core_errors;  // cores tried, the median error of each
  // The host's byte throughput, from eight streams of large reads at once: the limit at which their
  // prediction's median error is 0 (0: no limit, the prediction without one was not optimistic), that
  // error, and the error with no limit.
  double host_bytes_per_s = 0;
  double host_error = 0;
  double host_unlimited_error = 0;
};

/// What `--calibrate` measured.
struct FidelityCalibration {
  double probe_median_s = 0;           // the latency probes' first byte, median
  double probe_p99_s = 0;              // and the p99 of the lognormal fitted to them
  double server_overhead_s = 0;        // the median of each probe less its own latency draw: the server's own part
  EngineOverhead engine;               // the whole machinery's part: request, stream and read overheads
  std::uint64_t small_read_bytes = 0;  // the read sizes that separated the per-MiB cost
  std::uint64_t large_read_bytes = 0;
};

/// Everything compared, and the summary.
struct FidelityReport {
  std::vector<std::string> traces;    // names, by index
  std::vector<std::string> policies;  // spec texts, by index
  std::vector<FidelityPair> pairs;
  std::vector<FidelityGroup> groups;
  std::vector<double> tau;  // per trace: Kendall tau-b of the policies' medians
  // Per trace: the pairs of policies the measured runs order beyond doubt (MeasuredOrder), and those
  // of them whose predicted medians are the other way round or equal.
  std::vector<std::size_t> resolved_pairs;
  std::vector<std::size_t> resolved_discordant;
  double run_median_abs_error = 0;  // over the pairs that did not fail
  double run_worst_abs_error = 0;
  double group_median_abs_error = 0;  // over the groups
  double group_worst_abs_error = 0;
  double min_tau = 1;
  std::size_t failed = 0;
  sim::NetworkProfile predicted_with;  // the profile the simulator ran on
  bool calibrated = false;             // predicted_with's bandwidth and request overhead were measured
  FidelityCalibration calibration;     // when calibrated
};

/// How the prediction is made.
struct FidelityOptions {
  /// For the fake server: calibrate it first (an extra synthetic object, the same shaping) and predict
  /// with the fitted per-request bandwidth and the measured request overhead (the server's parsing and
  /// timers, the loopback, and the engine's own reader, fetcher and HTTP client), on the profile's
  /// first-byte latency distribution, which the server imposes.
  bool calibrate = false;
  CalibrationOptions calibration;
  /// The trace that measures the request overhead: `overhead_reads` random reads of
  /// `overhead_read_bytes` with `none`, over `overhead_seeds` seeds.
  std::uint32_t overhead_reads = 32;
  std::uint64_t overhead_read_bytes = 256 << 10;
  std::uint32_t overhead_seeds = 5;
  /// The same trace with reads of this size separates the per-MiB cost from the per-request one.
  std::uint64_t overhead_large_read_bytes = 4 << 20;
};

/// Kendall's tau-b of two equally long lists (ties count in neither direction); 1 with fewer than two
/// items or when either list is all ties.
double KendallTauB(const std::vector<double>& a, const std::vector<double>& b);

/// Whether paired runs (a[i] and b[i] with the same seed) order `a` before `b` beyond doubt: -1 when
/// `a` is faster (smaller), +1 when slower, 0 when an exact two-sided sign test over the pairs that
/// differ does not reject "either is as likely to be faster" at the 5% level (with 10 seeds: one
/// faster on at least 9 of them).
int MeasuredOrder(const std::vector<double>& a, const std::vector<double>& b);

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
