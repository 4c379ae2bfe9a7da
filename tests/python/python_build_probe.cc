// Prints whether this build has the Python bridge, and what a py: spec says when it has not: the
// configure-and-build check of a build without Python (make test-no-python) runs it.
#include <cstdio>

#include "plugins/python_build.h"

int main() {
  if (pflab::plugins::PythonBridgeBuilt()) {
    std::printf("the Python bridge is built\n");
  } else {
    std::printf("%s\n", pflab::plugins::PythonNotBuiltMessage());
  }
  return 0;
}
