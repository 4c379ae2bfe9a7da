// A plugin built against a plugin API that pflab does not speak: loading it must fail, saying so.
#include <cstdint>

#include "pflab/plugin.h"

extern "C" __attribute__((visibility("default"))) std::uint32_t pflab_plugin_api_version() {
  return pflab::plugin::kApiVersion + 1;
}
extern "C" __attribute__((visibility("default"))) void pflab_plugin_register(pflab::plugin::Registrar*) {}
