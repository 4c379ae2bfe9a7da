// Random stacks with random parameters on random traces: every read is delivered, with the object's
// bytes (checked by the simulator's verify_bytes), none waits forever, and none fails on a profile
// that injects no failures. The unit tests check each policy at its defaults and a few chosen
// variants; this finds what only a combination shows. The search that became it found `auto` under a
// cache that keeps its buffers (`fsspec-blockcache > auto`) waiting forever for memory, and
// `gcsfuse-buffered` with fewer workers than queued blocks never starting the block a read jumped to.
//
// Stacks of one to three layers are drawn from the registry (placement rules applied by
// ValidateStack), each parameter set with probability 1/2 to a value drawn for its kind; traces from
// traces/random_mix (`pflab gen mix --seed N`); every fifth seed's profile is drawn too, field by field
// across the ranges a profiles file may hold (a drawn profile found the simulated clock wrapping past
// 2^63 ns at a byte per second). A failure writes its trace to a file and prints the
// `pflab compare` line that reproduces it. `[soak]` runs a fast slice in `make test`; `make
// test-soak` runs "[soak-full]" (PFLAB_SOAK_RUNS runs, 1,000 by default, from PFLAB_SOAK_FIRST_SEED).
#include <catch2/catch.hpp>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "engine/units.h"
#include "policies/registry.h"
#include "replay/simulation.h"
#include "sim/network_model.h"
#include "tests/support/property_runs.h"
#include "traces/random_mix.h"

