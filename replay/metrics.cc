#include "replay/metrics.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace pflab::replay {
namespace {

double Seconds(Nanos ns) {
  return static_cast<double>(ns) / 1e9;
}

// Nearest-rank percentile; partially reorders `values` (selection, not a full sort: O(n)).
Nanos Percentile(std::vector<Nanos>& values, double p) {
  if (values.empty()) return 0;
  std::size_t rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(values.size())));
  rank = std::clamp<std::size_t>(rank, 1, values.size());
  std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(rank - 1), values.end());
  return values[rank - 1];
}

}  // namespace

void MetricsCollector::OnEvent(const Event& event) {
  switch (event.type) {
    case EventType::kReadStart:
      if (event.stream >= read_start_.size()) read_start_.resize(event.stream + 1, 0);
      read_start_[event.stream] = event.t_ns;
      if (first_start_ < 0) first_start_ = event.t_ns;
      return;
    case EventType::kReadEnd:
      latencies_.push_back(event.t_ns - read_start_[event.stream]);
      last_end_ = std::max(last_end_, event.t_ns);
      ++reads_;
      bytes_read_ += event.bytes;
      return;
    default: break;
  }
  // Only the bottom layer's requests are backend GETs; other layers' fetch events are requests between
  // layers and appear only in the event log.
  if (event.layer != kBackendLayer && std::strcmp(event.layer, kBackendLayer) != 0) return;
  switch (event.type) {
    case EventType::kFetchStart: ++requests_; break;
    case EventType::kFetchCancel: ++cancelled_; break;
    case EventType::kFetchFail: ++failed_; break;
    case EventType::kRetry: ++retries_; break;
    default: break;
  }
}

void MetricsCollector::Finish(Metrics* m) {
  Nanos stall = 0;
  Nanos max = 0;
  for (Nanos l : latencies_) {
    stall += l;
    max = std::max(max, l);
  }
  std::vector<Nanos>& sorted = latencies_;  // selection below reorders; the collector is done
  m->elapsed_s = first_start_ < 0 ? 0 : Seconds(last_end_ - first_start_);
  m->stall_s = Seconds(stall);
  m->read_latency_p50_s = Seconds(Percentile(sorted, 50));
  m->read_latency_p95_s = Seconds(Percentile(sorted, 95));
  m->read_latency_p99_s = Seconds(Percentile(sorted, 99));
  m->read_latency_max_s = Seconds(max);
  m->reads = reads_;
  m->bytes_read = bytes_read_;
  m->requests = requests_;
  m->requests_cancelled = cancelled_;
  m->requests_failed = failed_;
  m->retries = retries_;
}

nlohmann::json Metrics::ToJson() const {
  return nlohmann::json{
      {"elapsed_s", elapsed_s},
      {"stall_s", stall_s},
      {"read_latency_s",
       {{"p50", read_latency_p50_s},
        {"p95", read_latency_p95_s},
        {"p99", read_latency_p99_s},
        {"max", read_latency_max_s}}},
      {"reads", reads},
      {"reads_failed", reads_failed},
      {"bytes_read", bytes_read},
      {"bytes_fetched", bytes_fetched},
      {"bytes_wasted", bytes_wasted},
      {"requests", requests},
      {"requests_cancelled", requests_cancelled},
      {"requests_failed", requests_failed},
      {"retries", retries},
      {"peak_memory_bytes", peak_memory_bytes},
      {"cost_usd", cost_usd},
  };
}

}  // namespace pflab::replay
