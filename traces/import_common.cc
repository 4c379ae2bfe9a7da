#include "traces/import_common.h"

#include <algorithm>
#include <charconv>
#include <limits>

#include "engine/utf8.h"

namespace pflab::traces::internal {

std::optional<std::uint64_t> ParseUint(std::string_view text) {
  std::uint64_t value = 0;
  if (text.empty() || text.front() == '-' || text.front() == '+') return std::nullopt;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

std::optional<std::int64_t> ParseInt(std::string_view text) {
  std::int64_t value = 0;
  if (text.empty() || text.front() == '+') return std::nullopt;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

std::optional<Nanos> ParseDecimalNanos(std::string_view text, Nanos unit_ns) {
  const auto dot = text.find('.');
  const auto whole = ParseUint(text.substr(0, dot));
  if (!whole) return std::nullopt;
  const auto max = static_cast<std::uint64_t>(std::numeric_limits<Nanos>::max());
  if (*whole > max / static_cast<std::uint64_t>(unit_ns)) return std::nullopt;
  Nanos value = static_cast<Nanos>(*whole) * unit_ns;
  if (dot == std::string_view::npos) return value;
  const std::string_view fraction = text.substr(dot + 1);
  if (fraction.empty() || fraction.find_first_not_of("0123456789") != std::string_view::npos) return std::nullopt;
  // Digit by digit, so seconds with microseconds (strace) or nanoseconds convert exactly.
  Nanos scale = unit_ns;
  for (char c : fraction) {
    if (scale < 10) break;  // below a nanosecond: truncated
    scale /= 10;
    const Nanos digit = (c - '0') * scale;
    if (value > std::numeric_limits<Nanos>::max() - digit) return std::nullopt;  // the whole part was at the edge
    value += digit;
  }
  return value;
}

std::string_view Trim(std::string_view text) {
  const auto first = text.find_first_not_of(" \t\r");
  if (first == std::string_view::npos) return {};
  const auto last = text.find_last_not_of(" \t\r");
  return text.substr(first, last - first + 1);
}

Result<Trace> FinishTrace(std::vector<TraceObject> objects, std::vector<ImportedRead> reads, nlohmann::json source,
                          const std::string& input_name) {
  if (reads.empty()) return InvalidArgument(input_name + ": no reads to import");
  // A trace is JSON, which holds only UTF-8 text, and a GCS object name must be UTF-8 too; the writer
  // would throw on anything else. Each object is checked at its first read, whose line the error names.
  std::vector<bool> checked(objects.size(), false);
  for (const ImportedRead& r : reads) {
    if (checked.at(r.object)) continue;
    checked[r.object] = true;
    const TraceObject& object = objects[r.object];
    for (const std::string* text : {&object.id, &object.bucket, &object.name}) {
      if (!IsUtf8(*text)) {
        return LineError(input_name, r.line)("object name '" + EscapeBytes(*text) +
                                             "' is not valid UTF-8 (trace files and GCS object names are UTF-8)");
      }
    }
  }
  try {
    (void)source.dump();
  } catch (const nlohmann::json::type_error&) {
    return InvalidArgument(EscapeBytes(input_name) + ": the input's name or an import option is not valid UTF-8");
  }
  std::stable_sort(reads.begin(), reads.end(),
                   [](const ImportedRead& a, const ImportedRead& b) { return a.t_ns < b.t_ns; });
  const Nanos start = reads.front().t_ns;
  Trace trace;
  trace.objects = std::move(objects);
  trace.records.reserve(reads.size());
  for (const ImportedRead& r : reads) {
    const TraceObject& object = trace.objects.at(r.object);
    if (r.offset > object.size || r.length > object.size - r.offset) {
      return LineError(input_name, r.line)("read beyond the object's end: " + std::to_string(r.offset) + "+" +
                                           std::to_string(r.length) + " > size " + std::to_string(object.size) +
                                           " of \"" + object.name + "\"");
    }
    Nanos t = 0;
    if (__builtin_sub_overflow(r.t_ns, start, &t)) {
      return LineError(input_name, r.line)(
          "this read comes more than 292 years after the first (the most 64-bit "
          "nanoseconds count)");
    }
    trace.records.push_back({t, r.stream, static_cast<std::uint32_t>(r.object), r.offset, r.length, r.duration_ns});
  }
  trace.source = std::move(source);
  return trace;
}

}  // namespace pflab::traces::internal
