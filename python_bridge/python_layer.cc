#include "python_bridge/python_layer.h"

#include <algorithm>
#include <unordered_map>
#include <utility>
#include <vector>

namespace pflab::python {
namespace {

// A worker that has not given control back this long after its watchdog limit is abandoned.
constexpr std::chrono::seconds kGrace{10};

// Every layer alive, by token; the layer whose Python runs now. Touched only by whoever holds the
// interpreter's mutex (the engine's thread) or runs on its behalf (a worker it handed control to).
// Python's garbage collector may drop one layer's fetched bytes while another layer's Python runs
// (FetchedBytes.__del__ calls that layer's Host): that is safe because runs holding Python layers go
// one at a time (PolicyEntry::one_run_at_a_time), so every live layer belongs to the same engine
// thread, which is busy with this one.
std::unordered_map<std::uint64_t, PyLayer*>& Layers() {
  static auto* layers = new std::unordered_map<std::uint64_t, PyLayer*>;
  return *layers;
}
std::uint64_t g_next_token = 0;
PyLayer* g_current = nullptr;
thread_local std::uint64_t t_job = 0;  // the job running on this worker thread

Interpreter* TheInterpreter() {
  std::string error;
  return Interpreter::Get(&error);  // started before any layer exists
}

std::string RangeText(plugin::Range r) {
  return "[" + std::to_string(r.begin) + ", " + std::to_string(r.end) + ")";
}

}  // namespace

PyLayer* PyLayer::Current() {
  return g_current;
}

PyLayer* PyLayer::Find(std::uint64_t token) {
  auto it = Layers().find(token);
  return it == Layers().end() ? nullptr : it->second;
}

PyLayer::PyLayer(plugin::Host* host, const PyClass& cls, Ref kwargs, PyLayerLimits limits)
    : host_(host), cls_(cls), limits_(limits) {
  Interpreter* interpreter = TheInterpreter();
  std::lock_guard lock(interpreter->mutex());
  token_ = ++g_next_token;
  Layers()[token_] = this;
  if (limits_.read_deadline_ns > 0) host_->SetReadDeadline(limits_.read_deadline_ns);
  if (!interpreter->poisoned().empty()) {
    failed_ = interpreter->poisoned();
    Gil gil;
    kwargs = Ref();
    return;
  }
  OnEngine([&] {
    state_ =
        Ref(PyObject_CallMethod(interpreter->runtime(), "LayerState", "KsOKK", static_cast<unsigned long long>(token_),
                                cls_.target.c_str(), kwargs.get(), static_cast<unsigned long long>(host_->ObjectSize()),
                                static_cast<unsigned long long>(host_->Seed())));
    if (!state_) failed_ = Label() + ": setting up the layer failed:\n" + TakePythonError();
    kwargs = Ref();
  });
}

PyLayer::~PyLayer() {
  Interpreter* interpreter = TheInterpreter();
  std::lock_guard lock(interpreter->mutex());
  StopPython();
  Layers().erase(token_);
  if (g_current == this) g_current = nullptr;
  if (!interpreter->poisoned().empty()) {
    // No Python may run: what is left is leaked rather than released without the GIL.
    (void)state_.release();
    for (auto& [key, job] : jobs_) (void)job->result.release();
  }
}

template <typename F>
bool PyLayer::OnEngine(F&& call) {
  Interpreter* interpreter = TheInterpreter();
  if (!interpreter->poisoned().empty()) return false;
  PyLayer* previous = g_current;
  g_current = this;
  bool fired = false;
  {
    Gil gil;
    interpreter->watchdog().Begin(limits_.watchdog);
    call();
    fired = interpreter->watchdog().End();
    if (fired) {
      PyThreadState_SetAsyncExc(PyThread_get_thread_ident(), nullptr);  // one not raised yet
      PyErr_Clear();
    }
  }
  g_current = previous;
  if (fired) {
    FailLayer(Label() + ": Python code ran for more than " +
              std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(limits_.watchdog).count()) +
              " ms of wall-clock time without giving control back (pflab_watchdog); the layer was stopped");
  }
  return !fired;
}

