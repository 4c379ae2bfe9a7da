// `pflab bench fake-gcs`: the fake server's two performance targets, measured in one run and printed
// as ratios to their targets (issue 3). A benchmark, not a test: it reports, it does not assert.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

struct BenchArgs {
  std::string size = "1GiB";    // object size for both measurements
  std::string block = "16MiB";  // loopback: bytes per Reader read
  std::uint32_t parts = 4;      // loopback: concurrent parts (and connections)
  std::uint32_t reps = 3;       // best of
  std::string latency = "30ms";
  std::string bandwidth = "100MB/s";
  std::uint32_t concurrency = 8;  // shaped: gcsfs-adaptive concurrency
};

CLI::App* AddBenchCommand(CLI::App& app, BenchArgs& args);
int RunBench(const BenchArgs& args);
