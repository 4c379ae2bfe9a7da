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

/// Reads everything `ResultsToJson` writes; the optional fields may be absent. Errors name the file
/// and the field's path, e.g. "r.json: runs[2].metrics.elapsed_s: expected a number, got a string".
Result<ResultsDocument> ReadResultsDocument(const nlohmann::json& doc, const std::string& path);

/// Largest results file `ReadResultsFile` reads (compare's are kilobytes; timelines keep a few
/// thousand points), and the deepest JSON nesting it accepts (results need 4 levels).
inline constexpr std::uint64_t kMaxResultsFileBytes = std::uint64_t{1} << 30;
inline constexpr int kMaxResultsJsonDepth = 64;

/// Reads a results file and then ReadResultsDocument. Text that is not JSON is an error naming the
/// line and column ("r.json:12:5: not valid JSON at '...'"), a file that ends early says so, and
/// files that are not regular, are too large or too deep are refused before parsing.
Result<ResultsDocument> ReadResultsFile(const std::string& path);

/// A Markdown report: one table per trace, ratios to the baseline.
std::string RenderMarkdown(const std::vector<replay::RunResult>& runs, const std::string& title);

/// A fixed-width console table per trace.
std::string RenderConsole(const std::vector<replay::RunResult>& runs);

}  // namespace pflab::reports
