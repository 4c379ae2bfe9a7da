#include "policies/oracle_planner.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <functional>
#include <map>
#include <queue>
#include <random>
#include <utility>

#include "engine/units.h"
#include "policies/sorted_chunks.h"

namespace pflab::policies {
namespace {

constexpr std::uint64_t kMiB = 1ull << 20;
constexpr std::size_t kJudgedReads = 20000;
constexpr int kScenarios = 48;
constexpr std::size_t kMaxDraws = 4096;      // regions beyond this reuse draws
constexpr double kZ99 = 2.3263478740408408;  // the standard normal's 0.99 quantile

// A region up to a millisecond of transfer is one GET: a stream would gain under a millisecond.
std::uint64_t StreamThreshold(const NetworkSummary& n) {
  return std::clamp<std::uint64_t>(static_cast<std::uint64_t>(n.stream_bandwidth_bytes_per_s / 1000), 64 << 10,
                                   4 * kMiB);
}
// Pulls of at least half a millisecond of transfer: finer pulls cost events and gain under that.
std::uint64_t MinPull(const NetworkSummary& n) {
  return std::clamp<std::uint64_t>(static_cast<std::uint64_t>(n.stream_bandwidth_bytes_per_s / 2000), 64 << 10, kMiB);
}
constexpr std::uint64_t kMaxPull = 64 * kMiB;

std::uint32_t FullRateRequests(const NetworkSummary& n) {
  const double k = std::floor(n.link_bandwidth_bytes_per_s / n.stream_bandwidth_bytes_per_s);
  return std::clamp<std::uint32_t>(static_cast<std::uint32_t>(std::max(1.0, k)), 1, std::max(1u, n.max_connections));
}

// Disjoint, non-adjacent intervals [begin, end) keyed by begin.
class IntervalSet {
 public:
  using Pos = SortedChunks<std::uint64_t>::Pos;

  void Add(ByteRange r) {
    if (r.empty()) return;
    const Pos it = set_.UpperBound(r.begin);
    Pos start = it;
    if (it != set_.Begin()) {
      const Pos prev = set_.Prev(it);
      const auto& [b, e] = set_.At(prev);
      if (e >= r.begin) {
        r.begin = b;
        r.end = std::max(r.end, e);
        start = prev;
      }
    }
    Pos stop = it;
    while (stop != set_.End() && set_.At(stop).first <= r.end) {
      r.end = std::max(r.end, set_.At(stop).second);
      stop = set_.Next(stop);
    }
    if (start == stop) {
      set_.InsertAt(start, {r.begin, r.end});
    } else {
      set_.Replace(start, stop, {r.begin, r.end});
    }
  }
  std::uint64_t Overlap(ByteRange r) const {
    std::uint64_t total = 0;
    for (Pos it = set_.FloorOrBegin(r.begin); it != set_.End() && set_.At(it).first < r.end; it = set_.Next(it)) {
      const std::uint64_t b = std::max(set_.At(it).first, r.begin), e = std::min(set_.At(it).second, r.end);
      if (e > b) total += e - b;
    }
    return total;
  }
  const SortedChunks<std::uint64_t>& set() const { return set_; }
  bool empty() const { return set_.empty(); }
  void Clear() { set_.clear(); }

 private:
  SortedChunks<std::uint64_t> set_;  // begin -> end
};

// The next read of exactly the same range, for each read (kNoUse: none): what a byte past its
// planned last use may be kept for.
// The reads are keyed by a 64-bit mix of their range, and a key remembers its latest read (two
// ranges of one key share it: the range is compared before a read counts as the same). The keys live
// in an open-addressing table (linear probing, at most half full): a node-based hash map cost a
// cache miss or two per read on the 1 M-read traces.
std::vector<std::uint32_t> NextSame(std::span<const ByteRange> reads) {
  std::vector<std::uint32_t> next_same(reads.size(), kNoUse);
  struct Slot {
    std::uint64_t key;
    std::uint32_t read;  // kNoUse: empty
  };
  unsigned bits = 4;
  while ((std::size_t{1} << bits) < 2 * reads.size()) ++bits;
  const std::size_t mask = (std::size_t{1} << bits) - 1;
  std::vector<Slot> table(mask + 1, Slot{0, kNoUse});
  for (std::uint32_t k = static_cast<std::uint32_t>(reads.size()); k-- > 0;) {
    const std::uint64_t key = reads[k].begin * 0x9e3779b97f4a7c15ull ^ reads[k].end;
    std::uint64_t h = key ^ (key >> 31);
    h *= 0xbf58476d1ce4e5b9ull;
    std::size_t at = static_cast<std::size_t>(h >> (64 - bits));
    while (table[at].read != kNoUse && table[at].key != key) at = (at + 1) & mask;
    Slot& slot = table[at];
    if (slot.read != kNoUse && reads[slot.read] == reads[k]) next_same[k] = slot.read;
    slot = Slot{key, k};
  }
  return next_same;
}

// The pieces kept past their last use for a later re-read of theirs, by re-read; the walk gives
// them up the farthest re-read first (Walker::Evict). A list per re-read, its pieces in descending
// order (the order of the ordered set of (re-read, piece) this replaces, a tree node per piece),
// under a bitset of the re-reads that have pieces, in levels of 64-bit words (a bit per non-zero
// word of the level below), so the next lower such re-read takes a few word scans.
class KeptPieces {
 public:
  explicit KeptPieces(std::uint32_t reads) : head_(reads, kNoUse) {
    std::size_t words = (std::size_t{reads} + 63) / 64;
    while (words > 0) {
      levels_.emplace_back(words, 0);
      if (words == 1) break;
      words = (words + 63) / 64;
    }
  }

  /// Adds `piece` (not in any list) to re-read `reread`'s.
  void Insert(std::uint32_t reread, std::uint32_t piece) {
    if (next_.size() <= piece) next_.resize(std::size_t{piece} + 1, kNoUse);
    std::uint32_t& head = head_[reread];
    if (head == kNoUse) Mark(reread);
    if (head == kNoUse || head < piece) {
      next_[piece] = head;
      head = piece;
      return;
    }
    std::uint32_t at = head;
    while (next_[at] != kNoUse && next_[at] > piece) at = next_[at];
    next_[piece] = next_[at];
    next_[at] = piece;
  }
  /// Removes `piece` from re-read `reread`'s list (it is there).
  void Erase(std::uint32_t reread, std::uint32_t piece) {
    std::uint32_t& head = head_[reread];
    if (head == piece) {
      head = next_[piece];
      if (head == kNoUse) Unmark(reread);
      return;
    }
    std::uint32_t at = head;
    while (next_[at] != piece) at = next_[at];
    next_[at] = next_[piece];
  }
  /// The latest re-read at or before `at` with pieces, or kNoUse.
  std::uint32_t Last(std::uint32_t at) const {
    if (levels_.empty()) return kNoUse;
    const std::int64_t found = Prev(0, at);
    return found < 0 ? kNoUse : static_cast<std::uint32_t>(found);
  }
  std::uint32_t Head(std::uint32_t reread) const { return head_[reread]; }
  std::uint32_t Next(std::uint32_t piece) const { return next_[piece]; }

