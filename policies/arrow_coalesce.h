// `arrow-coalesce`: Apache Arrow C++'s ReadRangeCache, the layer under Parquet's pre_buffer.
//
// Origin: apache/arrow @515410b2 (2026-08-21), cpp/src/arrow/io/caching.{h,cc} (CacheOptions,
// ReadRangeCache::Impl and LazyImpl), cpp/src/arrow/io/interfaces.cc (internal::CoalesceReadRanges,
// ReadRangeCombiner::Coalesce), and its user cpp/src/parquet/file_reader.cc (PreBuffer, and
// SerializedRowGroup::GetColumnPageReader reading a column chunk from the cache only when it was
// pre-buffered). Written from reading that code; no code is copied.
//
// With hints (a trace's hint lines, i.e. the application's ReadRangeCache::Cache calls):
// - A hint's ranges are coalesced by CoalesceReadRanges (below) into entries kept sorted by offset.
//   With lazy=false (CacheOptions::Defaults) every new entry is fetched at once; with lazy=true
//   (CacheOptions::LazyDefaults, what Parquet's ArrowReaderProperties and Arrow IPC's
//   IpcReadOptions use, hence our default) an entry is fetched when a read first needs it, and with
//   prefetch_limit = k the next k entries in offset order are started once that entry has arrived
//   (Impl::Read prefetches after waiting for the entry's future).
// - A read wholly inside one entry is served from it (Impl::Read's lookup: the first entry, in offset
//   order, whose end is not before the read's end, if it contains the read). A failed entry fails
//   every read of it (Arrow's future keeps its error; there is no retry above the fetcher's).
// - Entries are kept until the layer is destroyed, as Arrow keeps them until the cache is destroyed
//   (Parquet drops the whole cache when it pre-buffers again; a trace's later hints add entries here,
//   as further Cache calls on one ReadRangeCache do). Their bytes count as held memory meanwhile.
// - Arrow leaves ranges overlapping earlier entries undefined; here they become entries of their own
//   and the lookup above picks one.
//
// A read no entry contains goes to the layer below, as Parquet reads a column chunk that was not
// pre-buffered from the file directly (Arrow's ReadRangeCache::Read would fail it). Such reads are
// coalesced lazily: the reads that are outstanding at the same instant of the scheduler (issued
// before a task posted by the first of them runs) are coalesced by the same rule into requests, each
// read completing when the request holding it arrives; a read inside a request still in flight waits
// for it. These requests are dropped once their reads are delivered. A policy stack is one stream's
// file handle and has one read outstanding at a time, so without hints every read is one request of
// exactly its range, like `none`.
//
// Eager mode issues several requests at once, so the layer sits directly on the fetcher.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <utility>
#include <vector>

#include "engine/units.h"
#include "policies/policy_entry.h"
#include "policies/policy_layer.h"

namespace pflab::policies {

/// Parameters of arrow-coalesce, named and defaulted as Arrow's CacheOptions::LazyDefaults().
struct ArrowCoalesceOptions {
  std::uint64_t hole_size_limit = 8 * kKiB;    // ReadRangeCache::kDefaultHoleSizeLimit
  std::uint64_t range_size_limit = 32 * kMiB;  // ReadRangeCache::kDefaultRangeSizeLimit
  bool lazy = true;                            // LazyDefaults(); Defaults() has false
  std::uint64_t prefetch_limit = 0;            // entries started after the one a read waits for
  bool operator==(const ArrowCoalesceOptions&) const = default;
};

/// The `arrow-coalesce` entry.
PolicyEntry ArrowCoalesceEntry();

/// Arrow's CoalesceReadRanges: drops empty ranges, sorts by offset, drops ranges inside the one kept
/// before them, then merges greedily: a range joins the current merged range unless the hole before it
/// exceeds `hole_size_limit` or the merged range would then span more than `range_size_limit` bytes.
/// A range larger than the limit stays whole (ranges are never split). Partly overlapping ranges are
/// merged (Arrow's release build; its debug build rejects them).
std::vector<ByteRange> CoalesceReadRanges(std::vector<ByteRange> ranges, std::uint64_t hole_size_limit,
                                          std::uint64_t range_size_limit);

/// The ReadRangeCache layer; see the file comment.
class ArrowCoalesce final : public PolicyLayer {
 public:
  ArrowCoalesce(LayerContext ctx, Source* lower, ArrowCoalesceOptions options)
      : PolicyLayer(ctx, lower), options_(options) {}
  ~ArrowCoalesce() override;

  ReadId Read(ByteRange range, ReadCallback done) override;
  void Cancel(ReadId id) override;
  void Hint(std::span<const ByteRange> ranges) override;
  const char* name() const override { return "arrow-coalesce"; }

  /// The cache entries' ranges in offset order (for tests).
  std::vector<ByteRange> entry_ranges() const;

 private:
  enum class State { kIdle, kFetching, kHeld, kFailed };
  struct Entry {
    ByteRange range;
    bool cached = true;  // a cache entry; false: a request for reads no entry holds
    State state = State::kIdle;
    ReadId lower = 0;
    Slices data;
    std::optional<Error> error;
  };
  struct Waiter {
    ReadId id = 0;
    ByteRange range;
    Entry* entry = nullptr;  // nullptr while queued for the next coalescing of uncovered reads
    ReadCallback done;
  };

  Entry* FindEntry(ByteRange range) const;
  Entry* FindRequest(ByteRange range) const;
  void Start(Entry* entry);
  void PrefetchAfter(const Entry* entry);
  void FlushUncovered();
  void OnFetched(Entry* entry, Result<Slices>&& result);
  // After an entry's fetch ended and its readers were taken off the wait list (`served`: some were): a
  // cache entry starts the prefetches after it, a request's entry is emptied for the next request.
  void Settle(Entry* entry, bool served);
  Result<Slices> Serve(const Entry& entry, ByteRange range);

  ArrowCoalesceOptions options_;
  std::vector<std::unique_ptr<Entry>> entries_;   // cache entries, by offset
  std::vector<std::unique_ptr<Entry>> requests_;  // requests for uncovered reads, until delivered
  std::vector<Waiter> waiters_;                   // reads waiting for an entry or a request
  // Kept between reads so that a read not pre-buffered allocates nothing: emptied request entries, and
  // the scratch of a coalescing and of a completion.
  std::vector<std::unique_ptr<Entry>> spare_;
  std::vector<ByteRange> scratch_ranges_;
  std::vector<std::pair<ReadCallback, Result<Slices>>> scratch_completions_;
  bool flush_posted_ = false;
  ReadId next_id_ = 1;
};

}  // namespace pflab::policies
