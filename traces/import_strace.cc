#include "traces/import_strace.h"

#include <fnmatch.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <istream>
#include <map>
#include <optional>
#include <unordered_map>

#include "traces/import_common.h"
#include "traces/limits.h"
#include "traces/text_input.h"

namespace pflab::traces {
namespace {

using internal::ImportedRead;
using internal::LineError;
using internal::ParseDecimalNanos;
using internal::ParseInt;
using internal::ParseUint;
using internal::Trim;

constexpr std::string_view kUnfinished = " <unfinished ...>";

// A complete call: "name(args) = ret <dur>".
struct Call {
  std::string name;
  std::vector<std::string> args;
  std::string ret;  // text between "= " and the -T duration, e.g. "4096", "-1 EAGAIN (...)", "3</p>"
  Nanos duration_ns = -1;
};

// Walks `text` from `from`, skipping quoted strings (with backslash escapes), and calls
// visit(i, c, depth) for every other character with the bracket depth after it; returns the first i
// for which visit returns true, or npos.
template <typename Visit>
std::size_t ScanUnquoted(std::string_view text, std::size_t from, Visit visit) {
  int depth = 0;
  bool quoted = false;
  for (std::size_t i = from; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '\\')
        ++i;
      else if (c == '"')
        quoted = false;
      continue;
    }
    if (c == '"') {
      quoted = true;
      continue;
    }
    if (c == '(' || c == '[' || c == '{')
      ++depth;
    else if (c == ')' || c == ']' || c == '}')
      --depth;
    if (visit(i, c, depth)) return i;
  }
  return std::string_view::npos;
}

// Splits "a, "x, y"..., [b, c], d" at top-level commas; quotes (with escapes) and brackets nest.
std::vector<std::string> SplitArgs(std::string_view text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  ScanUnquoted(text, 0, [&](std::size_t i, char c, int depth) {
    if (c == ',' && depth == 0) {
      out.emplace_back(Trim(text.substr(start, i - start)));
      start = i + 1;
    }
    return false;
  });
  if (!Trim(text.substr(start)).empty() || !out.empty()) out.emplace_back(Trim(text.substr(start)));
  return out;
}

// Index of the ')' closing the '(' at `open`, or npos.
std::size_t MatchingParen(std::string_view text, std::size_t open) {
  const std::size_t close = ScanUnquoted(
      text, open, [](std::size_t, char c, int depth) { return depth == 0 && (c == ')' || c == ']' || c == '}'); });
  return close != std::string_view::npos && text[close] == ')' ? close : std::string_view::npos;
}

Result<Call> ParseCall(std::string_view text, const LineError& error) {
  Call call;
  const auto open = text.find('(');
  if (open == std::string_view::npos || open == 0) return error("expected a system call, got: " + std::string(text));
  call.name = std::string(text.substr(0, open));
  const auto close = MatchingParen(text, open);
  if (close == std::string_view::npos) return error("unbalanced parentheses in " + call.name + "(...)");
  call.args = SplitArgs(text.substr(open + 1, close - open - 1));
  std::string_view rest = Trim(text.substr(close + 1));
  if (rest.substr(0, 1) != "=") return error("no return value after " + call.name + "(...)");
  rest = Trim(rest.substr(1));
  // -T appends " <SECONDS>"; the return value itself may end in "<path>" (-y), so only a trailing
  // "<digits.digits>" counts as the duration.
  if (const auto lt = rest.rfind('<'); !rest.empty() && rest.back() == '>' && lt != std::string_view::npos) {
    if (auto dur = ParseDecimalNanos(rest.substr(lt + 1, rest.size() - lt - 2), kSecond); dur) {
      call.duration_ns = *dur;
      rest = Trim(rest.substr(0, lt));
    }
  }
  call.ret = std::string(rest);
  return call;
}

