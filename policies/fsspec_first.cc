#include "policies/fsspec_first.h"

#include <algorithm>
#include <utility>

namespace pflab::policies {

PolicyEntry FsspecFirstChunkEntry() {
  return EntryBuilder<FirstChunkOptions>("fsspec-first", "fsspec FirstChunkCache (fsspec/caching.py, master 669de5e1)",
                                         "keeps the first block; every other read goes to the backend")
      .Size("blocksize", &FirstChunkOptions::blocksize, "size of the kept first block, capped at the file size")
      .Builds<FsspecFirstChunk>()
      .Done();
}

ReadId FsspecFirstChunk::Read(ByteRange range, ReadCallback done) {
  const ReadId id = next_id_++;
  const std::uint64_t size = lower_->size();
  const std::uint64_t bs = std::min(options_.blocksize, size);  // master caps the block at the size
  if (!ClampToObject(range, done)) return id;
  const std::uint64_t s = range.begin, e = range.end;
  ByteRange fetch;
  if (s < bs) {
    if (!held_) {
      ++misses_;
      kind_ = e > bs ? Kind::kFillWhole : Kind::kFillBlock;
      fetch = {0, std::max(e, bs)};
      if (kind_ == Kind::kFillBlock) ++hits_;
    } else {
      ++hits_;
      if (e <= bs) {
        CompleteLater(std::move(done), SubSlices(first_, s, e - s));
        return id;
      }
      kind_ = Kind::kTail;
      fetch = {bs, e};
    }
  } else {
    ++misses_;
    kind_ = Kind::kPass;
    fetch = range;
  }
  pending_id_ = id;
  range_ = range;
  done_ = std::move(done);
  pending_lower_ = FetchBelow(fetch, 0, [this, bs](Result<Slices>&& result) {
    pending_id_ = 0;
    pending_lower_ = 0;
    ReadCallback done = std::move(done_);
    if (!result.ok()) {
      done(std::move(result));
      return;
    }
    const std::uint64_t s = range_.begin, e = range_.end;
    switch (kind_) {
      case Kind::kFillWhole:
      case Kind::kFillBlock:
        first_ = SubSlices(*result, 0, bs);
        held_ = true;
        done(SubSlices(*result, s, e - s));
        return;
      case Kind::kTail: {
        Slices out = SubSlices(first_, s, bs - s);
        for (auto& slice : *result) out.push_back(std::move(slice));
        done(std::move(out));
        return;
      }
      case Kind::kPass: done(std::move(result)); return;
    }
  });
  return id;
}

void FsspecFirstChunk::Cancel(ReadId id) {
  if (id == 0 || id != pending_id_ || pending_lower_ == 0) return;
  lower_->Cancel(pending_lower_);
}

}  // namespace pflab::policies
