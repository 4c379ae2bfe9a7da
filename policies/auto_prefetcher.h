// `auto`: our own prefetcher, built from the anchors' best ideas and chosen by measurement
// (reports/findings/auto.md has the comparison, the ablation and the sweep behind the defaults).
//
// Pure decision logic over the fetcher: its only clock is the Scheduler's Now(), its only inputs the
// object's size, the reads so far, the timings of its own requests and the trace's hints. It never
// sees future reads.
//
// The algorithm. Every byte the layer holds or has asked for is an *extent*: one request to the
// fetcher, in flight or arrived (one chunk). A read is served from extents; the bytes no extent
// covers are requested at once (a demand request), at least `min_request` long. Around that:
// - Network model (DuckDB's Parquet cost model, parquet_prefetch_cost_model.cpp): first-byte latency
//   L and per-request bandwidth B, exponentially weighted (alpha 1/4) from completed requests: a
//   request short enough that its transfer would take less than L updates L, a longer one updates B.
//   Seeds 50 ms and 100 MB/s; one estimate per run (per client), shared by its open files. From them:
//   the bandwidth-delay product BDP = L x B; the part size of parallel requests, clamp(BDP, 256 KiB,
//   max_request); the minimum request, clamp(BDP / 16, 64 KiB, part) (a request that small costs at
//   most L/16 more than the bytes asked for), which is also the hole a cursor steps over and the gap
//   between hinted ranges that are merged.
// - Cursors (Linux readahead's stream detection, several per file as its page-cache history allows;
//   Mountpoint's window). Up to `cursors` per stream. A read continues a cursor when it starts within
//   `min_request` of the cursor's end (forward, or a little back), or inside what the cursor has asked
//   for ahead (sequential mode), or exactly one stride after its last read (strided mode, also
//   backward). Anything else starts a new cursor in place of the least recently used one. A cursor
//   prefetches only once `confirm` reads follow its pattern (none on the first read of a stream, none
//   for random access): sequential cursors keep `window` bytes requested ahead in parts; strided ones
//   the next reads of the stride, merging reads whose gap is under `min_request`. The window starts at
//   one part and is multiplied by `ramp` whenever a read of the cursor had to wait (a stall, as in
//   Mountpoint's backpressure controller), up to what memory allows.
// - In-flight data is kept when a cursor is replaced (Mountpoint drops it on every reset), so a read
//   that comes back to it is served; read data is kept for re-reads and short backward seeks (what a
//   block cache on top gives gcsfs), least recently used first out when memory is needed.
// - Whole object (fsspec AllBytes, fetched in parallel parts as gcsfs's cat_file_concurrent does): a
//   file whose reads look random (`whole_after` reads that started a cursor no later read continued)
//   is fetched whole when it fits the memory budget and the time already lost to waiting pays for it:
//   the stream is latency-bound (it waited at least as long as it computed) and it has waited at
//   least the time the whole object takes at the estimated aggregate bandwidth (parallel x B). That is
//   the ski-rental rule (rent until the rent paid equals the price, then buy), which costs at most
//   about twice the better of the two in hindsight.
// - Hints (Arrow's ReadRangeCache, eager): hinted ranges are merged across holes under `min_request`
//   and requested at once, in parts; reads inside them do not move the cursors.
//
// Memory: a hard budget per open file (`memory`) and one shared by the run's open files
// (`shared_memory`), both checked against the ENGINE's accounts of buffers held (this stack's account,
// a child of the run's), never a count of the policy's own, before every request: prefetch and hinted
// requests keep room for one more read; a demand request that does not fit first drops this file's
// retained data and speculative requests, then asks the run's other files to drop theirs, and waits
// for memory when that is not enough. The one exception: a single read larger than a budget is
// requested anyway (the application asked for that many bytes at once).
//
// State per open file: the extents (a map by offset), at most `cursors` cursors, the read in progress
// (one at a time), the hinted ranges not yet requested, counters of stall and think time and of reads
// that looked random. Errors: a failed demand request fails the read waiting for it; a failed
// speculative request is dropped and its bytes are requested again if a read needs them.
// The layer keeps several requests in flight, so it must sit directly on the fetcher.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/units.h"
#include "policies/policy_entry.h"
#include "policies/policy_layer.h"
#include "policies/run_shared.h"

