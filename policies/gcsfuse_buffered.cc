#include "policies/gcsfuse_buffered.h"

#include <algorithm>
#include <string>
#include <utility>

namespace pflab::policies {

PolicyEntry GcsfuseBufferedEntry() {
  using O = GcsfuseBufferedOptions;
  return EntryBuilder<O>("gcsfuse-buffered",
                         "gcsfuse buffered reader, --enable-buffered-read (GoogleCloudPlatform/gcsfuse@7b392927): "
                         "internal/bufferedread/buffered_reader.go, download_task.go; falls back to `gcsfuse`",
                         "queue of block_size blocks, one GET each, in parallel: urgent block + start_blocks, the "
                         "prefetch count doubling at each block boundary up to max_blocks; an offset outside the queue "
                         "drops it; after more than random_seek_threshold such seeks reads go to the gcsfuse default "
                         "reader until the classifier says sequential; must sit on the fetcher")
      .Place(Placement::kOnFetcher)
      // BufferedReader.CheckInvariants: "PrefetchBlockSizeBytes must be at least 1 MiB".
      .Size("block_size", &O::block_size, "read-block-size-mb", AtLeast(kMiB))
      .Uint("max_blocks", &O::max_blocks, "read-max-blocks-per-handle: queue length and prefetch count cap")
      // cfg/params.yaml: read-start-blocks-per-handle prefetches on the first read; min-blocks "should be >= 1".
      .Uint("start_blocks", &O::start_blocks, "read-start-blocks-per-handle: blocks prefetched after the urgent one",
            AtLeast(1))
      .Uint("min_blocks", &O::min_blocks, "read-min-blocks-per-handle: reserved at open, else no buffered reader",
            AtLeast(1))
      .Uint("global_max_blocks", &O::global_max_blocks,
            "read-global-max-blocks (mount-wide; modelled as this handle's)")
      .Uint("random_seek_threshold", &O::random_seek_threshold, "read-random-seek-threshold: seeks before falling back")
      .Uint("workers", &O::workers, "worker pool: min(3 x NumCPU, ceil(1.1 x read-global-max-blocks)) downloads",
            AtLeast(1))
      .Size(
          "sequential_read_size", [](O & o) -> auto& { return o.fallback.sequential_read_size; },
          "fallback gcsfuse: sequential-read-size-mb")
      .Size(
          "max_read_size", [](O & o) -> auto& { return o.fallback.max_read_size; },
          "fallback gcsfuse and classifier: maxReadSize")
      .Size(
          "min_read_size", [](O & o) -> auto& { return o.fallback.min_read_size; }, "fallback gcsfuse: minReadSize")
      .Size(
          "fuse_max", [](O & o) -> auto& { return o.fallback.fuse_max; },
          "largest FUSE READ (MaxPages from fuse-max-write-size-kb)")
      .Check([](O& o) { return CheckGcsfuseReaderOptions(o.fallback); })
      .Builds<GcsfuseBuffered>()
      .Done();
}

GcsfuseBuffered::GcsfuseBuffered(LayerContext ctx, Source* lower, GcsfuseBufferedOptions options)
    : PolicyLayer(ctx, lower),
      options_(options),
      fallback_(std::make_unique<GcsfuseReader>(ctx, lower, options.fallback)),
      num_prefetch_(options.start_blocks) {
  // NewBufferedReader: reserve min(blocks in the file, min blocks) from the global pool, or go without.
  // A max or global limit of 0 disables buffered reads (cfg/params.yaml).
  const std::uint64_t reserve = std::min(BlockCount(), options_.min_blocks);
  pool_capacity_ = std::min(options_.max_blocks, options_.global_max_blocks);
  buffered_ = pool_capacity_ > 0 && options_.global_max_blocks >= reserve;
}

GcsfuseBuffered::~GcsfuseBuffered() {
  *alive_ = false;
  for (Block& block : queue_) CancelBlock(block);
  // fallback_ cancels its own request when it goes.
}

std::uint64_t GcsfuseBuffered::BlockCount() const {
  return (lower_->size() + options_.block_size - 1) / options_.block_size;
}

ReadId GcsfuseBuffered::Read(ByteRange range, ReadCallback done) {
  const ReadId id = next_id_++;
  // ReadManager.ReadAt: EOF and empty reads return before the classifier sees them.
  if (!ClampToObject(range, done)) return id;
  current_ = id;
  range_ = range;
  pos_ = range.begin;
  out_.clear();
  done_ = std::move(done);
  inside_read_ = true;
  Continue();
  inside_read_ = false;
  return id;
}

void GcsfuseBuffered::Cancel(ReadId id) {
  if (id != current_ || current_ == 0) return;
  if (fallback_id_ != 0) {
    fallback_->Cancel(fallback_id_);
    fallback_id_ = 0;
    ++fallback_seq_;  // its completion is ignored
    classifier_ = classifier_on_fail_;
  }
  // A READ waiting for a block: AwaitReady returns the context's error; the queue stays. The classifier
  // has seen its GetReadInfo, not a RecordRead.
  piece_.reset();
  current_ = 0;
  out_.clear();
  CompleteLater(std::move(done_), Cancelled("read cancelled"));
}

bool GcsfuseBuffered::StartPiece() {
  const std::uint64_t begin = pos_;
  const std::uint64_t end = std::min(range_.end, begin + options_.fallback.fuse_max);
  classifier_.GetReadInfo(begin, options_.fallback.max_read_size);
  if (!buffered_ || !HandleRandomRead(begin)) {
    PassToFallback(end);
    return false;
  }
  piece_ = Piece{{begin, end}, begin, false};
  return true;
}

bool GcsfuseBuffered::HandleRandomRead(std::uint64_t offset) {
  auto decide = [this] {
    if (classifier_.sequential) {  // resetBufferedReaderState
      random_seeks_ = 0;
      next_block_ = 0;
      num_prefetch_ = options_.start_blocks;
      return true;
    }
    return false;  // FallbackToAnotherReader
  };
  if (fallen_back()) return decide();
  // isRandomSeek
  bool random = offset != 0;
  if (!queue_.empty()) {
    const std::uint64_t start = queue_.front().index * options_.block_size;
    random = offset < start || offset >= start + queue_.size() * options_.block_size;
  }
  if (!random) return true;
  ++random_seeks_;
  DropQueue();
  if (fallen_back()) return decide();
  return true;
}

void GcsfuseBuffered::DropQueue() {
  for (Block& block : queue_) CancelBlock(block);
  queue_.clear();
}

void GcsfuseBuffered::PrepareQueueForOffset(std::uint64_t offset) {
  bool dropped = false;
  while (!queue_.empty()) {
    const std::uint64_t start = queue_.front().index * options_.block_size;
    if (offset >= start && offset < start + options_.block_size) break;  // block.Cap(), not its size
    CancelBlock(queue_.front());
    queue_.pop_front();
    dropped = true;
  }
  // A cancelled download frees its worker, which takes the next task: the block now at the head may
  // be one no worker had started (fewer workers than blocks), and the read waits for it.
  if (dropped) StartWorkers();
}

void GcsfuseBuffered::FreshStart(std::uint64_t offset) {
  next_block_ = offset / options_.block_size;
  num_prefetch_ = std::min(options_.start_blocks, options_.max_blocks);
  // The queue is empty, so the pool has a block (pool_capacity_ >= 1 when buffered_).
  ScheduleNextBlock(true);
  Prefetch();
}

void GcsfuseBuffered::Prefetch() {
  if (queue_.size() >= options_.max_blocks) return;
  const std::uint64_t slots = options_.max_blocks - queue_.size();
  const std::uint64_t count = std::min({num_prefetch_, slots, BlockCount() - next_block_});
  if (count == 0) return;
  for (std::uint64_t i = 0; i < count; ++i) {
    if (!ScheduleNextBlock(false)) return;  // pool exhausted: the window does not grow
  }
  num_prefetch_ = std::min(num_prefetch_ * 2, options_.max_blocks);  // defaultPrefetchMultiplier
}

bool GcsfuseBuffered::ScheduleNextBlock(bool urgent) {
  if (queue_.size() >= pool_capacity_) return false;  // blockPool.TryGet fails
  Block block;
  block.index = next_block_++;
  block.range.begin = block.index * options_.block_size;
  block.range.end = std::min(block.range.begin + options_.block_size, lower_->size());
  block.serial = next_serial_++;
  block.urgent = urgent;
  queue_.push_back(std::move(block));
  StartWorkers();
  return true;
}

void GcsfuseBuffered::StartWorkers() {
  while (running_ < options_.workers) {
    // Workers take urgent tasks first, then the others in the order they were scheduled.
    Block* next = nullptr;
    for (Block& block : queue_) {
      if (block.started) continue;
      if (block.urgent) {
        next = &block;
        break;
      }
      if (next == nullptr) next = &block;
    }
    if (next == nullptr) return;
    next->started = true;
    ++running_;
    const std::uint64_t serial = next->serial;
    next->lower =
        FetchBelow(next->range, 0, [this, serial](Result<Slices>&& result) { OnBlockDone(serial, std::move(result)); });
  }
}

void GcsfuseBuffered::CancelBlock(Block& block) {
  if (!block.started || block.result) return;
  // cancelAndWait: the worker is free once the cancelled download returns; the late callback finds no
  // block and is ignored.
  lower_->Cancel(block.lower);
  --running_;
}

void GcsfuseBuffered::OnBlockDone(std::uint64_t serial, Result<Slices>&& result) {
  auto it = std::find_if(queue_.begin(), queue_.end(), [serial](const Block& b) { return b.serial == serial; });
  if (it == queue_.end()) return;  // dropped meanwhile
  --running_;
  if (result.ok() && TotalLength(*result) != it->range.size()) {
    it->result = Internal("gcsfuse-buffered: the layer below returned " + std::to_string(TotalLength(*result)) +
                          " bytes for a block of " + std::to_string(it->range.size()));
  } else {
    it->result = std::move(result);
  }
  StartWorkers();
  if (piece_) Continue();
}

void GcsfuseBuffered::Continue() {
  while (current_ != 0 && pos_ < range_.end) {
    if (!piece_ && !StartPiece()) return;  // passed to the fallback
    Piece& p = *piece_;
    // BufferedReader.ReadAt's loop.
    while (p.at < p.range.end) {
      PrepareQueueForOffset(p.at);
      if (queue_.empty()) {
        FreshStart(p.at);
        p.prefetch_triggered = true;
      }
      Block& head = queue_.front();
      if (!head.result) return;  // AwaitReady: OnBlockDone resumes
      if (!head.result->ok()) {
        Error error = head.result->error();
        queue_.pop_front();
        piece_.reset();
        Finish(std::move(error));
        return;
      }
      const std::uint64_t take = std::min(p.range.end, head.range.end) - p.at;
      for (Slice& s : SubSlices(**head.result, p.at - head.range.begin, take)) out_.push_back(std::move(s));
      p.at += take;
      if (p.at >= lower_->size()) break;  // EOF: the last block stays queued
      if (p.at >= head.range.end) {
        queue_.pop_front();
        if (!p.prefetch_triggered) {
          p.prefetch_triggered = true;
          Prefetch();
        }
      }
    }
    classifier_.RecordRead(p.range.begin, p.range.end);
    pos_ = p.range.end;
    piece_.reset();
  }
  if (current_ != 0) Finish(std::move(out_));
}

void GcsfuseBuffered::PassToFallback(std::uint64_t first_end) {
  // The following READs of this read also go to the fallback while the buffered reader would pass them
  // on too: it has fallen back (or does not exist) and the classifier stays random.
  classifier_on_fail_ = classifier_;
  GcsfuseClassifier after = classifier_;
  after.RecordRead(pos_, first_end);
  std::uint64_t end = first_end;
  while (end < range_.end) {
    GcsfuseClassifier next = after;
    next.GetReadInfo(end, options_.fallback.max_read_size);
    if (buffered_ && next.sequential) break;
    const std::uint64_t piece_end = std::min(range_.end, end + options_.fallback.fuse_max);
    next.RecordRead(end, piece_end);
    after = next;
    end = piece_end;
  }
  classifier_on_success_ = after;
  fallback_range_ = {pos_, end};
  const std::uint64_t seq = ++fallback_seq_;
  fallback_id_ = fallback_->Read(fallback_range_, [this, alive = alive_, seq](Result<Slices>&& result) {
    if (*alive) OnFallbackDone(seq, std::move(result));
  });
}

void GcsfuseBuffered::OnFallbackDone(std::uint64_t seq, Result<Slices>&& result) {
  if (seq != fallback_seq_ || current_ == 0) return;
  fallback_id_ = 0;
  if (!result.ok()) {
    classifier_ = classifier_on_fail_;
    Finish(std::move(result));
    return;
  }
  classifier_ = classifier_on_success_;
  for (Slice& s : *result) out_.push_back(std::move(s));
  pos_ = fallback_range_.end;
  Continue();
}

void GcsfuseBuffered::Finish(Result<Slices>&& result) {
  current_ = 0;
  piece_.reset();
  ReadCallback done = std::move(done_);
  out_.clear();
  Deliver(std::move(done), std::move(result), inside_read_);
}

}  // namespace pflab::policies
