// The embedded CPython interpreter the Python bridge runs policies in, and the hand-off between the
// engine's thread and the bridge's worker threads.
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
//
// The interpreter is started the first time a py: policy is resolved and never finalized: policy
// objects and worker threads may outlive any one run. It is configured isolated (environment
// variables such as PYTHONPATH do not apply), with Debian's site packages (import fsspec works), a
// fixed hash seed (set and dict order of strings is the same in every process), no bytecode files
// written next to policy sources, and no signal handlers taken from pflab.
//
// Watchdog. A piece of Python that runs longer than its layer's wall-clock limit without giving
// control back (a busy loop) gets PolicyTimeout raised into it; the layer then fails with a clear
// message. A worker that does not come back even then (stuck in native code) is abandoned and Python
// policies are disabled for the rest of the process; engine-thread Python stuck that way ends the
// process with a message, since nothing else could.
#pragma once

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace pflab::python {

/// Holds the GIL for its scope (from any thread).
class Gil {
 public:
  Gil() : state_(PyGILState_Ensure()) {}
  ~Gil() { PyGILState_Release(state_); }
  Gil(const Gil&) = delete;
  Gil& operator=(const Gil&) = delete;

 private:
  PyGILState_STATE state_;
};

/// An owned reference (Py_XDECREF on destruction).
class Ref {
 public:
  Ref() = default;
  explicit Ref(PyObject* owned) : p_(owned) {}
  Ref(Ref&& other) noexcept : p_(other.p_) { other.p_ = nullptr; }
  Ref& operator=(Ref&& other) noexcept {
    if (this != &other) {
      Py_XDECREF(p_);
      p_ = other.p_;
      other.p_ = nullptr;
    }
    return *this;
  }
  Ref(const Ref&) = delete;
  Ref& operator=(const Ref&) = delete;
  ~Ref() { Py_XDECREF(p_); }
  PyObject* get() const { return p_; }
  PyObject* release() {
    PyObject* p = p_;
    p_ = nullptr;
    return p;
  }
  explicit operator bool() const { return p_ != nullptr; }

 private:
  PyObject* p_ = nullptr;
};

/// The text of the Python exception being raised (its traceback, without the bridge's own frames);
/// clears it. Call with the GIL held and an exception set.
std::string TakePythonError();

/// Raises a segment's PolicyTimeout into Python code that runs too long.
class Watchdog {
 public:
  Watchdog();
  /// A piece of Python starts on this thread (GIL held), allowed to run `limit` of wall-clock time.
  void Begin(std::chrono::nanoseconds limit);
  /// It ends (GIL held); true when the watchdog fired during it.
  bool End();

 private:
  void Main();

  std::mutex mutex_;
  std::condition_variable changed_;
  bool active_ = false;
  std::uint64_t segment_ = 0;
  unsigned long thread_ = 0;
  std::chrono::steady_clock::time_point deadline_;
  std::chrono::nanoseconds limit_{0};
  bool fired_ = false;
  std::thread thread_handle_;
};

/// The interpreter and what every layer shares.
class Interpreter {
 public:
  /// The interpreter, started on the first call; null with `*error` set when it cannot start (the same
  /// error every time).
  static Interpreter* Get(std::string* error);

  /// The bridge's Python module (`pflab`, python_bridge/runtime.py).
  PyObject* runtime() const { return runtime_; }
  /// Held around every piece of Python work, by the engine's thread (workers run while it holds it).
  std::recursive_mutex& mutex() { return mutex_; }
  Watchdog& watchdog() { return watchdog_; }
  PyObject* policy_aborted() const { return policy_aborted_; }
  PyObject* policy_timeout() const { return policy_timeout_; }
  PyObject* fetch_error() const { return fetch_error_; }
  PyObject* fetched_bytes_type() const { return fetched_bytes_; }

  /// Python policies are unusable for the rest of the process (a worker never came back); why.
  const std::string& poisoned() const { return poisoned_; }
  void Poison(std::string why) { poisoned_ = std::move(why); }

 private:
  Interpreter() = default;
  bool Start(std::string* error);

  PyObject* runtime_ = nullptr;
  PyObject* policy_aborted_ = nullptr;
  PyObject* policy_timeout_ = nullptr;
  PyObject* fetch_error_ = nullptr;
  PyObject* fetched_bytes_ = nullptr;
  std::recursive_mutex mutex_;
  Watchdog watchdog_;
  std::string poisoned_;
};

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
