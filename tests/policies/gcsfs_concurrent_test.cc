// gcsfs-concurrent: a GCSFile without cache or prefetcher. Each read is one _cat_file call, split by
// the fetcher: gcsfs/core.py _cat_file_concurrent as merged in PR #795 (5596df92) makes exactly
// `concurrency` parts from 5 MiB up; concurrency.split_range (gcsfs#926, d5cd0ac4) makes
// min(concurrency, size // 5 MiB) parts ("16 MiB at concurrency 4 gives 3 parts").
#include <catch2/catch.hpp>

#include "engine/units.h"
#include "policies/passthrough.h"
#include "policies/registry.h"
#include "replay/simulation.h"
#include "sim/sim_scheduler.h"
#include "tests/support/logging_source.h"
#include "tests/support/run_config.h"
#include "traces/trace.h"

namespace pflab::policies {
namespace {

TEST_CASE("gcsfs-concurrent: every read goes below with the concurrency as its split", "[policies][gcsfs]") {
  sim::SimScheduler scheduler;
  NullEventSink events;
  testing::LoggingSource lower(&scheduler, 64 * kMiB);
  GcsfsConcurrent layer(LayerContext{&scheduler, &events, 0}, &lower, 4);
  for (std::uint64_t k = 0; k < 3; ++k) {
    bool done = false;
    layer.Read({k * kMiB, (k + 1) * kMiB}, [&](Result<Slices> r) { done = r.ok(); });
    scheduler.Run();
    CHECK(done);
  }
  REQUIRE(lower.requests.size() == 3);
  for (const auto& r : lower.requests) CHECK(r.max_parts == 4);
}

TEST_CASE("gcsfs-concurrent: a 16 MiB read is 3 GETs under main's rule and 4 under v795's", "[policies][gcsfs]") {
  traces::Trace trace;
  trace.name = "one-read";
  trace.objects.push_back({"o0", "pflab", "obj", 64 * kMiB});
  trace.records.push_back(traces::TraceRecord{});
  trace.records[0].offset = 0;
  trace.records[0].length = 16 * kMiB;
  auto requests = [&](const std::string& policy) {
    auto result = replay::RunSimulation(testing::RunConfig(trace, policy));
    REQUIRE(result.ok());
    CHECK(result->metrics.reads_wrong == 0);  // verify_bytes: every delivered byte checked
    CHECK(result->metrics.bytes_read == 16 * kMiB);
    return result->metrics.requests;
  };
  CHECK(requests("gcsfs-concurrent") == 3);
  CHECK(requests("gcsfs-concurrent(rule=v795)") == 4);
  CHECK(requests("gcsfs-concurrent(concurrency=1)") == 1);
  CHECK_FALSE(ValidateStack(*ParseStackSpec("gcsfs-concurrent(concurrency=0)")).ok());
}

}  // namespace
}  // namespace pflab::policies
