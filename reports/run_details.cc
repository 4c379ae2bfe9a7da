#include "reports/run_details.h"

#include <algorithm>
#include <cmath>

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
      if (keep_timeline_) reads_.push_back({start - origin_, e.t_ns - origin_, e.offset, e.length, e.stream});
      return;
    }
    default: break;
  }
  if (!keep_timeline_ || std::string_view(e.layer) != kBackendLayer) return;
  if (e.type == EventType::kFetchStart) {
    open_.push_back({e.stream, e.offset, e.length, e.t_ns});
    return;
  }
  const char* outcome = e.type == EventType::kFetchEnd      ? "done"
                        : e.type == EventType::kFetchCancel ? "cancelled"
                        : e.type == EventType::kFetchFail   ? "failed"
                                                            : nullptr;
  if (!outcome) return;  // a retry: its new start is a fetch of its own
  // Events carry no request id; the oldest open fetch of the same stream and range is the one ending.
  auto it = std::find_if(open_.begin(), open_.end(), [&](const OpenFetch& f) {
    return f.stream == e.stream && f.offset == e.offset && f.length == e.length;
  });
  if (it == open_.end()) return;
  fetches_.push_back({it->start - origin_, e.t_ns - origin_, e.offset, e.offset + e.length, outcome});
  open_.erase(it);
}

RunDetails RunRecorder::Finish(const std::string& trace, const std::string& policy) {
  RunDetails details;
  details.latency_quantiles_s = LatencyQuantiles(std::move(latencies_));
  if (!keep_timeline_) return details;
  for (const auto& f : open_)
    fetches_.push_back({f.start - origin_, last_ - origin_, f.offset, f.offset + f.length, "open"});
  open_.clear();
  Timeline t;
  t.trace = trace;
  t.policy = policy;
  auto by_start = [](const auto& a, const auto& b) { return a.start < b.start; };
  std::stable_sort(reads_.begin(), reads_.end(), by_start);
  std::stable_sort(fetches_.begin(), fetches_.end(), by_start);
  t.reads_total = reads_.size();
  t.fetches_total = fetches_.size();
  t.reads_stride = Downsample(reads_);
  t.fetches_stride = Downsample(fetches_);
  t.reads = std::move(reads_);
  t.fetches = std::move(fetches_);
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
  Timeline t;
  try {
    t.trace = j.at("trace");
    t.policy = j.at("policy");
    t.reads_total = j.at("reads_total");
    t.fetches_total = j.at("fetches_total");
    t.reads_stride = j.value("reads_stride", 1ull);
    t.fetches_stride = j.value("fetches_stride", 1ull);
    for (const auto& x : j.at("reads")) {
      t.reads.push_back({x.at(0).get<Nanos>(), x.at(1).get<Nanos>(), x.at(2).get<std::uint64_t>(),
                         x.at(3).get<std::uint64_t>(), x.at(4).get<std::uint32_t>()});
    }
    for (const auto& x : j.at("fetches")) {
      t.fetches.push_back({x.at(0).get<Nanos>(), x.at(1).get<Nanos>(), x.at(2).get<std::uint64_t>(),
                           x.at(3).get<std::uint64_t>(), x.at(4).get<std::string>()});
    }
  } catch (const nlohmann::json::exception& e) {
    return InvalidArgument(where + ": malformed timeline: " + e.what());
  }
  return t;
}

}  // namespace pflab::reports
