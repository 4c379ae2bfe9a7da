#include "traces/import_gcsfs_log.h"

#include <fnmatch.h>

#include <filesystem>
#include <fstream>
#include <istream>
#include <limits>
#include <map>

#include "traces/import_common.h"
#include "traces/limits.h"
#include "traces/text_input.h"

namespace pflab::traces {
namespace {

using internal::ImportedRead;
using internal::LineError;
using internal::ParseUint;
using internal::Trim;

// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
std::int64_t DaysFromCivil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

// Years whose every instant is a signed 64-bit nanosecond count since 1970 (which spans 1677-09-21 to
// 2262-04-11).
constexpr std::uint64_t kFirstYear = 1678, kLastYear = 2261;
// What ParseAsctime gives for a well-formed time outside those years; no real time is this value.
constexpr Nanos kOutOfRange = std::numeric_limits<Nanos>::min();

// "2024-05-01 12:00:00,123" (logging's default asctime) as nanoseconds since the epoch, zone unknown.
// The year must lie in kFirstYear..kLastYear (checked by the caller, which can name the line).
std::optional<Nanos> ParseAsctime(std::string_view s) {
  if (s.size() != 23 || s[4] != '-' || s[7] != '-' || s[10] != ' ' || s[13] != ':' || s[16] != ':' || s[19] != ',') {
    return std::nullopt;
  }
  auto y = ParseUint(s.substr(0, 4)), mo = ParseUint(s.substr(5, 2)), d = ParseUint(s.substr(8, 2));
  auto h = ParseUint(s.substr(11, 2)), mi = ParseUint(s.substr(14, 2)), sec = ParseUint(s.substr(17, 2));
  auto ms = ParseUint(s.substr(20, 3));
  if (!y || !mo || !d || !h || !mi || !sec || !ms || *mo < 1 || *mo > 12 || *d < 1 || *d > 31 || *h > 23 || *mi > 59 ||
      *sec > 60) {
    return std::nullopt;
  }
  if (*y < kFirstYear || *y > kLastYear) return kOutOfRange;
  const std::int64_t days =
      DaysFromCivil(static_cast<std::int64_t>(*y), static_cast<unsigned>(*mo), static_cast<unsigned>(*d));
  const std::int64_t seconds = days * 86400 + static_cast<std::int64_t>(*h * 3600 + *mi * 60 + *sec);
  return seconds * kSecond + static_cast<Nanos>(*ms) * kMillisecond;
}

std::optional<std::string> PercentDecode(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out += text[i];
      continue;
    }
    if (i + 2 >= text.size()) return std::nullopt;
    int value = 0;
    for (int k = 1; k <= 2; ++k) {
      const char c = text[i + k];
      value *= 16;
      if (c >= '0' && c <= '9')
        value += c - '0';
      else if (c >= 'a' && c <= 'f')
        value += c - 'a' + 10;
      else if (c >= 'A' && c <= 'F')
        value += c - 'A' + 10;
      else
        return std::nullopt;
    }
    out += static_cast<char>(value);
    i += 2;
  }
  return out;
}

// One parsed log line: "asctime - name - level - func -- message".
struct LogLine {
  Nanos t_ns = 0;
  std::string_view logger;
  std::string_view func;
  std::string_view message;
};

std::optional<LogLine> SplitLogLine(std::string_view line) {
  std::string_view fields[4];
  std::size_t start = 0;
  for (int i = 0; i < 3; ++i) {
    const auto sep = line.find(" - ", start);
    if (sep == std::string_view::npos) return std::nullopt;
    fields[i] = line.substr(start, sep - start);
    start = sep + 3;
  }
  const auto sep = line.find(" -- ", start);
  if (sep == std::string_view::npos) return std::nullopt;
  fields[3] = line.substr(start, sep - start);
  auto t = ParseAsctime(fields[0]);
  if (!t) return std::nullopt;
  return LogLine{*t, fields[1], fields[3], line.substr(sep + 4)};
}

struct Located {
  std::string bucket;
  std::string name;
  RangeRead range;
};

