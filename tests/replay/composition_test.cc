// Composition: every fsspec cache over every prefetcher builds, runs and delivers exactly the object's
// bytes on the patterns the gcsfs review asked about (backtrack, visits-home) and on random reads. The
// findings report (reports/findings/cache_over_prefetcher.md) measures these stacks; this test makes
// sure each of them is a working stack first.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "engine/units.h"
#include "policies/registry.h"
#include "replay/simulation.h"
#include "tests/support/run_config.h"
#include "traces/generators.h"

namespace pflab::replay {
namespace {

bool StartsWith(const std::string& s, const char* prefix) {
  return s.rfind(prefix, 0) == 0;
}

// Caches that can sit above another policy: the fsspec ones, except fsspec-parts (it never reads
// outside its parts) and those that must sit directly on the fetcher (fsspec-background keeps a
// request of its own in flight).
std::vector<std::string> Caches() {
  std::vector<std::string> out;
  for (const auto& p : policies::RegisteredPolicies()) {
    if (StartsWith(p.name, "fsspec-") && p.name != "fsspec-parts" && p.placement == policies::Placement::kAnywhere) {
      out.push_back(p.name);
    }
  }
  return out;
}

// Everything else but the baseline, the bottom layer and what stands alone (the oracle): the
// prefetchers.
std::vector<std::string> Prefetchers() {
  std::vector<std::string> out;
  for (const auto& p : policies::RegisteredPolicies()) {
    if (!StartsWith(p.name, "fsspec-") && p.name != "none" && p.placement != policies::Placement::kBottom &&
        p.placement != policies::Placement::kAlone)
      out.push_back(p.name);
  }
  return out;
}

TEST_CASE("composition: every cache over every prefetcher delivers exactly the object's bytes",
          "[replay][composition]") {
  const auto caches = Caches();
  const auto prefetchers = Prefetchers();
  REQUIRE(caches.size() >= 6);
  REQUIRE(prefetchers.size() >= 3);
  for (const char* pattern : {"backtrack", "visits-home", "random"}) {
    traces::GeneratorParams params;
    params.object_size = 48 * kMiB + 4321;
    params.read_size = 512 * kKiB;
    params.count = 40;
    auto trace = traces::Generate(pattern, params);
    REQUIRE(trace.ok());
    std::uint64_t expected = 0;
    for (const auto& r : trace->records) expected += r.length;
    for (const auto& cache : caches) {
      for (const auto& prefetcher : prefetchers) {
        const std::string stack = cache + " > " + prefetcher;
        INFO(pattern << ": " << stack);
        auto spec = policies::ParseStackSpec(stack);
        REQUIRE(spec.ok());
        REQUIRE(policies::ValidateStack(*spec).ok());
        auto result = RunSimulation(testing::RunConfig(*trace, stack));
        REQUIRE(result.ok());
        CHECK(result->metrics.reads_failed == 0);
        CHECK(result->metrics.reads_wrong == 0);  // verify_bytes: every delivered byte checked
        CHECK(result->metrics.bytes_read == expected);
        CHECK(result->metrics.bytes_wasted <= result->metrics.bytes_fetched);
      }
    }
  }
}

}  // namespace
}  // namespace pflab::replay
