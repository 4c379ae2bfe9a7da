#include "cli/bench.h"

#include <cstdio>
#include <iostream>
#include <optional>

#include "engine/units.h"
#include "fake_gcs/server.h"
#include "policies/registry.h"
#include "replay/matrix.h"
#include "traces/generators.h"

namespace {

int Fail(const std::string& message) {
  std::cerr << "pflab bench: " << message << "\n";
  return 1;
}

// Runs one cell of `plan` and returns the application's read rate in bytes per second; a run with
// failed reads, or one that delivered less than the trace reads, is an error.
pflab::Result<double> ReadRate(const pflab::replay::RunPlan& plan, std::size_t cell) {
  std::optional<pflab::Result<pflab::replay::RunResult>> outcome;
  pflab::replay::RunHooks hooks;
  hooks.on_finish = [&](const pflab::replay::RunCell&, pflab::Result<pflab::replay::RunResult>&& result) {
    outcome = std::move(result);
    return true;
  };
  if (auto status = pflab::replay::RunCells(plan, hooks, {cell}); !status) return status.error();
  if (!*outcome) return outcome->error();
  const auto& metrics = (*outcome)->metrics;
  std::uint64_t expected = 0;
  for (const auto& record : plan.traces[pflab::replay::CellAt(plan, cell).trace]->records) expected += record.length;
  if (metrics.reads_failed || metrics.bytes_read != expected) {
    return pflab::Internal(std::to_string(metrics.reads_failed) + " reads failed, " +
                           std::to_string(metrics.bytes_read) + " of " + std::to_string(expected) + " bytes delivered");
  }
  return static_cast<double>(metrics.bytes_read) / metrics.elapsed_s;
}

// A trace that reads a whole object of `size` bytes sequentially in `block`-byte reads, without think time.
pflab::Result<pflab::traces::Trace> SequentialTrace(std::uint64_t size, std::uint64_t block) {
  pflab::traces::GeneratorParams params;
  params.object_size = size;
  params.read_size = block;
  params.count = (size + block - 1) / block;
  return pflab::traces::Generate("sequential", params);
}

// curl's download rate of the same object from the same server, or an error when curl is missing.
pflab::Result<double> CurlRead(const std::string& url) {
  FILE* pipe = ::popen(("curl -sf -o /dev/null -w '%{speed_download}' '" + url + "' 2>/dev/null").c_str(), "r");
  if (pipe == nullptr) return pflab::Unavailable("cannot run curl");
  char buf[128] = {};
  const std::size_t n = std::fread(buf, 1, sizeof buf - 1, pipe);
  const int status = ::pclose(pipe);
  if (status != 0 || n == 0) return pflab::Unavailable("curl failed (is it installed? scripts/setup.sh installs it)");
  return std::strtod(buf, nullptr);
}

}  // namespace

CLI::App* AddBenchCommand(CLI::App& app, BenchArgs& args) {
  auto* bench = app.add_subcommand("bench", "performance measurements that print ratios to their targets");
  auto* fake = bench->add_subcommand("fake-gcs",
                                     "engine vs curl on loopback (target >= 0.8x), and gcsfs-adaptive on a shaped "
                                     "fake server (target >= 85% of the model's ceiling)");
  fake->add_option("--size", args.size, "object size")->capture_default_str();
  fake->add_option("--block", args.block, "loopback: bytes per read")->capture_default_str();
  fake->add_option("--parts", args.parts, "loopback: concurrent parts and connections")->capture_default_str();
  fake->add_option("--reps", args.reps, "repetitions; the best is reported")->capture_default_str();
  fake->add_option("--latency", args.latency, "shaped: first-byte latency")->capture_default_str();
  fake->add_option("--bandwidth", args.bandwidth, "shaped: per-connection bandwidth")->capture_default_str();
  fake->add_option("--concurrency", args.concurrency, "shaped: gcsfs-adaptive concurrency")->capture_default_str();
  bench->require_subcommand(1);
  return bench;
}

