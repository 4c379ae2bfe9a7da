// gcsfuse's buffered reader (--enable-buffered-read): fixed-size blocks downloaded in parallel ahead of
// a sequential reader, with the default read path (policies/gcsfuse_reader.h) as its fallback.
//
// Origin: GoogleCloudPlatform/gcsfuse@7b392927 (2026-08-20; research/prefetchers.md section 2b), the
// same commit as `gcsfuse`. Written from these rules, not translated. Functions modelled:
// - internal/bufferedread/buffered_reader.go
//   - `NewBufferedReader`: reserves min(blocks in the file, min-blocks-per-handle) blocks from the global
//     pool; if it cannot, the handle has no buffered reader and every read takes the default path.
//   - `ReadAt`: EOF and empty reads return first; `handleRandomRead`; then, until the FUSE READ is
//     served: `prepareQueueForOffset` (drop head blocks not containing the offset), `freshStart` when the
//     queue is empty, wait for the head block, copy from it; when the read passes the head block's end
//     the block is popped and `prefetch` runs (at most once per READ, and not in a READ that did a fresh
//     start). Reaching EOF stops before popping. A head block whose download failed is popped and fails
//     the READ (the rest of the queue stays).
//   - `isRandomSeek`: with an empty queue any offset != 0; else an offset outside
//     [head block start, head start + queue length x block size).
//   - `handleRandomRead`: a random seek drops (cancels) the whole queue and counts; once the count
//     exceeds random-seek-threshold, every READ goes to the default reader, unless the shared
//     classifier says sequential: then `resetBufferedReaderState` (count 0, next block 0, prefetch
//     count = start blocks) and the buffered reader serves it again.
//   - `freshStart`: the block of the offset as urgent, prefetch count = min(start, max blocks), then
//     `prefetch`.
//   - `prefetch`: min(prefetch count, max blocks - queue length, blocks left in the file) blocks from
//     the next index; if every one got a block, the prefetch count doubles (defaultPrefetchMultiplier)
//     up to max blocks. So 1 urgent + 1, then +2, +4, +8, +16, then up to 20 at each boundary crossed.
// - internal/bufferedread/download_task.go `Execute`: a block is one ranged GET
//   [start, min(start + block size, size)).
// - internal/workerpool/static_worker_pool.go `newStaticWorkerPoolForCurrentCPU`, `Schedule`, `do`:
//   min(3 x NumCPU, ceil(1.1 x global max blocks)) workers; urgent tasks are taken first.
// - internal/gcsx/read_manager/read_manager.go `ReadAt`: the classifier's GetReadInfo runs before the
//   readers, RecordRead after a successful read by either of them; a reader's FallbackToAnotherReader
//   passes the READ to the next reader (GCSReader), any other error fails it.
//
// Model choices.
// - FUSE: reads from above are cut into `fuse_max` pieces (1 MiB), each a READ through the steps above.
// - One handle per stack: the global block limit (read-global-max-blocks, a mount-wide semaphore) is
//   modelled as this handle's alone: the handle may hold min(max_blocks, global_max_blocks) blocks, and
//   creation fails when global_max_blocks < min(blocks in the file, min_blocks). Blocks still referenced
//   by FUSE after eviction are not counted (our slices keep their chunk alive and charged instead).
// - Workers: the pool is shared by all handles; here `workers` caps this handle's downloads in flight
//   (default 44, the cap ceil(1.1 x 40) that 3 x NumCPU reaches from 15 CPUs; then it never binds, as
//   a handle holds at most 20 blocks). Queued downloads wait in FIFO order, urgent ones first.
// - Fallback by composition: the default path is a GcsfuseReader owned by this layer, given the READs
//   the buffered reader passes on (consecutive ones of one read from above as one read, which it cuts
//   into the same pieces). gcsfuse shares one ReadTypeClassifier between both readers; here this layer
//   keeps its own copy, fed with every READ, for the reset decision, while the GcsfuseReader's
//   classifier sees only the READs passed to it (so after a fallback its first READ counts as that
//   classifier's first read). When the GcsfuseReader fails a passed read, this copy keeps the first
//   READ's seek and none of the bytes.
// - Cancel from above ends the read as a cancelled context does in AwaitReady: the queue stays; a read
//   passed to the GcsfuseReader is cancelled there. Destruction cancels every download in flight.
// The layer keeps several requests in flight, so it must sit directly on the fetcher.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>

#include "engine/units.h"
#include "policies/gcsfuse_reader.h"
#include "policies/policy_entry.h"
#include "policies/policy_layer.h"

