#include "reports/results.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <tuple>

#include "engine/text.h"
#include "engine/units.h"
#include "replay/bound.h"
#include "reports/json_fields.h"
#include "reports/summary.h"
#include "traces/text_input.h"

namespace pflab::reports {
namespace {

std::string Ms(double seconds) {
  return FormatFixed(seconds * 1000, seconds * 1000 < 10 ? 2 : 1);
}

std::string Ratio(const std::optional<double>& ratio) {
  return ratio ? FormatFixed(*ratio, 2) + "x" : "-";
}

bool MultiSeed(const TraceSummary& t) {
  for (const auto& c : t.cells) {
    if (c.runs.size() > 1) return true;
  }
  return false;
}

struct Row {
  std::vector<std::string> cells;
};

// The columns; "min..max s" with several seeds, "vs oracle" and "vs bound" when those ran.
std::vector<std::string> Header(const TraceSummary& t) {
  std::vector<std::string> h = {"policy", "elapsed s"};
  if (MultiSeed(t)) h.push_back("min..max s");
  h.push_back("vs none");
  if (t.oracle()) h.push_back("vs oracle");
  if (t.bound()) h.push_back("vs bound");
  for (const char* c : {"stall s", "p50 ms", "p99 ms", "fetched/read", "wasted", "requests", "peak mem", "cost $"}) {
    h.push_back(c);
  }
  return h;
}

std::vector<Row> Rows(const TraceSummary& t) {
  std::vector<Row> rows;
  const bool multi = MultiSeed(t);
  for (const auto& c : t.cells) {
    const auto& m = c.median;
    const bool bound = c.policy == replay::kBoundPolicy;
    auto unbounded = [&](std::string text) { return bound ? std::string("-") : text; };
    Row row;
    row.cells = {c.policy, FormatFixed(c.elapsed_median, 3)};
    if (multi) row.cells.push_back(FormatFixed(c.elapsed_min, 3) + ".." + FormatFixed(c.elapsed_max, 3));
    row.cells.push_back(Ratio(c.vs_none));
    if (t.oracle()) row.cells.push_back(Ratio(c.vs_oracle));
    if (t.bound()) row.cells.push_back(Ratio(c.vs_bound));
    for (std::string cell :
         {unbounded(FormatFixed(m.stall_s, 3)), unbounded(Ms(m.read_latency_p50_s)),
          unbounded(Ms(m.read_latency_p99_s)),
          m.bytes_read ? FormatFixed(static_cast<double>(m.bytes_fetched) / static_cast<double>(m.bytes_read), 2) : "-",
          unbounded(FormatSize(m.bytes_wasted)), unbounded(std::to_string(m.requests)),
          unbounded(FormatSize(m.peak_memory_bytes)), unbounded(FormatFixed(m.cost_usd, 6))}) {
      row.cells.push_back(std::move(cell));
    }
    if (c.reads_failed) row.cells[0] += " (" + std::to_string(c.reads_failed) + " reads failed)";
    if (c.reads_wrong) row.cells[0] += " (" + std::to_string(c.reads_wrong) + " reads wrong)";
    if (c.runs_hung) row.cells[0] += " (did not finish)";
    if (m.bytes_refetched) row.cells[0] += " (refetched " + FormatSize(m.bytes_refetched) + ": memory budget)";
    rows.push_back(std::move(row));
  }
  return rows;
}

std::string SeedList(const std::vector<std::uint64_t>& seeds) {
  if (seeds.size() == 1) return "seed " + std::to_string(seeds[0]);
  bool consecutive = true;
  for (std::size_t i = 1; i < seeds.size(); ++i) consecutive &= seeds[i] == seeds[i - 1] + 1;
  if (consecutive)
    return std::to_string(seeds.size()) + " seeds (" + std::to_string(seeds.front()) + ".." +
           std::to_string(seeds.back()) + ")";
  std::string out = std::to_string(seeds.size()) + " seeds (";
  for (std::size_t i = 0; i < seeds.size(); ++i) out += (i ? "," : "") + std::to_string(seeds[i]);
  return out + ")";
}

// Every seed of every trace, ascending.
std::vector<std::uint64_t> AllSeeds(const std::vector<TraceSummary>& traces) {
  std::set<std::uint64_t> all;
  for (const auto& t : traces) all.insert(t.seeds.begin(), t.seeds.end());
  return {all.begin(), all.end()};
}

// The compact overview: per trace the references, winner and runner-up; per policy the geometric mean.
struct OverviewTables {
  std::vector<std::string> trace_header;
  std::vector<Row> trace_rows;
  std::vector<std::string> policy_header;
  std::vector<Row> policy_rows;
};

OverviewTables MakeOverview(const std::vector<TraceSummary>& traces) {
  OverviewTables o;
  o.trace_header = {"trace", "bound s", "none", "oracle", "winner", "x bound", "runner-up", "x bound"};
  // Whether the winner and runner-up differ needs several seeds; with one there is nothing to say.
  const bool seeds = AllSeeds(traces).size() > 1;
  if (seeds) o.trace_header.push_back("told apart");
  for (const auto& t : traces) {
    const PolicyCell* b = t.bound();
    auto vs_bound = [](const PolicyCell* c) { return c ? Ratio(c->vs_bound) : std::string("-"); };
    auto name = [&](int i) { return i < 0 ? std::string("-") : t.cells[static_cast<std::size_t>(i)].policy; };
    auto cell = [&](int i) { return i < 0 ? nullptr : &t.cells[static_cast<std::size_t>(i)]; };
    o.trace_rows.push_back(
        {{t.label, b ? FormatFixed(b->elapsed_median, 3) : "-", vs_bound(t.none()), vs_bound(t.oracle()),
          name(t.winner), vs_bound(cell(t.winner)), name(t.runner_up), vs_bound(cell(t.runner_up))}});
    if (seeds) o.trace_rows.back().cells.push_back(TellApart(t));
  }
  o.policy_header = {"policy", "geomean x bound", "traces", "wins"};
  auto policies = Overview(traces);
  std::stable_sort(policies.begin(), policies.end(), [](const PolicyOverview& a, const PolicyOverview& b) {
    const double x = a.traces ? a.geomean_vs_bound : 1e300, y = b.traces ? b.geomean_vs_bound : 1e300;
    return x < y;
  });
  for (const auto& p : policies) {
    o.policy_rows.push_back({{p.policy, p.traces ? FormatFixed(p.geomean_vs_bound, 2) + "x" : "-",
                              std::to_string(p.traces), std::to_string(p.wins)}});
  }
  return o;
}

// Columns that name policies (shown as code in Markdown), and text columns (left-aligned).
bool PolicyColumn(const std::string& header) {
  return header == "policy" || header == "winner" || header == "runner-up";
}
bool TextColumn(const std::string& header) {
  return PolicyColumn(header) || header == "trace" || header == "told apart";
}

void MarkdownTable(std::ostringstream& out, const std::vector<std::string>& header, const std::vector<Row>& rows) {
  out << "|";
  for (const auto& h : header) out << " " << h << " |";
  out << "\n|";
  for (const auto& h : header) out << (TextColumn(h) ? " --- |" : " ---: |");
  out << "\n";
  for (const auto& row : rows) {
    out << "|";
    for (std::size_t i = 0; i < row.cells.size(); ++i) {
      // A failed-reads note after a policy name stays outside the code span.
      std::string cell = row.cells[i];
      if (PolicyColumn(header[i]) && cell != "-") {
        const auto note = i == 0 ? cell.find(" (") : std::string::npos;
        cell = note == std::string::npos ? "`" + cell + "`" : "`" + cell.substr(0, note) + "`" + cell.substr(note);
      }
      out << " " << cell << " |";
    }
    out << "\n";
  }
  out << "\n";
}

void ConsoleTable(std::ostringstream& out, const std::vector<std::string>& header, const std::vector<Row>& rows) {
  std::vector<std::size_t> width(header.size());
  for (std::size_t i = 0; i < header.size(); ++i) width[i] = header[i].size();
  for (const auto& row : rows) {
    for (std::size_t i = 0; i < row.cells.size(); ++i) width[i] = std::max(width[i], row.cells[i].size());
  }
  auto line = [&](const std::vector<std::string>& cells) {
    std::string line_text;
    for (std::size_t i = 0; i < cells.size(); ++i) {
      const std::string pad(width[i] - cells[i].size(), ' ');
      const bool left = TextColumn(header[i]);
      line_text += "  " + (left ? cells[i] + pad : pad + cells[i]);
    }
    while (!line_text.empty() && line_text.back() == ' ') line_text.pop_back();
    out << line_text << "\n";
  };
  line(header);
  for (const auto& row : rows) line(row.cells);
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
  // Elapsed time relative to the baseline, the oracle and the bound of the same trace, profile, think
  // time and seed, where they ran.
  using Key = std::tuple<std::string, std::string, std::string, std::uint64_t>;
  std::map<Key, double> none_elapsed, oracle_elapsed, bound_elapsed;
  for (const auto& run : runs) {
    const Key key{run.trace, run.profile, run.think, run.seed};
    if (run.policy == kBaselinePolicy) none_elapsed[key] = run.metrics.elapsed_s;
    if (run.policy == kOraclePolicy) oracle_elapsed[key] = run.metrics.elapsed_s;
    if (run.policy == replay::kBoundPolicy) bound_elapsed[key] = run.metrics.elapsed_s;
  }
  nlohmann::json timelines = nlohmann::json::array();
  for (std::size_t i = 0; i < runs.size(); ++i) {
    const auto& run = runs[i];
    const Key key{run.trace, run.profile, run.think, run.seed};
    nlohmann::json ratios = nlohmann::json::object();
    for (const auto& [name, table] :
         {std::pair<const char*, const std::map<Key, double>*>{"elapsed_vs_none", &none_elapsed},
          {"elapsed_vs_oracle", &oracle_elapsed},
          {"elapsed_vs_bound", &bound_elapsed}}) {
      if (auto it = table->find(key); it != table->end() && it->second > 0) {
        ratios[name] = run.metrics.elapsed_s / it->second;
      }
    }
    out["runs"].push_back({{"trace", run.trace},
                           {"policy", run.policy},
                           {"profile", run.profile},
                           {"seed", run.seed},
                           {"think", run.think},
                           {"events", run.events_run},
                           {"metrics", run.metrics.ToJson()},
                           {"ratios", ratios}});
    if (!run.derivation.is_null()) out["runs"].back()["bound"] = run.derivation;
    if (run.comparison_peak_memory_bytes) {
      out["runs"].back()["comparison_peak_memory_bytes"] = run.comparison_peak_memory_bytes;
    }
    run.errors.AddTo(out["runs"].back());
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
  take(m.Count("reads_wrong", 0), &out.reads_wrong)(m.Count("bytes_wrong", 0), &out.bytes_wrong);
  take(m.Count("bytes_read"), &out.bytes_read)(m.Count("bytes_fetched"), &out.bytes_fetched);
  take(m.Count("bytes_wasted"), &out.bytes_wasted)(m.Count("requests"), &out.requests);
  take(m.Count("requests_cancelled"), &out.requests_cancelled)(m.Count("requests_failed", 0), &out.requests_failed);
  take(m.Count("retries", 0), &out.retries)(m.Count("peak_memory_bytes"), &out.peak_memory_bytes);
  take(m.Number("cost_usd"), &out.cost_usd)(m.Count("bytes_refetched", 0), &out.bytes_refetched);
  take(f.Count("comparison_peak_memory_bytes", 0), &run.comparison_peak_memory_bytes);
  if (take.error()) return *take.error();
  run.derivation = r.value("bound", nlohmann::json());
  auto errors = replay::RunErrors::FromRun(r, where);
  if (!errors) return errors.error();
  run.errors = std::move(*errors);
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
  const auto traces = Summarize(runs);
  if (!traces.empty()) {
    const auto seeds = AllSeeds(traces);
    out << "Simulated on profile `" << runs.front().profile << "`, " << SeedList(seeds) << ", think time "
        << runs.front().think << ". `vs none` is elapsed time relative to the `none` policy (lower is better); "
        << "`vs oracle`, where the oracle ran, relative to the policy that knows every future read; "
        << "`vs bound` relative to `bound`, a proven lower bound under the network model that no policy can beat "
        << "(docs/reports.md); `fetched/read` is bytes fetched from the backend per byte the application read.";
    if (seeds.size() > 1) {
      out << " With several seeds, every number is the median over the seeds (a ratio is taken per seed, then "
             "the median), `min..max s` the spread of elapsed time, and `told apart` a two-sided Mann-Whitney U "
             "test of the winner's elapsed times against the runner-up's at p < "
          << kSignificance << ".";
    }
    out << "\n\n## Overview\n\n";
    const OverviewTables o = MakeOverview(traces);
    out << "Per trace, the references and the two fastest policies (elapsed relative to `bound`):\n\n";
    MarkdownTable(out, o.trace_header, o.trace_rows);
    out << "Per policy, the geometric mean over the traces of elapsed relative to `bound`, and the traces it won:\n\n";
    MarkdownTable(out, o.policy_header, o.policy_rows);
  }
  for (const auto& t : traces) {
    const auto& m0 = t.cells.front().median;
    out << "## " << t.label << "\n\n"
        << m0.reads << " reads, " << FormatSize(m0.bytes_read) << " read by the application.\n\n";
    MarkdownTable(out, Header(t), Rows(t));
  }
  return out.str();
}

std::string RenderConsole(const std::vector<replay::RunResult>& runs) {
  std::ostringstream out;
  const auto traces = Summarize(runs);
  for (const auto& t : traces) {
    const auto& m0 = t.cells.front().median;
    out << t.label << " (" << m0.reads << " reads, " << FormatSize(m0.bytes_read) << ", profile " << t.profile;
    if (t.seeds.size() > 1) out << ", median of " << SeedList(t.seeds);
    out << ")\n";
    ConsoleTable(out, Header(t), Rows(t));
    out << "\n";
  }
  if (traces.size() > 1) {
    const OverviewTables o = MakeOverview(traces);
    out << "overview: elapsed relative to bound";
    if (AllSeeds(traces).size() > 1)
      out << " (medians over seeds; told apart: Mann-Whitney U, p < " << kSignificance << ")";
    out << "\n";
    ConsoleTable(out, o.trace_header, o.trace_rows);
    out << "\n";
    ConsoleTable(out, o.policy_header, o.policy_rows);
    out << "\n";
  }
  return out.str();
}

}  // namespace pflab::reports