// "3</data/t.bin>" -> (3, "/data/t.bin"); the path may itself contain '>' so the last one closes it.
// A file unlinked while open (SQLite's temporary files, O_TMPFILE) shows as "4</var/tmp/x>(deleted)"
// (strace 5.x and later) or "4</var/tmp/x (deleted)>" (the raw /proc link): the path is the name it
// had, so reads before and after the unlink are one file and keep one position.
struct FdPath {
  std::int64_t fd = -1;
  std::optional<std::string> path;
  bool deleted = false;
};

std::optional<FdPath> ParseFdPath(std::string_view text) {
  constexpr std::string_view kDeletedAfter = "(deleted)", kDeletedInside = " (deleted)";
  FdPath out;
  const auto lt = text.find('<');
  auto fd = ParseInt(text.substr(0, lt));
  if (!fd) return std::nullopt;
  out.fd = *fd;
  if (lt != std::string_view::npos) {
    if (text.size() > kDeletedAfter.size() && text.substr(text.size() - kDeletedAfter.size()) == kDeletedAfter &&
        text[text.size() - kDeletedAfter.size() - 1] == '>') {
      text.remove_suffix(kDeletedAfter.size());
      out.deleted = true;
    }
    if (text.back() != '>' || text.size() < lt + 2) return std::nullopt;
    std::string_view path = text.substr(lt + 1, text.size() - lt - 2);
    if (path.size() > kDeletedInside.size() && path.substr(path.size() - kDeletedInside.size()) == kDeletedInside) {
      path.remove_suffix(kDeletedInside.size());
      out.deleted = true;
    }
    out.path = std::string(path);
  }
  return out;
}

// The leading integer of a return value ("4096", "-1 EAGAIN (...)", "3</p>").
std::optional<std::int64_t> ReturnValue(const std::string& ret) {
  std::string_view r = ret;
  const auto end = r.find_first_of(" <");
  return ParseInt(r.substr(0, end));
}

bool IsReadCall(const std::string& name) {
  return name == "read" || name == "pread64" || name == "readv" || name == "preadv" || name == "preadv2";
}

struct FileState {
  std::uint64_t max_end = 0;
  std::optional<std::uint64_t> seek_end_size;
  std::optional<std::size_t> object;  // index once selected and read
  bool deleted = false;               // seen unlinked: its path now names nothing, or another file
};

class StraceImporter {
 public:
  StraceImporter(const std::string& input_name, const StraceImportOptions& options)
      : input_name_(input_name), options_(options) {}

  Result<Trace> Run(std::istream& in) {
    std::string line;
    LineReader reader(in, input_name_, kMaxLineBytes);
    while (true) {
      auto more = reader.Next(&line);
      if (!more) return more.error();
      if (!*more) break;
      line_no_ = reader.line_number();
      if (auto status = Line(line); !status) return status.error();
    }
    for (const auto& [pid, pending] : pending_) {
      (void)pid;
      if (IsReadCall(pending.name) && Selected(pending.path)) {
        return LineError(input_name_, pending.line)(pending.name + " never resumed (the log ends inside it)");
      }
    }
    if (reads_.empty()) {
      std::string seen;
      for (const auto& [path, state] : files_) {
        (void)state;
        if (seen.size() < 400) seen += (seen.empty() ? "" : ", ") + path;
      }
      if (options_.file.empty())
        return InvalidArgument(input_name_ + ": no file reads found (files seen: " + seen + ")");
      return InvalidArgument(input_name_ + ": no reads of a file matching '" + options_.file +
                             "' (files seen: " + (seen.empty() ? "none" : seen) + ")");
    }
    return Finish();
  }

 private:
  struct Pending {
    std::string name;
    std::string prefix;  // "pread64(3</p>, " : the call up to the interruption
    std::string path;    // of the first argument, when it names one
    Nanos t_ns = 0;
    std::uint64_t line = 0;
  };

