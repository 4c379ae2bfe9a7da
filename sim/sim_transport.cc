#include "sim/sim_transport.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "engine/synthetic_content.h"

namespace pflab::sim {

SimTransport::SimTransport(Scheduler* scheduler, const NetworkProfile& profile, std::uint64_t seed,
                           SimTransportOptions options)
    : scheduler_(scheduler), profile_(profile), options_(options), latency_(profile, seed) {}

SimTransport::~SimTransport() {
  for (auto& t : slots_) {
    if (t.timer) scheduler_->Cancel(t.timer);
  }
  if (completion_timer_) scheduler_->Cancel(completion_timer_);
}

double SimTransport::cost_usd() const {
  return static_cast<double>(requests_) * profile_.usd_per_request +
         static_cast<double>(bytes_transferred_) / static_cast<double>(1ull << 30) * profile_.usd_per_gib;
}

FetchId SimTransport::Fetch(const ObjectRef& object, ByteRange range, FetchTarget target, FetchCallback done) {
  const std::uint32_t slot = slots_.Acquire();
  Transfer& t = slots_[slot];
  t.size = range.size();
  t.remaining = static_cast<double>(t.size);
  t.object_offset = range.begin;
  t.object_seed = options_.fill_payload ? ObjectSeed(object.bucket, object.name, object.generation) : 0;
  t.target = std::move(target);
  t.done = std::move(done);
  ++requests_;
  if (connections_ < profile_.max_connections) {
    Begin(slot);
  } else {
    t.state = State::kQueued;
    queue_.push_back(slot);
  }
  return slots_.IdOf(slot);
}

void SimTransport::Begin(std::uint32_t slot) {
  ++connections_;
  Transfer& t = slots_[slot];
  t.state = State::kLatency;
  t.timer = scheduler_->PostAfter(latency_.Sample(), [this, slot] { Activate(slot); });
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
  Transfer& t = slots_[slot];
  t.timer = 0;
  Advance();
  updated_ = scheduler_->Now();
  t.state = State::kActive;
  active_.push_back(slot);
  peak_active_ = std::max(peak_active_, active_.size());
  Reschedule();
}

void SimTransport::Reschedule() {
  if (completion_timer_) {
    scheduler_->Cancel(completion_timer_);
    completion_timer_ = 0;
  }
  if (active_.empty()) return;
  const double rate = Rate();
  Nanos earliest = FinishTime(slots_[active_.front()], rate);
  for (std::uint32_t slot : active_) earliest = std::min(earliest, FinishTime(slots_[slot], rate));
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
  for (std::uint32_t slot : finished) {
    slots_[slot].remaining = 0;
    active_.erase(std::find(active_.begin(), active_.end(), slot));
  }
  Reschedule();
  // Settle every finished transfer before running any callback: a callback may cancel a sibling that
  // finished in this same event, and that must find it already released (its id no longer matches).
  auto& ready = ready_scratch_;
  ready.clear();
  for (std::uint32_t slot : finished) {
    Transfer& t = slots_[slot];
    if (options_.fill_payload && t.target.chunk->has_payload()) {
      FillSynthetic(t.object_seed, t.object_offset, t.target.chunk->mutable_data() + t.target.offset, t.size);
    }
    t.target.chunk->AddFilled(t.size);
    bytes_transferred_ += t.size;
    ready.emplace_back(std::move(t.done), t.size);
    Release(slot);
  }
  for (auto& [done, size] : ready) done(FetchOutcome{OkStatus(), size});
  ready.clear();
}

void SimTransport::Release(std::uint32_t slot) {
  Transfer& t = slots_[slot];
  t.state = State::kFree;
  t.target = {};
  t.done = nullptr;
  slots_.Release(slot);
  --connections_;
  while (connections_ < profile_.max_connections && !queue_.empty()) {
    const std::uint32_t next = queue_.front();
    queue_.pop_front();
    Begin(next);
  }
}

void SimTransport::Cancel(FetchId id) {
  Transfer* found = slots_.Find(id);
  if (!found || found->state == State::kFree) return;
  const std::uint32_t slot = slots_.IndexOf(*found);
  Transfer& t = *found;
  std::uint64_t received = 0;
  switch (t.state) {
    case State::kQueued:
      queue_.erase(std::find(queue_.begin(), queue_.end(), slot));
      ++connections_;  // Release gives back a connection the queued fetch never took
      break;
    case State::kLatency:
      scheduler_->Cancel(t.timer);
      t.timer = 0;
      break;
    case State::kActive:
      Advance();
      received = static_cast<std::uint64_t>(static_cast<double>(t.size) - t.remaining);
      active_.erase(std::find(active_.begin(), active_.end(), slot));
      Reschedule();
      break;
    case State::kFree: return;
  }
  t.target.chunk->AddFilled(received);
  bytes_transferred_ += received;
  FetchCallback done = std::move(t.done);
  Release(slot);
  scheduler_->Post([done = std::move(done), received] { done(FetchOutcome{Cancelled("fetch cancelled"), received}); });
}

}  // namespace pflab::sim
