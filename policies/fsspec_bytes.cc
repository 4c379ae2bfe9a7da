#include "policies/fsspec_bytes.h"

#include <algorithm>
#include <utility>

namespace pflab::policies {

PolicyEntry FsspecBytesEntry() {
  return EntryBuilder<BytesOptions>(
             "fsspec-bytes", "fsspec BytesCache, trim=True (fsspec/caching.py, master 669de5e1 = 2022.11.0 logic)",
             "one buffer extended forward or backward by up to blocksize, refetched beyond that, trimmed")
      .Size("blocksize", &BytesOptions::blocksize,
            "read-ahead beyond each read (AbstractBufferedFile.DEFAULT_BLOCK_SIZE)")
      .Builds<FsspecBytes>()
      .Done();
}

ReadId FsspecBytes::Read(ByteRange range, ReadCallback done) {
  return ReadUpTo(range, 0, std::move(done));
}

ReadId FsspecBytes::ReadPastEof(ByteRange range, std::uint64_t asked_end, ReadCallback done) {
  return ReadUpTo(range, asked_end, std::move(done));
}

ReadId FsspecBytes::ReadUpTo(ByteRange range, std::uint64_t asked_end, ReadCallback done) {
  const ReadId id = next_id_++;
  const std::uint64_t size = lower_->size();
  const std::uint64_t bs = options_.blocksize;
  if (!ClampToObject(range, done)) return id;
  // The decisions use the end asked for (fsspec's `end`, uncut); the bytes served are range's.
  const std::uint64_t s = range.begin, e = std::max(range.end, asked_end);
  const std::uint64_t end = start_ + TotalLength(cache_);
  if (valid_ && s >= start_ && e < end) {
    ++hits_;
    CompleteLater(std::move(done), SubSlices(cache_, s - start_, range.size()));
    return id;
  }
  ++misses_;
  range_ = range;
  const std::uint64_t bend = e > size ? size : std::min(size, e + bs);
  ByteRange fetch;
  if (!valid_ || (s < start_ && e > end)) {
    merge_ = Merge::kReplace;
    fetch = {s, bend};
  } else if (s < start_) {
    merge_ = end - e > bs ? Merge::kReplace : Merge::kPrepend;
    fetch = merge_ == Merge::kReplace ? ByteRange{s, bend} : ByteRange{s, start_};
  } else if (bend > end) {
    merge_ = e - end > bs ? Merge::kReplace : Merge::kAppend;
    fetch = merge_ == Merge::kReplace ? ByteRange{s, bend} : ByteRange{end, bend};
  } else {
    // e == end == size: served from the buffer without a request (still a miss in fsspec's count).
    CompleteLater(std::move(done), Serve(Merge::kAppend, Slices{}));
    return id;
  }
  pending_id_ = id;
  done_ = std::move(done);
  pending_lower_ = FetchBelow(fetch, 0, [this](Result<Slices>&& result) {
    pending_id_ = 0;
    pending_lower_ = 0;
    ReadCallback done = std::move(done_);
    if (!result.ok()) {
      done(std::move(result));
      return;
    }
    done(Serve(merge_, std::move(*result)));
  });
  return id;
}

Slices FsspecBytes::Serve(Merge merge, Slices fetched) {
  const std::uint64_t bs = options_.blocksize;
  switch (merge) {
    case Merge::kReplace:
      cache_ = std::move(fetched);
      start_ = range_.begin;
      break;
    case Merge::kPrepend:
      for (auto& s : cache_) fetched.push_back(std::move(s));
      cache_ = std::move(fetched);
      start_ = range_.begin;
      break;
    case Merge::kAppend:
      for (auto& s : fetched) cache_.push_back(std::move(s));
      break;
  }
  valid_ = true;
  const std::uint64_t length = TotalLength(cache_);
  Slices out = SubSlices(cache_, range_.begin - start_, range_.size());
  const std::uint64_t n = length / (bs + 1);
  if (n > 1) {
    start_ += n * bs;
    cache_ = SubSlices(cache_, n * bs, length - n * bs);
  }
  return out;
}

void FsspecBytes::Cancel(ReadId id) {
  if (id == 0 || id != pending_id_ || pending_lower_ == 0) return;
  lower_->Cancel(pending_lower_);
}

}  // namespace pflab::policies
