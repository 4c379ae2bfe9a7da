// `pflab faults`: the fault suite (replay/fault_suite.h) over the in-process fake GCS server or the
// simulator, printed as a Markdown table of fault x policy.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <string>

struct FaultsArgs {
  std::string faults;    // comma-separated instructions; empty: the default suite
  std::string policies;  // comma-separated stacks, or "all"
  std::string patterns = "sequential,random";
  std::string transport = "fake";  // or sim
  double probability = 0.1;
  std::uint64_t count = 32;
  std::uint64_t seed = 1;
  std::string md;
  bool quiet = false;
};

CLI::App* AddFaultsCommand(CLI::App& app, FaultsArgs& args);
/// Exit status 0 when no fault corrupted a byte or hung a run, 2 when one did, 1 on bad input.
int RunFaults(const FaultsArgs& args);
