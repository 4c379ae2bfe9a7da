#include "python_bridge/watchdog.h"

#include <cstdio>
#include <cstdlib>

namespace pflab::python {

Watchdog::Watchdog() {
  thread_handle_ = std::thread([this] { Main(); });
  thread_handle_.detach();
}

void Watchdog::Begin(std::chrono::nanoseconds limit) {
  std::lock_guard lock(mutex_);
  active_ = true;
  ++segment_;
  thread_ = PyThread_get_thread_ident();
  limit_ = limit;
  deadline_ = std::chrono::steady_clock::now() + limit;
  fired_ = false;
  changed_.notify_all();
}

bool Watchdog::End() {
  std::lock_guard lock(mutex_);
  active_ = false;
  ++segment_;
  changed_.notify_all();
  return fired_;
}

void Watchdog::Main() {
  std::unique_lock lock(mutex_);
  for (;;) {
    changed_.wait(lock, [&] { return active_; });
    const std::uint64_t segment = segment_;
    const auto deadline = deadline_;
    if (changed_.wait_until(lock, deadline, [&] { return segment_ != segment; })) continue;
    // The segment ran past its limit. Take the GIL (the running code gives it up within Python's
    // switch interval when asked), then, if the same segment still runs, raise into it. Segments begin
    // and end with the GIL held, so while we hold it none can begin or end.
    lock.unlock();
    PyGILState_STATE gil = PyGILState_Ensure();
    lock.lock();
    if (active_ && segment_ == segment && exception_) {
      PyThreadState_SetAsyncExc(thread_, exception_);
      fired_ = true;
    }
    const auto limit = limit_;
    lock.unlock();
    PyGILState_Release(gil);
    lock.lock();
    // Give it time to unwind. Engine-thread Python that still does not end is stuck for good: nothing
    // else could stop it, and the run would hang, so the process ends saying why. (A stuck worker is
    // abandoned by the engine's thread instead; see Worker::Run.)
    if (!changed_.wait_for(lock, limit + std::chrono::seconds(10), [&] { return segment_ != segment; })) {
      std::fprintf(stderr,
                   "pflab: a Python policy ran past its watchdog and did not stop when interrupted (stuck in "
                   "native code?); exiting\n");
      std::fflush(stderr);
      std::_Exit(3);
    }
  }
}

}  // namespace pflab::python
