// linux-readahead's page cache in runs of pages against the per-page model it replaced, kept here as
// the reference: on random read sequences (sequential stretches, jumps, back-tracks, reads past
// readahead still in flight) over small caches that evict, lower requests that return several chunks
// or fewer bytes than asked, and failed requests, both must make the same requests at the same
// virtual times, deliver the same slices and hold the same bytes after every read (chunk releases).
#include <algorithm>
#include <array>
#include <bit>
#include <boost/container/small_vector.hpp>
#include <boost/unordered/unordered_flat_map.hpp>
#include <catch2/catch.hpp>
#include <memory>
#include <optional>
#include <random>
#include <unordered_map>
#include <vector>

#include "engine/units.h"
#include "policies/linux_readahead.h"
#include "sim/sim_scheduler.h"

namespace pflab::policies {
namespace {

// get_init_ra_size
std::uint64_t InitSize(std::uint64_t req, std::uint64_t max) {
  std::uint64_t size = std::bit_ceil(std::max<std::uint64_t>(req, 1));
  if (size <= max / 32) return size * 4;
  if (size <= max / 4) return size * 2;
  return max;
}

// get_next_ra_size
std::uint64_t NextSize(std::uint64_t cur, std::uint64_t max) {
  if (cur < max / 16) return 4 * cur;
  if (cur <= max / 2) return 2 * cur;
  return max;
}

// The per-page model (policies/linux_readahead.cc before its runs of pages), unchanged but for its name.
class PagedLinuxReadahead final : public PolicyLayer {
 public:
  static constexpr std::uint64_t kPage = 4096;

  PagedLinuxReadahead(LayerContext ctx, Source* lower, LinuxReadaheadOptions options);
  ~PagedLinuxReadahead() override;

  ReadId Read(ByteRange range, ReadCallback done) override;
  void Cancel(ReadId id) override;
  const char* name() const override { return "linux-readahead-pages"; }

 private:
  // The page cache is the simulator's hottest structure for this policy (a 64 KiB read touches 16
  // pages), so a page is a plain 40-byte record in a 64-page leaf found through one hash lookup per
  // leaf, the LRU list is intrusive, and a ready page points at the completed request holding its
  // bytes instead of owning a slice list. Behaviour is the per-page model described above.
  struct Page {
    std::uint64_t index = 0;
    Page* newer = nullptr;  // LRU neighbours, ready pages only
    Page* older = nullptr;
    std::uint32_t extent = 0;  // when ready: the completed request in extents_ holding its bytes
    std::uint32_t bytes = 0;   // when ready: bytes of it that request returned
    bool present = false;      // in the cache or in flight
    bool ready = false;
    bool marker = false;  // PG_readahead
  };
  static constexpr std::uint64_t kLeafShift = 6;
  static constexpr std::uint64_t kLeafPages = std::uint64_t{1} << kLeafShift;
  struct Leaf {
    std::array<Page, kLeafPages> pages;
    std::uint32_t present = 0;
  };
  // A completed request's bytes, shared by its ready pages. A slice's chunk is released when the last
  // page overlapping it leaves the cache, as when each page held its own sub-slices.
  struct Extent {
    std::uint64_t first = 0;  // page index of its first page
    Slices slices;
    boost::container::small_vector<std::uint32_t, 2> live;  // cached pages overlapping each slice
    std::uint32_t pages = 0;                                // cached pages pointing here
  };
  struct Batch {
    std::uint64_t first = 0;  // page index
    std::uint64_t count = 0;
    ReadId lower = 0;
  };

