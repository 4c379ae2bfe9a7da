// The block store shared by fsspec-blockcache and fsspec-background: whole blocks keyed by block
// number, least recently used first out.
//
// It reproduces the two LRUs fsspec uses for blocks: functools.lru_cache(maxblocks) in BlockCache and
// UpdatableLRU(maxblocks) in BackgroundBlockCache (fsspec/caching.py, master 669de5e1). Both move a
// key to the most recent end on a hit, insert a fetched block at the most recent end only after its
// fetch returned (a failed fetch caches nothing), and evict the least recently used block once they
// hold more than `capacity`. `Contains` is UpdatableLRU.is_key_cached: it does not touch the order.
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <unordered_map>
#include <utility>
#include <vector>

#include "engine/buffer.h"

namespace pflab::policies {

class BlockLru {
 public:
  explicit BlockLru(std::size_t capacity) : capacity_(capacity) {}

  /// The block's slices, marked most recently used; nullptr when absent.
  const Slices* Get(std::uint64_t block) {
    auto it = index_.find(block);
    if (it == index_.end()) return nullptr;
    order_.splice(order_.end(), order_, it->second);
    return &it->second->second;
  }
  bool Contains(std::uint64_t block) const { return index_.count(block) != 0; }
  /// Inserts (or replaces, keeping its place, as an OrderedDict assignment does) and evicts beyond capacity.
  void Put(std::uint64_t block, Slices data) {
    auto it = index_.find(block);
    if (it != index_.end()) {
      it->second->second = std::move(data);
      return;
    }
    order_.emplace_back(block, std::move(data));
    index_[block] = std::prev(order_.end());
    while (order_.size() > capacity_) {
      index_.erase(order_.front().first);
      order_.pop_front();
    }
  }
  std::size_t size() const { return order_.size(); }
  /// Block numbers, least recently used first (for tests).
  std::vector<std::uint64_t> Order() const {
    std::vector<std::uint64_t> out;
    for (const auto& [block, data] : order_) out.push_back(block);
    return out;
  }

 private:
  std::size_t capacity_;
  std::list<std::pair<std::uint64_t, Slices>> order_;  // least recently used first
  std::unordered_map<std::uint64_t, std::list<std::pair<std::uint64_t, Slices>>::iterator> index_;
};

}  // namespace pflab::policies
