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

#include <functional>
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

/// Every built-in policy, in the order `pflab policies` lists them.
const std::vector<PolicyEntry>& RegisteredPolicies();
/// The policy called `name`: built-in, added with RegisterPolicy, or a family member resolved earlier;
/// null otherwise (ResolvePolicy also resolves family members).
const PolicyEntry* FindPolicy(std::string_view name);

// Policies from outside the built-ins: C++ plugins (plugins/plugin_loader.h) add entries, and families
// add whole name spaces resolved on first use, such as `py:FILE.py:CLASS` for Python classes. Entries
// live until the process ends (pointers to them stay valid); adding is thread-safe.

/// Policies whose names start with `prefix`, each resolved the first time a spec names it.
struct PolicyFamily {
  std::string prefix;       ///< e.g. "py:"
  std::string syntax;       ///< how a spec names a member, e.g. "py:FILE.py:CLASS(key=value,...)"
  std::string description;  ///< for `pflab policies`
  /// The entry of the member called `name` (which starts with `prefix`), or why there is none.
  std::function<Result<PolicyEntry>(const std::string& name)> resolve;
};

/// Adds a policy; fails when a built-in, an added policy or a family prefix already claims the name.
Status RegisterPolicy(PolicyEntry entry);
/// Adds a family; fails when another family has the same prefix.
Status RegisterPolicyFamily(PolicyFamily family);
/// The built-in policies, then the added ones, in the order they were added.
std::vector<const PolicyEntry*> AllPolicies();
/// The registered families (their resolvers included), in the order they were added.
std::vector<PolicyFamily> PolicyFamilies();
/// The entry for `name`, resolving it through its family the first time (then kept); fails with the
/// known names, or with the family's reason, when there is none.
Result<const PolicyEntry*> ResolvePolicy(std::string_view name);
/// Whether runs of `spec` must go one at a time in this process (a layer's entry says so); false for a
/// spec that does not resolve.
bool RunsOneAtATime(const StackSpec& spec);
/// Whether a layer of `spec` delivers copies of its bytes made outside the engine (PolicyEntry::copies_bytes).
bool CopiesBytes(const StackSpec& spec);

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
