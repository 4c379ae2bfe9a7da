#include "policies/passthrough.h"

#include <utility>

namespace pflab::policies {

ReadId PolicyLayer::FetchBelow(ByteRange range, std::uint32_t max_parts, ReadCallback done) {
  ctx_.Emit(EventType::kFetchStart, name(), range.begin, range.size());
  auto callback = [this, alive = alive_, range, done = std::move(done)](Result<Slices> result) {
    if (!*alive) return;
    if (result.ok()) {
      ctx_.Emit(EventType::kFetchEnd, name(), range.begin, range.size(), TotalLength(*result));
    } else {
      ctx_.Emit(result.error().code == ErrorCode::kCancelled ? EventType::kFetchCancel : EventType::kFetchFail, name(),
                range.begin, range.size());
    }
    done(std::move(result));
  };
  return max_parts ? lower_->ReadSplit(range, max_parts, std::move(callback))
                   : lower_->Read(range, std::move(callback));
}

void PolicyLayer::CompleteLater(ReadCallback done, Result<Slices> result) {
  ctx_.scheduler->Post([alive = alive_, done = std::move(done), result = std::move(result)]() mutable {
    if (*alive) done(std::move(result));
  });
}

ReadId NonePolicy::Read(ByteRange range, ReadCallback done) {
  return FetchBelow(range, 0, std::move(done));
}

}  // namespace pflab::policies
