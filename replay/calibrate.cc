#include "replay/calibrate.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <limits>
#include <map>
#include <random>

#include "engine/asio_scheduler.h"
#include "engine/buffer.h"
#include "engine/synthetic_content.h"
#include "engine/text.h"
#include "engine/units.h"
#include "net/handshake_timer.h"
#include "replay/live.h"

namespace pflab::replay {
namespace {

constexpr double kZ99 = 2.3263478740408408;  // the standard normal's 0.99 quantile
constexpr int kBootstrapRounds = 2000;
// A level whose aggregate is below this share of level x per-request bandwidth was held back by the link.
constexpr double kLinkShortfall = 0.85;

std::string UtcNow() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return text;
}

// Durations and rates as profiles.json writes them; exact to the nanosecond and the byte per second.
std::string DurationText(double ns) {
  return FormatFixed(static_cast<double>(std::llround(ns)) / 1e6, 6) + "ms";
}
std::string RateText(double bytes_per_s) {
  return FormatFixed(static_cast<double>(std::llround(bytes_per_s)) / 1e6, 6) + "MB/s";
}

double Quantile(std::vector<double> values, double q) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const double at = q * static_cast<double>(values.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(at));
  const auto hi = std::min(values.size() - 1, lo + 1);
  return values[lo] + (values[hi] - values[lo]) * (at - static_cast<double>(lo));
}

double Median(const std::vector<double>& values) {
  return Quantile(values, 0.5);
}

struct LogFit {
  double mu = 0;
  double sigma = 0;
};

LogFit FitLogs(const std::vector<double>& logs) {
  LogFit f;
  if (logs.empty()) return f;
  for (double y : logs) f.mu += y;
  f.mu /= static_cast<double>(logs.size());
  if (logs.size() > 1) {
    double ss = 0;
    for (double y : logs) ss += (y - f.mu) * (y - f.mu);
    f.sigma = std::sqrt(ss / static_cast<double>(logs.size() - 1));
  }
  return f;
}

// The 2.5% and 97.5% quantiles of `statistic` over resamples of `values`.
template <typename Statistic>
std::pair<double, double> Bootstrap(const std::vector<double>& values, std::uint64_t seed, Statistic statistic) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<std::size_t> pick(0, values.size() - 1);
  std::vector<double> sample(values.size()), stats;
  stats.reserve(kBootstrapRounds);
  for (int r = 0; r < kBootstrapRounds; ++r) {
    for (auto& v : sample) v = values[pick(rng)];
    stats.push_back(statistic(sample));
  }
  return {Quantile(stats, 0.025), Quantile(stats, 0.975)};
}

// Bytes a stream had received by time `t`, interpolated between its progress points.
double BytesAt(const StreamTrace& s, Nanos t) {
  if (s.progress.empty()) return 0;
  if (t <= s.progress.front().first) return static_cast<double>(s.progress.front().second);
  for (std::size_t i = 1; i < s.progress.size(); ++i) {
    const auto& [t1, b1] = s.progress[i];
    if (t <= t1) {
      const auto& [t0, b0] = s.progress[i - 1];
      const double share = t1 == t0 ? 1.0 : static_cast<double>(t - t0) / static_cast<double>(t1 - t0);
      return static_cast<double>(b0) + share * static_cast<double>(b1 - b0);
    }
  }
  return static_cast<double>(s.progress.back().second);
}

// Where the paced transfer of a stream starts: after its first piece, when it has more than one.
Nanos SteadyStart(const StreamTrace& s) {
  return s.progress.size() >= 3 ? s.progress[1].first : s.progress.front().first;
}

}  // namespace

std::string CalibrationTarget::Describe() const {
  return "gs://" + bucket + "/" + object + " at " + endpoint.Url();
}

