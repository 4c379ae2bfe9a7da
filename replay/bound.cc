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

  // Handles by (stream index, object). Stacks of one object may share data (auto's streams do), so a
  // handle's bytes may come from requests of any stack of its object: its data step counts from the
  // earliest creation among them. `others[s][o]`: the lower bound of the earliest creation of object
  // o's handles in streams other than s, from the previous pass (infinite for an object one stream
  // reads, so for those a pass is the per-handle derivation).
  const std::size_t objects = trace.objects.size();
  const Time never = std::numeric_limits<Time>::infinity();
  std::vector<std::vector<Handle>> handles;
  std::vector<std::vector<Time>> others(streams.size(), std::vector<Time>(objects, never));
  Time t0 = never;
  Time stream_bound = 0;
  // One pass of steps 1-3 over every stream; without `data`, deliveries are bounded by their issue
  // only (valid lower bounds of every creation, to start from).
  auto pass = [&](bool data) {
    handles.assign(streams.size(), std::vector<Handle>(objects));
    t0 = never;
    stream_bound = 0;
    out.bytes_read = 0;
    out.reads = 0;
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
        if (data && h.needed.size() > 0) {
          const Time from = std::min(h.created, others[s][read.object]);
          delivered = std::max(delivered, from + latency + static_cast<Time>(h.needed.size()) * ns_per_byte);
        }
      }
      out.reads += stream.records.size();
      // Absolute for now; measured from T0 (known once every stream is done) below.
      if (s == 0 || delivered > stream_bound) {
        stream_bound = delivered;
        out.stream = stream.id;
      }
    }
  };
  // The earliest creation of each object's handles in other streams, from the last pass; whether
  // it changed.
  auto update_others = [&] {
    bool changed = false;
    for (std::size_t o = 0; o < objects; ++o) {
      // The two earliest creations and the stream of the earliest.
      Time first = never, second = never;
      std::size_t first_stream = streams.size();
      for (std::size_t s = 0; s < streams.size(); ++s) {
        const Time c = handles[s][o].created;
        if (c < first) {
          second = first;
          first = c;
          first_stream = s;
        } else if (c < second) {
          second = c;
        }
      }
      for (std::size_t s = 0; s < streams.size(); ++s) {
        const Time other = s == first_stream ? second : first;
        if (other != others[s][o] && handles[s][o].created != never) changed = true;
        others[s][o] = other;
      }
    }
    return changed;
  };
  // Each pass takes valid lower bounds of the creations in and gives valid (never smaller) ones out,
  // so the last pass is a valid bound however many ran. A trace whose every object one stream reads
  // (or hints) needs one pass: the per-handle derivation.
  bool shared = false;
  {
    std::vector<std::size_t> reader(objects, streams.size());
    auto note = [&](std::uint32_t object, std::size_t s) {
      if (reader[object] == streams.size()) reader[object] = s;
      shared |= reader[object] != s;
    };
    for (std::size_t s = 0; s < streams.size(); ++s) {
      for (std::uint32_t i : streams[s].records) note(trace.records[i].object, s);
      for (std::uint32_t i : streams[s].hints) note(trace.hints[i].object, s);
    }
  }
  if (shared) {
    pass(/*data=*/false);
    update_others();
    for (int i = 0; i < 64; ++i) {
      pass(/*data=*/true);
      if (!update_others()) break;
    }
  } else {
    pass(/*data=*/true);
  }

  // The link: each object's bytes (the union of its handles' reads, which its stacks may share) as a
  // job released a latency after its first handle exists, processed in order of release, latest first.
  std::vector<RangeUnion> object_needed(objects);
  std::vector<Time> object_created(objects, never);
  for (std::size_t s = 0; s < streams.size(); ++s) {
    for (std::uint32_t i : streams[s].records) {
      const traces::TraceRecord& read = trace.records[i];
      const std::uint64_t size = trace.objects[read.object].size;
      const std::uint64_t begin = std::min(read.offset, size);
      object_needed[read.object].Add(begin, begin + std::min(read.length, size - begin));
    }
    for (std::size_t o = 0; o < objects; ++o) {
      object_created[o] = std::min(object_created[o], handles[s][o].created);
      if (handles[s][o].needed.size() > 0) ++out.handles;
    }
  }
  std::vector<std::pair<Time, Time>> jobs;  // (release, transfer time)
  for (std::size_t o = 0; o < objects; ++o) {
    if (object_needed[o].size() == 0) continue;
    jobs.emplace_back(object_created[o] + latency, static_cast<Time>(object_needed[o].size()) * ns_per_byte);
    out.bytes_needed += object_needed[o].size();
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
