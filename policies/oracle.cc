#include "policies/oracle.h"

#include <algorithm>
#include <charconv>
#include <utility>

#include "engine/units.h"

namespace pflab::policies {
namespace {

constexpr std::uint64_t kDefaultMemoryCap = 4ull << 30;

/// A size, or `auto` (nullopt: the planner chooses), or one of `words` standing for a value.
Result<std::optional<std::uint64_t>> ParseAutoSize(const std::string& key, const std::string& text,
                                                   const std::vector<std::pair<std::string, std::uint64_t>>& words,
                                                   bool zero_allowed = false) {
  if (text == "auto") return std::optional<std::uint64_t>();
  for (const auto& [word, value] : words) {
    if (text == word) return std::optional<std::uint64_t>(value);
  }
  auto size = ParseSize(text);
  if (!size) return InvalidArgument("policy oracle: " + key + "=" + text + ": " + size.error().message);
  if (*size == 0 && !zero_allowed) return InvalidArgument("policy oracle: " + key + " must be positive, got " + text);
  return std::optional<std::uint64_t>(*size);
}

std::string FormatAutoSize(const std::optional<std::uint64_t>& value,
                           const std::vector<std::pair<std::string, std::uint64_t>>& words) {
  if (!value) return "auto";
  for (const auto& [word, v] : words) {
    if (*value == v) return word;
  }
  return FormatSizeExact(*value);
}

const std::vector<std::pair<std::string, std::uint64_t>> kRequestWords = {{"whole", OracleShape::kWhole},
                                                                          {"parts", OracleShape::kParts}};
const std::vector<std::pair<std::string, std::uint64_t>> kGapWords = {{"all", OracleShape::kEverything}};

Result<std::optional<std::uint64_t>> ParseMemory(const std::string& text) {
  return ParseAutoSize("memory", text, {});
}
std::string FormatMemory(const std::optional<std::uint64_t>& v) {
  return FormatAutoSize(v, {});
}
Result<std::optional<std::uint64_t>> ParseRequest(const std::string& text) {
  return ParseAutoSize("request", text, kRequestWords);
}
std::string FormatRequest(const std::optional<std::uint64_t>& v) {
  return FormatAutoSize(v, kRequestWords);
}
Result<std::optional<std::uint64_t>> ParseGap(const std::string& text) {
  return ParseAutoSize("gap", text, kGapWords, /*zero_allowed=*/true);  // 0: never bridge a hole
}
std::string FormatGap(const std::optional<std::uint64_t>& v) {
  return FormatAutoSize(v, kGapWords);
}
Result<std::optional<std::uint32_t>> ParseConcurrency(const std::string& text) {
  if (text == "auto") return std::optional<std::uint32_t>();
  std::uint32_t value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc() || ptr != end || value == 0 || value > 100000) {
    return InvalidArgument("policy oracle: concurrency must be auto or 1..100000, got '" + text + "'");
  }
  return std::optional<std::uint32_t>(value);
}
std::string FormatConcurrency(const std::optional<std::uint32_t>& v) {
  return v ? std::to_string(*v) : "auto";
}

}  // namespace

