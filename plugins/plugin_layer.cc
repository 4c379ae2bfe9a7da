#include "plugins/plugin_layer.h"

#include <algorithm>
#include <cstring>
#include <exception>

#include "engine/synthetic_content.h"

namespace pflab::plugins {
namespace {

ByteRange Intersect(ByteRange a, ByteRange b) {
  const ByteRange r{std::max(a.begin, b.begin), std::min(a.end, b.end)};
  return r.begin < r.end ? r : ByteRange{r.begin, r.begin};
}

// Adds `r` to sorted, disjoint `ranges`; returns how many of its bytes were not there yet.
std::uint64_t Merge(std::vector<ByteRange>& ranges, ByteRange r) {
  std::uint64_t already = 0;
  auto it = ranges.begin();
  while (it != ranges.end() && it->end < r.begin) ++it;
  auto first = it;
  ByteRange merged = r;
  while (it != ranges.end() && it->begin <= r.end) {
    already += Intersect(*it, r).size();
    merged.begin = std::min(merged.begin, it->begin);
    merged.end = std::max(merged.end, it->end);
    ++it;
  }
  it = ranges.erase(first, it);
  ranges.insert(it, merged);
  return r.size() - already;
}

std::string FormatSeconds(Nanos ns) {
  if (ns % kSecond == 0) return std::to_string(ns / kSecond) + " s";
  return std::to_string(ns / kMillisecond) + " ms";
}

ErrorCode ToErrorCode(plugin::Code code) {
  switch (code) {
    case plugin::Code::kInvalidArgument: return ErrorCode::kInvalidArgument;
    case plugin::Code::kNotFound: return ErrorCode::kNotFound;
    case plugin::Code::kOutOfRange: return ErrorCode::kOutOfRange;
    case plugin::Code::kUnavailable: return ErrorCode::kUnavailable;
    case plugin::Code::kCancelled: return ErrorCode::kCancelled;
    case plugin::Code::kDeadlineExceeded: return ErrorCode::kDeadlineExceeded;
    case plugin::Code::kDataLoss: return ErrorCode::kDataLoss;
    case plugin::Code::kFailedPrecondition: return ErrorCode::kFailedPrecondition;
    case plugin::Code::kPermissionDenied: return ErrorCode::kPermissionDenied;
    case plugin::Code::kInternal: return ErrorCode::kInternal;
  }
  return ErrorCode::kInternal;
}

plugin::Code ToPluginCode(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument: return plugin::Code::kInvalidArgument;
    case ErrorCode::kNotFound: return plugin::Code::kNotFound;
    case ErrorCode::kOutOfRange: return plugin::Code::kOutOfRange;
    case ErrorCode::kUnavailable: return plugin::Code::kUnavailable;
    case ErrorCode::kCancelled: return plugin::Code::kCancelled;
    case ErrorCode::kDeadlineExceeded: return plugin::Code::kDeadlineExceeded;
    case ErrorCode::kDataLoss: return plugin::Code::kDataLoss;
    case ErrorCode::kFailedPrecondition: return plugin::Code::kFailedPrecondition;
    case ErrorCode::kPermissionDenied: return plugin::Code::kPermissionDenied;
    case ErrorCode::kInternal: return plugin::Code::kInternal;
    // Not in the plugin ABI (version 1): the nearest code a plugin does not retry; the message says why.
    case ErrorCode::kResourceExhausted: return plugin::Code::kInternal;
  }
  return plugin::Code::kInternal;
}

// A copy a plugin made of bytes (DataCopyIn): its chunk is not charged to the account itself (it was
// not fetched); this hook charges its memory while the chunk lives and, when it goes, credits what was
// delivered of it to the fetches it was copied from.
struct CopyHolder final : ChunkReleaseHook {
  MemoryAccount* account = nullptr;
  std::uint64_t object_offset = 0;
  std::vector<FetchLedger::Source> sources;

