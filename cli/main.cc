// pflab: the command-line front end. Each subcommand parses its flags, calls one module, and turns
// Errors into a message on stderr and a non-zero exit.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <new>
#include <optional>
#include <string>
#include <vector>

#include "cli/bench.h"
#include "cli/bench_sweep.h"
#include "cli/bench_traces.h"
#include "cli/calibrate.h"
#include "cli/convert.h"
#include "cli/diff.h"
#include "cli/faults.h"
#include "cli/fidelity.h"
#include "cli/import.h"
#include "cli/live.h"
#include "cli/record.h"
#include "cli/report.h"
#include "cli/serve.h"
#include "cli/sweep.h"
#include "engine/units.h"
#include "plugins/plugin_loader.h"
#include "policies/registry.h"
#include "replay/bound.h"
#include "replay/event_log.h"
#include "replay/matrix.h"
#include "replay/sweep.h"
#include "reports/provenance.h"
#include "reports/results.h"
#include "reports/summary.h"
#include "sim/network_model.h"
#include "traces/binary_trace.h"
#include "traces/generators.h"
#include "traces/limits.h"
#include "traces/trace_io.h"

namespace {

using pflab::Result;
using pflab::Status;

int Fail(const std::string& message) {
  std::cerr << "pflab: " << message << "\n";
  return 1;
}

// Trace errors already start with FILE:LINE:, so they are printed as they are.
int FailTrace(const std::string& message) {
  std::cerr << message << "\n";
  return 1;
}

Status WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  out.close();
  if (!out) return pflab::InvalidArgument(path + ": cannot write");
  return pflab::OkStatus();
}

std::string SafeFileName(std::string name) {
  for (char& c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') c = '_';
  }
  return name;
}

struct GenArgs {
  std::string pattern;
  std::string object_size;
  std::string read_size;
  std::optional<std::uint64_t> count;
  std::uint64_t seed = 0;
  std::optional<std::uint64_t> streams;
  std::string stride;
  std::string think;
  std::string output;
  bool binary = false;  // write the binary form (traces/binary_trace.h) instead of JSONL
};

// Parses an optional flag value into `*out` (left alone when the flag was not given). With
// `positive`, a given 0 is an error: GeneratorParams reads 0 as "the pattern's default".
template <typename T, typename Parse>
Status ParseFlag(const char* flag, const std::string& text, Parse parse, T* out, bool positive = false) {
  if (text.empty()) return pflab::OkStatus();
  auto value = parse(text);
  if (!value) return pflab::InvalidArgument(std::string(flag) + ": " + value.error().message);
  if (positive && *value == 0) return pflab::InvalidArgument(std::string(flag) + ": must be at least 1 byte");
  *out = static_cast<T>(*value);
  return pflab::OkStatus();
}

// --count and --streams: at least 1 when given (0 would silently mean the default); their upper limits
// are checked by the generator, which names them.
Status CheckGenCounts(const GenArgs& args) {
  if (args.count && *args.count == 0) return pflab::InvalidArgument("--count: must be at least 1");
  if (args.streams && *args.streams == 0) return pflab::InvalidArgument("--streams: must be at least 1");
  if (args.streams && *args.streams > pflab::traces::kMaxStreams) {
    return pflab::InvalidArgument("--streams: " + std::to_string(*args.streams) + " is above the limit of 2^20 (" +
                                  std::to_string(pflab::traces::kMaxStreams) + ") streams per trace");
  }
  return pflab::OkStatus();
}

int RunGen(const GenArgs& args) {
  pflab::traces::GeneratorParams params;
  std::uint64_t stride = 0;
  for (const Status& status :
       {ParseFlag("--object-size", args.object_size, pflab::ParseSize, &params.object_size, /*positive=*/true),
        ParseFlag("--read-size", args.read_size, pflab::ParseSize, &params.read_size, /*positive=*/true),
        ParseFlag("--stride", args.stride, pflab::ParseSize, &stride),
        ParseFlag("--think", args.think, pflab::ParseDuration, &params.think_ns), CheckGenCounts(args)}) {
    if (!status) return Fail(status.error().message);
  }
  if (!args.stride.empty()) params.stride = stride;
  params.count = args.count.value_or(0);
  params.seed = args.seed;
  params.streams = static_cast<std::uint32_t>(args.streams.value_or(0));
  auto trace = pflab::traces::Generate(args.pattern, params);
  if (!trace) return Fail(trace.error().message);
  const pflab::Status written = args.binary ? pflab::traces::WriteBinaryTrace(args.output, *trace)
                                            : pflab::traces::WriteTrace(args.output, *trace);
  if (!written) return Fail(written.error().message);
  std::cerr << "wrote " << trace->records.size() << " reads of " << args.pattern << " to " << args.output << "\n";
  return 0;
}

