#include "cli/diff.h"

#include <charconv>
#include <fstream>
#include <iostream>

#include "reports/diff.h"

namespace {

int Fail(const std::string& message) {
  std::cerr << "pflab diff: " << message << "\n";
  return 1;
}

pflab::Result<pflab::reports::ResultsDocument> Load(const std::string& path) {
  std::ifstream in(path);
  if (!in) return pflab::NotFound(path + ": cannot read");
  nlohmann::json json = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) return pflab::InvalidArgument(path + ": not valid JSON");
  return pflab::reports::ReadResultsDocument(json, path);
}

// "5%", "0.05" or "5 %": a fraction.
pflab::Result<double> ParseThreshold(std::string text) {
  while (!text.empty() && text.back() == ' ') text.pop_back();
  const bool percent = !text.empty() && text.back() == '%';
  if (percent) text.pop_back();
  double value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || ptr != text.data() + text.size() || value < 0) {
    return pflab::InvalidArgument("--threshold: expected a non-negative number or percentage, e.g. 5% or 0.05");
  }
  return percent ? value / 100 : value;
}

}  // namespace

CLI::App* AddDiffCommand(CLI::App& app, DiffArgs& args) {
  auto* cmd = app.add_subcommand(
      "diff",
      "compare two results JSON files (compare --json or sweep --json): per trace and policy, the change "
      "and whether the seeds make it significant; exits 3 on a regression beyond --threshold");
  cmd->add_option("base", args.base, "results JSON before the change")->required();
  cmd->add_option("new", args.now, "results JSON after the change")->required();
  cmd->add_option("--threshold", args.threshold,
                  "a policy whose median elapsed grew by more than this (and significantly, where the seeds allow "
                  "the test) is a regression")
      ->capture_default_str();
  cmd->add_option("--alpha", args.alpha, "level of the two-sided Mann-Whitney U test")->capture_default_str();
  cmd->add_option("--md", args.md, "also write the comparison as Markdown here");
  return cmd;
}

int RunDiff(const DiffArgs& args) {
  auto threshold = ParseThreshold(args.threshold);
  if (!threshold) return Fail(threshold.error().message);
  if (!(args.alpha > 0 && args.alpha < 1)) return Fail("--alpha: expected a level between 0 and 1");
  auto base = Load(args.base);
  if (!base) return Fail(base.error().message);
  auto now = Load(args.now);
  if (!now) return Fail(now.error().message);
  const pflab::reports::DiffOptions options{*threshold, args.alpha};
  const auto diff = pflab::reports::Diff(*base, *now, options);
  if (diff.rows.empty()) return Fail(pflab::reports::NothingInCommon(*base, *now));
  std::cout << pflab::reports::RenderDiff(diff, options);
  if (!args.md.empty()) {
    std::ofstream out(args.md, std::ios::binary);
    out << pflab::reports::RenderDiffMarkdown(diff, options);
    out.close();
    if (!out) return Fail(args.md + ": cannot write");
  }
  return diff.regressions ? kDiffRegressionExit : 0;
}
