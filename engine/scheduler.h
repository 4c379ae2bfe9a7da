// The only notion of time the engine and the policies see.
#pragma once

#include <cstdint>

#include "engine/inline_function.h"

namespace pflab {

/// Nanoseconds: virtual in simulation, since an arbitrary epoch in real time.
using Nanos = std::int64_t;

constexpr Nanos kMicrosecond = 1000;
constexpr Nanos kMillisecond = 1000 * kMicrosecond;
constexpr Nanos kSecond = 1000 * kMillisecond;

/// The simulated clock's horizon, 2^62 ns (146 years): a time past it means a profile or parameters out
/// of any meaningful range, and the simulator stops there (SimScheduler) instead of letting 64-bit
/// time wrap. Half the type's range, so a time below it plus a delay below it cannot overflow.
constexpr Nanos kTimeHorizon = Nanos{1} << 62;

/// `at` plus `ns` (a non-negative count of nanoseconds held as a double, as rates give them), cut at
/// kTimeHorizon + 1 so that neither the conversion nor the sum can overflow. Exact below the horizon.
inline Nanos TimeAfter(Nanos at, double ns) {
  if (!(ns < static_cast<double>(kTimeHorizon - at))) return kTimeHorizon + 1;
  return at + static_cast<Nanos>(ns);
}

/// Identifies a posted task so it can be cancelled; 0 is never a valid id.
using TimerId = std::uint64_t;

/// Runs tasks at points in time, one at a time, on one thread. Policies get time and deferral only
/// from here, so the same code runs in virtual time (`SimScheduler`) and real time (`AsioScheduler`).
class Scheduler {
 public:
  using Task = InlineFunction<void(), 48>;

  virtual ~Scheduler() = default;
  virtual Nanos Now() const = 0;
  /// Runs `task` at time `at` (or as soon as possible if `at` is in the past). Tasks due at the same
  /// time run in the order they were posted.
  virtual TimerId PostAt(Nanos at, Task task) = 0;
  /// Cancels a task that has not run yet. Returns false if it already ran or was cancelled.
  virtual bool Cancel(TimerId id) = 0;
  /// Why the last run stopped with tasks left, for the run's error; empty when it ran out of tasks.
  virtual const char* StopReason() const { return ""; }

  /// Runs `task` now, after the tasks already due now. Virtual so the simulator can take its fast path
  /// for these, the most common tasks, without asking for the time first.
  virtual TimerId Post(Task task) { return PostAt(Now(), std::move(task)); }
  TimerId PostAfter(Nanos delay, Task task) { return PostAt(Now() + delay, std::move(task)); }
  /// Runs `task` now, once nothing else is due now: after the tasks due now and every task they post
  /// for now, in turn. A closed-loop client with no think time uses it, as a program's next call
  /// reaches an event loop only after the loop has run what was already ready (replay/replayer.h).
  /// Cannot be cancelled. In real time a plain Post is that turn: the loop runs what is ready first.
  virtual void PostIdle(Task task) { Post(std::move(task)); }

  /// For a caller about to post a task for now as the last thing it does before its own task ends, and
  /// able to run that task's work itself instead: true when nothing else is due now (neither posted
  /// tasks nor timers), so the posted task would be the very next event anyway; it is then counted as
  /// an event run, and the caller runs the work at once instead of posting it. False in real time.
  virtual bool TakeTurnNow() { return false; }
  /// The same for a PostIdle task: true when nothing at all is due now, idle tasks included.
  virtual bool TakeIdleTurnNow() { return false; }
};

}  // namespace pflab
