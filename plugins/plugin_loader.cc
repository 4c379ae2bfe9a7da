#include "plugins/plugin_loader.h"

#include <dlfcn.h>

#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <optional>
#include <set>

#include "engine/sanitizers.h"
#include "pflab/plugin.h"
#include "plugins/plugin_entry.h"
#include "plugins/python_build.h"
#include "policies/registry.h"

#ifdef PFLAB_HAS_ASAN
#include <sanitizer/lsan_interface.h>
#endif

#ifndef PFLAB_PLUGIN_RELATIVE_DIR
#define PFLAB_PLUGIN_RELATIVE_DIR "../lib/pflab"
#endif

namespace pflab::plugins {
namespace {

namespace fs = std::filesystem;

constexpr const char* kBridgeFile = "libpflab_python.so";
constexpr const char* kPythonPrefix = "py:";

using ApiVersionFn = std::uint32_t (*)();
using RegisterFn = void (*)(plugin::Registrar*);

// The entry of family member `name`, as the plugin's family describes it.
Result<policies::PolicyEntry> ResolveMember(plugin::Family* family, const std::string& name) {
  plugin::PolicyInfo info;
  plugin::Factory* factory = nullptr;
  if (const char* why = family->Resolve(name.c_str(), &info, &factory)) return InvalidArgument(why);
  info.name = name.c_str();  // the member is called what the spec called it
  return MakePluginEntry(info, factory);
}

// What a plugin registers with. Errors are collected and reported once registration returns.
class HostRegistrar final : public plugin::Registrar {
 public:
  // With `python_family` set, a family registered under "py:" is handed back there instead of being
  // registered (the host registered "py:" itself, to load the bridge on first use).
  HostRegistrar(std::string source, plugin::Family** python_family = nullptr)
      : source_(std::move(source)), python_family_(python_family) {}

  std::uint32_t HostApiVersion() override { return plugin::kApiVersion; }

  void AddPolicy(const plugin::PolicyInfo& info, plugin::Factory* factory) override {
    auto entry = MakePluginEntry(info, factory);
    if (!entry) {
      errors_.push_back(entry.error().message);
      return;
    }
    entry->origin += (entry->origin.empty() ? "" : " ") + std::string("[plugin ") + source_ + "]";
    if (auto status = policies::RegisterPolicy(std::move(*entry)); !status) errors_.push_back(status.error().message);
  }

  void AddFamily(const char* prefix, const char* syntax, const char* description, plugin::Family* family) override {
    const std::string p = prefix ? prefix : "";
    if (python_family_ && p == kPythonPrefix) {
      *python_family_ = family;
      return;
    }
    if (!family || !IsSpecName(p)) {
      errors_.push_back("family '" + p + "' has no resolver or a prefix a spec cannot hold");
      return;
    }
    policies::PolicyFamily f;
    f.prefix = p;
    f.syntax = syntax ? syntax : p + "...";
    f.description = std::string(description ? description : "") + " [plugin " + source_ + "]";
    f.resolve = [family](const std::string& name) { return ResolveMember(family, name); };
    if (auto status = policies::RegisterPolicyFamily(std::move(f)); !status) errors_.push_back(status.error().message);
  }

  Status Outcome() const {
    if (errors_.empty()) return OkStatus();
    std::string all;
    for (const std::string& e : errors_) all += (all.empty() ? "" : "; ") + e;
    return InvalidArgument(source_ + ": " + all);
  }

