#include "reports/summary.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <map>
#include <set>
#include <tuple>

#include "replay/bound.h"
#include "reports/results.h"

namespace pflab::reports {
namespace {

double MedianOf(const std::vector<const replay::RunResult*>& runs,
                const std::function<double(const replay::Metrics&)>& field) {
  std::vector<double> v;
  for (const auto* r : runs) v.push_back(field(r->metrics));
  return Median(std::move(v));
}

std::uint64_t Count(double median) {
  return static_cast<std::uint64_t>(std::llround(median));
}

replay::Metrics MedianMetrics(const std::vector<const replay::RunResult*>& runs) {
  replay::Metrics m;
  using M = replay::Metrics;
  m.elapsed_s = MedianOf(runs, [](const M& x) { return x.elapsed_s; });
  m.stall_s = MedianOf(runs, [](const M& x) { return x.stall_s; });
  m.read_latency_p50_s = MedianOf(runs, [](const M& x) { return x.read_latency_p50_s; });
  m.read_latency_p95_s = MedianOf(runs, [](const M& x) { return x.read_latency_p95_s; });
  m.read_latency_p99_s = MedianOf(runs, [](const M& x) { return x.read_latency_p99_s; });
  m.read_latency_max_s = MedianOf(runs, [](const M& x) { return x.read_latency_max_s; });
  auto count = [&](std::uint64_t M::*field) {
    return Count(MedianOf(runs, [field](const M& x) { return static_cast<double>(x.*field); }));
  };
  m.reads = count(&M::reads);
  m.reads_failed = count(&M::reads_failed);
  m.bytes_read = count(&M::bytes_read);
  m.bytes_fetched = count(&M::bytes_fetched);
  m.bytes_wasted = count(&M::bytes_wasted);
  m.requests = count(&M::requests);
  m.requests_cancelled = count(&M::requests_cancelled);
  m.requests_failed = count(&M::requests_failed);
  m.retries = count(&M::retries);
  m.peak_memory_bytes = count(&M::peak_memory_bytes);
  m.cost_usd = MedianOf(runs, [](const M& x) { return x.cost_usd; });
  // Any refetch is a planning failure to show, so the most over the seeds, not the median.
  for (const auto* r : runs) m.bytes_refetched = std::max(m.bytes_refetched, r->metrics.bytes_refetched);
  return m;
}

std::string Percent(double fraction) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f%%", fraction * 100);
  return buf;
}

std::string P(double p) {
  char buf[32];
  std::snprintf(buf, sizeof buf, p < 0.001 ? "p=%.1e" : "p=%.3f", p);
  return buf;
}

}  // namespace

bool PolicyCell::reference() const {
  return policy == replay::kBoundPolicy || policy == kOraclePolicy;
}

const PolicyCell* TraceSummary::Find(const std::string& policy) const {
  for (const auto& c : cells) {
    if (c.policy == policy) return &c;
  }
  return nullptr;
}
const PolicyCell* TraceSummary::bound() const {
  return Find(replay::kBoundPolicy);
}
const PolicyCell* TraceSummary::none() const {
  return Find(kBaselinePolicy);
}
const PolicyCell* TraceSummary::oracle() const {
  return Find(kOraclePolicy);
}

