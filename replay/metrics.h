// Per-run metrics, computed from the event stream plus the run's memory ledger and transport counters.
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <vector>

#include "engine/events.h"

namespace pflab::replay {

/// The numbers one run reports (JSON field names in comments; see README "Results format").
struct Metrics {
  double elapsed_s = 0;           // elapsed_s: first read issued to last read delivered
  double stall_s = 0;             // stall_s: sum over reads of the time the application waited
  double read_latency_p50_s = 0;  // read_latency_s.p50 ...
  double read_latency_p95_s = 0;
  double read_latency_p99_s = 0;
  double read_latency_max_s = 0;
  std::uint64_t reads = 0;          // reads
  std::uint64_t reads_failed = 0;   // reads_failed
  std::uint64_t reads_wrong = 0;    // reads_wrong: delivered bytes that differ from the object's (byte checks)
  std::uint64_t bytes_wrong = 0;    // bytes_wrong: how many delivered bytes differ, over those reads
  std::uint64_t bytes_read = 0;     // bytes_read: delivered to the application
  std::uint64_t bytes_fetched = 0;  // bytes_fetched: arrived from the backend (partial transfers included)
  std::uint64_t bytes_wasted = 0;   // bytes_wasted: fetched but never delivered
  std::uint64_t requests = 0;       // requests: backend GETs started (retries included)
  std::uint64_t requests_cancelled = 0;
  std::uint64_t requests_failed = 0;
  std::uint64_t retries = 0;
  std::uint64_t peak_memory_bytes = 0;  // most bytes held in buffers at once (in flight included)
  // bytes_refetched: bytes requested again because a memory budget could not keep them until their
  // next read (counted by the oracle; MemoryAccount::AddRefetched)
  std::uint64_t bytes_refetched = 0;
  double cost_usd = 0;

  nlohmann::json ToJson() const;
};

/// Accumulates read latencies and backend request counts as events arrive.
class MetricsCollector final : public EventSink {
 public:
  void OnEvent(const Event& event) override;
  /// Reads and backend requests only.
  bool wants_layer_fetches() const override { return false; }

  /// Fills the event-derived fields of `metrics`.
  void Finish(Metrics* metrics);

 private:
  [[gnu::noinline]] void GrowStreams(std::uint32_t stream);
  [[gnu::noinline]] void GrowLatencies();

  std::vector<Nanos> read_start_;       // per stream: the open read's start
  std::unique_ptr<Nanos[]> latencies_;  // the first reads_ entries are the reads' latencies
  std::uint64_t latency_capacity_ = 0;
  Nanos first_start_ = -1;
  Nanos last_end_ = 0;
  std::uint64_t reads_ = 0;
  std::uint64_t bytes_read_ = 0;
  std::uint64_t requests_ = 0;
  std::uint64_t cancelled_ = 0;
  std::uint64_t failed_ = 0;
  std::uint64_t retries_ = 0;
};

/// Sends every event to several sinks.
class TeeSink final : public EventSink {
 public:
  explicit TeeSink(std::vector<EventSink*> sinks) : sinks_(std::move(sinks)) {}
  void OnEvent(const Event& event) override {
    for (EventSink* s : sinks_) s->OnEvent(event);
  }
  bool wants_layer_fetches() const override {
    for (EventSink* s : sinks_) {
      if (s->wants_layer_fetches()) return true;
    }
    return false;
  }

 private:
  std::vector<EventSink*> sinks_;
};

}  // namespace pflab::replay
