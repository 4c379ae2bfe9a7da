#include "policies/fsspec_readahead.h"

#include <algorithm>
#include <utility>

namespace pflab::policies {

PolicyEntry FsspecReadAheadEntry() {
  return EntryBuilder<ReadAheadOptions>("fsspec-readahead",
                                        "fsspec ReadAheadCache (fsspec/caching.py, master 669de5e1 = 2022.11.0 logic)",
                                        "one window; a miss fetches [start, end + blocksize)")
      .Size("blocksize", &ReadAheadOptions::blocksize,
            "read-ahead beyond each read (AbstractBufferedFile.DEFAULT_BLOCK_SIZE)")
      .Builds<FsspecReadAhead>()
      .Done();
}

ReadId FsspecReadAhead::Read(ByteRange range, ReadCallback done) {
  const ReadId id = next_id_++;
  const std::uint64_t size = lower_->size();
  if (!ClampToObject(range, done)) return id;
  if (range.begin >= window_.begin && range.end <= window_.end) {
    ++hits_;
    CompleteLater(std::move(done), SubSlices(cache_, range.begin - window_.begin, range.size()));
    return id;
  }
  ++misses_;
  Slices part;
  ByteRange fetch{range.begin, std::min(size, range.end + options_.blocksize)};
  if (window_.begin <= range.begin && range.begin < window_.end) {
    // Partial hit: keep the tail we hold, fetch from the window's end.
    part = SubSlices(cache_, range.begin - window_.begin, window_.end - range.begin);
    fetch.begin = window_.end;
  }
  // One read at a time (a file handle): its pending state lives here, which keeps the callback small.
  pending_id_ = id;
  pending_part_ = std::move(part);
  pending_needed_ = range.end - fetch.begin;
  pending_done_ = std::move(done);
  pending_lower_ = FetchBelow(fetch, 0, [this, fetch](Result<Slices>&& result) {
    pending_id_ = 0;
    ReadCallback done = std::move(pending_done_);
    if (!result.ok()) {
      pending_part_.clear();
      done(std::move(result));
      return;
    }
    cache_ = std::move(*result);
    window_ = {fetch.begin, fetch.begin + TotalLength(cache_)};
    Slices out = std::move(pending_part_);
    pending_part_.clear();
    for (auto& s : SubSlices(cache_, 0, std::min(pending_needed_, window_.size()))) out.push_back(std::move(s));
    done(std::move(out));
  });
  return id;
}

void FsspecReadAhead::Cancel(ReadId id) {
  if (id != pending_id_ || pending_id_ == 0) return;
  // The lower layer completes its read with kCancelled, which our callback passes up.
  lower_->Cancel(pending_lower_);
}

}  // namespace pflab::policies
