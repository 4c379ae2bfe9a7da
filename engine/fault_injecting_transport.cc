#include "engine/fault_injecting_transport.h"

#include <algorithm>
#include <stdexcept>
#include <utility>

#include "engine/http_status.h"

namespace pflab {
namespace {

constexpr const char* kGet = "storage.objects.get";

std::string Quoted(const Fault& fault) {
  return "(injected by fault '" + fault.instruction + "')";
}

}  // namespace

FaultInjectingTransport::FaultInjectingTransport(Scheduler* scheduler, Transport* inner, FaultInjection faults)
    : scheduler_(scheduler), inner_(inner), faults_(std::move(faults)), alive_(AliveFlag::Make()) {}

FaultInjectingTransport::~FaultInjectingTransport() {
  *alive_ = false;
  for (auto& op : ops_) {
    if (!op.live) continue;
    if (op.timer) scheduler_->Cancel(op.timer);
    if (op.stream) {
      CloseBelow(op, nullptr);
    } else if (op.phase == Phase::kBelow && op.inner) {
      inner_->Cancel(op.inner);
    }
  }
}

std::optional<Fault> FaultInjectingTransport::Take(std::optional<std::uint64_t> body_size) {
  std::optional<Fault> fault;
  if (!faults_.script.empty() && FaultFires(faults_.script.front(), kGet, body_size)) {
    fault = std::move(faults_.script.front());
    faults_.script.pop_front();
  } else if (faults_.profile) {
    fault = faults_.profile->Draw(kGet, body_size);
  }
  if (fault) ++fired_[fault->instruction];
  return fault;
}

std::optional<Fault> FaultInjectingTransport::Decide(std::uint64_t size) {
  if (size == 0) return std::nullopt;
  if (auto fault = Take(std::nullopt)) return fault;  // the request stage: return-X, reset
  return Take(size);                                  // the body stage
}

Error FaultInjectingTransport::FaultError(const Op& op) const {
  const Fault& f = op.fault;
  switch (f.kind) {
    case Fault::Kind::kReturnStatus:
      return HttpStatusError(f.status, "HTTP " + std::to_string(f.status) + " " + Quoted(f));
    case Fault::Kind::kResetConnection: return Unavailable("connection reset before any response byte " + Quoted(f));
    case Fault::Kind::kBrokenStream:
      return Unavailable("the body ended after " + std::to_string(f.after_bytes) + " of " +
                         std::to_string(op.range.size()) + " bytes " + Quoted(f));
    case Fault::Kind::kStall:
      return Unavailable("no byte for " + std::to_string(faults_.read_timeout / kMillisecond) + " ms after " +
                         std::to_string(f.after_bytes) + " bytes of the body " + Quoted(f));
    case Fault::Kind::kCorruptByte:
    case Fault::Kind::kInert: break;
  }
  return Internal("fault '" + f.instruction + "' fails nothing");
}

std::uint64_t FaultInjectingTransport::NewOp(const ObjectRef& object, ByteRange range, bool stream) {
  const std::uint32_t slot = ops_.Acquire();
  Op& op = ops_[slot];
  op.live = true;
  op.stream = stream;
  op.cancelled = op.dead = op.stalled = false;
  auto fault = Decide(range.size());
  op.has_fault = fault.has_value();
  if (fault) op.fault = std::move(*fault);
  op.object = object;
  op.range = range;
  op.phase = Phase::kIdle;
  op.got = op.delivered = 0;
  op.timing = {};
  op.length = stream ? 0 : range.size();
  op.error.reset();
  return ops_.IdOf(slot);
}

FetchId FaultInjectingTransport::Fetch(const ObjectRef& object, ByteRange range, FetchTarget target,
                                       FetchCallback done) {
  const FetchId id = NewOp(object, range, false);
  Op& op = *ops_.Find(id);
  op.target = std::move(target);
  op.done = std::move(done);
  Step(id);
  return id;
}

StreamId FaultInjectingTransport::OpenStream(const ObjectRef& object, ByteRange range) {
  const StreamId id = NewOp(object, range, true);
  ops_.Find(id)->inner = inner_->OpenStream(object, range);
  return id;
}

void FaultInjectingTransport::ReadStream(StreamId id, std::uint64_t length, FetchTarget target, FetchCallback done) {
  Op* found = ops_.Find(id);
  if (!found || !found->live || !found->stream || found->phase != Phase::kIdle) {
    throw std::logic_error("FaultInjectingTransport::ReadStream: unknown stream, or a pull already running");
  }
  Op& op = *found;
  op.target = std::move(target);
  op.done = std::move(done);
  op.got = 0;
  op.length = std::min(length, op.range.size() - op.delivered);
  Step(id);
}

void FaultInjectingTransport::Step(std::uint64_t id) {
  Op& op = *ops_.Find(id);
  const std::uint64_t want = op.length - op.got;     // still to write
  const std::uint64_t at = op.delivered + op.got;    // bytes of the body delivered so far
  if (op.dead) return PostFinish(op, id, op.error);  // a stream whose GET failed
  if (want == 0) return PostFinish(op, id, std::nullopt);
  if (!op.has_fault) return Below(op, id, want, false);
  const Fault& f = op.fault;
  switch (f.kind) {
    case Fault::Kind::kReturnStatus:
    case Fault::Kind::kResetConnection: return Below(op, id, 1, /*probe=*/true);
    case Fault::Kind::kBrokenStream:
      if (at >= f.after_bytes) {
        op.dead = true;
        op.error = FaultError(op);
        return PostFinish(op, id, op.error);
      }
      return Below(op, id, std::min(want, f.after_bytes - at), false);
    case Fault::Kind::kStall:
      if (op.stalled) return Below(op, id, want, false);
      if (at >= f.after_bytes) return Stall(op, id);
      return Below(op, id, std::min(want, f.after_bytes - at), false);
    case Fault::Kind::kCorruptByte:
    case Fault::Kind::kInert: break;
  }
  Below(op, id, want, false);
}

void FaultInjectingTransport::Below(Op& op, std::uint64_t id, std::uint64_t length, bool probe) {
  op.phase = Phase::kBelow;
  op.asked = length;
  op.probe = probe;
  // A refused request's first byte lands in a chunk of its own: the caller never sees it.
  FetchTarget target = probe ? FetchTarget{Chunk::Make(length, inner_->wants_payload(), nullptr), 0}
                             : FetchTarget{op.target.chunk, op.target.offset + op.got};
  auto done = [this, alive = alive_, id](const FetchOutcome& outcome) {
    if (*alive) OnBelow(id, outcome);
  };
  if (op.stream) {
    inner_->ReadStream(op.inner, length, std::move(target), std::move(done));
    return;
  }
  const std::uint64_t begin = op.range.begin + op.got;
  op.inner = inner_->Fetch(op.object, {begin, begin + length}, std::move(target), std::move(done));
}

void FaultInjectingTransport::OnBelow(std::uint64_t id, const FetchOutcome& outcome) {
  Op* found = ops_.Find(id);
  if (!found || !found->live || found->phase != Phase::kBelow) return;
  Op& op = *found;
  op.phase = Phase::kIdle;
  if (!op.stream) op.inner = 0;
  const std::uint64_t got = op.probe ? 0 : std::min(outcome.bytes_received, op.asked);
  if (op.cancelled) return Finish(op, {Cancelled(op.stream ? "stream closed" : "fetch cancelled"), op.got + got});
  if (!outcome.status.ok()) {  // the transport below failed by itself
    op.got += got;
    op.dead = op.stream;
    op.error = outcome.status.error();
    return Finish(op, {outcome.status, op.got});
  }
  if (op.probe) {  // the error arrives instead of the first byte
    ++refused_;
    op.dead = op.stream;
    op.error = FaultError(op);
    if (op.stream) CloseBelow(op, nullptr);  // nothing of this GET is delivered
    return Finish(op, {Status(*op.error), 0});
  }
  if (op.has_fault && op.fault.kind == Fault::Kind::kCorruptByte) Corrupt(op, op.got, got);
  op.got += got;
  if (op.timing.first_byte < 0) op.timing = outcome.timing();
  if (op.got == op.length) return Finish(op, {OkStatus(), op.got, op.timing.sent, op.timing.first_byte});
  Step(id);
}

void FaultInjectingTransport::Stall(Op& op, std::uint64_t id) {
  op.stalled = true;
  op.phase = Phase::kStalled;
  const bool cut = faults_.read_timeout > 0 && op.fault.stall > faults_.read_timeout;
  op.timer = scheduler_->PostAfter(cut ? faults_.read_timeout : op.fault.stall, [this, alive = alive_, id, cut] {
    if (!*alive) return;
    Op& stalled = *ops_.Find(id);
    stalled.timer = 0;
    stalled.phase = Phase::kIdle;
    if (!cut) return Step(id);
    // The client gave up on a silent socket: a broken request, retried from the bytes it had.
    stalled.dead = stalled.stream;
    stalled.error = FaultError(stalled);
    Finish(stalled, {Status(*stalled.error), stalled.got});
  });
}

void FaultInjectingTransport::PostFinish(Op& op, std::uint64_t id, std::optional<Error> error) {
  op.phase = Phase::kPosted;
  op.error = std::move(error);
  op.timer = scheduler_->Post([this, alive = alive_, id] {
    if (*alive) OnPosted(id);
  });
}

void FaultInjectingTransport::OnPosted(std::uint64_t id) {
  Op& op = *ops_.Find(id);
  op.timer = 0;
  op.phase = Phase::kIdle;
  if (op.error) return Finish(op, {Status(*op.error), op.got});
  Finish(op, {OkStatus(), op.got, op.timing.sent, op.timing.first_byte});
}

void FaultInjectingTransport::Finish(Op& op, const FetchOutcome& outcome) {
  FetchCallback done = std::move(op.done);
  op.done = nullptr;
  op.target = {};
  op.phase = Phase::kIdle;
  if (op.stream) {
    op.delivered += op.got;
    op.got = 0;
  }
  if (!op.stream || op.cancelled) {  // a fetch ends; a closed stream's last pull ends
    op.live = false;
    ops_.Release(ops_.IndexOf(op));
  }
  if (done) done(outcome);
}

void FaultInjectingTransport::Cancel(FetchId id) {
  Op* found = ops_.Find(id);
  if (!found || !found->live || found->stream || found->cancelled) return;
  Op& op = *found;
  op.cancelled = true;
  switch (op.phase) {
    case Phase::kBelow: inner_->Cancel(op.inner); return;  // completes from below with kCancelled
    case Phase::kStalled:
    case Phase::kPosted: {
      scheduler_->Cancel(op.timer);
      op.timer = 0;
      op.error = Cancelled("fetch cancelled");
      const std::uint64_t got = op.got;
      op.phase = Phase::kPosted;
      op.timer = scheduler_->Post([this, alive = alive_, id, got] {
        if (!*alive) return;
        Op& cancelled = *ops_.Find(id);
        cancelled.timer = 0;
        Finish(cancelled, {Cancelled("fetch cancelled"), got});
      });
      return;
    }
    case Phase::kIdle: return;  // not reached: a live fetch is always in a step
  }
}

void FaultInjectingTransport::CloseBelow(Op& op, StreamClosedCallback closed) {
  if (!op.inner) {
    if (closed) scheduler_->Post([closed = std::move(closed)]() mutable { closed(0); });
    return;
  }
  if (!closed) closed = [](std::uint64_t) {};
  inner_->CloseStream(op.inner, std::move(closed));
  op.inner = 0;
}

void FaultInjectingTransport::CloseStream(StreamId id, StreamClosedCallback closed) {
  Op* found = ops_.Find(id);
  if (!found || !found->live || !found->stream || found->cancelled) {
    throw std::logic_error("FaultInjectingTransport::CloseStream: unknown stream");
  }
  Op& op = *found;
  if (op.phase == Phase::kBelow && op.inner) {
    // The pull below completes with kCancelled, and that ends ours and the stream (OnBelow).
    op.cancelled = true;
    CloseBelow(op, std::move(closed));
    return;
  }
  if (op.timer) scheduler_->Cancel(op.timer);
  op.timer = 0;
  if (op.phase != Phase::kIdle && op.done) {  // a pull waiting on a stall or a posted end
    scheduler_->Post([done = std::move(op.done), got = op.got]() mutable {
      done(FetchOutcome{Cancelled("stream closed"), got});
    });
  }
  CloseBelow(op, std::move(closed));
  op.done = nullptr;
  op.target = {};
  op.live = false;
  ops_.Release(ops_.IndexOf(op));
}

void FaultInjectingTransport::Corrupt(const Op& op, std::uint64_t got, std::uint64_t length) const {
  const std::uint64_t middle = op.range.size() / 2;  // of the body, as the fake server picks it
  const std::uint64_t at = op.delivered + got;
  if (middle < at || middle >= at + length) return;
  Chunk& chunk = *op.target.chunk;
  const std::uint64_t offset = op.target.offset + got + (middle - at);
  if (chunk.has_payload()) chunk.mutable_data()[offset] ^= std::byte{0x5a};
  // Provenance: the byte is recorded as having come from the next byte of the object instead.
  const auto& fills = chunk.provenance();
  for (auto fill = fills.rbegin(); fill != fills.rend(); ++fill) {
    if (offset < fill->chunk_offset || offset >= fill->chunk_offset + fill->length) continue;
    const Provenance wrong{offset, 1, fill->object_seed, fill->object_offset + (offset - fill->chunk_offset) + 1};
    chunk.AddProvenance(wrong);
    return;
  }
}

}  // namespace pflab
