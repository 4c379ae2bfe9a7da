#include "cli/sweep.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <optional>

#include "plugins/plugin_loader.h"
#include "policies/registry.h"
#include "replay/matrix.h"
#include "replay/sweep.h"
#include "reports/provenance.h"
#include "reports/results.h"
#include "reports/summary.h"

namespace {

int Fail(const std::string& message) {
  std::cerr << "pflab sweep: " << message << "\n";
  return 1;
}

std::string Duration(double seconds) {
  char buf[32];
  if (seconds < 60) {
    std::snprintf(buf, sizeof buf, "%.0fs", seconds);
  } else if (seconds < 3600) {
    std::snprintf(buf, sizeof buf, "%dm%02ds", static_cast<int>(seconds) / 60, static_cast<int>(seconds) % 60);
  } else {
    std::snprintf(buf, sizeof buf, "%dh%02dm", static_cast<int>(seconds) / 3600, static_cast<int>(seconds) / 60 % 60);
  }
  return buf;
}

// One progress line: bar, done/total, rate, ETA and the run that just finished.
std::string ProgressLine(const pflab::replay::SweepProgress& p, std::size_t width) {
  constexpr std::size_t kBar = 24;
  const std::size_t filled = p.total ? p.done * kBar / p.total : kBar;
  const double rate = p.wall_s > 0 ? static_cast<double>(p.done) / p.wall_s : 0;
  const double eta = rate > 0 ? static_cast<double>(p.total - p.done) / rate : 0;
  char head[160];
  std::snprintf(head, sizeof head, "[%s%s] %zu/%zu  %.1f runs/s  ETA %s  ", std::string(filled, '#').c_str(),
                std::string(kBar - filled, '.').c_str(), p.done, p.total, rate, Duration(eta).c_str());
  std::string line = head + p.item;
  if (width > 0 && line.size() > width) line = line.substr(0, width - 3) + "...";
  return line;
}

pflab::Status WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  out.close();
  if (!out) return pflab::InvalidArgument(path + ": cannot write");
  return pflab::OkStatus();
}

// The best policy per trace over every run in the file (medians over seeds), its runner-up, and whether
// the seeds tell them apart.
void PrintSummary(const std::vector<pflab::replay::RunResult>& runs, std::size_t lines, const std::string& file) {
  const auto traces = pflab::reports::Summarize(runs);
  std::size_t seeds = 0;
  for (const auto& t : traces) seeds = std::max(seeds, t.seeds.size());
  std::cout << "best policy per trace (lowest " << (seeds > 1 ? "median " : "") << "elapsed"
            << (seeds > 1 ? " over " + std::to_string(seeds) + " seeds" : "") << "; " << lines << " runs in " << file
            << ")\n";
  struct Line {
    std::vector<std::string> cells;
  };
  std::vector<std::string> header = {"trace", "profile", "policy", "elapsed s", "vs none", "vs bound", "runs"};
  if (seeds > 1) {
    header.push_back("runner-up");
    header.push_back("told apart");
  }
  auto ratio = [](const std::optional<double>& r) {
    char buf[32] = "-";
    if (r) std::snprintf(buf, sizeof buf, "%.2fx", *r);
    return std::string(buf);
  };
  std::vector<Line> out;
  for (const auto& t : traces) {
    if (t.winner < 0) continue;
    const auto& best = t.cells[static_cast<std::size_t>(t.winner)];
    std::size_t count = 0;
    for (const auto& c : t.cells) count += c.runs.size();
    char elapsed[32];
    std::snprintf(elapsed, sizeof elapsed, "%.3f", best.elapsed_median);
    Line line{
        {t.label, t.profile, best.policy, elapsed, ratio(best.vs_none), ratio(best.vs_bound), std::to_string(count)}};
    if (seeds > 1) {
      line.cells.push_back(t.runner_up < 0 ? "-" : t.cells[static_cast<std::size_t>(t.runner_up)].policy);
      line.cells.push_back(pflab::reports::TellApart(t));
    }
    out.push_back(std::move(line));
  }
  std::vector<std::size_t> width(header.size());
  for (std::size_t i = 0; i < header.size(); ++i) width[i] = header[i].size();
  for (const auto& l : out) {
    for (std::size_t i = 0; i < l.cells.size(); ++i) width[i] = std::max(width[i], l.cells[i].size());
  }
  auto print = [&](const std::vector<std::string>& cells) {
    std::string text;
    for (std::size_t i = 0; i < cells.size(); ++i) {
      const bool right =
          header[i] == "elapsed s" || header[i] == "vs none" || header[i] == "vs bound" || header[i] == "runs";
      const std::string pad(width[i] - cells[i].size(), ' ');
      text += "  " + (right ? pad + cells[i] : cells[i] + (i + 1 == cells.size() ? "" : pad));
    }
    std::cout << text << "\n";
  };
  print(header);
  for (const auto& l : out) print(l.cells);
}

