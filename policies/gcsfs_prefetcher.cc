#include "policies/gcsfs_prefetcher.h"

#include <algorithm>
#include <boost/smart_ptr/intrusive_ref_counter.hpp>
#include <exception>
#include <set>
#include <utility>

#include "engine/sanitizers.h"

namespace pflab::policies {

// A fetch task: one request to the layer below, queued for the consumer.
struct GcsfsPrefetcher::FetchTask : boost::intrusive_ref_counter<FetchTask, boost::thread_unsafe_counter> {
  // One task per fetch, so one per random read: recycled per thread, like the read coroutines' frames.
  static void* operator new(std::size_t size);
  static void operator delete(void* p, std::size_t size);

  ByteRange range;
  ReadId lower = 0;
  bool done = false;
  bool stop_wait = false;  // a hard stop is waiting for this task
  std::optional<Result<Slices>> result;
  std::coroutine_handle<> waiter;  // the consumer, awaiting this task
};

// Suspends into `*slot` unless `ready`.
struct GcsfsPrefetcher::Awaiter {
  bool ready;
  std::coroutine_handle<>* slot;
  GcsfsPrefetcher* self;  // set (with slot null) for a one-turn yield
  bool await_ready() const noexcept { return ready; }
  void await_suspend(std::coroutine_handle<> h) noexcept {
    if (slot) {
      *slot = h;
    } else {
      self->ResumeLater(h);
    }
  }
  void await_resume() const noexcept {}
};

namespace {

// Frames of the read coroutine (and fetch tasks) are all the same size and one is allocated per read;
// recycling them keeps malloc out of the simulator's hot loop. Per thread, so no locking; freed at
// thread exit. One pool per kind, as each serves one size.
class SameSizePool {
 public:
  ~SameSizePool() {
    for (void* p : free_) ::operator delete(p);
  }
  void* Allocate(std::size_t size) {
    if (size == size_ && !free_.empty()) {
      void* p = free_.back();
      free_.pop_back();
      return p;
    }
    if (size_ == 0) size_ = size;
    return ::operator new(size);
  }
  void Free(void* p, std::size_t size) {
    if (kRecycleFreedMemory && size == size_ && free_.size() < kMaxCached) {
      free_.push_back(p);
    } else {
      ::operator delete(p);
    }
  }