 private:
  void Mark(std::uint64_t bit) {
    for (auto& words : levels_) {
      std::uint64_t& word = words[bit >> 6];
      const bool was_empty = word == 0;
      word |= std::uint64_t{1} << (bit & 63);
      if (!was_empty) return;
      bit >>= 6;
    }
  }
  void Unmark(std::uint64_t bit) {
    for (auto& words : levels_) {
      std::uint64_t& word = words[bit >> 6];
      word &= ~(std::uint64_t{1} << (bit & 63));
      if (word != 0) return;
      bit >>= 6;
    }
  }
  static std::int64_t Highest(std::size_t word, std::uint64_t bits) {
    return static_cast<std::int64_t>(word * 64 + 63 - static_cast<std::size_t>(std::countl_zero(bits)));
  }
  // The highest set bit at or below `at` of level `level`, or -1.
  std::int64_t Prev(std::size_t level, std::int64_t at) const {
    if (at < 0) return -1;
    const std::vector<std::uint64_t>& words = levels_[level];
    std::size_t w = static_cast<std::size_t>(at) >> 6;
    const std::uint64_t bits = words[w] & (~std::uint64_t{0} >> (63 - (at & 63)));
    if (bits != 0) return Highest(w, bits);
    if (level + 1 == levels_.size()) {  // the top: one word
      while (w-- > 0) {
        if (words[w] != 0) return Highest(w, words[w]);
      }
      return -1;
    }
    const std::int64_t up = Prev(level + 1, static_cast<std::int64_t>(w) - 1);
    return up < 0 ? -1 : Highest(static_cast<std::size_t>(up), words[static_cast<std::size_t>(up)]);
  }

  std::vector<std::uint32_t> head_;                 // by re-read: its first (highest) piece, or kNoUse
  std::vector<std::uint32_t> next_;                 // by piece: the next (lower) piece of its list
  std::vector<std::vector<std::uint64_t>> levels_;  // [0]: a bit per re-read
};

// The walk that builds one plan (see the header).
class Walker {
  struct Segment {  // a stretch of a region: bytes the batch reads, or a hole between them
    ByteRange range;
    bool needed;
  };

 public:
  // `next_same`: NextSame(reads), shared by the walks of one set of reads.
  Walker(std::span<const ByteRange> reads, const OracleShape& shape, const OraclePlanRequest& request,
         std::span<const std::uint32_t> next_same)
      : reads_(reads),
        shape_(shape),
        request_(request),
        kept_(static_cast<std::uint32_t>(reads.size())),
        next_same_(next_same) {
    plan_.shape = shape;
    stream_threshold_ = StreamThreshold(request.network);
    min_pull_ = MinPull(request.network);
  }

  // Whether the concurrency limited the parts of a span: if not, a plan of this shape with more
  // concurrency is this plan (the walk reads the concurrency nowhere else).
  bool parts_capped() const { return parts_capped_; }

  OraclePlan Run() {
    const std::uint32_t n = static_cast<std::uint32_t>(reads_.size());
    plan_.read_begin.assign(n + 1, 0);
    drop_head_.assign(n, kNoUse);
    const std::uint64_t memory = std::max<std::uint64_t>(1, request_.memory);
    while (planned_ < n) {
      std::uint64_t free = memory > outstanding_ ? memory - outstanding_ : 0;
      // Once something is outstanding, wait for a quarter of the budget so batches stay large.
      if (consumed_ < planned_ && free < memory / 4) {
        Consume();
        continue;
      }
      batch_.Clear();
      ++batch_id_;
      std::uint64_t need = 0;
      std::uint64_t room = free;
      std::uint32_t k = planned_;
      for (; k < n; ++k) {
        const std::uint64_t missing = Missing(reads_[k]);
        // Bytes kept for a later re-read give way, the farthest re-read first, once the reader has
        // caught up with the plan (only the budget then stands in the way).
        if (need + missing > room && consumed_ == planned_) room += Evict(k, need + missing - room);
        if (need + missing > room && (k > planned_ || (outstanding_ > 0 && consumed_ < planned_))) break;
        for (const ByteRange& m : scratch_) batch_.Add(m);
        need += missing;
      }
      free = room;
      if (k == planned_) {
        Consume();
        continue;
      }
      MakeBatch(planned_, k, free, need);
      planned_ = k;
    }
    plan_.read_begin[n] = static_cast<std::uint32_t>(plan_.read_pieces.size());
    CountRefetched();
    return std::move(plan_);
  }

 private:
  // Each region's bytes that an earlier region (in issue order) fetched already. Read nowhere in the
  // walk, so counted after it in one sweep over offsets instead of an ordered set of every byte
  // planned so far searched for each region: a region's new bytes are those whose earliest region is
  // it, and the rest are refetched.
  //
  // The sweep reads the regions in offset order only: each one's range travels with it, and the
  // new bytes are counted by offset order too (a region's range and count read at random were a
  // cache miss each on the 1 M-read traces).
  void CountRefetched() {
    struct Span {
      std::uint64_t begin, end;
      std::uint32_t region;
    };
    const std::size_t count = plan_.regions.size();
    std::vector<Span> by_begin(count);
    for (std::uint32_t j = 0; j < count; ++j)
      by_begin[j] = {plan_.regions[j].range.begin, plan_.regions[j].range.end, j};
    std::sort(by_begin.begin(), by_begin.end(), [](const Span& a, const Span& b) {
      return a.begin != b.begin ? a.begin < b.begin : a.region < b.region;
    });
    std::vector<std::uint64_t> fresh(count, 0);  // by place in by_begin
    // The regions covering the current offset: earliest (lowest index) on top, as (region, place in
    // by_begin), and their ends; a region that has ended leaves `covering` once on top.
    using Covering = std::pair<std::uint32_t, std::uint32_t>;
    std::priority_queue<Covering, std::vector<Covering>, std::greater<>> covering;
    std::priority_queue<std::uint64_t, std::vector<std::uint64_t>, std::greater<>> ends;
    std::size_t next = 0;
    std::uint64_t at = 0;
    while (next < count || !ends.empty()) {
      if (ends.empty()) at = by_begin[next].begin;  // nothing covers [at, the next begin)
      for (; next < count && by_begin[next].begin <= at; ++next) {
        covering.push({by_begin[next].region, static_cast<std::uint32_t>(next)});
        ends.push(by_begin[next].end);
      }
      while (!ends.empty() && ends.top() <= at) ends.pop();
      if (ends.empty()) continue;
      while (by_begin[covering.top().second].end <= at) covering.pop();
      // Until the next begin or end the same regions cover: the bytes are the earliest one's.
      const std::uint64_t until = next < count ? std::min(ends.top(), by_begin[next].begin) : ends.top();
      fresh[covering.top().second] += until - at;
      at = until;
    }
    for (std::size_t b = 0; b < count; ++b) {
      const Span& span = by_begin[b];
      plan_.regions[span.region].refetched_bytes = span.end - span.begin - fresh[b];
      plan_.refetched_bytes += span.end - span.begin - fresh[b];
    }
  }

