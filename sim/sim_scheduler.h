// Virtual-time scheduler for the discrete-event simulator.
//
// Events are ordered by (time, posting order), so a run is fully determined by its inputs and seed.
//
// Most events are posted for "now" (completions, continuations, coroutine resumptions): several per
// simulated read. Those go to a FIFO ring that holds the tasks themselves, so posting and running one
// costs a move of the task and nothing else. Events for later times go to a binary heap of small
// (time, sequence, slot) entries whose tasks live in TimerSlots; cancelling one frees its slot at once
// and leaves a stale entry that is skipped when popped. The order stays exactly (time, sequence): when
// the clock reaches T the ring is empty, so heap entries due at T were posted before anything the
// ring receives at T, and run first. Idle tasks (PostIdle) come last at each instant: one runs only
// when nothing else is due now, and the clock does not move while any is left.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/scheduler.h"
#include "engine/timer_slots.h"

namespace pflab::sim {

/// A FIFO of tasks at absolute positions [head, tail), stored in a power-of-two ring that doubles when
/// full (positions stay valid; only the slot they map to changes). No allocation once it has grown to
/// the run's high-water mark, unlike a deque, which allocates and frees a block as it moves along.
class TaskRing {
 public:
  using Task = Scheduler::Task;

  bool empty() const { return head_ == tail_; }
  std::uint64_t size() const { return tail_ - head_; }
  std::uint64_t head() const { return head_; }
  std::uint64_t tail() const { return tail_; }
  /// Appends; returns the task's position.
  std::uint64_t Push(Task&& task) {
    if (size() == slots_.size()) Grow();
    const std::uint64_t position = tail_++;
    slots_[position & mask_] = std::move(task);
    return position;
  }
  /// The task at a position in [head, tail).
  Task& At(std::uint64_t position) { return slots_[position & mask_]; }
  /// Takes the front task out (the ring must not be empty).
  Task PopFront() { return std::move(slots_[head_++ & mask_]); }
  /// Drops the front slot, whose task was taken or cancelled.
  void SkipFront() { ++head_; }

 private:
  void Grow();

  std::vector<Task> slots_;
  std::uint64_t mask_ = 0;
  std::uint64_t head_ = 0;
  std::uint64_t tail_ = 0;
};

/// A Scheduler whose clock only moves when the next event runs, and stops before a task due past
/// kTimeHorizon.
class SimScheduler final : public Scheduler {
 public:
  Nanos Now() const override { return now_; }
  TimerId PostAt(Nanos at, Task task) override;
  TimerId Post(Task task) override;
  void PostIdle(Task task) override;
  bool Cancel(TimerId id) override;
  bool TakeTurnNow() override {
    // A cancelled timer left at the heap's front counts as due: the answer may only err towards false.
    if (!take_turns_ || ring_live_ != 0 || (!heap_.empty() && heap_.front().at <= now_)) return false;
    ++events_run_;
    ++turns_taken_;
    return true;
  }
  bool TakeIdleTurnNow() override { return idle_.empty() && TakeTurnNow(); }
  /// Says so when a run stopped at a task due past kTimeHorizon (that task is never run).
  const char* StopReason() const override;
  /// Whether TakeTurnNow may answer true (tests run both ways and compare the runs).
  void set_take_turns(bool allowed) { take_turns_ = allowed; }
  /// Events counted in events_run() that callers ran themselves (TakeTurnNow) instead of posting.
  std::uint64_t turns_taken() const { return turns_taken_; }

  /// Runs the next due event. Returns false when no events are left.
  bool RunOne();
  /// Runs events until none are left.
  void Run();
  /// Runs events due at or before `deadline`, then sets the clock to `deadline`.
  void RunUntil(Nanos deadline);

  std::uint64_t events_run() const { return events_run_; }
  std::size_t pending() const { return timers_.live() + ring_live_ + idle_.size(); }

 private:
  // Ring ids carry the top bit (TimerSlots ids never do) and the task's absolute ring position.
  static constexpr TimerId kRingBit = TimerId{1} << 63;

  bool PeekTime(Nanos* at);  // time of the next live event, dropping cancelled ones
  TimerId PushNow(Task&& task);

  Nanos now_ = 0;
  std::uint64_t events_run_ = 0;
  std::uint64_t turns_taken_ = 0;
  bool take_turns_ = true;
  bool past_horizon_ = false;
  TimerSlots timers_;
  std::vector<TimerEntry> heap_;
  // Tasks due at now_, in posting order. A cancelled task is reset to null in place and skipped when
  // reached.
  TaskRing ring_;
  std::size_t ring_live_ = 0;
  // PostIdle tasks, in posting order: each runs at now_ once the ring is empty and no heap entry is
  // due at now_, before the clock moves on.
  TaskRing idle_;
};

}  // namespace pflab::sim