Result<CalibrationTarget> ParseCalibrationTarget(const std::string& text) {
  CalibrationTarget t;
  std::string path;
  if (text.rfind("gs://", 0) == 0) {
    auto endpoint = HttpEndpoint::FromEnvironment();
    if (!endpoint) return endpoint.error();
    t.endpoint = *endpoint;
    path = text.substr(5);
  } else if (text.rfind("http://", 0) == 0 || text.rfind("https://", 0) == 0) {
    const auto host_start = text.find("://") + 3;
    const auto slash = text.find('/', host_start);
    if (slash == std::string::npos) {
      return InvalidArgument("'" + text + "': expected http[s]://HOST[:PORT]/BUCKET/OBJECT (no bucket and object)");
    }
    auto endpoint = HttpEndpoint::Parse(text.substr(0, slash));
    if (!endpoint) return endpoint.error();
    t.endpoint = *endpoint;
    path = text.substr(slash + 1);
  } else {
    return InvalidArgument("'" + text + "': expected gs://BUCKET/OBJECT or http[s]://HOST[:PORT]/BUCKET/OBJECT");
  }
  const auto slash = path.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 == path.size()) {
    return InvalidArgument("'" + text + "': expected a bucket and an object name after the host (BUCKET/OBJECT)");
  }
  t.bucket = path.substr(0, slash);
  t.object = path.substr(slash + 1);
  return t;
}

std::uint64_t ProbePlan::requests() const {
  std::uint64_t n = 0;
  for (const auto& p : phases) n += p.requests;
  return n;
}

std::uint64_t ProbePlan::bytes() const {
  std::uint64_t n = 0;
  for (const auto& p : phases) n += p.bytes;
  return n;
}

double ProbePlan::CostUsd(const sim::NetworkProfile& prices) const {
  return static_cast<double>(requests()) * prices.usd_per_request +
         static_cast<double>(bytes()) / static_cast<double>(kGiB) * prices.usd_per_gib;
}

std::string ProbePlan::Describe(const sim::NetworkProfile& prices) const {
  std::string out;
  for (const auto& p : phases) {
    out += "  " + p.name + ": " + std::to_string(p.requests) + " request" + (p.requests == 1 ? "" : "s") + ", " +
           FormatSize(p.bytes) + " (" + p.what + ")\n";
  }
  char cost[64];
  std::snprintf(cost, sizeof cost, "$%.6f", CostUsd(prices));
  out += "  total: " + std::to_string(requests()) + " requests, " + FormatSize(bytes()) + ", about " + cost + " at $" +
         FormatFixed(prices.usd_per_request * 1000, 4) + " per 1,000 requests and $" +
         FormatFixed(prices.usd_per_gib, 4) + " per GiB\n";
  return out;
}

Result<ProbePlan> PlanCalibration(const CalibrationOptions& o, std::uint64_t object_size) {
  if (o.probes < 1) return InvalidArgument("probes: must be at least 1");
  if (o.bandwidth_probes < 1) return InvalidArgument("bandwidth probes: must be at least 1");
  if (o.probe_bytes < 1) return InvalidArgument("probe bytes: must be at least 1");
  if (o.bandwidth_bytes < 1) return InvalidArgument("bandwidth bytes: must be at least 1");
  if (o.piece_bytes < 1) return InvalidArgument("piece bytes: must be at least 1");
  if (o.max_connections < 1 || o.max_connections > kMaxConnections) {
    return InvalidArgument("max-connections: expected 1 to " + std::to_string(kMaxConnections) + ", got " +
                           std::to_string(o.max_connections));
  }
  if (object_size < 1) return InvalidArgument("the object is empty: nothing to read");
  ProbePlan plan;
  plan.object_size = object_size;
  plan.probe_bytes = std::min(o.probe_bytes, object_size);
  plan.bandwidth_bytes = std::min(o.bandwidth_bytes, object_size);
  for (std::uint32_t k = 1; k < o.max_connections; k *= 2) plan.levels.push_back(k);
  plan.levels.push_back(o.max_connections);
  std::uint64_t streams = 0;
  for (auto k : plan.levels) streams += k;
  std::string levels;
  for (auto k : plan.levels) levels += (levels.empty() ? "" : ",") + std::to_string(k);
  plan.phases.push_back({"metadata", 1, 0, "the object's size and generation"});
  plan.phases.push_back({"latency", o.probes + 1ull, (o.probes + 1ull) * plan.probe_bytes,
                         std::to_string(o.probes) + " reads of " + FormatSize(plan.probe_bytes) +
                             " at random offsets, one at a time, after one warm-up"});
  plan.phases.push_back(
      {"bandwidth", o.bandwidth_probes, o.bandwidth_probes * plan.bandwidth_bytes,
       std::to_string(o.bandwidth_probes) + " reads of " + FormatSize(plan.bandwidth_bytes) + ", one at a time"});
  plan.phases.push_back({"concurrency", streams, streams * plan.bandwidth_bytes,
                         "reads of " + FormatSize(plan.bandwidth_bytes) + ", " + levels + " at once"});
  if (o.handshakes > 0) {
    plan.phases.push_back(
        {"connections", 0, 0, std::to_string(o.handshakes) + " connections opened and closed, no request sent"});
  }
  return plan;
}

