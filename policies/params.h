// Typed access to a policy's `name(key=value,...)` parameters, with errors that say what is allowed.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "engine/result.h"

namespace pflab::policies {

/// Parameters of one policy spec. Each Take* call consumes a key; Finish() rejects leftovers, so a
/// misspelt parameter is an error rather than a silently ignored default.
class Params {
 public:
  Params(std::string policy, std::map<std::string, std::string> values)
      : policy_(std::move(policy)), values_(std::move(values)) {}

  /// A byte count such as 5MiB; `fallback` when absent.
  Result<std::uint64_t> TakeSize(const std::string& key, std::uint64_t fallback);
  Result<std::uint64_t> TakeUint(const std::string& key, std::uint64_t fallback);
  Result<bool> TakeBool(const std::string& key, bool fallback);
  /// The raw text; `fallback` when absent.
  Result<std::string> TakeString(const std::string& key, const std::string& fallback);
  /// One of `allowed`.
  Result<std::string> TakeChoice(const std::string& key, const std::vector<std::string>& allowed,
                                 const std::string& fallback);
  /// Fails if any key was not taken, naming it and the keys the policy accepts.
  Status Finish() const;

 private:
  Error Bad(const std::string& key, const std::string& why) const;

  std::string policy_;
  std::map<std::string, std::string> values_;
  std::set<std::string> taken_;
};

}  // namespace pflab::policies
