#include "cli/calibrate.h"

#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>

#include "engine/units.h"
#include "net/credentials.h"
#include "net/gcs_objects.h"
#include "replay/calibrate.h"
#include "replay/live.h"

namespace {

bool LooksLikeFile(const std::string& profile) {
  return profile.find('/') != std::string::npos ||
         (profile.size() > 5 && profile.compare(profile.size() - 5, 5, ".json") == 0);
}

std::string Interval(const pflab::replay::Estimate& e, double scale, int digits) {
  char text[96];
  if (std::isfinite(e.high)) {
    std::snprintf(text, sizeof text, "%.*f (95%%: %.*f-%.*f)", digits, e.value / scale, digits, e.low / scale, digits,
                  e.high / scale);
  } else {
    std::snprintf(text, sizeof text, "%.*f (at least; not reached)", digits, e.value / scale);
  }
  return text;
}

}  // namespace

pflab::Result<pflab::sim::NetworkProfile> FindProfileOrFile(const std::string& profile,
                                                            const std::string& profiles_file) {
  if (!LooksLikeFile(profile)) return pflab::sim::FindProfile(profile, pflab::sim::ProfilesPath(profiles_file));
  auto all = pflab::sim::LoadProfiles(profile);
  if (!all) return all.error();
  if (all->size() != 1) {
    std::string names;
    for (const auto& [name, p] : *all) names += (names.empty() ? "" : ", ") + name;
    return pflab::InvalidArgument(profile + ": holds " + std::to_string(all->size()) + " profiles (" + names +
                                  "); name one with --profiles " + profile + " --profile NAME");
  }
  return all->begin()->second;
}

std::string ProfileErrorSource(const std::string& option, const std::string& profile, const std::string& profiles_file,
                               const pflab::Error& error) {
  return LooksLikeFile(profile) ? option : pflab::sim::ProfilesErrorSource(error, profiles_file, option);
}

CLI::App* AddCalibrateCommand(CLI::App& app, CalibrateArgs& args) {
  auto* cmd = app.add_subcommand(
      "calibrate", "measure an endpoint with a bounded number of reads of one object and write a fitted profile");
  cmd->add_option("target", args.target, "gs://BUCKET/OBJECT or http[s]://HOST[:PORT]/BUCKET/OBJECT")->required();
  cmd->add_option("-o,--output", args.output, "profiles file to write (one profile; `--profile FILE` takes it)");
  cmd->add_option("--name", args.name, "the profile's name in the file")->capture_default_str();
  cmd->add_option("--probes", args.probes, "small reads for first-byte latency")->capture_default_str();
  cmd->add_option("--probe-size", args.probe_size, "bytes per latency read")->capture_default_str();
  cmd->add_option("--bandwidth-probes", args.bandwidth_probes, "large reads for per-request bandwidth")
      ->capture_default_str();
  cmd->add_option("--bandwidth-size", args.bandwidth_size, "bytes per large read (also each concurrent read)")
      ->capture_default_str();
  cmd->add_option("--max-connections", args.max_connections,
                  "highest number of concurrent reads (levels 1, 2, 4, ... up to it)")
      ->capture_default_str();
  cmd->add_option("--prices", args.prices, "profile whose prices the plan's cost and the written profile use")
      ->capture_default_str();
  cmd->add_option("--profiles", args.profiles_file, "profiles file for --prices (default: the built-in profiles)");
  cmd->add_option("--seed", args.seed, "seed for offsets and the bootstrap")->capture_default_str();
  cmd->add_flag("--plan-only", args.plan_only,
                "print the requests and their cost, send nothing but the metadata "
                "request");
  cmd->add_flag("--verify-synthetic", args.verify_synthetic,
                "check every byte against the synthetic content (objects of `pflab serve --synthetic`)");
  cmd->add_flag("-q,--quiet", args.quiet, "no progress on stderr");
  return cmd;
}

