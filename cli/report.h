// `pflab report`: renders a results JSON (from `pflab compare --json`) as HTML and/or Markdown; and the
// HTML writer `pflab compare --html` shares.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "engine/result.h"
#include "reports/results.h"

struct ReportArgs {
  std::string results;
  std::string html;
  std::string md;
  std::string js_dir;  // empty: $PFLAB_JS_DIR, else the built-in libraries (reports::FindJsLibraries)
  std::string title = "Prefetch policy comparison";
};

CLI::App* AddReportCommand(CLI::App& app, ReportArgs& args);
/// Writes the requested reports; with neither --html nor --md prints the console tables.
int RunReport(const ReportArgs& args);

/// Renders `doc` as a self-contained HTML file at `path`, with the libraries from `js_dir` (empty: default).
pflab::Status WriteHtmlReport(const pflab::reports::ResultsDocument& doc, const std::string& title,
                              const std::string& js_dir, const std::string& path);
