#include "replay/sweep.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <tuple>

#include "engine/text.h"
#include "net/checksums.h"
#include "policies/spec_syntax.h"
#include "replay/matrix.h"
#include "traces/text_input.h"
#include "traces/trace_io.h"

namespace pflab::replay {
namespace {

namespace fs = std::filesystem;

// Bounds that turn a typo (1..100000000) into an error instead of a sweep that never ends.
constexpr std::uint64_t kMaxRangeValues = 10000;
constexpr std::uint64_t kMaxSpecsPerGrid = 100000;

bool IsGrid(std::string_view value) {
  return value.find('|') != std::string_view::npos || value.find("..") != std::string_view::npos;
}

// "12MiB" -> (12, "MiB").
std::optional<std::pair<std::uint64_t, std::string>> NumberWithUnit(std::string_view text) {
  std::uint64_t value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr == text.data()) return std::nullopt;
  std::string unit(ptr, text.data() + text.size());
  for (char c : unit) {
    if (!std::isalpha(static_cast<unsigned char>(c))) return std::nullopt;
  }
  return std::make_pair(value, unit);
}

std::optional<std::uint64_t> PlainNumber(std::string_view text) {
  std::uint64_t value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size() || text.empty()) return std::nullopt;
  return value;
}

// One range `A..B`, `A..B:STEP` or `A..B*FACTOR`.
Result<std::vector<std::string>> ExpandRange(const std::string& range) {
  auto bad = [&](const std::string& why) { return InvalidArgument("range '" + range + "': " + why); };
  const auto dots = range.find("..");
  const std::string from_text = range.substr(0, dots);
  std::string to_text = range.substr(dots + 2);
  std::uint64_t step = 1;
  bool multiply = false;
  if (const auto op = to_text.find_first_of(":*"); op != std::string::npos) {
    multiply = to_text[op] == '*';
    auto n = PlainNumber(to_text.substr(op + 1));
    if (!n) return bad(std::string("expected an integer after '") + to_text[op] + "'");
    step = *n;
    to_text = to_text.substr(0, op);
    if (multiply && step < 2) return bad("the factor after '*' must be at least 2");
    if (!multiply && step == 0) return bad("the step after ':' must be at least 1");
  }
  const auto from = NumberWithUnit(from_text);
  const auto to = NumberWithUnit(to_text);
  if (!from || !to) return bad("expected INT..INT, INT..INT:STEP or INT..INT*FACTOR (a unit such as MiB allowed)");
  if (from->second != to->second) return bad("both ends need the same unit");
  if (from->first > to->first) return bad("the start is above the end");
  if (multiply && from->first == 0) return bad("a '*' range cannot start at 0");
  std::vector<std::string> values;
  for (std::uint64_t v = from->first;;) {
    if (values.size() >= kMaxRangeValues) return bad("more than " + std::to_string(kMaxRangeValues) + " values");
    values.push_back(std::to_string(v) + from->second);
    const std::uint64_t next = multiply ? v * step : v + step;
    // Stops at the end, and at overflow (next would wrap below v).
    if ((multiply ? next / step != v : next < v) || next > to->first) break;
    v = next;
  }
  return values;
}

// One parameter value: alternatives separated by '|', each a literal or a range.
Result<std::vector<std::string>> ExpandValue(const std::string& value) {
  std::vector<std::string> values;
  std::size_t start = 0;
  for (;;) {
    const auto bar = value.find('|', start);
    const std::string alt(Trim(std::string_view(value).substr(start, bar - start)));
    if (alt.empty()) return InvalidArgument("empty alternative in '" + value + "'");
    if (alt.find("..") != std::string::npos) {
      auto range = ExpandRange(alt);
      if (!range) return range.error();
      values.insert(values.end(), range->begin(), range->end());
    } else {
      values.push_back(alt);
    }
    if (bar == std::string::npos) break;
    start = bar + 1;
  }
  return values;
}

std::string Hex(const std::array<std::uint8_t, 16>& digest) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (std::uint8_t b : digest) {
    out += kDigits[b >> 4];
    out += kDigits[b & 15];
  }
  return out;
}

// A stream buffer that hashes every byte it passes on, so a trace is hashed as it is parsed: the digest
// covers exactly the bytes parsed (the parser reads to the end), and input that is no trace
// (/dev/zero) fails at its first bad line instead of being read whole into memory first.
class HashingBuffer : public std::streambuf {
 public:
  HashingBuffer(std::streambuf* source, Md5* md5) : source_(source), md5_(md5) {}

