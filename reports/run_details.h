// What the HTML report draws beyond the summary metrics: each run's read-latency distribution and, for
// a chosen run, a timeline of application reads and backend fetches. Collected from the event stream.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "engine/events.h"
#include "engine/result.h"

namespace pflab::reports {

/// Quantiles per run: 0%, 1%, ..., 100% (nearest rank; 0% is the minimum), enough for a smooth CDF.
inline constexpr std::size_t kLatencyQuantiles = 101;
/// Most reads and most fetches a timeline keeps. Beyond that every k-th item (in start order) is kept,
/// k = ceil(total / kTimelineMaxItems), and the timeline says k and the totals.
inline constexpr std::size_t kTimelineMaxItems = 5000;
/// Most reads, or fetches, a recorder holds while the run goes on: at twice this many it keeps every
/// other one (in start order) and from then on every other item that comes, halving again each time,
/// so a run of 100 M reads holds a few million items rather than all of them (a timeline of every
/// item took 3.5 GB for 36 M fetches). The stride it reports is then the product, and items are kept
/// by the order they ended in, not exactly every k-th by start: a sample all the same.
inline constexpr std::size_t kTimelineThinAt = std::size_t{1} << 20;

/// One application read on the timeline; times are relative to the run's first event.
struct TimelineRead {
  Nanos start = 0;
  Nanos end = 0;
  std::uint64_t offset = 0;
  std::uint64_t length = 0;
  std::uint32_t stream = 0;
  bool operator==(const TimelineRead&) const = default;
};

/// One backend GET on the timeline. `outcome` is "done", "cancelled", "failed" or "open" (never finished).
struct TimelineFetch {
  Nanos start = 0;
  Nanos end = 0;
  std::uint64_t begin = 0;
  std::uint64_t end_byte = 0;
  std::string outcome;
  bool operator==(const TimelineFetch&) const = default;
};

/// Reads and backend fetches of one run over time, downsampled to at most kTimelineMaxItems each.
struct Timeline {
  std::string trace;
  std::string policy;
  std::uint64_t reads_total = 0;
  std::uint64_t fetches_total = 0;
  std::uint64_t reads_stride = 1;  // every reads_stride-th read (in start order) is kept
  std::uint64_t fetches_stride = 1;
  std::vector<TimelineRead> reads;
  std::vector<TimelineFetch> fetches;
  bool operator==(const Timeline&) const = default;

  /// `{"trace","policy","reads_total",...,"reads":[[t_start_ns,t_end_ns,offset,length,stream]...],
  ///  "fetches":[[t_start_ns,t_end_ns,begin,end,outcome]...]}`
  nlohmann::json ToJson() const;
  /// Errors name `where` and the field.
  static Result<Timeline> FromJson(const nlohmann::json& json, const std::string& where);
};

/// The optional extras of one run in a results document.
struct RunDetails {
  std::vector<double> latency_quantiles_s;  // empty, or kLatencyQuantiles values
  std::optional<Timeline> timeline;
};

/// Records one run's read latencies and (when asked) its timeline; attach it as the run's event sink.
class RunRecorder final : public EventSink {
 public:
  explicit RunRecorder(bool keep_timeline) : keep_timeline_(keep_timeline) {}
  void OnEvent(const Event& event) override;
  /// The run's details; call once, after the run.
  RunDetails Finish(const std::string& trace, const std::string& policy);
  /// Timeline items held now (for tests of kTimelineThinAt).
  std::size_t timeline_items_held() const { return reads_.items.size() + fetches_.items.size(); }

 private:
  // A fetch in flight: (stream, offset, length) to (the order it started in, its start). Events carry
  // no request id, so a fetch's end is matched to the oldest open fetch of its stream and range (equal
  // keys keep their insertion order); a search of a list was quadratic with thousands in flight.
  using OpenKey = std::tuple<std::uint32_t, std::uint64_t, std::uint64_t>;
  struct OpenFetch {
    std::uint64_t order;
    Nanos start;
  };
  // Items of one list of the timeline, thinned while recording (kTimelineThinAt).
  template <typename T>
  struct Thinned {
    std::vector<T> items;
    std::uint64_t total = 0;  // items seen
    std::uint64_t every = 1;  // the items kept are those whose place in arrival order is a multiple of it
    void Add(T item);
    void SortByStart();
  };
  bool keep_timeline_;
  Nanos origin_ = -1;
  Nanos last_ = 0;
  std::vector<Nanos> read_start_;  // per stream
  std::vector<Nanos> latencies_;
  Thinned<TimelineRead> reads_;
  std::multimap<OpenKey, OpenFetch> open_;
  std::uint64_t opened_ = 0;
  Thinned<TimelineFetch> fetches_;
};

/// Nearest-rank quantiles 0..100% of `values` (reordered); empty when `values` is.
std::vector<double> LatencyQuantiles(std::vector<Nanos> values);

}  // namespace pflab::reports
