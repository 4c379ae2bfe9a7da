#include "policies/fsspec_mmap.h"

#include <algorithm>
#include <utility>

namespace pflab::policies {

PolicyEntry FsspecMMapEntry() {
  return EntryBuilder<MMapOptions>("fsspec-mmap", "fsspec MMapCache (fsspec/caching.py, master 669de5e1)",
                                   "blocks s//bs..e//bs, each run of missing blocks one request, nothing evicted")
      .Size("blocksize", &MMapOptions::blocksize, "block size (AbstractBufferedFile.DEFAULT_BLOCK_SIZE)", AtLeast(1))
      .Builds<FsspecMMap>()
      .Done();
}

ReadId FsspecMMap::Read(ByteRange range, ReadCallback done) {
  const ReadId id = next_id_++;
  if (!ClampToObject(range, done)) return id;
  const std::uint64_t bs = options_.blocksize;
  runs_.clear();
  for (std::uint64_t k = range.begin / bs; k <= range.end / bs; ++k) {
    if (blocks_.contains(k)) {
      ++hits_;
    } else if (!runs_.empty() && runs_.back().second + 1 == k) {
      runs_.back().second = k;
    } else {
      runs_.emplace_back(k, k);
    }
  }
  pending_id_ = id;
  range_ = range;
  next_run_ = 0;
  done_ = std::move(done);
  in_read_call_ = true;
  Step();
  in_read_call_ = false;
  return id;
}

void FsspecMMap::Step() {
  const std::uint64_t bs = options_.blocksize;
  const std::uint64_t size = lower_->size();
  while (next_run_ < runs_.size()) {
    const auto [first, last] = runs_[next_run_];
    misses_ += last - first + 1;
    const ByteRange fetch{std::min(first * bs, size), std::min((last + 1) * bs, size)};
    if (fetch.empty()) {  // only the block past the end of a block-aligned file
      for (std::uint64_t k = first; k <= last; ++k) blocks_[k] = Slices{};
      ++next_run_;
      continue;
    }
    pending_lower_ = FetchBelow(fetch, 0, [this, fetch](Result<Slices>&& result) {
      pending_lower_ = 0;
      if (!result.ok()) {
        Complete(std::move(result));
        return;
      }
      const std::uint64_t bs = options_.blocksize;
      const std::uint64_t got = TotalLength(*result);
      const std::uint64_t first = runs_[next_run_].first;
      for (std::uint64_t k = first; k <= runs_[next_run_].second; ++k) {
        const std::uint64_t skip = std::min(got, k * bs - fetch.begin);
        blocks_[k] = SubSlices(*result, skip, std::min(bs, got - skip));
      }
      ++next_run_;
      Step();
    });
    return;
  }
  Slices out;
  std::uint64_t skip = range_.begin % bs;
  std::uint64_t left = range_.size();
  // Every block of the read is held now, so the blocks from the first one on are consecutive keys.
  for (std::uint64_t k = range_.begin / bs; left > 0; ++k) {
    auto it = blocks_.find(k);
    if (it == blocks_.end()) break;
    for (const auto& s : SubSlices(it->second, skip, std::min(left, TotalLength(it->second) - skip))) {
      left -= s.length;
      out.push_back(s);
    }
    skip = 0;
  }
  Complete(std::move(out));
}

void FsspecMMap::Complete(Result<Slices> result) {
  pending_id_ = 0;
  Deliver(std::move(done_), std::move(result), in_read_call_);
}

void FsspecMMap::Cancel(ReadId id) {
  if (id == 0 || id != pending_id_ || pending_lower_ == 0) return;
  lower_->Cancel(pending_lower_);
}

}  // namespace pflab::policies
