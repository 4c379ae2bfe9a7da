// Bad input through the pflab binary: each case once crashed (a signal) or was accepted as nonsense.
// Each must now exit with status 1 and a message naming the file and line, or the option, and why.
#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "engine/sanitizers.h"
#include "reports/results.h"
#include "tests/support/cli_runner.h"
#include "traces/trace_io.h"

namespace {

namespace fs = std::filesystem;

using Outcome = pflab::testing::CliOutcome;

fs::path TempDir() {
  return pflab::testing::FreshTempDir("pflab_bad_input_test");
}

Outcome Pflab(const std::string& args, const fs::path& dir) {
  return pflab::testing::RunPflab(args, dir);
}

void Write(const fs::path& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

// Exit status 1 (not a signal, not 0) and the message on stderr.
void ExpectRefused(const Outcome& o, const std::string& message) {
  INFO("stderr: " << o.err);
  CHECK(o.exit_code == 1);
  CHECK_THAT(o.err, Catch::Contains(message));
}

const std::string kHeader =
    R"({"format":"pflab-trace","version":1,"objects":[{"id":"o0","name":"a.bin","size":1048576}]})"
    "\n";

TEST_CASE("bad input: a huge stream id fails compare and sweep at its line", "[cli][limits]") {
  const fs::path dir = TempDir();
  const fs::path trace = dir / "t.jsonl";
  Write(trace, kHeader + R"({"t":0,"stream":4000000000,"offset":0,"length":4096})" + "\n");
  const std::string where = trace.string() + ":2: stream 4000000000 is not below the limit of 2^20";
  ExpectRefused(Pflab("compare " + trace.string() + " --policies none -q", dir), where);
  ExpectRefused(Pflab("sweep --traces " + trace.string() + " --policy none -q -o " + (dir / "s.jsonl").string(), dir),
                where);
}

TEST_CASE("bad input: an imported 2^64-byte read is refused at its CSV line", "[cli][limits]") {
  const fs::path dir = TempDir();
  Write(dir / "r.csv", "0,18446744073709551615\n");
  ExpectRefused(Pflab("import csv " + (dir / "r.csv").string() + " -o " + (dir / "t.jsonl").string(), dir),
                (dir / "r.csv").string() + ":1: offset+length=0+18446744073709551615 ends beyond 2^50 bytes");
  CHECK_FALSE(fs::exists(dir / "t.jsonl"));
}

TEST_CASE("bad input: --verify-bytes checks a 1 TiB read in bounded memory", "[cli][limits][bytes]") {
  // The simulator used to allocate a payload for the whole fetch: a 1 TiB read crashed.
  const fs::path dir = TempDir();
  const fs::path trace = dir / "big.jsonl";
  Write(trace, R"({"format":"pflab-trace","version":1,"objects":[{"id":"o0","name":"big.bin","size":1099511627776}]})"
               "\n{\"t\":0,\"offset\":0,\"length\":1099511627776}\n");
  const auto start = std::chrono::steady_clock::now();
  auto o = Pflab("compare " + trace.string() +
                     " --policies 'fsspec-readahead,concurrent(parts=8)' --verify-bytes -q "
                     "--json " +
                     (dir / "r.json").string(),
                 dir);
  INFO(o.err);
  REQUIRE(o.exit_code == 0);
  const auto doc = nlohmann::json::parse(pflab::testing::Slurp(dir / "r.json"));
  for (const auto& run : doc["runs"]) {
    CHECK(run["metrics"]["bytes_read"] == 1ull << 40);
    CHECK(run["metrics"]["elapsed_s"].get<double>() > 100);  // a terabyte takes simulated minutes
  }
  // Not a timing target: a run that moved the bytes would take hours, not seconds.
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::minutes(2));
}

// The sanitizers map terabytes of shadow memory, so an address-space limit cannot stand for a small
// machine there; the Release build runs this.
#if !defined(PFLAB_HAS_ASAN) && !defined(PFLAB_HAS_TSAN)
TEST_CASE("bad input: a run that runs out of memory is named", "[cli][limits]") {
  const fs::path dir = TempDir();
  REQUIRE(Pflab("gen random --object-size 16MiB --read-size 64KiB --count 8 -o " + (dir / "r.jsonl").string(), dir)
              .exit_code == 0);
  // One-byte CRT parts: millions of requests, in a 400 MB address space (small runs need under 300).
  pflab::testing::CliOptions limited;
  limited.env = "ulimit -v 400000;";
  const Outcome o = pflab::testing::RunPflab(
      "compare " + (dir / "r.jsonl").string() + " --policies 'mountpoint-s3(part_size=1)' --baseline off -q", dir,
      limited);
  INFO("stderr: " << o.err);
  CHECK(o.exit_code != 0);
  CHECK_THAT(o.err, Catch::Contains("pflab: out of memory in the run of r x mountpoint-s3(part_size=1), seed 1"));
}
#endif

TEST_CASE("bad input: gen refuses zero and overflowing values naming the option", "[cli][limits][gen]") {
  const fs::path dir = TempDir();
  const std::string out = " -o " + (dir / "g.jsonl").string();
  ExpectRefused(Pflab("gen multi-stream --streams 4000000000" + out, dir),
                "--streams: 4000000000 is above the limit of 2^20");
  ExpectRefused(Pflab("gen sequential --object-size 0" + out, dir), "--object-size: must be at least 1 byte");
  ExpectRefused(Pflab("gen sequential --read-size 0" + out, dir), "--read-size: must be at least 1 byte");
  ExpectRefused(Pflab("gen sequential --count 0" + out, dir), "--count: must be at least 1");
  ExpectRefused(Pflab("gen multi-stream --streams 0" + out, dir), "--streams: must be at least 1");
  ExpectRefused(Pflab("gen sequential --think 100000000000s" + out, dir), "--think: '100000000000s' is too long");
  ExpectRefused(Pflab("gen sequential --object-size 2PB" + out, dir),
                "--object-size: '2PB' has an unknown size suffix");
  ExpectRefused(Pflab("gen sequential --object-size 2048TiB" + out, dir),
                "--object-size: object size 2251799813685248 is above the limit of 2^50 bytes");
  ExpectRefused(Pflab("gen sequential --object-size 1TiB --think 1000s --count 1000000" + out, dir),
                "would be issued after 2^53 ns");
  CHECK_FALSE(fs::exists(dir / "g.jsonl"));
  auto ok = Pflab("gen strided --object-size 8MiB --read-size 1MiB --count 3 --stride 0" + out, dir);
  REQUIRE(ok.exit_code == 0);
  auto t = pflab::traces::ReadTrace((dir / "g.jsonl").string());
  REQUIRE(t.ok());
  CHECK(t->records[2].offset == 2 << 20);  // --stride 0: no gap
}

TEST_CASE("bad input: an option given an empty value is refused, not taken for its default", "[cli][limits]") {
  const fs::path dir = TempDir();
  const std::string trace = (dir / "t.jsonl").string();
  REQUIRE(Pflab("gen sequential --count 4 -o " + trace, dir).exit_code == 0);
  // `--seeds "$SEEDS"` with SEEDS unset ran one seed, `--json ""` wrote nothing: both without a word.
  ExpectRefused(Pflab("compare " + trace + " --policies none --seeds ''", dir),
                "pflab: --seeds: an empty value (leave the option out for its default)");
  ExpectRefused(Pflab("compare " + trace + " --policies none --json ''", dir), "pflab: --json: an empty value");
  ExpectRefused(Pflab("sweep --traces " + trace + " --policy none -o ''", dir), "pflab: --output: an empty value");
  ExpectRefused(Pflab("gen sequential --count 4 -o " + trace + " --object-size ''", dir),
                "pflab: --object-size: an empty value");
  // Flags take no value, and a value that is not empty passes.
  CHECK(Pflab("compare " + trace + " --policies none -q --verify-bytes --seeds 2", dir).exit_code == 0);
}

TEST_CASE("bad input: compare and serve bound connections, threads, ports and latency", "[cli][limits]") {
  const fs::path dir = TempDir();
  const fs::path trace = dir / "t.jsonl";
  Write(trace, kHeader + R"({"t":0,"offset":0,"length":4096})" + "\n");
  ExpectRefused(Pflab("compare " + trace.string() + " --policies none -q --transport fake --connections 100000", dir),
                "--connections: 100000 is above the limit of 1024 (each connection is a worker thread)");
  ExpectRefused(Pflab("compare " + trace.string() + " --policies none -q --transport fake --connections 0", dir),
                "--connections: must be at least 1");
  // Without --connections a real run takes the profile's max_connections (the limit the simulator
  // models), and says so when that is too many; --connections overrides it.
  const fs::path many = dir / "many.json";
  std::ofstream(many) << R"({"profiles": {"wide": {"latency_median": "1ms", "stream_bandwidth": "1GB/s",
                            "link_bandwidth": "1GB/s", "max_connections": 2000, "usd_per_request": 0, "usd_per_gib": 0}}})";
  const std::string wide = " --policies none -q --transport fake --profile wide --profiles " + many.string();
  ExpectRefused(Pflab("compare " + trace.string() + wide, dir),
                "--connections: 2000 is above the limit of 1024 (each connection is a worker thread) (the profile's "
                "max_connections; pass --connections to choose)");
  CHECK(Pflab("compare " + trace.string() + wide + " --connections 8", dir).exit_code == 0);
  // fidelity's real runs take the same default.
  ExpectRefused(
      Pflab("fidelity " + trace.string() + " --policies none -q --seeds 1 --profile wide --profiles " + many.string(),
            dir),
      "--connections: 2000 is above the limit of 1024 (each connection is a worker thread) (the profile's "
      "max_connections; pass --connections to choose)");
  // Within the 1024 cap but beyond a lowered open-file limit: the message names RLIMIT_NOFILE.
  ExpectRefused(
      pflab::testing::RunPflab("compare " + trace.string() + " --policies none -q --transport fake --connections 600",
                               dir, {.env = "ulimit -n 512;", .stdin_text = "", .in_dir = false}),
      "--connections: 600 need about 1264 open files");
  ExpectRefused(Pflab("compare " + trace.string() + " --policies none -q --think x101", dir),
                "--think 'x101': expected recorded, zero or xFACTOR (e.g. x0.5, FACTOR from 0 to 100)");
  CHECK(Pflab("compare " + trace.string() + " --policies none -q --think x100", dir).exit_code == 0);
  ExpectRefused(Pflab("serve --threads 100000", dir), "--threads 100000 is not in 1 to 256");
  ExpectRefused(Pflab("serve --threads 0", dir), "--threads 0 is not in 1 to 256");
  ExpectRefused(Pflab("serve --port 70000", dir), "--port 70000 is not a TCP port (0 to 65535");
  ExpectRefused(Pflab("serve --port=-1", dir), "--port -1 is not a TCP port");
  ExpectRefused(Pflab("serve --latency 100000000000s", dir), "--latency '100000000000s': '100000000000s' is too long");
  ExpectRefused(Pflab("serve --latency 2h", dir), "needs a unit");
  ExpectRefused(Pflab("serve --latency 3601s", dir), "above 1 hour");
  ExpectRefused(Pflab("serve --synthetic b/o=2048TiB", dir), "above 2^50 bytes (1 PiB)");
}

