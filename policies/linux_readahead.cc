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
    Slot* slot = Find(index);
    if (slot == nullptr) {
      OnDemand(index, last_index - index, /*marked=*/false);  // page_cache_sync_readahead
      slot = Find(index);
      if (slot == nullptr) {
        SubmitRun(index, 1, kNoMarker);  // nothing read it: read this page
        slot = Find(index);
      }
    }
    // Pages are only added until Evict below, so `slot` stays valid through OnDemand (leaves never move).
    if (slot->marker) {
      slot->marker = false;
      OnDemand(index, last_index - index, /*marked=*/true);  // page_cache_async_readahead
    }
    const std::uint32_t id = slot->run;
    if (!runs_[id].ready) {
      waiting_ = true;
      return;
    }
    // The pages of this run the read takes up to the next marked one are read in one step: the
    // per-page loop would append each page's bytes and touch each page, in this order, with nothing
    // else in between.
    const std::uint64_t limit = std::min(runs_[id].first + runs_[id].count, last_index);
    const std::uint64_t end = NextMarked(index + 1, limit);
    const std::uint64_t stop = std::min(range_.end, end * kPage);
    Append(runs_[id].request, pos_, stop - pos_);
    Touch(id, index, end);
    pos_ = stop;
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
  // The page marked is index + nr - lookahead, when that is one of the window's (lookahead 1..nr).
  const std::uint64_t marker = lookahead != 0 && lookahead <= nr ? index + nr - lookahead : kNoMarker;
  // Each run of missing pages is one batch; cached pages break them.
  const std::uint64_t end = index + nr;
  for (std::uint64_t page = index; page < end;) {
    const std::uint64_t cached = NextPresent(page, end);
    if (cached > page) SubmitRun(page, cached - page, marker);
    page = cached;
    while (page < end && Find(page) != nullptr) ++page;
  }
}

void LinuxReadahead::SubmitRun(std::uint64_t first, std::uint64_t count, std::uint64_t marker) {
  const std::uint64_t per = options_.fuse_max ? options_.fuse_max / kPage : count;
  const std::uint64_t size = lower_->size();
  for (std::uint64_t p = first; p < first + count; p += per) {
    const std::uint64_t n = std::min(per, first + count - p);
    const std::uint32_t run = NewRun();
    runs_[run].first = p;
    runs_[run].count = n;
    AddPages(p, n, run);  // in the cache, in flight
    if (marker >= p && marker < p + n) Find(marker)->marker = true;
    const std::uint64_t id = next_batch_++;
    Batch& batch = batches_[id];
    batch.first = p;
    batch.count = n;
    batch.run = run;
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
    RemovePages(batch.first, batch.count);
    FreeRun(batch.run);
    if (!covers_wait) return;
    if (read_folio_ == waiting_page) {
      waiting_ = false;
      Finish(Result<Slices>(result.error()));
      return;
    }
    read_folio_ = waiting_page;
    SubmitRun(waiting_page, 1, kNoMarker);
    return;
  }
  std::uint32_t slot;
  if (free_requests_.empty()) {
    slot = static_cast<std::uint32_t>(requests_.size());
    requests_.emplace_back();
  } else {
    slot = free_requests_.back();
    free_requests_.pop_back();
  }
  Request& request = requests_[slot];
  request.first = batch.first;
  request.slices = std::move(*result);
  request.live.assign(request.slices.size(), 0);
  request.pages = batch.count;
  std::uint64_t returned = 0;  // bytes the request returned
  for (const Slice& s : request.slices) returned += s.length;
  request.returned = returned;
  // Bytes the pages hold: what was asked for, or less when the request returned less.
  const std::uint64_t asked = std::min(size, (batch.first + batch.count) * kPage) - batch.first * kPage;
  const std::uint64_t covered = std::min(returned, asked);
  std::uint64_t at = 0;
  for (std::size_t k = 0; k < request.slices.size(); ++k) {
    const std::uint64_t end = std::min(at + request.slices[k].length, covered);
    // The pages overlapping a slice each held a part of it (SubSlices never yields an empty one).
    if (at < end) request.live[k] = static_cast<std::uint32_t>((end - 1) / kPage - at / kPage + 1);
    at += request.slices[k].length;
  }
  // The pages become the most recently used, in order: one run.
  runs_[batch.run].request = slot;
  runs_[batch.run].ready = true;
  PushNewest(batch.run);
  cached_bytes_ += asked;  // each page counts its length, whatever the request returned
  if (covers_wait) {
    Continue();
  } else {
    Evict();
  }
  // Slices no page overlaps were held by nobody once this request's result was dropped.
  Request& done = requests_[slot];
  for (std::size_t k = 0; k < done.slices.size(); ++k) {
    if (done.live[k] == 0) done.slices[k].chunk.reset();
  }
}

