// A shared "is the owner still alive?" flag for callbacks that may outlive the object that issued them.
//
// Policy layers, the fetcher and the transport decorators hand a copy to every callback and posted
// task; a callback that runs after its owner was destroyed sees the flag cleared and does nothing. This
// is what std::shared_ptr<bool> did, without the atomic reference count: a simulated read copies and
// drops such flags several times, and once a process has started a thread (a sweep's --jobs) every
// std::shared_ptr count change is a locked instruction. All copies must be made and dropped on the
// scheduler's thread, which is where engine and policy code runs. HttpTransport's workers only move
// the callbacks they were handed (under its mutex, into tasks posted back to the scheduler's thread),
// so those may hold flags; anything another thread would copy or drop must use std::shared_ptr.
#pragma once

#include <cstdint>
#include <utility>

namespace pflab {

/// A reference-counted bool with a non-atomic count; single-threaded by contract.
class AliveFlag {
 public:
  /// A new flag, set.
  static AliveFlag Make() { return AliveFlag(new Block{1, true}); }

  AliveFlag() = default;
  AliveFlag(const AliveFlag& other) noexcept : block_(other.block_) {
    if (block_) ++block_->refs;
  }
  AliveFlag(AliveFlag&& other) noexcept : block_(std::exchange(other.block_, nullptr)) {}
  AliveFlag& operator=(AliveFlag other) noexcept {
    std::swap(block_, other.block_);
    return *this;
  }
  ~AliveFlag() {
    if (block_ && --block_->refs == 0) delete block_;
  }

  /// The flag itself: read by callbacks, cleared by the owner's destructor.
  bool& operator*() const { return block_->alive; }

 private:
  struct Block {
    std::uint32_t refs;
    bool alive;
  };
  explicit AliveFlag(Block* block) : block_(block) {}
  Block* block_ = nullptr;
};

}  // namespace pflab
