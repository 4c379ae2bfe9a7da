// Pieces every trace importer shares: FILE:LINE error messages, strict number parsing, and the
// final step that turns collected reads into a valid trace v1 (objects sized, records in issue order).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/result.h"
#include "engine/text.h"
#include "traces/trace.h"

namespace pflab::traces::internal {

/// Builds "FILE:LINE: what" errors for one input line.
class LineError {
 public:
  LineError(const std::string& file, std::uint64_t line) : prefix_(file + ":" + std::to_string(line) + ": ") {}
  Error operator()(const std::string& what) const { return InvalidArgument(prefix_ + what); }

 private:
  std::string prefix_;
};

/// The whole of `text` as a decimal unsigned integer; nullopt on anything else (sign, spaces, overflow).
std::optional<std::uint64_t> ParseUint(std::string_view text);
/// The whole of `text` as a decimal signed integer.
std::optional<std::int64_t> ParseInt(std::string_view text);
/// A non-negative decimal number such as "1700000000.123456" in units of `unit_ns` nanoseconds, converted
/// exactly (digits below a nanosecond are dropped); nullopt on anything else, exponents included, and on
/// values past the largest Nanos.
std::optional<Nanos> ParseDecimalNanos(std::string_view text, Nanos unit_ns);
/// As ParseDecimalNanos, and also in exponent notation as Python prints small and large floats
/// ("5.3e-05", "1.5E+3"), still converted exactly.
std::optional<Nanos> ParseNumberNanos(std::string_view text, Nanos unit_ns);
/// `text` without leading and trailing blanks: spaces, tabs and the '\r' of CRLF line ends.
inline std::string_view Trim(std::string_view text) {
  return pflab::Trim(text, " \t\r");
}

/// One imported read before objects get ids: which object (by key), where, and when.
struct ImportedRead {
  std::size_t object = 0;  // index into the importer's object list
  std::uint32_t stream = 0;
  std::uint64_t offset = 0;
  std::uint64_t length = 0;
  Nanos t_ns = 0;  // absolute in the importer's clock; rebased to the first read by FinishTrace
  Nanos duration_ns = -1;
  std::uint64_t line = 0;  // input line, for errors
};

/// Checks that one more read fits the limit on reads per trace (traces/limits.h), before an importer
/// stores it: an endless input fails at the read past the limit, not when memory runs out.
Status CheckOneMoreRead(const std::vector<ImportedRead>& reads, const LineError& error);

/// Sorts reads by issue time (stable, so equal times keep input order), rebases time to the first read,
/// and checks every read lies within its object and every limit of traces/limits.h (object sizes, stream
/// ids, times), and every object's id, bucket and name (and the source's text) is UTF-8, so the trace
/// can be written, naming the input line. Objects must already carry their sizes.
Result<Trace> FinishTrace(std::vector<TraceObject> objects, std::vector<ImportedRead> reads, nlohmann::json source,
                          const std::string& input_name);

}  // namespace pflab::traces::internal