LinuxReadahead::Slot* LinuxReadahead::Find(std::uint64_t index) const {
  const std::uint64_t leaf_index = index >> kLeafShift;
  if (leaf_index != last_leaf_index_) {
    auto it = leaves_.find(leaf_index);
    last_leaf_index_ = leaf_index;
    // A leaf found missing is remembered as missing too: readahead windows scan pages of leaves not
    // made yet one by one.
    last_leaf_ = it == leaves_.end() ? nullptr : it->second.get();
  }
  if (last_leaf_ == nullptr) return nullptr;
  Slot& slot = last_leaf_->slots[index & (kLeafPages - 1)];
  return slot.run != 0 ? &slot : nullptr;
}

std::uint64_t LinuxReadahead::NextPresent(std::uint64_t first, std::uint64_t end) const {
  for (std::uint64_t i = first; i < end;) {
    const std::uint64_t leaf_end = std::min(end, ((i >> kLeafShift) + 1) << kLeafShift);
    if (Find(i) == nullptr) {  // looks the leaf up: a missing one has no page present
      if (last_leaf_ == nullptr) {
        i = leaf_end;
        continue;
      }
      ++i;
      for (const Slot* slot = &last_leaf_->slots[i & (kLeafPages - 1)]; i < leaf_end && slot->run == 0; ++slot) ++i;
      if (i < leaf_end) return i;
      continue;
    }
    return i;
  }
  return end;
}

std::uint64_t LinuxReadahead::NextMarked(std::uint64_t first, std::uint64_t end) {
  for (std::uint64_t i = first; i < end;) {
    const Leaf* leaf = LeafOf(i >> kLeafShift, /*create=*/false);
    const std::uint64_t stop = std::min(end, ((i >> kLeafShift) + 1) << kLeafShift);
    for (const Slot* slot = &leaf->slots[i & (kLeafPages - 1)]; i < stop; ++i, ++slot) {
      if (slot->marker) return i;
    }
  }
  return end;
}

LinuxReadahead::Leaf* LinuxReadahead::LeafOf(std::uint64_t leaf_index, bool create) {
  if (leaf_index == last_leaf_index_ && last_leaf_ != nullptr) return last_leaf_;
  if (!create) {
    last_leaf_ = leaves_.find(leaf_index)->second.get();
  } else {
    std::unique_ptr<Leaf>& leaf = leaves_[leaf_index];
    if (!leaf) {
      if (spare_leaves_.empty()) {
        leaf = std::make_unique<Leaf>();
      } else {
        leaf = std::move(spare_leaves_.back());
        spare_leaves_.pop_back();
      }
    }
    last_leaf_ = leaf.get();
  }
  last_leaf_index_ = leaf_index;
  return last_leaf_;
}

void LinuxReadahead::AddPages(std::uint64_t first, std::uint64_t count, std::uint32_t run) {
  const std::uint64_t end = first + count;
  for (std::uint64_t i = first; i < end;) {
    Leaf* leaf = LeafOf(i >> kLeafShift, /*create=*/true);
    const std::uint64_t stop = std::min(end, ((i >> kLeafShift) + 1) << kLeafShift);
    leaf->present += static_cast<std::uint32_t>(stop - i);
    std::fill_n(&leaf->slots[i & (kLeafPages - 1)], stop - i, Slot{run, false});  // one leaf's pages
    i = stop;
  }
}

void LinuxReadahead::RemovePages(std::uint64_t first, std::uint64_t count) {
  const std::uint64_t end = first + count;
  for (std::uint64_t i = first; i < end;) {
    const std::uint64_t leaf_index = i >> kLeafShift;
    Leaf* leaf = LeafOf(leaf_index, /*create=*/false);
    const std::uint64_t stop = std::min(end, (leaf_index + 1) << kLeafShift);
    leaf->present -= static_cast<std::uint32_t>(stop - i);
    std::fill_n(&leaf->slots[i & (kLeafPages - 1)], stop - i, Slot{});
    i = stop;
    if (leaf->present > 0) continue;
    // An empty leaf is kept for reuse; its pages are all absent.
    auto it = leaves_.find(leaf_index);
    spare_leaves_.push_back(std::move(it->second));
    leaves_.erase(it);
    last_leaf_index_ = ~std::uint64_t{0};
    last_leaf_ = nullptr;
  }
}

void LinuxReadahead::Relabel(std::uint64_t first, std::uint64_t count, std::uint32_t run) {
  const std::uint64_t end = first + count;
  for (std::uint64_t i = first; i < end;) {
    Leaf* leaf = LeafOf(i >> kLeafShift, /*create=*/false);
    const std::uint64_t stop = std::min(end, ((i >> kLeafShift) + 1) << kLeafShift);
    for (Slot* slot = &leaf->slots[i & (kLeafPages - 1)]; i < stop; ++i) (slot++)->run = run;
  }
}

