#include "engine/asio_scheduler.h"

#include <algorithm>
#include <boost/asio/post.hpp>

namespace pflab {

AsioScheduler::AsioScheduler() : wakeup_(context_), epoch_(std::chrono::steady_clock::now()) {}

AsioScheduler::~AsioScheduler() {
  // The wait's handler captures `this`; cancelling leaves it queued on the context, whose destructor
  // (it is destroyed last) discards it without running it.
  wakeup_.cancel();
}

Nanos AsioScheduler::Now() const {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - epoch_).count();
}

TimerId AsioScheduler::PostAt(Nanos at, Task task) {
  at = std::max(at, Now());
  const std::uint32_t slot = slots_.Acquire();
  Slot& s = slots_[slot];
  s.task = std::move(task);
  s.armed = true;
  heap_.push_back(Entry{at, next_seq_++, slot, s.generation});
  std::push_heap(heap_.begin(), heap_.end(), Later);
  ++live_;
  Arm();
  return slots_.IdOf(slot);
}

bool AsioScheduler::Cancel(TimerId id) {
  Slot* s = slots_.Find(id);
  if (!s || !s->armed) return false;
  s->armed = false;
  s->task = nullptr;
  slots_.Release(slots_.IndexOf(*s));
  --live_;
  if (live_ == 0) {
    // An outstanding wait is work to the io_context: drop it so Run() can return.
    heap_.clear();
    if (waiting_) {
      waiting_ = false;
      ++wait_number_;
      wakeup_.cancel();
    }
  }
  return true;
}

void AsioScheduler::DropStale() {
  while (!heap_.empty() && !Live(heap_.front())) {
    std::pop_heap(heap_.begin(), heap_.end(), Later);
    heap_.pop_back();
  }
}

void AsioScheduler::Arm() {
  DropStale();
  if (heap_.empty()) return;
  const Nanos at = heap_.front().at;
  if (waiting_ && waiting_for_ <= at) return;
  waiting_ = true;
  waiting_for_ = at;
  const std::uint64_t wait = ++wait_number_;
  wakeup_.expires_at(epoch_ + std::chrono::nanoseconds(at));  // cancels the superseded wait, if any
  wakeup_.async_wait([this, wait](const boost::system::error_code& ec) {
    if (!ec) OnWakeup(wait);
  });
}

void AsioScheduler::OnWakeup(std::uint64_t wait) {
  if (wait != wait_number_) return;  // superseded after its handler was already queued
  waiting_ = false;
  // Run only what was due on waking, so a task that keeps posting for "now" cannot starve the
  // handlers other threads post; anything newer gets the next wakeup.
  const Nanos now = Now();
  while (!context_.stopped()) {
    DropStale();
    if (heap_.empty() || heap_.front().at > now) break;
    std::pop_heap(heap_.begin(), heap_.end(), Later);
    const Entry e = heap_.back();
    heap_.pop_back();
    Slot& s = slots_[e.slot];
    Task task = std::move(s.task);
    s.task = nullptr;
    s.armed = false;
    slots_.Release(e.slot);
    --live_;
    task();
  }
  Arm();
}

void AsioScheduler::PostFromAnyThread(Task task) {
  boost::asio::post(context_, std::move(task));
}

void AsioScheduler::Run() {
  context_.restart();
  context_.run();
}

void AsioScheduler::RunFor(Nanos duration) {
  context_.restart();
  context_.run_for(std::chrono::nanoseconds(duration));
}

void AsioScheduler::Stop() {
  context_.stop();
}

}  // namespace pflab
