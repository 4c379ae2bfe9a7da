// The Python bridge as a pflab plugin: it registers the `py:` family, whose members are Python classes
// (see python_bridge/runtime.py for the two protocols and docs/own_policy.md for how to write one).
//
// pflab loads this library (libpflab_python.so) only when a spec names a py: policy, so pflab itself
// never links libpython (plugins/plugin_loader.h).
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "pflab/plugin.h"
#include "python_bridge/interpreter.h"
#include "python_bridge/python_layer.h"

namespace pflab::python {
namespace {

constexpr std::uint32_t kPrefetcherParts = 64;  // the most parts a prefetcher's split_factor gets

// Converts a layer's parameters: `pflab_*` ones set the layer's limits, the others become the class's
// keyword arguments (sizes and integers as int, true/false as bool, quoted text as str without its
// quotes, anything else as str). Returns null with `*error` set; call with the GIL held.
PyObject* ToKwargs(const plugin::Params& params, PyLayerLimits* limits, std::string* error) {
  Ref kwargs(PyDict_New());
  if (!kwargs) {
    *error = TakePythonError();
    return nullptr;
  }
  for (std::size_t i = 0; i < params.Count(); ++i) {
    const std::string key = params.Key(i);
    const std::string text = params.Value(i);
    if (key.rfind("pflab_", 0) == 0) {
      std::int64_t ns = 0;
      if (key != "pflab_watchdog" && key != "pflab_read_deadline") {
        *error = "unknown setting " + key + " (the bridge takes pflab_watchdog and pflab_read_deadline)";
        return nullptr;
      }
      if (!params.ValueAsDuration(i, &ns) || ns <= 0) {
        *error = key + "=" + text + ": expected a positive duration such as 500ms or 30s";
        return nullptr;
      }
      if (key == "pflab_watchdog") limits->watchdog = std::chrono::nanoseconds(ns);
      if (key == "pflab_read_deadline") limits->read_deadline_ns = ns;
      continue;
    }
    Ref value;
    std::uint64_t number = 0;
    if (params.ValueAsNumber(i, &number)) {
      value = Ref(PyLong_FromUnsignedLongLong(number));
    } else if (text == "true" || text == "false") {
      value = Ref(PyBool_FromLong(text == "true"));
    } else if (text.size() >= 2 && (text.front() == '\'' || text.front() == '"') && text.back() == text.front()) {
      value = Ref(PyUnicode_FromStringAndSize(text.data() + 1, static_cast<Py_ssize_t>(text.size() - 2)));
    } else {
      value = Ref(PyUnicode_FromStringAndSize(text.data(), static_cast<Py_ssize_t>(text.size())));
    }
    if (!value || PyDict_SetItemString(kwargs.get(), key.c_str(), value.get()) != 0) {
      *error = key + "=" + text + ": " + TakePythonError();
      return nullptr;
    }
  }
  return kwargs.release();
}

// Makes layers of one py: class.
class PyFactory final : public plugin::Factory {
 public:
  explicit PyFactory(PyClass cls) : cls_(std::move(cls)) {}

  const char* Check(const plugin::Params& params) override {
    std::string error;
    Interpreter* interpreter = Interpreter::Get(&error);
    if (!interpreter) return Keep(error);
    std::lock_guard lock(interpreter->mutex());
    if (!interpreter->poisoned().empty()) return Keep(interpreter->poisoned());
    Gil gil;
    PyLayerLimits limits;
    Ref kwargs(ToKwargs(params, &limits, &error));
    if (!kwargs) return Keep(error);
    interpreter->watchdog().Begin(limits.watchdog);
    Ref checked(
        PyObject_CallMethod(interpreter->runtime(), "check_arguments", "sO", cls_.target.c_str(), kwargs.get()));
    const bool fired = interpreter->watchdog().End();
    if (!checked) return Keep(TakePythonError());
    if (fired) return Keep("checking the arguments ran past the watchdog");
    return nullptr;
  }

  plugin::Layer* Create(plugin::Host* host, const plugin::Params& params) override {
    std::string error;
    Interpreter* interpreter = Interpreter::Get(&error);
    if (!interpreter) return nullptr;
    std::lock_guard lock(interpreter->mutex());
    PyLayerLimits limits;
    Ref kwargs;
    {
      Gil gil;
      kwargs = Ref(ToKwargs(params, &limits, &error));
      if (!kwargs) kwargs = Ref(PyDict_New());  // Check reported it; a layer still comes into being
    }
    return new PyLayer(host, cls_, std::move(kwargs), limits);
  }

 private:
  const char* Keep(std::string message) {
    message_ = std::move(message);
    return message_.c_str();
  }

  PyClass cls_;
  std::string message_;
};

// The py: family.
class PyFamily final : public plugin::Family {
 public:
  const char* Resolve(const char* name, plugin::PolicyInfo* info, plugin::Factory** factory) override {
    std::lock_guard family_lock(mutex_);
    const std::string full = name;
    const std::string target = full.substr(3);  // after "py:"
    std::string error;
    Interpreter* interpreter = Interpreter::Get(&error);
    if (!interpreter) return Keep(error);
    std::lock_guard lock(interpreter->mutex());
    if (!interpreter->poisoned().empty()) return Keep(interpreter->poisoned());
    std::string protocol, doc;
    {
      Gil gil;
      interpreter->watchdog().Begin(std::chrono::seconds(60));
      Ref described(PyObject_CallMethod(interpreter->runtime(), "describe", "s", target.c_str()));
      const bool fired = interpreter->watchdog().End();
      if (!described) return Keep(full + ": " + TakePythonError());
      if (fired) return Keep(full + ": loading the class ran past the watchdog (60 s)");
      const char* p = nullptr;
      const char* d = nullptr;
      if (!PyArg_ParseTuple(described.get(), "ss", &p, &d)) return Keep(full + ": " + TakePythonError());
      protocol = p;
      doc = d;
    }
    auto& slot = factories_[full];
    if (!slot) slot = std::make_unique<PyFactory>(PyClass{full, target, protocol});
    origin_ = "Python class " + target + " (" +
              (protocol == "cache" ? "fsspec cache protocol" : "gcsfs-style prefetcher") + ")";
    description_ = doc.empty() ? "(the class has no docstring)" : doc;
    *info = plugin::PolicyInfo{};
    info->name = name;
    info->origin = origin_.c_str();
    info->description = description_.c_str();
    // A prefetcher keeps several fetches in flight, which only the fetcher accepts; a cache makes one
    // at a time, like fsspec's, and may sit over any layer.
    info->placement = protocol == "cache" ? plugin::Placement::kAnywhere : plugin::Placement::kOnFetcher;
    info->any_params = true;
    info->fetcher_parts = protocol == "cache" ? 0 : kPrefetcherParts;
    info->one_run_at_a_time = true;
    *factory = slot.get();
    return nullptr;
  }

 private:
  const char* Keep(std::string message) {
    message_ = std::move(message);
    return message_.c_str();
  }

  std::mutex mutex_;
  std::map<std::string, std::unique_ptr<PyFactory>> factories_;  // kept for the process: layers use them
  std::string origin_, description_, message_;
};

}  // namespace
}  // namespace pflab::python

PFLAB_PLUGIN(registrar) {
  static auto* family = new pflab::python::PyFamily;  // lives as long as the process
  registrar->AddFamily("py:", "py:FILE.py:CLASS(key=value,...)", "Python policies", family);
}