  void OnRelease(const Chunk& chunk) override {
    if (account) account->Release(chunk.size(), 0, 0);
    for (const ByteRange& d : chunk.delivered_ranges()) {
      const ByteRange delivered{d.begin + object_offset, d.end + object_offset};
      for (const auto& [range, record] : sources) {
        const ByteRange both = Intersect(delivered, range);
        if (!both.empty()) record->Credit(both);
      }
    }
  }
};

}  // namespace

void FetchLedger::Record::Credit(ByteRange range) {
  for (const Piece& piece : pieces) {
    const ByteRange part = Intersect(range, piece.range);
    if (part.empty()) continue;
    const std::uint64_t fresh = Merge(credited, part);
    if (auto chunk = piece.chunk.lock()) {
      chunk->MarkDelivered(piece.chunk_offset + (part.begin - piece.range.begin), part.size());
    } else if (account && fresh) {
      account->Release(0, 0, fresh);
    }
  }
}

void FetchLedger::Add(ByteRange range, const Slices& slices, MemoryAccount* account) {
  auto record = std::make_shared<Record>();
  record->account = account;
  std::uint64_t at = range.begin;
  for (const Slice& s : slices) {
    record->pieces.push_back({s.chunk, s.offset, {at, at + s.length}});
    at += s.length;
  }
  const ByteRange covered{range.begin, at};
  if (covered.empty()) return;
  // Cut what overlaps `covered` out of the map, keeping the parts outside it.
  auto it = coverage_.lower_bound(covered.begin);
  if (it != coverage_.begin()) {
    auto before = std::prev(it);
    if (before->second.end > covered.begin) it = before;
  }
  while (it != coverage_.end() && it->first < covered.end) {
    const std::uint64_t begin = it->first;
    const Span span = it->second;
    it = coverage_.erase(it);
    if (begin < covered.begin) coverage_.emplace(begin, Span{covered.begin, span.record});
    if (span.end > covered.end) {
      coverage_.emplace(covered.end, Span{span.end, span.record});
      break;
    }
  }
  coverage_.emplace(covered.begin, Span{covered.end, std::move(record)});
}

std::vector<FetchLedger::Source> FetchLedger::Attribute(ByteRange range) const {
  std::vector<Source> out;
  auto it = coverage_.upper_bound(range.begin);
  if (it != coverage_.begin()) --it;
  for (; it != coverage_.end() && it->first < range.end; ++it) {
    const ByteRange part = Intersect(range, {it->first, it->second.end});
    if (!part.empty()) out.emplace_back(part, it->second.record);
  }
  return out;
}

PluginLayer::PluginLayer(const policies::StackEnv& env, Source* lower, PluginLayerSetup setup,
                         const plugin::Params& params)
    : PolicyLayer(env.ctx, lower),
      setup_(std::move(setup)),
      object_(env.object),
      object_seed_(ObjectSeed(env.object.bucket, env.object.name, env.object.generation)),
      seed_(env.seed),
      account_(env.account),
      one_fetch_at_a_time_(dynamic_cast<const policies::PolicyLayer*>(lower) != nullptr) {
  try {
    layer_.reset(setup_.factory->Create(this, params));
  } catch (const std::exception& e) {
    stopped_ = Internal(setup_.spec_name + ": creating the layer threw: " + e.what());
    return;
  }
  if (!layer_) stopped_ = Internal(setup_.spec_name + ": the plugin could not create a layer");
}

PluginLayer::~PluginLayer() {
  *alive_ = false;
  try {
    layer_.reset();
  } catch (...) {
    // A destructor that throws across the interface: nothing is left to tell.
  }
  for (auto& [id, fetch] : fetches_) lower_->Cancel(fetch.lower);
  for (auto& [id, timer] : timers_) ctx_.scheduler->Cancel(timer);
  if (read_ && read_->deadline) ctx_.scheduler->Cancel(read_->deadline);
}

