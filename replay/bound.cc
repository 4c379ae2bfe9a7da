#include "replay/bound.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <functional>
#include <limits>
#include <span>
#include <unordered_map>
#include <utility>
#include <vector>

namespace pflab::replay {
namespace {

// Times are in nanoseconds as long double: sums of up to millions of think times and transfer times
// keep far more precision than the slack taken off at the end.
using Time = long double;

struct Stream {
  std::uint32_t id = 0;
  std::vector<std::uint32_t> records;
  std::vector<std::uint32_t> hints;
};

// A range's start or end, for the sweep below.
struct End {
  std::uint64_t at;
  std::uint32_t index;
  bool opens;
};

// Sorts by position: a least-significant-digit radix sort, 11 bits a pass over the bits the positions
// use (4 passes for offsets within 64 GiB). On a million random 64 KiB ranges the union sizes take
// 140 ms with it, 185 ms with std::sort (8.6% of a `compare --policies none` of them); 10 to 11 bits
// a pass measured fastest of 8 to 13.
void SortByPosition(std::vector<End>& ends) {
  if (ends.size() < 4096) {
    std::sort(ends.begin(), ends.end(), [](const End& a, const End& b) { return a.at < b.at; });
    return;
  }
  constexpr int kBits = 11;
  constexpr std::size_t kBuckets = std::size_t{1} << kBits;
  std::uint64_t used = 0;
  for (const End& e : ends) used |= e.at;
  std::vector<End> out(ends.size());
  const int bits = static_cast<int>(std::bit_width(used));
  std::vector<std::size_t> next(kBuckets);
  for (int shift = 0; shift < bits; shift += kBits) {
    std::fill(next.begin(), next.end(), 0);
    for (const End& e : ends) ++next[(e.at >> shift) & (kBuckets - 1)];
    std::size_t sum = 0;
    for (auto& n : next) sum += std::exchange(n, sum);
    for (const End& e : ends) out[next[(e.at >> shift) & (kBuckets - 1)]++] = e;
    ends.swap(out);
  }
}

}  // namespace

// Offline, in O(n log n) over flat arrays: a range's new bytes are the positions it is the first range
// to cover, found by a sweep over the ranges' ends with a heap of the ranges open at each position (the
// lowest index open is the first to cover it). A tree of disjoint ranges built read by read did the same with
// a node per range and a cache miss per level: on a million random reads it was most of `compare`'s
// time, and it held tens of bytes per read for the whole computation.
std::vector<std::uint64_t> PrefixUnionSizes(const std::vector<std::pair<std::uint64_t, std::uint64_t>>& ranges) {
  // Ranges that start in order (a sequential reader's): what the earlier ones cover at or after a
  // range's start is one piece, from its start to the farthest end so far.
  if (std::is_sorted(ranges.begin(), ranges.end(), [](const auto& a, const auto& b) { return a.first < b.first; })) {
    std::vector<std::uint64_t> sizes(ranges.size());
    std::uint64_t total = 0, reach = 0;
    for (std::size_t i = 0; i < ranges.size(); ++i) {
      const auto [begin, end] = ranges[i];
      const std::uint64_t from = std::max(begin, reach);
      if (end > from) total += end - from;
      reach = std::max(reach, end);
      sizes[i] = total;
    }
    return sizes;
  }
  std::vector<End> ends;
  ends.reserve(2 * ranges.size());
  for (std::uint32_t i = 0; i < ranges.size(); ++i) {
    if (ranges[i].first >= ranges[i].second) continue;
    ends.push_back({ranges[i].first, i, true});
    ends.push_back({ranges[i].second, i, false});
  }
  // The order of ends at one position does not matter: the sweep credits the length between
  // positions, which is 0 between them.
  SortByPosition(ends);
  std::vector<std::uint64_t> fresh(ranges.size(), 0);  // each range's new bytes
  std::vector<bool> closed(ranges.size(), false);
  std::vector<std::uint32_t> open;  // a min-heap of indices; closed ones are dropped when they surface
  const auto later = std::greater<std::uint32_t>();
  std::uint64_t at = 0;
  for (const End& e : ends) {
    while (!open.empty() && closed[open.front()]) {
      std::pop_heap(open.begin(), open.end(), later);
      open.pop_back();
    }
    if (!open.empty()) fresh[open.front()] += e.at - at;
    at = e.at;
    if (e.opens) {
      open.push_back(e.index);
      std::push_heap(open.begin(), open.end(), later);
    } else {
      closed[e.index] = true;
    }
  }
  std::uint64_t total = 0;
  for (auto& f : fresh) f = total += f;
  return fresh;
}

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
  // U_h after each read (by record index): the union of its handle's reads so far, the same in every
  // pass; and U_o, each object's union over all its handles.
  auto clipped = [&](const traces::TraceRecord& read) {
    const std::uint64_t size = trace.objects[read.object].size;
    const std::uint64_t begin = std::min(read.offset, size);
    return std::pair<std::uint64_t, std::uint64_t>{begin, begin + std::min(read.length, size - begin)};
  };
  std::vector<std::uint64_t> needed_after(trace.records.size(), 0);
  std::vector<std::uint64_t> object_needed(objects, 0);
  {
    // Record indices grouped by object, each group in its reads' order: a handle's reads, or (over
    // every stream) an object's.
    std::vector<std::pair<std::uint64_t, std::uint64_t>> ranges;
    auto by_object = [&](std::vector<std::uint32_t> indices, auto&& use) {
      std::stable_sort(indices.begin(), indices.end(), [&](std::uint32_t a, std::uint32_t b) {
        return trace.records[a].object < trace.records[b].object;
      });
      for (std::size_t first = 0; first < indices.size();) {
        std::size_t last = first;
        ranges.clear();
        while (last < indices.size() && trace.records[indices[last]].object == trace.records[indices[first]].object) {
          ranges.push_back(clipped(trace.records[indices[last]]));
          ++last;
        }
        use(std::span<const std::uint32_t>(indices.data() + first, last - first), PrefixUnionSizes(ranges));
        first = last;
      }
    };
    for (const Stream& stream : streams) {
      by_object(stream.records, [&](std::span<const std::uint32_t> reads, const std::vector<std::uint64_t>& sizes) {
        for (std::size_t k = 0; k < reads.size(); ++k) needed_after[reads[k]] = sizes[k];
        if (sizes.back() > 0) ++out.handles;
      });
    }
    std::vector<std::uint32_t> all(trace.records.size());
    for (std::uint32_t i = 0; i < all.size(); ++i) all[i] = i;
    by_object(std::move(all), [&](std::span<const std::uint32_t> reads, const std::vector<std::uint64_t>& sizes) {
      object_needed[trace.records[reads.front()].object] = sizes.back();
    });
  }
  std::vector<std::vector<Time>> created;  // LB(C_h) by stream and object
  std::vector<std::vector<Time>> others(streams.size(), std::vector<Time>(objects, never));
  Time t0 = never;
  Time stream_bound = 0;
  // One pass of steps 1-3 over every stream; without `data`, deliveries are bounded by their issue
  // only (valid lower bounds of every creation, to start from).
  auto pass = [&](bool data) {
    created.assign(streams.size(), std::vector<Time>(objects, never));
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
          Time& c = created[s][hint.object];
          c = std::min(c, at);
        }
        Time& c = created[s][read.object];
        c = std::min(c, issue);
        const auto [begin, end] = clipped(read);
        out.bytes_read += end - begin;
        delivered = issue;
        const std::uint64_t needed = needed_after[stream.records[j]];
        if (data && needed > 0) {
          const Time from = std::min(c, others[s][read.object]);
          delivered = std::max(delivered, from + latency + static_cast<Time>(needed) * ns_per_byte);
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
        const Time c = created[s][o];
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
        if (other != others[s][o] && created[s][o] != never) changed = true;
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
  std::vector<Time> object_created(objects, never);
  for (std::size_t s = 0; s < streams.size(); ++s) {
    for (std::size_t o = 0; o < objects; ++o) object_created[o] = std::min(object_created[o], created[s][o]);
  }
  std::vector<std::pair<Time, Time>> jobs;  // (release, transfer time)
  for (std::size_t o = 0; o < objects; ++o) {
    if (object_needed[o] == 0) continue;
    jobs.emplace_back(object_created[o] + latency, static_cast<Time>(object_needed[o]) * ns_per_byte);
    out.bytes_needed += object_needed[o];
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
    return x <= 0 ? 0 : TimeAfter(0, std::ceil(x));
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