namespace pflab::policies {

/// Parameters of `auto`; every default is measured (reports/findings/auto.md, section "Defaults").
struct AutoOptions {
  std::uint64_t memory = 256 * kMiB;       // per open file: held plus in-flight bytes, as the engine counts them
  std::uint64_t shared_memory = 1 * kGiB;  // all open files of a run together
  std::uint64_t max_request = 16 * kMiB;   // the largest request (8-16 MiB is the cost-optimal GET size)
  std::uint32_t cursors = 4;               // per stream
  std::uint32_t confirm = 2;               // reads in a cursor's pattern before it prefetches
  std::uint32_t ramp = 0;                  // window multiplier on a stall (0: no stall limit)
  std::uint32_t whole_after = 2;           // random-looking reads before a whole-object fetch is considered
  std::uint32_t ahead = 8;                 // a run prefetches at most this many times what it has read
  std::uint32_t reuse = 4;                 // data read within this many reads is not given up for prefetching
  std::uint32_t parallel = 16;             // parts a whole object or a hinted range is split into, at most
  // Ingredients, for the ablation (each can be switched off).
  bool whole = true;    // whole-object fetch
  bool zero = true;     // a read at offset 0 is taken as the start of a sequential run
  bool eager = true;    // a small object is fetched whole from its first read (aborted if the network is too slow)
  bool grow = true;     // the window grows on stalls (else it stays one part)
  bool measure = true;  // sizes from the measured network (else from the seeds)
  bool keep = true;     // in-flight data of a replaced cursor is kept (else cancelled)
  bool retain = true;   // read data is kept for re-reads (else dropped once read)
  bool hints = true;    // hinted ranges are fetched at the hint
  bool gate = true;     // a whole-object fetch needs a latency-bound stream
  bool operator==(const AutoOptions&) const = default;
};

/// The `auto` entry.
PolicyEntry AutoEntry();

/// The network as one run's stacks have measured it (DuckDB's online cost model), shared by them.
class NetworkEstimate {
 public:
  static constexpr double kSeedLatencyS = 0.050;   // DuckDB's "remote" seed
  static constexpr double kSeedBandwidth = 100e6;  // bytes/s per request
  static constexpr double kAlpha = 0.25;           // DuckDB's EWMA weight
  static constexpr double kSeedParallel = 16;      // the aggregate's seed: this many requests' bandwidth

  /// A request starts; returns how many are in flight with it.
  std::uint32_t Started() { return ++in_flight_; }
  /// A request ends (completed, failed or cancelled).
  void Finished() { --in_flight_; }
  /// A request of `bytes` that took `duration` from being asked for to its last byte, with
  /// `concurrency` of the run's requests in flight on average (itself included).
  void Sample(std::uint64_t bytes, Nanos duration, double concurrency);
  double latency_s() const { return latency_s_; }
  /// Bytes/s one request gets (its share of the link when several are in flight).
  double bandwidth() const { return bandwidth_; }
  /// Bytes/s of the run's requests together: one request's bandwidth times how many were in flight.
  double aggregate() const { return aggregate_; }
  std::uint32_t in_flight() const { return in_flight_; }
  std::uint64_t samples() const { return samples_; }

 private:
  double latency_s_ = kSeedLatencyS;
  double bandwidth_ = kSeedBandwidth;
  double aggregate_ = kSeedBandwidth * kSeedParallel;
  std::uint32_t in_flight_ = 0;
  std::uint64_t aggregate_samples_ = 0;
  std::uint64_t samples_ = 0;
  std::uint64_t latency_samples_ = 0;
  std::uint64_t bandwidth_samples_ = 0;
};

class AutoPrefetcher;

/// What one run's auto stacks share: the network estimate, and each other, so that a file short of
/// memory can ask the others to give some back.
struct AutoRunState {
  NetworkEstimate network;
  std::vector<AutoPrefetcher*> members;
  /// Memory was freed: every member waiting for it tries again (posted).
  void Notify();
};

/// `auto` as a policy layer.
class AutoPrefetcher final : public PolicyLayer {
 public:
  /// `file_account` is the account the fetcher below charges (the engine's count of what this open
  /// file holds); `run` is shared by the run's stacks (null: this layer is alone, and the file's
  /// account is also the run's).
  /// `object` names the object (stacks of the same object in a run know of each other; empty: none).
  AutoPrefetcher(LayerContext ctx, Source* lower, AutoOptions options, MemoryAccount* file_account,
                 RunShared* run = nullptr, std::string object = "");
  ~AutoPrefetcher() override;

  ReadId Read(ByteRange range, ReadCallback done) override;
  void Cancel(ReadId id) override;
  void Hint(std::span<const ByteRange> ranges) override;
  const char* name() const override { return "auto"; }

  /// Drops everything not needed by the read in progress (data and requests), for another open file
  /// short of memory. Returns the bytes dropped.
  std::uint64_t Shed();
  /// Memory was freed somewhere in the run: if a request waits for it, try again (posted).
  void WakeIfWaiting();

  // For tests and reports.
  std::uint64_t min_request() const;
  std::uint64_t part_size() const;
  bool whole_fetched() const { return whole_started_; }
  std::uint64_t random_reads() const { return random_reads_; }
  std::size_t live_cursors() const;
  const NetworkEstimate& network() const { return state_->network; }

