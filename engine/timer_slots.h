// Bookkeeping shared by the schedulers: posted tasks in reusable slots, and the (time, sequence)
// entries that order them.
//
// A queue (heap or FIFO) holds small TimerEntry values; the task itself stays in its slot. Cancelling
// frees the slot at once and leaves the entry behind; the entry is recognised as stale when popped
// (its generation no longer matches), which keeps Cancel O(1) for both SimScheduler and AsioScheduler.
#pragma once

#include <cstdint>
#include <utility>

#include "engine/scheduler.h"
#include "engine/slab.h"

namespace pflab {

/// One scheduled task's place in a queue: due time, posting order, and the slot it refers to.
struct TimerEntry {
  Nanos at;
  std::uint64_t seq;
  std::uint32_t slot;
  std::uint32_t generation;

  /// Heap order: the earliest time first, ties in posting order.
  static bool Later(const TimerEntry& a, const TimerEntry& b) { return a.at != b.at ? a.at > b.at : a.seq > b.seq; }
};

/// The tasks posted to a scheduler and not yet run or cancelled.
class TimerSlots {
 public:
  /// Stores `task` and returns its queue entry (due at `at`, next in posting order).
  TimerEntry Add(Nanos at, Scheduler::Task task) {
    const std::uint32_t slot = slots_.Acquire();
    Slot& s = slots_[slot];
    s.task = std::move(task);
    s.armed = true;
    ++live_;
    return TimerEntry{at, next_seq_++, slot, s.generation};
  }
  TimerId IdOf(const TimerEntry& e) const { return slots_.IdOf(e.slot); }
  /// False if the task already ran or was cancelled.
  bool Cancel(TimerId id) {
    Slot* s = slots_.Find(id);
    if (!s || !s->armed) return false;
    Free(slots_.IndexOf(*s));
    return true;
  }
  bool Live(const TimerEntry& e) const { return slots_[e.slot].armed && slots_[e.slot].generation == e.generation; }
  /// Takes the task of a live entry out of its slot and frees the slot.
  Scheduler::Task Take(const TimerEntry& e) {
    Scheduler::Task task = std::move(slots_[e.slot].task);
    Free(e.slot);
    return task;
  }
  std::size_t live() const { return live_; }

 private:
  struct Slot {
    Scheduler::Task task;
    std::uint32_t generation = 0;
    bool armed = false;
  };
  void Free(std::uint32_t slot) {
    slots_[slot].armed = false;
    slots_[slot].task = nullptr;
    slots_.Release(slot);
    --live_;
  }

  Slab<Slot> slots_;
  std::uint64_t next_seq_ = 0;
  std::size_t live_ = 0;
};

}  // namespace pflab