std::uint32_t LinuxReadahead::NewRun() {
  if (free_runs_.empty()) {
    runs_.emplace_back();
    return static_cast<std::uint32_t>(runs_.size() - 1);
  }
  const std::uint32_t id = free_runs_.back();
  free_runs_.pop_back();
  runs_[id] = Run{};
  return id;
}

void LinuxReadahead::FreeRun(std::uint32_t id) {
  free_runs_.push_back(id);
}

void LinuxReadahead::PushNewest(std::uint32_t id) {
  Run& run = runs_[id];
  run.older = newest_;
  run.newer = 0;
  if (newest_ != 0) {
    runs_[newest_].newer = id;
  } else {
    oldest_ = id;
  }
  newest_ = id;
}

void LinuxReadahead::Unlink(std::uint32_t id) {
  const Run& run = runs_[id];
  (run.newer != 0 ? runs_[run.newer].older : newest_) = run.older;
  (run.older != 0 ? runs_[run.older].newer : oldest_) = run.newer;
}

void LinuxReadahead::Touch(std::uint32_t id, std::uint64_t first, std::uint64_t end) {
  const std::uint64_t run_first = runs_[id].first;
  const std::uint64_t run_end = run_first + runs_[id].count;
  if (end == run_end) {
    if (id == newest_) return;  // already the newest pages, in this order
    if (first == run_first) {
      Unlink(id);
      PushNewest(id);
      return;
    }
    runs_[id].count = first - run_first;
  } else if (first == run_first) {
    runs_[id].first = end;
    runs_[id].count = run_end - end;
  } else {
    // The pages after the ones read stay where the run was, just newer than the ones before them.
    runs_[id].count = first - run_first;
    const std::uint32_t tail = NewRun();
    Run& t = runs_[tail];
    t.first = end;
    t.count = run_end - end;
    t.request = runs_[id].request;
    t.ready = true;
    t.older = id;
    t.newer = runs_[id].newer;
    (t.newer != 0 ? runs_[t.newer].older : newest_) = tail;
    runs_[id].newer = tail;
    Relabel(end, run_end - end, tail);
  }
  const std::uint32_t moved = NewRun();
  Run& m = runs_[moved];
  m.first = first;
  m.count = end - first;
  m.request = runs_[id].request;
  m.ready = true;
  Relabel(first, end - first, moved);
  PushNewest(moved);
}

void LinuxReadahead::Append(std::uint32_t request, std::uint64_t offset, std::uint64_t take) {
  const Request& r = requests_[request];
  std::uint64_t skip = offset - r.first * kPage;
  for (const Slice& s : r.slices) {
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

void LinuxReadahead::Release(std::uint32_t request, std::uint64_t first, std::uint64_t end) {
  Request& r = requests_[request];
  // The bytes these pages held (each page its part of what the request returned), relative to the
  // request; a page overlapping a slice held a part of it, and each such page drops one count.
  const std::uint64_t begin = (first - r.first) * kPage;
  const std::uint64_t held = std::min({(end - r.first) * kPage, lower_->size() - r.first * kPage, r.returned});
  std::uint64_t at = 0;
  for (std::size_t k = 0; k < r.slices.size() && at < held; ++k) {
    const std::uint64_t slice_end = at + r.slices[k].length;
    const std::uint64_t from = std::max(at, begin);
    const std::uint64_t to = std::min(slice_end, held);
    if (from < to) {
      const auto pages = static_cast<std::uint32_t>((to - 1) / kPage - from / kPage + 1);
      r.live[k] -= pages;
      if (r.live[k] == 0) r.slices[k].chunk.reset();
    }
    at = slice_end;
  }
  r.pages -= end - first;
  if (r.pages == 0) {
    r.slices.clear();
    free_requests_.push_back(request);
  }
}

void LinuxReadahead::Evict() {
  // Pages leave oldest first, one at a time until the cache fits: whole runs while they hold fewer
  // bytes than the excess, then the pages of the next one that cover the rest.
  while (cached_bytes_ > options_.cache && oldest_ != 0) {
    const std::uint32_t id = oldest_;
    Run& run = runs_[id];
    const Request& request = requests_[run.request];
    // Bytes the run's pages hold: a prefix of the pages is full, then at most one partial page.
    const std::uint64_t begin = (run.first - request.first) * kPage;
    const std::uint64_t held = std::min(
        {(run.first + run.count - request.first) * kPage, lower_->size() - request.first * kPage, request.returned});
    const std::uint64_t total = held > begin ? held - begin : 0;
    const std::uint64_t excess = cached_bytes_ - options_.cache;
    std::uint64_t pages = run.count;
    if (total >= excess) pages = (excess + kPage - 1) / kPage;
    cached_bytes_ -= std::min(pages * kPage, total);
    const std::uint64_t first = run.first;
    const std::uint32_t request_id = run.request;
    if (pages == run.count) {
      Unlink(id);
      FreeRun(id);
    } else {
      run.first += pages;
      run.count -= pages;
    }
    Release(request_id, first, first + pages);
    RemovePages(first, pages);
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
