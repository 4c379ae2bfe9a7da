// Real-time Scheduler over a Boost.Asio io_context, for runs against real servers.
//
// The engine runs on one thread: the one calling Run(). PostAt/Post/Cancel must be called from that
// thread (or before Run starts); transports' worker threads hand completions over with
// PostFromAnyThread, the only thread-safe entry point besides Stop().
//
// Timers are kept in our own heap keyed on (time, sequence number), the same order SimScheduler
// uses, with a single steady_timer armed for the earliest entry. Relying on one Asio timer per task
// would not honour the Scheduler contract: Asio does not order timers that expire at the same
// instant, and a task posted for a time already past would overtake tasks posted earlier for "now".
// Here, as in the simulator, a past time is clamped to now, and ties run in posting order.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <utility>
#include <vector>

#include "engine/scheduler.h"
#include "engine/timer_slots.h"

namespace pflab {

/// A Scheduler in wall-clock time on one io_context thread.
class AsioScheduler final : public Scheduler {
 public:
  AsioScheduler();
  ~AsioScheduler() override;
  AsioScheduler(const AsioScheduler&) = delete;
  AsioScheduler& operator=(const AsioScheduler&) = delete;

  /// Nanoseconds since this scheduler was created (steady clock).
  Nanos Now() const override;
  TimerId PostAt(Nanos at, Task task) override;
  bool Cancel(TimerId id) override;

  /// Thread-safe: runs `task` on the engine thread as soon as possible.
  void PostFromAnyThread(Task task);
  /// Runs until no task is pending and no other work is queued on the context, or Stop() is called.
  /// Work on other threads is invisible to the context: a transport with requests in flight there
  /// keeps the loop alive with a work guard on context() (or a pending task).
  void Run();
  /// Like Run, for at most `duration` of wall time.
  void RunFor(Nanos duration);
  /// Makes Run()/RunFor() return after the task in progress; thread-safe.
  void Stop();

  /// Tasks posted with PostAt and not yet run or cancelled.
  std::size_t pending() const { return tasks_.live(); }
  boost::asio::io_context& context() { return context_; }

 private:
  using Entry = TimerEntry;
  void DropStale();  // pops cancelled entries off the top of the heap
  void Arm();        // points the wakeup timer at the earliest live entry
  void OnWakeup(std::uint64_t wait);

  boost::asio::io_context context_;
  boost::asio::steady_timer wakeup_;
  std::chrono::steady_clock::time_point epoch_;
  std::vector<Entry> heap_;
  TimerSlots tasks_;
  // The wait in flight, if any, and when it fires. A new wait supersedes the old one: handlers of
  // superseded waits see a stale number and do nothing, even if they had already been queued.
  bool waiting_ = false;
  Nanos waiting_for_ = 0;
  std::uint64_t wait_number_ = 0;
};

}  // namespace pflab
