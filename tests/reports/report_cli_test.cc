// `pflab compare --html`, `pflab report`, and the HTML report rendered by headless Chromium.
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "tests/support/cli_runner.h"

namespace {

namespace fs = std::filesystem;

using Outcome = pflab::testing::CliOutcome;
using pflab::testing::Shell;
using pflab::testing::Slurp;

fs::path TempDir() {
  return pflab::testing::FreshTempDir("pflab_report_test");
}

Outcome Pflab(const std::string& args, const fs::path& dir, const std::string& env = "") {
  return pflab::testing::RunPflab(args, dir, {.env = env, .stdin_text = "", .in_dir = false});
}

std::size_t Count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto pos = text.find(what); pos != std::string::npos; pos = text.find(what, pos + 1)) ++n;
  return n;
}

// Two small traces compared over a few policies, results in dir/r.json and dir/c.html.
void MakeResults(const fs::path& dir, const std::string& extra = "") {
  const std::string seq = (dir / "seq.jsonl").string();
  const std::string rnd = (dir / "rnd.jsonl").string();
  REQUIRE(
      Pflab("gen sequential --object-size 64MiB --read-size 1MiB --count 48 --think 2ms -o " + seq, dir).exit_code ==
      0);
  REQUIRE(Pflab("gen random --object-size 256MiB --read-size 256KiB --count 64 --seed 4 -o " + rnd, dir).exit_code ==
          0);
  auto cmp = Pflab("compare " + seq + " " + rnd +
                       " --policies 'fsspec-readahead,gcsfs-adaptive,linux-readahead,oracle' -q --json " +
                       (dir / "r.json").string() + " --md " + (dir / "c.md").string() + " --html " +
                       (dir / "c.html").string() + " " + extra,
                   dir);
  INFO(cmp.err);
  REQUIRE(cmp.exit_code == 0);
}

TEST_CASE("report: compare keeps latency quantiles for every run and a timeline for one", "[reports][cli]") {
  const fs::path dir = TempDir();
  MakeResults(dir);
  const auto doc = nlohmann::json::parse(Slurp(dir / "r.json"));
  REQUIRE(doc["runs"].size() == 12);  // 2 traces x (none, bound and four policies)
  for (const auto& run : doc["runs"]) {
    if (run["policy"] == "bound") {
      // The bound is no run: no latencies, but its derivation.
      CHECK_FALSE(run.contains("latency_quantiles_s"));
      CHECK(run["bound"]["elapsed_s"] == run["metrics"]["elapsed_s"]);
      continue;
    }
    REQUIRE(run["latency_quantiles_s"].size() == 101);
    // The 50% and 100% quantiles are the run's p50 and max.
    CHECK(run["latency_quantiles_s"][50] == run["metrics"]["read_latency_s"]["p50"]);
    CHECK(run["latency_quantiles_s"][100] == run["metrics"]["read_latency_s"]["max"]);
  }
  // By default: the first trace and the first policy that is not the baseline.
  REQUIRE(doc["timelines"].size() == 1);
  const auto& t = doc["timelines"][0];
  CHECK(t["trace"] == "seq");
  CHECK(t["policy"] == "fsspec-readahead");
  CHECK(t["reads_total"] == 48);
  CHECK(t["reads"].size() == 48);
  REQUIRE(doc["runs"][2]["policy"] == "fsspec-readahead");
  CHECK(t["fetches_total"] == doc["runs"][2]["metrics"]["requests"]);
  for (const auto& read : t["reads"]) CHECK(read[3] == 1 << 20);

  // --timeline picks another run; a run that does not exist is an error naming it.
  const fs::path other = TempDir();
  MakeResults(other, "--timeline rnd:oracle");
  const auto doc2 = nlohmann::json::parse(Slurp(other / "r.json"));
  REQUIRE(doc2["timelines"].size() == 1);
  CHECK(doc2["timelines"][0]["trace"] == "rnd");
  CHECK(doc2["timelines"][0]["policy"] == "oracle");
  auto bad = Pflab("compare " + (dir / "seq.jsonl").string() + " --policies gcsfs-v795 -q --timeline seq:oracle", dir);
  CHECK(bad.exit_code == 1);
  CHECK_THAT(bad.err, Catch::Contains("--timeline: no run of trace 'seq' with policy 'oracle'"));
  fs::remove_all(dir);
  fs::remove_all(other);
}