double StreamRate(const StreamTrace& s) {
  if (s.progress.size() < 2) return 0;
  if (s.progress.size() >= 4) {
    // A least-squares slope over the points after the first piece: a piece's end is seen when the
    // server's write holding it arrives, up to one write late, and a slope over every point averages
    // that out where the two end points would not (they made the fake server's rate 1% high).
    const std::size_t n = s.progress.size() - 1;
    double mt = 0, mb = 0;
    for (std::size_t i = 1; i < s.progress.size(); ++i) {
      mt += static_cast<double>(s.progress[i].first) / 1e9;
      mb += static_cast<double>(s.progress[i].second);
    }
    mt /= static_cast<double>(n);
    mb /= static_cast<double>(n);
    double stb = 0, stt = 0;
    for (std::size_t i = 1; i < s.progress.size(); ++i) {
      const double dt = static_cast<double>(s.progress[i].first) / 1e9 - mt;
      stb += dt * (static_cast<double>(s.progress[i].second) - mb);
      stt += dt * dt;
    }
    return stt > 0 && stb > 0 ? stb / stt : 0;
  }
  const auto& first = s.progress.size() >= 3 ? s.progress[1] : s.progress[0];
  const auto& last = s.progress.back();
  if (last.first <= first.first || last.second <= first.second) return 0;
  return static_cast<double>(last.second - first.second) / (static_cast<double>(last.first - first.first) / 1e9);
}

LevelObservation ReduceLevel(std::uint32_t concurrency, const std::vector<StreamTrace>& streams) {
  LevelObservation level;
  level.concurrency = concurrency;
  if (streams.empty()) return level;
  // Most streams between first and last byte at once: sweep the starts and ends in time order (an end
  // before a start at the same instant, so back-to-back streams do not count as overlapping).
  std::vector<std::pair<Nanos, int>> edges;
  for (const auto& s : streams) {
    edges.emplace_back(s.first_byte, 1);
    edges.emplace_back(s.end(), -1);
  }
  std::sort(edges.begin(), edges.end());
  int now = 0;
  for (const auto& [t, d] : edges) {
    now += d;
    level.max_in_flight = std::max<std::uint32_t>(level.max_in_flight, static_cast<std::uint32_t>(std::max(now, 0)));
  }
  Nanos from = 0, to = std::numeric_limits<Nanos>::max();
  Nanos first = std::numeric_limits<Nanos>::max(), last = 0;
  double total = 0;
  bool pieces = true;
  for (const auto& s : streams) {
    pieces &= s.progress.size() >= 2;
    if (s.progress.empty()) continue;
    from = std::max(from, SteadyStart(s));
    to = std::min(to, s.end());
    first = std::min(first, s.progress.front().first);
    last = std::max(last, s.end());
    total += static_cast<double>(s.bytes() - s.progress.front().second);
  }
  if (pieces && to > from) {
    double moved = 0;
    for (const auto& s : streams) moved += BytesAt(s, to) - BytesAt(s, from);
    level.aggregate_bytes_per_s = moved / (static_cast<double>(to - from) / 1e9);
    return level;
  }
  level.full_overlap = false;
  if (last > first) level.aggregate_bytes_per_s = total / (static_cast<double>(last - first) / 1e9);
  return level;
}

