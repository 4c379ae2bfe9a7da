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
#include "tests/support/elf_needed.h"

namespace pflab::testing {
namespace {

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
