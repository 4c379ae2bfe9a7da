// `pflab bench sweep`: how well sweep runs share the cores (issue 17 part 2). Runs the same sweep with
// --jobs 1 and with --jobs N, alternately and --reps times each, into fresh results files, and prints
// for each the wall time and the CPU time of the whole process (all threads), the instructions retired
// where the machine has hardware counters, and the ratios: CPU time per run at N jobs over 1 job (1.00:
// the jobs do not slow each other down) and the parallel efficiency (speed-up / N). It checks that both
// write the same result lines. A benchmark, not a test: it reports, it does not assert.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <string>
#include <vector>

struct BenchSweepArgs {
  std::vector<std::string> traces;    // trace files and directories; empty: generated ones
  std::vector<std::string> policies;  // grids; empty: a fixed mix
  unsigned jobs = 2;
  unsigned reps = 3;
  std::uint64_t reads = 200'000;  // reads of each generated trace
  std::string dir;                // scratch folder (default: the temporary folder)
};

CLI::App* AddBenchSweepCommand(CLI::App* bench, BenchSweepArgs& args);
int RunBenchSweep(const BenchSweepArgs& args);
