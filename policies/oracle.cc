#include "policies/oracle.h"

#include <algorithm>
#include <cassert>
#include <charconv>
#include <map>
#include <string>
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
        // Other stacks share the run unless they all plan together with this one (one object).
        assert(!env.object_reads || env.object_streams > 0);
        const std::uint32_t planned_together = env.object_reads ? env.object_streams : 1;
        return std::make_unique<Oracle>(
            env.ctx, lower, o,
            OracleContext{env.future_reads, env.future_think_ns, env.network, env.comparison_peak_memory_bytes,
                          env.stacks_in_run > planned_together, env.account, env.object_reads, env.run,
                          env.object.bucket + "/" + env.object.name});
      })
      .Done();
}

namespace {

// The groups of the run's oracle stacks of objects that several streams read, by object.
struct OracleRunState {
  std::map<std::string, std::shared_ptr<void>> groups;
};

}  // namespace

Oracle::Oracle(LayerContext ctx, Source* lower, OracleOptions options, OracleContext context)
    : PolicyLayer(ctx, lower), future_(std::move(context.future)), account_(context.account) {
  if (!future_) future_ = std::make_shared<const std::vector<ByteRange>>();
  const std::uint64_t size = lower_->size();
  memory_ = options.memory ? *options.memory
                           : std::max(context.comparison_peak_memory_bytes, std::min(size, kDefaultMemoryCap));
  const bool shared = context.object_reads && context.run;
  // This stack's reads among the plan's: all of them when it plans alone, else the union's of its stream.
  if (shared) {
    const auto& all = *context.object_reads;
    for (std::uint32_t u = 0; u < all.size(); ++u) {
      if (all[u].stream == ctx_.stream) uses_.push_back(u);
    }
    std::shared_ptr<void>& slot = context.run->Get<OracleRunState>().groups[context.object_key];
    if (slot) {
      g_ = std::static_pointer_cast<Group>(slot);
      g_->members.push_back(this);
      return;
    }
  } else {
    uses_.resize(future_->size());
    for (std::uint32_t i = 0; i < uses_.size(); ++i) uses_[i] = i;
  }
  g_ = std::make_shared<Group>();
  g_->shared = shared;
  g_->members.push_back(this);
  std::vector<ByteRange> reads;
  std::vector<Nanos> think;
  if (shared) {
    // The streams' reads in trace order, each with its think time after its stream's previous read.
    for (const StreamRead& r : *context.object_reads) {
      reads.push_back(r.range);
      think.push_back(r.think);
    }
    context.run->Get<OracleRunState>().groups[context.object_key] = g_;
  } else {
    reads = *future_;
    if (context.think && context.think->size() == reads.size()) think = *context.think;
  }
  for (ByteRange& r : reads) {
    r.end = std::min(r.end, size);
    r.begin = std::min(r.begin, r.end);
  }
  OraclePlanRequest request;
  request.object_size = size;
  request.memory = memory_;
  request.network = context.network;
  request.shared_run = context.shared_run;
  request.gap = options.gap;
  request.region = options.request;
  request.concurrency = options.concurrency;
  if (shared) {
    std::map<std::uint32_t, std::uint32_t> last;  // by stream: its latest read so far
    for (std::uint32_t u = 0; u < context.object_reads->size(); ++u) {
      auto [it, first] = last.try_emplace((*context.object_reads)[u].stream, u);
      request.previous.push_back(first ? kNoUse : it->second);
      if (first) request.cuts.push_back(std::min((*context.object_reads)[u].range.begin, size));
      it->second = u;
    }
    std::sort(request.cuts.begin(), request.cuts.end());
    request.cuts.erase(std::unique(request.cuts.begin(), request.cuts.end()), request.cuts.end());
  }
  Group& g = *g_;
  g.plan = PlanOracle(reads, think, request);
  g.pieces.resize(g.plan.pieces.size());
  g.regions.resize(g.plan.regions.size());
  g.done.assign(reads.size(), 0);
  // Drop lists: after read i, the pieces whose last use it was.
  g.drop_begin.assign(reads.size() + 1, 0);
  for (const PlannedPiece& p : g.plan.pieces) {
    if (p.last_use != kNoUse) ++g.drop_begin[p.last_use + 1];
  }
  for (std::size_t i = 1; i < g.drop_begin.size(); ++i) g.drop_begin[i] += g.drop_begin[i - 1];
  g.drop_pieces.resize(g.drop_begin.back());
  std::vector<std::uint32_t> fill(g.drop_begin.begin(), g.drop_begin.end() - 1);
  for (std::uint32_t i = 0; i < g.plan.pieces.size(); ++i) {
    const std::uint32_t use = g.plan.pieces[i].last_use;
    if (use != kNoUse) g.drop_pieces[fill[use]++] = i;
  }
  if (shared) {
    // Each region is carried by the stack of the stream that needs it first, when it exists.
    g.region_stream.assign(g.regions.size(), ctx_.stream);
    std::vector<char> seen(g.regions.size(), 0);
    for (std::uint32_t u = 0; u < reads.size(); ++u) {
      for (std::uint32_t p = g.plan.read_begin[u]; p < g.plan.read_begin[u + 1]; ++p) {
        const std::uint32_t region = g.plan.pieces[g.plan.read_pieces[p]].region;
        if (seen[region]) continue;
        seen[region] = 1;
        g.region_stream[region] = (*context.object_reads)[u].stream;
      }
    }
  }
}