std::vector<TraceSummary> Summarize(const std::vector<replay::RunResult>& runs) {
  std::set<std::pair<std::string, std::string>> settings;
  for (const auto& r : runs) settings.insert({r.profile, r.think});
  std::vector<TraceSummary> out;
  std::map<std::tuple<std::string, std::string, std::string>, std::size_t> index;
  for (const auto& run : runs) {
    auto [it, fresh] = index.try_emplace({run.trace, run.profile, run.think}, out.size());
    if (fresh) {
      TraceSummary t;
      t.trace = run.trace;
      t.profile = run.profile;
      t.think = run.think;
      t.label = settings.size() > 1 ? run.trace + " (" + run.profile + ", think " + run.think + ")" : run.trace;
      out.push_back(std::move(t));
    }
    TraceSummary& t = out[it->second];
    if (std::find(t.seeds.begin(), t.seeds.end(), run.seed) == t.seeds.end()) t.seeds.push_back(run.seed);
    auto cell =
        std::find_if(t.cells.begin(), t.cells.end(), [&](const PolicyCell& c) { return c.policy == run.policy; });
    if (cell == t.cells.end()) {
      t.cells.push_back(PolicyCell{});
      t.cells.back().policy = run.policy;
      cell = std::prev(t.cells.end());
    }
    cell->runs.push_back(&run);
  }
  for (auto& t : out) {
    std::sort(t.seeds.begin(), t.seeds.end());
    // The reference runs of each seed.
    std::map<std::pair<std::string, std::uint64_t>, double> reference;
    for (auto& c : t.cells) {
      std::stable_sort(c.runs.begin(), c.runs.end(), [](const auto* a, const auto* b) { return a->seed < b->seed; });
      if (c.policy == kBaselinePolicy || c.policy == kOraclePolicy || c.policy == replay::kBoundPolicy) {
        for (const auto* r : c.runs) reference[{c.policy, r->seed}] = r->metrics.elapsed_s;
      }
    }
    for (auto& c : t.cells) {
      for (const auto* r : c.runs) {
        c.elapsed.push_back(r->metrics.elapsed_s);
        c.reads_failed += r->metrics.reads_failed;
        c.runs_failed += r->failed() ? 1 : 0;
        c.reads_wrong += r->metrics.reads_wrong;
        c.runs_hung += r->errors.by_reason.count("hang") ? 1 : 0;
      }
      c.elapsed_median = Median(c.elapsed);
      c.elapsed_min = *std::min_element(c.elapsed.begin(), c.elapsed.end());
      c.elapsed_max = *std::max_element(c.elapsed.begin(), c.elapsed.end());
      c.median = MedianMetrics(c.runs);
      auto ratio = [&](const char* policy) -> std::optional<double> {
        std::vector<double> ratios;
        for (const auto* r : c.runs) {
          auto it = reference.find({policy, r->seed});
          if (it != reference.end() && it->second > 0) ratios.push_back(r->metrics.elapsed_s / it->second);
        }
        if (ratios.empty()) return std::nullopt;
        return Median(std::move(ratios));
      };
      c.vs_none = ratio(kBaselinePolicy);
      c.vs_oracle = ratio(kOraclePolicy);
      c.vs_bound = ratio(replay::kBoundPolicy);
    }
    // Winner and runner-up among the policies under study whose runs all succeeded (reads that fail
    // fast would otherwise look best); ties go to the name that sorts first.
    std::vector<int> ranked;
    for (std::size_t i = 0; i < t.cells.size(); ++i) {
      if (!t.cells[i].reference() && t.cells[i].runs_failed == 0) ranked.push_back(static_cast<int>(i));
    }
    std::sort(ranked.begin(), ranked.end(), [&](int a, int b) {
      const auto& x = t.cells[static_cast<std::size_t>(a)];
      const auto& y = t.cells[static_cast<std::size_t>(b)];
      return std::tie(x.elapsed_median, x.policy) < std::tie(y.elapsed_median, y.policy);
    });
    if (!ranked.empty()) t.winner = ranked[0];
    if (ranked.size() > 1) {
      t.runner_up = ranked[1];
      t.winner_test = MannWhitneyU(t.cells[static_cast<std::size_t>(t.winner)].elapsed,
                                   t.cells[static_cast<std::size_t>(t.runner_up)].elapsed);
    }
  }
  return out;
}

