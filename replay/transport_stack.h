// The one place a run's transport is assembled from its options: the decorators stacked over the
// backend, as google-cloud-cpp's storage connection factory stacks its retry, logging and tracing
// layers over the transport.
//
//   per client (built by each ConcurrentFetcher):  RetryingTransport   retry, resume; request events
//   shared by the run (built here):               AccountingTransport requests, billed requests, bytes
//                                                  (the RetryingTransports' fetches pass it by, counted)
//                                                  FaultInjectingTransport (only when the run has faults)
//                                                  MappedTransport     (live runs reading mapped objects)
//                                                  SimTransport | HttpTransport
//
// Where a run's faults are injected depends on where they can be: in the simulator and against live
// GCS by the FaultInjectingTransport; against the in-process fake server, by the server itself
// (StartFakeServer), so the HTTP client meets real resets, cut bodies and silent sockets. Either way
// they come from the same RunFaults, through RunFaultProfile, the one place a profile's
// failure_probability becomes a fault.
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>

#include "engine/accounting_transport.h"
#include "engine/fault_injecting_transport.h"
#include "replay/live.h"
#include "sim/sim_transport.h"

namespace pflab::replay {

/// The seeded fault profile of a run: `faults.profile`, then a return-503 on media reads with
/// probability `failure_probability` (a network profile's) if above 0. nullopt when there is neither.
Result<std::optional<FaultProfile>> RunFaultProfile(const RunFaults& faults, double failure_probability,
                                                    std::uint64_t seed);

/// The client-side injection of a run's faults; `read_timeout`: the client's (0: none).
Result<FaultInjection> RunFaultInjection(const RunFaults& faults, double failure_probability, std::uint64_t seed,
                                         Nanos read_timeout);

/// What a run's shared transport layers are built from.
struct TransportStackOptions {
  enum class Backend { kSim, kHttp };
  Backend backend = Backend::kSim;
  netmodel::NetworkProfile profile;  // the simulator's network; everyone's prices and failure rate
  std::uint64_t seed = 1;
  sim::SimTransportOptions sim;       // kSim
  const LiveOptions* live = nullptr;  // kHttp: endpoint, connections, timeouts, mapped objects
  /// Injected by a FaultInjectingTransport over the backend, with the profile's failure_probability in
  /// the simulator only (a live network fails by itself, and the fake server plays the profile's). A
  /// run over the fake server leaves its faults to the server and passes none here.
  RunFaults faults;
  Nanos read_timeout = 0;  // the client's idle limit, for stalls injected here; kHttp: live->http's
};

/// The layers below a run's fetchers, owned together and destroyed top first.
class TransportStack {
 public:
  ~TransportStack();
  /// What the fetchers read through.
  Transport& top() { return *accounting_; }
  const AccountingTransport& accounting() const { return *accounting_; }
  /// The fault injector, when the run injects faults client-side.
  const FaultInjectingTransport* faults() const { return faults_.get(); }
  /// The run's cost: the accounting's billed requests and bytes at the profile's prices.
  double CostUsd() const;

 private:
  friend Result<std::unique_ptr<TransportStack>> MakeTransportStack(Scheduler* scheduler,
                                                                    const TransportStackOptions& options);
  TransportStack() = default;

  netmodel::NetworkProfile prices_;
  std::unique_ptr<Transport> backend_;
  std::unique_ptr<Transport> mapped_;
  std::unique_ptr<FaultInjectingTransport> faults_;
  std::unique_ptr<AccountingTransport> accounting_;
};

/// Builds the stack for one run on `scheduler` (kHttp: an AsioScheduler). Fails on bad faults.
Result<std::unique_ptr<TransportStack>> MakeTransportStack(Scheduler* scheduler, const TransportStackOptions& options);

}  // namespace pflab::replay
