#include "traces/text_input.h"

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace pflab::traces {

LineReader::LineReader(std::istream& in, std::string display_name, std::size_t max_line_bytes)
    : in_(in), name_(std::move(display_name)), max_line_bytes_(max_line_bytes) {}

Result<bool> LineReader::Next(std::string* line) {
  line->clear();
  std::streambuf* buf = in_.rdbuf();
  if (buf == nullptr || !in_.good()) return false;
  using Traits = std::char_traits<char>;
  int c = buf->sbumpc();
  if (c == Traits::eof()) {
    in_.setstate(std::ios::eofbit);
    return false;
  }
  ++line_no_;
  auto where = [&] { return name_ + ":" + std::to_string(line_no_) + ": "; };
  for (; c != Traits::eof() && c != '\n'; c = buf->sbumpc()) {
    if (c == 0) {
      return InvalidArgument(where() + "NUL byte at column " + std::to_string(line->size() + 1) +
                             ": binary data, not a text file");
    }
    if (line->size() >= max_line_bytes_) {
      return InvalidArgument(where() + "line longer than " + std::to_string(max_line_bytes_) +
                             " bytes, the limit for this input (is this the right file?)");
    }
    line->push_back(static_cast<char>(c));
  }
  if (c == Traits::eof()) in_.setstate(std::ios::eofbit);
  if (!line->empty() && line->back() == '\r') line->pop_back();
  return true;
}

Result<std::ifstream> OpenTextInput(const std::string& path, const std::string& what) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) return InvalidArgument(path + ":0: is a directory, not a " + what);
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound(path + ":0: cannot open the " + what + ": " + std::strerror(errno));
  return in;
}

std::string Excerpt(std::string_view text, std::size_t max) {
  std::string out;
  for (std::size_t i = 0; i < text.size() && i < max; ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      static const char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  if (text.size() > max) out += "...";
  return out;
}

bool JsonNestedDeeperThan(std::string_view json_text, int max_depth) {
  int depth = 0;
  bool quoted = false;
  for (std::size_t i = 0; i < json_text.size(); ++i) {
    const char c = json_text[i];
    if (quoted) {
      if (c == '\\')
        ++i;
      else if (c == '"')
        quoted = false;
    } else if (c == '"') {
      quoted = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth) return true;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return false;
}

}  // namespace pflab::traces
