// Trace format v1 (JSON Lines): reading with validation, and writing.
//
// Line 1 is the header: {"format":"pflab-trace","version":1,"objects":[{"id","name","size"[,"bucket"]}],
// "source":{...}}. Every further line is one read, in issue order:
// {"t":NS,"stream":S,"object":"ID","offset":N,"length":N[,"dur":NS]}. "stream" defaults to 0, "object"
// may be left out when the header has exactly one object, "dur" (the recorded duration) is optional.
// A line with "hint" instead of "offset"/"length" announces ranges the stream will read later:
// {"t":NS,"stream":S,"object":"ID","hint":[[offset,length],...]} (Arrow's ReadRangeCache::Cache, as
// Parquet's pre_buffer calls it); its "t" is ordered with the reads, its ranges lie within the object,
// and its stream must have reads. Traces without hints are read and written exactly as before.
// Blank lines and lines starting with '#' are skipped; unknown fields are ignored so newer writers can
// add fields. Every error names the file and the line: "FILE:LINE: what is wrong". Values, line
// lengths and counts are bounded by traces/limits.h; NUL bytes (binary input) are errors.
#pragma once

#include <iosfwd>
#include <string>

#include "engine/result.h"
#include "traces/trace.h"

namespace pflab::traces {

inline constexpr const char* kTraceFormat = "pflab-trace";
inline constexpr int kTraceVersion = 1;

/// Reads and validates a trace file, JSONL or binary (told by its first bytes, not its name); the
/// trace's name is the file's stem.
Result<Trace> ReadTrace(const std::string& path);
/// Parses a trace, JSONL or binary, from a stream; `display_name` prefixes error messages.
Result<Trace> ParseTrace(std::istream& in, const std::string& display_name);
/// The header line's JSON (format, version, objects, source); the binary format carries it too.
nlohmann::json TraceHeaderJson(const Trace& trace);
/// Parses a header into a trace without reads; `where` prefixes errors ("FILE:1: ").
Result<Trace> ParseTraceHeader(const nlohmann::json& header, const std::string& where);
/// Writes a trace file (JSONL).
Status WriteTrace(const std::string& path, const Trace& trace);
void WriteTrace(std::ostream& out, const Trace& trace);

}  // namespace pflab::traces