template <typename F>
void PluginLayer::CallPlugin(const char* what, F&& call) {
  if (!layer_) return;
  try {
    call();
  } catch (const std::exception& e) {
    Stop(Internal(setup_.spec_name + ": " + what + " threw: " + e.what()));
  } catch (...) {
    Stop(Internal(setup_.spec_name + ": " + what + " threw an exception"));
  }
}

std::string PluginLayer::ReadText(ByteRange range) const {
  return "[" + std::to_string(range.begin) + ", " + std::to_string(range.end) + ")";
}

ReadId PluginLayer::Read(ByteRange range, ReadCallback done) {
  const ReadId id = next_read_++;
  if (stopped_) {
    CompleteLater(std::move(done), Result<Slices>(*stopped_));
    return id;
  }
  if (!ClampToObject(range, done)) return id;
  if (read_) throw std::logic_error(std::string(name()) + ": a second read while one is outstanding");
  read_ = PendingRead{};  // not emplace(): clang 14 takes the nested struct for not default-constructible
  read_->id = id;
  read_->range = range;
  read_->done = std::move(done);
  read_->deadline = ctx_.scheduler->PostAfter(read_deadline_, [this, alive = alive_, id] {
    if (!*alive || !read_ || read_->id != id) return;
    read_->deadline = 0;
    Stop({ErrorCode::kDeadlineExceeded,
          setup_.spec_name + " did not complete read " + ReadText(read_->range) + " within " +
              FormatSeconds(read_deadline_) +
              " of the run's clock (virtual time in the simulator): the layer was stopped",
          false});
  });
  CallPlugin("Read", [&] { layer_->Read(id, {range.begin, range.end}); });
  return id;
}

void PluginLayer::Cancel(ReadId id) {
  if (!read_ || read_->id != id) return;
  CallPlugin("Cancel", [&] { layer_->Cancel(id); });
  if (read_ && read_->id == id) FinishRead(Cancelled(setup_.spec_name + ": read cancelled"));
}

void PluginLayer::Hint(std::span<const ByteRange> ranges) {
  std::vector<plugin::Range> plain;
  for (const ByteRange& r : ranges) plain.push_back({r.begin, r.end});
  bool used = false;
  CallPlugin("Hint", [&] { used = layer_->Hint(plain.data(), plain.size()); });
  if (!used) lower_->Hint(ranges);
}

void PluginLayer::FinishRead(Result<Slices> result) {
  PendingRead read = std::move(*read_);
  read_.reset();
  if (read.deadline) ctx_.scheduler->Cancel(read.deadline);
  CompleteLater(std::move(read.done), std::move(result));
}

void PluginLayer::Stop(Error error) {
  if (stopped_) return;
  stopped_ = error;
  if (read_) FinishRead(error);
  // The plugin's layer goes first: its teardown may still call the Host (release data, cancel fetches).
  auto layer = std::move(layer_);
  try {
    layer.reset();
  } catch (...) {
  }
  for (auto& [id, fetch] : fetches_) lower_->Cancel(fetch.lower);
  fetches_.clear();
  for (auto& [id, timer] : timers_) ctx_.scheduler->Cancel(timer);
  timers_.clear();
  data_.clear();
}