struct CompareArgs {
  std::vector<std::string> traces;
  std::string policies;
  std::string profile = "gcs-regional";
  std::string profiles_file;  // empty: $PFLAB_PROFILES, else the built-in profiles
  std::uint64_t seed = 1;
  std::string seeds;  // --seeds N | A..B | a,b,c; empty: just --seed
  std::string think = "recorded";
  std::string json;
  std::string md;
  std::string events;
  bool verify_bytes = false;
  bool quiet = false;
  std::string transport = "sim";
  std::string endpoint;
  std::optional<std::uint32_t> connections;  // unset: the profile's max_connections
  std::string html;
  std::string timeline;  // TRACE:POLICY
  std::vector<std::string> plugins;
  std::string baseline = "none";  // none: add it when not listed (ratios need it); off: do not
  double max_cost_usd = -1;       // live runs: refuse to start when the estimated cost is above (< 0: no limit)
  LiveArgs live;                  // credentials and objects of --transport http
};

// What a live comparison will cost, estimated by simulating it first on the same profile.
struct LiveEstimate {
  std::uint64_t requests = 0;
  double elapsed_s = 0;  // sum of the runs' elapsed times
  double cost_usd = 0;
  std::uint64_t baseline_requests = 0;
  double baseline_elapsed_s = 0;
  std::vector<double> cell_elapsed_s;  // by cell index: for the ETA of the live runs
};

pflab::Result<LiveEstimate> EstimateLive(const pflab::replay::RunPlan& live) {
  pflab::replay::RunPlan sim = live;
  sim.transport = pflab::replay::TransportKind::kSim;
  sim.verify_bytes = false;
  LiveEstimate e;
  e.cell_elapsed_s.assign(sim.size(), 0.0);
  std::optional<pflab::Error> error;
  pflab::replay::RunHooks hooks;
  hooks.on_finish = [&](const pflab::replay::RunCell& cell, pflab::Result<pflab::replay::RunResult>&& result) {
    if (!result) {
      error = result.error();
      return false;
    }
    e.requests += result->metrics.requests;
    e.elapsed_s += result->metrics.elapsed_s;
    e.cell_elapsed_s[cell.index] = result->metrics.elapsed_s;
    e.cost_usd += result->metrics.cost_usd;
    if (sim.policies[cell.policy].text == pflab::reports::kBaselinePolicy) {
      e.baseline_requests += result->metrics.requests;
      e.baseline_elapsed_s += result->metrics.elapsed_s;
    }
    return true;
  };
  if (auto status = pflab::replay::RunMatrix(sim, hooks); !status) return status.error();
  if (error) return *error;
  return e;
}

// Loads the --plugin libraries before any spec is parsed.
Status LoadPlugins(const std::vector<std::string>& paths) {
  for (const auto& path : paths) {
    if (auto status = pflab::plugins::LoadPlugin(path); !status) {
      return pflab::InvalidArgument("--plugin " + status.error().message);
    }
  }
  return pflab::OkStatus();
}

