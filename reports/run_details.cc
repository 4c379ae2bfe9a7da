#include "reports/run_details.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <tuple>

#include "reports/json_fields.h"

namespace pflab::reports {
namespace {

// Keeps every k-th item so that at most kTimelineMaxItems remain; returns k.
template <typename T>
std::uint64_t Downsample(std::vector<T>& items) {
  if (items.size() <= kTimelineMaxItems) return 1;
  const std::size_t stride = (items.size() + kTimelineMaxItems - 1) / kTimelineMaxItems;
  std::size_t kept = 0;
  for (std::size_t i = 0; i < items.size(); i += stride) items[kept++] = std::move(items[i]);
  items.resize(kept);
  return stride;
}

}  // namespace

std::vector<double> LatencyQuantiles(std::vector<Nanos> values) {
  std::vector<double> out;
  if (values.empty()) return out;
  std::sort(values.begin(), values.end());
  out.reserve(kLatencyQuantiles);
  const double n = static_cast<double>(values.size());
  for (std::size_t i = 0; i < kLatencyQuantiles; ++i) {
    const double p = static_cast<double>(i) / static_cast<double>(kLatencyQuantiles - 1);
    auto rank = static_cast<std::size_t>(std::ceil(p * n));
    rank = std::clamp<std::size_t>(rank, 1, values.size());
    out.push_back(static_cast<double>(values[rank - 1]) / 1e9);
  }
  return out;
}

void RunRecorder::OnEvent(const Event& e) {
  if (origin_ < 0) origin_ = e.t_ns;
  last_ = std::max(last_, e.t_ns);
  switch (e.type) {
    case EventType::kReadStart:
      if (e.stream >= read_start_.size()) read_start_.resize(e.stream + 1, 0);
      read_start_[e.stream] = e.t_ns;
      return;
    case EventType::kReadEnd: {
      const Nanos start = e.stream < read_start_.size() ? read_start_[e.stream] : e.t_ns;
      latencies_.push_back(e.t_ns - start);
      if (keep_timeline_) reads_.Add({start - origin_, e.t_ns - origin_, e.offset, e.length, e.stream});
      return;
    }
    default: break;
  }
  if (!keep_timeline_ || std::string_view(e.layer) != kBackendLayer) return;
  if (e.type == EventType::kFetchStart) {
    open_.emplace(OpenKey{e.stream, e.offset, e.length}, OpenFetch{opened_++, e.t_ns});
    return;
  }
  const char* outcome = e.type == EventType::kFetchEnd      ? "done"
                        : e.type == EventType::kFetchCancel ? "cancelled"
                        : e.type == EventType::kFetchFail   ? "failed"
                                                            : nullptr;
  if (!outcome) return;  // a retry: its new start is a fetch of its own
  // Events carry no request id; the oldest open fetch of the same stream and range is the one ending.
  const OpenKey key{e.stream, e.offset, e.length};
  auto it = open_.lower_bound(key);  // the first of equal keys (find may return any of them)
  if (it == open_.end() || it->first != key) return;
  fetches_.Add({it->second.start - origin_, e.t_ns - origin_, e.offset, e.offset + e.length, outcome});
  open_.erase(it);
}

template <typename T>
void RunRecorder::Thinned<T>::Add(T item) {
  if (total++ % every != 0) return;
  items.push_back(std::move(item));
  if (items.size() < 2 * kTimelineThinAt) return;
  SortByStart();
  std::size_t kept = 0;
  for (std::size_t i = 0; i < items.size(); i += 2) items[kept++] = std::move(items[i]);
  items.resize(kept);
  every *= 2;
}

// Recorded as they ended, which for one stream is mostly in start order already: stable_sort would
// still merge every element (7% of a 1 M-read `compare` on one stream).
template <typename T>
void RunRecorder::Thinned<T>::SortByStart() {
  auto by_start = [](const T& a, const T& b) { return a.start < b.start; };
  if (!std::is_sorted(items.begin(), items.end(), by_start)) std::stable_sort(items.begin(), items.end(), by_start);
}

RunDetails RunRecorder::Finish(const std::string& trace, const std::string& policy) {
  RunDetails details;
  details.latency_quantiles_s = LatencyQuantiles(std::move(latencies_));
  if (!keep_timeline_) return details;
  // Still open at the end: in the order they started.
  std::vector<std::pair<std::uint64_t, std::multimap<OpenKey, OpenFetch>::const_iterator>> left;
  for (auto it = open_.cbegin(); it != open_.cend(); ++it) left.push_back({it->second.order, it});
  std::sort(left.begin(), left.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  for (const auto& [order, it] : left) {
    const auto& [stream, offset, length] = it->first;
    fetches_.Add({it->second.start - origin_, last_ - origin_, offset, offset + length, "open"});
  }
  open_.clear();
  Timeline t;
  t.trace = trace;
  t.policy = policy;
  reads_.SortByStart();
  fetches_.SortByStart();
  t.reads_total = reads_.total;
  t.fetches_total = fetches_.total;
  t.reads_stride = Downsample(reads_.items) * reads_.every;
  t.fetches_stride = Downsample(fetches_.items) * fetches_.every;
  t.reads = std::move(reads_.items);
  t.fetches = std::move(fetches_.items);
  details.timeline = std::move(t);
  return details;
}

nlohmann::json Timeline::ToJson() const {
  nlohmann::json r = nlohmann::json::array();
  for (const auto& x : reads) r.push_back({x.start, x.end, x.offset, x.length, x.stream});
  nlohmann::json f = nlohmann::json::array();
  for (const auto& x : fetches) f.push_back({x.start, x.end, x.begin, x.end_byte, x.outcome});
  return {{"trace", trace},
          {"policy", policy},
          {"time_unit", "ns since the run's first event"},
          {"reads_total", reads_total},
          {"fetches_total", fetches_total},
          {"reads_stride", reads_stride},
          {"fetches_stride", fetches_stride},
          {"reads", std::move(r)},
          {"fetches", std::move(f)}};
}

Result<Timeline> Timeline::FromJson(const nlohmann::json& j, const std::string& where) {
  auto malformed = [&](const Error& e) { return InvalidArgument(where + ": malformed timeline: " + e.message); };
  Timeline t;
  const JsonFields f(j, "timeline");
  if (auto s = f.RequireObject(); !s) return malformed(s.error());
  for (auto [key, out] : {std::pair<const char*, std::string*>{"trace", &t.trace}, {"policy", &t.policy}}) {
    auto v = f.String(key);
    if (!v) return malformed(v.error());
    *out = std::move(*v);
  }
  for (auto [key, out, fallback] :
       {std::tuple<const char*, std::uint64_t*, std::optional<std::uint64_t>>{"reads_total", &t.reads_total, {}},
        {"fetches_total", &t.fetches_total, {}},
        {"reads_stride", &t.reads_stride, 1},
        {"fetches_stride", &t.fetches_stride, 1}}) {
    auto v = f.Count(key, fallback);
    if (!v) return malformed(v.error());
    *out = *v;
  }
  // Each point is [start, end, a, b, x]: three integers, then a stream id (reads) or an outcome (fetches).
  auto points = [&](const char* key, auto add) -> Status {
    auto list = f.Get(key);
    if (!list) return list.error();
    if (!(*list)->is_array()) return InvalidArgument(f.Path(key) + ": expected an array, got " + JsonKind(**list));
    for (std::size_t i = 0; i < (*list)->size(); ++i) {
      const auto& x = (**list)[i];
      const std::string at = f.Path(key) + "[" + std::to_string(i) + "]";
      if (!x.is_array() || x.size() != 5) return InvalidArgument(at + ": expected an array of 5 values");
      auto start = JsonInteger(x[0], at + "[0]");
      auto end = JsonInteger(x[1], at + "[1]");
      auto a = JsonCount(x[2], at + "[2]");
      auto b = JsonCount(x[3], at + "[3]");
      for (const Error* e : {start ? nullptr : &start.error(), end ? nullptr : &end.error(), a ? nullptr : &a.error(),
                             b ? nullptr : &b.error()}) {
        if (e) return *e;
      }
      if (auto s = add(*start, *end, *a, *b, x[4], at + "[4]"); !s) return s;
    }
    return OkStatus();
  };
  auto reads = points("reads",
                      [&](Nanos start, Nanos end, std::uint64_t offset, std::uint64_t length,
                          const nlohmann::json& stream, const std::string& at) -> Status {
                        auto id = JsonCount(stream, at);
                        if (!id) return id.error();
                        if (*id > UINT32_MAX) return InvalidArgument(at + ": stream id above 2^32-1");
                        t.reads.push_back({start, end, offset, length, static_cast<std::uint32_t>(*id)});
                        return OkStatus();
                      });
  if (!reads) return malformed(reads.error());
  auto fetches = points("fetches",
                        [&](Nanos start, Nanos end, std::uint64_t begin, std::uint64_t end_byte,
                            const nlohmann::json& outcome, const std::string& at) -> Status {
                          auto text = JsonString(outcome, at);
                          if (!text) return text.error();
                          t.fetches.push_back({start, end, begin, end_byte, std::move(*text)});
                          return OkStatus();
                        });
  if (!fetches) return malformed(fetches.error());
  return t;
}

}  // namespace pflab::reports