TEST_CASE("report: pflab report renders what compare rendered, from the JSON alone", "[reports][cli]") {
  const fs::path dir = TempDir();
  MakeResults(dir);
  auto rep = Pflab("report " + (dir / "r.json").string() + " --html " + (dir / "r.html").string() + " --md " +
                       (dir / "r.md").string(),
                   dir);
  INFO(rep.err);
  REQUIRE(rep.exit_code == 0);
  const std::string html = Slurp(dir / "r.html");
  CHECK(html.size() > 500'000);  // the inlined libraries
  CHECK(html == Slurp(dir / "c.html"));
  CHECK(Slurp(dir / "r.md") == Slurp(dir / "c.md"));
  CHECK_THAT(Slurp(dir / "r.md"), Catch::Contains("| `gcsfs-adaptive` |"));

  // Without outputs it prints the console tables.
  auto console = Pflab("report " + (dir / "r.json").string(), dir);
  CHECK(console.exit_code == 0);
  CHECK_THAT(console.out, Catch::Contains("linux-readahead"));

  // Missing libraries: a clear error, nothing half-written.
  auto missing = Pflab("report " + (dir / "r.json").string() + " --html " + (dir / "x.html").string(), dir,
                       "PFLAB_JS_DIR=" + (dir / "nowhere").string());
  CHECK(missing.exit_code == 1);
  CHECK_THAT(missing.err, Catch::Contains("run `make setup`"));
  CHECK_FALSE(fs::exists(dir / "x.html"));
  auto missing2 = Pflab("report " + (dir / "r.json").string() + " --html " + (dir / "y.html").string() + " --js-dir " +
                            (dir / "nowhere").string(),
                        dir);
  CHECK(missing2.exit_code == 1);

  // Not a results file.
  std::ofstream(dir / "bad.json") << "{\"schema\": 1, \"runs\": [{\"trace\": 3}]}";
  auto bad = Pflab("report " + (dir / "bad.json").string() + " --html " + (dir / "z.html").string(), dir);
  CHECK(bad.exit_code == 1);
  CHECK_THAT(bad.err, Catch::Contains("bad.json: runs[0].trace: expected a string, got an integer"));
  fs::remove_all(dir);
}

// A plain test instead of Catch::Contains, whose failure message would print the whole 1 MB page.
bool Has(const std::string& text, const std::string& what) {
  return text.find(what) != std::string::npos;
}

// The chart element `id` in the dumped DOM: from its opening tag to the next chart or script.
std::string ChartElement(const std::string& dom, const std::string& id) {
  const auto start = dom.find("id=\"" + id + "\"");
  if (start == std::string::npos) return "";
  auto end = dom.find("class=\"pflab-chart\"", start);
  end = std::min(end, dom.find("<script", start));
  return dom.substr(start, end == std::string::npos ? std::string::npos : end - start);
}

TEST_CASE("report: the HTML report renders every chart in headless Chromium without script errors", "[html]") {
  if (Shell("command -v chromium >/dev/null 2>&1") != 0) {
    WARN("skipped: chromium is not installed (make setup installs the Debian package)");
    return;
  }
  const fs::path dir = TempDir();
  MakeResults(dir);
  REQUIRE(Pflab("report " + (dir / "r.json").string() + " --html " + (dir / "r.html").string(), dir).exit_code == 0);
  // The screenshot goes next to the binaries, where it outlives the test for a person to look at.
  const fs::path build_dir = fs::path(std::getenv("PFLAB_CLI")).parent_path();
  const fs::path png = build_dir / "html_report_screenshot.png";
  fs::remove(png);
  // Chromium tries the network for updates and telemetry unless told not to; the machine has none.
  const std::string cmd =
      "timeout 180 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run "
      "--disable-background-networking --disable-component-update --disable-sync "
      "--disable-default-apps --user-data-dir=" +
      (dir / "profile").string() +
      " --virtual-time-budget=10000 --hide-scrollbars --window-size=1200,2600 --screenshot=" + png.string() +
      " --dump-dom file://" + (dir / "r.html").string() + " >" + (dir / "dom.html").string() + " 2>" +
      (dir / "chromium.log").string();
  const int code = Shell(cmd);
  INFO(Slurp(dir / "chromium.log"));
  REQUIRE(code == 0);
  const std::string dom = Slurp(dir / "dom.html");
  REQUIRE(Has(dom, "id=\"pflab-errors\""));
  INFO("errors: " + dom.substr(dom.find("id=\"pflab-errors\""), 600));
  CHECK(Has(dom, "data-pflab-status=\"done\""));
  CHECK(Has(dom, "data-pflab-errors=\"0\""));
  CHECK(Count(dom, "data-pflab-chart=\"pending\"") == 0);
  CHECK(Count(dom, "data-pflab-chart=\"failed\"") == 0);
  // Two traces x (bars, CDF, Pareto) + one timeline, each an SVG with the marks it is made of.
  CHECK(Count(dom, "data-pflab-chart=\"rendered\"") == 7);
  const std::pair<const char*, const char*> expected[] = {
      {"chart-t0-bars", "mark-rect"},    {"chart-t0-cdf", "mark-line"}, {"chart-t0-pareto", "mark-symbol"},
      {"chart-t1-bars", "mark-rect"},    {"chart-t1-cdf", "mark-line"}, {"chart-t1-pareto", "mark-text"},
      {"chart-timeline-0", "mark-rect"},
  };
  for (const auto& [id, mark] : expected) {
    INFO(id);
    const std::string el = ChartElement(dom, id);
    CHECK(Has(el, "<svg"));
    CHECK(Has(el, mark));
  }
  // The overview leads: the heatmap (a row per trace, a cell per policy but not the bound) and the
  // winners, before the first trace's section.
  const auto overview = dom.find("id=\"overview\"");
  REQUIRE(overview != std::string::npos);
  CHECK(overview < dom.find("chart-t0-bars"));
  CHECK(Count(dom, "class=\"num heat") >= 2 * 5);
  CHECK(Has(dom, "id=\"winners\""));
  CHECK(Has(dom, "geometric mean"));
  // Axis titles with units made it into the SVGs (the spec text is elsewhere, in the data script).
  CHECK(Has(ChartElement(dom, "chart-t0-cdf"), "read latency (ms"));
  CHECK(Has(ChartElement(dom, "chart-t0-pareto"), "bytes fetched from the backend (MB)"));
  CHECK(Has(ChartElement(dom, "chart-t0-bars"), "peak memory (MB)"));
  CHECK(Has(ChartElement(dom, "chart-timeline-0"), "object offset (MB)"));

  // A PNG of the requested size with real content (a blank page compresses to a few KB).
  const std::string image = Slurp(png);
  REQUIRE(image.size() > 24);
  CHECK(image.compare(0, 8, "\x89PNG\r\n\x1a\n") == 0);
  auto be32 = [&](std::size_t at) {
    return (static_cast<std::uint32_t>(static_cast<unsigned char>(image[at])) << 24) |
           (static_cast<std::uint32_t>(static_cast<unsigned char>(image[at + 1])) << 16) |
           (static_cast<std::uint32_t>(static_cast<unsigned char>(image[at + 2])) << 8) |
           static_cast<std::uint32_t>(static_cast<unsigned char>(image[at + 3]));
  };
  CHECK(be32(16) == 1200);
  CHECK(be32(20) == 2600);
  CHECK(image.size() > 50'000);
  fs::remove_all(dir);
}

}  // namespace