int RunCompare(const CompareArgs& args) {
  if (auto status = LoadPlugins(args.plugins); !status) return Fail(status.error().message);
  auto transport = pflab::replay::ParseTransportKind(args.transport);
  if (!transport) return Fail("--transport: " + transport.error().message);
  pflab::replay::RunPlan plan;
  plan.transport = *transport;
  if (!args.endpoint.empty()) {
    // A URL with its scheme, so a typo is a usage error here rather than a run of connection failures.
    if (args.endpoint.find("://") == std::string::npos) {
      return Fail("--endpoint: '" + args.endpoint +
                  "' is not a URL: expected http://HOST[:PORT] or https://HOST[:PORT]");
    }
    if (plan.transport != pflab::replay::TransportKind::kHttp) {
      return Fail("--endpoint is for --transport http (the transport is " + args.transport + ")");
    }
  }
  if (plan.transport == pflab::replay::TransportKind::kHttp) {
    auto endpoint =
        args.endpoint.empty() ? pflab::HttpEndpoint::FromEnvironment() : pflab::HttpEndpoint::Parse(args.endpoint);
    if (!endpoint) return Fail("--endpoint: " + endpoint.error().message);
    plan.live.endpoint = *endpoint;
  } else if (const std::string given = args.live.FirstGiven(); !given.empty()) {
    return Fail(given + " is for --transport http (the transport is " + args.transport + ")");
  }
  auto specs = pflab::policies::ParsePolicyList(args.policies);
  if (!specs) return Fail("--policies: " + specs.error().message);
  if (args.baseline != "none" && args.baseline != "off") {
    return Fail("--baseline: expected none or off, got '" + args.baseline + "'");
  }
  if (args.max_cost_usd >= 0 && plan.transport == pflab::replay::TransportKind::kSim) {
    return Fail("--max-cost is for live runs (--transport fake|http): a simulated run costs nothing");
  }
  // Ratios need the baseline; run it first when the user did not list it, unless told not to (a live
  // baseline of small reads can take longer, and cost more, than the policies under study).
  bool has_baseline = false;
  for (const auto& s : *specs) has_baseline |= s.text == pflab::reports::kBaselinePolicy;
  if (!has_baseline && args.baseline == "none") {
    specs->insert(specs->begin(), *pflab::policies::ParseStackSpec(pflab::reports::kBaselinePolicy));
  }
  // The lower bound is a row of every simulated comparison; over real transports it is no bound (their
  // latencies are not the model's), so it is left out there.
  if (plan.transport == pflab::replay::TransportKind::kSim) {
    const bool first_is_baseline = specs->front().text == pflab::reports::kBaselinePolicy;
    specs->insert(specs->begin() + (first_is_baseline ? 1 : 0), pflab::replay::BoundSpec());
  }
  plan.policies = std::move(*specs);
  auto profile = FindProfileOrFile(args.profile, args.profiles_file);
  if (!profile) {
    return Fail(ProfileErrorSource("--profile", args.profile, args.profiles_file, profile.error()) + ": " +
                profile.error().message);
  }
  plan.profile_name = args.profile;
  plan.profile = *profile;
  if (plan.transport != pflab::replay::TransportKind::kSim) {
    auto connections = pflab::replay::RealRunConnections(args.connections, plan.profile.max_connections,
                                                         plan.transport == pflab::replay::TransportKind::kFake);
    if (!connections) return Fail("--" + connections.error().message);
    plan.live.http.connections = *connections;
  }
  auto think = pflab::replay::ThinkTime::Parse(args.think);
  if (!think) return Fail(think.error().message);
  plan.think = *think;
  plan.seeds = {args.seed};
  if (!args.seeds.empty()) {
    auto seeds = pflab::replay::ParseSeeds(args.seeds, args.seed);
    if (!seeds) return Fail("--seeds: " + seeds.error().message);
    plan.seeds = std::move(*seeds);
  }
  plan.verify_bytes = args.verify_bytes;
  if (!args.events.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(args.events, ec);
    if (ec) return Fail("--events " + args.events + ": " + ec.message());
  }
  // Read every trace before running anything, so a bad file fails fast; each is hashed as it is
  // parsed, for the results' provenance.
  std::vector<pflab::traces::Trace> traces;
  std::vector<pflab::reports::TraceSource> sources;
  for (const auto& path : args.traces) {
    auto loaded = pflab::replay::LoadTrace(path);
    if (!loaded) return FailTrace(loaded.error().message);
    sources.push_back({loaded->trace.name, path, std::move(loaded->md5)});
    traces.push_back(std::move(loaded->trace));
  }
  for (const auto& trace : traces) plan.traces.push_back(&trace);
  // Credentials before the estimate, so bad ones fail before anything is printed or created.
  std::unique_ptr<LiveSetup> live_setup;
  if (plan.transport == pflab::replay::TransportKind::kHttp) {
    auto setup = LiveSetup::Create(args.live, &plan.live, args.verify_bytes, [&](const std::string& line) {
      if (!args.quiet) std::fprintf(stderr, "%s\n", line.c_str());
    });
    if (!setup) return Fail(setup.error().message);
    live_setup = std::move(*setup);
  }
  std::optional<LiveEstimate> live_estimate;
  if (plan.transport != pflab::replay::TransportKind::kSim) {
    // Before anything goes over the network: what the runs will take and cost, as the simulator predicts
    // them on the same profile, and the cost limit.
    auto estimate = EstimateLive(plan);
    if (!estimate) return Fail("estimating the live runs: " + estimate.error().message);
    char line[512];
    std::snprintf(line, sizeof line,
                  "live runs: %zu, about %llu requests, %.1f s of reads and $%.6f as the simulator predicts them on "
                  "profile %s",
                  plan.size(), static_cast<unsigned long long>(estimate->requests), estimate->elapsed_s,
                  estimate->cost_usd, plan.profile_name.c_str());
    if (!args.quiet) std::fprintf(stderr, "%s\n", line);
    if (estimate->baseline_requests && !args.quiet) {
      std::fprintf(stderr,
                   "  of which the baseline `none`: %llu requests, %.1f s (--baseline off leaves it out; then "
                   "tables have no `vs none`)\n",
                   static_cast<unsigned long long>(estimate->baseline_requests), estimate->baseline_elapsed_s);
    }
    if (args.max_cost_usd >= 0 && estimate->cost_usd > args.max_cost_usd) {
      std::fprintf(stderr, "%s\n", line);
      return Fail("the estimated cost $" + std::to_string(estimate->cost_usd) + " is above --max-cost $" +
                  std::to_string(args.max_cost_usd) + ": nothing was run");
    }
    live_estimate = std::move(*estimate);
  }
  if (live_setup) {
    if (auto status = live_setup->PrepareObjects(plan.traces, &plan.live); !status) {
      return Fail(status.error().message);
    }
  }
  // The ETA of live runs: the predicted time of the runs left, scaled by how the finished runs' wall time
  // compared with their prediction.
  double predicted_done_s = 0, wall_done_s = 0;

  // The run whose timeline is kept (of the first seed): --timeline, else the first trace's first policy
  // other than the baseline and the bound.
  std::string timeline_trace = traces.front().name;
  std::string timeline_policy = plan.policies.front().text;
  for (const auto& spec : plan.policies) {
    if (spec.text != pflab::reports::kBaselinePolicy && !pflab::replay::IsBound(spec)) {
      timeline_policy = spec.text;
      break;
    }
  }
  if (!args.timeline.empty()) {
    const auto colon = args.timeline.find(':');
    if (colon == std::string::npos) return Fail("--timeline: expected TRACE:POLICY, got '" + args.timeline + "'");
    timeline_trace = args.timeline.substr(0, colon);
    timeline_policy = args.timeline.substr(colon + 1);
    bool found_trace = false, found_policy = false;
    for (std::size_t i = 0; i < traces.size(); ++i) {
      if (traces[i].name == timeline_trace || args.traces[i] == timeline_trace) {
        found_trace = true;
        timeline_trace = traces[i].name;
      }
    }
    for (const auto& s : plan.policies) found_policy |= s.text == timeline_policy;
    if (!found_trace || !found_policy) {
      return Fail("--timeline: no run of trace '" + timeline_trace + "' with policy '" + timeline_policy + "'");
    }
  }

  // What each run writes besides its result: the report's recorder and, with --events, a JSONL log.
  struct RunSinks {
    std::unique_ptr<pflab::reports::RunRecorder> recorder;
    std::unique_ptr<pflab::replay::JsonlEventLog> log;
    std::unique_ptr<pflab::replay::TeeSink> tee;
  };
  RunSinks sinks;
  // By cell index, so the tables keep the plan's order whatever order the cells ran in (oracle cells
  // run last: RunMatrix gives them the other policies' peak memory).
  std::map<std::size_t, std::pair<pflab::replay::RunResult, pflab::reports::RunDetails>> done;
  std::optional<std::string> failure;
  std::size_t runs_failed = 0;  // runs with failed or wrong reads: the exit status says so
  pflab::replay::RunHooks hooks;
  hooks.on_note = [&](const std::string& note) {
    if (!args.quiet) std::fprintf(stderr, "%s\n", note.c_str());
  };
  hooks.sink = [&](const pflab::replay::RunCell& cell) -> pflab::EventSink* {
    const auto& trace = *plan.traces[cell.trace];
    const auto& spec = plan.policies[cell.policy];
    sinks = RunSinks{};
    sinks.recorder = std::make_unique<pflab::reports::RunRecorder>(trace.name == timeline_trace &&
                                                                   spec.text == timeline_policy && cell.seed == 0);
    if (args.events.empty() || pflab::replay::IsBound(spec)) return sinks.recorder.get();
    std::string path = args.events + "/" + SafeFileName(trace.name) + "__" + SafeFileName(spec.text);
    if (plan.seeds.size() > 1) path += "__seed" + std::to_string(plan.seeds[cell.seed]);
    path += ".jsonl";
    auto opened = pflab::replay::JsonlEventLog::Open(path);
    if (!opened) {
      failure = opened.error().message;
      return sinks.recorder.get();
    }
    sinks.log = std::move(*opened);
    sinks.tee =
        std::make_unique<pflab::replay::TeeSink>(std::vector<pflab::EventSink*>{sinks.recorder.get(), sinks.log.get()});
    return sinks.tee.get();
  };
  auto start_line = [&](const pflab::replay::RunCell& cell) {
    std::string line = "[" + std::to_string(cell.index + 1) + "/" + std::to_string(plan.size()) + "] " +
                       plan.traces[cell.trace]->name + " x " + plan.policies[cell.policy].text;
    if (plan.seeds.size() > 1) line += " (seed " + std::to_string(plan.seeds[cell.seed]) + ")";
    return line + " ... ";
  };
  auto cell_started = std::chrono::steady_clock::now();
  hooks.on_start = [&](const pflab::replay::RunCell& cell) {
    cell_started = std::chrono::steady_clock::now();
    if (args.quiet) return;
    std::fputs(start_line(cell).c_str(), stderr);
    std::fflush(stderr);
  };
  // A run of millions of reads takes minutes: on a terminal its line shows how far it is and for how
  // long it has run, rewritten at most once a second (a log file gets only the finished lines). A run
  // whose reads are slow to simulate (byte-sized blocks) is heard from between reads too, so the time
  // moves on where the percentage cannot.
  bool progress_shown = false;
  auto progress_printed = std::chrono::steady_clock::now();
  if (!args.quiet && ::isatty(STDERR_FILENO)) {
    hooks.on_progress = [&](const pflab::replay::RunCell& cell, std::uint64_t reads_done) {
      const auto now = std::chrono::steady_clock::now();
      if (now - progress_printed < std::chrono::seconds(1)) return;
      progress_printed = now;
      const std::size_t reads = plan.traces[cell.trace]->records.size();
      const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(now - cell_started).count();
      std::fprintf(stderr, "\r%s%.0f%% of %zu reads, %lldm%02llds\x1b[K", start_line(cell).c_str(),
                   100.0 * static_cast<double>(reads_done) / static_cast<double>(std::max<std::size_t>(reads, 1)),
                   reads, static_cast<long long>(seconds / 60), static_cast<long long>(seconds % 60));
      std::fflush(stderr);
      progress_shown = true;
    };
  }
  hooks.on_finish = [&](const pflab::replay::RunCell& cell, pflab::Result<pflab::replay::RunResult>&& result) {
    if (progress_shown) {  // the line as on_start left it, the percentage cleared
      std::fprintf(stderr, "\r%s\x1b[K", start_line(cell).c_str());
      progress_shown = false;
    }
    progress_printed = std::chrono::steady_clock::now();
    if (failure) return false;
    if (!result) {
      failure = plan.traces[cell.trace]->name + " x " + plan.policies[cell.policy].text + ": " + result.error().message;
      return false;
    }
    if (sinks.log) {
      if (auto status = sinks.log->Close(); !status) {
        failure = status.error().message;
        return false;
      }
    }
    if (!args.quiet) {
      if (pflab::replay::IsBound(plan.policies[cell.policy])) {
        std::fprintf(stderr, "%.3fs (lower bound, %s)\n", result->metrics.elapsed_s,
                     result->derivation.value("binding", "?").c_str());
      } else {
        std::fprintf(stderr, "%.3fs %s in %.3fs (%.0f reads/s)", result->metrics.elapsed_s,
                     plan.transport == pflab::replay::TransportKind::kSim ? "simulated" : "of reads over HTTP",
                     result->wall_s,
                     result->wall_s > 0 ? static_cast<double>(result->metrics.reads) / result->wall_s : 0.0);
        if (live_estimate && cell.index < live_estimate->cell_elapsed_s.size()) {
          predicted_done_s += live_estimate->cell_elapsed_s[cell.index];
          wall_done_s += result->wall_s;
          const double left = std::max(0.0, live_estimate->elapsed_s - predicted_done_s);
          const double scale = predicted_done_s > 0 ? wall_done_s / predicted_done_s : 1.0;
          std::fprintf(stderr, ", ETA %.0fs", left * scale);
        }
        std::fputc('\n', stderr);
      }
    }
    if (result->failed()) {
      // Loud even with -q: which run, how many reads, and the first failure with its cause.
      ++runs_failed;
      const auto& m = result->metrics;
      std::fprintf(stderr, "pflab: %s x %s: %llu of %llu reads failed, %llu wrong; %llu error(s), first: %s\n",
                   result->trace.c_str(), result->policy.c_str(), static_cast<unsigned long long>(m.reads_failed),
                   static_cast<unsigned long long>(m.reads), static_cast<unsigned long long>(m.reads_wrong),
                   static_cast<unsigned long long>(result->errors.total),
                   result->errors.first.front().Summary().c_str());
    }
    pflab::reports::RunDetails run_details = sinks.recorder->Finish(result->trace, result->policy);
    if (pflab::replay::IsBound(plan.policies[cell.policy])) run_details = {};  // no reads to plot
    done.emplace(cell.index, std::make_pair(std::move(*result), std::move(run_details)));
    return true;
  };
  if (auto status = pflab::replay::RunMatrix(plan, hooks); !status) {
    return Fail("--transport " + args.transport + ": " + status.error().message);
  }
  if (live_setup) {
    if (auto status = live_setup->Finish(); !status) return Fail(status.error().message);
  }
  if (failure) return Fail(*failure);
  std::vector<pflab::replay::RunResult> runs;
  std::vector<pflab::reports::RunDetails> details;
  for (auto& [index, run] : done) {
    runs.push_back(std::move(run.first));
    details.push_back(std::move(run.second));
  }

  std::cout << pflab::reports::RenderConsole(runs);
  for (const auto& warning : pflab::reports::YardstickWarnings(runs, args.transport != "sim")) {
    std::cerr << "pflab compare: " << warning << "\n";
  }
  nlohmann::json config = {{"profile", args.profile},     {"profile_parameters", profile->ToJson()},
                           {"seed", plan.seeds.front()},  {"seeds", plan.seeds},
                           {"transport", args.transport}, {"think", think->ToString()},
                           {"traces", args.traces}};
  config["provenance"] = pflab::reports::RunProvenance(sources);
  if (live_setup) config["live"] = live_setup->ToJson();
  if (!args.json.empty()) {
    const std::string text = pflab::reports::ResultsToJson(runs, config, details).dump(2) + "\n";
    if (auto status = WriteFile(args.json, text); !status) return Fail(status.error().message);
  }
  if (!args.md.empty()) {
    if (auto status = WriteFile(args.md, pflab::reports::RenderMarkdown(runs, "Prefetch policy comparison")); !status) {
      return Fail(status.error().message);
    }
  }
  if (!args.html.empty()) {
    pflab::reports::ResultsDocument doc{std::move(runs), std::move(details), std::move(config)};
    if (auto status = WriteHtmlReport(doc, "Prefetch policy comparison", "", args.html); !status) {
      return Fail(status.error().message);
    }
  }
  if (runs_failed > 0) {
    std::fprintf(stderr, "pflab: %zu of %zu runs had failed or wrong reads%s\n", runs_failed, plan.size(),
                 args.json.empty() ? "" : (" (their errors are in " + args.json + ")").c_str());
    return 2;
  }
  return 0;
}

