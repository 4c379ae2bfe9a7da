// Paths resolved beneath a directory without ever following a symbolic link.
//
// The directory-backed store must not serve, write or remove anything outside its root, and a root is a
// folder other programs (and people) can change while the server runs: a file, a folder or a whole
// bucket may be, or become, a symbolic link to somewhere else. Checking a path and then opening it by
// name races with such a change. So every path below the root is walked one component at a time with
// openat(2) relative to the already-open parent directory and O_NOFOLLOW: a link anywhere on the way,
// wherever it points (even back inside the root), ends the walk with kNotFound. A file is then read
// through the descriptor that was checked (fstat on it, never stat by name), so what is served is what
// was resolved. Writes go to a staging file created with O_EXCL | O_NOFOLLOW in a folder opened this
// way, and renameat(2) into a folder opened this way; unlinkat(2) removes an entry of a folder opened
// this way. The guarantee: nothing outside the root is read, written or removed through a link,
// whatever changes under us. What it does not cover: a folder that someone moves out of the root while
// we hold it open (that needs write access on both sides, not a link), and mount points inside the
// root (they are entered like any folder).
#pragma once

#include <sys/stat.h>

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/result.h"

namespace pflab::fake_gcs {

/// A file descriptor closed on destruction.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd();
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept;
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int release() {
    const int fd = fd_;
    fd_ = -1;
    return fd;
  }

 private:
  int fd_ = -1;
};

/// A regular file opened beneath a directory, with the fstat of that very descriptor.
struct OpenedFile {
  UniqueFd fd;
  struct stat st {};
};

/// Opens `path` (absolute or relative to the working directory; links in it are the caller's choice,
/// followed) as the directory everything else is resolved beneath.
Result<UniqueFd> OpenRootDirectory(const std::string& path);

/// Opens the directory `relative` ('/'-separated components, "" for `dir` itself) beneath `dir`, one
/// component at a time and never through a link. With `create`, missing components are made (0755).
/// kNotFound when a component is missing (and not created), is a link, or is not a directory; the
/// message names the component.
Result<UniqueFd> OpenDirectoryBeneath(int dir, std::string_view relative, bool create);

/// Opens the regular file `relative` beneath `dir` for reading, never through a link (the last
/// component included) and never blocking on a FIFO. kNotFound for anything that is not a regular file.
Result<OpenedFile> OpenFileBeneath(int dir, std::string_view relative);

/// The names in directory `dir` (without "." and ".."), read through a fresh open of it: a directory
/// stream on a dup'ed descriptor would share (and exhaust) the position of every other dup.
std::vector<std::string> EntryNames(int dir);

/// lstat of `name` (one component) in `dir`: whether it exists, and what it is, without following it.
bool StatEntry(int dir, const std::string& name, struct stat& st);

/// Calls `visit(relative_name, st)` for every regular file below `dir` (recursively, in no particular
/// order), never descending into or reporting a link; entries for which `skip(relative_name)` is true
/// are left out (and not descended into). Unreadable folders are skipped.
void WalkFiles(int dir, const std::function<bool(const std::string&)>& skip,
               const std::function<void(const std::string&, const struct stat&)>& visit);

/// Splits "a/b/c" into the folder "a/b" and the leaf "c" ("" folder for a top-level name).
std::pair<std::string_view, std::string_view> SplitParent(std::string_view relative);

}  // namespace pflab::fake_gcs
