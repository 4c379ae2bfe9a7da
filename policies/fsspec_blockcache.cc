#include "policies/fsspec_blockcache.h"

#include <algorithm>
#include <utility>

namespace pflab::policies {

PolicyEntry FsspecBlockCacheEntry() {
  return EntryBuilder<BlockCacheOptions>(
             "fsspec-blockcache", "fsspec BlockCache (fsspec/caching.py, master 669de5e1; key 'block' in 2022.11)",
             "blocks s//bs..(e-1)//bs, one request per missing block, LRU of maxblocks blocks")
      .Size("blocksize", &BlockCacheOptions::blocksize, "block size (AbstractBufferedFile.DEFAULT_BLOCK_SIZE)",
            AtLeast(1))
      .Uint("maxblocks", &BlockCacheOptions::maxblocks, "blocks kept (functools.lru_cache size)", AtLeast(1))
      .Builds<FsspecBlockCache>()
      .Done();
}

ReadId FsspecBlockCache::Read(ByteRange range, ReadCallback done) {
  const ReadId id = next_id_++;
  if (!ClampToObject(range, done)) return id;
  ++hits_;  // fsspec's _read_cache counts every read as a hit
  pending_id_ = id;
  range_ = range;
  next_block_ = range.begin / options_.blocksize;
  last_block_ = (range.end - 1) / options_.blocksize;
  collected_.clear();
  done_ = std::move(done);
  in_read_call_ = true;
  Step();
  in_read_call_ = false;
  return id;
}

void FsspecBlockCache::Step() {
  const std::uint64_t bs = options_.blocksize;
  while (next_block_ <= last_block_) {
    if (const Slices* block = lru_.Get(next_block_)) {
      for (const auto& s : *block) collected_.push_back(s);
      ++next_block_;
      continue;
    }
    ++misses_;
    const ByteRange fetch{next_block_ * bs, std::min(lower_->size(), next_block_ * bs + bs)};
    pending_lower_ = FetchBelow(fetch, 0, [this](Result<Slices>&& result) {
      pending_lower_ = 0;
      if (!result.ok()) {
        Complete(std::move(result));
        return;
      }
      for (const auto& s : *result) collected_.push_back(s);
      lru_.Put(next_block_, std::move(*result));
      ++next_block_;
      Step();
    });
    return;
  }
  const std::uint64_t first = range_.begin / bs;
  Complete(SubSlices(collected_, range_.begin - first * bs, range_.size()));
}

template <typename R>
void FsspecBlockCache::Complete(R&& result) {
  pending_id_ = 0;
  collected_.clear();
  Deliver(std::move(done_), std::forward<R>(result), in_read_call_);
}

void FsspecBlockCache::Cancel(ReadId id) {
  if (id == 0 || id != pending_id_ || pending_lower_ == 0) return;
  // The lower layer completes its read with kCancelled, which Step's callback passes up.
  lower_->Cancel(pending_lower_);
}

}  // namespace pflab::policies
