#include "traces/limits.h"

namespace pflab::traces {

Status CheckObjectSize(std::uint64_t size) {
  if (size <= kMaxObjectSize) return OkStatus();
  return InvalidArgument("object size " + std::to_string(size) + " is above the limit of 2^50 bytes (1 PiB)");
}

Status CheckStreamId(std::uint64_t stream) {
  if (stream < kMaxStreams) return OkStatus();
  return InvalidArgument("stream " + std::to_string(stream) + " is not below the limit of 2^20 (" +
                         std::to_string(kMaxStreams) + ") stream ids");
}

Status CheckObjectCount(std::size_t objects) {
  if (objects <= kMaxObjects) return OkStatus();
  return InvalidArgument(std::to_string(objects) + " objects are more than the limit of 2^20 (" +
                         std::to_string(kMaxObjects) + ") per trace");
}

Status CheckRecordCount(std::size_t records) {
  if (records <= kMaxRecords) return OkStatus();
  return InvalidArgument("more than " + std::to_string(kMaxRecords) +
                         " reads and hints, the limit per trace (about 26 GiB of memory to replay); "
                         "split the trace");
}

Status CheckHintRangeCount(std::size_t ranges) {
  if (ranges <= kMaxHintRanges) return OkStatus();
  return InvalidArgument("more than " + std::to_string(kMaxHintRanges) + " hint ranges, the limit per trace");
}

Status CheckTraceNanos(const char* field, std::uint64_t ns) {
  if (ns <= static_cast<std::uint64_t>(kMaxTraceNanos)) return OkStatus();
  return InvalidArgument(std::string("\"") + field + "\" of " + std::to_string(ns) +
                         " ns is above the limit of 2^53 ns (about 104 days)");
}

Status CheckAsked(std::uint64_t offset, std::uint64_t length, std::uint64_t asked, const TraceObject& object) {
  if (asked < length) {
    return InvalidArgument("\"asked\" " + std::to_string(asked) + " is less than \"length\" " + std::to_string(length) +
                           ": a read returns at most what was asked");
  }
  if (asked == length) return OkStatus();
  if (offset + length != object.size) {
    return InvalidArgument("\"asked\" " + std::to_string(asked) + " is more than \"length\" " + std::to_string(length) +
                           " but the read ends at " + std::to_string(offset + length) + ", not at EOF (" +
                           std::to_string(object.size) + ") of object \"" + object.id +
                           "\": only a read cut at EOF returns less than it asked");
  }
  if (asked - length > kMaxObjectSize) {
    return InvalidArgument("\"asked\" " + std::to_string(asked) + " reaches more than 2^50 bytes past EOF");
  }
  return OkStatus();
}

Status ValidateTraceLimits(const Trace& trace) {
  if (auto s = CheckObjectCount(trace.objects.size()); !s) return s;
  for (const auto& o : trace.objects) {
    if (auto s = CheckObjectSize(o.size); !s) {
      return InvalidArgument("object \"" + o.name + "\": " + s.error().message);
    }
  }
  if (auto s = CheckRecordCount(trace.records.size() + trace.hints.size()); !s) return s;
  std::size_t ranges = 0;
  for (const auto& h : trace.hints) ranges += h.ranges.size();
  if (auto s = CheckHintRangeCount(ranges); !s) return s;
  for (std::size_t i = 0; i < trace.records.size(); ++i) {
    const TraceRecord& r = trace.records[i];
    const std::string where = "read " + std::to_string(i + 1) + ": ";
    if (auto s = CheckStreamId(r.stream); !s) return InvalidArgument(where + s.error().message);
    if (r.t_ns < 0) return InvalidArgument(where + "negative \"t\"");
    if (auto s = CheckTraceNanos("t", static_cast<std::uint64_t>(r.t_ns)); !s) {
      return InvalidArgument(where + s.error().message);
    }
    if (r.duration_ns >= 0) {
      if (auto s = CheckTraceNanos("dur", static_cast<std::uint64_t>(r.duration_ns)); !s) {
        return InvalidArgument(where + s.error().message);
      }
    }
    if (r.object >= trace.objects.size()) return InvalidArgument(where + "no such object");
    const std::uint64_t size = trace.objects[r.object].size;
    if (r.offset > size || r.length > size - r.offset) {
      return InvalidArgument(where + "beyond the end of object \"" + trace.objects[r.object].name + "\"");
    }
    if (r.past_eof) {
      if (auto s = CheckAsked(r.offset, r.length, r.asked(), trace.objects[r.object]); !s) {
        return InvalidArgument(where + s.error().message);
      }
    }
  }
  return OkStatus();
}

}  // namespace pflab::traces