namespace pflab::replay {
namespace {

template <typename T>
const T& Pick(std::mt19937_64& rng, const std::vector<T>& from) {
  return from[std::uniform_int_distribution<std::size_t>(0, from.size() - 1)(rng)];
}

// Sizes from a page up: below that, blocks and parts of a few bytes make millions of requests per
// read of a few MiB (a run then measures nothing but patience).
std::string DrawValue(std::mt19937_64& rng, const policies::ParamDescriptor& p) {
  static const std::vector<std::string> kSizes = {"4KiB", "64KiB", "300KiB", "1MiB", "5MiB", "16MiB", "64MiB", "1GiB"};
  static const std::vector<std::string> kUints = {"0", "1", "2", "3", "4", "8", "64", "1000"};
  switch (p.kind) {
    case policies::ParamKind::kSize: return Pick(rng, kSizes);
    case policies::ParamKind::kUint: return Pick(rng, kUints);
    case policies::ParamKind::kBool: return rng() % 2 ? "true" : "false";
    case policies::ParamKind::kChoice: return Pick(rng, p.choices);
    case policies::ParamKind::kText: return "";
  }
  return "";
}

// One layer: a registered policy with some of its parameters drawn, as the entry accepts them.
std::string DrawLayer(std::mt19937_64& rng, const policies::PolicyEntry& entry) {
  for (int attempt = 0; attempt < 20; ++attempt) {
    std::map<std::string, std::string> values;
    for (const auto& p : entry.params) {
      if (rng() % 2 == 0) continue;
      std::string v = DrawValue(rng, p);
      if (!v.empty()) values[p.name] = v;
    }
    if (!entry.Parse(values).ok()) continue;
    std::string text = entry.name;
    if (!values.empty()) {
      text += "(";
      bool first = true;
      for (const auto& [k, v] : values) {
        text += (first ? "" : ",") + k + "=" + v;
        first = false;
      }
      text += ")";
    }
    return text;
  }
  return entry.name;
}

// fsspec-parts serves only the parts it is given (it fails or zero-fills the rest); Python policies
// need a file of their own.
bool Drawable(const policies::PolicyEntry& e) {
  return e.name != "fsspec-parts" && !e.parse_any;
}

policies::StackSpec DrawStack(std::mt19937_64& rng) {
  std::vector<const policies::PolicyEntry*> entries;
  for (const auto& e : policies::RegisteredPolicies()) {
    if (Drawable(e)) entries.push_back(&e);
  }
  for (;;) {
    const std::uint64_t roll = rng() % 10;
    const int layers = roll < 5 ? 1 : roll < 9 ? 2 : 3;
    std::string text;
    for (int i = 0; i < layers; ++i) text += (i ? " > " : "") + DrawLayer(rng, *Pick(rng, entries));
    auto spec = policies::ParseStackSpec(text);
    REQUIRE(spec.ok());  // drawn from the registry: a parse failure is a bug of the drawing
    if (policies::ValidateStack(*spec).ok()) return *spec;
  }
}

// A profile of the file format with every field drawn from across its valid range, extremes included
// (a byte per second, an hour's latency, a million connections): what a user's file may hold. Such a
// run may stop at the simulated clock's horizon, and must say so; nothing else may go wrong.
std::string DrawProfileText(std::mt19937_64& rng) {
  static const std::vector<std::string> kDurations = {"0ms", "1us", "1ms", "35ms", "1s", "3600s"};
  static const std::vector<std::string> kRates = {"1B/s", "1KB/s", "1MB/s", "220MB/s", "2GB/s", "1000000GB/s"};
  auto index = [&](std::size_t n) { return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng); };
  const std::size_t median = index(kDurations.size());
  std::ostringstream p;
  p << R"({"profiles": {"soak": {"latency_median": ")" << kDurations[median] << '"';
  if (rng() % 2) p << R"(, "latency_p99": ")" << kDurations[median + index(kDurations.size() - median)] << '"';
  if (rng() % 2) p << R"(, "latency_min": ")" << kDurations[index(median + 1)] << '"';
  p << R"(, "stream_bandwidth": ")" << Pick(rng, kRates) << R"(", "link_bandwidth": ")" << Pick(rng, kRates) << '"';
  p << R"(, "max_connections": )" << Pick(rng, std::vector<std::string>{"1", "2", "100", "1000000"});
  p << R"(, "usd_per_request": 4e-7, "usd_per_gib": 0.02)";
  if (rng() % 4 == 0) p << R"(, "failure_probability": )" << Pick(rng, std::vector<std::string>{"0.01", "0.5", "1"});
  if (rng() % 4 == 0)
    p << R"(, "stream_window": ")" << Pick(rng, std::vector<std::string>{"4KiB", "6MiB", "1TiB"}) << '"';
  for (const char* field : {"request_overhead", "stream_overhead", "connect_overhead", "read_overhead_per_mib"}) {
    if (rng() % 4 == 0) p << ", \"" << field << "\": \"" << kDurations[index(kDurations.size())] << '"';
  }
  if (rng() % 4 == 0) p << R"(, "host_bandwidth": ")" << Pick(rng, kRates) << '"';
  if (rng() % 4 == 0) p << R"(, "request_overhead_cores": )" << rng() % 5;
  p << "}}}";
  return p.str();
}

struct SoakCase {
  std::uint64_t seed;
  traces::Trace trace;
  policies::StackSpec spec;
  std::string profile;       // a built-in profile's name, or "soak" for profile_text
  std::string profile_text;  // a drawn profile (every fifth seed), else empty
  ThinkTime think;
};

SoakCase DrawCase(std::uint64_t seed) {
  std::mt19937_64 rng(seed * 0x9E3779B97F4A7C15ull + 1);
  traces::RandomMixOptions options;
  options.seed = seed;
  options.max_read_size = 16 * kMiB;
  auto trace = traces::RandomMix(options);
  REQUIRE(trace.ok());
  static const std::vector<std::string> kProfiles = {"gcs-regional", "gcs-cross-region", "local-fast",
                                                     "gcs-regional-flaky"};
  static const std::vector<std::string> kThink = {"recorded", "zero", "x0.5"};
  policies::StackSpec spec = DrawStack(rng);
  std::string profile = Pick(rng, kProfiles);
  const ThinkTime think = *ThinkTime::Parse(Pick(rng, kThink));
  std::string profile_text;
  if (seed % 5 == 0) {  // its own generator, so the other seeds draw what they drew before
    std::mt19937_64 profile_rng(seed ^ 0x5DEECE66Dull);
    profile_text = DrawProfileText(profile_rng);
    profile = "soak";
  }
  return {seed, std::move(*trace), std::move(spec), profile, profile_text, think};
}

