// What the stacks of one run share: the run's memory account and per-run state that a policy keeps
// across its stacks.
#pragma once

#include <map>
#include <memory>
#include <typeindex>
#include <utility>

#include "engine/buffer.h"

namespace pflab::policies {

/// Shared by every stack of one run (every open file of one client), owned by the run and outliving
/// all its stacks. A policy that budgets memory across open files reads the run's account here (the
/// engine's ledger of every buffer held, not the policy's own count); a policy that learns something
/// once per client (e.g. the network's latency) keeps it in a `Get<T>()` object, one per type.
class RunShared {
 public:
  explicit RunShared(MemoryAccount* account) : account_(account) {}
  RunShared(const RunShared&) = delete;
  RunShared& operator=(const RunShared&) = delete;

  /// The run's account: what all stacks hold together.
  MemoryAccount* account() const { return account_; }

  /// The run's one object of type T, made from `args` on first use (later calls ignore them).
  template <typename T, typename... Args>
  T& Get(Args&&... args) {
    std::shared_ptr<void>& slot = slots_[std::type_index(typeid(T))];
    if (!slot) slot = std::make_shared<T>(std::forward<Args>(args)...);
    return *static_cast<T*>(slot.get());
  }

 private:
  MemoryAccount* account_;
  std::map<std::type_index, std::shared_ptr<void>> slots_;
};

}  // namespace pflab::policies