Oracle::~Oracle() {
  Group& g = *g_;
  // Our callbacks are disarmed by the liveness flag; the fetcher below still owes each a completion.
  std::vector<std::uint32_t> orphaned;  // pieces this stack was bringing
  for (std::uint32_t i = 0; i < g.regions.size(); ++i) {
    Region& r = g.regions[i];
    if (r.issuer != this) continue;
    const bool active = r.fetch || r.stream;
    if (r.fetch) lower_->Cancel(r.fetch);
    if (r.stream) lower_->CloseStream(r.stream);
    r.fetch = 0;
    r.stream = 0;
    if (active && g.shared) --g.in_flight;
  }
  for (const auto& [piece, id] : refetches_) {
    lower_->Cancel(id);
    orphaned.push_back(piece);
  }
  if (on_demand_) lower_->Cancel(on_demand_);
  if (!g.shared) return;
  std::erase(g.members, this);
  ++g.left;
  if (g.members.empty()) {
    for (Piece& p : g.pieces) p.data.clear();
    return;
  }
  // Pieces in flight on this stack's requests are fetched again by a stack that waits for them; this
  // stack's reads no longer hold the plan back.
  for (std::uint32_t i = 0; i < g.regions.size(); ++i) {
    if (g.regions[i].issuer != this) continue;
    for (std::uint32_t p = g.plan.regions[i].first_piece; p < g.plan.regions[i].end_piece; ++p) {
      if (g.pieces[p].state == PieceState::kInFlight) orphaned.push_back(p);
    }
    g.regions[i].issuer = nullptr;
  }
  for (std::uint32_t p : orphaned) {
    if (g.pieces[p].state == PieceState::kInFlight) g.pieces[p].state = PieceState::kFailed;
  }
  for (std::uint32_t k = next_read_; k < uses_.size(); ++k) MarkDone(uses_[k]);
  if (pending_id_ && pending_use_ != kNoUse) MarkDone(pending_use_);
  Oracle* other = g.members.front();
  ctx_.scheduler->Post([other, alive = other->alive_, group = g_] {
    if (!*alive) return;
    for (Oracle* m : std::vector<Oracle*>(group->members)) {
      if (!m->pending_id_ || m->pending_use_ == kNoUse) continue;
      const OraclePlan& plan = group->plan;
      for (std::uint32_t p = plan.read_begin[m->pending_use_]; p < plan.read_begin[m->pending_use_ + 1]; ++p) {
        if (group->pieces[plan.read_pieces[p]].state == PieceState::kFailed) m->Refetch(plan.read_pieces[p]);
      }
    }
    other->IssueRegions();
  });
}

