// pflab never links libpython: the interpreter is loaded only when a py: spec is used, through the
// Python bridge library, which is the one that links it.
#include <catch2/catch.hpp>
#include <set>
#include <sstream>
#include <string>

#include "tests/support/cli_runner.h"

namespace pflab::testing {
namespace {

// The NEEDED entries of an ELF file's dynamic section, as readelf prints them.
std::set<std::string> Needed(const std::string& file, const std::filesystem::path& dir) {
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
  CHECK_FALSE(AnyPython(Needed(cli, dir)));
  CHECK_FALSE(AnyPython(Needed(PFLAB_EXAMPLE_PLUGIN, dir)));
#ifdef PFLAB_HAVE_PYTHON
  CHECK(AnyPython(Needed(std::string(PFLAB_BINARY_DIR) + "/libpflab_python.so", dir)));  // the check can see it
#endif
}

}  // namespace
}  // namespace pflab::testing
