// The HTML generator without a browser: structure, escaping, the sortable table, and the data the
// charts embed.
#include "reports/html.h"

#include <catch2/catch.hpp>
#include <cstdlib>
#include <set>

namespace pflab::reports {
namespace {

using nlohmann::json;

replay::RunResult Run(const std::string& trace, const std::string& policy, double elapsed, std::uint64_t fetched) {
  replay::RunResult r;
  r.trace = trace;
  r.policy = policy;
  r.profile = "gcs-regional";
  r.seed = 1;
  r.think = "recorded";
  r.metrics.elapsed_s = elapsed;
  r.metrics.stall_s = elapsed / 2;
  r.metrics.read_latency_p50_s = 0.004;
  r.metrics.read_latency_p99_s = 0.2;
  r.metrics.reads = 10;
  r.metrics.bytes_read = 10'000'000;
  r.metrics.bytes_fetched = fetched;
  r.metrics.requests = 7;
  r.metrics.peak_memory_bytes = 3'000'000;
  return r;
}

ResultsDocument Doc() {
  ResultsDocument doc;
  doc.runs = {Run("t<1>&\"x\"", "none", 5, 10'000'000), Run("t<1>&\"x\"", "gcsfs-v795", 1.5, 12'000'000),
              Run("t<1>&\"x\"", "oracle", 1, 10'000'000), Run("two", "none", 3, 5'000'000),
              Run("two", "gcsfs-v795", 3.5, 50'000'000)};
  doc.details.resize(doc.runs.size());
  for (std::size_t i = 0; i < doc.runs.size(); ++i) {
    for (std::size_t k = 0; k < kLatencyQuantiles; ++k) {
      doc.details[i].latency_quantiles_s.push_back(0.001 * static_cast<double>(k * (i + 1)));
    }
  }
  Timeline t;
  t.trace = doc.runs[1].trace;
  t.policy = doc.runs[1].policy;
  t.reads_total = 2;
  t.fetches_total = 1;
  t.reads = {{0, 2'000'000, 0, 1'000'000, 0}, {3'000'000, 3'000'000, 1'000'000, 1'000'000, 0}};
  t.fetches = {{500'000, 1'500'000, 0, 4'000'000, "done"}};
  doc.details[1].timeline = t;
  doc.config = {{"profile", "gcs-<regional>"}, {"seed", 1}, {"think", "recorded"}, {"transport", "sim"}};
  return doc;
}

JsLibraries StubJs() {
  return {"window.vega={};", "window.vegaLite={};", "window.vegaEmbed=function(){return Promise.resolve();};"};
}

// The text between the first `open` and the following `close`.
std::string Between(const std::string& text, const std::string& open, const std::string& close) {
  const auto a = text.find(open);
  REQUIRE(a != std::string::npos);
  const auto b = text.find(close, a + open.size());
  REQUIRE(b != std::string::npos);
  return text.substr(a + open.size(), b - a - open.size());
}

std::size_t Count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto pos = text.find(what); pos != std::string::npos; pos = text.find(what, pos + 1)) ++n;
  return n;
}

TEST_CASE("html: escaping of text and of JSON inside a script", "[reports]") {
  CHECK(HtmlEscape("a<b>&\"c'") == "a&lt;b&gt;&amp;&quot;c&#39;");
  const std::string s = ScriptSafeJson(json{{"name", "</script><b>&"}});
  CHECK(s.find('<') == std::string::npos);
  CHECK(s.find('>') == std::string::npos);
  CHECK(s.find('&') == std::string::npos);
  CHECK(json::parse(s)["name"] == "</script><b>&");
}

TEST_CASE("html: one self-contained page with the libraries, the data and a chart element per chart", "[reports]") {
  const ResultsDocument doc = Doc();
  const std::string html = RenderHtml(doc, "Report <&>", StubJs());
  CHECK(html.rfind("<!DOCTYPE html>", 0) == 0);
  CHECK_THAT(html, Catch::Contains("<title>Report &lt;&amp;&gt;</title>"));
  CHECK_THAT(html, Catch::Contains("window.vegaEmbed=function"));
  CHECK_THAT(html, Catch::Contains("data-pflab-status=\"loading\""));
  // Nothing is fetched from elsewhere.
  CHECK(html.find("<script src") == std::string::npos);
  CHECK(html.find("<link") == std::string::npos);
  // The raw names never appear unescaped outside the JSON (where they are \u-escaped).
  CHECK(html.find("t<1>") == std::string::npos);
  CHECK_THAT(html, Catch::Contains("t&lt;1&gt;&amp;&quot;x&quot;"));
  CHECK_THAT(html, Catch::Contains("gcs-&lt;regional&gt;"));

  const auto charts = BuildCharts(doc);
  // Per trace: bars, CDF, Pareto; then the one timeline.
  REQUIRE(charts.size() == 7);
  CHECK(charts.back().timeline);
  CHECK(Count(html, "class=\"pflab-chart\"") == charts.size());
  for (const auto& c : charts) CHECK_THAT(html, Catch::Contains("id=\"" + c.id + "\" data-pflab-chart=\"pending\""));

  // The embedded chart list parses back to exactly the specs BuildCharts made.
  const json embedded =
      json::parse(Between(html, "<script type=\"application/json\" id=\"pflab-charts\">", "</script>"));
  REQUIRE(embedded.size() == charts.size());
  for (std::size_t i = 0; i < charts.size(); ++i) {
    CHECK(embedded[i]["id"] == charts[i].id);
    CHECK(embedded[i]["spec"] == charts[i].spec);
  }
}

TEST_CASE("html: the summary table has one sortable row per run with raw values to sort by", "[reports]") {
  const ResultsDocument doc = Doc();
  const std::string html = RenderHtml(doc, "r", StubJs());
  const std::string table = Between(html, "<table id=\"summary\" class=\"sortable\">", "</table>");
  const std::string head = Between(table, "<thead>", "</thead>");
  CHECK(Count(head, "<th data-col=") == 14);  // with "vs oracle", since an oracle ran
  CHECK_THAT(head, Catch::Contains("vs oracle"));
  const std::string body = Between(table, "<tbody>", "</tbody>");
  CHECK(Count(body, "<tr>") == doc.runs.size());
  // gcsfs-v795 on the first trace: 1.5 s, 0.3x of none, 1.5x of the oracle, 12 MB fetched.
  CHECK_THAT(body, Catch::Contains("data-v=\"1.500000000\">1.500</td><td class=\"num\" data-v=\"0.300000000\">0.30x"
                                   "</td><td class=\"num\" data-v=\"1.500000000\">1.50x"));
  CHECK_THAT(body, Catch::Contains("data-v=\"12.000000000\">12.0</td>"));
  // The trace without an oracle has no ratio to sort by.
  CHECK(Count(body, "data-v=\"\">-</td>") == 2);
  // The sorting script is there and addresses the table.
  CHECK_THAT(html, Catch::Contains("querySelectorAll('table.sortable')"));
}

TEST_CASE("html: charts carry the metrics with units and one colour per policy everywhere", "[reports]") {
  const ResultsDocument doc = Doc();
  const auto charts = BuildCharts(doc);
  // Bars: every metric of every run of the trace, in the units the labels name.
  const json& bars = charts[0].spec;
  std::set<std::string> metrics;
  for (const auto& v : bars["data"]["values"]) metrics.insert(v["metric"].get<std::string>());
  CHECK(metrics.count("elapsed (s)") == 1);
  CHECK(metrics.count("fetched (MB)") == 1);
  CHECK(metrics.count("read latency p99 (ms)") == 1);
  CHECK(bars["data"]["values"].size() == 3 * metrics.size());
  bool found = false;
  for (const auto& v : bars["data"]["values"]) {
    if (v["policy"] == "gcsfs-v795" && v["metric"] == "fetched (MB)") {
      CHECK(v["value"] == Approx(12.0));
      found = true;
    }
    if (v["policy"] == "none" && v["metric"] == "read latency p99 (ms)") CHECK(v["value"] == Approx(200.0));
  }
  CHECK(found);
  // CDF: every quantile of each run, latency in ms against the fraction of reads.
  const json& cdf = charts[1].spec;
  CHECK(cdf["data"]["values"].size() == 3 * kLatencyQuantiles);
  CHECK(cdf["data"]["values"][kLatencyQuantiles + 100]["latency_ms"] == Approx(200.0));  // run 1: 0.002 s x 100
  CHECK(cdf["data"]["values"][kLatencyQuantiles + 100]["fraction"] == Approx(1.0));
  CHECK(cdf["encoding"]["x"]["title"].get<std::string>().find("ms") != std::string::npos);
  // Pareto on trace two: none (5 MB, 3 s) dominates gcsfs-v795 (50 MB, 3.5 s).
  const json& pareto = charts[5].spec;
  REQUIRE(pareto["data"]["values"].size() == 2);
  CHECK(pareto["data"]["values"][0]["frontier"] == true);
  CHECK(pareto["data"]["values"][1]["frontier"] == false);
  CHECK(pareto["data"]["values"][1]["fetched_mb"] == Approx(50.0));
  // Timeline: the reads and fetches in ms and MB.
  const json& timeline = charts[6].spec;
  REQUIRE(timeline["data"]["values"].size() == 3);
  CHECK(timeline["data"]["values"][0]["kind"] == "fetch done");
  CHECK(timeline["data"]["values"][0]["t1_ms"] == Approx(1.5));
  CHECK(timeline["data"]["values"][0]["b1_mb"] == Approx(4.0));
  CHECK(timeline["data"]["values"][2]["kind"] == "read");

  // Every chart that colours by policy uses the same domain and range.
  auto scale_of = [](const json& spec) -> json {
    const json* enc = nullptr;
    if (spec.contains("spec"))
      enc = &spec["spec"]["layer"][0]["encoding"];
    else if (spec.contains("encoding"))
      enc = &spec["encoding"];
    else
      enc = &spec["layer"][1]["encoding"];
    return (*enc)["color"]["scale"];
  };
  const json reference = scale_of(charts[0].spec);
  CHECK(reference["domain"] == json({"none", "gcsfs-v795", "oracle"}));
  CHECK(reference["range"].size() == 3);
  CHECK(std::set<std::string>(reference["range"].begin(), reference["range"].end()).size() == 3);
  for (std::size_t i = 0; i + 1 < charts.size(); ++i) {
    INFO(charts[i].id);
    CHECK(scale_of(charts[i].spec) == reference);
  }
  // The timeline draws its policy's completed GETs in that policy's colour.
  CHECK(timeline["layer"][0]["encoding"]["color"]["scale"]["range"][1] == reference["range"][1]);
}

TEST_CASE("html: the overview heatmap leads, with the bound as its scale and as lines in the charts", "[reports]") {
  ResultsDocument doc;
  for (std::uint64_t seed = 1; seed <= 4; ++seed) {
    for (const char* trace : {"a", "b"}) {
      const double k = static_cast<double>(seed) * 0.01;
      doc.runs.push_back(Run(trace, "none", 10 + k, 10'000'000));
      doc.runs.push_back(Run(trace, "bound", 1, 8'000'000));
      doc.runs.push_back(Run(trace, "gcsfs-v795", 3 + k, 12'000'000));
      doc.runs.push_back(Run(trace, "oracle", 1.5 + k, 9'000'000));
      doc.runs.push_back(Run(trace, "fsspec-readahead", 400 + k, 20'000'000));
      for (std::size_t i = doc.runs.size() - 5; i < doc.runs.size(); ++i) doc.runs[i].seed = seed;
    }
  }
  doc.details.resize(doc.runs.size());
  doc.config = {{"profile", "gcs-regional"},
                {"transport", "sim"},
                {"think", "recorded"},
                {"provenance", {{"pflab_version", "0.1.0"}, {"commit", "abc123"}}}};
  const std::string html = RenderHtml(doc, "r", StubJs());
  // The overview comes before everything else, then the trace sections, then every run folded away.
  const auto overview = html.find("<table id=\"overview\"");
  REQUIRE(overview != std::string::npos);
  CHECK(overview < html.find("<h2>Trace: a</h2>"));
  CHECK(html.find("<h2>Trace: a</h2>") < html.find("<table id=\"summary\""));
  CHECK_THAT(html, Catch::Contains("<details class=\"all-runs\"><summary>Every run, one row each (40 rows)"));
  CHECK_THAT(html, Catch::Contains("4 seeds (1..4)") && Catch::Contains("commit <code>abc123</code>"));
  const std::string heat = Between(html, "<table id=\"overview\"", "</table>");
  const std::string body = Between(heat, "<tbody>", "</tbody>");
  CHECK(Count(body, "<tr>") == 2);
  // No column for the bound itself: none, gcsfs-v795, oracle, fsspec-readahead, and the winner columns.
  CHECK(Count(Between(heat, "<thead>", "</thead>"), "class=\"policy\"") == 4);
  // gcsfs-v795 (median 3.025 s over the bound's 1 s) wins; the oracle is a reference and does not.
  CHECK_THAT(body, Catch::Contains("winner") && Catch::Contains("data-v=\"3.025000000\""));
  CHECK(Count(body, "heat winner") == 2);
  CHECK(Count(body, "heat runner-up") == 2);
  // Then the winners by name, how far from the bound, and whether the seeds tell them apart.
  const std::string winners = Between(html, "<table id=\"winners\" class=\"sortable\">", "</table>");
  CHECK_THAT(winners, Catch::Contains("<code>gcsfs-v795</code></td><td class=\"num\" data-v=\"3.025000000\">3.02") &&
                          Catch::Contains("<code>none</code>") && Catch::Contains("yes (p=0.029)"));
  // 400x the bound is dark: white text; 3x is light.
  CHECK(Count(body, "heat dark\" style=\"background:#") == 2);
  // Footer: geometric means, outside the sorted body.
  CHECK_THAT(Between(heat, "<tfoot>", "</tfoot>"), Catch::Contains("geometric mean") && Catch::Contains("traces won"));
  // Per-trace tables with the spread over seeds.
  CHECK_THAT(html, Catch::Contains("<table id=\"trace-0\" class=\"sortable\">") && Catch::Contains("min..max s") &&
                       Catch::Contains("3.010..3.040"));
  // Charts: the bound is no bar and no point, but a rule in the bars (elapsed and fetched) and in the
  // Pareto chart (elapsed and bytes), and it has no place in the colour scale.
  const auto charts = BuildCharts(doc);
  REQUIRE(charts.size() == 4);  // no latency quantiles: bars and Pareto per trace
  const json& bars = charts[0].spec;
  std::size_t rules = 0;
  for (const auto& v : bars["data"]["values"]) {
    if (v["kind"] == "bound") {
      ++rules;
      CHECK((v["metric"] == "elapsed (s)" || v["metric"] == "fetched (MB)"));
    } else {
      CHECK(v["policy"] != "bound");
    }
  }
  CHECK(rules == 2);
  CHECK(bars["spec"]["layer"][1]["mark"]["type"] == "rule");
  const json& pareto = charts[1].spec;
  CHECK(pareto["data"]["values"].size() == 4);
  REQUIRE(pareto["layer"].size() == 6);
  CHECK(pareto["layer"][3]["data"]["values"][0]["elapsed_s"] == Approx(1.0));
  CHECK(pareto["layer"][4]["data"]["values"][0]["fetched_mb"] == Approx(8.0));
  for (const auto& c : charts) {
    const auto& domain = c.spec.contains("spec") ? c.spec["spec"]["layer"][0]["encoding"]["color"]["scale"]["domain"]
                                                 : c.spec["layer"][1]["encoding"]["color"]["scale"]["domain"];
    CHECK(domain == json({"none", "gcsfs-v795", "oracle", "fsspec-readahead"}));
  }
}

TEST_CASE("html: a missing charting library is an error that says how to install it", "[reports]") {
  auto js = LoadJsLibraries("/nonexistent/pflab/js");
  REQUIRE_FALSE(js);
  CHECK_THAT(js.error().message, Catch::Contains("/nonexistent/pflab/js/vega/build/vega.min.js"));
  CHECK_THAT(js.error().message, Catch::Contains("make setup"));
}

TEST_CASE("html: the built-in libraries are reports/js/node_modules' bundles, byte for byte", "[reports]") {
  auto built_in = BuiltInJsLibraries();
  INFO((built_in ? std::string() : built_in.error().message));
  REQUIRE(built_in);
  auto on_disk = LoadJsLibraries(std::string(PFLAB_SOURCE_DIR) + "/reports/js/node_modules");
  INFO((on_disk ? std::string() : on_disk.error().message));
  REQUIRE(on_disk);
  CHECK(built_in->vega == on_disk->vega);
  CHECK(built_in->vega_lite == on_disk->vega_lite);
  CHECK(built_in->vega_embed == on_disk->vega_embed);
  CHECK_THAT(built_in->vega_embed, Catch::Contains("vegaEmbed"));
  CHECK_THAT(built_in->vega_lite, Catch::Contains("vegaLite"));
  CHECK(built_in->vega.size() > 100'000);
}

TEST_CASE("html: --js-dir, then $PFLAB_JS_DIR, then the built-in libraries", "[reports]") {
  auto from_dir = FindJsLibraries("/nonexistent/flag");
  REQUIRE_FALSE(from_dir);
  CHECK_THAT(from_dir.error().message, Catch::StartsWith("/nonexistent/flag/"));
  ::setenv("PFLAB_JS_DIR", "/nonexistent/env", 1);
  auto from_env = FindJsLibraries("");
  auto flag_over_env = FindJsLibraries("/nonexistent/flag");
  ::unsetenv("PFLAB_JS_DIR");
  REQUIRE_FALSE(from_env);
  CHECK_THAT(from_env.error().message, Catch::StartsWith("/nonexistent/env/"));
  REQUIRE_FALSE(flag_over_env);
  CHECK_THAT(flag_over_env.error().message, Catch::StartsWith("/nonexistent/flag/"));
  auto built_in = FindJsLibraries("");
  REQUIRE(built_in);
  CHECK(built_in->vega == BuiltInJsLibraries()->vega);
}

}  // namespace
}  // namespace pflab::reports
