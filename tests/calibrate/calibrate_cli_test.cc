// `pflab calibrate` end to end: the plan printed before anything is sent, a short calibration against a
// shaped fake server, and the written file accepted by `compare --profile FILE`.
#include <catch2/catch.hpp>

#include "fake_gcs/server.h"
#include "tests/support/cli_runner.h"

namespace pflab::testing {
namespace {

TEST_CASE("cli: calibrate prints its plan, writes a profile, and compare --profile FILE runs with it",
          "[calibrate][cli]") {
  const auto dir = FreshTempDir("pflab_calibrate_cli");
  fake_gcs::ServerOptions options;
  options.shaping.latency_median_ns = 5 * kMillisecond;
  options.shaping.latency_p99_ns = 15 * kMillisecond;
  options.shaping.stream_bandwidth_bytes_per_s = 50e6;
  fake_gcs::FakeGcsServer server(options);
  REQUIRE(server.store().PutSynthetic("bkt", "data.bin", 16 << 20).ok());
  REQUIRE(server.Start().ok());
  const std::string url = server.endpoint() + "/bkt/data.bin";
  const std::string small = " --probes 20 --bandwidth-probes 2 --bandwidth-size 1MiB --max-connections 2";

  // --plan-only: the plan and its cost; only the metadata request is sent.
  auto plan = RunPflab("calibrate " + url + small + " --plan-only", dir);
  INFO(plan.out << plan.err);
  REQUIRE(plan.exit_code == 0);
  CHECK(plan.out.find("(16MiB, generation 1)") != std::string::npos);
  CHECK(plan.out.find("latency: 21 requests") != std::string::npos);
  CHECK(plan.out.find("concurrency: 3 requests") != std::string::npos);
  CHECK(plan.out.find("total: 27 requests") != std::string::npos);
  CHECK(plan.out.find("connections: 0 requests, 0B (16 connections opened and closed, no request sent)") !=
        std::string::npos);
  CHECK(plan.out.find("per 1,000 requests") != std::string::npos);
  CHECK(server.stats().requests == 1);

  const auto profile = (dir / "profile.json").string();
  auto cal = RunPflab("calibrate " + url + small + " --verify-synthetic -o " + profile, dir);
  INFO(cal.out << cal.err);
  REQUIRE(cal.exit_code == 0);
  CHECK(server.stats().requests == 1 + 27);
  CHECK(cal.out.find("total: 27 requests") < cal.out.find("first byte median"));
  CHECK(cal.err.find("pflab calibrate: latency: 20 reads of 4KiB") != std::string::npos);
  CHECK(cal.out.find("wrote " + profile) != std::string::npos);
  CHECK(cal.out.find("connection setup   ") != std::string::npos);  // no request: the count above holds
  const std::string written = Slurp(profile);
  CHECK(written.find("\"connect_overhead\"") != std::string::npos);
  CHECK(written.find("\"calibrated\"") != std::string::npos);
  CHECK(written.find("\"ci95\"") != std::string::npos);
  CHECK(written.find("\"measured_at\"") != std::string::npos);

  const auto trace = (dir / "seq.jsonl").string();
  REQUIRE(RunPflab("gen sequential --count 20 -o " + trace, dir).exit_code == 0);
  auto cmp = RunPflab("compare " + trace + " --policies none -q --profile " + profile, dir);
  INFO(cmp.out << cmp.err);
  CHECK(cmp.exit_code == 0);
  // The same file by name, through --profiles.
  cmp = RunPflab("compare " + trace + " --policies none -q --profiles " + profile + " --profile calibrated", dir);
  CHECK(cmp.exit_code == 0);
  server.Stop();
}

TEST_CASE("cli: calibrate refuses bad input with the option named", "[calibrate][cli]") {
  const auto dir = FreshTempDir("pflab_calibrate_bad");
  auto r = RunPflab("calibrate bkt/obj -o x.json", dir);
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("expected gs://BUCKET/OBJECT or http[s]://HOST[:PORT]/BUCKET/OBJECT") != std::string::npos);
  r = RunPflab("calibrate http://127.0.0.1:1/bkt/obj", dir);
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("-o/--output: required") != std::string::npos);
  r = RunPflab("calibrate http://127.0.0.1:1/bkt/obj -o x.json --probe-size 4XB", dir);
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("--probe-size") != std::string::npos);
  r = RunPflab("calibrate http://127.0.0.1:1/bkt/obj -o x.json --prices nope", dir);
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("--prices: unknown network profile 'nope'") != std::string::npos);
  // Nothing listens on port 1: the metadata request fails and says where it went.
  r = RunPflab("calibrate http://127.0.0.1:1/bkt/obj -o x.json", dir);
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("metadata of gs://bkt/obj: GET http://127.0.0.1:1/storage/v1/b/bkt/o/obj") != std::string::npos);
  // A profiles file with two profiles is not one profile.
  r = RunPflab(
      "compare none.jsonl --policies none --profile " + std::string(PFLAB_SOURCE_DIR) + "/sim/profiles/profiles.json",
      dir);
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("name one with --profiles") != std::string::npos);
}

TEST_CASE("cli: fidelity compares the simulator with the fake server and refuses the simulator alone",
          "[fidelity][cli]") {
  const auto dir = FreshTempDir("pflab_fidelity_cli");
  const auto trace = (dir / "seq.jsonl").string();
  REQUIRE(RunPflab("gen sequential --object-size 4MiB --read-size 1MiB --count 4 -o " + trace, dir).exit_code == 0);
  auto r = RunPflab("fidelity " + trace + " --policies none --profile local-fast --seeds 2 --verify-bytes -q --md " +
                        (dir / "f.md").string(),
                    dir);
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("## Fidelity on local-fast (fake, 2 seeds)") != std::string::npos);
  CHECK(r.out.find("runs: 2 (0 failed, left out)") != std::string::npos);
  CHECK(Slurp(dir / "f.md") == r.out);
  r = RunPflab("fidelity " + trace + " --policies none --transport sim", dir);
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("--transport: fake or http") != std::string::npos);
}

}  // namespace
}  // namespace pflab::testing