// After the runs (or a merge): the summary, the reports, and the exit status (defined below).
int Finish(const SweepArgs& args, const pflab::replay::SweepPlan& plan);

}  // namespace

CLI::App* AddSweepCommand(CLI::App& app, SweepArgs& args) {
  auto* cmd = app.add_subcommand(
      "sweep", "run traces x policy parameter grids in the simulator, in parallel, into a resumable results file");
  cmd->add_option("--traces", args.traces, "trace files, or directories (every *.jsonl inside, sorted)")->required();
  cmd->add_option("--policy", args.policies,
                  "policy stack with grid values, repeatable: x|y|z alternatives, a..b integer ranges (a..b:STEP, "
                  "a..b*FACTOR), e.g. 'gcsfs-adaptive(streak=1..4,max=16MiB|64MiB)'")
      ->required();
  cmd->add_option("--profile", args.profile, "network profile (see `pflab profiles`)")->capture_default_str();
  cmd->add_option("--profiles", args.profiles_file,
                  "network profiles file (default: $PFLAB_PROFILES, else the built-in profiles; see `pflab "
                  "profiles --file`)");
  cmd->add_option("--seed", args.seed, "seed for latency sampling and jitter")->capture_default_str();
  cmd->add_option("--seeds", args.seeds,
                  "run every trace x spec over several seeds: N (N seeds from --seed), A..B, or a,b,c; the summary "
                  "and reports then show medians");
  cmd->add_option("--think", args.think, "think time: recorded, zero, or xFACTOR")->capture_default_str();
  cmd->add_option("-j,--jobs", args.jobs, "simulations run at once, one thread each")->capture_default_str();
  cmd->add_option("-o,--output", args.output, "results file (JSON Lines), appended to and resumed from")
      ->capture_default_str();
  cmd->add_option("--shard", args.shard,
                  "i/N: run only jobs i, i+N, i+2N, ... (1-based) of the stable job order; auto: the shard of a Slurm "
                  "job array task (auto/N: of a Kubernetes Indexed Job of N completions)");
  cmd->add_option("--json", args.json, "afterwards, write every run in the results file as a results document");
  cmd->add_option("--md", args.md, "afterwards, write every run in the results file as a Markdown report");
  cmd->add_flag("--no-baseline", args.no_baseline, "do not add `none` to the policies");
  cmd->add_flag("--no-bound", args.no_bound, "do not add the lower bound `bound` to the policies");
  cmd->add_flag("--dry-run", args.dry_run, "list this shard's runs (and which are already done) and stop");
  cmd->add_flag("-q,--quiet", args.quiet, "no progress on stderr");
  cmd->add_option("--plugin", args.plugins, "a plugin library whose policies to add, repeatable (docs/own_policy.md)");
  auto* merge = cmd->add_subcommand(
      "merge",
      "merge the results files of a sweep's shards into -o, checking that they hold every run of the sweep "
      "(given by the same --traces, --policy, ... options) exactly once; then the summary and reports");
  merge->add_option("files", args.merge_files, "the shards' results files")->required();
  merge->fallthrough();  // the sweep's options may follow `merge FILES...`
  args.merge_cmd = merge;
  return cmd;
}

