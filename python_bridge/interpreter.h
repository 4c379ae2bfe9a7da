// The embedded CPython interpreter the Python bridge runs policies in.
//
// The interpreter is started the first time a py: policy is resolved and never finalized: policy
// objects and worker threads (python_bridge/worker.h) may outlive any one run. It is configured
// isolated (environment variables such as PYTHONPATH do not apply), with Debian's site packages
// (import fsspec works), a fixed hash seed (set and dict order of strings is the same in every
// process), no bytecode files written next to policy sources, and no signal handlers taken from pflab.
#pragma once

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <mutex>
#include <string>

#include "python_bridge/watchdog.h"

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

/// The interpreter and what every layer shares.
class Interpreter {
 public:
  /// The interpreter, started on the first call; null with `*error` set when it cannot start (the same
  /// error every time).
  static Interpreter* Get(std::string* error);
  /// The interpreter once started, else null.
  static Interpreter* Running();

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

}  // namespace pflab::python
