#include "policies/fsspec_background.h"

#include <algorithm>
#include <utility>

namespace pflab::policies {

PolicyEntry FsspecBackgroundEntry() {
  return EntryBuilder<BlockCacheOptions>(
             "fsspec-background", "fsspec BackgroundBlockCache (fsspec/caching.py, master 669de5e1; not in 2022.11)",
             "blocks s//bs..e//bs through an LRU, then block e//bs+1 fetched in the background (one at a time); must "
             "sit on the fetcher")
      .Place(Placement::kOnFetcher)
      .Size("blocksize", &BlockCacheOptions::blocksize, "block size (AbstractBufferedFile.DEFAULT_BLOCK_SIZE)",
            AtLeast(1))
      .Uint("maxblocks", &BlockCacheOptions::maxblocks, "blocks kept (UpdatableLRU size)", AtLeast(1))
      .Builds<FsspecBackground>()
      .Done();
}

FsspecBackground::~FsspecBackground() {
  *alive_ = false;
  if (bg_state_ == BgState::kInFlight) lower_->Cancel(bg_lower_);
  if (pending_lower_ != 0) lower_->Cancel(pending_lower_);
}

ReadId FsspecBackground::Read(ByteRange range, ReadCallback done) {
  const ReadId id = next_id_++;
  if (!ClampToObject(range, done)) return id;
  ++hits_;  // fsspec's _read_cache counts every read as a hit
  pending_id_ = id;
  range_ = range;
  first_block_ = range.begin / options_.blocksize;
  last_block_ = range.end / options_.blocksize;
  next_block_ = first_block_;
  pass_ = 1;
  collected_.clear();
  done_ = std::move(done);
  in_read_call_ = true;
  // Step 1.
  if (bg_state_ == BgState::kInFlight && first_block_ <= bg_block_ && bg_block_ <= last_block_) {
    waiting_bg_ = true;  // OnBackground continues the read
  } else if (JoinBackground()) {
    Step();
  }
  in_read_call_ = false;
  return id;
}

bool FsspecBackground::JoinBackground() {
  if (bg_state_ == BgState::kDone) {
    lru_.Put(bg_block_, std::move(bg_data_));
    bg_data_.clear();
    bg_state_ = BgState::kNone;
  } else if (bg_state_ == BgState::kFailed) {
    bg_state_ = BgState::kNone;
    Complete(bg_error_);
    return false;
  }
  return true;
}

void FsspecBackground::Step() {
  const std::uint64_t bs = options_.blocksize;
  const std::uint64_t size = lower_->size();
  for (;;) {
    while (next_block_ <= last_block_) {
      if (const Slices* block = lru_.Get(next_block_)) {
        if (pass_ == 2) {
          for (const auto& s : *block) collected_.push_back(s);
        }
        ++next_block_;
        continue;
      }
      ++misses_;
      const ByteRange fetch{std::min(size, next_block_ * bs), std::min(size, next_block_ * bs + bs)};
      if (fetch.empty()) {  // the block past the end of a block-aligned file: nothing to send
        lru_.Put(next_block_, Slices{});
        ++next_block_;
        continue;
      }
      pending_lower_ = FetchBelow(fetch, 0, [this](Result<Slices>&& result) {
        pending_lower_ = 0;
        if (!result.ok()) {
          Complete(std::move(result));
          return;
        }
        if (pass_ == 2) {
          for (const auto& s : *result) collected_.push_back(s);
        }
        lru_.Put(next_block_, std::move(*result));
        ++next_block_;
        Step();
      });
      return;
    }
    if (pass_ == 2) break;
    MaybeStartBackground();  // step 3
    pass_ = 2;
    next_block_ = first_block_;
  }
  Complete(SubSlices(collected_, range_.begin - first_block_ * bs, range_.size()));
}

void FsspecBackground::MaybeStartBackground() {
  const std::uint64_t bs = options_.blocksize;
  const std::uint64_t size = lower_->size();
  const std::uint64_t nblocks = (size + bs - 1) / bs;
  const std::uint64_t next = last_block_ + 1;
  if (bg_state_ != BgState::kNone || next > nblocks || lru_.Contains(next)) return;
  ++misses_;
  bg_block_ = next;
  const ByteRange fetch{std::min(size, next * bs), std::min(size, next * bs + bs)};
  if (fetch.empty()) {  // block nblocks lies past EOF: an empty block, there at once
    bg_state_ = BgState::kDone;
    bg_data_.clear();
    return;
  }
  bg_state_ = BgState::kInFlight;
  bg_lower_ = FetchBelow(fetch, 0, [this](Result<Slices>&& result) { OnBackground(std::move(result)); });
}

void FsspecBackground::OnBackground(Result<Slices>&& result) {
  bg_lower_ = 0;
  if (result.ok()) {
    bg_state_ = BgState::kDone;
    bg_data_ = std::move(*result);
  } else {
    bg_state_ = BgState::kFailed;
    bg_error_ = result.error();
  }
  if (!waiting_bg_) return;
  waiting_bg_ = false;
  if (JoinBackground()) Step();
}

void FsspecBackground::Complete(Result<Slices> result) {
  pending_id_ = 0;
  collected_.clear();
  Deliver(std::move(done_), std::move(result), in_read_call_);
}

void FsspecBackground::Cancel(ReadId id) {
  if (id == 0 || id != pending_id_) return;
  if (waiting_bg_) {
    // The background fetch is not this read's: leave it in flight for a later read to join.
    waiting_bg_ = false;
    pending_id_ = 0;
    CompleteLater(std::move(done_), Cancelled("read cancelled while waiting for the background block"));
    return;
  }
  if (pending_lower_ != 0) lower_->Cancel(pending_lower_);
}

}  // namespace pflab::policies
