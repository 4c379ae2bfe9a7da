#include "traces/import_common.h"

#include <algorithm>
#include <charconv>
#include <limits>

#include "engine/utf8.h"
#include "traces/limits.h"

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
    if (__builtin_add_overflow(value, (c - '0') * scale, &value)) return std::nullopt;  // just below 2^63
  }
  return value;
}

std::optional<Nanos> ParseNumberNanos(std::string_view text, Nanos unit_ns) {
  const auto e = text.find_first_of("eE");
  if (e == std::string_view::npos) return ParseDecimalNanos(text, unit_ns);
  // Rewritten as a plain decimal with the point moved, so the conversion stays exact.
  const std::string_view mantissa = text.substr(0, e);
  std::string_view exponent = text.substr(e + 1);
  bool negative = false;
  if (!exponent.empty() && (exponent.front() == '+' || exponent.front() == '-')) {
    negative = exponent.front() == '-';
    exponent.remove_prefix(1);
  }
  const auto power = ParseUint(exponent);
  if (!power || *power > 1000) return std::nullopt;  // beyond any Nanos either way
  const auto dot = mantissa.find('.');
  const std::string_view whole = mantissa.substr(0, dot);
  const std::string_view fraction = dot == std::string_view::npos ? std::string_view() : mantissa.substr(dot + 1);
  if ((whole.empty() && fraction.empty()) || whole.find_first_not_of("0123456789") != std::string_view::npos ||
      fraction.find_first_not_of("0123456789") != std::string_view::npos) {
    return std::nullopt;
  }
  const std::string digits = std::string(whole) + std::string(fraction);
  const std::int64_t point =
      static_cast<std::int64_t>(whole.size()) + (negative ? -static_cast<std::int64_t>(*power) : *power);
  std::string plain;
  if (point <= 0) {
    plain = "0." + std::string(static_cast<std::size_t>(-point), '0') + digits;
  } else if (static_cast<std::size_t>(point) >= digits.size()) {
    plain = digits + std::string(static_cast<std::size_t>(point) - digits.size(), '0');
  } else {
    plain = digits.substr(0, static_cast<std::size_t>(point)) + "." + digits.substr(static_cast<std::size_t>(point));
  }
  return ParseDecimalNanos(plain, unit_ns);
}

Status CheckOneMoreRead(const std::vector<ImportedRead>& reads, const LineError& error) {
  if (auto s = CheckRecordCount(reads.size() + 1); !s) return error(s.error().message);
  return OkStatus();
}

Result<Trace> FinishTrace(std::vector<TraceObject> objects, std::vector<ImportedRead> reads, nlohmann::json source,
                          const std::string& input_name) {
  if (reads.empty()) return InvalidArgument(input_name + ": no reads to import");
  if (auto s = CheckObjectCount(objects.size()); !s) return InvalidArgument(input_name + ": " + s.error().message);
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
    const LineError error(input_name, r.line);
    const TraceObject& object = trace.objects.at(r.object);
    if (auto s = CheckObjectSize(object.size); !s) return error("\"" + object.name + "\": " + s.error().message);
    if (r.offset > object.size || r.length > object.size - r.offset) {
      return error("read beyond the object's end: " + std::to_string(r.offset) + "+" + std::to_string(r.length) +
                   " > size " + std::to_string(object.size) + " of \"" + object.name + "\"");
    }
    if (auto s = CheckStreamId(r.stream); !s) return error(s.error().message);
    if (r.duration_ns >= 0) {
      if (auto s = CheckTraceNanos("dur", static_cast<std::uint64_t>(r.duration_ns)); !s) {
        return error(s.error().message);
      }
    }
    Nanos t = 0;
    if (__builtin_sub_overflow(r.t_ns, start, &t)) {
      return error(
          "this read comes more than 292 years after the first (the most 64-bit "
          "nanoseconds count)");
    }
    if (auto s = CheckTraceNanos("t", static_cast<std::uint64_t>(t)); !s) {
      return error(s.error().message + " after the first read");
    }
    trace.records.push_back({t, r.stream, static_cast<std::uint32_t>(r.object), r.offset, r.length, r.duration_ns});
  }
  trace.source = std::move(source);
  return trace;
}

}  // namespace pflab::traces::internal
