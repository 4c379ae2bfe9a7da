// fsspec BackgroundBlockCache ("background"): a block cache that fetches the block after each read in
// the background.
//
// Origin: fsspec/filesystem_spec, fsspec/caching.py, class BackgroundBlockCache, master 669de5e1
// (added in fsspec 2023.3.0, so not in Debian's 2022.11). Defaults: blocksize 5 MiB
// (AbstractBufferedFile.DEFAULT_BLOCK_SIZE), maxblocks 32 (the constructor's default).
//
// Rules for a read [s, e) (e clamped to the size), in fsspec's order:
// 1. If a background block is pending: if it has completed, insert it into the LRU now; if it has not
//    and the read needs it (s//bs <= block <= e//bs), wait for it, then insert it. Otherwise leave it.
// 2. Visit blocks s//bs .. e//bs (note e//bs: a block-aligned end fetches the next block too,
//    synchronously; fsspec#2150 proposes a fix) in ascending order through an LRU of maxblocks blocks
//    (UpdatableLRU): a hit becomes most recently used, a missing block k is fetched alone as
//    [k*bs, k*bs + bs), one request at a time, and inserted.
// 3. If no background block is pending (a completed one counts as pending until step 1 of a later
//    read takes it), block k = e//bs + 1 satisfies k <= nblocks = ceil(size/bs), and k is not cached:
//    fetch k in the background. At most one background block is ever pending.
// 4. Serve the read by visiting s//bs .. e//bs through the LRU again (fsspec's _read_cache); a block
//    evicted since step 2 (a read spanning more than maxblocks blocks) is fetched again.
// The background fetch is a request to the layer below that stays in flight while the application
// works (fsspec runs it on a one-thread executor); a sync fetch can be in flight at the same time, so
// this layer must sit directly on the fetcher.
//
// Differences from fsspec: requests are clamped to the object size. A block entirely at or past EOF
// (block nblocks, which step 3 can pick, or the extra block of step 2 at the end of a block-aligned
// file) would be an empty request after clamping; we do not send it, and treat it as an empty block
// that arrived at once (it still takes the single background slot until a later read joins it). A
// failed background fetch fails the read that joins it, as in fsspec; fsspec then keeps the failed
// future and fails every later read, we drop it after that one failure. Counters as fsspec master:
// hit +1 per read, miss +1 per block fetched, sync or background. Memory: at most maxblocks blocks,
// plus the pending background block and the blocks of the read in progress.
#pragma once

#include <cstdint>

#include "policies/fsspec_block_lru.h"
#include "policies/fsspec_blockcache.h"
#include "policies/policy_entry.h"
#include "policies/policy_layer.h"

namespace pflab::policies {

/// fsspec BackgroundBlockCache as a policy layer; takes BlockCacheOptions.
class FsspecBackground final : public PolicyLayer {
 public:
  FsspecBackground(LayerContext ctx, Source* lower, BlockCacheOptions options)
      : PolicyLayer(ctx, lower), options_(options), lru_(options.maxblocks) {}
  ~FsspecBackground() override;

  ReadId Read(ByteRange range, ReadCallback done) override;
  void Cancel(ReadId id) override;
  const char* name() const override { return "fsspec-background"; }

  std::uint64_t hits() const { return hits_; }
  std::uint64_t misses() const { return misses_; }
  const BlockLru& blocks() const { return lru_; }
  /// The pending background block, or -1 when none.
  std::int64_t background_block() const {
    return bg_state_ == BgState::kNone ? -1 : static_cast<std::int64_t>(bg_block_);
  }

 private:
  enum class BgState { kNone, kInFlight, kDone, kFailed };

  // Takes a completed background block into the LRU; a failed one fails the read.
  bool JoinBackground();
  // Step 2 then 3 then 4 from where the read left off.
  void Step();
  void MaybeStartBackground();
  void OnBackground(Result<Slices>&& result);
  void Complete(Result<Slices> result);

  BlockCacheOptions options_;
  BlockLru lru_;
  std::uint64_t hits_ = 0;
  std::uint64_t misses_ = 0;
  ReadId next_id_ = 1;

  BgState bg_state_ = BgState::kNone;
  std::uint64_t bg_block_ = 0;
  ReadId bg_lower_ = 0;
  Slices bg_data_;
  Error bg_error_;

  // The one read in progress.
  ReadId pending_id_ = 0;
  ReadId pending_lower_ = 0;
  bool waiting_bg_ = false;
  bool in_read_call_ = false;
  ByteRange range_;
  std::uint64_t first_block_ = 0;
  std::uint64_t last_block_ = 0;
  std::uint64_t next_block_ = 0;
  int pass_ = 1;      // 1: step 2; 2: step 4
  Slices collected_;  // whole blocks first_block_ .. next_block_-1 of pass 2
  ReadCallback done_;
};

/// The `fsspec-background` entry.
PolicyEntry FsspecBackgroundEntry();

}  // namespace pflab::policies
