// docs/own_policy.md stays true: its worked example's class is examples/python/edges_readahead.py byte
// for byte, and the comparison it shows is what pflab prints for it now.
#include <catch2/catch.hpp>
#include <sstream>
#include <string>

#include "tests/support/cli_runner.h"

namespace pflab::testing {
namespace {

const std::string kSource = PFLAB_SOURCE_DIR;

// The first fenced block of `language` in `text`.
std::string FirstBlock(const std::string& text, const std::string& language) {
  const std::string open = "```" + language + "\n";
  const auto begin = text.find(open);
  REQUIRE(begin != std::string::npos);
  const auto end = text.find("```\n", begin + open.size());
  REQUIRE(end != std::string::npos);
  return text.substr(begin + open.size(), end - begin - open.size());
}

TEST_CASE("own_policy.md: the worked example's class and output are the real ones", "[python][docs]") {
  const std::string page = Slurp(kSource + "/docs/own_policy.md");
  CHECK(FirstBlock(page, "python") == Slurp(kSource + "/examples/python/edges_readahead.py"));
#ifdef PFLAB_HAVE_PYTHON
  const auto dir = FreshTempDir("pflab_own_policy_doc");
  CliOptions in_source;
  in_source.env = "cd " + ShellQuote(kSource) + " &&";
  auto run = RunPflab(
      "compare traces/corpus/sqlite_indexed.jsonl --policies "
      "'fsspec-readahead,gcsfs-adaptive,py:examples/python/edges_readahead.py:EdgesReadahead'",
      dir, in_source);
  INFO(run.err);
  REQUIRE(run.exit_code == 0);
  std::istringstream lines(run.out);
  int checked = 0;
  for (std::string line; std::getline(lines, line);) {
    if (line.empty()) continue;
    INFO(line);
    CHECK(page.find(line + "\n") != std::string::npos);
    ++checked;
  }
  CHECK(checked == 7);  // the title, the header and five rows (the bound among them)
#endif
}

}  // namespace
}  // namespace pflab::testing
