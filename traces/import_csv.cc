#include "traces/import_csv.h"

#include <algorithm>
#include <array>
#include <filesystem>
#include <fstream>
#include <istream>

#include "traces/import_common.h"
#include "traces/limits.h"
#include "traces/text_input.h"

namespace pflab::traces {
namespace {

using internal::ImportedRead;
using internal::LineError;
using internal::ParseNumberNanos;
using internal::ParseUint;
using internal::Trim;

enum Column { kOffset, kLength, kTime, kStream, kDur, kColumns };
constexpr std::array<const char*, kColumns> kNames = {"offset", "length", "time", "stream", "dur"};

std::vector<std::string> SplitRow(std::string_view line) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (true) {
    const auto comma = line.find(',', start);
    out.emplace_back(
        Trim(line.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start)));
    if (comma == std::string_view::npos) return out;
    start = comma + 1;
  }
}

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

Result<Nanos> TimeUnit(const std::string& unit) {
  if (unit == "s") return kSecond;
  if (unit == "ms") return kMillisecond;
  if (unit == "us") return kMicrosecond;
  if (unit == "ns") return Nanos{1};
  return InvalidArgument("time unit '" + unit + "' is not one of s, ms, us, ns");
}

}  // namespace

Result<Trace> ImportCsv(std::istream& in, const std::string& input_name, const CsvImportOptions& options) {
  auto unit = TimeUnit(options.time_unit);
  if (!unit) return unit.error();
  if (options.size) {
    if (auto s = CheckObjectSize(*options.size); !s) return InvalidArgument("--size: " + s.error().message);
  }
  // column index of each field, -1 when absent
  std::array<int, kColumns> where = {0, 1, -1, -1, -1};
  bool first_row = true;
  std::vector<ImportedRead> reads;
  std::uint64_t max_end = 0;
  Nanos last_t = 0;
  std::string line;
  LineReader reader(in, input_name, kMaxLineBytes);
  while (true) {
    auto more = reader.Next(&line);
    if (!more) return more.error();
    if (!*more) break;
    const std::uint64_t line_no = reader.line_number();
    const std::string_view text = Trim(line);
    if (text.empty() || text.front() == '#') continue;
    const LineError error(input_name, line_no);
    const auto fields = SplitRow(text);
    if (first_row) {
      first_row = false;
      if (!ParseUint(fields[0]) && !ParseNumberNanos(fields[0], 1)) {
        where.fill(-1);
        for (std::size_t i = 0; i < fields.size(); ++i) {
          const std::string name = Lower(fields[i]);
          auto it = std::find(kNames.begin(), kNames.end(), name);
          if (it == kNames.end()) {
            return error("unknown column '" + fields[i] +
                         "' in the header (columns: offset, length, time, stream, dur)");
          }
          if (where[it - kNames.begin()] >= 0) return error("column '" + name + "' appears twice");
          where[it - kNames.begin()] = static_cast<int>(i);
        }
        if (where[kOffset] < 0 || where[kLength] < 0) return error("the header needs columns offset and length");
        continue;
      }
      if (fields.size() > 4) return error("more than 4 columns without a header (offset,length[,time,stream])");
      if (fields.size() > 2) where[kTime] = 2;
      if (fields.size() > 3) where[kStream] = 3;
    }
    const auto needed = static_cast<std::size_t>(*std::max_element(where.begin(), where.end())) + 1;
    if (fields.size() != needed) {
      return error("expected " + std::to_string(needed) + " columns, got " + std::to_string(fields.size()));
    }
    auto integer = [&](Column c) -> Result<std::uint64_t> {
      auto v = ParseUint(fields[where[c]]);
      if (!v) return error(std::string(kNames[c]) + " must be a non-negative integer, got '" + fields[where[c]] + "'");
      return *v;
    };
    auto time = [&](Column c) -> Result<Nanos> {
      auto v = ParseNumberNanos(fields[where[c]], *unit);
      if (!v) {
        return error(std::string(kNames[c]) + " must be a non-negative decimal number of " + options.time_unit +
                     " (below 2^63 ns), got '" + fields[where[c]] + "'");
      }
      return *v;
    };
    ImportedRead read;
    read.line = line_no;
    auto offset = integer(kOffset);
    if (!offset) return offset.error();
    auto length = integer(kLength);
    if (!length) return length.error();
    read.offset = *offset;
    read.length = *length;
    if (read.offset > kMaxObjectSize || read.length > kMaxObjectSize - read.offset) {
      return error("offset+length=" + std::to_string(read.offset) + "+" + std::to_string(read.length) +
                   " ends beyond 2^50 bytes (1 PiB), the limit on object sizes");
    }
    if (where[kStream] >= 0) {
      auto stream = integer(kStream);
      if (!stream) return stream.error();
      if (auto s = CheckStreamId(*stream); !s) return error(s.error().message);
      read.stream = static_cast<std::uint32_t>(*stream);
    }
    if (where[kTime] >= 0) {
      auto t = time(kTime);
      if (!t) return t.error();
      if (!reads.empty() && *t < last_t) {
        return error("time goes backwards (" + fields[where[kTime]] +
                     " after an earlier row); rows must be in issue order");
      }
      read.t_ns = last_t = *t;
    }
    if (where[kDur] >= 0) {
      auto dur = time(kDur);
      if (!dur) return dur.error();
      read.duration_ns = *dur;
    }
    max_end = std::max(max_end, read.offset + read.length);
    if (auto s = internal::CheckOneMoreRead(reads, error); !s) return s.error();
    reads.push_back(read);
  }
  TraceObject object;
  object.id = "o0";
  object.bucket = options.bucket;
  object.name = options.name.empty() ? std::filesystem::path(input_name).stem().string() : options.name;
  object.size = options.size.value_or(max_end);
  nlohmann::json source = {{"importer", "csv"},
                           {"input", input_name},
                           {"time_unit", options.time_unit},
                           {"size_from", options.size ? "--size" : "largest end read"}};
  return internal::FinishTrace({object}, std::move(reads), std::move(source), input_name);
}

Result<Trace> ImportCsvFile(const std::string& path, const CsvImportOptions& options) {
  auto in = OpenTextInput(path, "CSV file");
  if (!in) return in.error();
  auto trace = ImportCsv(*in, path, options);
  if (trace) trace->name = std::filesystem::path(path).stem().string();
  return trace;
}

}  // namespace pflab::traces
