// `auto`: our own prefetcher, built from the anchors' best ideas and kept where they measured well
// (reports/findings/auto.md has the comparison, the ablation of every ingredient and the sweep behind
// the defaults).
//
// Pure decision logic over the fetcher: its only clock is the Scheduler's Now() (and its timers), its
// only inputs the object's size, the reads so far, the timings of its own requests and the trace's
// hints. It never sees future reads.
//
// The algorithm. Every byte the layer holds or has asked for is an *extent*: one request to the
// fetcher, in flight or arrived (one chunk). A read is served from extents; the bytes no extent covers
// are requested at once (a demand request) before anything else, rounded up to the minimum request
// (at the object's end, the extra bytes come from before the read: footers, zip end records). Then:
// - Network model (DuckDB's Parquet cost model measures latency and bandwidth online). The fetcher
//   tells when each request was sent on a connection and when its response began, as an HTTP client
//   sees them, so a request's time falls apart into a wait for a connection, the service's first byte
//   and the transfer: the latency L is the median of the last 64 first bytes (the tail, their
//   slowest); one request's bandwidth B the fastest transfer of a request that had the link to itself
//   (1 GB/s until one has); the link's bandwidth from the bytes the run's requests delivered over
//   stretches of their transfers (never above the link), and until the link has been seen full
//   (transfers slowed by a quarter or more by sharing it) windows probe at twice that; once it has,
//   B is never above it. (Without that timing, a least-squares fit of duration = L + bytes x
//   time-per-byte over requests that had the link to themselves, the slope pulled towards 1 GB/s by a
//   prior worth one sample. That fit could not see a slow link: on 12.5 MB/s it said 1 GB/s, and
//   first bytes of seconds; reports/findings/auto.md, "On links slower than the profiles".)
//   One estimate per run (per client), shared by its open files; seeds 50 ms and 100 MB/s until the
//   first sample. From it: BDP = L x B; parts of speculative requests are 2 x BDP (a third of a part's
//   time is first byte), B one request's bandwidth (measured alone; a fit of untimed requests, which
//   sharing lowers, no less than the link's share of 16), within [1 MiB, max_request]; the minimum
//   request is BDP / 16 (it costs at most L/16 more than the bytes asked for), within [64 KiB, 1 MiB],
//   and is also the hole a cursor steps over and the gap across which hinted ranges merge.
// - Cursors (Linux readahead's streams; several per file, as its page-cache history allows). Up to
//   `cursors` per stream. A read continues a cursor when it starts within the minimum request of the
//   cursor's end or inside what it asked for ahead (sequential), or one stride after its last read
//   (strided, also backward), to within one read's length: a reader through aligned blocks whose
//   records are not a whole number of blocks apart (netCDF-C on a classic file) steps a block short
//   now and then. The stride predicted is the mean since the cursor's first read; once a read has
//   slipped, predictions are widened by the slip and by the mean's uncertainty (a slip over the
//   strides seen, times how far ahead), and a stride wider than the minimum request looks no more
//   reads ahead than it has seen. A stride the reader left is remembered, and a new cursor with the
//   same step (another station's time series) starts from it. A read that continues a stride wider
//   than the minimum request asks for its own pages only (its neighbours are not read next), and one
//   a part or more from the last counts, for the ski rental, as an access of its own. A new cursor's
//   step is measured from the reader's previous read, held data or not. A read inside data held by
//   no cursor's pattern (a re-read) leaves the cursors alone; anything else starts a new cursor in
//   place of the least recently used. A cursor
//   prefetches once `confirm` reads follow its pattern (none on the first read of a stream, none for
//   random access). Its window, the bytes of reads to come it keeps requested, is the Lindy bound:
//   `ahead` times what its run has read (a run that has read X is about as likely to go on for X more
//   as to stop, so the waste at a run's end is at most `ahead` times the run); once the reader has
//   left runs, their average length predicts the next one (the rest of it, at least a minimum request
//   and not floored to a part, and `ahead` times any overshoot), and never more than the link bound:
//   the link's bandwidth for as long as a part takes when its first byte is slow (the slowest of the
//   last 64 first bytes plus the part's transfer; bytes beyond it cannot arrive sooner), and until 16
//   first bytes are measured, `link` link bandwidth-delay products (8 cover a first byte up to 8 times
//   the median), never more than those; nor more than twice what the reader gets through while a part
//   is on its way, at the fastest pace it has shown (`pace`: the most its position moved in one
//   horizon, a slow first byte plus a part's transfer, of its own time between reads, over its last 64
//   reads, from two pauses on; none for a reader that reads back to back), and then no floor of a
//   whole part (parts no larger than the window). Mountpoint's stall-driven window (x `ramp` on each
//   stall) is available within the same bound (`ramp` > 0). A seek forward by more than a part into
//   what a cursor asked for keeps its data and starts a new run.
// - In-flight data is kept when a cursor is replaced (Mountpoint drops it on every reset), and read
//   data is kept for re-reads and short backward seeks (what a block cache on top gives gcsfs); data
//   read within the last `reuse` reads is never given up for prefetching.
// - Whole object (fsspec AllBytes; in parts, as gcsfs's cat_file_concurrent does): on a stream's first
//   read, an object whose whole transfer at the link's bandwidth takes no longer than a first byte is
//   fetched whole, tentatively: when the first request's latency shows it takes more than two, the
//   parts not arrived are cancelled. That first request is then the read's own bytes, not rounded up
//   (`probe`: the bytes around it are in the bet), so the response that decides the bet comes early. Later, at a read
//   that starts a new cursor, the same test again with measured numbers; and the ski-rental rule (rent until the rent
//   paid equals the price, then buy; at most about twice the better choice in hindsight): after `whole_after` reads
//   that looked random (each started a cursor the next one did not continue densely, or whose run ended within a part:
//   a record read in two calls, a header and its body, is one random access), once the stream has waited as
//   long as the whole object takes. Both only for a latency-bound stream (it waited at least as long as it computed:
//   its own time before a read runs from its last read of any file, so waits on the other files of a
//   reader that reads several in turn, a database's tables, are not computing),
//   an object within the memory budget, and one whole fetch per object in a run: a stream whose object another stream
//   of the run fetches whole reads from that fetch. The first-read bet on an object several streams read stands only
//   when that read began at offset 0 (files read from the start are read on, Linux readahead's index-0 rule; streams
//   that start at a footer or an index read pieces of it): when another stream opens the object, a tentative whole
//   fetch whose first read began elsewhere is called off. With `share` off, no whole fetch of an object another stream
//   has open (each stream would fetch it).
// - Streams of one object (the stacks of one run with the same object open: Parquet's column readers,
//   readers of consecutive regions) share what they hold (`share`). A read's bytes that another stream
//   holds or has asked for are served from there (waited for while in flight) instead of being asked
//   for again; speculative requests skip them; and a cursor's window stops at the first byte past its
//   position that another stream holds, has asked for, or has started a run at (its reads prove that
//   someone else covers what follows). Nothing is copied: a read takes slices of the other stream's
//   chunks, which stay charged to the stream that fetched them (its budget, its evictions); a stream
//   that drops data another one waits for tells it, and that one asks for the bytes itself.
// - Hedged requests ("The Tail at Scale"; Durner et al. measured under 5% of cloud first bytes over
//   200 ms): a request a read has waited on for `hedge` latencies beyond its expected transfer is sent
//   again; the first copy to arrive is kept, the other cancelled. Its transfer is expected at one
//   request's bandwidth or at its share of a full link, whichever is slower.
// - A long run on a link one request fills (`stream`; gcsfuse's range reader): once a sequential run
//   has read 8 MiB (more than Linux's 6 MiB socket buffer, which a stream closed early wastes), and one
//   request's bandwidth, measured alone, is at least half of what the full link delivered, the run's
//   parts are pulls of one streaming GET, in order, one at a time: one first byte for the run, and its
//   bytes in order at the link's rate. Parts in parallel there only share the link and arrive
//   together, and the reader then asks for the next ones together while their first bytes wait with
//   the link idle. The stream ends after its cursor's pulls once the cursor is replaced, when it is
//   idle and the run's next part is elsewhere, or at once when a pull of it is cancelled (its other
//   pulls fail, and are asked for again where a read needs them); pulls are not hedged and are no
//   samples of the network estimate.
// - Hints (Arrow's ReadRangeCache): hinted ranges are merged across holes under the minimum request.
//   A hinted range is a run the reader has promised, with its end: the first part of every range is
//   requested at the hint (their first bytes overlap, as Arrow's pre-buffering makes them), and the
//   rest follows the reads in it as a confirmed run's window, `ahead` times what has been read of the
//   range, within `link` link bandwidth-delay products and never past the range's end. A hint far
//   larger than that gains nothing from being requested before the reader gets there, and a reader
//   that stops early (a few pages of a hinted column chunk) leaves little unread; `eager_hints`
//   requests whole ranges at the hint as Arrow's eager mode does. Reads inside them leave the cursors
//   alone.
//
// Memory: a hard budget per open file (`memory`) and one shared by the run's open files
// (`shared_memory`), both checked against the ENGINE's accounts of buffers held (this stack's account,
// a child of the run's: the fetcher's chunks, in flight or held), never a count of the policy's own,
// before every request. Speculative requests keep room for one more read and may only evict data done
// with (read and not recent, or left by a gone cursor); a demand request that does not fit evicts
// anything not needed by the read, cancels speculative requests, then asks the run's other files to
// give back what they hold, and waits for memory when that is not enough. Two exceptions: a read
// that alone needs more than a budget is requested anyway (the application asked for those bytes);
// and a read waits only while some request of the run is in flight, since only that (its end, or an
// eviction it allows) gives memory back and wakes it. With none in flight, what holds the memory is
// either waiting reads' own data or another layer: a cache above this one (`fsspec-mmap > auto`, or
// `fsspec-blockcache > auto` with the file's budget full) keeps the buffers it was given, and this
// layer is never told when it lets them go. The read is then requested over the budget by what it
// alone needs; without this, those stacks stopped with their reads outstanding.
//
// State per open file: the extents (a map by offset), at most `cursors` cursors (each with the pace of
// its last 64 reads, 1 KiB), the read in progress (one at a time), hinted ranges not yet requested,
// counters of stall and think time, random-looking reads and runs, the last stride the reader left.
// Per run: the network estimate, the open files, and per stream when its last read completed.
// Errors: a failed demand request fails the read waiting for it; a failed speculative request is
// dropped and its bytes are requested again when a read needs them.
// The layer keeps several requests in flight, so it must sit directly on the fetcher.
#pragma once

