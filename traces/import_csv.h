// Importer for CSV lists of reads: offset,length[,time,stream], one read per row, in issue order.
//
// The header row is optional. Without one, columns are positional: offset, length, then optionally
// time and stream. With one (recognised because its first field is not a number), columns are named
// offset, length, time, stream and dur in any order; offset and length are required. Times (time and
// dur) are non-negative decimals in `time_unit` (s by default; ms, us, ns), also in exponent notation
// as Python prints small floats ("5.3e-05"), converted exactly to
// nanoseconds; t is the row's time minus the first row's, and rows whose time goes backwards are an
// error (the trace replays in row order). Without a time column every read is issued at t = 0 (no
// think time). Blank lines and lines starting with '#' are skipped. One object: its size is
// `size` when given (an error if a read ends beyond it), else the largest end read.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>

#include "engine/result.h"
#include "traces/trace.h"

namespace pflab::traces {

/// How to read a CSV of reads.
struct CsvImportOptions {
  std::string time_unit = "s";        // s, ms, us or ns
  std::optional<std::uint64_t> size;  // object size; default the largest end read
  std::string name;                   // object name; default the input file's stem
  std::string bucket = "pflab";
};

/// Parses CSV rows; errors name `input_name` and the line.
Result<Trace> ImportCsv(std::istream& in, const std::string& input_name, const CsvImportOptions& options);
/// Same, from a file.
Result<Trace> ImportCsvFile(const std::string& path, const CsvImportOptions& options);

}  // namespace pflab::traces