PolicyEntry OracleEntry() {
  using O = OracleOptions;
  return EntryBuilder<O>(
             "oracle", "ours: the best clairvoyant plan we know (policies/oracle.h, policies/oracle_planner.h)",
             "knows the stream's future reads, their think times and the network profile's distributions; plans "
             "offline which bytes to fetch in which requests (whole spans, parts, or per read; holes bridged up to a "
             "gap from the bandwidth-delay product), streamed in pieces that end where reads end, kept until their "
             "last read, under its memory budget, choosing the plan whose modelled time is best over latency "
             "scenarios of its own; stands alone over the fetcher")
      .Place(Placement::kAlone)
      .Text("memory", &O::memory, &ParseMemory, &FormatMemory,
            "held plus in-flight bytes, a hard budget; auto: max(comparison's largest peak, min(object, 4GiB))")
      .Text("request", &O::request, &ParseRequest, &FormatRequest,
            "region size: bytes, whole or parts (forces the planner's choice)")
      .Text("gap", &O::gap, &ParseGap, &FormatGap,
            "holes up to this are fetched: bytes or all (forces the planner's choice)")
      .Text("concurrency", &O::concurrency, &ParseConcurrency, &FormatConcurrency,
            "regions in flight (forces the planner's choice)")
      .Build([](const StackEnv& env, Source* lower, const O& o) -> std::unique_ptr<Source> {
        return std::make_unique<Oracle>(
            env.ctx, lower, o,
            OracleContext{env.future_reads, env.future_think_ns, env.network, env.comparison_peak_memory_bytes,
                          env.stacks_in_run > 1, env.account});
      })
      .Done();
}

Oracle::Oracle(LayerContext ctx, Source* lower, OracleOptions options, OracleContext context)
    : PolicyLayer(ctx, lower), future_(std::move(context.future)), account_(context.account) {
  if (!future_) future_ = std::make_shared<const std::vector<ByteRange>>();
  const std::uint64_t size = lower_->size();
  memory_ = options.memory ? *options.memory
                           : std::max(context.comparison_peak_memory_bytes, std::min(size, kDefaultMemoryCap));
  std::vector<ByteRange> reads = *future_;
  for (ByteRange& r : reads) {
    r.end = std::min(r.end, size);
    r.begin = std::min(r.begin, r.end);
  }
  std::vector<Nanos> think;
  if (context.think && context.think->size() == reads.size()) think = *context.think;
  OraclePlanRequest request;
  request.object_size = size;
  request.memory = memory_;
  request.network = context.network;
  request.shared_run = context.shared_run;
  request.gap = options.gap;
  request.region = options.request;
  request.concurrency = options.concurrency;
  plan_ = PlanOracle(reads, think, request);
  pieces_.resize(plan_.pieces.size());
  regions_.resize(plan_.regions.size());
  // Drop lists: after read i, the pieces whose last use it was.
  drop_begin_.assign(reads.size() + 1, 0);
  for (const PlannedPiece& p : plan_.pieces) {
    if (p.last_use != kNoUse) ++drop_begin_[p.last_use + 1];
  }
  for (std::size_t i = 1; i < drop_begin_.size(); ++i) drop_begin_[i] += drop_begin_[i - 1];
  drop_pieces_.resize(drop_begin_.back());
  std::vector<std::uint32_t> fill(drop_begin_.begin(), drop_begin_.end() - 1);
  for (std::uint32_t i = 0; i < plan_.pieces.size(); ++i) {
    const std::uint32_t use = plan_.pieces[i].last_use;
    if (use != kNoUse) drop_pieces_[fill[use]++] = i;
  }
}

Oracle::~Oracle() {
  // Our callbacks are disarmed by the liveness flag; the fetcher below still owes each a completion.
  for (const Region& r : regions_) {
    if (r.fetch) lower_->Cancel(r.fetch);
    if (r.stream) lower_->CloseStream(r.stream);
  }
  for (const auto& [piece, id] : refetches_) lower_->Cancel(id);
  if (on_demand_) lower_->Cancel(on_demand_);
}

void Oracle::Start() {
  if (started_) return;
  started_ = true;
  // The chains' heads now; the regions they could take over once the other streams of the run that
  // start at this instant have issued their first requests, so that first requests of the run keep
  // their place in the order draws are taken (see oracle_planner.h).
  const std::uint32_t k = std::max(1u, plan_.shape.concurrency);
  while (next_region_ < plan_.regions.size() && in_flight_ < k && plan_.regions[next_region_].issue_after == 0 &&
         plan_.regions[next_region_].predecessor == kNoUse) {
    IssueRegion(next_region_++);
  }
  ctx_.scheduler->Post([this, alive = alive_] {
    if (*alive) IssueRegions();
  });
}

