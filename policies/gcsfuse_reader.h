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
// Streams as requests. A gcsfuse stream is one long ranged GET consumed as reads arrive, with at most
// one read in flight per handle. Our transport delivers a ranged GET as a whole, so a stream is modelled
// as consecutive ranged requests of exactly the bytes gcsfuse consumes from it: each FUSE piece served
// by a stream asks the layer below for [stream position, piece end), the skipped gap included (then
// dropped), and the pieces of one read served by the same stream are merged into one request. Requests
// go one at a time, as in gcsfuse. Approximations: every request pays the transport's first-byte latency
// while a real stream pays it once per open (small sequential reads look slower than they are); bytes a
// stream skips and then is closed anyway (the read ends past its limit) are not fetched, gcsfuse
// downloads and discards them; a FUSE piece larger than a new stream's size (only if fuse_max exceeds
// min_read) extends that stream to the piece's end where gcsfuse would return a short read.
//
// Errors and cancellation: a failed or cancelled request fails the read; the stream is discarded
// (gcsfuse leaves a stream whose read failed in place; we do not model a broken stream failing again)
// and the classifier keeps the seek counted for the piece that failed but not its bytes (RecordRead runs
// only after a successful read), so the next read opens a new stream. Pieces of the same read before
// the failed request stay recorded.
#pragma once

#include <cstdint>

#include "policies/params.h"
#include "policies/passthrough.h"

namespace pflab::policies {

/// Parameters of gcsfuse; defaults are gcsfuse's.
struct GcsfuseReaderOptions {
  std::uint64_t sequential_read_size = 200ull << 20;  // sequential-read-size-mb (cfg/params.yaml)
  std::uint64_t max_read_size = 8ull << 20;           // maxReadSize (range_reader.go, random_reader.go)
  std::uint64_t min_read_size = 1ull << 20;           // minReadSize (random_reader.go)
  std::uint64_t fuse_max = 1ull << 20;                // FUSE max request: fuse-max-write-size-kb 1024
};

Result<GcsfuseReaderOptions> ParseGcsfuseReaderOptions(Params& params);

/// gcsfuse's classifier and range reader as a policy layer (one request in flight at a time).
class GcsfuseReader final : public PolicyLayer {
 public:
  GcsfuseReader(LayerContext ctx, Source* lower, GcsfuseReaderOptions options);
  ~GcsfuseReader() override;

  ReadId Read(ByteRange range, ReadCallback done) override;
  void Cancel(ReadId id) override;
  const char* name() const override { return "gcsfuse"; }

  // Introspection for tests.
  bool sequential() const { return state_.sequential; }
  std::uint64_t seeks() const { return state_.seeks; }
  std::uint64_t streams_opened() const { return state_.streams_opened; }
  bool stream_open() const { return state_.stream_open; }
  std::uint64_t stream_limit() const { return state_.stream_limit; }

 private:
  // Everything gcsfuse keeps per handle: the ReadTypeClassifier and the RangeReader's stream.
  struct State {
    bool started = false;  // the read manager exists (first read seen)
    std::uint64_t initial_offset = 0;
    bool sequential = true;  // readType; "Start as sequential read type"
    std::uint64_t expected_offset = 0;
    std::uint64_t seeks = 0;
    std::uint64_t total_read = 0;
    bool stream_open = false;
    std::uint64_t stream_id = 0;  // which stream is open (== streams_opened when open)
    std::uint64_t stream_pos = 0;
    std::uint64_t stream_limit = 0;
    std::uint64_t streams_opened = 0;
  };
  // What one FUSE piece asks of the layer below.
  struct Piece {
    std::uint64_t stream = 0;
    std::uint64_t fetch_begin = 0;  // stream position before the piece (skipped bytes included)
    std::uint64_t end = 0;
  };

  // One FUSE READ [begin, end) through ReadManager.ReadAt; updates state_ as if it succeeds and sets
  // `on_fail` to the state a failure would leave.
  Piece Step(std::uint64_t begin, std::uint64_t end, State& on_fail);
  void GetReadInfo(std::uint64_t offset);  // ReadTypeClassifier.GetReadInfo
  std::uint64_t PrefetchWindow();          // ComputeSeqPrefetchWindowAndAdjustType
  void Issue();                            // plans and sends the next request of the read
  void OnFetched(std::uint64_t seq, Result<Slices>&& result);
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
  ReadId lower_id_ = 0;
  std::uint64_t request_seq_ = 0;
  std::uint64_t fetch_begin_ = 0;
  std::uint64_t fetch_end_ = 0;
};

}  // namespace pflab::policies
