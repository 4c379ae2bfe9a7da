// gcsfuse's default read path (no file cache, no buffered reader, non-zonal bucket): the read-type
// classifier shared by a handle's readers, and the GCS range reader that keeps one streaming GET open.
//
// Origin: GoogleCloudPlatform/gcsfuse@7b392927 (2026-08-20, v3 tree; research/prefetchers.md section
// 2a): the read manager path that internal/fs/fs.go takes with enable-new-reader (default true). The
// legacy internal/gcsx/random_reader.go (random only after minSeeksForRandom = 2 seeks) is not modelled.
// Functions modelled:
// - internal/gcsx/read_manager/read_manager.go `ReadManager.ReadAt`: EOF and empty reads return before
//   anything else; `GetReadInfo` before the read, `RecordRead` after a successful one. The handle's
//   classifier is created on the first read with InitialOffset = that read's offset
//   (internal/fs/handle/file.go `ReadWithReadManager`).
// - internal/gcsx/read_type_classifier.go `isSeekNeeded`, `GetReadInfo`,
//   `ComputeSeqPrefetchWindowAndAdjustType`, `RecordRead`:
//   - seek: never while the expected offset is 0; in random mode any offset != expected; in
//     sequential mode offset < expected or offset > expected + maxReadSize (8 MiB);
//   - sequential if total bytes / seeks >= 8 MiB (total bytes when there were no seeks), or no seeks
//     and the first read was at offset 0; otherwise random;
//   - size of a new stream: sequential -> sequential-read-size-mb (200 MiB); random -> bytes per seek
//     rounded up to whole MiB, clamped to [minReadSize 1 MiB, maxReadSize 8 MiB]; clipped at EOF
//     (client_readers/gcs_reader.go `getEndOffset`).
// - internal/gcsx/client_readers/range_reader.go `ReadAt`, `readFromExistingReader`, `skipBytes`,
//   `invalidateReaderIfMisalignedOrTooSmall`, `readFromRangeReader`, `startRead`: a read up to 8 MiB
//   ahead of the stream position reads and discards the gap; a stream not at the read's offset, or
//   whose limit is below the read's end, is closed; with no stream, one is opened at the read's offset
//   up to the size above; a stream whose position reaches its limit is closed.
//
// FUSE requests. gcsfuse sees the application's reads as FUSE READs of at most 1 MiB (cmd/mount.go:
// MaxPages from fuse-max-write-size-kb = 1024 outside kernel-reader mode). A read from above is cut
// into such pieces (`fuse_max`), each going through the classifier and the range reader in turn. The
// kernel page cache and its readahead in front of gcsfuse are not modelled (stack linux-readahead for
// that study separately); neither are the MultiRangeDownloader of zonal buckets, retries (the fetcher
// below retries) and the inactive-stream timeout.
//
// Streams. A gcsfuse stream is one long ranged GET consumed as reads arrive, with at most one read in
// flight per handle. Over the fetcher it is exactly that: a transport stream opened for [offset,
// limit), from which each request takes [stream position, piece end), the skipped gap included (then
// dropped); the pieces of one read served by the same stream are one pull. A stream pays first-byte
// latency once, its body runs ahead of the reads only by the receive window, and closing it early
// costs what the window held. A gap skipped on a stream that is then closed anyway (the read ends past
// its limit) is read and dropped first, as skipBytes does before invalidateReaderIfMisalignedOrTooSmall.
// Over any other layer (which has no streams) each pull becomes a ranged request of the same bytes, so
// every request pays first-byte latency there, and skipped-then-closed gaps are not fetched. An
// approximation in both: a FUSE piece larger than a new stream's size (only if fuse_max exceeds
// min_read) extends that stream to the piece's end where gcsfuse would return a short read.
//
// Errors and cancellation: a failed or cancelled request fails the read; the stream is discarded
// (gcsfuse leaves a stream whose read failed in place; we do not model a broken stream failing again)
// and the classifier keeps the seek counted for the piece that failed but not its bytes (RecordRead runs
// only after a successful read), so the next read opens a new stream. Pieces of the same read before
// the failed request stay recorded.
#pragma once

#include <cstdint>

#include "engine/units.h"
#include "policies/policy_entry.h"
#include "policies/policy_layer.h"

