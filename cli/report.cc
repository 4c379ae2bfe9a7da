#include "cli/report.h"

#include <fstream>
#include <iostream>

#include "reports/html.h"

namespace {

pflab::Status WriteText(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  out.close();
  if (!out) return pflab::InvalidArgument(path + ": cannot write");
  return pflab::OkStatus();
}

int Fail(const std::string& message) {
  std::cerr << "pflab report: " << message << "\n";
  return 1;
}

}  // namespace

CLI::App* AddReportCommand(CLI::App& app, ReportArgs& args) {
  auto* cmd = app.add_subcommand("report", "render a results JSON (from `compare --json`) as HTML and/or Markdown");
  cmd->add_option("results", args.results, "results JSON file")->required();
  cmd->add_option("--html", args.html, "write a self-contained HTML report with charts here");
  cmd->add_option("--md", args.md, "write a Markdown report here");
  cmd->add_option("--js-dir", args.js_dir,
                  "node_modules folder holding vega, vega-lite and vega-embed (default: $PFLAB_JS_DIR, else the "
                  "copies built into pflab)");
  cmd->add_option("--title", args.title, "report title")->capture_default_str();
  return cmd;
}

pflab::Status WriteHtmlReport(const pflab::reports::ResultsDocument& doc, const std::string& title,
                              const std::string& js_dir, const std::string& path) {
  auto js = pflab::reports::FindJsLibraries(js_dir);
  if (!js) return js.error();
  return WriteText(path, pflab::reports::RenderHtml(doc, title, *js));
}

int RunReport(const ReportArgs& args) {
  auto doc = pflab::reports::ReadResultsFile(args.results);
  if (!doc) return Fail(doc.error().message);
  if (args.html.empty() && args.md.empty()) {
    std::cout << pflab::reports::RenderConsole(doc->runs);
    return 0;
  }
  if (!args.html.empty()) {
    if (auto status = WriteHtmlReport(*doc, args.title, args.js_dir, args.html); !status) {
      return Fail(status.error().message);
    }
  }
  if (!args.md.empty()) {
    if (auto status = WriteText(args.md, pflab::reports::RenderMarkdown(doc->runs, args.title)); !status) {
      return Fail(status.error().message);
    }
  }
  return 0;
}