void PyLayer::Read(plugin::ReadId id, plugin::Range range) {
  Interpreter* interpreter = TheInterpreter();
  std::lock_guard lock(interpreter->mutex());
  if (failed_) {
    host_->Fail(id, {plugin::Code::kInternal, failed_->c_str(), false});
    return;
  }
  auto job = std::make_unique<Job>();
  job->kind = Job::Kind::kRead;
  job->id = next_job_++;
  job->read = id;
  job->range = range;
  runnable_.push_back(job.get());
  jobs_.emplace(job->id, std::move(job));
  Settle();
}

void PyLayer::Cancel(plugin::ReadId id) {
  Interpreter* interpreter = TheInterpreter();
  std::lock_guard lock(interpreter->mutex());
  for (auto& [key, job] : jobs_) {
    if (job->kind != Job::Kind::kRead || job->read != id) continue;
    // A synchronous call cannot be cancelled in Python: PolicyAborted is raised where it waits, as a
    // KeyboardInterrupt would be. The host fails the read with kCancelled.
    job->abort = true;
    if (job->started) {
      runnable_.erase(std::remove(runnable_.begin(), runnable_.end(), job.get()), runnable_.end());
      runnable_.push_front(job.get());
    }
  }
  Settle();
}

void PyLayer::OnFetched(plugin::FetchId id, plugin::Data data, const plugin::Failure* failure) {
  Interpreter* interpreter = TheInterpreter();
  std::lock_guard lock(interpreter->mutex());
  if (auto it = blocking_fetches_.find(id); it != blocking_fetches_.end()) {
    Job* job = it->second;
    blocking_fetches_.erase(it);
    job->fetched = std::move(data);
    if (failure) {
      job->fetch_error = failure->message ? failure->message : "";
      job->fetch_code = static_cast<std::uint32_t>(failure->code);
      job->fetch_retryable = failure->retryable;
    }
    job->wait = Job::Wait::kNone;
    runnable_.push_back(job);
    Settle();
    return;
  }
  if (failed_ || !state_) return;
  OnEngine([&] {
    Ref bytes;
    if (!failure) {
      bytes = Ref(ToBytes(std::move(data)));
      if (!bytes) {
        // Could not make the bytes (out of memory): the policy sees the fetch fail.
        const std::string why = TakePythonError();
        Ref r(PyObject_CallMethod(state_.get(), "fetched", "KOsIi", static_cast<unsigned long long>(id), Py_None,
                                  why.c_str(), static_cast<unsigned>(plugin::Code::kInternal), 0));
        if (!r) PyErr_Clear();
        return;
      }
    }
    Ref r(failure ? PyObject_CallMethod(state_.get(), "fetched", "KOsIi", static_cast<unsigned long long>(id), Py_None,
                                        failure->message ? failure->message : "", static_cast<unsigned>(failure->code),
                                        failure->retryable ? 1 : 0)
                  : PyObject_CallMethod(state_.get(), "fetched", "KOOOO", static_cast<unsigned long long>(id),
                                        bytes.get(), Py_None, Py_None, Py_None));
    if (!r) failed_ = Label() + ": delivering a fetch to the policy failed:\n" + TakePythonError();
  });
  Settle();
}

void PyLayer::OnTimer(plugin::TimerId id) {
  Interpreter* interpreter = TheInterpreter();
  std::lock_guard lock(interpreter->mutex());
  if (id != loop_timer_) return;
  loop_timer_ = 0;
  loop_timer_at_ = -1;
  if (failed_ || !state_) return;
  OnEngine([&] {
    Ref r(PyObject_CallMethod(state_.get(), "run_once", nullptr));
    if (!r) failed_ = Label() + ": the policy's event loop failed:\n" + TakePythonError();
  });
  Settle();
}

void PyLayer::Settle() {
  while (!runnable_.empty()) {
    Job* job = runnable_.front();
    runnable_.pop_front();
    RunJob(job);
    if (job->worker == nullptr || job->worker->finished()) FinishJob(job);
  }
  if (failed_ && !stopping_) {
    FailLayer(*failed_);
    return;
  }
  ScheduleLoop();
}

