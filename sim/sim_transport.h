// Simulated backend: requests cost a first-byte latency, then share the link fairly.
//
// State per fetch: queued (waiting for a connection), in latency (a timer), active (transferring), or
// completing (cancelled, its callback posted). Active transfers all run at the same rate,
// min(stream bandwidth, link bandwidth / active count): with one per-stream cap for all, that is the
// max-min fair share (if the cap binds for one it binds for all, so there is never capacity left by
// a capped transfer to hand to an uncapped one). Whenever the active set changes, every transfer's
// remaining bytes are advanced to now at the old rate and one completion event is scheduled for the
// earliest finisher, so a change costs O(active) and there is never more than one pending completion
// event. Finish times are rounded up to the next nanosecond, so a lone transfer takes exactly
// latency + ceil(size * 1e9 / rate) ns.
//
// A transfer that starts on an idle link (nothing else in latency or active) is "fused": its latency
// and transfer are one event at the finish time it would have alone. Whatever could change that
// (another fetch starting, a cancel) first unfuses it into exactly the state the two-event path
// would be in by then, so results do not depend on the shortcut; it saves an event and the rate
// bookkeeping on every read of a closed-loop single stream.
//
// Streams are transfers whose event is the next milestone rather than the end: the point where the
// pull in progress is satisfied, or else where the receive window (profile.stream_window_bytes beyond
// the last pull) is full. A stream with a full window and no pull leaves the active set (paused) until
// a pull makes room; one whose body has all arrived serves later pulls from what it holds (drained).
// Streams neither wait for nor take one of the profile's connections: the client that streams,
// gcsfuse, uses Go's HTTP client, which has no per-host connection limit (http.Transport
// MaxConnsPerHost 0), and a handle's stream stays open while its reader thinks, so counting it would
// let idle streams starve every other request. Nothing is fused while a stream is open.
//
// The hot path allocates nothing: transfers live in a slab of reused slots, the connection queue is
// an intrusive list through those slots (O(1) push, pop and cancel), and every scheduled task
// captures only `this` and a slot index, which fits the scheduler's inline task storage.
//
// A profile's request_overhead_ns (the client's own time per request, 0 by default) is added to every
// first-byte latency. With request_overhead_cores N > 0 it is work for N cores, taken in issue order
// by the core free first, so a request issued while all N are busy also waits for one: the host's CPU
// as a serialized resource, which several streams on a small machine contend for. A stream pays the
// profile's stream_overhead_ns on top (the connection of its own it opens), on the same cores. A ranged
// request that finds every connection opened so far busy pays the profile's connect_overhead_ns (a
// handshake, network time, not the cores'); later requests reuse the connections opened. A profile's
// host_bandwidth (0 by default: none) is the host's byte throughput, shared by the active transfers
// like the link (the smaller of the two is what they share): the CPU that moves the bytes as a
// processor-sharing resource.
//
// This is the network model only: faults are injected above it by the FaultInjectingTransport, and
// requests, bytes and cost are counted above it by the AccountingTransport (replay/transport_stack.h
// stacks them).
#pragma once

#include <cstdint>
#include <limits>
#include <tuple>
#include <utility>
#include <vector>

#include "engine/slab.h"
#include "engine/transport.h"
#include "sim/network_model.h"

namespace pflab::sim {

/// Options of SimTransport beyond the network profile.
struct SimTransportOptions {
  bool fill_payload = false;  // write the objects' synthetic content into chunks that have a payload
  // Record where each fill's bytes come from (Chunk::AddProvenance) instead of moving them: byte checks
  // in memory that does not grow with read sizes (replay's verify_bytes).
  bool record_provenance = false;
  bool fuse_idle = true;  // one event for a transfer alone on the link (see above); off in tests
                          // that check the shortcut changes nothing
};

/// A Transport in virtual time over a NetworkProfile. Same scheduler, profile, seed and calls give
/// the same completions at the same times.
class SimTransport final : public Transport {
 public:
  SimTransport(Scheduler* scheduler, const NetworkProfile& profile, std::uint64_t seed,
               SimTransportOptions options = {});
  ~SimTransport() override;
  SimTransport(const SimTransport&) = delete;
  SimTransport& operator=(const SimTransport&) = delete;

  FetchId Fetch(const ObjectRef& object, ByteRange range, FetchTarget target, FetchCallback done) override;
  void Cancel(FetchId id) override;
  StreamId OpenStream(const ObjectRef& object, ByteRange range) override;
  void ReadStream(StreamId id, std::uint64_t length, FetchTarget target, FetchCallback done) override;
  void CloseStream(StreamId id, StreamClosedCallback closed) override;
  bool wants_payload() const override { return options_.fill_payload; }

