#include "python_bridge/worker.h"

#include <vector>

#include "python_bridge/interpreter.h"

namespace pflab::python {

namespace {

thread_local Worker* t_worker = nullptr;

std::mutex& PoolMutex() {
  static std::mutex mutex;
  return mutex;
}

std::vector<Worker*>& Pool() {
  static auto* pool = new std::vector<Worker*>;  // never destroyed: parked threads point into it
  return *pool;
}

}  // namespace

Worker::Worker() {
  thread_ = std::thread([this] { Main(); });
  thread_.detach();
  back_.Wait();  // parked, with its Python thread state made
}

Worker* Worker::Take() {
  {
    std::lock_guard lock(PoolMutex());
    if (!Pool().empty()) {
      Worker* worker = Pool().back();
      Pool().pop_back();
      return worker;
    }
  }
  return new Worker;  // lives as long as the process, parked in the pool when idle
}

void Worker::Give(Worker* worker) {
  std::lock_guard lock(PoolMutex());
  Pool().push_back(worker);
}

Worker* Worker::Current() {
  return t_worker;
}

void Worker::Main() {
  t_worker = this;
  PyGILState_Ensure();  // this thread's Python state, kept for its life
  state_ = PyEval_SaveThread();
  back_.Post();
  for (;;) {
    go_.Wait();
    PyEval_RestoreThread(state_);
    Interpreter::Running()->watchdog().Begin(limit_);
    job_();
    job_ = nullptr;
    finished_ = true;
    timed_out_ |= Interpreter::Running()->watchdog().End();
    state_ = PyEval_SaveThread();
    back_.Post();
  }
}

void Worker::Suspend() {
  timed_out_ |= Interpreter::Running()->watchdog().End();
  state_ = PyEval_SaveThread();
  back_.Post();
  go_.Wait();
  PyEval_RestoreThread(state_);
  Interpreter::Running()->watchdog().Begin(limit_);
}

bool Worker::Run(std::chrono::nanoseconds patience) {
  timed_out_ = false;
  go_.Post();
  return back_.WaitFor(patience);
}

}  // namespace pflab::python
