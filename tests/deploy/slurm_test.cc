// scripts/slurm on a real single-node Slurm cluster (tests/deploy/slurm_cluster.sh: munged, slurmctld
// and slurmd from Debian, in a temporary folder, on loopback): a sweep submitted as a job array of 4
// shards (--shard auto) and a merge job (afterany) gives exactly the lines of a single-process run. Where
// the machine cannot run the daemons the test says why and passes, except under CI=true, where that
// fails: CI must run it.
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/cli_runner.h"

namespace pflab::testing {
namespace {

namespace fs = std::filesystem;
const std::string kSource = PFLAB_SOURCE_DIR;

// Stops the cluster however the test ends.
struct Cluster {
  fs::path dir;
  ~Cluster() { Shell(ShellQuote(kSource + "/tests/deploy/slurm_cluster.sh") + " stop " + ShellQuote(dir.string())); }
};

TEST_CASE("slurm: a sweep as a job array of 4 shards and a merge job gives the single-process run's lines",
          "[slurm][deploy]") {
  const fs::path dir = FreshTempDir("pflab_slurm_test");
  const fs::path cluster_dir = dir / "cluster";
  const int started = Shell(ShellQuote(kSource + "/tests/deploy/slurm_cluster.sh") + " start " +
                            ShellQuote(cluster_dir.string()) + " >" + (dir / "cluster.log").string() + " 2>&1");
  Cluster cluster{cluster_dir};
  if (started == 3 || (started == 4 && ::geteuid() != 0)) {
    const std::string why = Slurp(dir / "cluster.log");
    const char* ci = std::getenv("CI");
    if (ci != nullptr && std::string(ci) == "true") FAIL("CI must run the Slurm test, but: " << why);
    WARN("Slurm test not run: " << why);
    return;
  }
  INFO(Slurp(dir / "cluster.log"));
  REQUIRE(started == 0);

  fs::create_directories(dir / "traces");
  for (const char* pattern : {"sequential", "visits-home"}) {
    auto gen = RunPflab(std::string("gen ") + pattern + " --object-size 16MiB --read-size 1MiB --count 12 -o " +
                            (dir / "traces" / (std::string(pattern) + ".jsonl")).string(),
                        dir);
    REQUIRE(gen.exit_code == 0);
  }
  const std::string options = "--traces " + (dir / "traces").string() +
                              " --policy 'gcsfs-adaptive(streak=1..3)' --policy fsspec-readahead --seeds 2";
  const char* cli = std::getenv("PFLAB_CLI");
  REQUIRE(cli != nullptr);
  const std::string env = "SLURM_CONF=" + (cluster_dir / "slurm.conf").string() + " PFLAB=" + ShellQuote(cli);
  const fs::path results = dir / "results";
  const int submitted =
      Shell(env + " " + ShellQuote(kSource + "/scripts/slurm/submit_sweep.sh") + " 4 " + ShellQuote(results.string()) +
            " -- " + options + " >" + (dir / "submit.out").string() + " 2>&1");
  INFO(Slurp(dir / "submit.out"));
  REQUIRE(submitted == 0);

  // Wait for the queue to empty (the merge job is the last), at most two minutes.
  bool done = false;
  for (int i = 0; i < 1200 && !done; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    Shell(env + " squeue -h -o %i >" + (dir / "queue").string() + " 2>&1");
    done = Slurp(dir / "queue").empty() && fs::exists(results / "merge.log");
  }
  std::string logs;
  for (const auto& entry : fs::directory_iterator(results)) {
    if (entry.path().extension() == ".log") logs += entry.path().filename().string() + ":\n" + Slurp(entry.path());
  }
  INFO(logs);
  REQUIRE(done);
  for (int task = 0; task < 4; ++task) CHECK(fs::exists(results / ("shard-" + std::to_string(task) + ".jsonl")));
  REQUIRE(fs::exists(results / "all.jsonl"));
  CHECK(fs::exists(results / "all.md"));
  CHECK(fs::exists(results / "all.json"));
  CHECK_THAT(Slurp(results / "merge.log"), Catch::Contains("best policy per trace"));

  auto single = RunPflab("sweep " + options + " -q -o " + (dir / "single.jsonl").string(), dir);
  REQUIRE(single.exit_code == 0);
  CHECK(SortedLines(results / "all.jsonl") == SortedLines(dir / "single.jsonl"));
  // Every shard ran its own part: together, each run once.
  std::size_t shard_lines = 0;
  for (int task = 0; task < 4; ++task) {
    shard_lines += SortedLines(results / ("shard-" + std::to_string(task) + ".jsonl")).size();
  }
  CHECK(shard_lines == SortedLines(dir / "single.jsonl").size());
}

}  // namespace
}  // namespace pflab::testing
