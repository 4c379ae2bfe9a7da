// `pflab sweep`: traces x expanded policy grids in the simulator, on worker threads, appended to a
// resumable JSON Lines results file; the work is in replay/sweep.h.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <string>
#include <vector>

struct SweepArgs {
  std::vector<std::string> traces;    // files and directories
  std::vector<std::string> policies;  // grid specs, repeatable
  std::string profile = "gcs-regional";
  std::string profiles_file;
  std::uint64_t seed = 1;
  std::string seeds;  // N | A..B | a,b,c
  std::string think = "recorded";
  unsigned jobs = 1;
  std::string output = "sweep.jsonl";
  std::string shard;  // i/N
  std::string json;
  std::string md;
  bool no_baseline = false;
  bool no_bound = false;
  bool dry_run = false;
  bool quiet = false;
  std::vector<std::string> plugins;      // --plugin, repeatable
  std::vector<std::string> merge_files;  // `sweep merge FILES...`: the shards' results files
  const CLI::App* merge_cmd = nullptr;   // the `merge` subcommand, to see whether it was given
};

CLI::App* AddSweepCommand(CLI::App& app, SweepArgs& args);
int RunSweep(const SweepArgs& args);