void PyLayer::RunJob(Job* job) {
  Interpreter* interpreter = TheInterpreter();
  if (!job->started) {
    if (job->abort) return;  // never started: nothing to unwind
    job->started = true;
    job->worker = Worker::Take();
    job->worker->SetJob(
        [this, job] {
          t_job = job->id;
          Ref out(job->kind == Job::Kind::kRead
                      ? PyObject_CallMethod(state_.get(), "read", "KK",
                                            static_cast<unsigned long long>(job->range.begin),
                                            static_cast<unsigned long long>(job->range.end))
                      : PyObject_CallMethod(state_.get(), "run_job", "K",
                                            static_cast<unsigned long long>(job->python_job)));
          if (out) {
            job->result = std::move(out);
          } else {
            job->error = TakePythonError();
          }
          t_job = 0;
        },
        limits_.watchdog);
  }
  PyLayer* previous = g_current;
  g_current = this;
  const bool back = job->worker->Run(limits_.watchdog + kGrace);
  g_current = previous;
  if (!back) {
    // The worker is stuck outside Python's control (native code, a real lock): it can never be run
    // again, and it may hold the GIL, so no Python can run any more in this process.
    interpreter->Poison(Label() + ": a Python call did not give control back within " +
                        std::to_string((limits_.watchdog + kGrace) / std::chrono::seconds(1)) +
                        " s of wall-clock time, even when interrupted (stuck in native code or on a lock "
                        "outside pflab?); Python policies are disabled for the rest of this process");
    job->worker = nullptr;
    job->timed_out = true;
    failed_ = interpreter->poisoned();
    return;
  }
  job->timed_out |= job->worker->timed_out();
}

void PyLayer::FinishJob(Job* job) {
  Interpreter* interpreter = TheInterpreter();
  if (job->worker) Worker::Give(job->worker);
  job->worker = nullptr;
  if (job->timed_out && !failed_) {
    failed_ = Label() + ": Python code ran for more than " +
              std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(limits_.watchdog).count()) +
              " ms of wall-clock time without giving control back (pflab_watchdog); the layer was stopped";
  }
  if (!interpreter->poisoned().empty()) {
    // No Python may run (a stuck worker may hold the GIL): the job's objects are left as they are.
    if (job->kind == Job::Kind::kRead && !job->abort) {
      host_->Fail(job->read, {plugin::Code::kInternal, interpreter->poisoned().c_str(), false});
    }
    (void)job->result.release();
    jobs_.erase(job->id);
    return;
  }
  Gil gil;  // the job's references go with it
  if (job->kind == Job::Kind::kRead && !job->abort) {
    const std::string call = "_fetch" + RangeText(job->range);
    if (failed_) {
      host_->Fail(job->read, {plugin::Code::kInternal, failed_->c_str(), false});
    } else if (job->error) {
      const std::string message = Label() + ": " + call + " raised:\n" + *job->error;
      host_->Fail(job->read, {plugin::Code::kInternal, message.c_str(), false});
    } else {
      Py_buffer view;
      if (PyObject_GetBuffer(job->result.get(), &view, PyBUF_SIMPLE) != 0) {
        const std::string message = Label() + ": " + call + " returned no readable bytes: " + TakePythonError();
        host_->Fail(job->read, {plugin::Code::kInternal, message.c_str(), false});
      } else {
        const auto length = static_cast<std::uint64_t>(view.len);
        if (length != job->range.size()) {
          const std::string message = Label() + ": " + call + " returned " + std::to_string(length) + " bytes, not " +
                                      std::to_string(job->range.size());
          host_->Fail(job->read, {plugin::Code::kDataLoss, message.c_str(), false});
        } else {
          plugin::Data data = plugin::Data::CopyIn(host_, job->range.begin, view.buf, length);
          host_->Complete(job->read, data.Release());
        }
        PyBuffer_Release(&view);
      }
    }
  } else if (job->kind == Job::Kind::kExecutor && state_ && !stopping_) {
    if (job->error) failed_ = Label() + ": an executor job failed inside the bridge:\n" + *job->error;
    PyLayer* previous = g_current;
    g_current = this;
    Ref r(PyObject_CallMethod(state_.get(), "job_done", "K", static_cast<unsigned long long>(job->python_job)));
    if (!r) failed_ = Label() + ": finishing an executor job failed:\n" + TakePythonError();
    g_current = previous;
  }
  jobs_.erase(job->id);
}