int RunPolicies(const std::vector<std::string>& plugins) {
  if (auto status = LoadPlugins(plugins); !status) return Fail(status.error().message);
  for (const auto* p : pflab::policies::AllPolicies()) {
    std::cout << p->name << "\n  " << p->description << "\n  origin: " << p->origin << "\n";
    for (const auto& param : p->params) {
      std::cout << "  " << param.name << " (default " << param.ShownDefault() << "): " << param.description << "\n";
    }
    std::cout << "\n";
  }
  for (const auto& family : pflab::policies::PolicyFamilies()) {
    std::cout << family.syntax << "\n  " << family.description << "\n\n";
  }
  std::cout << "Stack layers with '>', top first, e.g. 'fsspec-readahead(blocksize=5MiB) > gcsfs-v795 > "
               "concurrent(parts=4)'.\n";
  return 0;
}

struct ProfilesArgs {
  std::string profiles_file;
  bool file = false;
};

int RunProfiles(const ProfilesArgs& args) {
  const std::string path = pflab::sim::ProfilesPath(args.profiles_file);
  // Errors here are all about the file: named by what named it.
  const std::string source = pflab::sim::ProfilesSource(args.profiles_file);
  const auto fail = [&](const pflab::Error& error) {
    return Fail(source.empty() ? error.message : source + ": " + error.message);
  };
  if (args.file) {
    auto text = pflab::sim::ReadProfilesText(path);
    if (!text) return fail(text.error());
    // Checked first, so what is printed is a file that --profiles accepts.
    if (auto profiles = pflab::sim::ParseProfiles(*text, path.empty() ? pflab::sim::kBuiltInProfilesName : path);
        !profiles) {
      return fail(profiles.error());
    }
    std::cout << *text;
    return 0;
  }
  auto profiles = pflab::sim::LoadProfiles(path);
  if (!profiles) return fail(profiles.error());
  for (const auto& [name, profile] : *profiles) std::cout << name << " " << profile.ToJson().dump() << "\n";
  return 0;
}

