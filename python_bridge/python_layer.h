// One Python policy object as a plugin layer (include/pflab/plugin.h), and the `_pflab` module through
// which its Python side reaches pflab.
//
// A read runs the policy's `_fetch` (constructing the object first, at the first read) as a job on a
// worker (python_bridge/worker.h). When the policy waits for the network, in fsspec's blocking
// `fetcher(start, end)` or in `fsspec.asyn.sync`, its worker suspends and the engine moves on; the
// fetch's completion, or the loop iteration that completes the awaited future, makes the worker
// runnable again, and the engine runs it before returning from that event. `asyncio.to_thread` jobs
// run on workers the same way. Runnable workers run in the order they became runnable.
//
// The layer's VirtualLoop (python_bridge/runtime.py) is driven by one timer on the pflab scheduler,
// set after every piece of Python to when the loop next has work: now when callbacks are ready, else
// the earliest timer. Each firing runs one loop iteration.
//
// Failures. An exception out of `_fetch` fails that read with the traceback; the object keeps going,
// as a file object would. An exception in a loop callback (or an unretrieved task exception) fails the
// layer: the read in progress and every later one fail with that traceback, and its Python side is torn
// down. So does the watchdog firing. Destroying the layer (end of the run, or a read past its deadline)
// raises PolicyAborted into any suspended call, cancels the loop's tasks and lets them unwind.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>

#include "pflab/plugin.h"
#include "python_bridge/interpreter.h"
#include "python_bridge/worker.h"

namespace pflab::python {

/// The `_pflab` module's init function (registered before the interpreter starts).
PyObject* InitHostModule();

/// A resolved py: class: its target ("FILE.py:CLASS" or "MODULE:CLASS") and protocol.
struct PyClass {
  std::string name;    // the spec name, "py:..."
  std::string target;  // without "py:"
  std::string protocol;
};

/// Settings of a layer from its `pflab_*` parameters (the rest go to the class).
struct PyLayerLimits {
  std::chrono::nanoseconds watchdog = std::chrono::seconds(30);  // pflab_watchdog: wall clock per piece of Python
  std::int64_t read_deadline_ns = 0;                             // pflab_read_deadline; 0: the host's default
};

/// One Python policy object, as a layer.
class PyLayer final : public plugin::Layer {
 public:
  PyLayer(plugin::Host* host, const PyClass& cls, Ref kwargs, PyLayerLimits limits);
  ~PyLayer() override;

  void Read(plugin::ReadId id, plugin::Range range) override;
  void Cancel(plugin::ReadId id) override;
  void OnFetched(plugin::FetchId id, plugin::Data data, const plugin::Failure* failure) override;
  void OnTimer(plugin::TimerId id) override;

  /// The layer whose Python runs now (the engine sets it before each piece), or null.
  static PyLayer* Current();
  /// The layer with `token`, or null when it is gone.
  static PyLayer* Find(std::uint64_t token);

  // For the _pflab module (GIL held).
  plugin::Host* host() const { return host_; }
  PyObject* state() const { return state_.get(); }
  /// A blocking fetch from the current worker's job; returns new bytes or null with an exception set.
  PyObject* FetchSync(std::uint64_t begin, std::uint64_t end);
  /// Suspends the current worker's job until woken (a future it waits on is done); false with
  /// PolicyAborted set when the layer stops it instead.
  bool SuspendForWake();
  /// The job with id `job` may go on.
  void Wake(std::uint64_t job);
  /// Starts executor job `job` of the Python side once the current piece of Python ends.
  void Spawn(std::uint64_t job);
  /// The id of the job running on this worker (0 when not on a worker of this layer).
  std::uint64_t CurrentJob() const;
  /// Turns fetched data into FetchedBytes holding it (new reference), or null with an exception set.
  PyObject* ToBytes(plugin::Data data);

 private:
  struct Job {
    enum class Kind { kRead, kExecutor };
    enum class Wait { kNone, kFetch, kWake };
    Kind kind = Kind::kRead;
    std::uint64_t id = 0;  // ours; for executor jobs also the Python side's job id
    std::uint64_t python_job = 0;
    plugin::ReadId read = 0;
    plugin::Range range;
    Worker* worker = nullptr;
    bool started = false;
    bool abort = false;
    Wait wait = Wait::kNone;
    plugin::FetchId fetch = 0;
    plugin::Data fetched;  // a blocking fetch's bytes, handed over on resume
    std::optional<std::string> fetch_error;
    std::uint32_t fetch_code = 0;
    bool fetch_retryable = false;
    Ref result;                        // a read's bytes
    std::optional<std::string> error;  // a read's failure
    bool timed_out = false;
  };

  // Runs runnable jobs (in order) until none is; finishes those that ended; then puts the loop's timer
  // where its next work is and takes up failures the loop recorded. The engine-side end of every call.
  void Settle();
  void RunJob(Job* job);
  void FinishJob(Job* job);
  void ScheduleLoop();
  // Fails the layer for good with `why` (see the file comment).
  void FailLayer(const std::string& why);
  // Stops every job (PolicyAborted at their suspension points) and tears the Python side down.
  void StopPython();
  // Runs `call` as engine-thread Python for this layer, with the GIL and the watchdog; false when the
  // watchdog fired.
  template <typename F>
  bool OnEngine(F&& call);
  std::string Label() const { return cls_.name; }

  plugin::Host* host_;
  PyClass cls_;
  PyLayerLimits limits_;
  std::uint64_t token_;
  Ref state_;
  std::optional<std::string> failed_;
  std::uint64_t next_job_ = 1;
  std::map<std::uint64_t, std::unique_ptr<Job>> jobs_;
  std::deque<Job*> runnable_;
  std::unordered_map<plugin::FetchId, Job*> blocking_fetches_;
  plugin::TimerId loop_timer_ = 0;
  std::int64_t loop_timer_at_ = -1;
  bool stopping_ = false;
};

}  // namespace pflab::python
