// Builds policy stacks from spec strings such as
//   fsspec-readahead(blocksize=5MiB) > gcsfs-v795 > concurrent(parts=4)
//
// Layers are listed top (nearest the application) to bottom. The bottom is always the concurrent
// fetcher; when the spec does not name one, it is appended with the settings the original client
// would use: a gcsfs prefetcher's `concurrency` and split rule (GCSFile passes its concurrency to both),
// otherwise one request per read (fsspec's plain fetcher).
//
// The registry holds no per-policy code: each policy describes itself in a PolicyEntry
// (policies/policy_entry.h) defined in its own file pair, and registry.cc lists the entry functions.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "engine/concurrent_fetcher.h"
#include "engine/source.h"
#include "policies/policy_entry.h"

namespace pflab::policies {

/// One `name(key=value,...)` element of a stack spec.
struct LayerSpec {
  std::string name;
  std::map<std::string, std::string> params;
};

/// A parsed stack spec; `text` is the spec as the user wrote it (used as the policy's label).
struct StackSpec {
  std::string text;
  std::vector<LayerSpec> layers;
};

/// Parses one stack spec (layers separated by '>').
Result<StackSpec> ParseStackSpec(std::string_view text);
/// Parses a comma-separated list of stack specs (commas inside parentheses belong to parameters).
Result<std::vector<StackSpec>> ParsePolicyList(std::string_view text);

/// Every registered policy, in the order `pflab policies` lists them.
const std::vector<PolicyEntry>& RegisteredPolicies();
/// The registered policy called `name`, or null.
const PolicyEntry* FindPolicy(std::string_view name);

/// An instantiated stack; owns its layers and tears them down top first.
class PolicyStack {
 public:
  PolicyStack() = default;
  ~PolicyStack();
  PolicyStack(const PolicyStack&) = delete;
  PolicyStack& operator=(const PolicyStack&) = delete;

  Source* top() const { return layers_.front().get(); }
  ConcurrentFetcher* fetcher() const { return fetcher_; }

 private:
  friend Result<std::unique_ptr<PolicyStack>> BuildStack(const StackSpec&, const StackEnv&);
  std::vector<std::unique_ptr<Source>> layers_;  // top first
  ConcurrentFetcher* fetcher_ = nullptr;
};

/// Checks a spec (names, parameters, layer order) without building anything.
Status ValidateStack(const StackSpec& spec);
/// The spec as it will be built: every layer with all its parameters written out, defaults included,
/// and the fetcher appended when the spec names none, e.g. `gcsfs-v795` ->
/// `gcsfs-v795(concurrency=1,max=256MiB,streak=2,min_chunk=5MiB) > concurrent(parts=1,min=5MiB,rule=v795)`.
/// Parsing it gives the same stack.
Result<std::string> CanonicalSpec(const StackSpec& spec);
Result<std::unique_ptr<PolicyStack>> BuildStack(const StackSpec& spec, const StackEnv& env);

}  // namespace pflab::policies