namespace pflab::policies {

/// Parameters; defaults are gcsfuse's (cfg/params.yaml, static_worker_pool.go), plus the fallback's.
struct GcsfuseBufferedOptions {
  std::uint64_t block_size = 16 * kMiB;     // read-block-size-mb
  std::uint64_t max_blocks = 20;            // read-max-blocks-per-handle
  std::uint64_t start_blocks = 1;           // read-start-blocks-per-handle
  std::uint64_t min_blocks = 4;             // read-min-blocks-per-handle
  std::uint64_t global_max_blocks = 40;     // read-global-max-blocks (modelled per handle)
  std::uint64_t random_seek_threshold = 3;  // read-random-seek-threshold
  std::uint64_t workers = 44;               // worker pool: min(3 x NumCPU, ceil(1.1 x global_max_blocks))
  GcsfuseReaderOptions fallback;            // the default reader; its fuse_max cuts READs here too
  bool operator==(const GcsfuseBufferedOptions&) const = default;
};

/// The `gcsfuse-buffered` entry.
PolicyEntry GcsfuseBufferedEntry();

/// gcsfuse's BufferedReader over the fetcher, falling back to a GcsfuseReader after random seeks.
class GcsfuseBuffered final : public PolicyLayer {
 public:
  GcsfuseBuffered(LayerContext ctx, Source* lower, GcsfuseBufferedOptions options);
  ~GcsfuseBuffered() override;

  ReadId Read(ByteRange range, ReadCallback done) override;
  void Cancel(ReadId id) override;
  const char* name() const override { return "gcsfuse-buffered"; }

  // For tests.
  bool has_buffered_reader() const { return buffered_; }
  std::uint64_t random_seeks() const { return random_seeks_; }
  std::uint64_t prefetch_count() const { return num_prefetch_; }
  std::uint64_t queued_blocks() const { return queue_.size(); }
  std::uint64_t first_queued_block() const { return queue_.empty() ? 0 : queue_.front().index; }
  bool fallen_back() const { return random_seeks_ > options_.random_seek_threshold; }
  const GcsfuseReader& fallback() const { return *fallback_; }

 private:
  // A blockQueueEntry: one block's download.
  struct Block {
    std::uint64_t index = 0;
    ByteRange range;
    std::uint64_t serial = 0;
    bool urgent = false;
    bool started = false;  // given to a worker
    ReadId lower = 0;
    std::optional<Result<Slices>> result;
  };
  // The FUSE READ being served by the buffered reader.
  struct Piece {
    ByteRange range;
    std::uint64_t at = 0;  // next byte to copy
    bool prefetch_triggered = false;
  };

  void Continue();
  bool StartPiece();                            // false: the piece went to the fallback
  bool HandleRandomRead(std::uint64_t offset);  // false: FallbackToAnotherReader
  void DropQueue();
  void PrepareQueueForOffset(std::uint64_t offset);
  void FreshStart(std::uint64_t offset);
  void Prefetch();
  bool ScheduleNextBlock(bool urgent);  // false: no block in the pool
  void StartWorkers();
  void CancelBlock(Block& block);
  void OnBlockDone(std::uint64_t serial, Result<Slices>&& result);
  void PassToFallback(std::uint64_t first_end);
  void OnFallbackDone(std::uint64_t seq, Result<Slices>&& result);
  void Finish(Result<Slices>&& result);
  std::uint64_t BlockCount() const;

  GcsfuseBufferedOptions options_;
  std::unique_ptr<GcsfuseReader> fallback_;
  GcsfuseClassifier classifier_;
  bool buffered_ = true;             // NewBufferedReader succeeded
  std::uint64_t pool_capacity_ = 0;  // blocks this handle may hold
  // BufferedReader state.
  std::deque<Block> queue_;
  std::uint64_t next_block_ = 0;  // nextBlockIndexToPrefetch
  std::uint64_t random_seeks_ = 0;
  std::uint64_t num_prefetch_ = 0;
  std::uint64_t next_serial_ = 1;
  std::uint64_t running_ = 0;  // downloads given to workers

  // The read in progress (one at a time, as on a file handle).
  ReadId next_id_ = 1;
  ReadId current_ = 0;
  ByteRange range_;
  std::uint64_t pos_ = 0;
  Slices out_;
  ReadCallback done_;
  bool inside_read_ = false;
  std::optional<Piece> piece_;
  // A read passed to the fallback.
  ReadId fallback_id_ = 0;
  std::uint64_t fallback_seq_ = 0;
  ByteRange fallback_range_;
  GcsfuseClassifier classifier_on_fail_;
  GcsfuseClassifier classifier_on_success_;
};

}  // namespace pflab::policies