  // The parts of `r` neither live nor already in the batch, into scratch_; returns their bytes.
  std::uint64_t Missing(ByteRange r) {
    scratch_.clear();
    if (r.empty()) return 0;
    covered_.clear();
    for (auto it = live_.FloorOrBegin(r.begin); it != live_.End() && live_.At(it).first < r.end; it = live_.Next(it)) {
      const auto& [begin, live] = live_.At(it);
      const std::uint32_t index = live.piece;
      const ByteRange p{begin, begin + live.size};
      if (p.end <= r.begin) continue;
      covered_.push_back(p.Intersect(r));
      pinned_[index] = batch_id_;  // the batch counts on it: it may not be evicted
    }
    const auto& batch = batch_.set();
    for (auto bt = batch.FloorOrBegin(r.begin); bt != batch.End() && batch.At(bt).first < r.end; bt = batch.Next(bt)) {
      const auto& [b, e] = batch.At(bt);
      if (e > r.begin) covered_.push_back(ByteRange{b, e}.Intersect(r));
    }
    std::sort(covered_.begin(), covered_.end(),
              [](const ByteRange& a, const ByteRange& b) { return a.begin < b.begin; });
    std::uint64_t pos = r.begin, total = 0;
    for (const ByteRange& c : covered_) {
      if (c.begin > pos) {
        scratch_.push_back({pos, c.begin});
        total += c.begin - pos;
      }
      pos = std::max(pos, c.end);
    }
    if (pos < r.end) {
      scratch_.push_back({pos, r.end});
      total += r.end - pos;
    }
    return total;
  }

  // Read `consumed_` is delivered: pieces whose last use it was are dropped.
  void Consume() {
    const std::uint32_t use = consumed_;
    for (std::uint32_t e = drop_head_[use]; e != kNoUse; e = drops_[e].next) {
      const std::uint32_t index = drops_[e].piece;
      PlannedPiece& piece = plan_.pieces[index];
      if (dropped_[index]) continue;
      if (piece.last_use != kNoUse && piece.last_use != use) continue;  // used again later
      if (piece.last_use != kNoUse && next_same_[use] != kNoUse) {
        // Read again later (beyond the reads planned so far): kept while the budget allows.
        if (next_use_[index] != next_same_[use]) {  // else its entry came twice
          next_use_[index] = next_same_[use];
          kept_.Insert(next_same_[use], index);
        }
        continue;
      }
      Drop(index);
    }
    ++consumed_;
  }

  // Piece `index` is looked at once read `use` is delivered (`use` is at least consumed_).
  void PushDrop(std::uint32_t use, std::uint32_t index) {
    if (use == kNoUse) return;  // never delivered: the queue kept it for ever
    drops_.push_back({index, drop_head_[use]});
    drop_head_[use] = static_cast<std::uint32_t>(drops_.size() - 1);
  }

  void Drop(std::uint32_t index) {
    PlannedPiece& piece = plan_.pieces[index];
    dropped_[index] = 1;
    outstanding_ -= piece.range.size();
    if (piece.last_use != kNoUse) live_.Erase(piece.range.begin);
    if (next_use_[index] != kNoUse) {
      kept_.Erase(next_use_[index], index);
      next_use_[index] = kNoUse;
    }
  }

  // Drops kept pieces whose re-read comes after read `k`, the farthest first, until `want` bytes are
  // free or none is left; returns the bytes freed.
  std::uint64_t Evict(std::uint32_t k, std::uint64_t want) {
    std::uint64_t freed = 0;
    if (reads_.empty()) return 0;
    for (std::uint32_t r = kept_.Last(static_cast<std::uint32_t>(reads_.size() - 1));
         freed < want && r != kNoUse && r > k; r = kept_.Last(r - 1)) {
      for (std::uint32_t index = kept_.Head(r); index != kNoUse && freed < want;) {
        const std::uint32_t lower = kept_.Next(index);
        if (pinned_[index] != batch_id_) {
          freed += plan_.pieces[index].range.size();
          Drop(index);  // takes `index` out of r's list only
        }
        index = lower;
      }
    }
    return freed;
  }

  // The first interval of sorted_batch_ that may overlap [begin, ...): the last starting at or
  // before `begin`, else the first.
  std::vector<ByteRange>::const_iterator BatchFrom(std::uint64_t begin) const {
    const ByteRange* found =
        UpperBoundBy(sorted_batch_.data(), sorted_batch_.size(), begin, [](const ByteRange& b) { return b.begin; });
    const auto it = sorted_batch_.begin() + (found - sorted_batch_.data());
    return it != sorted_batch_.begin() ? std::prev(it) : it;
  }

  // From the first to the last byte of `r` that the batch reads (empty if none).
  ByteRange NeededWithin(ByteRange r) const {
    auto it = BatchFrom(r.begin);
    if (it != sorted_batch_.end() && it->end <= r.begin) ++it;
    if (it == sorted_batch_.end() || it->begin >= r.end) return {};
    ByteRange out{std::max(it->begin, r.begin), 0};
    auto last = sorted_batch_.begin() + (LowerBoundBy(sorted_batch_.data(), sorted_batch_.size(), r.end,
                                                      [](const ByteRange& b) { return b.begin; }) -
                                         sorted_batch_.data());
    --last;  // the last interval starting before r.end; it overlaps r (it starts at or after `it`)
    out.end = std::min(last->end, r.end);
    return out;
  }

  bool LiveBetween(std::uint64_t begin, std::uint64_t end) const {
    const auto it = live_.LowerBound(begin);
    return it != live_.End() && live_.At(it).first < end;
  }

