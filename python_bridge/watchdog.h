// The bridge's watchdog: Python code that runs longer than its layer's wall-clock limit without giving
// control back (a busy loop) gets PolicyTimeout raised into it, and the layer then fails with a clear
// message. A worker that does not come back even then (stuck in native code) is abandoned and Python
// policies are disabled for the rest of the process (python_bridge/python_layer.cc); engine-thread
// Python stuck that way ends the process with a message, since nothing else could.
#pragma once

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>

namespace pflab::python {

/// Raises PolicyTimeout into Python code that runs too long.
class Watchdog {
 public:
  Watchdog();
  /// The exception raised into code that runs too long (the runtime's PolicyTimeout), set once.
  void SetException(PyObject* type) { exception_ = type; }
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
  PyObject* exception_ = nullptr;
  std::thread thread_handle_;
};

}  // namespace pflab::python
