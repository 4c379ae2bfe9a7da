// The provenance a results file records: each trace file's MD5, read in pieces.
#include "reports/provenance.h"

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <string>

#include "tests/support/cli_runner.h"

namespace pflab::reports {
namespace {

TEST_CASE("provenance: a trace file's MD5 over pieces is the file's MD5", "[reports][provenance]") {
  const auto dir = testing::FreshTempDir("pflab_provenance");
  const auto write = [&](const std::string& name, const std::string& bytes) {
    std::ofstream(dir / name, std::ios::binary) << bytes;
    return (dir / name).string();
  };
  // Digests from md5sum: the empty file, and 3 MiB + 1 of 'a' (more than two pieces of 1 MiB).
  CHECK(*FileMd5(write("empty", "")) == "d41d8cd98f00b204e9800998ecf8427e");
  auto three = FileMd5(write("three", std::string((3 << 20) + 1, 'a')));
  REQUIRE(three.ok());
  CHECK(*three == "9aa778d728a1108a6e8457026db5a877");
  auto missing = FileMd5((dir / "missing").string());
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().message.find("missing: cannot read") != std::string::npos);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace pflab::reports