 private:
  std::string source_;
  plugin::Family** python_family_;
  std::vector<std::string> errors_;
};

// Opens `path` and runs its registration; `python_family` as for HostRegistrar.
Status OpenAndRegister(const std::string& path, int flags, plugin::Family** python_family) {
  void* handle = dlopen(path.c_str(), flags);
  if (!handle) {
    const char* why = dlerror();
    return InvalidArgument(path + ": cannot load the plugin: " + (why ? why : "unknown error"));
  }
  auto version = reinterpret_cast<ApiVersionFn>(dlsym(handle, "pflab_plugin_api_version"));
  auto register_fn = reinterpret_cast<RegisterFn>(dlsym(handle, "pflab_plugin_register"));
  if (!version || !register_fn) {
    dlclose(handle);
    return InvalidArgument(path +
                           ": not a pflab plugin (no pflab_plugin_api_version/pflab_plugin_register: define "
                           "PFLAB_PLUGIN from pflab/plugin.h)");
  }
  if (const std::uint32_t v = version(); v != plugin::kApiVersion) {
    dlclose(handle);
    return InvalidArgument(path + ": built against plugin API version " + std::to_string(v) +
                           ", this pflab speaks version " + std::to_string(plugin::kApiVersion) +
                           ": rebuild the plugin with this pflab's include/pflab/plugin.h");
  }
  // The library stays loaded for the process: its policies are registered now.
  HostRegistrar registrar(path, python_family);
  register_fn(&registrar);
  return registrar.Outcome();
}

std::string ExecutableDir() {
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  return ec ? std::string() : exe.parent_path().string();
}

// The Python bridge's family, loaded once; the error is kept and repeated when loading failed.
Result<plugin::Family*> PythonFamily() {
  static std::mutex mutex;
  static std::optional<Result<plugin::Family*>> loaded;
  std::lock_guard lock(mutex);
  if (loaded) return *loaded;
  if (!PythonBridgeBuilt()) {
    loaded = Error{ErrorCode::kFailedPrecondition, PythonNotBuiltMessage(), false};
    return *loaded;
  }
  std::string tried;
  for (const std::string& path : PythonBridgeCandidates()) {
    std::error_code ec;
    if (!fs::is_regular_file(path, ec)) {
      tried += (tried.empty() ? "" : ", ") + path;
      continue;
    }
    plugin::Family* family = nullptr;
#ifdef PFLAB_HAS_ASAN
    // LeakSanitizer cannot walk the dynamic TLS that libpython brings in (GCC 12's crashes at exit:
    // "Tracer caught signal 11" on a bogus DTLS range), and scanning without TLS reports false leaks.
    // So a sanitizer process that loads the bridge checks for leaks now, before Python is there, and
    // not at exit (this call also turns the exit check off).
    __lsan_do_leak_check();
#endif
    // RTLD_GLOBAL: Python's own extension modules (asyncio, ctypes, ...) find libpython's symbols
    // through the global scope, as they do in a python executable.
    if (auto status = OpenAndRegister(path, RTLD_NOW | RTLD_GLOBAL, &family); !status) {
      loaded = status.error();
    } else if (!family) {
      loaded = Internal(path + ": the Python bridge registered no py: family");
    } else {
      loaded = family;
    }
    return *loaded;
  }
  loaded = Error{ErrorCode::kNotFound,
                 std::string("py: policies need the Python bridge ") + kBridgeFile + ", which is not in " + tried +
                     " (set PFLAB_PYTHON_BRIDGE to its path)",
                 false};
  return *loaded;
}

}  // namespace

std::vector<std::string> PythonBridgeCandidates() {
  if (const char* path = std::getenv("PFLAB_PYTHON_BRIDGE"); path && *path) return {path};
  const std::string dir = ExecutableDir();
  if (dir.empty()) return {};
  return {(fs::path(dir) / kBridgeFile).string(),
          (fs::path(dir) / PFLAB_PLUGIN_RELATIVE_DIR / kBridgeFile).lexically_normal().string()};
}

Status LoadPlugin(const std::string& path) {
  static std::mutex mutex;
  static std::set<std::string> loaded;
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) return InvalidArgument(path + ": no such plugin file");
  const std::string key = fs::canonical(path, ec).string();
  std::lock_guard lock(mutex);
  if (loaded.count(key)) return OkStatus();
  // A relative path is opened as a path, not searched for in the library path.
  const std::string open = path.find('/') == std::string::npos ? "./" + path : path;
  if (auto status = OpenAndRegister(open, RTLD_NOW | RTLD_LOCAL, nullptr); !status) return status;
  loaded.insert(key);
  return OkStatus();
}

void EnablePythonPolicies() {
  static std::once_flag once;
  std::call_once(once, [] {
    policies::PolicyFamily family;
    family.prefix = kPythonPrefix;
    family.syntax = "py:FILE.py:CLASS(key=value,...)";
    family.description =
        "a Python class run in an embedded CPython on the run's clock: an fsspec cache, cls(blocksize, fetcher, "
        "size, **kwargs) with _fetch(start, end), or a gcsfs-style prefetcher, cls(fetcher, size, **kwargs) with "
        "an async fetcher(offset, size, split_factor) and _fetch or fetch(start, end); py:MODULE:CLASS takes "
        "an installed module (e.g. py:fsspec.caching:BlockCache); see docs/own_policy.md";
    family.resolve = [](const std::string& name) -> Result<policies::PolicyEntry> {
      auto python = PythonFamily();
      if (!python) return Error{python.error().code, name + ": " + python.error().message, false};
      return ResolveMember(*python, name);
    };
    (void)policies::RegisterPolicyFamily(std::move(family));
  });
}

}  // namespace pflab::plugins
