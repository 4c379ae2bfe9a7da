#include "sim/sim_scheduler.h"

#include <algorithm>
#include <utility>

namespace pflab::sim {
TimerId SimScheduler::PostAt(Nanos at, Task task) {
  if (at < now_) at = now_;
  const Entry e = tasks_.Add(at, std::move(task));
  if (at == now_) {
    now_queue_.push_back(e);
  } else {
    heap_.push_back(e);
    std::push_heap(heap_.begin(), heap_.end(), Entry::Later);
  }
  return tasks_.IdOf(e);
}

bool SimScheduler::Cancel(TimerId id) {
  return tasks_.Cancel(id);
}

bool SimScheduler::PopLive(Entry* out) {
  for (;;) {
    // Heap entries due now precede the FIFO (see the header); then the FIFO; then the future.
    if (!heap_.empty() && heap_.front().at <= now_) break;
    if (now_queue_.empty()) break;
    Entry e = now_queue_.front();
    now_queue_.pop_front();
    if (Live(e)) {
      *out = e;
      return true;
    }
  }
  while (!heap_.empty()) {
    std::pop_heap(heap_.begin(), heap_.end(), Entry::Later);
    Entry e = heap_.back();
    heap_.pop_back();
    if (Live(e)) {
      *out = e;
      return true;
    }
  }
  return false;
}

bool SimScheduler::RunOne() {
  Entry e;
  if (!PopLive(&e)) return false;
  now_ = e.at;
  ++events_run_;
  tasks_.Run(e);
  return true;
}

void SimScheduler::Run() {
  while (RunOne()) {
  }
}

bool SimScheduler::PeekTime(Nanos* at) {
  while (!now_queue_.empty() && !Live(now_queue_.front())) now_queue_.pop_front();
  while (!heap_.empty() && !Live(heap_.front())) {
    std::pop_heap(heap_.begin(), heap_.end(), Entry::Later);
    heap_.pop_back();
  }
  if (!now_queue_.empty()) {
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
