#include "sim/sim_scheduler.h"

#include <algorithm>
#include <utility>

namespace pflab::sim {

void TaskRing::Grow() {
  std::vector<Task> bigger(slots_.empty() ? 64 : slots_.size() * 2);
  const std::uint64_t mask = bigger.size() - 1;
  for (std::uint64_t p = head_; p != tail_; ++p) bigger[p & mask] = std::move(slots_[p & mask_]);
  slots_ = std::move(bigger);
  mask_ = mask;
}

TimerId SimScheduler::PushNow(Task&& task) {
  ++ring_live_;
  return kRingBit | ring_.Push(std::move(task));
}

TimerId SimScheduler::Post(Task task) {
  return PushNow(std::move(task));
}

TimerId SimScheduler::PostAt(Nanos at, Task task) {
  if (at <= now_) return PushNow(std::move(task));
  // Fields are written in place: copying a stack-built entry made its 16-byte load wait on two 8-byte
  // stores (a failed store-to-load forward), once the hottest instruction of the simulator.
  TimerEntry* e = &heap_.emplace_back();
  timers_.AddTo(at, std::move(task), e);
  const TimerId id = timers_.IdOf(*e);
  std::push_heap(heap_.begin(), heap_.end(), TimerEntry::Later);
  return id;
}

void SimScheduler::PostIdle(Task task) {
  idle_.Push(std::move(task));
}

bool SimScheduler::Cancel(TimerId id) {
  if (!(id & kRingBit)) return timers_.Cancel(id);
  const std::uint64_t position = id & ~kRingBit;
  if (position < ring_.head() || position >= ring_.tail()) return false;  // ran already, or never posted
  Task& task = ring_.At(position);
  if (!task) return false;  // cancelled already
  task = nullptr;
  --ring_live_;
  return true;
}

bool SimScheduler::RunOne() {
  for (;;) {
    // Heap entries due now precede the ring (see the header); the ring precedes idle tasks, and idle
    // tasks precede the future.
    if (!heap_.empty() && (heap_.front().at <= now_ || (ring_.empty() && idle_.empty()))) {
      if (heap_.front().at > kTimeHorizon && timers_.Live(heap_.front())) {
        past_horizon_ = true;  // left in place: the run ends with it, and it is destroyed with the rest
        return false;
      }
      std::pop_heap(heap_.begin(), heap_.end(), TimerEntry::Later);
      const TimerEntry e = heap_.back();
      heap_.pop_back();
      if (!timers_.Live(e)) continue;
      now_ = e.at;
      ++events_run_;
      timers_.Run(e);
      return true;
    }
    if (ring_.empty()) {
      if (idle_.empty()) return false;
      Task task = idle_.PopFront();
      ++events_run_;
      task();
      return true;
    }
    if (!ring_.At(ring_.head())) {
      ring_.SkipFront();
      continue;
    }
    // Moved out before running, so the task may post (and grow the ring) freely.
    Task task = ring_.PopFront();
    --ring_live_;
    ++events_run_;
    task();
    return true;
  }
}

const char* SimScheduler::StopReason() const {
  return past_horizon_ ? "the simulated clock reached its horizon of 2^62 ns (146 years), where 64-bit time would "
                         "overflow: the profile's rates or latencies, or the policy's parameters, are out of any "
                         "meaningful range for this trace"
                       : "";
}

void SimScheduler::Run() {
  while (RunOne()) {
  }
}

bool SimScheduler::PeekTime(Nanos* at) {
  while (!ring_.empty() && !ring_.At(ring_.head())) ring_.SkipFront();
  while (!heap_.empty() && !timers_.Live(heap_.front())) {
    std::pop_heap(heap_.begin(), heap_.end(), TimerEntry::Later);
    heap_.pop_back();
  }
  if (!ring_.empty() || !idle_.empty()) {
    *at = now_;
    return true;
  }
  if (heap_.empty()) return false;
  *at = heap_.front().at;
  return true;
}

void SimScheduler::RunUntil(Nanos deadline) {
  Nanos next = 0;
  while (PeekTime(&next) && next <= deadline) RunOne();
  if (deadline > now_) now_ = deadline;
}

}  // namespace pflab::sim
