#include "replay/simulation.h"

#include <chrono>
#include <cmath>
#include <cstring>
#include <map>
#include <set>
#include <vector>

#include "engine/synthetic_content.h"
#include "replay/transport_stack.h"
#include "sim/sim_scheduler.h"

namespace pflab::replay {
namespace {

// Why delivered bytes are not the object's content: the first offset that differs (or where a short
// delivery ends) and how many bytes differ.
struct WrongBytes {
  std::string message;
  std::uint64_t first_wrong = 0;
  std::uint64_t count = 0;
};

// Checks a slice without payload by its chunk's provenance: every byte must have been filled, and the
// last fill covering it must have brought byte `object_offset + i` of the object with `seed`. Later
// fills win where fills overlap, as later writes of bytes would.
std::optional<WrongBytes> CheckProvenance(const traces::TraceObject& object, std::uint64_t seed,
                                          std::uint64_t object_offset, const Slice& slice) {
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
        return WrongBytes{"byte " + std::to_string(wanted) + " of " + object.name +
                              " differs from the object's content (the chunk holds byte " + std::to_string(got) +
                              " of " + (fill->object_seed == seed ? "it" : "another object") + ")",
                          wanted, both.end - both.begin};
      }
      if (gap.begin < both.begin) rest.push_back({gap.begin, both.begin});
      if (both.end < gap.end) rest.push_back({both.end, gap.end});
    }
    unchecked = std::move(rest);
  }
  if (!unchecked.empty()) {
    const std::uint64_t first = object_offset + (unchecked.front().begin - slice.offset);
    std::uint64_t count = 0;
    for (const ByteRange& gap : unchecked) count += gap.end - gap.begin;
    return WrongBytes{
        "byte " + std::to_string(first) + " of " + object.name + " was delivered but never filled by the transport",
        first, count};
  }
  return std::nullopt;
}

// Compares delivered bytes with the synthetic content of the object: nullopt when they are right, else
// why not, the first offset that differs (or where a short delivery ends) and how many bytes differ.
// Slices with a payload (HTTP transports) are compared byte by byte, 1 MiB of expected content at a
// time; slices without one (the simulator) by provenance. Either way memory stays bounded whatever
// the read size.
std::optional<WrongBytes> CheckBytes(const traces::TraceObject& object, const traces::TraceRecord& record,
                                     const Slices& slices) {
  const ObjectRef ref = TraceObjectRef(object);
  const std::uint64_t seed = ObjectSeed(ref.bucket, ref.name, ref.generation);
  const std::uint64_t expected_length = std::min(record.length, object.size - std::min(record.offset, object.size));
  const std::uint64_t delivered = TotalLength(slices);
  if (delivered != expected_length) {
    const std::uint64_t missing =
        expected_length > delivered ? expected_length - delivered : delivered - expected_length;
    return WrongBytes{"read at " + std::to_string(record.offset) + " of " + object.name + " delivered " +
                          std::to_string(delivered) + " bytes, expected " + std::to_string(expected_length),
                      record.offset + std::min(delivered, expected_length), missing};
  }
  // Compared in place against the content generated 8 bytes per hash (in real-time runs the check is
  // on the run's clock, so it should cost little); a slice with a mismatch is compared again a block at
  // a time, and byte by byte where a block differs, to locate the first wrong byte and count them all.
  std::optional<WrongBytes> wrong;
  std::uint64_t offset = record.offset;
  std::vector<std::byte> expected;
  for (const Slice& slice : slices) {
    const std::byte* data = slice.data();
    if (data == nullptr) {
      if (auto bad = CheckProvenance(object, seed, offset, slice)) return bad;
      offset += slice.length;
      continue;
    }
    if (!wrong && MatchingSyntheticPrefix(seed, offset, data, slice.length) == slice.length) {
      offset += slice.length;
      continue;
    }
    if (expected.empty()) expected.resize(std::min<std::uint64_t>(expected_length, 1 << 20));
    for (std::uint64_t done = 0; done < slice.length;) {
      const std::uint64_t n = std::min<std::uint64_t>(expected.size(), slice.length - done);
      FillSynthetic(seed, offset, expected.data(), n);
      if (std::memcmp(expected.data(), data + done, n) != 0) {
        for (std::uint64_t i = 0; i < n; ++i) {
          if (expected[i] == data[done + i]) continue;
          if (!wrong) {
            wrong = WrongBytes{
                "byte " + std::to_string(offset + i) + " of " + object.name + " differs from the object's content",
                offset + i, 0};
          }
          ++wrong->count;
        }
      }
      done += n;
      offset += n;
    }
  }
  if (wrong) wrong->message += " (" + std::to_string(wrong->count) + " wrong bytes in the read)";
  return wrong;
}