  Status Line(std::string_view text) {
    if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
    text = Trim(text);
    if (text.empty() || text.substr(0, 8) == "strace: ") return OkStatus();
    const LineError error(input_name_, line_no_);
    std::int64_t pid = 0;
    if (text.substr(0, 5) == "[pid ") {
      const auto close = text.find(']');
      auto p = close == std::string_view::npos ? std::nullopt : ParseInt(Trim(text.substr(5, close - 5)));
      if (!p) return error("malformed [pid N] prefix");
      pid = *p;
      text = Trim(text.substr(close + 1));
    } else if (const auto space = text.find(' '); space != std::string_view::npos) {
      if (auto p = ParseInt(text.substr(0, space)); p) {
        pid = *p;
        text = Trim(text.substr(space + 1));
      }
    }
    const auto space = text.find(' ');
    auto t = ParseDecimalNanos(text.substr(0, space), kSecond);
    if (!t || text.substr(0, space).find('.') == std::string_view::npos) {
      return error("expected an epoch timestamp (record with strace -f -ttt -T -y), got: " +
                   std::string(text.substr(0, 60)));
    }
    if (space == std::string_view::npos) return error("a timestamp and nothing else");
    text = Trim(text.substr(space + 1));
    if (text.substr(0, 3) == "+++" || text.substr(0, 3) == "---") return OkStatus();  // exits and signals

    std::string whole;
    Nanos start = *t;
    if (text.substr(0, 5) == "<... ") {
      const auto resumed = text.find(" resumed>");
      if (resumed == std::string_view::npos) return error("malformed '<... resumed>' line");
      const std::string name(text.substr(5, resumed - 5));
      auto it = pending_.find(pid);
      if (it == pending_.end() || it->second.name != name) {
        // The start may precede the log (strace attached mid-call); only reads of kept files matter.
        if (!IsReadCall(name) && name != "lseek" && name != "openat") return OkStatus();
        return error("'" + name + " resumed' without its '<unfinished ...>' start for pid " + std::to_string(pid));
      }
      whole = it->second.prefix + std::string(text.substr(resumed + 9));
      start = it->second.t_ns;
      pending_.erase(it);
    } else if (text.size() >= kUnfinished.size() && text.substr(text.size() - kUnfinished.size()) == kUnfinished) {
      Pending p;
      const auto open = text.find('(');
      if (open == std::string_view::npos) return error("malformed '<unfinished ...>' line");
      p.name = std::string(text.substr(0, open));
      p.prefix = std::string(text.substr(0, text.size() - kUnfinished.size()));
      // Whose file it is, so an unfinished read of an ignored file at the end of the log is no error.
      const auto args = SplitArgs(std::string_view(p.prefix).substr(open + 1));
      if (!args.empty()) {
        if (auto fd = ParseFdPath(args[0]); fd && fd->path) p.path = *fd->path;
      }
      p.t_ns = *t;
      p.line = line_no_;
      if (pending_.count(pid) != 0)
        return error("pid " + std::to_string(pid) + " starts a call while another is unfinished");
      pending_[pid] = std::move(p);
      return OkStatus();
    } else {
      whole = std::string(text);
    }
    const auto paren = whole.find('(');
    const std::string name = whole.substr(0, paren == std::string::npos ? 0 : paren);
    if (!IsReadCall(name) && name != "lseek" && name != "openat" && name != "open") return OkStatus();
    auto call = ParseCall(whole, error);
    if (!call) return call.error();
    return Apply(*call, pid, start, error);
  }

  bool Selected(const std::string& path) const {
    if (options_.file.empty()) {
      if (path.empty() || path.front() != '/') return false;
      for (const char* skip : {"/dev/", "/proc/", "/sys/"}) {
        if (path.rfind(skip, 0) == 0) return false;
      }
      return true;
    }
    if (path == options_.file) return true;
    if (std::filesystem::path(path).filename() == options_.file) return true;
    return ::fnmatch(options_.file.c_str(), path.c_str(), 0) == 0;
  }

  FileState& File(const std::string& path) { return files_[path]; }

