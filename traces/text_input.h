// Bounded reading of the text files traces come from (trace files, CSV, strace and gcsfs logs), so
// that binary or endless input (/dev/zero, an image, a directory) fails at once with FILE:LINE
// instead of growing one line without end.
#pragma once

#include <cstddef>
#include <cstdint>
#include <fstream>
#include <istream>
#include <string>
#include <string_view>
#include <vector>

#include "engine/result.h"

namespace pflab::traces {

/// Reads lines of at most `max_line_bytes` bytes (not counting the '\n'). A longer line, or a NUL
/// byte anywhere, is an error "NAME:LINE: ..." naming the limit or the column. It reads ahead of the
/// line it returns, so the stream is its own until the end.
class LineReader {
 public:
  LineReader(std::istream& in, std::string display_name, std::size_t max_line_bytes);

  /// Puts the next line, without its "\n" or "\r\n", into `*line`; false at the end of the input.
  Result<bool> Next(std::string* line);
  /// The number of the line last returned (1-based).
  std::uint64_t line_number() const { return line_no_; }
  void set_max_line_bytes(std::size_t max) { max_line_bytes_ = max; }

 private:
  bool Fill();  // reads the next block of input into buffer_; false at the end

  std::istream& in_;
  std::string name_;
  std::size_t max_line_bytes_;
  std::uint64_t line_no_ = 0;
  // Read ahead in blocks (the stream is this reader's alone until the end): lines are found with
  // memchr instead of a call per character.
  std::vector<char> buffer_;
  std::size_t begin_ = 0, end_ = 0;
  bool at_end_ = false;
};

/// Opens `path` for reading as text; a missing file, a directory or an unreadable file is an error
/// "PATH:0: cannot open the WHAT" with the reason.
Result<std::ifstream> OpenTextInput(const std::string& path, const std::string& what);

/// At most `max` bytes of `text` for an error message, with control and non-ASCII bytes as \xNN.
std::string Excerpt(std::string_view text, std::size_t max = 80);

/// Whether `json_text` nests arrays and objects deeper than `max_depth` (strings are skipped).
/// Checked before parsing: nlohmann::json copies and prints values recursively, so a line of a
/// million '[' would overflow the stack long after it parsed.
bool JsonNestedDeeperThan(std::string_view json_text, int max_depth);

}  // namespace pflab::traces
