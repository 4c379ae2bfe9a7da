#include "reports/diff.h"

#include <algorithm>
#include <cstdio>
#include <iterator>
#include <map>
#include <set>
#include <sstream>
#include <tuple>

#include "engine/text.h"
#include "engine/units.h"
#include "replay/bound.h"

namespace pflab::reports {
namespace {

using Key = std::tuple<std::string, std::string, std::string, std::string>;  // trace, profile, think, policy

std::map<Key, std::vector<const replay::RunResult*>> Index(const std::vector<replay::RunResult>& runs) {
  std::map<Key, std::vector<const replay::RunResult*>> out;
  for (const auto& r : runs) out[{r.trace, r.profile, r.think, r.policy}].push_back(&r);
  return out;
}

// "a, b, c" of a set, at most `most` of them.
std::string Listed(const std::set<std::string>& items, std::size_t most = 6) {
  std::string out;
  std::size_t n = 0;
  for (const auto& item : items) {
    if (n++ == most) return out + ", ... (" + std::to_string(items.size()) + " in all)";
    out += (out.empty() ? "" : ", ") + item;
  }
  return out;
}

std::string Signed(double fraction) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%+.1f%%", fraction * 100);
  return buf;
}

std::string Change(double before, double after, bool bytes) {
  if (before == after) return "=";
  const std::string value = bytes ? FormatSize(static_cast<std::uint64_t>(after)) : FormatFixed(after, 0);
  if (before <= 0) return value;
  return value + " (" + Signed(after / before - 1) + ")";
}

std::string PValue(const DiffRow& row) {
  if (!row.testable) return "n/a (" + std::to_string(row.seeds.size()) + " seeds)";
  char buf[32];
  std::snprintf(buf, sizeof buf, row.test.p < 0.001 ? "%.1e" : "%.3f", row.test.p);
  return buf;
}

std::string Verdict(const DiffRow& row) {
  if (row.regression) return "SLOWER";
  if (row.improvement) return "faster";
  if (row.reference && row.change != 0) return "reference moved";
  return "";
}

std::string Describe(const nlohmann::json& config, const char* which) {
  std::string out = std::string(which) + ": ";
  const nlohmann::json p =
      config.is_object() ? config.value("provenance", nlohmann::json::object()) : nlohmann::json::object();
  out += "pflab " + p.value("pflab_version", std::string("?")) + " at " + p.value("commit", std::string("?"));
  if (p.value("dirty", false)) out += " (with uncommitted changes)";
  if (config.is_object() && config.contains("seeds")) out += ", seeds " + config["seeds"].dump();
  return out;
}

}  // namespace

std::string NothingInCommon(const ResultsDocument& base, const ResultsDocument& now) {
  // Each field in the key's order, among the runs that agree on the ones before it.
  using Field = std::string (*)(const replay::RunResult&);
  const std::pair<const char*, Field> fields[] = {
      {"trace", [](const replay::RunResult& r) { return r.trace; }},
      {"profile", [](const replay::RunResult& r) { return r.profile; }},
      {"think mode", [](const replay::RunResult& r) { return r.think; }},
      {"policy", [](const replay::RunResult& r) { return r.policy; }},
  };
  std::vector<const replay::RunResult*> a, b;
  for (const auto& r : base.runs) a.push_back(&r);
  for (const auto& r : now.runs) b.push_back(&r);
  for (const auto& entry : fields) {
    const char* name = entry.first;
    const Field field = entry.second;  // not a structured binding: the lambdas below capture it
    std::set<std::string> in_a, in_b, both;
    for (const auto* r : a) in_a.insert(field(*r));
    for (const auto* r : b) in_b.insert(field(*r));
    std::set_intersection(in_a.begin(), in_a.end(), in_b.begin(), in_b.end(), std::inserter(both, both.end()));
    if (both.empty()) {
      return std::string("no ") + name + " is in both files (base: " + Listed(in_a) + "; new: " + Listed(in_b) + ")";
    }
    std::erase_if(a, [&](const replay::RunResult* r) { return !both.contains(field(*r)); });
    std::erase_if(b, [&](const replay::RunResult* r) { return !both.contains(field(*r)); });
  }
  return "no trace, profile, think mode and policy is in both files";
}

