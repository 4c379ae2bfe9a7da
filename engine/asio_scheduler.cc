#include "engine/asio_scheduler.h"

#include <algorithm>
#include <boost/asio/post.hpp>

namespace pflab {

AsioScheduler::AsioScheduler(Nanos spin) : spin_(spin), wakeup_(context_), epoch_(std::chrono::steady_clock::now()) {}

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
  if (!pending_work_) pending_work_.emplace(context_.get_executor());
  Arm();
  return tasks_.IdOf(e);
}

bool AsioScheduler::Cancel(TimerId id) {
  if (!tasks_.Cancel(id)) return false;
  if (tasks_.live() == 0) Idle();
  return true;
}

void AsioScheduler::Idle() {
  // Both are work to the io_context: dropped, Run() can return once nothing else is queued.
  heap_.clear();
  pending_work_.reset();
  if (waiting_) {
    waiting_ = false;
    ++wait_number_;
    wakeup_.cancel();
  }
}

void AsioScheduler::DropStale() {
  while (!heap_.empty() && !tasks_.Live(heap_.front())) {
    std::pop_heap(heap_.begin(), heap_.end(), Entry::Later);
    heap_.pop_back();
  }
}

void AsioScheduler::Arm() {
  DropStale();
  if (heap_.empty()) {
    // A wait left armed for a task since run early or cancelled would keep Run() going until it fired.
    Idle();
    return;
  }
  // A task due within spin_ gets no wait: Loop spins to it, and each wait armed costs a timer
  // syscall (10-20 us on this project's VMs, as much as the lateness it would save).
  const Nanos at = heap_.front().at - spin_;
  if (at <= Now()) return;
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
  RunDue();
}

void AsioScheduler::RunDue() {
  // Run what is due, including tasks the batch itself posts for "now" (a read is a chain of such
  // posts), but at most kBatch tasks, so a task that keeps posting for "now" cannot starve the handlers
  // other threads post: after the batch, Loop polls the context before it runs more.
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

bool AsioScheduler::Spinning() {
  DropStale();
  return !heap_.empty() && heap_.front().at - spin_ <= Now();
}

void AsioScheduler::Loop(std::optional<std::chrono::steady_clock::time_point> deadline) {
  const auto passed = [&] { return deadline && std::chrono::steady_clock::now() >= *deadline; };
  context_.restart();
  while (!context_.stopped() && !passed()) {
    if (Spinning()) {
      context_.poll();  // completions posted by other threads, without blocking
      RunDue();
    } else if (deadline) {
      context_.run_one_until(*deadline);
    } else {
      context_.run_one();  // returns 0 only when out of work, the context then stopped
    }
  }
}

void AsioScheduler::Run() {
  Loop(std::nullopt);
}

void AsioScheduler::RunFor(Nanos duration) {
  Loop(std::chrono::steady_clock::now() + std::chrono::nanoseconds(duration));
}

void AsioScheduler::Stop() {
  context_.stop();
}

}  // namespace pflab