namespace pflab::policies {

/// Parameters of gcsfuse; defaults are gcsfuse's.
struct GcsfuseReaderOptions {
  std::uint64_t sequential_read_size = 200 * kMiB;  // sequential-read-size-mb (cfg/params.yaml)
  std::uint64_t max_read_size = 8 * kMiB;           // maxReadSize (range_reader.go, random_reader.go)
  std::uint64_t min_read_size = kMiB;               // minReadSize (random_reader.go)
  std::uint64_t fuse_max = kMiB;                    // FUSE max request: fuse-max-write-size-kb 1024
  bool operator==(const GcsfuseReaderOptions&) const = default;
};

/// gcsfuse's rules on these sizes; gcsfuse-buffered checks its fallback reader's with them too.
Status CheckGcsfuseReaderOptions(const GcsfuseReaderOptions& o);

/// The `gcsfuse` entry.
PolicyEntry GcsfuseReaderEntry();

/// A handle's ReadTypeClassifier (read_type_classifier.go): GetReadInfo before a read, RecordRead after
/// a successful one. GcsfuseReader and GcsfuseBuffered each keep one.
struct GcsfuseClassifier {
  bool started = false;  // the read manager exists (first read seen)
  std::uint64_t initial_offset = 0;
  bool sequential = true;  // readType; "Start as sequential read type"
  std::uint64_t expected_offset = 0;
  std::uint64_t seeks = 0;
  std::uint64_t total_read = 0;

  /// GetReadInfo for a read at `offset`: the first read sets InitialOffset (the read manager is made
  /// then); isSeekNeeded counts a seek; then the type from the bytes read per seek.
  void GetReadInfo(std::uint64_t offset, std::uint64_t max_read_size);
  /// RecordRead after a successful read of [begin, end).
  void RecordRead(std::uint64_t begin, std::uint64_t end) {
    total_read += end - begin;
    expected_offset = end;
  }
  /// avgReadBytes: bytes read per seek (all of them while there was no seek).
  std::uint64_t AverageReadBytes() const { return seeks > 0 ? total_read / seeks : total_read; }
};

/// gcsfuse's classifier and range reader as a policy layer (one request in flight at a time).
class GcsfuseReader final : public PolicyLayer {
 public:
  GcsfuseReader(LayerContext ctx, Source* lower, GcsfuseReaderOptions options);
  ~GcsfuseReader() override;

  ReadId Read(ByteRange range, ReadCallback done) override;
  void Cancel(ReadId id) override;
  const char* name() const override { return "gcsfuse"; }

  // Introspection for tests.
  bool sequential() const { return state_.classifier.sequential; }
  std::uint64_t seeks() const { return state_.classifier.seeks; }
  std::uint64_t streams_opened() const { return state_.streams_opened; }
  bool stream_open() const { return state_.stream_open; }
  std::uint64_t stream_limit() const { return state_.stream_limit; }

 private:
  // Everything gcsfuse keeps per handle: the ReadTypeClassifier and the RangeReader's stream.
  struct State {
    GcsfuseClassifier classifier;
    bool stream_open = false;
    std::uint64_t stream_id = 0;  // which stream is open (== streams_opened when open)
    std::uint64_t stream_pos = 0;
    std::uint64_t stream_limit = 0;
    std::uint64_t streams_opened = 0;
  };
  // What one FUSE piece (or, merged, one request) asks of the layer below.
  struct Piece {
    std::uint64_t stream = 0;
    std::uint64_t fetch_begin = 0;  // stream position before the piece (skipped bytes included)
    std::uint64_t end = 0;
    bool opens = false;  // the piece opens `stream`, for [fetch_begin, limit)
    std::uint64_t limit = 0;
    // Bytes skipped on the previous stream just before it was closed: read and dropped first.
    std::uint64_t discard_stream = 0;
    ByteRange discard;
  };

  // One FUSE READ [begin, end) through ReadManager.ReadAt; updates state_ as if it succeeds and sets
  // `on_fail` to the state a failure would leave.
  Piece Step(std::uint64_t begin, std::uint64_t end, State& on_fail);
  std::uint64_t PrefetchWindow();  // ComputeSeqPrefetchWindowAndAdjustType
  void Issue();                    // plans the next request of the read, then sends it
  void Send();                     // the planned request (after its discard, if any)
  void OnFetched(std::uint64_t seq, Result<Slices>&& result);
  void CloseLowerStream();
  void Finish(Result<Slices>&& result);

  GcsfuseReaderOptions options_;
  State state_;
  State fail_state_;  // state_ if the request in flight fails

  // The read in progress (one at a time, as on a file handle).
  ReadId next_id_ = 1;
  ReadId current_ = 0;
  ByteRange range_;
  std::uint64_t pos_ = 0;  // delivered up to here
  Slices out_;
  ReadCallback done_;
  // The request in flight.
  ReadId lower_id_ = 0;  // a ranged request's id (pulls are cancelled by closing their stream)
  std::uint64_t request_seq_ = 0;
  Piece request_;
  // The stream of the layer below serving gcsfuse's open stream `lower_logical_` (0: none, or the
  // layer below has no streams).
  StreamId lower_stream_ = 0;
  std::uint64_t lower_logical_ = 0;
};

}  // namespace pflab::policies
