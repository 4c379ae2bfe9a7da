#include "engine/accounting_transport.h"

#include <stdexcept>
#include <utility>

namespace pflab {

AccountingTransport::AccountingTransport(Transport* inner) : inner_(inner), alive_(AliveFlag::Make()) {}

AccountingTransport::~AccountingTransport() {
  // Completions still on their way find the flag cleared: whoever destroys this is done with them.
  *alive_ = false;
}

Transport::FetchCallback AccountingTransport::Wrap(FetchCallback done, std::uint64_t stream) {
  const std::uint32_t slot = calls_.Acquire();
  calls_[slot].done = std::move(done);
  calls_[slot].stream = stream;
  const std::uint64_t id = calls_.IdOf(slot);
  // `this`, the flag and an id fit the callback's inline storage: the hot path allocates nothing.
  return [this, alive = alive_, id](const FetchOutcome& outcome) {
    if (*alive) OnDone(id, outcome);
  };
}

void AccountingTransport::OnDone(std::uint64_t id, const FetchOutcome& outcome) {
  Call* call = calls_.Find(id);
  if (!call) return;
  FetchCallback done = std::move(call->done);
  const std::uint64_t stream_id = call->stream;
  calls_.Release(calls_.IndexOf(*call));
  if (stream_id == 0) {
    CountFetchAnswer(outcome);
  } else {
    bytes_ += outcome.bytes_received;
    if (Stream* stream = streams_.Find(stream_id); stream && !stream->answered) {
      // A GET is refused at its first pull; a cancelled pull says nothing of its answer.
      const bool cancelled = !outcome.status.ok() && outcome.status.error().code == ErrorCode::kCancelled;
      if (Refused(outcome)) ++refused_;
      stream->answered = !cancelled && (outcome.bytes_received > 0 || !outcome.status.ok());
    }
  }
  done(outcome);
}

FetchId AccountingTransport::Fetch(const ObjectRef& object, ByteRange range, FetchTarget target, FetchCallback done) {
  ++requests_;
  return inner_->Fetch(object, range, std::move(target), Wrap(std::move(done), 0));
}

void AccountingTransport::Cancel(FetchId id) {
  inner_->Cancel(id);
}

StreamId AccountingTransport::OpenStream(const ObjectRef& object, ByteRange range) {
  ++requests_;
  const std::uint32_t slot = streams_.Acquire();
  streams_[slot].inner = inner_->OpenStream(object, range);
  streams_[slot].answered = false;
  return streams_.IdOf(slot);
}

void AccountingTransport::ReadStream(StreamId id, std::uint64_t length, FetchTarget target, FetchCallback done) {
  Stream* stream = streams_.Find(id);
  if (!stream || !stream->inner) throw std::logic_error("AccountingTransport::ReadStream: unknown stream");
  inner_->ReadStream(stream->inner, length, std::move(target), Wrap(std::move(done), id));
}

void AccountingTransport::CloseStream(StreamId id, StreamClosedCallback closed) {
  Stream* stream = streams_.Find(id);
  if (!stream || !stream->inner) throw std::logic_error("AccountingTransport::CloseStream: unknown stream");
  const StreamId inner = stream->inner;
  stream->inner = 0;
  stream->closed = std::move(closed);
  inner_->CloseStream(inner, [this, alive = alive_, id](std::uint64_t unread) {
    if (*alive) OnClosed(id, unread);
  });
}

void AccountingTransport::OnClosed(std::uint64_t id, std::uint64_t unread) {
  Stream* stream = streams_.Find(id);
  if (!stream) return;
  StreamClosedCallback closed = std::move(stream->closed);
  streams_.Release(streams_.IndexOf(*stream));
  bytes_ += unread;
  if (closed) closed(std::uint64_t{unread});
}

}  // namespace pflab
