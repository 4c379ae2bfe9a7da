// The bottom layer of every stack: turns reads into backend requests.
//
// A read at or above `min_part_bytes` is split into parts that are all in flight at once, each written
// straight into its final place in one chunk, so the layer above gets a single slice. The first part
// to fail for good cancels its siblings. Retryable failures are retried with exponential backoff and
// full jitter (seeded, so simulation stays deterministic), resuming from the last byte received,
// bounded by an attempt count and a deadline per read.
//
// Streams (OpenStream/ReadStream/CloseStream) map onto the transport's streaming GETs, one pull at a
// time. A pull that fails retryably is retried the same way: the broken GET is closed, and after the
// backoff a new one opens at the first byte the pull still lacks and runs to the stream's end; the
// pull resumes into the same chunk. Each GET is one request in the events: fetch_start when it opens,
// fetch_end when it was read to its end, fetch_cancel when it was closed before that, fetch_fail when
// it broke (bytes: what was pulled from it). What a closed GET had received beyond its last pull is
// charged to the memory account as fetched and never delivered.
//
// Split rules (research/gcsfs_fsspec.md section 1, "Concurrent _cat_file"):
// - kV795: `parts` equal parts of size/parts (the last takes the remainder) once size >= min;
// - kMain (gcsfs#926 concurrency.split_range): min(parts, size / min) parts once size >= min.
#pragma once

#include <boost/container/small_vector.hpp>
#include <cstdint>
#include <random>
#include <vector>

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
};

/// Computes the part sizes of a range under a split rule; exposed for tests.
std::vector<ByteRange> SplitRange(ByteRange range, std::uint32_t parts, std::uint64_t min_part_bytes, SplitRule rule);

/// Source over a Transport that splits, retries and cancels.
class ConcurrentFetcher final : public Source {
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

  std::size_t in_flight() const { return live_reads_; }
  std::size_t open_streams() const { return live_streams_; }

 private:
  struct Part {
    ByteRange range;  // what is still to fetch
    std::uint64_t chunk_offset;
    FetchId fetch = 0;
    TimerId backoff_timer = 0;
    std::uint32_t attempts = 0;
    bool done = false;
  };
  struct PendingRead {
    bool live = false;
    std::uint32_t generation = 0;
    ByteRange range;
    std::shared_ptr<Chunk> chunk;
    boost::container::small_vector<Part, 1> parts;
    std::size_t parts_left = 0;
    Nanos started = 0;
    ReadCallback done;
  };
  struct Stream {
    bool live = false;
    std::uint32_t generation = 0;
    ByteRange range;               // as opened
    std::uint64_t position = 0;    // the next byte a pull takes
    StreamId get = 0;              // the transport stream (one GET); 0 after it broke
    std::uint64_t get_begin = 0;   // where that GET starts
    std::uint64_t get_pulled = 0;  // bytes pulled from it
    // The pull in progress.
    bool pulling = false;
    ReadCallback done;
    std::shared_ptr<Chunk> chunk;
    std::uint64_t filled = 0;  // bytes of the pull written so far, kept across a reopened GET
    std::uint32_t attempts = 0;
    Nanos started = 0;
    TimerId backoff_timer = 0;
  };
  PendingRead* Find(ReadId id);
  Stream* FindStream(StreamId id);

  void StartPart(ReadId id, std::size_t index);
  void OnPartDone(ReadId id, std::size_t index, const FetchOutcome& outcome);
  void Finish(ReadId id, Result<Slices>&& result);
  void CancelParts(PendingRead& read);
  void Release(PendingRead& read);
  void CompletePart(ReadId id, PendingRead& read, Part& part);  // finishes the read after its last part
  Nanos Backoff(std::uint32_t attempts);
  // A backend request's fetch_fail, carrying its error and which attempt it was.
  void EmitFailure(ByteRange asked, std::uint64_t bytes, const Error& error, std::uint32_t attempt);
  void OpenGet(Stream& stream);
  void CloseGet(Stream& stream, bool broke);
  void Pull(StreamId id);
  void OnPulled(StreamId id, const FetchOutcome& outcome);
  void FinishPull(Stream& stream, Result<Slices>&& result);

  LayerContext ctx_;
  Transport* transport_;
  ObjectRef object_;
  ConcurrentFetcherOptions options_;
  MemoryAccount* account_;
  std::mt19937_64 rng_;
  Slab<PendingRead> reads_;
  std::size_t live_reads_ = 0;
  Slab<Stream> streams_;
  std::size_t live_streams_ = 0;
  std::shared_ptr<bool> alive_;
};

}  // namespace pflab
