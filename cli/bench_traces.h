// `pflab bench traces`: traces at production scale (issue 17). Generates a trace of --reads reads
// straight into the binary form (never a JSONL file of that size), loads it, replays it in the
// simulator, and parses a JSONL rendering of its first --jsonl-reads reads in memory; prints each
// stage's rate, the resident bytes per read and the peak RSS. `make bench-traces` runs it at 100 M reads.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <string>

struct BenchTracesArgs {
  std::uint64_t reads = 100'000'000;
  std::uint64_t jsonl_reads = 1'000'000;  // the JSONL stage parses this many, rendered in memory
  std::uint32_t streams = 64;
  std::string policy = "none";  // replayed through this stack on gcs-regional ("skip": no replay)
  std::string dir;              // where the binary trace goes (default: the temporary directory)
  bool keep = false;            // leave the binary trace there
  std::uint64_t seed = 1;
  unsigned load_threads = 0;  // threads decoding the binary trace (0: one per core, at most 8)
};

CLI::App* AddBenchTracesCommand(CLI::App* bench, BenchTracesArgs& args);
int RunBenchTraces(const BenchTracesArgs& args);
