// Comparison results: the schema-versioned JSON document, and its Markdown and console renderings.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "replay/simulation.h"

namespace pflab::reports {

/// Version of the results JSON; bump on any incompatible change.
inline constexpr int kResultsSchema = 1;

/// The policy every table is compared against.
inline constexpr const char* kBaselinePolicy = "none";
/// The bound every report shows policies against when it ran (policies/oracle.h).
inline constexpr const char* kOraclePolicy = "oracle";

/// Builds `{"schema": 1, "runs": [...], ...}`. `runs` holds only deterministic fields; host timings go
/// in a separate "timing" array so two runs with the same inputs give identical "runs".
nlohmann::json ResultsToJson(const std::vector<replay::RunResult>& runs, const nlohmann::json& config);

/// Reads a results document back (for `pflab report`); errors name the file and the field.
Result<std::vector<replay::RunResult>> ResultsFromJson(const nlohmann::json& doc, const std::string& path);

/// A Markdown report: one table per trace, ratios to the baseline.
std::string RenderMarkdown(const std::vector<replay::RunResult>& runs, const std::string& title);

/// A fixed-width console table per trace.
std::string RenderConsole(const std::vector<replay::RunResult>& runs);

}  // namespace pflab::reports
