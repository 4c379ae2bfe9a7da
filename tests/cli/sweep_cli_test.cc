// End-to-end checks of `pflab sweep` on traces made by `pflab gen`: results file, progress, resume,
// shards, the results document and errors.
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "tests/support/cli_runner.h"

namespace {

namespace fs = std::filesystem;

using Outcome = pflab::testing::CliOutcome;
using pflab::testing::Slurp;

fs::path TempDir() {
  return pflab::testing::FreshTempDir("pflab_sweep_cli_test");
}

// Runs from `dir`, so relative paths in `args` are inside it.
Outcome Pflab(const std::string& args, const fs::path& dir) {
  return pflab::testing::RunPflab(args, dir, {.env = "", .stdin_text = "", .in_dir = true});
}

using pflab::testing::SortedLines;

// Two traces from `pflab gen` in dir/corpus.
void MakeCorpus(const fs::path& dir) {
  fs::create_directories(dir / "corpus");
  for (const char* pattern : {"sequential", "visits-home"}) {
    auto gen = Pflab(std::string("gen ") + pattern + " --object-size 32MiB --read-size 1MiB --count 16 -o corpus/" +
                         pattern + ".jsonl",
                     dir);
    INFO(gen.err);
    REQUIRE(gen.exit_code == 0);
  }
}

const char* kGrid = "--policy 'gcsfs-adaptive(streak=1..2,max=16MiB|64MiB)' --policy fsspec-readahead";

TEST_CASE("cli sweep: runs the grid in parallel, reports progress and writes results", "[sweep][cli]") {
  const fs::path dir = TempDir();
  MakeCorpus(dir);
  auto run = Pflab(std::string("sweep --traces corpus ") + kGrid + " --jobs 2 -o r.jsonl --json r.json --md r.md", dir);
  INFO(run.err);
  REQUIRE(run.exit_code == 0);
  // 2 traces x (none + bound + 4 grid points + fsspec-readahead).
  const auto lines = SortedLines(dir / "r.jsonl");
  CHECK(lines.size() == 14);
  // stderr is not a terminal here: one progress line per finished run, then the account.
  CHECK_THAT(run.err, Catch::Contains("1/14") && Catch::Contains("14/14") && Catch::Contains("runs/s") &&
                          Catch::Contains("ETA") && Catch::Contains("14 run now"));
  CHECK(run.err.find('\r') == std::string::npos);
  CHECK_THAT(run.out, Catch::Contains("best policy per trace") && Catch::Contains("sequential") &&
                          Catch::Contains("visits-home"));

  auto doc = nlohmann::json::parse(Slurp(dir / "r.json"));
  CHECK(doc["schema"] == 1);
  CHECK(doc["generator"] == "pflab sweep");
  REQUIRE(doc["runs"].size() == 14);
  // In plan order whatever the finishing order: trace-major, `none` and the bound first, the grid as expanded.
  CHECK(doc["runs"][0]["trace"] == "sequential");
  CHECK(doc["runs"][0]["policy"] == "none");
  CHECK(doc["runs"][1]["policy"] == "bound");
  CHECK(doc["runs"][1]["bound"].contains("binding"));
  CHECK(doc["runs"][2]["policy"] == "gcsfs-adaptive(streak=1,max=16MiB)");
  CHECK(doc["runs"][3]["policy"] == "gcsfs-adaptive(streak=1,max=64MiB)");
  CHECK(doc["runs"][6]["policy"] == "fsspec-readahead");
  CHECK(doc["runs"][7]["trace"] == "visits-home");
  for (const auto& r : doc["runs"]) {
    CHECK(r["ratios"].contains("elapsed_vs_none"));
    CHECK(r["ratios"].contains("elapsed_vs_bound"));
    CHECK(r["ratios"]["elapsed_vs_bound"].get<double>() >= 1.0);
    CHECK(r["metrics"]["reads"] == 16);
  }
  // The results record where they came from: the build, the profile's numbers, each trace's hash.
  CHECK(doc["config"]["provenance"].contains("commit"));
  CHECK(doc["config"]["provenance"]["traces"].size() == 2);
  CHECK(doc["config"]["provenance"]["traces"][0]["md5"].get<std::string>().size() == 32);
  CHECK(doc["config"]["profile_parameters"].contains("latency_min_ms"));
  CHECK(doc["config"]["seeds"] == nlohmann::json::array({1}));
  CHECK_THAT(Slurp(dir / "r.md"), Catch::Contains("## sequential") && Catch::Contains("`gcsfs-adaptive(streak=2,"));

  // Rerun: everything is already there.
  auto again = Pflab(std::string("sweep --traces corpus ") + kGrid + " -o r.jsonl", dir);
  INFO(again.err);
  REQUIRE(again.exit_code == 0);
  CHECK_THAT(again.err, Catch::Contains("14 already in r.jsonl, 0 run now"));
  CHECK(SortedLines(dir / "r.jsonl") == lines);

  // A kill mid-write: the cut line is removed and its run (only) done again.
  const std::string text = Slurp(dir / "r.jsonl");
  std::ofstream(dir / "r.jsonl", std::ios::binary | std::ios::trunc) << text.substr(0, text.size() - 40);
  auto resumed = Pflab(std::string("sweep --traces corpus ") + kGrid + " --jobs 2 -o r.jsonl", dir);
  INFO(resumed.err);
  REQUIRE(resumed.exit_code == 0);
  CHECK_THAT(resumed.err, Catch::Contains("removed a truncated last line") && Catch::Contains("13 already") &&
                              Catch::Contains("1 run now"));
  CHECK(SortedLines(dir / "r.jsonl") == lines);
  fs::remove_all(dir);
}

TEST_CASE("cli sweep: shards run disjoint parts whose union is the whole sweep", "[sweep][cli]") {
  const fs::path dir = TempDir();
  MakeCorpus(dir);
  auto whole = Pflab(std::string("sweep --traces corpus ") + kGrid + " -q -o whole.jsonl", dir);
  REQUIRE(whole.exit_code == 0);
  CHECK(whole.err.empty());
  std::vector<std::string> united;
  for (int i = 1; i <= 3; ++i) {
    auto part = Pflab(std::string("sweep --traces corpus ") + kGrid + " -q --shard " + std::to_string(i) +
                          "/3 -o part" + std::to_string(i) + ".jsonl",
                      dir);
    INFO(part.err);
    REQUIRE(part.exit_code == 0);
    const auto lines = SortedLines(dir / ("part" + std::to_string(i) + ".jsonl"));
    CHECK(lines.size() == (i < 3 ? 5u : 4u));  // 14 runs in three shards: 5, 5, 4
    united.insert(united.end(), lines.begin(), lines.end());
  }
  std::sort(united.begin(), united.end());
  CHECK(std::adjacent_find(united.begin(), united.end()) == united.end());
  CHECK(united == SortedLines(dir / "whole.jsonl"));

  auto dry = Pflab(std::string("sweep --traces corpus ") + kGrid + " --shard 2/3 --dry-run -o part2.jsonl", dir);
  REQUIRE(dry.exit_code == 0);
  CHECK_THAT(dry.out, Catch::StartsWith("1\tdone\tcorpus/sequential.jsonl\tbound\n4\tdone\tcorpus/sequential.jsonl\t"
                                        "gcsfs-adaptive(streak=2,max=16MiB)"));
  fs::remove_all(dir);
}

TEST_CASE("cli sweep: bad grids, shards and traces exit 1 before anything runs", "[sweep][cli]") {
  const fs::path dir = TempDir();
  MakeCorpus(dir);
  auto bad_value = Pflab("sweep --traces corpus --policy 'gcsfs-adaptive(concurrency=0..2)' -o r.jsonl", dir);
  CHECK(bad_value.exit_code == 1);
  CHECK_THAT(bad_value.err, Catch::Contains("gcsfs-adaptive(concurrency=0)"));
  auto bad_range = Pflab("sweep --traces corpus --policy 'gcsfs-adaptive(streak=3..1)' -o r.jsonl", dir);
  CHECK(bad_range.exit_code == 1);
  CHECK_THAT(bad_range.err, Catch::Contains("'3..1'"));
  auto bad_shard = Pflab("sweep --traces corpus --policy none --shard 4/3 -o r.jsonl", dir);
  CHECK(bad_shard.exit_code == 1);
  CHECK_THAT(bad_shard.err, Catch::Contains("--shard"));
  std::ofstream(dir / "corpus" / "broken.jsonl") << "{\"format\":\"pflab-trace\",\"version\":2,\"objects\":[]}\n";
  auto bad_trace = Pflab("sweep --traces corpus --policy none -o r.jsonl", dir);
  CHECK(bad_trace.exit_code == 1);
  CHECK_THAT(bad_trace.err, Catch::Contains("broken.jsonl:1:"));
  CHECK_FALSE(fs::exists(dir / "r.jsonl"));
  fs::remove_all(dir);
}

}  // namespace

