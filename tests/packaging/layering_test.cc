// The simulator and the policies do not depend on the HTTP client: a program linked with only
// pflab_policies and pflab_sim (sim_policies_probe.cc) runs a policy over the simulated network, and
// its dynamic section names none of cpp-httplib, OpenSSL's libssl or libcrypto, which pflab itself
// needs (the check can see them). CMakeLists.txt checks the two libraries' link closure at configure
// time as well.
#include <catch2/catch.hpp>
#include <cstdlib>
#include <set>
#include <sstream>
#include <string>

#include "tests/support/cli_runner.h"

namespace pflab::testing {
namespace {

// The NEEDED entries of an ELF file's dynamic section, as readelf prints them.
std::set<std::string> NeededLibraries(const std::string& file, const std::filesystem::path& dir) {
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

bool NamesHttpOrTls(const std::string& library) {
  return library.find("httplib") != std::string::npos || library.find("libssl") != std::string::npos ||
         library.find("libcrypto") != std::string::npos;
}

TEST_CASE("layering: the simulator and the policies run and link without the HTTP client", "[layering]") {
  const auto dir = FreshTempDir("pflab_layering_test");
  const std::string probe = PFLAB_SIM_POLICIES_PROBE;
  REQUIRE(Shell(ShellQuote(probe) + " >" + (dir / "out").string() + " 2>&1") == 0);
  CHECK_THAT(Slurp(dir / "out"), Catch::StartsWith("read and checked 8388608 bytes"));

  for (const auto& library : NeededLibraries(probe, dir)) {
    INFO(library);
    CHECK_FALSE(NamesHttpOrTls(library));
  }
  // The same check on pflab, which does link the HTTP client, finds it.
  const char* cli = std::getenv("PFLAB_CLI");
  REQUIRE(cli != nullptr);
  bool cli_has_http = false;
  for (const auto& library : NeededLibraries(cli, dir)) cli_has_http |= NamesHttpOrTls(library);
  CHECK(cli_has_http);
}

}  // namespace
}  // namespace pflab::testing
