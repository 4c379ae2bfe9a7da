// End-to-end checks of the pflab binary: the contracts later issues and users rely on.
#include <httplib.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "engine/synthetic_content.h"
#include "replay/simulation.h"
#include "tests/support/cli_runner.h"
#include "tests/support/synthetic_http_server.h"
#include "traces/trace_io.h"

namespace {

namespace fs = std::filesystem;

using Outcome = pflab::testing::CliOutcome;
using pflab::testing::Slurp;

fs::path TempDir() {
  return pflab::testing::FreshTempDir("pflab_cli_test");
}

Outcome Pflab(const std::string& args, const fs::path& dir) {
  return pflab::testing::RunPflab(args, dir);
}

TEST_CASE("cli: gen then compare writes schema-versioned JSON- Markdown and event logs", "[cli]") {
  const fs::path dir = TempDir();
  const std::string trace = (dir / "seq.jsonl").string();
  auto gen = Pflab("gen sequential --object-size 64MiB --read-size 1MiB --count 24 --seed 3 -o " + trace, dir);
  REQUIRE(gen.exit_code == 0);
  const std::string json = (dir / "r.json").string();
  const std::string md = (dir / "r.md").string();
  const std::string events = (dir / "ev").string();
  auto cmp = Pflab("compare " + trace +
                       " --policies 'none,fsspec-readahead,gcsfs-v795' --profile gcs-regional --seed 7 --json " + json +
                       " --md " + md + " --events " + events,
                   dir);
  INFO(cmp.err);
  REQUIRE(cmp.exit_code == 0);
  CHECK_THAT(cmp.out, Catch::Contains("fsspec-readahead"));

  auto doc = nlohmann::json::parse(Slurp(json));
  CHECK(doc["schema"] == 1);
  REQUIRE(doc["runs"].size() == 4);  // none, the bound, and the two policies
  CHECK(doc["runs"][1]["policy"] == "bound");
  for (const auto& run : doc["runs"]) {
    CHECK(run["trace"] == "seq");
    CHECK(run["profile"] == "gcs-regional");
    CHECK(run["seed"] == 7);
    const auto& m = run["metrics"];
    for (const char* key : {"elapsed_s", "stall_s", "bytes_read", "bytes_fetched", "bytes_wasted", "requests",
                            "requests_cancelled", "peak_memory_bytes", "cost_usd"}) {
      INFO(key);
      CHECK(m.contains(key));
    }
    for (const char* key : {"p50", "p95", "p99", "max"}) CHECK(m["read_latency_s"].contains(key));
    CHECK(m["bytes_read"] == 24 * (1 << 20));
  }
  CHECK_THAT(Slurp(md), Catch::Contains("| `gcsfs-v795` |"));

  // One event log per run, each line with the contract's fields; requests equal the backend fetch_starts.
  const fs::path log = fs::path(events) / "seq__fsspec-readahead.jsonl";
  REQUIRE(fs::exists(log));
  std::ifstream in(log);
  std::string line;
  std::uint64_t backend_starts = 0, reads = 0;
  while (std::getline(in, line)) {
    auto e = nlohmann::json::parse(line);
    for (const char* key : {"t_ns", "type", "layer", "offset", "length"}) REQUIRE(e.contains(key));
    if (e["type"] == "fetch_start" && e["layer"] == "concurrent") ++backend_starts;
    if (e["type"] == "read_end") ++reads;
  }
  CHECK(reads == 24);
  CHECK(backend_starts == doc["runs"][2]["metrics"]["requests"]);
  CHECK_FALSE(fs::exists(fs::path(events) / "seq__bound.jsonl"));  // the bound has no events
  fs::remove_all(dir);
}

TEST_CASE("cli: compare --seeds runs every policy per seed; diff gates on a significant regression", "[cli]") {
  const fs::path dir = TempDir();
  const std::string trace = (dir / "r.jsonl").string();
  REQUIRE(Pflab("gen random --object-size 1GiB --read-size 256KiB --count 40 --seed 5 -o " + trace, dir).exit_code ==
          0);
  const std::string base = (dir / "base.json").string();
  auto cmp = Pflab("compare " + trace + " --policies 'gcsfs-adaptive,fsspec-readahead,oracle' --seeds 3..7 -q --json " +
                       base + " --md " + (dir / "r.md").string() + " --events " + (dir / "ev").string(),
                   dir);
  INFO(cmp.err);
  REQUIRE(cmp.exit_code == 0);
  auto doc = nlohmann::json::parse(Slurp(base));
  // 5 policies (none, bound, three listed) x 5 seeds, in plan order: policy-major, seeds fastest.
  REQUIRE(doc["runs"].size() == 25);
  CHECK(doc["config"]["seeds"] == nlohmann::json::array({3, 4, 5, 6, 7}));
  CHECK(doc["runs"][0]["seed"] == 3);
  CHECK(doc["runs"][4]["seed"] == 7);
  CHECK(doc["runs"][5]["policy"] == "bound");
  for (std::size_t i = 0; i < 25; ++i) {
    const auto& run = doc["runs"][i];
    CHECK(run["ratios"]["elapsed_vs_bound"].get<double>() >= 1.0);
    // The oracle's memory budget: the largest peak of the other policies on its seed.
    if (run["policy"] == "oracle") {
      std::uint64_t largest = 0;
      for (const auto& other : doc["runs"]) {
        if (other["seed"] == run["seed"] && other["policy"] != "oracle" && other["policy"] != "bound") {
          largest = std::max(largest, other["metrics"]["peak_memory_bytes"].get<std::uint64_t>());
        }
      }
      CHECK(run["comparison_peak_memory_bytes"] == largest);
    }
  }
  // Seeds differ: the runs of one policy are not all the same.
  CHECK(doc["runs"][0]["metrics"]["elapsed_s"] != doc["runs"][1]["metrics"]["elapsed_s"]);
  CHECK_THAT(cmp.out, Catch::Contains("median of 5 seeds (3..7)") && Catch::Contains("min..max s"));
  CHECK_THAT(Slurp(dir / "r.md"), Catch::Contains("## Overview") && Catch::Contains("told apart"));
  CHECK(fs::exists(dir / "ev" / "r__gcsfs-adaptive__seed5.jsonl"));
  CHECK(doc["config"]["provenance"]["traces"][0]["md5"].get<std::string>().size() == 32);

  // The same file against itself: nothing changed, exit 0.
  auto same = Pflab("diff " + base + " " + base, dir);
  INFO(same.out);
  CHECK(same.exit_code == 0);
  CHECK_THAT(same.out, Catch::Contains("0 regression(s), 0 improvement(s) of 5 compared"));
  // gcsfs-adaptive 30% slower on every seed: the seeds spread more than that, so it is not significant
  // and not a regression; three times slower on every seed is (p = 2/252 over 5 and 5 seeds): exit 3.
  std::ofstream(dir / "new.json") << [&] {
    auto slower = doc;
    for (auto& run : slower["runs"]) {
      if (run["policy"] == "gcsfs-adaptive")
        run["metrics"]["elapsed_s"] = run["metrics"]["elapsed_s"].get<double>() * 1.3;
    }
    return slower.dump();
  }();
  auto noisy = Pflab("diff " + base + " " + (dir / "new.json").string(), dir);
  INFO(noisy.out);
  CHECK(noisy.exit_code == 0);
  CHECK_THAT(noisy.out, Catch::Contains("+30.0%") && Catch::Contains("0 regression(s)"));
  for (auto& run : doc["runs"]) {
    if (run["policy"] == "gcsfs-adaptive") run["metrics"]["elapsed_s"] = run["metrics"]["elapsed_s"].get<double>() * 3;
  }
  std::ofstream(dir / "new.json") << doc.dump();
  auto worse = Pflab("diff " + base + " " + (dir / "new.json").string() + " --md " + (dir / "d.md").string(), dir);
  INFO(worse.out);
  CHECK(worse.exit_code == 3);
  CHECK_THAT(worse.out, Catch::Contains("SLOWER") && Catch::Contains("+200.0%") && Catch::Contains("0.008") &&
                            Catch::Contains("1 regression(s)"));
  CHECK_THAT(Slurp(dir / "d.md"), Catch::Contains("**SLOWER**"));
  // Above the threshold it passes; bad input exits 1.
  CHECK(Pflab("diff " + base + " " + (dir / "new.json").string() + " --threshold 250%", dir).exit_code == 0);
  auto bad = Pflab("diff " + base + " " + (dir / "missing.json").string(), dir);
  CHECK(bad.exit_code == 1);
  CHECK_THAT(bad.err, Catch::Contains("missing.json"));
  CHECK(Pflab("diff " + base + " " + base + " --threshold much", dir).exit_code == 1);
  fs::remove_all(dir);
}

TEST_CASE("cli: same inputs and seed give identical runs", "[cli][determinism]") {
  const fs::path dir = TempDir();
  const std::string trace = (dir / "r.jsonl").string();
  REQUIRE(Pflab("gen random --object-size 1GiB --read-size 256KiB --count 200 --seed 5 -o " + trace, dir).exit_code ==
          0);
  const std::string args = "compare " + trace + " --policies 'none,gcsfs-adaptive,fsspec-readahead' --seed 11 --json ";
  REQUIRE(Pflab(args + (dir / "a.json").string(), dir).exit_code == 0);
  REQUIRE(Pflab(args + (dir / "b.json").string(), dir).exit_code == 0);
  auto a = nlohmann::json::parse(Slurp(dir / "a.json"));
  auto b = nlohmann::json::parse(Slurp(dir / "b.json"));
  CHECK(a["runs"] == b["runs"]);
  REQUIRE(Pflab(args.substr(0, args.find("--seed")) + "--seed 12 --json " + (dir / "c.json").string(), dir).exit_code ==
          0);
  auto c = nlohmann::json::parse(Slurp(dir / "c.json"));
  CHECK(a["runs"] != c["runs"]);
  fs::remove_all(dir);
}

TEST_CASE("cli: bad input exits non-zero with a FILE:LINE: message", "[cli]") {
  const fs::path dir = TempDir();
  const fs::path trace = dir / "bad.jsonl";
  {
    std::ofstream out(trace);
    out << R"({"format":"pflab-trace","version":1,"objects":[{"id":"o0","name":"x","size":100}]})"
        << "\n";
    out << R"({"t":0,"object":"o0","offset":0,"length":10})"
        << "\n";
    out << R"({"t":1,"object":"o0","offset":95,"length":10})"
        << "\n";
  }
  auto r = Pflab("compare " + trace.string() + " --policies none", dir);
  CHECK(r.exit_code != 0);
  CHECK_THAT(r.err, Catch::StartsWith(trace.string() + ":3:"));

  auto unknown = Pflab("compare " + trace.string() + " --policies nope", dir);
  CHECK(unknown.exit_code != 0);
  CHECK_THAT(unknown.err, Catch::Contains("unknown policy 'nope'"));

  auto profile = Pflab("gen sequential -o " + (dir / "s.jsonl").string(), dir);
  REQUIRE(profile.exit_code == 0);
  auto bad_profile = Pflab("compare " + (dir / "s.jsonl").string() + " --policies none --profile mars", dir);
  CHECK(bad_profile.exit_code != 0);
  CHECK_THAT(bad_profile.err, Catch::Contains("gcs-regional"));
  fs::remove_all(dir);
}

TEST_CASE("cli: --profiles FILE on compare, sweep and profiles overrides $PFLAB_PROFILES and the built-in file",
          "[cli][profiles]") {
  const fs::path dir = TempDir();
  const fs::path trace = dir / "s.jsonl";
  REQUIRE(Pflab("gen sequential --object-size 8MiB --count 8 -o " + trace.string(), dir).exit_code == 0);
  // A profile only this file has, with numbers none of the built-in ones uses.
  const fs::path mine = dir / "mine.json";
  std::ofstream(mine) << R"({"profiles": {"slow-lan": {"latency_median": "7ms", "stream_bandwidth": "10MB/s",
                            "link_bandwidth": "20MB/s", "max_connections": 3, "usd_per_request": 0, "usd_per_gib": 0}}})";
  const fs::path other = dir / "other.json";
  std::ofstream(other) << R"({"profiles": {"elsewhere": {"latency_median": "1ms", "stream_bandwidth": "1GB/s",
                            "link_bandwidth": "1GB/s", "max_connections": 1, "usd_per_request": 0, "usd_per_gib": 0}}})";
  const pflab::testing::CliOptions env{.env = "PFLAB_PROFILES=" + other.string(), .stdin_text = "", .in_dir = false};

  auto cmp =
      pflab::testing::RunPflab("compare " + trace.string() + " --policies none -q --profile slow-lan --profiles " +
                                   mine.string() + " --json " + (dir / "r.json").string(),
                               dir, env);
  INFO(cmp.err);
  REQUIRE(cmp.exit_code == 0);
  const auto results = nlohmann::json::parse(Slurp(dir / "r.json"));
  CHECK(results["config"]["profile"] == "slow-lan");
  CHECK(results["config"]["profile_parameters"]["latency_median_ms"] == 7.0);
  CHECK(results["config"]["profile_parameters"]["max_connections"] == 3);

  // Without --profiles the environment's file is the one read; without either, the built-in one.
  auto from_env =
      pflab::testing::RunPflab("compare " + trace.string() + " --policies none -q --profile slow-lan", dir, env);
  CHECK(from_env.exit_code == 1);
  CHECK_THAT(from_env.err, Catch::Contains("unknown network profile 'slow-lan' (known: elsewhere)"));
  auto listed = pflab::testing::RunPflab("profiles", dir, env);
  CHECK(listed.exit_code == 0);
  CHECK_THAT(listed.out, Catch::StartsWith("elsewhere "));
  auto built_in = Pflab("profiles", dir);
  CHECK_THAT(built_in.out, Catch::Contains("gcs-regional "));
  CHECK(Pflab("profiles --file", dir).out == Slurp(fs::path(PFLAB_SOURCE_DIR) / "sim" / "profiles" / "profiles.json"));

  auto mine_listed = pflab::testing::RunPflab("profiles --profiles " + mine.string(), dir, env);
  CHECK(mine_listed.exit_code == 0);
  CHECK_THAT(mine_listed.out, Catch::StartsWith("slow-lan "));
  auto mine_file = Pflab("profiles --file --profiles " + mine.string(), dir);
  CHECK(mine_file.out == Slurp(mine));

  auto sweep = Pflab("sweep -q --traces " + trace.string() + " --policy none --profile slow-lan --profiles " +
                         mine.string() + " -o " + (dir / "sweep.jsonl").string(),
                     dir);
  INFO(sweep.err);
  CHECK(sweep.exit_code == 0);
  CHECK_THAT(Slurp(dir / "sweep.jsonl"), Catch::Contains("\"profile\":\"slow-lan\""));

  // A bad file is named in the error, on every command.
  std::ofstream(dir / "bad.json") << "{\"profiles\": 3}";
  for (const std::string& args :
       {"compare " + trace.string() + " --policies none --profiles " + (dir / "bad.json").string(),
        "sweep --traces " + trace.string() + " --policy none --profiles " + (dir / "bad.json").string(),
        "profiles --profiles " + (dir / "bad.json").string(),
        "profiles --file --profiles " + (dir / "bad.json").string()}) {
    INFO(args);
    auto bad = Pflab(args, dir);
    CHECK(bad.exit_code == 1);
    CHECK_THAT(bad.err, Catch::Contains((dir / "bad.json").string() + ": expected {\"profiles\""));
  }
  fs::remove_all(dir);
}

