#include "engine/asio_scheduler.h"

#include <boost/asio/post.hpp>

namespace pflab {

AsioScheduler::AsioScheduler() : epoch_(std::chrono::steady_clock::now()) {}

AsioScheduler::~AsioScheduler() {
  for (auto& [id, timer] : timers_) timer->cancel();
  timers_.clear();
}

Nanos AsioScheduler::Now() const {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - epoch_).count();
}

TimerId AsioScheduler::PostAt(Nanos at, Task task) {
  const TimerId id = next_id_++;
  auto timer = std::make_unique<boost::asio::steady_timer>(context_, epoch_ + std::chrono::nanoseconds(at));
  timer->async_wait([this, id, task = std::move(task)](const boost::system::error_code& ec) mutable {
    if (ec) return;  // cancelled
    // The timer's entry is gone once it fires, so Cancel() reports it as already run.
    if (timers_.erase(id) == 0) return;
    task();
  });
  timers_.emplace(id, std::move(timer));
  return id;
}

bool AsioScheduler::Cancel(TimerId id) {
  auto it = timers_.find(id);
  if (it == timers_.end()) return false;
  it->second->cancel();
  // Keep the timer object alive until its handler has seen operation_aborted.
  boost::asio::post(context_, [timer = std::shared_ptr<boost::asio::steady_timer>(std::move(it->second))] {});
  timers_.erase(it);
  return true;
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