std::string ObjectLabel(const traces::TraceObject& object) {
  const ObjectRef ref = TraceObjectRef(object);
  return ref.bucket + "/" + ref.name;
}

// What the oracle's planner may know of a profile: its distributions, not its prices or faults.
policies::NetworkSummary Summary(const sim::NetworkProfile& p) {
  policies::NetworkSummary n;
  n.latency_median_ns = p.latency_median_ns;
  n.latency_p99_ns = p.latency_p99_ns;
  n.stream_bandwidth_bytes_per_s = p.stream_bandwidth_bytes_per_s;
  n.link_bandwidth_bytes_per_s = p.shared_bandwidth_bytes_per_s();  // the host's limit binds like the link's
  n.max_connections = p.max_connections;
  n.request_overhead_ns = p.request_overhead_ns;
  n.stream_overhead_ns = p.stream_overhead_ns;
  n.read_overhead_ns_per_mib = p.read_overhead_ns_per_mib;
  return n;
}

// The think time before each of one stream's reads of one object, as the replayer derives think
// time (recorded gap after the previous read's end, floored at 0, scaled): measured from that
// stream's previous read of the same object, so reads of other objects in between count as think.
Nanos ThinkSince(const ThinkTime& think, const traces::TraceRecord& prev, const traces::TraceRecord& cur) {
  if (think.mode == ThinkTime::Mode::kZero) return 0;
  const Nanos gap = cur.t_ns - prev.t_ns - std::max<Nanos>(prev.duration_ns, 0);
  if (gap <= 0) return 0;
  if (think.mode == ThinkTime::Mode::kScaled) {
    return static_cast<Nanos>(std::llround(static_cast<double>(gap) * think.factor));
  }
  return gap;
}

}  // namespace

ObjectRef TraceObjectRef(const traces::TraceObject& object) {
  return ObjectRef{object.bucket.empty() ? "pflab" : object.bucket, object.name, 1, object.size};
}

