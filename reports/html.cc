#include "reports/html.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iterator>
#include <set>
#include <sstream>
#include <string_view>
#include <utility>

namespace pflab::embedded {
// reports/js/node_modules' three bundles, written into a generated source file at build time
// (tools/embed_file.cc); empty when the build was configured without them.
extern const std::string_view kVegaJs, kVegaLiteJs, kVegaEmbedJs;
}  // namespace pflab::embedded

#include "engine/text.h"
#include "engine/units.h"
#include "replay/bound.h"
#include "reports/summary.h"

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

// The bound is drawn as a line, never as a policy, so it has no place in the colour scale.
constexpr const char* kBoundColour = "#c0392b";

Palette MakePalette(const std::vector<replay::RunResult>& runs) {
  Palette p;
  std::size_t next = 0;
  for (const auto& run : runs) {
    if (run.policy == replay::kBoundPolicy) continue;
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

std::string ColourOf(const Palette& palette, const std::string& policy) {
  if (policy == replay::kBoundPolicy) return kBoundColour;
  const auto it = std::find(palette.policies.begin(), palette.policies.end(), policy);
  return it == palette.policies.end() ? kPalette[0]
                                      : palette.colours[static_cast<std::size_t>(it - palette.policies.begin())];
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

// Bars of every metric per policy (medians over seeds), with the bound as a red rule on the metrics it
// bounds (elapsed and bytes fetched).
json BarsSpec(const TraceSummary& t, const Palette& palette) {
  json values = json::array();
  json order = json::array();
  json policies_here = json::array();
  for (const auto& c : t.cells) {
    if (c.policy != replay::kBoundPolicy) policies_here.push_back(c.policy);
  }
  const PolicyCell* bound = t.bound();
  for (const auto& metric : BarMetrics()) {
    order.push_back(metric.label);
    for (const auto& c : t.cells) {
      if (c.policy == replay::kBoundPolicy) continue;
      values.push_back(
          {{"kind", "policy"}, {"policy", c.policy}, {"metric", metric.label}, {"value", metric.value(c.median)}});
    }
    const std::string label = metric.label;
    if (bound && (label == "elapsed (s)" || label == "fetched (MB)")) {
      values.push_back({{"kind", "bound"},
                        {"policy", replay::kBoundPolicy},
                        {"metric", metric.label},
                        {"value", metric.value(bound->median)}});
    }
  }
  json bars = {{"transform", {{{"filter", "datum.kind === 'policy'"}}}},
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
  json rule = {
      {"transform", {{{"filter", "datum.kind === 'bound'"}}}},
      {"mark",
       {{"type", "rule"}, {"color", kBoundColour}, {"strokeWidth", 2}, {"strokeDash", {5, 3}}, {"tooltip", true}}},
      {"encoding", {{"x", {{"field", "value"}, {"type", "quantitative"}}}}}};
  json inner = {
      {"width", 230}, {"height", std::max<std::size_t>(60, 18 * policies_here.size())}, {"layer", {bars, rule}}};
  std::string subtitle = bound ? "red dashed line: the lower bound (no policy can go below it)" : "";
  if (t.seeds.size() > 1) {
    subtitle += std::string(subtitle.empty() ? "" : "; ") + "medians over " + std::to_string(t.seeds.size()) + " seeds";
  }
  json title = {{"text", "Metrics per policy: " + t.label}};
  if (!subtitle.empty()) title["subtitle"] = subtitle;
  return {{"$schema", kSchema},
          {"title", title},
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
             const Palette& palette, const std::string& subtitle) {
  json values = json::array();
  for (std::size_t i : group) {
    const auto& q = doc.details[i].latency_quantiles_s;
    for (std::size_t k = 0; k < q.size(); ++k) {
      values.push_back({{"policy", doc.runs[i].policy},
                        {"latency_ms", q[k] * 1e3},
                        {"fraction", static_cast<double>(k) / static_cast<double>(q.size() - 1)}});
    }
  }
  json title = {{"text", "Read latency CDF: " + trace}};
  if (!subtitle.empty()) title["subtitle"] = subtitle;
  return {{"$schema", kSchema},
          {"title", title},
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

// Elapsed against bytes fetched (medians over seeds), the frontier of policies no other beats on both,
// and the bound as red rules: no policy can be below its elapsed or left of its bytes.
json ParetoSpec(const TraceSummary& t, const Palette& palette) {
  json values = json::array();
  std::vector<const PolicyCell*> cells;
  for (const auto& c : t.cells) {
    if (c.policy != replay::kBoundPolicy) cells.push_back(&c);
  }
  for (const PolicyCell* c : cells) {
    const auto& m = c->median;
    bool dominated = false;
    for (const PolicyCell* other : cells) {
      const auto& o = other->median;
      const bool no_worse = o.bytes_fetched <= m.bytes_fetched && o.elapsed_s <= m.elapsed_s;
      const bool better = o.bytes_fetched < m.bytes_fetched || o.elapsed_s < m.elapsed_s;
      dominated |= no_worse && better;
    }
    values.push_back({{"policy", c->policy},
                      {"fetched_mb", static_cast<double>(m.bytes_fetched) / kMB},
                      {"elapsed_s", m.elapsed_s},
                      {"frontier", !dominated}});
  }
  // Both axes from zero: policies often tie on bytes fetched, and a zoomed axis would exaggerate gaps.
  // The domains are fixed here (not left to Vega-Lite's "nice" rounding) so the labels can be placed
  // in pixels below.
  const PolicyCell* bound = t.bound();
  double x_max = 0, y_max = 0;
  for (const auto& v : values) {
    x_max = std::max(x_max, v["fetched_mb"].get<double>());
    y_max = std::max(y_max, v["elapsed_s"].get<double>());
  }
  if (bound) {
    x_max = std::max(x_max, static_cast<double>(bound->median.bytes_fetched) / kMB);
    y_max = std::max(y_max, bound->median.elapsed_s);
  }
  x_max = x_max > 0 ? x_max * 1.08 : 1;
  y_max = y_max > 0 ? y_max * 1.08 : 1;
  const json x = {{"field", "fetched_mb"},
                  {"type", "quantitative"},
                  {"title", "bytes fetched from the backend (MB)"},
                  {"scale", {{"domain", {0, x_max}}, {"nice", false}}},
                  {"axis", {{"format", ",.4~r"}}}};
  const json y = {{"field", "elapsed_s"},
                  {"type", "quantitative"},
                  {"title", "elapsed (s)"},
                  {"scale", {{"domain", {0, y_max}}, {"nice", false}}}};
  json frontier = {{"transform", {{{"filter", "datum.frontier"}}}},
                   {"mark", {{"type", "line"}, {"color", "#999999"}, {"strokeDash", {4, 3}}}},
                   {"encoding", {{"x", x}, {"y", y}, {"order", {{"field", "fetched_mb"}}}}}};
  json points = {{"mark", {{"type", "point"}, {"filled", true}, {"size", 110}, {"tooltip", true}}},
                 {"encoding", {{"x", x}, {"y", y}, {"color", PolicyColour(palette, true)}}}};
  // Labels: policies often share a point (the same bytes, nearly the same time), so each label is
  // moved up or down in whole lines until it overlaps no label placed before it (nor the bound's).
  constexpr double kWidth = 640, kHeight = 320, kLine = 12, kCharWidth = 6.2, kDx = 8;
  struct Box {
    double x0, x1, y0, y1;
    bool Overlaps(const Box& o) const { return x0 < o.x1 && o.x0 < x1 && y0 < o.y1 && o.y0 < y1; }
  };
  std::vector<Box> placed;
  if (bound) {
    const double py = kHeight - bound->median.elapsed_s / y_max * kHeight;
    placed.push_back({kWidth - 40, kWidth, py - 15, py - 1});
  }
  std::vector<std::size_t> order(values.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  // Top to bottom on the screen, left to right among equals, so the result does not depend on run order.
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    const double ya = values[a]["elapsed_s"].get<double>(), yb = values[b]["elapsed_s"].get<double>();
    if (ya != yb) return ya > yb;
    return values[a]["fetched_mb"].get<double>() < values[b]["fetched_mb"].get<double>();
  });
  json labels_data = json::array();
  for (std::size_t i : order) {
    const double px = values[i]["fetched_mb"].get<double>() / x_max * kWidth;
    const double py = kHeight - values[i]["elapsed_s"].get<double>() / y_max * kHeight;
    const double w = kCharWidth * static_cast<double>(values[i]["policy"].get<std::string>().size());
    double shift = 0;
    for (int step = 0; step <= 16; ++step) {
      const double candidate = (step % 2 ? 1 : -1) * kLine * ((step + 1) / 2);  // 0, +12, -12, +24, ...
      const Box box{px + kDx, px + kDx + w, py + candidate - kLine / 2, py + candidate + kLine / 2};
      if (std::none_of(placed.begin(), placed.end(), [&](const Box& o) { return box.Overlaps(o); })) {
        shift = candidate;
        break;
      }
    }
    placed.push_back({px + kDx, px + kDx + w, py + shift - kLine / 2, py + shift + kLine / 2});
    labels_data.push_back({{"policy", values[i]["policy"]},
                           {"fetched_mb", values[i]["fetched_mb"]},
                           {"elapsed_s", values[i]["elapsed_s"].get<double>() - shift / kHeight * y_max}});
  }
  json labels = {{"data", {{"values", labels_data}}},
                 {"mark", {{"type", "text"}, {"align", "left"}, {"baseline", "middle"}, {"dx", kDx}, {"fontSize", 10}}},
                 {"encoding", {{"x", x}, {"y", y}, {"text", {{"field", "policy"}}}}}};
  json layers = {frontier, points, labels};
  std::string subtitle = "lower left is better; the dashed grey line joins the policies no other beats on both";
  if (bound) {
    const double bound_s = bound->median.elapsed_s;
    const double bound_mb = static_cast<double>(bound->median.bytes_fetched) / kMB;
    const json rule_mark = {{"type", "rule"}, {"color", kBoundColour}, {"strokeWidth", 2}, {"strokeDash", {5, 3}}};
    layers.push_back({{"data", {{"values", {{{"elapsed_s", bound_s}, {"label", "bound"}}}}}},
                      {"mark", rule_mark},
                      {"encoding", {{"y", y}}}});
    layers.push_back(
        {{"data", {{"values", {{{"fetched_mb", bound_mb}}}}}}, {"mark", rule_mark}, {"encoding", {{"x", x}}}});
    layers.push_back({{"data", {{"values", {{{"elapsed_s", bound_s}, {"label", "bound"}}}}}},
                      {"mark",
                       {{"type", "text"},
                        {"align", "right"},
                        {"baseline", "bottom"},
                        {"dy", -3},
                        {"color", kBoundColour},
                        {"fontSize", 10},
                        {"x", {{"expr", "width"}}}}},
                      {"encoding", {{"y", y}, {"text", {{"field", "label"}}}}}});
    subtitle += "; red dashed lines: the lower bound on elapsed time and on bytes fetched";
  }
  if (t.seeds.size() > 1) subtitle += "; medians over " + std::to_string(t.seeds.size()) + " seeds";
  return {{"$schema", kSchema},
          {"title", {{"text", "Elapsed time vs bytes fetched: " + t.label}, {"subtitle", subtitle}}},
          {"width", 640},
          {"height", 320},
          {"data", {{"values", values}}},
          {"layer", layers}};
}

json TimelineSpec(const Timeline& t, const Palette& palette) {
  const std::string done_colour = ColourOf(palette, t.policy);
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

std::string ConfigValue(const json& config, const char* key) {
  if (!config.is_object() || !config.contains(key)) return "?";
  const json& v = config[key];
  return v.is_string() ? v.get<std::string>() : v.dump();
}

// Every run, one row each (the reference tables above summarize them).
void WriteTable(std::ostringstream& out, const ResultsDocument& doc, const Palette& palette) {
  bool with_oracle = false, with_bound = false;
  for (const auto& run : doc.runs) {
    with_oracle |= run.policy == kOraclePolicy;
    with_bound |= run.policy == replay::kBoundPolicy;
  }
  std::vector<std::string> header = {"trace",    "policy",  "elapsed s",  "vs none",      "stall s",
                                     "p50 ms",   "p99 ms",  "fetched MB", "fetched/read", "wasted MB",
                                     "requests", "peak MB", "cost $"};
  std::size_t at = 4;
  if (with_oracle) header.insert(header.begin() + static_cast<std::ptrdiff_t>(at++), "vs oracle");
  if (with_bound) header.insert(header.begin() + static_cast<std::ptrdiff_t>(at++), "vs bound");
  bool multi_seed = false;
  for (const auto& run : doc.runs) multi_seed |= run.seed != doc.runs.front().seed;
  if (multi_seed) header.insert(header.begin() + 2, "seed");
  out << "<div class=\"table-wrap\"><table id=\"summary\" class=\"sortable\">\n<thead><tr>";
  for (std::size_t i = 0; i < header.size(); ++i) {
    out << "<th data-col=\"" << i << "\" title=\"click to sort\">" << HtmlEscape(header[i]) << "</th>";
  }
  out << "</tr></thead>\n<tbody>\n";
  auto elapsed_of = [&](const replay::RunResult& of, const char* policy) -> double {
    for (const auto& r : doc.runs) {
      if (r.trace == of.trace && r.profile == of.profile && r.think == of.think && r.seed == of.seed &&
          r.policy == policy) {
        return r.metrics.elapsed_s;
      }
    }
    return 0;
  };
  for (const auto& run : doc.runs) {
    const auto& m = run.metrics;
    const bool bound = run.policy == replay::kBoundPolicy;
    auto num = [&](double v, int digits, const std::string& suffix = "") {
      out << "<td class=\"num\" data-v=\"" << FormatFixed(v, 9) << "\">" << FormatFixed(v, digits) << suffix << "</td>";
    };
    auto blank = [&] { out << "<td class=\"num\" data-v=\"\">-</td>"; };
    auto ratio = [&](double base) {
      if (base > 0) {
        num(m.elapsed_s / base, 2, "x");
      } else {
        blank();
      }
    };
    out << "<tr><td data-v=\"" << HtmlEscape(run.trace) << "\">" << HtmlEscape(run.trace) << "</td>";
    out << "<td data-v=\"" << HtmlEscape(run.policy)
        << "\"><span class=\"swatch\" style=\"background:" << ColourOf(palette, run.policy) << "\"></span><code>"
        << HtmlEscape(run.policy) << "</code>";
    if (m.reads_failed) out << " <strong>(" << m.reads_failed << " reads failed)</strong>";
    if (m.bytes_refetched) out << " (refetched " << FormatSize(m.bytes_refetched) << ": memory budget)";
    out << "</td>";
    if (multi_seed) num(static_cast<double>(run.seed), 0);
    num(m.elapsed_s, 3);
    ratio(elapsed_of(run, kBaselinePolicy));
    if (with_oracle) ratio(elapsed_of(run, kOraclePolicy));
    if (with_bound) ratio(elapsed_of(run, replay::kBoundPolicy));
    if (bound) {
      blank();
      blank();
      blank();
    } else {
      num(m.stall_s, 3);
      num(m.read_latency_p50_s * 1e3, 2);
      num(m.read_latency_p99_s * 1e3, 2);
    }
    num(static_cast<double>(m.bytes_fetched) / kMB, 1);
    if (m.bytes_read) {
      num(static_cast<double>(m.bytes_fetched) / static_cast<double>(m.bytes_read), 2);
    } else {
      blank();
    }
    if (bound) {
      for (int i = 0; i < 4; ++i) blank();
    } else {
      num(static_cast<double>(m.bytes_wasted) / kMB, 1);
      num(static_cast<double>(m.requests), 0);
      num(static_cast<double>(m.peak_memory_bytes) / kMB, 1);
      num(m.cost_usd, 6);
    }
    out << "</tr>\n";
  }
  out << "</tbody></table></div>\n";
}

// A heatmap cell's colour for elapsed relative to the bound: light at 1x (the bound itself), darker
// on a log scale up to 300x and beyond (policies commonly sit 2x to 200x above the bound, so a shorter
// scale would paint most of the map the same dark red). Text turns white where the fill gets dark.
struct HeatColour {
  std::string fill;
  bool dark = false;
};

HeatColour Heat(double ratio) {
  // Stops of a yellow-orange-red sequential scale (ColorBrewer YlOrRd), at log30(ratio) = 0, 1/4, ..., 1.
  static constexpr int kStops[][3] = {{255, 255, 204}, {254, 217, 118}, {253, 141, 60}, {227, 26, 28}, {128, 0, 38}};
  const double t = std::clamp(std::log(std::max(ratio, 1.0)) / std::log(300.0), 0.0, 1.0) * 4;
  const int i = std::min(3, static_cast<int>(t));
  const double f = t - i;
  char buf[16];
  int rgb[3];
  for (int k = 0; k < 3; ++k)
    rgb[k] = static_cast<int>(std::lround(kStops[i][k] + f * (kStops[i + 1][k] - kStops[i][k])));
  std::snprintf(buf, sizeof buf, "#%02x%02x%02x", rgb[0], rgb[1], rgb[2]);
  return {buf, t > 2.6};
}

// Three significant digits at most, so the cells stay narrow: 1.23, 12.3, 123.
std::string HeatText(double ratio) {
  return FormatFixed(ratio, ratio < 10 ? 2 : ratio < 100 ? 1 : 0);
}

// The overview: traces x policies coloured by elapsed relative to the bound (medians over seeds), the
// winner (outlined) and runner-up (underlined) of each trace, and each policy's geometric mean.
void WriteOverview(std::ostringstream& out, const std::vector<TraceSummary>& traces, const Palette& palette) {
  std::vector<std::string> policies;
  for (const auto& t : traces) {
    for (const auto& c : t.cells) {
      if (c.policy != replay::kBoundPolicy && std::find(policies.begin(), policies.end(), c.policy) == policies.end()) {
        policies.push_back(c.policy);
      }
    }
  }
  const auto overview = Overview(traces);
  out << "<div class=\"table-wrap\"><table id=\"overview\" class=\"sortable heatmap\">\n<thead><tr>"
      << "<th data-col=\"0\" class=\"text\" title=\"click to sort\">trace</th>"
      << "<th data-col=\"1\" title=\"click to sort\">bound s</th>";
  std::size_t col = 2;
  for (const auto& p : policies) {
    out << "<th data-col=\"" << col++ << "\" class=\"policy\" title=\"" << HtmlEscape(p)
        << ": click to sort\"><div><span class=\"swatch\" style=\"background:" << ColourOf(palette, p) << "\"></span>"
        << HtmlEscape(p) << "</div></th>";
  }
  out << "</tr></thead>\n<tbody>\n";
  for (const auto& t : traces) {
    const PolicyCell* bound = t.bound();
    out << "<tr><td data-v=\"" << HtmlEscape(t.label) << "\">" << HtmlEscape(t.label) << "</td>";
    if (bound) {
      out << "<td class=\"num\" data-v=\"" << FormatFixed(bound->elapsed_median, 9) << "\">"
          << FormatFixed(bound->elapsed_median, 3) << "</td>";
    } else {
      out << "<td class=\"num\" data-v=\"\">-</td>";
    }
    for (const auto& p : policies) {
      const PolicyCell* c = t.Find(p);
      if (!c || !c->vs_bound) {
        out << "<td class=\"num heat\" data-v=\"\">" << (c ? FormatFixed(c->elapsed_median, 2) + "s" : "") << "</td>";
        continue;
      }
      const HeatColour heat = Heat(*c->vs_bound);
      const bool winner = t.winner >= 0 && &t.cells[static_cast<std::size_t>(t.winner)] == c;
      const bool runner_up = t.runner_up >= 0 && &t.cells[static_cast<std::size_t>(t.runner_up)] == c;
      out << "<td class=\"num heat" << (winner ? " winner" : "") << (runner_up ? " runner-up" : "")
          << (heat.dark ? " dark" : "") << "\" style=\"background:" << heat.fill << "\" data-v=\""
          << FormatFixed(*c->vs_bound, 9) << "\" title=\"" << HtmlEscape(p) << ": " << FormatFixed(c->elapsed_median, 3)
          << " s"
          << (t.seeds.size() > 1
                  ? " (median; " + FormatFixed(c->elapsed_min, 3) + ".." + FormatFixed(c->elapsed_max, 3) + ")"
                  : "")
          << "\">" << HeatText(*c->vs_bound) << "</td>";
    }
    out << "</tr>\n";
  }
  out << "</tbody>\n<tfoot><tr><th>geometric mean</th><td></td>";
  for (const auto& p : policies) {
    auto it = std::find_if(overview.begin(), overview.end(), [&](const PolicyOverview& o) { return o.policy == p; });
    if (it == overview.end() || it->traces == 0) {
      out << "<td class=\"num\">-</td>";
      continue;
    }
    const HeatColour heat = Heat(it->geomean_vs_bound);
    out << "<td class=\"num heat" << (heat.dark ? " dark" : "") << "\" style=\"background:" << heat.fill
        << "\" title=\"" << HtmlEscape(p) << ": over " << it->traces << " traces, " << it->wins << " won\">"
        << HeatText(it->geomean_vs_bound) << "</td>";
  }
  out << "</tr>\n<tr><th>traces won</th><td></td>";
  for (const auto& p : policies) {
    auto it = std::find_if(overview.begin(), overview.end(), [&](const PolicyOverview& o) { return o.policy == p; });
    out << "<td class=\"num\">" << (it == overview.end() ? 0 : it->wins) << "</td>";
  }
  out << "</tr></tfoot></table></div>\n";
}

// The winner and runner-up of each trace by name, how far each is from the bound, and whether the
// seeds tell them apart.
void WriteWinners(std::ostringstream& out, const std::vector<TraceSummary>& traces, const Palette& palette) {
  const bool seeds =
      std::any_of(traces.begin(), traces.end(), [](const TraceSummary& t) { return t.seeds.size() > 1; });
  std::vector<std::string> header = {"trace", "winner", "x bound", "runner-up", "x bound"};
  if (seeds) header.push_back("told apart");
  out << "<div class=\"table-wrap\"><table id=\"winners\" class=\"sortable\">\n<thead><tr>";
  for (std::size_t i = 0; i < header.size(); ++i) {
    out << "<th data-col=\"" << i << "\" title=\"click to sort\">" << HtmlEscape(header[i]) << "</th>";
  }
  out << "</tr></thead>\n<tbody>\n";
  for (const auto& t : traces) {
    out << "<tr><td data-v=\"" << HtmlEscape(t.label) << "\">" << HtmlEscape(t.label) << "</td>";
    for (int i : {t.winner, t.runner_up}) {
      if (i < 0) {
        out << "<td data-v=\"\">-</td><td class=\"num\" data-v=\"\">-</td>";
        continue;
      }
      const PolicyCell& c = t.cells[static_cast<std::size_t>(i)];
      out << "<td data-v=\"" << HtmlEscape(c.policy)
          << "\"><span class=\"swatch\" style=\"background:" << ColourOf(palette, c.policy) << "\"></span><code>"
          << HtmlEscape(c.policy) << "</code></td>";
      if (c.vs_bound) {
        out << "<td class=\"num\" data-v=\"" << FormatFixed(*c.vs_bound, 9) << "\">" << FormatFixed(*c.vs_bound, 2)
            << "x</td>";
      } else {
        out << "<td class=\"num\" data-v=\"\">-</td>";
      }
    }
    if (seeds) out << "<td data-v=\"" << HtmlEscape(TellApart(t)) << "\">" << HtmlEscape(TellApart(t)) << "</td>";
    out << "</tr>\n";
  }
  out << "</tbody></table></div>\n";
}

// One trace's policies, medians over seeds with the spread, against the references.
void WriteTraceTable(std::ostringstream& out, const TraceSummary& t, const Palette& palette, std::size_t index) {
  const bool multi = t.seeds.size() > 1;
  std::vector<std::string> header = {"policy", "elapsed s"};
  if (multi) header.push_back("min..max s");
  header.push_back("vs none");
  if (t.oracle()) header.push_back("vs oracle");
  if (t.bound()) header.push_back("vs bound");
  for (const char* h : {"fetched MB", "requests", "peak MB"}) header.push_back(h);
  out << "<div class=\"table-wrap\"><table id=\"trace-" << index << "\" class=\"sortable\">\n<thead><tr>";
  for (std::size_t i = 0; i < header.size(); ++i) {
    out << "<th data-col=\"" << i << "\" title=\"click to sort\">" << HtmlEscape(header[i]) << "</th>";
  }
  out << "</tr></thead>\n<tbody>\n";
  for (const auto& c : t.cells) {
    const bool bound = c.policy == replay::kBoundPolicy;
    auto num = [&](double v, int digits, const std::string& suffix = "") {
      out << "<td class=\"num\" data-v=\"" << FormatFixed(v, 9) << "\">" << FormatFixed(v, digits) << suffix << "</td>";
    };
    auto ratio = [&](const std::optional<double>& r) {
      if (r) {
        num(*r, 2, "x");
      } else {
        out << "<td class=\"num\" data-v=\"\">-</td>";
      }
    };
    out << "<tr><td data-v=\"" << HtmlEscape(c.policy)
        << "\"><span class=\"swatch\" style=\"background:" << ColourOf(palette, c.policy) << "\"></span><code>"
        << HtmlEscape(c.policy) << "</code>";
    if (c.reads_failed) out << " <strong>(" << c.reads_failed << " reads failed)</strong>";
    out << "</td>";
    num(c.elapsed_median, 3);
    if (multi) {
      out << "<td class=\"num\" data-v=\"" << FormatFixed(c.elapsed_max - c.elapsed_min, 9) << "\">"
          << FormatFixed(c.elapsed_min, 3) << ".." << FormatFixed(c.elapsed_max, 3) << "</td>";
    }
    ratio(c.vs_none);
    if (t.oracle()) ratio(c.vs_oracle);
    if (t.bound()) ratio(c.vs_bound);
    num(static_cast<double>(c.median.bytes_fetched) / kMB, 1);
    if (bound) {
      out << "<td class=\"num\" data-v=\"\">-</td><td class=\"num\" data-v=\"\">-</td>";
    } else {
      num(static_cast<double>(c.median.requests), 0);
      num(static_cast<double>(c.median.peak_memory_bytes) / kMB, 1);
    }
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
table.heatmap td.heat { min-width: 32px; padding: 3px 2px; text-align: center; font-size: 11px; }
table.heatmap td.dark { color: #fff; }
table.heatmap td.winner { outline: 2px solid #111; outline-offset: -2px; font-weight: bold; }
table.heatmap td.runner-up { text-decoration: underline; }
table.heatmap th.policy { vertical-align: bottom; padding: 4px 2px; }
table.heatmap th.policy div { writing-mode: vertical-rl; transform: rotate(180deg); white-space: nowrap; max-height: 260px; overflow: hidden; text-overflow: ellipsis; text-align: left; font-weight: normal; }
table.heatmap th.policy .swatch { margin: 0 0 4px 0; }
table.heatmap tfoot th { text-align: left; padding: 3px 6px; background: #f0f0f0; white-space: nowrap; }
table.heatmap tfoot td { border-top: 2px solid #ccc; padding: 3px 6px; }
details.all-runs summary { cursor: pointer; font-size: 15px; margin: 12px 0; }
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

  // Click a header to sort its table by it; again to reverse. Numbers sort as numbers, empty cells
  // last; footer rows (the overview's geometric means) stay where they are.
  Array.prototype.forEach.call(document.querySelectorAll('table.sortable'), function (table) {
    var body = table.tBodies[0];
    var heads = table.tHead.rows[0].cells;
    Array.prototype.forEach.call(heads, function (th, col) {
      th.addEventListener('click', function () {
        var dir = th.classList.contains('asc') ? -1 : 1;
        Array.prototype.forEach.call(heads, function (h) { h.classList.remove('asc', 'desc'); });
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
  });
})();
)";

// Inlined scripts end at the first "</script"; a bundle containing it cannot be inlined as is.
Status CheckBundle(const std::string& origin, const std::string& text) {
  if (text.find("</script") != std::string::npos) return InvalidArgument(origin + ": contains '</script'");
  return OkStatus();
}

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

Result<JsLibraries> BuiltInJsLibraries() {
  if (embedded::kVegaJs.empty() || embedded::kVegaLiteJs.empty() || embedded::kVegaEmbedJs.empty()) {
    return NotFound(
        "this pflab was built without the charting libraries (reports/js/node_modules lacked them when the "
        "build was configured); run `make setup` (it installs reports/js with npm) and rebuild, or point "
        "--js-dir or $PFLAB_JS_DIR at a node_modules folder holding vega, vega-lite and vega-embed");
  }
  JsLibraries js{std::string(embedded::kVegaJs), std::string(embedded::kVegaLiteJs),
                 std::string(embedded::kVegaEmbedJs)};
  for (const auto& [name, text] : {std::pair{"built-in vega", &js.vega}, std::pair{"built-in vega-lite", &js.vega_lite},
                                   std::pair{"built-in vega-embed", &js.vega_embed}}) {
    if (auto status = CheckBundle(name, *text); !status) return status.error();
  }
  return js;
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
    if (auto status = CheckBundle(path, text); !status) return status.error();
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

Result<JsLibraries> FindJsLibraries(const std::string& dir) {
  if (!dir.empty()) return LoadJsLibraries(dir);
  if (const char* env = std::getenv("PFLAB_JS_DIR"); env && *env) return LoadJsLibraries(env);
  return BuiltInJsLibraries();
}

std::vector<ChartSpec> BuildCharts(const ResultsDocument& doc) {
  const Palette palette = MakePalette(doc.runs);
  std::vector<ChartSpec> charts;
  std::size_t trace_index = 0;
  for (const auto& t : Summarize(doc.runs)) {
    const std::string prefix = "chart-t" + std::to_string(trace_index++) + "-";
    const std::string section = "Trace: " + t.label;
    charts.push_back({prefix + "bars", section, false, BarsSpec(t, palette)});
    // Latency CDFs of the first seed's runs (a CDF per seed would be unreadable).
    std::vector<std::size_t> with;
    for (std::size_t i = 0; i < doc.runs.size(); ++i) {
      const auto& r = doc.runs[i];
      if (r.trace != t.trace || r.profile != t.profile || r.think != t.think || r.seed != t.seeds.front()) continue;
      if (r.policy == replay::kBoundPolicy) continue;
      if (i < doc.details.size() && !doc.details[i].latency_quantiles_s.empty()) with.push_back(i);
    }
    if (!with.empty()) {
      const std::string subtitle = t.seeds.size() > 1 ? "seed " + std::to_string(t.seeds.front()) : "";
      charts.push_back({prefix + "cdf", section, false, CdfSpec(t.label, with, doc, palette, subtitle)});
    }
    charts.push_back({prefix + "pareto", section, false, ParetoSpec(t, palette)});
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
  const auto traces = Summarize(doc.runs);
  std::set<std::uint64_t> seeds;
  for (const auto& run : doc.runs) seeds.insert(run.seed);
  std::string seed_text = seeds.size() == 1
                              ? "seed " + std::to_string(*seeds.begin())
                              : std::to_string(seeds.size()) + " seeds (" + std::to_string(*seeds.begin()) + ".." +
                                    std::to_string(*seeds.rbegin()) + ")";
  if (seeds.empty()) seed_text = "no runs";
  out << "<h1>" << HtmlEscape(title) << "</h1>\n<p class=\"meta\">Profile <code>"
      << HtmlEscape(ConfigValue(doc.config, "profile")) << "</code>, transport <code>"
      << HtmlEscape(ConfigValue(doc.config, "transport")) << "</code>, " << HtmlEscape(seed_text) << ", think time "
      << HtmlEscape(ConfigValue(doc.config, "think")) << ". " << doc.runs.size()
      << " runs. MB = 10<sup>6</sup> bytes. <code>vs none</code> is elapsed time relative to the <code>none</code> "
         "policy of the same trace and seed (lower is better); <code>vs bound</code> relative to <code>bound</code>, "
         "a proven lower bound under the network model that no policy can beat.";
  if (seeds.size() > 1) {
    out << " With several seeds, numbers are medians over the seeds (ratios are taken per seed), and two policies "
           "are <em>told apart</em> when a two-sided Mann-Whitney U test of their per-seed elapsed times gives p &lt; "
        << kSignificance << ".";
  }
  out << " Click a column header to sort.</p>\n";
  if (doc.config.is_object() && doc.config.contains("provenance")) {
    const json& p = doc.config["provenance"];
    out << "<p class=\"meta\">pflab " << HtmlEscape(p.value("pflab_version", std::string("?"))) << ", commit <code>"
        << HtmlEscape(p.value("commit", std::string("?"))) << "</code>.</p>\n";
  }
  out << "<h2>Overview</h2>\n<p class=\"meta\">Each cell is a policy's elapsed time on a trace relative to the "
         "bound (1.00 would equal it; darker is slower, on a log scale up to 300x). The winner of each trace (the "
         "fastest policy other than the references <code>oracle</code> and <code>bound</code>) is outlined, the "
         "runner-up underlined; the footer gives each policy's geometric mean over the traces.</p>\n";
  WriteOverview(out, traces, palette);
  out << "<h3>Winners</h3>\n";
  WriteWinners(out, traces, palette);
  std::string section;
  std::size_t trace_index = 0;
  for (const auto& chart : charts) {
    if (chart.section != section) {
      section = chart.section;
      out << "<h2>" << HtmlEscape(section) << "</h2>\n";
      if (chart.timeline) {
        out << "<p class=\"meta\">Application reads (black boxes, from request to delivery, spanning the bytes "
               "asked for) and backend GETs (coloured by outcome) over time.</p>\n";
      } else if (trace_index < traces.size()) {
        WriteTraceTable(out, traces[trace_index], palette, trace_index);
        ++trace_index;
      }
    }
    out << "<div class=\"pflab-chart\" id=\"" << chart.id << "\" data-pflab-chart=\"pending\"></div>\n";
  }
  out << "<h2>All runs</h2>\n<details class=\"all-runs\"><summary>Every run, one row each (" << doc.runs.size()
      << " rows)</summary>\n";
  WriteTable(out, doc, palette);
  out << "</details>\n";
  json chart_list = json::array();
  for (const auto& chart : charts) chart_list.push_back({{"id", chart.id}, {"spec", chart.spec}});
  out << "<script type=\"application/json\" id=\"pflab-charts\">" << ScriptSafeJson(chart_list) << "</script>\n";
  out << "<script>" << js.vega << "</script>\n<script>" << js.vega_lite << "</script>\n<script>" << js.vega_embed
      << "</script>\n";
  out << "<script>" << kMainScript << "</script>\n</body>\n</html>\n";
  return out.str();
}

}  // namespace pflab::reports
