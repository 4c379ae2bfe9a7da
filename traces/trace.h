// The in-memory form of an access trace (format v1; see README "Trace format").
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/byte_range.h"
#include "engine/scheduler.h"

namespace pflab::traces {

/// One object the trace reads.
struct TraceObject {
  std::string id;      // referenced by records
  std::string bucket;  // optional; "pflab" when absent
  std::string name;
  std::uint64_t size = 0;
};

/// One application read, as issued.
struct TraceRecord {
  Nanos t_ns = 0;            // time of issue since the trace start
  std::uint32_t stream = 0;  // closed-loop client (thread / file handle)
  std::uint32_t object = 0;  // index into Trace::objects
  std::uint64_t offset = 0;
  std::uint64_t length = 0;  // bytes the read returned
  Nanos duration_ns = -1;    // how long the read took when recorded; -1 if unknown
  // Bytes the application asked for beyond `length`: non-zero only for a read that crossed EOF and was
  // cut there (fsspec passes offset + length to its caches uncut, and fsspec-bytes decides on it).
  std::uint64_t past_eof = 0;

  /// The length the application asked for.
  std::uint64_t asked() const { return length + past_eof; }
};

/// The application announcing ranges its stream will read later, as Arrow's ReadRangeCache::Cache
/// (Parquet's pre_buffer) does. Replay hands it to the stream's stack between two of its reads.
struct TraceHint {
  Nanos t_ns = 0;
  std::uint32_t stream = 0;
  std::uint32_t object = 0;
  std::vector<ByteRange> ranges;  // half-open, as announced (unsorted, possibly empty ones)
  std::size_t before = 0;         // index into Trace::records of the first read after it in the file
};

/// A whole trace: header plus records in issue order.
struct Trace {
  std::string name;  // for reports; the file stem when read from a file
  std::vector<TraceObject> objects;
  std::vector<TraceRecord> records;
  std::vector<TraceHint> hints;                      // in file order; most traces have none
  nlohmann::json source = nlohmann::json::object();  // how it was made (generator, recorder, ...)
};

}  // namespace pflab::traces