  /// Requests issued (each is one GCS class B operation, whatever became of it).
  std::uint64_t requests() const { return requests_; }
  /// Bytes that crossed the link, including the partial bytes of cancelled transfers and what closed
  /// streams had received beyond their last pull.
  std::uint64_t bytes_transferred() const { return bytes_transferred_; }
  /// Most transfers on the link at once.
  std::size_t peak_active() const { return peak_active_; }

 private:
  static constexpr std::uint32_t kNone = std::numeric_limits<std::uint32_t>::max();

  enum class State : std::uint8_t {
    kFree,
    kQueued,
    kLatency,
    kActive,
    kFused,
    kCancelling,
    kPaused,   // stream: window full, no pull
    kDrained,  // stream: the whole body has arrived
  };
  struct Transfer {
    State state = State::kFree;
    std::uint32_t generation = 0;
    std::uint32_t queue_prev = kNone;  // connection-queue links while kQueued
    std::uint32_t queue_next = kNone;
    std::uint64_t size = 0;
    std::uint64_t received = 0;  // bytes that arrived before a cancel
    double remaining = 0;        // bytes still to transfer when active, as of `updated_`
    std::uint64_t object_seed = 0;
    std::uint64_t object_offset = 0;
    FetchTarget target;
    FetchCallback done;
    TimerId timer = 0;       // the latency timer, the fused completion, or the posted cancellation callback
    Nanos activates_at = 0;  // when the latency ends (the first byte)
    Nanos sent_at = 0;       // when it took a connection
    // Streams: `target` and `done` belong to the pull in progress.
    bool stream = false;
    bool pulling = false;
    std::uint64_t arrived = 0;    // exact while not kActive; at the last milestone while kActive
    std::uint64_t milestone = 0;  // while kActive: the arrived count of the next event
    std::uint64_t pulled = 0;
    std::uint64_t pull_length = 0;
    TimerId pull_timer = 0;  // a pull answered from bytes already held, posted
  };

  // Writes or records `length` bytes of the transfer's object from `object_offset` at its target.
  void Land(const Transfer& t, std::uint64_t object_offset, std::uint64_t length);
  void Begin(std::uint32_t slot);     // takes a connection, starts the latency timer
  void Activate(std::uint32_t slot);  // latency elapsed: joins the link
  void Unfuse();                      // turns the fused transfer (there is one) into kLatency or kActive
  void OnFusedCompletion(std::uint32_t slot);
  void Advance();     // brings every active transfer's `remaining` to now
  void Reschedule();  // one completion event for the earliest finisher
  void OnCompletionEvent();
  void DeliverCancelled(std::uint32_t slot);
  // Streams.
  std::uint64_t Arrived(const Transfer& t) const;     // after Advance()
  std::uint64_t FlowTarget(const Transfer& t) const;  // where arrivals stop next
  void ReachMilestone(std::uint32_t slot);            // at an event: pull, pause, drain, or go on
  FetchCallback TakePull(std::uint32_t slot);         // fills the pull's bytes, returns its callback
  void UpdateFlow(std::uint32_t slot);                // after a pull starts or ends: resume or pause
  void DeliverPull(std::uint32_t slot);
  void StopStream(std::uint32_t slot);       // leaves the link and the connection
  void ReleaseConnection();                  // and admits queued fetches in FIFO order
  FetchCallback Retire(std::uint32_t slot);  // frees the slot, handing back its callback
  void QueuePush(std::uint32_t slot);
  void QueueRemove(std::uint32_t slot);
  double Rate() const;
  Nanos FinishTime(const Transfer& t, double rate) const;
  // A request's `overhead` (the profile's, and a stream's setup), plus the wait for a core when they
  // are limited.
  Nanos RequestOverhead(Nanos overhead);

  Scheduler* scheduler_;
  NetworkProfile profile_;
  SimTransportOptions options_;
  LatencySampler latency_;
  Slab<Transfer> slots_;
  std::uint32_t queue_head_ = kNone;
  std::uint32_t queue_tail_ = kNone;
  std::vector<std::uint32_t> active_;  // in activation order, which orders same-time completions
  std::vector<std::uint32_t> finished_scratch_;
  std::vector<std::tuple<FetchCallback, std::uint64_t, ResponseTiming>> ready_scratch_;
  std::vector<std::uint32_t> drained_scratch_;
  std::uint32_t connections_ = 0;
  std::uint32_t connections_opened_ = 0;  // the most ever in use at once: those a pooled client keeps
  std::size_t streams_busy_ = 0;          // streams in latency, active or paused
  std::uint32_t fused_ = kNone;           // the one fused transfer, if any
  Nanos updated_ = 0;
  TimerId completion_timer_ = 0;
  Nanos completion_at_ = 0;           // when completion_timer_ fires
  std::vector<Nanos> cores_free_at_;  // request_overhead_cores > 0: when each core finishes its last overhead
  std::uint64_t requests_ = 0;
  std::uint64_t bytes_transferred_ = 0;
  std::size_t peak_active_ = 0;
};

}  // namespace pflab::sim
