#include "engine/concurrent_fetcher.h"

#include <algorithm>
#include <cassert>
#include <stdexcept>
#include <string>
#include <utility>

#include "engine/units.h"

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
      object_(std::move(object)),
      options_(options),
      account_(account),
      transport_(ctx, transport, options.retry(), account),
      alive_(AliveFlag::Make()) {}

ConcurrentFetcher::~ConcurrentFetcher() {
  // Cancel whatever is still in flight. The transport still completes those fetches later, on the
  // scheduler; the liveness token turns those late callbacks into no-ops.
  *alive_ = false;
  for (auto& read : reads_) {
    if (read.live) CancelParts(read);
  }
  for (auto& stream : streams_) {
    if (stream.live) transport_.DiscardStream(stream.retrying);
  }
}

namespace {

// A fetch whose bytes this process cannot hold (see PayloadLimit): the read fails with why.
Error TooLarge(std::uint64_t bytes) {
  return ResourceExhausted("a fetch of " + FormatSize(bytes) + " would take the buffers this process holds (" +
                           FormatSize(PayloadBytes()) + " now) past " + FormatSize(PayloadLimit()) +
                           ", three quarters of this machine's memory");
}

}  // namespace

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
  ChunkRef chunk = Chunk::TryMake(range.size(), transport_.wants_payload(), account_);
  if (!chunk) {
    ctx_.scheduler->Post(
        [done = std::move(done), error = TooLarge(range.size())]() mutable { done(std::move(error)); });
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
  read.timing = {};
  read.chunk = std::move(chunk);
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
  PendingRead& read = *Find(id);
  Part& part = read.parts[index];
  // Our own RetryingTransport calls back directly: it is a member, so it never outlives us, and our
  // destructor discards every part still in flight (CancelParts) before it goes.
  part.fetch = transport_.FetchFor(object_, part.range, FetchTarget{read.chunk, part.chunk_offset}, this, id,
                                   static_cast<std::uint32_t>(index));
}

void ConcurrentFetcher::OnFetchDone(std::uint64_t tag, std::uint32_t part, const FetchOutcome& outcome) {
  const ReadId id = tag;
  const std::size_t index = part;
  PendingRead* found = Find(id);
  if (!found) return;
  PendingRead& read = *found;
  read.parts[index].fetch = 0;
  if (outcome.status.ok()) {
    const auto earliest = [](Nanos& at, Nanos part) {
      if (part >= 0 && (at < 0 || part < at)) at = part;
    };
    earliest(read.timing.sent, outcome.sent_at);
    earliest(read.timing.first_byte, outcome.first_byte_at);
    CompletePart(id, read);
    return;
  }
  if (outcome.status.error().code == ErrorCode::kCancelled) return;  // we cancelled it
  Finish(id, Error(outcome.status.error()));                         // the RetryingTransport gave up
}

void ConcurrentFetcher::CompletePart(ReadId id, PendingRead& read) {
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
  completing_timing_ = result.ok() ? read->timing : ResponseTiming{};
  Release(*read);
  // Completion is already on the scheduler (we are inside a transport callback).
  done(std::move(result));
}

void ConcurrentFetcher::CancelParts(PendingRead& read) {
  for (auto& part : read.parts) {
    if (part.fetch) {  // its read completes here, so nobody listens for the fetch's end
      transport_.Discard(part.fetch);
      part.fetch = 0;
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
  stream.retrying = transport_.OpenStream(object_, range);
  return streams_.IdOf(slot);
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
  ChunkRef chunk = Chunk::TryMake(length, transport_.wants_payload(), account_);
  if (!chunk) {
    ctx_.scheduler->Post([done = std::move(done), error = TooLarge(length)]() mutable { done(std::move(error)); });
    return;
  }
  stream.pulling = true;
  stream.done = std::move(done);
  stream.chunk = std::move(chunk);
  transport_.ReadStream(stream.retrying, length, FetchTarget{stream.chunk, 0},
                        [this, alive = alive_, id](const FetchOutcome& outcome) {
                          if (*alive) OnPulled(id, outcome);
                        });
}

void ConcurrentFetcher::OnPulled(StreamId id, const FetchOutcome& outcome) {
  Stream* found = FindStream(id);
  if (!found || !found->pulling) return;  // closed meanwhile: CloseStream completed the pull
  Stream& stream = *found;
  stream.position += std::min(outcome.bytes_received, stream.chunk->size());
  if (outcome.status.ok()) {
    Slices slices;
    slices.push_back(Slice{stream.chunk, 0, stream.chunk->size()});
    FinishPull(stream, std::move(slices));
    return;
  }
  FinishPull(stream, Error(outcome.status.error()));  // the RetryingTransport gave up
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
  // What the GET had received unpulled is charged to the account by the RetryingTransport; the pull
  // in progress, if any, completes here.
  transport_.DiscardStream(stream.retrying);
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
