// The oracle's acceptance (issue 12): over the corpus, every generator pattern at its default and two
// other sizes (one object over 100 GiB), and random mixes (traces/random_mix.h), every registered
// policy at its defaults and the demo's stacks, on every shipped profile: no port of a policy in use
// (origin other than "ours") finishes more than 1% faster than the oracle (runs with failed reads
// excluded), and the oracle fetches no byte twice (its budget is the comparison's largest peak
// memory, so nothing forces it to).
//
// Our own adaptive policies (`auto`) do beat it on some comparisons, and those are the oracle's known
// gaps (docs/policies.md, "Where the oracle is beaten"): it never hedges a request; its choice among
// plans guards against the worst latency scenario at some cost in the mean; and the streams of one
// object plan together in read order, not in time. They are held to a looser, measured claim: over
// all comparisons the oracle is faster in the geometric mean, and none of them beats it by more than kOwnMargin. Where
// several streams read one object, the oracle's stacks of it plan all their reads together and share their bytes, as
// `auto`'s streams share one fetch (before, each planned alone and auto beat it by up to 71% there, under a looser
// margin of 0.75; measured with sharing, make test-oracle: auto at best 0.81x the oracle's time on such traces, 19 of
// 860 comparisons beaten by more than 1%; since auto's estimate measures first bytes, 0.69x, 21 of 1,000). The summary
// line still reports those traces apart.
//
// The fast slice ([oracle-acceptance], in `make test`) runs seed 1 over everything, and 12 random
// traces. Under a sanitizer it runs the gcs-regional profile only (the Release build runs them all).
// The full run ([.oracle-full], `make test-oracle`) runs seeds 1-5 and 60 random traces, on all
// cores (PFLAB_JOBS to change); PFLAB_ORACLE_MARGINS=1 prints each trace's margin to the best
// policy. [.oracle-mixes] runs more random traces (PFLAB_ORACLE_MIXES=A-B, PFLAB_ORACLE_SEEDS=A-B).
#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

#include "engine/sanitizers.h"
#include "policies/registry.h"
#include "replay/simulation.h"
#include "sim/network_model.h"
#include "traces/generators.h"
#include "traces/random_mix.h"
#include "traces/trace_io.h"