namespace {

// Sends the probes on one engine thread; requests of a phase chain from their completions.
class Prober {
 public:
  Prober(const CalibrationTarget& target, const ObjectRef& object, const ProbePlan& plan,
         const CalibrationOptions& options)
      : endpoint_(target.endpoint),
        object_(object),
        plan_(plan),
        options_(options),
        rng_(options.seed),
        seed_(ObjectSeed(object.bucket, object.name, object.generation)),
        transport_(&scheduler_, target.endpoint, WithOneConnection(options.http)) {}

  Result<Observations> Run(const CalibrationProgress& progress) {
    seen_.probe_bytes = plan_.probe_bytes;
    seen_.requests = 1;  // the metadata request
    auto say = [&](const std::string& line) {
      if (progress) progress(line);
    };
    say("latency: " + std::to_string(options_.probes) + " reads of " + FormatSize(plan_.probe_bytes));
    seen_.latency_measured_at = UtcNow();
    NextProbe();
    scheduler_.Run();
    if (failure_) return Phase("latency", *failure_);

    say("bandwidth: " + std::to_string(options_.bandwidth_probes) + " reads of " + FormatSize(plan_.bandwidth_bytes));
    seen_.bandwidth_measured_at = UtcNow();
    for (std::uint32_t i = 0; i < options_.bandwidth_probes; ++i) {
      auto streams = RunStreams(1);
      if (!streams) return Phase("bandwidth", streams.error());
      seen_.stream_rates.push_back(StreamRate(streams->front()));
    }

    seen_.concurrency_measured_at = UtcNow();
    for (auto k : plan_.levels) {
      say("concurrency: " + std::to_string(k) + " reads of " + FormatSize(plan_.bandwidth_bytes) + " at once");
      auto streams = RunStreams(k);
      if (!streams) return Phase("concurrency", streams.error());
      seen_.levels.push_back(ReduceLevel(k, *streams));
    }

    if (options_.handshakes > 0) {
      say("connections: " + std::to_string(options_.handshakes) + " opened and closed");
      seen_.connections_measured_at = UtcNow();
      auto took = TimeHandshakes(endpoint_, options_.handshakes, options_.http.connect_timeout, options_.http.ca_file);
      if (!took) return Phase("connections", took.error());
      seen_.handshakes = std::move(*took);
    }
    return seen_;
  }

 private:
  struct Stream {
    StreamId id = 0;
    std::uint64_t offset = 0;
    std::uint64_t length = 0;
    std::uint64_t taken = 0;
    ChunkRef chunk;
    StreamTrace trace;
    bool done = false;
  };

  static HttpTransportOptions WithOneConnection(HttpTransportOptions http) {
    http.connections = 1;  // latency probes go one at a time on one warm connection; streams have their own
    return http;
  }

  static Error Phase(const std::string& phase, Error e) {
    e.message = phase + " phase: " + e.message;
    return e;
  }

  std::uint64_t RandomOffset(std::uint64_t length) {
    std::uniform_int_distribution<std::uint64_t> pick(0, plan_.object_size - length);
    return pick(rng_);
  }

  // Whether [0, n) of `chunk` holds the object's bytes from `offset`, when asked to check.
  bool Check(const Chunk& chunk, std::uint64_t offset, std::uint64_t n) {
    if (!options_.verify_synthetic) return true;
    expected_.resize(n);
    FillSynthetic(seed_, offset, expected_.data(), n);
    return std::equal(expected_.begin(), expected_.end(), chunk.data());
  }

  void Fail(Error e) {
    if (!failure_) failure_ = std::move(e);
  }

  void NextProbe() {
    if (probe_ == options_.probes + 1u || failure_) return;
    const std::uint64_t offset = RandomOffset(plan_.probe_bytes);
    probe_offset_ = offset;
    probe_chunk_ = Chunk::Make(plan_.probe_bytes, true, &account_);
    probe_issued_ = scheduler_.Now();
    ++seen_.requests;
    transport_.Fetch(object_, {offset, offset + plan_.probe_bytes}, {probe_chunk_, 0},
                     [this](const FetchOutcome& outcome) { ProbeDone(outcome); });
  }

