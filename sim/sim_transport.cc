#include "sim/sim_transport.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "engine/synthetic_content.h"

namespace pflab::sim {

SimTransport::SimTransport(Scheduler* scheduler, const NetworkProfile& profile, std::uint64_t seed,
                           SimTransportOptions options)
    : scheduler_(scheduler),
      profile_(profile),
      options_(options),
      latency_(profile, seed),
      fault_rng_(seed ^ 0x6a09e667f3bcc909ull) {}

SimTransport::~SimTransport() {
  // Pending tasks capture `this`; the scheduler may outlive us.
  for (auto& t : slots_) {
    if (t.state != State::kFree && t.timer) scheduler_->Cancel(t.timer);
  }
  if (completion_timer_) scheduler_->Cancel(completion_timer_);
}

double SimTransport::cost_usd() const {
  return static_cast<double>(requests_ - injected_failures_) * profile_.usd_per_request +
         static_cast<double>(bytes_transferred_) / static_cast<double>(1ull << 30) * profile_.usd_per_gib;
}

FetchId SimTransport::Fetch(const ObjectRef& object, ByteRange range, FetchTarget target, FetchCallback done) {
  const std::uint32_t slot = slots_.Acquire();
  Transfer& t = slots_[slot];
  t.size = range.size();
  t.received = 0;
  t.remaining = static_cast<double>(t.size);
  t.object_offset = range.begin;
  // Hashing the name costs more than the rest of a fetch, so only when bytes are wanted.
  t.object_seed = options_.fill_payload ? ObjectSeed(object.bucket, object.name, object.generation) : 0;
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
  Unfuse();
  const bool idle = connections_ == 0;
  ++connections_;
  Transfer& t = slots_[slot];
  const Nanos latency = latency_.Sample();
  if (idle && options_.fuse_idle && profile_.failure_probability == 0) {
    // Alone on the link: it will activate at now + latency and run at the single-transfer rate until
    // something else starts, which unfuses it first.
    t.state = State::kFused;
    t.activates_at = scheduler_->Now() + latency;
    const double rate = std::min(profile_.stream_bandwidth_bytes_per_s, profile_.link_bandwidth_bytes_per_s);
    const Nanos finish =
        t.remaining <= 0 ? t.activates_at : t.activates_at + static_cast<Nanos>(std::ceil(t.remaining * 1e9 / rate));
    fused_ = slot;
    peak_active_ = std::max<std::size_t>(peak_active_, 1);
    t.timer = scheduler_->PostAt(finish, [this, slot] { OnFusedCompletion(slot); });
    return;
  }
  t.state = State::kLatency;
  t.timer = scheduler_->PostAfter(latency, [this, slot] { Activate(slot); });
}

void SimTransport::Unfuse() {
  if (fused_ == kNone) return;
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

void SimTransport::OnFusedCompletion(std::uint32_t slot) {
  fused_ = kNone;
  Transfer& t = slots_[slot];
  t.timer = 0;
  updated_ = scheduler_->Now();
  if (options_.fill_payload && t.target.chunk->has_payload()) {
    FillSynthetic(t.object_seed, t.object_offset, t.target.chunk->mutable_data() + t.target.offset, t.size);
  }
  t.target.chunk->AddFilled(t.size);
  bytes_transferred_ += t.size;
  const std::uint64_t size = t.size;
  FetchCallback done = Retire(slot);
  ReleaseConnection();
  done(FetchOutcome{OkStatus(), size});
}

double SimTransport::Rate() const {
  if (active_.empty()) return 0;
  return std::min(profile_.stream_bandwidth_bytes_per_s,
                  profile_.link_bandwidth_bytes_per_s / static_cast<double>(active_.size()));
}

Nanos SimTransport::FinishTime(const Transfer& t, double rate) const {
  if (t.remaining <= 0) return updated_;
  return updated_ + static_cast<Nanos>(std::ceil(t.remaining * 1e9 / rate));
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
  if (profile_.failure_probability > 0 &&
      std::uniform_real_distribution<double>(0.0, 1.0)(fault_rng_) < profile_.failure_probability) {
    // A 503 arrives instead of the first byte: the request took its latency but moved nothing.
    ++injected_failures_;
    FetchCallback done = Retire(slot);
    ReleaseConnection();
    done(FetchOutcome{Unavailable("injected 503"), 0});
    return;
  }
  Advance();
  slots_[slot].state = State::kActive;
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
  for (std::uint32_t slot : finished) active_.erase(std::find(active_.begin(), active_.end(), slot));
  Reschedule();
  // Settle every finished transfer before running any callback: a callback may cancel a sibling that
  // finished in this same event, and that must find it already retired (its id no longer matches).
  auto& ready = ready_scratch_;
  ready.clear();
  for (std::uint32_t slot : finished) {
    Transfer& t = slots_[slot];
    if (options_.fill_payload && t.target.chunk->has_payload()) {
      FillSynthetic(t.object_seed, t.object_offset, t.target.chunk->mutable_data() + t.target.offset, t.size);
    }
    t.target.chunk->AddFilled(t.size);
    bytes_transferred_ += t.size;
    const std::uint64_t size = t.size;
    ready.emplace_back(Retire(slot), size);
    ReleaseConnection();
  }
  for (auto& [done, size] : ready) done(FetchOutcome{OkStatus(), size});
  ready.clear();
}

SimTransport::FetchCallback SimTransport::Retire(std::uint32_t slot) {
  Transfer& t = slots_[slot];
  FetchCallback done = std::move(t.done);
  t.done = nullptr;
  t.target = {};
  t.state = State::kFree;
  t.timer = 0;
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
  if (!found) return;
  const std::uint32_t slot = slots_.IndexOf(*found);
  Transfer& t = *found;
  std::uint64_t received = 0;
  if (t.state == State::kFused) Unfuse();
  switch (t.state) {
    case State::kFree:
    case State::kFused:               // unfused above
    case State::kCancelling: return;  // finished, or already cancelled
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

}  // namespace pflab::sim
