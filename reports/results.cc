#include "reports/results.h"

#include <algorithm>
#include <cstdio>
#include <iterator>
#include <map>
#include <sstream>
#include <stdexcept>

#include "engine/units.h"

namespace pflab::reports {
namespace {

// Groups runs by trace, keeping first-seen order.
std::vector<std::pair<std::string, std::vector<const replay::RunResult*>>> ByTrace(
    const std::vector<replay::RunResult>& runs) {
  std::vector<std::pair<std::string, std::vector<const replay::RunResult*>>> groups;
  for (const auto& run : runs) {
    auto it = std::find_if(groups.begin(), groups.end(), [&](const auto& g) { return g.first == run.trace; });
    if (it == groups.end()) {
      groups.push_back({run.trace, {}});
      it = std::prev(groups.end());
    }
    it->second.push_back(&run);
  }
  return groups;
}

const replay::RunResult* Find(const std::vector<const replay::RunResult*>& group, const char* policy) {
  for (const auto* run : group) {
    if (run->policy == policy) return run;
  }
  return nullptr;
}

const replay::RunResult* Baseline(const std::vector<const replay::RunResult*>& group) {
  return Find(group, kBaselinePolicy);
}

std::string Fixed(double value, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, value);
  return buf;
}

std::string Ms(double seconds) {
  return Fixed(seconds * 1000, seconds * 1000 < 10 ? 2 : 1);
}

std::string Ratio(double value, double base) {
  if (base <= 0) return "-";
  return Fixed(value / base, 2) + "x";
}

struct Row {
  std::vector<std::string> cells;
};

// The columns; "vs oracle" only when the group has an oracle run.
std::vector<std::string> Header(bool with_oracle) {
  std::vector<std::string> h = {"policy",       "elapsed s", "vs none",  "stall s",  "p50 ms", "p99 ms",
                                "fetched/read", "wasted",    "requests", "peak mem", "cost $"};
  if (with_oracle) h.insert(h.begin() + 3, "vs oracle");
  return h;
}

std::vector<Row> Rows(const std::vector<const replay::RunResult*>& group) {
  const replay::RunResult* base = Baseline(group);
  const replay::RunResult* oracle = Find(group, kOraclePolicy);
  std::vector<Row> rows;
  for (const auto* run : group) {
    const auto& m = run->metrics;
    Row row;
    row.cells = {
        run->policy,
        Fixed(m.elapsed_s, 3),
        base ? Ratio(m.elapsed_s, base->metrics.elapsed_s) : "-",
        Fixed(m.stall_s, 3),
        Ms(m.read_latency_p50_s),
        Ms(m.read_latency_p99_s),
        m.bytes_read ? Fixed(static_cast<double>(m.bytes_fetched) / static_cast<double>(m.bytes_read), 2) : "-",
        FormatSize(m.bytes_wasted),
        std::to_string(m.requests),
        FormatSize(m.peak_memory_bytes),
        Fixed(m.cost_usd, 6)};
    if (oracle) row.cells.insert(row.cells.begin() + 3, Ratio(m.elapsed_s, oracle->metrics.elapsed_s));
    if (m.reads_failed) row.cells[0] += " (" + std::to_string(m.reads_failed) + " reads failed)";
    if (m.bytes_refetched) row.cells[0] += " (refetched " + FormatSize(m.bytes_refetched) + ": memory budget)";
    rows.push_back(std::move(row));
  }
  return rows;
}

}  // namespace

nlohmann::json ResultsToJson(const std::vector<replay::RunResult>& runs, const nlohmann::json& config) {
  return ResultsToJson(runs, config, {});
}