plugin::FetchId PluginLayer::Fetch(plugin::Range range, std::uint32_t max_parts) {
  const plugin::FetchId id = next_fetch_++;
  const std::uint64_t size = lower_->size();
  ByteRange r{std::min(range.begin, size), std::min(range.end, size)};
  if (r.end < r.begin) r.end = r.begin;
  if (r.empty()) {
    // Nothing to ask the layer below for: the empty answer still comes as a separate call.
    ctx_.scheduler->Post([this, alive = alive_, id] {
      if (!*alive || !layer_) return;
      CallPlugin("OnFetched", [&] { layer_->OnFetched(id, plugin::Data(), nullptr); });
    });
    return id;
  }
  if (one_fetch_at_a_time_ && !fetches_.empty()) {
    // A policy layer below takes one read at a time (Source's contract): the fetch fails, saying where
    // the layer belongs, rather than breaking the layer below.
    ctx_.scheduler->Post([this, alive = alive_, id] {
      if (!*alive || !layer_) return;
      const std::string why = setup_.spec_name +
                              " asked for a second fetch while one was in flight, which the layer "
                              "below (" +
                              lower_->name() + ") does not take: put it directly on the fetcher";
      const plugin::Failure failure{plugin::Code::kFailedPrecondition, why.c_str(), false};
      CallPlugin("OnFetched", [&] { layer_->OnFetched(id, plugin::Data(), &failure); });
    });
    return id;
  }
  PendingFetch& pending = fetches_[id];
  pending.range = r;
  pending.lower = FetchBelow(r, max_parts, [this, id](Result<Slices>&& result) { OnFetchDone(id, std::move(result)); });
  return id;
}

void PluginLayer::OnFetchDone(plugin::FetchId id, Result<Slices>&& result) {
  auto it = fetches_.find(id);
  if (it == fetches_.end()) return;
  const ByteRange range = it->second.range;
  fetches_.erase(it);
  if (!layer_) return;
  if (!result.ok()) {
    const Error& e = result.error();
    const plugin::Failure failure{ToPluginCode(e.code), e.message.c_str(), e.retryable};
    CallPlugin("OnFetched", [&] { layer_->OnFetched(id, plugin::Data(), &failure); });
    return;
  }
  for (const Slice& s : *result) {
    if (s.length) payload_ = s.data() != nullptr;
  }
  ledger_.Add(range, *result, account_);
  const ByteRange got{range.begin, range.begin + TotalLength(*result)};
  const plugin::DataId data = AddData(std::move(*result), got);
  CallPlugin("OnFetched", [&] { layer_->OnFetched(id, plugin::Data(this, data), nullptr); });
}

void PluginLayer::CancelFetch(plugin::FetchId id) {
  auto it = fetches_.find(id);
  if (it != fetches_.end()) lower_->Cancel(it->second.lower);
}

plugin::TimerId PluginLayer::SetTimer(std::int64_t at_ns) {
  const plugin::TimerId id = next_timer_++;
  timers_[id] = ctx_.scheduler->PostAt(at_ns, [this, alive = alive_, id] {
    if (!*alive) return;
    timers_.erase(id);
    CallPlugin("OnTimer", [&] { layer_->OnTimer(id); });
  });
  return id;
}

bool PluginLayer::CancelTimer(plugin::TimerId id) {
  auto it = timers_.find(id);
  if (it == timers_.end()) return false;
  const bool cancelled = ctx_.scheduler->Cancel(it->second);
  timers_.erase(it);
  return cancelled;
}

void PluginLayer::Complete(plugin::ReadId read, plugin::DataId data) {
  Slices slices;
  ByteRange range{0, 0};
  if (data) {
    auto it = data_.find(data);
    if (it == data_.end()) throw std::logic_error(setup_.spec_name + ": Complete with an unknown data handle");
    slices = std::move(it->second.slices);
    range = it->second.range;
    data_.erase(it);
  }
  if (!read_ || read_->id != read) return;  // a read already finished (cancelled, or past its deadline)
  if (range.begin != read_->range.begin || range.end != read_->range.end) {
    const bool empty = range.empty();
    FinishRead(Error{ErrorCode::kDataLoss,
                     setup_.spec_name + " completed read " + ReadText(read_->range) + " with " +
                         (empty ? std::string("no bytes") : "bytes " + ReadText(range)),
                     false});
    return;
  }
  FinishRead(std::move(slices));
}

void PluginLayer::Fail(plugin::ReadId read, const plugin::Failure& failure) {
  if (!read_ || read_->id != read) return;
  FinishRead(Error{ToErrorCode(failure.code), failure.message ? failure.message : "", failure.retryable});
}