void PyLayer::ScheduleLoop() {
  if (!state_ || failed_ || stopping_) return;
  long long next = -1;
  std::optional<std::string> failure;
  const bool ok = OnEngine([&] {
    Ref taken(PyObject_CallMethod(state_.get(), "take_failure", nullptr));
    if (!taken) {
      failure = TakePythonError();
      return;
    }
    if (taken.get() != Py_None) {
      const char* text = PyUnicode_AsUTF8(taken.get());
      failure = text ? text : "an error in the policy's event loop";
      PyErr_Clear();
      return;
    }
    Ref wake(PyObject_CallMethod(state_.get(), "next_wake", nullptr));
    next = wake ? PyLong_AsLongLong(wake.get()) : -1;
    if (PyErr_Occurred()) failure = TakePythonError();
  });
  if (!ok) return;
  if (failure) {
    FailLayer(Label() + ": an exception in the policy's event loop:\n" + *failure);
    return;
  }
  if (next == 0) next = host_->Now();
  if (next < 0) {
    if (loop_timer_) host_->CancelTimer(loop_timer_);
    loop_timer_ = 0;
    loop_timer_at_ = -1;
    return;
  }
  if (loop_timer_ && loop_timer_at_ == next) return;
  if (loop_timer_) host_->CancelTimer(loop_timer_);
  loop_timer_ = host_->SetTimer(next);
  loop_timer_at_ = next;
}

void PyLayer::FailLayer(const std::string& why) {
  failed_ = why;
  if (stopping_) return;
  for (auto& [key, job] : jobs_) {
    if (job->kind == Job::Kind::kRead) host_->Fail(job->read, {plugin::Code::kInternal, why.c_str(), false});
  }
  StopPython();
}

void PyLayer::StopPython() {
  if (stopping_) return;
  stopping_ = true;
  Interpreter* interpreter = TheInterpreter();
  const bool usable = interpreter->poisoned().empty();
  // Unwind every suspended call: each suspension point raises PolicyAborted while `abort` is set.
  std::vector<Job*> all;
  for (auto& [key, job] : jobs_) all.push_back(job.get());
  for (Job* job : all) {
    job->abort = true;
    while (usable && job->worker && !job->worker->finished() && interpreter->poisoned().empty()) RunJob(job);
    if (job->worker && job->worker->finished()) Worker::Give(job->worker);
    job->worker = nullptr;
  }
  runnable_.clear();
  for (auto& [fetch, job] : blocking_fetches_) host_->CancelFetch(fetch);
  blocking_fetches_.clear();
  if (loop_timer_) host_->CancelTimer(loop_timer_);
  loop_timer_ = 0;
  if (!usable || !interpreter->poisoned().empty()) return;  // no Python may run: its objects are left as they are
  PyLayer* previous = g_current;
  g_current = this;
  {
    Gil gil;
    if (state_) {
      Ref r(PyObject_CallMethod(state_.get(), "teardown", nullptr));
      if (!r) PyErr_Clear();  // nothing is left to tell: the layer is going away
    }
    jobs_.clear();
    state_ = Ref();
  }
  g_current = previous;
}

PyObject* PyLayer::ToBytes(plugin::Data data) {
  const std::uint64_t size = data.size();
  if (size == 0) return PyBytes_FromStringAndSize("", 0);
  if (size > static_cast<std::uint64_t>(PY_SSIZE_T_MAX) - 1) {
    PyErr_SetString(PyExc_MemoryError, "pflab: fetched data too large for Python bytes");
    return nullptr;
  }
  // A FetchedBytes made in place, as bytes' own subtype constructor does, without a second copy.
  auto* type = reinterpret_cast<PyTypeObject*>(TheInterpreter()->fetched_bytes_type());
  Ref object(type->tp_alloc(type, static_cast<Py_ssize_t>(size)));
  if (!object) return nullptr;
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
  reinterpret_cast<PyBytesObject*>(object.get())->ob_shash = -1;  // hash not computed yet
#pragma GCC diagnostic pop
  char* bytes = PyBytes_AS_STRING(object.get());
  data.CopyTo(0, size, bytes);
  bytes[size] = '\0';
  Ref handle(
      Py_BuildValue("(KK)", static_cast<unsigned long long>(token_), static_cast<unsigned long long>(data.Release())));
  if (!handle || PyObject_SetAttrString(object.get(), "_pflab", handle.get()) != 0) return nullptr;
  return object.release();
}