int RunSweep(const SweepArgs& args) {
  if (args.jobs < 1 || args.jobs > 256) return Fail("--jobs: expected 1..256");
  for (const auto& path : args.plugins) {
    if (auto status = pflab::plugins::LoadPlugin(path); !status) return Fail("--plugin " + status.error().message);
  }
  pflab::replay::SweepOptions options;
  options.traces = args.traces;
  options.results_file = args.output;
  options.policies = args.policies;
  options.profile = args.profile;
  options.profiles_file = args.profiles_file;
  options.seed = args.seed;
  if (!args.seeds.empty()) {
    auto seeds = pflab::replay::ParseSeeds(args.seeds, args.seed);
    if (!seeds) return Fail("--seeds: " + seeds.error().message);
    options.seeds = std::move(*seeds);
  }
  options.include_bound = !args.no_bound;
  options.think = args.think;
  options.include_baseline = !args.no_baseline;
  const bool merging = args.merge_cmd != nullptr && args.merge_cmd->parsed();
  if (merging && !args.shard.empty()) return Fail("sweep merge: --shard does not apply (it merges every shard)");
  if (args.shard == "auto" || args.shard.rfind("auto/", 0) == 0) {
    std::optional<std::uint32_t> completions;
    if (args.shard != "auto") {
      const std::string n = args.shard.substr(5);
      char* end = nullptr;
      const unsigned long long value = std::strtoull(n.c_str(), &end, 10);
      if (n.empty() || *end != '\0' || value < 1 || value > 0xffffffffull) {
        return Fail("--shard: '" + args.shard + "': expected auto/N with N the number of completions (at least 1)");
      }
      completions = static_cast<std::uint32_t>(value);
    }
    auto shard = pflab::replay::ShardFromEnvironment([](const char* name) { return std::getenv(name); }, completions);
    if (!shard) return Fail("--shard auto: " + shard.error().message);
    options.shard = *shard;
  } else if (!args.shard.empty()) {
    auto shard = pflab::replay::Shard::Parse(args.shard);
    if (!shard) return Fail("--shard: " + shard.error().message);
    options.shard = *shard;
  }
  auto plan = pflab::replay::PlanSweep(options);
  if (!plan) return Fail(plan.error().message);

  if (args.dry_run) {
    auto state = pflab::replay::LoadResultsFile(args.output);
    if (!state) return Fail(state.error().message);
    for (const auto& job : plan->jobs) {
      std::cout << job.index << "\t" << (state->keys.count(plan->Key(job)) ? "done" : "todo") << "\t"
                << plan->traces[job.trace].path << "\t" << plan->specs[job.spec].text << "\n";
    }
    std::cerr << plan->jobs.size() << " runs in shard " << plan->shard.ToString() << " of " << plan->total_jobs << " ("
              << plan->traces.size() << " traces x " << plan->specs.size() << " specs)\n";
    return 0;
  }

  if (merging) {
    auto merged = pflab::replay::MergeShardResults(*plan, args.merge_files, args.output);
    if (!merged) return Fail("sweep merge: " + merged.error().message);
    if (!args.quiet) {
      std::fprintf(stderr, "merged %zu results files: %zu runs, every run of the sweep once, into %s\n",
                   args.merge_files.size(), *merged, args.output.c_str());
    }
    return Finish(args, *plan);
  }

  if (!args.quiet && args.jobs > 1) {
    std::size_t serial = 0, simulated = 0;  // the bound is computed, not simulated: not counted
    for (const auto& spec : plan->specs) {
      if (pflab::replay::IsBound(spec)) continue;
      ++simulated;
      serial += pflab::policies::RunsOneAtATime(spec);
    }
    if (serial) {
      std::fprintf(stderr,
                   "%zu of %zu specs hold a Python policy: their runs go one at a time (one interpreter serves "
                   "the process); --jobs %u applies to the others\n",
                   serial, simulated, args.jobs);
    }
  }
  const bool tty = ::isatty(STDERR_FILENO);
  pflab::replay::SweepRunOptions run;
  run.jobs = args.jobs;
  bool drew = false;
  if (!args.quiet) {
    // Redrawn in place on a terminal; a log (CI, a batch system) gets one line per finished run.
    run.on_progress = [&](const pflab::replay::SweepProgress& p) {
      if (tty) {
        std::fprintf(stderr, "\r%s\x1b[K", ProgressLine(p, 160).c_str());
        drew = true;
      } else {
        std::fprintf(stderr, "%s\n", ProgressLine(p, 0).c_str());
      }
      if (!p.failure.empty()) {
        std::fprintf(stderr, "%spflab sweep: %s failed: %s\n", drew ? "\n" : "", p.item.c_str(), p.failure.c_str());
        drew = false;
      }
      std::fflush(stderr);
    };
  } else {
    // Failures are loud even when progress is not.
    run.on_progress = [](const pflab::replay::SweepProgress& p) {
      if (!p.failure.empty()) std::fprintf(stderr, "pflab sweep: %s failed: %s\n", p.item.c_str(), p.failure.c_str());
    };
  }
  auto outcome = pflab::replay::RunSweep(*plan, args.output, run);
  if (drew) std::fputc('\n', stderr);
  if (!outcome) return Fail(outcome.error().message);
  if (!args.quiet) {
    if (outcome->dropped_truncated_tail)
      std::fprintf(stderr, "removed a truncated last line from %s\n", args.output.c_str());
    std::fprintf(stderr,
                 "shard %s: %zu of %zu runs; %zu already in %s, %zu run now in %.2fs (%.1f runs/s, --jobs %u)\n",
                 plan->shard.ToString().c_str(), outcome->in_shard, plan->total_jobs, outcome->already_done,
                 args.output.c_str(), outcome->ran, outcome->wall_s,
                 outcome->wall_s > 0 ? static_cast<double>(outcome->ran) / outcome->wall_s : 0.0, args.jobs);
  }

  return Finish(args, *plan);
}