 protected:
  int_type underflow() override {
    const std::streamsize n = source_->sgetn(buffer_, sizeof buffer_);
    if (n <= 0) return traits_type::eof();
    md5_->Update(buffer_, static_cast<std::size_t>(n));
    setg(buffer_, buffer_, buffer_ + n);
    return traits_type::to_int_type(buffer_[0]);
  }

 private:
  std::streambuf* source_;
  Md5* md5_;
  char buffer_[1 << 16];
};

}  // namespace

Result<SweepTrace> LoadTrace(const std::string& path) {
  auto in = traces::OpenTextInput(path, "trace file");
  if (!in) return in.error();
  Md5 md5;
  auto buffer = std::make_unique<HashingBuffer>(in->rdbuf(), &md5);
  std::istream stream(buffer.get());
  auto trace = traces::ParseTrace(stream, path);
  if (!trace) return trace.error();
  SweepTrace out;
  out.path = path;
  out.md5 = Hex(md5.Final());
  out.trace = std::move(*trace);
  out.trace.name = fs::path(path).stem().string();
  return out;
}

namespace {

// The trace enters by content only: moving or renaming the corpus, or spelling its path differently,
// does not make a sweep start over.
std::string KeyOf(const std::string& md5, const std::string& policy, const std::string& profile, std::uint64_t seed,
                  const std::string& think) {
  return nlohmann::json::array({md5, policy, profile, seed, think}).dump();
}

// write(2) until done: one call in practice, so concurrent appenders cannot interleave inside a line.
Status WriteAll(int fd, const std::string& text, const std::string& path) {
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return InvalidArgument(path + ": cannot append: " + std::strerror(errno));
    done += static_cast<std::size_t>(n);
  }
  return OkStatus();
}

}  // namespace

Result<std::vector<std::string>> ExpandGrid(std::string_view spec) {
  const std::string text(Trim(spec));
  // The registry's tokenizer, so a grid is written exactly as a spec is; values are rewritten in place.
  auto layers = policies::TokenizeStack(text);
  if (!layers) return layers.error();
  std::vector<policies::SpecSpan> grid;
  std::vector<std::vector<std::string>> values;
  for (const policies::LayerSyntax& layer : *layers) {
    for (const policies::ParamSyntax& param : layer.params) {
      const std::string value(param.value.Of(text));
      if (!IsGrid(value)) continue;
      auto expanded = ExpandValue(value);
      if (!expanded) return InvalidArgument("in policy grid '" + text + "': " + expanded.error().message);
      grid.push_back(param.value);
      values.push_back(std::move(*expanded));
    }
  }
  std::uint64_t count = 1;
  for (const auto& v : values) {
    count *= v.size();
    if (count > kMaxSpecsPerGrid) {
      return InvalidArgument("policy grid '" + text + "' expands to more than " + std::to_string(kMaxSpecsPerGrid) +
                             " specs");
    }
  }
  // An odometer over the grid values: the last one turns fastest.
  std::vector<std::size_t> digit(values.size(), 0);
  std::vector<std::string> out;
  for (std::uint64_t n = 0; n < count; ++n) {
    std::string expanded;
    std::size_t at = 0;
    for (std::size_t i = 0; i < grid.size(); ++i) {
      expanded += text.substr(at, grid[i].begin - at) + values[i][digit[i]];
      at = grid[i].end;
    }
    expanded += text.substr(at);
    out.push_back(std::move(expanded));
    for (std::size_t i = digit.size(); i-- > 0;) {
      if (++digit[i] < values[i].size()) break;
      digit[i] = 0;
    }
  }
  return out;
}

