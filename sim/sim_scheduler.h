// Virtual-time scheduler for the discrete-event simulator.
//
// Events are kept in a binary heap keyed on (time, sequence number), so ties run in posting order and
// a run is fully determined by its inputs and seed. Tasks live in a slab indexed by the heap entries;
// cancelling a task frees its slot at once and leaves a stale heap entry that is skipped when popped
// (the slot's generation no longer matches), which keeps Cancel O(1).
//
// Most events are posted for "now" (completions, continuations). Those go to a FIFO instead of the
// heap. The order stays exactly (time, sequence): when the clock reaches T the FIFO is empty, so heap
// entries due at T were posted earlier than anything the FIFO receives at T and run first.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/scheduler.h"
#include "engine/timer_slots.h"

namespace pflab::sim {

/// A Scheduler whose clock only moves when the next event runs.
class SimScheduler final : public Scheduler {
 public:
  Nanos Now() const override { return now_; }
  TimerId PostAt(Nanos at, Task task) override;
  bool Cancel(TimerId id) override;

  /// Runs the next due event. Returns false when no events are left.
  bool RunOne();
  /// Runs events until none are left.
  void Run();
  /// Runs events due at or before `deadline`, then sets the clock to `deadline`.
  void RunUntil(Nanos deadline);

  std::uint64_t events_run() const { return events_run_; }
  std::size_t pending() const { return tasks_.live(); }

 private:
  using Entry = TimerEntry;
  bool PopLive(Entry* out);
  bool PeekTime(Nanos* at);  // time of the next live event, dropping stale entries
  bool Live(const Entry& e) const { return tasks_.Live(e); }

  Nanos now_ = 0;
  std::uint64_t events_run_ = 0;
  TimerSlots tasks_;
  std::vector<Entry> heap_;
  // Entries due at now_, in posting order: a ring buffer, because std::deque allocates and frees a
  // block every few dozen events as the queue slides.
  class Ring {
   public:
    bool empty() const { return head_ == tail_; }
    const Entry& front() const { return items_[head_ & mask_]; }
    void pop_front() { ++head_; }
    void push_back(const Entry& e) {
      if (tail_ - head_ == items_.size()) Grow();
      items_[tail_++ & mask_] = e;
    }

   private:
    void Grow() {
      std::vector<Entry> bigger(items_.empty() ? 64 : items_.size() * 2);
      for (std::size_t i = 0; head_ + i != tail_; ++i) bigger[i] = items_[(head_ + i) & mask_];
      tail_ -= head_;
      head_ = 0;
      items_ = std::move(bigger);
      mask_ = items_.size() - 1;
    }
    std::vector<Entry> items_;
    std::size_t mask_ = 0;
    std::size_t head_ = 0;
    std::size_t tail_ = 0;
  };
  Ring now_queue_;
};

}  // namespace pflab::sim
