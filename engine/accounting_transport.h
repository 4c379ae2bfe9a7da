// A Transport decorator that counts what a run asks of its backend, the same way over any transport:
// requests sent, requests billed, and bytes that came back. The run's cost is these counts through the
// one cost formula (netmodel::NetworkProfile::CostUsd), so a simulated run and a run over HTTP are
// priced alike.
//
// - A request is a fetch or a stream's GET. It is billed unless it failed with an HTTP error status
//   (4xx, 5xx, injected or served): GCS does not generally charge for those responses.
// - Bytes are those each request brought: a fetch's bytes_received however it ended (cancelled and
//   broken ones included), and a stream's pulled bytes plus the unread bytes its close reports.
//
// It forwards every call unchanged and posts nothing, so it changes no completion, no time and no
// event of a run. The request events themselves are the RetryingTransport's, per client.
//
// Fetches need no state here but their caller's callback, so a RetryingTransport right above, which
// sees every fetch and its answer anyway, skips this hop for them (`below()`, `CountFetch`,
// `CountFetchAnswer`): it sends its fetches and their cancels straight to the transport below and
// counts each as Fetch would, in the same order (the answer is counted before the caller hears it,
// and late answers are counted while this object lives, whether or not the caller still does).
// That saves a virtual call, a slot and a callback object per fetch, a fifth of a simulated read's
// request path. Streams always go through this object.
#pragma once

#include <cstdint>
#include <memory>

#include "engine/alive_flag.h"
#include "engine/slab.h"
#include "engine/transport.h"

namespace pflab {

/// Counts requests and bytes of the transport below (see above).
class AccountingTransport final : public Transport {
 public:
  explicit AccountingTransport(Transport* inner);
  ~AccountingTransport() override;
  AccountingTransport(const AccountingTransport&) = delete;
  AccountingTransport& operator=(const AccountingTransport&) = delete;

  FetchId Fetch(const ObjectRef& object, ByteRange range, FetchTarget target, FetchCallback done) override;
  void Cancel(FetchId id) override;
  StreamId OpenStream(const ObjectRef& object, ByteRange range) override;
  void ReadStream(StreamId id, std::uint64_t length, FetchTarget target, FetchCallback done) override;
  void CloseStream(StreamId id, StreamClosedCallback closed) override;
  bool wants_payload() const override { return inner_->wants_payload(); }

  /// Where this object's fetches (and their cancels) go, for a caller that counts its own (see above).
  Transport* below() const { return inner_; }
  /// Counts a fetch sent to `below()`, as Fetch does.
  void CountFetch() { ++requests_; }
  /// Counts the answer of a fetch sent to `below()`, as Fetch's completion does; call it while
  /// `alive()` is set, before the caller hears the answer.
  void CountFetchAnswer(const FetchOutcome& outcome) {
    bytes_ += outcome.bytes_received;
    if (Refused(outcome)) ++refused_;
  }
  /// Cleared when this object is destroyed: answers that arrive later are not counted.
  const AliveFlag& alive() const { return alive_; }

  /// Fetches and streams opened.
  std::uint64_t requests() const { return requests_; }
  /// Requests less those that failed with an HTTP error status.
  std::uint64_t billed_requests() const { return requests_ - refused_; }
  /// Bytes the requests brought back (see above).
  std::uint64_t bytes_received() const { return bytes_; }

 private:
  struct Call {  // a fetch, or a stream's pull, waiting on the transport below
    std::uint32_t generation = 0;
    FetchCallback done;
    std::uint64_t stream = 0;  // the pull's stream (ours), 0 for a fetch
  };
  struct Stream {
    std::uint32_t generation = 0;
    StreamId inner = 0;
    bool answered = false;  // a pull brought bytes, or failed: the GET's answer is known
    StreamClosedCallback closed;
  };
  FetchCallback Wrap(FetchCallback done, std::uint64_t stream);
  void OnDone(std::uint64_t call, const FetchOutcome& outcome);
  void OnClosed(std::uint64_t stream, std::uint64_t unread);
  // Whether an answer with `outcome` (the first of its request) is an HTTP error status.
  static bool Refused(const FetchOutcome& outcome) {
    return !outcome.status.ok() && outcome.status.error().http_status >= 400 && outcome.bytes_received == 0;
  }

  Transport* inner_;
  Slab<Call> calls_;
  Slab<Stream> streams_;
  std::uint64_t requests_ = 0;
  std::uint64_t refused_ = 0;
  std::uint64_t bytes_ = 0;
  AliveFlag alive_;
};

}  // namespace pflab
