// A Transport decorator that injects the fake GCS server's faults (engine/faults.h) into the requests
// of any transport below it: the simulator, the HTTP client, or a test double.
//
// Each request (a fetch, or a stream's GET) is given at most one fault, chosen as the fake server
// chooses one for a media read (storage.objects.get): first the request stage, where only return-X
// and return-reset-connection apply, then the body stage, with the body's size known. At each stage
// the head of the script is used when it fires for the request (and only then dequeued, as a retry
// test's queue is), else the seeded FaultProfile draws (one draw per applicable entry). So the same
// script, profile and sequence of requests meet the same faults here and on the fake server.
//
// A fault acts on what the transport below delivers, never inside its network model:
// - return-X, return-reset-connection: the request goes below for its first byte only (into a scratch
//   buffer), and when that arrives the caller gets the error instead, with no bytes: the error comes
//   after the first-byte latency, as a status line does, and the probe's byte is never delivered.
// - return-broken-stream[-after-YK]: only the first Y KiB (4 bytes) are asked of the transport below;
//   when they arrive the request fails retryably with that many bytes received (a stream's later
//   pulls fail at once).
// - stall-for-Ts-after-YK: the first Y KiB, then a pause of T on the scheduler, then the rest. When
//   the client's read timeout is shorter than T (`read_timeout`), the request is cut after the
//   timeout instead, failing retryably with Y KiB received, as the HTTP client cuts a silent socket.
//   A stream's stall starts when a pull reaches Y KiB of its GET (over HTTP the body stops arriving
//   there whether or not a pull waits, so a stream nobody pulls can meet the timeout sooner).
// - corrupt-byte: the whole body, with the middle byte changed: flipped in a payload, and recorded in
//   the chunk's provenance as another byte of the object, so both ways of checking bytes see it.
// Error kinds are those the HTTP client gives the same answer (HttpStatusError), so a read fails, or
// is retried, the same way over any transport.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "engine/alive_flag.h"
#include "engine/faults.h"
#include "engine/scheduler.h"
#include "engine/slab.h"
#include "engine/transport.h"

namespace pflab {

/// Which faults a FaultInjectingTransport injects.
struct FaultInjection {
  std::optional<FaultProfile> profile;  // seeded per-request probabilities
  std::deque<Fault> script;             // used in order, each by the first request it fires for
  /// The reader's idle limit (HttpTransportOptions::read_timeout): a longer stall is cut after it.
  /// 0: no limit, every stall ends and the request goes on.
  Nanos read_timeout = 0;

  bool empty() const { return !profile && script.empty(); }
};

/// Injects faults into the requests of the transport below (see above).
class FaultInjectingTransport final : public Transport {
 public:
  FaultInjectingTransport(Scheduler* scheduler, Transport* inner, FaultInjection faults);
  /// Late completions from below become no-ops; whatever is still open below is cancelled or closed.
  ~FaultInjectingTransport() override;
  FaultInjectingTransport(const FaultInjectingTransport&) = delete;
  FaultInjectingTransport& operator=(const FaultInjectingTransport&) = delete;

  FetchId Fetch(const ObjectRef& object, ByteRange range, FetchTarget target, FetchCallback done) override;
  void Cancel(FetchId id) override;
  StreamId OpenStream(const ObjectRef& object, ByteRange range) override;
  void ReadStream(StreamId id, std::uint64_t length, FetchTarget target, FetchCallback done) override;
  void CloseStream(StreamId id, StreamClosedCallback closed) override;
  bool wants_payload() const override { return inner_->wants_payload(); }

  /// Faults given to requests, by instruction as written.
  const std::map<std::string, std::uint64_t>& fired() const { return fired_; }
  /// Requests answered with an error status or a reset before any byte (not billed by GCS).
  std::uint64_t refused() const { return refused_; }

 private:
  enum class Phase : std::uint8_t {
    kIdle,     // stream: no pull
    kBelow,    // waiting on the transport below
    kStalled,  // waiting on the stall's timer
    kPosted,   // a completion posted on the scheduler
  };
  struct Op {
    std::uint32_t generation = 0;
    bool live = false;
    bool stream = false;
    bool cancelled = false;  // fetch cancelled, or stream closed with a pull below
    bool has_fault = false;
    bool dead = false;     // stream: its GET failed; later pulls fail at once
    bool stalled = false;  // the stall happened already
    Fault fault;
    ObjectRef object;  // assigned into a reused slot, so its strings keep their capacity
    ByteRange range;
    Phase phase = Phase::kIdle;
    FetchId inner = 0;  // the fetch, or the stream, below
    TimerId timer = 0;
    FetchTarget target;
    FetchCallback done;
    std::uint64_t got = 0;        // bytes of this fetch, or pull, written to the target
    std::uint64_t length = 0;     // the pull's length
    std::uint64_t delivered = 0;  // stream: bytes of its GET delivered by finished pulls
    std::uint64_t asked = 0;      // bytes asked below by the step in progress
    bool probe = false;           // that step is a refused request's first byte, into a scratch chunk
    ResponseTiming timing;        // of the first step below that answered
    std::optional<Error> error;   // the failure a posted completion carries
  };

  // A new fetch or stream, its fault decided; returns its id.
  std::uint64_t NewOp(const ObjectRef& object, ByteRange range, bool stream);
  // The fault of one request whose body is `size` bytes, at both stages (see above).
  std::optional<Fault> Decide(std::uint64_t size);
  std::optional<Fault> Take(std::optional<std::uint64_t> body_size);
  Error FaultError(const Op& op) const;
  // The next step of a fetch or pull: ask below, stall, or end it (posted).
  void Step(std::uint64_t id);
  void Below(Op& op, std::uint64_t id, std::uint64_t length, bool probe);
  void OnBelow(std::uint64_t id, const FetchOutcome& outcome);
  void Stall(Op& op, std::uint64_t id);
  void PostFinish(Op& op, std::uint64_t id, std::optional<Error> error);
  void OnPosted(std::uint64_t id);
  void Finish(Op& op, const FetchOutcome& outcome);
  // Closes the stream's GET below, if still open; its unread bytes go to `closed` (null: dropped).
  void CloseBelow(Op& op, StreamClosedCallback closed);
  // Changes the body's middle byte if it is among the `length` bytes just written at `got`.
  void Corrupt(const Op& op, std::uint64_t got, std::uint64_t length) const;

  Scheduler* scheduler_;
  Transport* inner_;
  FaultInjection faults_;
  Slab<Op> ops_;
  std::map<std::string, std::uint64_t> fired_;
  std::uint64_t refused_ = 0;
  AliveFlag alive_;
};

}  // namespace pflab
