#include "policies/linux_readahead.h"

#include <algorithm>
#include <bit>
#include <utility>

namespace pflab::policies {
namespace {

constexpr std::uint64_t kPage = LinuxReadahead::kPage;

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

}  // namespace

PolicyEntry LinuxReadaheadEntry() {
  using O = LinuxReadaheadOptions;
  return EntryBuilder<O>("linux-readahead",
                         "Linux on-demand readahead, mm/readahead.c ondemand_readahead (6.x before the 6.10 split), "
                         "over the page cache, with FUSE's request split",
                         "initial window 2-4x the read, x4/x2 ramp to read_ahead, async window at the PG_readahead "
                         "marker, context readahead, small random reads read as is")
      .Place(Placement::kOnFetcher)
      .Size("read_ahead", &O::read_ahead, "read_ahead_kb (VM_READAHEAD_PAGES)")
      .Size("io", &O::io, "bdi io_pages: a read larger than read_ahead may use up to this (FUSE max_pages)")
      .Size("fuse_max", &O::fuse_max, "largest request to the layer below (FUSE max_pages x 4KiB); 0: one per run")
      .Size("cache", &O::cache, "page cache for the file; least recently used pages are evicted beyond it")
      .Check([](O& o) -> Status {
        if (o.read_ahead % kPage || o.io % kPage || o.fuse_max % kPage) {
          return InvalidArgument("linux-readahead: read_ahead, io and fuse_max must be multiples of 4KiB");
        }
        if (o.io == 0) return InvalidArgument("linux-readahead: io must be at least 4KiB");
        return OkStatus();
      })
      .Builds<LinuxReadahead>()
      .Done();
}

LinuxReadahead::LinuxReadahead(LayerContext ctx, Source* lower, LinuxReadaheadOptions options)
    : PolicyLayer(ctx, lower),
      options_(options),
      ra_pages_(options.read_ahead / kPage),
      io_pages_(options.io / kPage) {}

LinuxReadahead::~LinuxReadahead() {
  *alive_ = false;
  for (const auto& [id, batch] : batches_) lower_->Cancel(batch.lower);
}

ReadId LinuxReadahead::Read(ByteRange range, ReadCallback done) {
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

void LinuxReadahead::Cancel(ReadId id) {
  if (id != current_ || current_ == 0) return;
  // Readahead already submitted stays in flight and fills the cache, as in the kernel.
  current_ = 0;
  waiting_ = false;
  out_.clear();
  CompleteLater(std::move(done_), Cancelled("read cancelled"));
}

void LinuxReadahead::Continue() {
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

void LinuxReadahead::Finish(Result<Slices>&& result) {
  current_ = 0;
  out_.clear();
  // Never inline in Read (the Source contract): a read served from cache completes on the scheduler.
  CompleteLater(std::move(done_), std::move(result));
}

void LinuxReadahead::OnDemand(std::uint64_t index, std::uint64_t req, bool marked) {
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

void LinuxReadahead::ReadPages(std::uint64_t index, std::uint64_t nr, std::uint64_t lookahead) {
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

void LinuxReadahead::SubmitRun(std::uint64_t first, std::uint64_t count) {
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

void LinuxReadahead::OnBatchDone(std::uint64_t id, Result<Slices>&& result) {
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

LinuxReadahead::Page* LinuxReadahead::Find(std::uint64_t index) const {
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

LinuxReadahead::Page& LinuxReadahead::Add(std::uint64_t index) {
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

void LinuxReadahead::Remove(Page& page) {
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

void LinuxReadahead::PushNewest(Page& page) {
  page.older = newest_;
  page.newer = nullptr;
  if (newest_ != nullptr) {
    newest_->newer = &page;
  } else {
    oldest_ = &page;
  }
  newest_ = &page;
}

void LinuxReadahead::Unlink(Page& page) {
  (page.newer != nullptr ? page.newer->older : newest_) = page.older;
  (page.older != nullptr ? page.older->newer : oldest_) = page.newer;
}

void LinuxReadahead::Touch(Page& page) {
  if (newest_ == &page) return;
  Unlink(page);
  PushNewest(page);
}

void LinuxReadahead::Append(const Page& page, std::uint64_t skip, std::uint64_t take) {
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

void LinuxReadahead::Release(const Page& page) {
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

void LinuxReadahead::Evict() {
  while (cached_bytes_ > options_.cache && oldest_ != nullptr) {
    Page& page = *oldest_;
    Unlink(page);
    cached_bytes_ -= page.bytes;
    Release(page);
    Remove(page);
  }
}

std::uint64_t LinuxReadahead::HistoryPages(std::uint64_t index, std::uint64_t max) const {
  std::uint64_t count = 0;
  while (count < max && count < index && Find(index - 1 - count) != nullptr) ++count;
  return count;
}

std::uint64_t LinuxReadahead::NextMiss(std::uint64_t index, std::uint64_t max) const {
  for (std::uint64_t i = index; i < index + max; ++i) {
    if (Find(i) == nullptr) return i;
  }
  return index + max;
}

}  // namespace pflab::policies
