// fsspec BytesCache ("bytes", with trim=True), the default cache of adlfs.
//
// Origin: fsspec/filesystem_spec, fsspec/caching.py, class BytesCache, master 669de5e1 (request
// logic identical in 2022.11.0). Default: blocksize 5 MiB (AbstractBufferedFile.DEFAULT_BLOCK_SIZE);
// trim=True, the constructor's default.
//
// State: one contiguous buffer [start, end). Rules for a read [s, e):
// - hit only if s >= start and e < end (strictly: a read ending exactly at `end` is not a hit);
// - otherwise let bend = min(size, e + bs):
//   - no buffer yet, or the read extends the buffer on both sides: fetch [s, bend), replacing it;
//   - the read starts before the buffer: if end - e > bs, fetch [s, bend) replacing it, else fetch
//     [s, start) and prepend it;
//   - the read ends past the buffer (bend > end): if e - end > bs, fetch [s, bend) replacing it, else
//     fetch [end, bend) and append it (this also bridges a gap when s > end);
//   - else (only e == end == size) no fetch;
// - then trim: n = (end - start) // (bs + 1); if n > 1, drop n*bs bytes from the front.
// `e` is the end the application asked for: fsspec's file passes loc + length uncut, so for a read
// crossing EOF (ReadPastEof) e > size. That read is never a hit, extends a buffer that ends at EOF on
// both sides when it starts before it, and compares e - end with bs for the append; the bytes served
// still stop at EOF.
// A failed fetch leaves the buffer as it was. Counters as fsspec master: hit +1 on a hit, miss +1
// otherwise. Memory: the buffer, which trim keeps under about 2*bs + the read size.
#pragma once

#include <cstdint>

#include "engine/units.h"
#include "policies/policy_entry.h"
#include "policies/policy_layer.h"

namespace pflab::policies {

/// Parameters of fsspec-bytes.
struct BytesOptions {
  std::uint64_t blocksize = 5 * kMiB;  // AbstractBufferedFile.DEFAULT_BLOCK_SIZE
  bool operator==(const BytesOptions&) const = default;
};

/// The `fsspec-bytes` entry.
PolicyEntry FsspecBytesEntry();

/// fsspec BytesCache (trim=True) as a policy layer.
class FsspecBytes final : public PolicyLayer {
 public:
  FsspecBytes(LayerContext ctx, Source* lower, BytesOptions options) : PolicyLayer(ctx, lower), options_(options) {}

  ReadId Read(ByteRange range, ReadCallback done) override;
  ReadId ReadPastEof(ByteRange range, std::uint64_t asked_end, ReadCallback done) override;
  void Cancel(ReadId id) override;
  const char* name() const override { return "fsspec-bytes"; }

  std::uint64_t hits() const { return hits_; }
  std::uint64_t misses() const { return misses_; }
  /// The buffered range (empty before the first fetch).
  ByteRange buffer() const { return {start_, start_ + TotalLength(cache_)}; }

 private:
  enum class Merge { kReplace, kPrepend, kAppend };
  // A read of `range` whose application asked up to max(range.end, asked_end).
  ReadId ReadUpTo(ByteRange range, std::uint64_t asked_end, ReadCallback done);
  // Installs fetched bytes, serves the read from the buffer and trims it.
  Slices Serve(Merge merge, Slices fetched);

  BytesOptions options_;
  bool valid_ = false;  // start_/cache_ set (fsspec: self.start is not None)
  std::uint64_t start_ = 0;
  Slices cache_;
  std::uint64_t hits_ = 0;
  std::uint64_t misses_ = 0;
  ReadId next_id_ = 1;
  ReadId pending_id_ = 0;
  ReadId pending_lower_ = 0;
  ByteRange range_;
  Merge merge_ = Merge::kReplace;
  ReadCallback done_;
};

}  // namespace pflab::policies