int RunCalibrate(const CalibrateArgs& args) {
  auto fail = [](const std::string& message) {
    std::cerr << "pflab calibrate: " << message << "\n";
    return 1;
  };
  if (args.output.empty() && !args.plan_only) return fail("-o/--output: required (or --plan-only)");
  auto target = pflab::replay::ParseCalibrationTarget(args.target);
  if (!target) return fail(target.error().message);
  auto prices = FindProfileOrFile(args.prices, args.profiles_file);
  if (!prices) {
    return fail(ProfileErrorSource("--prices", args.prices, args.profiles_file, prices.error()) + ": " +
                prices.error().message);
  }
  pflab::replay::CalibrationOptions options;
  options.probes = args.probes;
  options.bandwidth_probes = args.bandwidth_probes;
  options.max_connections = args.max_connections;
  options.seed = args.seed;
  options.verify_synthetic = args.verify_synthetic;
  auto probe_size = pflab::ParseSize(args.probe_size);
  if (!probe_size) return fail("--probe-size: " + probe_size.error().message);
  auto bandwidth_size = pflab::ParseSize(args.bandwidth_size);
  if (!bandwidth_size) return fail("--bandwidth-size: " + bandwidth_size.error().message);
  options.probe_bytes = *probe_size;
  options.bandwidth_bytes = *bandwidth_size;
  if (options.bandwidth_bytes > pflab::replay::MaxLiveReadBytes()) {
    return fail("--bandwidth-size: above a quarter of this machine's memory");
  }
  if (auto s = pflab::replay::CheckConnectionCount(args.max_connections, false); !s) {
    return fail("--max-" + s.error().message);
  }
  // Credentials as live runs find them ($PFLAB_GCS_TOKEN first); past that only for https endpoints.
  pflab::CredentialsOptions found;
  found.discover = target->endpoint.scheme == "https";
  auto credentials = pflab::FindCredentials(found);
  if (!credentials) return fail(credentials.error().message);
  options.http.credentials = *credentials;

  auto metadata =
      pflab::GcsObjectClient(target->endpoint, pflab::TlsOptions{options.http.ca_file}, options.http.credentials)
          .Get(target->bucket, target->object);
  if (!metadata) return fail(metadata.error().message);
  auto plan = pflab::replay::PlanCalibration(options, metadata->size);
  if (!plan) return fail("--" + plan.error().message);
  std::cout << "calibrating against " << target->Describe() << " (" << pflab::FormatSize(metadata->size)
            << ", generation " << metadata->generation << "):\n"
            << plan->Describe(*prices) << std::flush;
  if (args.plan_only) return 0;

  pflab::ObjectRef object{target->bucket, target->object, metadata->generation, metadata->size};
  auto seen = pflab::replay::RunProbes(*target, object, *plan, options, [&](const std::string& line) {
    if (!args.quiet) std::cerr << "pflab calibrate: " << line << "\n";
  });
  if (!seen) return fail(seen.error().message);
  auto fit = pflab::replay::FitCalibration(*seen, *prices, args.seed);
  if (!fit) return fail(fit.error().message);
  const auto file = pflab::replay::CalibratedProfilesFile(*fit, args.name, target->Describe(), *plan);
  {
    std::ofstream out(args.output);
    if (!out) return fail("-o " + args.output + ": cannot open for writing");
    out << file.dump(2) << "\n";
    if (!out.flush()) return fail("-o " + args.output + ": write failed");
  }
  std::cout << "sent " << seen->requests << " requests, received " << pflab::FormatSize(seen->bytes) << "\n"
            << "first byte median  " << Interval(fit->latency_median_ns, 1e6, 3) << " ms\n"
            << "first byte p99     " << Interval(fit->latency_p99_ns, 1e6, 3) << " ms\n"
            << "first byte min     " << Interval(fit->latency_min_ns, 1e6, 3) << " ms\n"
            << "per request        " << Interval(fit->stream_bandwidth, 1e6, 2) << " MB/s\n"
            << "link               " << Interval(fit->link_bandwidth, 1e6, 2) << " MB/s\n"
            << "connections        "
            << (fit->connection_limited ? Interval(fit->max_connections, 1, 0)
                                        : "no limit seen up to " + std::to_string(args.max_connections) +
                                              "; profile gets " + std::to_string(fit->profile.max_connections))
            << "\n"
            << "connection setup   "
            << (fit->connect_overhead_ns.samples > 0 ? Interval(fit->connect_overhead_ns, 1e6, 3) + " ms"
                                                     : std::string("not measured"))
            << "\n";
  for (const auto& l : seen->levels) {
    std::printf("  %3u at once: %10.2f MB/s aggregate, %u in flight at most%s\n", l.concurrency,
                l.aggregate_bytes_per_s / 1e6, l.max_in_flight, l.full_overlap ? "" : " (no common window)");
  }
  std::cout << "wrote " << args.output << " (profile " << args.name << "; use --profile " << args.output << ")\n";
  return 0;
}
