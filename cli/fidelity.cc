#include "cli/fidelity.h"

#include <fstream>
#include <iostream>

#include "cli/calibrate.h"
#include "net/credentials.h"
#include "net/gcs_objects.h"
#include "replay/fidelity.h"
#include "replay/live_objects.h"
#include "traces/trace_io.h"

CLI::App* AddFidelityCommand(CLI::App& app, FidelityArgs& args) {
  auto* cmd = app.add_subcommand("fidelity", "run traces x policies in the simulator and for real; compare elapsed");
  cmd->add_option("traces", args.traces, "trace files (format v1)")->required();
  cmd->add_option("--policies", args.policies, "comma-separated policy stacks")->required();
  cmd->add_option("--profile", args.profile, "network profile, or a file holding one (from `pflab calibrate`)")
      ->capture_default_str();
  cmd->add_option("--profiles", args.profiles_file, "network profiles file for --profile NAME");
  cmd->add_option("--seed", args.seed, "first seed")->capture_default_str();
  cmd->add_option("--seeds", args.seeds, "N seeds from --seed, A..B, or a,b,c")->capture_default_str();
  cmd->add_option("--think", args.think, "think time: recorded, zero, or xFACTOR")->capture_default_str();
  cmd->add_option("--transport", args.transport,
                  "fake: an in-process fake server shaped by the profile; http: --endpoint")
      ->capture_default_str();
  cmd->add_option("--endpoint", args.endpoint, "for --transport http: http[s]://HOST[:PORT]");
  cmd->add_option("--connections", args.connections,
                  "persistent connections of real runs (default: the profile's max_connections, the limit the "
                  "prediction models)");
  cmd->add_option("--md", args.md, "write the Markdown report here too");
  cmd->add_flag("--verify-bytes", args.verify_bytes, "check every delivered byte");
  cmd->add_flag("--calibrate", args.calibrate,
                "predict with the fake server's calibrated per-request bandwidth and the engine's own time a "
                "request, a MiB read and a stream (the server's and the engine's work), and the host's byte "
                "throughput across transfers");
  cmd->add_option("--calibration-probes", args.calibration_probes, "latency probes of --calibrate")
      ->capture_default_str();
  cmd->add_flag("-q,--quiet", args.quiet, "no progress on stderr");
  return cmd;
}

int RunFidelity(const FidelityArgs& args) {
  auto fail = [](const std::string& message) {
    std::cerr << "pflab fidelity: " << message << "\n";
    return 1;
  };
  pflab::replay::RunPlan plan;
  auto transport = pflab::replay::ParseTransportKind(args.transport);
  if (!transport) return fail("--transport: " + transport.error().message);
  if (*transport == pflab::replay::TransportKind::kSim)
    return fail("--transport: fake or http (sim is the prediction)");
  plan.transport = *transport;
  if (plan.transport == pflab::replay::TransportKind::kHttp) {
    auto endpoint =
        args.endpoint.empty() ? pflab::HttpEndpoint::FromEnvironment() : pflab::HttpEndpoint::Parse(args.endpoint);
    if (!endpoint) return fail("--endpoint: " + endpoint.error().message);
    plan.live.endpoint = *endpoint;
    // Credentials as live runs find them ($PFLAB_GCS_TOKEN first); past that only for https endpoints.
    pflab::CredentialsOptions found;
    found.discover = endpoint->scheme == "https";
    auto credentials = pflab::FindCredentials(found);
    if (!credentials) return fail(credentials.error().message);
    plan.live.http.credentials = *credentials;
  } else if (!args.endpoint.empty()) {
    return fail("--endpoint is for --transport http");
  }
  auto specs = pflab::policies::ParsePolicyList(args.policies);
  if (!specs) return fail("--policies: " + specs.error().message);
  plan.policies = std::move(*specs);
  auto profile = FindProfileOrFile(args.profile, args.profiles_file);
  if (!profile) {
    return fail(ProfileErrorSource("--profile", args.profile, args.profiles_file, profile.error()) + ": " +
                profile.error().message);
  }
  plan.profile = *profile;
  plan.profile_name = args.profile;
  auto connections = pflab::replay::RealRunConnections(args.connections, plan.profile.max_connections,
                                                       plan.transport == pflab::replay::TransportKind::kFake);
  if (!connections) return fail("--" + connections.error().message);
  plan.live.http.connections = *connections;
  auto think = pflab::replay::ThinkTime::Parse(args.think);
  if (!think) return fail("--think: " + think.error().message);
  plan.think = *think;
  auto seeds = pflab::replay::ParseSeeds(args.seeds, args.seed);
  if (!seeds) return fail("--seeds: " + seeds.error().message);
  plan.seeds = std::move(*seeds);
  plan.verify_bytes = args.verify_bytes;
  std::vector<pflab::traces::Trace> traces;
  for (const auto& path : args.traces) {
    auto trace = pflab::traces::ReadTrace(path);
    if (!trace) return fail(trace.error().message);
    traces.push_back(std::move(*trace));
  }
  for (const auto& t : traces) plan.traces.push_back(&t);
  if (plan.transport == pflab::replay::TransportKind::kHttp) {
    // The objects the real runs read, looked up before the first run (an endpoint that cannot be
    // reached or lacks them fails here, once, rather than in every read of every run).
    pflab::GcsObjectClient client(plan.live.endpoint, pflab::TlsOptions{plan.live.http.ca_file},
                                  plan.live.http.credentials);
    pflab::replay::LiveObjectsOptions named;
    named.named_only = true;
    auto objects = pflab::replay::LiveObjects::Prepare(plan.traces, named, client, [](const std::string&) {});
    if (!objects) return fail(objects.error().message);
  }
  pflab::replay::FidelityOptions options;
  options.calibrate = args.calibrate;
  options.calibration.probes = args.calibration_probes;
  options.calibration.bandwidth_probes = 4;
  options.calibration.max_connections = 1;
  options.calibration.seed = args.seed;
  auto report = pflab::replay::RunFidelity(plan, options, [&](const std::string& line) {
    if (!args.quiet) std::cerr << "pflab fidelity: " << line << "\n";
  });
  if (!report) return fail(report.error().message);
  const std::string md = pflab::replay::FidelityMarkdown(
      *report, "Fidelity on " + args.profile + " (" + args.transport + (args.calibrate ? ", calibrated" : "") + ", " +
                   std::to_string(plan.seeds.size()) + " seeds)");
  std::cout << md;
  if (!args.md.empty()) {
    std::ofstream out(args.md);
    if (!(out << md) || !out.flush()) return fail("--md " + args.md + ": cannot write");
  }
  return report->failed > 0 ? 2 : 0;
}
