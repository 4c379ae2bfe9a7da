// A set of byte intervals that stays fast with millions of them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "engine/byte_range.h"

namespace pflab {

/// Disjoint byte intervals that never touch, in order: what a chunk read at a million random places
/// has delivered. The sorted list is cut into blocks of at most `max_block` intervals, found by a
/// binary search over the blocks' last ends (one contiguous array), so that adding an interval
/// searches a few cache lines and moves at most one block's entries. A std::map node per interval
/// cost a cache miss at every level of the tree: four fifths of a random-read run over a 64 GiB
/// object held whole (fsspec-all).
class IntervalSet {
 public:
  explicit IntervalSet(std::size_t max_block = 256);

  /// Adds `r` (non-empty), merged with every interval it overlaps or touches. Returns how many of its
  /// bytes were not in the set before.
  std::uint64_t Add(ByteRange r);
  /// Intervals held.
  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  /// Every interval, in order.
  std::vector<ByteRange> ranges() const;

 private:
  // Keeps block k no larger than max_block_ by moving its upper half into a new block after it.
  void SplitIfFull(std::size_t k);

  std::size_t max_block_;
  std::vector<std::vector<ByteRange>> blocks_;  // none empty; each sorted, all in order
  std::vector<std::uint64_t> last_end_;         // blocks_[k].back().end, for the search
  std::size_t size_ = 0;
};

}  // namespace pflab