#include <boost/container/small_vector.hpp>
#include <boost/icl/split_interval_map.hpp>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <unordered_map>
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
  std::uint64_t max_request = 4 * kMiB;    // the largest part
  std::uint32_t cursors = 4;               // per stream
  std::uint32_t confirm = 2;               // reads in a cursor's pattern before it prefetches
  std::uint32_t ramp = 0;                  // Mountpoint's window (x ramp on each stall); 0: the Lindy bound
  std::uint32_t ahead = 16;                // a run keeps at most this many times what it has read requested
  std::uint32_t link = 8;                  // ... and at most this many link bandwidth-delay products (0: no bound)
  std::uint32_t reuse = 4;                 // data read within this many reads is not given up for prefetching
  std::uint32_t whole_after = 2;           // random-looking reads before the ski-rental whole fetch
  std::uint32_t hedge = 2;                 // latencies past the expected transfer before a request is hedged
  // Ingredients, for the ablation (each can be switched off).
  bool whole = true;         // whole-object fetch
  bool eager = true;         // ... from the first read, for an object cheap enough
  bool zero = false;         // a read at offset 0 starts a sequential run at once (Linux's index 0 rule)
  bool grow = true;          // the window grows with the run (false: one part)
  bool measure = true;       // sizes from the measured network (false: from the seeds)
  bool keep = true;          // in-flight data of a replaced cursor is kept (false: cancelled)
  bool retain = true;        // read data is kept for re-reads (false: dropped once read)
  bool hints = true;         // hinted ranges are runs the reader promised (their first part at the hint)
  bool eager_hints = false;  // ... fetched whole at the hint (Arrow's eager pre-buffering)
  bool gate = true;          // a whole-object fetch needs a latency-bound stream
  bool share = true;         // streams of one object share its data, whole fetch and prefetch windows
  bool stream = true;        // a long run on a link one request fills is one streaming GET
  bool pace = true;          // a window holds at most what the reader gets through while a part arrives
  bool probe = true;         // a first read that bets on the whole object asks for its own bytes only
  bool operator==(const AutoOptions&) const = default;
};