  void MakeBatch(std::uint32_t first, std::uint32_t end, std::uint64_t free, std::uint64_t need) {
    // The batch is final here: its intervals as a sorted array, searched many times below (a tree
    // walk per search was the planner's hottest instruction on random reads).
    sorted_batch_.clear();
    batch_.set().ForEach([&](const auto& entry) { sorted_batch_.push_back({entry.first, entry.second}); });
    // Spans: the batch's missing bytes merged across holes up to `gap`, never across held bytes.
    std::vector<ByteRange> spans;
    auto merge = [&](bool bridge) {
      spans.clear();
      std::uint64_t total = 0;
      for (const ByteRange& interval : sorted_batch_) {
        const std::uint64_t b = interval.begin, e = interval.end;
        if (!spans.empty()) {
          ByteRange& cur = spans.back();
          const std::uint64_t hole = b - cur.end;
          if (bridge && (shape_.gap == OracleShape::kEverything || hole <= shape_.gap) && !LiveBetween(cur.end, b)) {
            total += e - cur.end;
            cur.end = e;
            continue;
          }
        }
        spans.push_back({b, e});
        total += e - b;
      }
      return total;
    };
    const std::uint64_t total = merge(true);
    if (total > free && need <= free) merge(false);  // bridging would break the budget

    // Regions, in offset order first.
    std::vector<PlannedRegion> regions;
    std::vector<std::uint32_t> span_of;
    for (const ByteRange& s : spans) {
      std::uint64_t step = s.size();
      if (shape_.region == OracleShape::kParts) {
        const std::uint64_t wanted = s.size() / std::max<std::uint64_t>(1, stream_threshold_);
        if (wanted > std::max(1u, shape_.concurrency)) parts_capped_ = true;
        const std::uint64_t parts =
            std::max<std::uint64_t>(1, std::min<std::uint64_t>(std::max(1u, shape_.concurrency), wanted));
        step = (s.size() + parts - 1) / parts;
      } else if (shape_.region != OracleShape::kWhole && shape_.region > 0) {
        step = shape_.region;
      }
      for (std::uint64_t at = s.begin, next = 0; at < s.end; at = next) {
        next = std::min(s.end, at + step);
        // A stream's start inside the stretch ends it there (several streams' reads).
        if (shape_.cuts) {
          auto c = std::upper_bound(request_.cuts.begin(), request_.cuts.end(), at);
          if (c != request_.cuts.end() && *c < next) next = *c;
        }
        // Trimmed to the bytes the batch reads: a cut may fall in a bridged hole, and a stretch of
        // nothing but hole is not fetched at all.
        const ByteRange cut{at, next};
        const ByteRange needed = NeededWithin(cut);
        if (needed.empty()) continue;
        PlannedRegion r;
        r.range = needed;
        r.stream = r.range.size() > stream_threshold_;
        r.issue_after = consumed_;
        regions.push_back(r);
        span_of.push_back(static_cast<std::uint32_t>(&s - spans.data()));
      }
    }
    // Chains of stream regions of one span, in offset order (regions are still in offset order),
    // where the hole between two costs at most a median latency to stream through.
    std::vector<char> linked(regions.size(), 0);  // regions[j] -> regions[j + 1]
    const std::uint64_t bdp = request_.network.bandwidth_delay_bytes();
    for (std::size_t j = 0; j + 1 < regions.size(); ++j) {
      linked[j] = span_of[j] == span_of[j + 1] && regions[j].stream && regions[j + 1].stream &&
                  regions[j + 1].range.begin - regions[j].range.end <= bdp;
    }
    for (std::size_t j = regions.size(); j-- > 0;) {
      regions[j].stream_end = linked[j] ? regions[j + 1].stream_end : regions[j].range.end;
    }
    // Issue order: by the first read of the batch that needs a region.
    std::vector<std::uint32_t> first_use(regions.size(), kNoUse);
    for (std::uint32_t k = first; k < end; ++k) {
      const ByteRange r = reads_[k];
      if (r.empty()) continue;
      auto it = regions.begin() + (UpperBoundBy(regions.data(), regions.size(), r.begin,
                                                [](const PlannedRegion& g) { return g.range.begin; }) -
                                   regions.data());
      if (it != regions.begin()) --it;
      for (; it != regions.end() && it->range.begin < r.end; ++it) {
        const std::size_t j = static_cast<std::size_t>(it - regions.begin());
        if (it->range.end > r.begin && first_use[j] == kNoUse) first_use[j] = k;
      }
    }
    // Each chain's head (its lowest region) first, chains in the order their first read comes: the
    // head's stream can reach every byte of its chain, so its draw bounds the chain's time, and the
    // run's first request (the same draw for every policy) is the head of the first chain needed.
    // Then the other regions, by their first read.
    std::vector<std::uint32_t> chain_use(regions.size(), kNoUse);
    for (std::size_t j = regions.size(); j-- > 0;) {
      chain_use[j] = std::min(first_use[j], linked[j] ? chain_use[j + 1] : kNoUse);
    }
    for (std::size_t j = 1; j < regions.size(); ++j) {
      if (linked[j - 1]) chain_use[j] = chain_use[j - 1];
    }
    auto head = [&](std::uint32_t j) { return j == 0 || !linked[j - 1]; };
    const std::vector<std::uint32_t>& order = IssueOrder(first, end, first_use, chain_use, head);

    // Read ends of the batch, where pulls may end.
    batch_ends_.clear();
    for (std::uint32_t k = first; k < end; ++k) {
      if (!reads_[k].empty()) batch_ends_.push_back(reads_[k].end);
    }
    std::sort(batch_ends_.begin(), batch_ends_.end());
    batch_ends_.erase(std::unique(batch_ends_.begin(), batch_ends_.end()), batch_ends_.end());

    std::vector<std::uint32_t> final_index(regions.size());
    for (std::size_t o = 0; o < order.size(); ++o) {
      // Issue order visits the regions (in offset order) at random: fetch ahead.
      if (o + 8 < order.size()) __builtin_prefetch(&regions[order[o + 8]]);
      const std::uint32_t j = order[o];
      PlannedRegion region = regions[j];
      const std::uint32_t index = static_cast<std::uint32_t>(plan_.regions.size());
      final_index[j] = index;
      region.first_piece = static_cast<std::uint32_t>(plan_.pieces.size());
      CutPieces(region, index, first_use[j]);
      region.end_piece = static_cast<std::uint32_t>(plan_.pieces.size());
      outstanding_ += region.range.size();
      plan_.regions.push_back(region);
    }
    for (std::size_t j = 0; j + 1 < regions.size(); ++j) {
      if (!linked[j]) continue;
      plan_.regions[final_index[j]].successor = final_index[j + 1];
      plan_.regions[final_index[j + 1]].predecessor = final_index[j];
    }
    plan_.peak_bytes = std::max(plan_.peak_bytes, outstanding_);
    dropped_.resize(plan_.pieces.size(), 0);
    pinned_.resize(plan_.pieces.size(), 0);
    next_use_.resize(plan_.pieces.size(), kNoUse);

    // Each read's pieces; a piece's last use moves on with every read that needs it.
    for (std::uint32_t k = first; k < end; ++k) {
      plan_.read_begin[k] = static_cast<std::uint32_t>(plan_.read_pieces.size());
      const ByteRange r = reads_[k];
      if (r.empty()) continue;
      for (auto it = live_.FloorOrBegin(r.begin); it != live_.End() && live_.At(it).first < r.end;
           it = live_.Next(it)) {
        const auto& [begin, live] = live_.At(it);
        if (begin + live.size <= r.begin) continue;
        const std::uint32_t index = live.piece;
        PlannedPiece& piece = plan_.pieces[index];
        if (next_use_[index] != kNoUse) {  // a kept piece is read again: live once more
          kept_.Erase(next_use_[index], index);
          next_use_[index] = kNoUse;
        }
        plan_.read_pieces.push_back(index);
        piece.last_use = k;
        PushDrop(k, index);
      }
    }
  }

