#include "engine/reader.h"

#include <algorithm>
#include <utility>

namespace pflab {

void Reader::Read(std::uint64_t length, ReadCallback done) {
  const std::uint64_t size = top_->size();
  const std::uint64_t begin = std::min(position_, size);
  const ByteRange range{begin, begin + std::min(length, size - begin)};
  ctx_.Emit(EventType::kReadStart, "reader", range.begin, range.size());
  top_->Read(range, [this, range, done = std::move(done)](Result<Slices> result) {
    std::uint64_t got = 0;
    if (result.ok()) {
      got = TotalLength(*result);
      MarkDelivered(*result);
      position_ = range.begin + got;
    }
    ctx_.Emit(EventType::kReadEnd, "reader", range.begin, range.size(), got);
    done(std::move(result));
  });
}

}  // namespace pflab