/// The `auto` entry.
PolicyEntry AutoEntry();

/// The network as one run's stacks have measured it (DuckDB's online cost model), shared by them.
class NetworkEstimate {
 public:
  static constexpr double kSeedLatencyS = 0.050;   // DuckDB's "remote" seed, until a first sample
  static constexpr double kSeedBandwidth = 100e6;  // bytes/s per request, likewise
  static constexpr double kPriorBandwidth = 1e9;   // one request's until measured; the fit's slope prior (Fit)
  static constexpr double kPriorBytes = 1 << 20;
  static constexpr double kForget = 0.1;          // a sample's weight fades by this per newer sample
  static constexpr double kSeedParallel = 16;     // the aggregate's seed: this many requests' bandwidth
  static constexpr double kMaxBandwidth = 100e9;  // estimates are kept within these
  static constexpr double kMinBandwidth = 1e6;
  static constexpr double kMinLatencyS = 10e-6;
  static constexpr std::uint64_t kLargeBytes = 1 << 20;  // a request this large measures the link
  // The latency tail is the slowest of the last kTailSamples first bytes (about the 98th percentile),
  // used once kTailMinSamples requests have completed (the slowest of 16 is about the 94th percentile;
  // of 8, the 89th, which on the GCS profiles cut sequential windows short).
  static constexpr std::size_t kTailSamples = 64;
  static constexpr std::size_t kTailMinSamples = 16;
  // The link's bandwidth is measured over the last kLinkSamples completions; a stretch of them whose
  // large requests took kFullSlowdown times as long as their bytes at one request's bandwidth had the
  // link full; until one has, windows carry kProbeGain times what was delivered.
  static constexpr std::size_t kLinkSamples = 64;
  static constexpr double kFullSlowdown = 1.25;
  static constexpr double kProbeGain = 2;
  // A timed request measures one request's bandwidth when it had the link to itself (on average no
  // more than kAloneConcurrency requests in flight over its life) and is at least kAloneBytes. Its
  // transfer shows a full link from kFullTransferS on (shorter ones can be a connection's round trips).
  static constexpr std::uint64_t kAloneBytes = 64 << 10;
  static constexpr double kAloneConcurrency = 1.05;
  static constexpr double kFullTransferS = 0.010;

