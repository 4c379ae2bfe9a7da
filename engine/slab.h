// A pool of reusable slots addressed by generation-tagged 64-bit ids.
//
// The scheduler, the fetcher and the simulated transport all hand out ids for things that live
// briefly (timers, reads, transfers) and must reject stale ids after a slot is reused. An id packs
// the slot index (low 32 bits, plus one so 0 is never valid) with the slot's generation (high 32).
#pragma once

#include <cstdint>
#include <vector>

namespace pflab {

/// Slots of T (which must have a `std::uint32_t generation` member), reused in LIFO order.
template <typename T>
class Slab {
 public:
  /// Returns a free slot's index, growing the pool when none is free. References into the slab
  /// are invalidated by growth.
  std::uint32_t Acquire() {
    if (!free_.empty()) {
      const std::uint32_t slot = free_.back();
      free_.pop_back();
      return slot;
    }
    items_.emplace_back();
    return static_cast<std::uint32_t>(items_.size() - 1);
  }
  /// Returns a slot to the pool and bumps its generation, so ids handed out for it go stale.
  void Release(std::uint32_t slot) {
    ++items_[slot].generation;
    free_.push_back(slot);
  }

  std::uint64_t IdOf(std::uint32_t slot) const {
    return (static_cast<std::uint64_t>(items_[slot].generation) << 32) | (static_cast<std::uint64_t>(slot) + 1);
  }
  /// The slot an id names while it is current; nullptr for 0, unknown or stale ids.
  T* Find(std::uint64_t id) {
    if (id == 0) return nullptr;
    const std::uint64_t slot = (id & 0xffffffffu) - 1;
    if (slot >= items_.size()) return nullptr;
    T& item = items_[slot];
    return item.generation == static_cast<std::uint32_t>(id >> 32) ? &item : nullptr;
  }

  T& operator[](std::uint32_t slot) { return items_[slot]; }
  const T& operator[](std::uint32_t slot) const { return items_[slot]; }
  std::uint32_t IndexOf(const T& item) const { return static_cast<std::uint32_t>(&item - items_.data()); }
  std::size_t size() const { return items_.size(); }
  auto begin() { return items_.begin(); }
  auto end() { return items_.end(); }

 private:
  std::vector<T> items_;
  std::vector<std::uint32_t> free_;
};

}  // namespace pflab