// gcsfs _call: "GET: URL, ARGS, HEADERS". nullopt (no error) when the call is not a media download.
Result<std::optional<Located>> ParseGet(std::string_view message, const LineError& error) {
  if (message.substr(0, 5) != "GET: ") return std::optional<Located>();
  message.remove_prefix(5);
  const std::string_view url = message.substr(0, message.find(", "));
  const auto query = url.find('?');
  if (query == std::string_view::npos || url.find("alt=media", query) == std::string_view::npos) {
    return std::optional<Located>();
  }
  const auto b = url.find("/b/");
  const auto o = b == std::string_view::npos ? b : url.find("/o/", b + 3);
  if (o == std::string_view::npos || o >= query)
    return error("media GET whose URL has no /b/BUCKET/o/OBJECT: " + std::string(url));
  auto bucket = PercentDecode(url.substr(b + 3, o - b - 3));
  auto name = PercentDecode(url.substr(o + 3, query - o - 3));
  if (!bucket || !name || bucket->empty() || name->empty()) return error("bad bucket or object in " + std::string(url));
  std::string_view value;
  for (std::string_view key : {"'Range': '", "\"Range\": \"", "'range': '", "\"range\": \""}) {
    if (const auto at = message.find(key); at != std::string_view::npos) {
      const char quote = key.back();
      const auto begin = at + key.size();
      const auto end = message.find(quote, begin);
      if (end == std::string_view::npos) return error("unterminated Range header value");
      value = message.substr(begin, end - begin);
      break;
    }
  }
  if (value.empty()) {
    return error("GET of all of gs://" + *bucket + "/" + *name +
                 " (no Range header): the log does not say the object's size, so the read has no length");
  }
  auto range = InclusiveRangeToRead(value);
  if (!range) {
    return error("Range '" + std::string(value) +
                 "' is not a closed range bytes=A-B (the log does not say the "
                 "object's size, so open and suffix ranges have no offset or length)");
  }
  return std::optional<Located>(Located{*bucket, *name, *range});
}

// fsspec read: "<File-like object FS, PATH> read: A - B[ stats]".
Result<std::optional<Located>> ParseRead(std::string_view message, const LineError& error) {
  constexpr std::string_view kPrefix = "<File-like object ";
  constexpr std::string_view kRead = "> read: ";
  if (message.substr(0, kPrefix.size()) != kPrefix) return std::optional<Located>();
  const auto mark = message.find(kRead);
  const auto comma = message.find(", ");
  if (mark == std::string_view::npos || comma == std::string_view::npos || comma > mark) {
    return std::optional<Located>();
  }
  std::string_view path = message.substr(comma + 2, mark - comma - 2);
  while (!path.empty() && path.front() == '/') path.remove_prefix(1);
  std::string_view numbers = message.substr(mark + kRead.size());
  const auto dash = numbers.find(" - ");
  if (dash == std::string_view::npos) return error("fsspec read line without 'A - B'");
  std::string_view end_text = numbers.substr(dash + 3);
  end_text = end_text.substr(0, end_text.find(' '));
  auto begin = ParseUint(Trim(numbers.substr(0, dash)));
  auto end = ParseUint(Trim(end_text));
  if (!begin || !end || *end < *begin) return error("fsspec read line with a bad range: " + std::string(numbers));
  Located out;
  const auto slash = path.find('/');
  out.bucket = slash == std::string_view::npos ? "pflab" : std::string(path.substr(0, slash));
  out.name = std::string(slash == std::string_view::npos ? path : path.substr(slash + 1));
  if (out.name.empty()) return error("fsspec read line without a file path");
  out.range = {*begin, *end - *begin};
  return std::optional<Located>(out);
}

bool Selected(const std::string& wanted, const Located& at) {
  if (wanted.empty()) return true;
  const std::string key = at.bucket + "/" + at.name;
  return key == wanted || at.name == wanted || std::filesystem::path(at.name).filename() == wanted ||
         ::fnmatch(wanted.c_str(), key.c_str(), 0) == 0;
}

}  // namespace

std::optional<RangeRead> InclusiveRangeToRead(std::string_view value) {
  value = Trim(value);
  if (value.substr(0, 6) != "bytes=") return std::nullopt;
  value.remove_prefix(6);
  const auto dash = value.find('-');
  if (dash == std::string_view::npos) return std::nullopt;
  auto first = ParseUint(value.substr(0, dash));
  auto last = ParseUint(value.substr(dash + 1));
  if (!first || !last || *last < *first || *last == UINT64_MAX) return std::nullopt;
  return RangeRead{*first, *last - *first + 1};
}