void Oracle::Hint(std::span<const ByteRange> ranges) {
  Start();  // the plan knows what the hint says; it only says the stream has begun
  PolicyLayer::Hint(ranges);
}

void Oracle::IssueRegions() {
  const std::uint32_t k = std::max(1u, plan_.shape.concurrency);
  while (next_region_ < plan_.regions.size() && in_flight_ < k &&
         plan_.regions[next_region_].issue_after <= delivered_) {
    const std::uint32_t index = next_region_++;
    if (!regions_[index].taken_over) IssueRegion(index);
  }
}

void Oracle::IssueRegion(std::uint32_t index) {
  const PlannedRegion& planned = plan_.regions[index];
  Region& region = regions_[index];
  ++in_flight_;
  region.issued = true;
  if (account_ && planned.refetched_bytes) account_->AddRefetched(planned.refetched_bytes);
  for (std::uint32_t p = planned.first_piece; p < planned.end_piece; ++p) pieces_[p].state = PieceState::kInFlight;
  if (planned.stream) region.stream = lower_->OpenStream({planned.range.begin, planned.stream_end});
  if (!region.stream) {
    // One GET (also for a stream region when the layer below has no streams).
    region.fetch = FetchBelow(planned.range, 0,
                              [this, index](Result<Slices>&& result) { OnRegionFetched(index, std::move(result)); });
    return;
  }
  region.carrying = index;
  region.next_piece = planned.first_piece;
  region.position = planned.range.begin;
  if (planned.predecessor == kNoUse) {
    region.started = true;
    PullNext(index);
    return;
  }
  // A predecessor may take this region over until its first byte is here: pull that byte alone, so
  // that while it is outstanding the stream holds nothing a takeover would fetch again.
  PullBelow(region.stream, {region.position, region.position + 1},
            [this, index](Result<Slices>&& result) { OnProbe(index, std::move(result)); });
}

void Oracle::OnProbe(std::uint32_t index, Result<Slices>&& result) {
  Region& region = regions_[index];
  if (region.taken_over || !region.stream) return;  // closed by the takeover
  if (!result.ok()) {
    FailCarried(index, plan_.regions[index].first_piece, result.error());
    return;
  }
  region.started = true;
  region.probe = std::move(*result);
  region.position += 1;
  PullNext(index);
}

void Oracle::PullNext(std::uint32_t index) {
  Region& region = regions_[index];
  const PlannedRegion& carried = plan_.regions[region.carrying];
  if (region.next_piece < carried.end_piece) {
    const std::uint32_t piece = region.next_piece;
    const ByteRange r = plan_.pieces[piece].range;
    if (region.position < r.begin) {
      // The hole between a region and the successor it took over: pulled and dropped.
      const ByteRange hole{region.position, r.begin};
      region.position = r.begin;
      PullBelow(region.stream, hole,
                [this, index](Result<Slices>&& result) { OnPulled(index, kNoUse, std::move(result)); });
      return;
    }
    ++region.next_piece;
    const ByteRange rest{std::max(region.position, r.begin), r.end};
    region.position = rest.end;
    PullBelow(region.stream, rest,
              [this, index, piece](Result<Slices>&& result) { OnPulled(index, piece, std::move(result)); });
    return;
  }
  // The carried region is all here. Its successor is taken over unless its own stream has begun.
  const std::uint32_t next = carried.successor;
  if (next == kNoUse || regions_[next].started || regions_[next].taken_over) {
    CloseRegionStream(index);
    --in_flight_;
    IssueRegions();
    return;
  }
  Region& successor = regions_[next];
  successor.taken_over = true;
  if (successor.stream) {
    CloseRegionStream(next);  // its first byte has not arrived: it holds nothing
    --in_flight_;
  } else if (!successor.issued && account_ && plan_.regions[next].refetched_bytes) {
    account_->AddRefetched(plan_.regions[next].refetched_bytes);
  }
  const PlannedRegion& taken = plan_.regions[next];
  for (std::uint32_t p = taken.first_piece; p < taken.end_piece; ++p) pieces_[p].state = PieceState::kInFlight;
  region.carrying = next;
  region.next_piece = taken.first_piece;
  PullNext(index);
  IssueRegions();
}

