// Simulated backend: requests cost a first-byte latency, then share the link fairly.
//
// State per fetch: queued (waiting for a connection), in latency (a timer), or active (transferring).
// Active transfers all run at the same rate, min(stream bandwidth, link bandwidth / active count):
// with one per-stream cap for all, that is the max-min fair share. Whenever the active set changes,
// every transfer's remaining bytes are advanced to now at the old rate and one completion event is
// scheduled for the earliest finisher, so a change costs O(active) and there is never more than one
// pending completion event. Finish times are rounded up to the next nanosecond, so a lone transfer
// takes exactly latency + ceil(size * 1e9 / rate) ns.
#pragma once

#include <cstdint>
#include <deque>
#include <utility>
#include <vector>

#include "engine/slab.h"
#include "engine/transport.h"
#include "sim/network_model.h"

namespace pflab::sim {

/// Options of SimTransport beyond the network profile.
struct SimTransportOptions {
  bool fill_payload = false;  // write the objects' synthetic content into chunks (for byte checks)
};

/// A Transport in virtual time over a NetworkProfile.
class SimTransport final : public Transport {
 public:
  SimTransport(Scheduler* scheduler, const NetworkProfile& profile, std::uint64_t seed,
               SimTransportOptions options = {});
  ~SimTransport() override;

  FetchId Fetch(const ObjectRef& object, ByteRange range, FetchTarget target, FetchCallback done) override;
  void Cancel(FetchId id) override;
  bool wants_payload() const override { return options_.fill_payload; }

  std::uint64_t requests() const { return requests_; }
  std::uint64_t bytes_transferred() const { return bytes_transferred_; }
  double cost_usd() const;
  std::size_t peak_active() const { return peak_active_; }

 private:
  enum class State : std::uint8_t { kFree, kQueued, kLatency, kActive };
  struct Transfer {
    State state = State::kFree;
    std::uint32_t generation = 0;
    std::uint64_t size = 0;
    double remaining = 0;  // bytes still to transfer when active, as of `updated_`
    std::uint64_t object_seed = 0;
    std::uint64_t object_offset = 0;
    FetchTarget target;
    FetchCallback done;
    TimerId timer = 0;
  };

  void Begin(std::uint32_t slot);     // takes a connection, starts the latency timer
  void Activate(std::uint32_t slot);  // latency elapsed: joins the link
  void Advance();                     // brings every active transfer's `remaining` to now
  void Reschedule();                  // one completion event for the earliest finisher
  void OnCompletionEvent();
  void Release(std::uint32_t slot);  // frees the connection and admits the next queued fetch
  double Rate() const;
  Nanos FinishTime(const Transfer& t, double rate) const;

  Scheduler* scheduler_;
  NetworkProfile profile_;
  SimTransportOptions options_;
  LatencySampler latency_;
  Slab<Transfer> slots_;
  std::deque<std::uint32_t> queue_;
  std::vector<std::uint32_t> active_;
  std::vector<std::uint32_t> finished_scratch_;
  std::vector<std::pair<FetchCallback, std::uint64_t>> ready_scratch_;
  std::uint32_t connections_ = 0;
  Nanos updated_ = 0;
  TimerId completion_timer_ = 0;
  std::uint64_t requests_ = 0;
  std::uint64_t bytes_transferred_ = 0;
  std::size_t peak_active_ = 0;
};

}  // namespace pflab::sim
