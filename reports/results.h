// Comparison results: the schema-versioned JSON document, and its Markdown and console renderings.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "replay/simulation.h"
#include "reports/run_details.h"

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

/// As above, plus each run's optional details (`details` is empty or parallel to `runs`): per run
/// "latency_quantiles_s" (kLatencyQuantiles values), and a top-level "timelines" array for the runs that
/// recorded one. Both are optional, so older readers and documents keep working (schema stays 1).
nlohmann::json ResultsToJson(const std::vector<replay::RunResult>& runs, const nlohmann::json& config,
                             const std::vector<RunDetails>& details);

/// Reads a results document back (for `pflab report`); errors name the file and the field.
Result<std::vector<replay::RunResult>> ResultsFromJson(const nlohmann::json& doc, const std::string& path);

/// A whole results document: runs, their details (parallel to runs) and the config it was made with.
struct ResultsDocument {
  std::vector<replay::RunResult> runs;
  std::vector<RunDetails> details;
  nlohmann::json config;
};

/// Reads everything `ResultsToJson` writes; the optional fields may be absent.
Result<ResultsDocument> ReadResultsDocument(const nlohmann::json& doc, const std::string& path);

/// A Markdown report: one table per trace, ratios to the baseline.
std::string RenderMarkdown(const std::vector<replay::RunResult>& runs, const std::string& title);

/// A fixed-width console table per trace.
std::string RenderConsole(const std::vector<replay::RunResult>& runs);

}  // namespace pflab::reports