void Soak(std::uint64_t first, std::uint64_t count) {
  auto profiles = sim::LoadProfiles(sim::DefaultProfilesPath());
  REQUIRE(profiles.ok());
  std::size_t failures = 0;
  for (std::uint64_t seed = first; seed < first + count; ++seed) {
    const SoakCase c = DrawCase(seed);
    SimulationConfig config;
    config.trace = &c.trace;
    config.policy = c.spec;
    config.profile_name = c.profile;
    if (c.profile_text.empty()) {
      config.profile = profiles->at(c.profile);
    } else {
      auto drawn = sim::ParseProfiles(c.profile_text, "the drawn profile");
      REQUIRE(drawn.ok());  // drawn within the valid ranges: a parse failure is a bug of the drawing
      config.profile = drawn->at("soak");
    }
    config.seed = seed;
    config.think = c.think;
    config.verify_bytes = true;
    auto run = RunSimulation(config);
    REQUIRE(run.ok());
    const Metrics& m = run->metrics;
    const bool injects = config.profile.failure_probability > 0;
    std::ostringstream why;
    // A run that stopped at the clock's horizon says so in its hang, which RunErrors always keeps last.
    const bool at_horizon =
        !run->errors.first.empty() && run->errors.first.back().message.find("horizon of 2^62 ns") != std::string::npos;
    if (m.reads != c.trace.records.size() && !(at_horizon && !c.profile_text.empty())) {
      why << "delivered " << m.reads << " of " << c.trace.records.size() << " reads and stopped";
    } else if (m.reads_wrong > 0) {
      why << m.reads_wrong << " reads delivered wrong bytes";
    } else if (m.reads_failed > 0 && !injects) {
      why << m.reads_failed << " reads failed on a profile without failures";
    }
    if (why.str().empty()) continue;
    ++failures;
    const std::string file = testing::SaveFailingTrace("pflab_soak_seed", seed, c.trace);
    std::string profile_option = " --profile " + c.profile;
    if (!c.profile_text.empty()) {
      profile_option += " --profiles " + testing::SaveFailingText("pflab_soak_profile", seed, ".json", c.profile_text);
    }
    const std::string first_error = run->errors.first.empty() ? "" : run->errors.first.front().Summary();
    FAIL_CHECK("seed " << seed << ": " << c.spec.text << " " << why.str() << " (" << first_error
                       << "). Reproduce: pflab compare " << file << " --policies '" << c.spec.text << "'"
                       << profile_option << " --seed " << seed << " --think " << c.think.ToString()
                       << " --baseline off --verify-bytes");
    if (failures >= 5) break;
  }
  CHECK(failures == 0);
}

TEST_CASE("stack soak: random stacks and parameters deliver every read of random traces", "[soak]") {
  Soak(testing::EnvOr("PFLAB_SOAK_FIRST_SEED", 1), 100);
}

TEST_CASE("stack soak, full", "[.soak-full]") {
  Soak(testing::EnvOr("PFLAB_SOAK_FIRST_SEED", 1), testing::EnvOr("PFLAB_SOAK_RUNS", 1000));
}

TEST_CASE("stack soak: the draws are stacks the registry accepts, and the same seed draws the same case", "[soak]") {
  std::map<std::size_t, int> layers;
  for (std::uint64_t seed = 1; seed <= 200; ++seed) {
    const SoakCase a = DrawCase(seed);
    CHECK(policies::ValidateStack(a.spec).ok());
    ++layers[a.spec.layers.size()];
    const SoakCase b = DrawCase(seed);
    CHECK(a.spec.text == b.spec.text);
    CHECK(a.profile == b.profile);
    CHECK(a.profile_text == b.profile_text);
    CHECK(a.profile_text.empty() == (seed % 5 != 0));
    if (!a.profile_text.empty()) CHECK(sim::ParseProfiles(a.profile_text, "the drawn profile").ok());
    CHECK(a.trace.records.size() == b.trace.records.size());
  }
  // Stacks of one, two and three layers are all drawn (a layer count is before the fetcher).
  CHECK(layers.size() >= 3);
}

}  // namespace
}  // namespace pflab::replay