PyObject* PyLayer::FetchSync(std::uint64_t begin, std::uint64_t end) {
  auto it = jobs_.find(t_job);
  Worker* worker = Worker::Current();
  if (it == jobs_.end() || !worker || it->second->worker != worker) {
    PyErr_SetString(PyExc_RuntimeError,
                    "pflab: a blocking fetch from inside the event loop (fetch from _fetch, or in "
                    "asyncio.to_thread)");
    return nullptr;
  }
  Job* job = it->second.get();
  if (job->abort) {
    PyErr_SetString(TheInterpreter()->policy_aborted(), "the read was stopped");
    return nullptr;
  }
  end = std::min(end, host_->ObjectSize());
  if (begin >= end) return PyBytes_FromStringAndSize("", 0);  // past the end: b"", as a backend answers
  const plugin::FetchId fetch = host_->Fetch({begin, end}, 0);
  job->wait = Job::Wait::kFetch;
  job->fetch = fetch;
  blocking_fetches_[fetch] = job;
  worker->Suspend();
  if (job->abort) {
    if (blocking_fetches_.erase(fetch)) host_->CancelFetch(fetch);
    PyErr_SetString(TheInterpreter()->policy_aborted(), "the read was stopped");
    return nullptr;
  }
  if (job->fetch_error) {
    Ref error(PyObject_CallFunction(TheInterpreter()->fetch_error(), "sIO", job->fetch_error->c_str(), job->fetch_code,
                                    job->fetch_retryable ? Py_True : Py_False));
    job->fetch_error.reset();
    if (error) PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(error.get())), error.get());
    return nullptr;
  }
  return ToBytes(std::move(job->fetched));
}

bool PyLayer::SuspendForWake() {
  auto it = jobs_.find(t_job);
  Worker* worker = Worker::Current();
  if (it == jobs_.end() || !worker || it->second->worker != worker) {
    PyErr_SetString(PyExc_RuntimeError, "pflab: a blocking wait from inside the event loop");
    return false;
  }
  Job* job = it->second.get();
  if (!job->abort) {
    job->wait = Job::Wait::kWake;
    worker->Suspend();
  }
  if (job->abort) {
    PyErr_SetString(TheInterpreter()->policy_aborted(), "the read was stopped");
    return false;
  }
  return true;
}

void PyLayer::Wake(std::uint64_t job_id) {
  auto it = jobs_.find(job_id);
  if (it == jobs_.end() || it->second->wait != Job::Wait::kWake) return;
  it->second->wait = Job::Wait::kNone;
  runnable_.push_back(it->second.get());
}

void PyLayer::Spawn(std::uint64_t python_job) {
  auto job = std::make_unique<Job>();
  job->kind = Job::Kind::kExecutor;
  job->id = next_job_++;
  job->python_job = python_job;
  runnable_.push_back(job.get());
  jobs_.emplace(job->id, std::move(job));
}

std::uint64_t PyLayer::CurrentJob() const {
  auto it = jobs_.find(t_job);
  return it != jobs_.end() && it->second->worker == Worker::Current() && Worker::Current() ? t_job : 0;
}

// ---------------------------------------------------------------------------------------------------
// The _pflab module

