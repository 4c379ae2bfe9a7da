// Failures are loud: `compare` and `sweep` say what failed (object, range, HTTP status, the server's
// message, attempts) on stderr, keep every failure in the results and event logs, still write every
// report, and exit 2; bad usage, and objects a live run cannot read, exit 1 before anything runs;
// clean runs exit 0.

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "fake_gcs/server.h"
#include "replay/simulation.h"
#include "tests/support/cli_runner.h"
#include "tests/support/ports.h"
#include "traces/trace_io.h"

namespace {

namespace fs = std::filesystem;
using pflab::testing::Slurp;

fs::path TempDir() {
  return pflab::testing::FreshTempDir("pflab_failures_cli_test");
}

pflab::testing::CliOutcome Pflab(const std::string& args, const fs::path& dir) {
  return pflab::testing::RunPflab(args, dir);
}

std::string Gen(const fs::path& dir, const std::string& pattern, int count) {
  const std::string path = (dir / (pattern + ".jsonl")).string();
  auto gen = Pflab(
      "gen " + pattern + " --object-size 4MiB --read-size 128KiB --count " + std::to_string(count) + " -o " + path,
      dir);
  REQUIRE(gen.exit_code == 0);
  return path;
}

TEST_CASE(
    "cli failures: an object the endpoint lacks, or an endpoint that cannot be reached, stops the command "
    "before any run - exit 1",
    "[cli][failures][http]") {
  const fs::path dir = TempDir();
  const std::string trace = Gen(dir, "sequential", 6);
  const std::string json = (dir / "r.json").string();
  {
    pflab::fake_gcs::FakeGcsServer server;  // the bucket is there, the object is not
    server.store().CreateBucket("pflab");
    REQUIRE(server.Start().ok());
    auto cmp = Pflab("compare " + trace + " --policies 'none,fsspec-readahead' --transport http --endpoint " +
                         server.endpoint() + " --json " + json,
                     dir);
    INFO(cmp.err);
    CHECK(cmp.exit_code == 1);
    CHECK_THAT(cmp.err, Catch::Contains("trace object o0 (sequential.bin) is read as named, gs://pflab/sequential.bin "
                                        "at generation 1: metadata of gs://pflab/sequential.bin: HTTP 404") &&
                            Catch::Contains("`pflab serve --synthetic pflab/sequential.bin=4194304` serves it") &&
                            Catch::Contains("--object o0=gs://BUCKET/NAME"));
    CHECK(cmp.err.find("[1/") == std::string::npos);  // nothing ran
    CHECK(server.stats().requests == 1);              // the one metadata request
    // Too small, or another generation than the reads ask for: the same, with what was found.
    REQUIRE(server.store().PutSynthetic("pflab", "sequential.bin", 4 * 1024 * 1024 - 1).ok());
    auto small = Pflab("compare " + trace + " --policies none --transport http --endpoint " + server.endpoint(), dir);
    CHECK(small.exit_code == 1);
    CHECK_THAT(small.err, Catch::Contains("the endpoint's object has 4194303 bytes, fewer than the trace's 4194304"));
    REQUIRE(server.store().PutSynthetic("pflab", "sequential.bin", 4 * 1024 * 1024, 7).ok());
    auto other = Pflab("compare " + trace + " --policies none --transport http --endpoint " + server.endpoint(), dir);
    CHECK(other.exit_code == 1);
    CHECK_THAT(other.err, Catch::Contains("but the endpoint's object is generation 7"));
  }
  // Nothing listens: the same check fails at once, where every read would have waited for six attempts.
  auto dead = Pflab("compare " + trace + " --policies none --transport http --endpoint http://127.0.0.1:" +
                        std::to_string(pflab::testing::DeadPort()) + " --json " + json,
                    dir);
  INFO(dead.err);
  CHECK(dead.exit_code == 1);
  CHECK_THAT(dead.err, Catch::Contains("metadata of gs://pflab/sequential.bin: GET http://127.0.0.1:") &&
                           Catch::Contains("could not connect"));
  CHECK(dead.err.find("[1/") == std::string::npos);
  auto fidelity = Pflab("fidelity " + trace + " --policies none --transport http --endpoint http://127.0.0.1:" +
                            std::to_string(pflab::testing::DeadPort()),
                        dir);
  CHECK(fidelity.exit_code == 1);
  CHECK_THAT(fidelity.err, Catch::Contains("could not connect") &&
                               Catch::Contains("`pflab serve --synthetic pflab/sequential.bin=4194304` serves it)"));
  CHECK_FALSE(fs::exists(json));
}

// A trace of 33 objects, one read each, the last of which the server lacks: the check before the runs
// looks at the first 32 by name (LiveObjects::kMaxNamedChecks), so the last fails in the runs.
std::string ManyObjects(const fs::path& dir, int objects) {
  const std::string path = (dir / "many.jsonl").string();
  std::ofstream out(path);
  out << R"({"format":"pflab-trace","version":1,"objects":[)";
  for (int i = 0; i < objects; ++i) {
    out << (i ? "," : "") << R"({"id":"o)" << i << R"(","name":"f)" << 100 + i << R"(.bin","size":262144})";
  }
  out << "]}\n";
  for (int i = 0; i < objects; ++i) {
    out << R"({"t":)" << i * 1000 << R"(,"stream":0,"object":"o)" << i << R"(","offset":0,"length":131072})"
        << "\n";
  }
  return path;
}

TEST_CASE(
    "cli failures: an object missing in the runs fails loudly - status and message on stderr, in the JSON, in the "
    "events - exit 2",
    "[cli][failures][http]") {
  const fs::path dir = TempDir();
  constexpr int kObjects = 33;
  const std::string trace = ManyObjects(dir, kObjects);
  pflab::fake_gcs::FakeGcsServer server;
  for (int i = 0; i + 1 < kObjects; ++i) {
    REQUIRE(server.store().PutSynthetic("pflab", "f" + std::to_string(100 + i) + ".bin", 262144).ok());
  }
  REQUIRE(server.Start().ok());
  const std::string json = (dir / "r.json").string();
  const std::string md = (dir / "r.md").string();
  auto cmp =
      Pflab("compare " + trace + " --policies 'none,fsspec-readahead' --transport http --endpoint " +
                server.endpoint() + " --json " + json + " --md " + md + " --events " + (dir / "ev").string() + " -q",
            dir);
  INFO(cmp.err);
  CHECK(cmp.exit_code == 2);
  // The first failure of each run: object, range, HTTP status, the server's message, attempts.
  CHECK_THAT(cmp.err, Catch::Contains("pflab: many x none: 1 of 33 reads failed") &&
                          Catch::Contains("pflab: many x fsspec-readahead:") &&
                          Catch::Contains("pflab/f132.bin [0, 131072): HTTP 404 after 1 attempt(s)") &&
                          Catch::Contains("HTTP 404: object gs://pflab/f132.bin not found") &&
                          Catch::Contains("2 of 2 runs had failed or wrong reads"));
  CHECK_THAT(cmp.out, Catch::Contains("none (1 reads failed)"));
  CHECK(fs::exists(md));
  const auto doc = nlohmann::json::parse(Slurp(json));
  REQUIRE(doc["runs"].size() == 2);
  for (const auto& run : doc["runs"]) {
    CHECK(run["metrics"]["reads_failed"] == 1);
    CHECK(run["errors_total"] == 1);
    CHECK(run["errors_by_reason"]["HTTP 404"] == 1);
    const auto& first = run["errors"][0];
    CHECK(first["kind"] == "read");
    CHECK(first["object"] == "pflab/f132.bin");
    CHECK(first["http_status"] == 404);
    CHECK(first["attempts"] == 1);
    CHECK(first["message"].get<std::string>().find("object gs://pflab/f132.bin not found") != std::string::npos);
  }
  // The event log has the failed request with its reason.
  std::ifstream events(dir / "ev" / "many__none.jsonl");
  std::size_t failed = 0;
  for (std::string line; std::getline(events, line);) {
    const auto e = nlohmann::json::parse(line);
    if (e["type"] != "fetch_fail" || e["layer"] != "concurrent") continue;
    ++failed;
    CHECK(e["error"]["http_status"] == 404);
    CHECK(e["error"]["code"] == "not found");
    CHECK(e["error"]["message"].get<std::string>().find("HTTP 404: object gs://pflab/f132.bin not found") !=
          std::string::npos);
  }
  CHECK(failed == 1);
}

TEST_CASE("cli failures: bad usage exits 1 before anything runs", "[cli][failures]") {
  const fs::path dir = TempDir();
  const std::string trace = Gen(dir, "sequential", 2);
  const std::string json = (dir / "r.json").string();
  auto not_url =
      Pflab("compare " + trace + " --policies none --transport http --endpoint localhost --json " + json, dir);
  CHECK(not_url.exit_code == 1);
  CHECK_THAT(not_url.err, Catch::Contains("--endpoint: 'localhost' is not a URL"));
  CHECK(not_url.err.find("[1/") == std::string::npos);  // nothing ran
  CHECK_FALSE(fs::exists(json));
  auto bad_host = Pflab("compare " + trace + " --policies none --transport http --endpoint 'http://a b'", dir);
  CHECK(bad_host.exit_code == 1);
  CHECK_THAT(bad_host.err, Catch::Contains("is not a host name"));
  auto wrong_transport = Pflab("compare " + trace + " --policies none --endpoint http://127.0.0.1:1", dir);
  CHECK(wrong_transport.exit_code == 1);
  CHECK_THAT(wrong_transport.err, Catch::Contains("--endpoint is for --transport http"));
  auto missing = Pflab("compare " + trace, dir);  // --policies is required
  CHECK(missing.exit_code == 1);
  auto unknown = Pflab("compare " + trace + " --policies none --no-such-flag", dir);
  CHECK(unknown.exit_code == 1);
  auto help = Pflab("compare --help", dir);
  CHECK(help.exit_code == 0);
  auto clean = Pflab("compare " + trace + " --policies none -q", dir);
  CHECK(clean.exit_code == 0);
  CHECK(clean.err.empty());
}

TEST_CASE("cli failures: corrupt bytes fail their run only - the others run, the reports are written - exit 2",
          "[cli][failures][fake_gcs]") {
  const fs::path dir = TempDir();
  const std::string trace_path = Gen(dir, "sequential", 8);
  auto trace = pflab::traces::ReadTrace(trace_path);
  REQUIRE(trace.ok());
  // The server corrupts one byte of every other response, on average.
  pflab::fake_gcs::ServerOptions options;
  auto faults = pflab::fake_gcs::FaultProfile::Parse(
      {{"seed", 2}, {"faults", {{{"instruction", "corrupt-byte"}, {"probability", 0.5}}}}}, "corrupt");
  REQUIRE(faults.ok());
  options.faults.emplace(*faults);
  pflab::fake_gcs::FakeGcsServer server(options);
  const pflab::ObjectRef ref = pflab::replay::TraceObjectRef(trace->objects[0]);
  REQUIRE(server.store().PutSynthetic(ref.bucket, ref.name, ref.size, ref.generation).ok());
  REQUIRE(server.Start().ok());
  const std::string json = (dir / "r.json").string();
  const std::string html = (dir / "r.html").string();
  auto cmp = Pflab("compare " + trace_path + " --policies 'none,fsspec-readahead,gcsfs-adaptive' --transport http " +
                       "--endpoint " + server.endpoint() + " --verify-bytes --connections 1 --json " + json + " --md " +
                       (dir / "r.md").string() + " -q",
                   dir);
  INFO(cmp.err);
  CHECK(cmp.exit_code == 2);
  CHECK(fs::exists(dir / "r.md"));
  const auto doc = nlohmann::json::parse(Slurp(json));
  REQUIRE(doc["runs"].size() == 3);  // every run ran and is recorded
  std::size_t wrong_runs = 0;
  for (const auto& run : doc["runs"]) {
    if (run["metrics"]["reads_wrong"] == 0) continue;
    ++wrong_runs;
    const auto& first = run["errors"][0];
    CHECK(first["kind"] == "bytes");
    CHECK(first["reason"] == "wrong bytes");
    const std::uint64_t begin = first["begin"], end = first["end"], bad = first["first_wrong_byte"];
    CHECK(bad >= begin);
    CHECK(bad < end);
    CHECK(first["message"].get<std::string>().find("byte " + std::to_string(bad) + " of") != std::string::npos);
  }
  CHECK(wrong_runs >= 1);
  CHECK_THAT(cmp.err, Catch::Contains("wrong bytes: byte ") && Catch::Contains("runs had failed or wrong reads"));
}

TEST_CASE("cli failures: a sweep records a failed run as a result line with its errors - it counts as done - exit 2",
          "[cli][failures][sweep]") {
  const fs::path dir = TempDir();
  const std::string trace = Gen(dir, "sequential", 4);
  const std::string results = (dir / "s.jsonl").string();
  // fsspec-parts without parts fails every read by design; the others run on.
  const std::string args = "sweep --traces " + trace +
                           " --policy fsspec-parts --policy 'fsspec-readahead(blocksize=1MiB|2MiB)' -o " + results;
  auto first = Pflab(args, dir);
  INFO(first.err);
  CHECK(first.exit_code == 2);
  CHECK_THAT(first.err, Catch::Contains("pflab sweep: sequential x fsspec-parts failed: pflab/sequential.bin [0, "
                                        "131072): invalid argument") &&
                            Catch::Contains("1 of 5 runs of shard 1/1 failed"));
  std::ifstream in(results);
  std::size_t lines = 0, failed = 0;
  for (std::string line; std::getline(in, line); ++lines) {
    const auto j = nlohmann::json::parse(line);
    if (j["policy"] != "fsspec-parts") {
      CHECK(j["errors_total"] == 0);
      continue;
    }
    ++failed;
    CHECK(j["metrics"]["reads_failed"] == 4);
    CHECK(j["errors_total"] == 4);
    CHECK(j["errors"][0]["code"] == "invalid argument");
  }
  CHECK(lines == 5);  // four policies and the bound row
  CHECK(failed == 1);
  // Fast failing reads do not make it the best policy.
  CHECK(first.out.find("fsspec-parts") == std::string::npos);
  // Resuming runs nothing again: the failed run is done; the exit status still says it failed.
  auto again = Pflab(args, dir);
  CHECK(again.exit_code == 2);
  CHECK_THAT(again.err, Catch::Contains("5 already in") && Catch::Contains("0 run now"));
}

}  // namespace
