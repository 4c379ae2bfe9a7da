// gcsfs BackgroundPrefetcher, in two variants: as merged from PR #795 (gcsfs-v795) and as in gcsfs
// main 2026.8+ (gcsfs-adaptive, the same code fsspec adopted as its "adaptive" cache).
//
// Origin: fsspec/gcsfs gcsfs/prefetcher.py at 5596df92 (v795) and 20c58d0d (main). research/
// gcsfs_fsspec.md section 1 summarises both. The algorithm: a producer schedules fetch tasks ahead of
// a consumer into an unbounded queue; how far ahead (the window) grows with the consumer's sequential
// streak (one per task consumed) and the average of the last 10 read sizes. A read that starts inside
// what was scheduled skips forward (soft seek); anything else stops the producer, waits for its
// in-flight fetches (they are not cancelled), clears the history and restarts at the new offset (hard
// seek). main adds: prefetching only from the 3rd consumed task, the last read size instead of the
// average when the queue is empty, a 64 MiB variable-size cutoff, a window raised to cover the pending
// read, re-reads inside the current block served locally (#930), recovery after an error, and a
// producer that stops at EOF. v795 keeps every error forever.
//
// Timing model. The original is asyncio code and its decisions depend on what has completed when (is
// the queue empty when the consumer needs data; what offset the producer sees). We run the read path
// as a C++20 coroutine on the Scheduler and map asyncio's suspension points one to one: awaiting an
// unfinished fetch or an empty queue suspends until it is ready; `asyncio.to_thread` (partial-block
// slicing, joining pieces) and `gather` in stop() suspend for one scheduler turn; setting the wakeup
// event posts one producer run, which runs its whole scheduling loop without suspending (putting to an
// unbounded queue never blocks). Resumptions are posted in FIFO order, like call_soon. The mapping is
// exact in order; it is approximate in that a thread-pool hop takes zero virtual time.
//
// Memory: the bytes of queued tasks plus the current block. The window caps what is scheduled ahead at
// max(2 * avg, 128 MiB), at most `max` (256 MiB through GCSFile); one chunk may overshoot it.
#pragma once

#include <boost/smart_ptr/intrusive_ptr.hpp>
#include <coroutine>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <vector>

#include "engine/units.h"
#include "policies/policy_entry.h"
#include "policies/policy_layer.h"

namespace pflab::policies {

/// Which version of the gcsfs prefetcher.
enum class GcsfsVariant { kV795, kMain };

/// Parameters; defaults are the original's for each variant (see DefaultGcsfsOptions).
struct GcsfsPrefetcherOptions {
  GcsfsVariant variant = GcsfsVariant::kMain;
  std::uint32_t concurrency = 4;                    // v795: DEFAULT_CONCURRENCY 1; main: 4 (gcsfs#992)
  std::uint64_t max_prefetch = 256 * kMiB;          // GCSFile MAX_PREFETCH_SIZE
  std::uint64_t min_chunk = 5 * kMiB;               // PrefetchProducer.MIN_CHUNK_SIZE
  std::uint64_t min_prefetch = 128 * kMiB;          // PrefetchProducer.MIN_PREFETCH_SIZE
  std::uint32_t streak = 3;                         // v795: 2; main: MIN_STREAKS_FOR_PREFETCHING 3
  std::uint64_t variable_io_threshold = 64 * kMiB;  // main: VARIABLE_IO_THRESHOLD
  std::uint32_t history = 10;                       // RunningAverageTracker(maxlen=10)
  bool operator==(const GcsfsPrefetcherOptions&) const = default;
};

/// The defaults of `variant`: the struct's (main's) with v795's concurrency and streak for kV795.
GcsfsPrefetcherOptions DefaultGcsfsOptions(GcsfsVariant variant);

/// The `gcsfs-v795` and `gcsfs-adaptive` entries.
PolicyEntry GcsfsV795Entry();
PolicyEntry GcsfsAdaptiveEntry();

/// The gcsfs prefetcher as a policy layer.
class GcsfsPrefetcher final : public PolicyLayer {
 public:
  GcsfsPrefetcher(LayerContext ctx, Source* lower, GcsfsPrefetcherOptions options);
  ~GcsfsPrefetcher() override;

  ReadId Read(ByteRange range, ReadCallback done) override;
  void Cancel(ReadId id) override;
  const char* name() const override;

  std::uint32_t sequential_streak() const { return streak_; }

 private:
  struct FetchTask;
  // Shared by the queue, the in-flight list and the lower read's callback, always on the scheduler's
  // thread: a non-atomic count, since std::shared_ptr's locked increments cost several per read.
  using TaskPtr = boost::intrusive_ptr<FetchTask>;
  struct Awaiter;
  struct ReadCoroutine;

  // The read path (BackgroundPrefetcher._async_fetch + consumer), one coroutine per read.
  ReadCoroutine RunRead(ByteRange range, ReadCallback done);
  // Producer side.
  void SetWakeup();
  void ProducerRun(std::uint64_t generation);
  void StartProducer();
  void SpawnTask(std::uint64_t offset, std::uint64_t size, std::uint32_t split);
  std::optional<std::uint64_t> ChunkSize(std::uint64_t prefetch, std::uint64_t space, std::uint64_t io,
                                         std::uint64_t remaining) const;
  std::uint32_t SplitFactor(std::uint64_t chunk, std::uint64_t window) const;
  void OnTaskDone(const TaskPtr& task, Result<Slices>&& result);
  // Tracker.
  void TrackerAdd(std::uint64_t size);
  std::uint64_t TrackerAverage() const;
  bool TrackerVariable() const;
  std::uint64_t MaxPrefetch() const;
  // Suspension helpers.
  void ResumeLater(std::coroutine_handle<> handle);
  Awaiter StopProducer();  // PrefetchProducer.stop(); the caller co_awaits the result

  GcsfsPrefetcherOptions options_;
  // Orchestrator.
  std::uint64_t user_offset_ = 0;
  std::optional<Error> error_;
  bool closed_ = false;
  // RunningAverageTracker's deque(maxlen=history) as a ring: the last reads' sizes.
  std::vector<std::uint64_t> history_;
  std::size_t history_next_ = 0;  // where the next size goes (the oldest's place once full)
  std::size_t history_count_ = 0;
  std::uint64_t history_sum_ = 0;
  // Producer.
  std::uint64_t current_offset_ = 0;
  bool producer_stopped_ = false;
  bool producer_alive_ = false;  // the _loop task exists and has not finished
  bool wakeup_ = false;
  bool run_posted_ = false;
  std::uint64_t producer_generation_ = 0;
  std::deque<TaskPtr> queue_;
  std::vector<TaskPtr> in_flight_;  // lower reads not yet completed
  // Consumer.
  std::uint64_t offset_ = 0;
  std::uint64_t target_offset_ = 0;
  std::uint32_t streak_ = 0;
  Slices block_;
  std::uint64_t block_length_ = 0;
  std::uint64_t block_idx_ = 0;
  // Coroutine plumbing.
  std::coroutine_handle<> read_handle_;
  std::coroutine_handle<> queue_waiter_;
  std::coroutine_handle<> stop_waiter_;
  std::size_t stop_pending_ = 0;
  ReadId next_id_ = 1;
  ReadId current_read_ = 0;
  bool cancel_requested_ = false;
};

}  // namespace pflab::policies