nlohmann::json ResultsToJson(const std::vector<replay::RunResult>& runs, const nlohmann::json& config,
                             const std::vector<RunDetails>& details) {
  if (!details.empty() && details.size() != runs.size()) throw std::logic_error("details not parallel to runs");
  nlohmann::json out;
  out["schema"] = kResultsSchema;
  out["generator"] = "pflab compare";
  out["config"] = config;
  out["runs"] = nlohmann::json::array();
  out["timing"] = nlohmann::json::array();
  // Elapsed time relative to the baseline and to the oracle of the same trace, where they ran.
  std::map<std::string, double> none_elapsed, oracle_elapsed;
  for (const auto& run : runs) {
    if (run.policy == kBaselinePolicy) none_elapsed[run.trace] = run.metrics.elapsed_s;
    if (run.policy == kOraclePolicy) oracle_elapsed[run.trace] = run.metrics.elapsed_s;
  }
  nlohmann::json timelines = nlohmann::json::array();
  for (std::size_t i = 0; i < runs.size(); ++i) {
    const auto& run = runs[i];
    nlohmann::json ratios = nlohmann::json::object();
    if (auto it = none_elapsed.find(run.trace); it != none_elapsed.end() && it->second > 0) {
      ratios["elapsed_vs_none"] = run.metrics.elapsed_s / it->second;
    }
    if (auto it = oracle_elapsed.find(run.trace); it != oracle_elapsed.end() && it->second > 0) {
      ratios["elapsed_vs_oracle"] = run.metrics.elapsed_s / it->second;
    }
    out["runs"].push_back({{"trace", run.trace},
                           {"policy", run.policy},
                           {"profile", run.profile},
                           {"seed", run.seed},
                           {"think", run.think},
                           {"events", run.events_run},
                           {"metrics", run.metrics.ToJson()},
                           {"ratios", ratios}});
    if (!details.empty()) {
      if (!details[i].latency_quantiles_s.empty()) {
        out["runs"].back()["latency_quantiles_s"] = details[i].latency_quantiles_s;
      }
      if (details[i].timeline) timelines.push_back(details[i].timeline->ToJson());
    }
    const double reads_per_s = run.wall_s > 0 ? static_cast<double>(run.metrics.reads) / run.wall_s : 0;
    out["timing"].push_back(
        {{"trace", run.trace}, {"policy", run.policy}, {"wall_s", run.wall_s}, {"reads_per_s", reads_per_s}});
  }
  if (!timelines.empty()) out["timelines"] = std::move(timelines);
  return out;
}

Result<std::vector<replay::RunResult>> ResultsFromJson(const nlohmann::json& doc, const std::string& path) {
  auto read = ReadResultsDocument(doc, path);
  if (!read) return read.error();
  return std::move(read->runs);
}

Result<ResultsDocument> ReadResultsDocument(const nlohmann::json& doc, const std::string& path) {
  if (!doc.is_object() || !doc.contains("schema")) return InvalidArgument(path + ": not a pflab results file");
  if (doc["schema"] != kResultsSchema) {
    return InvalidArgument(path + ": results schema " + doc["schema"].dump() + " is not supported (expected " +
                           std::to_string(kResultsSchema) + ")");
  }
  ResultsDocument out_doc;
  auto& runs = out_doc.runs;
  try {
    out_doc.config = doc.value("config", nlohmann::json::object());
    for (std::size_t i = 0; i < doc.at("runs").size(); ++i) {
      const auto& r = doc["runs"][i];
      replay::RunResult run;
      run.trace = r.at("trace");
      run.policy = r.at("policy");
      run.profile = r.at("profile");
      run.seed = r.at("seed");
      run.think = r.value("think", "recorded");
      run.events_run = r.value("events", 0ull);
      const auto& m = r.at("metrics");
      auto& out = run.metrics;
      out.elapsed_s = m.at("elapsed_s");
      out.stall_s = m.at("stall_s");
      out.read_latency_p50_s = m.at("read_latency_s").at("p50");
      out.read_latency_p95_s = m.at("read_latency_s").at("p95");
      out.read_latency_p99_s = m.at("read_latency_s").at("p99");
      out.read_latency_max_s = m.at("read_latency_s").at("max");
      out.reads = m.value("reads", 0ull);
      out.reads_failed = m.value("reads_failed", 0ull);
      out.bytes_read = m.at("bytes_read");
      out.bytes_fetched = m.at("bytes_fetched");
      out.bytes_wasted = m.at("bytes_wasted");
      out.requests = m.at("requests");
      out.requests_cancelled = m.at("requests_cancelled");
      out.requests_failed = m.value("requests_failed", 0ull);
      out.retries = m.value("retries", 0ull);
      out.peak_memory_bytes = m.at("peak_memory_bytes");
      out.bytes_refetched = m.value("bytes_refetched", 0ull);
      out.cost_usd = m.at("cost_usd");
      RunDetails details;
      if (r.contains("latency_quantiles_s")) {
        details.latency_quantiles_s = r["latency_quantiles_s"].get<std::vector<double>>();
        if (details.latency_quantiles_s.size() != kLatencyQuantiles) {
          return InvalidArgument(path + ": runs[" + std::to_string(i) + "].latency_quantiles_s has " +
                                 std::to_string(details.latency_quantiles_s.size()) + " values, expected " +
                                 std::to_string(kLatencyQuantiles));
        }
      }
      runs.push_back(std::move(run));
      out_doc.details.push_back(std::move(details));
    }
    if (doc.contains("timelines")) {
      for (std::size_t i = 0; i < doc["timelines"].size(); ++i) {
        const std::string where = path + ": timelines[" + std::to_string(i) + "]";
        auto timeline = Timeline::FromJson(doc["timelines"][i], where);
        if (!timeline) return timeline.error();
        std::size_t k = 0;
        while (k < runs.size() && (runs[k].trace != timeline->trace || runs[k].policy != timeline->policy)) ++k;
        if (k == runs.size()) {
          return InvalidArgument(where + ": no run of trace '" + timeline->trace + "' and policy '" + timeline->policy +
                                 "'");
        }
        out_doc.details[k].timeline = std::move(*timeline);
      }
    }
  } catch (const nlohmann::json::exception& e) {
    return InvalidArgument(path + ": malformed results: " + e.what());
  }
  return out_doc;
}

