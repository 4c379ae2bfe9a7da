// Sweeps: grid expansion, trace listing, shard partition, resume after a kill (a truncated last line
// included), determinism across --jobs, and the per-trace summary.
#include "replay/sweep.h"

#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <sstream>

#include "net/checksums.h"
#include "traces/binary_trace.h"
#include "traces/generators.h"
#include "traces/trace_io.h"

namespace pflab::replay {
namespace {

namespace fs = std::filesystem;

std::vector<std::string> Expand(const std::string& grid) {
  auto out = ExpandGrid(grid);
  INFO(grid);
  REQUIRE(out.ok());
  return *out;
}

std::string ExpandError(const std::string& grid) {
  auto out = ExpandPolicies({grid});
  INFO(grid);
  REQUIRE_FALSE(out.ok());
  return out.error().message;
}

fs::path TempDir() {
  static int counter = 0;
  fs::path dir =
      fs::temp_directory_path() / ("pflab_sweep_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

std::string Slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void Spit(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

// Complete lines of a file, sorted: the "set of lines" two sweeps are compared on.
std::vector<std::string> SortedLines(const fs::path& path) {
  std::vector<std::string> lines;
  std::istringstream in(Slurp(path));
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  std::sort(lines.begin(), lines.end());
  return lines;
}

void WriteTrace(const fs::path& path, const std::string& pattern, std::uint64_t count) {
  traces::GeneratorParams params;
  params.object_size = 64ull << 20;
  params.read_size = 1ull << 20;
  params.count = count;
  params.seed = 5;
  auto trace = traces::Generate(pattern, params);
  REQUIRE(trace.ok());
  REQUIRE(traces::WriteTrace(path.string(), *trace).ok());
}

// Two small traces in a directory and a 2 x (1 + 4) sweep over them.
SweepOptions SmallSweep(const fs::path& dir) {
  fs::create_directories(dir / "traces");
  WriteTrace(dir / "traces" / "seq.jsonl", "sequential", 24);
  WriteTrace(dir / "traces" / "back.jsonl", "backtrack", 24);
  SweepOptions options;
  options.traces = {(dir / "traces").string()};
  options.policies = {"gcsfs-adaptive(streak=1..2,max=16MiB|64MiB)"};
  options.seed = 9;
  // The job counts below predate the bound row; the bound and seeds have their own test.
  options.include_bound = false;
  return options;
}

TEST_CASE("sweep grid: ranges, steps, factors and units expand in order", "[sweep]") {
  CHECK(Expand("gcsfs-adaptive(streak=1..4)") ==
        std::vector<std::string>{"gcsfs-adaptive(streak=1)", "gcsfs-adaptive(streak=2)", "gcsfs-adaptive(streak=3)",
                                 "gcsfs-adaptive(streak=4)"});
  CHECK(Expand("x(a=1..9:4)") == std::vector<std::string>{"x(a=1)", "x(a=5)", "x(a=9)"});
  CHECK(Expand("x(a=1..10:4)") == std::vector<std::string>{"x(a=1)", "x(a=5)", "x(a=9)"});
  CHECK(Expand("x(a=16MiB..256MiB*2)") ==
        std::vector<std::string>{"x(a=16MiB)", "x(a=32MiB)", "x(a=64MiB)", "x(a=128MiB)", "x(a=256MiB)"});
  CHECK(Expand("x(a=1MiB..3MiB)") == std::vector<std::string>{"x(a=1MiB)", "x(a=2MiB)", "x(a=3MiB)"});
  CHECK(Expand("x(a=7..7)") == std::vector<std::string>{"x(a=7)"});
  // No grid: the spec itself, spacing as written.
  CHECK(Expand("  fsspec-readahead(blocksize=5MiB) > gcsfs-v795 ") ==
        std::vector<std::string>{"fsspec-readahead(blocksize=5MiB) > gcsfs-v795"});
}

TEST_CASE("sweep grid: alternatives and several parameters, the last varying fastest", "[sweep]") {
  CHECK(Expand("gcsfs-adaptive(max=16MiB|64MiB)") ==
        std::vector<std::string>{"gcsfs-adaptive(max=16MiB)", "gcsfs-adaptive(max=64MiB)"});
  CHECK(Expand("gcsfs-adaptive(streak=1..2, max=16MiB|64MiB, concurrency=4)") ==
        std::vector<std::string>{"gcsfs-adaptive(streak=1, max=16MiB, concurrency=4)",
                                 "gcsfs-adaptive(streak=1, max=64MiB, concurrency=4)",
                                 "gcsfs-adaptive(streak=2, max=16MiB, concurrency=4)",
                                 "gcsfs-adaptive(streak=2, max=64MiB, concurrency=4)"});
  // An alternative may itself be a range.
  CHECK(Expand("x(a=0|4..6)") == std::vector<std::string>{"x(a=0)", "x(a=4)", "x(a=5)", "x(a=6)"});
}

TEST_CASE("sweep grid: any parameter of any layer of a stack", "[sweep]") {
  CHECK(Expand("fsspec-blockcache(blocksize=1MiB|4MiB) > gcsfs-adaptive(streak=1..3) > concurrent(parts=2|4)").size() ==
        12);
  const auto specs = Expand("fsspec-blockcache(blocksize=1MiB|4MiB) > gcsfs-adaptive(streak=1..2)");
  CHECK(specs == std::vector<std::string>{"fsspec-blockcache(blocksize=1MiB) > gcsfs-adaptive(streak=1)",
                                          "fsspec-blockcache(blocksize=1MiB) > gcsfs-adaptive(streak=2)",
                                          "fsspec-blockcache(blocksize=4MiB) > gcsfs-adaptive(streak=1)",
                                          "fsspec-blockcache(blocksize=4MiB) > gcsfs-adaptive(streak=2)"});
  // Several grids, and several specs in one grid, in the order given; every spec validated.
  auto all = ExpandPolicies({"none, gcsfs-adaptive(streak=1|2)", "fsspec-readahead(blocksize=1MiB..2MiB)"});
  REQUIRE(all.ok());
  std::vector<std::string> texts;
  for (const auto& s : *all) texts.push_back(s.text);
  CHECK(texts == std::vector<std::string>{"none", "gcsfs-adaptive(streak=1)", "gcsfs-adaptive(streak=2)",
                                          "fsspec-readahead(blocksize=1MiB)", "fsspec-readahead(blocksize=2MiB)"});
  REQUIRE((*all)[4].layers.size() == 1);
  CHECK((*all)[4].layers[0].params.at("blocksize") == "2MiB");
}

TEST_CASE("sweep grid: bad ranges, alternatives and expansions are errors naming the value", "[sweep]") {
  CHECK_THAT(ExpandError("gcsfs-adaptive(streak=4..1)"), Catch::Contains("'4..1'") && Catch::Contains("above"));
  CHECK_THAT(ExpandError("gcsfs-adaptive(max=1MiB..4KiB)"), Catch::Contains("same unit"));
  CHECK_THAT(ExpandError("gcsfs-adaptive(streak=1||2)"), Catch::Contains("empty alternative"));
  CHECK_THAT(ExpandError("gcsfs-adaptive(streak=1..3:0)"), Catch::Contains("step"));
  CHECK_THAT(ExpandError("gcsfs-adaptive(streak=1..3*1)"), Catch::Contains("factor"));
  CHECK_THAT(ExpandError("gcsfs-adaptive(streak=a..b)"), Catch::Contains("'a..b'"));
  CHECK_THAT(ExpandError("gcsfs-adaptive(streak=1..1000000)"), Catch::Contains("more than"));
  CHECK_THAT(ExpandError("gcsfs-adaptive(streak=1..3"), Catch::Contains("unbalanced"));
  // Expansions the registry rejects: the message names the expanded spec and what is wrong with it.
  const std::string zero = ExpandError("gcsfs-adaptive(concurrency=0..2)");
  CHECK_THAT(zero, Catch::Contains("'gcsfs-adaptive(concurrency=0)'") && Catch::Contains("concurrency must be"));
  CHECK_THAT(ExpandError("gcsfs-adaptive(stroke=1|2)"), Catch::Contains("no parameter 'stroke'"));
  CHECK_THAT(ExpandError("gcsfs-adaptiv(streak=1|2)"), Catch::Contains("unknown policy 'gcsfs-adaptiv'"));
  CHECK_THAT(ExpandError("gcsfs-adaptive(streak=1|1)"), Catch::Contains("appears twice"));
  CHECK_THAT(ExpandError("gcsfs-adaptive(streak=1..2), gcsfs-adaptive(streak=2)"), Catch::Contains("appears twice"));
}

TEST_CASE("sweep traces: a trace file is hashed whole as it is parsed, in either form", "[sweep][provenance]") {
  const fs::path dir = TempDir();
  // 3,000 reads: a JSONL file of about 160 KiB, three of the hashing reader's 64 KiB pieces.
  WriteTrace(dir / "t.jsonl", "random", 3000);
  traces::GeneratorParams params;
  params.count = 3000;
  auto generated = traces::Generate("random", params);
  REQUIRE(generated.ok());
  REQUIRE(traces::WriteBinaryTrace((dir / "t.pftrace").string(), *generated).ok());
  REQUIRE(fs::file_size(dir / "t.jsonl") > 2 * (64 << 10));
  for (const char* name : {"t.jsonl", "t.pftrace"}) {
    INFO(name);
    const std::string bytes = Slurp(dir / name);
    Md5 whole;
    whole.Update(bytes.data(), bytes.size());
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string expected;
    for (std::uint8_t b : whole.Final()) expected += {kDigits[b >> 4], kDigits[b & 15]};
    auto loaded = LoadTrace((dir / name).string());
    REQUIRE(loaded.ok());
    CHECK(loaded->md5 == expected);
    CHECK(loaded->trace.records.size() == 3000);
    CHECK(loaded->trace.name == "t");
  }
  // The same errors as traces::ReadTrace's.
  auto missing = LoadTrace((dir / "missing.jsonl").string());
  REQUIRE_FALSE(missing.ok());
  CHECK_THAT(missing.error().message,
             Catch::EndsWith("missing.jsonl:0: cannot open the trace file: No such file or directory"));
  auto directory = LoadTrace(dir.string());
  REQUIRE_FALSE(directory.ok());
  CHECK_THAT(directory.error().message, Catch::Contains(":0: is a directory, not a trace file"));
  fs::remove_all(dir);
}

TEST_CASE("sweep traces: directories give their *.jsonl sorted; repeats and empties are errors", "[sweep]") {
  const fs::path dir = TempDir();
  fs::create_directories(dir / "d");
  for (const char* name : {"b.jsonl", "a.jsonl", "c.txt"}) Spit(dir / "d" / name, "x");
  Spit(dir / "z.jsonl", "x");
  auto files = ListTraceFiles({(dir / "z.jsonl").string(), (dir / "d").string()});
  REQUIRE(files.ok());
  CHECK(*files == std::vector<std::string>{(dir / "z.jsonl").string(), (dir / "d" / "a.jsonl").string(),
                                           (dir / "d" / "b.jsonl").string()});
  // The results file kept among the traces is not a trace.
  auto without_results = ListTraceFiles({(dir / "d").string()}, (dir / "d" / "b.jsonl").string());
  REQUIRE(without_results.ok());
  CHECK(*without_results == std::vector<std::string>{(dir / "d" / "a.jsonl").string()});
  CHECK_FALSE(ListTraceFiles({(dir / "d").string(), (dir / "d" / "a.jsonl").string()}).ok());
  CHECK_FALSE(ListTraceFiles({(dir / "missing").string()}).ok());
  fs::create_directories(dir / "empty");
  auto empty = ListTraceFiles({(dir / "empty").string()});
  REQUIRE_FALSE(empty.ok());
  CHECK_THAT(empty.error().message, Catch::Contains("no *.jsonl"));
  fs::remove_all(dir);
}

TEST_CASE("sweep shards: i/N parsing, and the shards of a sweep partition its jobs", "[sweep]") {
  for (const char* bad : {"0/3", "4/3", "1/0", "3", "a/b", "1/2/3", "/2", "-1/2"}) {
    INFO(bad);
    CHECK_FALSE(Shard::Parse(bad).ok());
  }
  auto shard = Shard::Parse("2/3");
  REQUIRE(shard.ok());
  CHECK(shard->index == 2);
  CHECK(shard->count == 3);

  const fs::path dir = TempDir();
  SweepOptions options = SmallSweep(dir);
  options.policies = {"gcsfs-adaptive(streak=1..3)", "fsspec-readahead(blocksize=1MiB|2MiB|3MiB)"};
  auto whole = PlanSweep(options);
  REQUIRE(whole.ok());
  CHECK(whole->total_jobs == 2 * 7);
  REQUIRE(whole->jobs.size() == whole->total_jobs);
  // Stable order: trace-major, the traces of a directory sorted, `none` first.
  CHECK(whole->traces[0].trace.name == "back");
  CHECK(whole->Label(whole->jobs[0]) == "back x none");
  CHECK(whole->Label(whole->jobs[8]) == "seq x gcsfs-adaptive(streak=1)");
  for (std::uint32_t n = 1; n <= 5; ++n) {
    std::multiset<std::size_t> seen;
    for (std::uint32_t i = 1; i <= n; ++i) {
      options.shard = Shard{i, n};
      auto part = PlanSweep(options);
      REQUIRE(part.ok());
      CHECK(part->total_jobs == whole->total_jobs);
      for (const auto& job : part->jobs) {
        seen.insert(job.index);
        CHECK(part->Key(job) == whole->Key(whole->jobs[job.index]));
      }
    }
    INFO("shards: " << n);
    CHECK(seen.size() == whole->total_jobs);
    for (std::size_t k = 0; k < whole->total_jobs; ++k) CHECK(seen.count(k) == 1);
  }
  fs::remove_all(dir);
}

TEST_CASE("sweep resume: a killed sweep, truncated last line included, finishes without repeating runs", "[sweep]") {
  const fs::path dir = TempDir();
  auto plan = PlanSweep(SmallSweep(dir));
  REQUIRE(plan.ok());
  REQUIRE(plan->jobs.size() == 10);
  const fs::path full = dir / "full.jsonl";
  auto first = RunSweep(*plan, full.string(), {});
  REQUIRE(first.ok());
  CHECK(first->ran == 10);
  CHECK(first->already_done == 0);
  const auto expected = SortedLines(full);
  REQUIRE(expected.size() == 10);

  // As a kill leaves it: three whole lines, then part of the fourth.
  std::istringstream in(Slurp(full));
  std::string partial, line;
  for (int i = 0; i < 3 && std::getline(in, line); ++i) partial += line + "\n";
  std::getline(in, line);
  partial += line.substr(0, line.size() / 2);
  const fs::path killed = dir / "killed.jsonl";
  Spit(killed, partial);
  auto state = LoadResultsFile(killed.string());
  REQUIRE(state.ok());
  CHECK(state->truncated_tail);
  CHECK(state->lines.size() == 3);

  auto resumed = RunSweep(*plan, killed.string(), {});
  REQUIRE(resumed.ok());
  CHECK(resumed->dropped_truncated_tail);
  CHECK(resumed->already_done == 3);
  CHECK(resumed->ran == 7);
  CHECK(SortedLines(killed) == expected);

  // Nothing left to do: a third invocation runs nothing and changes nothing.
  auto again = RunSweep(*plan, killed.string(), {});
  REQUIRE(again.ok());
  CHECK(again->ran == 0);
  CHECK(again->already_done == 10);
  CHECK(SortedLines(killed) == expected);

  // A whole last line without its newline (killed between the two) is kept, and a newline added.
  const std::string whole_text = Slurp(full);
  const auto cut = whole_text.find('\n', whole_text.find('\n') + 1);  // end of line 2
  Spit(dir / "nonl.jsonl", whole_text.substr(0, cut));
  auto nonl = RunSweep(*plan, (dir / "nonl.jsonl").string(), {});
  REQUIRE(nonl.ok());
  CHECK_FALSE(nonl->dropped_truncated_tail);
  CHECK(nonl->ran == 8);
  CHECK(SortedLines(dir / "nonl.jsonl") == expected);
  fs::remove_all(dir);
}

TEST_CASE("sweep resume: malformed lines before the last, foreign lines and duplicates", "[sweep]") {
  const fs::path dir = TempDir();
  const SweepOptions options = SmallSweep(dir);
  auto plan = PlanSweep(options);
  REQUIRE(plan.ok());
  const fs::path file = dir / "r.jsonl";
  REQUIRE(RunSweep(*plan, file.string(), {}).ok());
  const std::string text = Slurp(file);
  const std::string first_line = text.substr(0, text.find('\n') + 1);

  Spit(dir / "bad.jsonl", first_line + "{not json\n" + first_line);
  auto bad = LoadResultsFile((dir / "bad.jsonl").string());
  REQUIRE_FALSE(bad.ok());
  CHECK_THAT(bad.error().message, Catch::Contains("bad.jsonl:2:"));
  Spit(dir / "nokey.jsonl", "{\"trace\":\"x\"}\n");
  auto nokey = LoadResultsFile((dir / "nokey.jsonl").string());
  REQUIRE_FALSE(nokey.ok());
  CHECK_THAT(nokey.error().message, Catch::Contains("nokey.jsonl:1:") && Catch::Contains("trace_md5"));

  // The same run twice (two copies of a shard concatenated) is counted once.
  Spit(dir / "dup.jsonl", text + first_line);
  auto dup = LoadResultsFile((dir / "dup.jsonl").string());
  REQUIRE(dup.ok());
  CHECK(dup->duplicates == 1);
  CHECK(dup->lines.size() == 10);

  // A moved corpus is the same runs: the key holds the trace's content, not its path.
  fs::rename(dir / "traces", dir / "moved");
  SweepOptions moved = options;
  moved.traces = {(dir / "moved").string() + "/"};
  auto moved_plan = PlanSweep(moved);
  REQUIRE(moved_plan.ok());
  auto moved_run = RunSweep(*moved_plan, file.string(), {});
  REQUIRE(moved_run.ok());
  CHECK(moved_run->ran == 0);
  fs::rename(dir / "moved", dir / "traces");
  // Two files with the same bytes would be one run: an error naming both.
  fs::copy_file(dir / "traces" / "seq.jsonl", dir / "traces" / "seq2.jsonl");
  auto same = PlanSweep(options);
  REQUIRE_FALSE(same.ok());
  CHECK_THAT(same.error().message, Catch::Contains("seq2.jsonl") && Catch::Contains("same content"));
  fs::remove(dir / "traces" / "seq2.jsonl");

  // An edited trace is a different run: its MD5 is part of the key.
  WriteTrace(dir / "traces" / "seq.jsonl", "sequential", 20);
  auto edited = PlanSweep(options);
  REQUIRE(edited.ok());
  auto rerun = RunSweep(*edited, file.string(), {});
  REQUIRE(rerun.ok());
  CHECK(rerun->ran == 5);
  CHECK(rerun->already_done == 5);
  fs::remove_all(dir);
}

TEST_CASE("sweep jobs: two worker threads write the same set of lines as one", "[sweep]") {
  const fs::path dir = TempDir();
  SweepOptions options = SmallSweep(dir);
  options.policies = {"gcsfs-adaptive(streak=1..3)", "fsspec-blockcache(blocksize=1MiB|4MiB) > gcsfs-v795",
                      "linux-readahead(read_ahead=128KiB|1MiB)", "oracle"};
  auto plan = PlanSweep(options);
  REQUIRE(plan.ok());
  std::size_t progress_calls = 0;
  SweepRunOptions one;
  one.on_progress = [&](const SweepProgress& p) {
    ++progress_calls;
    CHECK(p.done == progress_calls);
    CHECK(p.total == plan->jobs.size());
    CHECK_FALSE(p.item.empty());
  };
  REQUIRE(RunSweep(*plan, (dir / "one.jsonl").string(), one).ok());
  CHECK(progress_calls == plan->jobs.size());
  SweepRunOptions two;
  two.jobs = 2;
  auto outcome = RunSweep(*plan, (dir / "two.jsonl").string(), two);
  REQUIRE(outcome.ok());
  CHECK(outcome->ran == plan->jobs.size());
  const auto lines = SortedLines(dir / "one.jsonl");
  CHECK(lines.size() == plan->jobs.size());
  CHECK(SortedLines(dir / "two.jsonl") == lines);
  // Each line is one run of the plan, with the run key and a results entry's fields.
  auto state = LoadResultsFile((dir / "two.jsonl").string());
  REQUIRE(state.ok());
  REQUIRE(state->lines.size() == plan->jobs.size());
  const auto ordered = InPlanOrder(*plan, state->lines);
  for (std::size_t i = 0; i < ordered.size(); ++i) {
    CHECK(*RunKeyOfLine(ordered[i]) == plan->Key(plan->jobs[i]));
    CHECK(ordered[i]["metrics"]["reads"] == 24);
    CHECK(ordered[i]["trace_md5"].get<std::string>().size() == 32);
  }
  fs::remove_all(dir);
}

TEST_CASE("sweep: a results file that cannot be written is an error before any run", "[sweep]") {
  const fs::path dir = TempDir();
  auto plan = PlanSweep(SmallSweep(dir));
  REQUIRE(plan.ok());
  std::size_t progress_calls = 0;
  SweepRunOptions options;
  options.on_progress = [&](const SweepProgress&) { ++progress_calls; };
  auto outcome = RunSweep(*plan, (dir / "no" / "such" / "dir.jsonl").string(), options);
  REQUIRE_FALSE(outcome.ok());
  CHECK_THAT(outcome.error().message, Catch::Contains("dir.jsonl") && Catch::Contains("cannot open"));
  CHECK(progress_calls == 0);
  fs::remove_all(dir);
}

TEST_CASE("sweep seeds and bound: every trace x spec x seed, resumable, and the oracle's budget", "[sweep]") {
  const fs::path dir = TempDir();
  SweepOptions options = SmallSweep(dir);
  options.include_bound = true;
  options.policies = {"gcsfs-adaptive(streak=1|2)", "oracle"};
  options.seeds = {4, 5, 6};
  auto plan = PlanSweep(options);
  REQUIRE(plan.ok());
  // none, bound, two gcsfs-adaptive, oracle; two traces; three seeds.
  REQUIRE(plan->specs.size() == 5);
  CHECK(plan->specs[0].text == "none");
  CHECK(plan->specs[1].text == "bound");
  CHECK(plan->total_jobs == 2 * 5 * 3);
  CHECK(plan->Label(plan->jobs[0]) == "back x none");
  CHECK(plan->jobs[4].spec == 1);  // seeds vary fastest
  CHECK(plan->jobs[4].seed == 1);
  const fs::path full = dir / "full.jsonl";
  auto first = RunSweep(*plan, full.string(), {});
  REQUIRE(first.ok());
  CHECK(first->ran == 30);
  auto state = LoadResultsFile(full.string());
  REQUIRE(state.ok());
  const auto lines = InPlanOrder(*plan, state->lines);
  REQUIRE(lines.size() == 30);
  // The bound line carries its derivation; it is the same for every seed, and below every run.
  for (std::size_t t = 0; t < 2; ++t) {
    const auto& bound = lines[t * 15 + 3];
    CHECK(bound["policy"] == "bound");
    CHECK(bound["bound"].contains("binding"));
    CHECK(bound["metrics"]["elapsed_s"] == lines[t * 15 + 5]["metrics"]["elapsed_s"]);
    for (std::size_t k = 0; k < 15; ++k) {
      CHECK(lines[t * 15 + k]["metrics"]["elapsed_s"].get<double>() >= bound["metrics"]["elapsed_s"].get<double>());
    }
    // The oracle's budget is the largest peak memory of none and the two gcsfs-adaptive runs of its seed.
    for (std::size_t k = 0; k < 3; ++k) {
      std::uint64_t largest = 0;
      for (std::size_t spec : {0, 2, 3}) {
        largest = std::max(largest, lines[t * 15 + spec * 3 + k]["metrics"]["peak_memory_bytes"].get<std::uint64_t>());
      }
      const auto& oracle = lines[t * 15 + 12 + k];
      REQUIRE(oracle["policy"] == "oracle");
      CHECK(oracle["comparison_peak_memory_bytes"] == largest);
      CHECK(largest > 0);
    }
  }
  // Resuming after losing every oracle line and one gcsfs line: the oracle's budget comes from the file
  // for the runs that are there and from a fresh run for the one that is not; the lines are the same.
  std::string kept;
  std::size_t dropped = 0;
  for (const auto& line : state->lines) {
    const bool drop = line["policy"] == "oracle" || (line["policy"] == "gcsfs-adaptive(streak=2)" && line["seed"] == 5);
    dropped += drop;
    if (!drop) kept += line.dump() + "\n";
  }
  Spit(dir / "resumed.jsonl", kept);
  auto resumed = RunSweep(*plan, (dir / "resumed.jsonl").string(), {});
  REQUIRE(resumed.ok());
  CHECK(resumed->ran == dropped);
  CHECK(SortedLines(dir / "resumed.jsonl") == SortedLines(full));
  // Shards into separate files, with two threads each: together the same lines, oracle budgets included.
  std::vector<std::string> merged;
  for (std::uint32_t i = 1; i <= 3; ++i) {
    options.shard = Shard{i, 3};
    auto part = PlanSweep(options);
    REQUIRE(part.ok());
    SweepRunOptions two;
    two.jobs = 2;
    const fs::path file = dir / ("shard" + std::to_string(i) + ".jsonl");
    REQUIRE(RunSweep(*part, file.string(), two).ok());
    for (auto& l : SortedLines(file)) merged.push_back(l);
  }
  std::sort(merged.begin(), merged.end());
  CHECK(merged == SortedLines(full));
  fs::remove_all(dir);
}

}  // namespace
}  // namespace pflab::replay

namespace pflab::replay {
namespace {

// An environment made of `vars` only.
std::function<const char*(const char*)> Env(std::map<std::string, std::string> vars) {
  auto held = std::make_shared<std::map<std::string, std::string>>(std::move(vars));
  return [held](const char* name) -> const char* {
    auto it = held->find(name);
    return it == held->end() ? nullptr : it->second.c_str();
  };
}

TEST_CASE("sweep shard auto: Slurm array tasks and Kubernetes completions become shards", "[sweep][shard]") {
  auto slurm = ShardFromEnvironment(
      Env({{"SLURM_ARRAY_TASK_ID", "7"}, {"SLURM_ARRAY_TASK_COUNT", "4"}, {"SLURM_ARRAY_TASK_MIN", "5"}}));
  REQUIRE(slurm.ok());
  CHECK(slurm->ToString() == "3/4");
  // An array from 0 (Slurm's usual --array=0-3), MIN unset: task 0 is shard 1.
  auto from_zero = ShardFromEnvironment(Env({{"SLURM_ARRAY_TASK_ID", "0"}, {"SLURM_ARRAY_TASK_COUNT", "4"}}));
  REQUIRE(from_zero.ok());
  CHECK(from_zero->ToString() == "1/4");
  auto k8s = ShardFromEnvironment(Env({{"JOB_COMPLETION_INDEX", "2"}}), 3);
  REQUIRE(k8s.ok());
  CHECK(k8s->ToString() == "3/3");

  auto message = [](const Result<Shard>& r) { return r.ok() ? std::string("(ok)") : r.error().message; };
  CHECK_THAT(message(ShardFromEnvironment(Env({}))), Catch::StartsWith("no batch system's shard in the environment"));
  CHECK_THAT(message(ShardFromEnvironment(Env({{"JOB_COMPLETION_INDEX", "2"}}))),
             Catch::Contains("use --shard auto/N"));
  CHECK_THAT(message(ShardFromEnvironment(Env({{"JOB_COMPLETION_INDEX", "3"}}), 3)),
             Catch::Contains("is not below the 3 completions"));
  CHECK_THAT(message(ShardFromEnvironment(Env({{"SLURM_ARRAY_TASK_ID", "1"}}))),
             Catch::Contains("SLURM_ARRAY_TASK_COUNT is not"));
  CHECK_THAT(message(ShardFromEnvironment(
                 Env({{"SLURM_ARRAY_TASK_ID", "2"}, {"SLURM_ARRAY_TASK_COUNT", "2"}, {"SLURM_ARRAY_TASK_STEP", "2"}}))),
             Catch::Contains("step is 2"));
  CHECK_THAT(message(ShardFromEnvironment(Env({{"SLURM_ARRAY_TASK_ID", "9"}, {"SLURM_ARRAY_TASK_COUNT", "4"}}))),
             Catch::Contains("is not one of 4 consecutive task ids from 0"));
  CHECK_THAT(message(ShardFromEnvironment(Env({{"SLURM_ARRAY_TASK_ID", "x"}}))), Catch::Contains("is not a number"));
}

TEST_CASE("sweep merge: the shards' files merge into the lines of a single-process run, or say what is wrong",
          "[sweep][merge]") {
  const fs::path dir = TempDir();
  SweepOptions options = SmallSweep(dir);
  options.include_bound = true;
  options.seeds = {9, 10};
  auto whole = PlanSweep(options);
  REQUIRE(whole.ok());
  REQUIRE(RunSweep(*whole, (dir / "single.jsonl").string(), {}).ok());
  std::vector<std::string> shards;
  for (std::uint32_t i = 1; i <= 3; ++i) {
    SweepOptions o = options;
    o.shard = Shard{i, 3};
    auto plan = PlanSweep(o);
    REQUIRE(plan.ok());
    shards.push_back((dir / ("shard" + std::to_string(i) + ".jsonl")).string());
    REQUIRE(RunSweep(*plan, shards.back(), {}).ok());
  }
  const std::string merged = (dir / "merged.jsonl").string();
  auto n = MergeShardResults(*whole, shards, merged);
  INFO((n ? "" : n.error().message));
  REQUIRE(n.ok());
  CHECK(*n == whole->total_jobs);
  CHECK(SortedLines(merged) == SortedLines(dir / "single.jsonl"));
  // In the plan's job order, whatever order the shards finished in.
  std::istringstream lines(Slurp(merged));
  std::size_t index = 0;
  for (std::string line; std::getline(lines, line); ++index) {
    CHECK(*RunKeyOfLine(nlohmann::json::parse(line)) == whole->Key(whole->jobs[index]));
  }
  CHECK(index == whole->total_jobs);

  auto error = [&](const std::vector<std::string>& files) {
    auto r = MergeShardResults(*whole, files, (dir / "bad.jsonl").string());
    CHECK(!fs::exists(dir / "bad.jsonl"));  // nothing written on an error
    return r.ok() ? std::string("(merged)") : r.error().message;
  };
  CHECK_THAT(error({shards[0], shards[2]}), Catch::Contains("runs of the sweep are in none of the files"));
  CHECK_THAT(error({shards[0], shards[1], shards[2], shards[1]}), Catch::Contains("is also in " + shards[1]));
  CHECK_THAT(error({shards[0], shards[1], shards[2], (dir / "nope.jsonl").string()}),
             Catch::Contains("no such results file"));
  // A run of another sweep (another seed).
  SweepOptions other = options;
  other.seeds = {11};
  auto other_plan = PlanSweep(other);
  REQUIRE(other_plan.ok());
  const std::string foreign = (dir / "other.jsonl").string();
  REQUIRE(RunSweep(*other_plan, foreign, {}).ok());
  CHECK_THAT(error({shards[0], shards[1], shards[2], foreign}), Catch::Contains("a run that is not in this sweep"));
  // A shard cut mid-write.
  Spit(dir / "cut.jsonl", Slurp(shards[2]) + "{\"trace\":\"seq\",\"poli");
  CHECK_THAT(error({shards[0], shards[1], (dir / "cut.jsonl").string()}), Catch::Contains("cut mid-write"));
  // Only a whole plan merges.
  SweepOptions one_shard = options;
  one_shard.shard = Shard{1, 3};
  auto part = PlanSweep(one_shard);
  REQUIRE(part.ok());
  CHECK(!MergeShardResults(*part, shards, merged).ok());
  // The output may be one of the inputs.
  std::vector<std::string> copies;
  for (const auto& s : shards) {
    copies.push_back(s + ".copy");
    fs::copy_file(s, copies.back());
  }
  REQUIRE(MergeShardResults(*whole, copies, copies[0]).ok());
  CHECK(SortedLines(copies[0]) == SortedLines(dir / "single.jsonl"));
  fs::remove_all(dir);
}

}  // namespace
}  // namespace pflab::replay
