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
  const Entry e = tasks_.Add(at, std::move(task));
  heap_.push_back(e);
  std::push_heap(heap_.begin(), heap_.end(), Entry::Later);
  Arm();
  return tasks_.IdOf(e);
}

bool AsioScheduler::Cancel(TimerId id) {
  if (!tasks_.Cancel(id)) return false;
  if (tasks_.live() == 0) {
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
  while (!heap_.empty() && !tasks_.Live(heap_.front())) {
    std::pop_heap(heap_.begin(), heap_.end(), Entry::Later);
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
  // Run what is due, including tasks the batch itself posts for "now" (a read is a chain of such
  // posts; re-arming the timer for each cost a timer syscall and an epoll round trip, ~37 us a read),
  // but at most kBatch tasks, so a task that keeps posting for "now" cannot starve the handlers other
  // threads post: after the batch, the due timer goes back through the io_context's queue.
  constexpr int kBatch = 256;
  Nanos now = Now();
  for (int ran = 0; ran < kBatch && !context_.stopped(); ++ran) {
    DropStale();
    if (heap_.empty()) break;
    if (heap_.front().at > now) {
      now = Now();
      if (heap_.front().at > now) break;
    }
    std::pop_heap(heap_.begin(), heap_.end(), Entry::Later);
    const Entry e = heap_.back();
    heap_.pop_back();
    Task task = tasks_.Take(e);
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