  /// A request starts at `now`; returns how many are in flight with it.
  std::uint32_t Started(Nanos now) {
    Advance(now);
    return ++in_flight_;
  }
  /// A request ends (completed, failed or cancelled) at `now`.
  void Finished(Nanos now) {
    Advance(now);
    --in_flight_;
  }
  /// Requests in flight integrated over time up to `now` (request-seconds): between two readings, over
  /// the time between them, the average number of requests in flight.
  double Busy(Nanos now) const { return busy_ + in_flight_ * static_cast<double>(now - busy_at_) / 1e9; }
  /// A request of `bytes` asked for at `issued` whose last byte came at `completed`, with `concurrency`
  /// of the run's requests in flight on average over its life (itself included), and `timing` as the
  /// fetcher saw it (when it was sent and answered; unknown: its time is fitted, see Fit).
  void Sample(std::uint64_t bytes, Nanos issued, Nanos completed, double concurrency, ResponseTiming timing = {});
  /// The service's first byte: the median of the last kTailSamples (timed), or the fit's (untimed).
  double latency_s() const { return latency_s_; }
  /// Bytes/s one request gets alone on the link; once the link has been full, never more than it
  /// delivered (one request is never faster than the link).
  double bandwidth() const { return full_ ? std::min(bandwidth_, delivered_) : bandwidth_; }
  /// The link's bandwidth as delivered: the most bytes/s the run's completed requests brought over
  /// any stretch of the last kLinkSamples completions (the bytes of requests asked for and completed
  /// within it, over its length, from its earliest first byte where requests are timed). Bytes arrive
  /// only within their requests' lives, so this is never above the link. 0 until a first sample.
  double delivered() const { return delivered_; }
  /// Whether such a stretch had the link full: its requests that can show it (timed ones with a transfer
  /// of kFullTransferS or more, untimed large ones) took kFullSlowdown times as long as their bytes take
  /// at one request's bandwidth (they waited for their share of the link).
  bool link_full() const { return full_; }
  /// Bytes/s to size windows by: once the link has been full, what it delivered; until then it may
  /// carry more, and windows probe for it at twice what was delivered (as TCP's slow start and BBR's
  /// startup double what is in flight each round) or the seed's `kSeedParallel` requests, whichever
  /// is more. A probe, not an estimate: only delivered() is held to the link.
  double aggregate() const { return aggregate_; }
  std::uint32_t in_flight() const { return in_flight_; }
  std::uint64_t samples() const { return samples_; }
  /// Whether requests have told their first bytes (then bandwidth() is measured, not fitted).
  bool timed() const { return timed_; }
  /// Whether one request's bandwidth has been measured on a request alone on the link (timed).
  bool alone_measured() const { return !alone_rates_.empty(); }
  /// The slowest first byte of the last kTailSamples requests (measured where timed; else each request's
  /// time less its bytes at the fitted bandwidth): about the 98th percentile. Empty until
  /// kTailMinSamples requests completed.
  std::optional<double> tail_latency_s() const;

