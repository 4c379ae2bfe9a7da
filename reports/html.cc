#include "reports/html.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iterator>
#include <sstream>

#include "engine/units.h"

namespace pflab::reports {
namespace {

using nlohmann::json;

constexpr const char* kSchema = "https://vega.github.io/schema/vega-lite/v6.json";
constexpr double kMB = 1e6;  // the report's MB is 10^6 bytes, as the page says

// The baseline and the bound get neutral colours so the policies under study stand out.
constexpr const char* kBaselineColour = "#8c8c8c";
constexpr const char* kOracleColour = "#222222";
constexpr const char* kPalette[] = {"#4c78a8", "#f58518", "#e45756", "#72b7b2", "#54a24b", "#eeca3b",
                                    "#b279a2", "#ff9da6", "#9d755d", "#1f3f8f", "#a05195", "#2ca02c",
                                    "#d62728", "#17becf", "#bcbd22", "#7f3c8d"};

// Policies in first-seen order and their colours, shared by every chart of the page.
struct Palette {
  std::vector<std::string> policies;
  std::vector<std::string> colours;
};

Palette MakePalette(const std::vector<replay::RunResult>& runs) {
  Palette p;
  std::size_t next = 0;
  for (const auto& run : runs) {
    if (std::find(p.policies.begin(), p.policies.end(), run.policy) != p.policies.end()) continue;
    p.policies.push_back(run.policy);
    if (run.policy == kBaselinePolicy) {
      p.colours.push_back(kBaselineColour);
    } else if (run.policy == kOraclePolicy) {
      p.colours.push_back(kOracleColour);
    } else {
      p.colours.push_back(kPalette[next++ % std::size(kPalette)]);
    }
  }
  return p;
}

json PolicyColour(const Palette& palette, bool legend) {
  json c = {
      {"field", "policy"}, {"type", "nominal"}, {"scale", {{"domain", palette.policies}, {"range", palette.colours}}}};
  if (legend) {
    c["legend"] = {{"title", "policy"}, {"labelLimit", 420}, {"orient", "bottom"}, {"columns", 2}};
  } else {
    c["legend"] = nullptr;
  }
  return c;
}

std::vector<std::string> TracesInOrder(const std::vector<replay::RunResult>& runs) {
  std::vector<std::string> traces;
  for (const auto& run : runs) {
    if (std::find(traces.begin(), traces.end(), run.trace) == traces.end()) traces.push_back(run.trace);
  }
  return traces;
}

struct MetricDef {
  const char* label;  // with its unit
  std::function<double(const replay::Metrics&)> value;
};

const std::vector<MetricDef>& BarMetrics() {
  static const std::vector<MetricDef> metrics = {
      {"elapsed (s)", [](const replay::Metrics& m) { return m.elapsed_s; }},
      {"stall (s)", [](const replay::Metrics& m) { return m.stall_s; }},
      {"read latency p50 (ms)", [](const replay::Metrics& m) { return m.read_latency_p50_s * 1e3; }},
      {"read latency p99 (ms)", [](const replay::Metrics& m) { return m.read_latency_p99_s * 1e3; }},
      {"fetched (MB)", [](const replay::Metrics& m) { return static_cast<double>(m.bytes_fetched) / kMB; }},
      {"wasted (MB)", [](const replay::Metrics& m) { return static_cast<double>(m.bytes_wasted) / kMB; }},
      {"backend requests", [](const replay::Metrics& m) { return static_cast<double>(m.requests); }},
      {"peak memory (MB)", [](const replay::Metrics& m) { return static_cast<double>(m.peak_memory_bytes) / kMB; }},
      {"cost (USD)", [](const replay::Metrics& m) { return m.cost_usd; }},
  };
  return metrics;
}

json BarsSpec(const std::string& trace, const std::vector<std::size_t>& group, const ResultsDocument& doc,
              const Palette& palette) {
  json values = json::array();
  json order = json::array();
  for (const auto& metric : BarMetrics()) {
    order.push_back(metric.label);
    for (std::size_t i : group) {
      values.push_back(
          {{"policy", doc.runs[i].policy}, {"metric", metric.label}, {"value", metric.value(doc.runs[i].metrics)}});
    }
  }
  json policies_here = json::array();
  for (std::size_t i : group) policies_here.push_back(doc.runs[i].policy);
  json inner = {{"width", 230},
                {"height", std::max<std::size_t>(60, 18 * group.size())},
                {"mark", {{"type", "bar"}, {"tooltip", true}}},
                {"encoding",
                 {{"y",
                   {{"field", "policy"},
                    {"type", "nominal"},
                    {"sort", policies_here},
                    {"title", nullptr},
                    {"axis", {{"labelLimit", 200}}}}},
                  {"x", {{"field", "value"}, {"type", "quantitative"}, {"title", nullptr}}},
                  {"color", PolicyColour(palette, false)}}}};
  return {{"$schema", kSchema},
          {"title", "Metrics per policy: " + trace},
          {"data", {{"values", values}}},
          {"facet",
           {{"field", "metric"},
            {"type", "nominal"},
            {"sort", order},
            {"title", nullptr},
            {"header", {{"labelFontSize", 12}, {"labelFontWeight", "bold"}}}}},
          {"columns", 3},
          {"spec", inner},
          {"resolve", {{"scale", {{"x", "independent"}}}}}};
}

json CdfSpec(const std::string& trace, const std::vector<std::size_t>& group, const ResultsDocument& doc,
             const Palette& palette) {
  json values = json::array();
  for (std::size_t i : group) {
    const auto& q = doc.details[i].latency_quantiles_s;
    for (std::size_t k = 0; k < q.size(); ++k) {
      values.push_back({{"policy", doc.runs[i].policy},
                        {"latency_ms", q[k] * 1e3},
                        {"fraction", static_cast<double>(k) / static_cast<double>(q.size() - 1)}});
    }
  }
  return {{"$schema", kSchema},
          {"title", "Read latency CDF: " + trace},
          {"width", 640},
          {"height", 300},
          {"data", {{"values", values}}},
          {"mark", {{"type", "line"}, {"interpolate", "step-after"}, {"tooltip", true}}},
          {"encoding",
           {{"x",
             {{"field", "latency_ms"},
              {"type", "quantitative"},
              {"title", "read latency (ms, symlog axis)"},
              {"scale", {{"type", "symlog"}}},
              {"axis", {{"labelOverlap", "greedy"}, {"labelSeparation", 6}}}}},
            {"y",
             {{"field", "fraction"},
              {"type", "quantitative"},
              {"title", "reads at or below latency"},
              {"axis", {{"format", "%"}}}}},
            {"color", PolicyColour(palette, true)}}}};
}

json ParetoSpec(const std::string& trace, const std::vector<std::size_t>& group, const ResultsDocument& doc,
                const Palette& palette) {
  json values = json::array();
  for (std::size_t i : group) {
    const auto& m = doc.runs[i].metrics;
    bool dominated = false;
    for (std::size_t j : group) {
      const auto& o = doc.runs[j].metrics;
      const bool no_worse = o.bytes_fetched <= m.bytes_fetched && o.elapsed_s <= m.elapsed_s;
      const bool better = o.bytes_fetched < m.bytes_fetched || o.elapsed_s < m.elapsed_s;
      dominated |= no_worse && better;
    }
    values.push_back({{"policy", doc.runs[i].policy},
                      {"fetched_mb", static_cast<double>(m.bytes_fetched) / kMB},
                      {"elapsed_s", m.elapsed_s},
                      {"frontier", !dominated}});
  }
  // Both axes from zero: policies often tie on bytes fetched, and a zoomed axis would exaggerate gaps.
  const json x = {{"field", "fetched_mb"},
                  {"type", "quantitative"},
                  {"title", "bytes fetched from the backend (MB)"},
                  {"scale", {{"zero", true}}},
                  {"axis", {{"format", ",.4~r"}}}};
  const json y = {
      {"field", "elapsed_s"}, {"type", "quantitative"}, {"title", "elapsed (s)"}, {"scale", {{"zero", true}}}};
  json frontier = {{"transform", {{{"filter", "datum.frontier"}}}},
                   {"mark", {{"type", "line"}, {"color", "#999999"}, {"strokeDash", {4, 3}}}},
                   {"encoding", {{"x", x}, {"y", y}, {"order", {{"field", "fetched_mb"}}}}}};
  json points = {{"mark", {{"type", "point"}, {"filled", true}, {"size", 110}, {"tooltip", true}}},
                 {"encoding", {{"x", x}, {"y", y}, {"color", PolicyColour(palette, true)}}}};
  json labels = {{"mark", {{"type", "text"}, {"align", "left"}, {"dx", 8}, {"fontSize", 10}, {"limit", 260}}},
                 {"encoding", {{"x", x}, {"y", y}, {"text", {{"field", "policy"}}}}}};
  return {{"$schema", kSchema},
          {"title",
           {{"text", "Elapsed time vs bytes fetched: " + trace},
            {"subtitle", "lower left is better; the dashed line joins the policies no other beats on both"}}},
          {"width", 640},
          {"height", 320},
          {"data", {{"values", values}}},
          {"layer", {frontier, points, labels}}};
}

json TimelineSpec(const Timeline& t, const Palette& palette) {
  const auto it = std::find(palette.policies.begin(), palette.policies.end(), t.policy);
  const std::string done_colour = it == palette.policies.end()
                                      ? kPalette[0]
                                      : palette.colours[static_cast<std::size_t>(it - palette.policies.begin())];
  json values = json::array();
  for (const auto& f : t.fetches) {
    values.push_back({{"kind", "fetch " + f.outcome},
                      {"t0_ms", static_cast<double>(f.start) / 1e6},
                      {"t1_ms", static_cast<double>(f.end) / 1e6},
                      {"b0_mb", static_cast<double>(f.begin) / kMB},
                      {"b1_mb", static_cast<double>(f.end_byte) / kMB}});
  }
  for (const auto& r : t.reads) {
    values.push_back({{"kind", "read"},
                      {"t0_ms", static_cast<double>(r.start) / 1e6},
                      {"t1_ms", static_cast<double>(r.end) / 1e6},
                      {"b0_mb", static_cast<double>(r.offset) / kMB},
                      {"b1_mb", static_cast<double>(r.offset + r.length) / kMB},
                      {"stream", r.stream}});
  }
  const json colour = {{"field", "kind"},
                       {"type", "nominal"},
                       {"title", nullptr},
                       {"scale",
                        {{"domain", {"read", "fetch done", "fetch cancelled", "fetch failed", "fetch open"}},
                         {"range", {"#111111", done_colour, "#c7c7c7", "#d62728", "#9467bd"}}}},
                       {"legend", {{"orient", "top"}}}};
  const json enc = {
      {"x", {{"field", "t0_ms"}, {"type", "quantitative"}, {"title", "time since the run's first event (ms)"}}},
      {"x2", {{"field", "t1_ms"}}},
      {"y", {{"field", "b0_mb"}, {"type", "quantitative"}, {"title", "object offset (MB)"}}},
      {"y2", {{"field", "b1_mb"}}},
      {"color", colour}};
  json fetches = {{"transform", {{{"filter", "datum.kind !== 'read'"}}}},
                  {"params", {{{"name", "zoom"}, {"select", "interval"}, {"bind", "scales"}}}},
                  {"mark", {{"type", "rect"}, {"opacity", 0.45}, {"tooltip", true}}},
                  {"encoding", enc}};
  // A stroke keeps reads served at once (zero width) visible as a line.
  json reads = {
      {"transform", {{{"filter", "datum.kind === 'read'"}}}},
      {"mark", {{"type", "rect"}, {"opacity", 0.9}, {"stroke", "#111111"}, {"strokeWidth", 1}, {"tooltip", true}}},
      {"encoding", enc}};
  std::string subtitle = std::to_string(t.reads_total) + " reads and " + std::to_string(t.fetches_total) +
                         " backend GETs; drag to pan, scroll to zoom";
  if (t.reads_stride > 1 || t.fetches_stride > 1) {
    subtitle += "; downsampled: every " + std::to_string(t.reads_stride) + ". read and every " +
                std::to_string(t.fetches_stride) + ". GET shown";
  }
  return {{"$schema", kSchema},
          {"title", {{"text", "Timeline: " + t.trace + " x " + t.policy}, {"subtitle", subtitle}}},
          {"width", 900},
          {"height", 380},
          {"data", {{"values", values}}},
          {"layer", {fetches, reads}}};
}

std::string Fixed(double value, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, value);
  return buf;
}

std::string ConfigValue(const json& config, const char* key) {
  if (!config.is_object() || !config.contains(key)) return "?";
  const json& v = config[key];
  return v.is_string() ? v.get<std::string>() : v.dump();
}

void WriteTable(std::ostringstream& out, const ResultsDocument& doc, const Palette& palette) {
  bool with_oracle = false;
  for (const auto& run : doc.runs) with_oracle |= run.policy == kOraclePolicy;
  std::vector<std::string> header = {"trace",    "policy",  "elapsed s",  "vs none",      "stall s",
                                     "p50 ms",   "p99 ms",  "fetched MB", "fetched/read", "wasted MB",
                                     "requests", "peak MB", "cost $"};
  if (with_oracle) header.insert(header.begin() + 4, "vs oracle");
  out << "<div class=\"table-wrap\"><table id=\"summary\" class=\"sortable\">\n<thead><tr>";
  for (std::size_t i = 0; i < header.size(); ++i) {
    out << "<th data-col=\"" << i << "\" title=\"click to sort\">" << HtmlEscape(header[i]) << "</th>";
  }
  out << "</tr></thead>\n<tbody>\n";
  auto elapsed_of = [&](const std::string& trace, const char* policy) -> double {
    for (const auto& r : doc.runs) {
      if (r.trace == trace && r.policy == policy) return r.metrics.elapsed_s;
    }
    return 0;
  };
  for (const auto& run : doc.runs) {
    const auto& m = run.metrics;
    const double none = elapsed_of(run.trace, kBaselinePolicy);
    const double oracle = elapsed_of(run.trace, kOraclePolicy);
    const auto colour_it = std::find(palette.policies.begin(), palette.policies.end(), run.policy);
    const std::string colour = palette.colours[static_cast<std::size_t>(colour_it - palette.policies.begin())];
    auto num = [&](double v, int digits, const std::string& suffix = "") {
      out << "<td class=\"num\" data-v=\"" << Fixed(v, 9) << "\">" << Fixed(v, digits) << suffix << "</td>";
    };
    auto ratio = [&](double base) {
      if (base > 0) {
        num(m.elapsed_s / base, 2, "x");
      } else {
        out << "<td class=\"num\" data-v=\"\">-</td>";
      }
    };
    out << "<tr><td data-v=\"" << HtmlEscape(run.trace) << "\">" << HtmlEscape(run.trace) << "</td>";
    out << "<td data-v=\"" << HtmlEscape(run.policy) << "\"><span class=\"swatch\" style=\"background:" << colour
        << "\"></span><code>" << HtmlEscape(run.policy) << "</code>";
    if (m.reads_failed) out << " <strong>(" << m.reads_failed << " reads failed)</strong>";
    if (m.bytes_refetched) out << " (refetched " << FormatSize(m.bytes_refetched) << ": memory budget)";
    out << "</td>";
    num(m.elapsed_s, 3);
    ratio(none);
    if (with_oracle) ratio(oracle);
    num(m.stall_s, 3);
    num(m.read_latency_p50_s * 1e3, 2);
    num(m.read_latency_p99_s * 1e3, 2);
    num(static_cast<double>(m.bytes_fetched) / kMB, 1);
    if (m.bytes_read) {
      num(static_cast<double>(m.bytes_fetched) / static_cast<double>(m.bytes_read), 2);
    } else {
      out << "<td class=\"num\" data-v=\"\">-</td>";
    }
    num(static_cast<double>(m.bytes_wasted) / kMB, 1);
    num(static_cast<double>(m.requests), 0);
    num(static_cast<double>(m.peak_memory_bytes) / kMB, 1);
    num(m.cost_usd, 6);
    out << "</tr>\n";
  }
  out << "</tbody></table></div>\n";
}

constexpr const char* kStyle = R"(
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; margin: 24px; color: #222; }
h1 { font-size: 22px; } h2 { font-size: 18px; margin-top: 32px; border-bottom: 1px solid #ddd; } h3 { font-size: 15px; }
p.meta { color: #555; }
table.sortable { border-collapse: collapse; font-size: 12px; }
table.sortable th { background: #f0f0f0; cursor: pointer; padding: 4px 8px; border-bottom: 2px solid #ccc; white-space: nowrap; }
table.sortable th.asc::after { content: " \25B2"; } table.sortable th.desc::after { content: " \25BC"; }
.table-wrap { overflow-x: auto; }
table.sortable td { padding: 3px 6px; border-bottom: 1px solid #eee; white-space: nowrap; }
table.sortable td.num { text-align: right; font-variant-numeric: tabular-nums; }
table.sortable tbody tr:hover { background: #f7f7ff; }
.swatch { display: inline-block; width: 10px; height: 10px; margin-right: 6px; border-radius: 2px; }
.pflab-chart { margin: 12px 0 24px 0; }
#pflab-errors { color: #b00; background: #fee; padding: 8px; white-space: pre-wrap; }
)";

// Records failures where a test (reading the DOM) and a reader can see them; installed before the
// libraries so their load errors count too.
constexpr const char* kErrorScript = R"(
(function () {
  var count = 0;
  window.pflabFail = function (message) {
    count += 1;
    document.body.setAttribute('data-pflab-errors', String(count));
    var box = document.getElementById('pflab-errors');
    box.textContent += message + '\n';
    box.hidden = false;
  };
  window.addEventListener('error', function (e) {
    pflabFail('script error: ' + e.message + (e.filename ? ' (' + e.filename + ':' + e.lineno + ')' : ''));
  });
  window.addEventListener('unhandledrejection', function (e) { pflabFail('unhandled rejection: ' + e.reason); });
  var consoleError = console.error;
  console.error = function () {
    pflabFail('console.error: ' + Array.prototype.join.call(arguments, ' '));
    consoleError.apply(console, arguments);
  };
})();
)";

constexpr const char* kMainScript = R"(
(function () {
  var charts = JSON.parse(document.getElementById('pflab-charts').textContent);
  var jobs = charts.map(function (c) {
    var el = document.getElementById(c.id);
    return vegaEmbed(el, c.spec, { mode: 'vega-lite', renderer: 'svg', actions: false }).then(function () {
      if (el.querySelector('svg, canvas')) {
        el.setAttribute('data-pflab-chart', 'rendered');
      } else {
        el.setAttribute('data-pflab-chart', 'failed');
        pflabFail(c.id + ': rendered nothing');
      }
    }, function (err) {
      el.setAttribute('data-pflab-chart', 'failed');
      pflabFail(c.id + ': ' + err);
    });
  });
  Promise.all(jobs).then(function () { document.body.setAttribute('data-pflab-status', 'done'); });

  // Click a header to sort by it; again to reverse. Numbers sort as numbers, empty cells last.
  var table = document.getElementById('summary');
  var body = table.tBodies[0];
  Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, col) {
    th.addEventListener('click', function () {
      var dir = th.classList.contains('asc') ? -1 : 1;
      Array.prototype.forEach.call(table.tHead.rows[0].cells, function (h) { h.classList.remove('asc', 'desc'); });
      th.classList.add(dir === 1 ? 'asc' : 'desc');
      var rows = Array.prototype.slice.call(body.rows);
      rows.sort(function (a, b) {
        var x = a.cells[col].getAttribute('data-v'), y = b.cells[col].getAttribute('data-v');
        if (x === '' || y === '') return (x === '') - (y === '');
        var nx = parseFloat(x), ny = parseFloat(y);
        var r = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : x.localeCompare(y);
        return dir * r;
      });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
})();
)";

}  // namespace

std::string HtmlEscape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string ScriptSafeJson(const json& value) {
  const std::string text = value.dump();
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    // These occur only inside JSON strings, where the \u form means the same character.
    switch (c) {
      case '<': out += "\\u003c"; break;
      case '>': out += "\\u003e"; break;
      case '&': out += "\\u0026"; break;
      default: out += c;
    }
  }
  return out;
}

std::string DefaultJsDir() {
  if (const char* env = std::getenv("PFLAB_JS_DIR"); env && *env) return env;
  return PFLAB_JS_DIR;
}

Result<JsLibraries> LoadJsLibraries(const std::string& dir) {
  auto load = [&](const std::string& relative) -> Result<std::string> {
    const std::string path = dir + "/" + relative;
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      return NotFound(path +
                      ": charting library missing; run `make setup` (it installs reports/js with npm), or "
                      "point --js-dir or $PFLAB_JS_DIR at a node_modules folder holding vega, vega-lite and "
                      "vega-embed");
    }
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    // Inlined scripts end at the first "</script"; a bundle containing it cannot be inlined as is.
    if (text.find("</script") != std::string::npos) return InvalidArgument(path + ": contains '</script'");
    return text;
  };
  JsLibraries js;
  auto vega = load("vega/build/vega.min.js");
  if (!vega) return vega.error();
  auto lite = load("vega-lite/build/vega-lite.min.js");
  if (!lite) return lite.error();
  auto embed = load("vega-embed/build/vega-embed.min.js");
  if (!embed) return embed.error();
  js.vega = std::move(*vega);
  js.vega_lite = std::move(*lite);
  js.vega_embed = std::move(*embed);
  return js;
}

std::vector<ChartSpec> BuildCharts(const ResultsDocument& doc) {
  const Palette palette = MakePalette(doc.runs);
  std::vector<ChartSpec> charts;
  std::size_t trace_index = 0;
  for (const auto& trace : TracesInOrder(doc.runs)) {
    std::vector<std::size_t> group;
    bool has_quantiles = false;
    for (std::size_t i = 0; i < doc.runs.size(); ++i) {
      if (doc.runs[i].trace != trace) continue;
      group.push_back(i);
      has_quantiles |= i < doc.details.size() && !doc.details[i].latency_quantiles_s.empty();
    }
    const std::string prefix = "chart-t" + std::to_string(trace_index++) + "-";
    charts.push_back({prefix + "bars", "Trace: " + trace, false, BarsSpec(trace, group, doc, palette)});
    if (has_quantiles) {
      std::vector<std::size_t> with;
      for (std::size_t i : group) {
        if (i < doc.details.size() && !doc.details[i].latency_quantiles_s.empty()) with.push_back(i);
      }
      charts.push_back({prefix + "cdf", "Trace: " + trace, false, CdfSpec(trace, with, doc, palette)});
    }
    charts.push_back({prefix + "pareto", "Trace: " + trace, false, ParetoSpec(trace, group, doc, palette)});
  }
  std::size_t timeline_index = 0;
  for (const auto& d : doc.details) {
    if (!d.timeline) continue;
    charts.push_back({"chart-timeline-" + std::to_string(timeline_index++), "Timeline of one run", true,
                      TimelineSpec(*d.timeline, palette)});
  }
  return charts;
}

std::string RenderHtml(const ResultsDocument& doc, const std::string& title, const JsLibraries& js) {
  const Palette palette = MakePalette(doc.runs);
  const std::vector<ChartSpec> charts = BuildCharts(doc);
  std::ostringstream out;
  out << "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>" << HtmlEscape(title)
      << "</title>\n<style>" << kStyle << "</style>\n</head>\n"
      << "<body data-pflab-status=\"loading\" data-pflab-errors=\"0\">\n"
      << "<pre id=\"pflab-errors\" hidden></pre>\n<script>" << kErrorScript << "</script>\n";
  out << "<h1>" << HtmlEscape(title) << "</h1>\n<p class=\"meta\">Profile <code>"
      << HtmlEscape(ConfigValue(doc.config, "profile")) << "</code>, transport <code>"
      << HtmlEscape(ConfigValue(doc.config, "transport")) << "</code>, seed "
      << HtmlEscape(ConfigValue(doc.config, "seed")) << ", think time " << HtmlEscape(ConfigValue(doc.config, "think"))
      << ". " << doc.runs.size()
      << " runs. MB = 10<sup>6</sup> bytes. <code>vs none</code> is elapsed time relative to the <code>none</code> "
         "policy of the same trace (lower is better). Click a column header to sort.</p>\n";
  out << "<h2>Summary</h2>\n";
  WriteTable(out, doc, palette);
  std::string section;
  for (const auto& chart : charts) {
    if (chart.section != section) {
      section = chart.section;
      out << "<h2>" << HtmlEscape(section) << "</h2>\n";
      if (chart.timeline) {
        out << "<p class=\"meta\">Application reads (black boxes, from request to delivery, spanning the bytes "
               "asked for) and backend GETs (coloured by outcome) over time.</p>\n";
      }
    }
    out << "<div class=\"pflab-chart\" id=\"" << chart.id << "\" data-pflab-chart=\"pending\"></div>\n";
  }
  json chart_list = json::array();
  for (const auto& chart : charts) chart_list.push_back({{"id", chart.id}, {"spec", chart.spec}});
  out << "<script type=\"application/json\" id=\"pflab-charts\">" << ScriptSafeJson(chart_list) << "</script>\n";
  out << "<script>" << js.vega << "</script>\n<script>" << js.vega_lite << "</script>\n<script>" << js.vega_embed
      << "</script>\n";
  out << "<script>" << kMainScript << "</script>\n</body>\n</html>\n";
  return out.str();
}

}  // namespace pflab::reports
