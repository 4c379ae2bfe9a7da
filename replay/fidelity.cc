#include "replay/fidelity.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <mutex>

#include "net/gcs_objects.h"
#include "replay/fake_server.h"

namespace pflab::replay {
namespace {

double MedianOf(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

std::string Percent(double x) {
  char text[32];
  std::snprintf(text, sizeof text, "%+.1f%%", x * 100);
  return text;
}

}  // namespace

double KendallTauB(const std::vector<double>& a, const std::vector<double>& b) {
  const std::size_t n = std::min(a.size(), b.size());
  double concordant = 0, discordant = 0, ties_a = 0, ties_b = 0;
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t j = i + 1; j < n; ++j) {
      const double da = a[i] - a[j], db = b[i] - b[j];
      if (da == 0 && db == 0) continue;
      if (da == 0) {
        ++ties_a;
      } else if (db == 0) {
        ++ties_b;
      } else if ((da > 0) == (db > 0)) {
        ++concordant;
      } else {
        ++discordant;
      }
    }
  }
  const double denominator = std::sqrt((concordant + discordant + ties_a) * (concordant + discordant + ties_b));
  return denominator == 0 ? 1.0 : (concordant - discordant) / denominator;
}

FidelityReport SummarizeFidelity(std::vector<std::string> traces, std::vector<std::string> policies,
                                 std::vector<FidelityPair> pairs) {
  FidelityReport r;
  r.traces = std::move(traces);
  r.policies = std::move(policies);
  r.pairs = std::move(pairs);
  std::vector<double> abs_errors;
  std::map<std::pair<std::size_t, std::size_t>, std::pair<std::vector<double>, std::vector<double>>> by_group;
  for (const auto& p : r.pairs) {
    if (p.failed || p.measured_s <= 0) {
      ++r.failed;
      continue;
    }
    abs_errors.push_back(std::abs(p.error()));
    auto& g = by_group[{p.trace, p.policy}];
    g.first.push_back(p.predicted_s);
    g.second.push_back(p.measured_s);
  }
  r.run_median_abs_error = MedianOf(abs_errors);
  r.run_worst_abs_error = abs_errors.empty() ? 0 : *std::max_element(abs_errors.begin(), abs_errors.end());
  std::vector<double> group_errors;
  for (const auto& [key, values] : by_group) {
    FidelityGroup g{key.first, key.second, MedianOf(values.first), MedianOf(values.second)};
    group_errors.push_back(std::abs(g.error()));
    r.groups.push_back(g);
  }
  r.group_median_abs_error = MedianOf(group_errors);
  r.group_worst_abs_error = group_errors.empty() ? 0 : *std::max_element(group_errors.begin(), group_errors.end());
  for (std::size_t t = 0; t < r.traces.size(); ++t) {
    std::vector<double> predicted, measured;
    for (const auto& g : r.groups) {
      if (g.trace != t) continue;
      predicted.push_back(g.predicted_median_s);
      measured.push_back(g.measured_median_s);
    }
    r.tau.push_back(KendallTauB(predicted, measured));
  }
  r.min_tau = r.tau.empty() ? 1 : *std::min_element(r.tau.begin(), r.tau.end());
  return r;
}

namespace {

// The profile with its first-byte latency and per-request bandwidth measured on a fake server shaped
// like it (started here, as RunMatrix starts the one the real runs use).
Result<sim::NetworkProfile> CalibrateFakeServer(const RunPlan& plan, const CalibrationOptions& options,
                                                const std::function<void(const std::string&)>& progress) {
  auto server = StartFakeServer(plan.traces, plan.profile, plan.seeds.front());
  if (!server) return server.error();
  const std::string bucket = "pflab-calibration", name = "object";
  if (auto put = (*server)->store().PutSynthetic(bucket, name, 256 << 20); !put) return put.error();
  auto target = ParseCalibrationTarget((*server)->endpoint() + "/" + bucket + "/" + name);
  if (!target) return target.error();
  auto meta =
      GcsObjectClient(target->endpoint, TlsOptions{options.http.ca_file}, options.http.credentials).Get(bucket, name);
  if (!meta) return meta.error();
  auto probe_plan = PlanCalibration(options, meta->size);
  if (!probe_plan) return probe_plan.error();
  auto seen = RunProbes(*target, ObjectRef{bucket, name, meta->generation, meta->size}, *probe_plan, options);
  if (!seen) return seen.error();
  auto fit = FitCalibration(*seen, plan.profile, options.seed);
  if (!fit) return fit.error();
  sim::NetworkProfile p = plan.profile;
  p.latency_median_ns = fit->profile.latency_median_ns;
  p.latency_p99_ns = fit->profile.latency_p99_ns;
  p.latency_min_ns = fit->profile.latency_min_ns;
  p.stream_bandwidth_bytes_per_s = fit->profile.stream_bandwidth_bytes_per_s;
  if (progress) {
    char line[256];
    std::snprintf(line, sizeof line,
                  "calibrated the fake server: first byte median %.3f ms, p99 %.3f ms, min %.3f ms; %.2f MB/s a "
                  "request",
                  static_cast<double>(p.latency_median_ns) / 1e6, static_cast<double>(p.latency_p99_ns) / 1e6,
                  static_cast<double>(p.latency_min_ns) / 1e6, p.stream_bandwidth_bytes_per_s / 1e6);
    progress(line);
  }
  return p;
}

}  // namespace