Result<RunResult> Replay(const SimulationConfig& config, Scheduler& scheduler, Transport& transport,
                         MemoryAccount& account, const std::function<void(const std::function<void()>& tick)>& run,
                         Nanos read_overhead_ns_per_mib) {
  const traces::Trace& trace = *config.trace;
  if (auto status = policies::ValidateStack(config.policy); !status) return status.error();
  MetricsCollector collector;
  TeeSink tee({&collector, config.event_log});
  EventSink* sink = config.event_log ? static_cast<EventSink*>(&tee) : &collector;

  std::optional<Error> build_error;
  RunErrors errors;
  std::uint64_t reads_wrong = 0;
  std::uint64_t bytes_wrong = 0;
  // Declared before the replayer, so it outlives every stack.
  policies::RunShared run_shared(&account);
  bool uses_oracle = false;
  for (const auto& layer : config.policy.layers) uses_oracle |= layer.name == "oracle";
  std::uint32_t stacks = 1;  // (stream, object) pairs, for the oracle's planner
  // For the oracle: each (stream, object)'s reads and each object's, in the trace's order, so that a
  // stack's open looks at its own reads only, and every stream's reads of an object are gathered
  // once, at its first open, for all its stacks (scanning the whole trace at every open was quadratic
  // in the objects, 57% of a run over 20,000 objects; the object's reads at every open, in the
  // streams, 20% of 1,024 streams on one object).
  std::map<std::pair<std::uint32_t, std::uint32_t>, std::vector<std::size_t>> reads_of_stack;
  std::vector<std::vector<std::size_t>> reads_of_object;
  struct ObjectReads {
    std::shared_ptr<const std::vector<policies::StreamRead>> all;  // null until its first open
    std::set<std::uint32_t> streams;
  };
  std::vector<ObjectReads> object_reads;
  if (uses_oracle) {
    reads_of_object.resize(trace.objects.size());
    object_reads.resize(trace.objects.size());
    for (std::size_t i = 0; i < trace.records.size(); ++i) {
      const auto& r = trace.records[i];
      reads_of_stack[{r.stream, r.object}].push_back(i);
      reads_of_object[r.object].push_back(i);
    }
    stacks = static_cast<std::uint32_t>(reads_of_stack.size());
  }
  Replayer replayer(trace, config.think, &scheduler, sink, [&](std::uint32_t stream, std::uint32_t object) {
    policies::StackEnv env;
    env.ctx = LayerContext{&scheduler, sink, stream, sink->wants_layer_fetches()};
    env.transport = &transport;
    env.object = TraceObjectRef(trace.objects[object]);
    env.account = account.NewChild();  // this open file's view of the run's account
    env.run = &run_shared;
    env.seed = config.seed ^ (static_cast<std::uint64_t>(stream) << 32) ^ object;
    env.network = Summary(config.profile);
    env.comparison_peak_memory_bytes = config.comparison_peak_memory_bytes;
    env.stacks_in_run = stacks;
    if (uses_oracle) {
      auto future = std::make_shared<std::vector<ByteRange>>();
      auto think = std::make_shared<std::vector<Nanos>>();
      const traces::TraceRecord* prev = nullptr;
      if (auto own = reads_of_stack.find({stream, object}); own != reads_of_stack.end()) {
        for (const std::size_t i : own->second) {
          const traces::TraceRecord& r = trace.records[i];
          future->push_back({r.offset, r.offset + r.length});
          think->push_back(prev ? ThinkSince(config.think, *prev, r) : 0);
          prev = &r;
        }
      }
      env.future_reads = std::move(future);
      env.future_think_ns = std::move(think);
      // Several streams read this object: their stacks plan its reads together (policies/oracle.h).
      ObjectReads& reads = object_reads[object];
      if (!reads.all) {
        auto all = std::make_shared<std::vector<policies::StreamRead>>();
        std::map<std::uint32_t, const traces::TraceRecord*> last;  // by stream: its previous read of the object
        const traces::TraceRecord* first = nullptr;                // the object's first read
        for (const std::size_t i : reads_of_object[object]) {
          const traces::TraceRecord& r = trace.records[i];
          reads.streams.insert(r.stream);
          if (!first) first = &r;
          const traces::TraceRecord*& before = last[r.stream];
          // A stream's first read: how long after the object's first read it starts.
          const Nanos think = before ? ThinkSince(config.think, *before, r)
                                     : std::max<Nanos>(0, config.think.Apply(r.t_ns) - config.think.Apply(first->t_ns));
          all->push_back({r.stream, {r.offset, r.offset + r.length}, think});
          before = &r;
        }
        reads.all = std::move(all);
      }
      const bool several = reads.streams.size() > 1 || (reads.streams.size() == 1 && !reads.streams.contains(stream));
      if (several) {
        env.object_reads = reads.all;
        env.object_streams = static_cast<std::uint32_t>(reads.streams.size());
      }
    }
    auto stack = policies::BuildStack(config.policy, env);
    if (!stack && !build_error) build_error = stack.error();
    return stack;
  });
  replayer.set_read_overhead(read_overhead_ns_per_mib);
  if (config.on_progress) replayer.set_progress(config.on_progress);
  // Failures are recorded and the run goes on: a failed read or a wrong byte is a result of the run.
  replayer.set_observer(
      [&](const traces::TraceRecord& record, const Result<Slices>& result) {
        const traces::TraceObject& object = trace.objects[record.object];
        if (!result.ok()) {
          errors.Add(ReadFailure(scheduler.Now(), ObjectLabel(object), record.offset, record.offset + record.length,
                                 result.error()));
          return;
        }
        auto wrong = CheckBytes(object, record, *result);
        if (!wrong) return;
        ++reads_wrong;
        bytes_wrong += wrong->count;
        Error error{ErrorCode::kDataLoss, wrong->message};
        sink->OnEvent(Event{scheduler.Now(), EventType::kVerifyFail, "reader", record.stream, wrong->first_wrong,
                            record.length, TotalLength(*result), &error});
        RunError e =
            ReadFailure(scheduler.Now(), ObjectLabel(object), record.offset, record.offset + record.length, error);
        e.kind = RunError::Kind::kBytes;
        e.first_wrong_byte = wrong->first_wrong;
        errors.Add(std::move(e));
      },
      /*successes=*/config.verify_bytes);
  if (auto status = replayer.Start(); !status) return status.error();
  std::function<void()> tick;
  if (config.on_progress) tick = [&] { config.on_progress(replayer.reads_done()); };
  run(tick);
  if (build_error) return *build_error;
  if (const std::uint64_t outstanding = trace.records.size() - replayer.reads_done(); outstanding > 0) {
    RunError hang;
    hang.kind = RunError::Kind::kHang;
    hang.t_ns = scheduler.Now();
    hang.code = ErrorCode::kDeadlineExceeded;
    hang.message = std::to_string(outstanding) + " of " + std::to_string(trace.records.size()) +
                   " reads never completed: the run stopped with them outstanding";
    if (const std::string why = scheduler.StopReason(); !why.empty()) hang.message += " (" + why + ")";
    errors.Add(std::move(hang));
  }

  RunResult result;
  result.metrics.reads_failed = replayer.reads_failed();
  result.metrics.reads_wrong = reads_wrong;
  result.metrics.bytes_wrong = bytes_wrong;
  result.errors = std::move(errors);
  replayer.Teardown();
  // Let cancellations triggered by the teardown settle, so every buffer is released and accounted.
  run({});
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
  result.metrics.bytes_refetched = account.refetched_bytes();
  result.peak_file_memory_bytes = account.max_child_peak_bytes();
  return result;
}

