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
//
// A task is run when it is due, not when the kernel gets round to waking the thread: the wait ends a
// spin window (100 us) before the task's time, and Run spins the rest, running the handlers other
// threads post meanwhile; a task due within the window arms no timer at all. On this project's 2-vCPU
// VM a task slept to ran 20-62 us late (median over waits of 5 us to 1 ms: a timer syscall, 10-20 us,
// and the wake-up), spun to 0.2-0.4 us (`pflab_bench --benchmark_filter=AsioLateness`). A replayed
// reader waits once a read for its think time, so the sleep added that to every read with one: real
// runs served from memory took up to 1.6x what the simulator, which has no such cost, predicted
// (docs/network.md, "Think time on time"). A recorded think time is the reader's own work, done on a
// core, so spinning through it is also the closer replay.
#pragma once

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

#include "engine/scheduler.h"
#include "engine/timer_slots.h"

namespace pflab {

/// A Scheduler in wall-clock time on one io_context thread.
class AsioScheduler final : public Scheduler {
 public:
  /// How long before a task's time the wait ends and the rest is spun (see the header).
  static constexpr Nanos kDefaultSpin = 100'000;

  /// `spin`: kDefaultSpin, or 0 to sleep to each task's time (what the lateness benchmark compares).
  explicit AsioScheduler(Nanos spin = kDefaultSpin);
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
  void Idle();       // no task is pending: drops the wait and the work guard
  void Arm();        // points the wakeup timer at the earliest live entry, spin_ early when it can
  void OnWakeup(std::uint64_t wait);
  void RunDue();    // runs the tasks due now (at most a batch) and re-arms
  bool Spinning();  // whether the earliest live task is due within spin_
  // Run and RunFor: spins through the last spin_ before each task, waits otherwise.
  void Loop(std::optional<std::chrono::steady_clock::time_point> deadline);

  const Nanos spin_;
  boost::asio::io_context context_;
  boost::asio::steady_timer wakeup_;
  // Held while any task is pending: a task due within spin_ has no wait armed, and poll() stops a
  // context that has no work.
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> pending_work_;
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
