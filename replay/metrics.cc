#include "replay/metrics.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <initializer_list>
#include <limits>
#include <memory>
#include <span>

namespace pflab::replay {
namespace {

double Seconds(Nanos ns) {
  return static_cast<double>(ns) / 1e9;
}

// Nearest-rank percentiles in increasing order of `ps`; partially reorders `values`. Each selection
// leaves everything above its rank behind it, so the next one searches only that tail: O(n) in all.
std::vector<Nanos> Percentiles(std::span<Nanos> values, std::initializer_list<double> ps) {
  std::vector<Nanos> out;
  std::size_t from = 0;
  for (double p : ps) {
    if (values.empty()) {
      out.push_back(0);
      continue;
    }
    std::size_t rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(values.size())));
    rank = std::clamp<std::size_t>(rank, std::max<std::size_t>(from, 1), values.size());
    const auto nth = values.begin() + static_cast<std::ptrdiff_t>(rank - 1);
    std::nth_element(values.begin() + static_cast<std::ptrdiff_t>(from == 0 ? 0 : from - 1), nth, values.end());
    out.push_back(*nth);
    from = rank;
  }
  return out;
}

}  // namespace

void MetricsCollector::OnEvent(const Event& event) {
  switch (event.type) {
    case EventType::kReadStart:
      if (event.stream >= read_start_.size()) [[unlikely]]
        GrowStreams(event.stream);
      read_start_[event.stream] = event.t_ns;
      if (first_start_ < 0) first_start_ = event.t_ns;
      return;
    case EventType::kReadEnd:
      // latencies_ holds reads_ entries. Growing it is out of line: inlined, its code made this
      // function save and restore registers on every event of the run.
      if (reads_ == latency_capacity_) [[unlikely]]
        GrowLatencies();
      latencies_[reads_++] = event.t_ns - read_start_[event.stream];
      last_end_ = std::max(last_end_, event.t_ns);
      bytes_read_ += event.bytes;
      return;
    default: break;
  }
  // Only the bottom layer's requests are backend GETs; other layers' fetch events are requests between
  // layers and appear only in the event log.
  // The fetcher passes kBackendLayer itself, so the pointer test nearly always decides; the first
  // character spares the string compare for every other layer's events.
  if (event.layer != kBackendLayer &&
      (event.layer[0] != kBackendLayer[0] || std::strcmp(event.layer, kBackendLayer) != 0)) {
    return;
  }
  switch (event.type) {
    case EventType::kFetchStart: ++requests_; break;
    case EventType::kFetchCancel: ++cancelled_; break;
    case EventType::kFetchFail: ++failed_; break;
    case EventType::kRetry: ++retries_; break;
    default: break;
  }
}

void MetricsCollector::GrowStreams(std::uint32_t stream) {
  read_start_.resize(std::size_t{stream} + 1, 0);
}

void MetricsCollector::GrowLatencies() {
  // Not value-initialized: the entries past reads_ are never read, and pages nothing writes are never
  // touched (a 100 M-read run's peak memory counts only what its reads wrote, as with push_back).
  const std::uint64_t capacity = std::max<std::uint64_t>(1024, 2 * latency_capacity_);
  auto bigger = std::make_unique_for_overwrite<Nanos[]>(capacity);
  std::copy(latencies_.get(), latencies_.get() + reads_, bigger.get());
  latencies_ = std::move(bigger);
  latency_capacity_ = capacity;
}

void MetricsCollector::Finish(Metrics* m) {
  const std::span<Nanos> latencies(latencies_.get(), reads_);
  Nanos stall = 0;
  Nanos max = 0;
  for (Nanos l : latencies) {
    // Saturating: reads near the simulated clock's horizon can sum past 64 bits (exact below that).
    if (__builtin_add_overflow(stall, l, &stall)) stall = std::numeric_limits<Nanos>::max();
    max = std::max(max, l);
  }
  const std::span<Nanos> sorted = latencies;  // selection below reorders; the collector is done
  m->elapsed_s = first_start_ < 0 ? 0 : Seconds(last_end_ - first_start_);
  m->stall_s = Seconds(stall);
  const std::vector<Nanos> p = Percentiles(sorted, {50, 95, 99});
  m->read_latency_p50_s = Seconds(p[0]);
  m->read_latency_p95_s = Seconds(p[1]);
  m->read_latency_p99_s = Seconds(p[2]);
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
      {"reads_wrong", reads_wrong},
      {"bytes_wrong", bytes_wrong},
      {"bytes_read", bytes_read},
      {"bytes_fetched", bytes_fetched},
      {"bytes_wasted", bytes_wasted},
      {"requests", requests},
      {"requests_cancelled", requests_cancelled},
      {"requests_failed", requests_failed},
      {"retries", retries},
      {"peak_memory_bytes", peak_memory_bytes},
      {"bytes_refetched", bytes_refetched},
      {"cost_usd", cost_usd},
  };
}

}  // namespace pflab::replay