Result<std::vector<policies::StackSpec>> ExpandPolicies(const std::vector<std::string>& grids) {
  std::vector<policies::StackSpec> specs;
  std::map<std::string, std::string> origin;  // expanded text -> the grid it came from
  for (const auto& option : grids) {
    auto pieces = policies::SplitTopLevel(option, ',');
    if (!pieces) return pieces.error();
    for (const policies::SpecSpan& piece : *pieces) {
      const std::string grid(piece.Of(option));
      auto texts = ExpandGrid(grid);
      if (!texts) return texts.error();
      for (const auto& text : *texts) {
        auto spec = policies::ParseStackSpec(text);
        if (spec) {
          if (auto status = policies::ValidateStack(*spec); !status) spec = status.error();
        }
        if (!spec) {
          const std::string where = text == grid ? "" : " expands to '" + text + "', which";
          return InvalidArgument("policy grid '" + grid + "'" + where + (where.empty() ? ": " : " is invalid: ") +
                                 spec.error().message);
        }
        if (auto [it, fresh] = origin.emplace(spec->text, grid); !fresh) {
          return InvalidArgument("policy '" + spec->text + "' appears twice in the sweep (from '" + it->second +
                                 "' and '" + grid + "')");
        }
        specs.push_back(std::move(*spec));
      }
    }
  }
  return specs;
}

Result<std::vector<std::string>> ListTraceFiles(const std::vector<std::string>& paths, const std::string& skip) {
  std::error_code skip_ec;
  const fs::path skip_path = skip.empty() ? fs::path() : fs::weakly_canonical(fs::path(skip), skip_ec);
  std::vector<std::string> files;
  std::map<fs::path, std::string> seen;  // canonical path -> as listed
  auto add = [&](const fs::path& path) -> Status {
    std::error_code ec;
    const fs::path canonical = fs::weakly_canonical(path, ec);
    if (auto [it, fresh] = seen.emplace(ec ? path : canonical, path.string()); !fresh) {
      return InvalidArgument("trace " + path.string() + " is listed twice (also as " + it->second + ")");
    }
    files.push_back(path.string());
    return OkStatus();
  };
  for (const auto& given : paths) {
    const fs::path path(given);
    std::error_code ec;
    if (fs::is_directory(path, ec)) {
      std::vector<fs::path> inside;
      for (const auto& entry : fs::directory_iterator(path, ec)) {
        if (entry.path().extension() != ".jsonl" || !entry.is_regular_file()) continue;
        std::error_code same_ec;
        if (!skip.empty() && !skip_ec && fs::weakly_canonical(entry.path(), same_ec) == skip_path) continue;
        inside.push_back(entry.path());
      }
      if (ec) return InvalidArgument(given + ": cannot list: " + ec.message());
      if (inside.empty()) return InvalidArgument(given + ": no *.jsonl traces in this directory");
      std::sort(inside.begin(), inside.end());
      for (const auto& p : inside) {
        if (auto status = add(p); !status) return status.error();
      }
    } else if (fs::exists(path, ec)) {
      if (auto status = add(path); !status) return status.error();
    } else {
      return NotFound(given + ": no such trace file or directory");
    }
  }
  return files;
}

Result<Shard> Shard::Parse(std::string_view text) {
  const auto slash = text.find('/');
  auto bad = [&] { return InvalidArgument("shard '" + std::string(text) + "': expected i/N with 1 <= i <= N"); };
  if (slash == std::string_view::npos) return bad();
  const auto i = PlainNumber(text.substr(0, slash));
  const auto n = PlainNumber(text.substr(slash + 1));
  if (!i || !n || *i < 1 || *i > *n || *n > 0xffffffffull) return bad();
  return Shard{static_cast<std::uint32_t>(*i), static_cast<std::uint32_t>(*n)};
}

