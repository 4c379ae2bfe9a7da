#include "policies/policy_layer.h"

#include <utility>

namespace pflab::policies {

void PolicyLayer::OnFetchedBelow(ByteRange range, const Result<Slices>& result) {
  if (result.ok()) {
    ctx_.Emit(EventType::kFetchEnd, name(), range.begin, range.size(), TotalLength(*result));
  } else {
    const bool cancelled = result.error().code == ErrorCode::kCancelled;
    ctx_.Emit(cancelled ? EventType::kFetchCancel : EventType::kFetchFail, name(), range.begin, range.size(), 0,
              cancelled ? nullptr : &result.error());
  }
}

void PolicyLayer::CompleteLater(ReadCallback done, Result<Slices> result) {
  ctx_.scheduler->Post([alive = alive_, done = std::move(done), result = std::move(result)]() mutable {
    if (*alive) done(std::move(result));
  });
}

}  // namespace pflab::policies
