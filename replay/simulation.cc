#include "replay/simulation.h"

#include <chrono>
#include <cstring>
#include <vector>

#include "engine/synthetic_content.h"
#include "sim/sim_scheduler.h"
#include "sim/sim_transport.h"

namespace pflab::replay {
namespace {

// Checks a slice without payload by its chunk's provenance: every byte must have been filled, and the
// last fill covering it must have brought byte `object_offset + i` of the object with `seed`. Later
// fills win where fills overlap, as later writes of bytes would.
std::optional<Error> CheckProvenance(const traces::TraceObject& object, std::uint64_t seed, std::uint64_t object_offset,
                                     const Slice& slice) {
  const auto& fills = slice.chunk->provenance();
  std::vector<ByteRange> unchecked = {{slice.offset, slice.offset + slice.length}};  // chunk offsets
  for (auto fill = fills.rbegin(); fill != fills.rend() && !unchecked.empty(); ++fill) {
    const ByteRange filled{fill->chunk_offset, fill->chunk_offset + fill->length};
    std::vector<ByteRange> rest;
    for (const ByteRange& gap : unchecked) {
      const ByteRange both{std::max(gap.begin, filled.begin), std::min(gap.end, filled.end)};
      if (both.begin >= both.end) {
        rest.push_back(gap);
        continue;
      }
      const std::uint64_t wanted = object_offset + (both.begin - slice.offset);
      const std::uint64_t got = fill->object_offset + (both.begin - fill->chunk_offset);
      if (fill->object_seed != seed || got != wanted) {
        return Error{ErrorCode::kDataLoss, "byte " + std::to_string(wanted) + " of " + object.name +
                                               " differs from the object's content (the chunk holds byte " +
                                               std::to_string(got) + " of " +
                                               (fill->object_seed == seed ? "it" : "another object") + ")"};
      }
      if (gap.begin < both.begin) rest.push_back({gap.begin, both.begin});
      if (both.end < gap.end) rest.push_back({both.end, gap.end});
    }
    unchecked = std::move(rest);
  }
  if (!unchecked.empty()) {
    return Error{ErrorCode::kDataLoss, "byte " +
                                           std::to_string(object_offset + (unchecked.front().begin - slice.offset)) +
                                           " of " + object.name + " was delivered but never filled by the transport"};
  }
  return std::nullopt;
}

// Compares delivered bytes with the synthetic content of the object; returns the first mismatch.
// Slices with a payload (HTTP transports) are compared byte by byte, 1 MiB of expected content at a
// time; slices without one (the simulator) by provenance. Either way memory stays bounded whatever
// the read size.
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
  std::uint64_t offset = record.offset;
  std::vector<std::byte> expected;
  for (const Slice& slice : slices) {
    const std::byte* data = slice.data();
    if (data == nullptr) {
      if (auto error = CheckProvenance(object, seed, offset, slice)) return error;
      offset += slice.length;
      continue;
    }
    if (expected.empty()) expected.resize(std::min<std::uint64_t>(expected_length, 1 << 20));
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
  bool uses_oracle = false;
  for (const auto& layer : config.policy.layers) uses_oracle |= layer.name == "oracle";
  Replayer replayer(trace, config.think, &scheduler, sink, [&](std::uint32_t stream, std::uint32_t object) {
    policies::StackEnv env;
    env.ctx = LayerContext{&scheduler, sink, stream};
    env.transport = &transport;
    env.object = TraceObjectRef(trace.objects[object]);
    env.account = &account;
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
  result.comparison_peak_memory_bytes = config.comparison_peak_memory_bytes;
  result.metrics.bytes_fetched = account.released_filled_bytes();
  result.metrics.bytes_wasted = account.released_filled_bytes() - account.released_delivered_bytes();
  result.metrics.peak_memory_bytes = account.peak_bytes();
  return result;
}

Result<RunResult> RunSimulation(const SimulationConfig& config) {
  const auto wall_start = std::chrono::steady_clock::now();
  // The account outlives the scheduler: tasks still queued may hold chunks charged to it.
  MemoryAccount account;
  sim::SimScheduler scheduler;
  // Byte checks by provenance: the bytes are never moved, so verifying costs no memory per byte read.
  sim::SimTransport transport(&scheduler, config.profile, config.seed,
                              sim::SimTransportOptions{.record_provenance = config.verify_bytes});
  auto result = Replay(config, scheduler, transport, account, [&] { scheduler.Run(); });
  if (!result) return result;
  result->metrics.cost_usd = transport.cost_usd();
  result->events_run = scheduler.events_run();
  result->wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  return result;
}

}  // namespace pflab::replay
