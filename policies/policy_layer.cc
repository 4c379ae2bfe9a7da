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

std::optional<Result<Slices>>* PolicyLayer::ServedNow() {
  if (!served_) return nullptr;
  std::optional<Result<Slices>>* served = std::exchange(served_, nullptr);
  return ctx_.scheduler->TakeTurnNow() ? served : nullptr;
}

void PolicyLayer::CompleteLater(ReadCallback done, Result<Slices>&& result) {
  if (std::optional<Result<Slices>>* served = ServedNow()) {
    served->emplace(std::move(result));  // the caller completes the read; `done` is not called
    return;
  }
  ctx_.scheduler->Post([alive = alive_, done = std::move(done), result = std::move(result)]() mutable {
    if (*alive) done(std::move(result));
  });
}

void PolicyLayer::CompleteLater(ReadCallback done, Slices&& slices) {
  if (std::optional<Result<Slices>>* served = ServedNow()) {
    served->emplace(std::move(slices));
    return;
  }
  CompleteLater(std::move(done), Result<Slices>(std::move(slices)));
}

}  // namespace pflab::policies
