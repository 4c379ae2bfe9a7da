#include "reports/results.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <optional>
#include <sstream>
#include <stdexcept>

#include "engine/units.h"
#include "reports/json_fields.h"
#include "traces/text_input.h"

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

namespace {

// Stores a read field into `*out`, or keeps the first error; reads stop at the first error.
class FieldSink {
 public:
  template <typename T, typename U>
  FieldSink& operator()(Result<T> value, U* out) {
    if (error_) return *this;
    if (!value) {
      error_ = value.error();
    } else {
      *out = static_cast<U>(*value);
    }
    return *this;
  }
  const std::optional<Error>& error() const { return error_; }

 private:
  std::optional<Error> error_;
};

Result<replay::RunResult> ReadRun(const nlohmann::json& r, const std::string& where) {
  replay::RunResult run;
  const JsonFields f(r, where);
  if (auto s = f.RequireObject(); !s) return s.error();
  FieldSink take;
  take(f.String("trace"), &run.trace)(f.String("policy"), &run.policy)(f.String("profile"), &run.profile);
  take(f.Count("seed"), &run.seed)(f.String("think", "recorded"), &run.think)(f.Count("events", 0), &run.events_run);
  if (take.error()) return *take.error();
  auto metrics = f.Get("metrics");
  if (!metrics) return metrics.error();
  const JsonFields m(**metrics, f.Path("metrics"));
  auto latency = m.Get("read_latency_s");
  if (!latency) return latency.error();
  const JsonFields q(**latency, m.Path("read_latency_s"));
  auto& out = run.metrics;
  take(m.Number("elapsed_s"), &out.elapsed_s)(m.Number("stall_s"), &out.stall_s);
  take(q.Number("p50"), &out.read_latency_p50_s)(q.Number("p95"), &out.read_latency_p95_s);
  take(q.Number("p99"), &out.read_latency_p99_s)(q.Number("max"), &out.read_latency_max_s);
  take(m.Count("reads", 0), &out.reads)(m.Count("reads_failed", 0), &out.reads_failed);
  take(m.Count("bytes_read"), &out.bytes_read)(m.Count("bytes_fetched"), &out.bytes_fetched);
  take(m.Count("bytes_wasted"), &out.bytes_wasted)(m.Count("requests"), &out.requests);
  take(m.Count("requests_cancelled"), &out.requests_cancelled)(m.Count("requests_failed", 0), &out.requests_failed);
  take(m.Count("retries", 0), &out.retries)(m.Count("peak_memory_bytes"), &out.peak_memory_bytes);
  take(m.Number("cost_usd"), &out.cost_usd);
  if (take.error()) return *take.error();
  return run;
}

Result<std::vector<double>> ReadQuantiles(const nlohmann::json& list, const std::string& where) {
  if (!list.is_array()) return InvalidArgument(where + ": expected an array, got " + JsonKind(list));
  if (list.size() != kLatencyQuantiles) {
    return InvalidArgument(where + " has " + std::to_string(list.size()) + " values, expected " +
                           std::to_string(kLatencyQuantiles));
  }
  std::vector<double> out;
  for (std::size_t i = 0; i < list.size(); ++i) {
    auto v = JsonNumber(list[i], where + "[" + std::to_string(i) + "]");
    if (!v) return v.error();
    out.push_back(*v);
  }
  return out;
}

// 1-based line and column of the byte at `offset` of `text`.
std::string LineColumn(const std::string& text, std::size_t offset) {
  offset = std::min(offset, text.size());
  std::size_t line = 1, column = 1;
  for (std::size_t i = 0; i < offset; ++i) {
    if (text[i] == '\n') {
      ++line;
      column = 1;
    } else {
      ++column;
    }
  }
  return std::to_string(line) + ":" + std::to_string(column);
}

}  // namespace

Result<ResultsDocument> ReadResultsDocument(const nlohmann::json& doc, const std::string& path) {
  if (!doc.is_object() || !doc.contains("schema")) return InvalidArgument(path + ": not a pflab results file");
  if (doc["schema"] != kResultsSchema) {
    return InvalidArgument(path + ": results schema " +
                           (doc["schema"].is_number() ? doc["schema"].dump() : JsonKind(doc["schema"])) +
                           " is not supported (expected " + std::to_string(kResultsSchema) + ")");
  }
  ResultsDocument out_doc;
  auto& runs = out_doc.runs;
  out_doc.config = doc.contains("config") ? doc["config"] : nlohmann::json::object();
  if (!doc.contains("runs")) return InvalidArgument(path + ": missing \"runs\"");
  const nlohmann::json& list = doc["runs"];
  if (!list.is_array()) return InvalidArgument(path + ": \"runs\" must be an array, got " + JsonKind(list));
  for (std::size_t i = 0; i < list.size(); ++i) {
    const auto& r = list[i];
    const std::string where = path + ": runs[" + std::to_string(i) + "]";
    auto run = ReadRun(r, where);
    if (!run) return run.error();
    RunDetails details;
    if (r.contains("latency_quantiles_s")) {
      auto q = ReadQuantiles(r["latency_quantiles_s"], where + ".latency_quantiles_s");
      if (!q) return q.error();
      details.latency_quantiles_s = std::move(*q);
    }
    runs.push_back(std::move(*run));
    out_doc.details.push_back(std::move(details));
  }
  if (doc.contains("timelines")) {
    if (!doc["timelines"].is_array()) {
      return InvalidArgument(path + ": \"timelines\" must be an array, got " + JsonKind(doc["timelines"]));
    }
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
  return out_doc;
}

Result<ResultsDocument> ReadResultsFile(const std::string& path) {
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (ec || !std::filesystem::exists(status)) return NotFound(path + ": cannot read: no such file");
  if (!std::filesystem::is_regular_file(status)) return InvalidArgument(path + ": not a regular file");
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) return InvalidArgument(path + ": cannot read: " + ec.message());
  if (size > kMaxResultsFileBytes) {
    return InvalidArgument(path + ": " + std::to_string(size) + " bytes, above the limit of " +
                           FormatSize(kMaxResultsFileBytes) + " for a results file");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound(path + ": cannot read");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) return InvalidArgument(path + ": read error");
  if (traces::JsonNestedDeeperThan(text, kMaxResultsJsonDepth)) {
    return InvalidArgument(path + ": JSON nested deeper than " + std::to_string(kMaxResultsJsonDepth) +
                           " levels; not a results file");
  }
  if (const auto nul = text.find('\0'); nul != std::string::npos) {
    return InvalidArgument(path + ":" + LineColumn(text, nul) + ": NUL byte: binary data, not a results file");
  }
  nlohmann::json doc;
  try {
    doc = nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    // e.byte is 1-based: the byte at which the parser gave up, possibly inside a bad token ("nope");
    // the position reported is where that token starts.
    std::size_t at = e.byte == 0 ? 0 : e.byte - 1;
    if (at >= text.size() || text.find_first_not_of(" \t\r\n", at) == std::string::npos) {
      return InvalidArgument(path + ":" + LineColumn(text, text.size()) +
                             ": the JSON ends early (a truncated results file?)");
    }
    auto delimiter = [](char c) { return std::string_view(" \t\r\n{}[],:\"").find(c) != std::string_view::npos; };
    while (at > 0 && !delimiter(text[at - 1])) --at;
    return InvalidArgument(path + ":" + LineColumn(text, at) + ": not valid JSON at '" +
                           traces::Excerpt(std::string_view(text).substr(at), 20) + "'");
  }
  return ReadResultsDocument(doc, path);
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
