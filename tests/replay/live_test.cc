// Real-time runs over HTTP: the same replayer, policies and fetcher as the simulator, through
// HttpTransport to a local server, with every delivered byte checked against the synthetic content.
#include "replay/live.h"

#include <catch2/catch.hpp>
#include <map>
#include <string>
#include <vector>

#include "engine/units.h"
#include "policies/registry.h"
#include "tests/support/run_config.h"
#include "tests/support/synthetic_http_server.h"
#include "traces/generators.h"

namespace pflab::replay {
namespace {

std::map<std::string, testing::SyntheticHttpServer::Object> ObjectsOf(const traces::Trace& trace) {
  std::map<std::string, testing::SyntheticHttpServer::Object> objects;
  for (const auto& o : trace.objects) {
    const ObjectRef ref = TraceObjectRef(o);
    objects[ref.bucket + "/" + ref.name] = {ref.size, ref.generation};
  }
  return objects;
}

TEST_CASE("live: every policy on every pattern over HTTP delivers exactly the object's bytes", "[replay][live]") {
  std::vector<std::string> policies = testing::DefaultPolicies();
  policies.push_back("fsspec-readahead > gcsfs-v795");
  policies.push_back("concurrent(parts=4,min=64KiB,rule=v795)");
  for (const auto& pattern : traces::Patterns()) {
    traces::GeneratorParams params;
    params.object_size = 6 * kMiB + 12345;
    params.read_size = 100 * kKiB;
    params.count = 40;
    auto trace = traces::Generate(pattern.name, params);
    REQUIRE(trace.ok());
    testing::SyntheticHttpServer server(ObjectsOf(*trace));
    LiveOptions live;
    live.endpoint = server.endpoint();
    live.http.connections = 4;
    for (const auto& policy : policies) {
      INFO(pattern.name << " x " << policy);
      auto result = RunLive(testing::RunConfig(*trace, policy), live);
      REQUIRE(result.ok());
      const Metrics& m = result->metrics;
      CHECK(m.reads == trace->records.size());
      CHECK(m.reads_failed == 0);
      CHECK(m.reads_wrong == 0);  // verify_bytes: every delivered byte checked
      CHECK(result->errors.empty());
      std::uint64_t expected = 0;
      for (const auto& r : trace->records) expected += r.length;
      CHECK(m.bytes_read == expected);
      CHECK(m.requests >= 1);
      CHECK(m.bytes_wasted <= m.bytes_fetched);
    }
  }
}

TEST_CASE("live: a missing object fails the reads with the object named - the run still ends", "[replay][live]") {
  traces::GeneratorParams params;
  params.object_size = kMiB;
  params.read_size = 64 * kKiB;
  params.count = 5;
  auto trace = traces::Generate("sequential", params);
  REQUIRE(trace.ok());
  testing::SyntheticHttpServer server({});  // serves nothing
  LiveOptions live;
  live.endpoint = server.endpoint();
  SimulationConfig c = testing::RunConfig(*trace, "none");
  auto result = RunLive(c, live);
  REQUIRE(result.ok());
  CHECK(result->metrics.reads_failed == 5);
  CHECK(result->metrics.bytes_read == 0);
}

}  // namespace
}  // namespace pflab::replay