  // ondemand_readahead; `marked` is true on the async path (a marked page was hit).
  void OnDemand(std::uint64_t index, std::uint64_t req, bool marked);
  // page_cache_ra_unbounded over [index, index + nr), clipped at EOF, marking index + nr - lookahead.
  void ReadPages(std::uint64_t index, std::uint64_t nr, std::uint64_t lookahead);
  void SubmitRun(std::uint64_t first, std::uint64_t count);
  void OnBatchDone(std::uint64_t batch, Result<Slices>&& result);
  std::uint64_t HistoryPages(std::uint64_t index, std::uint64_t max) const;  // count_history_pages
  std::uint64_t NextMiss(std::uint64_t index, std::uint64_t max) const;      // page_cache_next_miss
  Page* Find(std::uint64_t index) const;                                     // nullptr when not in the cache
  Page& Add(std::uint64_t index);                                            // a new page, not ready, not marked
  void Remove(Page& page);
  void Touch(Page& page);  // most recently used
  void PushNewest(Page& page);
  void Unlink(Page& page);
  void Release(const Page& page);                                         // its share of its extent
  void Append(const Page& page, std::uint64_t skip, std::uint64_t take);  // bytes of it onto out_
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
  mutable Leaf* last_leaf_ = nullptr;
  Page* newest_ = nullptr;  // ready pages, most recently used first
  Page* oldest_ = nullptr;
  std::vector<Extent> extents_;
  std::vector<std::uint32_t> free_extents_;
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

PagedLinuxReadahead::PagedLinuxReadahead(LayerContext ctx, Source* lower, LinuxReadaheadOptions options)
    : PolicyLayer(ctx, lower),
      options_(options),
      ra_pages_(options.read_ahead / kPage),
      io_pages_(options.io / kPage) {}

PagedLinuxReadahead::~PagedLinuxReadahead() {
  *alive_ = false;
  for (const auto& [id, batch] : batches_) lower_->Cancel(batch.lower);
}

ReadId PagedLinuxReadahead::Read(ByteRange range, ReadCallback done) {
  const ReadId id = next_id_++;
  if (!ClampToObject(range, done)) return id;
  current_ = id;
  range_ = range;
  pos_ = range.begin;
  out_.clear();
  done_ = std::move(done);
  read_folio_.reset();
  Continue();
  return id;
}

void PagedLinuxReadahead::Cancel(ReadId id) {
  if (id != current_ || current_ == 0) return;
  // Readahead already submitted stays in flight and fills the cache, as in the kernel.
  current_ = 0;
  waiting_ = false;
  out_.clear();
  CompleteLater(std::move(done_), Cancelled("read cancelled"));
}

void PagedLinuxReadahead::Continue() {
  waiting_ = false;
  const std::uint64_t last_index = (range_.end + kPage - 1) / kPage;  // exclusive
  while (pos_ < range_.end) {
    const std::uint64_t index = pos_ / kPage;
    Page* page = Find(index);
    if (page == nullptr) {
      OnDemand(index, last_index - index, /*marked=*/false);  // page_cache_sync_readahead
      page = Find(index);
      if (page == nullptr) {
        SubmitRun(index, 1);  // nothing read it: read this page
        page = Find(index);
      }
    }
    // Pages are only added until Evict below, so `page` stays valid through OnDemand.
    if (page->marker) {
      page->marker = false;
      OnDemand(index, last_index - index, /*marked=*/true);  // page_cache_async_readahead
    }
    if (!page->ready) {
      waiting_ = true;
      return;
    }
    const std::uint64_t take = std::min(range_.end, (index + 1) * kPage) - pos_;
    Append(*page, pos_ - index * kPage, take);
    Touch(*page);
    pos_ += take;
  }
  // prev_pos: the last page read, and the offset in it where the read ended.
  prev_pos_ = static_cast<std::int64_t>((range_.end - 1) / kPage * kPage + range_.end % kPage);
  Evict();
  Finish(std::move(out_));
}

void PagedLinuxReadahead::Finish(Result<Slices>&& result) {
  current_ = 0;
  out_.clear();
  // Never inline in Read (the Source contract): a read served from cache completes on the scheduler.
  CompleteLater(std::move(done_), std::move(result));
}

void PagedLinuxReadahead::OnDemand(std::uint64_t index, std::uint64_t req, bool marked) {
  std::uint64_t max = ra_pages_;
  if (max == 0) {
    if (!marked) ReadPages(index, 1, 0);  // readahead off: one page at a time (force_page_cache_ra)
    return;
  }
  if (req > max && io_pages_ > max) max = std::min(req, io_pages_);
  if (index == 0) goto initial;
  if (index == start_ + size_ - async_size_ || index == start_ + size_) {
    start_ += size_;
    size_ = NextSize(size_, max);
    async_size_ = size_;
    goto readit;
  }
  if (marked) {
    std::uint64_t start = NextMiss(index + 1, max);
    if (start - index - 1 > max) return;
    if (start - index - 1 == max) --start;
    start_ = start;
    size_ = NextSize(start - index + req, max);
    async_size_ = size_;
    goto readit;
  }
  if (req > max) goto initial;
  {
    // prev_pos starts at -1, which as an unsigned page index is far from every real one.
    const std::uint64_t prev_index = static_cast<std::uint64_t>(prev_pos_) / kPage;
    if (index - prev_index <= 1) goto initial;
    std::uint64_t history = HistoryPages(index, max);  // try_context_readahead
    if (history > req) {
      if (history >= index) history *= 2;
      start_ = index;
      size_ = std::min(history + req, max);
      async_size_ = 1;
      goto readit;
    }
  }
  ReadPages(index, req, 0);  // a small random read: as is, state untouched
  return;

initial:
  start_ = index;
  size_ = InitSize(req, max);
  async_size_ = size_ > req ? size_ - req : size_;

readit:
  if (index == start_ && size_ == async_size_) {
    const std::uint64_t add = NextSize(size_, max);
    if (size_ + add <= max) {
      async_size_ = add;
      size_ += add;
    } else {
      size_ = max;
      async_size_ = max >> 1;
    }
  }
  ReadPages(start_, size_, async_size_);
}

void PagedLinuxReadahead::ReadPages(std::uint64_t index, std::uint64_t nr, std::uint64_t lookahead) {
  const std::uint64_t last = LastPage();
  if (index > last) return;
  nr = std::min(nr, last - index + 1);  // do_page_cache_ra: not past the page holding the last byte
  std::uint64_t run_start = index;
  std::uint64_t run = 0;
  for (std::uint64_t i = 0; i < nr; ++i) {
    const std::uint64_t page = index + i;
    if (Find(page) != nullptr) {
      // Already cached: submit the batch so far and continue after it.
      if (run) SubmitRun(run_start, run);
      run = 0;
      run_start = page + 1;
      continue;
    }
    Add(page).marker = i == nr - lookahead;
    ++run;
  }
  if (run) SubmitRun(run_start, run);
}

void PagedLinuxReadahead::SubmitRun(std::uint64_t first, std::uint64_t count) {
  const std::uint64_t per = options_.fuse_max ? options_.fuse_max / kPage : count;
  const std::uint64_t size = lower_->size();
  for (std::uint64_t p = first; p < first + count; p += per) {
    const std::uint64_t n = std::min(per, first + count - p);
    for (std::uint64_t i = p; i < p + n; ++i) {
      if (Find(i) == nullptr) Add(i);  // in the cache, in flight
    }
    const std::uint64_t id = next_batch_++;
    Batch& batch = batches_[id];
    batch.first = p;
    batch.count = n;
    const ByteRange range{p * kPage, std::min(size, (p + n) * kPage)};
    batch.lower = FetchBelow(range, 0, [this, id](Result<Slices>&& result) { OnBatchDone(id, std::move(result)); });
  }
}

void PagedLinuxReadahead::OnBatchDone(std::uint64_t id, Result<Slices>&& result) {
  const Batch batch = batches_.at(id);
  batches_.erase(id);
  const std::uint64_t size = lower_->size();
  const std::uint64_t waiting_page = pos_ / kPage;
  const bool covers_wait = waiting_ && waiting_page >= batch.first && waiting_page < batch.first + batch.count;
  if (!result.ok()) {
    // Readahead errors are ignored: the pages leave the cache, and a reader waiting on one of them
    // reads that page alone (read_folio), whose error it reports.
    for (std::uint64_t i = batch.first; i < batch.first + batch.count; ++i) Remove(*Find(i));
    if (!covers_wait) return;
    if (read_folio_ == waiting_page) {
      waiting_ = false;
      Finish(Result<Slices>(result.error()));
      return;
    }
    read_folio_ = waiting_page;
    SubmitRun(waiting_page, 1);
    return;
  }
  std::uint32_t slot;
  if (free_extents_.empty()) {
    slot = static_cast<std::uint32_t>(extents_.size());
    extents_.emplace_back();
  } else {
    slot = free_extents_.back();
    free_extents_.pop_back();
  }
  Extent& extent = extents_[slot];
  extent.first = batch.first;
  extent.slices = std::move(*result);
  extent.live.assign(extent.slices.size(), 0);
  extent.pages = static_cast<std::uint32_t>(batch.count);
  std::uint64_t returned = 0;  // bytes the request returned
  for (const Slice& s : extent.slices) returned += s.length;
  // Bytes the pages hold: what was asked for, or less when the request returned less.
  const std::uint64_t covered =
      std::min(returned, std::min(size, (batch.first + batch.count) * kPage) - batch.first * kPage);
  std::uint64_t at = 0;
  for (std::size_t k = 0; k < extent.slices.size(); ++k) {
    const std::uint64_t end = std::min(at + extent.slices[k].length, covered);
    // The pages overlapping a slice each held a part of it (SubSlices never yields an empty one).
    if (at < end) extent.live[k] = static_cast<std::uint32_t>((end - 1) / kPage - at / kPage + 1);
    at += extent.slices[k].length;
  }
  for (std::uint64_t i = batch.first; i < batch.first + batch.count; ++i) {
    Page& page = *Find(i);
    const std::uint64_t begin = (i - batch.first) * kPage;
    const std::uint64_t length = std::min(size, (i + 1) * kPage) - i * kPage;
    const std::uint64_t end = std::min(begin + length, returned);
    page.bytes = static_cast<std::uint32_t>(end > begin ? end - begin : 0);
    page.extent = slot;
    page.ready = true;
    PushNewest(page);
    cached_bytes_ += length;
  }
  if (covers_wait) {
    Continue();
  } else {
    Evict();
  }
  // Slices no page overlaps were held by nobody once this request's result was dropped.
  Extent& done = extents_[slot];
  for (std::size_t k = 0; k < done.slices.size(); ++k) {
    if (done.live[k] == 0) done.slices[k].chunk.reset();
  }
}

PagedLinuxReadahead::Page* PagedLinuxReadahead::Find(std::uint64_t index) const {
  const std::uint64_t leaf_index = index >> kLeafShift;
  if (leaf_index != last_leaf_index_) {
    auto it = leaves_.find(leaf_index);
    if (it == leaves_.end()) return nullptr;
    last_leaf_index_ = leaf_index;
    last_leaf_ = it->second.get();
  }
  Page& page = last_leaf_->pages[index & (kLeafPages - 1)];
  return page.present ? &page : nullptr;
}

PagedLinuxReadahead::Page& PagedLinuxReadahead::Add(std::uint64_t index) {
  const std::uint64_t leaf_index = index >> kLeafShift;
  if (leaf_index != last_leaf_index_) {
    std::unique_ptr<Leaf>& leaf = leaves_[leaf_index];
    if (!leaf) {
      if (spare_leaves_.empty()) {
        leaf = std::make_unique<Leaf>();
      } else {
        leaf = std::move(spare_leaves_.back());
        spare_leaves_.pop_back();
      }
    }
    last_leaf_index_ = leaf_index;
    last_leaf_ = leaf.get();
  }
  ++last_leaf_->present;
  Page& page = last_leaf_->pages[index & (kLeafPages - 1)];
  page = Page{};
  page.index = index;
  page.present = true;
  return page;
}

void PagedLinuxReadahead::Remove(Page& page) {
  const std::uint64_t leaf_index = page.index >> kLeafShift;
  page.present = false;
  if (leaf_index != last_leaf_index_) {
    last_leaf_index_ = leaf_index;
    last_leaf_ = leaves_.find(leaf_index)->second.get();
  }
  if (--last_leaf_->present > 0) return;
  // An empty leaf is kept for reuse; its pages are all absent.
  auto it = leaves_.find(leaf_index);
  spare_leaves_.push_back(std::move(it->second));
  leaves_.erase(it);
  last_leaf_index_ = ~std::uint64_t{0};
  last_leaf_ = nullptr;
}

void PagedLinuxReadahead::PushNewest(Page& page) {
  page.older = newest_;
  page.newer = nullptr;
  if (newest_ != nullptr) {
    newest_->newer = &page;
  } else {
    oldest_ = &page;
  }
  newest_ = &page;
}

void PagedLinuxReadahead::Unlink(Page& page) {
  (page.newer != nullptr ? page.newer->older : newest_) = page.older;
  (page.older != nullptr ? page.older->newer : oldest_) = page.newer;
}

void PagedLinuxReadahead::Touch(Page& page) {
  if (newest_ == &page) return;
  Unlink(page);
  PushNewest(page);
}

void PagedLinuxReadahead::Append(const Page& page, std::uint64_t skip, std::uint64_t take) {
  const Extent& extent = extents_[page.extent];
  skip += (page.index - extent.first) * kPage;
  for (const Slice& s : extent.slices) {
    if (take == 0) break;
    if (skip >= s.length) {
      skip -= s.length;
      continue;
    }
    const std::uint64_t n = std::min(take, s.length - skip);
    Slice* back = out_.empty() ? nullptr : &out_.back();
    if (back != nullptr && back->chunk == s.chunk && back->offset + back->length == s.offset + skip) {
      back->length += n;  // the next page of the same request: one slice, not one per page
    } else {
      out_.push_back(s.Sub(skip, n));
    }
    take -= n;
    skip = 0;
  }
}

void PagedLinuxReadahead::Release(const Page& page) {
  Extent& extent = extents_[page.extent];
  const std::uint64_t begin = (page.index - extent.first) * kPage;
  const std::uint64_t end = begin + page.bytes;
  std::uint64_t at = 0;
  for (std::size_t k = 0; k < extent.slices.size() && at < end; ++k) {
    const std::uint64_t slice_end = at + extent.slices[k].length;
    if (slice_end > begin && slice_end > at && --extent.live[k] == 0) extent.slices[k].chunk.reset();
    at = slice_end;
  }
  if (--extent.pages == 0) {
    extent.slices.clear();
    free_extents_.push_back(page.extent);
  }
}

void PagedLinuxReadahead::Evict() {
  while (cached_bytes_ > options_.cache && oldest_ != nullptr) {
    Page& page = *oldest_;
    Unlink(page);
    cached_bytes_ -= page.bytes;
    Release(page);
    Remove(page);
  }
}

std::uint64_t PagedLinuxReadahead::HistoryPages(std::uint64_t index, std::uint64_t max) const {
  std::uint64_t count = 0;
  while (count < max && count < index && Find(index - 1 - count) != nullptr) ++count;
  return count;
}

std::uint64_t PagedLinuxReadahead::NextMiss(std::uint64_t index, std::uint64_t max) const {
  for (std::uint64_t i = index; i < index + max; ++i) {
    if (Find(i) == nullptr) return i;
  }
  return index + max;
}

// A lower layer whose requests complete after 1-5 ms, in one to three chunks (sliced at an offset),
// one in eight short by a random amount, and `fail_percent` of them failed; the same for both models,
// as everything is drawn from the seed and the request's number.
class PartsSource final : public Source {
 public:
  struct Request {
    std::uint64_t begin;
    std::uint64_t end;
    Nanos at;
    bool operator==(const Request&) const = default;
  };

