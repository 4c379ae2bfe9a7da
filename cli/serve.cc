#include "cli/serve.h"

#include <signal.h>

#include <cstdio>
#include <iostream>

#include "engine/units.h"
#include "fake_gcs/server.h"

CLI::App* AddServeCommand(CLI::App& app, ServeArgs& args) {
  auto* cmd = app.add_subcommand("serve", "run the fake GCS server until interrupted (prints its URL first)");
  cmd->add_option("--host", args.host, "address to listen on")->capture_default_str();
  cmd->add_option("--port", args.port, "port (0 to 65535); 0 picks a free one")->capture_default_str();
  cmd->add_option("--root", args.root, "serve each sub-folder of DIR as a bucket (uploads write files there)");
  cmd->add_option("--synthetic", args.synthetic,
                  "BUCKET/OBJECT=SIZE: a synthetic object (generation 1; content as the engine's tests check "
                  "it), repeatable");
  cmd->add_option("--bucket", args.buckets, "an empty in-memory bucket, repeatable");
  cmd->add_option("--latency", args.latency,
                  "first-byte latency: 30ms, or median:p99 such as 30ms:200ms (at most 1 hour)");
  cmd->add_option("--bandwidth", args.bandwidth, "per-connection bandwidth, e.g. 100MB/s (default unlimited)");
  cmd->add_option("--link-bandwidth", args.link_bandwidth,
                  "bandwidth shared by all responses at once, e.g. 250MB/s (default unlimited)");
  cmd->add_option("--faults", args.faults, "fault profile JSON (seeded per-request fault probabilities)");
  cmd->add_option("--seed", args.seed, "seed for latency draws")->capture_default_str();
  cmd->add_option("--threads", args.threads, "I/O threads (1 to 256)")->capture_default_str();
  cmd->add_flag("--log", args.log, "print one line per request on stderr when the server stops");
  return cmd;
}

int RunServe(const ServeArgs& args) {
  auto fail = [](const std::string& message) {
    std::cerr << "pflab serve: " << message << "\n";
    return 1;
  };
  pflab::fake_gcs::ServerOptions options;
  options.host = args.host;
  options.port = args.port;
  options.seed = args.seed;
  options.threads = args.threads;
  options.keep_request_log = args.log;
  if (!args.latency.empty()) {
    if (auto s = pflab::fake_gcs::ParseLatency(args.latency, options.shaping); !s)
      return fail("--" + s.error().message);
  }
  if (!args.bandwidth.empty()) {
    auto bw = pflab::fake_gcs::ParseBandwidth(args.bandwidth);
    if (!bw) return fail("--" + bw.error().message);
    options.shaping.stream_bandwidth_bytes_per_s = *bw;
  }
  if (!args.link_bandwidth.empty()) {
    auto bw = pflab::fake_gcs::ParseBandwidth(args.link_bandwidth);
    if (!bw) return fail("--link-" + bw.error().message);
    options.link_bandwidth_bytes_per_s = *bw;
  }
  if (!args.faults.empty()) {
    auto profile = pflab::fake_gcs::FaultProfile::Load(args.faults);
    if (!profile) return fail("--faults " + profile.error().message);
    options.faults.emplace(*profile);
  }
  if (auto valid = pflab::fake_gcs::ValidateServerOptions(options); !valid) return fail("--" + valid.error().message);
  pflab::fake_gcs::FakeGcsServer server(options);
  if (!args.root.empty()) {
    if (auto s = server.store().SetRoot(args.root); !s) return fail(s.error().message);
  }
  for (const auto& b : args.buckets) server.store().CreateBucket(b);
  for (const auto& spec : args.synthetic) {
    const auto slash = spec.find('/'), eq = spec.rfind('=');
    if (slash == std::string::npos || eq == std::string::npos || eq < slash) {
      return fail("--synthetic '" + spec + "': expected BUCKET/OBJECT=SIZE");
    }
    auto size = pflab::ParseSize(spec.substr(eq + 1));
    if (!size) return fail("--synthetic '" + spec + "': " + size.error().message);
    auto put = server.store().PutSynthetic(spec.substr(0, slash), spec.substr(slash + 1, eq - slash - 1), *size);
    if (!put) return fail("--synthetic '" + spec + "': " + put.error().message);
  }
  // Block the signals before the server's threads start, so they inherit the mask and sigwait sees them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  auto port = server.Start();
  if (!port) return fail(port.error().message);
  std::printf("%s\n", server.endpoint().c_str());
  std::fflush(stdout);
  int signal = 0;
  sigwait(&signals, &signal);
  const auto stats = server.stats();
  const auto log = server.request_log();
  server.Stop();
  for (const auto& r : log) {
    std::fprintf(stderr, "%s %s -> %d, %llu body bytes%s%s\n", r.method.c_str(), r.target.c_str(), r.status,
                 static_cast<unsigned long long>(r.body_bytes_sent), r.fault.empty() ? "" : ", fault ",
                 r.fault.c_str());
  }
  std::fprintf(stderr, "pflab serve: stopped after %llu requests, %llu body bytes, %llu faults\n",
               static_cast<unsigned long long>(stats.requests), static_cast<unsigned long long>(stats.body_bytes_sent),
               static_cast<unsigned long long>(stats.faults_fired));
  return 0;
}
