// Mountpoint for Amazon S3's prefetcher (one PrefetchGetObject per file handle), with the part of the
// AWS CRT meta-request it drives: part GETs started inside a flow-control window.
//
// Origin: awslabs/mountpoint-s3 @58817cab (2026-08-22), mountpoint-s3-fs/src/:
//   prefetch.rs                    PrefetchGetObject::read / try_read (reset on error or unservable read),
//                                  PrefetcherConfig::default, INITIAL_REQUEST_SIZE
//   prefetch/cursor.rs             Cursor::try_read, CursorInner::do_read / try_seek_forward / try_seek_backward
//   prefetch/backpressure_controller.rs  send_feedback (DataRead, PartQueueStall), scale_up,
//                                  ReadWindowAlignmentConfig::align, wait_for_read_window_increment
//   prefetch/part_stream.rs        read_from_client_stream (first GET, then the second GET once the window
//                                  first moves past it), read_from_request, ClientPartComposer::compose_parts
//   prefetch/task.rs               RequestTask::read (feedback after every queue read; stall when the queue is
//                                  empty after it)
//   prefetch/part_queue.rs         PartQueue::read (partial reads leave the tail at the front), push_front
//   prefetch/seek_window.rs        SeekWindow::push / read_back
// research/prefetchers.md section 1 summarises it. Written from those rules, not translated.
//
// The algorithm. There is no sequential detector: a read either continues the cursor or replaces it.
// - A cursor at offset `off` streams [off, EOF) through two GETs: [off, off + initial) at once, and
//   [off + initial, EOF) only when the read window first moves past off + initial.
// - Window: preferred size W (starts at `initial`) and end E (starts at off + initial). After every read
//   from the queue, if E - next < W/2, E := next + W rounded up to a multiple of `part_size` counted
//   from off + initial (clipped at EOF). When a queue read leaves the queue empty (the reader caught up),
//   W := min(max(multiplier x W, part_size), max_window). So W goes 1.125 MiB -> 8 -> 16 -> ... -> 2 GiB,
//   driven by stalls, not by the number of reads.
// - The data arrives in CRT parts split into pieces at multiples of clamp(largest read so far, 128 KiB,
//   1 MiB) (fixed when the cursor is made); each queue read returns at most one piece.
// - A read at the cursor's offset continues. Forward to t: allowed if t < E and t < available +
//   forward_seek (available = bytes already arrived); the skipped bytes are read out of the queue (and
//   may wait for them). Backward: served if the backward window (the last `backward_seek` bytes read,
//   as pieces) holds them; they go back to the front of the queue. Anything else drops the cursor
//   (cancelling its requests below) and starts a new one at the read's offset.
// - An error from below reaches the reader once it has read the data before it; that read fails and
//   the cursor is dropped, so the next read starts afresh.
//
// CRT model (aws-c-s3 s3_auto_ranged_get.c, as summarised in research/prefetchers.md). Each GET is a
// meta-request split into part GETs of `part_size` aligned to the GET's start; each part is one request
// to the layer below. A part starts once the CRT's window covers its first byte; that window is
// max(GET start + part_size (Mountpoint's client initial_read_window = read part size, s3/config.rs),
// the limiter's window end). Parts reach the queue in order. As in read_from_request, the producer
// passes window increments to the CRT only after it hands a part to the queue, or at once while it is
// blocked because the window ends where the data ends. At most `max_parts` parts are in flight (CRT
// max requests in flight: 4 x 25 connections at the 10 Gbps default target). The bottom fetcher does
// the retries the CRT would (3 attempts in Mountpoint); a part that still fails fails its GET.
//
// Simplified: the first CRT part is not sent alone before the others (its size discovery is moot since
// the object size is known here); the memory limiter always grants reservations (one handle, a large
// --memory-target), so W is never scaled down and no cursor is pruned; checksums are not modelled.
// Mountpoint never abandons a FUSE read; Cancel here ends the read as dropping its future at its await
// would: bytes it consumed stay consumed, the cursor and its requests stay.
//
// Memory per handle: data in the queue and in flight is at most max(E, GET start + part_size) -
// current offset <= max_window + 2 x part_size, plus the backward window (backward_seek bytes). Pieces
// share their part's chunk, so a chunk lives while any piece of it is kept: add up to one part.
// The layer keeps up to max_parts requests in flight, so it must sit directly on the fetcher.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <set>

#include "engine/units.h"
#include "policies/policy_entry.h"
#include "policies/policy_layer.h"

namespace pflab::policies {

/// Parameters; defaults are Mountpoint's (PrefetcherConfig::default, cli.rs --read-part-size).
struct MountpointOptions {
  std::uint64_t initial = kMiB + 128 * kKiB;  // INITIAL_REQUEST_SIZE
  std::uint64_t part_size = 8 * kMiB;         // --read-part-size default; also the minimum window
  std::uint64_t max_window = 2 * kGiB;        // max_read_window_size
  std::uint32_t multiplier = 2;               // sequential_prefetch_multiplier
  std::uint64_t forward_seek = 16 * kMiB;     // max_forward_seek_wait_distance
  std::uint64_t backward_seek = kMiB;         // max_backward_seek_distance
  std::uint32_t max_parts = 100;              // CRT requests in flight (4 x ideal connections at 10 Gbps)
  bool operator==(const MountpointOptions&) const = default;
};

/// The `mountpoint-s3` entry.
PolicyEntry MountpointEntry();

/// Mountpoint-S3's prefetcher as a policy layer.
class MountpointPrefetcher final : public PolicyLayer {
 public:
  MountpointPrefetcher(LayerContext ctx, Source* lower, MountpointOptions options);
  ~MountpointPrefetcher() override;

