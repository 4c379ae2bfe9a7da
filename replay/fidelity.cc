#include "replay/fidelity.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <mutex>
#include <thread>

#include "engine/units.h"
#include "net/gcs_objects.h"
#include "policies/registry.h"
#include "replay/fake_server.h"
#include "traces/generators.h"

namespace pflab::replay {
namespace {

double MedianOf(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// The streams of the calibration trace that measures the host's byte throughput.
constexpr std::uint32_t kHostProbeStreams = 8;

std::string CoresText(std::uint32_t cores) {
  return cores == 0 ? "unlimited cores" : std::to_string(cores) + (cores == 1 ? " core" : " cores");
}

std::string Percent(double x) {
  char text[32];
  std::snprintf(text, sizeof text, "%+.1f%%", x * 100);
  return text;
}

// The host's byte throughput as calibration found it, and the many large streams' errors.
std::string HostText(const EngineOverhead& e) {
  char text[200];
  if (e.host_bytes_per_s > 0) {
    std::snprintf(text, sizeof text,
                  "the host moves %.1f MB/s across transfers (%u streams of large reads' median error: unlimited "
                  "%s, at the limit %s)",
                  e.host_bytes_per_s / 1e6, kHostProbeStreams, Percent(e.host_unlimited_error).c_str(),
                  Percent(e.host_error).c_str());
  } else {
    std::snprintf(text, sizeof text, "no host byte limit (%u streams of large reads' median error %s)",
                  kHostProbeStreams, Percent(e.host_unlimited_error).c_str());
  }
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

int MeasuredOrder(const std::vector<double>& a, const std::vector<double>& b) {
  const std::size_t n = std::min(a.size(), b.size());
  std::size_t faster = 0, slower = 0;
  for (std::size_t i = 0; i < n; ++i) {
    faster += a[i] < b[i];
    slower += a[i] > b[i];
  }
  // Two-sided p = 2 P(X <= fewer) for X ~ Binomial(faster + slower, 1/2), at most 1.
  const std::size_t m = faster + slower, fewer = std::min(faster, slower);
  double term = std::pow(0.5, static_cast<double>(m)), tail = 0;  // term: C(m, k) / 2^m
  for (std::size_t k = 0; k <= fewer; ++k) {
    tail += term;
    term = term * static_cast<double>(m - k) / static_cast<double>(k + 1);
  }
  if (m == 0 || 2 * tail > 0.05) return 0;
  return faster > slower ? -1 : 1;
}

namespace {

// MeasuredOrder over the seeds both policies ran (measured seconds by seed).
int PairedOrder(const std::map<std::uint64_t, double>& a_by_seed, const std::map<std::uint64_t, double>& b_by_seed) {
  std::vector<double> a, b;
  for (const auto& [seed, measured] : a_by_seed) {
    if (auto it = b_by_seed.find(seed); it != b_by_seed.end()) {
      a.push_back(measured);
      b.push_back(it->second);
    }
  }
  return MeasuredOrder(a, b);
}

}  // namespace

FidelityReport SummarizeFidelity(std::vector<std::string> traces, std::vector<std::string> policies,
                                 std::vector<FidelityPair> pairs) {
  FidelityReport r;
  r.traces = std::move(traces);
  r.policies = std::move(policies);
  r.pairs = std::move(pairs);
  std::vector<double> abs_errors;
  std::map<std::pair<std::size_t, std::size_t>, std::pair<std::vector<double>, std::vector<double>>> by_group;
  std::map<std::pair<std::size_t, std::size_t>, std::map<std::uint64_t, double>> by_seed;  // measured runs
  for (const auto& p : r.pairs) {
    if (p.failed || p.measured_s <= 0) {
      ++r.failed;
      continue;
    }
    abs_errors.push_back(std::abs(p.error()));
    by_seed[{p.trace, p.policy}][p.seed] = p.measured_s;
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
    // The pairs the runs order beyond doubt, and the prediction's verdict on each.
    std::size_t resolved = 0, discordant = 0;
    for (std::size_t i = 0; i < r.groups.size(); ++i) {
      const auto& gi = r.groups[i];
      if (gi.trace != t) continue;
      for (std::size_t j = i + 1; j < r.groups.size(); ++j) {
        const auto& gj = r.groups[j];
        if (gj.trace != t) continue;
        const int order = PairedOrder(by_seed.at({t, gi.policy}), by_seed.at({t, gj.policy}));
        if (order == 0) continue;
        ++resolved;
        const double predicted_difference = gi.predicted_median_s - gj.predicted_median_s;
        if (!(order < 0 ? predicted_difference < 0 : predicted_difference > 0)) ++discordant;
      }
    }
    r.resolved_pairs.push_back(resolved);
    r.resolved_discordant.push_back(discordant);
  }
  r.min_tau = r.tau.empty() ? 1 : *std::min_element(r.tau.begin(), r.tau.end());
  return r;
}

namespace {

// Elapsed time and requests of each cell of `plan`, by cell index; a failed run fails the calibration.
Result<std::vector<std::pair<double, std::uint64_t>>> RunCalibrationPlan(const RunPlan& plan) {
  std::vector<std::pair<double, std::uint64_t>> out(plan.size());
  std::string failure;
  RunHooks hooks;
  hooks.on_finish = [&](const RunCell& cell, Result<RunResult>&& result) {
    if (!result || result->failed()) {
      failure = plan.traces[cell.trace]->name + " with seed " + std::to_string(plan.seeds[cell.seed]) + " failed" +
                (result ? "" : ": " + result.error().message);
      return false;
    }
    out[cell.index] = {result->metrics.elapsed_s, result->metrics.requests};
    return true;
  };
  if (auto s = RunMatrix(plan, hooks); !s) return s.error();
  if (!failure.empty()) return Internal(failure);
  return out;
}

// Per run of `measured` and `predicted` (the same cells): what the real run took beyond the
// prediction, divided by its requests; the requests are added to `*requests`.
Result<std::vector<double>> ExcessPerRequest(const std::vector<std::pair<double, std::uint64_t>>& measured,
                                             const std::vector<std::pair<double, std::uint64_t>>& predicted,
                                             std::uint64_t* requests) {
  std::vector<double> out;
  for (std::size_t i = 0; i < measured.size(); ++i) {
    const std::uint64_t n = measured[i].second;
    if (n == 0) return Internal("a calibration trace's run made no requests");
    out.push_back((measured[i].first - predicted[i].first) / static_cast<double>(n));
    *requests += n;
  }
  return out;
}

// The engine's time per request, per MiB delivered and per stream, and how many requests' worth of
// it the host works on at once. All from generated traces replayed through a fake server shaped by
// `base`'s profile and in the simulator on `predict`, over a few seeds, with the draws paired (the
// server draws each run's latencies from the simulator's stream), so a lognormal profile's luck
// cancels run by run and what is left is what the real machinery adds. The traces are not the runs
// being judged, so the prediction is not fitted to them. The real runs come first, the traces taking
// turns seed by seed, so that a change in a shared machine's load falls on all of them alike; the
// simulated ones (deterministic) follow, each step predicting with what the steps before it found.
//  1. One stream of random reads with `none`, one request at a time, at two read sizes: a run's excess
//     over the prediction per request is overhead + MiB a read x per-MiB cost; the medians of the two
//     sizes give both (the per-MiB cost is the host's work on the bytes that no transfer hides).
//  2. The small reads' trace with `gcsfuse`, which opens a stream for each: predicted with those two,
//     the median excess per stream is a stream's own setup.
//  3. Four streams at once with `none`: predicted with the overheads on no core limit and on this
//     host's cores, ..., 2, 1, the count whose median error over the runs is smallest (ties: no
//     limit, then more).
//  4. Eight streams of large reads at once with `none`: the host's byte throughput across transfers,
//     the limit whose median error over the runs is nearest 0 (none when unlimited is not optimistic).
Result<EngineOverhead> MeasureEngineOverhead(const RunPlan& base, const sim::NetworkProfile& predict,
                                             const FidelityOptions& options) {
  auto none = policies::ParseStackSpec("none");
  if (!none) return none.error();
  auto gcsfuse = policies::ParseStackSpec("gcsfuse");
  if (!gcsfuse) return gcsfuse.error();
  traces::GeneratorParams one;
  one.object_size = 64ull << 20;
  one.read_size = options.overhead_read_bytes;
  one.count = options.overhead_reads;
  one.seed = 7;
  auto single = traces::Generate("random", one);
  if (!single) return single.error();
  single->name = "calibration-one-stream";
  traces::GeneratorParams large_params = one;
  large_params.read_size = options.overhead_large_read_bytes;
  auto large = traces::Generate("random", large_params);
  if (!large) return large.error();
  large->name = "calibration-one-stream-large";
  traces::GeneratorParams four = one;
  four.streams = 4;
  four.count = 4 * options.overhead_reads / 2;
  auto multi = traces::Generate("multi-stream", four);
  if (!multi) return multi.error();
  multi->name = "calibration-four-streams";
  // Eight streams of large reads at once: the host's byte work no longer hides under one stream's pacing,
  // and they ask for more than the host moves (four streams' bytes at the bench's 200 MB/s a request
  // did not reach it on this 2-core machine).
  traces::GeneratorParams many_large = four;
  many_large.streams = kHostProbeStreams;
  many_large.object_size = options.overhead_reads * options.overhead_large_read_bytes;  // no read repeats
  many_large.read_size = options.overhead_large_read_bytes;
  many_large.count = options.overhead_reads;
  auto many_streams = traces::Generate("multi-stream", many_large);
  if (!many_streams) return many_streams.error();
  many_streams->name = "calibration-eight-streams-large";
  struct Step {
    const traces::Trace* trace;
    const policies::StackSpec* policy;
    std::vector<std::pair<double, std::uint64_t>> measured;  // by seed
  };
  enum { kSmall, kLarge, kStreams, kFour, kManyLarge };
  std::vector<Step> steps = {{&*single, &*none, {}},
                             {&*large, &*none, {}},
                             {&*single, &*gcsfuse, {}},
                             {&*multi, &*none, {}},
                             {&*many_streams, &*none, {}}};

  RunPlan plan;
  plan.profile = base.profile;
  plan.profile_name = base.profile_name;
  plan.live = base.live;                  // the real runs' connections
  plan.verify_bytes = base.verify_bytes;  // the check of each read's bytes is on the real runs' clock
  plan.transport = TransportKind::kFake;
  std::vector<std::uint64_t> seeds;
  for (std::uint32_t i = 0; i < options.overhead_seeds; ++i) seeds.push_back(1000 + i);
  for (const std::uint64_t seed : seeds) {
    for (Step& step : steps) {
      plan.traces = {step.trace};
      plan.policies = {*step.policy};
      plan.seeds = {seed};
      auto measured = RunCalibrationPlan(plan);
      if (!measured) return measured.error();
      step.measured.push_back(measured->front());
    }
  }
  RunPlan sim = plan;
  sim.transport = TransportKind::kSim;
  sim.seeds = seeds;
  sim.profile = predict;
  sim.profile.request_overhead_ns = 0;
  sim.profile.request_overhead_cores = 0;
  sim.profile.stream_overhead_ns = 0;
  sim.profile.read_overhead_ns_per_mib = 0;
  sim.profile.host_bandwidth_bytes_per_s = 0;
  // The step's runs predicted on the current `sim.profile`, and each run's excess per request.
  auto predict_step = [&](const Step& step) -> Result<std::vector<std::pair<double, std::uint64_t>>> {
    sim.traces = {step.trace};
    sim.policies = {*step.policy};
    return RunCalibrationPlan(sim);
  };
  auto excess = [&](const Step& step, std::uint64_t* requests) -> Result<std::vector<double>> {
    auto predicted = predict_step(step);
    if (!predicted) return predicted.error();
    return ExcessPerRequest(step.measured, *predicted, requests);
  };

  // 1. The overheads per request and per MiB.
  EngineOverhead out;
  auto small_excess = excess(steps[kSmall], &out.requests);
  if (!small_excess) return small_excess.error();
  std::uint64_t large_requests = 0;
  auto large_excess = excess(steps[kLarge], &large_requests);
  if (!large_excess) return large_excess.error();
  out.runs = seeds.size();
  const double small_mib = static_cast<double>(options.overhead_read_bytes) / (1 << 20);
  const double large_mib = static_cast<double>(options.overhead_large_read_bytes) / (1 << 20);
  out.small_per_request_s = MedianOf(*small_excess);
  out.large_per_request_s = MedianOf(*large_excess);
  if (large_mib > small_mib) {
    out.per_mib_s = std::max(0.0, (out.large_per_request_s - out.small_per_request_s) / (large_mib - small_mib));
  }
  out.per_request_s = std::max(0.0, out.small_per_request_s - out.per_mib_s * small_mib);
  out.low_s = *std::min_element(small_excess->begin(), small_excess->end()) - out.per_mib_s * small_mib;
  out.high_s = *std::max_element(small_excess->begin(), small_excess->end()) - out.per_mib_s * small_mib;
  sim.profile.request_overhead_ns = std::llround(out.per_request_s * 1e9);
  sim.profile.read_overhead_ns_per_mib = std::llround(out.per_mib_s * 1e9);

  // 2. A stream's setup.
  auto stream_excess = excess(steps[kStreams], &out.streams);
  if (!stream_excess) return stream_excess.error();
  out.per_stream_s = std::max(0.0, MedianOf(*stream_excess));
  out.stream_low_s = *std::min_element(stream_excess->begin(), stream_excess->end());
  out.stream_high_s = *std::max_element(stream_excess->begin(), stream_excess->end());
  sim.profile.stream_overhead_ns = std::llround(out.per_stream_s * 1e9);

  // The median error of a step's runs predicted on the current `sim.profile`.
  auto median_error = [&](const Step& step) -> Result<double> {
    auto predicted = predict_step(step);
    if (!predicted) return predicted.error();
    std::vector<double> errors;
    for (std::size_t i = 0; i < seeds.size(); ++i) {
      errors.push_back(((*predicted)[i].first - step.measured[i].first) / step.measured[i].first);
    }
    return MedianOf(errors);
  };

  // 3. The cores of the request overhead, when there is one.
  if (sim.profile.request_overhead_ns > 0) {
    const std::uint32_t host = std::clamp<std::uint32_t>(std::thread::hardware_concurrency(), 1, 64);
    double best = std::numeric_limits<double>::infinity();
    // No limit first, then from the host's cores down, so that a later count wins only by doing better.
    std::vector<std::uint32_t> counts{0};
    for (std::uint32_t cores = host; cores >= 1; --cores) counts.push_back(cores);
    for (const std::uint32_t cores : counts) {
      sim.profile.request_overhead_cores = cores;
      auto error = median_error(steps[kFour]);
      if (!error) return error.error();
      out.core_errors.push_back({cores, *error});
      // Strictly better only: between equals the earlier (no limit, or more cores) stays.
      if (std::abs(*error) < best - 1e-12) {
        best = std::abs(*error);
        out.cores = cores;
      }
    }
    sim.profile.request_overhead_cores = out.cores;
  }

  // 4. The host's byte throughput. Eight streams of large reads that the real runs took longer for than
  // predicted with no limit are the byte work of many transfers at once competing for the host's cores
  // (for one stream it hides under the pacing, so steps 1-3 do not see it). The predicted time only
  // grows as the limit falls, so the limit whose median error is nearest 0 is found by bisection
  // between one stream's rate (one stream's work hides under its pacing, so the host moves at least
  // that) and eight streams' (above it the limit cannot bind). Not optimistic with no limit: none.
  auto unlimited = median_error(steps[kManyLarge]);
  if (!unlimited) return unlimited.error();
  out.host_unlimited_error = out.host_error = *unlimited;
  if (*unlimited < 0) {
    double low = std::min(predict.stream_bandwidth_bytes_per_s, predict.link_bandwidth_bytes_per_s);
    double high = kHostProbeStreams * low;
    double high_error = *unlimited;  // the limit at `high` cannot bind: as with none
    sim.profile.host_bandwidth_bytes_per_s = low;
    auto low_error = median_error(steps[kManyLarge]);
    if (!low_error) return low_error.error();
    // Geometric bisection to 1%, keeping low's error at or above 0 and high's below.
    while (*low_error >= 0 && high / low > 1.01) {
      const double mid = std::sqrt(low * high);
      sim.profile.host_bandwidth_bytes_per_s = mid;
      auto error = median_error(steps[kManyLarge]);
      if (!error) return error.error();
      if (*error >= 0) {
        low = mid;
        *low_error = *error;
      } else {
        high = mid;
        high_error = *error;
      }
    }
    const bool take_low = *low_error < 0 || std::abs(*low_error) <= std::abs(high_error);
    out.host_bytes_per_s = std::round(take_low ? low : high);
    out.host_error = take_low ? *low_error : high_error;
    if (!take_low && high >= kHostProbeStreams *
                                 std::min(predict.stream_bandwidth_bytes_per_s, predict.link_bandwidth_bytes_per_s)) {
      out.host_bytes_per_s = 0;  // the nearest is no limit at all
    }
  }
  return out;
}

// The profile as the real runs meet it: its first-byte latency distribution, which the fake server
// imposes (drawn from the simulator's stream), the per-request bandwidth measured on a fake server
// shaped like it (started here, as RunMatrix starts the one the real runs use), and the request
// overhead measured through the engine (MeasureEngineOverhead). The latency probes' fit is kept for
// the report: their median less the profile's is the server's own part of the overhead.
Result<sim::NetworkProfile> CalibrateFakeServer(const RunPlan& plan, const FidelityOptions& fidelity,
                                                FidelityCalibration* seen,
                                                const std::function<void(const std::string&)>& progress) {
  const CalibrationOptions& options = fidelity.calibration;
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
  auto observed = RunProbes(*target, ObjectRef{bucket, name, meta->generation, meta->size}, *probe_plan, options);
  if (!observed) return observed.error();
  server->reset();
  auto fit = FitCalibration(*observed, plan.profile, options.seed);
  if (!fit) return fit.error();
  sim::NetworkProfile p = plan.profile;
  p.stream_bandwidth_bytes_per_s = fit->profile.stream_bandwidth_bytes_per_s;
  // Before the engine's overhead is measured: its runs open connections too, and the overhead is what
  // they take beyond a prediction that already pays for those.
  p.connect_overhead_ns = fit->profile.connect_overhead_ns;
  std::vector<double> first_bytes(observed->latency_completions.begin(), observed->latency_completions.end());
  seen->probe_median_s = MedianOf(first_bytes) / 1e9;
  seen->probe_p99_s = static_cast<double>(fit->profile.constant_latency() ? fit->profile.latency_median_ns
                                                                          : fit->profile.latency_p99_ns) /
                      1e9;
  // The server drew the probes' latencies from the simulator's stream for its seed (the warm-up read
  // took the first draw), so each probe's own draw is known: the median of what each took beyond its
  // draw is the server's own time. (The probes' median less the profile's median would add the luck
  // of 100 draws: with a lognormal of sigma 0.6, about 7% of the median either way.)
  sim::LatencySampler draws(plan.profile, plan.seeds.front());
  draws.Sample();
  std::vector<double> beyond;
  for (const Nanos took : observed->latency_completions) beyond.push_back(static_cast<double>(took - draws.Sample()));
  seen->server_overhead_s = MedianOf(beyond) / 1e9;
  auto engine = MeasureEngineOverhead(plan, p, fidelity);
  if (!engine) return Error{engine.error().code, "the engine's overhead: " + engine.error().message};
  seen->engine = *engine;
  seen->small_read_bytes = fidelity.overhead_read_bytes;
  seen->large_read_bytes = fidelity.overhead_large_read_bytes;
  p.request_overhead_ns = std::llround(engine->per_request_s * 1e9);
  p.request_overhead_cores = engine->cores;
  p.stream_overhead_ns = std::llround(engine->per_stream_s * 1e9);
  p.read_overhead_ns_per_mib = std::llround(engine->per_mib_s * 1e9);
  p.host_bandwidth_bytes_per_s = engine->host_bytes_per_s;
  if (progress) {
    char line[600];
    std::snprintf(line, sizeof line,
                  "calibrated the fake server: probes' first byte median %.3f ms (the server's own %.3f ms); "
                  "%.2f MB/s a request; through the engine %.3f ms a request (%.3f-%.3f over %zu runs), %.3f ms a "
                  "MiB read, %.3f ms more a stream (%.3f-%.3f), on %s",
                  seen->probe_median_s * 1e3, seen->server_overhead_s * 1e3, p.stream_bandwidth_bytes_per_s / 1e6,
                  engine->per_request_s * 1e3, engine->low_s * 1e3, engine->high_s * 1e3, engine->runs,
                  engine->per_mib_s * 1e3, engine->per_stream_s * 1e3, engine->stream_low_s * 1e3,
                  engine->stream_high_s * 1e3, CoresText(engine->cores).c_str());
    progress(std::string(line) + "; " + HostText(*engine));
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
  FidelityCalibration calibration;
  if (options.calibrate) {
    auto calibrated = CalibrateFakeServer(plan, options, &calibration, progress);
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
  report.calibration = calibration;
  return report;
}

std::string FidelityMarkdown(const FidelityReport& r, const std::string& title) {
  std::string out = "## " + title +
                    "\n\n| trace | policy | predicted s (median) | measured s (median) | error |\n"
                    "|---|---|---|---|---|\n";
  char line[1024];
  for (const auto& g : r.groups) {
    std::snprintf(line, sizeof line, "| %s | %s | %.3f | %.3f | %s |\n", r.traces[g.trace].c_str(),
                  r.policies[g.policy].c_str(), g.predicted_median_s, g.measured_median_s, Percent(g.error()).c_str());
    out += line;
  }
  out +=
      "\n| trace | Kendall tau-b of the policies' order | pairs the runs order (sign test over seeds, 5%) | of them "
      "predicted the other way |\n|---|---|---|---|\n";
  std::size_t resolved = 0, discordant = 0;
  for (std::size_t t = 0; t < r.tau.size(); ++t) {
    std::snprintf(line, sizeof line, "| %s | %.3f | %zu | %zu |\n", r.traces[t].c_str(), r.tau[t], r.resolved_pairs[t],
                  r.resolved_discordant[t]);
    out += line;
    resolved += r.resolved_pairs[t];
    discordant += r.resolved_discordant[t];
  }
  std::snprintf(line, sizeof line,
                "\nruns: %zu (%zu failed, left out); per run |error| median %.1f%%, worst %.1f%%; per trace and "
                "policy (medians over seeds) median %.1f%%, worst %.1f%%; smallest tau %.3f; pairs of policies "
                "the runs order: %zu, predicted the other way: %zu\n",
                r.pairs.size(), r.failed, r.run_median_abs_error * 100, r.run_worst_abs_error * 100,
                r.group_median_abs_error * 100, r.group_worst_abs_error * 100, r.min_tau, resolved, discordant);
  out += line;
  const auto& p = r.predicted_with;
  char host_text[64] = "";
  if (p.host_bandwidth_bytes_per_s > 0) {
    std::snprintf(host_text, sizeof host_text, "; the host %.1f MB/s across transfers",
                  p.host_bandwidth_bytes_per_s / 1e6);
  }
  const std::string host = host_text;
  std::snprintf(line, sizeof line,
                "predicted with%s: first byte %.3f ms median, %.3f ms p99; %.2f MB/s a request; request overhead "
                "%.3f ms, %.3f ms a MiB read, %.3f ms more a stream, %.3f ms a new connection%s\n",
                r.calibrated ? " the fake server's calibration" : " the profile",
                static_cast<double>(p.latency_median_ns) / 1e6,
                static_cast<double>(p.constant_latency() ? p.latency_median_ns : p.latency_p99_ns) / 1e6,
                p.stream_bandwidth_bytes_per_s / 1e6, static_cast<double>(p.request_overhead_ns) / 1e6,
                static_cast<double>(p.read_overhead_ns_per_mib) / 1e6, static_cast<double>(p.stream_overhead_ns) / 1e6,
                static_cast<double>(p.connect_overhead_ns) / 1e6, host.c_str());
  out += line;
  if (r.calibrated) {
    const auto& c = r.calibration;
    std::snprintf(line, sizeof line,
                  "calibration: probes' first byte %.3f ms median (the server's own %.3f ms a request); through "
                  "the engine %.3f ms a request (runs %.3f to %.3f; %zu runs, %llu requests) and %.3f ms a MiB "
                  "read (%.3f ms a request at %s, %.3f at %s), %.3f ms more a stream (runs %.3f to %.3f; %llu "
                  "streams), on %s (four streams' median error:",
                  c.probe_median_s * 1e3, c.server_overhead_s * 1e3, c.engine.per_request_s * 1e3, c.engine.low_s * 1e3,
                  c.engine.high_s * 1e3, c.engine.runs, static_cast<unsigned long long>(c.engine.requests),
                  c.engine.per_mib_s * 1e3, c.engine.small_per_request_s * 1e3, FormatSize(c.small_read_bytes).c_str(),
                  c.engine.large_per_request_s * 1e3, FormatSize(c.large_read_bytes).c_str(),
                  c.engine.per_stream_s * 1e3, c.engine.stream_low_s * 1e3, c.engine.stream_high_s * 1e3,
                  static_cast<unsigned long long>(c.engine.streams), CoresText(c.engine.cores).c_str());
    out += line;
    for (const auto& [cores, error] : c.engine.core_errors) {
      out += " " + (cores == 0 ? std::string("unlimited") : std::to_string(cores)) + " " + Percent(error);
    }
    out += "); " + HostText(c.engine) + "\n";
  }
  return out;
}

}  // namespace pflab::replay