  // The batch's regions (in offset order) in issue order: heads before the rest, heads by
  // `chain_use`, the rest by `first_use`, ties in offset order: what a stable sort on those keys
  // gives. The keys are reads of the batch, [first, end), so the sort counts (two passes over the
  // regions and the batch's reads) instead of comparing; a key outside them (none is) falls back
  // to the stable sort.
  template <typename Head>
  const std::vector<std::uint32_t>& IssueOrder(std::uint32_t first, std::uint32_t end,
                                               const std::vector<std::uint32_t>& first_use,
                                               const std::vector<std::uint32_t>& chain_use, Head head) {
    const std::uint32_t count = static_cast<std::uint32_t>(first_use.size());
    order_.resize(count);
    auto key = [&](std::uint32_t j) { return head(j) ? chain_use[j] : first_use[j]; };
    bool counted = true;
    for (std::uint32_t j = 0; j < count && counted; ++j) counted = key(j) >= first && key(j) < end;
    if (!counted) {
      for (std::uint32_t j = 0; j < count; ++j) order_[j] = j;
      std::stable_sort(order_.begin(), order_.end(), [&](std::uint32_t a, std::uint32_t b) {
        if (head(a) != head(b)) return head(a);
        return key(a) < key(b);
      });
      return order_;
    }
    // Slot of (head or not, key): heads' keys in [0, span), the others' in [span, 2 span).
    const std::uint32_t span = end - first;
    auto slot = [&](std::uint32_t j) { return (head(j) ? 0 : span) + (key(j) - first); };
    starts_.assign(2 * static_cast<std::size_t>(span) + 1, 0);
    for (std::uint32_t j = 0; j < count; ++j) ++starts_[slot(j) + 1];
    for (std::size_t b = 1; b < starts_.size(); ++b) starts_[b] += starts_[b - 1];
    for (std::uint32_t j = 0; j < count; ++j) order_[starts_[slot(j)]++] = j;
    return order_;
  }

  // Cuts a region into pieces: one for a GET; for a stream, pulls that end at read ends (at least
  // min_pull_ apart), with holes of at least min_pull_ as pieces of their own, dropped on arrival.
  void CutPieces(const PlannedRegion& region, std::uint32_t index, std::uint32_t first_use) {
    segments_.clear();
    std::uint64_t pos = region.range.begin;
    for (auto it = BatchFrom(region.range.begin); it != sorted_batch_.end() && it->begin < region.range.end; ++it) {
      const ByteRange needed = it->Intersect(region.range);
      if (needed.empty()) continue;
      if (needed.begin > pos) segments_.push_back({{pos, needed.begin}, false});
      segments_.push_back({needed, true});
      pos = needed.end;
    }
    if (pos < region.range.end) segments_.push_back({{pos, region.range.end}, false});

    auto emit = [&](ByteRange r, bool needed) {
      PlannedPiece piece;
      piece.range = r;
      piece.region = index;
      const std::uint32_t p = static_cast<std::uint32_t>(plan_.pieces.size());
      plan_.pieces.push_back(piece);
      if (needed) {
        live_.Emplace(r.begin, LivePiece{p, static_cast<std::uint32_t>(r.size())});
      } else {
        PushDrop(first_use, p);  // a hole: in flight until it arrives, then dropped
      }
    };
    if (!region.stream) {
      // One GET: one piece. Needed unless it is all hole (it never is: regions hold missing bytes).
      emit(region.range, true);
      return;
    }
    ByteRange cur{region.range.begin, region.range.begin};
    bool cur_needed = false;
    auto flush = [&] {
      if (!cur.empty()) emit(cur, cur_needed);
      cur = {cur.end, cur.end};
      cur_needed = false;
    };
    for (const Segment& s : segments_) {
      if (!s.needed && s.range.size() >= min_pull_) {
        flush();
        for (std::uint64_t at = s.range.begin; at < s.range.end; at += kMaxPull) {
          emit({at, std::min(s.range.end, at + kMaxPull)}, false);
        }
        cur = {s.range.end, s.range.end};
        continue;
      }
      // A small hole joins the pull after it; a needed stretch is cut where reads end.
      auto e = batch_ends_.begin() +
               (UpperBoundBy(batch_ends_.data(), batch_ends_.size(), s.range.begin, [](std::uint64_t v) { return v; }) -
                batch_ends_.data());
      for (std::uint64_t at = s.range.begin; at < s.range.end;) {
        std::uint64_t next = s.range.end;
        if (s.needed && e != batch_ends_.end() && *e < next) next = *e;
        next = std::min(next, cur.begin + kMaxPull);
        cur.end = next;
        cur_needed |= s.needed;
        at = next;
        while (e != batch_ends_.end() && *e <= at) ++e;
        if (cur.size() >= kMaxPull || (s.needed && cur.size() >= min_pull_)) flush();
      }
    }
    flush();
  }