Result<FidelityReport> RunFidelity(const RunPlan& plan, const FidelityOptions& options,
                                   const std::function<void(const std::string&)>& progress) {
  if (plan.transport == TransportKind::kSim) return InvalidArgument("transport: fidelity compares with a real one");
  if (options.calibrate && plan.transport != TransportKind::kFake) {
    return InvalidArgument(
        "calibrate: only the fake server is calibrated here; for an endpoint, run pflab "
        "calibrate and predict with its profile");
  }
  RunPlan sim = plan;
  sim.transport = TransportKind::kSim;
  if (options.calibrate) {
    auto calibrated = CalibrateFakeServer(plan, options.calibration, progress);
    if (!calibrated)
      return Error{calibrated.error().code, "calibrating the fake server: " + calibrated.error().message};
    sim.profile = *calibrated;
  }
  std::vector<FidelityPair> pairs(plan.size());
  std::vector<bool> failed(plan.size(), false);
  std::mutex mutex;
  auto record = [&](bool predicted) {
    return [&, predicted](const RunCell& cell, Result<RunResult>&& result) {
      std::lock_guard lock(mutex);
      auto& p = pairs[cell.index];
      p.trace = cell.trace;
      p.policy = cell.policy;
      p.seed = plan.seeds[cell.seed];
      if (!result || result->failed()) {
        p.failed = true;
      } else {
        (predicted ? p.predicted_s : p.measured_s) = result->metrics.elapsed_s;
      }
      if (!predicted && progress) {
        progress(plan.traces[cell.trace]->name + " x " + plan.policies[cell.policy].text + " seed " +
                 std::to_string(p.seed) + ": predicted " + std::to_string(p.predicted_s) + " s, measured " +
                 std::to_string(p.measured_s) + " s" + (p.failed ? " (failed)" : ""));
      }
      return true;
    };
  };
  RunHooks hooks;
  hooks.on_finish = record(true);
  if (auto s = RunMatrix(sim, hooks); !s) return s.error();
  hooks.on_finish = record(false);
  if (progress) hooks.on_note = progress;
  if (auto s = RunMatrix(plan, hooks); !s) return s.error();
  std::vector<std::string> traces, policies;
  for (const auto* t : plan.traces) traces.push_back(t->name);
  for (const auto& p : plan.policies) policies.push_back(p.text);
  auto report = SummarizeFidelity(std::move(traces), std::move(policies), std::move(pairs));
  report.predicted_with = sim.profile;
  report.calibrated = options.calibrate;
  return report;
}

std::string FidelityMarkdown(const FidelityReport& r, const std::string& title) {
  std::string out = "## " + title +
                    "\n\n| trace | policy | predicted s (median) | measured s (median) | error |\n"
                    "|---|---|---|---|---|\n";
  char line[512];
  for (const auto& g : r.groups) {
    std::snprintf(line, sizeof line, "| %s | %s | %.3f | %.3f | %s |\n", r.traces[g.trace].c_str(),
                  r.policies[g.policy].c_str(), g.predicted_median_s, g.measured_median_s, Percent(g.error()).c_str());
    out += line;
  }
  out += "\n| trace | Kendall tau-b of the policies' order |\n|---|---|\n";
  for (std::size_t t = 0; t < r.tau.size(); ++t) {
    std::snprintf(line, sizeof line, "| %s | %.3f |\n", r.traces[t].c_str(), r.tau[t]);
    out += line;
  }
  std::snprintf(line, sizeof line,
                "\nruns: %zu (%zu failed, left out); per run |error| median %.1f%%, worst %.1f%%; per trace and "
                "policy (medians over seeds) median %.1f%%, worst %.1f%%; smallest tau %.3f\n",
                r.pairs.size(), r.failed, r.run_median_abs_error * 100, r.run_worst_abs_error * 100,
                r.group_median_abs_error * 100, r.group_worst_abs_error * 100, r.min_tau);
  out += line;
  const auto& p = r.predicted_with;
  std::snprintf(line, sizeof line, "predicted with%s: first byte %.3f ms median, %.3f ms p99; %.2f MB/s a request\n",
                r.calibrated ? " the fake server's calibration" : " the profile",
                static_cast<double>(p.latency_median_ns) / 1e6,
                static_cast<double>(p.constant_latency() ? p.latency_median_ns : p.latency_p99_ns) / 1e6,
                p.stream_bandwidth_bytes_per_s / 1e6);
  out += line;
  return out;
}

}  // namespace pflab::replay
