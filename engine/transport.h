// The seam between the engine and the network: simulated, fake GCS, or live GCS.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>

#include "engine/buffer.h"
#include "engine/byte_range.h"
#include "engine/inline_function.h"
#include "engine/result.h"
#include "engine/scheduler.h"

namespace pflab {

/// Identifies an in-flight fetch for cancellation; 0 is never valid.
using FetchId = std::uint64_t;

/// Where a fetch writes its bytes: `[offset, offset + range.size())` of `chunk`.
struct FetchTarget {
  ChunkRef chunk;
  std::uint64_t offset = 0;
};

/// When a request went out on a connection and when its response began (the scheduler's clock), as an
/// HTTP client sees them; -1 where unknown. Between the two is the service's first byte; before
/// `sent`, the request waited for a connection; after `first_byte`, its bytes crossed the link.
struct ResponseTiming {
  Nanos sent = -1;
  Nanos first_byte = -1;
};

/// How a fetch ended. On failure `bytes_received` tells how far the body got, so a broken stream can
/// resume from there. On success `sent_at` and `first_byte_at` tell when it was sent and answered (its
/// last attempt's; see ResponseTiming).
struct FetchOutcome {
  Status status;
  std::uint64_t bytes_received = 0;
  Nanos sent_at = -1;
  Nanos first_byte_at = -1;
  ResponseTiming timing() const { return {sent_at, first_byte_at}; }
};

/// Identifies an open stream; 0 is never valid.
using StreamId = std::uint64_t;

/// One backend GET of a byte range. Completions are delivered on the engine's Scheduler thread, never
/// from inside Fetch() or Cancel(), exactly once per fetch (a cancelled fetch completes with kCancelled).
///
/// Streams are the other way to read: one GET whose body the caller pulls in order, as gcsfuse's range
/// reader consumes a Go object reader. The request pays its first-byte latency once; after that the
/// body moves ahead of the reader only as far as a receive window (the sockets' buffers), so a stream
/// nobody reads stops moving bytes, and closing it early has fetched at most a window beyond what was
/// pulled. Every stream is closed exactly once with CloseStream, which reports those unread bytes.
class Transport {
 public:
  using FetchCallback = InlineFunction<void(const FetchOutcome&), 48>;
  /// Runs once, on the scheduler, after CloseStream: the bytes that arrived but were not pulled.
  using StreamClosedCallback = InlineFunction<void(std::uint64_t unread), 48>;

  virtual ~Transport() = default;
  /// Fetches `range` of `object` into `target`. The range must lie within the object.
  virtual FetchId Fetch(const ObjectRef& object, ByteRange range, FetchTarget target, FetchCallback done) = 0;
  virtual void Cancel(FetchId id) = 0;
  /// Starts a streaming GET of `range` of `object` (within the object). Nothing is delivered until
  /// ReadStream asks for it.
  virtual StreamId OpenStream(const ObjectRef& object, ByteRange range) = 0;
  /// Writes the stream's next `length` bytes (at most what is left of its range) into `target`, then
  /// completes `done` as a fetch would. One pull at a time per stream. When the request fails, or its
  /// body breaks, the pull fails with `bytes_received` set to what it wrote, and the stream is dead:
  /// later pulls fail at once, and only CloseStream remains to do.
  virtual void ReadStream(StreamId id, std::uint64_t length, FetchTarget target, FetchCallback done) = 0;
  /// Ends a stream: a pull in progress completes with kCancelled, then `closed` runs.
  virtual void CloseStream(StreamId id, StreamClosedCallback closed) = 0;
  /// Whether chunks for this transport need a payload (false in the simulator unless verifying bytes).
  virtual bool wants_payload() const = 0;
};

}  // namespace pflab