namespace {

PyLayer* LayerOf(unsigned long long token) {
  PyLayer* layer = PyLayer::Find(token);
  if (!layer) PyErr_SetString(PyExc_RuntimeError, "pflab: this policy's layer is gone (its run ended)");
  return layer;
}

PyObject* HostNow(PyObject*, PyObject* args) {
  unsigned long long token;
  if (!PyArg_ParseTuple(args, "K", &token)) return nullptr;
  PyLayer* layer = LayerOf(token);
  return layer ? PyLong_FromLongLong(layer->host()->Now()) : nullptr;
}

PyObject* HostFetchSync(PyObject*, PyObject* args) {
  unsigned long long token, begin, end;
  if (!PyArg_ParseTuple(args, "KKK", &token, &begin, &end)) return nullptr;
  PyLayer* layer = LayerOf(token);
  return layer ? layer->FetchSync(begin, end) : nullptr;
}

PyObject* HostFetchStart(PyObject*, PyObject* args) {
  unsigned long long token, begin, end, parts;
  if (!PyArg_ParseTuple(args, "KKKK", &token, &begin, &end, &parts)) return nullptr;
  PyLayer* layer = LayerOf(token);
  if (!layer) return nullptr;
  const auto max_parts = static_cast<std::uint32_t>(std::min<unsigned long long>(parts, 1u << 20));
  return PyLong_FromUnsignedLongLong(layer->host()->Fetch({begin, std::max(begin, end)}, max_parts));
}

PyObject* HostFetchCancel(PyObject*, PyObject* args) {
  unsigned long long token, fetch;
  if (!PyArg_ParseTuple(args, "KK", &token, &fetch)) return nullptr;
  if (PyLayer* layer = PyLayer::Find(token)) layer->host()->CancelFetch(fetch);
  Py_RETURN_NONE;
}

PyObject* HostSuspend(PyObject*, PyObject* args) {
  unsigned long long token;
  if (!PyArg_ParseTuple(args, "K", &token)) return nullptr;
  PyLayer* layer = LayerOf(token);
  if (!layer || !layer->SuspendForWake()) return nullptr;
  Py_RETURN_NONE;
}

PyObject* HostWake(PyObject*, PyObject* args) {
  unsigned long long token, job;
  if (!PyArg_ParseTuple(args, "KK", &token, &job)) return nullptr;
  if (PyLayer* layer = PyLayer::Find(token)) layer->Wake(job);
  Py_RETURN_NONE;
}

PyObject* HostSpawn(PyObject*, PyObject* args) {
  unsigned long long token, job;
  if (!PyArg_ParseTuple(args, "KK", &token, &job)) return nullptr;
  PyLayer* layer = LayerOf(token);
  if (!layer) return nullptr;
  layer->Spawn(job);
  Py_RETURN_NONE;
}

PyObject* HostCurrent(PyObject*, PyObject*) {
  PyLayer* layer = PyLayer::Current();
  PyObject* state = layer ? layer->state() : nullptr;
  if (!state) Py_RETURN_NONE;
  Py_INCREF(state);
  return state;
}

PyObject* HostCurrentJob(PyObject*, PyObject*) {
  PyLayer* layer = PyLayer::Current();
  return PyLong_FromUnsignedLongLong(layer ? layer->CurrentJob() : 0);
}

PyObject* HostRelease(PyObject*, PyObject* args) {
  unsigned long long token, data;
  if (!PyArg_ParseTuple(args, "KK", &token, &data)) return nullptr;
  if (PyLayer* layer = PyLayer::Find(token)) layer->host()->DataRelease(data);
  Py_RETURN_NONE;
}

PyMethodDef kMethods[] = {
    {"now", HostNow, METH_VARARGS, "now(token): the run's clock in nanoseconds"},
    {"fetch_sync", HostFetchSync, METH_VARARGS, "fetch_sync(token, start, end): bytes, waiting for them"},
    {"fetch_start", HostFetchStart, METH_VARARGS, "fetch_start(token, start, end, parts): a fetch id"},
    {"fetch_cancel", HostFetchCancel, METH_VARARGS, "fetch_cancel(token, fetch)"},
    {"suspend", HostSuspend, METH_VARARGS, "suspend(token): waits until woken"},
    {"wake", HostWake, METH_VARARGS, "wake(token, job)"},
    {"spawn", HostSpawn, METH_VARARGS, "spawn(token, job): runs executor job `job` on a worker"},
    {"current", HostCurrent, METH_NOARGS, "current(): the state of the layer whose Python runs now"},
    {"current_job", HostCurrentJob, METH_NOARGS, "current_job(): the job on this worker, or 0"},
    {"release", HostRelease, METH_VARARGS, "release(token, data): drops fetched data"},
    {nullptr, nullptr, 0, nullptr},
};

PyModuleDef kModule = {PyModuleDef_HEAD_INIT,
                       "_pflab",
                       "pflab's Python bridge (internal)",
                       -1,
                       kMethods,
                       nullptr,
                       nullptr,
                       nullptr,
                       nullptr};

}  // namespace

PyObject* InitHostModule() {
  return PyModule_Create(&kModule);
}

}  // namespace pflab::python
