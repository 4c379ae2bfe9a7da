#include "sim/sim_scheduler.h"

#include <algorithm>
#include <utility>

namespace pflab::sim {
namespace {
TimerId MakeId(std::uint32_t slot, std::uint32_t generation) {
  return (static_cast<TimerId>(generation) << 32) | (static_cast<TimerId>(slot) + 1);
}
}  // namespace

TimerId SimScheduler::PostAt(Nanos at, Task task) {
  if (at < now_) at = now_;
  std::uint32_t slot;
  if (!free_slots_.empty()) {
    slot = free_slots_.back();
    free_slots_.pop_back();
  } else {
    slot = static_cast<std::uint32_t>(slots_.size());
    slots_.emplace_back();
  }
  Slot& s = slots_[slot];
  s.task = std::move(task);
  s.armed = true;
  heap_.push_back(Entry{at, next_seq_++, slot, s.generation});
  std::push_heap(heap_.begin(), heap_.end(), Later);
  ++live_;
  return MakeId(slot, s.generation);
}

bool SimScheduler::Cancel(TimerId id) {
  if (id == 0) return false;
  std::uint32_t slot = static_cast<std::uint32_t>((id & 0xffffffffu) - 1);
  std::uint32_t generation = static_cast<std::uint32_t>(id >> 32);
  if (slot >= slots_.size()) return false;
  Slot& s = slots_[slot];
  if (!s.armed || s.generation != generation) return false;
  s.armed = false;
  s.task = nullptr;
  ++s.generation;
  free_slots_.push_back(slot);
  --live_;
  return true;
}

bool SimScheduler::PopLive(Entry* out) {
  while (!heap_.empty()) {
    std::pop_heap(heap_.begin(), heap_.end(), Later);
    Entry e = heap_.back();
    heap_.pop_back();
    const Slot& s = slots_[e.slot];
    if (s.armed && s.generation == e.generation) {
      *out = e;
      return true;
    }
  }
  return false;
}

bool SimScheduler::RunOne() {
  Entry e;
  if (!PopLive(&e)) return false;
  Slot& s = slots_[e.slot];
  Task task = std::move(s.task);
  s.task = nullptr;
  s.armed = false;
  ++s.generation;
  free_slots_.push_back(e.slot);
  --live_;
  now_ = e.at;
  ++events_run_;
  task();
  return true;
}

void SimScheduler::Run() {
  while (RunOne()) {
  }
}

void SimScheduler::RunUntil(Nanos deadline) {
  while (!heap_.empty()) {
    // Peek past stale entries without running anything beyond the deadline.
    Entry top = heap_.front();
    const Slot& s = slots_[top.slot];
    if (!s.armed || s.generation != top.generation) {
      std::pop_heap(heap_.begin(), heap_.end(), Later);
      heap_.pop_back();
      continue;
    }
    if (top.at > deadline) break;
    RunOne();
  }
  if (deadline > now_) now_ = deadline;
}

}  // namespace pflab::sim
