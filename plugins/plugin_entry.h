// The registry entry of a policy described by a plugin (include/pflab/plugin.h): its parameters are
// parsed, checked and printed like a built-in policy's, and its layers are PluginLayers.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "pflab/plugin.h"
#include "policies/policy_entry.h"

namespace pflab::plugins {

/// A plugin layer's parameter values as text: the declared parameters in their order (each written as
/// `pflab policies` prints it), or, for a policy taking any key=value, exactly what the spec gave, in
/// key order.
struct PluginValues {
  std::vector<std::pair<std::string, std::string>> values;
  bool operator==(const PluginValues&) const = default;
};

/// The entry for `info` (strings copied) whose layers `factory` makes. Fails, saying why, when the
/// description cannot work: a name a spec cannot hold, a parameter without a name, a default its own
/// kind or bounds reject, a choice parameter without choices.
Result<policies::PolicyEntry> MakePluginEntry(const plugin::PolicyInfo& info, plugin::Factory* factory);

/// A name that specs can hold: not empty, and without blanks, quotes, backslashes or any of ( ) , > =.
bool IsSpecName(const std::string& name);

}  // namespace pflab::plugins
