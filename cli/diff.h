// `pflab diff BASE.json NEW.json`: per trace and policy, what changed between two results documents,
// whether it is significant over the seeds, and an exit status a CI job can gate on (reports/diff.h).
#pragma once

#include <CLI/CLI.hpp>
#include <string>

struct DiffArgs {
  std::string base;
  std::string now;
  std::string threshold = "5%";
  double alpha = 0.05;
  std::string md;
};

/// Exit status when a regression beyond the threshold was found.
inline constexpr int kDiffRegressionExit = 3;

CLI::App* AddDiffCommand(CLI::App& app, DiffArgs& args);
int RunDiff(const DiffArgs& args);