  void ProbeDone(const FetchOutcome& outcome) {
    const Nanos took = scheduler_.Now() - probe_issued_;
    seen_.bytes += outcome.bytes_received;
    if (!outcome.status) return Fail(outcome.status.error());
    if (!Check(*probe_chunk_, probe_offset_, plan_.probe_bytes)) {
      return Fail(Internal("read of " + std::to_string(plan_.probe_bytes) + " bytes at " +
                           std::to_string(probe_offset_) + " returned bytes that are not the object's"));
    }
    if (probe_ > 0) seen_.latency_completions.push_back(took);  // the first warmed the connection up
    ++probe_;
    NextProbe();
  }

  Result<std::vector<StreamTrace>> RunStreams(std::uint32_t k) {
    streams_.assign(k, Stream{});
    for (std::uint32_t i = 0; i < k; ++i) {
      Stream& s = streams_[i];
      s.length = plan_.bandwidth_bytes;
      s.offset = RandomOffset(s.length);
    }
    for (std::uint32_t i = 0; i < k; ++i) {
      Stream& s = streams_[i];
      s.trace.issued = scheduler_.Now();
      ++seen_.requests;
      s.id = transport_.OpenStream(object_, {s.offset, s.offset + s.length});
      Pull(i);
    }
    scheduler_.Run();
    if (failure_) return *failure_;
    std::vector<StreamTrace> out;
    for (auto& s : streams_) out.push_back(std::move(s.trace));
    return out;
  }

  // The first pull takes one byte, to time the first byte; then pieces.
  void Pull(std::uint32_t i) {
    Stream& s = streams_[i];
    const std::uint64_t n = s.taken == 0 ? 1 : std::min(options_.piece_bytes, s.length - s.taken);
    s.chunk = Chunk::Make(n, true, &account_);
    transport_.ReadStream(s.id, n, {s.chunk, 0}, [this, i](const FetchOutcome& outcome) { Pulled(i, outcome); });
  }

  void Pulled(std::uint32_t i, const FetchOutcome& outcome) {
    Stream& s = streams_[i];
    const Nanos now = scheduler_.Now();
    seen_.bytes += outcome.bytes_received;
    const bool ok = static_cast<bool>(outcome.status);
    if (!ok) Fail(outcome.status.error());
    if (ok && !Check(*s.chunk, s.offset + s.taken, outcome.bytes_received)) {
      Fail(Internal("stream of " + std::to_string(s.length) + " bytes at " + std::to_string(s.offset) +
                    " returned bytes that are not the object's at " + std::to_string(s.offset + s.taken)));
    }
    if (s.taken == 0) s.trace.first_byte = now;
    s.taken += outcome.bytes_received;
    s.trace.progress.emplace_back(now, s.taken);
    if (!failure_ && s.taken < s.length) return Pull(i);
    transport_.CloseStream(s.id, [](std::uint64_t) {});
  }

  MemoryAccount account_;  // first: chunks in completions still queued refer to it
  AsioScheduler scheduler_;
  HttpEndpoint endpoint_;
  ObjectRef object_;
  const ProbePlan& plan_;
  const CalibrationOptions& options_;
  std::mt19937_64 rng_;
  std::uint64_t seed_;
  HttpTransport transport_;
  Observations seen_;
  std::optional<Error> failure_;
  std::vector<std::byte> expected_;
  std::uint32_t probe_ = 0;
  std::uint64_t probe_offset_ = 0;
  Nanos probe_issued_ = 0;
  ChunkRef probe_chunk_;
  std::vector<Stream> streams_;
};

}  // namespace

Result<Observations> RunProbes(const CalibrationTarget& target, const ObjectRef& object, const ProbePlan& plan,
                               const CalibrationOptions& options, const CalibrationProgress& progress) {
  if (object.size != plan.object_size) return InvalidArgument("the plan is for another object size");
  Prober prober(target, object, plan, options);
  return prober.Run(progress);
}

