#include "cli/bench.h"

#include <chrono>
#include <cstdio>
#include <iostream>

#include "engine/asio_scheduler.h"
#include "engine/concurrent_fetcher.h"
#include "engine/http_transport.h"
#include "engine/reader.h"
#include "engine/units.h"
#include "fake_gcs/server.h"
#include "policies/registry.h"
#include "replay/live.h"
#include "replay/simulation.h"
#include "traces/generators.h"

namespace {

using Clock = std::chrono::steady_clock;

int Fail(const std::string& message) {
  std::cerr << "pflab bench: " << message << "\n";
  return 1;
}

// Reads the whole object sequentially through Reader over ConcurrentFetcher over HttpTransport;
// returns bytes per second, or an error.
pflab::Result<double> EngineRead(const std::string& endpoint, const pflab::ObjectRef& object, std::uint64_t block,
                                 std::uint32_t parts) {
  pflab::MemoryAccount account;
  pflab::AsioScheduler scheduler;
  pflab::HttpTransportOptions http;
  http.connections = parts;
  pflab::HttpTransport transport(&scheduler, *pflab::HttpEndpoint::Parse(endpoint), http);
  pflab::NullEventSink events;
  pflab::ConcurrentFetcherOptions options;
  options.parts = parts;
  options.min_part_bytes = std::max<std::uint64_t>(1, block / parts);
  const pflab::LayerContext ctx{&scheduler, &events, 0};
  pflab::ConcurrentFetcher fetcher(ctx, &transport, object, options, &account);
  pflab::Reader reader(ctx, &fetcher);
  std::optional<pflab::Error> error;
  std::uint64_t delivered = 0;
  std::function<void()> next = [&] {
    if (reader.position() >= object.size || error) return;
    reader.Read(block, [&](pflab::Result<pflab::Slices>&& r) {
      if (!r.ok()) {
        error = r.error();
        return;
      }
      delivered += pflab::TotalLength(*r);
      next();
    });
  };
  const auto start = Clock::now();
  next();
  scheduler.Run();
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  if (error) return *error;
  if (delivered != object.size) return pflab::Internal("delivered " + std::to_string(delivered) + " bytes");
  return static_cast<double>(delivered) / seconds;
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
  pflab::fake_gcs::Shaping shaped;
  if (auto s = pflab::fake_gcs::ParseLatency(args.latency, shaped); !s) return Fail("--" + s.error().message);
  auto bandwidth = pflab::fake_gcs::ParseBandwidth(args.bandwidth);
  if (!bandwidth) return Fail("--" + bandwidth.error().message);
  shaped.bandwidth_bytes_per_s = *bandwidth;

  // 1. Loopback ceiling: no shaping; the engine and curl read the same object from the same server.
  pflab::fake_gcs::ServerOptions options;
  pflab::fake_gcs::FakeGcsServer server(options);
  const pflab::ObjectRef object{"bench", "loopback.bin", 1, *size};
  if (auto put = server.store().PutSynthetic(object.bucket, object.name, object.size); !put) {
    return Fail(put.error().message);
  }
  if (auto port = server.Start(); !port) return Fail(port.error().message);
  double engine = 0, engine1 = 0, curl = 0;
  for (std::uint32_t i = 0; i < args.reps; ++i) {
    auto e = EngineRead(server.endpoint(), object, *block, args.parts);
    if (!e) return Fail("engine read: " + e.error().message);
    engine = std::max(engine, *e);
    auto e1 = EngineRead(server.endpoint(), object, *block, 1);
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
  pflab::traces::GeneratorParams params;
  params.object_size = *size;
  params.read_size = 64 << 10;
  params.count = *size / params.read_size;
  auto trace = pflab::traces::Generate("sequential", params);
  if (!trace) return Fail(trace.error().message);
  pflab::fake_gcs::ServerOptions shaped_options;
  shaped_options.shaping = shaped;
  pflab::fake_gcs::FakeGcsServer shaped_server(shaped_options);
  const pflab::ObjectRef ref = pflab::replay::TraceObjectRef(trace->objects[0]);
  if (auto put = shaped_server.store().PutSynthetic(ref.bucket, ref.name, ref.size, ref.generation); !put) {
    return Fail(put.error().message);
  }
  if (auto port = shaped_server.Start(); !port) return Fail(port.error().message);
  pflab::replay::LiveOptions live;
  live.endpoint = *pflab::HttpEndpoint::Parse(shaped_server.endpoint());
  live.http.connections = std::max<std::uint32_t>(16, 2 * args.concurrency);
  // The simulator's model of the same server: its prediction is what the real run is checked against.
  pflab::sim::NetworkProfile model;
  model.latency_median_ns = shaped.latency_median;
  model.latency_p99_ns = shaped.latency_p99;
  model.stream_bandwidth_bytes_per_s = *bandwidth;
  model.link_bandwidth_bytes_per_s = engine;  // the loopback ceiling measured above
  model.max_connections = live.http.connections;
  model.usd_per_request = 0;
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
    pflab::replay::SimulationConfig config;
    config.trace = &*trace;
    config.policy = *pflab::policies::ParseStackSpec(policy);
    config.profile_name = "fake-gcs-shaped";
    config.profile = model;
    double best = 0;
    for (std::uint32_t i = 0; i < args.reps; ++i) {
      auto result = pflab::replay::RunLive(config, live);
      if (!result) return Fail("shaped run: " + result.error().message);
      if (result->metrics.reads_failed) return Fail("shaped run: reads failed");
      best = std::max(best, static_cast<double>(result->metrics.bytes_read) / result->metrics.elapsed_s);
    }
    auto predicted = pflab::replay::RunSimulation(config);
    if (!predicted) return Fail("simulation: " + predicted.error().message);
    const double model_rate = static_cast<double>(predicted->metrics.bytes_read) / predicted->metrics.elapsed_s;
    const bool streams = policy == "gcsfuse";
    std::printf(
        "  %-52s %5.0f MB/s = %3.0f%% of the ceiling (%s); simulator predicts %5.0f MB/s (real/predicted %.2f)\n",
        policy.c_str(), best / 1e6, 100 * best / ceiling,
        streams                  ? "streams, one connection: no target"
        : best / ceiling >= 0.85 ? "target >= 85%: met"
                                 : "target >= 85%: NOT met",
        model_rate / 1e6, best / model_rate);
  }
  return 0;
}
