// The documentation is README.md plus the pages under docs/ (and the findings and corpus pages they link
// to). These tests keep the links between them working: every relative link names a file that exists,
// every `#anchor` names a heading of its page (GitHub's slug rules), and every docs/ page is reachable
// from the README, so moving or renaming a section cannot silently strand a reader.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "tests/support/files.h"

namespace {

namespace fs = std::filesystem;

const fs::path kRoot = fs::path(PFLAB_SOURCE_DIR);

// GitHub's heading anchors: lower-case, punctuation other than '-' and '_' removed, spaces to '-';
// a repeated slug gets -1, -2, ...
std::string Slug(const std::string& heading) {
  std::string out;
  for (unsigned char c : heading) {
    if (std::isalnum(c) || c == '-' || c == '_') {
      out += static_cast<char>(std::tolower(c));
    } else if (c == ' ') {
      out += '-';
    } else if (c >= 0x80) {
      out += static_cast<char>(c);  // non-ASCII letters are kept as they are
    }
  }
  return out;
}

struct Page {
  std::set<std::string> anchors;
  // (line, target) of every link outside code blocks and code spans.
  std::vector<std::pair<int, std::string>> links;
};

Page ParsePage(const fs::path& path) {
  Page page;
  std::map<std::string, int> seen;
  std::istringstream in(pflab::testing::Slurp(path));
  std::string line;
  bool fence = false;
  int number = 0;
  static const std::regex kLink(R"(\[[^\]]*\]\(([^)\s]+)\))");
  while (std::getline(in, line)) {
    ++number;
    if (line.rfind("```", 0) == 0) {
      fence = !fence;
      continue;
    }
    if (fence) continue;
    if (!line.empty() && line[0] == '#') {
      const auto text_start = line.find_first_not_of('#');
      std::string text = line.substr(std::min(line.size(), text_start + 1));
      std::string slug = Slug(text);
      const int count = seen[slug]++;
      page.anchors.insert(count == 0 ? slug : slug + "-" + std::to_string(count));
    }
    // Drop code spans so that `[a](b)` inside backticks is not taken for a link.
    std::string prose;
    bool code = false;
    for (char c : line) {
      if (c == '`') {
        code = !code;
        continue;
      }
      if (!code) prose += c;
    }
    for (std::sregex_iterator it(prose.begin(), prose.end(), kLink), end; it != end; ++it) {
      page.links.emplace_back(number, (*it)[1].str());
    }
  }
  return page;
}

std::vector<fs::path> DocPages() {
  std::vector<fs::path> pages = {kRoot / "README.md"};
  for (const auto& entry : fs::directory_iterator(kRoot / "docs")) {
    if (entry.path().extension() == ".md") pages.push_back(entry.path());
  }
  for (const auto& entry : fs::directory_iterator(kRoot / "reports" / "findings")) {
    if (entry.path().extension() == ".md") pages.push_back(entry.path());
  }
  std::sort(pages.begin(), pages.end());
  return pages;
}

TEST_CASE("docs: slugs follow GitHub's rules", "[docs]") {
  CHECK(Slug("Results format: optional fields (schema stays 1)") == "results-format-optional-fields-schema-stays-1");
  CHECK(Slug("`gcsfuse-buffered`: gcsfuse's buffered reader") == "gcsfuse-buffered-gcsfuses-buffered-reader");
  CHECK(Slug("Sweeps (`pflab sweep`)") == "sweeps-pflab-sweep");
}

TEST_CASE("docs: every relative link and anchor of README.md and docs/ resolves", "[docs]") {
  std::map<fs::path, Page> parsed;
  for (const auto& path : DocPages()) parsed[fs::weakly_canonical(path)] = ParsePage(path);
  int checked = 0;
  for (const auto& [path, page] : parsed) {
    for (const auto& [line, target] : page.links) {
      if (target.rfind("http://", 0) == 0 || target.rfind("https://", 0) == 0 || target.rfind("mailto:", 0) == 0) {
        continue;
      }
      INFO(path.lexically_relative(kRoot).string() << ":" << line << ": link " << target);
      const auto hash = target.find('#');
      const std::string file = target.substr(0, hash);
      const std::string anchor = hash == std::string::npos ? "" : target.substr(hash + 1);
      const fs::path resolved = file.empty() ? path : fs::weakly_canonical(path.parent_path() / file);
      REQUIRE(fs::exists(resolved));
      if (!anchor.empty()) {
        auto it = parsed.find(resolved);
        const Page target_page = it != parsed.end() ? it->second : ParsePage(resolved);
        CHECK(target_page.anchors.count(anchor) == 1);
      }
      ++checked;
    }
  }
  CHECK(checked > 10);
}

TEST_CASE("docs: every page under docs/ is linked from README.md", "[docs]") {
  const Page readme = ParsePage(kRoot / "README.md");
  std::set<std::string> linked;
  for (const auto& [line, target] : readme.links) linked.insert(target.substr(0, target.find('#')));
  for (const auto& entry : fs::directory_iterator(kRoot / "docs")) {
    if (entry.path().extension() != ".md") continue;
    INFO("docs/" << entry.path().filename().string());
    CHECK(linked.count("docs/" + entry.path().filename().string()) == 1);
  }
}

TEST_CASE("docs: README.md stays a newcomer's page, the reference lives in docs/", "[docs]") {
  std::istringstream in(pflab::testing::Slurp(kRoot / "README.md"));
  std::string line;
  int lines = 0;
  while (std::getline(in, line)) ++lines;
  CHECK(lines <= 300);
}

}  // namespace
