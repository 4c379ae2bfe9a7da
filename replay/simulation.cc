#include "replay/simulation.h"

#include <chrono>
#include <cstring>
#include <vector>

#include "engine/synthetic_content.h"
#include "sim/sim_scheduler.h"
#include "sim/sim_transport.h"

namespace pflab::replay {
namespace {

// Compares delivered bytes with the synthetic content of the object; returns the first mismatch.
std::optional<Error> CheckBytes(const traces::TraceObject& object, const traces::TraceRecord& record,
                                const Slices& slices) {
  const ObjectRef ref = TraceObjectRef(object);
  const std::uint64_t seed = ObjectSeed(ref.bucket, ref.name, ref.generation);
  const std::uint64_t expected_length = std::min(record.length, object.size - std::min(record.offset, object.size));
  if (TotalLength(slices) != expected_length) {
    return Error{ErrorCode::kDataLoss, "read at " + std::to_string(record.offset) + " of " + object.name +
                                           " delivered " + std::to_string(TotalLength(slices)) + " bytes, expected " +
                                           std::to_string(expected_length)};
  }
  // Compared a block at a time against the content generated 8 bytes per hash; on a mismatch the
  // first differing byte is located for the message.
  std::uint64_t offset = record.offset;
  std::vector<std::byte> expected(std::min<std::uint64_t>(expected_length, 1 << 20));
  for (const Slice& slice : slices) {
    const std::byte* data = slice.data();
    if (data == nullptr) return Error{ErrorCode::kDataLoss, "delivered slice has no payload"};
    for (std::uint64_t done = 0; done < slice.length;) {
      const std::uint64_t n = std::min<std::uint64_t>(expected.size(), slice.length - done);
      FillSynthetic(seed, offset, expected.data(), n);
      if (std::memcmp(expected.data(), data + done, n) != 0) {
        std::uint64_t i = 0;
        while (expected[i] == data[done + i]) ++i;
        return Error{ErrorCode::kDataLoss, "byte " + std::to_string(offset + i) + " of " + object.name +
                                               " differs from the object's content"};
      }
      done += n;
      offset += n;
    }
  }
  return std::nullopt;
}

}  // namespace

ObjectRef TraceObjectRef(const traces::TraceObject& object) {
  return ObjectRef{object.bucket.empty() ? "pflab" : object.bucket, object.name, 1, object.size};
}

Result<RunResult> Replay(const SimulationConfig& config, Scheduler& scheduler, Transport& transport,
                         MemoryAccount& account, const std::function<void()>& run) {
  const traces::Trace& trace = *config.trace;
  if (auto status = policies::ValidateStack(config.policy); !status) return status.error();
  MetricsCollector collector;
  TeeSink tee({&collector, config.event_log});
  EventSink* sink = config.event_log ? static_cast<EventSink*>(&tee) : &collector;

  std::optional<Error> build_error;
  std::optional<Error> byte_error;
  // Declared before the replayer, so it outlives every stack.
  policies::RunShared run_shared(&account);
  bool uses_oracle = false;
  for (const auto& layer : config.policy.layers) uses_oracle |= layer.name == "oracle";
  Replayer replayer(trace, config.think, &scheduler, sink, [&](std::uint32_t stream, std::uint32_t object) {
    policies::StackEnv env;
    env.ctx = LayerContext{&scheduler, sink, stream};
    env.transport = &transport;
    env.object = TraceObjectRef(trace.objects[object]);
    env.account = account.NewChild();  // this open file's view of the run's account
    env.run = &run_shared;
    env.seed = config.seed ^ (static_cast<std::uint64_t>(stream) << 32) ^ object;
    if (uses_oracle) {
      auto future = std::make_shared<std::vector<ByteRange>>();
      for (const auto& r : trace.records) {
        if (r.stream == stream && r.object == object) future->push_back({r.offset, r.offset + r.length});
      }
      env.future_reads = std::move(future);
    }
    auto stack = policies::BuildStack(config.policy, env);
    if (!stack && !build_error) build_error = stack.error();
    return stack;
  });
  if (config.verify_bytes) {
    replayer.set_observer([&](const traces::TraceRecord& record, const Result<Slices>& result) {
      if (byte_error || !result.ok()) return;
      byte_error = CheckBytes(trace.objects[record.object], record, *result);
    });
  }
  if (auto status = replayer.Start(); !status) return status.error();
  run();
  if (build_error) return *build_error;
  if (byte_error) return *byte_error;

  RunResult result;
  result.metrics.reads_failed = replayer.reads_failed();
  replayer.Teardown();
  // Let cancellations triggered by the teardown settle, so every buffer is released and accounted.
  run();
  collector.Finish(&result.metrics);
  result.trace = trace.name;
  result.policy = config.policy.text;
  result.profile = config.profile_name;
  result.seed = config.seed;
  result.think = config.think.ToString();
  result.metrics.bytes_fetched = account.released_filled_bytes();
  result.metrics.bytes_wasted = account.released_filled_bytes() - account.released_delivered_bytes();
  result.metrics.peak_memory_bytes = account.peak_bytes();
  result.peak_file_memory_bytes = account.max_child_peak_bytes();
  return result;
}

Result<RunResult> RunSimulation(const SimulationConfig& config) {
  const auto wall_start = std::chrono::steady_clock::now();
  // The account outlives the scheduler: tasks still queued may hold chunks charged to it.
  MemoryAccount account;
  sim::SimScheduler scheduler;
  sim::SimTransport transport(&scheduler, config.profile, config.seed,
                              sim::SimTransportOptions{.fill_payload = config.verify_bytes});
  auto result = Replay(config, scheduler, transport, account, [&] { scheduler.Run(); });
  if (!result) return result;
  result->metrics.cost_usd = transport.cost_usd();
  result->events_run = scheduler.events_run();
  result->wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  return result;
}

}  // namespace pflab::replay