  std::span<const ByteRange> reads_;
  OracleShape shape_;
  const OraclePlanRequest& request_;
  OraclePlan plan_;
  std::uint64_t stream_threshold_ = 0;
  std::uint64_t min_pull_ = 0;
  // A live piece's size is kept with it: reading the piece itself was a cache miss per search on
  // the 1 M-read traces (a piece is at most kMaxPull bytes).
  struct LivePiece {
    std::uint32_t piece;
    std::uint32_t size;
  };
  static_assert(kMaxPull <= std::numeric_limits<std::uint32_t>::max());
  SortedChunks<LivePiece> live_;  // needed pieces held or in flight, by begin
  std::uint64_t outstanding_ = 0;
  // The pieces to look at once each read is delivered: a list per read (drop_head_[read], then
  // drops_[e].next), not one priority queue of (read, piece). A read's entries may be taken in any
  // order: each one's outcome depends on its own piece only.
  struct DropEntry {
    std::uint32_t piece;
    std::uint32_t next;  // the read's next entry, or kNoUse
  };
  std::vector<std::uint32_t> drop_head_;
  std::vector<DropEntry> drops_;
  std::vector<char> dropped_;
  std::vector<std::uint32_t> pinned_;         // by piece: the batch that counts on it
  std::vector<std::uint32_t> next_use_;       // by piece: the re-read it is kept for, or kNoUse
  KeptPieces kept_;                           // pieces kept past their last use, by re-read
  std::span<const std::uint32_t> next_same_;  // by read: the next read of the same range, or kNoUse
  std::uint32_t batch_id_ = 0;
  IntervalSet batch_;  // the batch's missing bytes
  std::uint32_t consumed_ = 0;
  std::uint32_t planned_ = 0;
  std::vector<ByteRange> scratch_, covered_;
  std::vector<ByteRange> sorted_batch_;  // batch_ as a sorted array, while a batch is made
  std::vector<std::uint64_t> batch_ends_;
  std::vector<Segment> segments_;
  std::vector<std::uint32_t> order_, starts_;  // IssueOrder's result and counts
  bool parts_capped_ = false;
};

// First-byte latencies of `draws` requests in each scenario, from the profile's distribution with
// the planner's own seeds (it knows the distribution, not the run's draws). Constant latency: one.
std::vector<std::vector<double>> Scenarios(const NetworkSummary& n, std::size_t draws) {
  const double median = static_cast<double>(n.latency_median_ns) / 1e9;
  const double overhead = static_cast<double>(n.request_overhead_ns) / 1e9;
  if (n.constant_latency()) return {std::vector<double>(1, median + overhead)};
  const double sigma =
      std::log(static_cast<double>(n.latency_p99_ns) / static_cast<double>(n.latency_median_ns)) / kZ99;
  std::vector<std::vector<double>> out(kScenarios);
  for (int s = 0; s < kScenarios; ++s) {
    std::mt19937_64 rng(0x6f7261636c65ull + static_cast<std::uint64_t>(s));
    std::lognormal_distribution<double> dist(std::log(median), sigma);
    out[s].resize(std::max<std::size_t>(1, draws));
    for (double& d : out[s]) d = dist(rng) + overhead;
  }
  return out;
}

}  // namespace

std::string OracleShape::ToString() const {
  auto size = [](std::uint64_t v) { return FormatSize(v); };
  std::string out = "gap=";
  out += gap == kEverything ? "all" : size(gap);
  out += ",region=";
  out += region == kWhole ? "whole" : region == kParts ? "parts" : size(region);
  out += ",concurrency=" + std::to_string(concurrency);
  if (cuts) out += ",cuts";
  return out;
}

OraclePlan BuildOraclePlan(std::span<const ByteRange> reads, const OracleShape& shape,
                           const OraclePlanRequest& request) {
  const std::vector<std::uint32_t> next_same = NextSame(reads);
  return Walker(reads, shape, request, next_same).Run();
}

namespace {

// Which regions open before each read, a property of the plan alone: the planner models every plan
// under 48 latency scenarios, and sorting each read's newly opened regions once instead of once per
// scenario took a fifth of the oracle's time on random reads.
struct OpenSchedule {
  std::vector<std::uint32_t> end;        // by read i: regions [end[i - 1], end[i]) open before it
  std::vector<std::uint32_t> by_offset;  // the same regions, each read's in offset order
};

OpenSchedule ScheduleOpens(const OraclePlan& plan, std::size_t n) {
  OpenSchedule schedule;
  schedule.end.resize(n);
  std::uint32_t next = 0;
  const std::uint32_t regions = static_cast<std::uint32_t>(plan.regions.size());
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint32_t first = next;
    while (next < regions && plan.regions[next].issue_after <= i) schedule.by_offset.push_back(next++);
    schedule.end[i] = next;
    if (next - first > 1) {
      std::sort(schedule.by_offset.begin() + first, schedule.by_offset.end(), [&](std::uint32_t a, std::uint32_t b) {
        return plan.regions[a].range.begin < plan.regions[b].range.begin;
      });
    }
  }
  return schedule;
}

// First-byte latencies by draw, every scenario's side by side: values[draw * scenarios + s]. The
// model walks a plan's reads once for all scenarios, so one step touches one contiguous row.
struct LatencyTable {
  std::size_t scenarios = 1;
  std::size_t draws = 1;
  std::vector<double> values = std::vector<double>(1, 0.0);
};

LatencyTable MakeLatencyTable(const std::vector<std::vector<double>>& scenarios) {
  LatencyTable table;
  table.scenarios = scenarios.size();
  table.draws = scenarios.front().size();
  table.values.resize(table.scenarios * table.draws);
  for (std::size_t s = 0; s < table.scenarios; ++s) {
    for (std::size_t d = 0; d < table.draws; ++d) table.values[d * table.scenarios + s] = scenarios[s][d];
  }
  return table;
}

// Buffers of the model, kept across the candidate plans (their sizes hardly change between them).
struct ModelScratch {
  std::vector<double> first_byte;      // by region, then scenario
  std::vector<double> done;            // by read, then scenario
  std::vector<double> delivered;       // by read, then scenario (several streams only)
  std::vector<double> slots;           // by scenario: its SlotTree's times
  std::vector<std::uint32_t> losers;   // by scenario: its SlotTree's losers
  std::vector<std::uint32_t> winners;  // by scenario: its SlotTree's winner
  std::vector<double> last_open;       // by scenario
  std::vector<double> ready;           // by scenario: the current read's delivery
};

// The request slots of one scenario as a tournament ("loser") tree over `leaves` (a power of two)
// finish times: node t (1 <= t < leaves) holds the leaf that lost the match there, and the overall
// winner, the least time, is kept apart. Replacing the least time replays the matches on its leaf's
// path to the root only: one comparison per level, on addresses known before the first (the path
// is the leaf's), without branches. A heap's replacement walked down along data-dependent children
// and climbed back with a branch per step. Which of equal times wins cannot change a time.
struct SlotTree {
  double* times;          // by leaf
  std::uint32_t* losers;  // by node; [0] unused
  std::uint32_t* winner;  // the leaf of the least time
  std::uint32_t leaves;

