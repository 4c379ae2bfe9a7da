#include "python_bridge/interpreter.h"

#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <vector>

#include "engine/sanitizers.h"
#include "python_bridge/python_layer.h"

#ifndef PFLAB_PYTHON_HOME
#define PFLAB_PYTHON_HOME "/usr"
#endif

namespace pflab::embedded {
extern const std::string_view kPythonRuntime;
}  // namespace pflab::embedded

namespace pflab::python {
namespace {

Interpreter* g_interpreter = nullptr;  // set once started; never destroyed

std::string StatusText(const PyStatus& status) {
  std::string out = status.err_msg ? status.err_msg : "unknown error";
  if (status.func) out = std::string(status.func) + ": " + out;
  return out;
}

// A new reference to `name` of `module`, or null with `*error` set.
PyObject* Attribute(PyObject* module, const char* name, std::string* error) {
  PyObject* value = PyObject_GetAttrString(module, name);
  if (!value) *error = "the bridge's runtime has no " + std::string(name) + ": " + TakePythonError();
  return value;
}

}  // namespace

std::string TakePythonError() {
  PyObject *type = nullptr, *value = nullptr, *traceback = nullptr;
  PyErr_Fetch(&type, &value, &traceback);
  if (!type) return "unknown Python error";
  PyErr_NormalizeException(&type, &value, &traceback);
  if (traceback && value) PyException_SetTraceback(value, traceback);
  Ref owned_type(type), owned_value(value), owned_traceback(traceback);
  std::string text;
  if (g_interpreter && g_interpreter->runtime() && value) {
    Ref formatted(PyObject_CallMethod(g_interpreter->runtime(), "format_exception", "O", value));
    if (formatted) {
      if (const char* utf8 = PyUnicode_AsUTF8(formatted.get())) text = utf8;
    }
    PyErr_Clear();
  }
  if (text.empty() && value) {
    Ref str(PyObject_Str(value));
    const char* utf8 = str ? PyUnicode_AsUTF8(str.get()) : nullptr;
    text = std::string(reinterpret_cast<PyTypeObject*>(type)->tp_name) + ": " + (utf8 ? utf8 : "?");
    PyErr_Clear();
  }
  return text;
}

// ---------------------------------------------------------------------------------------------------
// Interpreter

Interpreter* Interpreter::Running() {
  return g_interpreter;
}

Interpreter* Interpreter::Get(std::string* error) {
  static std::mutex mutex;
  static std::string start_error;
  static bool tried = false;
  std::lock_guard lock(mutex);
  if (!tried) {
    tried = true;
    auto* interpreter = new Interpreter;  // never destroyed: policy objects may outlive any one run
    if (interpreter->Start(&start_error)) g_interpreter = interpreter;
  }
  if (!g_interpreter) *error = "cannot start the Python interpreter: " + start_error;
  return g_interpreter;
}

bool Interpreter::Start(std::string* error) {
  if (Py_IsInitialized()) {
    *error = "Python is already running in this process";
    return false;
  }
  if (PyImport_AppendInittab("_pflab", &InitHostModule) != 0) {
    *error = "cannot add the _pflab module";
    return false;
  }
  PyPreConfig pre;
  PyPreConfig_InitIsolatedConfig(&pre);
#ifdef PFLAB_HAS_ASAN
  pre.allocator = PYMEM_ALLOCATOR_MALLOC;  // so the sanitizer sees Python's allocations as they are
#endif
  PyStatus status = Py_PreInitialize(&pre);
  if (PyStatus_Exception(status)) {
    *error = StatusText(status);
    return false;
  }
  PyConfig config;
  PyConfig_InitIsolatedConfig(&config);
  config.install_signal_handlers = 0;
  config.use_hash_seed = 1;
  config.hash_seed = 0;
  config.write_bytecode = 0;
  config.parse_argv = 0;
  config.site_import = 1;
  config.user_site_directory = 0;
  status = PyConfig_SetBytesString(&config, &config.home, PFLAB_PYTHON_HOME);
  if (!PyStatus_Exception(status)) status = PyConfig_SetBytesString(&config, &config.program_name, "pflab");
  if (!PyStatus_Exception(status)) status = Py_InitializeFromConfig(&config);
  PyConfig_Clear(&config);
  if (PyStatus_Exception(status)) {
    *error = StatusText(status) + " (Python home " + PFLAB_PYTHON_HOME + ")";
    return false;
  }
  // The GIL is ours until the end of this function.
  const std::string source(embedded::kPythonRuntime);
  {
    Ref code(Py_CompileString(source.c_str(), "python_bridge/runtime.py", Py_file_input));
    if (code) runtime_ = PyImport_ExecCodeModuleEx("pflab", code.get(), "python_bridge/runtime.py");
  }
  if (!runtime_) {
    PyObject *type, *value, *traceback;
    PyErr_Fetch(&type, &value, &traceback);
    PyErr_Restore(type, value, traceback);
    *error = "loading the bridge's runtime failed: ";
    // The runtime is not there to format the traceback; print it.
    PyErr_Print();
    *error += "see the traceback above";
  }
  if (runtime_) {
    policy_aborted_ = Attribute(runtime_, "PolicyAborted", error);
    policy_timeout_ = Attribute(runtime_, "PolicyTimeout", error);
    fetch_error_ = Attribute(runtime_, "FetchError", error);
    fetched_bytes_ = Attribute(runtime_, "FetchedBytes", error);
  }
  const bool ok = runtime_ && policy_aborted_ && policy_timeout_ && fetch_error_ && fetched_bytes_;
  if (ok) {
    watchdog_.SetException(policy_timeout_);
    g_interpreter = this;  // TakePythonError formats with the runtime from now on
  }
  PyEval_SaveThread();
  return ok;
}

}  // namespace pflab::python