 private:
  static constexpr std::size_t kMaxCached = 64;
  std::size_t size_ = 0;
  std::vector<void*> free_;
};

SameSizePool& Frames() {
  thread_local SameSizePool pool;
  return pool;
}

SameSizePool& Tasks() {
  thread_local SameSizePool pool;
  return pool;
}

}  // namespace

void* GcsfsPrefetcher::FetchTask::operator new(std::size_t size) {
  return Tasks().Allocate(size);
}

void GcsfsPrefetcher::FetchTask::operator delete(void* p, std::size_t size) {
  Tasks().Free(p, size);
}

// Fire-and-forget coroutine, started from a scheduler event, destroyed at its end.
struct GcsfsPrefetcher::ReadCoroutine {
  struct promise_type {
    static void* operator new(std::size_t size) { return Frames().Allocate(size); }
    static void operator delete(void* p, std::size_t size) { Frames().Free(p, size); }
    ReadCoroutine get_return_object() {
      return ReadCoroutine{std::coroutine_handle<promise_type>::from_promise(*this)};
    }
    std::suspend_always initial_suspend() noexcept { return {}; }
    std::suspend_never final_suspend() noexcept { return {}; }
    void return_void() {}
    void unhandled_exception() { std::terminate(); }
  };
  std::coroutine_handle<promise_type> handle;
};

GcsfsPrefetcherOptions DefaultGcsfsOptions(GcsfsVariant variant) {
  GcsfsPrefetcherOptions o;
  o.variant = variant;
  if (variant == GcsfsVariant::kV795) {
    o.concurrency = 1;
    o.streak = 2;
  }
  return o;
}

namespace {

// The parameters both variants take, with the variant's defaults and descriptions.
PolicyEntry GcsfsEntry(GcsfsVariant variant, std::string name, std::string origin, std::string description,
                       const char* concurrency, const char* max, const char* streak) {
  using O = GcsfsPrefetcherOptions;
  return EntryBuilder<O>(std::move(name), std::move(origin), std::move(description))
      .Defaults([variant] { return DefaultGcsfsOptions(variant); })
      // Its fetch tasks run concurrently, and only the fetcher takes several reads at once (a layer
      // that reads for one consumer, another gcsfs prefetcher included, loses all but one of them).
      .Place(Placement::kOnFetcher)
      .Uint("concurrency", &O::concurrency, concurrency, Between(1, 1024))
      .Size("max", &O::max_prefetch, max)  // 0: no user maximum (fsspec's adaptive cache)
      .Uint("streak", &O::streak, streak, Between(1, 1000))
      .Size("min_chunk", &O::min_chunk, "MIN_CHUNK_SIZE of prefetch requests", AtLeast(1))
      // GCSFile passes its concurrency to the fetcher too, and the split rule follows the version.
      .SetsFetcher([](const O& o, ConcurrentFetcherOptions& fetcher) {
        fetcher.parts = std::max<std::uint32_t>(1, o.concurrency);
        fetcher.rule = o.variant == GcsfsVariant::kV795 ? SplitRule::kV795 : SplitRule::kMain;
      })
      .Builds<GcsfsPrefetcher>()
      .Done();
}

}  // namespace

PolicyEntry GcsfsV795Entry() {
  return GcsfsEntry(GcsfsVariant::kV795, "gcsfs-v795",
                    "gcsfs BackgroundPrefetcher as merged from PR #795 (fsspec/gcsfs@5596df92, gcsfs/prefetcher.py)",
                    "window (streak+1) x avg of last 10 reads, prefetch from the 2nd consumed chunk; hard seeks wait "
                    "for in-flight fetches; errors are permanent",
                    "parts per request while ramping (DEFAULT_CONCURRENCY in v795)",
                    "max_prefetch_size (GCSFile MAX_PREFETCH_SIZE)", "sequential streak that starts prefetching");
}

PolicyEntry GcsfsAdaptiveEntry() {
  return GcsfsEntry(GcsfsVariant::kMain, "gcsfs-adaptive",
                    "gcsfs main 2026.8+ prefetcher (fsspec/gcsfs@20c58d0d), adopted by fsspec as cache 'adaptive'",
                    "threshold 3 with multiplier streak-2, last size vs average, 64 MiB variable-size cutoff, local "
                    "backward seek within the block, recovery after errors, stops at EOF",
                    "parts per request (DEFAULT_CONCURRENCY since gcsfs#992)", "max_prefetch_size",
                    "MIN_STREAKS_FOR_PREFETCHING");
}

GcsfsPrefetcher::GcsfsPrefetcher(LayerContext ctx, Source* lower, GcsfsPrefetcherOptions options)
    : PolicyLayer(ctx, lower), options_(options), history_(std::max<std::uint32_t>(1, options.history), 0) {
  StartProducer();
}

GcsfsPrefetcher::~GcsfsPrefetcher() {
  *alive_ = false;
  if (read_handle_) read_handle_.destroy();
  for (const TaskPtr& task : in_flight_) lower_->Cancel(task->lower);
}

const char* GcsfsPrefetcher::name() const {
  return options_.variant == GcsfsVariant::kV795 ? "gcsfs-v795" : "gcsfs-adaptive";
}

void GcsfsPrefetcher::ResumeLater(std::coroutine_handle<> handle) {
  ctx_.scheduler->Post([alive = alive_, handle] {
    if (*alive) handle.resume();
  });
}

// ---- tracker (RunningAverageTracker) ----

void GcsfsPrefetcher::TrackerAdd(std::uint64_t size) {
  if (history_count_ == history_.size()) {
    history_sum_ -= history_[history_next_];  // the oldest goes, as from a full deque(maxlen)
  } else {
    ++history_count_;
  }
  history_[history_next_] = size;
  history_sum_ += size;
  history_next_ = history_next_ + 1 == history_.size() ? 0 : history_next_ + 1;
}

std::uint64_t GcsfsPrefetcher::TrackerAverage() const {
  return history_count_ == 0 ? (1ull << 20) : history_sum_ / history_count_;
}

bool GcsfsPrefetcher::TrackerVariable() const {
  if (history_count_ < 2) return false;
  // Not all equal (the original compares each with the oldest); the sizes held are the ring's first
  // history_count_ entries, in some rotation.
  const auto held = history_.begin() + static_cast<std::ptrdiff_t>(history_count_);
  return std::any_of(history_.begin(), held, [&](std::uint64_t v) { return v != history_.front(); });
}

std::uint64_t GcsfsPrefetcher::MaxPrefetch() const {
  const std::uint64_t floor = std::max(2 * TrackerAverage(), options_.min_prefetch);
  return options_.max_prefetch ? std::min(options_.max_prefetch, floor) : floor;
}

// ---- producer (PrefetchProducer) ----

void GcsfsPrefetcher::StartProducer() {
  producer_stopped_ = false;
  wakeup_ = false;
  producer_alive_ = true;
  run_posted_ = false;
  ++producer_generation_;
}

void GcsfsPrefetcher::SetWakeup() {
  wakeup_ = true;
  if (producer_alive_ && !run_posted_) {
    run_posted_ = true;
    ctx_.scheduler->Post([this, alive = alive_, generation = producer_generation_] {
      if (*alive) ProducerRun(generation);
    });
  }
}

void GcsfsPrefetcher::SpawnTask(std::uint64_t offset, std::uint64_t size, std::uint32_t split) {
  TaskPtr task(new FetchTask);
  task->range = {offset, offset + size};
  in_flight_.push_back(task);
  task->lower =
      FetchBelow(task->range, split, [this, task](Result<Slices>&& result) { OnTaskDone(task, std::move(result)); });
  queue_.push_back(task);
  if (queue_waiter_) {
    ResumeLater(std::exchange(queue_waiter_, nullptr));
  }
  current_offset_ += size;
}

void GcsfsPrefetcher::OnTaskDone(const TaskPtr& task, Result<Slices>&& result) {
  task->done = true;
  task->result = std::move(result);
  in_flight_.erase(std::find(in_flight_.begin(), in_flight_.end(), task));
  if (task->stop_wait && --stop_pending_ == 0 && stop_waiter_) ResumeLater(std::exchange(stop_waiter_, nullptr));
  if (task->waiter) ResumeLater(std::exchange(task->waiter, nullptr));
}

// Both versions: once the window reaches min_chunk, chunks are max(min_chunk, io) and only start when
// min_chunk of window space is free; below that, chunks are io-sized. nullopt: stop scheduling.
std::optional<std::uint64_t> GcsfsPrefetcher::ChunkSize(std::uint64_t prefetch, std::uint64_t space, std::uint64_t io,
                                                        std::uint64_t remaining) const {
  const std::uint64_t min_chunk = options_.min_chunk;
  if (prefetch < min_chunk) return std::min(io, remaining);
  if (space < min_chunk) return std::nullopt;
  return std::min(std::max(min_chunk, io), remaining);
}

// Full concurrency while ramping up, then parts in proportion to the chunk's share of the window.
std::uint32_t GcsfsPrefetcher::SplitFactor(std::uint64_t chunk, std::uint64_t window) const {
  const std::uint64_t conc = options_.concurrency;
  if (streak_ < options_.streak) return options_.concurrency;
  return static_cast<std::uint32_t>(std::clamp<std::uint64_t>(chunk * conc / window, 1, conc));
}

void GcsfsPrefetcher::ProducerRun(std::uint64_t generation) {
  if (generation != producer_generation_) return;  // a restart replaced this loop
  run_posted_ = false;
  if (!producer_alive_ || !wakeup_) return;
  wakeup_ = false;
  if (producer_stopped_) {
    producer_alive_ = false;
    return;
  }
  const std::uint64_t size = lower_->size();
  if (options_.variant == GcsfsVariant::kV795) {
    // v795 PrefetchProducer._loop body.
    const std::uint64_t io = TrackerAverage();
    const std::uint64_t streak = streak_;
    const std::uint64_t prefetch = std::min((streak + 1) * io, MaxPrefetch());
    while (!producer_stopped_ && current_offset_ - offset_ < prefetch && current_offset_ < size) {
      const std::uint64_t space = prefetch - (current_offset_ - offset_);
      const std::optional<std::uint64_t> actual = ChunkSize(prefetch, space, io, size - current_offset_);
      if (!actual) break;
      SpawnTask(current_offset_, *actual, SplitFactor(*actual, prefetch));
    }
    return;
  }
  // main PrefetchProducer._calculate_prefetch_params + _process_prefetch_cycle.
  const std::uint64_t avg = TrackerAverage();
  const std::uint64_t streak = streak_;
  const bool variable = TrackerVariable();
  const std::uint64_t last =
      history_count_ == 0 ? avg : history_[(history_next_ + history_.size() - 1) % history_.size()];
  const bool exceeds_user_max = options_.max_prefetch && avg > options_.max_prefetch;
  std::uint64_t multiplier = 1;
  if (!((variable && avg > options_.variable_io_threshold) || exceeds_user_max) && streak >= options_.streak) {
    multiplier = streak - options_.streak + 1;
  }
  const std::uint64_t io = (queue_.empty() || multiplier == 1) ? last : avg;
  std::uint64_t prefetch = std::min(multiplier * io, MaxPrefetch());
  if (offset_ + prefetch < target_offset_) prefetch = target_offset_ - offset_;
  std::uint64_t effective = variable ? prefetch : (prefetch / io) * io;
  if (effective == 0) effective = prefetch;
  while (!producer_stopped_ && current_offset_ - offset_ < prefetch && current_offset_ < size) {
    const std::uint64_t space = prefetch - (current_offset_ - offset_);
    std::optional<std::uint64_t> actual = ChunkSize(prefetch, space, io, size - current_offset_);
    if (!actual) break;
    if (space < *actual) {
      // main shrinks a chunk to the space left when sizes vary or nothing is buffered.
      if (!(variable || space == prefetch)) break;
      actual = space;
    }
    SpawnTask(current_offset_, *actual, SplitFactor(*actual, effective));
  }
  if (current_offset_ >= size) {
    producer_stopped_ = true;
    producer_alive_ = false;  // _loop exits: `while not self.is_stopped`
  }
}

// The synchronous part of PrefetchProducer.stop(): stop the loop, drop the queue, and note which
// in-flight fetches the caller must wait for (they are awaited, not cancelled).
GcsfsPrefetcher::Awaiter GcsfsPrefetcher::StopProducer() {
  const bool loop_alive = producer_alive_;
  producer_stopped_ = true;
  wakeup_ = true;
  producer_alive_ = false;
  ++producer_generation_;
  queue_.clear();
  stop_pending_ = 0;
  for (const TaskPtr& task : in_flight_) {
    if (!task->stop_wait) {
      task->stop_wait = true;
      ++stop_pending_;
    }
  }
  if (stop_pending_ > 0) return Awaiter{false, &stop_waiter_, this};
  // gather() over the cancelled loop task alone still takes a loop turn.
  if (loop_alive) return Awaiter{false, nullptr, this};
  return Awaiter{true, nullptr, this};
}

// ---- orchestrator and consumer ----

ReadId GcsfsPrefetcher::Read(ByteRange range, ReadCallback done) {
  const ReadId id = next_id_++;
  current_read_ = id;
  cancel_requested_ = false;
  ReadCoroutine coroutine = RunRead(range, std::move(done));
  read_handle_ = coroutine.handle;
  // fsspec.asyn.sync hands the coroutine to the event loop; it starts on the next turn.
  ResumeLater(coroutine.handle);
  return id;
}

void GcsfsPrefetcher::Cancel(ReadId id) {
  // Takes effect at the read's next resumption, as a CancelledError would inside its await.
  if (id == current_read_ && read_handle_) cancel_requested_ = true;
}

GcsfsPrefetcher::ReadCoroutine GcsfsPrefetcher::RunRead(ByteRange range, ReadCallback done) {
  const bool main = options_.variant == GcsfsVariant::kMain;
  const std::uint64_t size = lower_->size();
  const std::uint64_t start = range.begin;
  const std::uint64_t end = std::min(range.end, size);
  Slices out;
  std::size_t pieces = 0;
  std::optional<Error> failure;
  std::uint64_t phase_size[2] = {0, 0};  // skip, then consume
  bool restart = false;

  if (start >= size || start >= end) goto finish;
  if (closed_) {
    failure = Error{ErrorCode::kFailedPrecondition, "the file instance has been closed"};
    goto finish;
  }
  if (!main && error_) {  // v795 _fetch: "if self._error: raise self._error"
    failure = *error_;
    goto finish;
  }
  if (main && error_) {
    user_offset_ = start;
    restart = true;
  } else if (start != user_offset_) {
    const std::uint64_t block_offset = offset_ - block_idx_;
    if (user_offset_ < start && start <= current_offset_) {
      phase_size[0] = start - user_offset_;  // soft seek
    } else if (main && block_offset <= start && start < offset_) {
      block_idx_ = start - block_offset;  // local seek (#930)
      offset_ = start;
      target_offset_ = start;
      user_offset_ = start;
    } else {
      user_offset_ = start;
      restart = true;
    }
  }
  if (restart) {
    error_.reset();
    co_await StopProducer();
    if (main) wakeup_ = false;  // main's stop() clears the event after gather
    current_offset_ = start;
    StartProducer();
    offset_ = start;
    target_offset_ = start;
    streak_ = 0;
    block_.clear();
    block_length_ = 0;
    block_idx_ = 0;
    history_next_ = 0;
    history_count_ = 0;
    history_sum_ = 0;
  }
  phase_size[1] = end - start;

  for (int phase = 0; phase < 2 && !failure; ++phase) {
    const std::uint64_t want = phase_size[phase];
    const bool save = phase == 1;
    if (save) TrackerAdd(want);
    if (want == 0) continue;
    std::uint64_t processed = 0;
    target_offset_ = offset_ + want;
    while (processed < want) {
      std::uint64_t available = block_length_ - block_idx_;
      bool trigger_wakeup = false;
      if (available == 0) {
        if (producer_stopped_ && queue_.empty()) break;  // EOF
        if (queue_.empty()) SetWakeup();
        co_await Awaiter{!queue_.empty(), &queue_waiter_, this};
        TaskPtr task = std::move(queue_.front());
        queue_.pop_front();
        co_await Awaiter{task->done, &task->waiter, this};
        if (cancel_requested_) {
          failure = Cancelled("read cancelled");
          if (main) error_ = failure;
          break;
        }
        if (!task->result->ok()) {
          failure = task->result->error();
          error_ = failure;
          if (main && !producer_stopped_) co_await StopProducer();
          break;
        }
        ++streak_;
        if (streak_ >= options_.streak) {
          if (!main) {
            SetWakeup();
          } else {
            const std::uint64_t avg = TrackerAverage();
            const bool exceeds_user_max = options_.max_prefetch && avg > options_.max_prefetch;
            const bool massive_variable = TrackerVariable() && avg > options_.variable_io_threshold;
            trigger_wakeup = !(massive_variable || exceeds_user_max);
          }
        }
        block_ = std::move(*task->result).value();
        block_length_ = TotalLength(block_);
        block_idx_ = 0;
        available = block_length_;
      }
      if (block_length_ == 0) break;
      const std::uint64_t take = std::min(want - processed, available);
      if (save) {
        ++pieces;
        if (take == block_length_ && block_idx_ == 0) {
          for (const Slice& s : block_) out.push_back(s);
        } else {
          for (Slice& s : SubSlices(block_, block_idx_, take)) out.push_back(std::move(s));
          co_await Awaiter{false, nullptr, this};  // asyncio.to_thread(_fast_slice, ...)
        }
      }
      block_idx_ += take;
      processed += take;
      offset_ += take;
      if (trigger_wakeup) SetWakeup();
    }
    if (phase == 0 && !failure) user_offset_ = start;
  }
  if (!failure && pieces > 1) co_await Awaiter{false, nullptr, this};  // asyncio.to_thread(b"".join, ...)
  if (!failure) user_offset_ += TotalLength(out);

finish:
  read_handle_ = nullptr;
  // Nothing may touch `this` after `done`: the callback may destroy the layer.
  if (failure) {
    done(std::move(*failure));
  } else {
    done(std::move(out));
  }
}

}  // namespace pflab::policies