Result<Shard> ShardFromEnvironment(const std::function<const char*(const char*)>& env,
                                   std::optional<std::uint32_t> completions) {
  auto number = [&](const char* name) -> Result<std::optional<std::uint64_t>> {
    const char* value = env(name);
    if (value == nullptr) return std::optional<std::uint64_t>();
    auto n = PlainNumber(value);
    if (!n) return InvalidArgument(std::string(name) + "='" + value + "' is not a number");
    return std::optional<std::uint64_t>(*n);
  };
  auto task = number("SLURM_ARRAY_TASK_ID");
  if (!task) return task.error();
  if (*task) {
    auto count = number("SLURM_ARRAY_TASK_COUNT");
    if (!count) return count.error();
    auto min = number("SLURM_ARRAY_TASK_MIN");
    if (!min) return min.error();
    auto step = number("SLURM_ARRAY_TASK_STEP");
    if (!step) return step.error();
    if (!*count) return InvalidArgument("SLURM_ARRAY_TASK_ID is set but SLURM_ARRAY_TASK_COUNT is not");
    if (*step && **step != 1) {
      return InvalidArgument("the Slurm job array's step is " + std::to_string(**step) +
                             ": shards need consecutive task ids (--array=A-B)");
    }
    const std::uint64_t first = min->value_or(0);
    if (**task < first || **task - first >= **count || **count > 0xffffffffull) {
      return InvalidArgument("SLURM_ARRAY_TASK_ID " + std::to_string(**task) + " is not one of " +
                             std::to_string(**count) + " consecutive task ids from " + std::to_string(first));
    }
    return Shard{static_cast<std::uint32_t>(**task - first + 1), static_cast<std::uint32_t>(**count)};
  }
  auto index = number("JOB_COMPLETION_INDEX");
  if (!index) return index.error();
  if (*index) {
    if (!completions) {
      return InvalidArgument(
          "JOB_COMPLETION_INDEX is set (a Kubernetes Indexed Job) but the number of completions is not: "
          "use --shard auto/N with N the Job's completions");
    }
    if (**index >= *completions) {
      return InvalidArgument("JOB_COMPLETION_INDEX " + std::to_string(**index) + " is not below the " +
                             std::to_string(*completions) + " completions given");
    }
    return Shard{static_cast<std::uint32_t>(**index + 1), *completions};
  }
  return InvalidArgument(
      "no batch system's shard in the environment: a Slurm job array sets SLURM_ARRAY_TASK_ID and "
      "SLURM_ARRAY_TASK_COUNT, a Kubernetes Indexed Job JOB_COMPLETION_INDEX (with --shard auto/N)");
}

std::string SweepPlan::Key(const SweepJob& job) const {
  const SweepTrace& t = traces[job.trace];
  return KeyOf(t.md5, specs[job.spec].text, profile_name, seeds[job.seed], think.ToString());
}

std::string SweepPlan::Label(const SweepJob& job) const {
  return traces[job.trace].trace.name + " x " + specs[job.spec].text;
}

Result<SweepPlan> PlanSweep(const SweepOptions& options) {
  SweepPlan plan;
  plan.shard = options.shard;
  if (plan.shard.count == 0 || plan.shard.index < 1 || plan.shard.index > plan.shard.count) {
    return InvalidArgument("shard " + plan.shard.ToString() + ": expected 1 <= i <= N");
  }
  auto profile = sim::FindProfile(options.profile, sim::ProfilesPath(options.profiles_file));
  if (!profile) {
    return InvalidArgument(sim::ProfilesErrorSource(profile.error(), options.profiles_file, "profile") + ": " +
                           profile.error().message);
  }
  plan.profile_name = options.profile;
  plan.profile = *profile;
  plan.seeds = options.seeds.empty() ? std::vector<std::uint64_t>{options.seed} : options.seeds;
  for (std::size_t i = 0; i < plan.seeds.size(); ++i) {
    if (std::count(plan.seeds.begin(), plan.seeds.end(), plan.seeds[i]) > 1) {
      return InvalidArgument("seed " + std::to_string(plan.seeds[i]) + " is listed twice");
    }
  }
  auto think = ThinkTime::Parse(options.think);
  if (!think) return think.error();
  plan.think = *think;

  if (options.policies.empty()) return InvalidArgument("no policy grid given");
  auto specs = ExpandPolicies(options.policies);
  if (!specs) return specs.error();
  plan.specs = std::move(*specs);
  const bool has_baseline =
      std::any_of(plan.specs.begin(), plan.specs.end(), [](const policies::StackSpec& s) { return s.text == "none"; });
  if (options.include_baseline && !has_baseline)
    plan.specs.insert(plan.specs.begin(), *policies::ParseStackSpec("none"));
  if (options.include_bound) {
    const bool after_none = !plan.specs.empty() && plan.specs.front().text == "none";
    plan.specs.insert(plan.specs.begin() + (after_none ? 1 : 0), BoundSpec());
  }

  if (options.traces.empty()) return InvalidArgument("no trace given");
  auto files = ListTraceFiles(options.traces, options.results_file);
  if (!files) return files.error();
  for (const auto& file : *files) {
    auto trace = LoadTrace(file);
    if (!trace) return trace.error();
    plan.traces.push_back(std::move(*trace));
  }
  // Runs are keyed by trace content, so two files with the same bytes would be one run.
  std::map<std::string, std::string> contents;
  for (const auto& t : plan.traces) {
    if (auto [it, fresh] = contents.emplace(t.md5, t.path); !fresh) {
      return InvalidArgument("traces " + it->second + " and " + t.path + " have the same content; list one of them");
    }
  }
  // Results group runs by trace name, so two files with the same stem are told apart by path.
  std::map<std::string, int> stems;
  for (const auto& t : plan.traces) ++stems[t.trace.name];
  for (auto& t : plan.traces) {
    if (stems[t.trace.name] > 1) t.trace.name = t.path;
  }

  plan.total_jobs = plan.traces.size() * plan.specs.size() * plan.seeds.size();
  for (std::size_t t = 0; t < plan.traces.size(); ++t) {
    for (std::size_t s = 0; s < plan.specs.size(); ++s) {
      for (std::size_t k = 0; k < plan.seeds.size(); ++k) {
        const std::size_t index = (t * plan.specs.size() + s) * plan.seeds.size() + k;
        if (plan.shard.Owns(index)) plan.jobs.push_back({index, t, s, k});
      }
    }
  }
  return plan;
}

