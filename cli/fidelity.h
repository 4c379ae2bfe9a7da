// `pflab fidelity`: traces x policies x seeds in the simulator and for real, predicted against measured
// elapsed time (replay/fidelity.h).
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

struct FidelityArgs {
  std::vector<std::string> traces;
  std::string policies;
  std::string profile = "gcs-regional";
  std::string profiles_file;
  std::uint64_t seed = 1;
  std::string seeds = "3";
  std::string think = "recorded";
  std::string transport = "fake";
  std::string endpoint;
  std::optional<std::uint32_t> connections;  // unset: the profile's max_connections
  std::string md;
  bool verify_bytes = false;
  bool calibrate = false;
  std::uint32_t calibration_probes = 100;
  bool quiet = false;
};

CLI::App* AddFidelityCommand(CLI::App& app, FidelityArgs& args);
/// Exit status 0 when every run pair ran, 2 when a run failed, 1 on bad input.
int RunFidelity(const FidelityArgs& args);
