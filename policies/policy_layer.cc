#include "policies/policy_layer.h"

#include <utility>

namespace pflab::policies {

void PolicyLayer::OnFetchedBelow(ByteRange range, const Result<Slices>& result) {
  if (!ctx_.layer_fetches) return;
  if (result.ok()) {
    ctx_.Emit(EventType::kFetchEnd, name(), range.begin, range.size(), TotalLength(*result));
  } else {
    const bool cancelled = result.error().code == ErrorCode::kCancelled;
    ctx_.Emit(cancelled ? EventType::kFetchCancel : EventType::kFetchFail, name(), range.begin, range.size(), 0,
              cancelled ? nullptr : &result.error());
  }
}

void PolicyLayer::CompleteLater(ReadCallback done, Result<Slices>&& result) {
  if (served_) {
    std::optional<Result<Slices>>* served = std::exchange(served_, nullptr);
    if (ctx_.scheduler->TakeTurnNow()) {
      served->emplace(std::move(result));  // the caller completes the read; `done` is not called
      return;
    }
  }
  ctx_.scheduler->Post([alive = alive_, done = std::move(done), result = std::move(result)]() mutable {
    if (*alive) done(std::move(result));
  });
}

}  // namespace pflab::policies
