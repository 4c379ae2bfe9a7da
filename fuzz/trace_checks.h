// Properties every trace that a reader or importer accepts must have: it is valid (reads and hints lie
// within their objects, times do not go backwards), and it writes and reads back identically.
#pragma once

#include <sstream>
#include <string>

#include "fuzz/fuzz_check.h"
#include "traces/binary_trace.h"
#include "traces/trace_io.h"

namespace pflab::fuzz {

inline std::string Describe(const traces::TraceRecord& r) {
  return "t=" + std::to_string(r.t_ns) + " stream=" + std::to_string(r.stream) + " object=" + std::to_string(r.object) +
         " " + std::to_string(r.offset) + "+" + std::to_string(r.length) + " dur=" + std::to_string(r.duration_ns) +
         " past_eof=" + std::to_string(r.past_eof);
}

inline void CheckValid(const traces::Trace& trace) {
  FUZZ_REQUIRE(!trace.objects.empty(), "an accepted trace has no objects");
  Nanos last_t = 0;
  for (const auto& r : trace.records) {
    FUZZ_REQUIRE(r.object < trace.objects.size(), Describe(r));
    const auto size = trace.objects[r.object].size;
    FUZZ_REQUIRE(r.offset <= size && r.length <= size - r.offset, Describe(r) + " size=" + std::to_string(size));
    FUZZ_REQUIRE(r.t_ns >= last_t, Describe(r) + " after t=" + std::to_string(last_t));
    FUZZ_REQUIRE(r.duration_ns >= -1, Describe(r));
    FUZZ_REQUIRE(r.past_eof == 0 || r.offset + r.length == size, Describe(r) + " asks past EOF but ends before it");
    last_t = r.t_ns;
  }
  std::size_t last_before = 0;
  for (const auto& h : trace.hints) {
    FUZZ_REQUIRE(h.object < trace.objects.size(), "hint object " + std::to_string(h.object));
    FUZZ_REQUIRE(h.before >= last_before && h.before <= trace.records.size(),
                 "hint before " + std::to_string(h.before));
    last_before = h.before;
    for (const auto& range : h.ranges) {
      FUZZ_REQUIRE(range.begin <= range.end && range.end <= trace.objects[h.object].size,
                   "hint range " + std::to_string(range.begin) + ".." + std::to_string(range.end));
    }
  }
}

inline std::string Written(const traces::Trace& trace) {
  std::ostringstream out;
  traces::WriteTrace(out, trace);
  return out.str();
}

/// Equal in everything the file format carries (the name comes from the file, not its content).
inline bool SameTrace(const traces::Trace& a, const traces::Trace& b, std::string& why) {
  if (a.objects.size() != b.objects.size()) return why = "object count", false;
  for (std::size_t i = 0; i < a.objects.size(); ++i) {
    const auto &x = a.objects[i], &y = b.objects[i];
    if (x.id != y.id || x.bucket != y.bucket || x.name != y.name || x.size != y.size) {
      return why = "objects[" + std::to_string(i) + "]", false;
    }
  }
  if (a.records.size() != b.records.size()) return why = "record count", false;
  for (std::size_t i = 0; i < a.records.size(); ++i) {
    const auto &x = a.records[i], &y = b.records[i];
    if (x.t_ns != y.t_ns || x.stream != y.stream || x.object != y.object || x.offset != y.offset ||
        x.length != y.length || x.duration_ns != y.duration_ns || x.past_eof != y.past_eof) {
      return why = "records[" + std::to_string(i) + "]: " + Describe(x) + " vs " + Describe(y), false;
    }
  }
  if (a.hints.size() != b.hints.size()) return why = "hint count", false;
  for (std::size_t i = 0; i < a.hints.size(); ++i) {
    const auto &x = a.hints[i], &y = b.hints[i];
    if (x.t_ns != y.t_ns || x.stream != y.stream || x.object != y.object || x.before != y.before ||
        x.ranges.size() != y.ranges.size()) {
      return why = "hints[" + std::to_string(i) + "]", false;
    }
    for (std::size_t k = 0; k < x.ranges.size(); ++k) {
      if (x.ranges[k].begin != y.ranges[k].begin || x.ranges[k].end != y.ranges[k].end) {
        return why = "hints[" + std::to_string(i) + "].ranges", false;
      }
    }
  }
  if (a.source != b.source) return why = "source " + a.source.dump() + " vs " + b.source.dump(), false;
  return true;
}

/// Writes the trace, reads it back, and requires the same trace and, written again, the same text.
inline void CheckRoundTrip(const traces::Trace& trace) {
  CheckValid(trace);
  const std::string text = Written(trace);
  std::istringstream in(text);
  auto back = traces::ParseTrace(in, "written.jsonl");
  FUZZ_REQUIRE(back.ok(), "a written trace does not read back: " + back.error().message + "\n" + text);
  std::string why;
  FUZZ_REQUIRE(SameTrace(trace, *back, why), "read back differently (" + why + ")\n" + text);
  FUZZ_REQUIRE(Written(*back) == text, "written twice differently\n" + text);
  // And through the binary form.
  std::ostringstream binary;
  const Status written = traces::WriteBinaryTrace(binary, trace);
  FUZZ_REQUIRE(written.ok(), "an accepted trace does not write as binary: " + written.error().message + "\n" + text);
  std::istringstream binary_in(binary.str());
  auto from_binary = traces::ParseTrace(binary_in, "written.bin");
  FUZZ_REQUIRE(from_binary.ok(), "a written binary trace does not read back: " + from_binary.error().message);
  FUZZ_REQUIRE(SameTrace(trace, *from_binary, why), "read back from binary differently (" + why + ")\n" + text);
}

}  // namespace pflab::fuzz