plugin::DataId PluginLayer::AddData(Slices slices, ByteRange range) {
  const plugin::DataId id = next_data_++;
  data_.emplace(id, DataEntry{std::move(slices), range});
  return id;
}

plugin::DataId PluginLayer::DataCopyIn(std::uint64_t object_offset, const void* bytes, std::uint64_t length) {
  const ByteRange range{object_offset, object_offset + length};
  if (length == 0) return AddData({}, range);
  ChunkRef chunk = Chunk::Make(length, payload_, nullptr);
  if (payload_) std::memcpy(chunk->mutable_data(), bytes, length);
  auto holder = std::make_unique<CopyHolder>();
  holder->object_offset = object_offset;
  holder->sources = ledger_.Attribute(range);
  holder->account = account_;
  if (account_) account_->Allocate(length);
  chunk->SetReleaseHook(std::move(holder));  // runs when the last reference to the copy goes
  Slices slices;
  slices.push_back(Slice{std::move(chunk), 0, length});
  return AddData(std::move(slices), range);
}

plugin::DataId PluginLayer::DataJoin(const plugin::DataId* parts, std::size_t count) {
  Slices slices;
  std::optional<ByteRange> range;
  for (std::size_t i = 0; i < count; ++i) {
    auto it = data_.find(parts[i]);
    if (it == data_.end()) return 0;
    const DataEntry& part = it->second;
    if (part.range.empty()) continue;
    if (range && range->end != part.range.begin) return 0;
    range = range ? ByteRange{range->begin, part.range.end} : part.range;
    for (const Slice& s : part.slices) slices.push_back(s);
  }
  if (!range) {
    // Only empty parts: empty data where the first of them is.
    const std::uint64_t at = count ? data_.at(parts[0]).range.begin : 0;
    range = ByteRange{at, at};
  }
  return AddData(std::move(slices), *range);
}

plugin::DataId PluginLayer::DataSub(plugin::DataId id, std::uint64_t skip, std::uint64_t length) {
  auto it = data_.find(id);
  if (it == data_.end()) return 0;
  const DataEntry& entry = it->second;
  if (skip > entry.range.size() || length > entry.range.size() - skip) return 0;
  const std::uint64_t begin = entry.range.begin + skip;
  return AddData(SubSlices(entry.slices, skip, length), {begin, begin + length});
}

plugin::DataId PluginLayer::DataShare(plugin::DataId id) {
  auto it = data_.find(id);
  if (it == data_.end()) return 0;
  DataEntry copy = it->second;
  return AddData(std::move(copy.slices), copy.range);
}

plugin::Range PluginLayer::DataRange(plugin::DataId id) {
  auto it = data_.find(id);
  if (it == data_.end()) return {};
  return {it->second.range.begin, it->second.range.end};
}

void PluginLayer::DataCopyOut(plugin::DataId id, std::uint64_t skip, std::uint64_t length, void* out) {
  auto it = data_.find(id);
  if (it == data_.end()) throw std::logic_error(setup_.spec_name + ": DataCopyOut of an unknown data handle");
  const DataEntry& entry = it->second;
  if (skip > entry.range.size() || length > entry.range.size() - skip) {
    throw std::logic_error(setup_.spec_name + ": DataCopyOut past the end of the data");
  }
  auto* dest = static_cast<std::byte*>(out);
  std::uint64_t at = 0;  // offset in the data of the current slice
  for (const Slice& s : entry.slices) {
    const std::uint64_t from = std::max(at, skip), to = std::min(at + s.length, skip + length);
    if (from < to) {
      if (const std::byte* data = s.data()) {
        std::memcpy(dest + (from - skip), data + (from - at), to - from);
      } else {
        // The simulator moves no bytes unless asked to: these are the object's synthetic content.
        FillSynthetic(object_seed_, entry.range.begin + from, dest + (from - skip), to - from);
      }
    }
    at += s.length;
  }
}

void PluginLayer::DataRelease(plugin::DataId id) {
  data_.erase(id);
}

}  // namespace pflab::plugins