 private:
  // Exponentially weighted sums of 1, bytes, seconds, bytes^2 and bytes x seconds.
  double s0_ = 0, sn_ = 0, sd_ = 0, snn_ = 0, snd_ = 0;
  double latency_s_ = kSeedLatencyS;
  double bandwidth_ = kSeedBandwidth;
  double aggregate_ = kSeedBandwidth * kSeedParallel;
  double delivered_ = 0;
  bool full_ = false;
  bool timed_ = false;
  double shortest_first_byte_ = 1e9;  // s: the least of each request's time less its bytes at bandwidth_
  std::uint32_t in_flight_ = 0;
  std::uint64_t samples_ = 0;
  std::uint64_t fit_samples_ = 0;    // samples of requests that had the link to themselves
  std::vector<double> first_bytes_;  // a ring of the last kTailSamples first-byte times (s), in arrival order
  double tail_s_ = 0;                // the slowest of them
  // The last kLinkSamples completions (a ring), and what each measured: the best delivered rate of a
  // stretch ending at it, and whether that stretch had the link full.
  struct Completion {
    Nanos start = 0;  // its first byte (timed), or when it was asked for
    Nanos completed = 0;
    std::uint64_t bytes = 0;
    double transfer_s = 0;  // from its first byte (timed), or its time less the fitted latency
    double rate = 0;
    bool full = false;
    bool shows_full = false;  // its transfer can show a full link (MeasureLink)
  };
  std::vector<Completion> completions_;
  std::size_t newest_ = 0;  // the latest completion's place in the ring
  // `start`: when its bytes began to arrive (timed) or it was asked for (untimed).
  void MeasureLink(std::uint64_t bytes, Nanos start, Nanos completed, double transfer_s, bool timed);
  void Fit(double n, double d, double concurrency);  // untimed requests: latency and bandwidth fitted
  void AddFirstByte(double first_byte);
  std::vector<double> sorted_first_bytes_;  // first_bytes_, sorted (its median is the latency, timed)
  std::vector<double> alone_rates_;         // a ring: timed requests' rates that had the link to themselves
  std::uint64_t alone_samples_ = 0;
  double busy_ = 0;  // Busy() at busy_at_
  Nanos busy_at_ = 0;
  void Advance(Nanos now) {
    busy_ = Busy(now);
    busy_at_ = now;
  }
};

class AutoPrefetcher;

