// A small slice of the fault suite (`pflab faults`; the whole table is `make faults`): three faults,
// three policies, one trace. No fault may corrupt a byte or hang a run; retryable faults are retried,
// and a non-retryable one fails reads with its status as the reason.
#include "replay/fault_suite.h"

#include <catch2/catch.hpp>
#include <map>
#include <string>

namespace pflab::replay {
namespace {

TEST_CASE("fault suite: a slice - retried, refused, failed with its reason - never a wrong byte or a hang",
          "[faults][fault_suite]") {
  FaultSuiteOptions options;
  options.faults = {"return-503", "return-200", "return-404"};
  options.policies = {"none", "gcsfs-adaptive", "fsspec-readahead"};
  options.patterns = {"sequential"};
  options.count = 16;
  // Low enough that six faults in a row on one request (1 in a million) do not happen here, and a read
  // timeout that a loaded machine does not reach (the slice has no stall fault), so every failure and
  // every retry comes from the injected fault.
  options.probability = 0.1;
  options.read_timeout = 10 * kSecond;
  std::size_t lines = 0;
  auto rows = RunFaultSuite(options, [&](const std::string&) { ++lines; });
  REQUIRE(rows.ok());
  REQUIRE(rows->size() == 9);
  CHECK(lines == 9);
  std::map<std::string, FaultSuiteRow> by_fault;  // summed over the policies
  for (const auto& row : *rows) {
    INFO(row.fault << " x " << row.policy << ": " << row.first_failure);
    CHECK(row.runs == 1);
    CHECK(row.bytes_wrong == 0);
    CHECK(row.hangs == 0);
    FaultSuiteRow& sum = by_fault[row.fault];
    sum.reads += row.reads;
    sum.retries += row.retries;
    sum.requests_failed += row.requests_failed;
    sum.reads_failed += row.reads_failed;
    if (sum.first_failure.empty()) sum.first_failure = row.first_failure;
    for (const auto& [reason, n] : row.failed_reasons) sum.failed_reasons[reason] += n;
  }
  // Retryable: failures were retried; with six attempts per request no read failed.
  for (const char* fault : {"return-503", "return-200"}) {
    INFO(fault << ": " << by_fault[fault].first_failure);
    CHECK(by_fault[fault].retries > 0);
    CHECK(by_fault[fault].reads_failed == 0);
    CHECK(by_fault[fault].reads == 3 * 16);
  }
  // Not retryable: some reads failed, every one because of the 404, none retried.
  const FaultSuiteRow& not_found = by_fault["return-404"];
  CHECK(not_found.retries == 0);
  CHECK(not_found.reads_failed > 0);
  REQUIRE(not_found.failed_reasons.size() == 1);
  CHECK(not_found.failed_reasons.begin()->first == "HTTP 404");
  CHECK(not_found.failed_reasons.begin()->second == not_found.reads_failed);

  const std::string table = RenderFaultTable(*rows);
  CHECK(table.find("| `return-404` | `none` | 1 | 16 | 0 |") != std::string::npos);
  CHECK(table.find("(HTTP 404: ") != std::string::npos);
}

TEST_CASE("fault suite: bad options are errors before anything runs", "[faults][fault_suite]") {
  FaultSuiteOptions options;
  options.faults = {"return-teapot"};
  options.policies = {"none"};
  options.patterns = {"sequential"};
  options.count = 2;
  auto rows = RunFaultSuite(options);
  REQUIRE_FALSE(rows.ok());
  CHECK(rows.error().message.find("return-teapot") != std::string::npos);
  options.faults = {"return-503"};
  options.policies = {"no-such-policy"};
  rows = RunFaultSuite(options);
  REQUIRE_FALSE(rows.ok());
  CHECK(rows.error().message.find("no-such-policy") != std::string::npos);
  options.policies = {"none"};
  options.probability = 0;
  CHECK_FALSE(RunFaultSuite(options).ok());
}

}  // namespace
}  // namespace pflab::replay