// The --profiles option of every command that takes --profile.
void AddProfilesOption(CLI::App* cmd, std::string* file) {
  cmd->add_option("--profiles", *file,
                  "network profiles file (default: $PFLAB_PROFILES, else the built-in profiles; see `pflab "
                  "profiles --file`)");
}

}  // namespace

namespace {

// A run whose policy asks for more memory than the machine gives (parameters can make millions of
// requests or buffers at once) ends here, on whichever thread ran it: the message names the run
// instead of "terminate called after throwing std::bad_alloc", and is written without allocating.
[[noreturn]] void OutOfMemory() {
  auto say = [](const char* text) { [[maybe_unused]] auto n = ::write(2, text, std::strlen(text)); };
  const char* run = pflab::replay::CurrentRunLabel();
  say("pflab: out of memory");
  if (*run != '\0') {
    say(" in the run of ");
    say(run);
  }
  say(": it needed more memory than this machine gave; results not yet written are lost (a sweep's results "
      "file keeps the runs it finished)\n");
  std::abort();
}

// The first option given with an empty value (`--json ""`, `--seeds "$UNSET"`), or "". Each command
// reads an empty value as the option left out, so without this an unset shell variable would fall
// back to the default (one seed, no results file) silently.
std::string EmptyOptionValue(const CLI::App& app) {
  for (const CLI::Option* option : app.get_options()) {
    if (option->count() == 0 || !option->nonpositional() || option->get_type_size() == 0) continue;  // flags
    for (const std::string& value : option->results()) {
      if (value.empty()) return option->get_name();
    }
  }
  for (const CLI::App* sub : app.get_subcommands()) {
    if (std::string name = EmptyOptionValue(*sub); !name.empty()) return name;
  }
  return "";
}

}  // namespace

