// A Transport decorator that retries: one retry policy for fetches and for streams, with resume.
//
// A fetch, or a stream's pull, that fails retryably is tried again after an exponential backoff with
// full jitter (seeded, so simulation stays deterministic), from the first byte it still lacks:
// - a fetch asks the transport below for the rest of its range, written on into the same target;
// - a pull closes the broken GET (it is dead), and after the backoff opens a new one at the first byte
//   the pull still lacks, running to the stream's end, and pulls the rest into the same target.
// Attempts are bounded by a count (first try included) and by a deadline measured from the fetch's,
// or the pull's, start. When the budget is spent, or the error is not retryable, the fetch or pull
// fails with an error naming the range, the object and the number of attempts.
//
// Each request below is one backend request in the events, emitted here with the layer kBackendLayer:
// fetch_start when it is sent, fetch_end when it delivered all it asked for, fetch_cancel when it was
// cancelled or closed before that, fetch_fail when it failed (bytes: what it delivered; the error
// carries which attempt it was); and a retry event for each retry scheduled.
//
// The decorator keeps the Transport contract, with two additions (and Discard/DiscardStream, for an
// owner that no longer listens). A stream whose pull failed for good
// is not dead here: a later pull opens a new GET at the first byte not yet pulled. And the GETs it
// closes after a break hand what they had received unpulled to the MemoryAccount given at
// construction (as unkept bytes); CloseStream's `closed` may be null, and then the stream's last GET
// is charged the same way.
//
// One RetryingTransport serves one client (a ConcurrentFetcher): its jitter generator is that
// client's, so one client's draws do not depend on what another's requests do.
//
// Over an AccountingTransport (the run's stack: replay/transport_stack.h) fetches skip that hop: they
// go to the transport below it, and this decorator counts each attempt and its answer there, as the
// accounting's own Fetch would (engine/accounting_transport.h). Streams go through it.
#pragma once

#include <cstdint>
#include <memory>
#include <random>

#include "engine/accounting_transport.h"
#include "engine/alive_flag.h"
#include "engine/buffer.h"
#include "engine/slab.h"
#include "engine/source.h"
#include "engine/transport.h"

namespace pflab {

/// When and how often RetryingTransport retries; defaults follow google-cloud-cpp storage.
struct RetryPolicy {
  std::uint32_t max_attempts = 6;              // per fetch or pull, first try included
  Nanos initial_backoff = 100 * kMillisecond;  // the first backoff's cap
  Nanos max_backoff = 10 * kSecond;            // caps double per attempt up to this
  Nanos deadline = 120 * kSecond;              // per fetch or pull, from its start
  std::uint64_t seed = 1;                      // jitter
};

/// Where a fetch started with RetryingTransport::FetchFor reports its end: a direct call in place of
/// a callback object, for the ConcurrentFetcher that owns the decorator.
class FetchClient {
 public:
  /// The fetch `tag`, `part` ended with `outcome` (the same outcome a FetchCallback would get).
  virtual void OnFetchDone(std::uint64_t tag, std::uint32_t part, const FetchOutcome& outcome) = 0;

 protected:
  ~FetchClient() = default;
};

/// Retries fetches and pulls of the transport below it (see above).
class RetryingTransport final : public Transport {
 public:
  /// `ctx` gives the scheduler and where the request events go; `account` (may be null) is charged
  /// the unpulled bytes of the GETs this decorator closes.
  RetryingTransport(LayerContext ctx, Transport* inner, RetryPolicy policy, MemoryAccount* account);
  /// Late completions from below become no-ops; whatever is still open below is cancelled or closed.
  ~RetryingTransport() override;
  RetryingTransport(const RetryingTransport&) = delete;
  RetryingTransport& operator=(const RetryingTransport&) = delete;

  FetchId Fetch(const ObjectRef& object, ByteRange range, FetchTarget target, FetchCallback done) override;
  /// Fetch for the client that owns this decorator: the end is reported by a direct call,
  /// `client->OnFetchDone(tag, part, outcome)`, and `object` is not copied: it, and `client`, must
  /// outlive this decorator (as the owning ConcurrentFetcher's object and the fetcher itself do). Every
  /// read through the fetcher takes this path, so it saves building, moving and destroying a callback
  /// object and copying the object's names per fetch.
  FetchId FetchFor(const ObjectRef& object, ByteRange range, FetchTarget target, FetchClient* client, std::uint64_t tag,
                   std::uint32_t part);
  void Cancel(FetchId id) override;
  StreamId OpenStream(const ObjectRef& object, ByteRange range) override;
  void ReadStream(StreamId id, std::uint64_t length, FetchTarget target, FetchCallback done) override;
  void CloseStream(StreamId id, StreamClosedCallback closed) override;
  bool wants_payload() const override { return inner_->wants_payload(); }

