// One simulated run: a trace, a policy stack, a network profile and a seed in; metrics out.
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "policies/registry.h"
#include "replay/metrics.h"
#include "replay/replayer.h"
#include "replay/run_errors.h"
#include "sim/network_model.h"
#include "traces/trace.h"

namespace pflab::replay {

/// The faults of a run, in the fake server's vocabulary (engine/faults.h); see replay/transport_stack.h
/// for where they are injected.
struct RunFaults {
  /// Seeded per-request probabilities: FaultProfile's JSON ({"seed", "faults"}); null for none.
  nlohmann::json profile;
  /// Instructions for media reads, in order: each is given to the first request it fires for.
  std::vector<std::string> script;

  bool empty() const { return profile.is_null() && script.empty(); }
};

/// Inputs of one run.
struct SimulationConfig {
  const traces::Trace* trace = nullptr;
  policies::StackSpec policy;
  std::string profile_name;
  sim::NetworkProfile profile;
  std::uint64_t seed = 1;
  ThinkTime think;
  EventSink* event_log = nullptr;  // optional extra sink (e.g. the JSONL event log)
  /// Checks every delivered byte against the object's synthetic content. Over HTTP the bytes received
  /// are compared; in the simulator each chunk records where its bytes came from (Provenance) and
  /// every delivered byte's source is checked, so memory does not grow with read sizes.
  bool verify_bytes = false;
  /// Faults injected into the run's requests (with the profile's failure_probability, in the
  /// simulator); over the fake server, RunCells gives them to the server instead.
  RunFaults faults;
  /// The simulated client's idle limit: an injected stall longer than this is cut after it, as the
  /// HTTP client's read timeout cuts it (0: none). Runs over HTTP use LiveOptions::http's.
  Nanos read_timeout = 0;
  /// The largest peak memory of the other policies in the same comparison (same trace and seed), set
  /// by RunMatrix for oracle cells (0 otherwise): the oracle's default memory is at least this.
  std::uint64_t comparison_peak_memory_bytes = 0;
  /// Reads served from memory complete in the task that issued them, and the next read is issued there
  /// too, when the scheduler says their posted tasks would have been the next events anyway
  /// (Scheduler::TakeTurnNow): the same run, faster. False posts every one (tests compare the two).
  bool served_reads = true;
  /// Hears the reads done so far every Replayer::kProgressEvery reads (a command's progress line), and
  /// in the simulator also every `progress_events` scheduler events (0: never), so that a run whose reads each take
  /// millions of events (a policy asked for byte-sized blocks) is heard from while no read completes.
  std::function<void(std::uint64_t reads_done)> on_progress;
  std::uint64_t progress_events = std::uint64_t{1} << 22;
};

/// Outputs of one run. Everything but `wall_s` and `events_run` is a pure function of the inputs.
struct RunResult {
  std::string trace;
  std::string policy;
  std::string profile;
  std::uint64_t seed = 0;
  std::string think;
  Metrics metrics;
  RunErrors errors;               // failed reads, wrong bytes, a run that never finished
  std::uint64_t events_run = 0;   // scheduler events; deterministic too
  std::uint64_t turns_taken = 0;  // of those, the ones run in place (SimulationConfig::served_reads)
  /// The most bytes one stack (one stream's open file) held at once, from the engine's accounts; the
  /// run's peak is metrics.peak_memory_bytes.
  std::uint64_t peak_file_memory_bytes = 0;
  double wall_s = 0;  // host time the simulation took; not deterministic
  /// The config's comparison_peak_memory_bytes, kept so results show the oracle's budget.
  std::uint64_t comparison_peak_memory_bytes = 0;
  /// Reference rows only (the bound, replay/bound.h): how the value was derived; null otherwise.
  nlohmann::json derivation;

  /// Whether the application saw a failure: a read failed, delivered wrong bytes, or never completed.
  bool failed() const { return metrics.reads_failed > 0 || metrics.reads_wrong > 0 || !errors.empty(); }
};

/// Replays the trace through the policy on a simulated network. Fails only when the run cannot start
/// (a bad spec); what goes wrong during the run (failed reads, wrong bytes with verify_bytes, reads
/// that never complete) is recorded in the result's `errors`, and the run goes on.
Result<RunResult> RunSimulation(const SimulationConfig& config);

/// The object a trace object stands for on a backend: bucket (default "pflab"), name, generation 1.
/// Backends serving synthetic content for traces (the simulator, the fake GCS server) use this.
ObjectRef TraceObjectRef(const traces::TraceObject& object);

/// What the simulator and a real-time run share: replays `config.trace` through `config.policy` over
/// `transport` on `scheduler`, calling `run` to drive the scheduler until it is idle (or gives up: reads
/// still outstanding then are recorded as a hang), with `tick` (empty when none is wanted) for it to call
/// now and then while it runs: it tells `config.on_progress` the reads done. Fills everything but cost,
/// events and wall time.
/// `read_overhead_ns_per_mib` is the simulated reader's time per MiB delivered (Replayer::set_read_overhead;
/// a real-time run's reader spends its own).
Result<RunResult> Replay(const SimulationConfig& config, Scheduler& scheduler, Transport& transport,
                         MemoryAccount& account, const std::function<void(const std::function<void()>& tick)>& run,
                         Nanos read_overhead_ns_per_mib = 0);

}  // namespace pflab::replay
