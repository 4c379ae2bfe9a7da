// The shared libraries an ELF file asks for, for the tests that check what links what.
#pragma once

#include <catch2/catch.hpp>
#include <filesystem>
#include <set>
#include <sstream>
#include <string>

#include "tests/support/cli_runner.h"

namespace pflab::testing {

/// The NEEDED entries of an ELF file's dynamic section, as `readelf -d` prints them (its output goes
/// to a file in `dir`); REQUIREs that readelf runs and finds some.
inline std::set<std::string> NeededLibraries(const std::string& file, const std::filesystem::path& dir) {
  const auto out = dir / "readelf.txt";
  REQUIRE(Shell("readelf -d " + ShellQuote(file) + " >" + out.string() + " 2>&1") == 0);
  std::set<std::string> needed;
  std::istringstream lines(Slurp(out));
  for (std::string line; std::getline(lines, line);) {
    if (line.find("(NEEDED)") == std::string::npos) continue;
    const auto open = line.find('['), close = line.find(']');
    if (open != std::string::npos && close > open) needed.insert(line.substr(open + 1, close - open - 1));
  }
  INFO(Slurp(out));
  REQUIRE(!needed.empty());
  return needed;
}

}  // namespace pflab::testing
