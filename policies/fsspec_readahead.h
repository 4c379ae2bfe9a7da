// fsspec ReadAheadCache ("readahead"), the default cache of fsspec's AbstractBufferedFile and of gcsfs
// before 2026.8.0.
//
// Origin: fsspec/filesystem_spec, fsspec/caching.py, class ReadAheadCache (master 669de5e1; request
// logic identical in 2022.11.0). State: one window [start, end) of bytes, replaced wholesale by every
// fetch. A read inside the window is a hit (no request). A read that starts inside the window but runs
// past it keeps the window's tail and fetches [end, min(size, e + blocksize)). Anything else, including
// every backward read, fetches [s, min(size, e + blocksize)). Memory: one window, at most
// read size + blocksize, plus the tail kept across a partial hit until the read completes.
#pragma once

#include <cstdint>

#include "engine/units.h"
#include "policies/policy_entry.h"
#include "policies/policy_layer.h"

namespace pflab::policies {

/// Parameters of fsspec-readahead.
struct ReadAheadOptions {
  std::uint64_t blocksize = 5 * kMiB;  // AbstractBufferedFile.DEFAULT_BLOCK_SIZE
  bool operator==(const ReadAheadOptions&) const = default;
};

/// The `fsspec-readahead` entry.
PolicyEntry FsspecReadAheadEntry();

/// fsspec ReadAheadCache as a policy layer.
class FsspecReadAhead final : public PolicyLayer {
 public:
  FsspecReadAhead(LayerContext ctx, Source* lower, ReadAheadOptions options)
      : PolicyLayer(ctx, lower), options_(options) {}

  ReadId Read(ByteRange range, ReadCallback done) override;
  void Cancel(ReadId id) override;
  const char* name() const override { return "fsspec-readahead"; }

  std::uint64_t hits() const { return hits_; }
  std::uint64_t misses() const { return misses_; }

 private:
  ReadAheadOptions options_;
  ByteRange window_;  // what `cache_` holds
  Slices cache_;
  std::uint64_t hits_ = 0;
  std::uint64_t misses_ = 0;
  ReadId next_id_ = 1;
  ReadId pending_id_ = 0;     // our id of the read waiting on the layer below
  ReadId pending_lower_ = 0;  // the lower layer's id for it
  Slices pending_part_;       // the window's tail kept across a partial hit
  std::uint64_t pending_needed_ = 0;
  ReadCallback pending_done_;
};

}  // namespace pflab::policies