DiffResult Diff(const ResultsDocument& base, const ResultsDocument& now, const DiffOptions& options) {
  DiffResult out;
  const auto a = Index(base.runs), b = Index(now.runs);
  std::set<std::pair<std::string, std::string>> settings;
  for (const auto* runs : {&base.runs, &now.runs}) {
    for (const auto& r : *runs) settings.insert({r.profile, r.think});
  }
  auto label = [&](const Key& k) {
    return settings.size() > 1 ? std::get<0>(k) + " (" + std::get<1>(k) + ", think " + std::get<2>(k) + ")"
                               : std::get<0>(k);
  };
  // Rows in the new document's order (its plan order), then what only the base has.
  std::vector<Key> order;
  for (const auto& r : now.runs) {
    const Key k{r.trace, r.profile, r.think, r.policy};
    if (std::find(order.begin(), order.end(), k) == order.end()) order.push_back(k);
  }
  for (const auto& k : order) {
    auto ia = a.find(k);
    if (ia == a.end()) {
      out.only_in_new.push_back(label(k) + " x " + std::get<3>(k));
      continue;
    }
    const auto& runs_b = b.at(k);
    std::set<std::uint64_t> seeds_a, seeds_b;
    for (const auto* r : ia->second) seeds_a.insert(r->seed);
    for (const auto* r : runs_b) seeds_b.insert(r->seed);
    DiffRow row;
    row.trace = label(k);
    row.policy = std::get<3>(k);
    std::set_intersection(seeds_a.begin(), seeds_a.end(), seeds_b.begin(), seeds_b.end(),
                          std::back_inserter(row.seeds));
    const bool common = !row.seeds.empty();
    auto values = [&](const std::vector<const replay::RunResult*>& runs, auto field) {
      std::vector<double> v;
      for (const auto* r : runs) {
        if (!common || std::binary_search(row.seeds.begin(), row.seeds.end(), r->seed)) v.push_back(field(r->metrics));
      }
      return v;
    };
    auto elapsed = [](const replay::Metrics& m) { return m.elapsed_s; };
    const auto ea = values(ia->second, elapsed), eb = values(runs_b, elapsed);
    row.base_elapsed = Median(ea);
    row.new_elapsed = Median(eb);
    row.change = row.base_elapsed > 0 ? row.new_elapsed / row.base_elapsed - 1 : 0;
    row.base_fetched = Median(values(ia->second, [](const replay::Metrics& m) { return double(m.bytes_fetched); }));
    row.new_fetched = Median(values(runs_b, [](const replay::Metrics& m) { return double(m.bytes_fetched); }));
    row.base_requests = Median(values(ia->second, [](const replay::Metrics& m) { return double(m.requests); }));
    row.new_requests = Median(values(runs_b, [](const replay::Metrics& m) { return double(m.requests); }));
    row.base_memory = Median(values(ia->second, [](const replay::Metrics& m) { return double(m.peak_memory_bytes); }));
    row.new_memory = Median(values(runs_b, [](const replay::Metrics& m) { return double(m.peak_memory_bytes); }));
    row.test = MannWhitneyU(eb, ea);
    row.testable = row.test.min_p < options.alpha;
    row.significant = row.testable && row.test.p < options.alpha;
    row.reference = row.policy == replay::kBoundPolicy || row.policy == kOraclePolicy;
    const bool decided = !row.testable || row.significant;
    if (!row.reference && decided) {
      row.regression = row.change > options.threshold;
      row.improvement = row.change < -options.threshold;
    }
    out.regressions += row.regression;
    out.improvements += row.improvement;
    out.rows.push_back(std::move(row));
  }
  for (const auto& r : base.runs) {
    const Key k{r.trace, r.profile, r.think, r.policy};
    const std::string name = label(k) + " x " + std::get<3>(k);
    if (!b.count(k) && std::find(out.only_in_base.begin(), out.only_in_base.end(), name) == out.only_in_base.end()) {
      out.only_in_base.push_back(name);
    }
  }
  // Provenance: what else differs between the two documents.
  out.notes.push_back(Describe(base.config, "base"));
  out.notes.push_back(Describe(now.config, "new"));
  auto section = [](const ResultsDocument& d, const char* key) {
    return d.config.is_object() && d.config.contains(key) ? d.config[key] : nlohmann::json();
  };
  if (section(base, "profile_parameters") != section(now, "profile_parameters")) {
    out.notes.push_back("the network profile's numbers differ: base " + section(base, "profile_parameters").dump() +
                        ", new " + section(now, "profile_parameters").dump());
  }
  auto traces = [](const ResultsDocument& d) {
    std::map<std::string, std::string> md5;
    if (d.config.is_object() && d.config.contains("provenance") && d.config["provenance"].contains("traces")) {
      for (const auto& t : d.config["provenance"]["traces"]) md5[t.value("name", "")] = t.value("md5", "");
    }
    return md5;
  };
  const auto ta = traces(base), tb = traces(now);
  for (const auto& [name, md5] : tb) {
    if (auto it = ta.find(name); it != ta.end() && it->second != md5) {
      out.notes.push_back("trace " + name + " has different content (md5 " + it->second + " -> " + md5 + ")");
    }
  }
  return out;
}

