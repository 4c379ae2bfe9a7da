// Linux on-demand readahead (mm/readahead.c) over a page cache, as every FUSE object-storage reader
// (gcsfuse, Mountpoint-s3, s3fs) sees it before its own prefetcher.
//
// Origin: mm/readahead.c `ondemand_readahead`, `get_init_ra_size`, `get_next_ra_size`,
// `try_context_readahead`, `page_cache_ra_unbounded` (the 6.x layout before the 6.10 split into
// separate sync/async functions; read at CachyOS/linux@4cbe8f83), and the per-page loop of the
// generic file read (mm/filemap.c): a missing page starts synchronous readahead, a page carrying the
// PG_readahead marker starts asynchronous readahead, a page still in flight is waited for.
//
// Units are 4 KiB pages. State (file_ra_state): start, size, async_size, prev_pos.
// - Start of file, a read right after the previous one (page index - prev index <= 1), or a read
//   larger than the maximum: the initial window, init(req) = roundup_pow2(req) x4 if <= max/32, x2 if
//   <= max/4, else max; async = size - req (or size when size <= req).
// - Hitting the marker, or the page right after the window: the next window follows the old one,
//   size next(size) = x4 below max/16, x2 up to max/2, else max; all of it asynchronous.
// - A marker hit out of step (interleaved streams): the window restarts at the first uncached page.
// - Otherwise, contiguous cached pages just before the read ("context"): if more than the request,
//   a window of min(history + req, max) (history doubled when it reaches the file start), async 1.
// - Otherwise a small random read: exactly the requested pages, state untouched.
// - A new window that starts at the read's own page with size == async is merged with the next one.
// Each contiguous run of missing pages in a window becomes requests to the layer below of at most
// `fuse_max` bytes (FUSE splits readahead into READs of fc->max_pages, 128 KiB by default); 0 sends a
// run as one request. The window is clipped at EOF. The marker is set only on pages this readahead
// adds, never on cached ones.
//
// What is simplified: large folios (one page size only; FUSE used order-0 folios until 6.x), cgroup
// congestion, fadvise(RANDOM), and memory pressure: the page cache holds up to `cache` bytes of
// completed pages and evicts the least recently used beyond that. Pages whose readahead failed are
// dropped, and a reader waiting on one reads that single page (read_folio) and fails if that fails,
// as the kernel does.
//
// The layer issues several requests at once, so it must sit directly on the fetcher (`concurrent`),
// which is where the registry puts it.
#pragma once

#include <array>
#include <boost/container/small_vector.hpp>
#include <boost/unordered/unordered_flat_map.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <unordered_map>
#include <vector>

#include "engine/units.h"
#include "policies/policy_entry.h"
#include "policies/policy_layer.h"

namespace pflab::policies {

/// Parameters of linux-readahead; defaults are the kernel's and FUSE's.
struct LinuxReadaheadOptions {
  std::uint64_t read_ahead = 128 * kKiB;  // read_ahead_kb: VM_READAHEAD_PAGES
  std::uint64_t io = 128 * kKiB;          // bdi io_pages: FUSE max_pages (32 pages) by default
  std::uint64_t fuse_max = 128 * kKiB;    // largest request to the layer below (0: no split)
  std::uint64_t cache = kGiB;             // page cache available to this file
  bool operator==(const LinuxReadaheadOptions&) const = default;
};

/// The `linux-readahead` entry.
PolicyEntry LinuxReadaheadEntry();

/// Linux on-demand readahead and page cache as a policy layer.
class LinuxReadahead final : public PolicyLayer {
 public:
  static constexpr std::uint64_t kPage = 4096;

  LinuxReadahead(LayerContext ctx, Source* lower, LinuxReadaheadOptions options);
  ~LinuxReadahead() override;

  ReadId Read(ByteRange range, ReadCallback done) override;
  void Cancel(ReadId id) override;
  const char* name() const override { return "linux-readahead"; }

 private:
  // The page cache is the simulator's hottest structure for this policy (a 64 KiB read touches 16
  // pages), so it works on runs of pages instead of single pages. A run is consecutive pages of one
  // request: in flight, or ready and next to each other in LRU order, oldest (lowest index) first.
  // Reading pages of a run moves them to the newest end as one new run (splitting the old one),
  // eviction takes pages off the oldest run's front, and a completed request becomes one run. Each
  // page keeps only an 8-byte slot (its run, the PG_readahead marker) in 64-page leaves found through
  // one flat-hash lookup per leaf, for the per-page presence checks of the model. The order of pages,
  // of evictions and of chunk releases is exactly that of the per-page model described above.
  struct Slot {
    std::uint32_t run = 0;  // the run holding the page; 0: not in the cache (nor in flight)
    bool marker = false;    // PG_readahead
  };
  static constexpr std::uint64_t kLeafShift = 6;
  static constexpr std::uint64_t kLeafPages = std::uint64_t{1} << kLeafShift;
  struct Leaf {
    std::array<Slot, kLeafPages> slots;
    std::uint32_t present = 0;
  };
  struct Run {
    std::uint64_t first = 0;  // page index
    std::uint64_t count = 0;
    std::uint32_t request = 0;  // when ready: the completed request in requests_ holding its bytes
    std::uint32_t newer = 0;    // LRU neighbours in runs_, ready runs only (0: none)
    std::uint32_t older = 0;
    bool ready = false;
  };
  // A completed request's bytes, shared by its ready pages. A slice's chunk is released when the last
  // page overlapping it leaves the cache, as when each page held its own sub-slices.
  struct Request {
    std::uint64_t first = 0;     // page index of its first page
    std::uint64_t returned = 0;  // bytes it returned
    Slices slices;
    boost::container::small_vector<std::uint32_t, 2> live;  // cached pages overlapping each slice
    std::uint64_t pages = 0;                                // cached pages of it
  };
  struct Batch {
    std::uint64_t first = 0;  // page index
    std::uint64_t count = 0;
    ReadId lower = 0;
    std::uint32_t run = 0;  // its pages, in flight
  };
  static constexpr std::uint64_t kNoMarker = ~std::uint64_t{0};