void Oracle::Start() {
  Group& g = *g_;
  if (g.started) return;
  g.started = true;
  // The chains' heads now; the regions they could take over once the other streams of the run that
  // start at this instant have issued their first requests, so that first requests of the run keep
  // their place in the order draws are taken (see oracle_planner.h).
  const std::uint32_t k = std::max(1u, g.plan.shape.concurrency);
  while (g.next_region < g.plan.regions.size() && g.in_flight < k && g.plan.regions[g.next_region].issue_after == 0 &&
         g.plan.regions[g.next_region].predecessor == kNoUse) {
    IssueRegion(g.next_region++);
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
  Group& g = *g_;
  const std::uint32_t k = std::max(1u, g.plan.shape.concurrency);
  while (g.next_region < g.plan.regions.size() && g.in_flight < k &&
         g.plan.regions[g.next_region].issue_after <= g.delivered) {
    const std::uint32_t index = g.next_region++;
    if (!g.regions[index].taken_over) IssueRegion(index);
  }
}

void Oracle::IssueRegion(std::uint32_t index) {
  Group& g = *g_;
  if (g.shared) {
    // The stack of the stream that needs it first carries it; before that stream has opened the
    // object, the first stack that has.
    Oracle* issuer = g.members.front();
    for (Oracle* m : g.members) {
      if (m->ctx_.stream == g.region_stream[index]) issuer = m;
    }
    if (issuer != this) {
      issuer->IssueRegion(index);
      return;
    }
  }
  const PlannedRegion& planned = g.plan.regions[index];
  Region& region = g.regions[index];
  ++g.in_flight;
  region.issued = true;
  region.issuer = this;
  if (account_ && planned.refetched_bytes) account_->AddRefetched(planned.refetched_bytes);
  for (std::uint32_t p = planned.first_piece; p < planned.end_piece; ++p) g.pieces[p].state = PieceState::kInFlight;
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
  Region& region = g_->regions[index];
  if (region.taken_over || !region.stream) return;  // closed by the takeover
  if (!result.ok()) {
    FailCarried(index, g_->plan.regions[index].first_piece, result.error());
    return;
  }
  region.started = true;
  region.probe = std::move(*result);
  region.position += 1;
  PullNext(index);
}

void Oracle::PullNext(std::uint32_t index) {
  Group& g = *g_;
  Region& region = g.regions[index];
  const PlannedRegion& carried = g.plan.regions[region.carrying];
  if (region.next_piece < carried.end_piece) {
    const std::uint32_t piece = region.next_piece;
    const ByteRange r = g.plan.pieces[piece].range;
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
  if (next == kNoUse || g.regions[next].started || g.regions[next].taken_over) {
    CloseRegionStream(index);
    --g.in_flight;
    IssueRegions();
    return;
  }
  Region& successor = g.regions[next];
  successor.taken_over = true;
  if (successor.stream) {
    CloseRegionStream(next);  // its first byte has not arrived: it holds nothing
    --g.in_flight;
  } else if (!successor.issued && account_ && g.plan.regions[next].refetched_bytes) {
    account_->AddRefetched(g.plan.regions[next].refetched_bytes);
  }
  const PlannedRegion& taken = g.plan.regions[next];
  for (std::uint32_t p = taken.first_piece; p < taken.end_piece; ++p) g.pieces[p].state = PieceState::kInFlight;
  successor.issuer = this;
  region.carrying = next;
  region.next_piece = taken.first_piece;
  PullNext(index);
  IssueRegions();
}

void Oracle::OnPulled(std::uint32_t index, std::uint32_t piece, Result<Slices>&& result) {
  Region& region = g_->regions[index];
  if (!result.ok()) {
    // The fetcher below has retried already: what this stream still had to bring is lost.
    const std::uint32_t from = piece == kNoUse ? region.next_piece : piece;
    FailCarried(index, from, result.error());
    TryComplete();
    return;
  }
  if (piece != kNoUse) {
    if (!region.probe.empty() && piece == g_->plan.regions[index].first_piece) {
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
  Region& region = g_->regions[index];
  for (std::uint32_t p = from_piece; p < g_->plan.regions[region.carrying].end_piece; ++p) Fail(p, error);
  CloseRegionStream(index);
  --g_->in_flight;
  IssueRegions();
}

void Oracle::CloseRegionStream(std::uint32_t index) {
  Region& region = g_->regions[index];
  if (!region.stream) return;
  // The stream belongs to the stack that opened it (a takeover may close another stack's).
  Oracle* issuer = region.issuer ? region.issuer : this;
  issuer->lower_->CloseStream(region.stream);
  region.stream = 0;
}

void Oracle::OnRegionFetched(std::uint32_t index, Result<Slices>&& result) {
  Group& g = *g_;
  Region& region = g.regions[index];
  region.fetch = 0;
  const PlannedRegion& planned = g.plan.regions[index];
  for (std::uint32_t p = planned.first_piece; p < planned.end_piece; ++p) {
    if (!result.ok()) {
      Fail(p, result.error());
      continue;
    }
    const ByteRange r = g.plan.pieces[p].range;
    Store(p, planned.end_piece - planned.first_piece == 1
                 ? std::move(*result)
                 : SubSlices(*result, r.begin - planned.range.begin, r.size()));
  }
  --g.in_flight;
  IssueRegions();
  TryComplete();
}

void Oracle::Store(std::uint32_t piece, Slices&& data) {
  // A bridged hole, or a piece whose last read is already past (it failed and was fetched again
  // meanwhile), is not kept.
  const std::uint32_t use = g_->plan.pieces[piece].last_use;
  if (use == kNoUse || use < g_->delivered) {
    g_->pieces[piece].state = PieceState::kDropped;
    return;
  }
  g_->pieces[piece].state = PieceState::kHeld;
  g_->pieces[piece].data = std::move(data);
}

bool Oracle::Needs(std::uint32_t piece) const {
  if (pending_id_ == 0 || pending_use_ == kNoUse) return false;
  const OraclePlan& plan = g_->plan;
  for (std::uint32_t p = plan.read_begin[pending_use_]; p < plan.read_begin[pending_use_ + 1]; ++p) {
    if (plan.read_pieces[p] == piece) return true;
  }
  return false;
}

void Oracle::Fail(std::uint32_t piece, const Error& error) {
  g_->pieces[piece].state = PieceState::kFailed;
  for (Oracle* m : g_->members) {
    if (!m->pending_error_ && m->Needs(piece)) m->pending_error_ = error;
  }
}

void Oracle::Refetch(std::uint32_t piece) {
  g_->pieces[piece].state = PieceState::kInFlight;
  const ReadId id = FetchBelow(g_->plan.pieces[piece].range, 0, [this, piece](Result<Slices>&& result) {
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
  if (next_read_ < future_->size() && next_read_ < uses_.size()) {
    ByteRange expected = (*future_)[next_read_];
    expected.end = std::min(expected.end, lower_->size());
    if (expected.begin == range.begin && expected.end == range.end) pending_use_ = uses_[next_read_++];
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
  const OraclePlan& plan = g_->plan;
  for (std::uint32_t p = plan.read_begin[pending_use_]; p < plan.read_begin[pending_use_ + 1]; ++p) {
    const PieceState state = g_->pieces[plan.read_pieces[p]].state;
    // Shared: a piece another stream's reads let go (or whose carrier closed) is fetched again here.
    if (state == PieceState::kFailed || (g_->shared && state == PieceState::kDropped)) {
      if (state == PieceState::kDropped && account_)
        account_->AddRefetched(plan.pieces[plan.read_pieces[p]].range.size());
      Refetch(plan.read_pieces[p]);
    }
  }
  // Complete through the scheduler even when everything is held: never inside Read().
  ctx_.scheduler->Post([this, alive = alive_, id] {
    if (*alive && pending_id_ == id) TryCompleteOwn();
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
  if (!g_->shared) {
    TryCompleteOwn();
    return;
  }
  // A callback may start the stream's next read; a stack destroyed meanwhile is skipped (stacks die
  // only with the run, so the search for it, once per member, runs only if one did: with a thousand
  // streams on one object it was most of the run).
  const std::shared_ptr<Group> group = g_;
  const std::uint64_t left = group->left;
  for (Oracle* m : std::vector<Oracle*>(group->members)) {
    if (group->left == left || std::find(group->members.begin(), group->members.end(), m) != group->members.end()) {
      m->TryCompleteOwn();
    }
  }
}

void Oracle::TryCompleteOwn() {
  if (pending_id_ == 0 || pending_use_ == kNoUse) return;
  if (pending_error_) {
    Error error = std::move(*pending_error_);
    pending_error_.reset();
    Finish()(std::move(error));
    return;
  }
  const OraclePlan& plan = g_->plan;
  const std::uint32_t first = plan.read_begin[pending_use_], end = plan.read_begin[pending_use_ + 1];
  for (std::uint32_t p = first; p < end; ++p) {
    if (g_->pieces[plan.read_pieces[p]].state != PieceState::kHeld) return;  // not here yet
  }
  Slices out;
  for (std::uint32_t p = first; p < end; ++p) {
    const std::uint32_t index = plan.read_pieces[p];
    const ByteRange have = plan.pieces[index].range;
    const ByteRange want = have.Intersect(pending_range_);
    if (want.empty()) continue;
    if (want == have) {
      for (const Slice& s : g_->pieces[index].data) out.push_back(s);
    } else {
      for (auto& s : SubSlices(g_->pieces[index].data, want.begin - have.begin, want.size())) {
        out.push_back(std::move(s));
      }
    }
  }
  Finish()(std::move(out));
}

// Union read `use` is over; pieces go once every read up to their last use is over (with several
// streams reads finish out of trace order).
void Oracle::MarkDone(std::uint32_t use) {
  Group& g = *g_;
  if (use >= g.done.size() || g.done[use]) return;
  g.done[use] = 1;
  while (g.delivered < g.done.size() && g.done[g.delivered]) {
    const std::uint32_t u = g.delivered++;
    for (std::uint32_t d = g.drop_begin[u]; d < g.drop_begin[u + 1]; ++d) {
      Piece& piece = g.pieces[g.drop_pieces[d]];
      if (piece.state == PieceState::kHeld) {
        piece.data.clear();
        piece.state = PieceState::kDropped;
      }
    }
  }
}

Source::ReadCallback Oracle::Finish() {
  const std::uint32_t use = pending_use_;
  pending_id_ = 0;
  ReadCallback done = std::move(pending_done_);
  if (g_->shared) {
    MarkDone(use);
  } else {
    // One stream: its reads are over in order (a read left unfinished counts as over too).
    for (std::uint32_t u = g_->delivered; u <= use; ++u) MarkDone(u);
  }
  IssueRegions();
  return done;
}

}  // namespace pflab::policies
