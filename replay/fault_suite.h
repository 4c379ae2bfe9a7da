// The fault suite behind `pflab faults`: every policy reads generated traces with one fault at a time
// injected (seeded, per request, on media reads), with every delivered byte checked. The same suite
// runs over the in-process fake GCS server, which injects the faults on the wire, and over the
// simulator, where the FaultInjectingTransport injects them into the bytes the network model delivers
// (replay/transport_stack.h). What it shows per fault and policy: runs, retries, failed reads and why,
// wrong bytes (must be 0: a fault may fail a read, never corrupt one) and hangs (must be 0: a run that
// does not finish within its limit).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "engine/result.h"
#include "engine/scheduler.h"
#include "policies/registry.h"
#include "replay/matrix.h"

namespace pflab::replay {

/// The fault instructions the suite injects by default (fake_gcs/faults.h), retryable and not.
const std::vector<std::string>& DefaultSuiteFaults();

/// Every registered policy with its defaults, as the suite runs them: fsspec-parts is given one part
/// covering the whole object (with none, every read fails by design).
std::vector<std::string> SuitePolicies(std::uint64_t object_size);

/// What the suite runs.
struct FaultSuiteOptions {
  std::vector<std::string> faults = DefaultSuiteFaults();
  std::vector<std::string> policies;  // stack specs; empty: SuitePolicies(object_size)
  std::vector<std::string> patterns = {"sequential", "random"};
  double probability = 0.1;  // per media request
  std::uint64_t object_size = 8ull << 20;
  std::uint64_t read_size = 128ull << 10;
  std::uint64_t count = 32;  // reads per trace
  std::uint64_t seed = 1;    // traces, fault draws, latency draws, jitter
  std::string profile = "local-fast";
  std::uint32_t connections = 4;
  Nanos read_timeout = kSecond;  // a stall longer than this is cut and retried (the simulated client's too)
  TransportKind transport = TransportKind::kFake;  // kFake or kSim
  /// Faults every run meets first, in order, besides the drawn one (RunFaults::script).
  std::vector<std::string> script;
  Nanos run_limit = 60 * kSecond;  // a run still going after this is a hang
};

/// One fault x policy cell, summed over the traces.
struct FaultSuiteRow {
  std::string fault;
  std::string policy;
  std::size_t runs = 0;
  std::uint64_t reads = 0;
  std::uint64_t retries = 0;
  std::uint64_t requests_failed = 0;  // backend attempts that failed (each retried or given up)
  std::uint64_t reads_failed = 0;
  std::map<std::string, std::uint64_t> failed_reasons;  // failed reads per reason
  std::uint64_t bytes_wrong = 0;
  std::size_t hangs = 0;
  std::string first_failure;  // the first failed read's summary, if any
  /// The first failed reads of each run (RunErrors::kMaxKept): "[begin, end): reason, N attempt(s)".
  std::vector<std::string> failed_reads;
};

/// Runs every fault x policy x trace; `progress` (optional) hears one line per finished run.
Result<std::vector<FaultSuiteRow>> RunFaultSuite(const FaultSuiteOptions& options,
                                                 const std::function<void(const std::string&)>& progress = nullptr);

/// The rows as a Markdown table, then a summary per fault.
std::string RenderFaultTable(const std::vector<FaultSuiteRow>& rows);

}  // namespace pflab::replay
