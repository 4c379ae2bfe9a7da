// A run's failures as data: failed reads with their cause (down to the attempts), wrong bytes, a run
// that never ends; bounded, counted per reason, deterministic, in the event log and the results JSON.
#include "replay/run_errors.h"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "policies/registry.h"
#include "replay/event_log.h"
#include "replay/simulation.h"
#include "reports/results.h"
#include "tests/support/run_config.h"
#include "traces/generators.h"

namespace pflab::replay {
namespace {

constexpr std::uint64_t kKiB = 1024;
constexpr std::uint64_t kMiB = 1024 * kKiB;

SimulationConfig Config(const traces::Trace& trace, const std::string& policy) {
  SimulationConfig c = testing::RunConfig(trace, policy);
  c.verify_bytes = false;
  c.profile_name = "always-503";
  c.profile.failure_probability = 1.0;  // every request is answered 503 (the return-503 fault)
  c.seed = 9;
  return c;
}

traces::Trace Sequential(std::uint64_t count) {
  traces::GeneratorParams params;
  params.object_size = 16 * kMiB;
  params.read_size = 256 * kKiB;
  params.count = count;
  auto trace = traces::Generate("sequential", params);
  REQUIRE(trace.ok());
  return *trace;
}

TEST_CASE("run errors: reads that fail are recorded with their cause - the run goes on to the end",
          "[replay][errors]") {
  const traces::Trace trace = Sequential(20);
  auto result = RunSimulation(Config(trace, "none"));
  REQUIRE(result.ok());  // a failed run is a result
  CHECK(result->failed());
  CHECK(result->metrics.reads == 20);
  CHECK(result->metrics.reads_failed == 20);
  CHECK(result->metrics.retries == 20 * 5);  // six attempts per read, then it gives up
  REQUIRE(result->errors.total == 20);
  CHECK(result->errors.first.size() == RunErrors::kMaxKept);  // bounded; the total counts them all
  // The injected return-503 is the fake server's: it counts as the HTTP status, as a served one does.
  CHECK(result->errors.by_reason.at("HTTP 503") == 20);
  const RunError& first = result->errors.first.front();
  CHECK(first.kind == RunError::Kind::kRead);
  CHECK(first.object == "pflab/sequential.bin");
  CHECK(first.begin == 0);
  CHECK(first.end == 256 * kKiB);
  CHECK(first.code == ErrorCode::kUnavailable);
  CHECK(first.http_status == 503);
  CHECK(first.attempts == 6);
  CHECK(first.message.find("after 6 attempt(s): HTTP 503 (injected by fault 'return-503')") != std::string::npos);
  CHECK(first.Summary() == "pflab/sequential.bin [0, 262144): HTTP 503 after 6 attempt(s): " + first.message);
  // Errors happen in order, at the virtual time of the failure.
  for (std::size_t i = 1; i < result->errors.first.size(); ++i) {
    CHECK(result->errors.first[i].t_ns >= result->errors.first[i - 1].t_ns);
    CHECK(result->errors.first[i].begin == i * 256 * kKiB);
  }
  // Deterministic: the same seed gives the same errors, to the nanosecond.
  auto again = RunSimulation(Config(trace, "none"));
  REQUIRE(again.ok());
  nlohmann::json a, b;
  result->errors.AddTo(a);
  again->errors.AddTo(b);
  CHECK(a == b);
}

TEST_CASE("run errors: a policy's own failures are recorded too (fsspec-parts reading outside its parts)",
          "[replay][errors]") {
  const traces::Trace trace = Sequential(4);
  SimulationConfig c = Config(trace, "fsspec-parts");
  c.profile.failure_probability = 0;
  auto result = RunSimulation(c);
  REQUIRE(result.ok());
  CHECK(result->metrics.reads_failed == 4);
  REQUIRE(result->errors.total == 4);
  CHECK(result->errors.first.front().Reason() == "invalid argument");
  CHECK(result->errors.first.front().attempts == 0);  // no backend request gave up
}

TEST_CASE("run errors: the event log carries every failed attempt's reason - the success path none",
          "[replay][errors]") {
  const traces::Trace trace = Sequential(3);
  const auto dir = std::filesystem::temp_directory_path() / ("pflab_run_errors_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "events.jsonl").string();
  auto log = JsonlEventLog::Open(path);
  REQUIRE(log.ok());
  SimulationConfig c = Config(trace, "none");
  c.event_log = log->get();
  auto result = RunSimulation(c);
  REQUIRE(result.ok());
  REQUIRE((*log)->Close().ok());
  std::ifstream in(path);
  std::size_t fails = 0, retries = 0, failed_reads = 0, with_error = 0;
  std::vector<std::uint32_t> attempts;
  for (std::string line; std::getline(in, line);) {
    const auto e = nlohmann::json::parse(line);
    if (e.contains("error")) ++with_error;
    if (e["type"] == "retry") ++retries;
    if (e["type"] == "fetch_fail" && e["layer"] == "concurrent") {
      ++fails;
      REQUIRE(e.contains("error"));
      CHECK(e["error"]["code"] == "unavailable");
      CHECK(e["error"]["message"] == "HTTP 503 (injected by fault 'return-503')");
      CHECK(e["error"]["http_status"] == 503);
      CHECK(e["error"]["retryable"] == true);
      attempts.push_back(e["error"]["attempts"]);
    }
    if (e["type"] == "read_end" && e.contains("error")) {
      ++failed_reads;
      CHECK(e["bytes"] == 0);
      CHECK(e["error"]["attempts"] == 6);
      CHECK(e["error"]["message"].get<std::string>().find("failed after 6 attempt(s)") != std::string::npos);
    }
    if (e["type"] == "read_start" || e["type"] == "fetch_start") CHECK_FALSE(e.contains("error"));
  }
  CHECK(fails == 18);
  CHECK(retries == 15);
  CHECK(failed_reads == 3);
  CHECK(with_error == fails + failed_reads + 3);  // + the none layer's own fetch_fail per read
  CHECK(std::vector<std::uint32_t>(attempts.begin(), attempts.begin() + 6) ==
        std::vector<std::uint32_t>{1, 2, 3, 4, 5, 6});
  std::filesystem::remove_all(dir);
}

TEST_CASE("run errors: kept in the results JSON and read back - bounded list, total, reasons", "[replay][errors]") {
  RunResult run;
  run.trace = "t";
  run.policy = "none";
  run.profile = "p";
  run.metrics.reads = 40;
  run.metrics.reads_failed = 39;
  run.metrics.reads_wrong = 1;
  for (int i = 0; i < 39; ++i) {
    Error error{ErrorCode::kNotFound, "GET gs://b/o bytes 0-10: HTTP 404: No such object: b/o", false, 404, 1};
    run.errors.Add(ReadFailure(i * 1000, "b/o", 10u * i, 10u * i + 10, error));
  }
  RunError wrong = ReadFailure(99999, "b/o", 400, 410, Error{ErrorCode::kDataLoss, "byte 405 of o differs"});
  wrong.kind = RunError::Kind::kBytes;
  wrong.first_wrong_byte = 405;
  run.errors.Add(wrong);
  CHECK(run.errors.total == 40);
  CHECK(run.errors.first.size() == RunErrors::kMaxKept);
  CHECK(run.errors.by_reason.at("HTTP 404") == 39);
  CHECK(run.errors.by_reason.at("wrong bytes") == 1);

  const nlohmann::json doc = reports::ResultsToJson({run}, nlohmann::json::object());
  const auto& entry = doc["runs"][0];
  CHECK(entry["errors_total"] == 40);
  CHECK(entry["errors"].size() == RunErrors::kMaxKept);
  CHECK(entry["errors"][0]["http_status"] == 404);
  CHECK(entry["errors"][0]["reason"] == "HTTP 404");
  CHECK(entry["errors"][0]["kind"] == "read");
  CHECK(entry["errors_by_reason"]["wrong bytes"] == 1);
  CHECK(entry["metrics"]["reads_wrong"] == 1);
  auto back = reports::ReadResultsDocument(doc, "r.json");
  REQUIRE(back.ok());
  const RunErrors& errors = back->runs[0].errors;
  CHECK(errors.total == 40);
  CHECK(errors.by_reason == run.errors.by_reason);
  REQUIRE(errors.first.size() == RunErrors::kMaxKept);
  CHECK(errors.first[3].ToJson() == run.errors.first[3].ToJson());
  CHECK(back->runs[0].metrics.reads_wrong == 1);
  // A hang after a full list still shows, in the last place: it says how (and why) the run ended.
  RunError hang;
  hang.kind = RunError::Kind::kHang;
  hang.message = "1 of 40 reads never completed";
  run.errors.Add(hang);
  REQUIRE(run.errors.first.size() == RunErrors::kMaxKept);
  CHECK(run.errors.first.back().kind == RunError::Kind::kHang);
  CHECK(run.errors.first[RunErrors::kMaxKept - 2].kind == RunError::Kind::kRead);
  CHECK(run.errors.total == 41);

  nlohmann::json bad = doc;
  bad["runs"][0]["errors"][0]["kind"] = "oops";
  auto rejected = reports::ReadResultsDocument(bad, "r.json");
  REQUIRE_FALSE(rejected.ok());
  CHECK(rejected.error().message.find("r.json: runs[0].errors[0].kind") != std::string::npos);
  nlohmann::json old = doc;  // documents from before errors were recorded
  old["runs"][0].erase("errors");
  old["runs"][0].erase("errors_total");
  old["runs"][0].erase("errors_by_reason");
  auto older = reports::ReadResultsDocument(old, "old.json");
  REQUIRE(older.ok());
  CHECK(older->runs[0].errors.empty());
}

}  // namespace
}  // namespace pflab::replay