namespace {

TEST_CASE("cli sweep: --shard auto from a Slurm array task, then sweep merge of the shards' files", "[sweep][cli]") {
  const fs::path dir = TempDir();
  MakeCorpus(dir);
  const std::string sweep = std::string("sweep --traces corpus ") + kGrid + " -q";
  auto single = Pflab(sweep + " -o single.jsonl", dir);
  INFO(single.err);
  REQUIRE(single.exit_code == 0);
  for (int task = 0; task < 3; ++task) {
    // As a Slurm job array --array=0-2 starts its tasks.
    const std::string env = "SLURM_ARRAY_TASK_ID=" + std::to_string(task) +
                            " SLURM_ARRAY_TASK_COUNT=3 SLURM_ARRAY_TASK_MIN=0 SLURM_ARRAY_TASK_MAX=2";
    auto shard = pflab::testing::RunPflab(sweep + " --shard auto -o shard" + std::to_string(task) + ".jsonl", dir,
                                          {.env = env, .stdin_text = "", .in_dir = true});
    INFO(shard.err);
    REQUIRE(shard.exit_code == 0);
  }
  auto merged = Pflab(sweep + " merge shard0.jsonl shard1.jsonl shard2.jsonl -o all.jsonl --md all.md", dir);
  INFO(merged.err);
  REQUIRE(merged.exit_code == 0);
  CHECK(SortedLines(dir / "all.jsonl") == SortedLines(dir / "single.jsonl"));
  CHECK(fs::exists(dir / "all.md"));
  CHECK_THAT(merged.out, Catch::Contains("best policy per trace"));

  // The sweep's options may also follow `merge FILES...`; a missing shard is an error that says so.
  auto missing = Pflab(std::string("sweep merge shard0.jsonl shard2.jsonl -o bad.jsonl --traces corpus ") + kGrid, dir);
  CHECK(missing.exit_code == 1);
  CHECK_THAT(missing.err, Catch::Contains("runs of the sweep are in none of the files"));
  CHECK(!fs::exists(dir / "bad.jsonl"));
  // Outside a batch system --shard auto says what it looked for.
  auto outside = pflab::testing::RunPflab(
      sweep + " --shard auto -o x.jsonl", dir,
      {.env = "env -u SLURM_ARRAY_TASK_ID -u JOB_COMPLETION_INDEX", .stdin_text = "", .in_dir = true});
  CHECK(outside.exit_code == 1);
  CHECK_THAT(outside.err, Catch::Contains("SLURM_ARRAY_TASK_ID") && Catch::Contains("JOB_COMPLETION_INDEX"));
  fs::remove_all(dir);
}

}  // namespace
