// Whether this pflab was built with the Python bridge, in a library of its own (pflab_python_build)
// with no dependencies, so the configure-and-build check of a build without Python development files
// (make test-no-python) compiles two files rather than pflab.
#pragma once

namespace pflab::plugins {

/// Whether the Python bridge was built (libpython3.11-dev present when this build was configured).
bool PythonBridgeBuilt();

/// What a py: spec says in a pflab built without the bridge.
const char* PythonNotBuiltMessage();

}  // namespace pflab::plugins
