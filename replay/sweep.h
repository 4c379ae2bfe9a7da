// Sweeps: many simulated runs (traces x expanded policy grids) planned in a stable order, split into
// shards, run on worker threads, and appended to a JSON Lines results file one finished run at a time,
// so an interrupted sweep resumes where it stopped.
//
// Grid syntax, inside any parameter value of any layer of a stack spec:
//   x|y|z      alternatives, in the order written
//   a..b       integers a, a+1, ..., b         (a..b:s  steps of s;  a..b*f  a, a*f, a*f^2, ... <= b)
// Both ends of a range may carry the same unit suffix (1MiB..4MiB is 1MiB, 2MiB, 3MiB, 4MiB), and an
// alternative may be a range (max=16MiB|64MiB..256MiB*2). A spec expands to the cartesian product of
// its grid values, ordered like nested loops written left to right: the last grid parameter in the
// text varies fastest.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "engine/result.h"
#include "policies/registry.h"
#include "replay/replayer.h"
#include "replay/simulation.h"
#include "sim/network_model.h"
#include "traces/trace.h"

namespace pflab::replay {

/// Expands the grid values of one stack spec into plain spec texts (syntax above). Checks the spec's
/// syntax, not its policies; a spec without grid values expands to itself.
Result<std::vector<std::string>> ExpandGrid(std::string_view spec);

/// Expands every grid (each may hold several specs separated by top-level commas), in order, and
/// validates every expanded spec with the registry; an error names the grid and the bad expansion.
/// A spec appearing twice is an error.
Result<std::vector<policies::StackSpec>> ExpandPolicies(const std::vector<std::string>& grids);

/// The trace files named by `paths`: a file as given, a directory as every *.jsonl directly inside it
/// (not recursive), sorted by name, leaving out `skip` (the sweep's own results file, also *.jsonl, which
/// users naturally keep next to the traces). Missing paths, empty directories and repeats are errors.
Result<std::vector<std::string>> ListTraceFiles(const std::vector<std::string>& paths, const std::string& skip = "");

/// Which part of a sweep this process runs: shard `index` of `count` (1-based) owns the jobs whose
/// 0-based position in the stable job order is congruent to index-1 modulo count.
struct Shard {
  std::uint32_t index = 1;
  std::uint32_t count = 1;

  /// Parses `i/N` with 1 <= i <= N.
  static Result<Shard> Parse(std::string_view text);
  bool Owns(std::size_t job) const { return job % count == index - 1; }
  std::string ToString() const { return std::to_string(index) + "/" + std::to_string(count); }
};

/// The shard a batch system gives this process, for `--shard auto`: a Slurm job array's task
/// (SLURM_ARRAY_TASK_ID - SLURM_ARRAY_TASK_MIN + 1 of SLURM_ARRAY_TASK_COUNT; the array's step must be 1),
/// or a Kubernetes Indexed Job's completion (JOB_COMPLETION_INDEX + 1 of `completions`, which the
/// environment does not hold: `--shard auto/N` passes it). `env` looks a variable up (nullptr: unset).
/// Errors say which variables were looked for when none is set, or what is wrong with them.
Result<Shard> ShardFromEnvironment(const std::function<const char*(const char*)>& env,
                                   std::optional<std::uint32_t> completions = std::nullopt);

/// What a sweep covers.
struct SweepOptions {
  std::vector<std::string> traces;    // files and directories
  std::vector<std::string> policies;  // grid specs
  std::string profile = "gcs-regional";
  std::string profiles_file;  // empty: $PFLAB_PROFILES, else the built-in profiles
  std::uint64_t seed = 1;
  std::vector<std::uint64_t> seeds;  // every trace x spec runs with each; empty: just `seed`
  std::string think = "recorded";
  Shard shard;
  /// The results file: never read as a trace when it sits in a traces directory.
  std::string results_file;
  /// Adds `none` first (unless a grid names it) so results carry ratios to the baseline, as compare does.
  bool include_baseline = true;
  /// Adds the lower bound (replay/bound.h) after `none`, so results carry ratios to it.
  bool include_bound = true;
};

/// A trace of the sweep, read and hashed once.
struct SweepTrace {
  std::string path;     // as listed; shown in result lines, not part of the run key
  std::string md5;      // hex MD5 of the file's bytes: the trace's part of the run key
  traces::Trace trace;  // trace.name is the label in results: the file stem, or the path if stems clash
};

/// Reads a trace file (either form) and hashes its bytes as they are parsed, so the digest covers
/// exactly the bytes the trace came from and the file is read once. Errors as traces::ReadTrace's.
Result<SweepTrace> LoadTrace(const std::string& path);

/// One run of the sweep: a trace, an expanded spec and a seed, at `index` in the stable job order.
struct SweepJob {
  std::size_t index = 0;
  std::size_t trace = 0;  // into SweepPlan::traces
  std::size_t spec = 0;   // into SweepPlan::specs
  std::size_t seed = 0;   // into SweepPlan::seeds
};

/// The whole sweep, every input read and validated: jobs are trace-major (traces in listed order,
/// specs in expansion order, then seeds: the order of replay::RunMatrix's cells), and `jobs` holds only
/// this shard's.
struct SweepPlan {
  std::vector<SweepTrace> traces;
  std::vector<policies::StackSpec> specs;
  std::string profile_name;
  sim::NetworkProfile profile;
  std::vector<std::uint64_t> seeds{1};
  ThinkTime think;
  Shard shard;
  std::size_t total_jobs = 0;  // over all shards
  std::vector<SweepJob> jobs;  // this shard's

