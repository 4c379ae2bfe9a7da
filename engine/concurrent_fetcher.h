// The bottom layer of every stack: turns reads into backend requests.
//
// A read at or above `min_part_bytes` is split into parts that are all in flight at once, each written
// straight into its final place in one chunk, so the layer above gets a single slice. The first part
// to fail for good cancels its siblings.
//
// Streams (OpenStream/ReadStream/CloseStream) map onto the transport's streaming GETs, one pull at a
// time. What a closed GET had received beyond its last pull is charged to the memory account as
// fetched and never delivered.
//
// Retries are not here: the fetcher reads through its own RetryingTransport (engine/
// retrying_transport.h) over the transport it is given, which retries parts and pulls with one
// policy (the options' attempts, backoff, deadline and seed), resuming from the last byte received,
// and emits the backend requests' events. A read's deadline counts from its start: its parts all
// start then.
//
// Split rules (research/gcsfs_fsspec.md section 1, "Concurrent _cat_file"):
// - kV795: `parts` equal parts of size/parts (the last takes the remainder) once size >= min;
// - kMain (gcsfs#926 concurrency.split_range): min(parts, size / min) parts once size >= min.
#pragma once

#include <boost/container/small_vector.hpp>
#include <cstdint>
#include <vector>

#include "engine/alive_flag.h"
#include "engine/retrying_transport.h"
#include "engine/slab.h"
#include "engine/source.h"
#include "engine/transport.h"

namespace pflab {

/// How ConcurrentFetcher splits a range.
enum class SplitRule { kV795, kMain };

/// Options of ConcurrentFetcher; defaults follow gcsfs main (2026.8.0).
struct ConcurrentFetcherOptions {
  std::uint32_t parts = 4;                    // gcsfs DEFAULT_CONCURRENCY since #992
  std::uint64_t min_part_bytes = 5ull << 20;  // MIN_CHUNK_SIZE_FOR_CONCURRENCY
  SplitRule rule = SplitRule::kMain;
  std::uint32_t max_attempts = 6;              // per part, first try included
  Nanos initial_backoff = 100 * kMillisecond;  // google-cloud-cpp storage default backoff start
  Nanos max_backoff = 10 * kSecond;
  Nanos deadline = 120 * kSecond;  // per read, from its start
  std::uint64_t seed = 1;          // jitter
  bool operator==(const ConcurrentFetcherOptions&) const = default;
  /// The retry fields as the RetryingTransport's policy.
  RetryPolicy retry() const { return {max_attempts, initial_backoff, max_backoff, deadline, seed}; }
};

/// Computes the part sizes of a range under a split rule; exposed for tests.
std::vector<ByteRange> SplitRange(ByteRange range, std::uint32_t parts, std::uint64_t min_part_bytes, SplitRule rule);

/// Source over a Transport that splits and cancels, through a RetryingTransport that retries.
class ConcurrentFetcher final : public Source, private FetchClient {
 public:
  ConcurrentFetcher(LayerContext ctx, Transport* transport, ObjectRef object, ConcurrentFetcherOptions options,
                    MemoryAccount* account);
  ~ConcurrentFetcher() override;

  ReadId Read(ByteRange range, ReadCallback done) override;
  ReadId ReadSplit(ByteRange range, std::uint32_t max_parts, ReadCallback done) override;
  void Cancel(ReadId id) override;
  StreamId OpenStream(ByteRange range) override;
  void ReadStream(StreamId id, std::uint64_t length, ReadCallback done) override;
  void CloseStream(StreamId id) override;
  std::uint64_t size() const override { return object_.size; }
  const char* name() const override { return kBackendLayer; }
  /// The timing of the read this fetcher completed last from the network (set before its callback runs,
  /// so a read's own callback sees its own; unknown when that read failed).
  ResponseTiming completing_timing() const override { return completing_timing_; }

  std::size_t in_flight() const { return live_reads_; }
  std::size_t open_streams() const { return live_streams_; }

 private:
  struct Part {
    ByteRange range;
    std::uint64_t chunk_offset;
    FetchId fetch = 0;  // the retrying fetch, until it completes
  };
  struct PendingRead {
    bool live = false;
    std::uint32_t generation = 0;
    ByteRange range;
    ChunkRef chunk;
    boost::container::small_vector<Part, 1> parts;
    std::size_t parts_left = 0;
    ResponseTiming timing;  // its parts' earliest sent and first byte so far
    ReadCallback done;
  };
  struct Stream {
    bool live = false;
    std::uint32_t generation = 0;
    ByteRange range;             // as opened
    std::uint64_t position = 0;  // the next byte a pull takes
    StreamId retrying = 0;       // the RetryingTransport's stream
    // The pull in progress.
    bool pulling = false;
    ReadCallback done;
    ChunkRef chunk;
  };
  PendingRead* Find(ReadId id);
  Stream* FindStream(StreamId id);

  void StartPart(ReadId id, std::size_t index);
  // A part's end, straight from the RetryingTransport (FetchClient): `tag` is the read's id, `part` the
  // part's index.
  void OnFetchDone(std::uint64_t tag, std::uint32_t part, const FetchOutcome& outcome) override;
  void Finish(ReadId id, Result<Slices>&& result);
  void CancelParts(PendingRead& read);
  void Release(PendingRead& read);
  void CompletePart(ReadId id, PendingRead& read);  // finishes the read after its last part
  void OnPulled(StreamId id, const FetchOutcome& outcome);
  void FinishPull(Stream& stream, Result<Slices>&& result);

  LayerContext ctx_;
  ObjectRef object_;
  ConcurrentFetcherOptions options_;
  MemoryAccount* account_;
  RetryingTransport transport_;
  Slab<PendingRead> reads_;
  std::size_t live_reads_ = 0;
  ResponseTiming completing_timing_;
  Slab<Stream> streams_;
  std::size_t live_streams_ = 0;
  AliveFlag alive_;
};

}  // namespace pflab
