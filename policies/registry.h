// Builds policy stacks from spec strings such as
//   fsspec-readahead(blocksize=5MiB) > gcsfs-v795 > concurrent(parts=4)
//
// Layers are listed top (nearest the application) to bottom. The bottom is always the concurrent
// fetcher; when the spec does not name one, it is appended with the settings the original client
// would use: a gcsfs prefetcher's `concurrency` and split rule (GCSFile passes its concurrency to both),
// otherwise one request per read (fsspec's plain fetcher).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "engine/concurrent_fetcher.h"
#include "engine/source.h"
#include "engine/transport.h"
#include "policies/oracle_planner.h"

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

/// One parameter of a registered policy, for `pflab policies`.
struct ParamInfo {
  std::string name;
  std::string default_value;
  std::string description;
};

/// A registered policy: its name, where it comes from, and its parameters.
struct PolicyInfo {
  std::string name;
  std::string origin;
  std::string description;
  std::vector<ParamInfo> params;
};

const std::vector<PolicyInfo>& RegisteredPolicies();

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
  friend Result<std::unique_ptr<PolicyStack>> BuildStack(const StackSpec&, const struct StackEnv&);
  std::vector<std::unique_ptr<Source>> layers_;  // top first
  ConcurrentFetcher* fetcher_ = nullptr;
};

/// Everything a stack needs from the run.
struct StackEnv {
  LayerContext ctx;
  Transport* transport = nullptr;
  ObjectRef object;
  MemoryAccount* account = nullptr;
  std::uint64_t seed = 1;
  /// The reads this stack will be asked for, in order (from the trace): only `oracle` uses them.
  std::shared_ptr<const std::vector<ByteRange>> future_reads;
  /// The think time before each of those reads (same length), for the oracle's planner.
  std::shared_ptr<const std::vector<Nanos>> future_think_ns;
  /// What the oracle's planner may know of the network: the profile's distributions.
  NetworkSummary network;
  /// The largest peak memory of any policy in the same comparison (0: unknown). The oracle's default
  /// memory budget is at least this, so a budget never excuses losing to a policy of the comparison.
  std::uint64_t comparison_peak_memory_bytes = 0;
  /// How many (stream, object) stacks the run has in all (the oracle plans one; see oracle_planner.h).
  std::uint32_t stacks_in_run = 1;
};

/// Checks a spec (names, parameters, layer order) without building anything.
Status ValidateStack(const StackSpec& spec);
Result<std::unique_ptr<PolicyStack>> BuildStack(const StackSpec& spec, const StackEnv& env);

}  // namespace pflab::policies
