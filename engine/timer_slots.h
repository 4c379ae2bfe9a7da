// Bookkeeping shared by the schedulers: posted tasks in reusable slots, and the (time, sequence)
// entries that order them.
//
// A queue (heap or FIFO) holds small TimerEntry values; the task itself stays in its slot. Cancelling
// frees the slot at once and leaves the entry behind; the entry is recognised as stale when popped
// (its generation no longer matches), which keeps Cancel O(1) for both SimScheduler and AsioScheduler.
#pragma once

#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "engine/scheduler.h"

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
///
/// Slots live in fixed-size blocks that never move, so a task runs in place: a task that posts more
/// tasks (growing the pool) cannot pull its own storage away, and running costs no move of the task.
class TimerSlots {
 public:
  /// Stores `task` and returns its queue entry (due at `at`, next in posting order).
  TimerEntry Add(Nanos at, Scheduler::Task&& task) {
    TimerEntry e;
    AddTo(at, std::move(task), &e);
    return e;
  }
  /// Like Add, writing the entry field by field into `out` (a queue's own storage). Building the entry
  /// on the stack and copying it made the copy's 16-byte load wait on two 8-byte stores (a failed
  /// store-to-load forward), which showed as the single hottest instruction of the simulator.
  void AddTo(Nanos at, Scheduler::Task&& task, TimerEntry* out) {
    const std::uint32_t slot = Acquire();
    Slot& s = At(slot);
    s.task = std::move(task);
    s.armed = true;
    ++live_;
    out->at = at;
    out->seq = next_seq_++;
    out->slot = slot;
    out->generation = s.generation;
  }
  // Ids keep the top bit clear (31 bits of generation), so a scheduler may mint ids of its own with
  // the top bit set.
  static constexpr std::uint32_t kGenerationMask = 0x7fffffffu;
  TimerId IdOf(const TimerEntry& e) const {
    return (static_cast<std::uint64_t>(e.generation & kGenerationMask) << 32) |
           (static_cast<std::uint64_t>(e.slot) + 1);
  }
  /// False if the task already ran or was cancelled.
  bool Cancel(TimerId id) {
    if (id == 0) return false;
    const std::uint64_t slot = (id & 0xffffffffu) - 1;
    if (slot >= size_) return false;
    Slot& s = At(static_cast<std::uint32_t>(slot));
    if (!s.armed || (s.generation & kGenerationMask) != static_cast<std::uint32_t>(id >> 32)) return false;
    s.armed = false;
    Free(static_cast<std::uint32_t>(slot));
    return true;
  }
  bool Live(const TimerEntry& e) const {
    const Slot& s = At(e.slot);
    return s.armed && s.generation == e.generation;
  }
  /// Runs the task of a live entry in place, then frees its slot. While it runs the task counts as
  /// run: cancelling its own id returns false.
  void Run(const TimerEntry& e) {
    Slot& s = At(e.slot);
    s.armed = false;
    --live_;
    s.task();
    Release(e.slot);
  }
  /// Takes the task of a live entry out of its slot and frees the slot.
  Scheduler::Task Take(const TimerEntry& e) {
    Slot& s = At(e.slot);
    Scheduler::Task task = std::move(s.task);
    s.armed = false;
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
  static constexpr std::uint32_t kBlockBits = 8;
  static constexpr std::uint32_t kBlockSize = 1u << kBlockBits;

  Slot& At(std::uint32_t slot) { return blocks_[slot >> kBlockBits][slot & (kBlockSize - 1)]; }
  const Slot& At(std::uint32_t slot) const { return blocks_[slot >> kBlockBits][slot & (kBlockSize - 1)]; }
  std::uint32_t Acquire() {
    if (!free_.empty()) {
      const std::uint32_t slot = free_.back();
      free_.pop_back();
      return slot;
    }
    if (size_ == blocks_.size() * kBlockSize) blocks_.push_back(std::make_unique<Slot[]>(kBlockSize));
    return size_++;
  }
  void Free(std::uint32_t slot) {
    --live_;
    Release(slot);
  }
  void Release(std::uint32_t slot) {
    Slot& s = At(slot);
    s.task = nullptr;
    ++s.generation;
    free_.push_back(slot);
  }

  std::vector<std::unique_ptr<Slot[]>> blocks_;
  std::vector<std::uint32_t> free_;
  std::uint32_t size_ = 0;
  std::uint64_t next_seq_ = 0;
  std::size_t live_ = 0;
};

}  // namespace pflab
