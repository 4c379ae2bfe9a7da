// One entry point for every command that runs traces against policies (compare, sweep, bench): a plan
// names the traces, the policy stacks, the network profile, the seeds and the transport; RunMatrix runs
// its cells and hands each result to the caller as it finishes. The commands only parse options, build
// a plan, and print.
//
// Cells are ordered trace-major: for each trace, for each policy, for each seed. A caller may run a
// subset of the cells (a sweep's shard, the runs not yet in its results file) and may run simulated
// cells on several threads; real-time cells (fake server, HTTP) always run one at a time, since they
// measure the host.
//
// Two kinds of cell are special. A `bound` cell (BoundSpec(), replay/bound.h) is computed from the
// trace and the profile, not simulated. An oracle cell (a stack with an `oracle` layer) runs after the
// other cells, with SimulationConfig::comparison_peak_memory_bytes set to the largest peak memory of
// every other policy of the plan on the same trace and seed, so the oracle's memory is never smaller
// than what a policy it is compared with used. Those peaks come from the cells run now, from
// RunHooks::known_peak_memory (runs a resumed sweep already has), or else from runs made only for this
// and not reported; so the budget, like every result, does not depend on the subset, the order or
// --jobs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "engine/events.h"
#include "engine/result.h"
#include "policies/registry.h"
#include "replay/live.h"
#include "replay/replayer.h"
#include "replay/simulation.h"
#include "sim/network_model.h"
#include "traces/trace.h"

namespace pflab::replay {

/// Where the runs of a plan execute.
enum class TransportKind {
  kSim,   // the simulator, virtual time
  kFake,  // the real engine against a fake GCS server started in this process, shaped by the profile
  kHttp,  // the real engine against `RunPlan::live.endpoint`
};

/// Parses `sim`, `fake` or `http`.
Result<TransportKind> ParseTransportKind(const std::string& text);
const char* ToString(TransportKind kind);

/// Everything a matrix of runs needs, read and validated before anything runs.
struct RunPlan {
  std::vector<const traces::Trace*> traces;  // not owned; outlive the run
  std::vector<policies::StackSpec> policies;
  std::string profile_name;
  sim::NetworkProfile profile;
  std::vector<std::uint64_t> seeds{1};
  ThinkTime think;
  bool verify_bytes = false;
  TransportKind transport = TransportKind::kSim;
  /// For kHttp: the endpoint and connections. For kFake: the connections (the endpoint is the server's).
  LiveOptions live;
  /// Faults injected into every run's requests: in the simulator and over kHttp by the
  /// FaultInjectingTransport; over kFake by the server (the profile, one for the plan's server) and by
  /// a retry test created for each run (the script, so each run meets it from its start).
  RunFaults faults;

  /// Number of cells: traces x policies x seeds.
  std::size_t size() const { return traces.size() * policies.size() * seeds.size(); }
};

/// One run of the plan, by index into the plan's vectors.
struct RunCell {
  std::size_t index = 0;  // position in the trace-major order
  std::size_t trace = 0;
  std::size_t policy = 0;
  std::size_t seed = 0;
};

/// The cell at `index` of the trace-major order.
RunCell CellAt(const RunPlan& plan, std::size_t index);

/// What the caller does around each run. Every hook runs under one lock, one call at a time, also
/// when simulated cells run on several threads.
struct RunHooks {
  /// An extra event sink for the cell's run (an event log, a report's recorder), or nullptr. It must
  /// stay valid until `on_finish` for that cell returns.
  std::function<EventSink*(const RunCell&)> sink;
  /// Before the cell runs.
  std::function<void(const RunCell&)> on_start;
  /// After the cell ran, with its result or why it could not run. Returning false stops the matrix:
  /// cells already running finish (and are reported), no new cell starts.
  std::function<bool(const RunCell&, Result<RunResult>&&)> on_finish;
  /// Simulated cells run at once on this many threads (1: on the calling thread).
  unsigned jobs = 1;
  /// How far a cell's run is: its reads done, every Replayer::kProgressEvery reads, on the thread
  /// running it, between that cell's on_start and on_finish. Called only when cells run one at a time.
  std::function<void(const RunCell&, std::uint64_t reads_done)> on_progress;
  /// Informational messages (e.g. where the fake server listens).
  std::function<void(const std::string&)> on_note;
  /// The peak memory of a cell that is not being run but whose result is known (a resumed sweep's
  /// results file), or nullopt. Asked only for non-oracle cells that share a trace and seed with an
  /// oracle cell being run.
  std::function<std::optional<std::uint64_t>(const RunCell&)> known_peak_memory;
};

/// The pseudo-policy whose cells hold the lower bound (replay/bound.h) instead of a simulated run.
policies::StackSpec BoundSpec();
bool IsBound(const policies::StackSpec& spec);
/// Whether a stack has an `oracle` layer.
bool UsesOracle(const policies::StackSpec& spec);

/// Parses a seed list: `N` (N seeds from `first`: first, first+1, ..., first+N-1), `A..B` (inclusive),
/// or `a,b,c`. Repeated seeds and empty lists are errors.
Result<std::vector<std::uint64_t>> ParseSeeds(const std::string& text, std::uint64_t first = 1);

/// Runs every cell of the plan and reports each through the hooks. Fails before running anything when
/// the plan cannot run at all (no seeds, no fake server); a failing run is reported to `on_finish`.
Status RunMatrix(const RunPlan& plan, const RunHooks& hooks);
/// As RunMatrix, for the cells at `cells` (indices into the trace-major order), in that order.
Status RunCells(const RunPlan& plan, const RunHooks& hooks, const std::vector<std::size_t>& cells);

/// The configuration of one cell's run, as RunMatrix builds it (the event sink left to the caller).
SimulationConfig CellConfig(const RunPlan& plan, const RunCell& cell);

/// The run this thread is running ("TRACE x POLICY, seed S"), or "": for a message that may not
/// allocate (the out-of-memory handler of the command line).
const char* CurrentRunLabel();

}  // namespace pflab::replay