TEST_CASE("bad input: an unusable profiles file is blamed on the option or variable that named it", "[cli][sweep]") {
  const fs::path dir = TempDir();
  const fs::path trace = dir / "t.jsonl";
  Write(trace, kHeader + R"({"t":0,"stream":0,"offset":0,"length":10})" + "\n");
  const fs::path missing = dir / "no_profiles.json";
  const std::string compare = "compare " + trace.string() + " --policies none -q";
  ExpectRefused(Pflab(compare + " --profiles " + missing.string(), dir),
                "--profiles: " + missing.string() + ": cannot open the network profiles file");
  ExpectRefused(pflab::testing::RunPflab(
                    compare, dir, {.env = "PFLAB_PROFILES=" + missing.string(), .stdin_text = "", .in_dir = false}),
                "$PFLAB_PROFILES: " + missing.string() + ": cannot open the network profiles file");
  ExpectRefused(
      pflab::testing::RunPflab("fidelity " + trace.string() + " --policies none", dir,
                               {.env = "PFLAB_PROFILES=" + missing.string(), .stdin_text = "", .in_dir = false}),
      "$PFLAB_PROFILES: " + missing.string());
  const pflab::testing::CliOptions stale{
      .env = "PFLAB_PROFILES=" + missing.string(), .stdin_text = "", .in_dir = false};
  ExpectRefused(
      pflab::testing::RunPflab(
          "sweep --traces " + trace.string() + " --policy none -q -o " + (dir / "s.jsonl").string(), dir, stale),
      "$PFLAB_PROFILES: " + missing.string() + ": cannot open");
  ExpectRefused(pflab::testing::RunPflab("profiles", dir, stale), "$PFLAB_PROFILES: " + missing.string());
  ExpectRefused(Pflab("profiles --file --profiles " + missing.string(), dir), "--profiles: " + missing.string());
  // A name the file lacks is the --profile option's fault, whichever file was read.
  ExpectRefused(Pflab(compare + " --profile nosuch", dir), "--profile: unknown network profile 'nosuch'");
}

