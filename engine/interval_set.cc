#include "engine/interval_set.h"

#include <algorithm>
#include <cassert>
#include <iterator>

namespace pflab {

IntervalSet::IntervalSet(std::size_t max_block) : max_block_(std::max<std::size_t>(max_block, 2)) {}

std::uint64_t IntervalSet::Add(ByteRange r) {
  assert(!r.empty());
  // The first block holding an interval that ends at or after r.begin: the first one r may touch.
  std::size_t k =
      static_cast<std::size_t>(std::lower_bound(last_end_.begin(), last_end_.end(), r.begin) - last_end_.begin());
  if (k == blocks_.size()) {
    // After every interval, not touching any: appended to the last block (or the first one).
    if (blocks_.empty()) {
      blocks_.emplace_back();
      last_end_.push_back(0);
    }
    k = blocks_.size() - 1;
    blocks_[k].push_back(r);
    last_end_[k] = r.end;
    ++size_;
    SplitIfFull(k);
    return r.size();
  }
  std::vector<ByteRange>& first = blocks_[k];
  const auto at = std::lower_bound(first.begin(), first.end(), r.begin,
                                   [](const ByteRange& d, std::uint64_t begin) { return d.end < begin; });
  const auto index = static_cast<std::ptrdiff_t>(at - first.begin());
  // Every interval from (k, index) on that begins at or before r.end merges with r; intervals never
  // touch, so none after the last of them can reach the merged end. They may run into later blocks.
  ByteRange merged = r;
  std::uint64_t had = 0;  // bytes of the merged intervals
  std::size_t removed = 0;
  std::size_t kk = k;
  auto from = at;
  for (;;) {
    std::vector<ByteRange>& block = blocks_[kk];
    auto to = from;
    while (to != block.end() && to->begin <= r.end) {
      had += to->size();
      merged.begin = std::min(merged.begin, to->begin);
      merged.end = std::max(merged.end, to->end);
      ++to;
    }
    removed += static_cast<std::size_t>(to - from);
    const bool more = to == block.end() && kk + 1 < blocks_.size() && blocks_[kk + 1].front().begin <= r.end;
    block.erase(from, to);
    if (!more) break;
    ++kk;
    from = blocks_[kk].begin();
  }
  // Blocks after k that the merge emptied go; block k takes the merged interval where its first
  // merged one was (or where r belongs, when it merged with none).
  if (kk > k) {
    std::size_t gone_end = k + 1;
    while (gone_end <= kk && blocks_[gone_end].empty()) ++gone_end;
    blocks_.erase(blocks_.begin() + static_cast<std::ptrdiff_t>(k + 1),
                  blocks_.begin() + static_cast<std::ptrdiff_t>(gone_end));
    last_end_.erase(last_end_.begin() + static_cast<std::ptrdiff_t>(k + 1),
                    last_end_.begin() + static_cast<std::ptrdiff_t>(gone_end));
  }
  blocks_[k].insert(blocks_[k].begin() + index, merged);
  size_ = size_ - removed + 1;
  // A later block that lost only its front keeps its last end; block k's may have changed.
  last_end_[k] = blocks_[k].back().end;
  SplitIfFull(k);
  return merged.size() - had;
}

void IntervalSet::SplitIfFull(std::size_t k) {
  if (blocks_[k].size() <= max_block_) return;
  std::vector<ByteRange>& block = blocks_[k];
  const auto half = block.begin() + static_cast<std::ptrdiff_t>(block.size() / 2);
  std::vector<ByteRange> upper;
  upper.reserve(max_block_ + 1);  // room to grow back to a split without reallocating
  upper.assign(half, block.end());
  block.erase(half, block.end());
  const std::uint64_t upper_end = upper.back().end;
  last_end_[k] = block.back().end;
  blocks_.insert(blocks_.begin() + static_cast<std::ptrdiff_t>(k + 1), std::move(upper));
  last_end_.insert(last_end_.begin() + static_cast<std::ptrdiff_t>(k + 1), upper_end);
}

std::vector<ByteRange> IntervalSet::ranges() const {
  std::vector<ByteRange> out;
  out.reserve(size_);
  for (const auto& block : blocks_) out.insert(out.end(), block.begin(), block.end());
  return out;
}

}  // namespace pflab
