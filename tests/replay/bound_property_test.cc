// The bound holds: for random traces (mixes of the generators' access patterns, reads of 1 B to 64 MiB,
// up to four streams, think times, hints, objects of 1 KiB to 1 TiB) x every registered policy and the
// demo's stacks x every shipped profile, no run without failed reads finishes faster than the bound.
//
// The traces come from a small generator in this file (traces/random_mix, pattern `mix` of `pflab gen`,
// is not on this branch); a failure writes its trace to a file and prints the `pflab compare` line that
// reproduces it. `[bound]` runs a fast slice in `make test`; `make test-bound` runs the full property
// ("[bound-full]", 2,000 traces, or PFLAB_BOUND_TRACES of them from PFLAB_BOUND_FIRST_SEED).
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "engine/units.h"
#include "policies/registry.h"
#include "replay/bound.h"
#include "replay/simulation.h"
#include "sim/network_model.h"
#include "traces/trace_io.h"

namespace pflab::replay {
namespace {

std::uint64_t LogUniform(std::mt19937_64& rng, std::uint64_t lo, std::uint64_t hi) {
  std::uniform_real_distribution<double> u(std::log(static_cast<double>(lo)), std::log(static_cast<double>(hi)));
  return std::clamp<std::uint64_t>(static_cast<std::uint64_t>(std::exp(u(rng))), lo, hi);
}

// One stream's reads of one object in a pattern like the generators' (traces/generators.h).
std::vector<std::pair<std::uint64_t, std::uint64_t>> Pattern(std::mt19937_64& rng, std::uint64_t object_size,
                                                             std::uint64_t read_size, std::size_t count) {
  read_size = std::min(read_size, object_size);
  const std::uint64_t blocks = std::max<std::uint64_t>(1, object_size / read_size);
  auto block = [&](std::uint64_t k) {  // 0-based block k, clipped to the object
    const std::uint64_t at = std::min(k % blocks * read_size, object_size - read_size);
    return std::make_pair(at, read_size);
  };
  std::vector<std::pair<std::uint64_t, std::uint64_t>> out;
  const int kind = static_cast<int>(rng() % 7);
  const std::uint64_t start = rng() % blocks;
  for (std::size_t i = 0; i < count; ++i) {
    switch (kind) {
      case 0: out.push_back(block(start + i)); break;                               // sequential
      case 1: out.push_back(block(rng() % blocks)); break;                          // random
      case 2: out.push_back(block(i % 4 == 3 ? start + i - 2 : start + i)); break;  // backtrack
      case 3: out.push_back(block(i % 2 == 1 ? start : start + i)); break;          // visits-home
      case 4: out.push_back(block(start + 3 * i)); break;                           // strided
      case 5:                                                                       // footer, then columns
        if (i == 0) {
          out.push_back(
              {object_size - std::min<std::uint64_t>(8, object_size), std::min<std::uint64_t>(8, object_size)});
        } else {
          out.push_back(block(start + i));
        }
        break;
      default: {  // small reads anywhere, unaligned
        const std::uint64_t length = 1 + rng() % std::min<std::uint64_t>(read_size, 64 * kKiB);
        out.push_back({rng() % (object_size - std::min(length, object_size) + 1), std::min(length, object_size)});
      }
    }
  }
  return out;
}

traces::Trace RandomTrace(std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  traces::Trace t;
  t.name = "mix" + std::to_string(seed);
  const std::size_t objects = 1 + rng() % 3;
  for (std::size_t o = 0; o < objects; ++o) {
    t.objects.push_back({"o" + std::to_string(o), "", "mix" + std::to_string(o) + ".bin", LogUniform(rng, kKiB, kTiB)});
  }
  const std::uint32_t streams = static_cast<std::uint32_t>(1 + rng() % 4);
  for (std::uint32_t s = 0; s < streams; ++s) {
    Nanos at = rng() % 3 == 0 ? static_cast<Nanos>(LogUniform(rng, 1000, 200 * kMillisecond)) : 0;
    const std::size_t segments = 1 + rng() % 3;
    for (std::size_t g = 0; g < segments; ++g) {
      const std::uint32_t object = static_cast<std::uint32_t>(rng() % objects);
      const std::uint64_t read_size = LogUniform(rng, 1, 64 * kMiB);
      const std::size_t count = 1 + rng() % 8;
      const bool thinks = rng() % 2 == 0;
      for (const auto& [offset, length] : Pattern(rng, t.objects[object].size, read_size, count)) {
        traces::TraceRecord r;
        r.t_ns = at;
        r.stream = s;
        r.object = object;
        r.offset = offset;
        r.length = length;
        if (rng() % 5 == 0) r.duration_ns = static_cast<Nanos>(LogUniform(rng, 1000, 50 * kMillisecond));
        t.records.push_back(r);
        at += std::max<Nanos>(r.duration_ns, 0) +
              (thinks ? static_cast<Nanos>(LogUniform(rng, 1000, 100 * kMillisecond)) : 0);
      }
    }
  }
  std::stable_sort(t.records.begin(), t.records.end(),
                   [](const traces::TraceRecord& a, const traces::TraceRecord& b) { return a.t_ns < b.t_ns; });
  // Hints: now and then a stream announces its next few reads, just before one of its reads.
  for (std::size_t i = 0; i < t.records.size(); ++i) {
    if (rng() % 6 != 0) continue;
    traces::TraceHint h;
    h.stream = t.records[i].stream;
    h.object = t.records[i].object;
    h.before = i;
    h.t_ns = i == 0 ? 0 : t.records[i - 1].t_ns;
    for (std::size_t j = i, n = 0; j < t.records.size() && n < 3; ++j) {
      const auto& r = t.records[j];
      if (r.stream != h.stream || r.object != h.object) continue;
      h.ranges.push_back({r.offset, r.offset + r.length});
      ++n;
    }
    t.hints.push_back(std::move(h));
  }
  return t;
}

// Every registered policy (fsspec-parts needs its parts, and zero-fills what they lack, so it delivers
// bytes it never fetched: outside the bound's assumptions) and the demo's stacks (scripts/demo.sh),
// plus splits that reach the link rate.
std::vector<policies::StackSpec> Policies() {
  std::vector<std::string> texts;
  for (const auto& p : policies::RegisteredPolicies()) {
    if (p.name != "fsspec-parts") texts.push_back(p.name);
  }
  for (const char* extra : {"gcsfs-v795(concurrency=4)", "arrow-coalesce(lazy=false)", "fsspec-readahead > gcsfs-v795",
                            "fsspec-blockcache > gcsfs-adaptive", "concurrent(parts=16,min=64KiB)",
                            "oracle > concurrent(parts=8,min=1MiB)"}) {
    texts.push_back(extra);
  }
  std::vector<policies::StackSpec> out;
  for (const auto& text : texts) {
    auto spec = policies::ParseStackSpec(text);
    REQUIRE(spec.ok());
    REQUIRE(policies::ValidateStack(*spec).ok());
    out.push_back(*spec);
  }
  return out;
}

std::uint64_t EnvOr(const char* name, std::uint64_t fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::strtoull(v, nullptr, 10) : fallback;
}

// Runs the property over traces [first, first + count); returns the smallest elapsed / bound seen.
double CheckBound(std::uint64_t first, std::uint64_t count) {
  auto profiles = sim::LoadProfiles(sim::DefaultProfilesPath());
  REQUIRE(profiles.ok());
  const auto specs = Policies();
  const char* kThink[] = {"recorded", "zero", "x0.5"};
  std::size_t runs = 0, failures = 0, skipped = 0, incomplete = 0;
  std::map<std::string, std::size_t> incomplete_by_policy;
  double tightest = 1e300;
  for (std::uint64_t seed = first; seed < first + count; ++seed) {
    const traces::Trace trace = RandomTrace(seed);
    const ThinkTime think = *ThinkTime::Parse(kThink[seed % 3]);
    for (const auto& [profile_name, profile] : *profiles) {
      auto bound = ComputeLowerBound(trace, profile, think);
      REQUIRE(bound.ok());
      for (const auto& spec : specs) {
        SimulationConfig c;
        c.trace = &trace;
        c.policy = spec;
        c.profile_name = profile_name;
        c.profile = profile;
        c.seed = seed;
        c.think = think;
        auto run = RunSimulation(c);
        REQUIRE(run.ok());
        ++runs;
        if (run->metrics.reads_failed) {  // outside the bound (a failed read delivers nothing)
          ++skipped;
          continue;
        }
        if (run->metrics.reads != trace.records.size()) {
          // The run stopped with reads never delivered: a policy that hangs, not a bound that fails.
          // Reported (with the line that reproduces it) and left out of the bound check.
          ++incomplete;
          ++incomplete_by_policy[spec.text];
          if (incomplete <= 5) {
            const std::string file =
                (std::filesystem::temp_directory_path() / ("pflab_incomplete_seed" + std::to_string(seed) + ".jsonl"))
                    .string();
            REQUIRE(traces::WriteTrace(file, trace).ok());
            WARN("seed " << seed << ": " << spec.text << " on " << profile_name << " delivered " << run->metrics.reads
                         << " of " << trace.records.size() << " reads and stopped. Reproduce: pflab compare " << file
                         << " --policies '" << spec.text << "' --profile " << profile_name << " --seed " << seed
                         << " --think " << think.ToString());
          }
          continue;
        }
        const auto elapsed_ns = static_cast<Nanos>(std::llround(run->metrics.elapsed_s * 1e9));
        if (bound->elapsed_ns > 0) {
          tightest = std::min(tightest, static_cast<double>(elapsed_ns) / static_cast<double>(bound->elapsed_ns));
        }
        if (elapsed_ns >= bound->elapsed_ns) continue;
        ++failures;
        const std::string file =
            (std::filesystem::temp_directory_path() / ("pflab_bound_seed" + std::to_string(seed) + ".jsonl")).string();
        REQUIRE(traces::WriteTrace(file, trace).ok());
        std::ostringstream message;
        message << "seed " << seed << ": " << spec.text << " on " << profile_name << " (think " << think.ToString()
                << ") took " << elapsed_ns << " ns, under the bound of " << bound->elapsed_ns << " ns ("
                << bound->ToJson().dump() << "). Reproduce: pflab compare " << file << " --policies '" << spec.text
                << "' --profile " << profile_name << " --seed " << seed << " --think " << think.ToString();
        if (failures <= 5) FAIL_CHECK(message.str());
      }
    }
  }
  INFO(runs << " runs, " << skipped << " with failed reads and " << incomplete << " incomplete left out");
  if (incomplete) {
    std::string which;
    for (const auto& [policy, n] : incomplete_by_policy) which += " " + policy + ": " + std::to_string(n) + ";";
    WARN(incomplete << " runs stopped before their last read (see above): a policy bug, not the bound's." << which);
  }
  CHECK(failures == 0);
  CHECK(runs - skipped > runs / 2);
  return tightest;
}

TEST_CASE("bound property: no policy on any profile finishes a random trace under the bound", "[bound]") {
  // A fast slice for `make test`; the same property over 2,000 traces is `make test-bound`.
  const double tightest = CheckBound(EnvOr("PFLAB_BOUND_FIRST_SEED", 1), 30);
  // The bound is not vacuous: some run comes within 2x of it.
  CHECK(tightest < 2.0);
}

TEST_CASE("bound property, full: 2,000 random traces", "[.bound-full]") {
  const double tightest = CheckBound(EnvOr("PFLAB_BOUND_FIRST_SEED", 1), EnvOr("PFLAB_BOUND_TRACES", 2000));
  WARN("smallest elapsed / bound over all runs: " << tightest);
  CHECK(tightest < 2.0);
}

TEST_CASE("bound property: the generator makes what it promises and its traces survive a file", "[bound]") {
  std::size_t hinted = 0, multi = 0, tiny = 0, huge = 0;
  for (std::uint64_t seed = 1; seed <= 200; ++seed) {
    const traces::Trace t = RandomTrace(seed);
    REQUIRE(!t.records.empty());
    hinted += !t.hints.empty();
    std::set<std::uint32_t> streams;
    for (const auto& r : t.records) {
      streams.insert(r.stream);
      REQUIRE(r.offset + r.length <= t.objects[r.object].size);
      tiny += r.length < 16;
      huge += r.length >= 16 * kMiB;
    }
    multi += streams.size() > 1;
    for (const auto& o : t.objects) {
      REQUIRE(o.size >= kKiB);
      REQUIRE(o.size <= kTiB);
    }
  }
  CHECK(hinted > 50);
  CHECK(multi > 50);
  CHECK(tiny > 0);
  CHECK(huge > 0);
  // Written and read back, a trace has the same bound (so the printed reproduction is faithful).
  const traces::Trace t = RandomTrace(7);
  const std::string file = (std::filesystem::temp_directory_path() / "pflab_bound_roundtrip.jsonl").string();
  REQUIRE(traces::WriteTrace(file, t).ok());
  auto back = traces::ReadTrace(file);
  std::filesystem::remove(file);
  REQUIRE(back.ok());
  auto profile = sim::FindProfile("gcs-regional");
  REQUIRE(profile.ok());
  CHECK(ComputeLowerBound(*back, *profile, ThinkTime{})->elapsed_ns ==
        ComputeLowerBound(t, *profile, ThinkTime{})->elapsed_ns);
}

}  // namespace
}  // namespace pflab::replay
