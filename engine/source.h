// The async read interface every layer of a stack implements.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>

#include "engine/buffer.h"
#include "engine/byte_range.h"
#include "engine/events.h"
#include "engine/inline_function.h"
#include "engine/result.h"
#include "engine/scheduler.h"
#include "engine/transport.h"

namespace pflab {

/// Identifies an outstanding read for cancellation; 0 is never valid.
using ReadId = std::uint64_t;

/// Reads byte ranges of one object, asynchronously. A policy is a Source decorating a lower Source, as
/// in fsspec's file -> cache -> fetcher stack.
///
/// Contract:
/// - `done` runs exactly once, on the scheduler, never from inside Read() or Cancel().
/// - The range is clamped to the object by the caller (Reader); an empty range yields no slices.
/// - Policy layers behave like a file object: they accept one outstanding Read at a time from above.
///   The fetcher at the bottom (`ConcurrentFetcher`) accepts any number, so prefetchers can keep many
///   requests in flight.
/// - Cancel() completes the read with kCancelled unless it already completed (then it does nothing).
class Source {
 public:
  using ReadCallback = InlineFunction<void(Result<Slices>), 64>;

  virtual ~Source() = default;
  virtual ReadId Read(ByteRange range, ReadCallback done) = 0;
  /// Like Read, but asks the fetcher below to split the range into at most `max_parts` concurrent
  /// requests (gcsfs passes its `split_factor` this way). Layers that do not split ignore the hint.
  virtual ReadId ReadSplit(ByteRange range, std::uint32_t max_parts, ReadCallback done) {
    (void)max_parts;
    return Read(range, std::move(done));
  }
  virtual void Cancel(ReadId id) = 0;
  /// Read, for a caller that can complete the read itself as soon as this call returns (the Reader, for
  /// the replayer). A layer that would complete the read by posting its completion (a read served from
  /// memory) may instead, when the scheduler says that completion would be the next event anyway
  /// (Scheduler::TakeTurnNow), put the result in `*served` and drop `done`: the caller then completes
  /// the read right away, with the same outcome, events and order, and no posted task. Layers that do
  /// not take this path read as Read does.
  virtual ReadId ReadOrServe(ByteRange range, ReadCallback done, std::optional<Result<Slices>>* served) {
    (void)served;
    return Read(range, std::move(done));
  }
  /// Like Read, for an application read cut at EOF: `range` is clamped as for Read (it ends at size()),
  /// and `asked_end` (> size()) is where the read the application asked for ends. fsspec hands
  /// offset + length to its caches uncut, and some of them decide on it; the layers that port such a
  /// cache override this. Every other layer reads `range`, exactly as for Read.
  virtual ReadId ReadPastEof(ByteRange range, std::uint64_t asked_end, ReadCallback done) {
    (void)asked_end;
    return Read(range, std::move(done));
  }
  /// The application announces ranges it will read later (Arrow's ReadRangeCache::Cache, as Parquet's
  /// pre_buffer calls it). Only a layer that plans with them acts on them; policy layers pass them to
  /// the layer below (PolicyLayer), and the fetcher at the bottom ignores them, so a stack without such
  /// a layer reads exactly as it would without hints.
  virtual void Hint(std::span<const ByteRange> ranges) { (void)ranges; }
  /// Streams (see Transport): one backend request whose bytes are taken in order, for a policy that
  /// reads the way gcsfuse's range reader does. Only the fetcher at the bottom has them; every other
  /// layer returns 0 here, and the policy then reads ranges instead.
  virtual StreamId OpenStream(ByteRange range) {
    (void)range;
    return 0;
  }
  /// The stream's next `length` bytes (at most what is left of it). One pull at a time per stream; a
  /// pull ends by completing, or with kCancelled when its stream is closed.
  virtual void ReadStream(StreamId stream, std::uint64_t length, ReadCallback done) {
    (void)stream, (void)length, (void)done;
    throw std::logic_error("ReadStream on a layer that has no streams");  // OpenStream returned 0 here
  }
  /// Ends a stream opened here; every stream must be closed, also one read to its end.
  virtual void CloseStream(StreamId stream) { (void)stream; }
  virtual std::uint64_t size() const = 0;
  /// Inside the completion callback of a read this layer answered from the network: when its request
  /// was sent and when its response began (for a split read, its parts' earliest), as a real HTTP client
  /// sees them; -1 where unknown (every layer but the fetcher at the bottom, a failed read, a transport
  /// that does not tell). A request's time then falls apart into a wait for a connection, the service's
  /// first byte and the transfer (the link, shared), which a policy can measure apart.
  virtual ResponseTiming completing_timing() const { return {}; }
  /// The layer name used in events, e.g. "gcsfs-v795".
  virtual const char* name() const = 0;
};

/// What every layer needs from its surroundings; owned by the run, outlives all layers.
struct LayerContext {
  Scheduler* scheduler = nullptr;
  EventSink* events = nullptr;
  std::uint32_t stream = 0;
  /// Whether the policy layers emit their fetch events (events->wants_layer_fetches() for a run's stacks).
  bool layer_fetches = true;

  void Emit(EventType type, const char* layer, std::uint64_t offset, std::uint64_t length, std::uint64_t bytes = 0,
            const Error* error = nullptr) const {
    events->OnEvent(Event{scheduler->Now(), type, layer, stream, offset, length, bytes, error});
  }
};

}  // namespace pflab