std::vector<PolicyOverview> Overview(const std::vector<TraceSummary>& traces) {
  std::vector<PolicyOverview> out;
  std::map<std::string, std::vector<double>> ratios;
  for (const auto& t : traces) {
    for (std::size_t i = 0; i < t.cells.size(); ++i) {
      const auto& c = t.cells[i];
      if (c.policy == replay::kBoundPolicy) continue;
      auto it = std::find_if(out.begin(), out.end(), [&](const PolicyOverview& o) { return o.policy == c.policy; });
      if (it == out.end()) {
        out.push_back(PolicyOverview{c.policy, 0, 0, 0});
        it = std::prev(out.end());
      }
      if (c.vs_bound) ratios[c.policy].push_back(*c.vs_bound);
      if (t.winner == static_cast<int>(i)) ++it->wins;
    }
  }
  for (auto& o : out) {
    o.traces = ratios[o.policy].size();
    o.geomean_vs_bound = GeometricMean(ratios[o.policy]);
  }
  return out;
}

std::string TellApart(const TraceSummary& t) {
  if (t.winner < 0 || t.runner_up < 0) return "-";
  const auto& a = t.cells[static_cast<std::size_t>(t.winner)];
  const auto& b = t.cells[static_cast<std::size_t>(t.runner_up)];
  if (t.winner_test.min_p >= kSignificance) {
    return "too few seeds (" + std::to_string(std::min(a.runs.size(), b.runs.size())) +
           " per policy; the test needs 4)";
  }
  return std::string(t.winner_test.p < kSignificance ? "yes" : "no") + " (" + P(t.winner_test.p) + ")";
}

std::vector<std::string> YardstickWarnings(const std::vector<replay::RunResult>& runs, bool measured) {
  std::map<std::tuple<std::string, std::string, std::string, std::uint64_t>, const replay::RunResult*> oracle, bound;
  for (const auto& r : runs) {
    if (r.policy == kOraclePolicy) oracle[{r.trace, r.profile, r.think, r.seed}] = &r;
    if (r.policy == replay::kBoundPolicy) bound[{r.trace, r.profile, r.think, r.seed}] = &r;
  }
  std::vector<std::string> out;
  for (const auto& r : runs) {
    if (r.policy == replay::kBoundPolicy || r.failed()) continue;
    const auto key = std::make_tuple(r.trace, r.profile, r.think, r.seed);
    const std::string where = "trace " + r.trace + ", profile " + r.profile + ", seed " + std::to_string(r.seed);
    const auto b = bound.find(key);
    if (b != bound.end() && r.metrics.reads < b->second->metrics.reads) {
      // The run ended with reads never delivered (a policy that stopped issuing requests): its elapsed
      // time measures only the reads that finished, so it is compared with nothing.
      out.push_back("warning: " + r.policy + " delivered only " + std::to_string(r.metrics.reads) + " of " +
                    std::to_string(b->second->metrics.reads) + " reads (" + where +
                    "): the run stopped early, a bug in the policy");
      continue;
    }
    if (b != bound.end() && r.metrics.elapsed_s < b->second->metrics.elapsed_s) {
      char buf[160];
      std::snprintf(buf, sizeof buf, " finished in %.9f s, under the bound of %.9f s", r.metrics.elapsed_s,
                    b->second->metrics.elapsed_s);
      out.push_back("error: " + r.policy + buf + " (" + where +
                    "): the bound does not hold; this is a bug in the bound or the simulator, please report it");
    }
    if (r.policy == kOraclePolicy || measured) continue;
    const auto it = oracle.find(key);
    if (it == oracle.end() || it->second->failed()) continue;
    // An oracle run that stopped early is reported above and measures nothing.
    if (b != bound.end() && it->second->metrics.reads < b->second->metrics.reads) continue;
    if (r.metrics.elapsed_s < (1 - kOracleGapFraction) * it->second->metrics.elapsed_s) {
      char buf[160];
      std::snprintf(buf, sizeof buf, " (%.3f s against %.3f s, %s faster)", r.metrics.elapsed_s,
                    it->second->metrics.elapsed_s,
                    Percent(1 - r.metrics.elapsed_s / it->second->metrics.elapsed_s).c_str());
      out.push_back("warning: " + r.policy + " beat the oracle on " + where + buf + ": the oracle has a gap here");
    }
  }
  return out;
}

}  // namespace pflab::reports