 private:
  struct Extent {
    std::uint64_t end = 0;
    Slices data;       // once arrived
    ReadId lower = 0;  // the request while in flight
    bool arrived = false;
    bool speculative = false;       // prefetched, hinted or part of a whole fetch (no read asked for it)
    std::uint32_t owner = 0;        // the cursor (or whole fetch, or hint) that asked for it
    std::uint64_t consumed_to = 0;  // the furthest byte delivered from it
    std::uint64_t last_use = 0;     // read stamp of the last delivery (or of the request)
    std::uint64_t serial = 0;       // tells a late completion of a dropped request from this one
    Nanos issued = 0;
    std::uint32_t concurrency = 0;  // the run's requests in flight when it was issued
  };
  struct Cursor {
    std::uint32_t id = 0;          // 0: unused slot
    std::uint64_t start = 0;       // where its run began
    std::uint64_t next = 0;        // end of the furthest read in sequence
    std::uint64_t last_begin = 0;  // the last read it took
    std::uint64_t last_len = 0;
    std::int64_t step = 0;  // begin-to-begin distance of its last two reads (the stride)
    bool strided = false;
    bool dense = false;           // continued by a read starting within its length of the last
    std::uint32_t hits = 0;       // reads that continued it
    std::uint64_t window = 0;     // bytes to keep requested ahead
    std::uint64_t ahead_end = 0;  // sequential: requested up to here
    std::uint64_t planned = 0;    // strided: requested up to here (the end, or the start going back)
    bool has_planned = false;
    std::uint64_t last_use = 0;
  };
  enum class Kind { kContinue, kStride, kNew, kCovered, kHinted };

  // Estimates.
  double Latency() const;
  double Bandwidth() const;
  double Aggregate() const;
  std::uint64_t Bdp() const;
  // Classifying a read and moving the cursors.
  Kind Classify(ByteRange range, Cursor** cursor);
  Cursor& NewCursor(ByteRange range);
  Cursor* FindCursor(std::uint32_t id);
  std::uint64_t RunBytes(const Cursor& c) const;
  std::uint64_t WindowCap(const Cursor& c) const;
  void EndRun(std::uint32_t id);
  bool Cheap(double factor) const;
  void StartWhole();
  void AbortWhole();
  void CancelExtent(Extent& extent);
  void ForgetAhead();
  bool OwnerLive(std::uint32_t owner) const;
  bool Covered(ByteRange range) const;
  bool InHint(ByteRange range) const;
  // Requests.
  std::vector<ByteRange> Missing(ByteRange range) const;
  bool Fits(std::uint64_t bytes, std::uint64_t headroom) const;
  bool MakeRoom(std::uint64_t bytes, std::uint64_t headroom, bool demand);
  void Issue(ByteRange range, bool speculative, std::uint32_t owner);
  bool IssueSpeculative(ByteRange range, std::uint32_t owner);
  bool IssueDemand();
  std::uint64_t PinnedBytes() const;
  void Prefetch(Cursor& cursor);
  void MaybeWhole(bool cheap_trigger);
  void FetchHinted();
  void OnFetched(std::uint64_t begin, std::uint64_t serial, Result<Slices>&& result);
  // Serving the read in progress.
  void TryServe(bool first);
  void Complete(Result<Slices>&& result);
  // Memory.
  std::uint64_t Evict(std::uint64_t bytes, bool demand, bool everything);
  void DropSpeculative(std::uint32_t owner);
  bool Pinned(std::uint64_t begin, const Extent& extent) const;

  AutoOptions options_;
  MemoryAccount* file_account_;
  std::unique_ptr<MemoryAccount> own_account_;  // without the fetcher's account (nothing is charged)
  std::unique_ptr<RunShared> own_run_;          // when built outside a run
  RunShared* run_;
  AutoRunState* state_;

  std::map<std::uint64_t, Extent> extents_;
  std::uint64_t next_serial_ = 1;
  std::uint64_t cancelled_pending_ = 0;  // cancelled requests whose completion has not come yet
  std::vector<Cursor> cursors_;
  std::uint32_t next_cursor_id_ = 1;
  std::uint32_t last_new_cursor_ = 0;  // the cursor the latest random-looking read started
  std::uint64_t last_read_begin_ = 0;
  std::vector<ByteRange> hinted_;      // hinted ranges, merged, sorted
  std::vector<ByteRange> hint_queue_;  // hinted bytes not requested yet (memory)
  bool whole_started_ = false;
  bool whole_tentative_ = false;  // fetched whole at the first read, before anything was measured
  std::string object_;
  bool shared_object_ = false;     // another stream of the run has this object open too
  std::uint32_t last_cursor_ = 0;  // the cursor of the previous read
  double run_avg_ = 0;             // mean length of the runs the reader left
  std::uint64_t runs_ = 0;

  // Counters.
  std::uint64_t stamp_ = 0;  // reads so far
  std::uint64_t random_reads_ = 0;
  Nanos stall_ = 0;  // time reads waited
  Nanos think_ = 0;  // time between a read's completion and the next read
  std::optional<Nanos> last_done_;

  // The read in progress (one at a time).
  ReadId next_id_ = 1;
  ReadId pending_id_ = 0;
  ByteRange pending_;
  ReadCallback pending_done_;
  Nanos pending_started_ = 0;
  std::uint32_t pending_cursor_ = 0;
  bool pending_waited_ = false;
  bool waiting_memory_ = false;
  bool wake_posted_ = false;
  std::optional<Error> pending_error_;
};

}  // namespace pflab::policies