int main(int argc, char** argv) {
  std::set_new_handler(OutOfMemory);
  pflab::plugins::EnablePythonPolicies();  // py: specs load the Python bridge when first used
  CLI::App app{"Prefetch Lab: design, simulate and compare read-ahead policies of object-storage readers"};
  app.require_subcommand(1);

  GenArgs gen;
  auto* gen_cmd = app.add_subcommand("gen", "generate a synthetic trace of a canonical access pattern");
  std::string patterns;
  for (const auto& p : pflab::traces::Patterns()) patterns += (patterns.empty() ? "" : ", ") + p.name;
  gen_cmd->add_option("pattern", gen.pattern, "one of: " + patterns)->required();
  gen_cmd->add_option("--object-size", gen.object_size, "object size, e.g. 1GiB (default: the pattern's)");
  gen_cmd->add_option("--read-size", gen.read_size, "bytes per read, e.g. 1MiB (default: the pattern's)");
  gen_cmd->add_option("--count", gen.count, "number of reads (default: the pattern's)");
  gen_cmd->add_option("--seed", gen.seed, "random seed (default: the pattern's)");
  gen_cmd->add_option("--streams", gen.streams, "readers, for multi-stream");
  gen_cmd->add_option("--stride", gen.stride, "bytes skipped between reads, for strided");
  gen_cmd->add_option("--think", gen.think, "think time between reads, e.g. 1ms");
  gen_cmd->add_option("-o,--output", gen.output, "trace file to write")->required();
  gen_cmd->add_flag("--binary", gen.binary, "write the binary form (columnar, zstd) instead of JSONL");

  CompareArgs cmp;
  auto* cmp_cmd = app.add_subcommand("compare", "replay traces against policies in the simulator (or over HTTP)");
  cmp_cmd->add_option("traces", cmp.traces, "trace files (JSONL format v1 or binary)")->required();
  cmp_cmd->add_option("--policies", cmp.policies, "comma-separated policy stacks (see `pflab policies`)")->required();
  cmp_cmd
      ->add_option("--profile", cmp.profile,
                   "network profile (see `pflab profiles`), or a file holding one (from `pflab calibrate`)")
      ->capture_default_str();
  AddProfilesOption(cmp_cmd, &cmp.profiles_file);
  cmp_cmd->add_option("--seed", cmp.seed, "seed for latency sampling and jitter")->capture_default_str();
  cmp_cmd->add_option("--seeds", cmp.seeds,
                      "run every trace x policy over several seeds: N (N seeds from --seed), A..B, or a,b,c; tables "
                      "then show medians and min..max");
  cmp_cmd->add_option("--think", cmp.think, "think time: recorded, zero, or xFACTOR")->capture_default_str();
  cmp_cmd->add_option("--json", cmp.json, "write results JSON here");
  cmp_cmd->add_option("--md", cmp.md, "write a Markdown report here");
  cmp_cmd->add_option("--events", cmp.events, "write one JSONL event log per run into this directory");
  cmp_cmd->add_flag("--verify-bytes", cmp.verify_bytes,
                    "check every delivered byte against the object's content (the simulator checks where each byte "
                    "came from, in memory that does not grow with read sizes)");
  cmp_cmd->add_flag("-q,--quiet", cmp.quiet, "no progress on stderr");
  cmp_cmd
      ->add_option("--transport", cmp.transport,
                   "sim: the simulator; fake: the real engine against an in-process fake GCS server shaped by "
                   "the profile; http: real HTTP GETs to --endpoint (a fake GCS server or live GCS)")
      ->capture_default_str();
  cmp_cmd->add_option("--endpoint", cmp.endpoint,
                      "for --transport http: e.g. http://127.0.0.1:4443 (default: $STORAGE_EMULATOR_HOST, else "
                      "https://storage.googleapis.com; credentials: docs/live.md)");
  cmp_cmd->add_option("--connections", cmp.connections,
                      "for --transport fake|http: persistent connections (1 to 1024, within `ulimit -n`; default: "
                      "the profile's max_connections, the limit the simulator models)");

  cmp_cmd
      ->add_option("--baseline", cmp.baseline,
                   "none: run the baseline `none` first when --policies does not list it (the `vs none` ratios "
                   "need it); off: do not")
      ->capture_default_str();
  cmp_cmd->add_option("--max-cost", cmp.max_cost_usd,
                      "for --transport fake|http: refuse to start when the cost the simulator predicts for the runs "
                      "is above this many USD");
  AddLiveOptions(cmp_cmd, &cmp.live);
  cmp_cmd->add_option("--html", cmp.html, "write a self-contained HTML report with charts here");
  cmp_cmd->add_option("--timeline", cmp.timeline,
                      "TRACE:POLICY whose reads and fetches the results keep as a timeline (default: the first "
                      "trace and the first policy other than none)");
  cmp_cmd->add_option("--plugin", cmp.plugins,
                      "a plugin library whose policies to add, repeatable (docs/own_policy.md)");

  ReportArgs report;
  auto* report_cmd = AddReportCommand(app, report);
  ServeArgs serve;
  auto* serve_cmd = AddServeCommand(app, serve);
  BenchArgs bench;
  auto* bench_cmd = AddBenchCommand(app, bench);
  BenchTracesArgs bench_traces;
  auto* bench_traces_cmd = AddBenchTracesCommand(bench_cmd, bench_traces);
  BenchSweepArgs bench_sweep;
  auto* bench_sweep_cmd = AddBenchSweepCommand(bench_cmd, bench_sweep);
  ConvertArgs convert;
  auto* convert_cmd = AddConvertCommand(app, convert);
  RecordArgs record;
  auto* record_cmd = AddRecordCommand(app, record);
  ImportArgs import_args;
  auto* import_cmd = AddImportCommand(app, import_args);
  SweepArgs sweep;
  auto* sweep_cmd = AddSweepCommand(app, sweep);
  DiffArgs diff;
  auto* diff_cmd = AddDiffCommand(app, diff);
  FaultsArgs faults;
  auto* faults_cmd = AddFaultsCommand(app, faults);
  CalibrateArgs calibrate;
  auto* calibrate_cmd = AddCalibrateCommand(app, calibrate);
  FidelityArgs fidelity;
  auto* fidelity_cmd = AddFidelityCommand(app, fidelity);

  auto* pol_cmd = app.add_subcommand("policies", "list the registered policies, their parameters and origins");
  std::vector<std::string> pol_plugins;
  pol_cmd->add_option("--plugin", pol_plugins, "a plugin library whose policies to list too, repeatable");
  ProfilesArgs prof;
  auto* prof_cmd = app.add_subcommand("profiles", "list the network profiles");
  AddProfilesOption(prof_cmd, &prof.profiles_file);
  prof_cmd->add_flag("--file", prof.file,
                     "print the profiles file itself, with the source of every number (a starting point for "
                     "a file of your own)");

  argc = SplitRecordCommand(argc, argv, record);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // Bad usage exits 1 like bad input (CLI11's own codes are 100 and up); --help stays 0.
    return app.exit(e) == 0 ? 0 : 1;
  }
  if (const std::string empty = EmptyOptionValue(app); !empty.empty()) {
    std::cerr << "pflab: " << empty << ": an empty value (leave the option out for its default)\n";
    return 1;
  }
  if (gen_cmd->parsed()) return RunGen(gen);
  if (cmp_cmd->parsed()) return RunCompare(cmp);
  if (serve_cmd->parsed()) return RunServe(serve);
  if (report_cmd->parsed()) return RunReport(report);
  if (bench_traces_cmd->parsed()) return RunBenchTraces(bench_traces);
  if (bench_sweep_cmd->parsed()) return RunBenchSweep(bench_sweep);
  if (bench_cmd->parsed()) return RunBench(bench);
  if (convert_cmd->parsed()) return RunConvert(convert);
  if (record_cmd->parsed()) return RunRecord(record);
  if (import_cmd->parsed()) return RunImport(import_args);
  if (sweep_cmd->parsed()) return RunSweep(sweep);
  if (diff_cmd->parsed()) return RunDiff(diff);
  if (faults_cmd->parsed()) return RunFaults(faults);
  if (calibrate_cmd->parsed()) return RunCalibrate(calibrate);
  if (fidelity_cmd->parsed()) return RunFidelity(fidelity);
  if (pol_cmd->parsed()) return RunPolicies(pol_plugins);
  if (prof_cmd->parsed()) return RunProfiles(prof);
  return 1;
}