Result<std::string> RunKeyOfLine(const nlohmann::json& line) {
  if (!line.is_object()) return InvalidArgument("not a JSON object");
  for (const char* field : {"trace_md5", "policy", "profile", "think"}) {
    if (!line.contains(field) || !line[field].is_string()) {
      return InvalidArgument(std::string("missing string field \"") + field + "\"");
    }
  }
  if (!line.contains("seed") || !line["seed"].is_number_unsigned()) {
    return InvalidArgument("missing unsigned field \"seed\"");
  }
  return KeyOf(line["trace_md5"], line["policy"], line["profile"], line["seed"].get<std::uint64_t>(), line["think"]);
}

Result<ResultsFileState> LoadResultsFile(const std::string& path) {
  ResultsFileState state;
  std::error_code ec;
  if (!fs::exists(path, ec)) return state;
  std::ifstream in(path, std::ios::binary);
  if (!in) return InvalidArgument(path + ": cannot read the results file");
  std::stringstream bytes;
  bytes << in.rdbuf();
  const std::string text = bytes.str();
  std::size_t at = 0;
  std::uint64_t line_no = 0;
  while (at < text.size()) {
    ++line_no;
    const auto newline = text.find('\n', at);
    const bool last_unfinished = newline == std::string::npos;
    const std::string line = text.substr(at, last_unfinished ? std::string::npos : newline - at);
    const std::size_t line_start = at;
    at = last_unfinished ? text.size() : newline + 1;
    if (Trim(line).empty()) continue;
    nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    Result<std::string> key =
        j.is_discarded() ? Result<std::string>(InvalidArgument("malformed JSON")) : RunKeyOfLine(j);
    if (!key) {
      // A kill during the write of the last line leaves part of it and no newline: drop it.
      if (last_unfinished) {
        state.truncated_tail = true;
        state.good_bytes = line_start;
        return state;
      }
      return InvalidArgument(path + ":" + std::to_string(line_no) +
                             ": not a sweep result line: " + key.error().message);
    }
    state.missing_newline = last_unfinished;
    if (!state.keys.insert(*key).second) {
      ++state.duplicates;
      continue;
    }
    state.lines.push_back(std::move(j));
  }
  state.good_bytes = text.size();
  return state;
}

nlohmann::json ResultLine(const SweepTrace& trace, const RunResult& run) {
  nlohmann::json line = {{"trace", run.trace},   {"trace_file", trace.path}, {"trace_md5", trace.md5},
                         {"policy", run.policy}, {"profile", run.profile},   {"seed", run.seed},
                         {"think", run.think},   {"events", run.events_run}, {"metrics", run.metrics.ToJson()}};
  if (!run.derivation.is_null()) line["bound"] = run.derivation;
  if (run.comparison_peak_memory_bytes) line["comparison_peak_memory_bytes"] = run.comparison_peak_memory_bytes;
  run.errors.AddTo(line);
  return line;
}

bool LineFailed(const nlohmann::json& line) {
  auto count = [](const nlohmann::json& object, const char* field) -> std::uint64_t {
    if (!object.is_object() || !object.contains(field) || !object[field].is_number_unsigned()) return 0;
    return object[field].get<std::uint64_t>();
  };
  const nlohmann::json empty;
  const nlohmann::json& metrics = line.contains("metrics") ? line["metrics"] : empty;
  return count(metrics, "reads_failed") > 0 || count(metrics, "reads_wrong") > 0 || count(line, "errors_total") > 0;
}

