// The comparison `auto` is judged by (issue 15; reports/findings/auto.md): every trace of the corpus and
// every generator pattern at three sizes, against every anchor policy, over seeds and network profiles,
// as medians over seeds. Used by the acceptance test (the whole comparison, `make test-auto`) and by
// its fast slice in `make test`.
#pragma once

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "engine/units.h"
#include "policies/registry.h"
#include "replay/matrix.h"
#include "sim/network_model.h"
#include "traces/generators.h"
#include "traces/trace_io.h"

namespace pflab::testing::auto_eval {

namespace fs = std::filesystem;

/// The three sizes each generator pattern is judged at: its defaults, a small object read in small
/// pieces, and an object over 100 GiB.
struct PatternSize {
  std::string suffix;  // appended to the pattern's name ("" for the defaults)
  traces::GeneratorParams params;
};
inline std::vector<PatternSize> PatternSizes() {
  traces::GeneratorParams small;
  small.object_size = 16 * kMiB;
  small.read_size = 64 * kKiB;
  small.count = 256;
  traces::GeneratorParams huge;
  huge.object_size = 1024 * kGiB;
  huge.read_size = 4 * kMiB;
  huge.count = 256;
  return {{"", {}}, {"-small", small}, {"-huge", huge}};
}

/// Every generator pattern at every size, named pattern[-small|-huge].
inline std::vector<traces::Trace> PatternTraces() {
  std::vector<traces::Trace> out;
  for (const auto& pattern : traces::Patterns()) {
    for (const PatternSize& size : PatternSizes()) {
      auto trace = traces::Generate(pattern.name, size.params);
      REQUIRE(trace.ok());
      trace->name = pattern.name + size.suffix;
      out.push_back(std::move(*trace));
    }
  }
  return out;
}

/// The committed corpus (traces/corpus/*.jsonl), named by file stem, sorted.
inline std::vector<traces::Trace> CorpusTraces() {
  std::vector<std::string> paths;
  for (const auto& entry : fs::directory_iterator(fs::path(PFLAB_SOURCE_DIR) / "traces" / "corpus")) {
    if (entry.path().extension() == ".jsonl") paths.push_back(entry.path().string());
  }
  std::sort(paths.begin(), paths.end());
  std::vector<traces::Trace> out;
  for (const auto& p : paths) {
    auto trace = traces::ReadTrace(p);
    REQUIRE(trace.ok());
    out.push_back(std::move(*trace));
  }
  REQUIRE(out.size() >= 10);
  return out;
}

/// The stacks `make demo` compares (scripts/demo.sh's POLICIES default) that are not a registered
/// policy at its defaults: e.g. `fsspec-readahead > gcsfs-v795`, `arrow-coalesce(lazy=false)`.
inline std::vector<std::string> DemoStacks() {
  std::ifstream in(fs::path(PFLAB_SOURCE_DIR) / "scripts" / "demo.sh");
  REQUIRE(in.good());
  std::string line;
  std::string list;
  const std::string key = "POLICIES=${POLICIES:-'";
  while (std::getline(in, line)) {
    const auto at = line.find(key);
    if (at == std::string::npos) continue;
    list = line.substr(at + key.size());
    list = list.substr(0, list.find('\''));
  }
  REQUIRE_FALSE(list.empty());
  std::vector<std::string> out;
  std::stringstream ss(list);
  for (std::string item; std::getline(ss, item, ',');) {
    if (item.find('>') != std::string::npos || item.find('(') != std::string::npos) out.push_back(item);
  }
  return out;
}

/// The anchors: every registered policy at its defaults but the yardsticks (oracle, bound), `auto`
/// itself, fsspec-parts (it needs its parts) and the bottom `concurrent`; then the demo's stacks.
inline std::vector<std::string> Anchors() {
  std::vector<std::string> out;
  for (const auto& p : policies::RegisteredPolicies()) {
    if (p.name == "oracle" || p.name == "bound" || p.name == "auto" || p.name == "fsspec-parts" ||
        p.placement == policies::Placement::kBottom) {
      continue;
    }
    out.push_back(p.name);
  }
  for (const auto& s : DemoStacks()) {
    if (s.rfind("auto", 0) != 0 && s.rfind("oracle", 0) != 0) out.push_back(s);
  }
  return out;
}

/// One run's numbers.
struct Sample {
  double elapsed_s = 0;
  std::uint64_t bytes_fetched = 0;
  std::uint64_t peak_memory = 0;       // the run's (every open file together)
  std::uint64_t peak_file_memory = 0;  // the most one open file held
  std::uint64_t reads_failed = 0;
};

/// Medians over seeds of one (profile, trace, policy).
struct Median {
  double elapsed_s = 0;
  double bytes_fetched = 0;
  std::uint64_t peak_memory = 0;  // the highest over seeds
  std::uint64_t peak_file_memory = 0;
  std::uint64_t reads_failed = 0;  // summed over seeds
};

using Key = std::tuple<std::string, std::string, std::string>;  // profile, trace, policy

/// Runs every trace x policy x seed on each profile in the simulator; returns the medians. The profiles
/// are the built-in ones, or those of `profiles_file` where one is named.
inline std::map<Key, Median> Run(const std::vector<const traces::Trace*>& traces,
                                 const std::vector<std::string>& policy_specs, const std::vector<std::string>& profiles,
                                 const std::vector<std::uint64_t>& seeds,
                                 replay::TransportKind transport = replay::TransportKind::kSim,
                                 bool verify_bytes = false, const std::string& profiles_file = "") {
  std::map<Key, std::vector<Sample>> samples;
  for (const std::string& profile_name : profiles) {
    replay::RunPlan plan;
    plan.traces = traces;
    for (const auto& spec : policy_specs) {
      auto parsed = policies::ParseStackSpec(spec);
      REQUIRE(parsed.ok());
      plan.policies.push_back(*parsed);
    }
    auto profile = sim::FindProfile(profile_name, profiles_file);
    REQUIRE(profile.ok());
    plan.profile_name = profile_name;
    plan.profile = *profile;
    plan.seeds = seeds;
    plan.transport = transport;
    plan.verify_bytes = verify_bytes;
    replay::RunHooks hooks;
    std::vector<std::string> errors;
    hooks.on_finish = [&](const replay::RunCell& cell, Result<replay::RunResult>&& result) {
      const std::string& trace = traces[cell.trace]->name;
      const std::string& policy = policy_specs[cell.policy];
      if (!result) {
        errors.push_back(trace + " / " + policy + " / " + profile_name + ": " + result.error().message);
        return true;
      }
      const auto& m = result->metrics;
      samples[{profile_name, trace, policy}].push_back(
          Sample{m.elapsed_s, m.bytes_fetched, m.peak_memory_bytes, result->peak_file_memory_bytes, m.reads_failed});
      return true;
    };
    REQUIRE(replay::RunMatrix(plan, hooks).ok());
    INFO((errors.empty() ? std::string() : errors.front()));
    REQUIRE(errors.empty());
  }
  std::map<Key, Median> out;
  for (const auto& entry : samples) {
    const std::vector<Sample>& list = entry.second;  // a named variable: clang 14 cannot capture a binding
    auto median = [&list](auto field) {
      std::vector<double> v;
      for (const Sample& s : list) v.push_back(static_cast<double>(field(s)));
      std::sort(v.begin(), v.end());
      return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
    };
    Median m;
    m.elapsed_s = median([](const Sample& s) { return s.elapsed_s; });
    m.bytes_fetched = median([](const Sample& s) { return s.bytes_fetched; });
    for (const Sample& s : list) {
      m.peak_memory = std::max(m.peak_memory, s.peak_memory);
      m.peak_file_memory = std::max(m.peak_file_memory, s.peak_file_memory);
      m.reads_failed += s.reads_failed;
    }
    out[entry.first] = m;
  }
  return out;
}

/// The verdict on one (profile, trace).
struct Cell {
  std::string profile;
  std::string trace;
  std::string fastest;  // the fastest anchor
  Median best;          // its medians
  Median none;
  Median candidate;
  double oracle_s = 0;
  bool time_ok = false;   // elapsed <= 1.10 x the fastest anchor's
  bool bytes_ok = false;  // bytes <= 1.5 x the fastest anchor's
  bool none_ok = false;   // where no anchor beats none: elapsed <= 1.02 x none's
  bool ok() const { return time_ok && bytes_ok && none_ok; }
  /// The fastest anchor whose peak memory per open file stayed within `budget`, and its medians.
  std::string fastest_within;
  Median best_within;
};

/// Judges `candidate` on every (profile, trace) of `results` against `anchors`.
inline std::vector<Cell> Judge(const std::map<Key, Median>& results, const std::vector<std::string>& anchors,
                               const std::string& candidate, std::uint64_t budget) {
  std::set<std::pair<std::string, std::string>> cells;
  for (const auto& [key, m] : results) cells.insert({std::get<0>(key), std::get<1>(key)});
  std::vector<Cell> out;
  for (const auto& [profile, trace] : cells) {
    Cell c;
    c.profile = profile;
    c.trace = trace;
    c.candidate = results.at({profile, trace, candidate});
    c.none = results.at({profile, trace, "none"});
    c.oracle_s = results.at({profile, trace, "oracle"}).elapsed_s;
    bool first = true;
    bool first_within = true;
    for (const auto& a : anchors) {
      const Median& m = results.at({profile, trace, a});
      if (first || m.elapsed_s < c.best.elapsed_s) {
        c.fastest = a;
        c.best = m;
        first = false;
      }
      if (m.peak_file_memory <= budget && (first_within || m.elapsed_s < c.best_within.elapsed_s)) {
        c.fastest_within = a;
        c.best_within = m;
        first_within = false;
      }
    }
    c.time_ok = c.candidate.elapsed_s <= 1.10 * c.best.elapsed_s;
    c.bytes_ok = c.candidate.bytes_fetched <= 1.5 * c.best.bytes_fetched;
    const bool none_fastest = c.best.elapsed_s >= c.none.elapsed_s;
    c.none_ok = !none_fastest || c.candidate.elapsed_s <= 1.02 * c.none.elapsed_s;
    out.push_back(c);
  }
  return out;
}

/// Geometric mean over all (profile, trace) of elapsed / the oracle's.
inline double GeomeanVsOracle(const std::map<Key, Median>& results, const std::string& policy) {
  double sum = 0;
  int n = 0;
  for (const auto& [key, m] : results) {
    if (std::get<2>(key) != policy) continue;
    const Median& oracle = results.at({std::get<0>(key), std::get<1>(key), "oracle"});
    sum += std::log(m.elapsed_s / oracle.elapsed_s);
    ++n;
  }
  return std::exp(sum / n);
}

/// A Markdown table of the verdicts.
inline std::string Table(const std::vector<Cell>& cells) {
  std::ostringstream out;
  out << "| profile | trace | fastest anchor | its elapsed s | its MiB | auto elapsed s | x fastest | auto MiB | x its "
         "bytes | vs oracle | verdict |\n|---|---|---|---|---|---|---|---|---|---|---|\n";
  char buf[512];
  for (const Cell& c : cells) {
    std::snprintf(buf, sizeof buf, "| %s | %s | `%s` | %.3f | %.1f | %.3f | %.2f | %.1f | %.2f | %.2f | %s |\n",
                  c.profile.c_str(), c.trace.c_str(), c.fastest.c_str(), c.best.elapsed_s, c.best.bytes_fetched / kMiB,
                  c.candidate.elapsed_s, c.candidate.elapsed_s / c.best.elapsed_s, c.candidate.bytes_fetched / kMiB,
                  c.candidate.bytes_fetched / std::max(1.0, c.best.bytes_fetched), c.candidate.elapsed_s / c.oracle_s,
                  c.ok() ? "ok" : (!c.time_ok ? "slower" : (!c.bytes_ok ? "bytes" : "vs none")));
    out << buf;
  }
  return out.str();
}

}  // namespace pflab::testing::auto_eval