Result<Calibration> FitCalibration(const Observations& seen, const sim::NetworkProfile& prices, std::uint64_t seed) {
  if (seen.latency_completions.empty()) return InvalidArgument("no latency probes to fit");
  if (seen.stream_rates.empty()) return InvalidArgument("no bandwidth probes to fit");
  if (seen.levels.empty()) return InvalidArgument("no concurrency levels to fit");
  Calibration fit;
  fit.profile = prices;

  // Per-request bandwidth: the median rate, robust to a stream slowed by something else on the host.
  std::vector<double> rates;
  for (double r : seen.stream_rates) {
    if (r > 0) rates.push_back(r);
  }
  if (rates.empty()) return InvalidArgument("no bandwidth probe moved bytes after its first piece");
  auto& bw = fit.stream_bandwidth;
  bw.value = Median(rates);
  std::tie(bw.low, bw.high) = Bootstrap(rates, seed, [](const std::vector<double>& v) { return Median(v); });
  bw.samples = rates.size();
  bw.method =
      "median of the per-request rates (bytes after the first piece over the time they took), 95% "
      "interval by bootstrap";
  bw.measured_at = seen.bandwidth_measured_at;

  // First-byte latency: a small read's completion. Its bytes are not taken off at the per-request
  // bandwidth: a few KiB leave in the first burst of a response (one TCP window, one paced chunk of the
  // fake server), not at the paced rate, so on a fast network that would take off more than the whole
  // transfer took. The simulator charges those bytes at the per-request rate on top, which adds
  // probe_bytes / bandwidth (41 us for 4 KiB at 100 MB/s) to a small read.
  std::vector<double> first_bytes, logs;
  for (Nanos t : seen.latency_completions) {
    const double ns = std::max(1.0, static_cast<double>(t));
    first_bytes.push_back(ns);
    logs.push_back(std::log(ns));
  }
  const LogFit lf = FitLogs(logs);
  auto median_of = [](const std::vector<double>& v) { return std::exp(FitLogs(v).mu); };
  auto p99_of = [](const std::vector<double>& v) {
    const LogFit f = FitLogs(v);
    return std::exp(f.mu + kZ99 * f.sigma);
  };
  const std::string how = "lognormal fitted to " + std::to_string(logs.size()) +
                          " first-byte times (mean and standard deviation of their logarithms)";
  fit.latency_median_ns = {std::exp(lf.mu),         0, 0, logs.size(), how + ": exp(mu); 95% interval by bootstrap",
                           seen.latency_measured_at};
  std::tie(fit.latency_median_ns.low, fit.latency_median_ns.high) = Bootstrap(logs, seed + 1, median_of);
  fit.latency_p99_ns = {
      std::exp(lf.mu + kZ99 * lf.sigma), 0, 0, logs.size(), how + ": exp(mu + 2.3263 sigma); 95% interval by bootstrap",
      seen.latency_measured_at};
  std::tie(fit.latency_p99_ns.low, fit.latency_p99_ns.high) = Bootstrap(logs, seed + 2, p99_of);
  const double smallest = *std::min_element(first_bytes.begin(), first_bytes.end());
  fit.latency_min_ns = {smallest,
                        smallest,
                        smallest,
                        first_bytes.size(),
                        "the smallest first-byte time seen (a floor, not a fitted parameter)",
                        seen.latency_measured_at};

  // Link: the levels that fell well short of level x per-request bandwidth were held back by it.
  std::vector<double> held;
  double best = 0;
  for (const auto& l : seen.levels) {
    best = std::max(best, l.aggregate_bytes_per_s);
    // Only levels whose streams all transferred at once: one that waited for connections falls short too.
    if (l.concurrency >= 2 && l.full_overlap && l.aggregate_bytes_per_s < kLinkShortfall * l.concurrency * bw.value) {
      held.push_back(l.aggregate_bytes_per_s);
    }
  }
  auto& link = fit.link_bandwidth;
  link.measured_at = seen.concurrency_measured_at;
  if (!held.empty()) {
    fit.link_limited = true;
    link.value = Median(held);
    link.low = *std::min_element(held.begin(), held.end());
    link.high = *std::max_element(held.begin(), held.end());
    link.samples = held.size();
    link.method = "median aggregate rate of the concurrency levels below " + FormatFixed(kLinkShortfall, 2) +
                  " x level x per-request bandwidth; interval: their range";
  } else {
    link.value = best;
    link.low = best;
    link.high = std::numeric_limits<double>::infinity();
    link.samples = seen.levels.size();
    link.method = "not reached: every concurrency level moved at least " + FormatFixed(kLinkShortfall, 2) +
                  " x level x per-request bandwidth; the highest aggregate seen is a lower bound";
  }

  // Connections: a level with fewer streams in flight than it opened waited for a connection. One such
  // level is not enough: a first byte in a latency tail can come after the others' last bytes without
  // any limit. Two or more levels that agree on how many were in flight are a limit.
  std::uint32_t most = 0, tried = 0;
  std::map<std::uint32_t, int> short_levels;  // most in flight -> levels that opened more
  for (const auto& l : seen.levels) {
    most = std::max(most, l.max_in_flight);
    tried = std::max(tried, l.concurrency);
    if (!l.full_overlap && l.max_in_flight < l.concurrency) ++short_levels[l.max_in_flight];
  }
  std::uint32_t limit = 0;
  for (const auto& [in_flight, levels] : short_levels) {
    if (levels >= 2) limit = in_flight;
  }
  auto& conn = fit.max_connections;
  conn.measured_at = seen.concurrency_measured_at;
  conn.samples = seen.levels.size();
  if (limit > 0) {
    fit.connection_limited = true;
    conn.value = conn.low = conn.high = limit;
    conn.method =
        "the most requests seen between first and last byte at once, the same at two or more levels "
        "that opened more";
  } else {
    conn.value = std::max<double>(kDefaultCalibratedConnections, tried);
    conn.low = tried;
    conn.high = std::numeric_limits<double>::infinity();
    conn.method = "no limit seen up to " + std::to_string(tried) + " requests at once; the profile gets " +
                  std::to_string(kDefaultCalibratedConnections) +
                  " (aiohttp's default, as gcs-regional) or the "
                  "level tried, whichever is more";
  }

  auto& p = fit.profile;
  p.latency_median_ns = std::max<Nanos>(1, std::llround(fit.latency_median_ns.value));
  p.latency_p99_ns = std::llround(fit.latency_p99_ns.value);
  if (p.latency_p99_ns <= p.latency_median_ns) p.latency_p99_ns = 0;  // constant
  p.latency_min_ns = std::min<Nanos>(std::llround(smallest), p.latency_median_ns);
  p.stream_bandwidth_bytes_per_s = static_cast<double>(std::llround(bw.value));
  p.link_bandwidth_bytes_per_s = static_cast<double>(std::llround(link.value));
  p.max_connections = static_cast<std::uint32_t>(conn.value);
  p.failure_probability = 0;

  // Connection setup: the median handshake, robust to one that met a busy moment.
  auto& connect = fit.connect_overhead_ns;
  connect.measured_at = seen.connections_measured_at;
  if (seen.handshakes.empty()) {
    connect.method = "not measured";
  } else {
    std::vector<double> times(seen.handshakes.begin(), seen.handshakes.end());
    connect.value = Median(times);
    std::tie(connect.low, connect.high) =
        Bootstrap(times, seed + 3, [](const std::vector<double>& v) { return Median(v); });
    connect.samples = times.size();
    connect.method =
        "median time from connect to the end of the handshakes (TCP, and TLS over https) of connections "
        "opened with no request, 95% interval by bootstrap";
    p.connect_overhead_ns = std::llround(connect.value);
  }
  return fit;
}

