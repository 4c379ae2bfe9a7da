// fsspec KnownPartsOfAFile ("parts"): serves reads from byte ranges the caller already holds, as
// fsspec.parquet.open_parquet_file does with the footer and column chunks it fetched up front.
//
// Origin: fsspec/filesystem_spec, fsspec/caching.py, class KnownPartsOfAFile, master 669de5e1 with its
// default strict=False (2022.11 defaults to strict=True and fetches what is outside the parts).
//
// Parameter: parts=A-B;C-D;...  byte ranges [A, B) as sizes (e.g. parts=0-1MiB;5MiB-6MiB), sorted or
// not; ranges that touch are merged (as the constructor does); overlapping ranges are rejected. Parts
// are clipped to the object size. Default: no parts (every read fails).
//
// Where the bytes come from: in fsspec the caller passes the parts' bytes to the constructor (fsspec.
// parquet fetches them with cat_ranges before opening the file). We have no caller holding bytes, so
// on the first read we fetch each part once, [A, B), one request per part in ascending order; that
// stands for the caller's up-front fetch. After that the cache itself never sends a request.
//
// Rules for a read [s, e) (master, strict=False):
// - s inside a part: bytes from that part; past its end, each later part the read covers is copied
//   and every gap (between parts, and after the last covered part up to e) is zero-filled;
// - s outside every part: fsspec raises ValueError; the read fails with kInvalidArgument. (Master's
//   loop has a quirk: a read starting in a gap and ending inside a later part returns only the part's
//   bytes, a short read, without an error. A short read breaks the reader's contract, so we fail it
//   like every other read that starts outside the parts.)
// Counters as fsspec master: hit +1 per part touched, miss +1 per gap or trailing zero fill (and per
// failed read). Memory: the parts; zero fills are made per read (not charged to the memory account).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "policies/policy_entry.h"
#include "policies/policy_layer.h"

namespace pflab::policies {

/// Parameters of fsspec-parts.
struct PartsOptions {
  std::vector<ByteRange> parts;  // sorted, disjoint, touching ones merged
  bool operator==(const PartsOptions&) const = default;
};

/// The `fsspec-parts` entry.
PolicyEntry FsspecKnownPartsEntry();
/// Parses the value of `parts=`, e.g. "0-1MiB;5MiB-6MiB".
Result<std::vector<ByteRange>> ParsePartList(const std::string& text);
/// Writes parts as `parts=` takes them.
std::string FormatPartList(const std::vector<ByteRange>& parts);

/// fsspec KnownPartsOfAFile (strict=False) as a policy layer.
class FsspecKnownParts final : public PolicyLayer {
 public:
  FsspecKnownParts(LayerContext ctx, Source* lower, PartsOptions options);

  ReadId Read(ByteRange range, ReadCallback done) override;
  void Cancel(ReadId id) override;
  const char* name() const override { return "fsspec-parts"; }

  std::uint64_t hits() const { return hits_; }
  std::uint64_t misses() const { return misses_; }

 private:
  // Fetches the next part not yet held, or serves the read.
  void Step();
  Result<Slices> Serve(ByteRange range);
  Slices Zeros(std::uint64_t length) const;
  void Complete(Result<Slices> result);

  std::vector<ByteRange> parts_;
  std::vector<Slices> data_;  // per part, once fetched
  std::size_t loaded_ = 0;    // parts [0, loaded_) are held
  bool payload_ = false;      // the parts carry bytes, so zero fills must too
  std::uint64_t hits_ = 0;
  std::uint64_t misses_ = 0;
  ReadId next_id_ = 1;
  ReadId pending_id_ = 0;
  ReadId pending_lower_ = 0;
  bool in_read_call_ = false;
  ByteRange range_;
  ReadCallback done_;
};

}  // namespace pflab::policies
