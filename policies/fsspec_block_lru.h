// The block store shared by fsspec-blockcache and fsspec-background: whole blocks keyed by block
// number, least recently used first out.
//
// It reproduces the two LRUs fsspec uses for blocks: functools.lru_cache(maxblocks) in BlockCache and
// UpdatableLRU(maxblocks) in BackgroundBlockCache (fsspec/caching.py, master 669de5e1). Both move a
// key to the most recent end on a hit, insert a fetched block at the most recent end only after its
// fetch returned (a failed fetch caches nothing), and evict the least recently used block once they
// hold more than `capacity`. `Contains` is UpdatableLRU.is_key_cached: it does not touch the order.
//
// Layout: on random reads every read misses, inserts a block and evicts one, so the store is built to
// allocate nothing once it has held `capacity + 1` blocks. Entries live in a vector of slots linked in
// LRU order by index (an evicted slot is reused by the next insert), and a flat hash map gives a
// block's slot. An evicted block's slices are released at the moment of eviction, as before, so
// chunk releases (and the memory account) see the same order.
#pragma once

#include <boost/unordered/unordered_flat_map.hpp>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "engine/buffer.h"

namespace pflab::policies {

/// LRU of whole blocks (block number -> slices) with a fixed capacity.
class BlockLru {
 public:
  explicit BlockLru(std::size_t capacity) : capacity_(capacity) {}

  /// The block's slices, marked most recently used; nullptr when absent.
  const Slices* Get(std::uint64_t block) {
    // Sequential reads hit the most recent block many times in a row: no hash lookup, no move.
    if (tail_ != kNone && slots_[tail_].block == block) return &slots_[tail_].data;
    auto it = index_.find(block);
    if (it == index_.end()) return nullptr;
    const std::uint32_t slot = it->second;
    MoveToBack(slot);
    return &slots_[slot].data;
  }
  bool Contains(std::uint64_t block) const { return index_.contains(block); }
  /// Inserts (or replaces, keeping its place, as an OrderedDict assignment does) and evicts beyond capacity.
  void Put(std::uint64_t block, Slices&& data) {
    auto [it, inserted] = index_.try_emplace(block, kNone);
    if (!inserted) {
      slots_[it->second].data = std::move(data);
      return;
    }
    const std::uint32_t slot = TakeSlot();
    it->second = slot;
    slots_[slot].block = block;
    slots_[slot].data = std::move(data);
    LinkBack(slot);
    ++size_;
    while (size_ > capacity_) {
      const std::uint32_t oldest = head_;
      Unlink(oldest);
      index_.erase(slots_[oldest].block);
      slots_[oldest].data.clear();  // releases the block's chunks now, as erasing the entry did
      slots_[oldest].next = free_;
      free_ = oldest;
      --size_;
    }
  }
  std::size_t size() const { return size_; }
  /// Block numbers, least recently used first (for tests).
  std::vector<std::uint64_t> Order() const {
    std::vector<std::uint64_t> out;
    for (std::uint32_t s = head_; s != kNone; s = slots_[s].next) out.push_back(slots_[s].block);
    return out;
  }

 private:
  static constexpr std::uint32_t kNone = ~std::uint32_t{0};
  struct Slot {
    std::uint64_t block = 0;
    Slices data;
    std::uint32_t prev = kNone;
    std::uint32_t next = kNone;  // also links free slots
  };

  std::uint32_t TakeSlot() {
    if (free_ != kNone) {
      const std::uint32_t slot = free_;
      free_ = slots_[slot].next;
      return slot;
    }
    slots_.emplace_back();
    return static_cast<std::uint32_t>(slots_.size() - 1);
  }
  void LinkBack(std::uint32_t slot) {
    slots_[slot].prev = tail_;
    slots_[slot].next = kNone;
    if (tail_ != kNone) {
      slots_[tail_].next = slot;
    } else {
      head_ = slot;
    }
    tail_ = slot;
  }
  void Unlink(std::uint32_t slot) {
    const std::uint32_t prev = slots_[slot].prev;
    const std::uint32_t next = slots_[slot].next;
    if (prev != kNone) {
      slots_[prev].next = next;
    } else {
      head_ = next;
    }
    if (next != kNone) {
      slots_[next].prev = prev;
    } else {
      tail_ = prev;
    }
  }
  void MoveToBack(std::uint32_t slot) {
    if (slot == tail_) return;
    Unlink(slot);
    LinkBack(slot);
  }

  std::size_t capacity_;
  std::vector<Slot> slots_;  // entries and free slots
  boost::unordered_flat_map<std::uint64_t, std::uint32_t> index_;
  std::size_t size_ = 0;
  std::uint32_t head_ = kNone;  // least recently used
  std::uint32_t tail_ = kNone;  // most recently used
  std::uint32_t free_ = kNone;
};

}  // namespace pflab::policies
