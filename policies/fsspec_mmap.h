// fsspec MMapCache ("mmap").
//
// Origin: fsspec/filesystem_spec, fsspec/caching.py, class MMapCache, master 669de5e1. Default:
// blocksize 5 MiB (AbstractBufferedFile.DEFAULT_BLOCK_SIZE).
//
// Not a variant of fsspec-blockcache: MMapCache differs in storage (a sparse temporary file the size
// of the object plus the set of block numbers already written; nothing is ever evicted) and in its
// request logic:
// - a read [s, e) needs blocks s//bs .. e//bs (note e//bs, not (e-1)//bs: a block-aligned end pulls in
//   the next block too);
// - the missing ones are grouped into runs of consecutive block numbers, and each run is one request
//   [b0*bs, min((b1+1)*bs, size)), sent in ascending order, one at a time (master without a
//   multi_fetcher; 2022.11 sends one request per block instead).
// We keep the fetched bytes per block in memory instead of in a file; the requests are the same.
//
// Differences from fsspec: a run that lies entirely at or past EOF (the block after the last one of a
// block-aligned file) is empty after clamping; fsspec calls its fetcher with that empty range, we mark
// the block present without sending anything. fsspec marks a run's blocks as fetched before fetching
// it, so after a failed request it would later serve unwritten bytes; we mark them only on success.
// Counters as fsspec master counts them: hits += blocks already present, misses += blocks fetched.
// Memory: grows to the whole object (no eviction).
#pragma once

#include <boost/unordered/unordered_flat_map.hpp>
#include <cstdint>
#include <utility>
#include <vector>

#include "engine/units.h"
#include "policies/policy_entry.h"
#include "policies/policy_layer.h"

namespace pflab::policies {

/// Parameters of fsspec-mmap.
struct MMapOptions {
  std::uint64_t blocksize = 5 * kMiB;  // AbstractBufferedFile.DEFAULT_BLOCK_SIZE
  bool operator==(const MMapOptions&) const = default;
};

/// The `fsspec-mmap` entry.
PolicyEntry FsspecMMapEntry();

/// fsspec MMapCache as a policy layer.
class FsspecMMap final : public PolicyLayer {
 public:
  FsspecMMap(LayerContext ctx, Source* lower, MMapOptions options) : PolicyLayer(ctx, lower), options_(options) {}

  ReadId Read(ByteRange range, ReadCallback done) override;
  void Cancel(ReadId id) override;
  const char* name() const override { return "fsspec-mmap"; }

  std::uint64_t hits() const { return hits_; }
  std::uint64_t misses() const { return misses_; }
  std::size_t blocks_held() const { return blocks_.size(); }

 private:
  // Sends the next run or completes the read.
  void Step();
  void Complete(Result<Slices> result);

  MMapOptions options_;
  // Block number -> its bytes (empty past EOF). A flat hash map: a tree walk per block was most of
  // the policy's time on random reads, and nothing needs the blocks in order.
  boost::unordered_flat_map<std::uint64_t, Slices> blocks_;
  std::uint64_t hits_ = 0;
  std::uint64_t misses_ = 0;
  ReadId next_id_ = 1;
  // The one read in progress.
  ReadId pending_id_ = 0;
  ReadId pending_lower_ = 0;
  bool in_read_call_ = false;
  ByteRange range_;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> runs_;  // missing blocks [first, last]
  std::size_t next_run_ = 0;
  ReadCallback done_;
};

}  // namespace pflab::policies