int RunBench(const BenchArgs& args) {
  auto size = pflab::ParseSize(args.size);
  if (!size) return Fail("--size: " + size.error().message);
  auto block = pflab::ParseSize(args.block);
  if (!block || *block == 0) return Fail("--block: must be a positive size");
  if (args.parts == 0 || args.reps == 0 || args.concurrency == 0) return Fail("--parts, --reps, --concurrency: >= 1");
  // Each read is one buffer in memory, and each part a connection (worker thread and socket).
  if (*block > pflab::replay::MaxLiveReadBytes()) {
    return Fail("--block: above " + pflab::FormatSize(pflab::replay::MaxLiveReadBytes()) +
                ", a quarter of this machine's memory (each read is held in memory)");
  }
  for (std::uint64_t connections : {std::uint64_t{args.parts}, std::uint64_t{args.concurrency}}) {
    if (auto s = pflab::replay::CheckConnectionCount(connections, /*in_process_server=*/true); !s) {
      return Fail("--parts, --concurrency: " + s.error().message);
    }
  }
  auto shaped = pflab::netmodel::NetworkProfile::Unshaped();
  if (auto s = pflab::fake_gcs::ParseLatency(args.latency, shaped); !s) return Fail("--" + s.error().message);
  auto bandwidth = pflab::fake_gcs::ParseBandwidth(args.bandwidth);
  if (!bandwidth) return Fail("--" + bandwidth.error().message);
  shaped.stream_bandwidth_bytes_per_s = *bandwidth;

  // 1. Loopback ceiling: no shaping; the engine and curl read the same object from the same server.
  auto loop_trace = SequentialTrace(*size, *block);
  if (!loop_trace) return Fail(loop_trace.error().message);
  const pflab::ObjectRef object = pflab::replay::TraceObjectRef(loop_trace->objects[0]);
  pflab::fake_gcs::ServerOptions options;
  pflab::fake_gcs::FakeGcsServer server(options);
  if (auto put = server.store().PutSynthetic(object.bucket, object.name, object.size, object.generation); !put) {
    return Fail(put.error().message);
  }
  if (auto port = server.Start(); !port) return Fail(port.error().message);
  // The engine alone: one layer, the concurrent fetcher, splitting each read into `parts` GETs (and 1).
  pflab::replay::RunPlan loopback;
  loopback.traces = {&*loop_trace};
  loopback.think.mode = pflab::replay::ThinkTime::Mode::kZero;
  loopback.transport = pflab::replay::TransportKind::kHttp;
  loopback.live.endpoint = *pflab::HttpEndpoint::Parse(server.endpoint());
  loopback.live.http.connections = args.parts;
  const std::string min_part = std::to_string(std::max<std::uint64_t>(1, *block / args.parts)) + "B";
  loopback.policies = {
      *pflab::policies::ParseStackSpec("concurrent(parts=" + std::to_string(args.parts) + ",min=" + min_part + ")"),
      *pflab::policies::ParseStackSpec("concurrent(parts=1)")};
  double engine = 0, engine1 = 0, curl = 0;
  for (std::uint32_t i = 0; i < args.reps; ++i) {
    auto e = ReadRate(loopback, 0);
    if (!e) return Fail("engine read: " + e.error().message);
    engine = std::max(engine, *e);
    auto e1 = ReadRate(loopback, 1);
    if (!e1) return Fail("engine read: " + e1.error().message);
    engine1 = std::max(engine1, *e1);
    auto c = CurlRead(server.endpoint() + "/" + object.bucket + "/" + object.name);
    if (!c) return Fail(c.error().message);
    curl = std::max(curl, *c);
  }
  server.Stop();
  std::printf("loopback ceiling, %s object, no shaping (best of %u)\n", args.size.c_str(), args.reps);
  std::printf("  curl, 1 connection:                      %6.2f GB/s\n", curl / 1e9);
  std::printf("  engine, Reader + concurrent(parts=1):     %6.2f GB/s  %.2fx curl\n", engine1 / 1e9, engine1 / curl);
  std::printf("  engine, Reader + concurrent(parts=%u):     %6.2f GB/s  %.2fx curl\n", args.parts, engine / 1e9,
              engine / curl);
  engine = std::max(engine, engine1);
  std::printf("  best engine configuration: %.2fx curl (target >= 0.80x: %s)\n", engine / curl,
              engine / curl >= 0.8 ? "met" : "NOT met");

  // 2. Shaped: gcsfs-adaptive with concurrency N on sequential 64 KiB reads.
  auto trace = SequentialTrace(*size, 64 << 10);
  if (!trace) return Fail(trace.error().message);
  pflab::fake_gcs::ServerOptions shaped_options;
  shaped_options.shaping = shaped;
  pflab::fake_gcs::FakeGcsServer shaped_server(shaped_options);
  const pflab::ObjectRef ref = pflab::replay::TraceObjectRef(trace->objects[0]);
  if (auto put = shaped_server.store().PutSynthetic(ref.bucket, ref.name, ref.size, ref.generation); !put) {
    return Fail(put.error().message);
  }
  if (auto port = shaped_server.Start(); !port) return Fail(port.error().message);
  pflab::replay::RunPlan real;
  real.traces = {&*trace};
  real.transport = pflab::replay::TransportKind::kHttp;
  real.live.endpoint = *pflab::HttpEndpoint::Parse(shaped_server.endpoint());
  real.live.http.connections = std::max<std::uint32_t>(16, 2 * args.concurrency);
  // The simulator's model of the same server: its prediction is what the real run is checked against.
  real.profile_name = "fake-gcs-shaped";
  real.profile = shaped;                             // the server's latency and per-connection bandwidth
  real.profile.link_bandwidth_bytes_per_s = engine;  // the loopback ceiling measured above
  real.profile.max_connections = real.live.http.connections;
  real.profile.usd_per_request = 0;
  const double ceiling = std::min(args.concurrency * *bandwidth, engine);
  std::printf(
      "shaped: %s first byte, %s per connection; sequential 64 KiB reads of %s (best of %u); ceiling "
      "min(%u x %s, loopback) = %.0f MB/s\n",
      args.latency.c_str(), args.bandwidth.c_str(), args.size.c_str(), args.reps, args.concurrency,
      args.bandwidth.c_str(), ceiling / 1e6);
  const std::string c = std::to_string(args.concurrency);
  const std::string mb = std::to_string(std::max<std::uint64_t>(1, (32ull << 20) * args.concurrency >> 20));
  // gcsfuse reads through streaming GETs (one connection each, no target): its row checks the real
  // streaming path against the simulator's stream model.
  for (const std::string& policy : std::vector<std::string>{
           "gcsfs-adaptive(concurrency=" + c + ")",
           "fsspec-readahead(blocksize=" + mb + "MiB) > concurrent(parts=" + c + ",min=1MiB)", "gcsfuse"}) {
    real.policies.push_back(*pflab::policies::ParseStackSpec(policy));
  }
  pflab::replay::RunPlan model = real;
  model.transport = pflab::replay::TransportKind::kSim;
  for (std::size_t cell = 0; cell < real.size(); ++cell) {
    const std::string& policy = real.policies[cell].text;
    double best = 0;
    for (std::uint32_t i = 0; i < args.reps; ++i) {
      auto rate = ReadRate(real, cell);
      if (!rate) return Fail("shaped run: " + rate.error().message);
      best = std::max(best, *rate);
    }
    auto model_rate = ReadRate(model, cell);
    if (!model_rate) return Fail("simulation: " + model_rate.error().message);
    const bool streams = policy == "gcsfuse";
    std::printf(
        "  %-52s %5.0f MB/s = %3.0f%% of the ceiling (%s); simulator predicts %5.0f MB/s (real/predicted %.2f)\n",
        policy.c_str(), best / 1e6, 100 * best / ceiling,
        streams                  ? "streams, one connection: no target"
        : best / ceiling >= 0.85 ? "target >= 85%: met"
                                 : "target >= 85%: NOT met",
        *model_rate / 1e6, best / *model_rate);
  }
  return 0;
}