nlohmann::json CalibratedProfilesFile(const Calibration& fit, const std::string& name, const std::string& target,
                                      const ProbePlan& plan) {
  const auto& p = fit.profile;
  auto interval = [](const Estimate& e, double scale) {
    nlohmann::json ci = nlohmann::json::array();
    ci.push_back(e.low / scale);
    if (std::isfinite(e.high)) {
      ci.push_back(e.high / scale);
    } else {
      ci.push_back(nullptr);  // no upper bound
    }
    return ci;
  };
  auto entry = [&](const Estimate& e, double scale, const std::string& unit) {
    return nlohmann::json{{"value", e.value / scale}, {"ci95", interval(e, scale)}, {"unit", unit},
                          {"samples", e.samples},     {"method", e.method},         {"measured_at", e.measured_at}};
  };
  auto source = [&](const Estimate& e, const std::string& text) {
    return "measured by pflab calibrate against " + target + " at " + e.measured_at + ": " + text + "; " + e.method +
           ".";
  };
  auto range_ms = [](const Estimate& e) {
    return "95% interval " + FormatFixed(e.low / 1e6, 3) + "-" + FormatFixed(e.high / 1e6, 3) + " ms";
  };
  auto range_mb = [](const Estimate& e) {
    return "95% interval " + FormatFixed(e.low / 1e6, 3) + "-" +
           (std::isfinite(e.high) ? FormatFixed(e.high / 1e6, 3) : std::string("unbounded")) + " MB/s";
  };
  nlohmann::json profile;
  profile["description"] = "Calibrated by pflab calibrate against " + target + " with " +
                           std::to_string(plan.requests()) + " requests (" + FormatSize(plan.bytes()) + ").";
  profile["latency_median"] = DurationText(static_cast<double>(p.latency_median_ns));
  if (p.latency_p99_ns > 0) profile["latency_p99"] = DurationText(static_cast<double>(p.latency_p99_ns));
  profile["latency_min"] = DurationText(static_cast<double>(p.latency_min_ns));
  profile["stream_bandwidth"] = RateText(p.stream_bandwidth_bytes_per_s);
  profile["link_bandwidth"] = RateText(p.link_bandwidth_bytes_per_s);
  profile["max_connections"] = p.max_connections;
  if (fit.connect_overhead_ns.samples > 0) {
    profile["connect_overhead"] = DurationText(static_cast<double>(p.connect_overhead_ns));
  }
  profile["usd_per_request"] = p.usd_per_request;
  profile["usd_per_gib"] = p.usd_per_gib;
  profile["sources"] = {
      {"latency_median", source(fit.latency_median_ns, range_ms(fit.latency_median_ns))},
      {"latency_p99", source(fit.latency_p99_ns, range_ms(fit.latency_p99_ns))},
      {"latency_min", source(fit.latency_min_ns, "floor")},
      {"stream_bandwidth", source(fit.stream_bandwidth, range_mb(fit.stream_bandwidth))},
      {"link_bandwidth", source(fit.link_bandwidth, range_mb(fit.link_bandwidth))},
      {"max_connections", source(fit.max_connections, fit.connection_limited ? "limit seen" : "no limit seen")},
      {"connect_overhead", fit.connect_overhead_ns.samples > 0
                               ? source(fit.connect_overhead_ns, range_ms(fit.connect_overhead_ns))
                               : std::string("not measured: 0, no connection setup charged")},
      {"usd_per_request", "not measured: the prices the calibration was given"},
      {"usd_per_gib", "not measured: the prices the calibration was given"}};
  profile["calibration"] = {{"target", target},
                            {"requests", plan.requests()},
                            {"bytes", plan.bytes()},
                            {"link_limited", fit.link_limited},
                            {"connection_limited", fit.connection_limited},
                            {"fields",
                             {{"latency_median", entry(fit.latency_median_ns, 1e6, "ms")},
                              {"latency_p99", entry(fit.latency_p99_ns, 1e6, "ms")},
                              {"latency_min", entry(fit.latency_min_ns, 1e6, "ms")},
                              {"stream_bandwidth", entry(fit.stream_bandwidth, 1e6, "MB/s")},
                              {"link_bandwidth", entry(fit.link_bandwidth, 1e6, "MB/s")},
                              {"max_connections", entry(fit.max_connections, 1, "connections")},
                              {"connect_overhead", entry(fit.connect_overhead_ns, 1e6, "ms")}}}};
  return {{"about",
           "A network profile written by pflab calibrate (docs/network.md#calibration). Use it with "
           "--profile FILE, or --profiles FILE --profile " +
               name + "."},
          {"profiles", {{name, profile}}}};
}

}  // namespace pflab::replay
