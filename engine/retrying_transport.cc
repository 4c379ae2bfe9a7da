#include "engine/retrying_transport.h"

#include <algorithm>
#include <stdexcept>
#include <string>
#include <utility>

namespace pflab {

RetryingTransport::RetryingTransport(LayerContext ctx, Transport* inner, RetryPolicy policy, MemoryAccount* account)
    : ctx_(ctx),
      inner_(inner),
      // Found once per decorator (a fetcher), so the fetch path pays nothing for it.
      counted_(dynamic_cast<AccountingTransport*>(inner)),
      fetch_below_(counted_ ? counted_->below() : inner),
      counted_alive_(counted_ ? counted_->alive() : AliveFlag()),
      policy_(policy),
      account_(account),
      rng_(policy.seed),
      alive_(AliveFlag::Make()) {}

RetryingTransport::~RetryingTransport() {
  // What is still below completes later, on the scheduler; the liveness token turns those late
  // callbacks into no-ops. The callers' callbacks are dropped: whoever destroys this is done with it.
  *alive_ = false;
  for (auto& op : ops_) {
    if (!op.live || op.cancelled) continue;
    if (op.inner) fetch_below_->Cancel(op.inner);
    if (op.backoff) ctx_.scheduler->Cancel(op.backoff);
  }
  for (auto& stream : streams_) {
    if (!stream.live || stream.closing) continue;
    if (stream.backoff) ctx_.scheduler->Cancel(stream.backoff);
    if (stream.get) CloseGet(stream, false, nullptr);
  }
}

std::uint32_t RetryingTransport::NewOp(ByteRange range, FetchTarget&& target) {
  const std::uint32_t slot = ops_.Acquire();
  Op& op = ops_[slot];
  op.live = true;
  op.cancelled = false;
  op.range = range;
  op.target = std::move(target);
  op.received = 0;
  op.attempts = 0;
  op.started = ctx_.scheduler->Now();
  return slot;
}

FetchId RetryingTransport::Fetch(const ObjectRef& object, ByteRange range, FetchTarget target, FetchCallback done) {
  const std::uint32_t slot = NewOp(range, std::move(target));
  Op& op = ops_[slot];
  op.object = object;
  op.shared = nullptr;
  op.client = nullptr;
  op.done = std::move(done);
  const FetchId id = ops_.IdOf(slot);
  StartAttempt(id);
  return id;
}

FetchId RetryingTransport::FetchFor(const ObjectRef& object, ByteRange range, FetchTarget target, FetchClient* client,
                                    std::uint64_t tag, std::uint32_t part) {
  const std::uint32_t slot = NewOp(range, std::move(target));
  Op& op = ops_[slot];
  op.shared = &object;
  op.client = client;
  op.tag = tag;
  op.part = part;
  const FetchId id = ops_.IdOf(slot);
  StartAttempt(id);
  return id;
}

void RetryingTransport::StartAttempt(FetchId id) {
  Op* op = ops_.Find(id);
  if (!op || !op->live) return;
  op->backoff = 0;
  ++op->attempts;
  ctx_.Emit(EventType::kFetchStart, kBackendLayer, op->range.begin, op->range.size());
  if (!counted_) {
    op->inner =
        inner_->Fetch(op->object_ref(), op->range, op->target, [this, alive = alive_, id](const FetchOutcome& outcome) {
          if (*alive) OnAttemptDone(id, outcome);
        });
    return;
  }
  // The accounting's Fetch and completion, inlined (see the header): the attempt is counted when
  // sent, and its answer before it is handled here, even when this decorator is gone by then; once
  // the accounting is gone, the answer goes nowhere, as it went nowhere through the accounting.
  counted_->CountFetch();
  op->inner = fetch_below_->Fetch(
      op->object_ref(), op->range, op->target,
      [this, alive = alive_, id, counted = counted_, counted_alive = counted_alive_](const FetchOutcome& outcome) {
        if (!*counted_alive) return;
        counted->CountFetchAnswer(outcome);
        if (*alive) OnAttemptDone(id, outcome);
      });
}

void RetryingTransport::EmitFailure(ByteRange asked, std::uint64_t bytes, const Error& error, std::uint32_t attempt) {
  // The event names which attempt this was; a copy, on the failure path only.
  Error detail = error;
  detail.attempts = attempt;
  ctx_.Emit(EventType::kFetchFail, kBackendLayer, asked.begin, asked.size(), bytes, &detail);
}

Nanos RetryingTransport::Backoff(std::uint32_t attempts) {
  Nanos cap = policy_.initial_backoff;
  for (std::uint32_t i = 1; i < attempts && cap < policy_.max_backoff; ++i) cap *= 2;
  cap = std::min(cap, policy_.max_backoff);
  std::uniform_int_distribution<Nanos> jitter(0, cap);
  return jitter(rng_);
}

bool RetryingTransport::ShouldRetry(const Error& error, std::uint32_t attempts, Nanos started, Nanos* delay) {
  // The backoff is drawn whatever the answer, so the jitter sequence does not depend on the error.
  *delay = Backoff(attempts);
  const bool in_time = ctx_.scheduler->Now() + *delay - started < policy_.deadline;
  return error.retryable && attempts < policy_.max_attempts && in_time;
}

void RetryingTransport::OnAttemptDone(FetchId id, const FetchOutcome& outcome) {
  Op* found = ops_.Find(id);
  if (!found || !found->live) return;
  Op& op = *found;
  op.inner = 0;
  const ByteRange asked = op.range;
  if (op.cancelled) {  // the fetch_cancel went out with the Cancel
    FinishOp(op, {Cancelled("fetch cancelled"), op.received});
    return;
  }
  if (outcome.status.ok()) {
    ctx_.Emit(EventType::kFetchEnd, kBackendLayer, asked.begin, asked.size(), outcome.bytes_received);
    FinishOp(op, {OkStatus(), op.received + asked.size(), outcome.sent_at, outcome.first_byte_at});
    return;
  }
  const Error& error = outcome.status.error();
  if (error.code == ErrorCode::kCancelled) {  // cancelled below, not by us: not a failure to retry
    FinishOp(op, {outcome.status, op.received});
    return;
  }
  EmitFailure(asked, outcome.bytes_received, error, op.attempts);
  // Resume from the last byte received rather than refetching what already landed.
  const std::uint64_t got = std::min(outcome.bytes_received, asked.size());
  op.range.begin += got;
  op.target.offset += got;
  op.received += got;
  Nanos delay = 0;
  if (ShouldRetry(error, op.attempts, op.started, &delay) && !op.range.empty()) {
    ctx_.Emit(EventType::kRetry, kBackendLayer, op.range.begin, op.range.size());
    op.backoff = ctx_.scheduler->PostAfter(delay, [this, id] { StartAttempt(id); });
    return;
  }
  if (op.range.empty()) {  // everything arrived before the failure was reported
    FinishOp(op, {OkStatus(), op.received});
    return;
  }
  Error final_error = error;
  final_error.message = "fetching [" + std::to_string(asked.begin) + ", " + std::to_string(asked.end) + ") of " +
                        op.object_ref().bucket + "/" + op.object_ref().name + " failed after " +
                        std::to_string(op.attempts) + " attempt(s): " + error.message;
  final_error.attempts = op.attempts;
  FinishOp(op, {Status(std::move(final_error)), op.received});
}

void RetryingTransport::FinishOp(Op& op, const FetchOutcome& outcome) {
  op.live = false;
  op.target = {};
  ops_.Release(ops_.IndexOf(op));
  // Already on the scheduler: inside a completion from below. Null when discarded.
  if (FetchClient* client = op.client) {
    op.client = nullptr;
    client->OnFetchDone(op.tag, op.part, outcome);
    return;
  }
  FetchCallback done = std::move(op.done);
  if (done) done(outcome);
}

void RetryingTransport::Cancel(FetchId id) {
  CancelOp(id, true);
}

void RetryingTransport::Discard(FetchId id) {
  CancelOp(id, false);
}

void RetryingTransport::CancelOp(FetchId id, bool notify) {
  Op* found = ops_.Find(id);
  if (!found || !found->live || found->cancelled) return;
  Op& op = *found;
  op.cancelled = true;
  op.target = {};
  if (!notify) {
    op.done = nullptr;
    op.client = nullptr;
  }
  if (op.inner) {  // completes from below with kCancelled
    fetch_below_->Cancel(op.inner);
    ctx_.Emit(EventType::kFetchCancel, kBackendLayer, op.range.begin, op.range.size());
    return;
  }
  // Waiting to retry: nothing below to cancel.
  ctx_.scheduler->Cancel(op.backoff);
  op.backoff = 0;
  FetchCallback done = std::move(op.done);
  FetchClient* client = std::exchange(op.client, nullptr);
  op.live = false;
  ops_.Release(ops_.IndexOf(op));
  if (client) {
    // The task may run after this decorator is gone, and with it the client that owns it: the flag
    // says whether both still exist.
    ctx_.scheduler->Post([alive = alive_, client, tag = op.tag, part = op.part] {
      if (*alive) client->OnFetchDone(tag, part, {Cancelled("fetch cancelled"), 0});
    });
    return;
  }
  if (done) ctx_.scheduler->Post([done = std::move(done)]() mutable { done({Cancelled("fetch cancelled"), 0}); });
}

StreamId RetryingTransport::OpenStream(const ObjectRef& object, ByteRange range) {
  const std::uint32_t slot = streams_.Acquire();
  Stream& stream = streams_[slot];
  stream.live = true;
  stream.closing = false;
  stream.object = object;
  stream.range = range;
  stream.position = range.begin;
  stream.pulling = false;
  stream.backoff = 0;
  OpenGet(stream);
  return streams_.IdOf(slot);
}

void RetryingTransport::OpenGet(Stream& stream) {
  stream.get_begin = stream.position;
  stream.get_pulled = 0;
  const ByteRange rest{stream.position, stream.range.end};
  ctx_.Emit(EventType::kFetchStart, kBackendLayer, rest.begin, rest.size());
  stream.get = inner_->OpenStream(stream.object, rest);
}

void RetryingTransport::CloseGet(Stream& stream, bool broke, StreamClosedCallback closed) {
  const StreamId get = stream.get;
  stream.get = 0;
  if (!broke) {  // a broken GET had its fetch_fail
    const ByteRange asked{stream.get_begin, stream.range.end};
    const EventType type = stream.get_pulled == asked.size() ? EventType::kFetchEnd : EventType::kFetchCancel;
    ctx_.Emit(type, kBackendLayer, asked.begin, asked.size(), stream.get_pulled);
  }
  if (!closed) {
    // Charged even when this decorator is gone by the time the GET reports: the account outlives it.
    closed = [account = account_](std::uint64_t unread) {
      if (account) account->AddUnkept(unread);
    };
  }
  inner_->CloseStream(get, std::move(closed));
}

void RetryingTransport::ReadStream(StreamId id, std::uint64_t length, FetchTarget target, FetchCallback done) {
  Stream* found = streams_.Find(id);
  if (!found || !found->live || found->closing || found->pulling) {
    throw std::logic_error("ReadStream: unknown stream, or a pull already running");
  }
  Stream& stream = *found;
  stream.pulling = true;
  stream.target = std::move(target);
  stream.length = std::min(length, stream.range.end - stream.position);
  stream.filled = 0;
  stream.attempts = 1;
  stream.started = ctx_.scheduler->Now();
  stream.done = std::move(done);
  Pull(id);
}

void RetryingTransport::Pull(StreamId id) {
  Stream* found = streams_.Find(id);
  if (!found || !found->live) return;
  Stream& stream = *found;
  stream.backoff = 0;
  if (!stream.get) OpenGet(stream);
  inner_->ReadStream(stream.get, stream.length - stream.filled,
                     FetchTarget{stream.target.chunk, stream.target.offset + stream.filled},
                     [this, alive = alive_, id](const FetchOutcome& outcome) {
                       if (*alive) OnPulled(id, outcome);
                     });
}

void RetryingTransport::OnPulled(StreamId id, const FetchOutcome& outcome) {
  Stream* found = streams_.Find(id);
  if (!found || !found->live || !found->pulling) return;
  Stream& stream = *found;
  if (stream.closing) {  // the pull below was cancelled by CloseStream
    FetchCallback done = std::move(stream.done);
    const std::uint64_t filled = stream.filled;
    stream.live = false;
    stream.target = {};
    streams_.Release(streams_.IndexOf(stream));
    if (done) done({Cancelled("stream closed"), filled});  // null when discarded
    return;
  }
  const std::uint64_t got = std::min(outcome.bytes_received, stream.length - stream.filled);
  stream.filled += got;
  stream.position += got;
  stream.get_pulled += got;
  if (outcome.status.ok()) {
    FinishPull(stream, {OkStatus(), stream.filled});
    return;
  }
  const Error& error = outcome.status.error();
  EmitFailure({stream.get_begin, stream.range.end}, stream.get_pulled, error, stream.attempts);
  CloseGet(stream, /*broke=*/true, nullptr);
  if (stream.filled == stream.length) {  // all of it arrived before the failure was reported
    FinishPull(stream, {OkStatus(), stream.filled});
    return;
  }
  Nanos delay = 0;
  if (ShouldRetry(error, stream.attempts, stream.started, &delay)) {
    ++stream.attempts;
    ctx_.Emit(EventType::kRetry, kBackendLayer, stream.position, stream.range.end - stream.position);
    stream.backoff = ctx_.scheduler->PostAfter(delay, [this, id] { Pull(id); });
    return;
  }
  const std::uint64_t begin = stream.position - stream.filled;
  Error final_error = error;
  final_error.message = "streaming [" + std::to_string(begin) + ", " + std::to_string(begin + stream.length) + ") of " +
                        stream.object.bucket + "/" + stream.object.name + " failed after " +
                        std::to_string(stream.attempts) + " attempt(s): " + error.message;
  final_error.attempts = stream.attempts;
  FinishPull(stream, {Status(std::move(final_error)), stream.filled});
}

void RetryingTransport::FinishPull(Stream& stream, const FetchOutcome& outcome) {
  stream.pulling = false;
  stream.target = {};
  FetchCallback done = std::move(stream.done);
  // Already on the scheduler: inside a completion from below.
  done(outcome);
}

void RetryingTransport::CloseStream(StreamId id, StreamClosedCallback closed) {
  EndStream(id, std::move(closed), true);
}

void RetryingTransport::DiscardStream(StreamId id) {
  EndStream(id, nullptr, false);
}

void RetryingTransport::EndStream(StreamId id, StreamClosedCallback closed, bool notify) {
  Stream* found = streams_.Find(id);
  if (!found || !found->live || found->closing) return;
  Stream& stream = *found;
  if (stream.backoff) ctx_.scheduler->Cancel(stream.backoff);
  stream.backoff = 0;
  if (!notify) stream.done = nullptr;
  if (stream.get) {
    // A pull in progress is below: it completes with kCancelled, and that ends ours (OnPulled).
    const bool pull_below = stream.pulling;
    CloseGet(stream, false, std::move(closed));
    if (pull_below) {
      stream.closing = true;
      stream.target = {};
      return;
    }
  } else if (closed) {
    ctx_.scheduler->Post([closed = std::move(closed)]() mutable { closed(0); });
  }
  if (stream.pulling) {  // waiting to retry: nothing below to end it
    stream.pulling = false;
    stream.target = {};
    if (stream.done) {
      ctx_.scheduler->Post([done = std::move(stream.done)]() mutable { done({Cancelled("stream closed"), 0}); });
    }
  }
  stream.live = false;
  streams_.Release(streams_.IndexOf(stream));
}

}  // namespace pflab
