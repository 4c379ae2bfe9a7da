#include "policies/auto_prefetcher.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <limits>
#include <utility>
#ifdef PFLAB_AUTO_DEBUG
#include <cstdio>
#include <cstdlib>
#endif

namespace pflab::policies {
namespace {

constexpr std::uint64_t kMinRequestFloor = 64 * kKiB;
constexpr std::uint64_t kMinRequestCeiling = 1 * kMiB;
constexpr double kRunWeight = 0.25;  // weight of the latest run in the average run length
constexpr std::uint64_t kPartFloor = 1 * kMiB;
constexpr std::uint64_t kPageBytes = 4 * kKiB;
constexpr std::size_t kPaceReads = 64;  // the reads of a run its pace is measured over
// Owners of speculative extents that are not cursors.
constexpr std::uint32_t kWholeOwner = std::numeric_limits<std::uint32_t>::max();
constexpr std::uint32_t kHintOwner = kWholeOwner - 1;

double Seconds(Nanos n) {
  return static_cast<double>(n) / 1e9;
}

std::uint64_t RoundUp(std::uint64_t value, std::uint64_t unit) {
  return (value + unit - 1) / unit * unit;
}

}  // namespace

PolicyEntry AutoEntry() {
  using O = AutoOptions;
  return EntryBuilder<O>("auto",
                         "ours (policies/auto_prefetcher.h): Linux readahead's streams, Mountpoint's window, DuckDB's "
                         "measured latency x bandwidth, fsspec AllBytes, a block cache's retention, Arrow's hints, "
                         "hedged requests, gcsfuse's streaming reads",
                         "cursors per stream (sequential, strided) prefetching a window bounded by what the run has "
                         "read, sizes from the measured bandwidth-delay product, small or randomly read objects "
                         "fetched whole, read data kept, hinted ranges read as promised runs, slow requests hedged, "
                         "long runs on a link one request fills read as one stream; hard memory budgets per file and "
                         "per run on the engine's accounts; must sit on the fetcher")
      .Place(Placement::kOnFetcher)
      .Size("memory", &O::memory, "budget per open file: held plus in-flight bytes (the engine's account)",
            AtLeast(kMiB))
      .Size("shared_memory", &O::shared_memory, "budget of all open files of a run together", AtLeast(kMiB))
      .Size("max_request", &O::max_request, "largest request", AtLeast(kPartFloor))
      .Uint("cursors", &O::cursors, "cursors per stream", Between(1, 64))
      .Uint("confirm", &O::confirm, "reads in a cursor's pattern before it prefetches (1: from the first read)",
            Between(1, 64))
      .Uint("ramp", &O::ramp, "Mountpoint's window: x this on each stall, within the `ahead` bound (0: the bound)",
            Between(0, 64))
      .Uint("whole_after", &O::whole_after, "random-looking reads before a whole-object fetch may be bought",
            Between(0, 1u << 20))
      .Uint("ahead", &O::ahead,
            "a run keeps requested ahead at most this many times what it has read (after runs the reader "
            "left: the rest of their average length)",
            Between(1, 1024))
      .Uint("link", &O::link,
            "a cursor keeps at most this many link bandwidth-delay products requested ahead, and after 16 "
            "requests at most the link's bandwidth over the slowest recent first byte and a part (0: no such "
            "bound)",
            Between(0, 1024))
      .Uint("reuse", &O::reuse, "read data used within this many reads is not evicted for prefetching",
            Between(0, 1u << 20))
      .Uint("hedge", &O::hedge,
            "a request a read waits for is sent again once it has taken this many latencies "
            "more than its transfer (0: never)",
            Between(0, 1000))
      .Bool("whole", &O::whole, "whole-object fetch of small randomly read objects")
      .Bool("zero", &O::zero, "a read at offset 0 starts a sequential run at once (Linux readahead's index 0 rule)")
      .Bool("eager", &O::eager,
            "a small object is fetched whole from its first read, aborted if the first request "
            "shows the network too slow for it")
      .Bool("grow", &O::grow, "the window grows with the run (false: one part)")
      .Bool("measure", &O::measure, "sizes from the measured latency and bandwidth (false: the seeds)")
      .Bool("keep", &O::keep, "in-flight data of a replaced cursor is kept (false: cancelled)")
      .Bool("retain", &O::retain, "read data is kept for re-reads (false: dropped once read)")
      .Bool("hints", &O::hints,
            "hinted ranges are runs the reader promised: the first part of each at the hint, the rest as "
            "the reads in it arrive (false: hints ignored)")
      .Bool("eager_hints", &O::eager_hints,
            "hinted ranges are fetched whole at the hint, as Arrow's eager pre-buffering (false: the first "
            "part, then a window that follows the reads)")
      .Bool("gate", &O::gate, "a whole-object fetch needs a stream that waited at least as long as it computed")
      .Bool("pace", &O::pace,
            "a cursor's window is at most twice what its reader gets through, at its fastest pace, while a "
            "part is on its way (false: no such bound)")
      .Bool("probe", &O::probe,
            "a first read that bets on the whole object asks for its own bytes only, so that the first "
            "response, which decides the bet, comes early (false: rounded up to the minimum request)")
      .Bool("stream", &O::stream,
            "a long sequential run on a link one request fills is read as one streaming GET, its parts pulls "
            "of it in order (false: parts in parallel)")
      .Bool("share", &O::share,
            "streams of one object share its data and one whole fetch, and stop their windows where another "
            "stream reads or fetches")
      .Check([](O& o) -> Status {
        if (o.memory > o.shared_memory) {
          return InvalidArgument("auto: memory (" + FormatSize(o.memory) + ") exceeds shared_memory (" +
                                 FormatSize(o.shared_memory) + ")");
        }
        return OkStatus();
      })
      .Build([](const StackEnv& env, Source* lower, const O& o) -> std::unique_ptr<Source> {
        return std::make_unique<AutoPrefetcher>(env.ctx, lower, o, env.account, env.run,
                                                env.object.bucket + "/" + env.object.name);
      })
      .Done();
}

// ---- network estimate ----

// Without the requests' timing: duration = latency + bytes x time-per-byte, fitted by least squares
// over exponentially weighted samples (weight 1 - kForget per newer sample), with a prior on the slope
// (kPriorBandwidth, weighted as one sample of kPriorBytes): requests of many sizes determine both;
// requests all of one size (a read size) leave the slope near the prior and put the rest in the
// latency. The prior is optimistic on purpose: a request's time is then mostly called latency, which
// for the sizes reads ask for is what it is. A request that shared a full link (more in flight than the
// link carries at one request's bandwidth) took longer for waiting its turn, not for a slower first
// byte or a slower request: it measures the link, not the latency and bandwidth of one request, which
// it would inflate by the queue (at 1 ms and 10 GB/s with 20 parts in flight, a 5 ms "latency").
void NetworkEstimate::Fit(double n, double d, double concurrency) {
  const bool shared = concurrency * bandwidth_ > aggregate_;
  if (shared && fit_samples_ > 0) return;
  ++fit_samples_;
  const double keep = 1 - kForget;
  s0_ = s0_ * keep + 1;
  sn_ = sn_ * keep + n;
  sd_ = sd_ * keep + d;
  snn_ = snn_ * keep + n * n;
  snd_ = snd_ * keep + n * d;
  // Normal equations: s0 L + sn t = sd;  sn L + (snn + P) t = snd + P t0, with P = kPriorBytes^2.
  const double prior = kPriorBytes * kPriorBytes;
  const double t0 = 1.0 / kPriorBandwidth;
  const double det = s0_ * (snn_ + prior) - sn_ * sn_;
  double per_byte = (s0_ * (snd_ + prior * t0) - sn_ * sd_) / det;
  per_byte = std::clamp(per_byte, 1.0 / kMaxBandwidth, 1.0 / kMinBandwidth);
  latency_s_ = std::max(kMinLatencyS, (sd_ - sn_ * per_byte) / s0_);
  bandwidth_ = 1.0 / per_byte;
}

void NetworkEstimate::AddFirstByte(double first_byte) {
  if (first_bytes_.size() == kTailSamples) {  // the oldest leaves the sorted copy
    const double oldest = first_bytes_[samples_ % kTailSamples];
    sorted_first_bytes_.erase(std::lower_bound(sorted_first_bytes_.begin(), sorted_first_bytes_.end(), oldest));
    first_bytes_[samples_ % kTailSamples] = first_byte;
  } else {
    first_bytes_.push_back(first_byte);
  }
  sorted_first_bytes_.insert(std::upper_bound(sorted_first_bytes_.begin(), sorted_first_bytes_.end(), first_byte),
                             first_byte);
  tail_s_ = sorted_first_bytes_.back();
}

void NetworkEstimate::Sample(std::uint64_t bytes, Nanos issued, Nanos completed, double concurrency,
                             ResponseTiming timing) {
  const double d = Seconds(completed - issued);
  const double n = static_cast<double>(bytes);
  if (timing.first_byte >= issued && timing.first_byte <= completed) {
    // Timed: the service's first byte (after the request went out on a connection: a wait for one is
    // the client's queue, not the network's latency), and the transfer after it, each measured, not
    // fitted. The latency is their median (lognormal first bytes have a long tail); one request's
    // bandwidth is the fastest transfer of a request of some size that had the link to itself.
    const Nanos sent = timing.sent >= issued && timing.sent <= timing.first_byte ? timing.sent : issued;
    timed_ = true;
    const double transfer = Seconds(completed - timing.first_byte);
    if (bytes >= kAloneBytes && concurrency <= kAloneConcurrency && transfer > 0) {
      if (alone_rates_.size() < kLinkSamples) {
        alone_rates_.push_back(n / transfer);
      } else {
        alone_rates_[alone_samples_ % kLinkSamples] = n / transfer;
      }
      ++alone_samples_;
      bandwidth_ =
          std::clamp(*std::max_element(alone_rates_.begin(), alone_rates_.end()), kMinBandwidth, kMaxBandwidth);
    } else if (alone_rates_.empty()) {
      bandwidth_ = kPriorBandwidth;
    }
    AddFirstByte(Seconds(timing.first_byte - sent));
    ++samples_;
    latency_s_ = std::max(kMinLatencyS, sorted_first_bytes_[sorted_first_bytes_.size() / 2]);
    MeasureLink(bytes, timing.first_byte, completed, transfer, /*timed=*/true);
    return;
  }
  Fit(n, d, concurrency);
  // This request's first byte: its time less its transfer, at one request's bandwidth or, sharing a
  // full link, at its share of the link.
  const double transfer_per_byte = std::max(1.0 / bandwidth_, concurrency / aggregate_);
  AddFirstByte(std::max(kMinLatencyS, d - n * transfer_per_byte));
  ++samples_;
  MeasureLink(bytes, issued, completed, std::max(0.0, d - latency_s_), /*timed=*/false);
}

// The link's bandwidth from the bytes it delivered. A request's bytes all arrive between its first byte
// (its being asked for, untimed) and its completion, so the requests of any set together brought their
// bytes within [the earliest such start, the latest completed], and their bytes over that time are never more than
// the link carries (the time a request spent waiting for its first byte only makes the measure
// smaller). The sets measured are the last k completions for every k up to kLinkSamples (a stretch
// long enough to hold many requests makes the first bytes a small part of its time), the best of
// them is this completion's measure, and the estimate is the best of the last kLinkSamples measures.
// (Before, the link was one request's bandwidth times the requests in flight over its life: requests
// still waiting for their first byte counted as sharing the link, and one request's rate changes as
// others come and go, so that product went above the link, 12.6 GB/s on a 10 GB/s one.)
void NetworkEstimate::MeasureLink(std::uint64_t bytes, Nanos start, Nanos completed, double transfer_s, bool timed) {
  // A timed request's transfer shows a full link at any size, once it is long enough not to be a
  // protocol's round trips (a new connection's slow start); an untimed one only as a large request.
  Completion c{
      start, completed, bytes, transfer_s, 0, false, timed ? transfer_s >= kFullTransferS : bytes >= kLargeBytes};
  if (completions_.size() < kLinkSamples) {
    completions_.push_back(c);
    newest_ = completions_.size() - 1;
  } else {
    newest_ = (newest_ + 1) % kLinkSamples;
    completions_[newest_] = c;
  }
  // No request's bytes start before its first byte. A timed request's stretch starts there; for untimed
  // ones the shortest first byte seen (a request's time less its bytes at one request's bandwidth, the
  // least of them over the run, when some request had the link to itself) is taken off each stretch.
  double first_byte = 0;
  if (!timed) {
    shortest_first_byte_ = std::min(
        shortest_first_byte_, std::max(0.0, Seconds(completed - start) - static_cast<double>(bytes) / bandwidth_));
    first_byte = shortest_first_byte_;
  }
  // Slower than one request's bandwidth means sharing the link. Timed, until a request has had the link
  // to itself, that bandwidth is not known, and the prior (1 GB/s) would call every request of a
  // slower service (100 MB/s cross-region) a share of a full link: then the seed's 100 MB/s, the
  // least that one request is taken to get (DuckDB's seed for remote files).
  const double full_reference = timed && alone_rates_.empty() ? std::min(bandwidth_, kSeedBandwidth) : bandwidth_;
  Nanos earliest = completed;
  double sum = 0;
  double large_bytes = 0;
  double large_transfer_s = 0;
  Completion& now = completions_[newest_];
  const std::size_t n = completions_.size();
  for (std::size_t k = 0, at = newest_; k < n; ++k, at = at == 0 ? n - 1 : at - 1) {  // newest first
    const Completion& m = completions_[at];
    earliest = std::min(earliest, m.start);
    sum += static_cast<double>(m.bytes);
    if (m.shows_full) {
      large_bytes += static_cast<double>(m.bytes);
      large_transfer_s += m.transfer_s;
    }
    const double span = Seconds(completed - earliest) - first_byte;
    if (span <= 0) continue;
    const double rate = sum / span;
    if (rate > now.rate) {
      now.rate = rate;
      // The stretch's requests that can show it (above) took at least kFullSlowdown times as long as
      // their bytes at one request's bandwidth: they shared a full link.
      now.full = large_bytes > 0 && large_transfer_s >= kFullSlowdown * large_bytes / full_reference;
    }
  }
  delivered_ = 0;
  full_ = false;
  for (const Completion& m : completions_) {
    delivered_ = std::max(delivered_, m.rate);
    full_ = full_ || m.full;
  }
  delivered_ = std::min(delivered_, kMaxBandwidth);
  aggregate_ = full_ ? delivered_ : std::max(kSeedBandwidth * kSeedParallel, kProbeGain * delivered_);
  aggregate_ = std::clamp(aggregate_, kMinBandwidth, kMaxBandwidth);
}

std::optional<double> NetworkEstimate::tail_latency_s() const {
  if (samples_ < kTailMinSamples) return std::nullopt;
  return tail_s_;
}

// ---- run state ----

void AutoRunState::Notify() {
  for (const auto& [key, member] : waiting_memory) member->WakeIfWaiting();
}

// ---- the layer ----

AutoPrefetcher::AutoPrefetcher(LayerContext ctx, Source* lower, AutoOptions options, MemoryAccount* file_account,
                               RunShared* run, std::string object)
    : PolicyLayer(ctx, lower), options_(options), file_account_(file_account), run_(run), object_(std::move(object)) {
  if (!file_account_) {
    // Nothing is charged to this one: without the fetcher's account the budgets cannot be measured.
    own_account_ = std::make_unique<MemoryAccount>();
    file_account_ = own_account_.get();
  }
  if (!run_) {
    own_run_ = std::make_unique<RunShared>(file_account_);
    run_ = own_run_.get();
  }
  state_ = &run_->Get<AutoRunState>();
  reader_done_ = &state_->reader_done.try_emplace(ctx_.stream, -1).first->second;
  // Streams that have the same object open read it together (as Parquet's column readers do). With
  // `share` they read from each other's data, so one whole fetch serves them all; without it, fetching
  // it whole for each would fetch it once per stream, so none of them does.
  member_ = state_->next_member++;
  if (!object_.empty()) {
    same_ = &state_->by_object[object_];  // a node: stays where it is while the map grows
    for (AutoPrefetcher* other : same_->members) {
      shared_object_ = true;
      if (!other->shared_object_) {
        other->shared_object_ = true;
        if (other->whole_tentative_ && (!options_.share || !other->KeepSharedBet())) other->AbortWhole();
      }
    }
    same_->members.push_back(this);
    if (shared_object_ && options_.share && !same_->counting) {
      same_->counting = true;
      for (const AutoPrefetcher* member : same_->members) {
        for (const auto& [begin, extent] : member->extents_) Count(begin, extent.end, true);
        for (const Cursor& cursor : member->cursors_) {
          if (cursor.id) CountCursor(cursor.start, true);
        }
      }
    }
  }
  cursors_.resize(options_.cursors);
}

AutoPrefetcher::~AutoPrefetcher() {
#ifdef PFLAB_AUTO_DEBUG
  if (getenv("AUTO_DEBUG"))
    fprintf(stderr,
            "end: L=%.1fms B=%.0fMB/s samples=%llu part=%.2fMiB m=%.0fKiB random=%llu whole=%d stall=%.3f think=%.3f\n",
            Latency() * 1e3, Bandwidth() / 1e6, (unsigned long long)state_->network.samples(), part_size() / 1048576.0,
            min_request() / 1024.0, (unsigned long long)random_reads_, (int)whole_started_, stall_ / 1e9, think_ / 1e9);
#endif
  *alive_ = false;
  state_->waiting_memory.erase(member_);
  state_->holding.erase(member_);
  if (same_) {
    for (const auto& [begin, extent] : extents_) Count(begin, extent.end, false);
    for (const Cursor& cursor : cursors_) {
      if (cursor.id) CountCursor(cursor.start, false);
    }
    std::erase(same_->members, this);
    if (same_->members.empty()) {
      state_->by_object.erase(object_);
      same_ = nullptr;
    }
  }
  for (auto& [begin, extent] : extents_) {
    for (ReadId id : {extent.lower, extent.hedge}) {
      if (!id) continue;
      if (!(id & kPullTag)) lower_->Cancel(id);
      state_->network.Finished(ctx_.scheduler->Now());
    }
  }
  if (stream_.id) lower_->CloseStream(stream_.id);
  for (; cancelled_pending_ > 0; --cancelled_pending_) state_->network.Finished(ctx_.scheduler->Now());
  // Streams waiting for this one's requests ask for the bytes themselves.
  NotifyPeers();
}

double AutoPrefetcher::Latency() const {
  return options_.measure ? state_->network.latency_s() : NetworkEstimate::kSeedLatencyS;
}

double AutoPrefetcher::Bandwidth() const {
  return options_.measure ? state_->network.bandwidth() : NetworkEstimate::kSeedBandwidth;
}

std::uint64_t AutoPrefetcher::Bdp() const {
  return static_cast<std::uint64_t>(Latency() * Bandwidth());
}

// One request's bandwidth, to size parts by. Measured from timed requests it is a request's alone on
// the link, which sharing never lowers; fitted from whole times (untimed) it falls as requests share a
// full link, so it is then no less than the link's share of `kSeedParallel` requests (parts in flight
// together would otherwise shrink each other). The share's floor held on slow links too while the
// link was a probe (1.6 GB/s until seen full): parts of 4 MiB, nearly five times two bandwidth-delay
// products at 12.5 MB/s, one at a time in a window the link bounds to less than that.
double AutoPrefetcher::PerRequest() const {
  if (!options_.measure || state_->network.timed()) return Bandwidth();
  return std::max(Bandwidth(), Aggregate() / NetworkEstimate::kSeedParallel);
}

std::uint64_t AutoPrefetcher::part_size() const {
  return sizes().part;
}
std::uint64_t AutoPrefetcher::min_request() const {
  return sizes().min_request;
}
std::uint64_t AutoPrefetcher::LinkBound() const {
  return sizes().link_bound;
}
double AutoPrefetcher::Horizon() const {
  return sizes().horizon;
}

const AutoPrefetcher::Sizes& AutoPrefetcher::sizes() const {
  const std::uint64_t samples = state_->network.samples();
  if (sizes_.samples == samples) return sizes_;
  sizes_.samples = samples;
  const double per_request = PerRequest();
  // A part's transfer takes about twice its first byte, so at most a third of its time is latency.
  const auto bdp = static_cast<std::uint64_t>(Latency() * per_request);
  sizes_.part = std::clamp(2 * bdp, kPartFloor, std::max(kPartFloor, options_.max_request));
  sizes_.min_request = std::clamp(RoundUp(Bdp() / 16, kPageBytes), kMinRequestFloor, kMinRequestCeiling);
  const double part_s = static_cast<double>(sizes_.part) / per_request;
  const std::optional<double> tail = options_.measure ? state_->network.tail_latency_s() : std::nullopt;
  // The link bound: what a window must hold to keep the link busy, the link's bandwidth for as long as
  // a part takes to arrive when its first byte is slow (the slowest of the recent first bytes, about
  // the 98th percentile, plus the part's transfer). Requested bytes beyond it cannot arrive sooner,
  // and the waste where a run stops is at most this. Until 16 first bytes are measured to know the
  // tail, `link` median first bytes (8 cover a tail up to 8 times the median), and never more than
  // that. On a network with a heavy tail (GCS: 99th percentile 4-6 times the median) this is the same
  // bound; on one with none (a local server) it is a few bandwidth-delay products instead of 8; until
  // the link has been seen full, the bandwidth it is sized by is a probe at twice what the link
  // delivered, so windows still grow until it is (NetworkEstimate::aggregate). `link` first bytes
  // already hold more than a part's round trip (three first bytes), so windows grow by that factor
  // until the tail is known, over what the link delivered, not over the probe.
  const double delivered = options_.measure ? state_->network.delivered() : 0;
  const double median_bound = options_.link * (delivered > 0 ? delivered : Aggregate()) * Latency();
  sizes_.link_bound =
      static_cast<std::uint64_t>(tail ? std::min(median_bound, Aggregate() * (*tail + part_s)) : median_bound);
  // The horizon: how long a part takes to arrive when its first byte is slow, the slowest recent first
  // byte (until 16 are measured, 8 median ones, as the link bound) plus the part's transfer.
  sizes_.horizon = tail.value_or(8 * Latency()) + part_s;
  return sizes_;
}

double AutoPrefetcher::Aggregate() const {
  return options_.measure ? state_->network.aggregate()
                          : NetworkEstimate::kSeedBandwidth * NetworkEstimate::kSeedParallel;
}

std::size_t AutoPrefetcher::live_cursors() const {
  return static_cast<std::size_t>(
      std::count_if(cursors_.begin(), cursors_.end(), [](const Cursor& c) { return c.id; }));
}

AutoPrefetcher::Cursor* AutoPrefetcher::FindCursor(std::uint32_t id) {
  if (id == 0) return nullptr;
  for (Cursor& c : cursors_) {
    if (c.id == id) return &c;
  }
  return nullptr;
}

bool AutoPrefetcher::OwnerLive(std::uint32_t owner) const {
  if (owner == kWholeOwner || owner == kHintOwner) return true;
  for (const Cursor& c : cursors_) {
    if (c.id == owner && owner != 0) return true;
  }
  return false;
}

std::uint64_t AutoPrefetcher::RunBytes(const Cursor& c) const {
  if (c.strided) return (c.hits + 1) * c.last_len;
  return c.next > c.start ? c.next - c.start : 0;
}

// How far ahead a cursor may ask. With no runs before it: `ahead` times what its run has read (a run
// that has read X bytes is about as likely to go on for X more as to stop, so this bounds the waste at
// its end to `ahead` times its length). After runs the reader left, their average length predicts this
// one: the rest of it, and once past it, `ahead` times what it went beyond. Never more than `link`
// times the link's bandwidth-delay product (more cannot arrive sooner; until the link has been full
// its bandwidth is what it delivered, so a window of several of them still grows until it is). At
// least one part; within the memory budget.
std::uint64_t AutoPrefetcher::WindowCap(const Cursor& c) const {
  const std::uint64_t run = RunBytes(c);
  std::uint64_t cap = run * options_.ahead;
  bool predicted = false;  // the runs before it say where this one ends
  if (runs_ > 0) {
    const std::uint64_t avg = static_cast<std::uint64_t>(run_avg_);
    predicted = run <= avg;
    cap = predicted ? avg - run : (run - avg) * options_.ahead;
  }
  // Bytes in flight beyond what the link moves while a part is on its way cannot arrive sooner.
  if (options_.link > 0) cap = std::min(cap, LinkBound());
  // Nor more than the reader gets through while a part is on its way (a reader that pauses between
  // its reads needs less than one that does not); then the floor is that, not a whole part. Nor a
  // whole part where the runs before say this one ends sooner.
  const std::uint64_t need = Need(c);
  cap = std::min(cap, need);
  cap = std::max(cap, std::min(predicted ? min_request() : part_size(), std::max(need, min_request())));
  const std::uint64_t headroom = std::max(pending_.size(), min_request());
  const std::uint64_t budget = std::min(options_.memory, options_.shared_memory);
  return std::min(cap, budget > 2 * headroom ? budget - 2 * headroom : part_size());
}

// A read moved the cursor's position on by `bytes`, after the reader's own `gap` since the read before
// (its time between reads, waits for data left out). The cursor's burst is the most its position has
// moved in one horizon of the reader's time, over the last kPaceReads reads: the bytes a window must
// hold so that the reader, going at its fastest, finds them arrived. Fewer reads than a horizon's
// worth are scaled up to one, and a reader that never pauses has no bound (infinity): a run read
// back to back, as fast as the network delivers it, is bounded by the link and `ahead` alone. The
// burst only grows: a bursty reader (128 KiB every 0.35 ms, then a pause of 8 ms) is held to its bursts,
// not to its average. It is measured from two pauses on, as Need() uses it: a reader that reads each
// record in two calls (htslib: a BGZF block's first 4 KiB, then its rest) pauses for microseconds
// between them, and that one pause scaled up to a horizon would hold the window at a burst the
// reader never has for the rest of its run.
void AutoPrefetcher::Pace(Cursor& c, std::uint64_t bytes, Nanos gap) {
  if (!options_.pace) return;
  if (c.pace.size() < kPaceReads) {
    c.pace.push_back({bytes, gap});
  } else {
    c.pace[c.pace_next] = {bytes, gap};
  }
  c.pace_next = (c.pace_next + 1) % kPaceReads;
  // The burst only grows: once unbounded (a reader that never paused), nothing changes it.
  if (c.pace.size() < 2 || std::isinf(c.burst)) return;
  const double horizon = Horizon();
  double read = 0;
  double think = 0;
  bool covered = false;
  for (std::size_t i = 0; i < c.pace.size(); ++i) {
    const std::size_t k = (c.pace_next + kPaceReads - 1 - i) % kPaceReads;
    if (k >= c.pace.size()) break;
    read += static_cast<double>(c.pace[k].first);
    think += Seconds(c.pace[k].second);
    if (think >= horizon) {
      covered = true;
      break;
    }
  }
  double burst = read;
  if (!covered) burst = think > 0 ? read * horizon / think : std::numeric_limits<double>::infinity();
  c.burst = std::max(c.burst, burst);
}

// The window a cursor's reader needs: twice its burst, since a window is topped up once half of it is
// left ahead. Measured from two pauses on (the cursor's third read); until then, no bound.
std::uint64_t AutoPrefetcher::Need(const Cursor& c) const {
  if (!options_.pace || c.pace.size() < 2 || !std::isfinite(c.burst)) return std::numeric_limits<std::uint64_t>::max();
  const double need = 2 * c.burst;
  if (need >= static_cast<double>(std::numeric_limits<std::uint64_t>::max() / 2)) {
    return std::numeric_limits<std::uint64_t>::max();
  }
  return RoundUp(static_cast<std::uint64_t>(need), kPageBytes);
}

// The window a cursor keeps requested ahead: its cap (which grows with the run), or with `ramp`, a
// window that starts at one part and is multiplied by `ramp` on each stall (Mountpoint), within the
// cap; without `grow`, one part.
std::uint64_t AutoPrefetcher::Window(const Cursor& c) const {
  if (!options_.grow) return part_size();
  if (options_.ramp == 0) return WindowCap(c);
  return std::min(c.window, WindowCap(c));
}

// The reader left the cursor `id`: its run (if it was one) joins the average run length.
void AutoPrefetcher::EndRun(std::uint32_t id) {
  const Cursor* c = FindCursor(id);
  if (!c || c->hits == 0) return;
  if (c->strided && c->strides >= 2) {
    // The mean to the byte, as the run's predictions placed its reads.
    known_stride_ = {static_cast<double>(std::llround(MeanStride(*c))), c->slip, c->prior + c->strides};
  }
  const double run = static_cast<double>(RunBytes(*c));
  ++runs_;
  run_avg_ += std::max(kRunWeight, 1.0 / static_cast<double>(runs_)) * (run - run_avg_);
}

// Whether the whole object arrives within `factor` first-byte latencies at the aggregate bandwidth.
bool AutoPrefetcher::Cheap(double factor) const {
  if (shared_object_ && (!options_.share || PeerWhole())) return false;
  const std::uint64_t size = lower_->size();
  const std::uint64_t headroom = min_request();
  if (size + headroom > options_.memory || size + headroom > options_.shared_memory) return false;
  return static_cast<double>(size) / Aggregate() <= factor * Latency();
}

// ---- reads ----

ReadId AutoPrefetcher::Read(ByteRange range, ReadCallback done) {
  const ReadId id = next_id_++;
  if (!ClampToObject(range, done)) return id;
  const Nanos now = ctx_.scheduler->Now();
  Nanos gap = 0;
  if (*reader_done_ >= 0) {
    gap = now - *reader_done_;
    *reader_done_ = -1;  // counted
  }
  think_ += gap;
  ++stamp_;
  pending_id_ = id;
  pending_ = range;
  pending_done_ = std::move(done);
  pending_started_ = now;
  pending_waited_ = false;
  pending_error_.reset();
  pending_cursor_ = 0;
  SetWaitingMemory(false);
  waiting_peer_ = false;

  Cursor* cursor = nullptr;
  const Kind kind = Classify(range, &cursor);
  bool confirmed_now = false;
  bool new_cursor = false;
  switch (kind) {
    case Kind::kContinue:
    case Kind::kStride: {
      const bool was_confirmed = cursor->hits + 1 >= options_.confirm;
      if (kind == Kind::kStride) {
        cursor->slip = std::max(cursor->slip, StrideMiss(*cursor, range.begin));
        cursor->strided = true;
        ++cursor->strides;
        ++cursor->hits;
        // Reads a part or more apart are, for the ski rental, accesses of their own (HDU headers of a
        // FITS file, a variable's records): what they cost is the stall they pay.
        if (StepBytes(*cursor) >= part_size()) ++random_reads_;
      } else if (range.end > cursor->next) {
        if (range.begin > cursor->next + part_size()) {
          // A seek forward into what the cursor asked for: it keeps its data, but its run ends there
          // and a new one starts (so the window is not grown by bytes the reader skipped).
          EndRun(cursor->id);
          CountCursor(cursor->start, false);
          cursor->start = range.begin;
          CountCursor(cursor->start, true);
        }
        ++cursor->hits;
        cursor->step = static_cast<std::int64_t>(range.begin) - static_cast<std::int64_t>(cursor->last_begin);
        if (range.begin <= cursor->next + std::max(cursor->last_len, kPageBytes)) cursor->dense = true;
      }
      // The reader's pace is how fast its position moves: a reader that skips through a file (tar's
      // member headers) outruns the window by its position, not by the bytes it reads.
      const std::uint64_t advance =
          kind == Kind::kStride ? range.size() : (range.end > cursor->next ? range.end - cursor->next : 0);
      cursor->next = std::max(cursor->next, range.end);
      cursor->last_begin = range.begin;
      cursor->last_len = range.size();
      cursor->last_use = stamp_;
      Pace(*cursor, advance, gap);
      confirmed_now = !was_confirmed && cursor->hits + 1 >= options_.confirm;
      break;
    }
    case Kind::kNew:
      EndRun(last_cursor_);
      cursor = &NewCursor(range);
      new_cursor = true;
      // A read at the start of the object starts a sequential run (Linux readahead's rule for index
      // 0): files read from the start are mostly read on.
      if (range.begin == 0 && options_.zero) cursor->hits = std::max<std::uint32_t>(1, options_.confirm) - 1;
      confirmed_now = cursor->hits + 1 >= options_.confirm;
      break;
    case Kind::kCovered:
    case Kind::kHinted: break;
  }
  if (kind != Kind::kHinted) last_read_begin_ = range.begin;
  if (cursor) pending_cursor_ = cursor->id;
  if (cursor) last_cursor_ = cursor->id;
  if (confirmed_now && runs_ > 0) {
    // Runs so far predict this one: ask for the rest of a run of the average length at once.
    const double left = run_avg_ - static_cast<double>(RunBytes(*cursor));
    if (left > 0)
      cursor->window = std::max(cursor->window, std::min(static_cast<std::uint64_t>(left), WindowCap(*cursor)));
  }

  if (stamp_ == 1) first_read_ = range;
  const bool bet =
      stamp_ == 1 && options_.eager && options_.whole && Cheap(1.0) && (!shared_object_ || KeepSharedBet());
  // The read's own bytes first. A bet on the whole object is made on the seeds, before anything is
  // measured, and the first response decides it; the parts transfer until then. With `probe`, the
  // read's request is then not rounded up (the bytes around it are in the bet anyway), so that
  // response comes as early as it can: on a fast network the bet is called off with less of it
  // transferred.
  // A read that continues a stride wider than the minimum request gains nothing from the bytes around
  // it (the reader's next read is a stride away): it asks for its own pages.
  const bool sparse = kind == Kind::kStride && StepBytes(*cursor) > min_request();
  IssueDemand(/*exact=*/(bet && options_.probe) || sparse);
  if (bet) {
    // fsspec's AllBytes fetches a file whole at open; here only a file whose whole transfer takes no
    // longer than a first byte, and tentatively: the first request's latency may call it off.
    whole_tentative_ = true;
    StartWhole();
  }
  if (new_cursor && stamp_ > 1) MaybeWhole(/*cheap_trigger=*/true);
  if (cursor && cursor->hits + 1 >= options_.confirm) Prefetch(*cursor);
  if (!new_cursor) MaybeWhole(/*cheap_trigger=*/false);
  FetchHinted();
  if (kind == Kind::kHinted) HintWindow(range);
  // Complete through the scheduler even when everything is held: never inside Read().
  ctx_.scheduler->Post([this, alive = alive_, id] {
    if (*alive && pending_id_ == id) TryServe(/*first=*/true);
  });
  return id;
}

void AutoPrefetcher::Cancel(ReadId id) {
  if (id == 0 || id != pending_id_) return;
  pending_id_ = 0;
  SetWaitingMemory(false);
  waiting_peer_ = false;
  *reader_done_ = ctx_.scheduler->Now();
  CompleteLater(std::move(pending_done_), Cancelled("read cancelled"));
}

// The stride is the mean one since the cursor's first read: a reader through aligned blocks (netCDF-C's,
// stdio's) whose records are not a whole number of blocks apart steps a block short now and then, and
// the mean keeps predictions many reads ahead within a block of where the reads come.
double AutoPrefetcher::MeanStride(const Cursor& c) {
  const std::uint32_t n = c.prior + c.strides;
  if (n == 0) return static_cast<double>(c.step);
  const double own =
      static_cast<double>(static_cast<std::int64_t>(c.last_begin) - static_cast<std::int64_t>(c.stride_origin));
  return (c.prior_mean * c.prior + own) / n;
}

std::int64_t AutoPrefetcher::StrideAt(const Cursor& c, std::uint64_t i) {
  return static_cast<std::int64_t>(c.last_begin) + std::llround(MeanStride(c) * static_cast<double>(i));
}

std::uint64_t AutoPrefetcher::StrideMiss(const Cursor& c, std::uint64_t begin) {
  const std::int64_t off = static_cast<std::int64_t>(begin) - StrideAt(c, 1);
  return static_cast<std::uint64_t>(off < 0 ? -off : off);
}

std::uint64_t AutoPrefetcher::StepBytes(const Cursor& c) {
  return static_cast<std::uint64_t>(c.step < 0 ? -c.step : c.step);
}

// A read within one read's length (at least a page) of where the stride puts it continues the stride,
// never further than half the stride, so it cannot be taken for the next one.
std::uint64_t AutoPrefetcher::StrideSlack(const Cursor& c) {
  return std::min(std::max(c.last_len, kPageBytes), StepBytes(c) / 2);
}

AutoPrefetcher::Kind AutoPrefetcher::Classify(ByteRange range, Cursor** out) {
  if (options_.hints && InHint(range)) return Kind::kHinted;
  const std::uint64_t tol = min_request();
  Cursor* best = nullptr;
  std::uint64_t best_distance = std::numeric_limits<std::uint64_t>::max();
  Cursor* stride = nullptr;
  for (Cursor& c : cursors_) {
    if (!c.id) continue;
    const bool near_end = range.begin + tol >= c.next && range.begin <= c.next + tol;
    const bool inside_ahead = range.begin >= c.next && range.begin < c.ahead_end;
    if (near_end || inside_ahead) {
      const std::uint64_t distance = range.begin > c.next ? range.begin - c.next : c.next - range.begin;
      if (distance < best_distance) {
        best = &c;
        best_distance = distance;
      }
    } else if (c.step != 0) {
      if (StrideMiss(c, range.begin) <= StrideSlack(c)) stride = &c;
    }
  }
  if (best) {
    *out = best;
    return Kind::kContinue;
  }
  if (stride) {
    *out = stride;
    return Kind::kStride;
  }
  if (Covered(range)) return Kind::kCovered;
  return Kind::kNew;
}

AutoPrefetcher::Cursor& AutoPrefetcher::NewCursor(ByteRange range) {
  // Evidence of random access: the cursor the previous random-looking read started was never continued
  // densely (a run of reads each within its length of the last), or its run ended within a part (a
  // record read in two calls, a header and its body: no window hides its first byte either).
  if (last_new_cursor_ != 0) {
    const Cursor* previous = FindCursor(last_new_cursor_);
    if (!previous || !previous->dense || RunBytes(*previous) < part_size()) ++random_reads_;
  }
  Cursor* slot = nullptr;
  for (Cursor& c : cursors_) {
    if (!c.id) {
      slot = &c;
      break;
    }
    if (!slot || c.last_use < slot->last_use) slot = &c;
  }
  if (slot->id && !options_.keep) DropSpeculative(slot->id);
  if (slot->id && stream_.id && stream_.owner == slot->id) {
    // Its pulls are kept, as a replaced cursor's requests are (`keep`); the stream ends after them.
    stream_.owner = 0;
    if (stream_.pulls.empty() || !options_.keep) CloseRunStream();
  }
  if (slot->id) CountCursor(slot->start, false);
  Cursor& c = *slot;
  c = Cursor{};
  c.id = next_cursor_id_++;
  c.start = range.begin;
  CountCursor(c.start, true);
  c.next = range.end;
  c.last_begin = range.begin;
  c.last_len = range.size();
  if (stamp_ > 1) c.step = static_cast<std::int64_t>(range.begin) - static_cast<std::int64_t>(last_read_begin_);
  c.stride_origin = range.begin;
  // A step the reader has strided by before (within its slip) starts from what that run measured.
  if (known_stride_.strides > 0 && c.step != 0 &&
      std::abs(static_cast<double>(c.step) - known_stride_.mean) <=
          static_cast<double>(std::max(known_stride_.slip, kPageBytes))) {
    c.prior_mean = known_stride_.mean;
    c.prior = known_stride_.strides;
    c.slip = known_stride_.slip;
  }
  c.window = part_size();
  c.ahead_end = range.end;
  c.last_use = stamp_;
  last_new_cursor_ = c.id;
  return c;
}

bool AutoPrefetcher::InHint(ByteRange range) const {
  return HintHolding(range).has_value();
}

std::optional<ByteRange> AutoPrefetcher::HintHolding(ByteRange range) const {
  auto it = std::upper_bound(hinted_.begin(), hinted_.end(), range.begin,
                             [](std::uint64_t offset, const ByteRange& r) { return offset < r.begin; });
  if (it == hinted_.begin()) return std::nullopt;
  --it;
  if (!it->Contains(range)) return std::nullopt;
  return *it;
}

AutoPrefetcher::Gaps AutoPrefetcher::Missing(ByteRange range) const {
  Gaps missing;
  std::uint64_t pos = range.begin;
  auto it = extents_.upper_bound(range.begin);
  if (it != extents_.begin()) --it;
  for (; it != extents_.end() && it->first < range.end && pos < range.end; ++it) {
    if (it->second.end <= pos) continue;
    if (it->first > pos) missing.push_back({pos, it->first});
    pos = std::max(pos, it->second.end);
  }
  if (pos < range.end) missing.push_back({pos, range.end});
  return missing;
}

bool AutoPrefetcher::Covered(ByteRange range) const {
  return Missing(range).empty();
}

// ---- requests ----

bool AutoPrefetcher::Fits(std::uint64_t bytes, std::uint64_t headroom) const {
  return file_account_->held_bytes() + bytes + headroom <= options_.memory &&
         run_->account()->held_bytes() + bytes + headroom <= options_.shared_memory;
}

void AutoPrefetcher::Issue(ByteRange range, bool speculative, std::uint32_t owner) {
  // Only missing bytes are asked for, so the extent is a new one.
  const auto [slot, added] = extents_.try_emplace(range.begin);
  assert(added);
  Extent& e = slot->second;
  if (extents_.size() == 1) state_->holding.emplace(member_, this);
  e.end = range.end;
  Count(range.begin, e.end, true);
  e.speculative = speculative;
  e.owner = owner;
  e.consumed_to = range.begin;
  e.last_use = stamp_;
  e.read_from = false;
  by_use_.emplace(std::pair{stamp_, range.begin}, &e);
  CountUnread(e, +1);
  e.issued = ctx_.scheduler->Now();
  e.serial = next_serial_++;
  state_->network.Started(e.issued);
  e.busy = state_->network.Busy(e.issued);
  const std::uint64_t begin = range.begin;
  const std::uint64_t serial = e.serial;
  auto done = [this, begin, serial](Result<Slices>&& result) { OnFetched(begin, serial, std::move(result)); };
  const Cursor* c = speculative ? FindCursor(owner) : nullptr;
  // A stream of this run with nothing to pull and not at this part (the window skipped bytes held
  // already) is of no more use: it ends, and one is opened here if the part is to be streamed.
  if (c && stream_.id && stream_.owner == owner && stream_.pulls.empty() && stream_.next != range.begin) {
    CloseRunStream();
  }
  const ReadId lower =
      c && Streams(*c, range) ? FetchStreamed(range, owner, std::move(done)) : FetchBelow(range, 0, done);
  // Neither completes inline, so the extent is still there.
  extents_[begin].lower = lower;
}

// A run on a link that one request fills (its bandwidth, measured on a request alone, at least half
// of what the link delivered once seen full) gains nothing from parts in parallel: they share the link
// and arrive together, and the reader, waiting on the first, then asks for the next ones together,
// their first bytes waiting with the link idle. One streaming GET pays one first byte, and its bytes
// arrive in order at the link's rate (gcsfuse's range reader): the run's parts are then pulls of it.
// Only for a run that has read kStreamAfter: closing a stream drops what its connection had received
// beyond the pulls (up to the socket's buffer), so a run as long as that wastes at most what it read.
bool AutoPrefetcher::Streams(const Cursor& c, ByteRange piece) const {
  if (!options_.stream || !options_.measure || c.strided || RunBytes(c) < kStreamAfter) return false;
  const NetworkEstimate& network = state_->network;
  if (!network.alone_measured() || !network.link_full() || 2 * Bandwidth() < network.delivered()) return false;
  if (stream_.id) return stream_.owner == c.id && stream_.next == piece.begin;
  return true;
}

ReadId AutoPrefetcher::FetchStreamed(ByteRange range, std::uint32_t owner, ReadCallback done) {
  if (!stream_.id) {
    stream_.id = lower_->OpenStream({range.begin, lower_->size()});
    if (!stream_.id) return FetchBelow(range, 0, std::move(done));
    stream_.next = range.begin;
    stream_.owner = owner;
  }
  const ReadId id = kPullTag | next_pull_++;
  stream_.pulls.push_back(Pull{id, range, std::move(done)});
  stream_.next = range.end;
  if (stream_.pulls.size() == 1) StartPull();
  return id;
}

void AutoPrefetcher::StartPull() {
  const Pull& pull = stream_.pulls.front();
  PullBelow(stream_.id, pull.range, [this, id = pull.id](Result<Slices>&& r) {
    if (stream_.pulls.empty() || stream_.pulls.front().id != id) return;  // closed meanwhile
    ReadCallback done = std::move(stream_.pulls.front().done);
    stream_.pulls.pop_front();
    if (!stream_.pulls.empty()) {
      StartPull();
    } else if (stream_.owner == 0) {
      CloseRunStream();
    }
    done(std::move(r));
  });
}

// Closes the stream: its pulls end with kCancelled (the one being pulled by the fetcher, the queued
// ones posted), and their extents are requested again where a read needs them.
void AutoPrefetcher::CloseRunStream() {
  if (!stream_.id) return;
  std::deque<Pull> pulls = std::move(stream_.pulls);
  stream_.pulls.clear();
  lower_->CloseStream(stream_.id);
  stream_ = RunStream{};
  for (Pull& pull : pulls) {
    // Posted, never served in place (CompleteLater may hand its result to the read being made).
    ctx_.scheduler->Post([alive = alive_, done = std::move(pull.done)]() mutable {
      if (*alive) done(Cancelled("stream closed"));
    });
  }
}

void AutoPrefetcher::CancelLower(ReadId id) {
  if (id & kPullTag) {
    CloseRunStream();
  } else {
    lower_->Cancel(id);
  }
}

bool AutoPrefetcher::IssueSpeculative(ByteRange range, std::uint32_t owner) {
  // Keep room for the next read's own request.
  const std::uint64_t headroom = std::max(pending_.size(), min_request());
  if (!Fits(range.size(), headroom) && !MakeRoom(range.size(), headroom, /*demand=*/false)) {
#ifdef PFLAB_AUTO_DEBUG
    if (getenv("AUTO_DEBUG")) {
      std::uint64_t held = 0, inflight = 0, n = 0, readn = 0;
      for (auto& [b, e] : extents_) {
        ++n;
        if (e.arrived)
          held += e.end - b;
        else
          inflight += e.end - b;
        if (e.consumed_to > b) ++readn;
      }
      fprintf(stderr, "t=%.1fms spec fail %llu held_acct=%llu held=%llu inflight=%llu n=%llu read=%llu\n",
              ctx_.scheduler->Now() / 1e6, (unsigned long long)range.size(),
              (unsigned long long)file_account_->held_bytes(), (unsigned long long)held, (unsigned long long)inflight,
              (unsigned long long)n, (unsigned long long)readn);
    }
#endif
    return false;
  }
  Issue(range, true, owner);
  return true;
}

std::uint64_t AutoPrefetcher::PinnedBytes() const {
  std::uint64_t pinned = 0;
  if (!pending_id_) return 0;
  auto it = extents_.upper_bound(pending_.begin);
  if (it != extents_.begin()) --it;
  for (; it != extents_.end() && it->first < pending_.end; ++it) {
    if (it->second.end > pending_.begin) pinned += it->second.end - it->first;
  }
  return pinned;
}

// The read's missing bytes, rounded up to the minimum request (`exact`: to a page).
bool AutoPrefetcher::IssueDemand(bool exact) {
  if (!pending_id_) return true;
  const Gaps missing = MissingShared(pending_);
  if (missing.empty()) {
    SetWaitingMemory(false);
    return true;
  }
  const std::uint64_t size = lower_->size();
  const std::uint64_t minimum = exact ? kPageBytes : min_request();
  for (const ByteRange& gap : missing) {
    ByteRange r = gap;
    if (r.size() < minimum) {
      // Round up to the minimum request inside the free space around the gap; at the object's end
      // (a footer, a zip's end record) the extra bytes come from before the read.
      auto next = extents_.lower_bound(gap.end);
      const std::uint64_t free_end = next == extents_.end() ? size : next->first;
      std::uint64_t free_begin = 0;
      auto prev = extents_.lower_bound(gap.begin);
      if (prev != extents_.begin()) free_begin = std::prev(prev)->second.end;
      r.end = std::min(free_end, r.begin + minimum);
      if (r.size() < minimum) r.begin = std::max(free_begin, r.end > minimum ? r.end - minimum : 0);
      r.begin = std::min(r.begin, gap.begin);
    }
    // A read larger than the largest request goes in pieces, in parallel.
    for (std::uint64_t at = r.begin; at < r.end;) {
      const ByteRange piece{at,
                            r.size() > 2 * options_.max_request ? std::min(r.end, at + options_.max_request) : r.end};
      if (!Fits(piece.size(), 0) && !MakeRoom(piece.size(), 0, /*demand=*/true)) {
        // The exceptions to the budgets: what this read alone needs does not fit an empty file; or no
        // request of the run is in flight, so nothing will give memory back and wake this read: what
        // holds it then is the data that waiting reads pin, or another layer (a cache above this one
        // keeps the buffers it was given, which this layer is never told it let go of). Waiting then
        // waits forever; the read goes over the budget by what it alone needs.
        const std::uint64_t alone = PinnedBytes() + piece.size();
        if (alone <= options_.memory && alone <= options_.shared_memory && state_->network.in_flight() > 0) {
          SetWaitingMemory(true);
          return false;
        }
      }
      Issue(piece, false, pending_cursor_);
      at = piece.end;
    }
  }
  SetWaitingMemory(false);
  return true;
}

void AutoPrefetcher::Prefetch(Cursor& c) {
  const std::uint64_t size = lower_->size();
  const std::uint64_t window = Window(c);
  // Parts no larger than the window (smaller than a part only where the reader's pace asks for less).
  const std::uint64_t part = std::min(part_size(), std::max(window, min_request()));
#ifdef PFLAB_AUTO_DEBUG
  if (getenv("AUTO_DEBUG"))
    fprintf(stderr,
            "t=%.1fms prefetch c%u strided=%d start=%.1f next=%.1f ahead_end=%.1f window=%.1f runs=%llu avg=%.1f\n",
            ctx_.scheduler->Now() / 1e6, c.id, (int)c.strided, c.start / 1048576.0, c.next / 1048576.0,
            c.ahead_end / 1048576.0, window / 1048576.0, (unsigned long long)runs_, run_avg_ / 1048576.0);
#endif
  if (!c.strided) {
    std::uint64_t target = std::min(size, c.next + window);
    std::uint64_t from = std::max(c.ahead_end, c.next);
    if (target <= from) return;
    // Another stream reads or fetches what follows: the window stops there.
    const std::uint64_t boundary = PeerBoundary(from, target);
    const bool stopped = boundary < target;
    target = boundary;
    if (target <= from) return;
    // Top up in whole parts (the last may reach past the window), or once less than half the window
    // is left ahead.
    if (!stopped && target - from < part && target < size && from - c.next >= window / 2) return;
    std::uint64_t reached = target;
    for (const ByteRange& gap : MissingShared({from, stopped ? target : std::min(size, target + part)})) {
      for (std::uint64_t at = gap.begin; at < gap.end && at < target;) {
        const ByteRange piece{at, std::min(gap.end, at + part)};
        if (!IssueSpeculative(piece, c.id)) {
          c.ahead_end = std::max(c.ahead_end, at);
          return;
        }
        at = piece.end;
        reached = std::max(reached, at);
      }
    }
    c.ahead_end = std::max(c.ahead_end, reached);
    return;
  }
  // Strided: the next reads of the stride, as many as the window holds; reads closer than the
  // minimum request are merged into one request. `planned` is the furthest predicted read requested.
  std::uint64_t count = std::max<std::uint64_t>(1, window / std::max<std::uint64_t>(1, c.last_len));
  // A stride the reader slips from is known to within a slip over the strides seen: the read `i` on is
  // predicted to within a slip and i/strides more (so its request is that much wider on both sides),
  // and, where each prediction is a request of its own, no further ahead than the strides seen (where
  // that is twice the slip).
  const bool slipping = c.slip > 0;
  const std::uint64_t seen = std::max<std::uint32_t>(1, c.prior + c.strides);
  // Where each predicted read is a request of its own, every prediction is made again from the latest
  // mean (what an earlier one missed is filled in); predictions closer than the minimum request merge
  // into runs, and are made once.
  const bool refine = slipping && StepBytes(c) > min_request();
  if (refine) count = std::min(count, seen);
  const std::uint64_t hole = min_request();
  const bool forward = c.step > 0;
  ByteRange merged{0, 0};
  auto flush = [&]() -> bool {
    if (merged.empty()) return true;
    for (const ByteRange& gap : MissingShared(merged)) {
      for (std::uint64_t at = gap.begin; at < gap.end;) {
        const ByteRange piece{at, std::min(gap.end, at + part)};
        if (!IssueSpeculative(piece, c.id)) return false;
        at = piece.end;
      }
    }
    c.planned = forward ? merged.end : merged.begin;
    c.has_planned = true;
    merged = {0, 0};
    return true;
  };
  for (std::uint64_t i = 1; i <= count; ++i) {
    const std::int64_t begin = StrideAt(c, i);
    if (begin < 0 || static_cast<std::uint64_t>(begin) >= size) break;
    const auto at = static_cast<std::uint64_t>(begin);
    const std::uint64_t widen = slipping ? c.slip + c.slip * i / seen : 0;
    const ByteRange r{at > widen ? at - widen : 0, std::min(size, at + c.last_len + widen)};
    if (!refine && c.has_planned && (forward ? r.end <= c.planned : r.begin >= c.planned)) continue;  // requested
    if (!merged.empty() && forward && r.begin - merged.end <= hole && r.end - merged.begin <= part) {
      merged.end = r.end;
    } else if (!merged.empty() && !forward && r.end <= merged.begin && merged.begin - r.end <= hole &&
               merged.end - r.begin <= part) {
      merged.begin = r.begin;
    } else {
      if (!flush()) return;
      merged = r;
    }
  }
  flush();
}

void AutoPrefetcher::MaybeWhole(bool cheap_trigger) {
  if (!options_.whole || whole_started_ || (shared_object_ && (!options_.share || PeerWhole()))) return;
  const std::uint64_t size = lower_->size();
  const std::uint64_t headroom = min_request();
  if (size + headroom > options_.memory || size + headroom > options_.shared_memory) return;
  // Prefetching pays only while the stream waits on the network more than it computes.
  if (options_.gate && stall_ < think_) return;
  const double whole_s = static_cast<double>(size) / Aggregate();
  // Cheap: the whole object takes no longer than one first byte, so it costs at most one read's time.
  const bool cheap = cheap_trigger && Cheap(1.0);
  // Ski rental: random-looking reads have already waited as long as the whole object takes.
  const bool paid = random_reads_ >= options_.whole_after && Seconds(stall_) >= whole_s;
  if (!cheap && !paid) return;
  StartWhole();
}

void AutoPrefetcher::StartWhole() {
  whole_started_ = true;
  const std::uint64_t size = lower_->size();
  // Parts of the bandwidth-delay product: a smaller part saves less transfer time than the slowest of
  // more first bytes costs. From the read on, then the start.
  const std::uint64_t piece = part_size();
  const std::uint64_t from = pending_id_ ? pending_.begin : 0;
  for (const ByteRange& half : {ByteRange{from, size}, ByteRange{0, from}}) {
    for (const ByteRange& gap : MissingShared(half)) {
      for (std::uint64_t at = gap.begin; at < gap.end;) {
        const ByteRange r{at, std::min(gap.end, at + piece)};
        if (!IssueSpeculative(r, kWholeOwner)) return;
        at = r.end;
      }
    }
  }
}

// The first request's latency says the whole object takes more than two first bytes: what has not
// arrived is cancelled, and the object is read as any other.
void AutoPrefetcher::AbortWhole() {
  whole_tentative_ = false;
  whole_started_ = false;
  for (auto it = extents_.begin(); it != extents_.end();) {
    Extent& e = it->second;
    if (e.owner == kWholeOwner && !e.arrived && !Pinned(it->first, e)) {
      CancelExtent(e);
      it = EraseExtent(it);
    } else {
      ++it;
    }
  }
  ForgetAhead();
  NotifyPeers();
}

void AutoPrefetcher::Hint(std::span<const ByteRange> ranges) {
  if (!options_.hints) return;
  const std::uint64_t size = lower_->size();
  std::vector<ByteRange> sorted;
  for (ByteRange r : ranges) {
    r.end = std::min(r.end, size);
    if (r.begin < r.end) sorted.push_back(r);
  }
  std::sort(sorted.begin(), sorted.end(), [](const ByteRange& a, const ByteRange& b) { return a.begin < b.begin; });
  const std::uint64_t hole = min_request();
  std::vector<ByteRange> merged;
  for (const ByteRange& r : sorted) {
    if (!merged.empty() && r.begin <= merged.back().end + hole) {
      merged.back().end = std::max(merged.back().end, r.end);
    } else {
      merged.push_back(r);
    }
  }
  // A hinted range is a run the reader has promised: where it starts and where it ends. At the hint
  // its first part is requested (the first bytes of every range, in parallel: their first-byte
  // latencies overlap, which is what Arrow's pre-buffering buys); the rest follows the reads in it
  // (HintWindow), unless `eager_hints` asks for all of it at once as Arrow does.
  const std::uint64_t head = options_.eager_hints ? size : part_size();
  for (const ByteRange& r : merged) {
    hint_queue_.push_back({r.begin, std::min(r.end, r.begin + head)});
    hinted_.push_back(r);
  }
  // Keep hinted_ sorted and disjoint for InHint.
  std::sort(hinted_.begin(), hinted_.end(), [](const ByteRange& a, const ByteRange& b) { return a.begin < b.begin; });
  std::vector<ByteRange> disjoint;
  for (const ByteRange& r : hinted_) {
    if (!disjoint.empty() && r.begin <= disjoint.back().end) {
      disjoint.back().end = std::max(disjoint.back().end, r.end);
    } else {
      disjoint.push_back(r);
    }
  }
  hinted_ = std::move(disjoint);
  FetchHinted();
}

void AutoPrefetcher::FetchHinted() {
  while (!hint_queue_.empty()) {
    ByteRange& r = hint_queue_.front();
    // Parts of a hinted range go at once, each at most a part.
    const std::uint64_t piece = part_size();
    for (const ByteRange& gap : MissingShared(r)) {
      for (std::uint64_t at = gap.begin; at < gap.end;) {
        const ByteRange p{at, std::min(gap.end, at + piece)};
        if (!IssueSpeculative(p, kHintOwner)) {
          r.begin = at;  // the rest waits for memory
          return;
        }
        at = p.end;
      }
    }
    hint_queue_.erase(hint_queue_.begin());
  }
}

// A read inside a hinted range moves its run on. The hint says where the run ends, so its reads need
// no confirming and its window never passes the range's end; how far ahead it is requested is still
// what any run earns: `ahead` times what the reader has read of the range, within `link` link
// bandwidth-delay products and the budget. A hint far larger than that gains nothing by being
// requested before the reader gets there (bytes beyond the link's bandwidth-delay product cannot
// arrive sooner), and a reader that stops early, as readers of a hinted row group often do after a
// few pages, leaves at most `ahead` times what it read unread.
void AutoPrefetcher::HintWindow(ByteRange read) {
  if (options_.eager_hints) return;
  const std::optional<ByteRange> hint = HintHolding(read);
  if (!hint) return;
  const std::uint64_t part = part_size();
  std::uint64_t window = (read.end - hint->begin) * options_.ahead;
  if (options_.link > 0) window = std::min(window, LinkBound());
  window = std::max(window, part);
  const std::uint64_t headroom = std::max(pending_.size(), min_request());
  const std::uint64_t budget = std::min(options_.memory, options_.shared_memory);
  window = std::min(window, budget > 2 * headroom ? budget - 2 * headroom : part);
  const std::uint64_t target = std::min(hint->end, read.end + window);
  if (target <= read.end) return;
  const Gaps gaps = MissingShared({read.end, std::min(hint->end, target + part)});
  if (gaps.empty() || gaps.front().begin >= target) return;
  // Top up in whole parts (the last may reach past the window, never past the range), or once less
  // than half the window is left ahead.
  std::uint64_t missing = 0;
  for (const ByteRange& gap : gaps) missing += std::min(gap.end, target) - std::min(gap.begin, target);
  if (missing < part && target < hint->end && gaps.front().begin - read.end >= window / 2) return;
  for (const ByteRange& gap : gaps) {
    for (std::uint64_t at = gap.begin; at < gap.end && at < target;) {
      const ByteRange piece{at, std::min(gap.end, at + part)};
      if (!IssueSpeculative(piece, kHintOwner)) return;
      at = piece.end;
    }
  }
}

void AutoPrefetcher::OnFetched(std::uint64_t begin, std::uint64_t serial, Result<Slices>&& result) {
  auto it = extents_.find(begin);
  if (it == extents_.end() || serial == 0 || (it->second.serial != serial && it->second.hedge_serial != serial)) {
    // A request this layer cancelled: its buffer is gone now.
    --cancelled_pending_;
    state_->network.Finished(ctx_.scheduler->Now());
    state_->Notify();
    return;
  }
  Extent& e = it->second;
  const bool primary = e.serial == serial;
  const bool pulled = ((primary ? e.lower : e.hedge) & kPullTag) != 0;  // a pull of the run's stream
  (primary ? e.lower : e.hedge) = 0;
  // The run's requests in flight on average over this one's life (itself included).
  const Nanos now = ctx_.scheduler->Now();
  const Nanos issued = primary ? e.issued : e.hedge_issued;
  const double busy = state_->network.Busy(now) - (primary ? e.busy : e.hedge_busy);
  const double concurrency = now > issued ? std::max(1.0, busy / Seconds(now - issued)) : 1.0;
  state_->network.Finished(now);
  // The run's last request in flight: reads waiting for memory try again (see IssueDemand).
  if (state_->network.in_flight() == 0) state_->Notify();
  if (!result.ok() && (primary ? e.hedge : e.lower) != 0) {
    // Its twin is still on its way.
    (primary ? e.serial : e.hedge_serial) = 0;
    return;
  }
  if (result.ok()) {
    // A pull is no request of its own: no first byte, its time is the stream's.
    if (!pulled) state_->network.Sample(e.end - begin, issued, now, concurrency, lower_->completing_timing());
    e.data = std::move(*result);
    e.arrived = true;
    // The first of two twins to arrive wins; the other is cancelled.
    (primary ? e.hedge_serial : e.serial) = 0;
    if (e.lower || e.hedge) CancelExtent(e);
    if (whole_tentative_ && !e.speculative) {
      whole_tentative_ = false;
      if (!Cheap(2.0)) AbortWhole();
    }
  } else {
    const bool needed = pending_id_ && begin < pending_.end && e.end > pending_.begin;
    // A failed demand request fails its read; a failed speculative one is requested again on demand.
    if (needed && !e.speculative) pending_error_ = result.error();
    EraseExtent(it);
    ForgetAhead();
    state_->Notify();
  }
  NotifyPeers();
  TryServe(/*first=*/false);
}

// ---- streams of the same object ----

// The first-read bet on an object other streams read too. For one stream the time test alone has
// measured well; a bet several streams share stands only with the one piece of evidence a first read
// gives: it began at offset 0 (files read from the start are mostly read on: Linux readahead's rule
// for index 0). Streams that start elsewhere (at a footer, an index) read what it points to, and
// several of them divide the object into pieces they read selectively, too little of it for the
// bytes of a whole fetch.
bool AutoPrefetcher::KeepSharedBet() const {
  return first_read_.begin == 0;
}
// The run's stacks with this object open, in the order they were built (deterministic), this one
// among them (its peers are the others); empty without `share`. Their extents are read here, never
// changed: each stack owns its requests, its memory and its evictions. (A span of the run's list, not
// a copy: with a thousand streams on one object a copy per question was most of a read's time.)
std::span<AutoPrefetcher* const> AutoPrefetcher::SameObject() const {
  if (!shared_object_ || !options_.share || !same_) return {};
  return same_->members;
}

void AutoPrefetcher::Count(std::uint64_t begin, std::uint64_t end, bool add) {
  if (!same_ || !same_->counting || begin >= end) return;
  const auto piece = std::make_pair(boost::icl::interval<std::uint64_t>::right_open(begin, end), std::uint32_t{1});
  if (add) {
    same_->held += piece;
  } else {
    same_->held -= piece;
  }
}

void AutoPrefetcher::CountCursor(std::uint64_t start, bool add) {
  if (!same_ || !same_->counting) return;
  if (add) {
    same_->cursor_starts.insert(start);
  } else {
    same_->cursor_starts.erase(same_->cursor_starts.find(start));
  }
}

bool AutoPrefetcher::Holds(std::uint64_t pos) const {
  auto it = extents_.upper_bound(pos);
  return it != extents_.begin() && std::prev(it)->second.end > pos;
}

std::uint32_t AutoPrefetcher::PeersHolding(std::uint64_t pos) const {
  const auto it = same_->held.find(pos);
  const std::uint32_t all = it == same_->held.end() ? 0 : it->second;
  return all - (Holds(pos) ? 1 : 0);  // this stack's own extents never overlap
}

bool AutoPrefetcher::PeerWhole() const {
  for (const AutoPrefetcher* peer : SameObject()) {
    if (peer != this && peer->whole_started_) return true;
  }
  return false;
}

// The parts of `range` that neither this stream nor another stream of the object holds or has asked
// for.
AutoPrefetcher::Gaps AutoPrefetcher::MissingShared(ByteRange range) const {
  return SameObject().empty() ? Missing(range) : MissingFromObject(range);
}

// What none of the object's streams (this one included) holds or has asked for: the gaps between the
// counted extents, as subtracting each stream's in turn would leave them.
AutoPrefetcher::Gaps AutoPrefetcher::MissingFromObject(ByteRange range) const {
  Gaps missing;
  if (range.empty()) return missing;
  std::uint64_t pos = range.begin;
  const auto [first, last] =
      same_->held.equal_range(boost::icl::interval<std::uint64_t>::right_open(range.begin, range.end));
  for (auto it = first; it != last && pos < range.end; ++it) {
    const std::uint64_t begin = boost::icl::lower(it->first);
    if (begin > pos) missing.push_back({pos, std::min(begin, range.end)});
    pos = std::max(pos, boost::icl::upper(it->first));
  }
  if (pos < range.end) missing.push_back({pos, range.end});
  return missing;
}

// Another stream's extent holding byte `pos`: one that has arrived if any, else one in flight.
const AutoPrefetcher::Extent* AutoPrefetcher::PeerExtent(std::uint64_t pos, std::uint64_t* begin) const {
  if (SameObject().empty() || PeersHolding(pos) == 0) return nullptr;
  const Extent* found = nullptr;
  for (const AutoPrefetcher* peer : SameObject()) {
    if (peer == this) continue;
    auto it = peer->extents_.upper_bound(pos);
    if (it == peer->extents_.begin()) continue;
    --it;
    if (it->second.end <= pos) continue;
    if (it->second.arrived) {
      *begin = it->first;
      return &it->second;
    }
    if (!found) {
      *begin = it->first;
      found = &it->second;
    }
  }
  return found;
}

// Where a window that starts at `from` stops (at most `limit`): the first byte from `from` on that
// another stream holds or has asked for, or where another stream's run starts (what follows is that
// reader's).
std::uint64_t AutoPrefetcher::PeerBoundary(std::uint64_t from, std::uint64_t limit) const {
  if (SameObject().empty()) return std::max(limit, from);
  if (PeersHolding(from) > 0) return from;
  // No other stream holds byte `from`, so the first byte after it that one holds is where the first of
  // their extents after it begins: a border of the counts, and each segment is inside or outside each
  // of this stack's extents (a split map keeps every border).
  std::uint64_t boundary = limit;
  using Interval = boost::icl::interval<std::uint64_t>;
  for (auto it = same_->held.lower_bound(Interval::right_open(from, from + 1)); it != same_->held.end(); ++it) {
    const std::uint64_t lower = std::max(boost::icl::lower(it->first), from);
    if (lower >= boundary) break;
    if (it->second > (Holds(lower) ? 1u : 0u)) {
      boundary = lower;
      break;
    }
  }
  // Where another stream's run starts, at or after `from`: what follows is that reader's.
  const auto& starts = same_->cursor_starts;
  for (auto it = starts.lower_bound(from); it != starts.end() && *it < boundary; it = starts.upper_bound(*it)) {
    std::size_t own = 0;
    for (const Cursor& c : cursors_) own += c.id && c.start == *it;
    if (starts.count(*it) > own) {
      boundary = *it;
      break;
    }
  }
  return std::max(boundary, from);
}

// This stream's extents changed (arrived, dropped): other streams whose read waits for them look again.
void AutoPrefetcher::NotifyPeers() {
  for (AutoPrefetcher* peer : SameObject()) {
    if (peer != this) peer->WakeForPeer();
  }
}

void AutoPrefetcher::WakeForPeer() {
  if (!waiting_peer_ || peer_wake_posted_) return;
  peer_wake_posted_ = true;
  ctx_.scheduler->Post([this, alive = alive_] {
    if (!*alive) return;
    peer_wake_posted_ = false;
    if (waiting_peer_ && pending_id_) TryServe(/*first=*/false);
  });
}

// ---- serving ----

void AutoPrefetcher::TryServe(bool first) {
  if (!pending_id_) return;
  waiting_peer_ = false;
  if (pending_error_) {
    Error error = std::move(*pending_error_);
    pending_error_.reset();
    Complete(std::move(error));
    return;
  }
  Slices out;
  std::uint64_t pos = pending_.begin;
  auto it = extents_.upper_bound(pos);
  if (it != extents_.begin()) --it;
  while (pos < pending_.end) {
    if (it == extents_.end() || it->first > pos || it->second.end <= pos) {
      if (it != extents_.end() && it->second.end <= pos) {
        ++it;
        continue;
      }
      // Another stream of the object holds these bytes (taken up to this stream's next extent), or has
      // asked for them (waited for: its arrival wakes this read).
      std::uint64_t peer_begin = 0;
      if (const Extent* peer = PeerExtent(pos, &peer_begin)) {
        if (!peer->arrived) {
          waiting_peer_ = true;
          if (first) pending_waited_ = true;
          return;
        }
        std::uint64_t stop = std::min(peer->end, pending_.end);
        if (it != extents_.end() && it->first > pos) stop = std::min(stop, it->first);
        for (const Slice& s : SubSlices(peer->data, pos - peer_begin, stop - pos)) out.push_back(s);
        pos = stop;
        continue;
      }
      // Bytes nobody asked for (a speculative request that failed): ask now.
      if (!waiting_memory_) IssueDemand();
      if (first) pending_waited_ = true;
      return;
    }
    if (!it->second.arrived) {
      // Another stream may already hold what this stream's request is still bringing.
      std::uint64_t peer_begin = 0;
      const Extent* peer = PeerExtent(pos, &peer_begin);
      if (peer && peer->arrived) {
        const std::uint64_t stop = std::min({peer->end, pending_.end, it->second.end});
        for (const Slice& s : SubSlices(peer->data, pos - peer_begin, stop - pos)) out.push_back(s);
        pos = stop;
        if (pos >= it->second.end) ++it;
        continue;
      }
      if (first) pending_waited_ = true;
      ArmHedge(it->first, it->second);
      return;
    }
    const std::uint64_t take = std::min(it->second.end, pending_.end) - pos;
    for (const Slice& s : SubSlices(it->second.data, pos - it->first, take)) out.push_back(s);
    pos += take;
    ++it;
  }
  // Everything is here: mark use, drop what is done with when nothing is retained.
  bool dropped = false;
  for (auto e = extents_.upper_bound(pending_.begin);;) {
    if (e != extents_.begin()) {
      auto p = std::prev(e);
      if (p->second.end > pending_.begin) e = p;
    }
    while (e != extents_.end() && e->first < pending_.end) {
      Extent& x = e->second;
      x.consumed_to = std::max(x.consumed_to, std::min(x.end, pending_.end));
      Touch(e->first, x, stamp_);
      if (!options_.retain && x.consumed_to >= x.end) {
        e = EraseExtent(e);
        dropped = true;
      } else {
        ++e;
      }
    }
    break;
  }
  if (dropped) NotifyPeers();
  Complete(std::move(out));
}

void AutoPrefetcher::Complete(Result<Slices>&& result) {
  const Nanos now = ctx_.scheduler->Now();
#ifdef PFLAB_AUTO_DEBUG
  if (getenv("AUTO_MEM")) {
    std::uint64_t ahead = 0, behind = 0, inflight = 0, partial = 0;
    for (auto& [b, e] : extents_) {
      if (!e.arrived)
        inflight += e.end - b;
      else if (e.consumed_to >= e.end || e.end <= pending_.begin)
        behind += e.end - b;
      else if (e.consumed_to > b)
        partial += e.end - b;
      else
        ahead += e.end - b;
    }
    fprintf(stderr,
            "t=%.1f read@%.0f waited=%.1f acct=%.0f inflight=%.0f ahead=%.0f partial=%.0f behind=%.0f extents=%zu "
            "part=%.1f\n",
            now / 1e6, pending_.begin / 1048576.0, (now - pending_started_) / 1e6,
            file_account_->held_bytes() / 1048576.0, inflight / 1048576.0, ahead / 1048576.0, partial / 1048576.0,
            behind / 1048576.0, extents_.size(), part_size() / 1048576.0);
  }
#endif
  stall_ += now - pending_started_;
  *reader_done_ = now;
  if (pending_waited_ && options_.grow && options_.ramp > 0) {
    if (Cursor* c = FindCursor(pending_cursor_)) {
      // Mountpoint's rule: a stall multiplies the window (up to the cap).
      c->window = std::min(c->window * options_.ramp, WindowCap(*c));
      if (c->hits + 1 >= options_.confirm) Prefetch(*c);
    }
  }
  pending_id_ = 0;
  SetWaitingMemory(false);
  ReadCallback done = std::move(pending_done_);
  done(std::move(result));
}

// ---- memory ----

// Extents were dropped: cursors ask again for what they had asked for ahead (Missing() skips what is
// still there).
void AutoPrefetcher::ForgetAhead() {
  for (Cursor& c : cursors_) {
    if (!c.id) continue;
    c.ahead_end = std::min(c.ahead_end, c.next);
    c.has_planned = false;
  }
}

void AutoPrefetcher::CancelExtent(Extent& extent) {
  for (ReadId* id : {&extent.lower, &extent.hedge}) {
    if (!*id) continue;
    CancelLower(*id);
    *id = 0;
    ++cancelled_pending_;  // its completion (kCancelled) still comes, and ends its count in flight
  }
}

// ---- hedged requests ----
// A read that waits for a request which has taken `hedge` latencies longer than its transfer should
// take sends it again: a first byte that slow is the tail of the latency distribution, and a second
// request draws again ("The Tail at Scale"; Durner et al. measured fewer than 5% of first bytes over
// 200 ms on cloud object storage). The first of the two to arrive is kept, the other cancelled.

// When the request for the extent at `begin` is due for a hedge: `hedge` latencies past its expected
// transfer. Arming and checking both use it, so a check that is not yet due re-arms strictly later.
Nanos AutoPrefetcher::HedgeDue(std::uint64_t begin, const Extent& extent) const {
  // Its transfer at one request's bandwidth, or at its share of the link when the requests in flight
  // fill it: requests that share a slow link are all "late" by one request's bandwidth, and their
  // copies would share it too.
  const double in_flight = std::max(1.0, static_cast<double>(state_->network.in_flight()));
  const double per_byte = std::max(1.0 / Bandwidth(), in_flight / Aggregate());
  const double expected = options_.hedge * Latency() + static_cast<double>(extent.end - begin) * per_byte;
  return TimeAfter(extent.issued, expected * 1e9);
}

void AutoPrefetcher::ArmHedge(std::uint64_t begin, const Extent& extent) {
  if (!options_.hedge || extent.hedge_serial || hedge_timer_ || (extent.lower & kPullTag)) return;
  const ReadId read = pending_id_;
  hedge_timer_ =
      ctx_.scheduler->PostAt(std::max(HedgeDue(begin, extent), ctx_.scheduler->Now()), [this, alive = alive_, read] {
        if (!*alive) return;
        hedge_timer_ = 0;
        CheckHedge(read);
      });
}

void AutoPrefetcher::CheckHedge(ReadId read) {
  if (!pending_id_ || pending_id_ != read) return;
  auto it = extents_.upper_bound(pending_.begin);
  if (it != extents_.begin()) --it;
  for (; it != extents_.end() && it->first < pending_.end; ++it) {
    Extent& e = it->second;
    if (e.end <= pending_.begin || e.arrived) continue;
    if (e.hedge_serial) return;  // already sent twice: wait
    if (ctx_.scheduler->Now() >= HedgeDue(it->first, e)) {
      SendHedge(it->first);
    } else {
      ArmHedge(it->first, e);
    }
    return;
  }
}

void AutoPrefetcher::SendHedge(std::uint64_t begin) {
  const ByteRange range{begin, extents_.at(begin).end};
  if (!Fits(range.size(), 0) && !MakeRoom(range.size(), 0, /*demand=*/false)) return;
  auto it = extents_.find(begin);
  if (it == extents_.end() || it->second.arrived) return;
  Extent& e = it->second;
  e.hedge_serial = next_serial_++;
  e.hedge_issued = ctx_.scheduler->Now();
  state_->network.Started(e.hedge_issued);
  e.hedge_busy = state_->network.Busy(e.hedge_issued);
  ++hedges_;
  const std::uint64_t serial = e.hedge_serial;
  const ReadId id = FetchBelow(
      range, 0, [this, begin, serial](Result<Slices>&& result) { OnFetched(begin, serial, std::move(result)); });
  extents_.at(begin).hedge = id;
}

bool AutoPrefetcher::Pinned(std::uint64_t begin, const Extent& extent) const {
  return pending_id_ && begin < pending_.end && extent.end > pending_.begin;
}

void AutoPrefetcher::DropSpeculative(std::uint32_t owner) {
  for (auto it = extents_.begin(); it != extents_.end();) {
    Extent& e = it->second;
    if (e.owner == owner && e.speculative && e.consumed_to == it->first && !Pinned(it->first, e)) {
      if (e.lower) CancelExtent(e);
      it = EraseExtent(it);
    } else {
      ++it;
    }
  }
  ForgetAhead();
  NotifyPeers();
}

std::uint64_t AutoPrefetcher::Evict(std::uint64_t bytes, bool demand, bool everything) {
  // Candidates, least valuable first: data already read or left by a replaced cursor (by last use),
  // then (for a read, or for another file short of memory) data not read yet, then requests in flight.
  std::uint64_t freed = 0;
  bool any = false;
  auto orphaned = [&](const Extent& e) { return e.speculative && !OwnerLive(e.owner); };
  auto candidate = [&](int level, std::uint64_t begin, const Extent& e) {
    if (Pinned(begin, e)) return false;
    // Done with: read from (to its end, or not in the last `reuse` reads: the reader passed it by), or
    // left unread by a cursor that is gone. Not yet read data of a live cursor, hint or whole fetch
    // is what prefetching is for.
    const bool orphan = orphaned(e);
    const bool recent = e.consumed_to > begin && e.last_use + options_.reuse >= stamp_;
    const bool done =
        (e.consumed_to > begin && (e.consumed_to >= e.end || !recent)) || (orphan && e.consumed_to == begin);
    // A prefetch does not take the memory of data the stream has just used: it may come back to it.
    if (level == 0) return e.arrived && done && (demand || everything || !recent);
    if (level == 1) return e.arrived && !done;
    return !e.arrived && e.speculative;
  };
  auto evict = [&](std::uint64_t begin) {
    auto it = extents_.find(begin);
    freed += it->second.end - begin;
    if (it->second.lower) CancelExtent(it->second);
    EraseExtent(it);
    any = true;
  };
  // The first two levels go by last use, then begin: by_use_'s order, so an eviction that frees one
  // extent usually looks at one. (Evicting changes no other extent's level: cancelled requests
  // complete later, and cursors, the read pending and the stamp stay as they are.) `index` holds the
  // extents in that order, and the walk stops at the first last use of `stop` or later.
  auto pick_by_use = [&](const auto& index, int level, std::uint64_t stop) {
    for (auto u = index.begin(); u != index.end() && freed < bytes && u->first.first < stop;) {
      const std::uint64_t begin = u->first.second;
      const Extent& e = *u->second;
      ++u;  // before `evict` erases the entry
      if (candidate(level, begin, e)) evict(begin);
    }
  };
  constexpr std::uint64_t kAll = std::numeric_limits<std::uint64_t>::max();
  if (!demand && !everything && !UnreadOrphans()) {
    // A prefetch's candidates are then data read and not recent: read_by_use_ up to the recent ones.
    pick_by_use(read_by_use_, 0, stamp_ > options_.reuse ? stamp_ - options_.reuse : 0);
  } else {
    pick_by_use(by_use_, 0, kAll);
  }
  if ((demand || everything) && freed < bytes) {
    pick_by_use(by_use_, 1, kAll);
    // Requests in flight: those of cursors that are gone first, by where they begin.
    std::vector<std::pair<std::uint64_t, std::uint64_t>> order;  // (0 or last_use, begin)
    for (const auto& [begin, e] : extents_) {
      if (candidate(2, begin, e)) order.push_back({orphaned(e) ? 0 : e.last_use, begin});
    }
    std::sort(order.begin(), order.end());
    for (const auto& [use, begin] : order) {
      if (freed >= bytes) break;
      evict(begin);
    }
  }
  if (any) {
    ForgetAhead();
    state_->Notify();
    NotifyPeers();
  }
  return freed;
}

void AutoPrefetcher::Touch(std::uint64_t begin, Extent& extent, std::uint64_t stamp) {
  if (!extent.read_from && extent.consumed_to > begin) {
    CountUnread(extent, -1);
    extent.read_from = true;
    read_by_use_.emplace(std::pair{extent.last_use, begin}, &extent);
  }
  if (extent.last_use == stamp) return;
  // The stamp is the newest and a read touches its extents in order: the key goes last (the hint
  // makes that constant time; a key that does not is placed by a search, as without it).
  auto node = by_use_.extract({extent.last_use, begin});
  node.key() = {stamp, begin};
  by_use_.insert(by_use_.end(), std::move(node));
  if (extent.read_from) {
    auto read = read_by_use_.extract({extent.last_use, begin});
    read.key() = {stamp, begin};
    read_by_use_.insert(read_by_use_.end(), std::move(read));
  }
  extent.last_use = stamp;
}

void AutoPrefetcher::CountUnread(const Extent& extent, int delta) {
  if (!extent.speculative) return;
  auto& count = unread_speculative_[extent.owner];
  count += delta;
  if (count == 0) unread_speculative_.erase(extent.owner);
}

bool AutoPrefetcher::UnreadOrphans() const {
  for (const auto& [owner, count] : unread_speculative_) {
    if (!OwnerLive(owner)) return true;
  }
  return false;
}

std::map<std::uint64_t, AutoPrefetcher::Extent>::iterator AutoPrefetcher::EraseExtent(
    std::map<std::uint64_t, Extent>::iterator it) {
  by_use_.erase({it->second.last_use, it->first});
  if (it->second.read_from) {
    read_by_use_.erase({it->second.last_use, it->first});
  } else {
    CountUnread(it->second, -1);
  }
  Count(it->first, it->second.end, false);
  auto next = extents_.erase(it);
  if (extents_.empty()) state_->holding.erase(member_);
  return next;
}

bool AutoPrefetcher::MakeRoom(std::uint64_t bytes, std::uint64_t headroom, bool demand) {
  auto over = [&] {
    const std::uint64_t file = file_account_->held_bytes() + bytes + headroom;
    const std::uint64_t run = run_->account()->held_bytes() + bytes + headroom;
    return std::max(file > options_.memory ? file - options_.memory : 0,
                    run > options_.shared_memory ? run - options_.shared_memory : 0);
  };
  if (over() == 0) return true;
  Evict(over(), demand, false);
  if (over() == 0) return true;
  if (!demand) return false;
  // The run's budget: the other files give back what they hold, in the order they were opened (those
  // holding nothing have nothing to give; a file shed holds nothing after it).
  if (run_->account()->held_bytes() + bytes + headroom > options_.shared_memory) {
    for (auto it = state_->holding.begin(); it != state_->holding.end() && over() > 0;) {
      AutoPrefetcher* other = it->second;
      if (other != this) other->Shed();
      it = state_->holding.upper_bound(other->member_);
    }
  }
  return over() == 0;
}

std::uint64_t AutoPrefetcher::Shed() {
  return Evict(std::numeric_limits<std::uint64_t>::max(), false, /*everything=*/true);
}

void AutoPrefetcher::SetWaitingMemory(bool waiting) {
  if (waiting == waiting_memory_) return;  // every read clears it: no set operation for that
  waiting_memory_ = waiting;
  if (waiting) {
    state_->waiting_memory.emplace(member_, this);
  } else {
    state_->waiting_memory.erase(member_);
  }
}

void AutoPrefetcher::WakeIfWaiting() {
  if (!waiting_memory_ || wake_posted_) return;
  wake_posted_ = true;
  ctx_.scheduler->Post([this, alive = alive_] {
    if (!*alive) return;
    wake_posted_ = false;
    if (waiting_memory_ && pending_id_ && IssueDemand()) TryServe(/*first=*/false);
  });
}

}  // namespace pflab::policies
