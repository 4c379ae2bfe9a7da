// What the randomized property tests over whole runs share (the bound's, the stack soak's): their
// sizes from the environment, and a failing case's trace saved where its reproduction line points.
#pragma once

#include <catch2/catch.hpp>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "traces/trace_io.h"

namespace pflab::testing {

/// The number in environment variable `name`, or `fallback` when it is unset or empty.
inline std::uint64_t EnvOr(const char* name, std::uint64_t fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::strtoull(v, nullptr, 10) : fallback;
}

/// Where a failing case's file goes: the system temp folder, as `<prefix><seed><extension>`.
inline std::string FailingCaseFile(const std::string& prefix, std::uint64_t seed, const std::string& extension) {
  return (std::filesystem::temp_directory_path() / (prefix + std::to_string(seed) + extension)).string();
}

/// Writes `trace` as `<prefix><seed>.jsonl` in the temp folder and returns the path, for the `pflab
/// compare` line a failure prints.
inline std::string SaveFailingTrace(const std::string& prefix, std::uint64_t seed, const traces::Trace& trace) {
  const std::string file = FailingCaseFile(prefix, seed, ".jsonl");
  REQUIRE(traces::WriteTrace(file, trace).ok());
  return file;
}

/// Writes `text` (another input of the case: a profiles file) as `<prefix><seed><extension>`.
inline std::string SaveFailingText(const std::string& prefix, std::uint64_t seed, const std::string& extension,
                                   const std::string& text) {
  const std::string file = FailingCaseFile(prefix, seed, extension);
  std::ofstream out(file, std::ios::binary);
  REQUIRE((out << text && out.flush()));
  return file;
}

}  // namespace pflab::testing