  double Least() const { return times[*winner]; }
  void ReplaceLeast(double value) {
    std::uint32_t cur = *winner;
    double cur_time = value;
    times[cur] = value;
    for (std::uint32_t node = (leaves + cur) >> 1; node > 0; node >>= 1) {
      const std::uint32_t other = losers[node];
      const double other_time = times[other];
      // Selects by mask, not by branch: the outcome of a match is a coin toss to a predictor.
      const std::uint32_t loses = 0u - static_cast<std::uint32_t>(other_time < cur_time);
      const std::uint32_t swap = (cur ^ other) & loses;
      losers[node] = other ^ swap;
      cur ^= swap;
      cur_time = std::min(cur_time, other_time);  // other_time when it is less: the winner's time
    }
    *winner = cur;
  }
};

// Fills `times`, `losers` and `winner` of a tree of `leaves` leaves whose first `free` leaves are free
// slots (-infinity: the least, so taken first, and no wait: max(open, -inf) is open) and the rest
// padding (+infinity: never the least while a finite time is in the tree).
void InitSlotTree(std::uint32_t leaves, std::uint32_t free, double* times, std::uint32_t* losers,
                  std::uint32_t* winner) {
  for (std::uint32_t i = 0; i < leaves; ++i) {
    times[i] = i < free ? -std::numeric_limits<double>::infinity() : std::numeric_limits<double>::infinity();
  }
  std::vector<std::uint32_t> won(2 * static_cast<std::size_t>(leaves));  // by node: the winning leaf
  for (std::uint32_t i = 0; i < leaves; ++i) won[leaves + i] = i;
  for (std::uint32_t node = leaves; node-- > 1;) {
    const std::uint32_t a = won[2 * node], b = won[2 * node + 1];
    const bool b_wins = times[b] < times[a];
    won[node] = b_wins ? b : a;
    losers[node] = b_wins ? a : b;
  }
  *winner = leaves == 1 ? 0 : won[1];
}

// The model (see the header) of one plan under every scenario of `latencies` at once, into `out`
// (one elapsed time per scenario). The plan's geometry (which regions open before which read, which
// pieces a read waits for, how far into its region each piece ends) is the same in every scenario;
// only the times differ, so each step of the walk is one loop over the scenarios. Every scenario's
// arithmetic is the same sequence of operations as a walk of that scenario alone: the times are
// bit-for-bit those of one scenario at a time. The slots are a SlotTree per scenario.
void ModelScenarios(const OraclePlan& plan, std::uint32_t concurrency, const OpenSchedule& schedule,
                    std::span<const ByteRange> reads, std::span<const Nanos> think, const NetworkSummary& network,
                    const LatencyTable& latencies, std::span<const std::uint32_t> previous, ModelScratch& m,
                    std::span<double> out) {
  const std::size_t scenarios = latencies.scenarios;
  const std::size_t n = reads.size();
  if (n == 0) {
    std::fill(out.begin(), out.end(), 0.0);
    return;
  }
  const std::size_t regions = plan.regions.size();
  const std::uint32_t k = std::max(1u, concurrency);
  const double active = static_cast<double>(std::max<std::size_t>(1, std::min<std::size_t>(k, regions)));
  const double rate = std::min(network.stream_bandwidth_bytes_per_s, network.link_bandwidth_bytes_per_s / active);
  // The engine's own times beyond the first byte's draw, as the simulator charges them: a stream's
  // setup, and the reader's time on a read's bytes before the stream's next read (0 unless calibrated).
  const double stream_overhead = static_cast<double>(network.stream_overhead_ns) / 1e9;
  const double read_s_per_byte = static_cast<double>(network.read_overhead_ns_per_mib) / 1e9 / kMiB;
  auto read_cost = [&](std::size_t i) { return read_s_per_byte * static_cast<double>(reads[i].size()); };
  // When each region's bytes start to flow: its own first byte, or its predecessor's stream reaching
  // it, whichever is first (the takeover).
  // Every region's row is written when it opens, before any read or successor looks at it (a read's
  // pieces and a region's predecessor open no later than it): not cleared first.
  m.first_byte.resize(regions * scenarios);
  // Reads of several streams are delivered out of order: a region issued after k reads opens once
  // all of reads [0, k) are delivered (`done`, their running maximum).
  m.done.resize(n * scenarios);
  if (!previous.empty()) m.delivered.resize(n * scenarios);
  // Each scenario's k slots, free at first, padded to a power of two that never leaves.
  std::uint32_t leaves = 1;
  while (leaves < k) leaves *= 2;
  m.slots.resize(std::size_t{leaves} * scenarios);
  m.losers.resize(std::size_t{leaves} * scenarios);
  m.winners.resize(scenarios);
  InitSlotTree(leaves, k, m.slots.data(), m.losers.data(), m.winners.data());
  for (std::size_t s = 1; s < scenarios; ++s) {
    std::copy(m.slots.begin(), m.slots.begin() + leaves, m.slots.begin() + s * leaves);
    std::copy(m.losers.begin(), m.losers.begin() + leaves, m.losers.begin() + s * leaves);
    m.winners[s] = m.winners[0];
  }
  m.last_open.assign(scenarios, 0.0);
  m.ready.assign(scenarios, 0.0);
  double* const first_byte = m.first_byte.data();
  double* const done = m.done.data();
  double* const delivered = m.delivered.data();
  double* const slots = m.slots.data();
  std::uint32_t* const losers = m.losers.data();
  std::uint32_t* const winners = m.winners.data();
  double* const last_open = m.last_open.data();
  double* const ready = m.ready.data();  // before read i: read i - 1's delivery
  std::uint32_t next = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const double after = think.empty() ? 0 : static_cast<double>(think[i]) / 1e9;
    // The read's issue: the previous read's delivery (its own stream's), the reader's time on that
    // read's bytes, then think time.
    if (!previous.empty()) {
      if (previous[i] == kNoUse) {
        for (std::size_t s = 0; s < scenarios; ++s) ready[s] = after;
      } else {
        const double* prev = delivered + previous[i] * scenarios;
        const double cost = read_cost(previous[i]);
        for (std::size_t s = 0; s < scenarios; ++s) ready[s] = prev[s] + cost + after;
      }
    } else if (i == 0) {
      for (std::size_t s = 0; s < scenarios; ++s) ready[s] = 0;
    } else {
      const double cost = read_cost(i - 1);
      for (std::size_t s = 0; s < scenarios; ++s) ready[s] = ready[s] + cost + after;
    }
    const std::uint32_t first = next;
    for (; next < schedule.end[i]; ++next) {
      const PlannedRegion& r = plan.regions[next];
      const double* draw = latencies.values.data() + (next % latencies.draws) * scenarios;
      const double transfer = static_cast<double>(r.range.size()) / rate;
      const double setup = r.stream ? stream_overhead : 0;
      double* fb = first_byte + static_cast<std::size_t>(next) * scenarios;
      const double* after_reads = r.issue_after == 0 ? nullptr : done + (r.issue_after - 1) * scenarios;
      // A free slot's time is -infinity: the region opens without waiting.
      for (std::size_t s = 0; s < scenarios; ++s) {
        SlotTree tree{slots + s * leaves, losers + s * leaves, winners + s, leaves};
        double open = std::max(last_open[s], after_reads == nullptr ? 0.0 : after_reads[s]);
        open = std::max(open, tree.Least());
        last_open[s] = open;
        fb[s] = open + draw[s] + setup;
        tree.ReplaceLeast(fb[s] + transfer);
      }
    }
    for (std::uint32_t o = first; o < next; ++o) {
      const std::uint32_t j = schedule.by_offset[o];
      const PlannedRegion& r = plan.regions[j];
      if (r.predecessor == kNoUse) continue;
      const PlannedRegion& p = plan.regions[r.predecessor];
      const double reach = static_cast<double>(r.range.begin - p.range.begin) / rate;
      double* fb = first_byte + static_cast<std::size_t>(j) * scenarios;
      const double* pred = first_byte + static_cast<std::size_t>(r.predecessor) * scenarios;
      for (std::size_t s = 0; s < scenarios; ++s) fb[s] = std::min(fb[s], pred[s] + reach);
    }
    for (std::uint32_t p = plan.read_begin[i]; p < plan.read_begin[i + 1]; ++p) {
      const PlannedPiece& piece = plan.pieces[plan.read_pieces[p]];
      const PlannedRegion& r = plan.regions[piece.region];
      const std::uint64_t upto = r.stream ? piece.range.end : r.range.end;
      const double arrival = static_cast<double>(upto - r.range.begin) / rate;
      const double* fb = first_byte + static_cast<std::size_t>(piece.region) * scenarios;
      for (std::size_t s = 0; s < scenarios; ++s) ready[s] = std::max(ready[s], fb[s] + arrival);
    }
    if (!previous.empty()) std::copy(ready, ready + scenarios, delivered + i * scenarios);
    double* done_i = done + i * scenarios;
    if (i == 0) {
      std::copy(ready, ready + scenarios, done_i);
    } else {
      const double* done_before = done_i - scenarios;
      for (std::size_t s = 0; s < scenarios; ++s) done_i[s] = std::max(done_before[s], ready[s]);
    }
  }
  std::copy(done + (n - 1) * scenarios, done + n * scenarios, out.begin());
}

}  // namespace