  // ondemand_readahead; `marked` is true on the async path (a marked page was hit).
  void OnDemand(std::uint64_t index, std::uint64_t req, bool marked);
  // page_cache_ra_unbounded over [index, index + nr), clipped at EOF, marking index + nr - lookahead.
  void ReadPages(std::uint64_t index, std::uint64_t nr, std::uint64_t lookahead);
  // Adds pages [first, first + count) (all absent) in flight, `marker` marked, and requests them.
  void SubmitRun(std::uint64_t first, std::uint64_t count, std::uint64_t marker);
  void OnBatchDone(std::uint64_t batch, Result<Slices>&& result);
  std::uint64_t HistoryPages(std::uint64_t index, std::uint64_t max) const;  // count_history_pages
  std::uint64_t NextMiss(std::uint64_t index, std::uint64_t max) const;      // page_cache_next_miss
  Slot* Find(std::uint64_t index) const;                                     // nullptr when not in the cache
  // The first page of [first, end) in the cache, or carrying the marker (pages all in the cache); `end`
  // when none is.
  std::uint64_t NextPresent(std::uint64_t first, std::uint64_t end) const;
  std::uint64_t NextMarked(std::uint64_t first, std::uint64_t end);
  Leaf* LeafOf(std::uint64_t leaf_index, bool create);
  void AddPages(std::uint64_t first, std::uint64_t count, std::uint32_t run);
  void RemovePages(std::uint64_t first, std::uint64_t count);
  void Relabel(std::uint64_t first, std::uint64_t count, std::uint32_t run);
  std::uint32_t NewRun();
  void FreeRun(std::uint32_t id);
  void PushNewest(std::uint32_t id);
  void Unlink(std::uint32_t id);
  // Pages [first, end) of ready run `id` were read, in order: they become the most recently used.
  void Touch(std::uint32_t id, std::uint64_t first, std::uint64_t end);
  // Bytes [offset, offset + take) of the object, held by `request`, onto out_.
  void Append(std::uint32_t request, std::uint64_t offset, std::uint64_t take);
  // Pages [first, end) of `request` leave the cache: their shares of its slices.
  void Release(std::uint32_t request, std::uint64_t first, std::uint64_t end);
  void Evict();
  void Continue();  // advances the read in progress until it must wait or is done
  void Finish(Result<Slices>&& result);
  std::uint64_t LastPage() const { return (lower_->size() - 1) / kPage; }

  LinuxReadaheadOptions options_;
  std::uint64_t ra_pages_;
  std::uint64_t io_pages_;
  // file_ra_state
  std::uint64_t start_ = 0;
  std::uint64_t size_ = 0;
  std::uint64_t async_size_ = 0;
  std::int64_t prev_pos_ = -1;

  boost::unordered_flat_map<std::uint64_t, std::unique_ptr<Leaf>> leaves_;  // by index >> kLeafShift
  std::vector<std::unique_ptr<Leaf>> spare_leaves_;                         // emptied, for reuse
  mutable std::uint64_t last_leaf_index_ = ~std::uint64_t{0};               // the leaf looked up last
  mutable Leaf* last_leaf_ = nullptr;                                       // nullptr: it does not exist
  std::vector<Run> runs_{1};                                                // runs_[0] is no run
  std::vector<std::uint32_t> free_runs_;
  std::uint32_t newest_ = 0;  // ready runs, most recently used first
  std::uint32_t oldest_ = 0;
  std::vector<Request> requests_;
  std::vector<std::uint32_t> free_requests_;
  std::uint64_t cached_bytes_ = 0;
  std::unordered_map<std::uint64_t, Batch> batches_;
  std::uint64_t next_batch_ = 1;

  // The read in progress (one at a time, as on a file handle).
  ReadId next_id_ = 1;
  ReadId current_ = 0;
  ByteRange range_;
  std::uint64_t pos_ = 0;
  Slices out_;
  ReadCallback done_;
  std::optional<std::uint64_t> read_folio_;  // a page being read alone after its readahead failed
  bool waiting_ = false;
};

}  // namespace pflab::policies
