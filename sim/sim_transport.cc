#include "sim/sim_transport.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <utility>

#include "engine/synthetic_content.h"

namespace pflab::sim {

SimTransport::SimTransport(Scheduler* scheduler, const NetworkProfile& profile, std::uint64_t seed,
                           SimTransportOptions options)
    : scheduler_(scheduler), profile_(profile), options_(options), latency_(profile, seed) {}

SimTransport::~SimTransport() {
  // Pending tasks capture `this`; the scheduler may outlive us.
  for (auto& t : slots_) {
    if (t.state != State::kFree && t.timer) scheduler_->Cancel(t.timer);
    if (t.state != State::kFree && t.pull_timer) scheduler_->Cancel(t.pull_timer);
  }
  if (completion_timer_) scheduler_->Cancel(completion_timer_);
}

FetchId SimTransport::Fetch(const ObjectRef& object, ByteRange range, FetchTarget target, FetchCallback done) {
  const std::uint32_t slot = slots_.Acquire();
  Transfer& t = slots_[slot];
  t.size = range.size();
  t.received = 0;
  t.remaining = static_cast<double>(t.size);
  t.object_offset = range.begin;
  // Hashing the name costs more than the rest of a fetch, so only when bytes are wanted.
  t.object_seed = options_.fill_payload || options_.record_provenance
                      ? ObjectSeed(object.bucket, object.name, object.generation)
                      : 0;
  t.target = std::move(target);
  t.done = std::move(done);
  ++requests_;
  if (connections_ < profile_.max_connections) {
    Begin(slot);
  } else {
    QueuePush(slot);
  }
  return slots_.IdOf(slot);
}

void SimTransport::QueuePush(std::uint32_t slot) {
  Transfer& t = slots_[slot];
  t.state = State::kQueued;
  t.queue_prev = queue_tail_;
  t.queue_next = kNone;
  if (queue_tail_ != kNone) {
    slots_[queue_tail_].queue_next = slot;
  } else {
    queue_head_ = slot;
  }
  queue_tail_ = slot;
}

void SimTransport::QueueRemove(std::uint32_t slot) {
  Transfer& t = slots_[slot];
  if (t.queue_prev != kNone) {
    slots_[t.queue_prev].queue_next = t.queue_next;
  } else {
    queue_head_ = t.queue_next;
  }
  if (t.queue_next != kNone) {
    slots_[t.queue_next].queue_prev = t.queue_prev;
  } else {
    queue_tail_ = t.queue_prev;
  }
  t.queue_prev = t.queue_next = kNone;
}

void SimTransport::Begin(std::uint32_t slot) {
  if (fused_ != kNone) Unfuse();
  Transfer& t = slots_[slot];
  t.sent_at = scheduler_->Now();
  const bool idle = connections_ == 0 && streams_busy_ == 0;
  Nanos connect = 0;
  if (t.stream) {
    ++streams_busy_;
  } else if (++connections_ > connections_opened_) {
    // Every connection opened so far is busy: this request opens one (a handshake before its request).
    connections_opened_ = connections_;
    connect = profile_.connect_overhead_ns;
  }
  // The profile's request overhead is the client's own time per request, paid before the network's
  // first byte like a longer latency, and a stream's setup on top of it (0 unless calibrated: no change).
  const Nanos overhead = profile_.request_overhead_ns + (t.stream ? profile_.stream_overhead_ns : 0);
  const Nanos latency = latency_.Sample() + (overhead != 0 ? RequestOverhead(overhead) : 0) + connect;
  if (idle && options_.fuse_idle && !t.stream) {
    // Alone on the link: it will activate at now + latency and run at the single-transfer rate until
    // something else starts, which unfuses it first.
    t.state = State::kFused;
    t.activates_at = scheduler_->Now() + latency;
    const double rate = std::min(profile_.stream_bandwidth_bytes_per_s, profile_.shared_bandwidth_bytes_per_s());
    const Nanos finish =
        t.remaining <= 0 ? t.activates_at : TimeAfter(t.activates_at, std::ceil(t.remaining * 1e9 / rate));
    fused_ = slot;
    peak_active_ = std::max<std::size_t>(peak_active_, 1);
    t.timer = scheduler_->PostAt(finish, [this, slot] { OnFusedCompletion(slot); });
    return;
  }
  t.state = State::kLatency;
  t.timer = scheduler_->PostAfter(latency, [this, slot] { Activate(slot); });
}

Nanos SimTransport::RequestOverhead(Nanos overhead) {
  if (profile_.request_overhead_cores == 0) return overhead;
  if (cores_free_at_.empty()) cores_free_at_.assign(profile_.request_overhead_cores, 0);
  const Nanos now = scheduler_->Now();
  auto core = std::min_element(cores_free_at_.begin(), cores_free_at_.end());
  const Nanos start = std::max(now, *core);
  *core = TimeAfter(start, static_cast<double>(overhead));  // a busy core's queue may pass the horizon
  return *core - now;
}

void SimTransport::Unfuse() {
  const std::uint32_t slot = fused_;
  fused_ = kNone;
  Transfer& t = slots_[slot];
  scheduler_->Cancel(t.timer);
  if (scheduler_->Now() < t.activates_at) {
    t.state = State::kLatency;
    t.timer = scheduler_->PostAt(t.activates_at, [this, slot] { Activate(slot); });
    return;
  }
  // It activated at `activates_at` on an otherwise idle link: the state Activate would have left.
  t.timer = 0;
  t.state = State::kActive;
  updated_ = t.activates_at;
  active_.push_back(slot);
  Reschedule();
}

void SimTransport::Land(const Transfer& t, std::uint64_t object_offset, std::uint64_t length) {
  Chunk& chunk = *t.target.chunk;
  if (options_.fill_payload && chunk.has_payload()) {
    FillSynthetic(t.object_seed, object_offset, chunk.mutable_data() + t.target.offset, length);
  }
  if (options_.record_provenance) chunk.AddProvenance({t.target.offset, length, t.object_seed, object_offset});
}

void SimTransport::OnFusedCompletion(std::uint32_t slot) {
  fused_ = kNone;
  Transfer& t = slots_[slot];
  t.timer = 0;
  updated_ = scheduler_->Now();
  Land(t, t.object_offset, t.size);
  t.target.chunk->AddFilled(t.size);
  bytes_transferred_ += t.size;
  const std::uint64_t size = t.size;
  const ResponseTiming timing{t.sent_at, t.activates_at};
  FetchCallback done = Retire(slot);
  ReleaseConnection();
  done(FetchOutcome{OkStatus(), size, timing.sent, timing.first_byte});
}

double SimTransport::Rate() const {
  if (active_.empty()) return 0;
  return std::min(profile_.stream_bandwidth_bytes_per_s,
                  profile_.shared_bandwidth_bytes_per_s() / static_cast<double>(active_.size()));
}

Nanos SimTransport::FinishTime(const Transfer& t, double rate) const {
  if (t.remaining <= 0) return updated_;
  return TimeAfter(updated_, std::ceil(t.remaining * 1e9 / rate));
}

void SimTransport::Advance() {
  const Nanos now = scheduler_->Now();
  if (now == updated_) return;
  const double moved = Rate() * static_cast<double>(now - updated_) / 1e9;
  for (std::uint32_t slot : active_) slots_[slot].remaining = std::max(0.0, slots_[slot].remaining - moved);
  updated_ = now;
}

void SimTransport::Activate(std::uint32_t slot) {
  slots_[slot].timer = 0;
  Advance();
  Transfer& t = slots_[slot];
  t.state = State::kActive;
  t.activates_at = scheduler_->Now();
  if (t.stream) {
    t.milestone = FlowTarget(t);
    t.remaining = static_cast<double>(t.milestone);
  }
  active_.push_back(slot);
  peak_active_ = std::max(peak_active_, active_.size());
  Reschedule();
}

void SimTransport::Reschedule() {
  Nanos earliest = 0;
  if (!active_.empty()) {
    const double rate = Rate();
    earliest = FinishTime(slots_[active_.front()], rate);
    for (std::uint32_t slot : active_) earliest = std::min(earliest, FinishTime(slots_[slot], rate));
    // While the per-stream cap binds, a transfer joining or leaving changes no rate, and the event
    // already posted is still right.
    if (completion_timer_ && earliest == completion_at_) return;
  }
  if (completion_timer_) {
    scheduler_->Cancel(completion_timer_);
    completion_timer_ = 0;
  }
  if (active_.empty()) return;
  completion_at_ = earliest;
  completion_timer_ = scheduler_->PostAt(earliest, [this] { OnCompletionEvent(); });
}

void SimTransport::OnCompletionEvent() {
  completion_timer_ = 0;
  const Nanos now = scheduler_->Now();
  // Finish times are computed from the state before advancing, so rounding never strands a transfer.
  const double rate = Rate();
  std::vector<std::uint32_t>& finished = finished_scratch_;
  finished.clear();
  for (std::uint32_t slot : active_) {
    if (FinishTime(slots_[slot], rate) <= now) finished.push_back(slot);
  }
  Advance();
  auto& ready = ready_scratch_;
  ready.clear();
  std::vector<std::uint32_t>& drained = drained_scratch_;
  drained.clear();
  std::size_t fetches = 0;  // finished[0, fetches) are fetches, the rest streams
  for (std::uint32_t slot : finished) {
    if (!slots_[slot].stream) {
      active_.erase(std::find(active_.begin(), active_.end(), slot));
      finished[fetches++] = slot;
      continue;
    }
    // A stream reached its milestone: maybe a pull is satisfied; then it pauses, drains or goes on.
    Transfer& t = slots_[slot];
    t.arrived = t.milestone;
    if (t.pulling && t.arrived >= t.pulled + t.pull_length) {
      const std::uint64_t length = t.pull_length;
      ready.emplace_back(TakePull(slot), length, ResponseTiming{});
    }
    ReachMilestone(slot);
    if (t.state == State::kDrained) drained.push_back(slot);
  }
  finished.resize(fetches);
  Reschedule();
  // Settle every finished transfer before running any callback: a callback may cancel a sibling that
  // finished in this same event, and that must find it already retired (its id no longer matches).
  for (std::uint32_t slot : finished) {
    Transfer& t = slots_[slot];
    Land(t, t.object_offset, t.size);
    t.target.chunk->AddFilled(t.size);
    bytes_transferred_ += t.size;
    const std::uint64_t size = t.size;
    const ResponseTiming timing{t.sent_at, t.activates_at};
    ready.emplace_back(Retire(slot), size, timing);
    ReleaseConnection();
  }
  streams_busy_ -= drained.size();
  for (auto& [done, size, timing] : ready) done(FetchOutcome{OkStatus(), size, timing.sent, timing.first_byte});
  ready.clear();
}

SimTransport::FetchCallback SimTransport::Retire(std::uint32_t slot) {
  Transfer& t = slots_[slot];
  FetchCallback done = std::move(t.done);
  t.done = nullptr;
  t.target = {};
  t.state = State::kFree;
  t.timer = 0;
  t.stream = false;
  t.pulling = false;
  t.pull_timer = 0;
  slots_.Release(slot);
  return done;
}

void SimTransport::ReleaseConnection() {
  --connections_;
  while (connections_ < profile_.max_connections && queue_head_ != kNone) {
    const std::uint32_t next = queue_head_;
    QueueRemove(next);
    Begin(next);
  }
}

void SimTransport::Cancel(FetchId id) {
  Transfer* found = slots_.Find(id);
  if (!found || found->stream) return;
  const std::uint32_t slot = slots_.IndexOf(*found);
  Transfer& t = *found;
  std::uint64_t received = 0;
  if (t.state == State::kFused) Unfuse();
  switch (t.state) {
    case State::kFree:
    case State::kFused:       // unfused above
    case State::kCancelling:  // finished, or already cancelled
    case State::kPaused:      // the states below are streams'
    case State::kDrained: return;
    case State::kQueued: QueueRemove(slot); break;
    case State::kLatency:
      scheduler_->Cancel(t.timer);
      t.timer = 0;
      ReleaseConnection();
      break;
    case State::kActive:
      Advance();
      received = static_cast<std::uint64_t>(static_cast<double>(t.size) - t.remaining);
      active_.erase(std::find(active_.begin(), active_.end(), slot));
      Reschedule();
      ReleaseConnection();
      break;
  }
  t.received = received;
  t.target.chunk->AddFilled(received);
  bytes_transferred_ += received;
  // The slot (and its callback) stays reserved until the posted completion runs, so the task needs
  // only `this` and the slot: no allocation for moving the callback into the task.
  t.state = State::kCancelling;
  slots_[slot].timer = scheduler_->Post([this, slot] { DeliverCancelled(slot); });
}

void SimTransport::DeliverCancelled(std::uint32_t slot) {
  const std::uint64_t received = slots_[slot].received;
  FetchCallback done = Retire(slot);
  done(FetchOutcome{Cancelled("fetch cancelled"), received});
}

StreamId SimTransport::OpenStream(const ObjectRef& object, ByteRange range) {
  const std::uint32_t slot = slots_.Acquire();
  Transfer& t = slots_[slot];
  t.stream = true;
  t.pulling = false;
  t.size = range.size();
  t.arrived = 0;
  t.pulled = 0;
  t.pull_length = 0;
  t.pull_timer = 0;
  t.received = 0;
  t.remaining = 0;
  t.object_offset = range.begin;
  t.object_seed = options_.fill_payload || options_.record_provenance
                      ? ObjectSeed(object.bucket, object.name, object.generation)
                      : 0;
  t.target = {};
  t.done = nullptr;
  ++requests_;
  Begin(slot);  // streams do not wait for one of the profile's connections (see the header)
  return slots_.IdOf(slot);
}

std::uint64_t SimTransport::Arrived(const Transfer& t) const {
  if (t.state != State::kActive) return t.arrived;
  const double left = std::max(0.0, t.remaining);
  const double arrived = static_cast<double>(t.milestone) - left;
  return arrived <= 0 ? 0 : static_cast<std::uint64_t>(arrived);
}

std::uint64_t SimTransport::FlowTarget(const Transfer& t) const {
  // While a pull waits the reader takes bytes as they come, so the window does not stop them.
  if (t.pulling) return t.pulled + t.pull_length;
  return std::min(t.size, t.pulled + profile_.stream_window_bytes);
}

void SimTransport::ReachMilestone(std::uint32_t slot) {
  Transfer& t = slots_[slot];
  if (t.arrived >= t.size) {
    active_.erase(std::find(active_.begin(), active_.end(), slot));
    t.state = State::kDrained;  // the caller counts it off streams_busy_
    return;
  }
  const std::uint64_t target = FlowTarget(t);
  if (t.arrived >= target) {
    active_.erase(std::find(active_.begin(), active_.end(), slot));
    t.state = State::kPaused;
    return;
  }
  t.milestone = target;
  t.remaining = static_cast<double>(target - t.arrived);
}

SimTransport::FetchCallback SimTransport::TakePull(std::uint32_t slot) {
  Transfer& t = slots_[slot];
  // A pull whose bytes had arrived when it was asked for is delivered by a posted task; a completion
  // event at that same instant, run before it, takes the pull first, and the task then has none.
  if (t.pull_timer) {
    scheduler_->Cancel(t.pull_timer);
    t.pull_timer = 0;
  }
  const std::uint64_t length = t.pull_length;
  Land(t, t.object_offset + t.pulled, length);
  t.target.chunk->AddFilled(length);
  t.pulled += length;
  t.pulling = false;
  t.target = {};
  FetchCallback done = std::move(t.done);
  t.done = nullptr;
  return done;
}

void SimTransport::UpdateFlow(std::uint32_t slot) {
  Transfer& t = slots_[slot];
  if (t.state != State::kActive && t.state != State::kPaused) return;  // not flowing yet, or done
  Advance();
  const std::uint64_t arrived = Arrived(t);
  const std::uint64_t target = FlowTarget(t);
  if (arrived >= target) {
    if (t.state == State::kActive) {
      t.arrived = arrived;
      active_.erase(std::find(active_.begin(), active_.end(), slot));
      t.state = State::kPaused;
      Reschedule();
    }
    return;
  }
  if (t.state == State::kPaused) {
    t.state = State::kActive;
    active_.push_back(slot);
    peak_active_ = std::max(peak_active_, active_.size());
  }
  t.milestone = target;
  t.remaining = static_cast<double>(target - arrived);
  Reschedule();
}

void SimTransport::ReadStream(StreamId id, std::uint64_t length, FetchTarget target, FetchCallback done) {
  Transfer* found = slots_.Find(id);
  if (!found || !found->stream || found->pulling) {
    throw std::logic_error("SimTransport::ReadStream: unknown stream, or a pull already running");
  }
  const std::uint32_t slot = slots_.IndexOf(*found);
  Transfer& t = *found;
  t.pulling = true;
  t.pull_length = std::min(length, t.size - t.pulled);
  t.target = std::move(target);
  t.done = std::move(done);
  if (t.state == State::kActive) Advance();
  if (Arrived(t) >= t.pulled + t.pull_length) {
    t.pull_timer = scheduler_->Post([this, slot] { DeliverPull(slot); });
    return;
  }
  UpdateFlow(slot);  // in latency: Activate picks the pull up
}

void SimTransport::DeliverPull(std::uint32_t slot) {
  slots_[slot].pull_timer = 0;
  const std::uint64_t length = slots_[slot].pull_length;
  FetchCallback done = TakePull(slot);
  UpdateFlow(slot);
  done(FetchOutcome{OkStatus(), length});
}

void SimTransport::StopStream(std::uint32_t slot) {
  Transfer& t = slots_[slot];
  switch (t.state) {
    case State::kLatency:
      scheduler_->Cancel(t.timer);
      t.timer = 0;
      --streams_busy_;
      break;
    case State::kActive:
      Advance();
      t.arrived = Arrived(t);
      active_.erase(std::find(active_.begin(), active_.end(), slot));
      Reschedule();
      --streams_busy_;
      break;
    case State::kPaused: --streams_busy_; break;
    default: break;  // drained: done with the network already
  }
}

void SimTransport::CloseStream(StreamId id, StreamClosedCallback closed) {
  Transfer* found = slots_.Find(id);
  if (!found || !found->stream) throw std::logic_error("SimTransport::CloseStream: unknown stream");
  const std::uint32_t slot = slots_.IndexOf(*found);
  StopStream(slot);
  Transfer& t = slots_[slot];
  if (t.pull_timer) scheduler_->Cancel(t.pull_timer);
  t.pull_timer = 0;
  bytes_transferred_ += t.arrived;
  const std::uint64_t unread = t.arrived - std::min(t.arrived, t.pulled);
  if (t.pulling) {
    t.pulling = false;
    t.target = {};
    scheduler_->Post([done = std::move(t.done)] { done(FetchOutcome{Cancelled("stream closed"), 0}); });
  }
  Retire(slot);
  scheduler_->Post([closed = std::move(closed), unread]() mutable { closed(std::uint64_t{unread}); });
}

}  // namespace pflab::sim