void Oracle::OnPulled(std::uint32_t index, std::uint32_t piece, Result<Slices>&& result) {
  Region& region = regions_[index];
  if (!result.ok()) {
    // The fetcher below has retried already: what this stream still had to bring is lost.
    const std::uint32_t from = piece == kNoUse ? region.next_piece : piece;
    FailCarried(index, from, result.error());
    TryComplete();
    return;
  }
  if (piece != kNoUse) {
    if (!region.probe.empty() && piece == plan_.regions[index].first_piece) {
      Slices data = std::move(region.probe);
      region.probe.clear();
      for (auto& s : *result) data.push_back(std::move(s));
      Store(piece, std::move(data));
    } else {
      Store(piece, std::move(*result));
    }
  }
  PullNext(index);
  TryComplete();
}

void Oracle::FailCarried(std::uint32_t index, std::uint32_t from_piece, const Error& error) {
  Region& region = regions_[index];
  for (std::uint32_t p = from_piece; p < plan_.regions[region.carrying].end_piece; ++p) Fail(p, error);
  CloseRegionStream(index);
  --in_flight_;
  IssueRegions();
}

void Oracle::CloseRegionStream(std::uint32_t index) {
  Region& region = regions_[index];
  if (!region.stream) return;
  lower_->CloseStream(region.stream);
  region.stream = 0;
}

void Oracle::OnRegionFetched(std::uint32_t index, Result<Slices>&& result) {
  Region& region = regions_[index];
  region.fetch = 0;
  const PlannedRegion& planned = plan_.regions[index];
  for (std::uint32_t p = planned.first_piece; p < planned.end_piece; ++p) {
    if (!result.ok()) {
      Fail(p, result.error());
      continue;
    }
    const ByteRange r = plan_.pieces[p].range;
    Store(p, planned.end_piece - planned.first_piece == 1
                 ? std::move(*result)
                 : SubSlices(*result, r.begin - planned.range.begin, r.size()));
  }
  --in_flight_;
  IssueRegions();
  TryComplete();
}

void Oracle::Store(std::uint32_t piece, Slices&& data) {
  // A bridged hole, or a piece whose last read is already past (it failed and was fetched again
  // meanwhile), is not kept.
  const std::uint32_t use = plan_.pieces[piece].last_use;
  if (use == kNoUse || use < delivered_) {
    pieces_[piece].state = PieceState::kDropped;
    return;
  }
  pieces_[piece].state = PieceState::kHeld;
  pieces_[piece].data = std::move(data);
}

void Oracle::Fail(std::uint32_t piece, const Error& error) {
  pieces_[piece].state = PieceState::kFailed;
  if (pending_id_ == 0 || pending_use_ == kNoUse || pending_error_) return;
  for (std::uint32_t p = plan_.read_begin[pending_use_]; p < plan_.read_begin[pending_use_ + 1]; ++p) {
    if (plan_.read_pieces[p] == piece) pending_error_ = error;
  }
}

void Oracle::Refetch(std::uint32_t piece) {
  pieces_[piece].state = PieceState::kInFlight;
  const ReadId id = FetchBelow(plan_.pieces[piece].range, 0, [this, piece](Result<Slices>&& result) {
    refetches_.erase(
        std::remove_if(refetches_.begin(), refetches_.end(), [piece](const auto& x) { return x.first == piece; }),
        refetches_.end());
    if (result.ok()) {
      Store(piece, std::move(*result));
    } else {
      Fail(piece, result.error());
    }
    TryComplete();
  });
  refetches_.emplace_back(piece, id);
}