Result<Trace> ImportGcsfsLog(std::istream& in, const std::string& input_name, const GcsfsLogImportOptions& options) {
  const bool gets = options.kind == GcsfsLogKind::kGets;
  std::map<std::string, std::size_t> index;  // BUCKET/OBJECT -> object
  std::vector<TraceObject> objects;
  std::vector<ImportedRead> reads;
  std::uint64_t log_lines = 0, other_lines = 0, other_kind = 0, zero_length = 0, not_selected = 0;
  std::string line;
  Nanos last_t = std::numeric_limits<Nanos>::min();  // logs from before 1970 have negative times
  LineReader reader(in, input_name, kMaxLineBytes);
  while (true) {
    auto more = reader.Next(&line);
    if (!more) return more.error();
    if (!*more) break;
    const std::uint64_t line_no = reader.line_number();
    std::string_view text = line;
    if (Trim(text).empty()) continue;
    const LineError error(input_name, line_no);
    auto log = SplitLogLine(text);
    if (!log) {
      ++other_lines;
      continue;
    }
    ++log_lines;
    const bool is_get = log->func == "_call" && log->logger.substr(0, 5) == "gcsfs";
    const bool is_read = log->func == "read" && log->logger.substr(0, 6) == "fsspec";
    if (!is_get && !is_read) continue;
    if (is_get != gets) {
      ++other_kind;
      continue;
    }
    auto located = is_get ? ParseGet(log->message, error) : ParseRead(log->message, error);
    if (!located) return located.error();
    if (!*located) continue;
    const Located& at = **located;
    if (!Selected(options.file, at)) {
      ++not_selected;
      continue;
    }
    if (at.range.length == 0) {  // fsspec 2022.11 logs reads at EOF before noticing they are empty
      ++zero_length;
      continue;
    }
    if (log->t_ns == kOutOfRange) {
      return error("time '" + std::string(text.substr(0, 23)) + "' is outside the years " + std::to_string(kFirstYear) +
                   ".." + std::to_string(kLastYear) + " (nanoseconds since 1970 in 64 bits)");
    }
    if (log->t_ns < last_t) return error("time goes backwards; the log's lines must be in the order written");
    last_t = log->t_ns;
    if (at.range.offset > kMaxObjectSize || at.range.length > kMaxObjectSize - at.range.offset) {
      return error("the read of " + std::to_string(at.range.length) + " bytes at " + std::to_string(at.range.offset) +
                   " ends beyond 2^50 bytes (1 PiB), the limit on object sizes");
    }
    if (auto s = internal::CheckOneMoreRead(reads, error); !s) return s.error();
    const std::string key = at.bucket + "/" + at.name;
    auto [it, inserted] = index.try_emplace(key, objects.size());
    if (inserted) objects.push_back({"o" + std::to_string(objects.size()), at.bucket, at.name, 0});
    TraceObject& object = objects[it->second];
    object.size = std::max(object.size, at.range.offset + at.range.length);
    ImportedRead read;
    read.object = it->second;
    read.offset = at.range.offset;
    read.length = at.range.length;
    read.t_ns = log->t_ns;
    read.line = line_no;
    reads.push_back(read);
  }
  const char* what = gets ? "gcsfs media GETs with a Range" : "fsspec 'read:' lines";
  if (log_lines == 0) {
    return InvalidArgument(input_name +
                           ": no lines in the format of fsspec.utils.setup_logging "
                           "('YYYY-MM-DD HH:MM:SS,mmm - LOGGER - LEVEL - FUNC -- MESSAGE')");
  }
  if (reads.empty()) {
    std::string hint = other_kind > 0
                           ? std::string("; the log has ") + std::to_string(other_kind) + " " +
                                 (gets ? "fsspec read lines (use --kind reads)" : "gcsfs GETs (use --kind gets)")
                           : "";
    if (not_selected > 0)
      hint += "; " + std::to_string(not_selected) + " reads of other objects than '" + options.file + "'";
    return InvalidArgument(input_name + ": no " + what + hint);
  }
  nlohmann::json source = {{"importer", "gcsfs-log"},
                           {"input", input_name},
                           {"kind", gets ? "gets" : "reads"},
                           {"file", options.file.empty() ? nlohmann::json(nullptr) : nlohmann::json(options.file)},
                           {"size_from", "largest end read"},
                           {"skipped",
                            {{"non_log_lines", other_lines},
                             {"other_kind", other_kind},
                             {"zero_length", zero_length},
                             {"other_objects", not_selected}}}};
  return internal::FinishTrace(std::move(objects), std::move(reads), std::move(source), input_name);
}

Result<Trace> ImportGcsfsLogFile(const std::string& path, const GcsfsLogImportOptions& options) {
  auto in = OpenTextInput(path, "log");
  if (!in) return in.error();
  auto trace = ImportGcsfsLog(*in, path, options);
  if (trace) trace->name = std::filesystem::path(path).stem().string();
  return trace;
}

}  // namespace pflab::traces