  ReadId Read(ByteRange range, ReadCallback done) override;
  void Cancel(ReadId id) override;
  const char* name() const override { return "mountpoint-s3"; }

  // For tests.
  bool has_cursor() const { return has_cursor_; }
  std::uint64_t preferred_window() const { return window_; }
  std::uint64_t window_end() const { return window_end_; }
  std::uint64_t backward_window_bytes() const { return has_cursor_ ? SeekWindowBytes() : 0; }

 private:
  // A slice of the kept bytes (below) and the object offset of its first byte.
  struct KeptSlice {
    std::uint64_t at = 0;
    Slice slice;
  };
  // A part handed to the queue (compose_parts), cut into pieces only as they are read: the pieces and
  // their order are compose_parts', without building every piece of a part that a seek then drops.
  // `data` holds exactly the bytes [at, end), so it keeps the same chunks alive as the pieces would.
  struct QueuedPart {
    std::uint64_t at = 0;  // the next byte not yet read from the queue
    std::uint64_t end = 0;
    Slices data;
  };
  // One CRT part GET: a request to the layer below.
  struct CrtPart {
    ByteRange range;
    std::uint64_t serial = 0;
    ReadId lower = 0;
    std::optional<Result<Slices>> result;  // set when done
  };
  enum class Producer { kFirst, kWaitSecond, kSecond, kDone, kFailed };

  void NewCursor(std::uint64_t offset);
  void DropCursor();
  // Consumer.
  void Continue();
  // PartQueue::read of the pieces a read of at most `length` bytes takes from the front queue, or of
  // one new piece from the parts queued, each followed by RequestTask::read's feedback and
  // SeekWindow::push; the bytes go to out_ when `deliver`. Both return the bytes taken.
  std::uint64_t TakeKept(std::uint64_t length, bool deliver);
  std::uint64_t TakeNew(std::uint64_t length, bool deliver);
  // send_feedback(DataRead) at the end of every piece in (from, to], to ending the last.
  void OnDataReadOver(std::uint64_t from, std::uint64_t to);
  static void AppendHead(const Slices& from, std::uint64_t length, Slices& out);
  static void DropFront(Slices& data, std::uint64_t skip);
  bool SeekBackward(std::uint64_t length);
  std::uint64_t KeptBegin() const { return cuts_.empty() ? kept_end_ : *cuts_.begin(); }
  std::uint64_t SeekWindowBytes() const { return current_ - KeptBegin(); }
  // Drops the backward window's oldest pieces until it holds at most backward_seek bytes.
  void Evict();
  void AppendKept(std::uint64_t at, const Slices& data);
  void KeptSlices(std::uint64_t begin, std::uint64_t end, Slices& out) const;
  void Finish(Result<Slices>&& result);
  // Backpressure controller.
  void OnDataRead(std::uint64_t next);
  void ScaleUp();
  std::uint64_t Align(std::uint64_t end) const;
  void Increment(std::uint64_t length);
  // Producer and CRT.
  void StartRequest(ByteRange range);
  void StartParts();
  void OnPartDone(std::uint64_t serial, Result<Slices>&& result);
  void ProducerRun();
  void EnsureWindow(std::uint64_t end);

  MountpointOptions options_;
  std::uint64_t preferred_piece_ = 128 << 10;  // PrefetchGetObject::preferred_part_size

  // Cursor.
  bool has_cursor_ = false;
  std::uint64_t start_ = 0;  // request range start; the end is the object's size
  std::uint64_t current_ = 0;
  std::uint64_t piece_size_ = 0;
  // The backward-seek window (SeekWindow, pieces read) and the front queue (pieces a backward seek
  // pushed back) always join at current_: together they are the kept bytes [KeptBegin(), kept_end_),
  // the window before current_, the front queue from it. They are kept as the pieces' borders and
  // the bytes, not as pieces, so that a seek moves the border between the two instead of every
  // piece, and a read takes the pieces it covers in one step: reads of a few bytes make thousands of
  // pieces in a 1 MiB window, which every seek back and forth moved one by one. Pieces are only told
  // apart by their borders: the window evicts whole pieces, and the read window moves at their ends.
  std::set<std::uint64_t> cuts_;  // the kept pieces' starts
  std::deque<KeptSlice> kept_;    // the kept bytes in order; slices continuing one another in a chunk joined
  std::uint64_t kept_end_ = 0;
  std::deque<QueuedPart> queue_;
  std::optional<Error> queue_error_;  // after the queued pieces
  std::uint64_t available_ = 0;       // start_ + bytes received
  // Backpressure controller.
  std::uint64_t window_ = 0;      // preferred_read_window_size
  std::uint64_t window_end_ = 0;  // read_window_end_offset
  std::uint64_t align_from_ = 0;
  // Backpressure limiter and producer.
  std::uint64_t limiter_end_ = 0;
  std::uint64_t pending_increment_ = 0;
  bool blocked_ = false;
  std::uint64_t blocked_at_ = 0;
  Producer producer_ = Producer::kDone;
  // The current GET (meta-request).
  ByteRange request_;
  std::uint64_t next_part_ = 0;  // start of the next part to send
  std::uint64_t crt_window_ = 0;
  std::deque<CrtPart> parts_;  // sent and not yet handed to the queue, in order
  std::uint32_t in_flight_ = 0;
  std::uint64_t next_serial_ = 1;

  // The read in progress (one at a time).
  ReadId next_id_ = 1;
  ReadId current_read_ = 0;
  std::uint64_t seek_remaining_ = 0;
  std::uint64_t to_read_ = 0;
  Slices out_;
  ReadCallback done_;
  bool waiting_ = false;
};

}  // namespace pflab::policies
