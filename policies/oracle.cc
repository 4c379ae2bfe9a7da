#include "policies/oracle.h"

#include <algorithm>
#include <utility>

namespace pflab::policies {

PolicyEntry OracleEntry() {
  using O = OracleOptions;
  return EntryBuilder<O>(
             "oracle", "ours: the bound reports compare against (policies/oracle.h says how close to optimal it is)",
             "knows the stream's future reads; fetches their bytes in need order as early as memory allows, "
             "holes up to `gap` merged, requests up to `request`; stands alone over the fetcher")
      .Place(Placement::kAlone)
      .Size("memory", &O::memory, "held plus in-flight bytes", AtLeast(1))
      .Size("request", &O::request, "largest request", AtLeast(1))
      .Size("gap", &O::gap, "holes up to this are fetched rather than split around")
      .Build([](const StackEnv& env, Source* lower, const O& o) -> std::unique_ptr<Source> {
        return std::make_unique<Oracle>(env.ctx, lower, o, env.future_reads);
      })
      .Done();
}

Oracle::Oracle(LayerContext ctx, Source* lower, OracleOptions options,
               std::shared_ptr<const std::vector<ByteRange>> future)
    : PolicyLayer(ctx, lower), options_(options), future_(std::move(future)) {
  if (!future_) future_ = std::make_shared<const std::vector<ByteRange>>();
}

Oracle::~Oracle() {
  // Our callbacks are disarmed by the liveness flag; the fetcher below still owes each a completion.
  for (const auto& [begin, flight] : flights_) lower_->Cancel(flight.lower);
}

std::vector<ByteRange> Oracle::Missing(ByteRange range, std::size_t use) {
  std::vector<ByteRange> covered;
  auto collect = [&](auto& map) {
    auto it = map.upper_bound(range.begin);
    if (it != map.begin()) --it;
    for (; it != map.end() && it->first < range.end; ++it) {
      if (it->second.end <= range.begin) continue;
      it->second.last_use = std::max(it->second.last_use, use);
      covered.push_back({std::max(it->first, range.begin), std::min(it->second.end, range.end)});
    }
  };
  collect(pieces_);
  collect(flights_);
  std::sort(covered.begin(), covered.end(), [](const ByteRange& a, const ByteRange& b) { return a.begin < b.begin; });
  std::vector<ByteRange> missing;
  std::uint64_t pos = range.begin;
  for (const auto& c : covered) {
    if (c.begin > pos) missing.push_back({pos, c.begin});
    pos = std::max(pos, c.end);
  }
  if (pos < range.end) missing.push_back({pos, range.end});
  return missing;
}

void Oracle::Issue(ByteRange range, std::size_t last_use) {
  if (range.empty() || flights_.count(range.begin)) return;
  in_flight_ += range.size();
  const std::uint64_t begin = range.begin;
  const ReadId id = FetchBelow(range, 0, [this, begin](Result<Slices>&& r) { OnFetched(begin, std::move(r)); });
  flights_.emplace(begin, Flight{range.end, id, last_use});
}

void Oracle::Plan() {
  const std::uint64_t size = lower_->size();
  planned_ = std::max(planned_, next_read_);
  ByteRange cur{0, 0};
  std::size_t cur_use = 0;
  auto flush = [&] {
    if (!cur.empty()) Issue(cur, cur_use);
    cur = {0, 0};
  };
  while (planned_ < future_->size()) {
    ByteRange r = (*future_)[planned_];
    r.end = std::min(r.end, size);
    if (r.begin >= r.end) {
      ++planned_;
      continue;
    }
    std::vector<ByteRange> missing = Missing(r, planned_);
    // Bytes already in the request being built are not missing, and are needed until this read.
    if (!cur.empty() && r.begin < cur.end && cur.begin < r.end) cur_use = planned_;
    std::uint64_t need = 0;
    for (auto& m : missing) {
      if (!cur.empty() && m.begin >= cur.begin && m.begin < cur.end) m.begin = std::min(m.end, cur.end);
      need += m.size();
    }
    // Stop at the memory cap, but never with nothing at all outstanding (a read larger than the cap).
    if (Outstanding() + cur.size() + need > options_.memory && Outstanding() + cur.size() > 0) break;
    for (ByteRange m : missing) {
      if (m.empty()) continue;
      if (!cur.empty() && m.begin >= cur.end && m.begin - cur.end <= options_.gap &&
          m.end - cur.begin <= options_.request) {
        cur.end = m.end;
        cur_use = planned_;
        continue;
      }
      flush();
      while (m.size() > options_.request) {
        Issue({m.begin, m.begin + options_.request}, planned_);
        m.begin += options_.request;
      }
      cur = m;
      cur_use = planned_;
    }
    ++planned_;
  }
  flush();
}

ReadId Oracle::Read(ByteRange range, ReadCallback done) {
  const ReadId id = next_id_++;
  range.end = std::min(range.end, lower_->size());
  if (range.begin >= range.end) {
    CompleteLater(std::move(done), Slices{});
    return id;
  }
  // The announced read, or one the trace did not announce (served on demand at the current position).
  std::size_t use = next_read_;
  bool announced = false;
  if (next_read_ < future_->size()) {
    ByteRange expected = (*future_)[next_read_];
    expected.end = std::min(expected.end, lower_->size());
    announced = expected.begin == range.begin && expected.end == range.end;
  }
  pending_id_ = id;
  pending_range_ = range;
  pending_use_ = use;
  pending_announced_ = announced;
  pending_done_ = std::move(done);
  pending_error_.reset();
  Plan();  // from this read on, so its bytes join the first merged request
  if (announced) ++next_read_;
  for (const ByteRange& m : Missing(range, use)) Issue(m, use);  // what the plan could not cover
  // Complete through the scheduler even when everything is held: never inside Read().
  ctx_.scheduler->Post([this, alive = alive_, id] {
    if (*alive && pending_id_ == id) TryComplete();
  });
  return id;
}

void Oracle::Cancel(ReadId id) {
  if (id == 0 || id != pending_id_) return;
  pending_id_ = 0;
  CompleteLater(std::move(pending_done_), Cancelled("read cancelled"));
}

void Oracle::OnFetched(std::uint64_t begin, Result<Slices>&& result) {
  auto it = flights_.find(begin);
  if (it == flights_.end()) return;
  const Flight flight = it->second;
  flights_.erase(it);
  in_flight_ -= flight.end - begin;
  if (result.ok()) {
    auto [p, inserted] = pieces_.try_emplace(begin, Piece{flight.end, std::move(*result), flight.last_use});
    if (inserted) {
      held_ += flight.end - begin;
    } else if (p->second.end < flight.end) {
      held_ += flight.end - p->second.end;
      p->second = Piece{flight.end, std::move(*result), std::max(flight.last_use, p->second.last_use)};
    }
  } else if (pending_id_ != 0 && begin < pending_range_.end && flight.end > pending_range_.begin) {
    pending_error_ = result.error();
  }
  TryComplete();
  Plan();
}

void Oracle::DropBefore(std::size_t use) {
  for (auto it = pieces_.begin(); it != pieces_.end();) {
    if (it->second.last_use <= use) {
      held_ -= it->second.end - it->first;
      it = pieces_.erase(it);
    } else {
      ++it;
    }
  }
}

void Oracle::TryComplete() {
  if (pending_id_ == 0) return;
  if (pending_error_) {
    pending_id_ = 0;
    ReadCallback done = std::move(pending_done_);
    Error error = std::move(*pending_error_);
    pending_error_.reset();
    done(std::move(error));
    return;
  }
  Slices out;
  std::uint64_t pos = pending_range_.begin;
  while (pos < pending_range_.end) {
    auto it = pieces_.upper_bound(pos);
    if (it == pieces_.begin()) return;
    --it;
    if (it->second.end <= pos) return;  // not here yet
    const std::uint64_t take = std::min(it->second.end, pending_range_.end) - pos;
    for (auto& s : SubSlices(it->second.data, pos - it->first, take)) out.push_back(std::move(s));
    pos += take;
  }
  pending_id_ = 0;
  ReadCallback done = std::move(pending_done_);
  // Held bytes no planned read needs any more go; an unannounced read must not drop what the next
  // announced one (same index) needs.
  if (pending_announced_) {
    DropBefore(pending_use_);
  } else if (pending_use_ > 0) {
    DropBefore(pending_use_ - 1);
  }
  done(std::move(out));
  Plan();  // memory freed
}

}  // namespace pflab::policies
