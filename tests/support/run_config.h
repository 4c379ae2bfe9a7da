// What the whole-run tests share: a run's configuration from a trace, a stack spec and a network
// profile, and the registered policies that run with their defaults.
#pragma once

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "policies/registry.h"
#include "replay/simulation.h"
#include "sim/network_model.h"

namespace pflab::testing {

/// A run of `trace` through the stack `policy` on the network profile `profile`, with every delivered
/// byte checked against the object's content; REQUIREs that the spec parses and the profile exists.
inline replay::SimulationConfig RunConfig(const traces::Trace& trace, const std::string& policy,
                                          const std::string& profile = "gcs-regional") {
  replay::SimulationConfig c;
  c.trace = &trace;
  auto spec = policies::ParseStackSpec(policy);
  REQUIRE(spec.ok());
  c.policy = *spec;
  auto p = sim::FindProfile(profile);
  REQUIRE(p.ok());
  c.profile_name = profile;
  c.profile = *p;
  c.verify_bytes = true;
  return c;
}

/// Every registered policy, by name, that runs any trace with its defaults: all but fsspec-parts,
/// which without its parts parameter fails every read by design (its own tests give it parts).
inline std::vector<std::string> DefaultPolicies() {
  std::vector<std::string> out;
  for (const auto& p : policies::RegisteredPolicies()) {
    if (p.name != "fsspec-parts") out.push_back(p.name);
  }
  return out;
}

}  // namespace pflab::testing
