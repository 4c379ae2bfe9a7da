#include "policies/arrow_coalesce.h"

#include <algorithm>
#include <utility>

namespace pflab::policies {

PolicyEntry ArrowCoalesceEntry() {
  using O = ArrowCoalesceOptions;
  return EntryBuilder<O>("arrow-coalesce",
                         "Apache Arrow ReadRangeCache (apache/arrow@515410b2, cpp/src/arrow/io/caching.cc, "
                         "interfaces.cc CoalesceReadRanges) as Parquet's pre_buffer uses it "
                         "(cpp/src/parquet/file_reader.cc)",
                         "a trace hint's ranges coalesced (holes <= hole_size_limit merged, merged span <= "
                         "range_size_limit, never split) into entries fetched on hint (lazy=false) or on first read; "
                         "reads inside an entry served from it, kept until the end; other reads go below, coalesced "
                         "with reads outstanding at the same instant; must sit on the fetcher")
      .Place(Placement::kOnFetcher)
      .Size("hole_size_limit", &O::hole_size_limit, "ReadRangeCache::kDefaultHoleSizeLimit")
      .Size("range_size_limit", &O::range_size_limit, "ReadRangeCache::kDefaultRangeSizeLimit")
      .Bool("lazy", &O::lazy,
            "CacheOptions::LazyDefaults() as Parquet's ArrowReaderProperties and IPC use (Defaults(): false)")
      .Uint("prefetch_limit", &O::prefetch_limit, "lazy only: entries started after the one a read needed")
      .Check([](O& o) -> Status {
        // CoalesceReadRanges DCHECKs this: a merged range must be able to hold a hole.
        if (o.range_size_limit <= o.hole_size_limit) {
          return InvalidArgument("policy arrow-coalesce: range_size_limit must be larger than hole_size_limit");
        }
        return OkStatus();
      })
      .Builds<ArrowCoalesce>()
      .Done();
}

std::vector<ByteRange> CoalesceReadRanges(std::vector<ByteRange> ranges, std::uint64_t hole_size_limit,
                                          std::uint64_t range_size_limit) {
  // A read not pre-buffered is usually alone at its instant: one range coalesces to itself.
  if (ranges.size() == 1) {
    if (ranges.front().empty()) ranges.clear();
    return ranges;
  }
  std::erase_if(ranges, [](const ByteRange& r) { return r.empty(); });
  std::sort(ranges.begin(), ranges.end(), [](const ByteRange& a, const ByteRange& b) { return a.begin < b.begin; });
  // In place (a read not pre-buffered coalesces alone, once per read): each pass writes at or before
  // where it reads. Each kept range is compared with the last one kept, so kept ends strictly increase.
  std::size_t kept = 0;
  for (const ByteRange& r : ranges) {
    if (kept > 0 && ranges[kept - 1].Contains(r)) continue;
    ranges[kept++] = r;
  }
  std::size_t merged = 0;
  for (std::size_t i = 0; i < kept; ++i) {
    const ByteRange r = ranges[i];
    if (merged > 0) {
      ByteRange& cur = ranges[merged - 1];
      // Overlap is a hole of zero; the span is measured from the merged range's start.
      const std::uint64_t hole = r.begin > cur.end ? r.begin - cur.end : 0;
      if (hole <= hole_size_limit && r.end - cur.begin <= range_size_limit) {
        cur.end = r.end;
        continue;
      }
    }
    ranges[merged++] = r;
  }
  ranges.resize(merged);
  return ranges;
}

ArrowCoalesce::~ArrowCoalesce() {
  // Callbacks are disarmed by the liveness flag; the fetcher still owes each request a completion.
  for (const auto* list : {&entries_, &requests_}) {
    for (const auto& e : *list) {
      if (e->state == State::kFetching) lower_->Cancel(e->lower);
    }
  }
}

std::vector<ByteRange> ArrowCoalesce::entry_ranges() const {
  std::vector<ByteRange> out;
  for (const auto& e : entries_) out.push_back(e->range);
  return out;
}

ArrowCoalesce::Entry* ArrowCoalesce::FindEntry(ByteRange range) const {
  // Impl::Read: binary search for the first entry not ending before the read, then a containment test.
  auto it = std::lower_bound(entries_.begin(), entries_.end(), range,
                             [](const std::unique_ptr<Entry>& e, const ByteRange& r) { return e->range.end < r.end; });
  if (it != entries_.end() && (*it)->range.Contains(range)) return it->get();
  return nullptr;
}

ArrowCoalesce::Entry* ArrowCoalesce::FindRequest(ByteRange range) const {
  for (const auto& r : requests_) {
    if (r->state == State::kFetching && r->range.Contains(range)) return r.get();
  }
  return nullptr;
}

void ArrowCoalesce::Start(Entry* entry) {
  entry->state = State::kFetching;
  entry->lower = FetchBelow(entry->range, 0, [this, entry](Result<Slices>&& r) { OnFetched(entry, std::move(r)); });
}

void ArrowCoalesce::PrefetchAfter(const Entry* entry) {
  if (!options_.lazy || options_.prefetch_limit == 0) return;
  auto it = std::find_if(entries_.begin(), entries_.end(), [&](const auto& e) { return e.get() == entry; });
  if (it == entries_.end()) return;
  // Arrow counts the next k entries whether or not they were already started.
  std::uint64_t counted = 0;
  for (++it; it != entries_.end() && counted < options_.prefetch_limit; ++it, ++counted) {
    if ((*it)->state == State::kIdle) Start(it->get());
  }
}

void ArrowCoalesce::Hint(std::span<const ByteRange> ranges) {
  const std::uint64_t size = lower_->size();
  std::vector<ByteRange> clamped;
  for (ByteRange r : ranges) clamped.push_back({std::min(r.begin, size), std::min(r.end, size)});
  const std::vector<ByteRange> coalesced =
      CoalesceReadRanges(std::move(clamped), options_.hole_size_limit, options_.range_size_limit);
  std::vector<Entry*> added;
  for (const ByteRange& r : coalesced) {
    auto entry = std::make_unique<Entry>();
    entry->range = r;
    added.push_back(entry.get());
    // After existing entries with the same offset, as Impl::Cache's std::merge places them.
    auto at =
        std::upper_bound(entries_.begin(), entries_.end(), r.begin,
                         [](std::uint64_t begin, const std::unique_ptr<Entry>& e) { return begin < e->range.begin; });
    entries_.insert(at, std::move(entry));
  }
  if (!options_.lazy) {
    for (Entry* e : added) Start(e);
  }
  // Impl::Cache then tells the file (WillNeed); the layers below ignore it unless they plan with hints.
  lower_->Hint(coalesced);
}

Result<Slices> ArrowCoalesce::Serve(const Entry& entry, ByteRange range) {
  if (entry.state == State::kFailed) return *entry.error;
  return SubSlices(entry.data, range.begin - entry.range.begin, range.size());
}

ReadId ArrowCoalesce::Read(ByteRange range, ReadCallback done) {
  const ReadId id = next_id_++;
  range.end = std::min(range.end, lower_->size());
  if (range.begin >= range.end) {
    CompleteLater(std::move(done), Slices{});
    return id;
  }
  if (Entry* entry = FindEntry(range)) {
    if (entry->state == State::kIdle) Start(entry);  // LazyImpl::MaybeRead
    if (entry->state == State::kHeld || entry->state == State::kFailed) {
      if (entry->state == State::kHeld) PrefetchAfter(entry);
      CompleteLater(std::move(done), Serve(*entry, range));
      return id;
    }
    waiters_.push_back(Waiter{id, range, entry, std::move(done)});
    return id;
  }
  // Not pre-buffered: to the layer below, joining a request in flight or the next coalescing.
  waiters_.push_back(Waiter{id, range, FindRequest(range), std::move(done)});
  if (waiters_.back().entry == nullptr && !flush_posted_) {
    flush_posted_ = true;
    ctx_.scheduler->Post([this, alive = alive_] {
      if (*alive) FlushUncovered();
    });
  }
  return id;
}

void ArrowCoalesce::FlushUncovered() {
  flush_posted_ = false;
  // The scratch vector is taken, not borrowed: a request started below may call back into this layer.
  std::vector<ByteRange> ranges = std::move(scratch_ranges_);
  ranges.clear();
  for (const Waiter& w : waiters_) {
    if (w.entry == nullptr) ranges.push_back(w.range);
  }
  ranges = CoalesceReadRanges(std::move(ranges), options_.hole_size_limit, options_.range_size_limit);
  for (const ByteRange& r : ranges) {
    std::unique_ptr<Entry> request;
    if (spare_.empty()) {
      request = std::make_unique<Entry>();
    } else {
      request = std::move(spare_.back());
      spare_.pop_back();
    }
    request->range = r;
    request->cached = false;
    Entry* e = request.get();
    requests_.push_back(std::move(request));
    for (Waiter& w : waiters_) {
      if (w.entry == nullptr && r.Contains(w.range)) w.entry = e;
    }
    Start(e);
  }
  scratch_ranges_ = std::move(ranges);
}

void ArrowCoalesce::Cancel(ReadId id) {
  auto it = std::find_if(waiters_.begin(), waiters_.end(), [&](const Waiter& w) { return w.id == id; });
  if (id == 0 || it == waiters_.end()) return;
  Entry* entry = it->entry;
  ReadCallback done = std::move(it->done);
  waiters_.erase(it);
  // A request nobody waits for any more is cancelled below; cache entries are not (Arrow cannot).
  if (entry && !entry->cached && entry->state == State::kFetching &&
      std::none_of(waiters_.begin(), waiters_.end(), [&](const Waiter& w) { return w.entry == entry; })) {
    lower_->Cancel(entry->lower);
  }
  CompleteLater(std::move(done), Cancelled("read cancelled"));
}

void ArrowCoalesce::OnFetched(Entry* entry, Result<Slices>&& result) {
  if (result.ok()) {
    entry->state = State::kHeld;
    entry->data = std::move(*result);
  } else {
    entry->state = State::kFailed;
    entry->error = result.error();
  }
  // Nearly always one read waits (every read not pre-buffered has its own request): it completes
  // without the list, in the same order of steps.
  Waiter* only = nullptr;
  std::size_t waiting = 0;
  for (Waiter& w : waiters_) {
    if (w.entry == entry) {
      only = &w;
      ++waiting;
    }
  }
  if (waiting == 1) {
    ReadCallback done = std::move(only->done);
    Result<Slices> r = Serve(*entry, only->range);
    waiters_.erase(waiters_.begin() + (only - waiters_.data()));
    Settle(entry, true);
    done(std::move(r));  // last, as the callback may issue the next read into this layer
    return;
  }
  // Taken, not borrowed, as in FlushUncovered: the callbacks below may come back into this layer.
  std::vector<std::pair<ReadCallback, Result<Slices>>> completions = std::move(scratch_completions_);
  completions.clear();
  for (auto it = waiters_.begin(); it != waiters_.end();) {
    if (it->entry == entry) {
      completions.emplace_back(std::move(it->done), Serve(*entry, it->range));
      it = waiters_.erase(it);
    } else {
      ++it;
    }
  }
  Settle(entry, !completions.empty());
  // Last, as a callback may issue the next read into this layer.
  for (auto& [done, r] : completions) done(std::move(r));
  completions.clear();
  scratch_completions_ = std::move(completions);
}

void ArrowCoalesce::Settle(Entry* entry, bool served) {
  if (entry->cached) {
    if (entry->state == State::kHeld && served) PrefetchAfter(entry);
    return;
  }
  // Delivered (or failed) to every read that waited: the request's bytes are not kept (its entry is
  // kept for the next request, emptied).
  auto it = std::find_if(requests_.begin(), requests_.end(),
                         [&](const std::unique_ptr<Entry>& e) { return e.get() == entry; });
  if (it == requests_.end()) return;
  std::unique_ptr<Entry> spare = std::move(*it);
  requests_.erase(it);
  spare->state = State::kIdle;
  spare->cached = true;
  spare->lower = 0;
  spare->data.clear();
  spare->error.reset();
  spare_.push_back(std::move(spare));
}

}  // namespace pflab::policies
