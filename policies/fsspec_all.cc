#include "policies/fsspec_all.h"

#include <algorithm>
#include <memory>
#include <utility>

namespace pflab::policies {

PolicyEntry FsspecAllBytesEntry() {
  return EntryBuilder<NoOptions>(
             "fsspec-all", "fsspec AllBytes (fsspec/caching.py, master 669de5e1 = 2022.11.0 logic)",
             "one request for the whole file (on the first read; fsspec does it on open), then memory")
      .Build([](const StackEnv& env, Source* lower, const NoOptions&) -> std::unique_ptr<Source> {
        return std::make_unique<FsspecAllBytes>(env.ctx, lower);
      })
      .Done();
}

ReadId FsspecAllBytes::Read(ByteRange range, ReadCallback done) {
  const ReadId id = next_id_++;
  const std::uint64_t size = lower_->size();
  if (!ClampToObject(range, done)) return id;
  if (held_) {
    ++hits_;
    CompleteLater(std::move(done), SubSlices(data_, range.begin, range.size()));
    return id;
  }
  ++misses_;
  pending_id_ = id;
  range_ = range;
  done_ = std::move(done);
  pending_lower_ = FetchBelow(ByteRange{0, size}, 0, [this](Result<Slices>&& result) {
    pending_id_ = 0;
    pending_lower_ = 0;
    ReadCallback done = std::move(done_);
    if (!result.ok()) {
      done(std::move(result));
      return;
    }
    data_ = std::move(*result);
    held_ = true;
    ++hits_;
    done(SubSlices(data_, range_.begin, range_.size()));
  });
  return id;
}

void FsspecAllBytes::Cancel(ReadId id) {
  if (id == 0 || id != pending_id_ || pending_lower_ == 0) return;
  lower_->Cancel(pending_lower_);
}

}  // namespace pflab::policies