  Status Apply(const Call& call, std::int64_t pid, Nanos start, const LineError& error) {
    // "= ?": the call never returned (the thread was killed inside it), so no bytes are known to have moved.
    if (!call.ret.empty() && call.ret.front() == '?') return OkStatus();
    auto ret = ReturnValue(call.ret);
    if (!ret) return error(call.name + ": cannot read the return value '" + call.ret + "'");
    if (call.name == "openat" || call.name == "open") {
      if (*ret < 0) return OkStatus();
      auto fd = ParseFdPath(call.ret);
      if (!fd || !fd->path) return error(call.name + " returned an fd without its path: record with strace -y");
      File(*fd->path);
      positions_[{fd->fd, *fd->path}] = 0;
      return OkStatus();
    }
    if (call.args.empty()) return error(call.name + " without arguments");
    auto fd = ParseFdPath(call.args[0]);
    if (!fd) return error(call.name + ": cannot read the file descriptor '" + call.args[0] + "'");
    if (*ret < 0 || fd->fd < 0) return OkStatus();  // failed: no data moved, position unchanged
    if (!fd->path)
      return error(call.name + " on fd " + std::to_string(fd->fd) + " without its path: record with strace -y");
    const std::string& path = *fd->path;
    FileState& file = File(path);
    file.deleted = file.deleted || fd->deleted;
    // Nothing about a file we do not keep can stop the import: its calls are not parsed further.
    if (!Selected(path)) return OkStatus();
    const std::pair<std::int64_t, std::string> key{fd->fd, path};
    auto arg = [&](std::size_t i) -> Result<std::int64_t> {
      if (call.args.size() <= i) return error(call.name + " has too few arguments");
      auto v = ParseInt(call.args[i]);
      if (!v) return error(call.name + ": argument " + std::to_string(i + 1) + " is not a number: " + call.args[i]);
      return *v;
    };
    if (call.name == "lseek") {
      positions_[key] = static_cast<std::uint64_t>(*ret);
      if (call.args.size() >= 3 && call.args[2] == "SEEK_END") {
        auto offset = arg(1);
        if (!offset) return offset.error();
        std::int64_t size = 0;
        if (!__builtin_sub_overflow(*ret, *offset, &size) && size >= 0) {
          file.seek_end_size = static_cast<std::uint64_t>(size);
        }
      }
      return OkStatus();
    }
    const auto bytes = static_cast<std::uint64_t>(*ret);
    std::optional<std::uint64_t> offset;
    bool advances = false;
    if (call.name == "pread64" || call.name == "preadv" || call.name == "preadv2") {
      auto o = arg(3);
      if (!o) return o.error();
      if (*o >= 0)
        offset = static_cast<std::uint64_t>(*o);
      else if (call.name != "preadv2" || *o != -1)
        return error(call.name + " at a negative offset");
      else
        advances = true;
    } else {
      advances = true;
    }
    if (advances) {
      auto pos = positions_.find(key);
      if (pos == positions_.end()) {
        // Without --file nobody asked for this file: one opened before strace started (a shell
        // redirect on stdin) is left out and counted, not fatal.
        if (options_.file.empty()) {
          if (bytes > 0) ++unplaced_[path];
          return OkStatus();
        }
        return error(call.name + " on fd " + std::to_string(fd->fd) + " (" + path +
                     ") whose position is unknown: its openat is not in the log (trace openat and lseek, "
                     "and start strace before the file is opened)");
      }
      offset = pos->second;
      pos->second += bytes;
    }
    if (bytes == 0) return OkStatus();  // EOF
    if (*offset > kMaxObjectSize || bytes > kMaxObjectSize - *offset) {
      return error(call.name + " of " + std::to_string(bytes) + " bytes at " + std::to_string(*offset) + " of " + path +
                   " ends beyond 2^50 bytes (1 PiB), the limit on object sizes");
    }
    if (auto s = internal::CheckOneMoreRead(reads_, error); !s) return s;
    if (!file.object) {
      file.object = order_.size();
      order_.push_back(path);
    }
    file.max_end = std::max(file.max_end, *offset + bytes);
    auto [pid_index, inserted] = pid_index_.try_emplace(pid, pids_.size());
    if (inserted) pids_.push_back(pid);
    ImportedRead read;
    read.object = *file.object;
    read.stream = static_cast<std::uint32_t>(pid_index->second);  // renumbered by Finish
    read.offset = *offset;
    read.length = bytes;
    read.t_ns = start;
    read.duration_ns = call.duration_ns;
    read.line = line_no_;
    reads_.push_back(read);
    return OkStatus();
  }

