// Real-time Scheduler over a Boost.Asio io_context, for runs against real servers.
//
// The engine runs on one thread: the one calling Run(). Tasks posted with PostAt/Post/Cancel must be
// called from that thread (or before Run starts); transports' worker threads hand completions over
// with PostFromAnyThread, which is the only thread-safe entry point.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <memory>
#include <unordered_map>
#include <utility>  // Asio 1.81 with g++ 12 needs <utility> before its headers

#include "engine/scheduler.h"

namespace pflab {

/// A Scheduler in wall-clock time on one io_context thread.
class AsioScheduler final : public Scheduler {
 public:
  AsioScheduler();
  ~AsioScheduler() override;

  /// Nanoseconds since this scheduler was created (steady clock).
  Nanos Now() const override;
  TimerId PostAt(Nanos at, Task task) override;
  bool Cancel(TimerId id) override;

  /// Thread-safe: runs `task` on the engine thread as soon as possible.
  void PostFromAnyThread(Task task);
  /// Runs until there is no work left or Stop() is called.
  void Run();
  /// Runs for at most `duration` of wall time.
  void RunFor(Nanos duration);
  /// Makes Run() return; thread-safe.
  void Stop();

  boost::asio::io_context& context() { return context_; }

 private:
  boost::asio::io_context context_;
  std::chrono::steady_clock::time_point epoch_;
  TimerId next_id_ = 1;
  std::unordered_map<TimerId, std::unique_ptr<boost::asio::steady_timer>> timers_;
};

}  // namespace pflab