ReadId Oracle::Read(ByteRange range, ReadCallback done) {
  const ReadId id = next_id_++;
  range.end = std::min(range.end, lower_->size());
  if (range.begin >= range.end) {
    CompleteLater(std::move(done), Slices{});
    return id;
  }
  Start();
  pending_id_ = id;
  pending_range_ = range;
  pending_done_ = std::move(done);
  pending_error_.reset();
  pending_use_ = kNoUse;
  if (next_read_ < future_->size()) {
    ByteRange expected = (*future_)[next_read_];
    expected.end = std::min(expected.end, lower_->size());
    if (expected.begin == range.begin && expected.end == range.end) pending_use_ = next_read_++;
  }
  if (pending_use_ == kNoUse) {
    // Not announced: one GET of exactly the read, as asked.
    on_demand_ = FetchBelow(range, 0, [this, id](Result<Slices>&& result) {
      on_demand_ = 0;
      if (pending_id_ != id) return;
      pending_id_ = 0;
      ReadCallback cb = std::move(pending_done_);
      cb(std::move(result));
    });
    return id;
  }
  for (std::uint32_t p = plan_.read_begin[pending_use_]; p < plan_.read_begin[pending_use_ + 1]; ++p) {
    if (pieces_[plan_.read_pieces[p]].state == PieceState::kFailed) Refetch(plan_.read_pieces[p]);
  }
  // Complete through the scheduler even when everything is held: never inside Read().
  ctx_.scheduler->Post([this, alive = alive_, id] {
    if (*alive && pending_id_ == id) TryComplete();
  });
  return id;
}

void Oracle::Cancel(ReadId id) {
  if (id == 0 || id != pending_id_) return;
  if (on_demand_) {
    lower_->Cancel(on_demand_);
    on_demand_ = 0;
  }
  if (pending_use_ == kNoUse) {
    pending_id_ = 0;
    CompleteLater(std::move(pending_done_), Cancelled("read cancelled"));
    return;
  }
  // An announced read that is cancelled is over for the plan too.
  CompleteLater(Finish(), Cancelled("read cancelled"));
}

void Oracle::TryComplete() {
  if (pending_id_ == 0 || pending_use_ == kNoUse) return;
  if (pending_error_) {
    Error error = std::move(*pending_error_);
    pending_error_.reset();
    Finish()(std::move(error));
    return;
  }
  const std::uint32_t first = plan_.read_begin[pending_use_], end = plan_.read_begin[pending_use_ + 1];
  for (std::uint32_t p = first; p < end; ++p) {
    if (pieces_[plan_.read_pieces[p]].state != PieceState::kHeld) return;  // not here yet
  }
  Slices out;
  for (std::uint32_t p = first; p < end; ++p) {
    const std::uint32_t index = plan_.read_pieces[p];
    const ByteRange have = plan_.pieces[index].range;
    const ByteRange want = have.Intersect(pending_range_);
    if (want.empty()) continue;
    if (want == have) {
      for (const Slice& s : pieces_[index].data) out.push_back(s);
    } else {
      for (auto& s : SubSlices(pieces_[index].data, want.begin - have.begin, want.size())) out.push_back(std::move(s));
    }
  }
  Finish()(std::move(out));
}

Source::ReadCallback Oracle::Finish() {
  const std::uint32_t use = pending_use_;
  pending_id_ = 0;
  ReadCallback done = std::move(pending_done_);
  delivered_ = std::max(delivered_, use + 1);
  for (std::uint32_t d = drop_begin_[use]; d < drop_begin_[use + 1]; ++d) {
    Piece& piece = pieces_[drop_pieces_[d]];
    if (piece.state == PieceState::kHeld) {
      piece.data.clear();
      piece.state = PieceState::kDropped;
    }
  }
  IssueRegions();
  return done;
}

}  // namespace pflab::policies