  PartsSource(Scheduler* scheduler, std::uint64_t size, std::uint64_t seed, int fail_percent, MemoryAccount* account)
      : scheduler_(scheduler), size_(size), seed_(seed), fail_percent_(fail_percent), account_(account) {}

  ReadId Read(ByteRange range, ReadCallback done) override {
    const ReadId id = next_id_++;
    const std::uint64_t n = requests.size();
    requests.push_back({range.begin, range.end, scheduler_->Now()});
    std::mt19937_64 rng(seed_ * 1000003 + n);
    const Nanos delay = kMillisecond * static_cast<Nanos>(1 + rng() % 5);
    const bool fail = static_cast<int>(rng() % 100) < fail_percent_;
    std::uint64_t length = std::min(range.end, size_) - range.begin;
    if (rng() % 8 == 0 && length > 1) length -= rng() % length;
    const int parts = 1 + static_cast<int>(rng() % 3);
    const std::uint64_t draw = rng();
    Pending& p = pending_[id];
    p.done = std::move(done);
    p.timer = scheduler_->PostAfter(delay, [this, id, fail, length, parts, draw] {
      ReadCallback done = std::move(pending_[id].done);
      pending_.erase(id);
      if (fail) {
        done(Unavailable("injected failure"));
        return;
      }
      Slices out;
      std::uint64_t left = length;
      for (int k = 0; k < parts && left > 0; ++k) {
        const std::uint64_t piece =
            k == parts - 1 ? left : std::max<std::uint64_t>(1, left * (1 + (draw >> (8 * k)) % 7) / 8);
        const std::uint64_t pad = (draw >> (8 * k + 4)) % 5;  // a slice of a larger chunk
        out.push_back(Slice{Chunk::Make(piece + pad, false, account_), pad, piece});
        left -= piece;
      }
      done(std::move(out));
    });
    return id;
  }
  void Cancel(ReadId id) override {
    auto it = pending_.find(id);
    if (it == pending_.end()) return;
    scheduler_->Cancel(it->second.timer);
    pending_.erase(it);
  }
  std::uint64_t size() const override { return size_; }
  const char* name() const override { return "parts"; }

