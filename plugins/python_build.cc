#include "plugins/python_build.h"

#ifndef PFLAB_PYTHON_BRIDGE
#define PFLAB_PYTHON_BRIDGE 0
#endif

namespace pflab::plugins {

bool PythonBridgeBuilt() {
  return PFLAB_PYTHON_BRIDGE != 0;
}

const char* PythonNotBuiltMessage() {
  return "py: policies need Python, and this pflab was built without the Python bridge (libpython3.11-dev was "
         "missing when it was configured): install it (scripts/setup.sh does), configure and build again";
}

}  // namespace pflab::plugins
