// fsspec FirstChunkCache ("first"): keeps the file's first block, for formats with a header that is
// read again and again.
//
// Origin: fsspec/filesystem_spec, fsspec/caching.py, class FirstChunkCache, master 669de5e1. Default:
// blocksize 5 MiB (AbstractBufferedFile.DEFAULT_BLOCK_SIZE), capped at the file size (master only).
//
// Rules for a read [s, e) (e clamped to the size, master; 2022.11 clamps neither):
// - s < bs and the first block not held yet: if e > bs, fetch [0, e) and keep its first bs bytes;
//   else fetch [0, bs) and serve the read from it;
// - s < bs and the block held: serve [s, min(e, bs)) from it, and if e > bs also fetch [bs, e);
// - s >= bs: fetch [s, e), nothing kept.
// Counters as fsspec master: miss +1 on the first fill and per read with s >= bs; hit +1 per read
// served from the block (including the fill when e <= bs). Memory: the first block.
// One difference: master would send an empty request [size, size) for a read starting at EOF in a
// file smaller than bs; our reads at or past EOF deliver nothing and fetch nothing.
#pragma once

#include <cstdint>

#include "engine/units.h"
#include "policies/policy_entry.h"
#include "policies/policy_layer.h"

namespace pflab::policies {

/// Parameters of fsspec-first.
struct FirstChunkOptions {
  std::uint64_t blocksize = 5 * kMiB;  // AbstractBufferedFile.DEFAULT_BLOCK_SIZE
  bool operator==(const FirstChunkOptions&) const = default;
};

/// The `fsspec-first` entry.
PolicyEntry FsspecFirstChunkEntry();

/// fsspec FirstChunkCache as a policy layer.
class FsspecFirstChunk final : public PolicyLayer {
 public:
  FsspecFirstChunk(LayerContext ctx, Source* lower, FirstChunkOptions options)
      : PolicyLayer(ctx, lower), options_(options) {}

  ReadId Read(ByteRange range, ReadCallback done) override;
  void Cancel(ReadId id) override;
  const char* name() const override { return "fsspec-first"; }

  std::uint64_t hits() const { return hits_; }
  std::uint64_t misses() const { return misses_; }

 private:
  enum class Kind { kFillWhole, kFillBlock, kTail, kPass };

  FirstChunkOptions options_;
  bool held_ = false;
  Slices first_;  // [0, min(bs, size)) once held_
  std::uint64_t hits_ = 0;
  std::uint64_t misses_ = 0;
  ReadId next_id_ = 1;
  ReadId pending_id_ = 0;
  ReadId pending_lower_ = 0;
  ByteRange range_;
  Kind kind_ = Kind::kPass;
  ReadCallback done_;
};

}  // namespace pflab::policies
