// The bridge's worker threads and the hand-off between them and the engine's thread.
//
// Why threads. A policy's synchronous calls (an fsspec cache's `_fetch`, which calls a blocking
// `fetcher`; a gcsfs prefetcher's `_fetch`, which waits in `fsspec.asyn.sync`) must stop halfway while
// the simulator moves time forward until the network answers. Python frames cannot be parked and
// resumed from C without a separate stack, and greenlets are not part of Debian's Python; so each such
// call runs on a worker thread of its own, and the hand-off between that worker and the engine's
// thread is strict: whoever hands over waits until control comes back, so exactly one of them runs at
// any time, in an order that depends only on the run's events. The run stays deterministic (same seed,
// same event log) and the GIL is never contended.
//
// Event-loop callbacks, fetch completions and timers run on the engine's thread itself (they never
// block); only calls that may wait run on workers. Workers come from a process-wide pool and are
// returned when their call ends.
#pragma once

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

namespace pflab::python {

/// A one-slot hand-off signal: Post wakes one Wait. (std::binary_semaphore's timed wait in GCC 12's
/// libstdc++ sleeps in steps rather than waking at once, which made each hand-off take milliseconds.
/// Spinning before sleeping was tried too: on a loaded two-core machine it took the CPU the other side
/// needed, and no faster hand-off could be shown.)
class Signal {
 public:
  void Post() {
    {
      std::lock_guard lock(mutex_);
      posted_ = true;
    }
    cv_.notify_one();
  }
  void Wait() {
    std::unique_lock lock(mutex_);
    cv_.wait(lock, [&] { return posted_; });
    posted_ = false;
  }
  /// False when `patience` passed without a Post.
  bool WaitFor(std::chrono::nanoseconds patience) {
    std::unique_lock lock(mutex_);
    if (!cv_.wait_for(lock, patience, [&] { return posted_; })) return false;
    posted_ = false;
    return true;
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool posted_ = false;
};

/// A worker thread that runs a policy's synchronous calls (see the file comment).
class Worker {
 public:
  /// An idle worker from the pool, or a new one.
  static Worker* Take();
  /// Back to the pool, once its job has finished.
  static void Give(Worker* worker);
  /// The worker whose thread this is, or null on any other thread.
  static Worker* Current();

  /// Engine side: the job to run (with the GIL held) when next run.
  void SetJob(std::function<void()> job, std::chrono::nanoseconds limit) {
    job_ = std::move(job);
    limit_ = limit;
    finished_ = false;
  }
  /// Engine side: hands control to the worker (it starts its job or resumes where it suspended) and
  /// waits until it gives control back; false when it did not within `patience` (it is abandoned then
  /// and must never be run again).
  bool Run(std::chrono::nanoseconds patience);
  bool finished() const { return finished_; }
  /// Whether the watchdog fired while the worker last ran.
  bool timed_out() const { return timed_out_; }

  /// Worker side, inside its job (GIL held): gives control back and waits to be run again.
  void Suspend();

 private:
  Worker();
  void Main();

  std::thread thread_;
  Signal go_;
  Signal back_;
  std::function<void()> job_;
  std::chrono::nanoseconds limit_{0};
  bool finished_ = true;
  bool timed_out_ = false;
  PyThreadState* state_ = nullptr;
};

}  // namespace pflab::python
