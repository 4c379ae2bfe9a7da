// `pflab bench sweep`: a small sweep run both ways, every line of its report present.
#include <catch2/catch.hpp>
#include <filesystem>
#include <string>

#include "tests/support/cli_runner.h"
#include "tests/support/files.h"

namespace pflab {
namespace {

TEST_CASE("pflab bench sweep: jobs 1 and jobs 2 on a small sweep, the same lines", "[sweep][cli]") {
  const auto dir = testing::FreshTempDir("pflab_bench_sweep");
  auto run = testing::RunPflab("bench sweep --reads 2000 --reps 1 --dir " + dir.string(), dir);
  INFO(run.out << run.err);
  REQUIRE(run.exit_code == 0);
  CHECK_THAT(run.out, Catch::Contains("80 runs: 5 traces x 16 specs"));
  CHECK_THAT(run.out, Catch::Contains("--jobs 1       80 runs"));
  CHECK_THAT(run.out, Catch::Contains("--jobs 2       80 runs"));
  CHECK_THAT(run.out, Catch::Contains("CPU time (user + sys) at --jobs 2 / --jobs 1: "));
  CHECK_THAT(run.out, Catch::Contains("parallel efficiency"));
  CHECK_THAT(run.out, Catch::Contains("the same 80 result lines both ways"));
  // Its scratch folder goes away.
  std::size_t scratch = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    scratch += e.path().filename().string().rfind("pflab_bench_sweep_", 0) == 0;
  }
  CHECK(scratch == 0);
  auto bad = testing::RunPflab("bench sweep --jobs 1", dir);
  CHECK(bad.exit_code == 1);
  CHECK_THAT(bad.err, Catch::Contains("--jobs: expected 2..256"));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace pflab