std::size_t FailedRuns(const SweepPlan& plan, const std::vector<nlohmann::json>& lines) {
  std::set<std::string> keys;
  for (const auto& job : plan.jobs) keys.insert(plan.Key(job));
  std::size_t failed = 0;
  for (const auto& line : lines) {
    auto key = RunKeyOfLine(line);
    if (key && keys.count(*key) && LineFailed(line)) ++failed;
  }
  return failed;
}

Result<SweepOutcome> RunSweep(const SweepPlan& plan, const std::string& results_path, const SweepRunOptions& options) {
  if (options.jobs == 0) return InvalidArgument("jobs must be at least 1");
  const auto start = std::chrono::steady_clock::now();
  auto state = LoadResultsFile(results_path);
  if (!state) return state.error();
  SweepOutcome outcome;
  outcome.in_shard = plan.jobs.size();
  outcome.dropped_truncated_tail = state->truncated_tail;
  std::vector<const SweepJob*> pending;
  for (const auto& job : plan.jobs) {
    if (state->keys.count(plan.Key(job))) {
      ++outcome.already_done;
    } else {
      pending.push_back(&job);
    }
  }

  if (state->truncated_tail) {
    std::error_code ec;
    fs::resize_file(results_path, state->good_bytes, ec);
    if (ec) return InvalidArgument(results_path + ": cannot remove the truncated last line: " + ec.message());
  }
  const int fd = ::open(results_path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return InvalidArgument(results_path + ": cannot open for appending: " + std::strerror(errno));
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  if (state->missing_newline) {
    if (auto status = WriteAll(fd, "\n", results_path); !status) return status.error();
  }

  RunPlan matrix;
  for (const auto& trace : plan.traces) matrix.traces.push_back(&trace.trace);
  matrix.policies = plan.specs;
  matrix.profile_name = plan.profile_name;
  matrix.profile = plan.profile;
  matrix.seeds = plan.seeds;
  matrix.think = plan.think;
  std::vector<std::size_t> cells;
  for (const SweepJob* job : pending) cells.push_back(job->index);
  // The oracle's memory budget needs every other policy's peak on its trace and seed: those already in
  // the file are read from it (RunMatrix runs the rest).
  std::map<std::string, std::uint64_t> known_peaks;
  for (const auto& line : state->lines) {
    auto key = RunKeyOfLine(line);
    if (key && line.contains("metrics") && line["metrics"].contains("peak_memory_bytes")) {
      known_peaks[*key] = line["metrics"]["peak_memory_bytes"].get<std::uint64_t>();
    }
  }

  std::optional<Error> failure;  // hooks run one at a time, so they share these without a lock
  RunHooks hooks;
  hooks.jobs = options.jobs;
  hooks.known_peak_memory = [&](const RunCell& cell) -> std::optional<std::uint64_t> {
    auto it = known_peaks.find(plan.Key(SweepJob{cell.index, cell.trace, cell.policy, cell.seed}));
    if (it == known_peaks.end()) return std::nullopt;
    return it->second;
  };
  hooks.on_finish = [&](const RunCell& cell, Result<RunResult>&& result) {
    const SweepJob job{cell.index, cell.trace, cell.policy, cell.seed};
    if (!result) {
      if (!failure) failure = Error{result.error().code, plan.Label(job) + ": " + result.error().message};
      return false;
    }
    const std::string line = ResultLine(plan.traces[job.trace], *result).dump() + "\n";
    if (auto status = WriteAll(fd, line, results_path); !status) {
      if (!failure) failure = status.error();
      return false;
    }
    ++outcome.ran;
    if (result->failed()) ++outcome.failed;
    if (options.on_progress) {
      SweepProgress progress;
      progress.done = outcome.ran;
      progress.total = pending.size();
      progress.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      progress.item = plan.Label(job);
      if (result->failed()) progress.failure = result->errors.first.front().Summary();
      options.on_progress(progress);
    }
    return true;
  };
  if (auto status = RunCells(matrix, hooks, cells); !status) return status.error();
  outcome.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (failure) return *failure;
  return outcome;
}

Result<std::size_t> MergeShardResults(const SweepPlan& plan, const std::vector<std::string>& files,
                                      const std::string& output) {
  if (plan.shard.count != 1 || plan.jobs.size() != plan.total_jobs) {
    return InvalidArgument("merging needs the whole sweep planned (shard 1/1), not shard " + plan.shard.ToString());
  }
  if (files.empty()) return InvalidArgument("no results files to merge");
  std::map<std::string, std::size_t> job_of_key;
  for (const SweepJob& job : plan.jobs) job_of_key[plan.Key(job)] = job.index;
  auto describe = [&](std::size_t index) {
    const SweepJob& job = plan.jobs[index];
    return plan.Label(job) + " (seed " + std::to_string(plan.seeds[job.seed]) + ")";
  };
  std::vector<nlohmann::json> lines(plan.total_jobs);
  std::vector<const std::string*> source(plan.total_jobs, nullptr);
  for (const std::string& file : files) {
    std::error_code ec;
    if (!fs::is_regular_file(file, ec)) return NotFound(file + ": no such results file");
    auto state = LoadResultsFile(file);
    if (!state) return state.error();
    if (state->truncated_tail) {
      return InvalidArgument(file +
                             ": its last line was cut mid-write, so its shard did not finish: run that shard "
                             "again (it resumes), then merge");
    }
    if (state->duplicates) {
      return InvalidArgument(file + ": " + std::to_string(state->duplicates) + " run(s) appear in it twice");
    }
    for (nlohmann::json& line : state->lines) {
      auto key = RunKeyOfLine(line);
      if (!key) return InvalidArgument(file + ": " + key.error().message);
      auto it = job_of_key.find(*key);
      if (it == job_of_key.end()) {
        return InvalidArgument(file + ": a run that is not in this sweep: " + line.value("trace", "?") + " x " +
                               line.value("policy", "?") + " (seed " + line["seed"].dump() + ", profile " +
                               line.value("profile", "?") + ", think " + line.value("think", "?") +
                               "); the shards of one sweep share its traces, policies, seeds, profile and think time");
      }
      const std::size_t index = it->second;
      if (source[index]) {
        return InvalidArgument(file + ": run " + describe(index) + " is also in " + *source[index] +
                               ": a shard's file given twice, or two sweeps' files together");
      }
      lines[index] = std::move(line);
      source[index] = &file;
    }
  }
  std::size_t missing = 0, first_missing = 0;
  for (std::size_t i = 0; i < plan.total_jobs; ++i) {
    if (source[i]) continue;
    if (missing++ == 0) first_missing = i;
  }
  if (missing) {
    return InvalidArgument(std::to_string(missing) + " of " + std::to_string(plan.total_jobs) +
                           " runs of the sweep are in none of the files, the first " + describe(first_missing) +
                           " (job " + std::to_string(first_missing) +
                           " of the stable order): a shard's file is missing or its shard did not finish");
  }
  const std::string temporary = output + ".merge-" + std::to_string(::getpid());
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    if (!out) return InvalidArgument(temporary + ": cannot write");
    for (const nlohmann::json& line : lines) out << line.dump() << "\n";
    out.flush();
    if (!out) {
      fs::remove(temporary);
      return InvalidArgument(temporary + ": write failed");
    }
  }
  std::error_code ec;
  fs::rename(temporary, output, ec);
  if (ec) {
    fs::remove(temporary);
    return InvalidArgument(output + ": cannot write the merged results: " + ec.message());
  }
  return plan.total_jobs;
}

std::vector<nlohmann::json> InPlanOrder(const SweepPlan& plan, std::vector<nlohmann::json> lines) {
  std::map<std::string, std::size_t> order;
  for (std::size_t t = 0; t < plan.traces.size(); ++t) {
    for (std::size_t s = 0; s < plan.specs.size(); ++s) {
      for (std::size_t k = 0; k < plan.seeds.size(); ++k) {
        const std::size_t index = (t * plan.specs.size() + s) * plan.seeds.size() + k;
        order[plan.Key({index, t, s, k})] = index;
      }
    }
  }
  std::vector<std::pair<std::pair<std::size_t, std::string>, nlohmann::json>> keyed;
  for (auto& line : lines) {
    auto key = RunKeyOfLine(line);
    const std::string k = key ? *key : line.dump();
    auto it = order.find(k);
    keyed.push_back({{it == order.end() ? order.size() : it->second, k}, std::move(line)});
  }
  std::sort(keyed.begin(), keyed.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<nlohmann::json> out;
  for (auto& [key, line] : keyed) out.push_back(std::move(line));
  return out;
}

}  // namespace pflab::replay
