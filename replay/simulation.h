// One simulated run: a trace, a policy stack, a network profile and a seed in; metrics out.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "policies/registry.h"
#include "replay/metrics.h"
#include "replay/replayer.h"
#include "sim/network_model.h"
#include "traces/trace.h"

namespace pflab::replay {

/// Inputs of one run.
struct SimulationConfig {
  const traces::Trace* trace = nullptr;
  policies::StackSpec policy;
  std::string profile_name;
  sim::NetworkProfile profile;
  std::uint64_t seed = 1;
  ThinkTime think;
  EventSink* event_log = nullptr;  // optional extra sink (e.g. the JSONL event log)
  /// Moves real bytes (synthetic content) and checks every delivered byte against it; slower.
  bool verify_bytes = false;
};

/// Outputs of one run. Everything but `wall_s` and `events_run` is a pure function of the inputs.
struct RunResult {
  std::string trace;
  std::string policy;
  std::string profile;
  std::uint64_t seed = 0;
  std::string think;
  Metrics metrics;
  std::uint64_t events_run = 0;  // scheduler events; deterministic too
  /// The most bytes one stack (one stream's open file) held at once, from the engine's accounts; the
  /// run's peak is metrics.peak_memory_bytes.
  std::uint64_t peak_file_memory_bytes = 0;
  double wall_s = 0;  // host time the simulation took; not deterministic
};

/// Replays the trace through the policy on a simulated network. Fails on a bad spec, or, with
/// verify_bytes, on the first delivered byte that differs from the object's content.
Result<RunResult> RunSimulation(const SimulationConfig& config);

/// The object a trace object stands for on a backend: bucket (default "pflab"), name, generation 1.
/// Backends serving synthetic content for traces (the simulator, the fake GCS server) use this.
ObjectRef TraceObjectRef(const traces::TraceObject& object);

/// What the simulator and a real-time run share: replays `config.trace` through `config.policy` over
/// `transport` on `scheduler`, calling `run` to drive the scheduler until it is idle. Fills everything
/// but cost, events and wall time.
Result<RunResult> Replay(const SimulationConfig& config, Scheduler& scheduler, Transport& transport,
                         MemoryAccount& account, const std::function<void()>& run);

}  // namespace pflab::replay