namespace {

// After the runs (or a merge): the summary, the reports, and the exit status from the results file.
int Finish(const SweepArgs& args, const pflab::replay::SweepPlan& plan) {
  auto state = pflab::replay::LoadResultsFile(args.output);
  if (!state) return Fail(state.error().message);
  // Runs of this shard that failed, this time or before (resumed lines count as they were recorded).
  const std::size_t failed = pflab::replay::FailedRuns(plan, state->lines);
  // The file's lines are results-document "runs" entries plus their keys, so the reports module reads
  // them as one document; in plan order, so nothing depends on the order runs finished in.
  nlohmann::json doc = {{"schema", pflab::reports::kResultsSchema},
                        {"runs", pflab::replay::InPlanOrder(plan, state->lines)}};
  auto runs = pflab::reports::ResultsFromJson(doc, args.output);
  if (!runs) return Fail(runs.error().message);
  PrintSummary(*runs, state->lines.size(), args.output);
  for (const auto& warning : pflab::reports::YardstickWarnings(*runs)) std::cerr << "pflab sweep: " << warning << "\n";

  if (!args.json.empty() || !args.md.empty()) {
    if (!args.json.empty()) {
      nlohmann::json config = {
          {"results_file", args.output}, {"profile", args.profile},  {"profile_parameters", plan.profile.ToJson()},
          {"seed", plan.seeds.front()},  {"seeds", plan.seeds},      {"think", plan.think.ToString()},
          {"traces", args.traces},       {"policies", args.policies}};
      std::vector<pflab::reports::TraceSource> sources;
      for (const auto& t : plan.traces) sources.push_back({t.trace.name, t.path, t.md5});
      config["provenance"] = pflab::reports::RunProvenance(sources);
      nlohmann::json out = pflab::reports::ResultsToJson(*runs, config);
      out["generator"] = "pflab sweep";
      if (auto status = WriteFile(args.json, out.dump(2) + "\n"); !status) return Fail(status.error().message);
    }
    if (!args.md.empty()) {
      if (auto status = WriteFile(args.md, pflab::reports::RenderMarkdown(*runs, "Prefetch policy sweep")); !status) {
        return Fail(status.error().message);
      }
    }
  }
  if (failed > 0) {
    std::fprintf(stderr, "pflab sweep: %zu of %zu runs of shard %s failed (their errors are in %s)\n", failed,
                 plan.jobs.size(), plan.shard.ToString().c_str(), args.output.c_str());
    return 2;
  }
  return 0;
}

}  // namespace
