// Loading policies from outside pflab: C++ plugins (`--plugin lib.so`) and the Python bridge, which is
// itself a plugin, loaded the first time a spec names a `py:` policy.
//
// Nothing here runs unless asked: a plugin is opened by LoadPlugin, and the Python bridge (and with it
// the Python interpreter) only when a `py:` spec is resolved, so runs of built-in policies neither load
// libpython nor pay for it.
#pragma once

#include <string>
#include <vector>

#include "engine/result.h"
#include "plugins/python_build.h"

namespace pflab::plugins {

/// Opens the shared library at `path` and registers its policies and families. Fails, naming the
/// file, when it cannot be opened, lacks the entry points, was built against another plugin API
/// version, or registers a name that is taken. Loading the same file again does nothing.
Status LoadPlugin(const std::string& path);

/// Registers the `py:` family (idempotent): `py:FILE.py:CLASS(key=value,...)` (or `py:MODULE:CLASS`)
/// loads the Python bridge when first resolved. See docs/own_policy.md.
void EnablePythonPolicies();

/// Where the Python bridge is looked for, in order: $PFLAB_PYTHON_BRIDGE when set, else next to the
/// executable (the build folder), then in the install's library folder (PREFIX/lib/pflab).
std::vector<std::string> PythonBridgeCandidates();

}  // namespace pflab::plugins
