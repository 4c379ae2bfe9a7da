// `pflab calibrate`: measure an endpoint with a bounded number of reads of one object and write a
// network profile fitted to it (replay/calibrate.h).
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <string>

#include "engine/result.h"
#include "sim/network_model.h"

struct CalibrateArgs {
  std::string target;  // gs://BUCKET/OBJECT or http[s]://HOST[:PORT]/BUCKET/OBJECT
  std::string output;
  std::string name = "calibrated";
  std::uint32_t probes = 200;
  std::uint32_t bandwidth_probes = 8;
  std::string probe_size = "4KiB";
  std::string bandwidth_size = "16MiB";
  std::uint32_t max_connections = 8;
  std::string prices = "gcs-regional";
  std::string profiles_file;
  std::uint64_t seed = 1;
  bool plan_only = false;
  bool verify_synthetic = false;
  bool quiet = false;
};

CLI::App* AddCalibrateCommand(CLI::App& app, CalibrateArgs& args);
/// Exit status 0 when the profile was written, 1 on bad input or a failed request.
int RunCalibrate(const CalibrateArgs& args);

/// The profile a `--profile` option names: a file holding exactly one profile (the file `pflab
/// calibrate` writes) when `profile` is the path of a file, else the profile of that name in
/// `profiles_file` (the built-in profiles when empty).
pflab::Result<pflab::sim::NetworkProfile> FindProfileOrFile(const std::string& profile,
                                                            const std::string& profiles_file);
/// What to blame for `error`, an error of FindProfileOrFile(profile, profiles_file) for the option
/// `option` (--profile, --prices): that option, unless the profiles file itself could not be used:
/// then --profiles, or $PFLAB_PROFILES when the file came from there (a variable set long ago is
/// easily forgotten).
std::string ProfileErrorSource(const std::string& option, const std::string& profile, const std::string& profiles_file,
                               const pflab::Error& error);