  /// Cancel for an owner that no longer listens: the fetch's callback is destroyed, never called, so
  /// a fetch waiting to retry ends without a completion to post (the ConcurrentFetcher, whose
  /// cancelled reads complete on their own).
  void Discard(FetchId id);
  /// CloseStream for such an owner: a pull in progress ends without its callback being called, and
  /// the GET's unread bytes go to the account.
  void DiscardStream(StreamId id);

 private:
  struct Op {  // one fetch, across its attempts
    bool live = false;
    bool cancelled = false;
    std::uint32_t generation = 0;
    ObjectRef object;    // assigned into a reused slot, so its strings keep their capacity
    ByteRange range;     // what is still to fetch
    FetchTarget target;  // where `range` goes
    std::uint64_t received = 0;
    FetchId inner = 0;    // the attempt in flight, if any
    TimerId backoff = 0;  // the wait before the next attempt, if any
    std::uint32_t attempts = 0;
    Nanos started = 0;
    // Who hears the end: `done`, or (FetchFor) `client` with `tag` and `part`, its object at `shared`.
    FetchCallback done;
    FetchClient* client = nullptr;
    const ObjectRef* shared = nullptr;
    std::uint64_t tag = 0;
    std::uint32_t part = 0;
    const ObjectRef& object_ref() const { return shared ? *shared : object; }
  };
  struct Stream {
    bool live = false;
    bool closing = false;  // closed with a pull still below: its kCancelled completion ends the pull
    std::uint32_t generation = 0;
    ObjectRef object;
    ByteRange range;               // as opened
    std::uint64_t position = 0;    // the next byte a pull takes
    StreamId get = 0;              // the GET below; 0 after it broke
    std::uint64_t get_begin = 0;   // where that GET starts
    std::uint64_t get_pulled = 0;  // bytes pulled from it
    // The pull in progress.
    bool pulling = false;
    FetchTarget target;
    std::uint64_t length = 0;
    std::uint64_t filled = 0;  // bytes of the pull written so far, kept across a reopened GET
    std::uint32_t attempts = 0;
    Nanos started = 0;
    TimerId backoff = 0;
    FetchCallback done;
  };

  // Fills the slot of a new fetch except who hears its end; returns its id after starting it.
  std::uint32_t NewOp(ByteRange range, FetchTarget&& target);
  void StartAttempt(FetchId id);
  void OnAttemptDone(FetchId id, const FetchOutcome& outcome);
  void FinishOp(Op& op, const FetchOutcome& outcome);
  // Whether to retry after a failure of attempt `attempts` (drawing its backoff into `delay`).
  bool ShouldRetry(const Error& error, std::uint32_t attempts, Nanos started, Nanos* delay);
  Nanos Backoff(std::uint32_t attempts);
  void EmitFailure(ByteRange asked, std::uint64_t bytes, const Error& error, std::uint32_t attempt);
  void OpenGet(Stream& stream);
  // Closes the GET below; `broke`: it failed (its fetch_fail is out). The unread bytes go to `closed`,
  // or to the account when it is null.
  void CloseGet(Stream& stream, bool broke, StreamClosedCallback closed);
  void Pull(StreamId id);
  void OnPulled(StreamId id, const FetchOutcome& outcome);
  void FinishPull(Stream& stream, const FetchOutcome& outcome);
  // Cancel and Discard, CloseStream and DiscardStream; `notify`: call the callback (posted if need be).
  void CancelOp(FetchId id, bool notify);
  void EndStream(StreamId id, StreamClosedCallback closed, bool notify);

  LayerContext ctx_;
  Transport* inner_;
  // When `inner_` is an AccountingTransport (`counted_`), fetch attempts and their cancels go below it
  // (`fetch_below_`, else `inner_`), and it is told of each attempt and, while `counted_alive_` is
  // set, of its answer.
  AccountingTransport* counted_;
  Transport* fetch_below_;
  AliveFlag counted_alive_;
  RetryPolicy policy_;
  MemoryAccount* account_;
  std::mt19937_64 rng_;
  Slab<Op> ops_;
  Slab<Stream> streams_;
  AliveFlag alive_;
};

}  // namespace pflab
