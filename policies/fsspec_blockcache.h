// fsspec BlockCache ("blockcache"; registry key "block" in fsspec 2022.11).
//
// Origin: fsspec/filesystem_spec, fsspec/caching.py, class BlockCache, master 669de5e1 (the request
// rule after fsspec#1984). Defaults: blocksize 5 MiB (AbstractBufferedFile.DEFAULT_BLOCK_SIZE),
// maxblocks 32 (the constructor's default).
//
// Rules. A read [s, e) (e clamped to the file size) needs blocks s//bs .. (e-1)//bs, visited in
// ascending order. A cached block is a hit and becomes most recently used; a missing block k is
// fetched on its own, [k*bs, k*bs + bs), one request per block, one at a time (fsspec calls its
// fetcher synchronously), and inserted into an LRU of `maxblocks` blocks (functools.lru_cache),
// evicting the least recently used. A read spanning more than maxblocks blocks still completes: the
// blocks it already holds stay alive until it does.
//
// Difference from fsspec in the request only: fsspec asks for the last block unclamped, past EOF; we
// clamp it to the file size (the Source contract), which moves the same bytes.
// 2022.11 differs (blocks s//bs .. e//bs and a second pass): see research/gcsfs_fsspec.md section 2.
// Counters as fsspec master counts them: hits +1 per read, misses +1 per block fetched.
// Memory: at most maxblocks * blocksize, plus the blocks of the read in progress.
#pragma once

#include <cstdint>
#include <string>

#include "engine/units.h"
#include "policies/fsspec_block_lru.h"
#include "policies/policy_entry.h"
#include "policies/policy_layer.h"

namespace pflab::policies {

/// Parameters of fsspec-blockcache and fsspec-background.
struct BlockCacheOptions {
  std::uint64_t blocksize = 5 * kMiB;  // AbstractBufferedFile.DEFAULT_BLOCK_SIZE
  std::uint64_t maxblocks = 32;        // BlockCache / BackgroundBlockCache maxblocks default
  bool operator==(const BlockCacheOptions&) const = default;
};

/// The `fsspec-blockcache` entry.
PolicyEntry FsspecBlockCacheEntry();

/// fsspec BlockCache as a policy layer.
class FsspecBlockCache final : public PolicyLayer {
 public:
  FsspecBlockCache(LayerContext ctx, Source* lower, BlockCacheOptions options)
      : PolicyLayer(ctx, lower), options_(options), lru_(options.maxblocks) {}

  ReadId Read(ByteRange range, ReadCallback done) override;
  void Cancel(ReadId id) override;
  const char* name() const override { return "fsspec-blockcache"; }

  std::uint64_t hits() const { return hits_; }
  std::uint64_t misses() const { return misses_; }
  const BlockLru& blocks() const { return lru_; }

 private:
  // Visits the read's blocks from next_block_ on; fetches the first missing one or completes.
  void Step();
  // Ends the read with `result`: Result<Slices>, or the read's Slices (moved once when served in place).
  template <typename R>
  void Complete(R&& result);

  BlockCacheOptions options_;
  BlockLru lru_;
  std::uint64_t hits_ = 0;
  std::uint64_t misses_ = 0;
  ReadId next_id_ = 1;
  // The one read in progress.
  ReadId pending_id_ = 0;
  ReadId pending_lower_ = 0;
  bool in_read_call_ = false;  // Step runs inside Read(): completion must be posted
  ByteRange range_;
  std::uint64_t next_block_ = 0;
  std::uint64_t last_block_ = 0;
  Slices collected_;  // blocks first_block .. next_block_-1, whole
  ReadCallback done_;
};

}  // namespace pflab::policies