TEST_CASE("bad input: compare of /dev/zero and of a directory fails at once naming the file", "[cli][limits]") {
  const fs::path dir = TempDir();
  ExpectRefused(Pflab("compare /dev/zero --policies none -q", dir),
                "/dev/zero:1: NUL byte at column 1: binary data, not a text file");
  ExpectRefused(Pflab("compare " + dir.string() + " --policies none -q", dir), ":0: is a directory, not a trace file");
  Write(dir / "long.jsonl", kHeader + std::string(2 << 20, 'x'));
  ExpectRefused(Pflab("compare " + (dir / "long.jsonl").string() + " --policies none -q", dir),
                (dir / "long.jsonl").string() + ":2: line longer than 1048576 bytes");
}

TEST_CASE("bad input: report names the position in a truncated or malformed results file", "[cli][reports]") {
  const fs::path dir = TempDir();
  const fs::path trace = dir / "t.jsonl";
  Write(trace, kHeader + R"({"t":0,"offset":0,"length":4096})" + "\n");
  REQUIRE(
      Pflab("compare " + trace.string() + " --policies none -q --json " + (dir / "r.json").string(), dir).exit_code ==
      0);
  const std::string text = pflab::testing::Slurp(dir / "r.json");
  Write(dir / "cut.json", text.substr(0, text.size() / 2));
  auto cut = Pflab("report " + (dir / "cut.json").string(), dir);
  ExpectRefused(cut, (dir / "cut.json").string() + ":");
  CHECK_THAT(cut.err, Catch::Contains(": the JSON ends early (a truncated results file?)"));
  CHECK_THAT(cut.err, !Catch::Contains("json.exception"));

  Write(dir / "bad.json", "{\n  \"schema\": 1,\n  \"runs\": [ nope ]\n}\n");
  ExpectRefused(Pflab("report " + (dir / "bad.json").string(), dir),
                (dir / "bad.json").string() + ":3:13: not valid JSON at 'nope ]");

  auto doc = nlohmann::json::parse(text);
  doc["runs"][0]["metrics"]["elapsed_s"] = "soon";
  Write(dir / "typed.json", doc.dump());
  auto typed = Pflab("report " + (dir / "typed.json").string(), dir);
  ExpectRefused(typed, (dir / "typed.json").string() + ": runs[0].metrics.elapsed_s: expected a number, got a string");
  CHECK_THAT(typed.err, !Catch::Contains("json.exception"));

  doc = nlohmann::json::parse(text);
  doc["runs"][0].erase("policy");
  Write(dir / "missing.json", doc.dump());
  ExpectRefused(Pflab("report " + (dir / "missing.json").string(), dir), ": runs[0].policy: missing");
  ExpectRefused(Pflab("report /dev/zero", dir), "/dev/zero: not a regular file");
}

TEST_CASE("bad input: a results file cut anywhere reads as truncated, with its position", "[reports][limits]") {
  const fs::path dir = TempDir();
  const std::string text =
      "{\n  \"schema\": 1,\n  \"runs\": [{\"trace\": \"t\", \"seed\": 12, \"ok\": true, \"x\": -1.5e3}]\n}\n";
  const fs::path path = dir / "cut.json";
  for (std::size_t k = 1; k + 2 < text.size(); ++k) {
    Write(path, text.substr(0, k));
    auto doc = pflab::reports::ReadResultsFile(path.string());
    INFO(k << ": " << text.substr(0, k));
    REQUIRE_FALSE(doc.ok());
    CHECK_THAT(doc.error().message, Catch::Contains(": the JSON ends early (a truncated results file?)"));
  }
  auto whole = pflab::reports::ReadResultsFile((dir / "none.json").string());
  REQUIRE_FALSE(whole.ok());
  CHECK_THAT(whole.error().message, Catch::Contains("none.json: cannot read: no such file"));
}

}  // namespace