  /// The run key of a job, as RunKeyOfLine gives it for the job's result line.
  std::string Key(const SweepJob& job) const;
  /// "trace x spec", for progress and errors.
  std::string Label(const SweepJob& job) const;
};

/// Reads, hashes and parses every trace and expands every grid before anything runs.
Result<SweepPlan> PlanSweep(const SweepOptions& options);

/// The key of a result line: trace MD5, policy, profile, seed and think time. Lines with equal keys
/// are the same run: an edited trace runs again, a moved one does not. Errors when a key field is
/// missing or mistyped.
Result<std::string> RunKeyOfLine(const nlohmann::json& line);

/// A results file as found on disk.
struct ResultsFileState {
  std::vector<nlohmann::json> lines;  // complete lines, first per key, in file order
  std::set<std::string> keys;         // their keys
  std::size_t duplicates = 0;         // complete lines whose key an earlier line already had
  bool truncated_tail = false;        // the last line was cut mid-write (no newline, not JSON)
  std::uint64_t good_bytes = 0;       // length of the file without the truncated tail
  bool missing_newline = false;       // the last line is whole JSON but lacks its newline
};

/// Reads a results file; a missing file is an empty state. A malformed line other than an unfinished
/// last one is an error naming FILE:LINE.
Result<ResultsFileState> LoadResultsFile(const std::string& path);

/// A finished run's result line: the run key's fields plus the fields of a results document's "runs"
/// entry (trace label, policy, profile, seed, think, events, metrics, errors). Only deterministic
/// fields, so the same run always gives the same line. A run that failed (failed or wrong reads, or a
/// hang) is a line like any other, with its errors: it counts as done, since running it again in the
/// simulator would fail the same way.
nlohmann::json ResultLine(const SweepTrace& trace, const RunResult& run);

/// Whether a result line is of a failed run (failed or wrong reads, or any recorded error).
bool LineFailed(const nlohmann::json& line);
/// How many lines of this plan's shard (by key) are of failed runs.
std::size_t FailedRuns(const SweepPlan& plan, const std::vector<nlohmann::json>& lines);

/// Merges the results files of a sweep's shards into `output`, for the sweep `plan` planned whole
/// (shard 1/1). Every line must be a run of the plan (the shards of one sweep share its traces,
/// policies, seeds, profile and think time), no run may be in two places, no file may end in a line cut
/// mid-write, and every run of the plan must be somewhere; otherwise nothing is written and the error
/// says which file and run. The lines are written in the plan's job order to a temporary file renamed
/// over `output` (which may be one of the inputs). Returns the number of runs written.
Result<std::size_t> MergeShardResults(const SweepPlan& plan, const std::vector<std::string>& files,
                                      const std::string& output);

/// Progress after each finished run.
struct SweepProgress {
  std::size_t done = 0;   // runs finished by this invocation
  std::size_t total = 0;  // runs this invocation has to do
  double wall_s = 0;      // since the first run started
  std::string item;       // the run that just finished
  std::string failure;    // its first error when it failed, else empty
};

/// How to run.
struct SweepRunOptions {
  unsigned jobs = 1;                                      // simulations at once, each on its own thread
  std::function<void(const SweepProgress&)> on_progress;  // called under a lock, one call at a time
};

/// What a sweep invocation did.
struct SweepOutcome {
  std::size_t in_shard = 0;      // jobs of this shard
  std::size_t already_done = 0;  // of those, found in the results file
  std::size_t ran = 0;           // run and appended now
  std::size_t failed = 0;        // of those, runs that failed (their lines carry the errors)
  bool dropped_truncated_tail = false;
  double wall_s = 0;
};

/// Runs every job of the plan's shard whose key is not yet in `results_path`, appending one line per
/// finished run (a single write(2) on an O_APPEND descriptor, so a kill leaves at most one cut line,
/// which the next invocation removes). A run that fails (failed or wrong reads) is a result line with
/// its errors and the sweep goes on; only a run that cannot run at all, or a write error, stops it
/// (runs already started finish and are kept, and the error names the run).
Result<SweepOutcome> RunSweep(const SweepPlan& plan, const std::string& results_path, const SweepRunOptions& options);

/// `lines` sorted for reports and summaries: runs of the plan in job order (every shard's), then any
/// others the file holds, by key; so a report does not depend on the order runs finished in.
std::vector<nlohmann::json> InPlanOrder(const SweepPlan& plan, std::vector<nlohmann::json> lines);

}  // namespace pflab::replay