TEST_CASE("cli: policies lists every registered policy with its origin", "[cli]") {
  const fs::path dir = TempDir();
  auto r = Pflab("policies", dir);
  REQUIRE(r.exit_code == 0);
  for (const char* name : {"none", "fsspec-readahead", "gcsfs-v795", "gcsfs-adaptive", "concurrent"}) {
    CHECK_THAT(r.out, Catch::Contains(name));
  }
  CHECK_THAT(r.out, Catch::Contains("origin:"));
  // Defaults printed from the policies' Options, with the notes some carry.
  CHECK_THAT(r.out, Catch::Contains("  blocksize (default 5MiB): read-ahead beyond each read"));
  CHECK_THAT(r.out, Catch::Contains("  initial (default 1152KiB): INITIAL_REQUEST_SIZE"));
  CHECK_THAT(r.out, Catch::Contains("  parts (default (none)): known byte ranges"));
  CHECK_THAT(r.out,
             Catch::Contains("  parts (default 1 (or the gcsfs layer's concurrency)): maximum parts per request"));
  fs::remove_all(dir);
}

}  // namespace

namespace {

TEST_CASE("cli: compare --transport http reads the trace over HTTP with every byte checked", "[cli][http]") {
  const fs::path dir = TempDir();
  const std::string trace_path = (dir / "bt.jsonl").string();
  REQUIRE(Pflab("gen backtrack --object-size 8MiB --read-size 256KiB --count 40 -o " + trace_path, dir).exit_code == 0);
  auto trace = pflab::traces::ReadTrace(trace_path);
  REQUIRE(trace.ok());
  std::map<std::string, pflab::testing::SyntheticHttpServer::Object> objects;
  for (const auto& o : trace->objects) {
    const pflab::ObjectRef ref = pflab::replay::TraceObjectRef(o);
    objects[ref.bucket + "/" + ref.name] = {ref.size, ref.generation};
  }
  pflab::testing::SyntheticHttpServer server(objects);
  const std::string json = (dir / "r.json").string();
  // Four connections: the test server (cpp-httplib) serves eight at a time and keeps each for up to five
  // requests or 5 s idle, so with the default 16 a request could wait 5 s for a server thread.
  auto cmp = Pflab("compare " + trace_path + " --policies 'gcsfs-adaptive,fsspec-readahead' --transport http " +
                       "--endpoint " + server.endpoint().Url() + " --connections 4 --verify-bytes --json " + json,
                   dir);
  INFO(cmp.err);
  REQUIRE(cmp.exit_code == 0);
  const auto results = nlohmann::json::parse(Slurp(json));
  CHECK(results.at("config").at("transport") == "http");
  REQUIRE(results.at("runs").size() == 3);
  for (const auto& run : results.at("runs")) {
    CHECK(run.at("metrics").at("reads") == 40);
    CHECK(run.at("metrics").at("reads_failed") == 0);
    CHECK(run.at("metrics").at("bytes_read") == 40 * 256 * 1024);
  }
  auto bad = Pflab("compare " + trace_path + " --policies none --transport carrier-pigeon", dir);
  CHECK(bad.exit_code != 0);
  CHECK(bad.err.find("--transport") != std::string::npos);
}

TEST_CASE("cli: compare --transport fake runs the real engine against an in-process fake server", "[cli][fake_gcs]") {
  const fs::path dir = TempDir();
  const std::string trace_path = (dir / "seq.jsonl").string();
  REQUIRE(Pflab("gen sequential --object-size 6MiB --read-size 128KiB --count 30 -o " + trace_path, dir).exit_code ==
          0);
  const std::string json = (dir / "r.json").string();
  auto cmp = Pflab("compare " + trace_path +
                       " --policies 'gcsfs-adaptive,fsspec-readahead' --transport fake --profile local-fast "
                       "--verify-bytes --json " +
                       json,
                   dir);
  INFO(cmp.err);
  REQUIRE(cmp.exit_code == 0);
  CHECK(cmp.err.find("fake GCS server at http://127.0.0.1:") != std::string::npos);
  const auto results = nlohmann::json::parse(Slurp(json));
  CHECK(results.at("config").at("transport") == "fake");
  REQUIRE(results.at("runs").size() == 3);
  for (const auto& run : results.at("runs")) {
    CHECK(run.at("metrics").at("reads_failed") == 0);
    CHECK(run.at("metrics").at("bytes_read") == 30 * 128 * 1024);
  }
}

TEST_CASE(
    "cli: --baseline off leaves none out; a live run prints the simulator's estimate and --max-cost refuses "
    "above it",
    "[cli][fake_gcs]") {
  const fs::path dir = TempDir();
  const std::string trace_path = (dir / "seq.jsonl").string();
  REQUIRE(Pflab("gen sequential --object-size 4MiB --read-size 128KiB --count 16 -o " + trace_path, dir).exit_code ==
          0);
  const std::string json = (dir / "r.json").string();
  auto off = Pflab("compare " + trace_path + " --policies fsspec-readahead --baseline off -q --json " + json, dir);
  INFO(off.err);
  REQUIRE(off.exit_code == 0);
  std::vector<std::string> policies;
  const auto doc = nlohmann::json::parse(Slurp(json));
  for (const auto& run : doc.at("runs")) policies.push_back(run.at("policy"));
  CHECK(policies == std::vector<std::string>{"bound", "fsspec-readahead"});

  // Over the fake server: the estimate first, with the baseline's share; the simulated request count is
  // the real one (none: one request per read).
  auto live = Pflab("compare " + trace_path + " --policies fsspec-readahead --transport fake --json " + json, dir);
  INFO(live.err);
  REQUIRE(live.exit_code == 0);
  CHECK_THAT(live.err, Catch::Contains("live runs: 2, about ") &&
                           Catch::Contains("as the simulator predicts them on profile gcs-regional") &&
                           Catch::Contains("of which the baseline `none`: 16 requests"));
  CHECK(live.err.find("live runs:") < live.err.find("[1/2]"));
  CHECK_THAT(live.err, Catch::Contains("of reads over HTTP in") && Catch::Contains(", ETA "));
  // A limit below the estimate runs nothing and says why.
  fs::remove(json);
  auto refused = Pflab(
      "compare " + trace_path + " --policies fsspec-readahead --transport fake --max-cost 0.0000001 --json " + json,
      dir);
  CHECK(refused.exit_code == 1);
  CHECK_THAT(refused.err, Catch::Contains("is above --max-cost") && Catch::Contains("nothing was run"));
  CHECK(refused.err.find("[1/2]") == std::string::npos);
  CHECK(!fs::exists(json));
  auto sim = Pflab("compare " + trace_path + " --policies fsspec-readahead --max-cost 1", dir);
  CHECK(sim.exit_code == 1);
  CHECK_THAT(sim.err, Catch::Contains("--max-cost is for live runs"));
  auto bad = Pflab("compare " + trace_path + " --policies fsspec-readahead --baseline maybe", dir);
  CHECK(bad.exit_code == 1);
  CHECK_THAT(bad.err, Catch::Contains("--baseline: expected none or off"));
}

TEST_CASE("cli: serve prints its URL first, serves synthetic objects, and stops on SIGTERM", "[cli][fake_gcs]") {
  const char* cli = std::getenv("PFLAB_CLI");
  REQUIRE(cli != nullptr);
  int out[2];
  REQUIRE(::pipe(out) == 0);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  posix_spawn_file_actions_addclose(&actions, out[0]);
  std::vector<std::string> args = {cli,           "serve",     "--port", "0", "--synthetic", "bkt/dir/obj=3MiB",
                                   "--synthetic", "other/x=10"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  REQUIRE(posix_spawn(&pid, cli, &actions, nullptr, argv.data(), environ) == 0);
  posix_spawn_file_actions_destroy(&actions);
  ::close(out[1]);
  std::string line;
  char c;
  while (::read(out[0], &c, 1) == 1 && c != '\n') line += c;
  ::close(out[0]);
  INFO(line);
  REQUIRE(line.rfind("http://127.0.0.1:", 0) == 0);
  const int port = std::stoi(line.substr(std::string("http://127.0.0.1:").size()));
  CHECK(port > 0);
  httplib::Client client("127.0.0.1", port);
  auto r = client.Get("/storage/v1/b/bkt/o/dir%2Fobj?alt=media", {{"Range", "bytes=100-199"}});
  REQUIRE(r);
  CHECK(r->status == 206);
  std::string expected(100, '\0');
  pflab::FillSynthetic(pflab::ObjectSeed("bkt", "dir/obj", 1), 100, reinterpret_cast<std::byte*>(expected.data()), 100);
  CHECK(r->body == expected);
  auto meta = client.Get("/storage/v1/b/other/o/x");
  REQUIRE(meta);
  CHECK(nlohmann::json::parse(meta->body).at("size") == "10");
  ::kill(pid, SIGTERM);
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);

  const fs::path dir = TempDir();
  auto bad = Pflab("serve --synthetic nonsense", dir);
  CHECK(bad.exit_code != 0);
  CHECK(bad.err.find("BUCKET/OBJECT=SIZE") != std::string::npos);
  bad = Pflab("serve --root /definitely/not/here", dir);
  CHECK(bad.exit_code != 0);
  CHECK(bad.err.find("not a directory") != std::string::npos);
}

}  // namespace
