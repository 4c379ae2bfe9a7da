#include "engine/concurrent_fetcher.h"

#include <algorithm>
#include <cassert>
#include <stdexcept>
#include <string>
#include <utility>

namespace pflab {

std::vector<ByteRange> SplitRange(ByteRange range, std::uint32_t parts, std::uint64_t min_part_bytes, SplitRule rule) {
  const std::uint64_t size = range.size();
  std::uint64_t n = 1;
  if (parts > 1 && size >= min_part_bytes) {
    if (rule == SplitRule::kV795) {
      n = parts;
    } else {
      n = std::min<std::uint64_t>(parts, min_part_bytes == 0 ? parts : size / min_part_bytes);
    }
  }
  n = std::max<std::uint64_t>(n, 1);
  std::vector<ByteRange> out;
  out.reserve(n);
  const std::uint64_t part = size / n;
  std::uint64_t at = range.begin;
  for (std::uint64_t i = 0; i < n; ++i) {
    std::uint64_t end = (i + 1 == n) ? range.end : at + part;
    out.push_back({at, end});
    at = end;
  }
  return out;
}

ConcurrentFetcher::ConcurrentFetcher(LayerContext ctx, Transport* transport, ObjectRef object,
                                     ConcurrentFetcherOptions options, MemoryAccount* account)
    : ctx_(ctx),
      transport_(transport),
      object_(std::move(object)),
      options_(options),
      account_(account),
      rng_(options.seed),
      alive_(std::make_shared<bool>(true)) {}

ConcurrentFetcher::~ConcurrentFetcher() {
  // Cancel whatever is still in flight. The transport still completes those fetches later, on the
  // scheduler; the liveness token turns those late callbacks into no-ops.
  *alive_ = false;
  for (auto& read : reads_) {
    if (read.live) CancelParts(read);
  }
  for (auto& stream : streams_) {
    if (!stream.live) continue;
    if (stream.backoff_timer) ctx_.scheduler->Cancel(stream.backoff_timer);
    if (stream.get) CloseGet(stream, false);
  }
}

ReadId ConcurrentFetcher::Read(ByteRange range, ReadCallback done) {
  return ReadSplit(range, options_.parts, std::move(done));
}

ConcurrentFetcher::PendingRead* ConcurrentFetcher::Find(ReadId id) {
  PendingRead* read = reads_.Find(id);
  return read && read->live ? read : nullptr;
}

ReadId ConcurrentFetcher::ReadSplit(ByteRange range, std::uint32_t max_parts, ReadCallback done) {
  range.end = std::min(range.end, object_.size);
  if (range.empty()) {
    ctx_.scheduler->Post([done = std::move(done)] { done(Slices{}); });
    return 0;  // nothing to cancel
  }
  std::uint32_t parts = std::max<std::uint32_t>(1, std::min(max_parts, options_.parts));
  const std::uint32_t slot = reads_.Acquire();
  PendingRead& read = reads_[slot];
  const ReadId id = reads_.IdOf(slot);
  read.live = true;
  ++live_reads_;
  read.parts.clear();
  read.range = range;
  read.chunk = Chunk::Make(range.size(), transport_->wants_payload(), account_);
  read.started = ctx_.scheduler->Now();
  read.done = std::move(done);
  if (parts == 1 || range.size() < options_.min_part_bytes) {
    read.parts.push_back(Part{range, 0});  // the common case, without building a split list
  } else {
    for (const ByteRange& r : SplitRange(range, parts, options_.min_part_bytes, options_.rule)) {
      read.parts.push_back(Part{r, r.begin - range.begin});
    }
  }
  read.parts_left = read.parts.size();
  for (std::size_t i = 0; i < read.parts.size(); ++i) StartPart(id, i);
  return id;
}

void ConcurrentFetcher::StartPart(ReadId id, std::size_t index) {
  PendingRead* found = Find(id);
  if (!found) return;
  PendingRead& read = *found;
  Part& part = read.parts[index];
  part.backoff_timer = 0;
  ++part.attempts;
  ctx_.Emit(EventType::kFetchStart, kBackendLayer, part.range.begin, part.range.size());
  part.fetch = transport_->Fetch(object_, part.range, FetchTarget{read.chunk, part.chunk_offset},
                                 [this, alive = alive_, id, index](const FetchOutcome& outcome) {
                                   if (*alive) OnPartDone(id, index, outcome);
                                 });
}

void ConcurrentFetcher::EmitFailure(ByteRange asked, std::uint64_t bytes, const Error& error, std::uint32_t attempt) {
  // The event names which attempt this was; a copy, on the failure path only.
  Error detail = error;
  detail.attempts = attempt;
  ctx_.Emit(EventType::kFetchFail, kBackendLayer, asked.begin, asked.size(), bytes, &detail);
}

Nanos ConcurrentFetcher::Backoff(std::uint32_t attempts) {
  Nanos cap = options_.initial_backoff;
  for (std::uint32_t i = 1; i < attempts && cap < options_.max_backoff; ++i) cap *= 2;
  cap = std::min(cap, options_.max_backoff);
  std::uniform_int_distribution<Nanos> jitter(0, cap);
  return jitter(rng_);
}

void ConcurrentFetcher::OnPartDone(ReadId id, std::size_t index, const FetchOutcome& outcome) {
  PendingRead* found = Find(id);
  if (!found) return;
  PendingRead& read = *found;
  Part& part = read.parts[index];
  part.fetch = 0;
  const ByteRange asked = part.range;
  if (outcome.status.ok()) {
    ctx_.Emit(EventType::kFetchEnd, kBackendLayer, asked.begin, asked.size(), outcome.bytes_received);
    CompletePart(id, read, part);
    return;
  }
  const Error& error = outcome.status.error();
  if (error.code == ErrorCode::kCancelled) return;  // we cancelled it; the event was emitted then
  EmitFailure(asked, outcome.bytes_received, error, part.attempts);
  // Resume from the last byte received rather than refetching what already landed.
  part.range.begin += std::min(outcome.bytes_received, asked.size());
  part.chunk_offset += std::min(outcome.bytes_received, asked.size());
  const Nanos delay = Backoff(part.attempts);
  const bool in_time = ctx_.scheduler->Now() + delay - read.started < options_.deadline;
  if (error.retryable && part.attempts < options_.max_attempts && in_time && !part.range.empty()) {
    ctx_.Emit(EventType::kRetry, kBackendLayer, part.range.begin, part.range.size());
    part.backoff_timer = ctx_.scheduler->PostAfter(delay, [this, id, index] { StartPart(id, index); });
    return;
  }
  if (part.range.empty()) {
    CompletePart(id, read, part);  // everything arrived before the failure was reported
    return;
  }
  Error final_error = error;
  final_error.message = "fetching [" + std::to_string(asked.begin) + ", " + std::to_string(asked.end) + ") of " +
                        object_.bucket + "/" + object_.name + " failed after " + std::to_string(part.attempts) +
                        " attempt(s): " + error.message;
  final_error.attempts = part.attempts;
  Finish(id, std::move(final_error));
}

void ConcurrentFetcher::CompletePart(ReadId id, PendingRead& read, Part& part) {
  part.done = true;
  if (--read.parts_left > 0) return;
  Slices slices;
  slices.push_back(Slice{read.chunk, 0, read.range.size()});
  Finish(id, std::move(slices));
}

void ConcurrentFetcher::Release(PendingRead& read) {
  read.live = false;
  read.chunk.reset();
  --live_reads_;
  reads_.Release(reads_.IndexOf(read));
}

void ConcurrentFetcher::Finish(ReadId id, Result<Slices>&& result) {
  PendingRead* read = Find(id);
  assert(read != nullptr);
  // The first failure cancels the siblings still in flight or waiting to retry.
  CancelParts(*read);
  ReadCallback done = std::move(read->done);
  Release(*read);
  // Completion is already on the scheduler (we are inside a transport callback or a timer).
  done(std::move(result));
}

void ConcurrentFetcher::CancelParts(PendingRead& read) {
  for (auto& part : read.parts) {
    if (part.fetch) {
      transport_->Cancel(part.fetch);
      part.fetch = 0;
      ctx_.Emit(EventType::kFetchCancel, kBackendLayer, part.range.begin, part.range.size());
    }
    if (part.backoff_timer) {
      ctx_.scheduler->Cancel(part.backoff_timer);
      part.backoff_timer = 0;
    }
  }
}

ConcurrentFetcher::Stream* ConcurrentFetcher::FindStream(StreamId id) {
  Stream* stream = streams_.Find(id);
  return stream && stream->live ? stream : nullptr;
}

StreamId ConcurrentFetcher::OpenStream(ByteRange range) {
  range.end = std::min(range.end, object_.size);
  range.begin = std::min(range.begin, range.end);
  const std::uint32_t slot = streams_.Acquire();
  Stream& stream = streams_[slot];
  stream.live = true;
  ++live_streams_;
  stream.range = range;
  stream.position = range.begin;
  stream.pulling = false;
  OpenGet(stream);
  return streams_.IdOf(slot);
}

void ConcurrentFetcher::OpenGet(Stream& stream) {
  stream.get_begin = stream.position;
  stream.get_pulled = 0;
  const ByteRange rest{stream.position, stream.range.end};
  ctx_.Emit(EventType::kFetchStart, kBackendLayer, rest.begin, rest.size());
  stream.get = transport_->OpenStream(object_, rest);
}

void ConcurrentFetcher::CloseGet(Stream& stream, bool broke) {
  const StreamId get = stream.get;
  stream.get = 0;
  if (!broke) {  // a broken GET had its fetch_fail
    const ByteRange asked{stream.get_begin, stream.range.end};
    const EventType type = stream.get_pulled == asked.size() ? EventType::kFetchEnd : EventType::kFetchCancel;
    ctx_.Emit(type, kBackendLayer, asked.begin, asked.size(), stream.get_pulled);
  }
  // What arrived unpulled is charged even when this fetcher is gone by the time the transport reports
  // it: the account outlives every layer.
  transport_->CloseStream(get, [account = account_](std::uint64_t unread) { account->AddUnkept(unread); });
}

void ConcurrentFetcher::ReadStream(StreamId id, std::uint64_t length, ReadCallback done) {
  Stream* found = FindStream(id);
  if (!found || found->pulling) throw std::logic_error("ReadStream: unknown stream, or a pull already running");
  Stream& stream = *found;
  length = std::min(length, stream.range.end - stream.position);
  if (length == 0) {
    ctx_.scheduler->Post([done = std::move(done)] { done(Slices{}); });
    return;
  }
  stream.pulling = true;
  stream.done = std::move(done);
  stream.chunk = Chunk::Make(length, transport_->wants_payload(), account_);
  stream.filled = 0;
  stream.attempts = 1;
  stream.started = ctx_.scheduler->Now();
  Pull(id);
}

void ConcurrentFetcher::Pull(StreamId id) {
  Stream* found = FindStream(id);
  if (!found) return;
  Stream& stream = *found;
  stream.backoff_timer = 0;
  if (!stream.get) OpenGet(stream);
  const std::uint64_t want = stream.chunk->size() - stream.filled;
  transport_->ReadStream(stream.get, want, FetchTarget{stream.chunk, stream.filled},
                         [this, alive = alive_, id](const FetchOutcome& outcome) {
                           if (*alive) OnPulled(id, outcome);
                         });
}

void ConcurrentFetcher::OnPulled(StreamId id, const FetchOutcome& outcome) {
  Stream* found = FindStream(id);
  if (!found || !found->pulling) return;  // closed meanwhile: CloseStream completed the pull
  Stream& stream = *found;
  const std::uint64_t got = std::min(outcome.bytes_received, stream.chunk->size() - stream.filled);
  stream.filled += got;
  stream.position += got;
  stream.get_pulled += got;
  auto whole = [&stream] {
    Slices slices;
    slices.push_back(Slice{stream.chunk, 0, stream.chunk->size()});
    return slices;
  };
  if (outcome.status.ok()) {
    FinishPull(stream, whole());
    return;
  }
  const Error& error = outcome.status.error();
  EmitFailure({stream.get_begin, stream.range.end}, stream.get_pulled, error, stream.attempts);
  CloseGet(stream, /*broke=*/true);
  if (stream.filled == stream.chunk->size()) {  // all of it arrived before the failure was reported
    FinishPull(stream, whole());
    return;
  }
  const Nanos delay = Backoff(stream.attempts);
  const bool in_time = ctx_.scheduler->Now() + delay - stream.started < options_.deadline;
  if (error.retryable && stream.attempts < options_.max_attempts && in_time) {
    ++stream.attempts;
    ctx_.Emit(EventType::kRetry, kBackendLayer, stream.position, stream.range.end - stream.position);
    stream.backoff_timer = ctx_.scheduler->PostAfter(delay, [this, id] { Pull(id); });
    return;
  }
  const std::uint64_t begin = stream.position - stream.filled;
  Error final_error = error;
  final_error.message = "streaming [" + std::to_string(begin) + ", " + std::to_string(begin + stream.chunk->size()) +
                        ") of " + object_.bucket + "/" + object_.name + " failed after " +
                        std::to_string(stream.attempts) + " attempt(s): " + error.message;
  final_error.attempts = stream.attempts;
  FinishPull(stream, std::move(final_error));
}

void ConcurrentFetcher::FinishPull(Stream& stream, Result<Slices>&& result) {
  stream.pulling = false;
  stream.chunk.reset();
  ReadCallback done = std::move(stream.done);
  // Already on the scheduler: inside a transport callback.
  done(std::move(result));
}

void ConcurrentFetcher::CloseStream(StreamId id) {
  Stream* found = FindStream(id);
  if (!found) return;
  Stream& stream = *found;
  if (stream.backoff_timer) ctx_.scheduler->Cancel(stream.backoff_timer);
  stream.backoff_timer = 0;
  if (stream.get) CloseGet(stream, false);
  if (stream.pulling) {
    stream.pulling = false;
    stream.chunk.reset();
    ctx_.scheduler->Post([done = std::move(stream.done)] { done(Cancelled("stream closed")); });
  }
  stream.live = false;
  --live_streams_;
  streams_.Release(streams_.IndexOf(stream));
}

void ConcurrentFetcher::Cancel(ReadId id) {
  PendingRead* read = Find(id);
  if (!read) return;
  CancelParts(*read);
  ReadCallback done = std::move(read->done);
  Release(*read);
  ctx_.scheduler->Post([done = std::move(done)] { done(Cancelled("read cancelled")); });
}

}  // namespace pflab
