#include "traces/text_input.h"

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace pflab::traces {

LineReader::LineReader(std::istream& in, std::string display_name, std::size_t max_line_bytes)
    : in_(in), name_(std::move(display_name)), max_line_bytes_(max_line_bytes), buffer_(std::size_t{1} << 16) {}

bool LineReader::Fill() {
  if (at_end_) return false;
  std::streambuf* buf = in_.rdbuf();
  const std::streamsize n = buf == nullptr || !in_.good() ? 0 : buf->sgetn(buffer_.data(), buffer_.size());
  if (n <= 0) {
    at_end_ = true;
    in_.setstate(std::ios::eofbit);
    return false;
  }
  begin_ = 0;
  end_ = static_cast<std::size_t>(n);
  return true;
}

Result<bool> LineReader::Next(std::string* line) {
  line->clear();
  if (begin_ == end_ && !Fill()) return false;
  ++line_no_;
  auto where = [&] { return name_ + ":" + std::to_string(line_no_) + ": "; };
  while (true) {
    const char* from = buffer_.data() + begin_;
    const std::size_t available = end_ - begin_;
    const char* newline = static_cast<const char*>(std::memchr(from, '\n', available));
    const std::size_t take = newline ? static_cast<std::size_t>(newline - from) : available;
    if (const void* nul = std::memchr(from, '\0', take)) {
      const auto column = line->size() + static_cast<std::size_t>(static_cast<const char*>(nul) - from) + 1;
      return InvalidArgument(where() + "NUL byte at column " + std::to_string(column) +
                             ": binary data, not a text file");
    }
    if (take > max_line_bytes_ - line->size()) {
      return InvalidArgument(where() + "line longer than " + std::to_string(max_line_bytes_) +
                             " bytes, the limit for this input (is this the right file?)");
    }
    line->append(from, take);
    begin_ += take;
    if (newline) {
      ++begin_;
      break;
    }
    if (!Fill()) break;  // the last line, without a '\n'
  }
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
