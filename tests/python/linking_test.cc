// pflab never links libpython: the interpreter is loaded only when a py: spec is used, through the
// Python bridge library, which is the one that links it.
#include <catch2/catch.hpp>
#include <set>
#include <sstream>
#include <string>

#include "tests/support/cli_runner.h"
#include "tests/support/elf_needed.h"

namespace pflab::testing {
namespace {

bool AnyPython(const std::set<std::string>& libraries) {
  for (const auto& l : libraries) {
    if (l.find("libpython") != std::string::npos) return true;
  }
  return false;
}

TEST_CASE("pflab does not link libpython; the Python bridge does", "[python][plugin]") {
  const auto dir = FreshTempDir("pflab_linking_test");
  const char* cli = std::getenv("PFLAB_CLI");
  REQUIRE(cli != nullptr);
  CHECK_FALSE(AnyPython(NeededLibraries(cli, dir)));
  CHECK_FALSE(AnyPython(NeededLibraries(PFLAB_EXAMPLE_PLUGIN, dir)));
#ifdef PFLAB_HAVE_PYTHON
  CHECK(
      AnyPython(NeededLibraries(std::string(PFLAB_BINARY_DIR) + "/libpflab_python.so", dir)));  // the check can see it
#endif
}

}  // namespace
}  // namespace pflab::testing