namespace pflab::replay {
namespace {

constexpr std::uint64_t kKiB = 1ull << 10;
constexpr std::uint64_t kMiB = 1ull << 20;
constexpr std::uint64_t kGiB = 1ull << 30;

#ifdef PFLAB_HAS_ASAN
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif

// The largest margin by which one of our own policies may beat the oracle (see the top of the file),
// on every trace, those where several streams read one object included.
constexpr double kOwnMargin = 0.45;

bool Ours(const policies::PolicyEntry& p) {
  return p.origin.rfind("ours", 0) == 0;
}

// Our own policies other than the oracle, at their defaults.
std::vector<std::string> OwnPolicies() {
  std::vector<std::string> out;
  for (const auto& p : policies::RegisteredPolicies()) {
    if (p.name != "oracle" && Ours(p)) out.push_back(p.name);
  }
  return out;
}

// Every policy `pflab policies` lists at its defaults (fsspec-parts needs its parts; concurrent is
// the bottom layer of every stack) and the demo's other entries (scripts/demo.sh).
std::vector<std::string> Competitors() {
  std::vector<std::string> out;
  for (const auto& p : policies::RegisteredPolicies()) {
    if (p.name != "fsspec-parts" && p.name != "concurrent" && p.name != "oracle" && !Ours(p)) out.push_back(p.name);
  }
  for (const char* extra : {"gcsfs-v795(concurrency=4)", "arrow-coalesce(lazy=false)", "fsspec-readahead > gcsfs-v795",
                            "fsspec-blockcache > gcsfs-adaptive"}) {
    out.push_back(extra);
  }
  return out;
}

struct Case {
  std::string name;
  traces::Trace trace;
};

// Whether some object of the trace is read by more than one stream (the oracle plans each alone).
bool SharedObjects(const traces::Trace& trace) {
  std::map<std::uint32_t, std::uint32_t> first_stream;
  for (const auto& r : trace.records) {
    auto [it, inserted] = first_stream.emplace(r.object, r.stream);
    if (!inserted && it->second != r.stream) return true;
  }
  return false;
}

std::vector<Case> Mixes(int from, int to) {
  std::vector<Case> out;
  for (int seed = from; seed <= to; ++seed) {
    traces::RandomMixOptions o;
    o.seed = static_cast<std::uint64_t>(seed);
    auto t = traces::RandomMix(o);
    REQUIRE(t.ok());
    out.push_back({"mix/seed" + std::to_string(seed), std::move(*t)});
  }
  return out;
}

std::vector<Case> Traces(int mixes) {
  std::vector<Case> out;
  for (const auto& entry : std::filesystem::directory_iterator(std::string(PFLAB_SOURCE_DIR) + "/traces/corpus")) {
    if (entry.path().extension() != ".jsonl") continue;
    auto t = traces::ReadTrace(entry.path().string());
    REQUIRE(t.ok());
    out.push_back({"corpus/" + t->name, std::move(*t)});
  }
  struct Size {
    const char* label;
    traces::GeneratorParams params;
  };
  std::vector<Size> sizes(3);
  sizes[0].label = "default";
  sizes[1].label = "small";
  sizes[1].params.object_size = 3 * kMiB + 123;
  sizes[1].params.read_size = 64 * kKiB;
  sizes[1].params.count = 64;
  sizes[2].label = "huge";
  sizes[2].params.object_size = 128 * kGiB + 7;
  sizes[2].params.read_size = 4 * kMiB;
  sizes[2].params.count = 256;
  for (const auto& pattern : traces::Patterns()) {
    if (pattern.name == "mix") continue;  // below, over many seeds
    for (const Size& size : sizes) {
      auto t = traces::Generate(pattern.name, size.params);
      REQUIRE(t.ok());
      out.push_back({"gen/" + pattern.name + "/" + size.label, std::move(*t)});
    }
  }
  for (auto& c : Mixes(1, mixes)) out.push_back(std::move(c));
  return out;
}

// "A-B" (or "A") from the environment, for the exploratory run.
std::pair<int, int> EnvRange(const char* name, std::pair<int, int> fallback) {
  const char* v = std::getenv(name);
  if (!v) return fallback;
  const std::string text = v;
  const auto dash = text.find('-');
  const int a = std::atoi(text.substr(0, dash).c_str());
  const int b = dash == std::string::npos ? a : std::atoi(text.substr(dash + 1).c_str());
  return {a, b};
}

unsigned Jobs() {
  const char* jobs = std::getenv("PFLAB_JOBS");
  const unsigned n = jobs ? static_cast<unsigned>(std::max(1, std::atoi(jobs))) : std::thread::hardware_concurrency();
  return std::max(1u, n);
}

SimulationConfig Config(const traces::Trace& trace, const std::string& policy, const std::string& profile_name,
                        const sim::NetworkProfile& profile, std::uint64_t seed) {
  SimulationConfig c;
  c.trace = &trace;
  auto spec = policies::ParseStackSpec(policy);
  REQUIRE(spec.ok());
  c.policy = *spec;
  c.profile_name = profile_name;
  c.profile = profile;
  c.seed = seed;
  return c;
}

// One comparison: every competitor, then the oracle with their largest peak memory.
struct Outcome {
  std::vector<std::string> failures;
  double oracle_s = 0;
  double best_s = 0;  // the fastest competitor without failed reads
  std::string best;
  std::vector<std::pair<std::string, double>> own;  // our own policies: elapsed / the oracle's
};

Outcome Compare(const Case& c, const std::vector<std::string>& competitors, const std::vector<std::string>& own,
                const std::string& profile_name, const sim::NetworkProfile& profile, std::uint64_t seed) {
  Outcome out;
  std::vector<RunResult> runs, own_runs;
  std::uint64_t peak = 0;
  for (const auto* list : {&competitors, &own}) {
    for (const auto& policy : *list) {
      auto r = RunSimulation(Config(c.trace, policy, profile_name, profile, seed));
      if (!r.ok()) {
        out.failures.push_back(c.name + " x " + policy + ": " + r.error().message);
        continue;
      }
      peak = std::max(peak, r->metrics.peak_memory_bytes);
      (list == &own ? own_runs : runs).push_back(std::move(*r));
    }
  }
  SimulationConfig oc = Config(c.trace, "oracle", profile_name, profile, seed);
  oc.comparison_peak_memory_bytes = peak;
  auto oracle = RunSimulation(oc);
  if (!oracle.ok()) {
    out.failures.push_back(c.name + " x oracle: " + oracle.error().message);
    return out;
  }
  const Metrics& om = oracle->metrics;
  std::ostringstream where;
  where << "trace " << c.name << ", profile " << profile_name << ", seed " << seed;
  if (om.bytes_refetched != 0) {
    out.failures.push_back(where.str() + ": the oracle fetched " + std::to_string(om.bytes_refetched) +
                           " bytes twice with a budget of the comparison's peak (" + std::to_string(peak) + " bytes)");
  }
  if (om.reads_failed) return out;  // runs with failed reads are not compared
  out.oracle_s = om.elapsed_s;
  out.best_s = -1;
  for (const auto& r : runs) {
    if (r.metrics.reads_failed) continue;
    if (out.best_s < 0 || r.metrics.elapsed_s < out.best_s) {
      out.best_s = r.metrics.elapsed_s;
      out.best = r.policy;
    }
    if (r.metrics.elapsed_s < om.elapsed_s * 0.99) {
      std::ostringstream msg;
      msg.precision(6);
      msg << where.str() << ": policy " << r.policy << " took " << r.metrics.elapsed_s << " s, the oracle "
          << om.elapsed_s << " s";
      out.failures.push_back(msg.str());
    }
  }
  for (const auto& r : own_runs) {
    if (!r.metrics.reads_failed && om.elapsed_s > 0) out.own.emplace_back(r.policy, r.metrics.elapsed_s / om.elapsed_s);
  }
  return out;
}

// Runs every (trace, profile, seed) comparison on `jobs` threads and checks them all.
void RunAll(const std::vector<Case>& cases, const std::vector<std::string>& profiles,
            const std::vector<std::uint64_t>& seeds, unsigned jobs) {
  const auto competitors = Competitors();
  const auto own = OwnPolicies();
  std::map<std::string, sim::NetworkProfile> loaded;
  for (const auto& name : profiles) {
    auto p = sim::FindProfile(name);
    REQUIRE(p.ok());
    loaded[name] = *p;
  }
  struct Task {
    std::size_t trace;
    std::string profile;
    std::uint64_t seed;
  };
  std::vector<Task> tasks;
  for (std::size_t t = 0; t < cases.size(); ++t) {
    for (const auto& p : profiles) {
      for (std::uint64_t s : seeds) tasks.push_back({t, p, s});
    }
  }
  std::vector<Outcome> outcomes(tasks.size());
  std::atomic<std::size_t> next{0};
  auto work = [&] {
    for (std::size_t i = next++; i < tasks.size(); i = next++) {
      const Task& task = tasks[i];
      outcomes[i] = Compare(cases[task.trace], competitors, own, task.profile, loaded.at(task.profile), task.seed);
    }
  };
  std::vector<std::thread> threads;
  for (unsigned j = 1; j < jobs; ++j) threads.emplace_back(work);
  work();
  for (auto& t : threads) t.join();

  const bool margins = std::getenv("PFLAB_ORACLE_MARGINS") != nullptr;
  std::size_t failures = 0;
  for (std::size_t i = 0; i < tasks.size(); ++i) {
    for (const auto& f : outcomes[i].failures) {
      ++failures;
      FAIL_CHECK(f);
    }
    if (margins && outcomes[i].best_s > 0) {
      std::cout << cases[tasks[i].trace].name << " " << tasks[i].profile << " seed " << tasks[i].seed << ": oracle "
                << outcomes[i].oracle_s << " s, best " << outcomes[i].best << " " << outcomes[i].best_s << " s, ratio "
                << outcomes[i].best_s / outcomes[i].oracle_s << "\n";
    }
  }
  CHECK(failures == 0);
  CHECK(tasks.size() > 0);

  // Our own policies: the oracle is faster in the geometric mean, and never beaten by more than
  // kOwnMargin.
  std::map<std::string, std::pair<double, std::size_t>> log_sum;  // policy -> (sum of log ratios, count)
  std::map<std::string, std::size_t> beaten;
  std::map<std::string, double> lowest;
  std::map<std::string, std::size_t> shared_count;  // comparisons on traces with a shared object
  std::map<std::string, double> shared_lowest;
  std::map<std::string, std::size_t> shared_beaten;
  std::vector<bool> shared(cases.size());
  for (std::size_t t = 0; t < cases.size(); ++t) shared[t] = SharedObjects(cases[t].trace);
  for (std::size_t i = 0; i < tasks.size(); ++i) {
    for (const auto& [policy, ratio] : outcomes[i].own) {
      log_sum[policy].first += std::log(ratio);
      ++log_sum[policy].second;
      if (ratio < 0.99) ++beaten[policy];
      if (shared[tasks[i].trace]) {
        ++shared_count[policy];
        if (ratio < 0.99) ++shared_beaten[policy];
        if (!shared_lowest.count(policy) || ratio < shared_lowest[policy]) shared_lowest[policy] = ratio;
      } else if (!lowest.count(policy) || ratio < lowest[policy]) {
        lowest[policy] = ratio;
      }
      if (ratio < 1 - kOwnMargin) {
        FAIL_CHECK(cases[tasks[i].trace].name << ", profile " << tasks[i].profile << ", seed " << tasks[i].seed << ": "
                                              << policy << " took " << ratio << "x the oracle's time");
      }
    }
  }
  for (const auto& [policy, sum] : log_sum) {
    const double geomean = std::exp(sum.first / static_cast<double>(sum.second));
    std::cout << "oracle acceptance: " << policy << " beat the oracle by more than 1% in " << beaten[policy] << " of "
              << sum.second << " comparisons (at best " << lowest[policy]
              << "x the oracle's time where each object has one reader; " << shared_beaten[policy]
              << " of them among the " << shared_count[policy] << " with an object several streams read, at best "
              << shared_lowest[policy] << "x); geometric mean of its time / the oracle's " << geomean << "\n";
    INFO(policy);
    CHECK(geomean >= 1.0);
  }
}

std::vector<std::string> AllProfiles() {
  auto all = sim::LoadProfiles(sim::DefaultProfilesPath());
  REQUIRE(all.ok());
  std::vector<std::string> out;
  for (const auto& [name, profile] : *all) out.push_back(name);
  return out;
}

TEST_CASE("oracle acceptance: no policy beats the oracle by more than 1% (seed 1)", "[oracle-acceptance][oracle]") {
  const auto profiles = kSanitized ? std::vector<std::string>{"gcs-regional"} : AllProfiles();
  RunAll(Traces(12), profiles, {1}, 1);
}

TEST_CASE("oracle acceptance, full: seeds 1-5, 60 random traces", "[.oracle-full][oracle]") {
  RunAll(Traces(60), AllProfiles(), {1, 2, 3, 4, 5}, Jobs());
}

// Random traces only, beyond the ones above: PFLAB_ORACLE_MIXES=61-500 PFLAB_ORACLE_SEEDS=1-5.
TEST_CASE("oracle acceptance, more random traces", "[.oracle-mixes][oracle]") {
  const auto [from, to] = EnvRange("PFLAB_ORACLE_MIXES", {61, 160});
  const auto [first, last] = EnvRange("PFLAB_ORACLE_SEEDS", {1, 1});
  std::vector<std::uint64_t> seeds;
  for (int s = first; s <= last; ++s) seeds.push_back(static_cast<std::uint64_t>(s));
  RunAll(Mixes(from, to), AllProfiles(), seeds, Jobs());
}

}  // namespace
}  // namespace pflab::replay
