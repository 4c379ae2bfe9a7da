#include "policies/fsspec_parts.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "engine/units.h"

namespace pflab::policies {

Result<std::vector<ByteRange>> ParsePartList(const std::string& text) {
  std::vector<ByteRange> parts;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t stop = text.find(';', pos);
    if (stop == std::string::npos) stop = text.size();
    const std::string item = text.substr(pos, stop - pos);
    pos = stop + 1;
    if (item.empty()) continue;
    const auto dash = item.find('-');
    if (dash == std::string::npos) {
      return InvalidArgument("policy fsspec-parts: part '" + item + "' is not START-END (e.g. 0-1MiB)");
    }
    auto begin = ParseSize(item.substr(0, dash));
    if (!begin) return InvalidArgument("policy fsspec-parts: part '" + item + "': " + begin.error().message);
    auto end = ParseSize(item.substr(dash + 1));
    if (!end) return InvalidArgument("policy fsspec-parts: part '" + item + "': " + end.error().message);
    if (*end <= *begin) return InvalidArgument("policy fsspec-parts: part '" + item + "' is empty");
    parts.push_back({*begin, *end});
  }
  std::sort(parts.begin(), parts.end(), [](const ByteRange& a, const ByteRange& b) { return a.begin < b.begin; });
  std::vector<ByteRange> merged;
  for (const auto& p : parts) {
    if (!merged.empty() && p.begin < merged.back().end) {
      return InvalidArgument("policy fsspec-parts: parts overlap at byte " + std::to_string(p.begin));
    }
    if (!merged.empty() && p.begin == merged.back().end) {
      merged.back().end = p.end;  // KnownPartsOfAFile merges contiguous parts
    } else {
      merged.push_back(p);
    }
  }
  return merged;
}

std::string FormatPartList(const std::vector<ByteRange>& parts) {
  std::string out;
  for (const ByteRange& p : parts)
    out += (out.empty() ? "" : ";") + FormatSizeExact(p.begin) + "-" + FormatSizeExact(p.end);
  return out;
}

PolicyEntry FsspecKnownPartsEntry() {
  return EntryBuilder<PartsOptions>("fsspec-parts",
                                    "fsspec KnownPartsOfAFile, strict=False (fsspec/caching.py, master 669de5e1)",
                                    "serves reads from known parts (fetched once, standing for the caller's up-front "
                                    "fetch), gaps zero-filled, reads starting outside the parts fail")
      .Text("parts", &PartsOptions::parts, ParsePartList, FormatPartList,
            "known byte ranges START-END separated by ';', e.g. 0-1MiB;5MiB-6MiB")
      .Builds<FsspecKnownParts>()
      .Done();
}

FsspecKnownParts::FsspecKnownParts(LayerContext ctx, Source* lower, PartsOptions options) : PolicyLayer(ctx, lower) {
  const std::uint64_t size = lower_->size();
  for (const auto& p : options.parts) {
    const ByteRange clipped{std::min(p.begin, size), std::min(p.end, size)};
    if (!clipped.empty()) parts_.push_back(clipped);
  }
  data_.resize(parts_.size());
}

ReadId FsspecKnownParts::Read(ByteRange range, ReadCallback done) {
  const ReadId id = next_id_++;
  range.end = std::min(range.end, lower_->size());
  if (range.begin >= lower_->size() || range.empty()) {
    CompleteLater(std::move(done), Slices{});
    return id;
  }
  pending_id_ = id;
  range_ = range;
  done_ = std::move(done);
  in_read_call_ = true;
  Step();
  in_read_call_ = false;
  return id;
}

void FsspecKnownParts::Step() {
  if (loaded_ < parts_.size()) {
    // The caller's up-front fetch of the known parts (see the header); never repeated once held.
    pending_lower_ = FetchBelow(parts_[loaded_], 0, [this](Result<Slices>&& result) {
      pending_lower_ = 0;
      if (!result.ok()) {
        Complete(std::move(result));
        return;
      }
      for (const auto& s : *result) payload_ = payload_ || s.data() != nullptr;
      data_[loaded_++] = std::move(*result);
      Step();
    });
    return;
  }
  Complete(Serve(range_));
}

Slices FsspecKnownParts::Zeros(std::uint64_t length) const {
  auto chunk = Chunk::Make(length, payload_, nullptr);
  if (payload_) std::memset(chunk->mutable_data(), 0, length);
  chunk->AddFilled(length);
  Slices out;
  out.push_back(Slice{std::move(chunk), 0, length});
  return out;
}

Result<Slices> FsspecKnownParts::Serve(ByteRange range) {
  const std::uint64_t s = range.begin, e = range.end;
  auto first = std::find_if(parts_.begin(), parts_.end(), [s](const ByteRange& p) { return p.Contains(s); });
  if (first == parts_.end()) {
    ++misses_;
    return InvalidArgument("fsspec-parts: read [" + std::to_string(s) + ", " + std::to_string(e) +
                           ") starts outside the known parts (fsspec raises ValueError)");
  }
  std::size_t i = static_cast<std::size_t>(first - parts_.begin());
  ++hits_;
  if (e <= parts_[i].end) return SubSlices(data_[i], s - parts_[i].begin, e - s);
  Slices out = SubSlices(data_[i], s - parts_[i].begin, parts_[i].end - s);
  std::uint64_t covered = parts_[i].end;
  auto append = [&out](Slices more) {
    for (auto& slice : more) out.push_back(std::move(slice));
  };
  for (++i; i < parts_.size() && parts_[i].begin < e; ++i) {
    ++misses_;  // the gap before this part
    append(Zeros(parts_[i].begin - covered));
    ++hits_;
    const std::uint64_t take = std::min(e, parts_[i].end) - parts_[i].begin;
    append(SubSlices(data_[i], 0, take));
    covered = parts_[i].begin + take;
    if (covered == e) return out;
  }
  ++misses_;  // trailing zero fill up to e
  append(Zeros(e - covered));
  return out;
}

void FsspecKnownParts::Complete(Result<Slices> result) {
  pending_id_ = 0;
  Deliver(std::move(done_), std::move(result), in_read_call_);
}

void FsspecKnownParts::Cancel(ReadId id) {
  if (id == 0 || id != pending_id_ || pending_lower_ == 0) return;
  lower_->Cancel(pending_lower_);
}

}  // namespace pflab::policies