std::string RenderMarkdown(const std::vector<replay::RunResult>& runs, const std::string& title) {
  std::ostringstream out;
  out << "# " << title << "\n\n";
  if (!runs.empty()) {
    out << "Simulated on profile `" << runs.front().profile << "`, seed " << runs.front().seed << ", think time "
        << runs.front().think << ". `vs none` is elapsed time relative to the `none` policy (lower is better); "
        << "`vs oracle`, where the oracle ran, relative to the policy that knows every future read; "
        << "`fetched/read` is bytes fetched from the backend per byte the application read.\n\n";
  }
  for (const auto& [trace, group] : ByTrace(runs)) {
    const auto& m0 = group.front()->metrics;
    out << "## " << trace << "\n\n"
        << m0.reads << " reads, " << FormatSize(m0.bytes_read) << " read by the application.\n\n";
    const auto header = Header(Find(group, kOraclePolicy) != nullptr);
    out << "|";
    for (const auto& h : header) out << " " << h << " |";
    out << "\n|";
    for (std::size_t i = 0; i < header.size(); ++i) out << (i == 0 ? " --- |" : " ---: |");
    out << "\n";
    for (const auto& row : Rows(group)) {
      out << "|";
      for (std::size_t i = 0; i < row.cells.size(); ++i) {
        out << " " << (i == 0 ? "`" + row.cells[i] + "`" : row.cells[i]) << " |";
      }
      out << "\n";
    }
    out << "\n";
  }
  return out.str();
}

std::string RenderConsole(const std::vector<replay::RunResult>& runs) {
  std::ostringstream out;
  for (const auto& [trace, group] : ByTrace(runs)) {
    const auto rows = Rows(group);
    const auto header = Header(Find(group, kOraclePolicy) != nullptr);
    std::vector<std::size_t> width(header.size());
    for (std::size_t i = 0; i < header.size(); ++i) width[i] = header[i].size();
    for (const auto& row : rows) {
      for (std::size_t i = 0; i < row.cells.size(); ++i) width[i] = std::max(width[i], row.cells[i].size());
    }
    const auto& m0 = group.front()->metrics;
    out << trace << " (" << m0.reads << " reads, " << FormatSize(m0.bytes_read) << ", profile "
        << group.front()->profile << ")\n";
    auto line = [&](const std::vector<std::string>& cells) {
      for (std::size_t i = 0; i < cells.size(); ++i) {
        const std::string pad(width[i] - cells[i].size(), ' ');
        out << (i ? "  " : "  ") << (i == 0 ? cells[i] + pad : pad + cells[i]);
      }
      out << "\n";
    };
    line(header);
    for (const auto& row : rows) line(row.cells);
    out << "\n";
  }
  return out.str();
}

}  // namespace pflab::reports