Result<RunResult> RunSimulation(const SimulationConfig& config) {
  const auto wall_start = std::chrono::steady_clock::now();
  // The account outlives the scheduler: tasks still queued may hold chunks charged to it.
  MemoryAccount account;
  sim::SimScheduler scheduler;
  scheduler.set_take_turns(config.served_reads);
  // Byte checks by provenance: the bytes are never moved, so verifying costs no memory per byte read.
  // A stack that copies bytes outside the engine (plugins) needs the bytes themselves to be checked.
  const bool copies = config.verify_bytes && policies::CopiesBytes(config.policy);
  TransportStackOptions options;
  options.profile = config.profile;
  options.seed = config.seed;
  options.sim = sim::SimTransportOptions{.fill_payload = copies, .record_provenance = config.verify_bytes && !copies};
  options.faults = config.faults;
  options.read_timeout = config.read_timeout;
  auto stack = MakeTransportStack(&scheduler, options);
  if (!stack) return stack.error();
  const auto run = [&](const std::function<void()>& tick) {
    if (!tick || config.progress_events == 0) {
      scheduler.Run();
      return;
    }
    // A countdown, not a division per event: this loop is the simulator's hot path.
    for (std::uint64_t until_tick = config.progress_events; scheduler.RunOne();) {
      if (--until_tick == 0) {
        until_tick = config.progress_events;
        tick();
      }
    }
  };
  auto result = Replay(config, scheduler, (*stack)->top(), account, run, config.profile.read_overhead_ns_per_mib);
  if (!result) return result;
  result->metrics.cost_usd = (*stack)->CostUsd();
  result->events_run = scheduler.events_run();
  result->turns_taken = scheduler.turns_taken();
  result->wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  return result;
}

}  // namespace pflab::replay