  std::vector<Request> requests;

 private:
  struct Pending {
    ReadCallback done;
    TimerId timer = 0;
  };
  Scheduler* scheduler_;
  std::uint64_t size_;
  std::uint64_t seed_;
  int fail_percent_;
  MemoryAccount* account_;
  ReadId next_id_ = 1;
  std::unordered_map<ReadId, Pending> pending_;
};

// What a read returned and what the cache held right after it.
struct Outcome {
  bool ok = false;
  std::vector<std::array<std::uint64_t, 3>> slices;  // chunk size, offset, length
  std::uint64_t held = 0;
  Nanos at = 0;
  bool operator==(const Outcome&) const = default;
};

template <typename Policy>
struct Rig {
  sim::SimScheduler scheduler;
  NullEventSink events;
  MemoryAccount account;
  PartsSource lower;
  std::optional<Policy> policy;
  std::optional<Result<Slices>> got;

  Rig(std::uint64_t size, std::uint64_t seed, int fail_percent, const LinuxReadaheadOptions& options)
      : lower(&scheduler, size, seed, fail_percent, &account) {
    policy.emplace(LayerContext{&scheduler, &events, 0}, &lower, options);
  }
  // A read, run until it completes (readahead may stay in flight), then `pause` of virtual time.
  Outcome Read(std::uint64_t begin, std::uint64_t end, Nanos pause) {
    got.reset();
    policy->Read({begin, end}, [this](Result<Slices>&& r) { got = std::move(r); });
    while (!got.has_value() && scheduler.RunOne()) {
    }
    REQUIRE(got.has_value());
    scheduler.RunUntil(scheduler.Now() + pause);
    Outcome o;
    o.ok = got->ok();
    if (o.ok) {
      for (const Slice& s : **got) o.slices.push_back({s.chunk->size(), s.offset, s.length});
    }
    got.reset();  // the result's chunk references go before the cache's count is taken
    o.held = account.held_bytes();
    o.at = scheduler.Now();
    return o;
  }
};

TEST_CASE("linux readahead: runs of pages behave exactly as the per-page model", "[policies][linux-readahead]") {
  const std::uint64_t read_aheads[] = {0, 16 * kKiB, 128 * kKiB, 512 * kKiB};
  const std::uint64_t fuse_maxes[] = {0, 16 * kKiB, 128 * kKiB};
  const std::uint64_t caches[] = {0, 12 * kKiB, 64 * kKiB, 256 * kKiB, kMiB, kGiB};
  int compared = 0;
  for (std::uint64_t seed = 1; seed <= 72; ++seed) {
    std::mt19937_64 rng(seed);
    LinuxReadaheadOptions o;
    o.read_ahead = read_aheads[rng() % 4];
    o.io = rng() % 2 ? 128 * kKiB : kMiB;
    o.fuse_max = fuse_maxes[rng() % 3];
    o.cache = caches[seed % 6];
    const std::uint64_t size = 256 * kKiB + rng() % (3 * kMiB);
    const int fail_percent = seed % 3 == 0 ? 10 : 0;
    Rig<LinuxReadahead> runs(size, seed, fail_percent, o);
    Rig<PagedLinuxReadahead> pages(size, seed, fail_percent, o);
    std::uint64_t begin = 0;
    std::uint64_t end = 0;
    for (int i = 0; i < 150; ++i) {
      const std::uint64_t kind = rng() % 10;
      if (kind < 6) {
        begin = end;  // sequential
      } else if (kind < 8) {
        begin = rng() % size;  // a jump
      } else if (kind < 9) {
        begin -= std::min(begin, rng() % (64 * kKiB));  // back a little
      }                                                 // else: the same offset again
      if (begin >= size) begin = rng() % size;
      const std::uint64_t length = 1 + (rng() % 4 == 0 ? rng() % (300 * kKiB) : rng() % (64 * kKiB));
      end = std::min(size, begin + length);
      const Nanos pause = rng() % 3 == 0 ? 0 : static_cast<Nanos>(rng() % (4 * kMillisecond));
      INFO("seed " << seed << ", read " << i << " [" << begin << ", " << end << ")");
      const Outcome a = runs.Read(begin, end, pause);
      const Outcome b = pages.Read(begin, end, pause);
      REQUIRE(a == b);
      ++compared;
    }
    INFO("seed " << seed);
    REQUIRE(runs.lower.requests == pages.lower.requests);
  }
  CHECK(compared == 72 * 150);
}
}  // namespace
}  // namespace pflab::policies
