// The self-contained HTML report: a sortable summary table and Vega-Lite charts (bars per metric, read
// latency CDFs, elapsed-vs-fetched Pareto charts, a timeline of one run), with the charting libraries
// and the data inlined so the file opens offline.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "engine/result.h"
#include "reports/results.h"

namespace pflab::reports {

/// The minified browser bundles of vega, vega-lite and vega-embed (reports/js, installed by the setup step).
struct JsLibraries {
  std::string vega;
  std::string vega_lite;
  std::string vega_embed;
};

/// The bundles built into the binary (from reports/js/node_modules when the build was configured), so
/// an installed or copied pflab writes reports anywhere; an error that says how to get them when that
/// folder lacked them.
Result<JsLibraries> BuiltInJsLibraries();

/// Reads the three bundles from `dir` (a node_modules folder); a missing one says to run `make setup`.
Result<JsLibraries> LoadJsLibraries(const std::string& dir);

/// The bundles for a report: from `dir` when not empty (--js-dir), else from $PFLAB_JS_DIR when set,
/// else the built-in ones.
Result<JsLibraries> FindJsLibraries(const std::string& dir);

/// One chart of the report: the element id, the page section it belongs to, and its Vega-Lite spec
/// (data inlined).
struct ChartSpec {
  std::string id;
  std::string section;
  bool timeline = false;
  nlohmann::json spec;
};

/// The charts for `doc`, in page order: per trace bars, CDF (when quantiles exist) and Pareto; then a
/// timeline per run that recorded one. Every chart colours a policy the same way.
std::vector<ChartSpec> BuildCharts(const ResultsDocument& doc);

/// The whole page. The page records its own rendering for tests: each chart element's
/// `data-pflab-chart` becomes "rendered" (it holds an svg) or "failed", script errors go into
/// `#pflab-errors` and `data-pflab-errors` on <body>, and `data-pflab-status` becomes "done" at the end.
std::string RenderHtml(const ResultsDocument& doc, const std::string& title, const JsLibraries& js);

/// Escapes &, <, >, " and ' for HTML text and attribute values.
std::string HtmlEscape(std::string_view text);

/// JSON text safe inside a <script> element: '<', '>' and '&' become \u escapes.
std::string ScriptSafeJson(const nlohmann::json& value);

}  // namespace pflab::reports
