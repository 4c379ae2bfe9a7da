#include "engine/reader.h"

#include <algorithm>
#include <cstdint>
#include <utility>

namespace pflab {

void Reader::Read(std::uint64_t length, ReadCallback done) {
  Start(length, std::move(done), nullptr);
}

std::optional<Result<Slices>> Reader::ReadAtOrServe(std::uint64_t offset, std::uint64_t length, ReadCallback done) {
  Seek(offset);
  std::optional<Result<Slices>> served;
  Start(length, std::move(done), &served);
  if (served) {
    // Served from memory at its completion's turn: complete it here, as the posted completion would.
    pending_done_ = nullptr;
    Finish(*served);
  }
  return served;
}

void Reader::Start(std::uint64_t length, ReadCallback done, std::optional<Result<Slices>>* served) {
  const std::uint64_t size = top_->size();
  const std::uint64_t begin = std::min(position_, size);
  const ByteRange range{begin, begin + std::min(length, size - begin)};
  ctx_.Emit(EventType::kReadStart, "reader", range.begin, range.size());
  // One read at a time, like a file handle; keeping its state here keeps the callback small enough
  // for the callback's inline storage (no allocation per read).
  pending_range_ = range;
  pending_done_ = std::move(done);
  // The end the application asked for, saturated: only a read that crosses EOF passes it on.
  const std::uint64_t asked_end = length > UINT64_MAX - begin ? UINT64_MAX : begin + length;
  auto on_done = [this](Result<Slices>&& result) {
    Finish(result);
    ReadCallback done = std::move(pending_done_);
    done(std::move(result));
  };
  if (asked_end > size && begin < size) {
    top_->ReadPastEof(range, asked_end, std::move(on_done));
  } else if (served) {
    top_->ReadOrServe(range, std::move(on_done), served);
  } else {
    top_->Read(range, std::move(on_done));
  }
}

void Reader::Finish(const Result<Slices>& result) {
  const ByteRange range = pending_range_;
  std::uint64_t got = 0;
  if (result.ok()) {
    got = TotalLength(*result);
    MarkDelivered(*result);
    position_ = range.begin + got;
  }
  ctx_.Emit(EventType::kReadEnd, "reader", range.begin, range.size(), got, result.ok() ? nullptr : &result.error());
}

}  // namespace pflab
