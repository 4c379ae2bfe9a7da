// One fault-suite definition over the simulator (faults injected by the FaultInjectingTransport into
// what the network model delivers) and over the fake GCS server (faults injected on the wire, met by
// the HTTP client): the same faults must give the same retries and the same failed reads, and no
// wrong byte or hang on either. Policies that send one request at a time, so the requests, and with
// them the seeded draws, come in the same order over both.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "replay/fault_suite.h"

namespace pflab::replay {
namespace {

FaultSuiteRow RunOne(FaultSuiteOptions options, TransportKind transport) {
  options.transport = transport;
  auto rows = RunFaultSuite(options);
  REQUIRE(rows.ok());
  REQUIRE(rows->size() == 1);
  return rows->front();
}

TEST_CASE("fault suite: one definition, the same outcomes over the simulator and over HTTP",
          "[faults][fault_suite][sim_and_fake]") {
  struct Case {
    std::string fault;                // drawn with the suite's probability
    std::vector<std::string> script;  // met first, in order
  };
  const std::vector<Case> cases = {
      {"return-503", {"return-broken-stream-after-64K", "return-429"}},
      {"return-broken-stream-after-64K", {"return-reset-connection", "stall-for-2s-after-16K"}},
      {"return-404", {"return-200"}},
  };
  for (const std::string policy : {"none", "fsspec-readahead"}) {
    for (const auto& c : cases) {
      FaultSuiteOptions options;
      options.faults = {c.fault};
      options.script = c.script;
      options.policies = {policy};
      options.patterns = {"sequential"};
      options.count = 12;
      options.object_size = 2 << 20;
      options.probability = 0.25;
      options.seed = 3;
      options.read_timeout = kSecond / 2;  // cuts the scripted 2 s stall, over HTTP and in the simulator
      const FaultSuiteRow sim = RunOne(options, TransportKind::kSim);
      const FaultSuiteRow fake = RunOne(options, TransportKind::kFake);
      INFO(policy << " with " << c.fault << ": sim " << sim.first_failure << " / fake " << fake.first_failure);
      for (const FaultSuiteRow* row : {&sim, &fake}) {
        CHECK(row->runs == 1);
        CHECK(row->reads == 12);
        CHECK(row->bytes_wrong == 0);  // every delivered byte was checked against the object
        CHECK(row->hangs == 0);
      }
      CHECK(sim.retries > 0);  // the script alone forces retries: the faults were met
      if (policy == std::string("none") && c.fault == "return-404") CHECK(sim.reads_failed > 0);
      CHECK(sim.retries == fake.retries);
      CHECK(sim.requests_failed == fake.requests_failed);
      CHECK(sim.reads_failed == fake.reads_failed);
      CHECK(sim.failed_reasons == fake.failed_reasons);
      CHECK(sim.failed_reads == fake.failed_reads);
    }
  }
}

}  // namespace
}  // namespace pflab::replay
