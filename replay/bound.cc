#include "replay/bound.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <unordered_map>
#include <vector>

namespace pflab::replay {
namespace {

// Times are in nanoseconds as long double: sums of up to millions of think times and transfer times
// keep far more precision than the slack taken off at the end.
using Time = long double;

// The union of byte ranges a handle's reads need, and its size.
class RangeUnion {
 public:
  void Add(std::uint64_t begin, std::uint64_t end) {
    if (begin >= end) return;
    // The first range that could touch [begin, end): the last one starting at or before begin.
    auto it = ranges_.upper_bound(begin);
    if (it != ranges_.begin()) {
      auto prev = std::prev(it);
      if (prev->second >= begin) it = prev;
    }
    while (it != ranges_.end() && it->first <= end) {
      begin = std::min(begin, it->first);
      end = std::max(end, it->second);
      size_ -= it->second - it->first;
      it = ranges_.erase(it);
    }
    ranges_.emplace(begin, end);
    size_ += end - begin;
  }
  std::uint64_t size() const { return size_; }

 private:
  std::map<std::uint64_t, std::uint64_t> ranges_;  // begin -> end, disjoint and not touching
  std::uint64_t size_ = 0;
};

struct Handle {
  Time created = std::numeric_limits<Time>::infinity();  // lower bound of C_h
  RangeUnion needed;
};

struct Stream {
  std::uint32_t id = 0;
  std::vector<std::uint32_t> records;
  std::vector<std::uint32_t> hints;
};

}  // namespace

nlohmann::json LowerBound::ToJson() const {
  return {{"elapsed_s", static_cast<double>(elapsed_ns) / 1e9},
          {"binding", binding()},
          {"stream_s", static_cast<double>(stream_ns) / 1e9},
          {"stream", stream},
          {"link_s", static_cast<double>(link_ns) / 1e9},
          {"bytes_needed", bytes_needed},
          {"handles", handles},
          {"latency_floor_s", static_cast<double>(latency_floor_ns) / 1e9},
          {"link_bytes_per_s", link_bytes_per_s}};
}

Result<LowerBound> ComputeLowerBound(const traces::Trace& trace, const sim::NetworkProfile& profile, ThinkTime think) {
  LowerBound out;
  // The simulator adds the request overhead to every first byte (A1), so it is part of the floor.
  out.latency_floor_ns = profile.latency_floor_ns() + profile.request_overhead_ns;
  out.link_bytes_per_s = profile.link_bandwidth_bytes_per_s;
  const Time latency = static_cast<Time>(out.latency_floor_ns);
  const Time ns_per_byte = 1e9L / static_cast<Time>(profile.link_bandwidth_bytes_per_s);

  // Streams in order of first appearance, as the replayer groups them.
  std::vector<Stream> streams;
  std::unordered_map<std::uint32_t, std::size_t> by_id;
  for (std::uint32_t i = 0; i < trace.records.size(); ++i) {
    auto [it, fresh] = by_id.try_emplace(trace.records[i].stream, streams.size());
    if (fresh) streams.push_back(Stream{trace.records[i].stream, {}, {}});
    streams[it->second].records.push_back(i);
  }
  for (std::uint32_t i = 0; i < trace.hints.size(); ++i) {
    auto it = by_id.find(trace.hints[i].stream);
    if (it == by_id.end()) return InvalidArgument("trace " + trace.name + " has hints for a stream without reads");
    streams[it->second].hints.push_back(i);
  }
  if (streams.empty()) return out;

  // Handles by (stream index, object).
  std::vector<std::vector<Handle>> handles(streams.size(), std::vector<Handle>(trace.objects.size()));
  Time t0 = std::numeric_limits<Time>::infinity();
  Time stream_bound = 0;
  for (std::size_t s = 0; s < streams.size(); ++s) {
    const Stream& stream = streams[s];
    const Nanos first_issue = think.Apply(trace.records[stream.records.front()].t_ns);
    t0 = std::min(t0, static_cast<Time>(first_issue));
    std::size_t next_hint = 0;
    Time issue = static_cast<Time>(first_issue);  // LB_I(j)
    Time delivered = issue;                       // LB_D(j - 1), then LB_D(j)
    for (std::size_t j = 0; j < stream.records.size(); ++j) {
      const traces::TraceRecord& read = trace.records[stream.records[j]];
      if (j > 0) {
        issue = delivered +
                static_cast<Time>(think.Apply(read.t_ns - trace.records[stream.records[j - 1]].t_ns -
                                              std::max<Nanos>(trace.records[stream.records[j - 1]].duration_ns, 0)));
      }
      // Hints placed before this read (the replayer's ScheduleHints at position j): before the first
      // read at their own scaled time (never after the read), later ones no earlier than the previous
      // read's delivery.
      for (; next_hint < stream.hints.size() && trace.hints[stream.hints[next_hint]].before <= stream.records[j];
           ++next_hint) {
        const traces::TraceHint& hint = trace.hints[stream.hints[next_hint]];
        const Time at =
            j == 0 ? std::min(static_cast<Time>(first_issue), static_cast<Time>(think.Apply(hint.t_ns))) : delivered;
        Handle& h = handles[s][hint.object];
        h.created = std::min(h.created, at);
      }
      Handle& h = handles[s][read.object];
      h.created = std::min(h.created, issue);
      const std::uint64_t size = trace.objects[read.object].size;
      const std::uint64_t begin = std::min(read.offset, size);
      const std::uint64_t end = begin + std::min(read.length, size - begin);
      h.needed.Add(begin, end);
      out.bytes_read += end - begin;
      delivered = issue;
      if (h.needed.size() > 0) {
        delivered = std::max(delivered, h.created + latency + static_cast<Time>(h.needed.size()) * ns_per_byte);
      }
    }
    out.reads += stream.records.size();
    // Absolute for now; measured from T0 (known once every stream is done) below.
    if (s == 0 || delivered > stream_bound) {
      stream_bound = delivered;
      out.stream = stream.id;
    }
  }

  // The link: handles as jobs with release times, processed in order of release, latest first.
  std::vector<std::pair<Time, Time>> jobs;  // (release, transfer time)
  for (const auto& per_stream : handles) {
    for (const Handle& h : per_stream) {
      if (h.needed.size() == 0) continue;
      jobs.emplace_back(h.created + latency, static_cast<Time>(h.needed.size()) * ns_per_byte);
      out.bytes_needed += h.needed.size();
      ++out.handles;
    }
  }
  std::sort(jobs.begin(), jobs.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  Time link_bound = 0;
  Time work = 0;
  for (const auto& [release, transfer] : jobs) {
    work += transfer;
    link_bound = std::max(link_bound, release + work);
  }

  auto relative = [&](Time at) -> Nanos {
    const Time x = at - t0 - static_cast<Time>(kRoundingSlackNs);
    return x <= 0 ? 0 : static_cast<Nanos>(std::ceil(x));
  };
  out.stream_ns = relative(stream_bound);
  out.link_ns = relative(link_bound);
  out.elapsed_ns = std::max(out.stream_ns, out.link_ns);
  return out;
}

Result<RunResult> BoundRun(const traces::Trace& trace, const std::string& profile_name,
                           const sim::NetworkProfile& profile, std::uint64_t seed, ThinkTime think) {
  auto bound = ComputeLowerBound(trace, profile, think);
  if (!bound) return bound.error();
  RunResult run;
  run.trace = trace.name;
  run.policy = kBoundPolicy;
  run.profile = profile_name;
  run.seed = seed;
  run.think = think.ToString();
  run.metrics.elapsed_s = static_cast<double>(bound->elapsed_ns) / 1e9;
  run.metrics.reads = bound->reads;
  run.metrics.bytes_read = bound->bytes_read;
  run.metrics.bytes_fetched = bound->bytes_needed;
  run.derivation = bound->ToJson();
  return run;
}

}  // namespace pflab::replay