double ModelOraclePlan(const OraclePlan& plan, std::span<const ByteRange> reads, std::span<const Nanos> think,
                       const NetworkSummary& network, std::span<const double> latencies_s) {
  LatencyTable table;  // one scenario; no latencies: every first byte at its open
  if (!latencies_s.empty()) table = MakeLatencyTable({std::vector<double>(latencies_s.begin(), latencies_s.end())});
  ModelScratch scratch;
  double elapsed = 0;
  ModelScenarios(plan, plan.shape.concurrency, ScheduleOpens(plan, reads.size()), reads, think, network, table, {},
                 scratch, std::span<double>(&elapsed, 1));
  return elapsed;
}

OraclePlan PlanOracle(std::span<const ByteRange> reads, std::span<const Nanos> think,
                      const OraclePlanRequest& request) {
  const NetworkSummary& net = request.network;
  const std::uint64_t bdp = std::max<std::uint64_t>(1, net.bandwidth_delay_bytes());
  std::vector<std::uint64_t> gaps = {0, bdp / 8, bdp, 8 * bdp, OracleShape::kEverything};
  std::vector<std::uint64_t> sizes = {OracleShape::kWhole, OracleShape::kParts, 16 * kMiB, 4 * kMiB, kMiB};
  std::vector<std::uint32_t> concurrency = {FullRateRequests(net), std::max(1u, net.max_connections)};
  if (request.gap) gaps = {*request.gap};
  if (request.region) sizes = {*request.region};
  if (request.concurrency) concurrency = {*request.concurrency};
  std::sort(concurrency.begin(), concurrency.end());
  concurrency.erase(std::unique(concurrency.begin(), concurrency.end()), concurrency.end());

  const std::size_t judged = std::min(reads.size(), kJudgedReads);
  const auto judged_reads = reads.first(judged);
  const auto judged_think = think.empty() ? think : think.first(judged);
  const std::span<const std::uint32_t> judged_previous =
      request.previous.size() == reads.size() ? std::span<const std::uint32_t>(request.previous).first(judged)
                                              : std::span<const std::uint32_t>();

  // The candidates' shapes, and the plan each one models: the walk reads a shape's concurrency only
  // to split spans into parts, so shapes that differ in nothing else share one plan, as do shapes of
  // parts whose spans were never split into as many parts as the lesser concurrency allows.
  const std::vector<std::uint32_t> judged_next_same = NextSame(judged_reads);
  std::vector<OracleShape> shapes;
  std::vector<std::size_t> plan_of;
  std::vector<OraclePlan> built;
  std::size_t most_regions = 1;
  // Several streams: each shape also with regions that begin where each stream starts.
  const std::vector<bool> cut_choices =
      request.cuts.empty() ? std::vector<bool>{false} : std::vector<bool>{false, true};
  for (bool cuts : cut_choices) {
    for (std::uint64_t gap : gaps) {
      for (std::uint64_t size : sizes) {
        // Concurrencies ascend: a plan is shared with the next shape unless the concurrency capped a
        // span's parts.
        bool share = false;
        for (std::uint32_t k : concurrency) {
          shapes.push_back(OracleShape{gap, size, k, cuts});
          if (!share) {
            Walker walker(judged_reads, shapes.back(), request, judged_next_same);
            built.push_back(walker.Run());
            most_regions = std::max(most_regions, built.back().regions.size());
            share = size != OracleShape::kParts || !walker.parts_capped();
          }
          plan_of.push_back(built.size() - 1);
        }
      }
    }
  }
  const std::size_t candidates = shapes.size();
  auto regions_of = [&](std::size_t c) { return built[plan_of[c]].regions.size(); };
  // Every candidate under every scenario, with common draws (region j gets draw j).
  const auto scenarios = Scenarios(net, std::min(most_regions, kMaxDraws));
  const LatencyTable latencies = MakeLatencyTable(scenarios);
  std::vector<std::vector<double>> times(candidates, std::vector<double>(scenarios.size()));
  std::vector<double> best_time(scenarios.size(), 0);
  ModelScratch scratch;
  OpenSchedule schedule;
  for (std::size_t c = 0; c < candidates; ++c) {
    if (c == 0 || plan_of[c] != plan_of[c - 1]) schedule = ScheduleOpens(built[plan_of[c]], judged);
    ModelScenarios(built[plan_of[c]], shapes[c].concurrency, schedule, judged_reads, judged_think, net, latencies,
                   judged_previous, scratch, times[c]);
    for (std::size_t s = 0; s < scenarios.size(); ++s) {
      best_time[s] = c == 0 ? times[c][s] : std::min(best_time[s], times[c][s]);
    }
  }
  // The choice, in two steps.
  // 1. Robustness: a plan's regret in a scenario is its time over the best candidate's there; the
  //    plans whose worst regret is within 2% of the smallest are kept. A plan whose time hinges on
  //    one slow first byte has a large regret in the scenario where that draw is slow and another
  //    plan's is not (the run's first request gets the same draw in every plan and every policy).
  // 2. Speed: of those, the lowest mean time, except that when other stacks share the run, the plan
  //    with fewer requests is preferred unless the other gains at least a median latency: every
  //    extra request changes which draws all later requests of the run get (draws are taken in the
  //    order requests start), a lottery worth entering only for a real gain.
  const double slack = request.shared_run ? static_cast<double>(net.latency_median_ns) / 1e9 : 0.0;
  std::vector<double> regret(candidates, 0), excess(candidates, 0), mean(candidates, 0);
  double least_regret = 0;
  for (std::size_t c = 0; c < candidates; ++c) {
    for (std::size_t s = 0; s < scenarios.size(); ++s) {
      regret[c] = std::max(regret[c], best_time[s] > 0 ? times[c][s] / best_time[s] : 1.0);
      excess[c] = std::max(excess[c], times[c][s] - best_time[s]);
      mean[c] += times[c][s];
    }
    mean[c] /= static_cast<double>(scenarios.size());
    least_regret = c == 0 ? regret[c] : std::min(least_regret, regret[c]);
  }
  // Robust: within 2% of the least worst regret, or (sharing the run) never more than the slack
  // behind the best.
  auto robust = [&](std::size_t c) { return regret[c] <= least_regret * 1.02 || excess[c] < slack; };
  double best_mean = -1;
  for (std::size_t c = 0; c < candidates; ++c) {
    if (robust(c) && (best_mean < 0 || mean[c] < best_mean)) best_mean = mean[c];
  }
  std::size_t winner = candidates;
  for (std::size_t c = 0; c < candidates; ++c) {
    if (!robust(c) || mean[c] > best_mean + slack + best_mean * 1e-9) continue;
    if (winner == candidates || regions_of(c) < regions_of(winner) ||
        (regions_of(c) == regions_of(winner) && mean[c] < mean[winner])) {
      winner = c;
    }
  }
  const double best_mean_s = mean[winner];
  OraclePlan best = std::move(built[plan_of[winner]]);
  best.shape = shapes[winner];
  best.estimated_s = best_mean_s;
  if (judged < reads.size()) {
    const double estimate = best.estimated_s;
    best = BuildOraclePlan(reads, best.shape, request);
    best.estimated_s = estimate;
  }
  return best;
}

}  // namespace pflab::policies