std::string RenderDiff(const DiffResult& diff, const DiffOptions& options) {
  std::ostringstream out;
  for (const auto& note : diff.notes) out << note << "\n";
  std::vector<std::vector<std::string>> rows;
  const std::vector<std::string> header = {"trace", "policy",  "seeds",    "elapsed s", "new s",  "change",
                                           "p",     "fetched", "requests", "peak mem",  "verdict"};
  for (const auto& r : diff.rows) {
    rows.push_back({r.trace, r.policy, std::to_string(r.seeds.size()), FormatFixed(r.base_elapsed, 3),
                    FormatFixed(r.new_elapsed, 3), Signed(r.change), PValue(r),
                    Change(r.base_fetched, r.new_fetched, true), Change(r.base_requests, r.new_requests, false),
                    Change(r.base_memory, r.new_memory, true), Verdict(r)});
  }
  std::vector<std::size_t> width(header.size());
  for (std::size_t i = 0; i < header.size(); ++i) width[i] = header[i].size();
  for (const auto& row : rows) {
    for (std::size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  }
  auto line = [&](const std::vector<std::string>& cells) {
    std::string text;
    for (std::size_t i = 0; i < cells.size(); ++i) {
      const bool left = i < 2 || i + 1 == cells.size();
      const std::string pad(width[i] - cells[i].size(), ' ');
      text += "  " + (left ? cells[i] + pad : pad + cells[i]);
    }
    while (!text.empty() && text.back() == ' ') text.pop_back();
    out << text << "\n";
  };
  line(header);
  for (const auto& row : rows) line(row);
  for (const auto& name : diff.only_in_base) out << "only in base: " << name << "\n";
  for (const auto& name : diff.only_in_new) out << "only in new: " << name << "\n";
  out << "test: two-sided Mann-Whitney U over the per-seed elapsed times of the seeds both ran, level " << options.alpha
      << " (with fewer than 4 seeds per side it cannot reach that level: n/a, and the threshold "
      << "alone decides); threshold " << FormatFixed(options.threshold * 100, 1) << "% of median elapsed\n";
  out << diff.regressions << " regression(s), " << diff.improvements << " improvement(s) of " << diff.rows.size()
      << " compared\n";
  return out.str();
}

std::string RenderDiffMarkdown(const DiffResult& diff, const DiffOptions& options) {
  std::ostringstream out;
  out << "## pflab diff\n\n";
  for (const auto& note : diff.notes) out << "- " << note << "\n";
  out << "\n| trace | policy | seeds | elapsed s | new s | change | p | fetched | requests | peak mem | verdict |\n"
      << "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n";
  for (const auto& r : diff.rows) {
    out << "| " << r.trace << " | `" << r.policy << "` | " << r.seeds.size() << " | " << FormatFixed(r.base_elapsed, 3)
        << " | " << FormatFixed(r.new_elapsed, 3) << " | " << Signed(r.change) << " | " << PValue(r) << " | "
        << Change(r.base_fetched, r.new_fetched, true) << " | " << Change(r.base_requests, r.new_requests, false)
        << " | " << Change(r.base_memory, r.new_memory, true) << " | "
        << (r.regression ? "**" + Verdict(r) + "**" : Verdict(r)) << " |\n";
  }
  out << "\nTest: two-sided Mann-Whitney U over the per-seed elapsed times of the seeds both ran, level "
      << options.alpha << "; threshold " << FormatFixed(options.threshold * 100, 1) << "% of median elapsed. "
      << diff.regressions << " regression(s), " << diff.improvements << " improvement(s) of " << diff.rows.size()
      << " compared.\n";
  return out.str();
}

}  // namespace pflab::reports