  Result<Trace> Finish() {
    std::vector<TraceObject> objects;
    nlohmann::json sizes = nlohmann::json::object();
    for (std::size_t i = 0; i < order_.size(); ++i) {
      const std::string& path = order_[i];
      const FileState& file = files_.at(path);
      TraceObject object;
      object.id = "o" + std::to_string(i);
      object.bucket = options_.bucket;
      object.name = path.substr(path.find_first_not_of('/'));
      object.size = file.max_end;
      std::string from = "largest end read";
      struct stat st {};
      if (file.seek_end_size && *file.seek_end_size >= file.max_end) {
        object.size = *file.seek_end_size;
        from = "lseek SEEK_END";
      } else if (options_.stat_sizes && !file.deleted && ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
                 static_cast<std::uint64_t>(st.st_size) >= file.max_end) {
        object.size = static_cast<std::uint64_t>(st.st_size);
        from = "stat";
      }
      sizes[object.id] = {{"path", path}, {"size_from", from}};
      if (file.deleted) sizes[object.id]["deleted"] = true;
      objects.push_back(std::move(object));
    }
    // Streams are numbered in order of their first read's issue time, not of the lines where reads
    // complete (an interrupted read completes after later ones).
    std::stable_sort(reads_.begin(), reads_.end(),
                     [](const ImportedRead& a, const ImportedRead& b) { return a.t_ns < b.t_ns; });
    std::vector<std::int64_t> stream_of(pids_.size(), -1);
    nlohmann::json streams = nlohmann::json::object();
    std::uint32_t next = 0;
    for (ImportedRead& read : reads_) {
      if (stream_of[read.stream] < 0) {
        streams[std::to_string(next)] = pids_[read.stream];
        stream_of[read.stream] = next++;
      }
      read.stream = static_cast<std::uint32_t>(stream_of[read.stream]);
    }
    nlohmann::json source = {{"importer", "strace"},
                             {"input", input_name_},
                             {"file", options_.file.empty() ? nlohmann::json(nullptr) : nlohmann::json(options_.file)},
                             {"objects", sizes},
                             {"stream_pids", streams}};
    if (!unplaced_.empty()) source["unplaced_reads"] = unplaced_;
    return internal::FinishTrace(std::move(objects), std::move(reads_), std::move(source), input_name_);
  }

  const std::string input_name_;
  const StraceImportOptions options_;
  std::uint64_t line_no_ = 0;
  std::map<std::int64_t, Pending> pending_;
  std::map<std::pair<std::int64_t, std::string>, std::uint64_t> positions_;
  std::map<std::string, FileState> files_;
  std::vector<std::string> order_;                 // kept paths in order of their first read
  std::map<std::int64_t, std::size_t> pid_index_;  // pid -> index into pids_
  std::vector<std::int64_t> pids_;
  std::vector<ImportedRead> reads_;
  // Reads left out without --file because their fd's position is unknown (opened before the log), by path.
  std::map<std::string, std::uint64_t> unplaced_;
};

}  // namespace

Result<Trace> ImportStrace(std::istream& in, const std::string& input_name, const StraceImportOptions& options) {
  return StraceImporter(input_name, options).Run(in);
}

Result<Trace> ImportStraceFile(const std::string& path, const StraceImportOptions& options) {
  auto in = OpenTextInput(path, "strace log");
  if (!in) return in.error();
  auto trace = ImportStrace(*in, path, options);
  if (trace) trace->name = std::filesystem::path(path).stem().string();
  return trace;
}

}  // namespace pflab::traces