/// The run's auto stacks with one object open, in the order they were built.
struct ObjectStreams {
  std::vector<AutoPrefetcher*> members;
  /// Once several of them read it together (`share`): every member's extents, counted where they
  /// overlap, with every extent's borders kept (a split map), so that what none of them holds, or
  /// what the others hold, is one walk, not one per member; and the starts of their live cursors.
  boost::icl::split_interval_map<std::uint64_t, std::uint32_t> held;
  std::multiset<std::uint64_t> cursor_starts;
  bool counting = false;
};

/// What one run's auto stacks share: the network estimate, and each other, so that a file short of
/// memory can ask the others to give some back.
struct AutoRunState {
  NetworkEstimate network;
  /// The members (the run's auto stacks) that the shared work walks, each set keyed by the order its
  /// stacks were built (deterministic) and as large as what it holds, not as the run's open files (a
  /// replay of 20,000 objects keeps 20,000 stacks open): those waiting for memory (Notify wakes
  /// them), those holding or fetching data (a file short of the run's memory asks them to give it
  /// back), and by object, the streams that read one object together.
  std::map<std::uint64_t, AutoPrefetcher*> waiting_memory;
  std::map<std::uint64_t, AutoPrefetcher*> holding;
  std::unordered_map<std::string, ObjectStreams> by_object;
  std::uint64_t next_member = 0;
  /// Per stream (the reader): when its last read completed, whichever of its open files it read. The
  /// reader's own time before a read runs from there, so a stream that reads several files in turn
  /// (a database's tables, a shapefile's parts) is not taken to compute while it waits on another.
  /// -1 once a read has counted it.
  std::unordered_map<std::uint32_t, Nanos> reader_done;
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
  std::uint64_t hedges() const { return hedges_; }
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
    double busy = 0;                 // the run's NetworkEstimate::Busy() when it was issued
    double hedge_busy = 0;           // ... and when its hedge was
    ReadId hedge = 0;                // a second request for the same bytes, while in flight
    std::uint64_t hedge_serial = 0;  // nonzero once hedged
    Nanos hedge_issued = 0;
    bool read_from = false;  // some of it has been delivered (it is in read_by_use_)
  };
  struct Cursor {
    std::uint32_t id = 0;          // 0: unused slot
    std::uint64_t start = 0;       // where its run began
    std::uint64_t next = 0;        // end of the furthest read in sequence
    std::uint64_t last_begin = 0;  // the last read it took
    std::uint64_t last_len = 0;
    std::int64_t step = 0;  // begin-to-begin distance of its last two reads (the stride)
    bool strided = false;
    // Strided: where its first read began and how many reads continued the stride, so the stride
    // predicted is the mean one; and the largest distance of a read from where it was predicted.
    std::uint64_t stride_origin = 0;
    std::uint32_t strides = 0;
    std::uint64_t slip = 0;
    // The same stride seen in an earlier run of the reader (a time series at another place): its
    // mean and how many strides it rests on, which the prediction starts from.
    double prior_mean = 0;
    std::uint32_t prior = 0;
    bool dense = false;           // continued by a read starting within its length of the last
    std::uint32_t hits = 0;       // reads that continued it
    std::uint64_t window = 0;     // bytes to keep requested ahead
    std::uint64_t ahead_end = 0;  // sequential: requested up to here
    std::uint64_t planned = 0;    // strided: requested up to here (the end, or the start going back)
    bool has_planned = false;
    std::uint64_t last_use = 0;
    // The reader's pace in its run (`pace`): its latest reads, each as (bytes its position moved on,
    // the reader's own time before it), a ring of at most kPaceReads.
    std::vector<std::pair<std::uint64_t, Nanos>> pace;
    std::size_t pace_next = 0;
    double burst = 0;  // the most the position moved in one horizon of the reader's time; infinity: no pause
  };
  enum class Kind { kContinue, kStride, kNew, kCovered, kHinted };
  // The holes of a range (most reads have none or one: not worth a heap allocation each).
  using Gaps = boost::container::small_vector<ByteRange, 4>;

  // Estimates.
  double Latency() const;
  double Bandwidth() const;
  double Aggregate() const;
  double PerRequest() const;  // one request's bandwidth, for part sizes
  std::uint64_t Bdp() const;
  // Classifying a read and moving the cursors.
  Kind Classify(ByteRange range, Cursor** cursor);
  // The cursor's stride (the mean since its first read, from a remembered one when it has one), where
  // it puts the read `i` reads on, how far a read beginning at `begin` is from the next one, the step's
  // size, and how far from its place a read may begin and still continue the stride.
  static double MeanStride(const Cursor& c);
  static std::int64_t StrideAt(const Cursor& c, std::uint64_t i);
  static std::uint64_t StrideMiss(const Cursor& c, std::uint64_t begin);
  static std::uint64_t StepBytes(const Cursor& c);
  static std::uint64_t StrideSlack(const Cursor& c);
  Cursor& NewCursor(ByteRange range);
  Cursor* FindCursor(std::uint32_t id);
  std::uint64_t RunBytes(const Cursor& c) const;
  std::uint64_t LinkBound() const;
  double Horizon() const;
  // What the network estimate gives every read (the part, the minimum request, the link bound and the
  // horizon, above), kept until the estimate takes its next sample: reads ask for them several times
  // each, and the estimate changes nowhere else.
  struct Sizes {
    std::uint64_t samples = ~std::uint64_t{0};  // the estimate's samples() when computed
    std::uint64_t part = 0;
    std::uint64_t min_request = 0;
    std::uint64_t link_bound = 0;
    double horizon = 0;
  };
  mutable Sizes sizes_;
  const Sizes& sizes() const;
  void Pace(Cursor& c, std::uint64_t bytes, Nanos gap);
  std::uint64_t Need(const Cursor& c) const;
  std::uint64_t WindowCap(const Cursor& c) const;
  std::uint64_t Window(const Cursor& c) const;
  void EndRun(std::uint32_t id);
  bool Cheap(double factor) const;
  void StartWhole();
  void AbortWhole();
  void CancelExtent(Extent& extent);
  void SetWaitingMemory(bool waiting);  // and the run's set of those waiting
  // Moves an extent's last use on (and its place in by_use_; Issue gives a new extent its first).
  void Touch(std::uint64_t begin, Extent& extent, std::uint64_t stamp);
  std::map<std::uint64_t, Extent>::iterator EraseExtent(std::map<std::uint64_t, Extent>::iterator it);
  Nanos HedgeDue(std::uint64_t begin, const Extent& extent) const;
  void ArmHedge(std::uint64_t begin, const Extent& extent);
  void CheckHedge(ReadId read);
  void SendHedge(std::uint64_t begin);
  void ForgetAhead();
  bool OwnerLive(std::uint32_t owner) const;
  bool Covered(ByteRange range) const;
  bool InHint(ByteRange range) const;
  std::optional<ByteRange> HintHolding(ByteRange range) const;
  void HintWindow(ByteRange read);
  // Requests.
  Gaps Missing(ByteRange range) const;
  bool Fits(std::uint64_t bytes, std::uint64_t headroom) const;
  bool MakeRoom(std::uint64_t bytes, std::uint64_t headroom, bool demand);
  void Issue(ByteRange range, bool speculative, std::uint32_t owner);
  bool IssueSpeculative(ByteRange range, std::uint32_t owner);
  bool IssueDemand(bool exact = false);
  std::uint64_t PinnedBytes() const;
  void Prefetch(Cursor& cursor);
  void MaybeWhole(bool cheap_trigger);
  void FetchHinted();
  void OnFetched(std::uint64_t begin, std::uint64_t serial, Result<Slices>&& result);
  // Streams of the same object (`share`).
  std::span<AutoPrefetcher* const> SameObject() const;
  bool KeepSharedBet() const;
  bool PeerWhole() const;
  Gaps MissingShared(ByteRange range) const;
  Gaps MissingFromObject(ByteRange range) const;
  const Extent* PeerExtent(std::uint64_t pos, std::uint64_t* begin) const;
  std::uint64_t PeerBoundary(std::uint64_t from, std::uint64_t limit) const;
  void NotifyPeers();
  void WakeForPeer();
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
  Nanos* reader_done_;             // this stream's entry of state_->reader_done (its address is stable)
  std::uint64_t member_ = 0;       // its key in state_'s sets: the order the run's stacks were built
  ObjectStreams* same_ = nullptr;  // its object's entry in state_ (none without an object name)
  void Count(std::uint64_t begin, std::uint64_t end, bool add);  // in same_->held, while counting
  void CountCursor(std::uint64_t start, bool add);               // in same_->cursor_starts, likewise
  bool Holds(std::uint64_t pos) const;                           // an extent of this stack covers pos
  std::uint32_t PeersHolding(std::uint64_t pos) const;           // the other streams' extents at pos

  std::map<std::uint64_t, Extent> extents_;
  // The extents as (last_use, begin): the order eviction offers them in, kept so that an eviction
  // visits the least recently used first instead of sorting every extent (a read's cost when the
  // budget is full). Changed only through Touch and EraseExtent.
  std::map<std::pair<std::uint64_t, std::uint64_t>, Extent*> by_use_;
  // The same for the extents read from, and per owner the speculative extents not read from yet: a
  // prefetch may only evict data read and not recent, or left unread by a gone owner, and when no gone
  // owner left any, its walk goes through the data read alone (a window's unread parts, up to the
  // whole budget, are never its candidates). Same order, so the same extents are evicted.
  std::map<std::pair<std::uint64_t, std::uint64_t>, Extent*> read_by_use_;
  std::map<std::uint32_t, std::uint32_t> unread_speculative_;
  void CountUnread(const Extent& extent, int delta);
  bool UnreadOrphans() const;  // a speculative extent not read from whose owner is gone
  std::uint64_t next_serial_ = 1;
  // A sequential run read as one streaming GET (`stream`): its parts are pulls of the stream, in order,
  // one at a time. Pull ids carry kPullTag so that they are told from the fetcher's read ids.
  static constexpr ReadId kPullTag = ReadId{1} << 63;
  static constexpr std::uint64_t kStreamAfter = 8 * kMiB;  // above Linux's 6 MiB socket buffer maximum
  struct Pull {
    ReadId id = 0;
    ByteRange range;
    ReadCallback done;
  };
  struct RunStream {
    StreamId id = 0;          // 0: none open
    std::uint32_t owner = 0;  // the cursor it reads for (0 once that cursor is gone)
    std::uint64_t next = 0;   // where the next pull begins
    std::deque<Pull> pulls;   // the first is being pulled
  };
  RunStream stream_;
  ReadId next_pull_ = 1;
  bool Streams(const Cursor& c, ByteRange piece) const;
  ReadId FetchStreamed(ByteRange range, std::uint32_t owner, ReadCallback done);
  void StartPull();
  void CloseRunStream();
  void CancelLower(ReadId id);
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
  bool shared_object_ = false;  // another stream of the run has this object open too
  ByteRange first_read_;
  bool waiting_peer_ = false;  // the read in progress waits for another stream's request
  bool peer_wake_posted_ = false;
  std::uint32_t last_cursor_ = 0;  // the cursor of the previous read
  // The stride of the last strided run the reader left (mean, slip, strides it rests on).
  struct KnownStride {
    double mean = 0;
    std::uint64_t slip = 0;
    std::uint32_t strides = 0;
  };
  KnownStride known_stride_;
  double run_avg_ = 0;  // mean length of the runs the reader left
  std::uint64_t runs_ = 0;

  // Counters.
  std::uint64_t stamp_ = 0;  // reads so far
  std::uint64_t random_reads_ = 0;
  Nanos stall_ = 0;  // time reads waited
  Nanos think_ = 0;  // the reader's own time before this file's reads (from its last read of any file)

  // The read in progress (one at a time).
  ReadId next_id_ = 1;
  ReadId pending_id_ = 0;
  ByteRange pending_;
  ReadCallback pending_done_;
  Nanos pending_started_ = 0;
  std::uint32_t pending_cursor_ = 0;
  bool pending_waited_ = false;
  bool waiting_memory_ = false;  // changed only through SetWaitingMemory
  bool wake_posted_ = false;
  TimerId hedge_timer_ = 0;
  std::uint64_t hedges_ = 0;
  std::optional<Error> pending_error_;
};

}  // namespace pflab::policies
